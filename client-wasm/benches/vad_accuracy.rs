//! VAD accuracy on the labelled dev set (../shared/data/vad-dev, or AURA_VAD_DEV), printed as JSON.
//!
//! Speech is mixed with the real noises at clean, 20, 10, 5 and 0 dB active-speech SNR. For
//! each level: frame-level ROC-AUC and PR-AUC on a 10 ms grid (pooled over all files), and event
//! metrics with the default turn parameters: onset delay, missed utterances, false starts.
//! False starts per minute are also measured on the noise recordings alone. The narrowband
//! variant passes each mix (and each noise) through 8 kHz and back, as a Bluetooth headset in
//! its hands-free profile delivers it.
//!
//! Detectors, in one run: earshot (the built-in model), Silero v6 through onnxruntime (the
//! reference, run by `scripts/silero-reference.py --batch` on the same clips, its 32 ms
//! probabilities held on the 16 ms grid as the worklet holds ours), the same model's 8 kHz branch
//! through onnxruntime on each clip brought down to 8 kHz (`silero_onnxruntime_8k_branch`: what
//! band-limited input would get from it; not run in the worklet), our Rust Silero v6 with the
//! f32, f16 and int8 weights, the mean of earshot and Silero f16, and the combination the worklet
//! runs (Silero int8, two streams staggered by a frame, fused with earshot in log-odds:
//! `Blend::Fused`; the staggered streams alone are `silero_rust_int8_staggered`). Each band reports all
//! files, and apart the tuning half (on which the fusion's two parameters were chosen) and the
//! held-out half (see `Part`). Nothing else is tuned on this set.
//!
//! `cargo bench -p aura-client --bench vad_accuracy`. Skips, with a message, when the set is
//! absent; needs the Silero weights of `scripts/bootstrap.sh`.

use std::path::{Path, PathBuf};

use aura_client::clip::{self, Clip, FrameScore, Utterance};
use aura_client::resample::{Filter, StreamResampler};
use aura_client::silero::{Silero, weights::Weights};
use aura_client::turn::TurnConfig;
use aura_client::vad::{Blend, Vad};

const SNRS: [Option<f64>; 5] = [None, Some(20.0), Some(10.0), Some(5.0), Some(0.0)];
/// Reference ROC-AUC on this set (from its PROVENANCE.md): Silero v6 through onnxruntime.
const SILERO_ONNX: [f64; 5] = [0.939, 0.930, 0.911, 0.875, 0.797];

struct Labelled {
    speech: Vec<f32>,
    /// (start_s, end_s) of every speech-labelled interval.
    intervals: Vec<(f64, f64)>,
}

