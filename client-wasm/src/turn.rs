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
//!
//! Who ends a turn is [`EndOfTurn`]. `Client` (protocol v1): `end_silence_ms` of silence does.
//! `Edge` (protocol v2): the detector also reports each pause of `pause_silence_ms` once
//! ([`TurnEvent::Paused`]) and speech coming back after it ([`TurnEvent::Resumed`]), and the
//! utterance stays open until the edge commits it ([`TurnDetector::commit`]), or the
//! `fallback_ms` silence or `max_utterance_ms` ends it as in v1. During a pause, frames between
//! the thresholds count as silence (the hysteresis keeps the paused state), so only a frame of
//! speech resumes the utterance.

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
    /// Silence that makes a pause, reported (with `EndOfTurn::Edge`) so the edge can start
    /// working on what was said, in ms. Default 200.
    pub pause_silence_ms: u32,
    /// Who ends a turn. Default `Client`, until the session says otherwise.
    pub end_of_turn: EndOfTurn,
}

/// Who decides that the user's turn is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndOfTurn {
    /// The client: `end_silence_ms` of silence ends the turn (protocol v1). No pauses reported.
    Client,
    /// The edge commits the turn (protocol v2); the client reports pauses and ends the turn on
    /// its own only after `fallback_ms` of silence (the edge's `end_of_turn_fallback_ms`) or at
    /// `max_utterance_ms`.
    Edge { fallback_ms: u32 },
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
            pause_silence_ms: 200,
            end_of_turn: EndOfTurn::Client,
        }
    }
}

/// Why an utterance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `end_silence_ms` of silence (with `EndOfTurn::Edge`, its `fallback_ms`): the user
    /// finished their turn.
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
    /// (`EndOfTurn::Edge`) The utterance that began at `start_ms` paused: `silence_ms` of
    /// silence since the end of its last speech frame at `speech_end_ms`, decided at
    /// `decided_ms`. Reported once per pause; the utterance stays open.
    Paused {
        start_ms: u64,
        speech_end_ms: u64,
        silence_ms: u32,
        decided_ms: u64,
    },
    /// (`EndOfTurn::Edge`) Speech came back at `speech_ms` after a pause of the utterance that
    /// began at `start_ms`; decided at `decided_ms`.
    Resumed {
        start_ms: u64,
        speech_ms: u64,
        decided_ms: u64,
    },
}

