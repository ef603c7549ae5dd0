//! Microphone recordings made at test time with espeak-ng (48 kHz WAV, a click marker).

use super::*;

/// A microphone recording made at test time: a click marker at `MARKER_S`, then `text` spoken by
/// espeak-ng from `speech_s`, then silence to `total_s`, as a 48 kHz mono WAV at `path`.
pub struct MicrophoneWav {
    /// The first sample above -34 dBFS after the speech starts, in ms after the marker.
    pub onset_after_marker_ms: f32,
    /// The length of the spoken audio, in ms.
    pub speech_ms: u32,
}

/// When the marker click sounds in a [`MicrophoneWav`], in seconds.
pub const MARKER_S: f32 = 1.0;

pub fn microphone_wav(path: &Path, text: &str, speech_s: f32, total_s: f32) -> MicrophoneWav {
    let speech = espeak_48k(path, text);
    let mut audio = marked_silence(total_s);
    let at = (speech_s * MIC_RATE as f32) as usize;
    for (i, s) in speech.iter().enumerate() {
        if let Some(a) = audio.get_mut(at + i) {
            *a = s * 0.7;
        }
    }
    let marker = (MARKER_S * MIC_RATE as f32) as usize;
    let onset = at + audio[at..].iter().position(|s| s.abs() > 0.02).unwrap();
    write_wav_48k(path, &audio);
    MicrophoneWav {
        onset_after_marker_ms: (onset - marker) as f32 * 1000.0 / MIC_RATE as f32,
        speech_ms: (speech.len() as u64 * 1000 / u64::from(MIC_RATE)) as u32,
    }
}

/// The sample rate of every microphone recording made here.
pub const MIC_RATE: u32 = 48_000;

/// `text` spoken by espeak-ng, at 48 kHz (resampled with the client's resampler).
fn espeak_48k(path: &Path, text: &str) -> Vec<f32> {
    espeak_voice_48k(path, text, "en", 175)
}

/// `text` spoken by espeak-ng in `voice` (`en-us`, `en-gb-scotland`, `en+f3`, ...) at
/// `words_per_minute`, at 48 kHz; `path` names the scratch file espeak-ng writes.
pub fn espeak_voice_48k(path: &Path, text: &str, voice: &str, words_per_minute: u32) -> Vec<f32> {
    let spoken = path.with_extension("espeak.wav");
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &words_per_minute.to_string()])
        .args(["-w", spoken.to_str().unwrap(), text])
        .status()
        .expect("espeak-ng (scripts/bootstrap.sh installs it)");
    assert!(ok.success(), "espeak-ng -v {voice} failed");
    let clip = aura_client::clip::read_wav(&spoken).unwrap();
    to_48k(&clip.samples, clip.rate)
}

/// Mono `samples` at `rate` resampled to 48 kHz with the client's speech resampler, its delay
/// removed.
pub fn to_48k(samples: &[f32], rate: u32) -> Vec<f32> {
    let mut rs = aura_client::resample::StreamResampler::new(
        rate,
        MIC_RATE,
        aura_client::resample::Filter::Speech,
    )
    .unwrap();
    let mut speech = Vec::new();
    rs.process(samples, |b| speech.extend_from_slice(b));
    let delay = rs.output_delay();
    rs.flush(|b| speech.extend_from_slice(b));
    speech.split_off(delay)
}

/// A microphone recording assembled piece by piece: silence with the click marker at
/// `MARKER_S`, speech (48 kHz) placed at chosen times, written as a 48 kHz mono WAV.
pub struct MicrophoneTrack {
    audio: Vec<f32>,
}

impl MicrophoneTrack {
    pub fn new(total_s: f32) -> Self {
        Self {
            audio: marked_silence(total_s),
        }
    }

