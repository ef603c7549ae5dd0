//! The end of a spoken turn (protocol v2), sans-IO: from the client's pauses and what the
//! transcript of each reads like, when the user's turn is over, and what may be started
//! before that.
//!
//! At a pause (`input.speech_paused`) the audio so far is transcribed. Its reading (a
//! [`Verdict`], from [`crate::session::end_of_turn`]) sets the silence to wait for before the
//! commit, and whether to start the reply now, speculatively: a turn that reads unfinished
//! waits without one. Speech again (`input.speech_resumed`) drops what was started, and the
//! next pause transcribes the whole utterance again. The commit comes when the wait has
//! passed since the end of speech, at the hard cap at the latest (even with no transcript
//! yet), or at once when the client's own fallback silence ended the utterance
//! (`input.speech_stopped`). The host transcribes, runs the replies and the timer.

use std::collections::VecDeque;

use aura_protocol::TurnMetrics;

pub use crate::session::end_of_turn::FALLBACK_WAIT_MS;
use crate::session::end_of_turn::{EndOfTurnWait, WaitReason};

/// What the transcript of a pause reads like, as the end-of-turn rules judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Silence after the end of speech before the commit, ms.
    pub wait_ms: u32,
    /// Why (`complete`, `neutral`, `unfinished`): for the metrics.
    pub reason: &'static str,
    /// Whether the reply may start now (not for a turn that reads unfinished).
    pub speculate: bool,
}

impl Verdict {
    /// The verdict on `text` from the end-of-turn rules' wait for it: a reply may start now
    /// unless the turn reads unfinished (or nothing was said).
    pub fn from_wait(wait: EndOfTurnWait, text: &str) -> Self {
        Self {
            wait_ms: wait.wait_ms,
            reason: wait.reason.as_str(),
            speculate: wait.reason != WaitReason::Unfinished && !text.trim().is_empty(),
        }
    }
}

/// How a turn's end was decided, for its `response.done` metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndOfTurn {
    /// The silence at which the work that answered began (the pause transcribed).
    pub pause_ms: Option<u32>,
    /// The silence waited for after the end of speech (absent when no pause was reported).
    pub wait_ms: Option<u32>,
    /// `complete`, `neutral`, `unfinished`, `cap`, `fallback` or `client`.
    pub reason: &'static str,
    /// The reply is the one started on the pause.
    pub speculative: bool,
    pub discarded_replies: u32,
    pub speculative_tokens: u64,
}

impl EndOfTurn {
    /// Writes these figures into a turn's metrics.
    pub fn apply(&self, metrics: &mut TurnMetrics) {
        metrics.pause_ms = self.pause_ms;
        metrics.end_of_turn_wait_ms = self.wait_ms;
        metrics.end_of_turn_reason = Some(self.reason.to_string());
        metrics.speculative = self.speculative;
        metrics.discarded_replies = self.discarded_replies;
        metrics.speculative_tokens = u32::try_from(self.speculative_tokens).unwrap_or(u32::MAX);
    }
}

