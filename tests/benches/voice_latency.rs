//! The whole chain's latency, turn by turn, in headless Chromium: espeak-ng speech in the fake
//! microphone -> Aura's worklet (VAD, pauses) -> session -> edge in workerd -> emulator with
//! typical cloud latencies (STT 200 ms, LLM first token 350 ms, TTS first byte 150 ms) -> reply
//! audio played in the page. One run measures both ends of a turn on the same recording:
//! - v1 (protocol 1, the old behaviour): the client's 600 ms of silence ends the turn, and only
//!   then do STT, LLM and TTS start;
//! - v2 (protocol 2): the client reports a pause, the edge transcribes and starts the reply
//!   speculatively, and commits the turn (`turn.committed`) when the transcript reads complete.
//!
//! Prints JSON: per mode and stage, median and p95 over the turns, and the v2/v1 ratio of the
//! whole. Stages, v1: end of speech in the file -> end of turn (the client's
//! `input.speech_stopped`) -> final transcript -> first LLM token -> first TTS byte sent by the
//! emulator -> first reply sample played. v2: end of speech -> commit (`turn.committed`, or the
//! client's fallback `input.speech_stopped`) -> first reply sample played; the upstream work
//! (first TTS byte) is timed from the end of speech, as it may come before the commit.
//! A third run is v2 with a live STT (Deepgram's streaming wire format; its final result comes
//! `LIVE_FINALIZE_MS` after `Finalize`, punctuated as Deepgram's `punctuate=true` returns it).
//! Targets (issue 15): v2 end of speech -> first sample played <= 900 ms at the median with
//! batch STT and <= 850 ms with a live STT, p95 within 150 ms of the median; v1 <= end-of-turn
//! silence + 700 ms of providers + 100 ms.
//!   cargo bench -p aura-tests --bench voice_latency      (after scripts/build.sh)

use std::time::{SystemTime, UNIX_EPOCH};

use aura_emulator::Emulator;
use aura_tests::{
    Scratch, StaticServer, WranglerDev, e2e_page, microphone_turns_wav, root, run_page, script,
    sounding_ms, test_pages,
};
use serde_json::{Value, json};

const STT_MS: u64 = 200;
/// A live STT's answer to `Finalize`: the audio is already transcribed, only its last words wait.
const LIVE_FINALIZE_MS: u64 = 100;
const LLM_MS: u64 = 350;
const TTS_MS: u64 = 150;
const END_OF_TURN_SILENCE_MS: f64 = 600.0;
const TURNS: usize = 12;
const TURN_EVERY_S: f32 = 6.0;

fn stats(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return json!({"n": 0});
    }
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
        json!({"endpoint": "listen", "default": {"reply": "When do you open?", "first_byte_ms": LIVE_FINALIZE_MS}}),
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
    let pages = test_pages();
    let tenant = dev.tenant("bench", &emu.base_url(), &[&pages.url("")]);
    let mut live = aura_admin::settings_for(
        "bench-live",
        &[&dev.url(""), &pages.url("")],
        &emu.base_url(),
        "You are a helpful voice assistant.",
    );
    live["stt"] = json!({"api": "deepgram", "base_url": emu.base_url(), "model": "nova-3"});
    let live_tenant = dev.tenant_with("bench-live", live);
    let scratch = Scratch::new("voice-latency");
    let wav = scratch.0.join("mic.wav");
    let starts: Vec<f32> = (0..TURNS).map(|k| 2.0 + k as f32 * TURN_EVERY_S).collect();
    let total_s = 2.0 + TURNS as f32 * TURN_EVERY_S + 1.0;
    let turns = microphone_turns_wav(&wav, "When do you open?", &starts, total_s);
    let bench = Bench {
        emu: &emu,
        emu_epoch_ms,
        pages: &pages,
        wav: &wav,
        total_s,
        ends_after_marker_ms: turns.iter().map(|t| t.end_after_marker_ms).collect(),
    };
    let v2 = bench.run(2, &tenant.session_url());
    let v1 = bench.run(1, &tenant.session_url());
    let v2_live = bench.run(2, &live_tenant.session_url());
    let median = |v: &Value| v["ms"]["end_of_speech_to_first_sample_played"]["median"].as_f64();
    let ratio = median(&v2)
        .zip(median(&v1))
        .map(|(a, b)| (a / b * 1000.0).round() / 1000.0);
    let budget = END_OF_TURN_SILENCE_MS + (STT_MS + LLM_MS + TTS_MS) as f64 + 100.0;
    let report = json!({
        "benchmark": "voice_latency",
        "turns": TURNS,
        "emulator_latency_ms": {"stt": STT_MS, "llm_first_token": LLM_MS, "tts_first_byte": TTS_MS},
        "live_stt_finalize_ms": LIVE_FINALIZE_MS,
        "v2_edge_commit": v2,
        "v1_client_silence": v1,
        "v2_edge_commit_live_stt": v2_live,
        "v2_over_v1_end_of_speech_to_first_sample_median": ratio,
        "target_ms": {
            "v2_end_of_speech_to_first_sample_played_median": 900,
            "v2_live_stt_end_of_speech_to_first_sample_played_median": 850,
            "v2_p95_minus_median_max": 150,
            "v1_end_of_speech_to_first_sample_played_median": budget,
        },
    });
    println!("{report}");
}

