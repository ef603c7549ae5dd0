//! Whole-clip analysis on the host: decode a WAV file, bring it to 16 kHz with the browser's
//! resampler, and run the browser's VAD and turn detector over it. Used by the `aura-vad` CLI
//! and the benchmarks, so what they measure is the code the browser runs.

use std::path::Path;

use crate::resample::{Filter, StreamResampler};
use crate::turn::{TurnConfig, TurnDetector, TurnEvent};
use crate::vad::{VAD_FRAME_MS, Vad};

/// Mono audio at some sample rate.
#[derive(Debug, Clone)]
pub struct Clip {
    pub rate: u32,
    pub samples: Vec<f32>,
}

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a readable WAV file: {reason}")]
    NotWav { path: String, reason: String },
    #[error("{path} is truncated or damaged after {samples} samples: {reason}")]
    Truncated {
        path: String,
        samples: usize,
        reason: String,
    },
    #[error("{path} holds no audio")]
    Empty { path: String },
    #[error("{path} is {ms:.1} ms long, shorter than one 16 ms VAD frame")]
    TooShort { path: String, ms: f64 },
    #[error("{path}: {source}")]
    Rate {
        path: String,
        source: crate::resample::ResampleError,
    },
}

/// Reads a WAV file of any rate, channel count and PCM or float format, averaged to mono.
pub fn read_wav(path: &Path) -> Result<Clip, ClipError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ClipError::Open {
        path: name.clone(),
        source,
    })?;
    let mut reader =
        hound::WavReader::new(std::io::BufReader::new(file)).map_err(|e| ClipError::NotWav {
            path: name.clone(),
            reason: e.to_string(),
        })?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => collect(&name, reader.samples::<f32>(), |s| s)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            collect(&name, reader.samples::<i32>(), |s| s as f32 * scale)?
        }
    };
    let samples: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    if samples.is_empty() {
        return Err(ClipError::Empty { path: name });
    }
    Ok(Clip {
        rate: spec.sample_rate,
        samples,
    })
}