/// What the host is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Transcribe the utterance's audio so far, and report it as pause `pause`.
    Transcribe { pause: u32 },
    /// Start the reply to `text` speculatively (held until the commit); the speech it
    /// answers ended at `speech_end_ms`.
    Speculate {
        pause: u32,
        text: String,
        speech_end_ms: u64,
    },
    /// Drop the speculative reply of pause `pause`, unheard.
    Discard { pause: u32 },
    /// The turn is over: send `turn.committed`. The reply is the speculative one if
    /// `end.speculative`; else one is started on `text`, or, if `None` (no transcript of the
    /// whole utterance), on a transcript of all its audio made now. The speech ended at
    /// `speech_end_ms` if a pause said when.
    Commit {
        text: Option<String>,
        end: EndOfTurn,
        speech_end_ms: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Transcript {
    Pending,
    Read { text: String, verdict: Verdict },
    Failed,
}

#[derive(Debug)]
enum State {
    Speaking,
    Paused {
        pause: u32,
        speech_end_ms: u64,
        silence_ms: u32,
        transcript: Transcript,
        speculating: bool,
    },
    Committed,
}

/// The end of one utterance's turn.
#[derive(Debug)]
pub struct TurnEnd {
    cap_ms: u32,
    state: State,
    pauses: u32,
    discarded: u32,
    speculative_tokens: u64,
    out: VecDeque<Step>,
}

impl TurnEnd {
    /// An utterance whose turn ends at most `cap_ms` after the end of its speech.
    pub fn new(cap_ms: u32) -> Self {
        Self {
            cap_ms,
            state: State::Speaking,
            pauses: 0,
            discarded: 0,
            speculative_tokens: 0,
            out: VecDeque::new(),
        }
    }

    /// The hard cap once the tenant's setting is known (the first pause comes before it).
    pub fn set_cap(&mut self, cap_ms: u32) {
        self.cap_ms = cap_ms;
    }

    pub fn poll_step(&mut self) -> Option<Step> {
        self.out.pop_front()
    }

    pub fn is_committed(&self) -> bool {
        matches!(self.state, State::Committed)
    }

    /// Whether pause `pause` is still the one the turn waits on.
    pub fn is_current(&self, pause: u32) -> bool {
        matches!(self.state, State::Paused { pause: p, .. } if p == pause)
    }

    /// The client heard `silence_ms` of silence at `now`.
    pub fn paused(&mut self, now: u64, silence_ms: u32) {
        if !matches!(self.state, State::Speaking) {
            return; // a second pause report for the same silence, or after the commit
        }
        self.pauses += 1;
        let pause = self.pauses;
        self.state = State::Paused {
            pause,
            speech_end_ms: now.saturating_sub(u64::from(silence_ms)),
            silence_ms,
            transcript: Transcript::Pending,
            speculating: false,
        };
        self.out.push_back(Step::Transcribe { pause });
    }

    /// The transcript of pause `pause` and its reading (`None`: the STT failed).
    pub fn transcribed(&mut self, pause: u32, read: Option<(String, Verdict)>, now: u64) {
        let State::Paused {
            pause: current,
            transcript,
            speculating,
            speech_end_ms,
            ..
        } = &mut self.state
        else {
            return;
        };
        if *current != pause || *transcript != Transcript::Pending {
            return; // the user went on since
        }
        *transcript = match read {
            Some((text, verdict)) => {
                if verdict.speculate && !text.trim().is_empty() {
                    *speculating = true;
                    self.out.push_back(Step::Speculate {
                        pause,
                        text: text.clone(),
                        speech_end_ms: *speech_end_ms,
                    });
                }
                Transcript::Read { text, verdict }
            }
            None => Transcript::Failed,
        };
        self.handle_timeout(now);
    }

    /// Speech again in the utterance: what was started on the pause is dropped.
    pub fn resumed(&mut self) {
        if let State::Paused {
            pause, speculating, ..
        } = self.state
        {
            if speculating {
                self.discarded += 1;
                self.out.push_back(Step::Discard { pause });
            }
            self.state = State::Speaking;
        }
    }

    /// A dropped speculative reply spent `tokens`.
    pub fn spent(&mut self, tokens: u64) {
        self.speculative_tokens += tokens;
    }

    /// The client's fallback silence (or its longest utterance) ended the utterance at `now`:
    /// the turn is committed now.
    pub fn stopped(&mut self, now: u64) {
        let waited = match self.state {
            State::Committed => return,
            State::Paused { speech_end_ms, .. } => {
                Some(now.saturating_sub(speech_end_ms).min(u64::from(u32::MAX)) as u32)
            }
            State::Speaking => None,
        };
        self.commit("client", waited);
    }

    /// When the commit is due, if it waits on time.
    pub fn poll_timeout(&self) -> Option<u64> {
        let State::Paused {
            speech_end_ms,
            transcript,
            ..
        } = &self.state
        else {
            return None;
        };
        Some(speech_end_ms + u64::from(self.wait(transcript).0))
    }

    pub fn handle_timeout(&mut self, now: u64) {
        if self.poll_timeout().is_some_and(|at| now >= at)
            && let State::Paused { transcript, .. } = &self.state
        {
            let (wait, reason) = self.wait(transcript);
            self.commit(reason, Some(wait));
        }
    }

    /// The wait for a transcript (or its absence), within the cap, and why.
    fn wait(&self, transcript: &Transcript) -> (u32, &'static str) {
        let (wait, reason) = match transcript {
            Transcript::Read { verdict, .. } => (verdict.wait_ms, verdict.reason),
            Transcript::Failed => (FALLBACK_WAIT_MS, "fallback"),
            Transcript::Pending => (self.cap_ms, "cap"),
        };
        if wait > self.cap_ms {
            (self.cap_ms, "cap")
        } else {
            (wait, reason)
        }
    }

    fn commit(&mut self, reason: &'static str, wait: Option<u32>) {
        let state = std::mem::replace(&mut self.state, State::Committed);
        let mut end = EndOfTurn {
            reason,
            discarded_replies: self.discarded,
            speculative_tokens: self.speculative_tokens,
            ..EndOfTurn::default()
        };
        let (text, speech_end_ms) = match state {
            State::Paused {
                silence_ms,
                transcript: Transcript::Read { text, .. },
                speculating,
                speech_end_ms,
                ..
            } => {
                end.pause_ms = Some(silence_ms);
                end.speculative = speculating;
                (Some(text), Some(speech_end_ms))
            }
            State::Paused { speech_end_ms, .. } => (None, Some(speech_end_ms)),
            _ => (None, None),
        };
        end.wait_ms = wait;
        self.out.push_back(Step::Commit {
            text,
            end,
            speech_end_ms,
        });
    }
}

#[cfg(test)]
mod tests;
