//! The `aura-vad` binary's interface, which the benchmarks rely on: output formats, exit codes,
//! one-line errors. Speech comes from espeak-ng at test time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aura_vad(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aura-vad"))
        .args(args)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aura-vad-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// 1 s of silence, espeak-ng speech, 1.5 s of silence; written at `rate` with `channels`.
/// Returns the speech's (start, end) in ms.
fn speech_file(path: &Path, rate: u32, channels: u16) -> (u64, u64) {
    let spoken = path.with_extension("espeak.wav");
    let ok = Command::new("espeak-ng")
        .args([
            "-w",
            spoken.to_str().unwrap(),
            "Please book a table for two at eight",
        ])
        .status()
        .expect("espeak-ng (scripts/bootstrap.sh --test installs it)");
    assert!(ok.success());
    let clip = aura_client::clip::read_wav(&spoken).unwrap();
    let mut rs = aura_client::resample::StreamResampler::new(
        clip.rate,
        rate,
        aura_client::resample::Filter::Speech,
    )
    .unwrap();
    let mut speech = Vec::new();
    rs.process(&clip.samples, |b| speech.extend_from_slice(b));
    let delay = rs.output_delay();
    rs.flush(|b| speech.extend_from_slice(b));
    let speech = &speech[delay..];
    let lead = rate as usize;
    let mut audio = vec![0.0f32; lead];
    audio.extend_from_slice(speech);
    audio.extend(vec![0.0; rate as usize * 3 / 2]);
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in &audio {
        for _ in 0..channels {
            w.write_sample((s * 0.7 * 32_767.0) as i16).unwrap();
        }
    }
    w.finalize().unwrap();
    let first = speech.iter().position(|s| s.abs() > 0.02).unwrap();
    let last = speech.iter().rposition(|s| s.abs() > 0.02).unwrap();
    let ms = |i: usize| ((lead + i) as u64 * 1000) / u64::from(rate);
    (ms(first), ms(last))
}

