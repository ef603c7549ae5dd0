//! Does the end of turn cut people off? Spoken turns in headless Chromium's fake microphone,
//! through Aura's worklet (VAD), the session and the edge in workerd, with `make dev`'s local
//! Whisper tiny.en as the tenant's speech-to-text (real transcripts of the audio so far) and the
//! emulator as LLM and TTS (LLM first token 350 ms, TTS first byte 150 ms, as voice_latency).
//!
//! The phrase set (tests/src/phrases.rs): turns whose first half reads unfinished ("I want to
//! fly to", "My number is five five five,", an email being spelled, ...), each said with a pause
//! of 0.4 / 0.7 / 1.0 / 1.5 s before the rest, and complete turns (questions, full sentences),
//! said by espeak-ng voices at several rates and the Piper voice, plus recorded human speech
//! (pocketsphinx-testdata). The same recordings run twice in one run: as protocol 2 (the client
//! reports pauses, the edge commits the turn and speculates) and as protocol 1 (the client's
//! 600 ms of silence ends every turn: the old behaviour).
//!
//! Printed as one JSON object, per mode and per pause length:
//! - `cut_off_rate`: turns committed (`turn.committed`, or the client's `input.speech_stopped`)
//!   after the first half began and before the rest began (plus 250 ms: a commit that crosses
//!   the resumption on the wire still ends the turn);
//! - `discarded_speculation_rate`: discarded speculative replies / all speculative replies, from
//!   the `response.done` metrics (`discarded_replies`, `speculative`);
//! - for complete turns, the commit delay after the end of speech (median, p95).
//!
//! Targets (issue 15): cut-off rate <= 5% for pauses up to 1.0 s at `medium` eagerness,
//! discarded speculation rate <= 30%. Not in `make test` (~35 min; it needs the engines):
//! `scripts/engines.sh install`, then
//!   cargo bench -p aura-tests --bench turn_cutoff          (after scripts/build.sh)
//! `AURA_CUTOFF_TURNS=N` takes only the first N split and N complete turns (a quick look).

use std::collections::HashMap;
use std::time::Instant;

use aura_emulator::Emulator;
use aura_tests::{
    COMPLETE_TURNS, LocalEngine, MARKER_S, MicrophoneTrack, MicrophoneTurn, RECORDED_TURNS,
    SPLIT_TURNS, Scratch, SplitTurn, StaticServer, VOICES, Voice, WranglerDev, e2e_page,
    espeak_voice_48k, leading_quiet_s, run_page, script, test_pages, to_48k,
};
use serde_json::{Value, json};

const LLM_MS: u64 = 350;
const TTS_MS: u64 = 150;
const PAUSES_S: [f64; 4] = [0.4, 0.7, 1.0, 1.5];
/// Silence after each turn before the next: the client's 4 s fallback and the short reply fit.
const AFTER_TURN_S: f64 = 5.5;
/// Turns per page run (one Chromium, one session): about 2.5 min of audio.
const TURNS_PER_PAGE: usize = 16;
/// A commit this soon after the rest began still cut the turn (it crossed the resumption).
const CROSSING_MS: f64 = 250.0;

/// One turn of the benchmark: the first half, the pause and the rest, or a complete turn.
#[derive(Debug, Clone)]
enum Turn {
    Split {
        turn: SplitTurn,
        pause_s: f64,
        voice: Voice,
    },
    Complete {
        text: &'static str,
        voice: Voice,
    },
    Recorded {
        path: &'static str,
        text: &'static str,
    },
}

impl Turn {
    /// What is said and how, for the progress lines.
    fn said(&self) -> String {
        match self {
            Turn::Split {
                turn,
                pause_s,
                voice,
            } => format!(
                "{:?} ({pause_s} s) {:?} [{}, {}]",
                turn.first,
                turn.rest,
                turn.kind,
                voice.name()
            ),
            Turn::Complete { text, voice } => format!("{text:?} [{}]", voice.name()),
            Turn::Recorded { text, .. } => format!("{text:?} [recorded]"),
        }
    }
}

