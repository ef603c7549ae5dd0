//! Edge benchmarks in local workerd against the emulator, printed as JSON.
//!
//! - added latency: the emulator sends its first LLM token -> the client receives its text
//!   delta; the emulator sends its first TTS byte -> the client receives the audio frame
//!   (targets: median <= 5 ms, p95 <= 15 ms);
//! - voice-to-voice overhead: the client's end of speech -> first reply audio frame at the
//!   client, minus the emulator's configured STT, LLM first-token and TTS first-byte latencies
//!   (target: median <= 30 ms), for 1 s utterances streamed in real time;
//! - concurrency: 100 sessions at once, each streaming 20 ms frames for 1 s and receiving a
//!   spoken reply: lost or reordered reply frames (target 0), and workerd memory per session.
//!
//! Needs the built worker and the npm packages (`scripts/build.sh`). `cargo bench -p aura-tests`.

use std::time::{Duration, Instant};

use aura_emulator::Emulator;
use aura_protocol::{AudioFrame, FrameFlags, FrameHeader, FrameKind};
use aura_tests::{Incoming, SessionClient, WranglerDev, root, script};
use serde_json::{Value, json};

const STT_MS: u64 = 200;
const LLM_MS: u64 = 350;
const TTS_MS: u64 = 150;

fn input_frame(stream_id: u32, seq: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..320)
        .map(|i| ((i as f32 * 0.2).sin() * 6_000.0) as i16)
        .collect();
    let h = FrameHeader {
        kind: FrameKind::Input,
        flags: FrameFlags::NONE,
        stream_id,
        seq,
        sample_rate: 16_000,
        sample_count: 320,
    };
    let mut out = Vec::new();
    AudioFrame::encode(&h, &samples, &mut out).unwrap();
    out
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    json!({"median": (q(0.5) * 100.0).round() / 100.0, "p95": (q(0.95) * 100.0).round() / 100.0, "max": (q(1.0) * 100.0).round() / 100.0, "n": v.len()})
}

