//! Property tests: every message round-trips, and no input of any shape makes a parser panic.

use aura_protocol::limits::{MAX_FRAME_SAMPLES, OUTPUT_SAMPLE_RATES};
use aura_protocol::{
    AudioFrame, ClientMessage, ErrorCode, FrameFlags, FrameHeader, FrameKind, HEADER_LEN,
    ResponseStatus, ServerMessage, SessionReady, SessionResume, SessionStart, TurnMetrics,
};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,40}"
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes, backslashes and control characters, but not only white space.
    "\\PC{0,20}[a-z]\\PC{0,60}"
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (
            prop::option::of(prop::sample::select(OUTPUT_SAMPLE_RATES.to_vec())),
            prop::option::of("[a-z]{2}(-[A-Z]{2})?")
        )
            .prop_map(
                |(output_sample_rate, language)| ClientMessage::SessionStart(SessionStart {
                    protocol: 1,
                    input_sample_rate: 16_000,
                    output_sample_rate,
                    language,
                    voice: None,
                })
            ),
        (id(), id()).prop_map(
            |(session_id, token)| ClientMessage::SessionResume(SessionResume {
                protocol: 1,
                session_id,
                token
            })
        ),
        any::<u32>().prop_map(|stream_id| ClientMessage::SpeechStarted { stream_id }),
        (any::<u32>(), any::<u32>())
            .prop_map(|(stream_id, frames)| ClientMessage::SpeechStopped { stream_id, frames }),
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(stream_id, frames, silence_ms)| {
            ClientMessage::SpeechPaused {
                stream_id,
                frames,
                silence_ms,
            }
        }),
        any::<u32>().prop_map(|stream_id| ClientMessage::SpeechResumed { stream_id }),
        text().prop_map(|text| ClientMessage::InputText { text }),
        (any::<u32>(), any::<u32>()).prop_map(|(response_id, played_ms)| {
            ClientMessage::ResponseCancel {
                response_id,
                played_ms,
            }
        }),
        any::<u32>().prop_map(|nonce| ClientMessage::Ping { nonce }),
    ]
}

fn metrics() -> impl Strategy<Value = TurnMetrics> {
    (
        prop::array::uniform4(prop::option::of(any::<u32>())),
        prop::option::of(id()),
        prop::option::of(id()),
        any::<u32>(),
        prop::array::uniform2(prop::option::of(any::<u32>())),
    )
        .prop_map(|(t, provider, model, fallbacks, tok)| TurnMetrics {
            eos_to_transcript_ms: t[0],
            llm_first_token_ms: t[1],
            tts_first_byte_ms: t[2],
            eos_to_first_audio_ms: t[3],
            provider,
            model,
            fallbacks,
            prompt_tokens: tok[0],
            completion_tokens: tok[1],
            ..TurnMetrics::default()
        })
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let code = prop::sample::select(vec![
        ErrorCode::BadMessage,
        ErrorCode::UnknownType,
        ErrorCode::MessageTooLarge,
        ErrorCode::BadFrame,
        ErrorCode::WrongSampleRate,
        ErrorCode::UnsupportedVersion,
        ErrorCode::NotStarted,
        ErrorCode::AlreadyStarted,
        ErrorCode::Unauthorized,
        ErrorCode::SessionExpired,
        ErrorCode::ProviderError,
        ErrorCode::ProviderTimeout,
        ErrorCode::Internal,
    ]);
    let status = prop::sample::select(vec![
        ResponseStatus::Completed,
        ResponseStatus::Interrupted,
        ResponseStatus::Failed,
    ]);
    prop_oneof![
        (
            id(),
            id(),
            any::<bool>(),
            prop::sample::select(OUTPUT_SAMPLE_RATES.to_vec()),
            any::<u32>()
        )
            .prop_map(
                |(session_id, token, resumed, output_sample_rate, resume_window_s)| {
                    ServerMessage::SessionReady(SessionReady {
                        protocol: 2,
                        session_id,
                        token,
                        resumed,
                        input_sample_rate: 16_000,
                        output_sample_rate,
                        resume_window_s,
                        end_of_turn_fallback_ms: Some(resume_window_s / 2),
                    })
                }
            ),
        any::<u32>().prop_map(|stream_id| ServerMessage::TurnCommitted { stream_id }),
        (any::<u32>(), text())
            .prop_map(|(stream_id, text)| ServerMessage::TranscriptPartial { stream_id, text }),
        (any::<u32>(), text())
            .prop_map(|(stream_id, text)| ServerMessage::TranscriptFinal { stream_id, text }),
        (any::<u32>(), prop::option::of(any::<u32>())).prop_map(|(response_id, stream_id)| {
            ServerMessage::ResponseStarted {
                response_id,
                stream_id,
            }
        }),
        (any::<u32>(), text()).prop_map(|(response_id, delta)| ServerMessage::ResponseTextDelta {
            response_id,
            delta
        }),
        (any::<u32>(), status, metrics()).prop_map(|(response_id, status, metrics)| {
            ServerMessage::ResponseDone {
                response_id,
                status,
                metrics,
            }
        }),
        (code, text(), any::<bool>()).prop_map(|(code, message, retryable)| ServerMessage::Error {
            code,
            message,
            retryable
        }),
        (any::<u32>(), id()).prop_map(|(retry_after_ms, limit)| ServerMessage::RateLimited {
            retry_after_ms,
            limit
        }),
        any::<u32>().prop_map(|nonce| ServerMessage::Pong { nonce }),
        text().prop_map(|reason| ServerMessage::Handoff { reason }),
        text().prop_map(|reason| ServerMessage::SessionEnd { reason }),
        (id(), any::<u32>()).prop_map(|(token, expires_in_s)| ServerMessage::SessionToken {
            token,
            expires_in_s
        }),
    ]
}

