//! Streaming sample-rate conversion for the real-time path.
//!
//! The browser hands the worklet 128-sample render quanta; [`StreamResampler`] converts each
//! one as it comes ([`CHUNK`] input samples per conversion), so the microphone path adds a few
//! milliseconds rather than a block of tens. Two filter lengths ([`Filter`]): a long one for
//! the microphone (the speech path, held to the quality targets of the resampler benchmark)
//! and a short one for playback. Nothing is allocated after construction.
//!
//! Two converters ([`Engine`]), one per module:
//! - [`polyphase`]: exact polyphase FIR filtering for rate pairs whose sub-sample positions
//!   repeat within [`MAX_PHASES`] outputs, which covers every rate a browser picks (48 -> 16 kHz
//!   is one phase, 44.1 -> 16 kHz 160, 24 -> 48 kHz 2). Its dot product is SIMD in WebAssembly.
//! - rubato's windowed-sinc resampler, with cubic interpolation between [`MAX_PHASES`] phases,
//!   for any other pair (44 101 Hz, say). Same filter prototype, same quality.
//!
//! rubato's sinc resampler did all conversions before; in WebAssembly it has only a scalar dot
//! product, and the polyphase one costs a third of it per quantum (`capture_cost.mjs` times both
//! in one run). rubato's FFT resampler was used before that: as good on quality, but it pulls
//! in rustfft's generic planner (about 40% of the client's WebAssembly) and works on
//! ~768-sample chunks (16 ms more latency at 48 kHz). See docs/client.md.

pub mod dot;
pub mod polyphase;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

pub use dot::{dot, dot_scalar};
use polyphase::Polyphase;

/// Input samples per conversion: one render quantum.
pub const CHUNK: usize = 128;

/// Most filter phases kept per rate pair (taps x phases floats of table). Rate pairs whose
/// positions repeat with a longer period go to rubato, which interpolates between phases.
pub const MAX_PHASES: usize = 512;

/// Which filter a stream gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Microphone -> 16 kHz for the VAD and speech-to-text: 320 taps (Blackman-Harris squared),
    /// ripple under 0.02 dB to 7 kHz, more than 135 dB of stop band (resampler benchmark).
    Speech,
    /// Reply audio -> the context rate: 64 taps, cutoff at 79% of the reply's Nyquist
    /// (9.5 kHz for 24 kHz speech), a fifth of the multiply-adds of `Speech` per output sample;
    /// upsampling to 48 kHz costs one dot product for every sample played.
    Playback,
}

impl Filter {
    fn taps(self) -> usize {
        match self {
            Filter::Speech => 320,
            Filter::Playback => 64,
        }
    }
}

/// Which converter does the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// [`polyphase`]: rate pairs with at most [`MAX_PHASES`] sub-sample positions.
    Polyphase,
    /// rubato's windowed-sinc resampler: any rate pair.
    Rubato,
}

/// Lowest and highest rates accepted on either side.
pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 192_000;

/// Why a resampler cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    #[error("sample rate {0} Hz is outside {MIN_RATE}..={MAX_RATE} Hz")]
    UnsupportedRate(u32),
    #[error("the resampler could not be built: {0}")]
    Construction(String),
}

enum Converter {
    /// Both rates are equal: samples pass through untouched.
    Pass,
    Polyphase(Polyphase),
    Rubato(Box<Async<f32>>),
}

/// Converts a mono stream from one rate to another, fed in blocks of any size.
pub struct StreamResampler {
    converter: Converter,
    rate_in: u32,
    rate_out: u32,
    pending: Vec<f32>,
    filled: usize,
    out: Vec<f32>,
    /// Real input samples taken and output samples emitted since the stream began.
    taken: u64,
    emitted: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("rate_in", &self.rate_in)
            .field("rate_out", &self.rate_out)
            .field("engine", &self.engine())
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `rate_in` to `rate_out` Hz, on the polyphase converter when the pair
    /// allows it and on rubato otherwise.
    pub fn new(rate_in: u32, rate_out: u32, filter: Filter) -> Result<Self, ResampleError> {
        let phases = rate_out / gcd(rate_in.max(1), rate_out.max(1)).max(1);
        let engine = if phases as usize <= MAX_PHASES {
            Engine::Polyphase
        } else {
            Engine::Rubato
        };
        Self::with_engine(rate_in, rate_out, filter, engine)
    }

