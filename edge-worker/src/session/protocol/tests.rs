//! Tests of [`super`] (protocol.rs).

use super::*;
use aura_protocol::FrameHeader;

fn frame(stream_id: u32, seq: u32, samples: &[i16]) -> Vec<u8> {
    let h = FrameHeader::input(stream_id, seq, samples.len() as u16);
    let mut out = Vec::new();
    AudioFrame::encode(&h, samples, &mut out).unwrap();
    out
}

fn started() -> Session {
    let mut s = Session::new();
    let a = s.on_text(r#"{"type":"session.start","protocol":1,"input_sample_rate":16000}"#);
    assert!(matches!(a[0], Action::Start(_)));
    s.mark_started();
    s
}

fn error_code(actions: &[Action]) -> Option<ErrorCode> {
    actions.iter().find_map(|a| match a {
        Action::Send(ServerMessage::Error { code, .. }) => Some(*code),
        _ => None,
    })
}

#[test]
fn a_language_that_is_not_a_tag_is_dropped_and_the_session_starts() {
    let long = "a".repeat(300);
    for lang in ["C", "", "en_US", "x", "123", long.as_str()] {
        let mut s = Session::new();
        let text = serde_json::json!({"type": "session.start", "protocol": 1,
            "input_sample_rate": 16000, "language": lang})
        .to_string();
        match s.on_text(&text).as_slice() {
            [Action::Log(record), Action::Start(start)] => {
                assert_eq!(start.language, None, "{lang:?}");
                assert_eq!(record["event"], "language_ignored");
                assert!(
                    record.get("language").is_none(),
                    "the visitor's text is not logged"
                );
            }
            other => panic!("{lang:?}: {other:?}"),
        }
    }
    let mut s = Session::new();
    let a = s.on_text(
        r#"{"type":"session.start","protocol":1,"input_sample_rate":16000,"language":"en-GB"}"#,
    );
    assert!(matches!(&a[..], [Action::Start(st)] if st.language.as_deref() == Some("en-GB")));
}

#[test]
fn nothing_but_start_resume_or_ping_before_the_session_starts() {
    let mut s = Session::new();
    assert_eq!(
        error_code(&s.on_text(r#"{"type":"input.text","text":"hi"}"#)),
        Some(ErrorCode::NotStarted)
    );
    assert_eq!(
        error_code(&s.on_binary(&frame(1, 0, &[0; 320]), 0)),
        Some(ErrorCode::NotStarted)
    );
    assert_eq!(
        s.on_text(r#"{"type":"ping","nonce":4}"#),
        vec![Action::Send(ServerMessage::Pong { nonce: 4 })]
    );
    let mut s = started();
    assert_eq!(
        error_code(
            &s.on_text(r#"{"type":"session.start","protocol":1,"input_sample_rate":16000}"#)
        ),
        Some(ErrorCode::AlreadyStarted)
    );
}

#[test]
fn an_utterance_becomes_one_wav_to_transcribe() {
    let mut s = started();
    assert_eq!(
        s.on_text(r#"{"type":"input.speech_started","stream_id":3}"#),
        vec![],
        "no turn until there is audio"
    );
    for seq in 0..5 {
        // Each accepted frame is also handed on, for a streaming STT; the first starts
        // the utterance's turn.
        let pcm: Vec<u8> = [seq as i16; 320]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let expected = if seq == 0 {
            Action::UtteranceStarted { stream_id: 3, pcm }
        } else {
            Action::UtteranceAudio { stream_id: 3, pcm }
        };
        assert_eq!(
            s.on_binary(&frame(3, seq, &[seq as i16; 320]), 0),
            vec![expected]
        );
    }
    let actions = s.on_text(r#"{"type":"input.speech_stopped","stream_id":3,"frames":5}"#);
    let Action::Transcribe {
        stream_id,
        wav,
        frames_expected,
        frames_received,
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!((*stream_id, *frames_expected, *frames_received), (3, 5, 5));
    assert_eq!(wav.len(), 44 + 5 * 320 * 2);
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
    assert_eq!(
        i16::from_le_bytes([wav[44 + 640 * 4], wav[45 + 640 * 4]]),
        4,
        "frames in order"
    );
}

#[test]
fn bad_audio_is_answered_with_typed_errors_and_the_session_goes_on() {
    let mut s = started();
    assert_eq!(
        error_code(&s.on_binary(&frame(9, 0, &[0; 320]), 0)),
        Some(ErrorCode::BadFrame),
        "stream not open"
    );
    s.on_text(r#"{"type":"input.speech_started","stream_id":9}"#);
    assert_eq!(
        error_code(&s.on_binary(b"\x01\x01garbage", 0)),
        Some(ErrorCode::BadFrame)
    );
    let mut wrong_rate = frame(9, 0, &[0; 320]);
    wrong_rate[12..16].copy_from_slice(&48_000u32.to_le_bytes());
    assert_eq!(
        error_code(&s.on_binary(&wrong_rate, 0)),
        Some(ErrorCode::WrongSampleRate)
    );
    assert_eq!(
        error_code(&s.on_binary(&vec![0u8; 20_000], 0)),
        Some(ErrorCode::MessageTooLarge)
    );
    assert!(matches!(
        s.on_binary(&frame(9, 0, &[1; 320]), 0).as_slice(),
        [Action::UtteranceStarted { stream_id: 9, .. }]
    ));
    assert_eq!(
        error_code(&s.on_binary(&frame(9, 2, &[1; 320]), 0)),
        Some(ErrorCode::BadFrame),
        "seq gap reported"
    );
    assert_eq!(
        error_code(&s.on_text(r#"{"type":"nope"}"#)),
        Some(ErrorCode::UnknownType)
    );
    assert_eq!(error_code(&s.on_text("{oops")), Some(ErrorCode::BadMessage));
    let actions = s.on_text(r#"{"type":"input.speech_stopped","stream_id":9,"frames":3}"#);
    assert!(
        matches!(
            actions[0],
            Action::Transcribe {
                frames_expected: 3,
                frames_received: 2,
                ..
            }
        ),
        "{actions:?}"
    );
}

#[test]
fn an_over_long_utterance_is_capped_and_reported_once() {
    let mut s = started();
    s.on_text(r#"{"type":"input.speech_started","stream_id":1}"#);
    let (mut errors, mut audio, mut starts) = (0, 0, 0);
    for seq in 0..1_600 {
        for action in s.on_binary(&frame(1, seq, &[0; 320]), u64::from(seq) * 20) {
            match action {
                Action::UtteranceAudio { .. } => audio += 1,
                Action::UtteranceStarted { .. } => {
                    starts += 1;
                    audio += 1;
                }
                _ => errors += 1,
            }
        }
    }
    assert_eq!((errors, starts), (1, 1));
    assert_eq!(
        audio,
        MAX_UTTERANCE_SAMPLES / 320,
        "no audio handed on past the cap"
    );
    let actions = s.on_text(r#"{"type":"input.speech_stopped","stream_id":1,"frames":1600}"#);
    let Action::Transcribe { wav, .. } = &actions[0] else {
        panic!()
    };
    assert_eq!(wav.len(), 44 + MAX_UTTERANCE_SAMPLES * 2);
}

/// A microphone cannot speak faster than real time: audio beyond the wall clock since the
/// utterance's first frame (plus a margin) is dropped, reported once, and not transcribed.
#[test]
fn audio_faster_than_real_time_is_dropped_beyond_a_margin() {
    let mut s = started();
    // The connection's first utterance may be a re-sent one (see below); this is the next.
    s.on_text(r#"{"type":"input.speech_started","stream_id":3}"#);
    s.on_binary(&frame(3, 0, &[1; 320]), 0);
    s.on_text(r#"{"type":"input.speech_stopped","stream_id":3,"frames":1}"#);
    s.on_text(r#"{"type":"input.speech_started","stream_id":4}"#);
    let margin_frames = (AUDIO_AHEAD_MAX_MS / 20) as u32;
    let mut errors = Vec::new();
    // 10 s of audio sent in the first 100 ms.
    for seq in 0..500u32 {
        errors.extend(error_code(
            &s.on_binary(&frame(4, seq, &[1; 320]), u64::from(seq / 5)),
        ));
    }
    assert_eq!(errors, [ErrorCode::AudioTooFast], "reported once");
    // Later, in real time, audio is taken again as the clock catches up.
    let later = s.on_binary(&frame(4, 500, &[1; 320]), 60_000);
    assert!(
        matches!(later[..], [Action::UtteranceAudio { .. }]),
        "{later:?}"
    );
    let actions = s.on_text(r#"{"type":"input.speech_stopped","stream_id":4,"frames":501}"#);
    let Action::Transcribe { wav, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    let kept = (wav.len() - 44) / 640;
    assert!(
        (margin_frames as usize..=margin_frames as usize + 6).contains(&kept),
        "{kept} frames kept of 501"
    );
}

/// v2: a pause hands over the audio so far and keeps the utterance open; after the edge
/// commits it, what the client sent before it saw the commit is dropped without an error.
#[test]
fn pauses_keep_the_utterance_open_and_a_commit_closes_it_quietly() {
    let mut s = started();
    s.on_text(r#"{"type":"input.speech_started","stream_id":3}"#);
    for seq in 0..3 {
        s.on_binary(&frame(3, seq, &[7; 320]), u64::from(seq) * 20);
    }
    let paused =
        s.on_text(r#"{"type":"input.speech_paused","stream_id":3,"frames":3,"silence_ms":200}"#);
    let [
        Action::Paused {
            wav,
            silence_ms: 200,
            frames_expected: 3,
            frames_received: 3,
            ..
        },
    ] = &paused[..]
    else {
        panic!("{paused:?}")
    };
    assert_eq!(wav.len(), 44 + 3 * 640);
    assert_eq!(
        s.on_text(r#"{"type":"input.speech_resumed","stream_id":3}"#),
        vec![Action::Resumed { stream_id: 3 }]
    );
    assert!(matches!(
        s.on_binary(&frame(3, 3, &[7; 320]), 80)[..],
        [Action::UtteranceAudio { .. }]
    ));
    assert_eq!(s.commit(9), None, "not the open stream");
    let all = s.commit(3).expect("the open stream");
    assert_eq!(all.len(), 44 + 4 * 640, "every frame, the resumed one too");
    // In flight when the client saw the commit: dropped, no error.
    assert!(s.on_binary(&frame(3, 4, &[7; 320]), 100).is_empty());
    assert!(
        s.on_text(r#"{"type":"input.speech_stopped","stream_id":3,"frames":5}"#)
            .is_empty()
    );
    assert!(
        s.on_text(r#"{"type":"input.speech_paused","stream_id":3,"frames":5,"silence_ms":300}"#)
            .is_empty()
    );
    // A pause of a stream that is not open is an error.
    assert_eq!(
        error_code(&s.on_text(
            r#"{"type":"input.speech_paused","stream_id":8,"frames":1,"silence_ms":200}"#
        )),
        Some(ErrorCode::BadMessage)
    );
    assert_eq!(
        error_code(&s.on_text(r#"{"type":"input.speech_resumed","stream_id":8}"#)),
        Some(ErrorCode::BadMessage)
    );
}

#[test]
fn typed_turns_and_cancels_become_actions() {
    let mut s = started();
    assert_eq!(
        s.on_text(r#"{"type":"input.text","text":"Hours?"}"#),
        vec![Action::Respond {
            text: "Hours?".into()
        }]
    );
    assert_eq!(
        s.on_text(r#"{"type":"response.cancel","response_id":2,"played_ms":1500}"#),
        vec![Action::Cancel {
            response_id: 2,
            played_ms: 1_500
        }]
    );
    assert_eq!(
        error_code(&s.on_text(r#"{"type":"input.speech_stopped","stream_id":5,"frames":1}"#)),
        Some(ErrorCode::BadMessage)
    );
}

/// A resumed connection: the utterance a drop cut arrives again, all at once, and is taken
/// whole (once: the next utterance is held to real time again, as after a fresh start's
/// first); one the edge had committed on the replaced connection is not opened twice, and
/// the client is told it was committed.
#[test]
fn after_a_resume_the_cut_utterance_is_taken_at_once_and_a_committed_one_not_twice() {
    let resumed = |committed| {
        let mut s = Session::new();
        let a = s.on_text(r#"{"type":"session.resume","protocol":2,"session_id":"c","token":"t"}"#);
        assert!(matches!(a[0], Action::Resume(_)), "{a:?}");
        s.mark_resumed(committed);
        s
    };
    let mut s = resumed(Some(5));
    // 5 s of the cut utterance in the first 100 ms.
    s.on_text(r#"{"type":"input.speech_started","stream_id":6}"#);
    let mut errors = Vec::new();
    for seq in 0..250u32 {
        errors.extend(error_code(
            &s.on_binary(&frame(6, seq, &[1; 320]), 1_000 + u64::from(seq / 3)),
        ));
    }
    assert_eq!(errors, [], "re-sent audio is not too fast");
    let stopped = s.on_text(r#"{"type":"input.speech_stopped","stream_id":6,"frames":250}"#);
    let [Action::Transcribe { wav, .. }] = &stopped[..] else {
        panic!("{stopped:?}")
    };
    assert_eq!(wav.len(), 44 + 250 * 640, "all of it");
    // The next utterance is live speech again.
    s.on_text(r#"{"type":"input.speech_started","stream_id":7}"#);
    let too_fast = (0..250u32)
        .filter_map(|seq| error_code(&s.on_binary(&frame(7, seq, &[1; 320]), 5_000)))
        .collect::<Vec<_>>();
    assert_eq!(too_fast, [ErrorCode::AudioTooFast]);

    // Committed on the replaced connection: not opened again, its audio dropped quietly.
    let mut s = resumed(Some(5));
    assert_eq!(
        s.on_text(r#"{"type":"input.speech_started","stream_id":5}"#),
        vec![Action::Send(ServerMessage::TurnCommitted { stream_id: 5 })]
    );
    assert!(s.on_binary(&frame(5, 0, &[1; 320]), 0).is_empty());
    assert!(
        s.on_text(r#"{"type":"input.speech_stopped","stream_id":5,"frames":1}"#)
            .is_empty()
    );
}

#[test]
fn text_that_was_not_utf8_ends_the_connection_and_nothing_after_it_is_handled() {
    let mut s = started();
    // The runtime's lossy decoding of `{"type":"input.text","text":"hi \xff"}`.
    let a = s.on_text("{\"type\":\"input.text\",\"text\":\"hi \u{FFFD}\"}");
    assert!(
        matches!(
            &a[..],
            [
                Action::Send(ServerMessage::Error {
                    code: ErrorCode::BadMessage,
                    ..
                }),
                Action::Close {
                    code: CLOSE_INVALID_DATA,
                    ..
                },
            ]
        ),
        "{a:?}"
    );
    assert!(
        s.on_text(r#"{"type":"input.text","text":"hello"}"#)
            .is_empty()
    );
    assert!(s.on_binary(&frame(1, 0, &[0; 320]), 0).is_empty());
    // The escape is the character itself, and is answered.
    let mut s = started();
    let a = s.on_text(r#"{"type":"input.text","text":"hi \ufffd"}"#);
    assert_eq!(
        a,
        vec![Action::Respond {
            text: "hi \u{FFFD}".into()
        }]
    );
}
