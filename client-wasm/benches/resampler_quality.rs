//! Quality of the capture resampler (the browser's StreamResampler fed 128-sample quanta), as JSON.
//!
//! For 48 kHz and 44.1 kHz -> 16 kHz:
//! - passband: gain of tones from 100 Hz to 7 kHz (ripple = max - min, in dB);
//! - stopband: level of a 10 kHz tone after conversion (it would alias to 6 or 4.1 kHz), in dB;
//! - SNR of a 1 kHz tone and of a 100 Hz - 7 kHz log sweep: power of what is not the tone,
//!   after a least-squares fit of the tone's amplitude and phase (block-wise for the sweep), so
//!   gain ripple is not counted as noise (it is reported as ripple).
//!
//! `cargo bench -p aura-client --bench resampler_quality`. Targets: ripple <= 0.2 dB,
//! 10 kHz <= -100 dB, SNR >= 120 dB.

use std::f64::consts::TAU;

use aura_client::resample::{Filter, StreamResampler};

const OUT: f64 = 16_000.0;

fn main() {
    let mut rows = Vec::new();
    for rate in [48_000u32, 44_100] {
        let mut gains = Vec::new();
        let mut f = 100.0;
        while f <= 7_000.0 {
            let out = convert(rate, &tone(rate, f, 0.5, 0.5));
            let (amp, _) = fit(&steady(&out), f, 0.0);
            gains.push(20.0 * (amp / 0.5).log10());
            f += 100.0;
        }
        let ripple = gains.iter().cloned().fold(f64::MIN, f64::max)
            - gains.iter().cloned().fold(f64::MAX, f64::min);

        let stop = convert(rate, &tone(rate, 10_000.0, 0.5, 1.0));
        let stop_db = 20.0 * (rms(&steady(&stop)) / (0.5 / 2f64.sqrt())).log10();

        let one_k = convert(rate, &tone(rate, 1_000.0, 0.5, 1.0));
        let (_, snr_tone) = fit(&steady(&one_k), 1_000.0, 0.0);

        let (sweep_in, phase) = sweep(rate, 100.0, 7_000.0, 0.5, 4.0);
        let sweep_out = convert(rate, &sweep_in);
        // A constant sub-sample delay is latency, not noise: fit it first (coarse, then fine).
        let snr_at = |d: f64| {
            let phases: Vec<f64> = (0..sweep_out.len())
                .map(|i| phase((i as f64 - d) / OUT))
                .collect();
            sweep_snr(&sweep_out, &phases)
        };
        let best = |from: f64, step: f64, n: i32| {
            (0..=n)
                .map(|i| from + f64::from(i) * step)
                .max_by(|a, b| snr_at(*a).total_cmp(&snr_at(*b)))
                .unwrap()
        };
        // Within +-3 samples (the polyphase converter has none; rubato, used for odd rates,
        // reports its delay rounded to whole output samples).
        let coarse = best(-3.0, 0.05, 120);
        let delay = best(coarse - 0.05, 0.002, 50);
        let snr_sweep = snr_at(delay);

        let rs = StreamResampler::new(rate, 16_000, Filter::Speech).unwrap();
        rows.push(format!(
            "{{\"from_hz\":{rate},\"to_hz\":16000,\"chunk_in\":{},\"latency_ms\":{:.1},\"passband_ripple_db_to_7k\":{ripple:.4},\"passband_gain_db_min\":{:.4},\"tone_10k_db\":{stop_db:.1},\"snr_1k_db\":{snr_tone:.1},\"snr_sweep_db\":{snr_sweep:.1},\"sweep_fractional_delay_samples\":{delay:.3}}}",
            rs.chunk_len(),
            rs.latency_ms(),
            gains.iter().cloned().fold(f64::MAX, f64::min),
        ));
    }
    println!(
        "{{\"benchmark\":\"resampler_quality\",\"targets\":{{\"ripple_db\":0.2,\"tone_10k_db\":-100,\"snr_db\":120}},\"results\":[{}]}}",
        rows.join(",")
    );
}

