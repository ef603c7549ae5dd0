//! Rational-ratio polyphase FIR resampling: the converter for rate pairs whose sub-sample
//! positions repeat after a few hundred outputs (48 -> 16 kHz, 44.1 -> 16 kHz, 24 -> 48 kHz, ...).
//!
//! For `rate_out / rate_in = up / down` (reduced), output `j` sits at input time
//! `j * down / up`: a whole input index and one of `up` phases. Each phase has its own row of
//! `taps` coefficients, sampled from one windowed sinc (Blackman-Harris squared, cutoff from
//! `rubato::calculate_cutoff`, the same prototype as rubato's sinc resampler), so every output
//! is exactly one dot product: no interpolation between phases, no per-sample trigonometry.
//! The dot product is SIMD in WebAssembly ([`super::dot`]), which rubato's scalar fallback is
//! not; `client-wasm/benches/capture_cost.mjs` compares the two in one run.
//!
//! The output is aligned with the input (output `j` is the signal at time `j * down / up`, no
//! leading delay); it lags by the filter's half length, `taps / 2` input samples, waiting for
//! the samples after each position. Nothing is allocated after construction.

use rubato::{WindowFunction, calculate_cutoff};

use super::dot::dot;

/// A polyphase FIR resampler for one rate pair.
pub struct Polyphase {
    taps: usize,
    up: usize,
    down: usize,
    /// `up` rows of `taps` coefficients: row `p` is for the position `p / up` past an input.
    table: Vec<f32>,
    /// Input samples from `base` on; `len` of them are valid.
    buf: Vec<f32>,
    len: usize,
    /// Index (in the stream padded with `taps / 2 - 1` zeros in front) of `buf[0]`.
    base: u64,
    /// The next output's first tap (same indexing) and its phase.
    next: u64,
    phase: usize,
}

impl Polyphase {
    /// A resampler by `up / down` (reduced, both >= 1) with `taps` coefficients per output
    /// (even, >= 2), taking at most `max_block` input samples per call.
    pub fn new(up: usize, down: usize, taps: usize, max_block: usize) -> Self {
        debug_assert!(up >= 1 && down >= 1 && taps >= 2 && taps.is_multiple_of(2));
        let cutoff = calculate_cutoff::<f64>(taps, WindowFunction::BlackmanHarris2)
            * (up as f64 / down as f64).min(1.0);
        let mut table = vec![0.0f32; up * taps];
        let mut sum = 0.0f64;
        let mut raw = vec![0.0f64; up * taps];
        for p in 0..up {
            for k in 0..taps {
                // Time of tap k relative to the output position, in input samples.
                let t = k as f64 - (taps / 2 - 1) as f64 - p as f64 / up as f64;
                let v = window((t + (taps / 2) as f64) / taps as f64) * sinc(t * cutoff);
                raw[p * taps + k] = v;
                sum += v;
            }
        }
        // Unity gain at DC, on average over the phases.
        let scale = up as f64 / sum;
        for (c, v) in table.iter_mut().zip(&raw) {
            *c = (v * scale) as f32;
        }
        let mut rs = Self {
            taps,
            up,
            down,
            table,
            buf: vec![0.0; taps + max_block + down / up + 2],
            len: 0,
            base: 0,
            next: 0,
            phase: 0,
        };
        rs.reset();
        rs
    }

    /// Input samples each output waits for beyond its own position.
    pub fn lookahead(&self) -> usize {
        self.taps / 2
    }

    /// Most outputs one call can produce.
    pub fn max_output(&self, block: usize) -> usize {
        (self.buf.len() + block) * self.up / self.down + 2
    }

    /// Back to the start of a stream: the history is silence.
    pub fn reset(&mut self) {
        self.len = self.taps / 2 - 1;
        self.buf[..self.len].fill(0.0);
        self.base = 0;
        self.next = 0;
        self.phase = 0;
    }

    /// Outputs that `extra` more input samples would let out (those already held count too).
    pub fn ready_with(&self, extra: usize) -> usize {
        let end = self.base + (self.len + extra) as u64;
        if self.next + self.taps as u64 > end {
            return 0;
        }
        // Outputs j >= 0 with next + (phase + j * down) / up + taps <= end.
        let room = (end - self.taps as u64 - self.next) * self.up as u64;
        ((room + self.up as u64 - 1 - self.phase as u64) / self.down as u64 + 1) as usize
    }

