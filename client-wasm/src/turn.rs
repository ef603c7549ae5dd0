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
    /// working on what was said, in ms. Default 160 (ten VAD frames): short enough that the
    /// edge's work on a finished question fits in the silence it waits anyway.
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
            pause_silence_ms: 160,
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
mod tests;