    /// A resampler on the given converter (the benchmarks compare them). The polyphase one
    /// refuses pairs with more than [`MAX_PHASES`] sub-sample positions.
    pub fn with_engine(
        rate_in: u32,
        rate_out: u32,
        filter: Filter,
        engine: Engine,
    ) -> Result<Self, ResampleError> {
        for rate in [rate_in, rate_out] {
            if !(MIN_RATE..=MAX_RATE).contains(&rate) {
                return Err(ResampleError::UnsupportedRate(rate));
            }
        }
        let mut rs = Self {
            converter: Converter::Pass,
            rate_in,
            rate_out,
            pending: Vec::new(),
            filled: 0,
            out: Vec::new(),
            taken: 0,
            emitted: 0,
        };
        if rate_in == rate_out {
            return Ok(rs);
        }
        // The sub-sample positions of a fixed rate pair repeat with period rate_out / gcd.
        let g = gcd(rate_in, rate_out);
        let (up, down) = ((rate_out / g) as usize, (rate_in / g) as usize);
        match engine {
            Engine::Polyphase => {
                if up > MAX_PHASES {
                    return Err(ResampleError::Construction(format!(
                        "{rate_in} -> {rate_out} Hz needs {up} filter phases, more than {MAX_PHASES}"
                    )));
                }
                let pp = Polyphase::new(up, down, filter.taps(), CHUNK);
                rs.out = vec![0.0; pp.max_output(CHUNK)];
                rs.converter = Converter::Polyphase(pp);
            }
            Engine::Rubato => {
                let params = SincInterpolationParameters::new(
                    filter.taps(),
                    WindowFunction::BlackmanHarris2,
                )
                .oversampling_factor(up.min(MAX_PHASES));
                let params = if up <= MAX_PHASES {
                    params.interpolation(SincInterpolationType::Nearest)
                } else {
                    params.interpolation(SincInterpolationType::Cubic)
                };
                let sinc = Async::<f32>::new_sinc(
                    f64::from(rate_out) / f64::from(rate_in),
                    1.0,
                    &params,
                    CHUNK,
                    1,
                    FixedAsync::Input,
                )
                .map_err(|e| ResampleError::Construction(e.to_string()))?;
                rs.out = vec![0.0; sinc.output_frames_max()];
                rs.converter = Converter::Rubato(Box::new(sinc));
            }
        }
        rs.pending = vec![0.0; CHUNK];
        Ok(rs)
    }

    /// The converter doing the work (`None` when passing through).
    pub fn engine(&self) -> Option<Engine> {
        match self.converter {
            Converter::Pass => None,
            Converter::Polyphase(_) => Some(Engine::Polyphase),
            Converter::Rubato(_) => Some(Engine::Rubato),
        }
    }

    pub fn rate_in(&self) -> u32 {
        self.rate_in
    }

    pub fn rate_out(&self) -> u32 {
        self.rate_out
    }

    /// Input samples per conversion chunk (0 when passing through).
    pub fn chunk_len(&self) -> usize {
        self.pending.len()
    }

    /// Input samples held until the current chunk is full.
    pub fn pending_input(&self) -> usize {
        self.filled
    }

    /// Output samples by which the converted stream lags the input: leading output to skip.
    /// 0 for the polyphase converter, whose output is aligned with its input.
    pub fn output_delay(&self) -> usize {
        match &self.converter {
            Converter::Rubato(f) => f.output_delay(),
            _ => 0,
        }
    }

    /// Worst-case latency from an input sample to its output, in milliseconds: a full chunk
    /// waiting to be converted plus the filter delay.
    pub fn latency_ms(&self) -> f64 {
        let filter_ms = match &self.converter {
            Converter::Pass => 0.0,
            Converter::Polyphase(p) => p.lookahead() as f64 * 1000.0 / f64::from(self.rate_in),
            Converter::Rubato(f) => f.output_delay() as f64 * 1000.0 / f64::from(self.rate_out),
        };
        self.chunk_len() as f64 * 1000.0 / f64::from(self.rate_in) + filter_ms
    }

