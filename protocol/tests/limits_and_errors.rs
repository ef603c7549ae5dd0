//! Each refusal is the typed error the protocol promises, with the right code for the `error` reply.

use aura_protocol::limits::{MAX_BINARY_MESSAGE_BYTES, MAX_CONTROL_MESSAGE_BYTES};
use aura_protocol::{
    AudioFrame, ClientMessage, ControlError, ErrorCode, FrameError, FrameFlags, FrameHeader,
    FrameKind, HEADER_LEN, ServerMessage,
};

fn input_header(samples: u16) -> FrameHeader {
    FrameHeader {
        kind: FrameKind::Input,
        flags: FrameFlags::NONE,
        stream_id: 1,
        seq: 0,
        sample_rate: 16_000,
        sample_count: samples,
    }
}

fn encoded(header: FrameHeader) -> Vec<u8> {
    let samples = vec![0i16; usize::from(header.sample_count)];
    let mut out = Vec::new();
    AudioFrame::encode(&header, &samples, &mut out).unwrap();
    out
}

#[test]
fn unknown_type_is_its_own_error_not_a_shape_error() {
    let err = ClientMessage::parse(r#"{"type":"input.video","url":"x"}"#).unwrap_err();
    assert_eq!(err, ControlError::UnknownType("input.video".into()));
    assert_eq!(err.code(), ErrorCode::UnknownType);
    let reply = err.to_message();
    assert!(matches!(
        reply,
        ServerMessage::Error {
            code: ErrorCode::UnknownType,
            retryable: false,
            ..
        }
    ));
}

#[test]
fn a_server_type_sent_by_a_client_is_unknown() {
    let err = ClientMessage::parse(r#"{"type":"pong","nonce":1}"#).unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownType);
}

#[test]
fn malformed_json_and_missing_type_are_bad_messages() {
    for text in [
        "",
        "{",
        "[1,2]",
        "null",
        r#"{"nonce":1}"#,
        r#"{"type":5}"#,
        "\u{0}",
    ] {
        let err = ClientMessage::parse(text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadMessage, "{text:?}: {err}");
    }
}

#[test]
fn wrong_field_types_are_invalid_and_never_quote_the_input() {
    let err =
        ClientMessage::parse(r#"{"type":"input.text","text":["my secret words"]}"#).unwrap_err();
    assert!(
        matches!(
            err,
            ControlError::Invalid {
                ty: "input.text",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("secret"), "{err}");
    let err =
        ClientMessage::parse(r#"{"type":"response.cancel","response_id":"secret","played_ms":1}"#)
            .unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
    let err = ClientMessage::parse(r#"{"type":"response.cancel","response_id":1}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `response.cancel` message: missing field `played_ms`"
    );
}

#[test]
fn oversize_text_message_is_refused_before_parsing() {
    let text = format!(
        r#"{{"type":"input.text","text":"{}"}}"#,
        "a".repeat(MAX_CONTROL_MESSAGE_BYTES)
    );
    let err = ClientMessage::parse(&text).unwrap_err();
    assert_eq!(err.code(), ErrorCode::MessageTooLarge);
}

#[test]
fn input_text_length_is_bounded_in_characters() {
    let ok = format!(r#"{{"type":"input.text","text":"{}"}}"#, "é".repeat(4_000));
    assert!(ClientMessage::parse(&ok).is_ok());
    let long = format!(r#"{{"type":"input.text","text":"{}"}}"#, "a".repeat(4_001));
    assert_eq!(
        ClientMessage::parse(&long).unwrap_err().code(),
        ErrorCode::BadMessage
    );
}

#[test]
fn session_start_checks_version_and_rates() {
    let cases = [
        (
            r#"{"type":"session.start","protocol":0,"input_sample_rate":16000}"#,
            ErrorCode::UnsupportedVersion,
        ),
        (
            r#"{"type":"session.start","protocol":1,"input_sample_rate":44100}"#,
            ErrorCode::WrongSampleRate,
        ),
        (
            r#"{"type":"session.start","protocol":1,"input_sample_rate":16000,"output_sample_rate":8000}"#,
            ErrorCode::WrongSampleRate,
        ),
        (
            r#"{"type":"session.resume","protocol":1,"session_id":"","token":"t"}"#,
            ErrorCode::BadMessage,
        ),
    ];
    for (text, code) in cases {
        assert_eq!(
            ClientMessage::parse(text).unwrap_err().code(),
            code,
            "{text}"
        );
    }
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let msg = ClientMessage::parse(r#"{"type":"ping","nonce":3,"sent_at":12}"#).unwrap();
    assert_eq!(msg, ClientMessage::Ping { nonce: 3 });
}

#[test]
fn unknown_error_codes_from_a_newer_server_still_parse() {
    let msg = ServerMessage::parse(
        r#"{"type":"error","code":"quantum_flux","message":"m","retryable":true}"#,
    )
    .unwrap();
    assert!(matches!(
        msg,
        ServerMessage::Error {
            code: ErrorCode::Unknown,
            ..
        }
    ));
}

#[test]
fn frame_errors_are_typed() {
    let good = encoded(input_header(320));
    assert!(AudioFrame::decode(&good).is_ok());

    assert_eq!(
        AudioFrame::decode(&good[..10]),
        Err(FrameError::TooShort(10))
    );
    assert_eq!(
        AudioFrame::decode(&good[..good.len() - 1]),
        Err(FrameError::LengthMismatch {
            declared: 640,
            actual: 639
        })
    );
    let mut v = good.clone();
    v[0] = 2;
    assert_eq!(
        AudioFrame::decode(&v),
        Err(FrameError::UnsupportedVersion(2))
    );
    let mut v = good.clone();
    v[1] = 9;
    assert_eq!(AudioFrame::decode(&v), Err(FrameError::UnknownKind(9)));
    let mut v = good.clone();
    v[2] = 0x02;
    assert_eq!(AudioFrame::decode(&v), Err(FrameError::UnknownFlags(2)));
    let mut v = good.clone();
    v[19] = 1;
    assert_eq!(AudioFrame::decode(&v), Err(FrameError::ReservedNotZero));

    let too_big = vec![0u8; MAX_BINARY_MESSAGE_BYTES + 1];
    assert_eq!(
        AudioFrame::decode(&too_big).unwrap_err().code(),
        ErrorCode::MessageTooLarge
    );
}

#[test]
fn input_audio_must_be_16k_and_at_most_100_ms() {
    let mut h = input_header(320);
    h.sample_rate = 48_000;
    let mut out = Vec::new();
    let err = AudioFrame::encode(&h, &[0; 320], &mut out).unwrap_err();
    assert_eq!(err.code(), ErrorCode::WrongSampleRate);
    assert!(out.is_empty(), "nothing is written for a refused frame");

    // 100 ms at 16 kHz is the limit; one more sample is refused.
    assert!(AudioFrame::decode(&encoded(input_header(1_600))).is_ok());
    let mut bytes = encoded(input_header(1_600));
    bytes[16..18].copy_from_slice(&1_601u16.to_le_bytes());
    bytes.extend_from_slice(&[0, 0]);
    assert_eq!(
        AudioFrame::decode(&bytes),
        Err(FrameError::TooLong {
            samples: 1_601,
            rate: 16_000
        })
    );
}

#[test]
fn empty_frames_need_the_end_flag() {
    let mut h = input_header(0);
    let mut out = Vec::new();
    assert_eq!(
        AudioFrame::encode(&h, &[], &mut out),
        Err(FrameError::Empty)
    );
    h.flags = FrameFlags::END;
    AudioFrame::encode(&h, &[], &mut out).unwrap();
    assert_eq!(out.len(), HEADER_LEN);
    assert!(AudioFrame::decode(&out).unwrap().header.flags.is_end());
}

#[test]
fn direction_is_checked_when_asked() {
    let bytes = encoded(input_header(160));
    assert!(AudioFrame::decode_kind(&bytes, FrameKind::Input).is_ok());
    assert_eq!(
        AudioFrame::decode_kind(&bytes, FrameKind::Output),
        Err(FrameError::WrongDirection {
            expected: FrameKind::Output,
            got: FrameKind::Input
        })
    );
}

#[test]
fn a_language_that_is_not_a_tag_does_not_refuse_session_start() {
    // `language` is a hint: browsers report values such as "C" (WebKit under LANG=C); the edge
    // drops them (edge-worker/src/session/protocol.rs) instead of refusing the session.
    let long = "a".repeat(300);
    for lang in ["C", "", "en_US", "x", "123", "en US; drop", long.as_str()] {
        let text = format!(
            r#"{{"type":"session.start","protocol":1,"input_sample_rate":16000,"language":{}}}"#,
            serde_json::to_string(lang).unwrap()
        );
        assert!(ClientMessage::parse(&text).is_ok(), "{lang:?}");
        assert!(!aura_protocol::is_language_tag(lang), "{lang:?}");
    }
}

#[test]
fn language_tags_are_checked_for_bcp47_syntax() {
    for good in [
        "en",
        "en-US",
        "en-GB",
        "de-CH-1996",
        "zh-Hant-TW",
        "es-419",
        "fil",
        "sr-Latn",
        "en-US-x-twain",
    ] {
        assert!(aura_protocol::is_language_tag(good), "{good}");
    }
    let long = format!("en-{}", "a".repeat(40));
    for bad in [
        "C",
        "",
        "en_US",
        "x",
        "123",
        "C.UTF-8",
        "en-",
        "-en",
        "en--US",
        "e",
        "en-x",
        "abcd",
        "en-abcdefghi",
        long.as_str(),
    ] {
        assert!(!aura_protocol::is_language_tag(bad), "{bad}");
    }
}

#[test]
fn a_raw_replacement_character_reads_as_bytes_that_were_not_utf8_and_clients_escape_it() {
    // What Workers' runtime hands the edge for a frame whose bytes were not UTF-8.
    let decoded = String::from_utf8_lossy(b"{\"type\":\"input.text\",\"text\":\"hi \xff\"}");
    let err = ClientMessage::parse(&decoded).unwrap_err();
    assert_eq!(err, ControlError::NotUtf8);
    assert_eq!(err.code(), ErrorCode::BadMessage);
    // A client that means U+FFFD sends its escape, the same JSON, and it arrives intact.
    let meant = ClientMessage::InputText {
        text: "a \u{FFFD} b".into(),
    };
    let sent = meant.to_json();
    assert!(
        sent.contains("\\ufffd") && !sent.contains('\u{FFFD}'),
        "{sent}"
    );
    assert_eq!(ClientMessage::parse(&sent).unwrap(), meant);
    // Beyond the size limit the size is what is reported.
    let big = format!(
        "{{\"type\":\"input.text\",\"text\":\"\u{FFFD}{}\"}}",
        "a".repeat(MAX_CONTROL_MESSAGE_BYTES)
    );
    assert!(matches!(
        ClientMessage::parse(&big),
        Err(ControlError::TooLarge { .. })
    ));
}
