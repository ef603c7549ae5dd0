//! Our Rust Silero against onnxruntime on the same real speech: per-chunk probabilities.
//!
//! `scripts/bootstrap.sh --test` fetches the pinned wheel, writes the compact weights and runs
//! the wheel's ONNX model through onnxruntime (`scripts/silero-reference.py`) into
//! `target/silero-vad/reference.json`. This test fails, saying so, when those files are missing.

use std::path::{Path, PathBuf};

use aura_client::silero::weights::Weights;
use aura_client::silero::{CHUNK, Silero};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/silero-vad")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (scripts/bootstrap.sh --test makes it)",
            path.display()
        )
    })
}

/// (audio, reference probabilities) from the reference file.
fn reference() -> (Vec<f32>, Vec<f32>) {
    let json: serde_json::Value =
        serde_json::from_slice(&read(&dir().join("reference.json"))).expect("reference JSON");
    let mut audio = Vec::new();
    for file in json["files"].as_array().expect("files") {
        let raw = read(Path::new(file.as_str().expect("file name")));
        audio.extend(
            raw.chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
        );
    }
    let probs = json["probabilities"]
        .as_array()
        .expect("probabilities")
        .iter()
        .map(|p| p.as_f64().expect("number") as f32)
        .collect();
    (audio, probs)
}

/// Max abs difference of our probabilities from the reference, for one weights file.
fn max_difference(encoding: &str, audio: &[f32], expected: &[f32]) -> f32 {
    let bytes = read(&dir().join(format!("silero-v6-{encoding}.bin")));
    let mut net = Silero::new(Weights::parse(&bytes).expect("weights"));
    let ours: Vec<f32> = audio
        .chunks_exact(CHUNK)
        .map(|c| net.predict(c.try_into().unwrap()))
        .collect();
    assert_eq!(ours.len(), expected.len());
    ours.iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn rust_silero_matches_onnxruntime_on_real_speech() {
    let (audio, expected) = reference();
    // The audio has speech and pauses: both ends of the scale are exercised.
    assert!(expected.len() > 200);
    assert!(expected.iter().any(|&p| p > 0.9) && expected.iter().any(|&p| p < 0.1));
    let f32_diff = max_difference("f32", &audio, &expected);
    let f16_diff = max_difference("f16", &audio, &expected);
    let int8_diff = max_difference("int8", &audio, &expected);
    println!(
        "{{\"chunks\":{},\"max_abs_diff\":{{\"f32\":{f32_diff:.2e},\"f16\":{f16_diff:.2e},\"int8\":{int8_diff:.2e}}}}}",
        expected.len()
    );
    assert!(f32_diff <= 1e-3, "f32 weights differ by {f32_diff}");
    assert!(f16_diff <= 1e-2, "f16 weights differ by {f16_diff}");
    assert!(int8_diff <= 0.1, "int8 weights differ by {int8_diff}");
}