fn valid_frame() -> impl Strategy<Value = (FrameHeader, Vec<i16>)> {
    let input = (Just(FrameKind::Input), Just(16_000u32));
    let output = (
        Just(FrameKind::Output),
        prop::sample::select(OUTPUT_SAMPLE_RATES.to_vec()),
    );
    (
        prop_oneof![input, output],
        any::<bool>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_flat_map(|((kind, rate), end, stream_id, seq)| {
            let max = (rate as usize / 10).min(MAX_FRAME_SAMPLES);
            let min = usize::from(!end);
            prop::collection::vec(any::<i16>(), min..=max).prop_map(move |samples| {
                let header = FrameHeader {
                    kind,
                    flags: if end {
                        FrameFlags::END
                    } else {
                        FrameFlags::NONE
                    },
                    stream_id,
                    seq,
                    sample_rate: rate,
                    sample_count: samples.len() as u16,
                };
                (header, samples)
            })
        })
}

proptest! {
    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        let json = msg.to_json();
        prop_assert_eq!(ClientMessage::parse(&json), Ok(msg));
    }

    #[test]
    fn server_messages_round_trip(msg in server_message()) {
        let json = msg.to_json();
        prop_assert_eq!(ServerMessage::parse(&json), Ok(msg));
    }

    #[test]
    fn frames_round_trip((header, samples) in valid_frame()) {
        let mut bytes = Vec::new();
        AudioFrame::encode(&header, &samples, &mut bytes).unwrap();
        prop_assert_eq!(bytes.len(), HEADER_LEN + 2 * samples.len());
        let frame = AudioFrame::decode(&bytes).unwrap();
        prop_assert_eq!(frame.header, header);
        prop_assert_eq!(frame.samples().collect::<Vec<_>>(), samples);
    }

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(frame) = AudioFrame::decode(&bytes) {
            // Whatever decodes re-encodes to the same bytes: no information is lost or invented.
            let mut again = Vec::new();
            AudioFrame::encode(&frame.header, &frame.samples().collect::<Vec<_>>(), &mut again).unwrap();
            prop_assert_eq!(again, bytes);
        }
    }

    #[test]
    fn mutated_valid_frames_decode_or_fail_cleanly(
        (header, samples) in valid_frame(),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Vec::new();
        AudioFrame::encode(&header, &samples, &mut bytes).unwrap();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        let _ = AudioFrame::decode(&bytes);
        let _ = AudioFrame::decode(&bytes[..cut.index(bytes.len() + 1)]);
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(text in "\\PC{0,200}") {
        let _ = ClientMessage::parse(&text);
        let _ = ServerMessage::parse(&text);
    }

    #[test]
    fn json_shaped_text_parses_or_fails_cleanly(
        ty in prop::sample::select(vec!["session.start", "input.text", "response.cancel", "ping", "error", "response.done", "x"]),
        fields in prop::collection::vec(("[a-z_]{1,12}", prop_oneof![Just("1".to_string()), Just("-1".to_string()), Just("\"s\"".to_string()), Just("null".to_string()), Just("[]".to_string()), Just("{}".to_string()), Just("1e400".to_string()), Just("4294967296".to_string())]), 0..6),
    ) {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let text = format!("{{\"type\":\"{ty}\"{}{}}}", if body.is_empty() { "" } else { "," }, body.join(","));
        let _ = ClientMessage::parse(&text);
        let _ = ServerMessage::parse(&text);
    }
}