#[test]
fn segments_finds_the_utterance_at_any_rate_and_channel_count() {
    for (rate, channels) in [(16_000, 1), (44_100, 2), (48_000, 1)] {
        let path = scratch(&format!("speech-{rate}-{channels}.wav"));
        let (start, end) = speech_file(&path, rate, channels);
        let out = aura_vad(&["segments", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{rate} Hz x{channels}: {text}");
        let (s, e) = (
            lines[0]["start_ms"].as_u64().unwrap(),
            lines[0]["end_ms"].as_u64().unwrap(),
        );
        assert!(
            s + 50 >= start && s <= start + 200,
            "{rate} Hz: start {s} for speech at {start}"
        );
        assert!(
            e + 300 >= end && e <= end + 300,
            "{rate} Hz: end {e} for speech ending at {end}"
        );
    }
}

#[test]
fn probs_prints_one_line_per_16_ms_frame() {
    let path = scratch("probs.wav");
    speech_file(&path, 16_000, 1);
    let samples = hound::WavReader::open(&path).unwrap().len() as u64;
    let out = aura_vad(&["probs", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, samples / 256);
    for (i, line) in lines.iter().enumerate() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 3, "{line}");
        assert_eq!(f[0].parse::<u64>().unwrap(), i as u64 * 16);
        assert_eq!(f[1].parse::<u64>().unwrap(), i as u64 * 16 + 16);
        assert!((0.0..=1.0).contains(&f[2].parse::<f32>().unwrap()));
    }
}

#[test]
fn bad_files_give_one_line_and_a_non_zero_exit() {
    let not_wav = scratch("not.wav");
    std::fs::write(&not_wav, b"hello, I am text").unwrap();
    let empty = scratch("empty.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&empty, spec)
        .unwrap()
        .finalize()
        .unwrap();
    let truncated = scratch("truncated.wav");
    speech_file(&truncated, 16_000, 1);
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let zero = scratch("zero.wav");
    std::fs::write(&zero, b"").unwrap();

    for path in [
        not_wav.as_path(),
        empty.as_path(),
        truncated.as_path(),
        zero.as_path(),
        Path::new("/no/such/file.wav"),
    ] {
        for cmd in ["probs", "segments"] {
            let out = aura_vad(&[cmd, path.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(1), "{cmd} {}", path.display());
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("aura-vad: "), "{err}");
            assert!(out.stdout.is_empty(), "no partial output for a bad file");
        }
    }
}

#[test]
fn wrong_usage_exits_2() {
    assert_eq!(aura_vad(&[]).status.code(), Some(2));
    assert_eq!(aura_vad(&["listen", "x.wav"]).status.code(), Some(2));
    assert_eq!(
        aura_vad(&["--vad", "webrtc", "probs", "x.wav"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        aura_vad(&["probs", "x.wav", "--vad"]).status.code(),
        Some(2)
    );
}

/// A WAV of `samples` samples at `rate` (a tone, so it is not silence).
fn short_file(name: &str, rate: u32, samples: usize) -> PathBuf {
    let path = scratch(name);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..samples {
        w.write_sample(((i as f32 * 0.3).sin() * 8_000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    path
}

#[test]
fn a_file_shorter_than_one_frame_is_an_error_not_silence() {
    // Before: 1..255 samples at 16 kHz printed nothing and exited 0, as if the file held silence.
    for (rate, samples) in [(16_000, 1), (16_000, 159), (16_000, 255), (48_000, 700)] {
        let path = short_file(&format!("short-{rate}-{samples}.wav"), rate, samples);
        for vad in ["combined", "silero", "earshot"] {
            for cmd in ["probs", "segments"] {
                let out = aura_vad(&["--vad", vad, cmd, path.to_str().unwrap()]);
                assert_eq!(out.status.code(), Some(1), "{vad} {cmd} {samples} @ {rate}");
                let err = String::from_utf8(out.stderr).unwrap();
                assert!(err.contains("shorter than one 16 ms VAD frame"), "{err}");
                assert_eq!(err.lines().count(), 1, "{err}");
                assert!(out.stdout.is_empty());
            }
        }
    }
    // One frame exactly is enough.
    let path = short_file("one-frame.wav", 16_000, 256);
    let out = aura_vad(&["probs", path.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
}

#[test]
fn the_fused_combination_is_the_default_and_silero_and_earshot_stay_selectable() {
    let path = scratch("models.wav");
    speech_file(&path, 16_000, 1);
    let run = |args: &[&str]| {
        let out = aura_vad(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let file = path.to_str().unwrap();
    let default = run(&["probs", file]);
    let silero = run(&["--vad", "silero", "probs", file]);
    let earshot = run(&["--vad", "earshot", "probs", file]);
    let combined = run(&["--vad", "combined", "probs", file]);
    assert_eq!(default, combined);
    assert_ne!(silero, earshot);
    assert_ne!(combined, silero);
    assert_ne!(combined, earshot);
    // Silero holds each 32 ms decision for two 16 ms frames (after the first frame).
    let p: Vec<&str> = silero
        .lines()
        .map(|l| l.split(' ').nth(2).unwrap())
        .collect();
    assert!(p[1..].chunks_exact(2).all(|pair| pair[0] == pair[1]));
    // It finds the utterance too.
    assert_eq!(run(&["segments", file]).lines().count(), 1);
}

#[test]
fn unusable_weights_are_a_one_line_error() {
    let path = scratch("weights.wav");
    speech_file(&path, 16_000, 1);
    let garbage = scratch("garbage.bin");
    std::fs::write(&garbage, b"ASV6\x02\0\0\0 not weights").unwrap();
    for weights in ["/no/such/weights.bin", garbage.to_str().unwrap()] {
        let out = aura_vad(&["--weights", weights, "probs", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("aura-vad: "), "{err}");
        assert!(out.stdout.is_empty());
    }
    // earshot needs no weights.
    let out = aura_vad(&[
        "--vad",
        "earshot",
        "--weights",
        "/no/such/weights.bin",
        "probs",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
}
