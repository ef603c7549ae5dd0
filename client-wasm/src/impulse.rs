//! Impulsive sounds: is the recent audio's energy packed into a few milliseconds?
//!
//! A click, a knock or a tap on the microphone can score as speech for a VAD frame or two. Speech
//! builds up over tens of milliseconds; an impulse is over in a few. [`ImpulseDetector`] keeps
//! the energy of the last [`WINDOW_MS`] in 2 ms blocks and calls the audio impulsive when one
//! [`BURST_MS`] stretch holds at least [`BURST_SHARE`] of it and the latest [`BURST_MS`] have
//! fallen to [`DECAYED`] of that burst (a voice starting has its energy at the end of the window,
//! where a click's has gone). earshot scores a click one or two frames after it (measured:
//! 0.54-0.58), by when it has decayed. The turn detector then asks for
//! more speech before it opens a turn (`TurnConfig::min_impulsive_speech_ms`), so a click
//! cannot open one, while an onset that is not impulsive opens a turn on its first speech frame.

/// Samples per energy block at 16 kHz (2 ms).
const BLOCK: usize = 32;
/// How far back the check looks, in ms: the VAD's score of a click can come up to three frames
/// after it.
pub const WINDOW_MS: usize = 64;
/// The stretch an impulse fits in, in ms.
pub const BURST_MS: usize = 8;
/// Share of the window's energy in one burst that makes it impulsive.
pub const BURST_SHARE: f32 = 0.6;
/// The latest [`BURST_MS`] hold at most this share of the burst's energy: it is over.
pub const DECAYED: f32 = 0.1;

const BLOCKS: usize = WINDOW_MS / 2;
const BURST_BLOCKS: usize = BURST_MS / 2;

/// Tracks the energy of the recent audio, one VAD frame at a time.
#[derive(Debug, Clone)]
pub struct ImpulseDetector {
    /// Energy per 2 ms block, oldest first.
    blocks: [f32; BLOCKS],
}

impl Default for ImpulseDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl ImpulseDetector {
    pub fn new() -> Self {
        Self {
            blocks: [0.0; BLOCKS],
        }
    }

    /// Takes the next frame of 16 kHz audio (the VAD's 16 ms, 256 samples; whole 2 ms blocks
    /// count); true when the last [`WINDOW_MS`] are impulsive.
    pub fn push_frame(&mut self, frame: &[f32]) -> bool {
        let n = (frame.len() / BLOCK).min(BLOCKS);
        self.blocks.copy_within(n.., 0);
        for (i, block) in frame.chunks(BLOCK).take(n).enumerate() {
            self.blocks[BLOCKS - n + i] = block.iter().map(|s| s * s).sum();
        }
        self.is_impulsive()
    }

    /// Whether the last [`WINDOW_MS`] are impulsive.
    pub fn is_impulsive(&self) -> bool {
        let total: f32 = self.blocks.iter().sum();
        if total <= 1e-9 {
            return false;
        }
        let loudest = self
            .blocks
            .windows(BURST_BLOCKS)
            .map(|w| w.iter().sum::<f32>())
            .fold(0.0f32, f32::max);
        let latest: f32 = self.blocks[BLOCKS - BURST_BLOCKS..].iter().sum();
        loudest >= BURST_SHARE * total && latest <= DECAYED * loudest
    }

    pub fn reset(&mut self) {
        self.blocks = [0.0; BLOCKS];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vad::VAD_FRAME_SAMPLES;

    fn frames(signal: &[f32]) -> Vec<bool> {
        let mut d = ImpulseDetector::new();
        signal
            .chunks(VAD_FRAME_SAMPLES)
            .map(|f| d.push_frame(f))
            .collect()
    }

    #[test]
    fn a_click_is_impulsive_once_over_until_it_leaves_the_window() {
        let mut signal = vec![0.0f32; 16 * VAD_FRAME_SAMPLES];
        // A 5 ms pulse in frame 4, over a faint noise floor.
        for (i, s) in signal.iter_mut().enumerate() {
            *s = 1e-4 * ((i * 7919 % 101) as f32 / 50.0 - 1.0);
        }
        signal[4 * 256 + 100..4 * 256 + 180].fill(0.9);
        let flags = frames(&signal);
        // Its own frame ends while it still rings (the pulse reaches into its last 8 ms); the
        // next three frames see it over; then it leaves the 64 ms window.
        assert_eq!(&flags[..5], &[false; 5], "{flags:?}");
        assert_eq!(&flags[5..8], &[true; 3], "{flags:?}");
        assert_eq!(&flags[8..], &[false; 8], "{flags:?}");
    }

    #[test]
    fn a_voice_building_up_is_not_impulsive() {
        // A 150 Hz buzz fading in over 30 ms, as a vowel starts.
        let signal: Vec<f32> = (0..8 * VAD_FRAME_SAMPLES)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                let onset = (t - 0.05).clamp(0.0, 0.03) / 0.03;
                onset * 0.3 * (std::f32::consts::TAU * 150.0 * t).sin()
            })
            .collect();
        assert!(frames(&signal).iter().all(|&f| !f));
    }

    #[test]
    fn silence_is_not_impulsive() {
        assert!(frames(&[0.0; 4 * VAD_FRAME_SAMPLES]).iter().all(|&f| !f));
    }

    #[test]
    fn a_voice_right_after_a_click_is_not_held_back() {
        // A click, then a voice 20 ms later: the voice's latest 8 ms hold more than a tenth of
        // the click's energy, so the click does not make the voice impulsive.
        let mut signal: Vec<f32> = (0..10 * VAD_FRAME_SAMPLES)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                if t >= 0.1 {
                    0.5 * (std::f32::consts::TAU * 150.0 * t).sin()
                } else {
                    0.0
                }
            })
            .collect();
        signal[1_280..1_360].fill(0.9); // 80 ms
        let flags = frames(&signal);
        assert!(flags[5], "the click alone: {flags:?}");
        assert!(flags[6..].iter().all(|&f| !f), "{flags:?}");
    }
}
