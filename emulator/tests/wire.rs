//! The emulator over real HTTP: wire formats, scripted replies, latency, faults, and what it
//! records. Streamed chat replies are parsed with the edge's own ChatStream.

use std::io::Read;
use std::time::{Duration, Instant};

use aura_edge::providers::openai_chat::{ChatEvent, ChatStream, ChatStreamError};
use aura_emulator::Emulator;
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn script(emu: &Emulator, script: Value) {
    let resp = agent()
        .post(&format!("{}/_emulator/script", emu.base_url()))
        .send_json(script)
        .unwrap();
    assert_eq!(resp.status(), 204);
}

fn requests(emu: &Emulator) -> Vec<Value> {
    let mut resp = agent()
        .get(&format!("{}/_emulator/requests", emu.base_url()))
        .call()
        .unwrap();
    resp.body_mut().read_json::<Vec<Value>>().unwrap()
}

fn chat_body(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
           "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]})
}

/// Streams a chat request through ChatStream; returns the text, the events and how it ended.
fn stream_chat(
    emu: &Emulator,
    text: &str,
) -> (
    String,
    Vec<ChatEvent>,
    Result<(), ChatStreamError>,
    Duration,
) {
    let start = Instant::now();
    let resp = agent()
        .post(&format!("{}/v1/chat/completions", emu.base_url()))
        .header("authorization", "Bearer sk-test-tenant-a")
        .send_json(chat_body(text))
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut reader = resp.into_body().into_reader();
    let mut parser = ChatStream::new();
    let mut events = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 37];
    let end = loop {
        match reader.read(&mut buf) {
            Ok(0) => break parser.finish(),
            Ok(n) => {
                if let Err(e) = parser.push(&buf[..n], |e| {
                    if first.is_none() && matches!(e, ChatEvent::Text(_)) {
                        first = Some(start.elapsed());
                    }
                    events.push(e)
                }) {
                    break Err(e);
                }
            }
            Err(_) => break parser.finish(),
        }
    };
    let text = events
        .iter()
        .filter_map(|e| {
            if let ChatEvent::Text(t) = e {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    (text, events, end, first.unwrap_or_default())
}

#[test]
fn unscripted_chat_says_it_is_the_emulator_and_streams_a_valid_openai_stream() {
    let emu = Emulator::start(0).unwrap();
    let (text, events, end, _) = stream_chat(&emu, "When do you open?");
    assert_eq!(end, Ok(()));
    assert!(
        text.contains("emulator") && text.ends_with("When do you open?"),
        "{text}"
    );
    assert!(events.iter().any(|e| matches!(e, ChatEvent::Usage { .. })));
    let log = requests(&emu);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["authorization"], "Bearer sk-test-tenant-a");
    assert_eq!(
        log[0]["body"]["messages"][1]["content"],
        "When do you open?"
    );
    assert!(log[0]["completed_ms"].is_u64() && log[0]["closed_early_ms"].is_null());
}

#[test]
fn scripted_replies_come_in_order_with_their_latency() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"reply": "We open at nine.", "first_byte_ms": 300, "chunk_ms": 20},
            {"reply": "Second."}
        ]}),
    );
    let (text, events, end, first) = stream_chat(&emu, "hi");
    assert_eq!((text.as_str(), end), ("We open at nine.", Ok(())));
    assert!(
        first >= Duration::from_millis(300),
        "first token after {first:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ChatEvent::Text(_)))
            .count(),
        4,
        "word by word"
    );
    assert_eq!(stream_chat(&emu, "hi").0, "Second.");
}

#[test]
fn status_faults_carry_retry_after_and_an_openai_error_body() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"fault": {"kind": "status", "code": 429, "retry_after_s": 7}}, {"fault": {"kind": "status", "code": 503}}]}),
    );
    let mut resp = agent()
        .post(&format!("{}/v1/chat/completions", emu.base_url()))
        .send_json(chat_body("x"))
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers().get("retry-after").unwrap(), "7");
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_exceeded");
    let resp = agent()
        .post(&format!("{}/v1/chat/completions", emu.base_url()))
        .send_json(chat_body("x"))
        .unwrap();
    assert_eq!(resp.status(), 503);
}

