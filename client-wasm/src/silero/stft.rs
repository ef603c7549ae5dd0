//! Silero's front end: the magnitude of a 256-point STFT (hop 128, periodic Hann window) over
//! one 640-sample window (64 samples of context, 512 new ones, 64 reflected), four frames.
//!
//! The model stores this as a 258x256 convolution; the weights converter checks that it is
//! exactly the windowed DFT, so it is computed here instead of shipped (66 k fewer weights), by
//! a radix-2 FFT: ~4 k multiplications per frame instead of the convolution's 66 k. (rustfft's
//! planner would cost ~40% of the client's WebAssembly, see [`crate::resample`]; a fixed-size
//! 256-point FFT is a few lines.)

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
const LOG2_FFT: u32 = FFT.trailing_zeros();

/// The window, the FFT's twiddles and bit-reversal table, and scratch.
#[derive(Debug, Clone)]
pub(crate) struct Stft {
    window: [f32; FFT],
    /// `exp(-2 pi i k / 256)` for k in 0..128, as (re, im).
    twiddles: [(f32, f32); FFT / 2],
    reversed: [u8; FFT],
    padded: [f32; PADDED],
    re: [f32; FFT],
    im: [f32; FFT],
}

impl Stft {
    pub(crate) fn new() -> Self {
        use std::f64::consts::PI;
        let window =
            std::array::from_fn(|t| (0.5 - 0.5 * (2.0 * PI * t as f64 / FFT as f64).cos()) as f32);
        let twiddles = std::array::from_fn(|k| {
            let angle = -2.0 * PI * k as f64 / FFT as f64;
            (angle.cos() as f32, angle.sin() as f32)
        });
        let reversed =
            std::array::from_fn(|i| ((i as u32).reverse_bits() >> (32 - LOG2_FFT)) as u8);
        Self {
            window,
            twiddles,
            reversed,
            padded: [0.0; PADDED],
            re: [0.0; FFT],
            im: [0.0; FFT],
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
            for (t, &r) in self.reversed.iter().enumerate() {
                let r = usize::from(r);
                self.re[r] = x[t] * self.window[t];
                self.im[r] = 0.0;
            }
            self.fft_in_place();
            for k in 0..BINS {
                out[k * FRAMES + frame] =
                    (self.re[k] * self.re[k] + self.im[k] * self.im[k]).sqrt();
            }
        }
    }

    /// Iterative radix-2 decimation in time over `re`/`im`, already in bit-reversed order.
    fn fft_in_place(&mut self) {
        let mut half = 1;
        while half < FFT {
            let step = FFT / (2 * half);
            for start in (0..FFT).step_by(2 * half) {
                for j in 0..half {
                    let (wr, wi) = self.twiddles[j * step];
                    let (a, b) = (start + j, start + j + half);
                    let tr = self.re[b] * wr - self.im[b] * wi;
                    let ti = self.re[b] * wi + self.im[b] * wr;
                    self.re[b] = self.re[a] - tr;
                    self.im[b] = self.im[a] - ti;
                    self.re[a] += tr;
                    self.im[a] += ti;
                }
            }
            half *= 2;
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

    #[test]
    fn the_fft_equals_the_windowed_dft_the_model_stores() {
        let mut stft = Stft::new();
        let x = |i: usize| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 0.8;
        let context: [f32; CONTEXT] = std::array::from_fn(x);
        let chunk: [f32; CHUNK] = std::array::from_fn(|i| x(i + CONTEXT));
        let mut out = [0.0; BINS * FRAMES];
        stft.magnitudes(&context, &chunk, &mut out);
        let padded = stft.padded;
        for frame in 0..FRAMES {
            for k in 0..BINS {
                let (mut re, mut im) = (0.0f64, 0.0f64);
                for t in 0..FFT {
                    let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * t as f64 / FFT as f64).cos();
                    let angle = 2.0 * std::f64::consts::PI * (k * t) as f64 / FFT as f64;
                    let v = f64::from(padded[frame * HOP + t]) * w;
                    re += v * angle.cos();
                    im -= v * angle.sin();
                }
                let expected = (re * re + im * im).sqrt();
                let got = f64::from(out[k * FRAMES + frame]);
                assert!(
                    (got - expected).abs() < 1e-4,
                    "bin {k} frame {frame}: {got} vs {expected}"
                );
            }
        }
    }
}