    /// Places `speech` (scaled by 0.7, as [`microphone_wav`] does) at `at_s` and returns where
    /// its sound starts and ends. Speech past the end of the track is cut off.
    pub fn place(&mut self, at_s: f64, speech: &[f32]) -> MicrophoneTurn {
        let at = (at_s * f64::from(MIC_RATE)) as usize;
        for (i, s) in speech.iter().enumerate() {
            if let Some(a) = self.audio.get_mut(at + i) {
                *a = s * 0.7;
            }
        }
        let loud = |s: &f32| (s * 0.7).abs() > 0.02;
        let first = speech.iter().position(loud).unwrap_or(0);
        let last = speech.iter().rposition(loud).unwrap_or(0);
        let ms = |samples: usize| samples as f64 * 1000.0 / f64::from(MIC_RATE);
        let marker_ms = f64::from(MARKER_S) * 1000.0;
        MicrophoneTurn {
            onset_after_marker_ms: ms(at + first) - marker_ms,
            end_after_marker_ms: ms(at + last) - marker_ms,
        }
    }

    pub fn write(&self, path: &Path) {
        write_wav_48k(path, &self.audio);
    }
}

/// How long `speech` (48 kHz) sounds from its first to its last loud sample, in seconds.
pub fn sounding_s(speech: &[f32]) -> f64 {
    let loud = |s: &f32| (s * 0.7).abs() > 0.02;
    match (speech.iter().position(loud), speech.iter().rposition(loud)) {
        (Some(a), Some(b)) => (b - a) as f64 / f64::from(MIC_RATE),
        _ => 0.0,
    }
}

/// How long `speech` (48 kHz) is quiet before its first loud sample, in seconds.
pub fn leading_quiet_s(speech: &[f32]) -> f64 {
    let first = speech.iter().position(|s| (s * 0.7).abs() > 0.02);
    first.unwrap_or(0) as f64 / f64::from(MIC_RATE)
}

/// `total_s` of silence at 48 kHz with the marker click at `MARKER_S`.
fn marked_silence(total_s: f32) -> Vec<f32> {
    let mut audio = vec![0.0f32; (total_s * MIC_RATE as f32) as usize];
    let marker = (MARKER_S * MIC_RATE as f32) as usize;
    audio[marker..marker + 240]
        .iter_mut()
        .for_each(|s| *s = 0.9);
    audio
}

fn write_wav_48k(path: &Path, audio: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: MIC_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in audio {
        w.write_sample((s.clamp(-1.0, 1.0) * 32_767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// One utterance of [`microphone_turns_wav`]: where its speech starts and ends (first and last
/// sample above -34 dBFS), in ms after the marker.
#[derive(Debug, Clone, Copy)]
pub struct MicrophoneTurn {
    pub onset_after_marker_ms: f64,
    pub end_after_marker_ms: f64,
}

/// Like [`microphone_wav`], with `text` spoken at each of `starts_s`.
pub fn microphone_turns_wav(
    path: &Path,
    text: &str,
    starts_s: &[f32],
    total_s: f32,
) -> Vec<MicrophoneTurn> {
    let speech = espeak_48k(path, text);
    let first = speech.iter().position(|s| (s * 0.7).abs() > 0.02).unwrap();
    let last = speech.iter().rposition(|s| (s * 0.7).abs() > 0.02).unwrap();
    let mut audio = marked_silence(total_s);
    let marker_ms = f64::from(MARKER_S) * 1000.0;
    let ms = |samples: usize| samples as f64 * 1000.0 / f64::from(MIC_RATE);
    let turns = starts_s
        .iter()
        .map(|&start| {
            let at = (start * MIC_RATE as f32) as usize;
            for (i, s) in speech.iter().enumerate() {
                if let Some(a) = audio.get_mut(at + i) {
                    *a = s * 0.7;
                }
            }
            MicrophoneTurn {
                onset_after_marker_ms: ms(at + first) - marker_ms,
                end_after_marker_ms: ms(at + last) - marker_ms,
            }
        })
        .collect();
    write_wav_48k(path, &audio);
    turns
}
