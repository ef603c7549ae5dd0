//! Turn-taking: turns the VAD's per-frame probabilities into utterances.
//!
//! A state machine with hysteresis. A frame at or above `start_threshold` counts as speech; one
//! below `stop_threshold` counts as silence; frames in between keep the current state. An
//! utterance starts once `min_speech_ms` of speech has accumulated, or `min_impulsive_speech_ms`
//! when the audio around the onset was impulsive (a click, see [`crate::impulse`]); its start
//! is dated back to the first speech frame. It ends after `end_silence_ms` of continuous silence
//! (its end is the end of the last speech frame) or when it reaches `max_utterance_ms`. After
//! an utterance that reached `max_utterance_ms`, the next one starts only after a frame of
//! silence: sound that never pauses (music, a television) makes one long utterance, not one
//! every `max_utterance_ms`, while a person talking on pauses within a few frames.

use crate::vad::VAD_FRAME_MS;

/// Turn-taking parameters. The defaults are tuned on the VAD benchmark (see the README of
/// `client-wasm`) and close to what other voice systems ship.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnConfig {
    /// Probability at or above which a frame is speech. Default 0.5.
    pub start_threshold: f32,
    /// Probability below which a frame is silence. Default 0.3.
    pub stop_threshold: f32,
    /// Speech needed before an utterance starts, in ms. Default 16: the first speech frame.
    pub min_speech_ms: u32,
    /// Speech needed instead when a frame of the onset was impulsive (a click or a knock that
    /// the VAD scores as speech for a frame or two), in ms. Default 48 (three frames).
    pub min_impulsive_speech_ms: u32,
    /// Silence that ends the turn, in ms. Default 600.
    pub end_silence_ms: u32,
    /// Audio kept from before the detected start, so the first syllable is never cut, in ms.
    /// Default 300. (Used by the capture pipeline; the state machine only reports it.)
    pub pre_speech_pad_ms: u32,
    /// Longest utterance; one that reaches it ends, and the next begins after a frame of
    /// silence, in ms. Default 30 000.
    pub max_utterance_ms: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            start_threshold: 0.5,
            stop_threshold: 0.3,
            min_speech_ms: 16,
            min_impulsive_speech_ms: 48,
            end_silence_ms: 600,
            pre_speech_pad_ms: 300,
            max_utterance_ms: 30_000,
        }
    }
}

/// Why an utterance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `end_silence_ms` of silence: the user finished their turn.
    Silence,
    /// The utterance reached `max_utterance_ms`.
    MaxLength,
    /// The stream ended (`finish`).
    StreamEnd,
}

/// What the state machine reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEvent {
    /// An utterance began at `start_ms`; it was confirmed at `decided_ms` (the end of the
    /// frame that completed the minimum speech).
    Started { start_ms: u64, decided_ms: u64 },
    /// The utterance that began at `start_ms` ended at `end_ms` (end of its last speech frame);
    /// this was decided at `decided_ms`.
    Ended {
        start_ms: u64,
        end_ms: u64,
        decided_ms: u64,
        reason: EndReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Silent,
    /// Speech heard but not yet the minimum of it; `impulsive` if any of its frames was.
    Onset {
        start_ms: u64,
        speech_ms: u32,
        impulsive: bool,
    },
    Speaking {
        start_ms: u64,
        last_speech_end_ms: u64,
        silence_ms: u32,
    },
    /// An utterance reached `max_utterance_ms`: waiting for a frame of silence.
    Cut,
}

/// The turn-taking state machine. Feed it one probability (and the impulse check) per VAD
/// frame.
#[derive(Debug, Clone)]
pub struct TurnDetector {
    config: TurnConfig,
    state: State,
}

impl TurnDetector {
    pub fn new(config: TurnConfig) -> Self {
        Self {
            config,
            state: State::Silent,
        }
    }

    pub fn config(&self) -> &TurnConfig {
        &self.config
    }

