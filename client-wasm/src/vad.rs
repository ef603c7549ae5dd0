//! Voice activity detection: a speech probability for every 16 ms frame of 16 kHz audio.
//!
//! Two models: earshot's (pure Rust, ~40 KB of weights built in, 16 ms frames) is always there;
//! Silero v6 ([`crate::silero`], weights loaded on demand, 32 ms chunks) takes over once it is
//! given ([`Vad::set_network`]). This module cuts the stream into 256-sample frames, sanitises
//! samples (clipping, NaN), and hands each frame's probability on together with the frame's
//! samples, its time, and whether the audio up to it is impulsive (a click: [`crate::impulse`]).
//!
//! Silero decides every second frame, over the 512 samples ending with it; the frame between
//! keeps the last decision (sample and hold: causal, never waiting for audio that has not come).
//! With [`Blend::Fused`] a second stream of the same network, one frame behind, decides on the
//! frames between, so every frame has a fresh decision (each stream still sees 512-sample hops,
//! as the network was trained). Until the first decision, earshot's probability stands in.

use crate::impulse::ImpulseDetector;
use crate::silero::{self, Silero};

/// Samples per VAD frame at 16 kHz.
pub const VAD_FRAME_SAMPLES: usize = 256;
/// Milliseconds per VAD frame.
pub const VAD_FRAME_MS: u32 = 16;

/// One VAD decision.
#[derive(Debug, Clone, Copy)]
pub struct VadFrame<'a> {
    /// Index of the frame since the stream began (frame `i` covers `i*16 .. i*16+16` ms).
    pub index: u64,
    /// Probability that the frame holds speech, in [0, 1], from the model in charge.
    pub probability: f32,
    /// earshot's probability for the frame (run every frame, whichever model is in charge).
    pub earshot: f32,
    /// The frame's 16 kHz samples.
    pub samples: &'a [f32],
    /// The last 64 ms, up to the end of this frame, were an impulse (a click, a knock).
    pub impulsive: bool,
}

impl VadFrame<'_> {
    pub fn start_ms(&self) -> u64 {
        self.index * u64::from(VAD_FRAME_MS)
    }
    pub fn end_ms(&self) -> u64 {
        self.start_ms() + u64::from(VAD_FRAME_MS)
    }
}

/// How a loaded Silero network's probability is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blend {
    /// Silero's probability alone (one stream, a decision every 32 ms held for two frames).
    Silero,
    /// Silero alone, two streams staggered by a frame: a fresh decision every 16 ms.
    SileroStaggered,
    /// The mean of Silero's and earshot's (kept for the benchmark's comparison).
    MeanWithEarshot,
    /// Silero (two staggered streams, as [`Blend::SileroStaggered`]): its log-odds plus
    /// [`FUSED_EARSHOT_WEIGHT`] times earshot's, plus [`FUSED_BIAS`], back to a probability: earshot adds its evidence where Silero is unsure, and cannot
    /// outvote a confident Silero. What the worklet and `aura-vad --vad combined` use.
    Fused,
}

/// Weight of earshot's log-odds in [`Blend::Fused`] (Silero's weighs 1). Chosen on the
/// benchmark's tuning half (`vad_accuracy`: files 01, 04, 05, 08, 09, ... of the dev set, i.e. index % 4 in {0, 3}, and the first
/// half of each noise); the held-out half is reported beside it.
pub const FUSED_EARSHOT_WEIGHT: f32 = 0.5;
/// Bias of [`Blend::Fused`] in log-odds: -0.4 puts the turn detector's start threshold 0.5 where
/// the unbiased sum reaches 0.6, which keeps false starts on noise alone at Silero's.
pub const FUSED_BIAS: f32 = -0.4;

/// [`Blend::Fused`]'s probability from Silero's and earshot's.
pub fn fused(silero: f32, earshot: f32) -> f32 {
    let z = log_odds(silero) + FUSED_EARSHOT_WEIGHT * log_odds(earshot) + FUSED_BIAS;
    1.0 / (1.0 + (-z).exp())
}

/// ln(p / (1 - p)), with p kept within [1e-4, 1 - 1e-4] so that a model's 0 or 1 stays finite.
fn log_odds(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// Streaming VAD over 16 kHz mono audio fed in blocks of any size.
pub struct Vad {
    detector: Box<earshot::Detector>,
    network: Option<(Box<Silero>, Blend)>,
    /// The staggered second stream ([`Blend::SileroStaggered`], [`Blend::Fused`]).
    staggered: Option<Box<Silero>>,
    /// The first frame the network sees (the start of a frame pair).
    network_from: u64,
    /// The last two frames' samples, the older first.
    chunk: [f32; silero::CHUNK],
    /// Silero's latest probability, once it has decided.
    held: Option<f32>,
    impulse: ImpulseDetector,
    pending: [f32; VAD_FRAME_SAMPLES],
    filled: usize,
    frames: u64,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad").field("frames", &self.frames).finish()
    }
}

