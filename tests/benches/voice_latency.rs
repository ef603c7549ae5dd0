//! The whole chain's latency, turn by turn, in headless Chromium: espeak-ng speech in the fake
//! microphone -> Aura's worklet (VAD, end of turn) -> session -> edge in workerd -> emulator with
//! typical cloud latencies (STT 200 ms, LLM first token 350 ms, TTS first byte 150 ms) -> reply
//! audio played in the page. Prints JSON: per stage, median and p95 over the turns.
//!
//! Stages, each from the previous: end of speech in the file -> end of turn detected (includes
//! the client's end-of-turn silence) -> final transcript received -> first LLM token received
//! -> first TTS byte sent by the emulator -> first reply sample played. Target: end of speech to
//! first sample played <= end-of-turn silence + 700 ms of providers + 100 ms, at the median.
//!   cargo bench -p aura-tests --bench voice_latency      (after scripts/build.sh)

use std::time::{SystemTime, UNIX_EPOCH};

use aura_emulator::Emulator;
use aura_tests::{
    Scratch, StaticServer, WranglerDev, microphone_turns_wav, root, run_page, script,
};
use serde_json::{Value, json};

const STT_MS: u64 = 200;
const LLM_MS: u64 = 350;
const TTS_MS: u64 = 150;
const END_OF_TURN_SILENCE_MS: f64 = 600.0;
const TURNS: usize = 8;
const TURN_EVERY_S: f32 = 6.0;

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let r = |x: f64| (x * 10.0).round() / 10.0;
    json!({"n": v.len(), "median": r(pick(0.5)), "p95": r(pick(0.95)), "max": r(pick(1.0))})
}

