//! Tests of [`super`] (deepgram.rs).

use super::*;

fn segment(text: &str, finalizes: bool) -> LiveEvent {
    LiveEvent::Segment {
        text: text.into(),
        finalizes,
    }
}

#[test]
fn a_transcript_settles_without_waiting_for_an_answer_to_finalize() {
    // The answer to Finalize settles at once.
    let mut t = LiveTranscript::default();
    t.push(segment("go forward", false));
    t.push(segment("ten meters", true));
    assert_eq!(
        t.settle(1_000, 1_010),
        Settled::Text("go forward ten meters".into())
    );
    // No answer, nothing open: the closed segments after a short grace.
    let mut t = LiveTranscript::default();
    t.push(segment("go forward ten meters", false));
    assert_eq!(
        t.settle(1_000, 1_010),
        Settled::WaitUntil(1_000 + FINALIZE_GRACE_MS)
    );
    assert_eq!(
        t.settle(1_000, 1_000 + FINALIZE_GRACE_MS),
        Settled::Text("go forward ten meters".into())
    );
    // UtteranceEnd settles it too.
    t.push(LiveEvent::UtteranceEnd {
        last_word_end_ms: Some(900),
    });
    assert_eq!(
        t.settle(1_000, 1_001),
        Settled::Text("go forward ten meters".into())
    );
    // Words still open: wait up to the cap, then take them as shown.
    let mut t = LiveTranscript::default();
    t.push(segment("go forward", false));
    t.push(LiveEvent::Interim("ten meters".into()));
    assert_eq!(
        t.settle(1_000, 1_400),
        Settled::WaitUntil(1_000 + FINALIZE_CAP_MS)
    );
    assert_eq!(
        t.settle(1_000, 1_000 + FINALIZE_CAP_MS),
        Settled::Text("go forward ten meters".into())
    );
    // Results that hold no words: an empty text, which asks for no reply.
    let mut t = LiveTranscript::default();
    t.push(segment("", false));
    assert_eq!(t.settle(0, FINALIZE_GRACE_MS), Settled::Text(String::new()));
    // No result at all: the provider is not answering, once the cap has passed.
    let silent = LiveTranscript::default();
    assert_eq!(
        silent.settle(0, FINALIZE_GRACE_MS),
        Settled::WaitUntil(FINALIZE_CAP_MS)
    );
    assert_eq!(silent.settle(0, FINALIZE_CAP_MS), Settled::NoAnswer);
}

/// A pause's Finalize settles the text so far; the utterance goes on, and the next
/// Finalize is waited for afresh, its text the whole utterance.
#[test]
fn a_reopened_transcript_waits_for_the_next_finalize_and_keeps_its_segments() {
    let mut t = LiveTranscript::default();
    t.push(segment("I want to fly", true));
    assert_eq!(t.settle(0, 1), Settled::Text("I want to fly".into()));
    t.reopen();
    t.push(LiveEvent::Interim("to Boston".into()));
    assert_eq!(
        t.settle(2_000, 2_001),
        Settled::WaitUntil(2_000 + FINALIZE_CAP_MS)
    );
    t.push(segment("to Boston", true));
    assert_eq!(
        t.settle(2_000, 2_100),
        Settled::Text("I want to fly to Boston".into())
    );
}

fn result(text: &str, is_final: bool, from_finalize: bool) -> String {
    serde_json::json!({"type": "Results", "channel_index": [0, 1], "duration": 1.0, "start": 0.0,
        "is_final": is_final, "speech_final": is_final, "from_finalize": from_finalize,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.9, "words": []}]}})
    .to_string()
}

#[test]
fn the_url_asks_for_16k_linear16_with_interim_results() {
    let url = listen_url("https://api.deepgram.com/", "nova-3", Some("en-US")).unwrap();
    assert_eq!(
        url,
        "wss://api.deepgram.com/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000&channels=1&interim_results=true&punctuate=true&smart_format=true&filler_words=true&language=en-US"
    );
    assert!(
        listen_url("http://127.0.0.1:8790", "m", None)
            .unwrap()
            .starts_with("ws://127.0.0.1:8790/v1/listen?")
    );
    assert_eq!(
        listen_url("ftp://x", "m", None),
        Err(LiveSttError::BadBaseUrl)
    );
    // A model name cannot add parameters.
    assert!(
        listen_url("https://h", "a&x=1", None)
            .unwrap()
            .contains("model=a%26x%3D1")
    );
}