    /// True while an utterance is in progress.
    pub fn in_utterance(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// Takes the probability of the frame that covers `start_ms .. start_ms + 16`, and whether
    /// the audio up to its end was impulsive ([`crate::vad::VadFrame::impulsive`]).
    pub fn push(&mut self, start_ms: u64, probability: f32, impulsive: bool) -> Option<TurnEvent> {
        let c = self.config;
        let end_ms = start_ms + u64::from(VAD_FRAME_MS);
        let speech = probability >= c.start_threshold;
        let silence = probability < c.stop_threshold;
        match self.state {
            State::Silent => {
                if speech {
                    self.state = State::Onset {
                        start_ms,
                        speech_ms: 0,
                        impulsive,
                    };
                    return self.push_onset(end_ms, impulsive);
                }
                None
            }
            State::Cut => {
                if silence {
                    self.state = State::Silent;
                }
                None
            }
            State::Onset { .. } if silence => {
                self.state = State::Silent;
                None
            }
            State::Onset { .. } if speech => self.push_onset(end_ms, impulsive),
            State::Onset { .. } => None,
            State::Speaking {
                start_ms: utt_start,
                last_speech_end_ms,
                silence_ms,
            } => {
                let (last, silence_ms) = if silence {
                    (last_speech_end_ms, silence_ms + VAD_FRAME_MS)
                } else {
                    (end_ms, 0)
                };
                let reason = if silence_ms >= c.end_silence_ms {
                    Some(EndReason::Silence)
                } else if end_ms - utt_start >= u64::from(c.max_utterance_ms) {
                    Some(EndReason::MaxLength)
                } else {
                    None
                };
                match reason {
                    Some(reason) => {
                        self.state = if reason == EndReason::MaxLength {
                            State::Cut
                        } else {
                            State::Silent
                        };
                        Some(TurnEvent::Ended {
                            start_ms: utt_start,
                            end_ms: last,
                            decided_ms: end_ms,
                            reason,
                        })
                    }
                    None => {
                        self.state = State::Speaking {
                            start_ms: utt_start,
                            last_speech_end_ms: last,
                            silence_ms,
                        };
                        None
                    }
                }
            }
        }
    }

    fn push_onset(&mut self, end_ms: u64, frame_impulsive: bool) -> Option<TurnEvent> {
        let State::Onset {
            start_ms,
            speech_ms,
            impulsive,
        } = self.state
        else {
            return None;
        };
        let speech_ms = speech_ms + VAD_FRAME_MS;
        let impulsive = impulsive || frame_impulsive;
        let needed = if impulsive {
            self.config
                .min_impulsive_speech_ms
                .max(self.config.min_speech_ms)
        } else {
            self.config.min_speech_ms
        };
        if speech_ms >= needed {
            self.state = State::Speaking {
                start_ms,
                last_speech_end_ms: end_ms,
                silence_ms: 0,
            };
            Some(TurnEvent::Started {
                start_ms,
                decided_ms: end_ms,
            })
        } else {
            self.state = State::Onset {
                start_ms,
                speech_ms,
                impulsive,
            };
            None
        }
    }

    /// Ends the stream: an utterance in progress ends at its last speech frame.
    pub fn finish(&mut self, now_ms: u64) -> Option<TurnEvent> {
        let state = std::mem::replace(&mut self.state, State::Silent);
        match state {
            State::Speaking {
                start_ms,
                last_speech_end_ms,
                ..
            } => Some(TurnEvent::Ended {
                start_ms,
                end_ms: last_speech_end_ms,
                decided_ms: now_ms,
                reason: EndReason::StreamEnd,
            }),
            _ => None,
        }
    }

    /// Opens an utterance that another detector already confirmed (a barge-in), speech having
    /// begun at `start_ms` and lasted until `now_ms`.
    pub fn begin(&mut self, start_ms: u64, now_ms: u64) {
        self.state = State::Speaking {
            start_ms,
            last_speech_end_ms: now_ms,
            silence_ms: 0,
        };
    }

    /// Forgets any utterance in progress.
    pub fn reset(&mut self) {
        self.state = State::Silent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one probability per 16 ms frame and collects the events.
    fn run(config: TurnConfig, probs: &[f32]) -> Vec<TurnEvent> {
        run_impulsive(config, probs, &[])
    }

    /// The same, with the frames in `impulsive` (indices) flagged impulsive.
    fn run_impulsive(config: TurnConfig, probs: &[f32], impulsive: &[usize]) -> Vec<TurnEvent> {
        let mut turn = TurnDetector::new(config);
        let mut events: Vec<TurnEvent> = probs
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| turn.push(i as u64 * 16, p, impulsive.contains(&i)))
            .collect();
        events.extend(turn.finish(probs.len() as u64 * 16));
        events
    }

    fn frames(spec: &[(f32, usize)]) -> Vec<f32> {
        spec.iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .collect()
    }

    #[test]
    fn an_utterance_starts_on_its_first_speech_frame_and_ends_after_the_silence() {
        // 10 silent frames, 50 speech frames (800 ms), 50 silent frames.
        let events = run(
            TurnConfig::default(),
            &frames(&[(0.0, 10), (0.9, 50), (0.0, 50)]),
        );
        assert_eq!(
            events,
            vec![
                TurnEvent::Started {
                    start_ms: 160,
                    decided_ms: 176
                },
                // Last speech frame ends at 960; 600 ms of silence is decided at 1568 (38 frames of 16 ms = 608).
                TurnEvent::Ended {
                    start_ms: 160,
                    end_ms: 960,
                    decided_ms: 1_568,
                    reason: EndReason::Silence
                },
            ]
        );
    }

    #[test]
    fn an_impulsive_onset_needs_three_frames_of_speech() {
        // A click: earshot scores it as speech for a frame or two after it, when the impulse
        // check already sees it over.
        let click = frames(&[(0.0, 5), (0.9, 2), (0.0, 50)]);
        assert_eq!(
            run_impulsive(TurnConfig::default(), &click, &[5, 6]),
            vec![]
        );
        // Impulsive on the first speech frame: held until 48 ms, dated back to the onset.
        let voice = frames(&[(0.0, 5), (0.9, 40), (0.0, 50)]);
        let events = run_impulsive(TurnConfig::default(), &voice, &[5]);
        assert_eq!(
            events[0],
            TurnEvent::Started {
                start_ms: 80,
                decided_ms: 128
            }
        );
    }

    #[test]
    fn a_blip_shorter_than_min_speech_is_ignored() {
        let config = TurnConfig {
            min_speech_ms: 48,
            ..TurnConfig::default()
        };
        assert_eq!(
            run(config, &frames(&[(0.0, 5), (0.9, 2), (0.0, 50)])),
            vec![]
        );
        // Two frames are enough with the default when they are not impulsive.
        assert_eq!(
            run(
                TurnConfig::default(),
                &frames(&[(0.0, 5), (0.9, 2), (0.0, 50)])
            )
            .len(),
            2
        );
    }

    #[test]
    fn pauses_shorter_than_end_silence_keep_one_utterance() {
        let p = frames(&[(0.9, 20), (0.0, 30), (0.9, 20), (0.0, 60)]);
        let events = run(TurnConfig::default(), &p);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(
            events[1],
            TurnEvent::Ended {
                start_ms: 0,
                end_ms: 1_120,
                ..
            }
        ));
    }