/// A turn as placed in a page run's microphone recording (ms after the marker).
struct Placed {
    turn: Turn,
    first: MicrophoneTurn,
    rest: Option<MicrophoneTurn>,
}

/// What one turn gave: its commits, the reply metrics, the transcripts heard.
#[derive(Debug, Default)]
struct Outcome {
    cut_off: bool,
    committed_mid_turn: bool,
    commit_delay_ms: Option<f64>,
    speculative: u64,
    discarded: u64,
    speculative_tokens: u64,
    reasons: Vec<String>,
    heard: Vec<String>,
}

fn turns(limit: usize) -> Vec<Turn> {
    let mut all = Vec::new();
    for (p, &pause_s) in PAUSES_S.iter().enumerate() {
        for (i, &turn) in SPLIT_TURNS.iter().take(limit).enumerate() {
            let voice = VOICES[(i + p) % VOICES.len()];
            all.push(Turn::Split {
                turn,
                pause_s,
                voice,
            });
        }
    }
    for (i, &text) in COMPLETE_TURNS.iter().take(limit).enumerate() {
        let voice = VOICES[i % VOICES.len()];
        all.push(Turn::Complete { text, voice });
    }
    for &(path, _, _, text) in RECORDED_TURNS.iter().take(limit) {
        all.push(Turn::Recorded { path, text });
    }
    all
}

/// Speech (48 kHz) for the turns, made once per voice and text.
struct Speech<'a> {
    piper: &'a LocalEngine,
    scratch: &'a Scratch,
    made: HashMap<(String, &'static str), Vec<f32>>,
}

impl Speech<'_> {
    fn say(&mut self, voice: Voice, text: &'static str) -> Vec<f32> {
        let key = (voice.name(), text);
        if let Some(s) = self.made.get(&key) {
            return s.clone();
        }
        let speech = match voice {
            Voice::Espeak(name, rate) => {
                let path = self.scratch.0.join(format!("say-{}", self.made.len()));
                espeak_voice_48k(&path, text, name, rate)
            }
            Voice::Piper => to_48k(&self.piper.speak_24k(text), 24_000),
        };
        self.made.insert(key, speech.clone());
        speech
    }

    fn recorded(path: &str) -> Vec<f32> {
        let &(_, rate, wav, _) = RECORDED_TURNS.iter().find(|r| r.0 == path).unwrap();
        let samples = if wav {
            aura_client::clip::read_wav(std::path::Path::new(path))
                .unwrap()
                .samples
        } else {
            std::fs::read(path)
                .expect("pocketsphinx-testdata is installed (scripts/bootstrap.sh --test)")
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
                .collect()
        };
        to_48k(&samples, rate)
    }
}

/// Lays `turns` out in one microphone recording at `wav`; returns them placed and the length
/// of the recording in seconds.
fn record(turns: &[Turn], speech: &mut Speech, wav: &std::path::Path) -> (Vec<Placed>, f32) {
    let mut pieces = Vec::new();
    let mut at_s = f64::from(MARKER_S) + 1.0;
    let marker = f64::from(MARKER_S);
    for turn in turns {
        let (first, rest) = match turn {
            Turn::Split { turn, voice, .. } => (
                speech.say(*voice, turn.first),
                Some(speech.say(*voice, turn.rest)),
            ),
            Turn::Complete { text, voice } => (speech.say(*voice, text), None),
            Turn::Recorded { path, .. } => (Speech::recorded(path), None),
        };
        pieces.push((at_s, first, rest));
        let (_, first, rest) = pieces.last().unwrap();
        let sounding = |s: &[f32]| s.len() as f64 / 48_000.0;
        at_s += sounding(first) + AFTER_TURN_S;
        if let (Turn::Split { pause_s, .. }, Some(rest)) = (turn, rest) {
            at_s += pause_s + sounding(rest);
        }
    }
    let total_s = at_s as f32 + 1.0;
    let mut track = MicrophoneTrack::new(total_s);
    let placed = turns
        .iter()
        .zip(pieces)
        .map(|(turn, (at_s, first, rest))| {
            let first = track.place(at_s, &first);
            let rest = rest.map(|rest| {
                let Turn::Split { pause_s, .. } = turn else {
                    unreachable!()
                };
                let onset_s = marker + first.end_after_marker_ms / 1000.0 + pause_s;
                track.place(onset_s - leading_quiet_s(&rest), &rest)
            });
            Placed {
                turn: turn.clone(),
                first,
                rest,
            }
        })
        .collect();
    track.write(wav);
    (placed, total_s)
}

