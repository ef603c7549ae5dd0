//! Edge benchmarks in local workerd against the emulator, printed as JSON.
//!
//! - added latency: the emulator sends its first LLM token -> the client receives its text
//!   delta; the emulator sends its first TTS byte -> the client receives the audio frame
//!   (targets: median <= 5 ms, p95 <= 15 ms);
//! - voice-to-voice overhead: the client's end of speech -> first reply audio frame at the
//!   client, minus the emulator's configured STT, LLM first-token and TTS first-byte latencies
//!   (target: median <= 30 ms), for 1 s utterances streamed in real time;
//! - concurrency: 100 sessions at once (each on a fresh `wrangler dev`), all connected and idle,
//!   then all streaming 20 ms frames for 1 s and receiving a spoken reply at once: lost or
//!   reordered reply frames (target 0), and the memory of this benchmark's own workerd
//!   processes (found by process group and parentage from its wrangler, so other workerd on the
//!   machine do not count) per idle live session (target <= 1 MiB) and per session in a turn
//!   (target <= 2 MiB), over a base taken after one warm-up turn.
//!
//! Needs the built worker and the npm packages (`scripts/build.sh`). `cargo bench -p aura-tests
//! --bench edge_latency`. Knobs (environment): `AURA_BENCH_TURNS` latency turns (default 30, 0
//! skips them); `AURA_BENCH_SESSIONS` session counts, comma-separated (default `100`, e.g.
//! `100,500`); `AURA_BENCH_DEVTOOLS` `0` (default: wrangler without its DevTools inspector
//! proxy, as the tests run it), `1` with it, `both`; `AURA_BENCH_LOG=PATH` writes wrangler's
//! output to `PATH.SESSIONS`.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use aura_emulator::Emulator;
use aura_protocol::{AudioFrame, FrameHeader, FrameKind};
use aura_tests::{Incoming, Scratch, SessionClient, WranglerDev, root, script};
use serde_json::{Value, json};

const STT_MS: u64 = 200;
const LLM_MS: u64 = 350;
const TTS_MS: u64 = 150;

fn input_frame(stream_id: u32, seq: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..320)
        .map(|i| ((i as f32 * 0.2).sin() * 6_000.0) as i16)
        .collect();
    let h = FrameHeader::input(stream_id, seq, 320);
    let mut out = Vec::new();
    AudioFrame::encode(&h, &samples, &mut out).unwrap();
    out
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    json!({"median": (q(0.5) * 100.0).round() / 100.0, "p95": (q(0.95) * 100.0).round() / 100.0, "max": (q(1.0) * 100.0).round() / 100.0, "n": v.len()})
}

/// The pid of the `wrangler dev` process that serves `port`: the harness starts it in its own
/// process group, so its pid is also the group id of the workerd processes it spawns.
fn wrangler_pid(port: u16) -> Option<u32> {
    let port = port.to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let serves = args
                .windows(2)
                .any(|w| w[0] == b"--port" && w[1] == port.as_bytes());
            let is_wrangler = args
                .iter()
                .any(|a| a.ends_with(b"wrangler") || a.ends_with(b"wrangler-dist/cli.js"));
            (serves && is_wrangler && args.iter().any(|a| *a == b"dev")).then_some(pid)
        })
}

/// (pid, parent pid, process group) of every process, from `/proc/PID/stat`.
fn processes() -> Vec<(u32, u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
            let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
            let (_state, ppid, pgrp) = (rest.next()?, rest.next()?, rest.next()?);
            Some((pid, ppid.parse().ok()?, pgrp.parse().ok()?))
        })
        .collect()
}

/// The workerd processes of this benchmark's own `wrangler dev` (pid `root`): those in its
/// process group or descending from it. Other workerd on the machine (other tests) are left out.
fn own_workerd(root: u32) -> Vec<u32> {
    let procs = processes();
    let descends = |mut pid: u32| {
        for _ in 0..64 {
            if pid == root {
                return true;
            }
            match procs.iter().find(|p| p.0 == pid) {
                Some(&(_, ppid, _)) if ppid > 1 => pid = ppid,
                _ => return false,
            }
        }
        false
    };
    procs
        .iter()
        .filter(|&&(pid, _, pgrp)| pgrp == root || descends(pid))
        .map(|p| p.0)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "workerd")
        })
        .collect()
}

/// Resident memory of this benchmark's workerd processes, in KiB: (all of them, the runtime
/// that runs the Worker alone). `wrangler dev` starts two: its proxy (ProxyWorker, and the
/// InspectorProxyWorker with DevTools), whose entry socket is the dev port, and the runtime.
#[derive(Debug, Clone, Copy, Default)]
struct Rss {
    total: u64,
    runtime: u64,
}

