//! The second speech-to-text route (`stt_fallback`, key slot `stt1`, issue 16 item 13) in local
//! workerd: a batch first route that cannot be reached, answers 5xx or 429 hands the utterance's
//! WAV to the second; a refused request does not fall back; a live (Deepgram-style) first route
//! whose socket is refused hands the utterance to a batch second route.

use std::time::Duration;

use aura_emulator::Emulator;
use aura_tests::{Incoming, TestTenant, WranglerDev, input_frame, requests_to, script};
use serde_json::{Value, json};

const HEARD: &str = "when do you open";

/// One spoken turn (0.5 s) on a fresh session; returns the final transcript (if any) and the
/// error codes the client got.
fn spoken_turn(tenant: &TestTenant) -> (Option<String>, Vec<String>) {
    let mut client = tenant.connect("");
    client.start();
    client.send_json(json!({"type": "input.speech_started", "stream_id": 1}));
    for seq in 0..25 {
        client.send_binary(input_frame(1, seq, &[500; 320]));
    }
    client.send_json(json!({"type": "input.speech_stopped", "stream_id": 1, "frames": 25}));
    let mut transcript = None;
    let mut errors = Vec::new();
    while let Some(m) = client.next(Duration::from_secs(20)) {
        let Incoming::Json(v) = m else { continue };
        match v["type"].as_str() {
            Some("transcript.final") => transcript = v["text"].as_str().map(str::to_string),
            Some("error") => {
                errors.push(v["code"].as_str().unwrap_or("").to_string());
                break;
            }
            Some("response.done") => break,
            _ => {}
        }
    }
    client.close();
    (transcript, errors)
}

/// An emulator that transcribes every utterance as [`HEARD`] and answers chat briefly.
fn second_route() -> Emulator {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "transcriptions", "default": {"reply": HEARD}}),
    );
    emu
}

fn settings(dev: &WranglerDev, first: &str, second: &Emulator, chat: &Emulator) -> Value {
    script(
        chat,
        json!({"endpoint": "chat", "default": {"reply": "At nine."}}),
    );
    let mut s = aura_admin::settings_for("t", &[&dev.url("")], &chat.base_url(), "Be brief.");
    s["stt"] = json!({"base_url": first, "model": "whisper-1"});
    s["stt_fallback"] = json!({"base_url": second.base_url(), "model": "whisper-large-v3"});
    s
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_batch_stt_that_fails_before_its_answer_falls_back_to_the_second_route() {
    let first = Emulator::start(0).unwrap();
    let second = second_route();
    let dev = WranglerDev::start();
    let tenant = dev.tenant_with(
        "stt-fallback",
        settings(&dev, &first.base_url(), &second, &first),
    );
    second.accept_keys(Some(vec!["sk-stt-fallback-stt1".into()]));
    for (i, code) in [503, 500, 429].into_iter().enumerate() {
        script(
            &first,
            json!({"endpoint": "transcriptions", "queue": [{"reply": "from the first", "fault": {"kind": "status", "code": code}}]}),
        );
        let (transcript, errors) = spoken_turn(&tenant);
        assert_eq!(transcript.as_deref(), Some(HEARD), "{code}: {errors:?}");
        assert!(errors.is_empty(), "{code}: {errors:?}");
        assert_eq!(requests_to(&first, "transcriptions").len(), i + 1, "{code}");
        let asked = requests_to(&second, "transcriptions");
        assert_eq!(asked.len(), i + 1, "{code}");
        let last = &asked[i];
        assert_eq!(last["authorization"], "Bearer sk-stt-fallback-stt1");
        assert_eq!(last["body"]["model"], "whisper-large-v3");
        assert_eq!(last["body"]["duration_ms"], 500, "the whole utterance");
    }
    // A refused request is the same on any retry of the audio: no fallback, a clear error.
    script(
        &first,
        json!({"endpoint": "transcriptions", "queue": [{"fault": {"kind": "status", "code": 400}}]}),
    );
    let (transcript, errors) = spoken_turn(&tenant);
    assert_eq!(
        (transcript, errors),
        (None, vec!["provider_error".to_string()])
    );
    assert_eq!(requests_to(&second, "transcriptions").len(), 3, "not asked");

    let log = dev.log();
    for reason in ["server_error", "rate_limited"] {
        assert!(
            log.contains(&format!(
                r#"{{"event":"stt_fallback","reason":"{reason}"}}"#
            )),
            "{reason} logged"
        );
    }
    assert!(!log.contains("sk-stt-fallback"), "no key in the log");
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn an_unreachable_batch_stt_and_a_refused_live_socket_fall_back() {
    let chat = Emulator::start(0).unwrap();
    let second = second_route();
    let dev = WranglerDev::start();
    // Nothing listens on port 9 of this machine.
    let unreachable = settings(&dev, "http://127.0.0.1:9", &second, &chat);
    let tenant = dev.tenant_with("stt-unreachable", unreachable);
    let (transcript, errors) = spoken_turn(&tenant);
    assert_eq!(transcript.as_deref(), Some(HEARD), "{errors:?}");
    assert!(
        dev.log()
            .contains(r#"{"event":"stt_fallback","reason":"unreachable"}"#)
    );

    let mut live = settings(&dev, &chat.base_url(), &second, &chat);
    live["stt"] = json!({"api": "deepgram", "base_url": chat.base_url(), "model": "nova-3"});
    let tenant = dev.tenant_with("stt-live-refused", live);
    script(
        &chat,
        json!({"endpoint": "listen", "queue": [{"reply": "from the first", "fault": {"kind": "status", "code": 503}}]}),
    );
    let (transcript, errors) = spoken_turn(&tenant);
    assert_eq!(transcript.as_deref(), Some(HEARD), "{errors:?}");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        requests_to(&chat, "listen").len(),
        1,
        "the live route was tried first"
    );
    assert_eq!(
        requests_to(&second, "transcriptions").len(),
        2,
        "then the batch route had the utterance's WAV"
    );
}