    #[test]
    fn hysteresis_keeps_speech_going_between_the_thresholds() {
        // 0.4 is below start (0.5) but not below stop (0.3): it neither starts nor ends speech.
        assert_eq!(run(TurnConfig::default(), &frames(&[(0.4, 100)])), vec![]);
        let events = run(
            TurnConfig::default(),
            &frames(&[(0.9, 10), (0.4, 100), (0.0, 40)]),
        );
        assert!(
            matches!(
                events[1],
                TurnEvent::Ended {
                    end_ms: 1_760,
                    reason: EndReason::Silence,
                    ..
                }
            ),
            "{events:?}"
        );
    }

    #[test]
    fn max_length_cuts_a_monologue_and_the_next_one_starts_after_a_pause() {
        let config = TurnConfig {
            max_utterance_ms: 1_600,
            ..TurnConfig::default()
        };
        // 2.4 s of speech with one silent frame at 2.0 s.
        let events = run(config, &frames(&[(0.9, 125), (0.1, 1), (0.9, 24)]));
        assert!(
            matches!(
                events[1],
                TurnEvent::Ended {
                    start_ms: 0,
                    end_ms: 1_600,
                    reason: EndReason::MaxLength,
                    ..
                }
            ),
            "{events:?}"
        );
        assert_eq!(
            events[2],
            TurnEvent::Started {
                start_ms: 2_016,
                decided_ms: 2_032
            },
            "{events:?}"
        );
        assert!(matches!(
            events.last(),
            Some(TurnEvent::Ended {
                reason: EndReason::StreamEnd,
                end_ms: 2_400,
                ..
            })
        ));
    }

    #[test]
    fn sound_that_never_pauses_makes_one_utterance_not_one_per_max_length() {
        let config = TurnConfig {
            max_utterance_ms: 1_600,
            ..TurnConfig::default()
        };
        let events = run(config, &frames(&[(0.9, 500)]));
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(
            events[1],
            TurnEvent::Ended {
                reason: EndReason::MaxLength,
                ..
            }
        ));
    }

    #[test]
    fn every_started_is_followed_by_exactly_one_ended() {
        let mut seed = 12345u32;
        let probs: Vec<f32> = (0..5_000)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as f32 / 65_536.0
            })
            .collect();
        let events = run(TurnConfig::default(), &probs);
        let mut open = false;
        for e in &events {
            match e {
                TurnEvent::Started { .. } => {
                    assert!(!open);
                    open = true;
                }
                TurnEvent::Ended {
                    start_ms, end_ms, ..
                } => {
                    assert!(open && end_ms > start_ms);
                    open = false;
                }
            }
        }
        assert!(!open);
    }
}
