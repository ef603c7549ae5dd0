//! Offline engines behind the emulator's speech endpoints, so a local demo listens and speaks for
//! real with no provider keys: Debian's espeak-ng for text-to-speech and pocketsphinx (with its
//! en-us model) for speech-to-text. Used for requests that no script answers, when the emulator
//! runs with `--offline-engines` and the programs are installed.

use std::io::Write;
use std::process::{Command, Stdio};

use aura_client::resample::{Filter, StreamResampler};

const ESPEAK: &str = "espeak-ng";
const POCKETSPHINX: &str = "pocketsphinx_continuous";

/// Whether both programs are installed.
pub(crate) fn available() -> bool {
    let runs = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    runs(ESPEAK, "--version") && runs(POCKETSPHINX, "-h")
}

/// The samples of a 16-bit mono WAV (the first `data` chunk; a streaming WAV's size fields may
/// be wrong, so the data runs to the end of the file) and its sample rate.
fn wav_samples(wav: &[u8]) -> Option<(Vec<i16>, u32)> {
    if wav.len() < 44 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return None;
    }
    let rate = u32::from_le_bytes(wav[24..28].try_into().ok()?);
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let len = u32::from_le_bytes(wav[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"data" {
            let data = &wav[at + 8..];
            let data = &data[..data.len().min(len)];
            let samples = data
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return Some((samples, rate));
        }
        at += 8 + len + (len & 1);
    }
    None
}

/// `text` spoken by espeak-ng, as 24 kHz s16le mono PCM (OpenAI's `pcm`).
pub(crate) fn speak(text: &str, voice: &str) -> Option<Vec<u8>> {
    let voice = match voice {
        v if v.starts_with("en") => v.to_string(),
        _ => "en-us".to_string(), // OpenAI voice names (alloy, ...) mean nothing to espeak-ng
    };
    let mut child = Command::new(ESPEAK)
        .args(["--stdout", "--stdin", "-s", "165", "-v", &voice])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    let (samples, rate) = wav_samples(&out.stdout)?;
    let input: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let mut resampler = StreamResampler::new(rate, 24_000, Filter::Speech).ok()?;
    let mut pcm = Vec::with_capacity(input.len() * 24_000 / rate as usize * 2 + 4_096);
    let mut push = |block: &[f32]| {
        for &x in block {
            let s = (x.clamp(-1.0, 1.0) * 32_767.0) as i16;
            pcm.extend_from_slice(&s.to_le_bytes());
        }
    };
    resampler.process(&input, &mut push);
    resampler.flush(&mut push);
    Some(pcm)
}

/// The words pocketsphinx hears in a 16 kHz mono WAV.
pub(crate) fn transcribe(wav: &[u8]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!(
        "aura-emulator-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join("utterance.wav");
    std::fs::write(&file, wav).ok()?;
    let out = Command::new(POCKETSPHINX)
        .arg("-infile")
        .arg(&file)
        .args(["-logfn", "/dev/null"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.ok()?;
    let text = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Some(text)
}

/// A 16 kHz mono s16le WAV of `pcm` (for pocketsphinx, from a live stream's audio).
pub(crate) fn wav_16k(pcm: &[u8]) -> Vec<u8> {
    let len = pcm.len() as u32;
    let mut out = Vec::with_capacity(44 + pcm.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_samples_reads_the_data_chunk_even_with_a_streaming_size() {
        let mut wav = wav_16k(&[1, 0, 2, 0, 3, 0]);
        assert_eq!(wav_samples(&wav), Some((vec![1, 2, 3], 16_000)));
        // espeak-ng --stdout writes 0x7fffffff-ish sizes: the data runs to the end.
        wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(wav_samples(&wav), Some((vec![1, 2, 3], 16_000)));
        assert_eq!(
            wav_samples(b"not a wav file at all, not at all, no no no"),
            None
        );
    }

    #[test]
    fn espeak_and_pocketsphinx_when_installed() {
        if !available() {
            eprintln!("skipped: espeak-ng or pocketsphinx_continuous is not installed");
            return;
        }
        let pcm = speak("Hello there.", "alloy").expect("espeak-ng speaks");
        let seconds = pcm.len() as f64 / 48_000.0;
        assert!((0.4..3.0).contains(&seconds), "{seconds} s of speech");
        let peak = pcm
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
            .max()
            .unwrap();
        assert!(peak > 3_000, "audible: peak {peak}");
        // Pocketsphinx runs and returns some text (it hears synthetic voices poorly).
        assert!(transcribe(&wav_16k(&[0; 32_000])).is_some());
    }
}