#[test]
fn mid_stream_disconnects_and_garbage_are_detected_by_the_parser() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"reply": "one two three four", "fault": {"kind": "disconnect_after", "chunks": 2}},
            {"reply": "one two three four", "fault": {"kind": "malformed_after", "chunks": 2}}
        ]}),
    );
    let (text, _, end, _) = stream_chat(&emu, "x");
    assert_eq!(text, "one two");
    assert_eq!(end, Err(ChatStreamError::Truncated));
    let (text, _, end, _) = stream_chat(&emu, "x");
    assert_eq!(text, "one two");
    assert!(matches!(end, Err(ChatStreamError::BadChunk(_))), "{end:?}");
}

#[test]
fn a_client_that_gives_up_on_a_hang_is_recorded_as_closed_early() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"fault": {"kind": "hang"}}]}),
    );
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(300)))
        .build()
        .into();
    assert!(
        impatient
            .post(&format!("{}/v1/chat/completions", emu.base_url()))
            .send_json(chat_body("x"))
            .is_err()
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let log = requests(&emu);
        if log[0]["closed_early_ms"].is_u64() {
            assert!(log[0]["completed_ms"].is_null());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the abort was never seen: {log:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn speech_streams_24k_pcm_sized_by_the_text() {
    let emu = Emulator::start(0).unwrap();
    let resp = agent()
        .post(&format!("{}/v1/audio/speech", emu.base_url()))
        .send_json(json!({"model": "tts-1", "voice": "alloy", "input": "We open at nine.", "response_format": "pcm"}))
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut pcm = Vec::new();
    resp.into_body()
        .into_reader()
        .read_to_end(&mut pcm)
        .unwrap();
    assert_eq!(
        pcm.len(),
        16 * 60 * 24 * 2,
        "60 ms per character at 24 kHz, s16le"
    );
    let wrong = agent()
        .post(&format!("{}/v1/audio/speech", emu.base_url()))
        .send_json(json!({"model": "tts-1", "input": "x", "response_format": "mp3"}))
        .unwrap();
    assert_eq!(wrong.status(), 400);
}

#[test]
fn transcriptions_take_a_multipart_wav_and_record_its_format() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "transcriptions", "queue": [{"reply": "what time do you open"}]}),
    );
    let mut wav = Vec::new();
    let data_len = 16_000u32 * 2; // one second at 16 kHz
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&[16, 0, 0, 0, 1, 0, 1, 0]);
    wav.extend_from_slice(&16_000u32.to_le_bytes());
    wav.extend_from_slice(&32_000u32.to_le_bytes());
    wav.extend_from_slice(&[2, 0, 16, 0]);
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.extend(std::iter::repeat_n(0u8, data_len as usize));
    let boundary = "aura-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"u.wav\"\r\ncontent-type: audio/wav\r\n\r\n").as_bytes());
    body.extend_from_slice(&wav);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut resp = agent()
        .post(&format!("{}/v1/audio/transcriptions", emu.base_url()))
        .header(
            "content-type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .send(&body[..])
        .unwrap();
    assert_eq!(resp.status(), 200);
    let json: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(json["text"], "what time do you open");
    let log = requests(&emu);
    assert_eq!(log[0]["body"]["model"], "whisper-1");
    assert_eq!(log[0]["body"]["sample_rate"], 16_000);
    assert_eq!(log[0]["body"]["duration_ms"], 1_000);
}

