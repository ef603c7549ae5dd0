//! Voice activity detection: a speech probability for every 16 ms frame of 16 kHz audio.
//!
//! The model is earshot's (pure Rust, ~40 KB of weights, no allocation per frame). This module
//! cuts the stream into the model's 256-sample frames, sanitises samples (clipping, NaN), and
//! hands each frame's probability on together with the frame's samples, its time, and whether
//! the audio up to it is impulsive (a click: [`crate::impulse`]).

use crate::impulse::ImpulseDetector;

/// Samples per VAD frame at 16 kHz.
pub const VAD_FRAME_SAMPLES: usize = 256;
/// Milliseconds per VAD frame.
pub const VAD_FRAME_MS: u32 = 16;

/// One VAD decision.
#[derive(Debug, Clone, Copy)]
pub struct VadFrame<'a> {
    /// Index of the frame since the stream began (frame `i` covers `i*16 .. i*16+16` ms).
    pub index: u64,
    /// Probability that the frame holds speech, in [0, 1].
    pub probability: f32,
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

/// Streaming VAD over 16 kHz mono audio fed in blocks of any size.
pub struct Vad {
    detector: Box<earshot::Detector>,
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
                let probability = self.detector.predict_f32(&self.pending).clamp(0.0, 1.0);
                let impulsive = self.impulse.push_frame(&self.pending);
                on_frame(VadFrame {
                    index: self.frames,
                    probability,
                    samples: &self.pending,
                    impulsive,
                });
                self.frames += 1;
            }
        }
    }

    /// Frames decided so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Starts a new stream: forgets the model state, the partial frame and the frame count.
    pub fn reset(&mut self) {
        self.detector.reset();
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
}