    /// Output samples the converter will emit (before any flush) once `extra` more input
    /// samples arrive: whole chunks are converted, a partial one waits.
    pub fn ready_with(&self, extra: usize) -> usize {
        let whole = match self.pending.len() {
            0 => return extra,
            chunk => (self.filled + extra) / chunk * chunk,
        };
        match &self.converter {
            Converter::Pass => extra,
            Converter::Polyphase(p) => p.ready_with(whole),
            Converter::Rubato(_) => {
                (whole as u64 * u64::from(self.rate_out) / u64::from(self.rate_in)) as usize
            }
        }
    }

    /// Adds input samples; calls `emit` with each block of converted output, in order.
    pub fn process(&mut self, mut input: &[f32], mut emit: impl FnMut(&[f32])) {
        if let Converter::Pass = self.converter {
            if !input.is_empty() {
                emit(input);
            }
            return;
        }
        while !input.is_empty() {
            let take = (self.pending.len() - self.filled).min(input.len());
            self.pending[self.filled..self.filled + take].copy_from_slice(&input[..take]);
            self.filled += take;
            self.taken += take as u64;
            input = &input[take..];
            if self.filled == self.pending.len() {
                let n = self.convert(None);
                self.emitted += n as u64;
                if n > 0 {
                    emit(&self.out[..n]);
                }
            }
        }
    }

    /// Converts what is pending, padded with silence, and pushes the filter's delay out, so every
    /// input sample so far reaches `emit`. Use it at the end of a stream; the resampler is then
    /// ready for a new stream.
    pub fn flush(&mut self, mut emit: impl FnMut(&[f32])) {
        if let Converter::Pass = self.converter {
            return;
        }
        let owed = (self.taken * u64::from(self.rate_out)).div_ceil(u64::from(self.rate_in))
            + self.output_delay() as u64;
        let mut partial = Some(self.filled);
        // Each call takes a whole chunk but may emit nothing (filter lookahead, or rubato's
        // internal buffering), so the loop is bounded by calls rather than stopped at the first
        // empty one.
        let per_call =
            (self.pending.len() as u64 * u64::from(self.rate_out)) / u64::from(self.rate_in);
        let lookahead_calls = Filter::Speech.taps().div_ceil(self.pending.len()) as u64;
        let mut calls_left =
            (owed - self.emitted.min(owed)) / per_call.max(1) + lookahead_calls + 4;
        while self.emitted < owed && calls_left > 0 {
            calls_left -= 1;
            let real = partial.take().unwrap_or(0);
            self.pending[real..].fill(0.0);
            let n = self.convert(Some(real));
            let keep = n.min((owed - self.emitted) as usize);
            self.emitted += keep as u64;
            if keep > 0 {
                emit(&self.out[..keep]);
            }
        }
        self.reset();
    }

    /// Forgets all buffered audio and filter state.
    pub fn reset(&mut self) {
        self.filled = 0;
        self.taken = 0;
        self.emitted = 0;
        match &mut self.converter {
            Converter::Pass => {}
            Converter::Polyphase(p) => p.reset(),
            Converter::Rubato(f) => f.reset(),
        }
    }