#[test]
fn with_accepted_keys_set_other_keys_get_an_openai_401() {
    let emu = Emulator::start(0).unwrap();
    let post = |key: &str| {
        agent()
            .post(&format!("{}/v1/chat/completions", emu.base_url()))
            .header("authorization", &format!("Bearer {key}"))
            .send_json(chat_body("Hi"))
            .unwrap()
    };
    assert_eq!(post("sk-any").status(), 200, "any key by default");
    let resp = agent()
        .post(&format!("{}/_emulator/keys", emu.base_url()))
        .send_json(json!({"accept": ["sk-live"]}))
        .unwrap();
    assert_eq!(resp.status(), 204);
    let mut refused = post("sk-old");
    assert_eq!(refused.status(), 401);
    let body: Value = refused.body_mut().read_json().unwrap();
    assert_eq!(body["error"]["type"], "invalid_api_key");
    assert_eq!(post("sk-live").status(), 200);
    emu.accept_keys(None);
    assert_eq!(post("sk-old").status(), 200);
    let seen: Vec<Value> = requests(&emu)
        .into_iter()
        .map(|r| r["authorization"].clone())
        .collect();
    assert_eq!(
        seen,
        [
            "Bearer sk-any",
            "Bearer sk-old",
            "Bearer sk-live",
            "Bearer sk-old"
        ]
        .map(Value::from)
    );
}

/// A live-transcription client of the emulator: the edge's own parser on the results.
fn live(emu: &Emulator, key: &str) -> Result<tungstenite::WebSocket<std::net::TcpStream>, u16> {
    use tungstenite::client::IntoClientRequest;
    let url = aura_edge::providers::deepgram::listen_url(&emu.base_url(), "nova-3", Some("en-US"))
        .unwrap();
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Token {key}").parse().unwrap());
    let stream = std::net::TcpStream::connect(("127.0.0.1", emu.port)).unwrap();
    match tungstenite::client(req, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            Err(r.status().as_u16())
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn live_transcription_streams_interim_results_and_finalizes_on_request() {
    use aura_edge::providers::deepgram::{
        CLOSE_STREAM, FINALIZE, LiveEvent, LiveTranscript, parse,
    };
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "listen", "queue": [{"reply": "what time do you open tomorrow morning", "first_byte_ms": 120, "chunk_ms": 200}]}),
    );
    let mut ws = live(&emu, "dg-key").unwrap();
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut transcript = LiveTranscript::default();
    let mut partials = Vec::new();
    let handle = |text: &str, transcript: &mut LiveTranscript, partials: &mut Vec<String>| {
        if let Some(shown) = transcript.push(parse(text).unwrap()) {
            partials.push(shown);
        }
    };
    // 1.6 s of audio in 20 ms frames.
    for _ in 0..80 {
        ws.send(tungstenite::Message::binary(vec![0u8; 640]))
            .unwrap();
        while let Ok(tungstenite::Message::Text(t)) = ws.read() {
            handle(t.as_str(), &mut transcript, &mut partials);
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    while let Ok(tungstenite::Message::Text(t)) = ws.read() {
        handle(t.as_str(), &mut transcript, &mut partials);
    }
    assert!(
        partials.len() >= 4,
        "interim results while audio arrives: {partials:?}"
    );
    assert!(!transcript.is_finalized());
    let sent = Instant::now();
    ws.send(tungstenite::Message::text(FINALIZE)).unwrap();
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    while !transcript.is_finalized() {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => handle(t.as_str(), &mut transcript, &mut partials),
            other => panic!("{other:?}"),
        }
    }
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_millis(120), "{waited:?}");
    assert_eq!(
        transcript.final_text(),
        "what time do you open tomorrow morning"
    );
    ws.send(tungstenite::Message::text(CLOSE_STREAM)).unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Text(t) => assert_eq!(parse(t.as_str()), Ok(LiveEvent::Metadata)),
        other => panic!("{other:?}"),
    }
    let log = requests(&emu);
    assert_eq!(log[0]["endpoint"], "listen");
    assert_eq!(log[0]["authorization"], "Token dg-key");
    assert_eq!(log[0]["body"]["audio_ms"], 1600);
    assert_eq!(log[0]["body"]["finalized"], true);
    assert_eq!(log[0]["body"]["sample_rate"], 16000);
}