/// Resident memory of all workerd processes, in KiB.
fn workerd_rss_kib() -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() == "workerd" {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            total += status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// One spoken turn: 25 frames, end of speech, then the reply. Returns (eos, first delta,
/// first audio frame) instants, and (frames received, frames out of order).
fn spoken_turn(
    client: &mut SessionClient,
    stream_id: u32,
    pace: Option<Duration>,
) -> (Instant, Option<Instant>, Option<Instant>, usize, usize) {
    client.send_json(json!({"type": "input.speech_started", "stream_id": stream_id}));
    let frames = if pace.is_some() { 50 } else { 25 };
    for seq in 0..frames {
        client.send_binary(input_frame(stream_id, seq));
        if let Some(p) = pace {
            std::thread::sleep(p);
        }
    }
    client.send_json(
        json!({"type": "input.speech_stopped", "stream_id": stream_id, "frames": frames}),
    );
    let eos = Instant::now();
    let (mut first_delta, mut first_frame) = (None, None);
    let (mut received, mut disorder, mut expected_seq, mut response) = (0usize, 0usize, 0u32, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let Some(m) = client.next(Duration::from_millis(200)) else {
            continue;
        };
        let at = Instant::now();
        match m {
            Incoming::Json(v) if v["type"] == "response.started" => {
                response = v["response_id"].as_u64().map(|r| r as u32)
            }
            Incoming::Json(v) if v["type"] == "response.text_delta" => {
                first_delta.get_or_insert(at);
            }
            Incoming::Json(v) if v["type"] == "response.done" => break,
            Incoming::Json(v) if v["type"] == "error" => panic!("error during the benchmark: {v}"),
            Incoming::Binary(b) => {
                first_frame.get_or_insert(at);
                let f = AudioFrame::decode_kind(&b, FrameKind::Output).unwrap();
                if Some(f.header.stream_id) != response || f.header.seq != expected_seq {
                    disorder += 1;
                }
                expected_seq = f.header.seq + 1;
                received += 1;
            }
            _ => {}
        }
    }
    (eos, first_delta, first_frame, received, disorder)
}

fn main() {
    if !root().join("edge-worker/build/index.js").exists() {
        println!("{{\"skipped\":\"the worker is not built: run scripts/build.sh first\"}}");
        return;
    }
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "transcriptions", "default": {"reply": "what time do you open", "first_byte_ms": STT_MS}}),
    );
    // All tokens arrive together after the first-token latency, so the overhead measured is
    // the edge's own and not the emulator's token pacing (a first sentence cannot go to TTS
    // before its last word has streamed).
    script(
        &emu,
        json!({"endpoint": "chat", "default": {"reply": "We open at nine. On Sundays we open at eight.", "first_byte_ms": LLM_MS, "chunk_ms": 0}}),
    );
    script(
        &emu,
        json!({"endpoint": "speech", "default": {"first_byte_ms": TTS_MS, "chunk_ms": 20}}),
    );
    let url = emu.base_url();
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("bench", &[&dev.url("")], &url, "Be brief.");
    // Limits high enough that the benchmark measures the pipeline, not the rate limiter.
    settings["limits"] =
        serde_json::json!({"concurrent_sessions": 1000, "turns_per_minute": 10000});
    let tenant = dev.tenant_with("bench", settings);
    let emu_at =
        |us: &Value| emu.started_at + Duration::from_micros(us.as_u64().expect("a first byte"));

    // Latency: spoken turns one after another on one session.
    let turns = 30;
    let mut client = tenant.connect("");
    client.start();
    let (mut llm_added, mut tts_added, mut overhead, mut v2v) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for turn in 0..turns {
        let before = emu.requests().len();
        // Audio in real time, as a microphone sends it: the turn's grant (asked at the start of
        // speech) has the utterance's duration to arrive, as it does in use.
        let (eos, delta, frame, _, _) =
            spoken_turn(&mut client, turn + 1, Some(Duration::from_millis(20)));
        let log: Vec<Value> = emu
            .requests()
            .into_iter()
            .skip(before)
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        let chat = log.iter().find(|r| r["endpoint"] == "chat").unwrap();
        let speech = log.iter().find(|r| r["endpoint"] == "speech").unwrap();
        let (delta, frame) = (delta.unwrap(), frame.unwrap());
        llm_added.push(
            delta
                .duration_since(emu_at(&chat["first_byte_us"]))
                .as_secs_f64()
                * 1000.0,
        );
        tts_added.push(
            frame
                .duration_since(emu_at(&speech["first_byte_us"]))
                .as_secs_f64()
                * 1000.0,
        );
        let total = frame.duration_since(eos).as_secs_f64() * 1000.0;
        v2v.push(total);
        overhead.push(total - (STT_MS + LLM_MS + TTS_MS) as f64);
    }
    client.close();

    // Concurrency: 100 sessions at once.
    let sessions = 100;
    let base_rss = workerd_rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(base_rss));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::SeqCst) {
                peak.fetch_max(workerd_rss_kib(), std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let shared = std::sync::Arc::new(tenant);
    let started = Instant::now();
    let workers: Vec<_> = (0..sessions)
        .map(|_| {
            let tenant = shared.clone();
            std::thread::spawn(move || {
                let mut c = tenant.connect("");
                c.start();
                let (_, _, _, received, disorder) =
                    spoken_turn(&mut c, 1, Some(Duration::from_millis(20)));
                c.close();
                (received, disorder)
            })
        })
        .collect();
    let results: Vec<(usize, usize)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let wall = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    sampler.join().unwrap();
    let expected_frames = {
        // Both sentences at 60 ms per character, in 20 ms frames, plus the END frame.
        let ms = ("We open at nine.".len() + "On Sundays we open at eight.".len()) * 60;
        ms / 20 + 1
    };
    let lost: usize = results
        .iter()
        .map(|r| expected_frames.saturating_sub(r.0))
        .sum();
    let disorder: usize = results.iter().map(|r| r.1).sum();
    let peak_rss = peak.load(std::sync::atomic::Ordering::SeqCst);

    println!(
        "{}",
        json!({
            "benchmark": "edge_latency",
            "emulator_latency_ms": {"stt": STT_MS, "llm_first_token": LLM_MS, "tts_first_byte": TTS_MS},
            "turns": turns,
            "added_ms_llm_token_to_client_text": stats(llm_added),
            "added_ms_tts_byte_to_client_frame": stats(tts_added),
            "voice_to_voice_ms": stats(v2v),
            "voice_to_voice_overhead_ms": stats(overhead),
            "targets": {"added_median_ms": 5, "added_p95_ms": 15, "overhead_median_ms": 30},
            "concurrency": {
                "sessions": sessions,
                "frames_expected_per_session": expected_frames,
                "frames_lost": lost,
                "frames_out_of_order": disorder,
                "wall_s": (wall.as_secs_f64() * 10.0).round() / 10.0,
                "workerd_rss_base_mib": base_rss / 1024,
                "workerd_rss_peak_mib": peak_rss / 1024,
                "workerd_kib_per_session": (peak_rss.saturating_sub(base_rss)) / sessions as u64,
            },
        })
    );
}
