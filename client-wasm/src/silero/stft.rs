//! Silero's front end: the magnitude of a 256-point STFT (hop 128, periodic Hann window) over
//! one 640-sample window (64 samples of context, 512 new ones, 64 reflected), four frames.
//!
//! The model stores this as a 258x256 convolution; the weights converter checks that it is
//! exactly the windowed DFT, so it is computed here instead of shipped (66 k fewer weights).

use crate::resample::dot;

pub(crate) const FFT: usize = 256;
pub(crate) const HOP: usize = 128;
pub(crate) const BINS: usize = FFT / 2 + 1;
/// Samples of the previous chunk the model sees again.
pub const CONTEXT: usize = 64;
/// New samples per call.
pub const CHUNK: usize = 512;
/// STFT frames per call.
pub(crate) const FRAMES: usize = 4;
const PADDED: usize = CONTEXT + CHUNK + CONTEXT;

/// The windowed DFT basis: rows 0..129 are `w(t)cos(2 pi k t / 256)`, rows 129..258 the sines.
#[derive(Debug, Clone)]
pub(crate) struct Stft {
    basis: Vec<f32>,
    padded: [f32; PADDED],
}

impl Stft {
    pub(crate) fn new() -> Self {
        let mut basis = vec![0.0f32; 2 * BINS * FFT];
        for k in 0..BINS {
            for t in 0..FFT {
                let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * t as f64 / FFT as f64).cos();
                let angle = 2.0 * std::f64::consts::PI * ((k * t) % FFT) as f64 / FFT as f64;
                basis[k * FFT + t] = (w * angle.cos()) as f32;
                basis[(BINS + k) * FFT + t] = (w * angle.sin()) as f32;
            }
        }
        Self {
            basis,
            padded: [0.0; PADDED],
        }
    }

    /// Writes `out[bin * FRAMES + frame]` for `context` (64) followed by `chunk` (512).
    pub(crate) fn magnitudes(
        &mut self,
        context: &[f32; CONTEXT],
        chunk: &[f32; CHUNK],
        out: &mut [f32; BINS * FRAMES],
    ) {
        let n = CONTEXT + CHUNK;
        self.padded[..CONTEXT].copy_from_slice(context);
        self.padded[CONTEXT..n].copy_from_slice(chunk);
        // Reflection on the right only (as the model pads): x[n-1+j] = x[n-1-j].
        for j in 1..=CONTEXT {
            self.padded[n - 1 + j] = self.padded[n - 1 - j];
        }
        for frame in 0..FRAMES {
            let x = &self.padded[frame * HOP..frame * HOP + FFT];
            for k in 0..BINS {
                let re = dot(&self.basis[k * FFT..(k + 1) * FFT], x);
                let im = dot(&self.basis[(BINS + k) * FFT..(BINS + k + 1) * FFT], x);
                out[k * FRAMES + frame] = (re * re + im * im).sqrt();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bin_centred_tone_peaks_in_its_bin() {
        let mut stft = Stft::new();
        // Bin 32 of 256 at 16 kHz is 2 kHz.
        let tone = |i: usize| (2.0 * std::f32::consts::PI * 2000.0 * i as f32 / 16_000.0).sin();
        let context: [f32; CONTEXT] = std::array::from_fn(tone);
        let chunk: [f32; CHUNK] = std::array::from_fn(|i| tone(i + CONTEXT));
        let mut out = [0.0; BINS * FRAMES];
        stft.magnitudes(&context, &chunk, &mut out);
        for frame in 0..FRAMES {
            let col: Vec<f32> = (0..BINS).map(|k| out[k * FRAMES + frame]).collect();
            let peak = (0..BINS)
                .max_by(|&a, &b| col[a].total_cmp(&col[b]))
                .unwrap();
            assert_eq!(peak, 32, "frame {frame}");
            // Hann window: the amplitude-1 sine gives sum(w)/2 = 64 in its bin, and leakage is
            // confined to the neighbouring bins (the last frame holds the reflection: skipped).
            if frame < FRAMES - 1 {
                assert!((col[32] - 64.0).abs() < 1e-3, "{}", col[32]);
                assert!(col[40] < 1e-3, "{}", col[40]);
            }
        }
    }
}
