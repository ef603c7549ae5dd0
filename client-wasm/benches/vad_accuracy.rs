//! VAD accuracy on the labelled dev set (../shared/data/vad-dev, or AURA_VAD_DEV), printed as JSON.
//!
//! Speech is mixed with the real noises at clean, 20, 10, 5 and 0 dB active-speech SNR. For
//! each level: frame-level ROC-AUC and PR-AUC on a 10 ms grid (pooled over all files), and event
//! metrics with the default turn parameters: onset delay, missed utterances, false starts.
//! False starts per minute are also measured on the noise recordings alone.
//!
//! `cargo bench -p aura-client --bench vad_accuracy`. Skips, with a message, when the set is absent.

use std::path::{Path, PathBuf};

use aura_client::clip::{self, Utterance};
use aura_client::turn::TurnConfig;

const SNRS: [Option<f64>; 5] = [None, Some(20.0), Some(10.0), Some(5.0), Some(0.0)];
/// Reference ROC-AUC on this set (from its PROVENANCE.md): Silero v6 and earshot 1.2.2.
const SILERO: [f64; 5] = [0.939, 0.930, 0.911, 0.875, 0.797];
const EARSHOT: [f64; 5] = [0.929, 0.928, 0.873, 0.811, 0.711];

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
    if std::env::var_os("AURA_VAD_SWEEP").is_some() {
        sweep(&files, &noises);
        return;
    }

    let mut levels = Vec::new();
    for (level, snr) in SNRS.iter().enumerate() {
        let mut scored: Vec<(f32, bool)> = Vec::new();
        let mut events = EventStats::default();
        for (i, file) in files.iter().enumerate() {
            let audio = match snr {
                None => file.speech.clone(),
                Some(snr) => mix(file, &noises[i % noises.len()].1, *snr, i),
            };
            let scores = clip::scores(&audio);
            let duration = audio.len() as f64 / 16_000.0;
            for k in 0..(duration * 100.0) as usize {
                let centre = k as f64 * 0.01 + 0.005;
                let frame = (centre * 1000.0 / 16.0) as usize;
                if let Some(s) = scores.get(frame) {
                    scored.push((s.probability, is_speech(&file.intervals, centre)));
                }
            }
            events.add(
                &file.intervals,
                &clip::utterances(&scores, config),
                config,
                duration,
            );
        }
        levels.push(format!(
            "{{\"snr_db\":{},\"roc_auc\":{:.4},\"pr_auc\":{:.4},\"silero_v6_roc_auc\":{},\"earshot_1_2_2_roc_auc\":{},\"frames\":{},{}}}",
            snr.map_or("\"clean\"".into(), |s| s.to_string()),
            roc_auc(&scored),
            pr_auc(&scored),
            SILERO[level],
            EARSHOT[level],
            scored.len(),
            events.json()
        ));
    }

    let mut noise_minutes = 0.0;
    let mut noise_starts = 0;
    let mut per_noise = Vec::new();
    for (name, noise) in &noises {
        let utterances = clip::utterances(&clip::scores(noise), config);
        let minutes = noise.len() as f64 / 16_000.0 / 60.0;
        noise_minutes += minutes;
        noise_starts += utterances.len();
        per_noise.push(format!(
            "\"{name}\":{:.2}",
            utterances.len() as f64 / minutes
        ));
    }
    println!(
        "{{\"benchmark\":\"vad_accuracy\",\"dataset\":\"{}\",\"files\":{},\"turn_config\":\"{:?}\",\"levels\":[{}],\"noise_only\":{{\"minutes\":{:.2},\"false_starts_per_min\":{:.3},\"per_file\":{{{}}}}}}}",
        dir.display(),
        files.len(),
        config,
        levels.join(","),
        noise_minutes,
        noise_starts as f64 / noise_minutes,
        per_noise.join(",")
    );
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

/// `AURA_VAD_SWEEP=1`: event metrics for a grid of turn parameters, one JSON line each, to
/// choose the defaults. Probabilities are computed once per file and level.
fn sweep(files: &[Labelled], noises: &[(String, Vec<f32>)]) {
    let mixes: Vec<Vec<(Vec<clip::FrameScore>, f64)>> = [None, Some(10.0), Some(0.0)]
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
                    (clip::scores(&audio), audio.len() as f64 / 16_000.0)
                })
                .collect()
        })
        .collect();
    let noise_probs: Vec<(Vec<clip::FrameScore>, f64)> = noises
        .iter()
        .map(|(_, n)| (clip::scores(n), n.len() as f64 / 16_000.0 / 60.0))
        .collect();
    for start in [0.4f32, 0.5, 0.6, 0.7, 0.8] {
        for stop in [0.3f32, 0.4] {
            for min_speech in [16u32, 32, 48, 64, 96] {
                let config = TurnConfig {
                    start_threshold: start,
                    stop_threshold: stop.min(start),
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
                let (starts, minutes) =
                    noise_probs.iter().fold((0usize, 0.0), |(n, m), (p, mins)| {
                        (n + clip::utterances(p, config).len(), m + mins)
                    });
                println!(
                    "{{\"start\":{start},\"stop\":{stop},\"min_speech_ms\":{min_speech},\"noise_false_starts_per_min\":{:.2},\"clean\":{},\"snr10\":{},\"snr0\":{}}}",
                    starts as f64 / minutes,
                    levels[0],
                    levels[1],
                    levels[2]
                );
            }
        }
    }
}