fn main() {
    for needed in ["edge-worker/build/index.js", "www/pkg/aura_client_bg.wasm"] {
        if !root().join(needed).exists() {
            eprintln!("voice_latency: {needed} is missing; run scripts/build.sh first");
            return;
        }
    }
    let emu = Emulator::start(0).unwrap();
    let emu_epoch_ms = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
        - emu.started_at.elapsed())
    .as_secs_f64()
        * 1000.0;
    script(
        &emu,
        json!({"endpoint": "transcriptions", "default": {"reply": "when do you open", "first_byte_ms": STT_MS}}),
    );
    script(
        &emu,
        json!({"endpoint": "chat", "default": {"reply": "We open at nine.", "first_byte_ms": LLM_MS, "chunk_ms": 0}}),
    );
    script(
        &emu,
        json!({"endpoint": "speech", "default": {"first_byte_ms": TTS_MS, "chunk_ms": 20}}),
    );
    let dev = WranglerDev::start();
    let pages = StaticServer::start(vec![
        ("/test/", root().join("tests/pages")),
        ("/", root().join("www")),
    ]);
    let tenant = dev.tenant("bench", &emu.base_url(), &[&pages.url("")]);
    let scratch = Scratch::new("voice-latency");
    let wav = scratch.0.join("mic.wav");
    let starts: Vec<f32> = (0..TURNS).map(|k| 2.0 + k as f32 * TURN_EVERY_S).collect();
    let total_s = 2.0 + TURNS as f32 * TURN_EVERY_S + 1.0;
    let turns = microphone_turns_wav(&wav, "When do you open?", &starts, total_s);
    let run_ms = (total_s * 1000.0) as u32;
    let page = pages.url(&format!(
        "/test/e2e.html?run_ms={run_ms}&ws={}",
        tenant.session_url().replace('?', "%3F").replace('=', "%3D")
    ));
    let result = run_page(&page, &wav, run_ms + 30_000);
    if result["errors"] != json!([]) {
        eprintln!(
            "voice_latency: the page reported errors: {}",
            result["errors"]
        );
    }
    let events = result["events"].as_array().unwrap();
    // Audio-clock ms of the marker; wall clock to audio clock from the events' two stamps.
    let marker_ms = result["marker"]
        .as_f64()
        .expect("the probe heard the marker")
        / 48.0;
    let mut offsets: Vec<f64> = events
        .iter()
        .map(|e| e["epoch"].as_f64().unwrap() - e["at"].as_f64().unwrap())
        .collect();
    offsets.sort_by(|a, b| a.total_cmp(b));
    let epoch_to_ctx = |epoch: f64| epoch - offsets[offsets.len() / 2];
    let sounding: Vec<f64> = result["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c[1] == 1)
        .map(|c| c[0].as_f64().unwrap() / 48.0)
        .collect();
    let at_of = |pred: &dyn Fn(&Value) -> bool, after: f64| {
        events
            .iter()
            .filter(|e| pred(e))
            .map(|e| e["at"].as_f64().unwrap())
            .find(|&t| t >= after)
    };
    let speech_stops = |e: &Value| e["kind"] == "speech" && e["data"]["stopped"].is_number();
    let transcript = |e: &Value| e["data"]["type"] == "transcript.final";
    let delta = |e: &Value| e["data"]["type"] == "response.text_delta";
    let tts: Vec<f64> = emu
        .requests()
        .into_iter()
        .filter_map(|r| {
            let r = serde_json::to_value(r).unwrap();
            let first_byte_us = r["first_byte_us"].as_f64()?;
            (r["endpoint"] == "speech").then(|| epoch_to_ctx(emu_epoch_ms + first_byte_us / 1000.0))
        })
        .collect();

    let mut stages: [Vec<f64>; 6] = Default::default();
    let mut missing = 0;
    // Each turn's stages are looked for between its end of speech and the next one's; the wall
    // clock maps onto the audio clock to within a render quantum or two, hence the tolerance.
    const SLACK_MS: f64 = 30.0;
    let ends: Vec<f64> = turns
        .iter()
        .map(|t| marker_ms + t.end_after_marker_ms)
        .collect();
    for (k, &eos) in ends.iter().enumerate() {
        let until = ends.get(k + 1).copied().unwrap_or(f64::MAX);
        let within = |t: f64| t < until;
        let Some(eot) = at_of(&speech_stops, eos).filter(|&t| within(t)) else {
            missing += 1;
            continue;
        };
        let Some(tr) = at_of(&transcript, eot).filter(|&t| within(t)) else {
            missing += 1;
            continue;
        };
        let Some(tok) = at_of(&delta, tr).filter(|&t| within(t)) else {
            missing += 1;
            continue;
        };
        let Some(&byte) = tts.iter().find(|&&t| t >= tok - SLACK_MS && within(t)) else {
            missing += 1;
            continue;
        };
        let Some(&played) = sounding
            .iter()
            .find(|&&t| t >= byte - SLACK_MS && within(t))
        else {
            missing += 1;
            continue;
        };
        for (i, v) in [
            eot - eos,
            tr - eot,
            tok - tr,
            byte - tok,
            played - byte,
            played - eos,
        ]
        .into_iter()
        .enumerate()
        {
            stages[i].push(v);
        }
    }
    let [eot, transcript, token, byte, played, total] = stages;
    let budget = END_OF_TURN_SILENCE_MS + (STT_MS + LLM_MS + TTS_MS) as f64 + 100.0;
    let report = json!({
        "benchmark": "voice_latency",
        "turns": TURNS,
        "turns_missing_a_stage": missing,
        "emulator_latency_ms": {"stt": STT_MS, "llm_first_token": LLM_MS, "tts_first_byte": TTS_MS},
        "end_of_turn_silence_ms": END_OF_TURN_SILENCE_MS,
        "ms": {
            "end_of_speech_to_end_of_turn": stats(eot),
            "end_of_turn_to_final_transcript": stats(transcript),
            "final_transcript_to_first_llm_token": stats(token),
            "first_llm_token_to_first_tts_byte": stats(byte),
            "first_tts_byte_to_first_sample_played": stats(played),
            "end_of_speech_to_first_sample_played": stats(total.clone()),
        },
        "target_ms": {"end_of_speech_to_first_sample_played_median": budget},
    });
    println!("{report}");
}
