//! The whole chain with real audio: espeak-ng speech in Chromium's fake microphone -> Aura's
//! worklet (VAD, turn-taking, framing) -> the session client -> the edge in workerd -> the
//! provider emulator -> reply audio back into the worklet, played in the page.

use std::path::Path;
use std::time::Duration;

use aura_client::resample::StreamResampler;
use aura_emulator::Emulator;
use aura_tests::{Scratch, StaticServer, WranglerDev, root, run_page};
use serde_json::{Value, json};

const RATE: u32 = 48_000;

/// A 48 kHz WAV: a click at 1.0 s, then `text` spoken at `speech_s`, silence to `total_s`.
/// Returns the speech's length in ms.
fn microphone_wav(path: &Path, text: &str, speech_s: f32, total_s: f32) -> u32 {
    let spoken = path.with_extension("espeak.wav");
    assert!(
        std::process::Command::new("espeak-ng")
            .args(["-w", spoken.to_str().unwrap(), text])
            .status()
            .unwrap()
            .success()
    );
    let clip = aura_client::clip::read_wav(&spoken).unwrap();
    let mut rs = StreamResampler::new(clip.rate, RATE).unwrap();
    let mut speech = Vec::new();
    rs.process(&clip.samples, |b| speech.extend_from_slice(b));
    let delay = rs.output_delay();
    rs.flush(|b| speech.extend_from_slice(b));
    let speech = &speech[delay..];
    let mut audio = vec![0.0f32; (total_s * RATE as f32) as usize];
    audio[RATE as usize..RATE as usize + 240]
        .iter_mut()
        .for_each(|s| *s = 0.9);
    let at = (speech_s * RATE as f32) as usize;
    for (i, s) in speech.iter().enumerate() {
        audio[at + i] = s * 0.7;
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in &audio {
        w.write_sample((s * 32_767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    (speech.len() as u64 * 1000 / u64::from(RATE)) as u32
}

fn script(emu: &Emulator, body: Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    agent
        .post(&format!("{}/_emulator/script", emu.base_url()))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
}

fn requests(emu: &Emulator) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let mut resp = agent
        .get(&format!("{}/_emulator/requests", emu.base_url()))
        .call()
        .unwrap();
    serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn a_spoken_question_is_heard_answered_and_the_answer_is_played() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "transcriptions", "default": {"reply": "what time do you open tomorrow morning"}}),
    );
    script(
        &emu,
        json!({"endpoint": "chat", "default": {"reply": "We open at seven tomorrow."}}),
    );
    let url = emu.base_url();
    let dev = WranglerDev::start_with_vars(&[
        ("LLM_BASE_URL", url.clone()),
        ("STT_BASE_URL", url.clone()),
        ("TTS_BASE_URL", url),
    ]);
    let scratch = Scratch::new("e2e");
    let wav = scratch.0.join("mic.wav");
    let speech_ms = microphone_wav(&wav, "What time do you open tomorrow morning?", 2.0, 9.0);
    let pages = StaticServer::start(vec![
        ("/test/", root().join("tests/pages")),
        ("/", root().join("www")),
    ]);
    let page = pages.url(&format!(
        "/test/e2e.html?run_ms=9000&ws=ws://127.0.0.1:{}/v1/session",
        dev.port
    ));
    let result = run_page(&page, &wav, 40_000);
    assert_eq!(result["errors"], json!([]), "{result}");

    let events = result["events"].as_array().unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e["kind"].as_str().unwrap() {
            "message" => e["data"]["type"].as_str().unwrap().to_string(),
            k => k.to_string(),
        })
        .collect();
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("ready"),
        "{kinds:?}"
    );
    for expected in [
        "speech",
        "transcript.final",
        "response.started",
        "response.text_delta",
        "response.done",
        "reply_played",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "no `{expected}` in {kinds:?}"
        );
    }
    let transcript = events
        .iter()
        .find(|e| e["data"]["type"] == "transcript.final")
        .unwrap();
    assert_eq!(
        transcript["data"]["text"],
        "what time do you open tomorrow morning"
    );
    let done = events
        .iter()
        .find(|e| e["data"]["type"] == "response.done")
        .unwrap();
    assert_eq!(done["data"]["status"], "completed", "{done}");
    let captions: String = events
        .iter()
        .filter(|e| e["data"]["type"] == "response.text_delta")
        .map(|e| e["data"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(captions, "We open at seven tomorrow.");

    // The audio survived capture, resampling, framing and transport whole: the edge sent the
    // emulator one WAV as long as the speech (plus padding and the end-of-turn silence).
    let stt: Vec<Value> = requests(&emu)
        .into_iter()
        .filter(|r| r["endpoint"] == "transcriptions")
        .collect();
    assert_eq!(stt.len(), 1, "one utterance: {stt:?}");
    let heard_ms = stt[0]["body"]["duration_ms"].as_u64().unwrap() as u32;
    assert!(
        heard_ms > speech_ms && heard_ms < speech_ms + 1_500,
        "{heard_ms} ms sent for {speech_ms} ms of speech"
    );

    // The reply was played in the page: the worklet's output sounded after the question.
    let marker = result["marker"]
        .as_u64()
        .expect("the probe heard the marker") as f64;
    let sounding: Vec<f64> = result["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c[1] == 1)
        .map(|c| (c[0].as_f64().unwrap() - marker) / 48.0)
        .collect();
    let speech_end_ms = 1_000.0 + speech_ms as f64;
    assert!(
        sounding.iter().any(|&t| t > speech_end_ms),
        "no reply audio after the question (ends at {speech_end_ms} ms): {sounding:?}"
    );
    let reply = events.iter().find(|e| e["kind"] == "reply_played").unwrap();
    let emulated_ms = "We open at seven tomorrow.".len() as u64 * 60;
    let played = reply["data"]["played_ms"].as_u64().unwrap();
    assert!(
        played + 30 >= emulated_ms && played <= emulated_ms + 30,
        "played {played} ms of {emulated_ms} ms"
    );
    let _ = Duration::ZERO;
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn a_typed_question_on_the_demo_page_gets_a_streamed_answer_with_no_microphone() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "default": {"reply": "We open at seven on weekdays.", "chunk_ms": 20}}),
    );
    let url = emu.base_url();
    let dev = WranglerDev::start_with_vars(&[
        ("LLM_BASE_URL", url.clone()),
        ("STT_BASE_URL", url.clone()),
        ("TTS_BASE_URL", url),
    ]);
    let out = std::process::Command::new("node")
        .current_dir(root())
        .args([
            "tests/browser/type-question.mjs",
            &dev.url("/"),
            "When do you open?",
        ])
        .env("TMPDIR", root().join(".tmp"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result["captions"],
        json!([{"who": "user", "text": "You: When do you open?"}, {"who": "aura", "text": "Aura: We open at seven on weekdays."}]),
        "{result}"
    );
    let chats: Vec<Value> = requests(&emu)
        .into_iter()
        .filter(|r| r["endpoint"] == "chat")
        .collect();
    assert_eq!(
        chats[0]["body"]["messages"][1]["content"],
        "When do you open?"
    );
    assert!(
        requests(&emu)
            .iter()
            .all(|r| r["endpoint"] != "transcriptions"),
        "no speech-to-text in text mode"
    );
}