/// The events of one page run, on the microphone file's clock (ms after the marker).
struct Run {
    events: Vec<(f64, Value)>,
    protocol: Option<u64>,
    errors: Value,
}

fn run(
    pages: &StaticServer,
    session_url: &str,
    protocol: u32,
    wav: &std::path::Path,
    total_s: f32,
) -> Run {
    let run_ms = (total_s * 1000.0) as u32;
    let client = if protocol == 1 {
        "&end_of_turn=client"
    } else {
        ""
    };
    let page = e2e_page(pages, &format!("run_ms={run_ms}{client}"), session_url);
    let result = run_page(&page, wav, run_ms + 60_000);
    let marker_ms = result["marker"]
        .as_f64()
        .expect("the probe heard the marker")
        / 48.0;
    let events: Vec<(f64, Value)> = result["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["at"].as_f64().unwrap() - marker_ms, e.clone()))
        .collect();
    let protocol = result["sent_protocols"]
        .as_array()
        .and_then(|p| p.first()?.as_u64());
    Run {
        events,
        protocol,
        errors: result["errors"].clone(),
    }
}

fn is_commit(e: &Value) -> bool {
    e["data"]["type"] == "turn.committed"
        || (e["kind"] == "speech" && e["data"]["stopped"].is_number())
}

/// Reads what happened to `placed` between its first sound and `until` (the next turn's).
fn outcome(run: &Run, placed: &Placed, until: f64) -> Outcome {
    let start = placed.first.onset_after_marker_ms;
    let within = |t: f64| t >= start && t < until;
    let end = placed.rest.unwrap_or(placed.first).end_after_marker_ms;
    let commits: Vec<f64> = run
        .events
        .iter()
        .filter(|(t, e)| within(*t) && is_commit(e))
        .map(|(t, _)| *t)
        .collect();
    let mut o = Outcome::default();
    if let Some(rest) = placed.rest {
        o.cut_off = commits
            .iter()
            .any(|&t| t < rest.onset_after_marker_ms + CROSSING_MS);
    } else {
        o.commit_delay_ms = commits.iter().find(|&&t| t >= end).map(|t| t - end);
    }
    o.committed_mid_turn = commits.iter().any(|&t| t < end);
    for (_, e) in run.events.iter().filter(|(t, _)| within(*t)) {
        let data = &e["data"];
        if data["type"] == "transcript.final" {
            o.heard
                .push(data["text"].as_str().unwrap_or_default().to_string());
        }
        if data["type"] == "response.done" {
            let m = &data["metrics"];
            o.speculative += u64::from(m["speculative"] == true);
            o.discarded += m["discarded_replies"].as_u64().unwrap_or(0);
            o.speculative_tokens += m["speculative_tokens"].as_u64().unwrap_or(0);
            if let Some(reason) = m["end_of_turn_reason"].as_str() {
                o.reasons.push(reason.to_string());
            }
        }
    }
    o
}

fn stats(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return json!({"n": 0});
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let r = |x: f64| x.round();
    json!({"n": v.len(), "median": r(pick(0.5)), "p95": r(pick(0.95)), "max": r(pick(1.0))})
}

fn rate(part: usize, all: usize) -> Value {
    if all == 0 {
        Value::Null
    } else {
        json!((part as f64 * 1000.0 / all as f64).round() / 1000.0)
    }
}

/// The figures of one mode over its outcomes.
fn summary(outcomes: &[(Turn, Outcome)]) -> Value {
    let speculation = |os: &[&Outcome]| {
        let discarded: u64 = os.iter().map(|o| o.discarded).sum();
        let kept: u64 = os.iter().map(|o| o.speculative).sum();
        json!({
            "speculative_replies": discarded + kept,
            "discarded": discarded,
            "discarded_speculation_rate": rate(discarded as usize, (discarded + kept) as usize),
            "speculative_tokens": os.iter().map(|o| o.speculative_tokens).sum::<u64>(),
        })
    };
    let mut per_pause = serde_json::Map::new();
    for pause_s in PAUSES_S {
        let os: Vec<&Outcome> = outcomes
            .iter()
            .filter(|(t, _)| matches!(t, Turn::Split { pause_s: p, .. } if *p == pause_s))
            .map(|(_, o)| o)
            .collect();
        let cut = os.iter().filter(|o| o.cut_off).count();
        let mut figures = json!({
            "turns": os.len(),
            "cut_off": cut,
            "cut_off_rate": rate(cut, os.len()),
        });
        figures
            .as_object_mut()
            .unwrap()
            .extend(speculation(&os).as_object().unwrap().clone());
        per_pause.insert(format!("{pause_s}"), figures);
    }
    let complete: Vec<&Outcome> = outcomes
        .iter()
        .filter(|(t, _)| !matches!(t, Turn::Split { .. }))
        .map(|(_, o)| o)
        .collect();
    let all: Vec<&Outcome> = outcomes.iter().map(|(_, o)| o).collect();
    let mut reasons: HashMap<&str, usize> = HashMap::new();
    for o in &all {
        for r in &o.reasons {
            *reasons.entry(r.as_str()).or_default() += 1;
        }
    }
    json!({
        "split_turns_by_pause_s": per_pause,
        "complete_turns": {
            "turns": complete.len(),
            "commit_delay_after_end_of_speech_ms": stats(complete.iter().filter_map(|o| o.commit_delay_ms).collect()),
            "never_committed": complete.iter().filter(|o| o.commit_delay_ms.is_none()).count(),
            "committed_mid_turn": complete.iter().filter(|o| o.committed_mid_turn).count(),
        },
        "speculation_all_turns": speculation(&all),
        "end_of_turn_reasons": reasons,
    })
}

fn main() {
    if aura_tests::engine_bench_unready("turn_cutoff") {
        return;
    }
    let started = Instant::now();
    let limit = std::env::var("AURA_CUTOFF_TURNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let whisper = LocalEngine::whisper();
    let piper = LocalEngine::piper();
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "default": {"reply": "Sure.", "first_byte_ms": LLM_MS, "chunk_ms": 0}}),
    );
    script(
        &emu,
        json!({"endpoint": "speech", "default": {"first_byte_ms": TTS_MS, "chunk_ms": 20}}),
    );
    let pages = test_pages();
    // A fresh edge for each page run: an edge that fails in one run does not spoil the next.
    let edge = || {
        let dev = WranglerDev::start();
        let own = dev.url("");
        let origin = pages.url("");
        let mut settings = aura_admin::settings_for(
            "Turn cut-off bench",
            &[own.as_str(), origin.as_str()],
            &emu.base_url(),
            "You are a helpful voice assistant.",
        );
        settings["stt"]["base_url"] = whisper.url.clone().into();
        settings["stt"]["model"] = "whisper-tiny.en".into();
        // v1 makes two or three turns of a split one: the default quarter of 60 turns a
        // minute for one client would refuse some of them.
        settings["limits"] = json!({"concurrent_sessions": 20, "turns_per_minute": 600,
            "turns_per_minute_per_client": 600, "audio_seconds_per_day": 86_400,
            "llm_tokens_per_day": 2_000_000});
        let tenant = dev.tenant_with("cutoff", settings);
        (dev, tenant)
    };
    let scratch = Scratch::new("turn-cutoff");
    let mut speech = Speech {
        piper: &piper,
        scratch: &scratch,
        made: HashMap::new(),
    };

    let all = turns(limit);
    let mut results: HashMap<u32, Vec<(Turn, Outcome)>> = HashMap::new();
    let mut spoken: HashMap<u32, Vec<Option<u64>>> = HashMap::new();
    let mut errors = Vec::new();
    let mut crashed: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut lost: HashMap<u32, usize> = HashMap::new();
    for (k, chunk) in all.chunks(TURNS_PER_PAGE).enumerate() {
        let wav = scratch.0.join(format!("mic-{k}.wav"));
        let (placed, total_s) = record(chunk, &mut speech, &wav);
        // Both modes hear the same recording, one after the other.
        for protocol in [2, 1] {
            eprintln!(
                "turn_cutoff: page {k} ({} turns, {total_s:.0} s) as protocol {protocol}",
                chunk.len()
            );
            let (dev, tenant) = edge();
            let run = run(&pages, &tenant.session_url(), protocol, &wav, total_s);
            let log = dev.log();
            drop(dev);
            // The Worker's own failures (a panic is a RuntimeError: unreachable in workerd).
            let crashes = log.matches("RuntimeError").count() + log.matches("panicked").count();
            if std::env::var_os("AURA_CUTOFF_EDGE_LOG").is_some() {
                eprintln!("{log}");
            }
            let mut distinct: HashMap<String, usize> = HashMap::new();
            for e in run.errors.as_array().into_iter().flatten() {
                *distinct.entry(e.to_string()).or_default() += 1;
            }
            if crashes > 0 || !distinct.is_empty() {
                errors.push(json!({"protocol": protocol, "page": k, "edge_crashes": crashes, "page_errors": distinct}));
            }
            crashed.entry(protocol).or_default().push(crashes);
            spoken.entry(protocol).or_default().push(run.protocol);
            let mut kinds: HashMap<String, usize> = HashMap::new();
            for (_, e) in &run.events {
                let kind = e["data"]["type"].as_str().map_or_else(
                    || {
                        format!(
                            "{}:{}",
                            e["kind"],
                            e["data"].as_object().map_or(String::new(), |d| d
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(","))
                        )
                    },
                    str::to_string,
                );
                *kinds.entry(kind).or_default() += 1;
            }
            eprintln!(
                "turn_cutoff: page {k} v{protocol} events {kinds:?}, {} errors, {crashes} edge crashes",
                run.errors.as_array().map_or(0, Vec::len)
            );
            for (i, p) in placed.iter().enumerate() {
                let until = placed
                    .get(i + 1)
                    .map_or(f64::MAX, |n| n.first.onset_after_marker_ms);
                let o = outcome(&run, p, until);
                eprintln!(
                    "turn_cutoff: v{protocol} {} cut_off={} delay={:?} heard={:?} reasons={:?}",
                    p.turn.said(),
                    o.cut_off,
                    o.commit_delay_ms,
                    o.heard,
                    o.reasons
                );
                // A turn on an edge that crashed in its run says nothing about the end of turn.
                if crashes == 0 {
                    results
                        .entry(protocol)
                        .or_default()
                        .push((p.turn.clone(), o));
                } else {
                    *lost.entry(protocol).or_default() += 1;
                }
            }
        }
    }
    let voices: Vec<String> = VOICES.iter().map(|v| v.name()).collect();
    println!(
        "{}",
        json!({
            "bench": "turn_cutoff",
            "stt": "whisper tiny.en (make dev's local engine, batch)",
            "emulator_latency_ms": {"llm_first_token": LLM_MS, "tts_first_byte": TTS_MS},
            "split_turns": SPLIT_TURNS.len().min(limit),
            "complete_turns": COMPLETE_TURNS.len().min(limit) + RECORDED_TURNS.len().min(limit),
            "voices": voices,
            "v2_edge_commit": summary(results.get(&2).map_or(&[], Vec::as_slice)),
            "v1_client_silence": summary(results.get(&1).map_or(&[], Vec::as_slice)),
            "turns_left_out_edge_crashed": {"v2": lost.get(&2), "v1": lost.get(&1)},
            "protocol_spoken": {"asked_2": spoken[&2], "asked_1": spoken[&1]},
            "edge_crashes_per_page": {"v2": crashed[&2], "v1": crashed[&1]},
            "page_errors": errors,
            "targets": {"cut_off_rate_max_up_to_1s": 0.05, "discarded_speculation_rate_max": 0.3},
            "seconds": started.elapsed().as_secs(),
        })
    );
}