#[test]
fn live_transcription_refuses_wrong_keys_and_scripted_statuses_before_the_upgrade() {
    let emu = Emulator::start(0).unwrap();
    emu.accept_keys(Some(vec!["dg-live".into()]));
    assert_eq!(live(&emu, "dg-other").err(), Some(401));
    assert!(live(&emu, "dg-live").is_ok());
    script(
        &emu,
        json!({"endpoint": "listen", "queue": [{"fault": {"kind": "status", "code": 503}}]}),
    );
    assert_eq!(live(&emu, "dg-live").err(), Some(503));
}

/// The raw body of a streamed chat request (for the exact wire shapes of the modes).
fn raw_chat(emu: &Emulator) -> String {
    let resp = agent()
        .post(&format!("{}/v1/chat/completions", emu.base_url()))
        .send_json(chat_body("x"))
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().read_to_string().unwrap()
}

fn chat_mode(emu: &Emulator, mode: &str, reply: &str) {
    script(
        emu,
        json!({"endpoint": "chat", "queue": [{"reply": reply, "mode": mode}, {"reply": reply, "mode": mode}]}),
    );
}

#[test]
fn null_fields_mode_sends_nulls_no_role_and_a_usage_only_chunk_that_the_parser_accepts() {
    let emu = Emulator::start(0).unwrap();
    chat_mode(&emu, "null_fields", "We open at nine.");
    let raw = raw_chat(&emu);
    for shape in [
        "\"tool_calls\":null",
        "\"function_call\":null",
        "\"refusal\":null",
        "\"content\":null",
        "\"logprobs\":null",
        "\"usage\":null",
        "\"choices\":[]",
    ] {
        assert!(raw.contains(shape), "{shape} in {raw}");
    }
    assert!(!raw.contains("\"role\""), "no delta.role: {raw}");
    let (text, events, end, _) = stream_chat(&emu, "x");
    assert_eq!(end, Ok(()));
    assert_eq!(text, "We open at nine.");
    assert!(events.iter().any(|e| matches!(e, ChatEvent::Usage { .. })));
}

#[test]
fn no_done_mode_ends_after_the_finish_reason_and_the_parser_calls_it_a_normal_end() {
    let emu = Emulator::start(0).unwrap();
    chat_mode(&emu, "no_done", "We open at nine.");
    let raw = raw_chat(&emu);
    assert!(!raw.contains("[DONE]"), "{raw}");
    assert!(raw.contains("\"finish_reason\":\"stop\""));
    let (text, _, end, _) = stream_chat(&emu, "x");
    assert_eq!(text, "We open at nine.");
    assert_eq!(end, Ok(()));
}

#[test]
fn llama_cpp_error_mode_sends_the_error_field_then_done_and_the_parser_reports_an_error() {
    let emu = Emulator::start(0).unwrap();
    chat_mode(&emu, "llama_cpp_error", "unused");
    let raw = raw_chat(&emu);
    assert!(raw.contains("\n\nerror: {\"code\":500,"), "{raw}");
    assert!(raw.ends_with("data: [DONE]\n\n"), "{raw}");
    let (text, _, end, _) = stream_chat(&emu, "x");
    assert_eq!(text, "");
    let err = end.unwrap_err();
    assert_eq!(
        err.code(),
        aura_edge::providers::openai_chat::ChatStreamErrorCode::ProviderError,
        "{err:?}"
    );
}

#[test]
fn groq_tool_use_failed_mode_sends_event_error_and_the_parser_blames_the_model() {
    let emu = Emulator::start(0).unwrap();
    chat_mode(&emu, "groq_tool_use_failed", "unused");
    let raw = raw_chat(&emu);
    assert!(raw.contains("event: error\ndata: {\"error\":"), "{raw}");
    assert!(raw.contains("\"code\":\"tool_use_failed\""), "{raw}");
    let (_, _, end, _) = stream_chat(&emu, "x");
    let err = end.unwrap_err();
    assert!(err.is_model_mistake(), "{err:?}");
}