/// What the runs share: the emulator, the page server and the
/// recording with its turns' ends (ms after the marker).
struct Bench<'a> {
    emu: &'a Emulator,
    emu_epoch_ms: f64,
    pages: &'a StaticServer,
    wav: &'a std::path::Path,
    total_s: f32,
    ends_after_marker_ms: Vec<f64>,
}

/// One page run's events and sound, on the page's audio clock (ms).
struct PageRun {
    events: Vec<Value>,
    marker_ms: f64,
    sounding: Vec<f64>,
    tts_first_bytes: Vec<f64>,
    /// When the emulator received each batch STT, chat and speech request (page clock, ms).
    stt_requests: Vec<f64>,
    chat_requests: Vec<f64>,
    speech_requests: Vec<f64>,
    protocol: Option<u64>,
}

impl Bench<'_> {
    /// The recording played to a page whose client speaks `protocol` to `session_url`: the
    /// stages per turn.
    fn run(&self, protocol: u32, session_url: &str) -> Value {
        let page = self.play(protocol, session_url);
        let at_of = |pred: &dyn Fn(&Value) -> bool, after: f64| {
            page.events
                .iter()
                .filter(|e| pred(e))
                .map(|e| e["at"].as_f64().unwrap())
                .find(|&t| t >= after)
        };
        let commit = |e: &Value| {
            e["data"]["type"] == "turn.committed"
                || (e["kind"] == "speech" && e["data"]["stopped"].is_number())
        };
        let transcript = |e: &Value| e["data"]["type"] == "transcript.final";
        let delta = |e: &Value| e["data"]["type"] == "response.text_delta";
        // v1: eot, transcript, token, byte, played, total; v2: commit, played after commit,
        // byte after eos, total.
        let mut stages: [Vec<f64>; 6] = Default::default();
        // v2: when each provider was asked, from the end of speech (where the time goes).
        let mut asked: [Vec<f64>; 3] = Default::default();
        let mut missing = 0;
        // Each turn's stages are looked for between its end of speech and the next one's; the
        // wall clock maps onto the audio clock to within a render quantum or two, hence the slack.
        const SLACK_MS: f64 = 30.0;
        let ends: Vec<f64> = self
            .ends_after_marker_ms
            .iter()
            .map(|e| page.marker_ms + e)
            .collect();
        for (k, &eos) in ends.iter().enumerate() {
            let until = ends.get(k + 1).copied().unwrap_or(f64::MAX);
            let within = |t: &f64| *t < until;
            let first_after = |v: &[f64], after: f64| v.iter().copied().find(|&t| t >= after);
            let Some(eot) = at_of(&commit, eos).filter(within) else {
                missing += 1;
                continue;
            };
            let Some(tr) = at_of(&transcript, eot).filter(within) else {
                missing += 1;
                continue;
            };
            let Some(tok) = at_of(&delta, tr).filter(within) else {
                missing += 1;
                continue;
            };
            // v2 may ask for the reply's audio before the commit (speculation).
            let byte_after = if protocol == 1 { tok } else { eos };
            let Some(byte) =
                first_after(&page.tts_first_bytes, byte_after - SLACK_MS).filter(within)
            else {
                missing += 1;
                continue;
            };
            let Some(played) = first_after(&page.sounding, eot.max(byte) - SLACK_MS).filter(within)
            else {
                missing += 1;
                continue;
            };
            let figures = [
                eot - eos,
                tr - eot,
                tok - tr,
                byte - if protocol == 1 { tok } else { eos },
                played - if protocol == 1 { byte } else { eot },
                played - eos,
            ];
            for (i, v) in figures.into_iter().enumerate() {
                stages[i].push(v);
            }
            let requests = [
                &page.stt_requests,
                &page.chat_requests,
                &page.speech_requests,
            ];
            for (i, requests) in requests.into_iter().enumerate() {
                if let Some(t) = first_after(requests, eos - SLACK_MS).filter(within) {
                    asked[i].push(t - eos);
                }
            }
        }
        let [eot, transcript, token, byte, played, total] = stages;
        let [stt_asked, llm_asked, tts_asked] = asked;
        let ms = if protocol == 1 {
            json!({
                "end_of_speech_to_end_of_turn": stats(eot),
                "end_of_turn_to_final_transcript": stats(transcript),
                "final_transcript_to_first_llm_token": stats(token),
                "first_llm_token_to_first_tts_byte": stats(byte),
                "first_tts_byte_to_first_sample_played": stats(played),
                "end_of_speech_to_first_sample_played": stats(total),
            })
        } else {
            json!({
                "end_of_speech_to_commit": stats(eot),
                "commit_to_final_transcript_sent": stats(transcript),
                "final_transcript_to_first_text_sent": stats(token),
                "end_of_speech_to_batch_stt_request": stats(stt_asked),
                "end_of_speech_to_llm_request": stats(llm_asked),
                "end_of_speech_to_tts_request": stats(tts_asked),
                "end_of_speech_to_first_tts_byte": stats(byte),
                "commit_to_first_sample_played": stats(played),
                "end_of_speech_to_first_sample_played": stats(total),
            })
        };
        // How the edge decided each end of turn (v2 metrics; absent in v1).
        let mut reasons = serde_json::Map::new();
        for e in page
            .events
            .iter()
            .filter(|e| e["data"]["type"] == "response.done")
        {
            let reason = e["data"]["metrics"]["end_of_turn_reason"]
                .as_str()
                .unwrap_or("none");
            let n = reasons.get(reason).and_then(Value::as_u64).unwrap_or(0);
            reasons.insert(reason.to_string(), json!(n + 1));
        }
        json!({
            "protocol_spoken": page.protocol,
            "turns_missing_a_stage": missing,
            "ms": ms,
            "end_of_turn_reasons": reasons,
        })
    }

    /// Plays the recording to the e2e page, its client speaking `protocol`.
    fn play(&self, protocol: u32, session_url: &str) -> PageRun {
        let before = self.emu.requests().len();
        let run_ms = (self.total_s * 1000.0) as u32;
        let client = if protocol == 1 {
            "&end_of_turn=client"
        } else {
            ""
        };
        let page = e2e_page(self.pages, &format!("run_ms={run_ms}{client}"), session_url);
        let result = run_page(&page, self.wav, run_ms + 30_000);
        if result["errors"] != json!([]) {
            eprintln!(
                "voice_latency: the page (protocol {protocol}) reported errors: {}",
                result["errors"]
            );
        }
        let events = result["events"].as_array().unwrap().clone();
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
        let offset = offsets[offsets.len() / 2];
        let sounding = sounding_ms(&result);
        let requests: Vec<Value> = self
            .emu
            .requests()
            .into_iter()
            .skip(before)
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        let on_page = |ms: f64| self.emu_epoch_ms + ms - offset;
        let tts_first_bytes = requests
            .iter()
            .filter(|r| r["endpoint"] == "speech")
            .filter_map(|r| Some(on_page(r["first_byte_us"].as_f64()? / 1000.0)))
            .collect();
        let received = |endpoint: &str| -> Vec<f64> {
            requests
                .iter()
                .filter(|r| r["endpoint"] == endpoint)
                .filter_map(|r| Some(on_page(r["received_ms"].as_f64()?)))
                .collect()
        };
        PageRun {
            protocol: result["sent_protocols"]
                .as_array()
                .and_then(|p| p.first()?.as_u64()),
            events,
            marker_ms,
            sounding,
            tts_first_bytes,
            stt_requests: received("transcriptions"),
            chat_requests: received("chat"),
            speech_requests: received("speech"),
        }
    }
}