fn tone(rate: u32, hz: f64, amp: f64, secs: f64) -> Vec<f32> {
    (0..(f64::from(rate) * secs) as usize)
        .map(|i| (amp * (TAU * hz * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// A log sweep and its phase as a function of time.
fn sweep(rate: u32, f0: f64, f1: f64, amp: f64, secs: f64) -> (Vec<f32>, impl Fn(f64) -> f64) {
    let k = (f1 / f0).ln() / secs;
    let phase = move |t: f64| TAU * f0 * ((k * t).exp() - 1.0) / k;
    let input = (0..(f64::from(rate) * secs) as usize)
        .map(|i| (amp * phase(i as f64 / f64::from(rate)).sin()) as f32)
        .collect();
    (input, phase)
}

/// The signal at 16 kHz, as the capture path produces it, delay removed.
fn convert(rate: u32, input: &[f32]) -> Vec<f64> {
    let mut rs = StreamResampler::new(rate, 16_000, Filter::Speech).unwrap();
    let mut out = Vec::new();
    for q in input.chunks(128) {
        rs.process(q, |o| out.extend(o.iter().map(|&s| f64::from(s))));
    }
    let delay = rs.output_delay();
    rs.flush(|o| out.extend(o.iter().map(|&s| f64::from(s))));
    out.into_iter().skip(delay).collect()
}

/// Skips the edges, where the stream starts and stops.
fn steady(x: &[f64]) -> Vec<f64> {
    x[x.len() / 8..x.len() * 7 / 8].to_vec()
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

/// Least-squares fit of a*sin + b*cos at `hz` (plus DC): returns (amplitude, SNR in dB of the
/// fit against the residual).
fn fit(x: &[f64], hz: f64, t0: f64) -> (f64, f64) {
    let w = TAU * hz / OUT;
    let (mut ss, mut cc, mut sc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (w * (i as f64 + t0)).sin_cos();
        let v = v - mean;
        ss += s * s;
        cc += c * c;
        sc += s * c;
        xs += v * s;
        xc += v * c;
    }
    let det = ss * cc - sc * sc;
    let a = (xs * cc - xc * sc) / det;
    let b = (xc * ss - xs * sc) / det;
    let mut signal = 0.0;
    let mut noise = 0.0;
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (w * (i as f64 + t0)).sin_cos();
        let model = a * s + b * c;
        signal += model * model;
        noise += (v - mean - model).powi(2);
    }
    (
        (a * a + b * b).sqrt(),
        10.0 * (signal / noise.max(1e-300)).log10(),
    )
}

/// SNR of a sweep: in 8 ms blocks, fit amplitude and phase offset of the known sweep; sum the
/// residuals.
fn sweep_snr(out: &[f64], phases: &[f64]) -> f64 {
    let block = 128;
    let (mut signal, mut noise) = (0.0, 0.0);
    let len = out.len().min(phases.len());
    let (from, to) = (len / 8, len * 7 / 8);
    let mut start = from;
    while start + block <= to {
        let x = &out[start..start + block];
        let (_, snr) = fit_chirp(x, &phases[start..start + block]);
        signal += snr.0;
        noise += snr.1;
        start += block;
    }
    10.0 * (signal / noise.max(1e-300)).log10()
}

/// Fits a*sin(phi) + b*cos(phi) for the given phases; returns (fit, (signal power, residual power)).
fn fit_chirp(x: &[f64], phi: &[f64]) -> ((f64, f64), (f64, f64)) {
    let (mut ss, mut cc, mut sc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (&v, &ph) in x.iter().zip(phi) {
        let (s, c) = ph.sin_cos();
        ss += s * s;
        cc += c * c;
        sc += s * c;
        xs += v * s;
        xc += v * c;
    }
    let det = ss * cc - sc * sc;
    let a = (xs * cc - xc * sc) / det;
    let b = (xc * ss - xs * sc) / det;
    let (mut sig, mut res) = (0.0, 0.0);
    for (&v, &ph) in x.iter().zip(phi) {
        let (s, c) = ph.sin_cos();
        let m = a * s + b * c;
        sig += m * m;
        res += (v - m).powi(2);
    }
    ((a, b), (sig, res))
}