#[test]
fn reasoning_modes_stream_reasoning_first_and_it_never_becomes_text() {
    let emu = Emulator::start(0).unwrap();
    for (mode, field) in [
        ("reasoning_content", "\"reasoning_content\":"),
        ("xai_reasoning", "\"reasoning_content\":"),
        ("reasoning", "\"reasoning\":"),
        ("think_tags", "\"content\":\"<th\""),
    ] {
        chat_mode(&emu, mode, "We open at nine.");
        let raw = raw_chat(&emu);
        assert!(raw.contains(field), "{mode}: {raw}");
        let (text, events, end, _) = stream_chat(&emu, "x");
        assert_eq!(end, Ok(()), "{mode}");
        assert_eq!(text, "We open at nine.", "{mode}");
        let first = events.iter().position(|e| matches!(e, ChatEvent::Text(_)));
        let reasoning = events
            .iter()
            .position(|e| matches!(e, ChatEvent::Reasoning(_)));
        assert!(
            reasoning < first && reasoning.is_some(),
            "{mode}: {events:?}"
        );
        if mode != "think_tags" {
            assert!(
                // OpenAI-style totals count reasoning inside completion; xAI's apart.
                events.contains(&ChatEvent::ReasoningTokens {
                    tokens: 6,
                    apart: Some(mode == "xai_reasoning")
                }),
                "{mode}: {events:?}"
            );
        }
    }
}

#[test]
fn live_vad_events_mode_sends_array_channels_that_the_parser_accepts() {
    use aura_edge::providers::deepgram::{FINALIZE, LiveEvent, LiveTranscript, parse};
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "listen", "queue": [{"reply": "open at nine", "mode": "vad_events"}]}),
    );
    let mut ws = live(&emu, "k").unwrap();
    ws.send(tungstenite::Message::binary(vec![0u8; 640]))
        .unwrap();
    let first = match ws.read().unwrap() {
        tungstenite::Message::Text(t) => t.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(first.contains("\"channel\":[0,1]"), "{first}");
    assert_eq!(parse(&first), Ok(LiveEvent::SpeechStarted));
    ws.send(tungstenite::Message::text(FINALIZE)).unwrap();
    let mut transcript = LiveTranscript::default();
    while !transcript.utterance_ended() {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => {
                transcript.push(parse(t.as_str()).unwrap());
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(transcript.is_finalized());
    assert_eq!(transcript.final_text(), "open at nine");
}

#[test]
fn live_error_close_modes_send_deepgram_close_frames_with_typed_reasons() {
    use aura_edge::providers::deepgram::{CloseReason, FINALIZE, close_reason};
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "listen", "queue": [{"mode": "close_net0001"}, {"mode": "close_data0000"}]}),
    );
    let close_of = |ws: &mut tungstenite::WebSocket<std::net::TcpStream>| loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(f))) => {
                break close_reason(u16::from(f.code), f.reason.as_str());
            }
            Ok(tungstenite::Message::Text(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    let mut ws = live(&emu, "k").unwrap();
    ws.send(tungstenite::Message::binary(vec![0u8; 640]))
        .unwrap();
    ws.send(tungstenite::Message::text(FINALIZE)).unwrap();
    assert_eq!(close_of(&mut ws), CloseReason::NoAudioReceived);
    let mut ws = live(&emu, "k").unwrap();
    ws.send(tungstenite::Message::binary(vec![0u8; 640]))
        .unwrap();
    assert_eq!(close_of(&mut ws), CloseReason::BadAudio("DATA-0000".into()));
}

#[test]
fn null_fields_mode_with_tool_calls_assembles_the_calls() {
    use aura_edge::providers::tool_calls::ToolCallAssembler;
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"mode": "null_fields", "tool_calls": [{"name": "check_order", "arguments": "{\"order\":42}"}]}]}),
    );
    let (_, events, end, _) = stream_chat(&emu, "x");
    assert_eq!(end, Ok(()));
    let mut calls = ToolCallAssembler::new();
    for e in events {
        if let ChatEvent::ToolCall {
            index,
            id,
            name,
            arguments,
        } = e
        {
            calls.push(index, id, name, &arguments);
        }
    }
    let calls = calls.finish().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].name.as_str(), calls[0].arguments.as_str()),
        ("check_order", "{\"order\":42}")
    );
}
