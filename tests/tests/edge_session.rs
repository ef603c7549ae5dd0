//! Live voice sessions in local workerd (wrangler dev), against the provider emulator.

use std::time::Duration;

use aura_emulator::Emulator;
use aura_protocol::{AudioFrame, FrameKind};
use aura_tests::{
    Incoming, SessionClient, TestTenant, WranglerDev, input_frame, requests_to, script,
};
use serde_json::{Value, json};

fn emulator() -> Emulator {
    Emulator::start(0).unwrap()
}

/// An edge with one tenant whose providers are all the emulator.
fn edge(emu: &Emulator) -> (WranglerDev, TestTenant) {
    let dev = WranglerDev::start();
    let tenant = dev.tenant("mill-lane", &emu.base_url(), &[]);
    (dev, tenant)
}

/// One decoded output frame.
struct OutFrame {
    stream: u32,
    seq: u32,
    samples: usize,
    end: bool,
}

/// (text deltas joined, the decoded output frames, the response.done).
fn reply_parts(messages: &[Incoming]) -> (String, Vec<OutFrame>, Value) {
    let mut text = String::new();
    let mut frames = Vec::new();
    let mut done = Value::Null;
    for m in messages {
        match m {
            Incoming::Json(v) if v["type"] == "response.text_delta" => {
                text.push_str(v["delta"].as_str().unwrap())
            }
            Incoming::Json(v) if v["type"] == "response.done" => done = v.clone(),
            Incoming::Binary(b) => {
                let f =
                    AudioFrame::decode_kind(b, FrameKind::Output).expect("a valid output frame");
                frames.push(OutFrame {
                    stream: f.header.stream_id,
                    seq: f.header.seq,
                    samples: f.samples().len(),
                    end: f.header.flags.is_end(),
                });
            }
            _ => {}
        }
    }
    (text, frames, done)
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_typed_turn_streams_captions_and_audio_in_order_and_reports_metrics() {
    let emu = emulator();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"reply": "We open at nine. On Sundays we open at eight.", "first_byte_ms": 120, "chunk_ms": 15}]}),
    );
    script(
        &emu,
        json!({"endpoint": "speech", "default": {"first_byte_ms": 40, "chunk_ms": 5}}),
    );
    let (_dev, tenant) = edge(&emu);
    let mut client = tenant.connect("");
    let ready = client.start();
    assert_eq!(ready["output_sample_rate"], 24_000);
    let token = ready["token"].as_str().unwrap();
    assert!(token.starts_with("v1.") && token.len() <= 512, "{token}");
    assert_eq!(ready["session_id"].as_str().unwrap().len(), 32);

    client.send_json(json!({"type": "input.text", "text": "When do you open?"}));
    let messages = client.until("response.done", Duration::from_secs(20));
    assert_eq!(messages[0].kind(), Some("response.started"), "{messages:?}");
    let (text, frames, done) = reply_parts(&messages);
    assert_eq!(text, "We open at nine. On Sundays we open at eight.");
    assert_eq!(done["status"], "completed", "{done}");

    let response_id = done["response_id"].as_u64().unwrap() as u32;
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(
            (f.stream, f.seq),
            (response_id, i as u32),
            "frames in order, no gap"
        );
    }
    assert!(frames.last().unwrap().end, "the last frame carries END");
    // The emulator speaks 60 ms per character: both sentences, whole.
    let samples: usize = frames.iter().map(|f| f.samples).sum();
    let expected_ms = ("We open at nine.".len() + "On Sundays we open at eight.".len()) * 60;
    assert_eq!(
        samples,
        expected_ms * 24,
        "every sample of both sentences, once"
    );

    let m = &done["metrics"];
    assert!(m["llm_first_token_ms"].as_u64().unwrap() >= 120, "{m}");
    assert!(m["tts_first_byte_ms"].as_u64().unwrap() >= 40, "{m}");
    assert!(m["eos_to_first_audio_ms"].is_u64(), "{m}");
    assert_eq!(m["model"], "gpt-4o-mini");

    let chat = requests_to(&emu, "chat");
    assert_eq!(chat[0]["body"]["stream"], true);
    assert_eq!(
        chat[0]["body"]["messages"][1],
        json!({"role": "user", "content": "When do you open?"})
    );
    let speech: Vec<String> = requests_to(&emu, "speech")
        .iter()
        .map(|r| r["body"]["input"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        speech,
        vec!["We open at nine.", "On Sundays we open at eight."],
        "sentence by sentence"
    );
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn bad_input_gets_typed_errors_and_the_session_survives() {
    let emu = emulator();
    let (_dev, tenant) = edge(&emu);
    let mut client = tenant.connect("");
    let error_code =
        |client: &mut SessionClient| match client.until("error", Duration::from_secs(5)).pop() {
            Some(Incoming::Json(v)) => v["code"].as_str().unwrap().to_string(),
            other => panic!("{other:?}"),
        };
    client.send_json(json!({"type": "input.text", "text": "hi"}));
    assert_eq!(error_code(&mut client), "not_started");
    client.send_binary(vec![1, 1, 0, 0]);
    assert_eq!(error_code(&mut client), "not_started");
    client.start();
    client.send_text("{not json");
    assert_eq!(error_code(&mut client), "bad_message");
    client.send_json(json!({"type": "input.video"}));
    assert_eq!(error_code(&mut client), "unknown_type");
    client.send_text(&format!(
        "{{\"type\":\"input.text\",\"text\":\"{}\"}}",
        "a".repeat(20_000)
    ));
    assert_eq!(error_code(&mut client), "message_too_large");
    client.send_binary(vec![0xff; 30]);
    assert_eq!(error_code(&mut client), "unsupported_version");
    client.send_json(json!({"type": "input.speech_started", "stream_id": 1}));
    let mut frame = Vec::new();
    let header = aura_protocol::FrameHeader::input(1, 0, 320);
    AudioFrame::encode(&header, &[0; 320], &mut frame).unwrap();
    frame[12..16].copy_from_slice(&44_100u32.to_le_bytes());
    client.send_binary(frame);
    assert_eq!(error_code(&mut client), "wrong_sample_rate");
    client.send_json(json!({"type": "ping", "nonce": 99}));
    let pong = client.until("pong", Duration::from_secs(5));
    assert!(
        matches!(pong.last(), Some(Incoming::Json(v)) if v["nonce"] == 99),
        "the session is alive"
    );
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn cancel_stops_the_reply_aborts_the_providers_and_keeps_only_what_was_heard() {
    let emu = emulator();
    let long = "We open at nine. On Sundays we open at eight and close at one. Cakes need two days of notice. \
                Bread is baked every morning. We also sell coffee and tea. Parking is behind the shop.";
    // A slow LLM (the reply is still being written when the user interrupts) and a fast TTS.
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"reply": long, "first_byte_ms": 50, "chunk_ms": 60}]}),
    );
    script(
        &emu,
        json!({"endpoint": "speech", "default": {"first_byte_ms": 20, "chunk_ms": 5}}),
    );
    let (_dev, tenant) = edge(&emu);
    let mut client = tenant.connect("");
    client.start();
    client.send_json(json!({"type": "input.text", "text": "When do you open?"}));

    // Wait until the whole first sentence has arrived (16 characters: 960 ms at 24 kHz).
    let mut response_id = 0;
    let mut samples = 0;
    while samples < 960 * 24 {
        match client.next(Duration::from_secs(10)).expect("reply audio") {
            Incoming::Json(v) if v["type"] == "response.started" => {
                response_id = v["response_id"].as_u64().unwrap()
            }
            Incoming::Binary(b) => samples += AudioFrame::decode(&b).unwrap().samples().len(),
            _ => {}
        }
    }
    // Watch the emulator from the moment of the cancel.
    let base = emu.base_url();
    let watcher = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        while start.elapsed() < Duration::from_secs(3) {
            let body = agent
                .get(&format!("{base}/_emulator/requests"))
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap();
            let log: Vec<Value> = serde_json::from_str(&body).unwrap();
            if log
                .iter()
                .any(|r| r["endpoint"] == "chat" && r["closed_early_ms"].is_u64())
            {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    });
    client.send_json(
        json!({"type": "response.cancel", "response_id": response_id, "played_ms": 700}),
    );
    let after = client.until("response.done", Duration::from_secs(10));
    let (_, _, done) = reply_parts(&after);
    assert_eq!(done["status"], "interrupted", "{done}");
    let late: Vec<_> = std::iter::from_fn(|| client.next(Duration::from_millis(500))).collect();
    assert!(
        late.iter().all(|m| !matches!(m, Incoming::Binary(_))),
        "audio after response.done: {late:?}"
    );
    let abort = watcher
        .join()
        .unwrap()
        .expect("the LLM stream was never aborted");
    eprintln!(
        "cancel sent -> upstream LLM stream seen closed by the emulator: {} ms (polling every 2 ms)",
        abort.as_millis()
    );
    assert!(abort < Duration::from_secs(1), "the abort took {abort:?}");

    // The next turn's context holds only what was heard: 700 ms of "We open at nine." (960 ms).
    client.send_json(json!({"type": "input.text", "text": "Sorry, what?"}));
    client.until("response.done", Duration::from_secs(20));
    let messages = &requests_to(&emu, "chat")[1]["body"]["messages"];
    assert_eq!(
        messages[2],
        json!({"role": "assistant", "content": "We open at"}),
        "{messages}"
    );
    assert_eq!(
        messages[3],
        json!({"role": "user", "content": "Sorry, what?"})
    );
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_reconnect_resumes_the_same_conversation_and_a_wrong_token_is_refused() {
    let emu = emulator();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"reply": "We open at nine."}, {"reply": "Yes, at nine."}]}),
    );
    let (_dev, tenant) = edge(&emu);
    let mut client = tenant.connect("");
    let ready = client.start();
    let (id, token) = (
        ready["session_id"].as_str().unwrap().to_string(),
        ready["token"].as_str().unwrap().to_string(),
    );
    client.send_json(json!({"type": "input.text", "text": "When do you open?"}));
    client.until("response.done", Duration::from_secs(20));
    client.close();

    // Before any upgrade: a malformed session id is unknown; a forged token in the URL (where
    // older clients put it) is unauthorized. Without one, the socket's `session.resume` decides.
    let refused = |extra: &str| {
        SessionClient::open(&format!("{}{extra}", tenant.session_url()), &tenant.origin).err()
    };
    assert_eq!(refused("&session=not-a-session"), Some(404));
    assert_eq!(
        refused(&format!("&session={id}&token=v1.e30.AAAA")),
        Some(401)
    );

    // With the right token in the URL but another in `session.resume`: refused on the socket.
    let mut intruder = tenant.resume(&id, &token);
    intruder.send_json(
        json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": "0".repeat(64)}),
    );
    let refused = intruder.until("error", Duration::from_secs(5));
    assert!(
        matches!(refused.last(), Some(Incoming::Json(v)) if v["code"] == "unauthorized"),
        "{refused:?}"
    );
    intruder.send_json(json!({"type": "input.text", "text": "tell me everything"}));
    let refused = intruder.until("error", Duration::from_secs(5));
    assert!(
        matches!(refused.last(), Some(Incoming::Json(v)) if v["code"] == "not_started"),
        "{refused:?}"
    );
    intruder.close();

    let mut client = tenant.resume(&id, &token);
    client.send_json(
        json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": token}),
    );
    let ready = client.until("session.ready", Duration::from_secs(5));
    assert!(
        matches!(ready.last(), Some(Incoming::Json(v)) if v["resumed"] == true),
        "{ready:?}"
    );
    client.send_json(json!({"type": "input.text", "text": "Really?"}));
    client.until("response.done", Duration::from_secs(20));
    let messages = &requests_to(&emu, "chat")[1]["body"]["messages"];
    assert_eq!(messages[1]["content"], "When do you open?", "{messages}");
    assert_eq!(messages[2]["content"], "We open at nine.");
    assert_eq!(messages[3]["content"], "Really?");
    client.close();

    // Only the latest token resumes: the first one, used once, resumes no more (#14 item 8).
    let latest = match ready.last() {
        Some(Incoming::Json(v)) => v["token"].as_str().unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    assert_ne!(latest, token);
    let mut stale = tenant.resume(&id, &token);
    stale.send_json(
        json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": token}),
    );
    let refused = stale.until("error", Duration::from_secs(5));
    assert!(
        matches!(refused.last(), Some(Incoming::Json(v)) if v["code"] == "unauthorized"),
        "an older token resumed: {refused:?}"
    );
    stale.close();
    let mut client = tenant.resume(&id, &latest);
    client.send_json(
        json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": latest}),
    );
    client.until("session.ready", Duration::from_secs(5));
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_spoken_turn_is_transcribed_and_answered() {
    let emu = emulator();
    script(
        &emu,
        json!({"endpoint": "transcriptions", "queue": [{"reply": "what time do you open", "first_byte_ms": 80}]}),
    );
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"reply": "We open at nine."}]}),
    );
    let (_dev, tenant) = edge(&emu);
    let mut client = tenant.connect("");
    client.start();
    client.send_json(json!({"type": "input.speech_started", "stream_id": 1}));
    let tone: Vec<i16> = (0..320)
        .map(|i| ((i as f32 * 0.3).sin() * 8_000.0) as i16)
        .collect();
    for seq in 0..50 {
        client.send_binary(input_frame(1, seq, &tone));
    }
    client.send_json(json!({"type": "input.speech_stopped", "stream_id": 1, "frames": 50}));
    let messages = client.until("response.done", Duration::from_secs(20));
    let transcript = messages
        .iter()
        .find(|m| m.kind() == Some("transcript.final"))
        .expect("a final transcript");
    assert!(
        matches!(transcript, Incoming::Json(v) if v["text"] == "what time do you open" && v["stream_id"] == 1)
    );
    let (text, frames, done) = reply_parts(&messages);
    assert_eq!(text, "We open at nine.");
    assert!(!frames.is_empty());
    assert!(
        done["metrics"]["eos_to_transcript_ms"].as_u64().unwrap() >= 80,
        "{done}"
    );
    let stt = &requests_to(&emu, "transcriptions")[0]["body"];
    assert_eq!(
        (stt["sample_rate"].as_u64(), stt["duration_ms"].as_u64()),
        (Some(16_000), Some(1_000)),
        "{stt}"
    );
    assert_eq!(
        requests_to(&emu, "chat")[0]["body"]["messages"][1]["content"],
        "what time do you open"
    );
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_streaming_stt_shows_partial_transcripts_and_is_final_soon_after_the_end_of_speech() {
    let emu = emulator();
    // Deepgram-style live STT: a word per 200 ms of audio, 150 ms from Finalize to the final.
    script(
        &emu,
        json!({"endpoint": "listen", "queue": [{"reply": "what time do you open on sunday", "first_byte_ms": 150, "chunk_ms": 200}]}),
    );
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"reply": "At eight on Sundays."}]}),
    );
    let dev = WranglerDev::start();
    let mut settings =
        aura_admin::settings_for("live", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["stt"] = json!({"api": "deepgram", "base_url": emu.base_url(), "model": "nova-3"});
    let tenant = dev.tenant_with("live-stt", settings);
    let mut client = tenant.connect("");
    client.send_json(json!({"type": "session.start", "protocol": 1, "input_sample_rate": 16000, "language": "en-US"}));
    client.until("session.ready", Duration::from_secs(10));
    client.send_json(json!({"type": "input.speech_started", "stream_id": 1}));
    let tone: Vec<i16> = (0..320)
        .map(|i| ((i as f32 * 0.3).sin() * 8_000.0) as i16)
        .collect();
    let mut partials = Vec::new();
    for seq in 0..75 {
        // Real time: 20 ms of audio every 20 ms, as a microphone sends it.
        client.send_binary(input_frame(1, seq, &tone));
        while let Some(m) = client.next(Duration::from_millis(15)) {
            if let Incoming::Json(v) = m
                && v["type"] == "transcript.partial"
            {
                partials.push(v["text"].as_str().unwrap().to_string());
            }
        }
    }
    client.send_json(json!({"type": "input.speech_stopped", "stream_id": 1, "frames": 75}));
    let messages = client.until("response.done", Duration::from_secs(20));
    assert!(
        partials.len() >= 3
            && partials
                .iter()
                .all(|p| "what time do you open on sunday".starts_with(p.as_str())),
        "partial transcripts while the user speaks: {partials:?}"
    );
    let transcript = messages
        .iter()
        .find_map(|m| match m {
            Incoming::Json(v) if v["type"] == "transcript.final" => Some(v.clone()),
            _ => None,
        })
        .expect("a final transcript");
    assert_eq!(transcript["text"], "what time do you open on sunday");
    let (text, _, done) = reply_parts(&messages);
    assert_eq!(text, "At eight on Sundays.");
    let eos_to_transcript = done["metrics"]["eos_to_transcript_ms"].as_u64().unwrap();
    eprintln!(
        "live STT: end of speech -> final transcript {eos_to_transcript} ms (provider's finalize latency 150 ms)"
    );
    assert!((150..1_000).contains(&eos_to_transcript), "{done}");
    let listen = &requests_to(&emu, "listen")[0];
    assert_eq!(listen["authorization"], "Token sk-live-stt-stt");
    assert_eq!(
        listen["body"]["audio_ms"], 1_500,
        "every frame reached the provider: {listen}"
    );
    assert_eq!(listen["body"]["finalized"], true);
    assert_eq!(listen["body"]["language"], "en-US");
    assert!(requests_to(&emu, "transcriptions").is_empty());
    assert_eq!(
        requests_to(&emu, "chat")[0]["body"]["messages"][1]["content"],
        "what time do you open on sunday"
    );
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_streaming_stt_that_fails_gives_a_retryable_error_and_the_session_goes_on() {
    let emu = emulator();
    script(
        &emu,
        json!({"endpoint": "listen", "queue": [
            {"fault": {"kind": "disconnect_after", "chunks": 1}, "chunk_ms": 100},
            {"fault": {"kind": "hang"}},
            {"fault": {"kind": "status", "code": 503}},
            {"reply": "hello again"}
        ]}),
    );
    let dev = WranglerDev::start();
    let mut settings =
        aura_admin::settings_for("live", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["stt"] = json!({"api": "deepgram", "base_url": emu.base_url(), "model": "nova-3"});
    let tenant = dev.tenant_with("live-faults", settings);
    let mut client = tenant.connect("");
    client.start();
    let utterance = |client: &mut SessionClient, id: u32| {
        client.send_json(json!({"type": "input.speech_started", "stream_id": id}));
        for seq in 0..25 {
            client.send_binary(input_frame(id, seq, &[500; 320]));
        }
        client.send_json(json!({"type": "input.speech_stopped", "stream_id": id, "frames": 25}));
    };
    let error =
        |client: &mut SessionClient| match client.until("error", Duration::from_secs(10)).pop() {
            Some(Incoming::Json(v)) => v,
            other => panic!("{other:?}"),
        };
    utterance(&mut client, 1);
    let e = error(&mut client);
    assert_eq!(
        (e["code"].as_str(), e["retryable"].as_bool()),
        (Some("provider_error"), Some(true)),
        "disconnect: {e}"
    );
    utterance(&mut client, 2);
    let e = error(&mut client);
    assert_eq!(e["code"], "provider_timeout", "hang: {e}");
    utterance(&mut client, 3);
    let e = error(&mut client);
    assert_eq!(e["code"], "provider_error", "503 at the upgrade: {e}");
    utterance(&mut client, 4);
    let messages = client.until("response.done", Duration::from_secs(20));
    assert!(
        messages.iter().any(|m| matches!(m, Incoming::Json(v) if v["type"] == "transcript.final" && v["text"] == "hello again")),
        "{messages:?}"
    );
    client.close();
}

/// The `response_id` of the reply to a typed turn.
fn reply_id(client: &mut SessionClient, text: &str) -> u64 {
    client.send_json(json!({"type": "input.text", "text": text}));
    let messages = client.until("response.done", Duration::from_secs(20));
    match messages.last() {
        Some(Incoming::Json(v)) => v["response_id"].as_u64().unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn reply_ids_keep_increasing_across_idle_time_and_reconnects() {
    // The client refuses audio of a reply id at or below one it has finished (stale audio), so
    // ids must never restart: not after the object hibernates, not after a resume.
    let emu = emulator();
    script(
        &emu,
        json!({"endpoint": "chat", "default": {"reply": "Yes."}}),
    );
    let (dev, tenant) = edge(&emu);
    let mut client = tenant.connect("");
    let ready = client.start();
    let first = reply_id(&mut client, "One?");
    // Idle long enough for workerd to hibernate a WebSocket-only Durable Object (about 10 s).
    std::thread::sleep(Duration::from_secs(12));
    let second = reply_id(&mut client, "Two?");
    assert!(second > first, "after idle time: {second} after {first}");
    client.close();
    let (id, token) = (
        ready["session_id"].as_str().unwrap(),
        ready["token"].as_str().unwrap(),
    );
    let mut client = tenant.resume(id, token);
    client.send_json(
        json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": token}),
    );
    client.until("session.ready", Duration::from_secs(5));
    let third = reply_id(&mut client, "Three?");
    assert!(third > second, "after a resume: {third} after {second}");
    client.close();
    let starts = dev.log().matches("session_object_start").count();
    eprintln!(
        "session objects started during the test: {starts} (more than one means it hibernated and woke)"
    );
}