fn workerd_rss_kib(root: u32, port: u16) -> Rss {
    let proxy_entry = format!("entry=127.0.0.1:{port}");
    own_workerd(root)
        .into_iter()
        .fold(Rss::default(), |acc, pid| {
            let kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let is_proxy = cmdline
                .split(|b| *b == 0)
                .any(|arg| arg.ends_with(proxy_entry.as_bytes()));
            Rss {
                total: acc.total + kib,
                runtime: acc.runtime + if is_proxy { 0 } else { kib },
            }
        })
}

/// Samples `workerd_rss_kib` every 100 ms on a thread until stopped; keeps the peaks.
struct PeakSampler {
    peak: Arc<(AtomicU64, AtomicU64)>,
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    fn start(root: u32, port: u16) -> Self {
        let peak = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let running = Arc::new(AtomicBool::new(true));
        let sample = {
            let peak = peak.clone();
            move || {
                let now = workerd_rss_kib(root, port);
                peak.0.fetch_max(now.total, SeqCst);
                peak.1.fetch_max(now.runtime, SeqCst);
            }
        };
        sample();
        let thread = {
            let running = running.clone();
            std::thread::spawn(move || {
                while running.load(SeqCst) {
                    sample();
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self {
            peak,
            running,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Rss {
        self.running.store(false, SeqCst);
        self.thread.take().unwrap().join().unwrap();
        Rss {
            total: self.peak.0.load(SeqCst),
            runtime: self.peak.1.load(SeqCst),
        }
    }
}

/// The benchmark's knobs, from the environment.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

/// Builds the benchmark tenant on `dev` with every provider at the emulator `url`.
fn bench_tenant(dev: &WranglerDev, url: &str) -> aura_tests::TestTenant {
    let mut settings = aura_admin::settings_for("bench", &[&dev.url("")], url, "Be brief.");
    // Limits high enough that the benchmark measures the pipeline, not the rate limiter.
    settings["limits"] = json!({"concurrent_sessions": 100_000, "turns_per_minute": 1_000_000});
    dev.tenant_with("bench", settings)
}

/// Concurrency and memory: `sessions` live sessions at once on a fresh `wrangler dev`. All
/// connect and start (idle live), then all stream a 1 s utterance in real time and receive a
/// spoken reply at once (in a turn). Memory is the RSS of this edge's own workerd processes,
/// over a base taken after one warm-up turn (module compiled, classes loaded).
fn concurrency(sessions: usize, url: &str, devtools: bool) -> Value {
    let dev = WranglerDev::start_in_with(Scratch::new("wrangler-state"), &[], devtools);
    let root = wrangler_pid(dev.port).expect("the benchmark's own wrangler dev process");
    let tenant = Arc::new(bench_tenant(&dev, url));
    {
        let mut c = tenant.connect("");
        c.start();
        spoken_turn(&mut c, 1, None);
        c.close();
    }
    std::thread::sleep(Duration::from_secs(2));
    let base = workerd_rss_kib(root, dev.port);
    let workerd_processes = own_workerd(root).len();

    // Every session thread meets the main thread twice: once all are live and idle, once the
    // idle figure is taken (then all start their turn at once).
    let (live, go) = (
        Arc::new(Barrier::new(sessions + 1)),
        Arc::new(Barrier::new(sessions + 1)),
    );
    let connect_sampler = PeakSampler::start(root, dev.port);
    let started = Instant::now();
    let workers: Vec<_> = (0..sessions)
        .map(|_| {
            let (tenant, live, go) = (tenant.clone(), live.clone(), go.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut c = tenant.connect("");
                    c.start();
                    live.wait();
                    go.wait();
                    let (_, _, _, received, disorder) =
                        spoken_turn(&mut c, 1, Some(Duration::from_millis(20)));
                    c.close();
                    (received, disorder)
                })
                .unwrap()
        })
        .collect();
    live.wait();
    let connect_s = started.elapsed().as_secs_f64();
    let connect_peak = connect_sampler.stop();
    // Idle and live: let the connection work settle (GC, SQLite writes), then sample.
    std::thread::sleep(Duration::from_secs(3));
    let idle = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            workerd_rss_kib(root, dev.port)
        })
        .max_by_key(|r| r.total)
        .unwrap();
    let turn_sampler = PeakSampler::start(root, dev.port);
    let turns_started = Instant::now();
    go.wait();
    let results: Vec<(usize, usize)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let wall = turns_started.elapsed();
    let turn_peak = turn_sampler.stop();
    std::thread::sleep(Duration::from_secs(2));
    let after_close = workerd_rss_kib(root, dev.port);
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
    // AURA_BENCH_LOG=PATH keeps what wrangler printed (the Worker's console lines) for a look.
    if let Ok(path) = std::env::var("AURA_BENCH_LOG") {
        let _ = std::fs::write(format!("{path}.{sessions}"), dev.log());
    }
    let per = |kib: u64, base: u64| kib.saturating_sub(base) / sessions as u64;
    json!({
        "sessions": sessions,
        "wrangler_devtools_proxy": devtools,
        "workerd_processes": workerd_processes,
        "frames_expected_per_session": expected_frames,
        "frames_lost": lost,
        "frames_out_of_order": disorder,
        "connect_s": (connect_s * 10.0).round() / 10.0,
        "wall_s": (wall.as_secs_f64() * 10.0).round() / 10.0,
        "workerd_rss_base_mib": base.total / 1024,
        "workerd_rss_idle_mib": idle.total / 1024,
        "workerd_rss_connect_peak_mib": connect_peak.total / 1024,
        "workerd_rss_turn_peak_mib": turn_peak.total / 1024,
        "workerd_rss_after_close_mib": after_close.total / 1024,
        // Both workerd processes of wrangler dev (its proxy forwards every session's socket).
        "workerd_kib_per_session_idle": per(idle.total, base.total),
        "workerd_kib_per_session_in_turn": per(turn_peak.total, base.total),
        // The runtime process alone, where the Worker and its Durable Objects run.
        "runtime_kib_per_session_idle": per(idle.runtime, base.runtime),
        "runtime_kib_per_session_in_turn": per(turn_peak.runtime, base.runtime),
        // The figure earlier runs reported: peak during the turns over the base, all workerd.
        "workerd_kib_per_session": per(turn_peak.total, base.total),
        "targets": {"kib_per_session_idle": 1024, "kib_per_session_in_turn": 2048},
    })
}

fn main() {
    if !root().join("edge-worker/build/index.js").exists() {
        println!("{{\"skipped\":\"the worker is not built: run scripts/build.sh first\"}}");
        return;
    }
    // AURA_BENCH_TURNS: latency turns (0 skips the latency part); AURA_BENCH_SESSIONS: the
    // session counts of the concurrency part, comma-separated, each on a fresh wrangler dev.
    let turns: u32 = env_or("AURA_BENCH_TURNS", 30);
    let session_counts: Vec<usize> = std::env::var("AURA_BENCH_SESSIONS")
        .unwrap_or_else(|_| "100".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
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
    let emu_at =
        |us: &Value| emu.started_at + Duration::from_micros(us.as_u64().expect("a first byte"));

    // Latency: spoken turns one after another on one session.
    let (mut llm_added, mut tts_added, mut overhead, mut v2v) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if turns > 0 {
        let dev = WranglerDev::start();
        let tenant = bench_tenant(&dev, &url);
        let mut client = tenant.connect("");
        client.start();
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
    }

    // AURA_BENCH_DEVTOOLS: 0 (default) runs wrangler without its DevTools inspector proxy, as
    // the tests do; 1 with it (how this benchmark ran before); `both` runs each count both ways.
    let devtools: &[bool] = match std::env::var("AURA_BENCH_DEVTOOLS").as_deref() {
        Ok("1") => &[true],
        Ok("both") => &[false, true],
        _ => &[false],
    };
    let concurrency: Vec<Value> = session_counts
        .iter()
        .flat_map(|&n| devtools.iter().map(move |&d| (n, d)))
        .map(|(n, d)| concurrency(n, &url, d))
        .collect();
    let stats_or_null = |v: Vec<f64>| if v.is_empty() { Value::Null } else { stats(v) };
    println!(
        "{}",
        json!({
            "benchmark": "edge_latency",
            "emulator_latency_ms": {"stt": STT_MS, "llm_first_token": LLM_MS, "tts_first_byte": TTS_MS},
            "turns": turns,
            "added_ms_llm_token_to_client_text": stats_or_null(llm_added),
            "added_ms_tts_byte_to_client_frame": stats_or_null(tts_added),
            "voice_to_voice_ms": stats_or_null(v2v),
            "voice_to_voice_overhead_ms": stats_or_null(overhead),
            "targets": {"added_median_ms": 5, "added_p95_ms": 15, "overhead_median_ms": 30},
            "concurrency": if concurrency.len() == 1 { concurrency[0].clone() } else { Value::Array(concurrency) },
        })
    );
}