/// Where an utterance is in its pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pause {
    /// No pause reported since the utterance began (or since it resumed and paused no more).
    None,
    /// A pause was reported and the silence goes on.
    Paused,
    /// Speech came back at `speech_ms` after a pause.
    Resumed { speech_ms: u64 },
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
        pause: Pause,
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
                pause,
            } => {
                // During a pause, frames between the thresholds keep it paused.
                let quiet = silence || (pause == Pause::Paused && !speech);
                let (last, silence_ms) = if quiet {
                    (last_speech_end_ms, silence_ms + VAD_FRAME_MS)
                } else {
                    (end_ms, 0)
                };
                let end_silence_ms = match c.end_of_turn {
                    EndOfTurn::Client => c.end_silence_ms,
                    EndOfTurn::Edge { fallback_ms } => fallback_ms,
                };
                let reason = if silence_ms >= end_silence_ms {
                    Some(EndReason::Silence)
                } else if end_ms - utt_start >= u64::from(c.max_utterance_ms) {
                    Some(EndReason::MaxLength)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    self.state = if reason == EndReason::MaxLength {
                        State::Cut
                    } else {
                        State::Silent
                    };
                    return Some(TurnEvent::Ended {
                        start_ms: utt_start,
                        end_ms: last,
                        decided_ms: end_ms,
                        reason,
                    });
                }
                let edge = matches!(c.end_of_turn, EndOfTurn::Edge { .. });
                let (pause, event) = match pause {
                    Pause::Paused if !quiet => (
                        Pause::Resumed {
                            speech_ms: start_ms,
                        },
                        Some(TurnEvent::Resumed {
                            start_ms: utt_start,
                            speech_ms: start_ms,
                            decided_ms: end_ms,
                        }),
                    ),
                    Pause::None | Pause::Resumed { .. }
                        if edge && silence_ms >= c.pause_silence_ms =>
                    {
                        (
                            Pause::Paused,
                            Some(TurnEvent::Paused {
                                start_ms: utt_start,
                                speech_end_ms: last,
                                silence_ms,
                                decided_ms: end_ms,
                            }),
                        )
                    }
                    pause => (pause, None),
                };
                self.state = State::Speaking {
                    start_ms: utt_start,
                    last_speech_end_ms: last,
                    silence_ms,
                    pause,
                };
                event
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
                pause: Pause::None,
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
            pause: Pause::None,
        };
    }

    /// Who ends a turn from now on (the session said so); an utterance in progress goes on.
    pub fn set_end_of_turn(&mut self, end_of_turn: EndOfTurn) {
        self.config.end_of_turn = end_of_turn;
    }

    /// The edge committed the utterance in progress at `now_ms`: it ends, and nothing more
    /// of it is reported. If the user was speaking again since its last pause (the commit
    /// crossed their speech on the wire), that speech is a new utterance, begun where it
    /// began: the returned `Started`. Otherwise the next speech opens one as usual.
    pub fn commit(&mut self, now_ms: u64) -> Option<TurnEvent> {
        let state = std::mem::replace(&mut self.state, State::Silent);
        let State::Speaking {
            last_speech_end_ms,
            silence_ms,
            pause: Pause::Resumed { speech_ms },
            ..
        } = state
        else {
            return None;
        };
        self.state = State::Speaking {
            start_ms: speech_ms,
            last_speech_end_ms,
            silence_ms,
            pause: Pause::None,
        };
        Some(TurnEvent::Started {
            start_ms: speech_ms,
            decided_ms: now_ms,
        })
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
                TurnEvent::Paused { .. } | TurnEvent::Resumed { .. } => {
                    unreachable!("no pauses when the client ends the turn")
                }
            }
        }
        assert!(!open);
    }

    fn edge(fallback_ms: u32) -> TurnConfig {
        TurnConfig {
            end_of_turn: EndOfTurn::Edge { fallback_ms },
            ..TurnConfig::default()
        }
    }

    #[test]
    fn with_the_edge_deciding_a_pause_then_speech_keeps_one_utterance() {
        // 20 speech frames, 30 silent (480 ms: a v1 turn would go on too, but pause), 20 speech.
        let p = frames(&[(0.9, 20), (0.0, 30), (0.9, 20), (0.0, 300)]);
        let events = run(edge(4_000), &p);
        assert_eq!(
            events,
            vec![
                TurnEvent::Started {
                    start_ms: 0,
                    decided_ms: 16
                },
                // 13 frames of silence = 208 ms >= 200, after the speech ending at 320.
                TurnEvent::Paused {
                    start_ms: 0,
                    speech_end_ms: 320,
                    silence_ms: 208,
                    decided_ms: 528
                },
                TurnEvent::Resumed {
                    start_ms: 0,
                    speech_ms: 800,
                    decided_ms: 816
                },
                TurnEvent::Paused {
                    start_ms: 0,
                    speech_end_ms: 1_120,
                    silence_ms: 208,
                    decided_ms: 1_328
                },
                // The fallback: 4 s of silence (250 frames = 4 000 ms).
                TurnEvent::Ended {
                    start_ms: 0,
                    end_ms: 1_120,
                    decided_ms: 5_120,
                    reason: EndReason::Silence
                },
            ]
        );
    }

    #[test]
    fn a_pause_longer_than_v1s_end_silence_does_not_end_the_turn_when_the_edge_decides() {
        // 1.5 s pause: v1 ends the turn at 600 ms; v2 only pauses.
        let p = frames(&[(0.9, 20), (0.0, 94), (0.9, 20), (0.0, 40)]);
        let v1 = run(TurnConfig::default(), &p);
        assert_eq!(v1.len(), 4, "v1 makes two turns: {v1:?}");
        let v2 = run(edge(4_000), &p);
        let ended = v2
            .iter()
            .filter(|e| matches!(e, TurnEvent::Ended { .. }))
            .count();
        let paused = v2
            .iter()
            .filter(|e| matches!(e, TurnEvent::Paused { .. }))
            .count();
        // Only the end of the stream ends it (no fallback yet); each pause reported once.
        assert_eq!((ended, paused), (1, 2), "{v2:?}");
        assert!(matches!(
            v2.last(),
            Some(TurnEvent::Ended {
                reason: EndReason::StreamEnd,
                ..
            })
        ));
    }

    #[test]
    fn between_the_thresholds_a_pause_stays_a_pause() {
        // 0.4 after a pause is neither speech nor a resume: the silence goes on and ends it.
        let p = frames(&[(0.9, 20), (0.0, 13), (0.4, 60)]);
        let events = run(edge(800), &p);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, TurnEvent::Resumed { .. })),
            "{events:?}"
        );
        assert!(matches!(
            events.last(),
            Some(TurnEvent::Ended {
                end_ms: 320,
                reason: EndReason::Silence,
                ..
            })
        ));
    }

    #[test]
    fn a_commit_ends_the_utterance_and_the_next_speech_opens_another() {
        let mut turn = TurnDetector::new(edge(4_000));
        let mut at = 0;
        let mut push = |turn: &mut TurnDetector, p: f32, n: usize| {
            let mut out = Vec::new();
            for _ in 0..n {
                out.extend(turn.push(at, p, false));
                at += 16;
            }
            out
        };
        assert_eq!(push(&mut turn, 0.9, 20).len(), 1);
        assert_eq!(push(&mut turn, 0.0, 20).len(), 1, "paused");
        assert_eq!(
            turn.commit(640),
            None,
            "silent at the commit: nothing opens"
        );
        assert!(!turn.in_utterance());
        // Silence after the commit: no fallback end, nothing at all.
        assert_eq!(push(&mut turn, 0.0, 300), vec![]);
        assert_eq!(
            push(&mut turn, 0.9, 1),
            vec![TurnEvent::Started {
                start_ms: 5_440,
                decided_ms: 5_456
            }]
        );
    }

    #[test]
    fn speech_the_commit_crossed_is_a_new_utterance_from_where_it_began() {
        let mut turn = TurnDetector::new(edge(4_000));
        let probs = frames(&[(0.9, 20), (0.0, 20), (0.9, 10)]);
        let events: Vec<_> = probs
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| turn.push(i as u64 * 16, p, false))
            .collect();
        assert!(matches!(
            events.last(),
            Some(TurnEvent::Resumed { speech_ms: 640, .. })
        ));
        // The commit of the first part arrives while the user speaks on.
        assert_eq!(
            turn.commit(800),
            Some(TurnEvent::Started {
                start_ms: 640,
                decided_ms: 800
            })
        );
        assert!(turn.in_utterance());
        // The new utterance pauses and ends on its own.
        let rest: Vec<_> = (50..400)
            .filter_map(|i| turn.push(i * 16, 0.0, false))
            .collect();
        assert!(
            matches!(
                rest[0],
                TurnEvent::Paused {
                    start_ms: 640,
                    speech_end_ms: 800,
                    ..
                }
            ),
            "{rest:?}"
        );
        assert!(matches!(
            rest[1],
            TurnEvent::Ended {
                start_ms: 640,
                reason: EndReason::Silence,
                ..
            }
        ));
    }

    #[test]
    fn max_length_still_ends_a_turn_when_the_edge_decides() {
        let config = TurnConfig {
            max_utterance_ms: 1_600,
            ..edge(4_000)
        };
        let events = run(config, &frames(&[(0.9, 125), (0.0, 20)]));
        assert!(
            matches!(
                events[1],
                TurnEvent::Ended {
                    end_ms: 1_600,
                    reason: EndReason::MaxLength,
                    ..
                }
            ),
            "{events:?}"
        );
        assert_eq!(events.len(), 2, "{events:?}");
    }

    #[test]
    fn switching_to_the_edge_mid_utterance_keeps_it_open() {
        let mut turn = TurnDetector::new(TurnConfig::default());
        assert!(turn.push(0, 0.9, false).is_some());
        turn.set_end_of_turn(EndOfTurn::Edge { fallback_ms: 4_000 });
        let events: Vec<_> = (1..100)
            .filter_map(|i| turn.push(i * 16, 0.0, false))
            .collect();
        assert!(
            matches!(events[..], [TurnEvent::Paused { .. }]),
            "{events:?}"
        );
        assert!(turn.in_utterance());
    }
}