fn main() {
    let dir = std::env::var_os("AURA_VAD_DEV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/vad-dev"));
    if !dir.join("speech").is_dir() {
        println!(
            "{{\"skipped\":\"VAD dev set not found at {} (set AURA_VAD_DEV)\"}}",
            dir.display()
        );
        return;
    }
    let files = load_speech(&dir.join("speech"));
    let noises = load_noises(&dir.join("noise"));
    let config = TurnConfig::default();
    if let Some(out) = std::env::var_os("AURA_VAD_DUMP") {
        dump(Path::new(&out), &files, &noises);
        return;
    }
    if std::env::var_os("AURA_VAD_SWEEP").is_some() {
        sweep(&files, &noises);
        return;
    }
    let detectors = detectors();
    let mut results: Vec<(&str, Vec<String>)> = detectors
        .iter()
        .map(|(name, _)| (*name, Vec::new()))
        .collect();
    results.insert(1, (ONNX, Vec::new()));
    results.insert(2, (ONNX_8K, Vec::new()));
    for narrowband in [false, true] {
        let band_name = if narrowband { "narrowband" } else { "wideband" };
        eprintln!("vad_accuracy: {band_name} mixes");
        let band = |x: Vec<f32>| if narrowband { through_8k(&x) } else { x };
        // Clip c of the list: level * files + file, then the noises.
        let mut clips: Vec<Vec<f32>> = Vec::new();
        for snr in SNRS {
            for (i, file) in files.iter().enumerate() {
                clips.push(band(match snr {
                    None => file.speech.clone(),
                    Some(snr) => mix(file, &noises[i % noises.len()].1, snr, i),
                }));
            }
        }
        clips.extend(noises.iter().map(|(_, n)| band(n.clone())));
        let onnx = onnx_chunk_probabilities(&clips, band_name, 16_000);
        let at_8k: Vec<Vec<f32>> = clips.iter().map(|c| to_8k(c)).collect();
        let onnx_8k = onnx_chunk_probabilities(&at_8k, band_name, 8_000);
        for (name, json) in &mut results {
            eprintln!("vad_accuracy: {name}, {band_name}");
            let all_scores: Vec<Vec<FrameScore>> = clips
                .iter()
                .enumerate()
                .map(|(c, audio)| match detectors.iter().find(|d| d.0 == *name) {
                    Some((_, make)) => clip::scores_with(&mut make(), audio),
                    None if *name == ONNX => held(clip::scores(audio), &onnx[c]),
                    None => held(clip::scores(audio), &onnx_8k[c]),
                })
                .collect();
            json.push(band_json(
                band_name,
                &files,
                &noises,
                &clips,
                &all_scores,
                config,
            ));
        }
    }
    let results: Vec<String> = results
        .iter()
        .map(|(name, bands)| format!("\"{name}\":{{{}}}", bands.join(",")))
        .collect();
    println!(
        "{{\"benchmark\":\"vad_accuracy\",\"dataset\":\"{}\",\"files\":{},\"turn_config\":\"{:?}\",\"detectors\":{{{}}}}}",
        dir.display(),
        files.len(),
        config,
        results.join(",")
    );
}

/// The name of the onnxruntime reference's column.
const ONNX: &str = "silero_onnxruntime";
/// The column of the reference's 8 kHz branch (the clip brought down to 8 kHz, 256-sample chunks).
const ONNX_8K: &str = "silero_onnxruntime_8k_branch";

/// One band's metrics for one detector, from its scores of every clip (the order of `main`).
fn band_json(
    band_name: &str,
    files: &[Labelled],
    noises: &[(String, Vec<f32>)],
    clips: &[Vec<f32>],
    all_scores: &[Vec<FrameScore>],
    config: TurnConfig,
) -> String {
    let all = part_json(Part::All, files, noises, clips, all_scores, config);
    let tuning = part_json(Part::Tuning, files, noises, clips, all_scores, config);
    let held_out = part_json(Part::HeldOut, files, noises, clips, all_scores, config);
    format!("\"{band_name}\":{{{all},\"tuning\":{{{tuning}}},\"held_out\":{{{held_out}}}}}")
}

/// Which half of the set a figure covers. The combination's parameters
/// ([`aura_client::vad::FUSED_EARSHOT_WEIGHT`], [`aura_client::vad::FUSED_BIAS`]) were chosen on
/// the tuning half only: speech files with index % 4 in {0, 3} (01, 04, 05, 08, ...; both halves
/// then meet all six noises in the mixes) and the first half of each noise recording.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    All,
    Tuning,
    HeldOut,
}

impl Part {
    fn has_file(self, i: usize) -> bool {
        match self {
            Part::All => true,
            Part::Tuning => matches!(i % 4, 0 | 3),
            Part::HeldOut => matches!(i % 4, 1 | 2),
        }
    }

    /// The frames of a noise recording of `n` frames in this part.
    fn noise_frames(self, n: usize) -> std::ops::Range<usize> {
        match self {
            Part::All => 0..n,
            Part::Tuning => 0..n / 2,
            Part::HeldOut => n / 2..n,
        }
    }
}