impl Default for Vad {
    fn default() -> Self {
        Self::new()
    }
}

impl Vad {
    pub fn new() -> Self {
        Self {
            detector: earshot::Detector::default_boxed(),
            network: None,
            staggered: None,
            network_from: 0,
            chunk: [0.0; silero::CHUNK],
            held: None,
            impulse: ImpulseDetector::new(),
            pending: [0.0; VAD_FRAME_SAMPLES],
            filled: 0,
            frames: 0,
        }
    }

    /// Adds 16 kHz samples; calls `on_frame` for every complete frame, in order.
    pub fn process(&mut self, samples: &[f32], mut on_frame: impl FnMut(VadFrame<'_>)) {
        for &s in samples {
            // The model expects [-1, 1]; NaN (a broken source) counts as silence.
            self.pending[self.filled] = if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) };
            self.filled += 1;
            if self.filled == VAD_FRAME_SAMPLES {
                self.filled = 0;
                let earshot = self.detector.predict_f32(&self.pending).clamp(0.0, 1.0);
                let probability = self.probability(earshot);
                let impulsive = self.impulse.push_frame(&self.pending);
                on_frame(VadFrame {
                    index: self.frames,
                    probability,
                    earshot,
                    samples: &self.pending,
                    impulsive,
                });
                self.frames += 1;
            }
        }
    }

    /// Uses `network` from the next frame pair on (its state starts fresh).
    pub fn set_network(&mut self, network: Silero, blend: Blend) {
        self.staggered = matches!(blend, Blend::SileroStaggered | Blend::Fused)
            .then(|| Box::new(network.another_stream()));
        self.network = Some((Box::new(network), blend));
        self.network_from = self.frames.next_multiple_of(2);
        self.held = None;
    }

    /// Which network decides: `None` while only earshot does.
    pub fn blend(&self) -> Option<Blend> {
        self.network.as_ref().map(|(_, b)| *b)
    }

    /// The probability of the frame in `pending`, given earshot's for it.
    fn probability(&mut self, earshot: f32) -> f32 {
        // The last two frames, kept whichever model decides (the staggered stream's first
        // chunk after the network arrives ends with the frame before).
        self.chunk.copy_within(VAD_FRAME_SAMPLES.., 0);
        self.chunk[VAD_FRAME_SAMPLES..].copy_from_slice(&self.pending);
        let Some((net, blend)) = self
            .network
            .as_mut()
            .filter(|_| self.frames >= self.network_from)
        else {
            return earshot;
        };
        // The first stream's chunks are frame pairs aligned to the stream (even frame, odd
        // frame); the staggered one's end on the even frames.
        if self.frames % 2 == 1 {
            self.held = Some(net.predict(&self.chunk));
        } else if let Some(other) = &mut self.staggered {
            self.held = Some(other.predict(&self.chunk));
        }
        match (self.held, *blend) {
            (Some(p), Blend::Silero | Blend::SileroStaggered) => p,
            (Some(p), Blend::MeanWithEarshot) => 0.5 * (p + earshot),
            (Some(p), Blend::Fused) => fused(p, earshot),
            (None, _) => earshot,
        }
    }

    /// Frames decided so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Starts a new stream: forgets the model state, the partial frame and the frame count.
    pub fn reset(&mut self) {
        self.detector.reset();
        if let Some((net, _)) = &mut self.network {
            net.reset();
        }
        if let Some(other) = &mut self.staggered {
            other.reset();
        }
        self.chunk = [0.0; silero::CHUNK];
        self.network_from = 0;
        self.held = None;
        self.impulse.reset();
        self.filled = 0;
        self.frames = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probabilities(samples: &[f32]) -> Vec<f32> {
        let mut vad = Vad::new();
        let mut out = Vec::new();
        for block in samples.chunks(100) {
            vad.process(block, |f| out.push(f.probability));
        }
        out
    }

    #[test]
    fn frames_are_16_ms_and_numbered_in_order() {
        let mut vad = Vad::new();
        let mut seen = Vec::new();
        vad.process(&vec![0.0; 1_000], |f| {
            seen.push((f.index, f.start_ms(), f.samples.len()))
        });
        assert_eq!(seen, vec![(0, 0, 256), (1, 16, 256), (2, 32, 256)]);
        assert_eq!(vad.frames(), 3);
    }

    #[test]
    fn silence_and_garbage_give_valid_low_probabilities() {
        for input in [
            vec![0.0f32; 16_000],
            vec![f32::NAN; 16_000],
            vec![5.0; 16_000],
        ] {
            let p = probabilities(&input);
            assert_eq!(p.len(), 62);
            assert!(p.iter().all(|p| (0.0..=1.0).contains(p)), "{p:?}");
        }
        // Digital silence must count as silence for the turn detector's default hysteresis.
        let stop = crate::turn::TurnConfig::default().stop_threshold;
        let silence = probabilities(&vec![0.0; 16_000]);
        assert!(silence.iter().all(|&p| p < stop), "{silence:?}");
    }

    #[test]
    fn reset_makes_the_same_input_give_the_same_output() {
        let noise: Vec<f32> = (0..8_000)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.2)
            .collect();
        let mut vad = Vad::new();
        let mut a = Vec::new();
        vad.process(&noise, |f| a.push(f.probability));
        vad.reset();
        let mut b = Vec::new();
        vad.process(&noise, |f| b.push((f.index, f.probability)));
        assert_eq!(b[0].0, 0);
        assert_eq!(a, b.iter().map(|x| x.1).collect::<Vec<_>>());
    }

    fn network() -> Silero {
        Silero::new(
            crate::silero::weights::Weights::parse(&crate::silero::weights::uniform_file(0.001))
                .unwrap(),
        )
    }

    #[test]
    fn silero_decides_every_second_frame_and_holds_between() {
        let noise: Vec<f32> = (0..256 * 6)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.2)
            .collect();
        let mut earshot = Vec::new();
        Vad::new().process(&noise, |f| earshot.push(f.probability));

        let mut vad = Vad::new();
        vad.set_network(network(), Blend::Silero);
        let mut p = Vec::new();
        vad.process(&noise, |f| p.push(f.probability));
        let mut net = network();
        let expected: Vec<f32> = noise
            .chunks(512)
            .map(|c| net.predict(c.try_into().unwrap()))
            .collect();
        // Frame 0: earshot stands in; then each decision is held for the next frame.
        assert_eq!(p[0], earshot[0]);
        assert_eq!(
            &p[1..],
            &[
                expected[0],
                expected[0],
                expected[1],
                expected[1],
                expected[2]
            ]
        );

        let mut mean = Vad::new();
        mean.set_network(network(), Blend::MeanWithEarshot);
        let mut m = Vec::new();
        mean.process(&noise, |f| m.push(f.probability));
        assert_eq!(m[1], 0.5 * (expected[0] + earshot[1]));

        // Fused: the staggered stream decides on the even frames, over the frame before (zeros
        // at the start) and this one; the first stream on the odd frames as above.
        let mut other = network();
        let mut delayed = vec![0.0; VAD_FRAME_SAMPLES];
        delayed.extend_from_slice(&noise[..256 * 5]);
        let staggered: Vec<f32> = delayed
            .chunks(512)
            .map(|c| other.predict(c.try_into().unwrap()))
            .collect();
        for blend in [Blend::SileroStaggered, Blend::Fused] {
            let mut vad = Vad::new();
            vad.set_network(network(), blend);
            let mut f = Vec::new();
            vad.process(&noise, |fr| f.push(fr.probability));
            let silero = [
                staggered[0],
                expected[0],
                staggered[1],
                expected[1],
                staggered[2],
                expected[2],
            ];
            let want: Vec<f32> = match blend {
                Blend::Fused => silero
                    .iter()
                    .zip(&earshot)
                    .map(|(&s, &e)| fused(s, e))
                    .collect(),
                _ => silero.to_vec(),
            };
            assert_eq!(f, want, "{blend:?}");
        }
    }

    #[test]
    fn fusion_adds_earshot_evidence_without_outvoting_a_confident_silero() {
        // Both unsure: the bias keeps it below the start threshold.
        assert!(fused(0.5, 0.5) < 0.5);
        // earshot moves an unsure Silero either way.
        assert!(fused(0.6, 0.95) > 0.7);
        assert!(fused(0.6, 0.05) < 0.3);
        // A confident Silero stays on its side whatever earshot says.
        assert!(fused(0.99, 0.01) > 0.5);
        assert!(fused(0.01, 0.99) < 0.3);
        // Saturated inputs stay finite and in range.
        for (s, e) in [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)] {
            assert!((0.0..=1.0).contains(&fused(s, e)), "{s} {e}");
        }
    }

    #[test]
    fn a_network_given_mid_pair_starts_at_the_next_pair_and_reset_restarts_it() {
        let noise: Vec<f32> = (0..256 * 5)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.2)
            .collect();
        let mut earshot = Vec::new();
        Vad::new().process(&noise, |f| earshot.push(f.probability));
        let mut vad = Vad::new();
        let mut p = Vec::new();
        vad.process(&noise[..256], |f| p.push(f.probability));
        vad.set_network(network(), Blend::Silero);
        assert_eq!(vad.blend(), Some(Blend::Silero));
        vad.process(&noise[256..], |f| p.push(f.probability));
        let mut net = network();
        let first = net.predict(noise[512..1024].try_into().unwrap());
        assert_eq!(&p[..3], &earshot[..3]);
        assert_eq!(p[3], first);
        vad.reset();
        let mut again = Vec::new();
        vad.process(&noise[..512], |f| again.push(f.probability));
        assert_eq!(again[0], earshot[0]);
        assert_eq!(
            again[1],
            network().predict(noise[..512].try_into().unwrap())
        );
    }
}