    /// Converts the pending chunk (`partial` = how many of its samples are real) into `out`.
    fn convert(&mut self, partial: Option<usize>) -> usize {
        self.filled = 0;
        match &mut self.converter {
            Converter::Pass => 0,
            // Silence after the real samples of a partial chunk is simply filtered: `flush`
            // keeps only the outputs the real input owes.
            Converter::Polyphase(p) => p.process(&self.pending, &mut self.out),
            Converter::Rubato(sinc) => {
                let frames_in = self.pending.len();
                let frames_out = self.out.len();
                let (Ok(input), Ok(mut output)) = (
                    InterleavedSlice::new(&self.pending[..], 1, frames_in),
                    InterleavedSlice::new_mut(&mut self.out[..], 1, frames_out),
                ) else {
                    return 0;
                };
                let indexing = partial.map(|p| rubato::Indexing {
                    input_offset: 0,
                    output_offset: 0,
                    partial_len: Some(p),
                    active_channels_mask: None,
                });
                // The buffers are sized from the resampler itself, so this cannot fail.
                sinc.process_into_buffer(&input, &mut output, indexing.as_ref())
                    .map_or(0, |(_, written)| written)
            }
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rs: &mut StreamResampler, input: &[f32], block: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for b in input.chunks(block) {
            rs.process(b, |o| out.extend_from_slice(o));
        }
        rs.flush(|o| out.extend_from_slice(o));
        out
    }

    fn tone(rate: u32, hz: f64, secs: f64) -> Vec<f32> {
        // Phase in f64: in f32, 2*pi*f*i/rate loses enough precision to add -50 dB of noise.
        (0..(f64::from(rate) * secs) as usize)
            .map(|i| (0.5 * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn rejects_rates_out_of_range() {
        assert_eq!(
            StreamResampler::new(0, 16_000, Filter::Speech).unwrap_err(),
            ResampleError::UnsupportedRate(0)
        );
        assert!(StreamResampler::new(48_000, 400_000, Filter::Speech).is_err());
    }

    #[test]
    fn equal_rates_pass_through_untouched() {
        let mut rs = StreamResampler::new(16_000, 16_000, Filter::Speech).unwrap();
        let input: Vec<f32> = (0..500).map(|i| i as f32 / 500.0).collect();
        assert_eq!(run(&mut rs, &input, 128), input);
    }

    #[test]
    fn output_length_matches_the_rate_ratio_for_common_context_rates() {
        for rate in [44_100, 48_000, 32_000, 96_000, 22_050] {
            let mut rs = StreamResampler::new(rate, 16_000, Filter::Speech).unwrap();
            let input = tone(rate, 440.0, 1.0);
            let out = run(&mut rs, &input, 128);
            // Everything comes out, delayed by the filter: exactly input x ratio + delay.
            assert_eq!(out.len(), 16_000 + rs.output_delay(), "{rate} Hz");
        }
    }

    #[test]
    fn a_speech_band_tone_keeps_its_level_and_frequency() {
        let mut rs = StreamResampler::new(48_000, 16_000, Filter::Speech).unwrap();
        let out = run(&mut rs, &tone(48_000, 1_000.0, 1.0), 128);
        let steady = &out[2_000..14_000];
        assert!(
            (rms(steady) - 0.5 / 2f32.sqrt()).abs() < 0.01,
            "rms {}",
            rms(steady)
        );
        // 1 kHz at 16 kHz crosses zero 2000 times a second.
        let crossings = steady
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!(
            (crossings as i32 - 1_500).abs() <= 2,
            "{crossings} zero crossings in 0.75 s"
        );
    }

    #[test]
    fn a_tone_above_the_new_nyquist_does_not_alias_into_speech() {
        let mut rs = StreamResampler::new(48_000, 16_000, Filter::Speech).unwrap();
        let out = run(&mut rs, &tone(48_000, 10_000.0, 1.0), 128);
        let level = rms(&out[2_000..14_000]) / (0.5 / 2f32.sqrt());
        // The quality target is >= 100 dB; the benchmark reports the exact figure.
        assert!(
            level < 1e-5,
            "10 kHz leaked through at {} dB",
            20.0 * level.log10()
        );
    }

    #[test]
    fn block_size_does_not_change_the_output() {
        let input = tone(44_100, 700.0, 0.5);
        let a = run(
            &mut StreamResampler::new(44_100, 16_000, Filter::Speech).unwrap(),
            &input,
            128,
        );
        let b = run(
            &mut StreamResampler::new(44_100, 16_000, Filter::Speech).unwrap(),
            &input,
            1_000,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn upsampling_for_playback_keeps_speech_and_suppresses_images() {
        for rate_out in [48_000, 44_100] {
            let mut rs = StreamResampler::new(24_000, rate_out, Filter::Playback).unwrap();
            let out = run(&mut rs, &tone(24_000, 3_000.0, 0.5), 480);
            assert!(out.len() >= rate_out as usize / 2);
            let steady = &out[4_000..20_000];
            assert!((rms(steady) - 0.5 / 2f32.sqrt()).abs() < 0.01, "{rate_out}");
            // What is not the 3 kHz tone (its image at 21 kHz, for one) stays far below it.
            let w = std::f64::consts::TAU * 3_000.0 / f64::from(rate_out);
            let (mut c, mut q) = (0.0, 0.0);
            for (i, &v) in steady.iter().enumerate() {
                c += f64::from(v) * (w * i as f64).cos();
                q += f64::from(v) * (w * i as f64).sin();
            }
            let n = steady.len() as f64;
            let (c, q) = (2.0 * c / n, 2.0 * q / n);
            let residual = steady
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let fit = c * (w * i as f64).cos() + q * (w * i as f64).sin();
                    (f64::from(v) - fit).powi(2)
                })
                .sum::<f64>()
                / n;
            let snr = 10.0 * ((0.125) / residual).log10();
            assert!(snr > 60.0, "{rate_out} Hz: {snr:.1} dB");
        }
    }

    #[test]
    fn common_rates_get_the_polyphase_converter_and_odd_ones_rubato() {
        for (from, to) in [
            (48_000, 16_000),
            (44_100, 16_000),
            (24_000, 48_000),
            (24_000, 44_100),
        ] {
            let rs = StreamResampler::new(from, to, Filter::Speech).unwrap();
            assert_eq!(rs.engine(), Some(Engine::Polyphase), "{from} -> {to}");
        }
        let odd = StreamResampler::new(44_101, 16_000, Filter::Speech).unwrap();
        assert_eq!(odd.engine(), Some(Engine::Rubato));
        assert!(matches!(
            StreamResampler::with_engine(44_101, 16_000, Filter::Speech, Engine::Polyphase),
            Err(ResampleError::Construction(_))
        ));
        assert_eq!(
            StreamResampler::new(16_000, 16_000, Filter::Speech)
                .unwrap()
                .engine(),
            None
        );
    }

    #[test]
    fn polyphase_output_is_the_ideal_resampled_signal_with_no_delay() {
        // Two tones in every filter's passband, evaluated exactly at the output's sample times.
        let signal = |t: f64| {
            0.6 * (std::f64::consts::TAU * 440.0 * t).sin()
                + 0.3 * (std::f64::consts::TAU * 2_950.0 * t).sin()
        };
        for (from, to, filter) in [
            (48_000, 16_000, Filter::Speech),
            (44_100, 16_000, Filter::Speech),
            (24_000, 48_000, Filter::Playback),
            (24_000, 44_100, Filter::Playback),
        ] {
            let input: Vec<f32> = (0..from / 2)
                .map(|i| signal(f64::from(i) / f64::from(from)) as f32)
                .collect();
            let mut rs = StreamResampler::new(from, to, filter).unwrap();
            let out = run(&mut rs, &input, 128);
            assert_eq!(out.len(), to as usize / 2, "{from} -> {to}");
            let worst = (out.len() / 8..out.len() * 7 / 8)
                .map(|j| (f64::from(out[j]) - signal(j as f64 / f64::from(to))).abs())
                .fold(0.0, f64::max);
            // Measured: 1.6e-7 to 1.8e-7 (f32 rounding); one sample off would be ~0.3.
            assert!(worst < 1e-5, "{from} -> {to}: {worst}");
        }
    }

    #[test]
    fn an_odd_context_rate_interpolates_between_filter_phases() {
        // 44 101 Hz: positions repeat only every 16 000 outputs, more phases than are kept.
        let mut rs = StreamResampler::new(44_101, 16_000, Filter::Speech).unwrap();
        let out = run(&mut rs, &tone(44_101, 1_000.0, 1.0), 128);
        assert!((out.len() as i64 - 16_000 - rs.output_delay() as i64).abs() <= 1);
        let steady = &out[2_000..14_000];
        assert!((rms(steady) - 0.5 / 2f32.sqrt()).abs() < 0.01);
    }
}