/// `"levels":[...],"noise_only":{...}` over the files and noise of `part`.
fn part_json(
    part: Part,
    files: &[Labelled],
    noises: &[(String, Vec<f32>)],
    clips: &[Vec<f32>],
    all_scores: &[Vec<FrameScore>],
    config: TurnConfig,
) -> String {
    let mut levels = Vec::new();
    for (level, snr) in SNRS.iter().enumerate() {
        let mut scored: Vec<(f32, bool)> = Vec::new();
        let mut events = EventStats::default();
        for (i, file) in files.iter().enumerate().filter(|(i, _)| part.has_file(*i)) {
            let c = level * files.len() + i;
            let (scores, duration) = (&all_scores[c], clips[c].len() as f64 / 16_000.0);
            for k in 0..(duration * 100.0) as usize {
                let centre = k as f64 * 0.01 + 0.005;
                let frame = (centre * 1000.0 / 16.0) as usize;
                if let Some(s) = scores.get(frame) {
                    scored.push((s.probability, is_speech(&file.intervals, centre)));
                }
            }
            events.add(
                &file.intervals,
                &clip::utterances(scores, config),
                config,
                duration,
            );
        }
        levels.push(format!(
            "{{\"snr_db\":{},\"roc_auc\":{:.4},\"pr_auc\":{:.4},\"silero_v6_onnx_reference_roc_auc\":{},\"frames\":{},{}}}",
            snr.map_or("\"clean\"".into(), |s| s.to_string()),
            roc_auc(&scored),
            pr_auc(&scored),
            SILERO_ONNX[level],
            scored.len(),
            events.json()
        ));
    }
    let (mut minutes, mut starts, mut per_noise) = (0.0, 0, Vec::new());
    for (j, (noise_name, _)) in noises.iter().enumerate() {
        let c = SNRS.len() * files.len() + j;
        let frames = part.noise_frames(all_scores[c].len());
        let m = frames.len() as f64 * 256.0 / 16_000.0 / 60.0;
        let found = clip::utterances(&all_scores[c][frames], config);
        minutes += m;
        starts += found.len();
        per_noise.push(format!("\"{noise_name}\":{:.2}", found.len() as f64 / m));
    }
    format!(
        "\"levels\":[{}],\"noise_only\":{{\"minutes\":{minutes:.2},\"false_starts_per_min\":{:.3},\"per_file\":{{{}}}}}",
        levels.join(","),
        starts as f64 / minutes,
        per_noise.join(",")
    )
}