fn collect<T>(
    path: &str,
    samples: impl Iterator<Item = hound::Result<T>>,
    convert: impl Fn(T) -> f32,
) -> Result<Vec<f32>, ClipError> {
    let mut out = Vec::new();
    for s in samples {
        match s {
            Ok(s) => out.push(convert(s)),
            Err(e) => {
                return Err(ClipError::Truncated {
                    path: path.into(),
                    samples: out.len(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// The clip at 16 kHz, through the same streaming resampler as the browser (fed in 128-sample
/// quanta), with the resampler's delay removed so times line up with the file.
pub fn to_16k(clip: &Clip) -> Result<Vec<f32>, crate::resample::ResampleError> {
    let mut rs = StreamResampler::new(clip.rate, 16_000, Filter::Speech)?;
    let mut out = Vec::with_capacity(clip.samples.len() * 16_000 / clip.rate as usize + 4_096);
    for quantum in clip.samples.chunks(128) {
        rs.process(quantum, |o| out.extend_from_slice(o));
    }
    let delay = rs.output_delay();
    rs.flush(|o| out.extend_from_slice(o));
    let len = (clip.samples.len() as u64 * 16_000).div_ceil(u64::from(clip.rate)) as usize;
    Ok(out.into_iter().skip(delay).take(len).collect())
}

/// What the turn detector takes from one 16 ms VAD frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameScore {
    pub probability: f32,
    pub impulsive: bool,
}

/// `samples_16k` if it holds at least one VAD frame; a shorter clip would give no frame at all.
pub fn at_least_one_frame(path: &Path, samples_16k: Vec<f32>) -> Result<Vec<f32>, ClipError> {
    if samples_16k.len() < crate::vad::VAD_FRAME_SAMPLES {
        return Err(ClipError::TooShort {
            path: path.display().to_string(),
            ms: samples_16k.len() as f64 / 16.0,
        });
    }
    Ok(samples_16k)
}

/// One score per 16 ms frame of 16 kHz audio, from earshot.
pub fn scores(samples_16k: &[f32]) -> Vec<FrameScore> {
    scores_with(&mut Vad::new(), samples_16k)
}

/// One score per 16 ms frame of 16 kHz audio, from `vad` (reset first).
pub fn scores_with(vad: &mut Vad, samples_16k: &[f32]) -> Vec<FrameScore> {
    vad.reset();
    let mut out = Vec::with_capacity(samples_16k.len() / 256 + 1);
    vad.process(samples_16k, |f| {
        out.push(FrameScore {
            probability: f.probability,
            impulsive: f.impulsive,
        })
    });
    out
}

/// One speech probability per 16 ms frame of 16 kHz audio.
pub fn probabilities(samples_16k: &[f32]) -> Vec<f32> {
    scores(samples_16k).iter().map(|s| s.probability).collect()
}

/// The utterances the turn detector finds in a sequence of frame scores, with the times at
/// which each start and end was decided.
pub fn utterances(probs: &[FrameScore], config: TurnConfig) -> Vec<Utterance> {
    let mut turn = TurnDetector::new(config);
    let mut out = Vec::new();
    let mut open: Option<(u64, u64)> = None;
    let frame = u64::from(VAD_FRAME_MS);
    let mut events: Vec<TurnEvent> = probs
        .iter()
        .enumerate()
        .filter_map(|(i, s)| turn.push(i as u64 * frame, s.probability, s.impulsive))
        .collect();
    events.extend(turn.finish(probs.len() as u64 * frame));
    for event in events {
        match event {
            TurnEvent::Started {
                start_ms,
                decided_ms,
            } => open = Some((start_ms, decided_ms)),
            TurnEvent::Ended {
                end_ms, decided_ms, ..
            } => {
                if let Some((start_ms, start_decided_ms)) = open.take() {
                    out.push(Utterance {
                        start_ms,
                        end_ms,
                        start_decided_ms,
                        end_decided_ms: decided_ms,
                    });
                }
            }
            // Pauses keep the utterance open.
            TurnEvent::Paused { .. } | TurnEvent::Resumed { .. } => {}
        }
    }
    out
}

/// One detected utterance, in ms from the start of the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utterance {
    pub start_ms: u64,
    pub end_ms: u64,
    /// When the detector confirmed the start (what a live client would act on).
    pub start_decided_ms: u64,
    /// When the detector declared the end of the turn.
    pub end_decided_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("aura-clip-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn stereo_is_averaged_and_levels_are_scaled_to_unit_range() {
        let path = scratch("stereo.wav");
        write_wav(&path, 8_000, 2, &[16_384, 0, -32_768, -32_768]);
        let clip = read_wav(&path).unwrap();
        assert_eq!(clip.rate, 8_000);
        assert_eq!(clip.samples, vec![0.25, -1.0]);
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let missing = Path::new("/nonexistent/aura.wav");
        assert!(matches!(read_wav(missing), Err(ClipError::Open { .. })));

        let text = scratch("text.wav");
        std::fs::write(&text, b"this is not audio at all, not even close").unwrap();
        assert!(matches!(read_wav(&text), Err(ClipError::NotWav { .. })));

        let empty = scratch("empty.wav");
        write_wav(&empty, 16_000, 1, &[]);
        assert!(matches!(read_wav(&empty), Err(ClipError::Empty { .. })));

        let cut = scratch("cut.wav");
        write_wav(&cut, 16_000, 1, &[7; 1_000]);
        let bytes = std::fs::read(&cut).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() - 501]).unwrap();
        assert!(
            matches!(read_wav(&cut), Err(ClipError::Truncated { .. })),
            "{:?}",
            read_wav(&cut)
        );
    }

    #[test]
    fn resampling_to_16k_keeps_length_and_timing() {
        // A click at 0.5 s must stay at 0.5 s after 48k -> 16k.
        let mut samples = vec![0.0f32; 48_000];
        samples[24_000] = 1.0;
        let out = to_16k(&Clip {
            rate: 48_000,
            samples,
        })
        .unwrap();
        assert_eq!(out.len(), 16_000);
        let peak = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
            .0;
        assert!(
            (peak as i64 - 8_000).abs() <= 1,
            "click moved to sample {peak}"
        );
    }
}
