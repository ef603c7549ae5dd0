//! The open utterance, kept so that a connection drop does not lose it, sans-IO.
//!
//! The session client tells it every record it acts on ([`UtteranceResend::record`]) and
//! every `turn.committed` ([`UtteranceResend::committed`]). When a session becomes ready
//! again after a drop ([`UtteranceResend::on_ready`]) it returns what to send so the edge
//! hears the utterance whole: its `input.speech_started`, every frame of it (those the old
//! socket carried, those lost while no socket was open, and those sent since), then the
//! pause or stop the client reported while it was cut off. The edge takes a connection's
//! first utterance at once, however far it runs ahead of real time, and an utterance it had already committed is not committed twice
//! (docs/protocol.md, "Reconnecting mid-utterance").
//!
//! It keeps the utterance until the edge commits it or the client's stop of it is sent on a
//! ready connection, and at most [`RESEND_MAX_SAMPLES`] of audio (the edge transcribes no
//! more).

use aura_protocol::{AudioFrame, ClientMessage};

use crate::records::{EngineEvent, Record};

/// Most audio kept for a resend: 30 s at 16 kHz, the longest utterance the edge buffers.
pub const RESEND_MAX_SAMPLES: usize = 30 * 16_000;

/// One message to send, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Text(ClientMessage),
    Frame(Vec<u8>),
}

#[derive(Debug)]
struct Open {
    stream_id: u32,
    frames: Vec<Vec<u8>>,
    samples: usize,
    /// The pause reported last, if speech has not come back since: its `silence_ms`.
    paused_silence_ms: Option<u32>,
    /// The client's own stop, reported while no ready connection could carry it.
    stopped: bool,
}

/// The utterance to send again after a drop.
#[derive(Debug, Default)]
pub struct UtteranceResend {
    open: Option<Open>,
}

impl UtteranceResend {
    pub fn new() -> Self {
        Self::default()
    }

    /// A record the session client acted on; `sent` whether a ready connection carried it.
    pub fn record(&mut self, record: &Record<'_>, sent: bool) {
        match *record {
            Record::Event(EngineEvent::SpeechStarted { stream_id }) => {
                self.open = Some(Open {
                    stream_id,
                    frames: Vec::new(),
                    samples: 0,
                    paused_silence_ms: None,
                    stopped: false,
                });
            }
            Record::Frame(bytes) => {
                let Some(open) = self.open.as_mut() else {
                    return;
                };
                let Ok(frame) = AudioFrame::decode(bytes) else {
                    return;
                };
                let samples = usize::from(frame.header.sample_count);
                if frame.header.stream_id == open.stream_id
                    && open.samples + samples <= RESEND_MAX_SAMPLES
                {
                    open.samples += samples;
                    open.frames.push(bytes.to_vec());
                }
            }
            Record::Event(EngineEvent::SpeechPaused {
                stream_id,
                silence_ms,
                ..
            }) => self.with_open(stream_id, |o| o.paused_silence_ms = Some(silence_ms)),
            Record::Event(EngineEvent::SpeechResumed { stream_id }) => {
                self.with_open(stream_id, |o| o.paused_silence_ms = None)
            }
            Record::Event(EngineEvent::SpeechStopped { stream_id, .. }) => {
                if sent {
                    self.open.take_if(|o| o.stream_id == stream_id);
                } else {
                    self.with_open(stream_id, |o| o.stopped = true);
                }
            }
            Record::Event(_) => {}
        }
    }

    /// The edge committed `stream_id`: nothing of it is sent again.
    pub fn committed(&mut self, stream_id: u32) {
        self.open.take_if(|o| o.stream_id == stream_id);
    }

    /// A session became ready (resumed, or a new conversation once the old one could not be
    /// resumed): what to send of the utterance it has not heard whole, in order (nothing if
    /// none is open). The utterance stays kept until the edge commits it.
    pub fn on_ready(&mut self) -> Vec<Outgoing> {
        let Some(open) = self.open.as_mut() else {
            return Vec::new();
        };
        let stream_id = open.stream_id;
        let frames = open.frames.len() as u32;
        let mut out = vec![Outgoing::Text(ClientMessage::SpeechStarted { stream_id })];
        out.extend(open.frames.iter().cloned().map(Outgoing::Frame));
        if open.stopped {
            out.push(Outgoing::Text(ClientMessage::SpeechStopped {
                stream_id,
                frames,
            }));
            self.open = None;
        } else if let Some(silence_ms) = open.paused_silence_ms {
            out.push(Outgoing::Text(ClientMessage::SpeechPaused {
                stream_id,
                frames,
                silence_ms,
            }));
        }
        out
    }

    fn with_open(&mut self, stream_id: u32, f: impl FnOnce(&mut Open)) {
        if let Some(open) = self.open.as_mut().filter(|o| o.stream_id == stream_id) {
            f(open);
        }
    }
}

#[cfg(test)]
mod tests;