/// onnxruntime's per-chunk (32 ms) probabilities of every clip at `rate` (16 or 8 kHz), each a
/// fresh stream (`scripts/silero-reference.py --batch` in the bootstrap's venv, one process for all).
fn onnx_chunk_probabilities(clips: &[Vec<f32>], band_name: &str, rate: u32) -> Vec<Vec<f32>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join(format!(".tmp/vad-accuracy-onnx/{band_name}-{rate}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    for (c, audio) in clips.iter().enumerate() {
        let bytes: Vec<u8> = audio.iter().flat_map(|s| s.to_le_bytes()).collect();
        std::fs::write(dir.join(format!("{c:04}.f32")), bytes).expect("clip");
    }
    let status = std::process::Command::new(root.join("target/silero-vad/venv/bin/python"))
        .arg(root.join("scripts/silero-reference.py"))
        .arg("--batch")
        .arg(root.join("target/silero-vad/silero_vad-6.2.3-py3-none-any.whl"))
        .arg(&dir)
        .arg(rate.to_string())
        .status()
        .expect("the Silero venv (scripts/bootstrap.sh makes it)");
    assert!(status.success(), "silero-reference.py --batch failed");
    let probs = (0..clips.len())
        .map(|c| {
            std::fs::read(dir.join(format!("{c:04}.probs")))
                .expect("probabilities")
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    probs
}

/// Per-chunk probabilities on the 16 ms frame grid as the worklet holds them (frame 0 keeps
/// earshot's, frames 2k+1 and 2k+2 chunk k's), with earshot's frames for the impulse flags.
fn held(mut earshot: Vec<FrameScore>, chunks: &[f32]) -> Vec<FrameScore> {
    for (f, score) in earshot.iter_mut().enumerate().skip(1) {
        if let Some(&p) = chunks.get((f - 1) / 2) {
            score.probability = p;
        }
    }
    earshot
}

type MakeVad = Box<dyn Fn() -> Vad>;

/// (name, constructor) of every detector compared.
fn detectors() -> Vec<(&'static str, MakeVad)> {
    let weights = |encoding: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../target/silero-vad/silero-v6-{encoding}.bin"));
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (scripts/bootstrap.sh writes it)", path.display()));
        Weights::parse(&bytes).expect("Silero weights")
    };
    let with = |w: Weights, blend: Blend| -> MakeVad {
        Box::new(move || {
            let mut vad = Vad::new();
            vad.set_network(Silero::new(w.clone()), blend);
            vad
        })
    };
    vec![
        ("earshot", Box::new(Vad::new)),
        ("silero_rust_f32", with(weights("f32"), Blend::Silero)),
        ("silero_rust_f16", with(weights("f16"), Blend::Silero)),
        ("silero_rust_int8", with(weights("int8"), Blend::Silero)),
        (
            "silero_rust_int8_staggered",
            with(weights("int8"), Blend::SileroStaggered),
        ),
        (
            "combined_f16_earshot_mean",
            with(weights("f16"), Blend::MeanWithEarshot),
        ),
        (
            "combined_int8_fused_worklet",
            with(weights("int8"), Blend::Fused),
        ),
    ]
}

/// 16 kHz audio through 8 kHz and back with the client's resampler (delays removed).
fn through_8k(x: &[f32]) -> Vec<f32> {
    clip::to_16k(&Clip {
        rate: 8_000,
        samples: to_8k(x),
    })
    .expect("8 -> 16 kHz")
}

/// 16 kHz audio brought down to 8 kHz with the client's resampler (its delay removed).
fn to_8k(x: &[f32]) -> Vec<f32> {
    let mut rs = StreamResampler::new(16_000, 8_000, Filter::Speech).expect("16 -> 8 kHz");
    let mut down = Vec::with_capacity(x.len() / 2 + 4_096);
    for quantum in x.chunks(128) {
        rs.process(quantum, |o| down.extend_from_slice(o));
    }
    let delay = rs.output_delay();
    rs.flush(|o| down.extend_from_slice(o));
    down.into_iter().skip(delay).take(x.len() / 2).collect()
}

fn load_speech(dir: &Path) -> Vec<Labelled> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("speech dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|wav| {
            let clip = clip::read_wav(wav).expect("speech WAV");
            let speech = clip::to_16k(&clip).expect("16 kHz");
            let scv = std::fs::read_to_string(wav.with_extension("scv")).expect("labels");
            let fields: Vec<&str> = scv.trim().split(',').collect();
            let intervals = fields[1..]
                .chunks_exact(3)
                .filter(|c| c[2].trim() == "1")
                .map(|c| (c[0].parse().unwrap(), c[1].parse().unwrap()))
                .collect();
            Labelled { speech, intervals }
        })
        .collect()
}

fn load_noises(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("noise dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (
                name,
                clip::to_16k(&clip::read_wav(p).expect("noise WAV")).expect("16 kHz"),
            )
        })
        .collect()
}

fn is_speech(intervals: &[(f64, f64)], t: f64) -> bool {
    intervals.iter().any(|&(a, b)| t >= a && t < b)
}

/// Speech plus looped noise scaled to `snr_db` over the speech-labelled samples.
fn mix(file: &Labelled, noise: &[f32], snr_db: f64, seed: usize) -> Vec<f32> {
    let offset = (seed * 27_211) % noise.len();
    let n = |i: usize| f64::from(noise[(i + offset) % noise.len()]);
    let (mut ps, mut pn) = (0.0, 0.0);
    for (i, &s) in file.speech.iter().enumerate() {
        if is_speech(&file.intervals, i as f64 / 16_000.0) {
            ps += f64::from(s) * f64::from(s);
            pn += n(i) * n(i);
        }
    }
    let gain = (ps / (pn.max(1e-12) * 10f64.powf(snr_db / 10.0))).sqrt();
    let mixed: Vec<f64> = file
        .speech
        .iter()
        .enumerate()
        .map(|(i, &s)| f64::from(s) + gain * n(i))
        .collect();
    let peak = mixed.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if peak > 0.999 { 0.999 / peak } else { 1.0 };
    mixed.iter().map(|v| (v * scale) as f32).collect()
}