#[test]
fn segments_join_and_interims_revise_the_open_one() {
    let mut t = LiveTranscript::default();
    assert_eq!(
        t.push(parse(&result("what", false, false)).unwrap())
            .as_deref(),
        Some("what")
    );
    assert_eq!(
        t.push(parse(&result("what time", false, false)).unwrap())
            .as_deref(),
        Some("what time")
    );
    assert_eq!(
        t.push(parse(&result("what time", false, false)).unwrap()),
        None,
        "unchanged"
    );
    assert_eq!(
        t.push(parse(&result("What time", true, false)).unwrap())
            .as_deref(),
        Some("What time")
    );
    assert_eq!(
        t.push(parse(&result("do you", false, false)).unwrap())
            .as_deref(),
        Some("What time do you")
    );
    assert!(!t.is_finalized());
    assert_eq!(
        t.push(parse(&result("do you open?", true, true)).unwrap()),
        None
    );
    assert!(t.is_finalized());
    assert_eq!(t.final_text(), "What time do you open?");
}

#[test]
fn an_empty_final_answer_finalizes_an_empty_utterance() {
    let mut t = LiveTranscript::default();
    t.push(parse(&result("", true, true)).unwrap());
    assert!(t.is_finalized());
    assert_eq!(t.final_text(), "");
}

#[test]
fn other_messages_and_garbage() {
    assert_eq!(
        parse(r#"{"type":"Metadata","duration":1.0}"#),
        Ok(LiveEvent::Metadata)
    );
    assert_eq!(
        parse(r#"{"type":"SpeechStarted"}"#),
        Ok(LiveEvent::SpeechStarted)
    );
    assert_eq!(
        parse(r#"{"type":"Future","channel":[0]}"#),
        Ok(LiveEvent::Other)
    );
    assert_eq!(
        parse(r#"{"type":"Error","description":"x"}"#),
        Err(LiveSttError::Provider)
    );
    assert_eq!(parse(r#"{"type": "Resul"#), Err(LiveSttError::Malformed));
    assert_eq!(parse("[]"), Err(LiveSttError::Malformed));
    assert_eq!(parse("{}"), Err(LiveSttError::Malformed));
    // A Results message cannot have an array channel.
    assert_eq!(
        parse(r#"{"type":"Results","channel":[0,1]}"#),
        Err(LiveSttError::Malformed)
    );
}

#[test]
fn speech_started_and_utterance_end_with_array_channels_parse() {
    assert_eq!(
        parse(r#"{"type":"SpeechStarted","channel":[0,1],"timestamp":0.52}"#),
        Ok(LiveEvent::SpeechStarted)
    );
    assert_eq!(
        parse(r#"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.395}"#),
        Ok(LiveEvent::UtteranceEnd {
            last_word_end_ms: Some(2395)
        })
    );
    assert_eq!(
        parse(r#"{"type":"UtteranceEnd","channel":[0],"last_word_end":-1}"#),
        Ok(LiveEvent::UtteranceEnd {
            last_word_end_ms: None
        })
    );
    let mut t = LiveTranscript::default();
    t.push(parse(&result("Open at nine?", true, false)).unwrap());
    assert_eq!(
        t.push(parse(r#"{"type":"SpeechStarted","channel":[0,1]}"#).unwrap()),
        None
    );
    assert!(!t.utterance_ended());
    assert_eq!(
        t.push(parse(r#"{"type":"UtteranceEnd","channel":[0,1],"last_word_end":1.2}"#).unwrap()),
        None
    );
    assert!(t.utterance_ended());
    assert!(!t.is_finalized());
    assert_eq!(t.final_text(), "Open at nine?");
}

#[test]
fn error_close_frames_are_typed_and_free_text_is_not_kept() {
    assert_eq!(close_reason(1011, "NET-0001"), CloseReason::NoAudioReceived);
    assert_eq!(
        close_reason(1011, "NET-0000"),
        CloseReason::Network("NET-0000".into())
    );
    assert_eq!(
        close_reason(1008, "DATA-0000"),
        CloseReason::BadAudio("DATA-0000".into())
    );
    assert_eq!(
        close_reason(1008, "DATA-0000: payload cannot be decoded as audio"),
        CloseReason::BadAudio("DATA-0000".into())
    );
    assert_eq!(close_reason(1000, ""), CloseReason::Normal);
    assert_eq!(close_reason(1005, ""), CloseReason::Normal);
    assert_eq!(close_reason(1011, "secret words"), CloseReason::Other(1011));
    assert_eq!(close_reason(1011, "NET-12"), CloseReason::Other(1011));
    assert_eq!(close_error(1000, ""), None);
    let err = close_error(1011, "NET-0001").unwrap();
    assert_eq!(err, LiveSttError::Closed(CloseReason::NoAudioReceived));
    assert!(err.to_string().contains("NET-0001"));
    assert!(!CloseReason::NoAudioReceived.blames_provider());
    assert!(!CloseReason::BadAudio("DATA-0000".into()).blames_provider());
    assert!(CloseReason::Network("NET-0000".into()).blames_provider());
    assert_eq!(CloseReason::Other(1006).code(), "close_1006");
    // Never a panic on odd input.
    for reason in [
        "",
        "-",
        "NET-",
        "DATA-00000",
        "\u{e9}NET-0001",
        "NET-0001\u{e9}",
    ] {
        let _ = close_reason(1011, reason);
    }
}