    /// Converts `input` (at most `max_block` samples), writing outputs to `out` (at least
    /// [`Self::max_output`] long); returns how many were written.
    pub fn process(&mut self, input: &[f32], out: &mut [f32]) -> usize {
        let take = input.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&input[..take]);
        self.len += take;
        let end = self.base + self.len as u64;
        let mut written = 0;
        while self.next + self.taps as u64 <= end && written < out.len() {
            let start = (self.next - self.base) as usize;
            let row = self.phase * self.taps;
            out[written] = dot(
                &self.buf[start..start + self.taps],
                &self.table[row..row + self.taps],
            );
            written += 1;
            self.phase += self.down;
            self.next += (self.phase / self.up) as u64;
            self.phase %= self.up;
        }
        // Keep only what later outputs need.
        let drop = ((self.next - self.base) as usize).min(self.len);
        self.buf.copy_within(drop..self.len, 0);
        self.len -= drop;
        self.base += drop as u64;
        written
    }
}

/// Blackman-Harris (4 terms, periodic) squared, at `x` in [0, 1].
fn window(x: f64) -> f64 {
    use std::f64::consts::TAU;
    let w = 0.35875 - 0.48829 * (TAU * x).cos() + 0.14128 * (2.0 * TAU * x).cos()
        - 0.01168 * (3.0 * TAU * x).cos();
    w * w
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rs: &mut Polyphase, input: &[f32], block: usize) -> Vec<f32> {
        let mut out = vec![0.0; rs.max_output(block)];
        let mut all = Vec::new();
        for b in input.chunks(block) {
            let n = rs.process(b, &mut out);
            all.extend_from_slice(&out[..n]);
        }
        all
    }

    #[test]
    fn rows_are_symmetric_windowed_sincs_with_unity_dc_gain() {
        let rs = Polyphase::new(2, 1, 64, 128);
        let row0 = &rs.table[..64];
        // Phase 0 sits on an input sample: tap 31 is the centre, and the row is symmetric.
        for k in 1..31 {
            assert!((row0[31 - k] - row0[31 + k]).abs() < 1e-6, "k = {k}");
        }
        assert!(row0.iter().all(|&c| c <= row0[31]));
        let dc: f32 = rs.table.iter().sum::<f32>() / 2.0;
        assert!((dc - 1.0).abs() < 1e-5, "{dc}");
        // Phase 1 (half a sample later) is the mirror image of itself about 31.5.
        let row1 = &rs.table[64..];
        for k in 0..32 {
            assert!((row1[k] - row1[63 - k]).abs() < 1e-6, "k = {k}");
        }
    }

    #[test]
    fn output_is_aligned_with_the_input() {
        // A slow ramp comes out as the same ramp at the output's sample times.
        let mut rs = Polyphase::new(1, 3, 320, 128);
        let input: Vec<f32> = (0..9_600)
            .map(|i| (i as f32 / 9_600.0 * 3.0).sin())
            .collect();
        let out = run(&mut rs, &input, 128);
        for (j, &y) in out.iter().enumerate().skip(200).take(2_000) {
            let want = (3.0 * j as f32 / 9_600.0 * 3.0).sin();
            assert!((y - want).abs() < 1e-4, "output {j}: {y} vs {want}");
        }
    }

    #[test]
    fn ready_with_predicts_exactly_what_process_emits() {
        for (up, down, taps) in [(1, 3, 320), (160, 441, 320), (2, 1, 64), (147, 80, 64)] {
            let mut rs = Polyphase::new(up, down, taps, 128);
            let mut out = vec![0.0; rs.max_output(128)];
            for i in 0..50 {
                let block = [0.25f32; 128];
                let n = 1 + (i * 37) % 128;
                let predicted = rs.ready_with(n);
                assert_eq!(
                    rs.process(&block[..n], &mut out),
                    predicted,
                    "{up}/{down} call {i}"
                );
                assert_eq!(rs.ready_with(0), 0);
            }
        }
    }

    #[test]
    fn reset_starts_a_new_stream() {
        let mut rs = Polyphase::new(160, 441, 320, 128);
        let input: Vec<f32> = (0..4_410)
            .map(|i| ((i * 31 % 97) as f32 - 48.0) / 50.0)
            .collect();
        let first = run(&mut rs, &input, 128);
        rs.reset();
        assert_eq!(run(&mut rs, &input, 128), first);
    }
}