/// ROC-AUC by the rank-sum statistic, ties counted as half.
fn roc_auc(scored: &[(f32, bool)]) -> f64 {
    let mut v: Vec<(f32, bool)> = scored.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg_rank * v[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let pos = v.iter().filter(|x| x.1).count() as f64;
    let neg = v.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// PR-AUC as average precision over distinct thresholds.
fn pr_auc(scored: &[(f32, bool)]) -> f64 {
    let mut v: Vec<(f32, bool)> = scored.to_vec();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let pos = v.iter().filter(|x| x.1).count() as f64;
    let (mut tp, mut fp, mut ap, mut i) = (0.0, 0.0, 0.0, 0);
    while i < v.len() {
        let mut j = i;
        let mut new_tp = 0.0;
        while j < v.len() && v[j].0 == v[i].0 {
            if v[j].1 {
                new_tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        tp += new_tp;
        ap += (new_tp / pos) * (tp / (tp + fp));
        i = j;
    }
    ap
}

#[derive(Default)]
struct EventStats {
    truth: usize,
    missed: usize,
    merged: usize,
    onset_boundary_ms: Vec<f64>,
    onset_decision_ms: Vec<f64>,
    false_starts: usize,
    minutes: f64,
}

impl EventStats {
    /// True utterances are the labelled speech intervals merged across pauses shorter than the
    /// turn detector's end-of-turn silence (the detector is meant to keep those together).
    fn add(
        &mut self,
        intervals: &[(f64, f64)],
        found: &[Utterance],
        config: TurnConfig,
        secs: f64,
    ) {
        let gap = f64::from(config.end_silence_ms) / 1000.0;
        let mut truth: Vec<(f64, f64)> = Vec::new();
        for &(a, b) in intervals {
            match truth.last_mut() {
                Some(last) if a - last.1 < gap => last.1 = b,
                _ => truth.push((a, b)),
            }
        }
        self.minutes += secs / 60.0;
        for &(a, b) in &truth {
            self.truth += 1;
            let overlaps =
                |u: &&Utterance| (u.start_ms as f64) / 1000.0 < b && (u.end_ms as f64) / 1000.0 > a;
            // A detection that starts near the onset detected it; one that began well before it
            // (the previous utterance's hangover) captured the audio but merged the two turns.
            let onset = found
                .iter()
                .filter(overlaps)
                .find(|u| (u.start_ms as f64) / 1000.0 >= a - 0.3);
            match onset {
                Some(u) => {
                    self.onset_boundary_ms.push(u.start_ms as f64 - a * 1000.0);
                    self.onset_decision_ms
                        .push(u.start_decided_ms as f64 - a * 1000.0);
                }
                None if found.iter().any(|u| overlaps(&u)) => self.merged += 1,
                None => self.missed += 1,
            }
        }
        self.false_starts += found
            .iter()
            .filter(|u| {
                !truth.iter().any(|&(a, b)| {
                    (u.start_ms as f64) / 1000.0 < b && (u.end_ms as f64) / 1000.0 > a
                })
            })
            .count();
    }

    fn json(&self) -> String {
        format!(
            "\"utterances\":{},\"missed\":{},\"merged\":{},\"onset_boundary_ms_median\":{:.0},\"onset_decision_ms_median\":{:.0},\"onset_decision_ms_p90\":{:.0},\"false_starts\":{},\"false_starts_per_min\":{:.2}",
            self.truth,
            self.missed,
            self.merged,
            quantile(&self.onset_boundary_ms, 0.5),
            quantile(&self.onset_decision_ms, 0.5),
            quantile(&self.onset_decision_ms, 0.9),
            self.false_starts,
            self.false_starts as f64 / self.minutes
        )
    }
}

fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

/// `AURA_VAD_SWEEP=1`: event metrics of the worklet's detector (`combined_int8_fused_worklet`)
/// for a grid of start thresholds and minimum speech, one JSON line each: how much onset a lower
/// start costs in false starts. Probabilities are computed once per file and level.
fn sweep(files: &[Labelled], noises: &[(String, Vec<f32>)]) {
    let (_, make) = detectors()
        .into_iter()
        .find(|d| d.0 == "combined_int8_fused_worklet")
        .unwrap();
    let mut vad = make();
    let mixes: Vec<Vec<(Vec<clip::FrameScore>, f64)>> = SNRS
        .iter()
        .map(|snr| {
            files
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let audio = match snr {
                        None => f.speech.clone(),
                        Some(snr) => mix(f, &noises[i % noises.len()].1, *snr, i),
                    };
                    (
                        clip::scores_with(&mut vad, &audio),
                        audio.len() as f64 / 16_000.0,
                    )
                })
                .collect()
        })
        .collect();
    let noise_probs: Vec<(Vec<clip::FrameScore>, f64)> = noises
        .iter()
        .map(|(_, n)| {
            (
                clip::scores_with(&mut vad, n),
                n.len() as f64 / 16_000.0 / 60.0,
            )
        })
        .collect();
    for start in [0.05f32, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6] {
        for min_speech in [16u32, 32] {
            let config = TurnConfig {
                start_threshold: start,
                stop_threshold: start.min(0.3),
                min_speech_ms: min_speech,
                ..TurnConfig::default()
            };
            let levels: Vec<String> = mixes
                .iter()
                .map(|level| {
                    let mut ev = EventStats::default();
                    for (file, (probs, secs)) in files.iter().zip(level) {
                        ev.add(
                            &file.intervals,
                            &clip::utterances(probs, config),
                            config,
                            *secs,
                        );
                    }
                    format!("{{{}}}", ev.json())
                })
                .collect();
            let (starts, minutes) = noise_probs.iter().fold((0usize, 0.0), |(n, m), (p, mins)| {
                (n + clip::utterances(p, config).len(), m + mins)
            });
            println!(
                "{{\"start\":{start},\"min_speech_ms\":{min_speech},\"noise_false_starts_per_min\":{:.2},\"levels\":[{}]}}",
                starts as f64 / minutes,
                levels.join(",")
            );
        }
    }
}

/// `AURA_VAD_DUMP=DIR`: per-frame features of every clip (earshot, Silero int8 with two staggered
/// streams, i.e. a fresh decision every frame, frame energy, impulse flag; f32 each) to
/// DIR/{band}/{clip:04}.f32, for exploring combinations offline. Clip `c`: level * files + file
/// (levels as `SNRS`), then the noises in name order.
fn dump(dir: &Path, files: &[Labelled], noises: &[(String, Vec<f32>)]) {
    let (_, make) = detectors()
        .into_iter()
        .find(|d| d.0 == "silero_rust_int8_staggered")
        .unwrap();
    for narrowband in [false, true] {
        let band_name = if narrowband { "narrowband" } else { "wideband" };
        let out = dir.join(band_name);
        std::fs::create_dir_all(&out).unwrap();
        let band = |x: Vec<f32>| if narrowband { through_8k(&x) } else { x };
        let mut clips: Vec<Vec<f32>> = Vec::new();
        for snr in SNRS {
            for (i, file) in files.iter().enumerate() {
                clips.push(band(match snr {
                    None => file.speech.clone(),
                    Some(snr) => mix(file, &noises[i % noises.len()].1, snr, i),
                }));
            }
        }
        clips.extend(noises.iter().map(|(_, n)| band(n.clone())));
        for (c, audio) in clips.iter().enumerate() {
            let mut vad = make();
            let mut bytes = Vec::new();
            vad.process(audio, |f| {
                let e = f.samples.iter().map(|s| s * s).sum::<f32>() / f.samples.len() as f32;
                for v in [
                    f.earshot,
                    f.probability,
                    e,
                    f32::from(u8::from(f.impulsive)),
                ] {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            });
            std::fs::write(out.join(format!("{c:04}.f32")), bytes).unwrap();
        }
    }
}
