//! The worklet's one ordered record stream: what capture, turn-taking, barge-in and playback
//! did in one render quantum (events) and the encoded input frames, in the order they
//! happened, so the main thread sends a speech start before the utterance's first frame and
//! a pause or stop after its last one without re-ordering anything. The engine writes it
//! ([`RecordWriter`]); the session client reads it ([`records`]) and acts on each record.
//!
//! Layout, little-endian: each record is a tag byte, then for an event (`tag` = its
//! [`EventKind`]) three u32 `a, b, c` (unused ones 0); for a frame (`tag` 0) a u32 byte length
//! and the frame's bytes (one protocol input frame).

use aura_protocol::ClientMessage;

/// What an event record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineEvent {
    /// Send `input.speech_started`.
    SpeechStarted { stream_id: u32 },
    /// Send `input.speech_stopped` (the client ended the utterance, v1 or its fallback).
    SpeechStopped { stream_id: u32, frames: u32 },
    /// Playback paused for a possible barge-in (already done locally).
    BargeInPaused,
    /// Playback resumed: it was not an interruption.
    BargeInResumed,
    /// Playback stopped by the user's speech (already done); send `response.cancel`.
    Interrupted { response_id: u32, played_ms: u32 },
    /// A reply finished playing.
    ReplyPlayed { response_id: u32, played_ms: u32 },
    /// (v2) Send `input.speech_paused`.
    SpeechPaused {
        stream_id: u32,
        frames: u32,
        silence_ms: u32,
    },
    /// (v2) Send `input.speech_resumed`.
    SpeechResumed { stream_id: u32 },
}

impl EngineEvent {
    /// The record's tag and fields.
    fn encode(self) -> (u8, [u32; 3]) {
        match self {
            Self::SpeechStarted { stream_id } => (1, [stream_id, 0, 0]),
            Self::SpeechStopped { stream_id, frames } => (2, [stream_id, frames, 0]),
            Self::BargeInPaused => (3, [0; 3]),
            Self::BargeInResumed => (4, [0; 3]),
            Self::Interrupted {
                response_id,
                played_ms,
            } => (5, [response_id, played_ms, 0]),
            Self::ReplyPlayed {
                response_id,
                played_ms,
            } => (6, [response_id, played_ms, 0]),
            Self::SpeechPaused {
                stream_id,
                frames,
                silence_ms,
            } => (7, [stream_id, frames, silence_ms]),
            Self::SpeechResumed { stream_id } => (8, [stream_id, 0, 0]),
        }
    }

    /// `[tag, a, b, c]`, as the wasm `recordSummary` lists it.
    pub fn summary(self) -> [u32; 4] {
        let (tag, [a, b, c]) = self.encode();
        [u32::from(tag), a, b, c]
    }

    fn decode(tag: u8, [a, b, c]: [u32; 3]) -> Option<Self> {
        Some(match tag {
            1 => Self::SpeechStarted { stream_id: a },
            2 => Self::SpeechStopped {
                stream_id: a,
                frames: b,
            },
            3 => Self::BargeInPaused,
            4 => Self::BargeInResumed,
            5 => Self::Interrupted {
                response_id: a,
                played_ms: b,
            },
            6 => Self::ReplyPlayed {
                response_id: a,
                played_ms: b,
            },
            7 => Self::SpeechPaused {
                stream_id: a,
                frames: b,
                silence_ms: c,
            },
            8 => Self::SpeechResumed { stream_id: a },
            _ => return None,
        })
    }

    /// The protocol message this event asks the session to send, if any.
    pub fn message(self) -> Option<ClientMessage> {
        Some(match self {
            Self::SpeechStarted { stream_id } => ClientMessage::SpeechStarted { stream_id },
            Self::SpeechStopped { stream_id, frames } => {
                ClientMessage::SpeechStopped { stream_id, frames }
            }
            Self::SpeechPaused {
                stream_id,
                frames,
                silence_ms,
            } => ClientMessage::SpeechPaused {
                stream_id,
                frames,
                silence_ms,
            },
            Self::SpeechResumed { stream_id } => ClientMessage::SpeechResumed { stream_id },
            Self::Interrupted {
                response_id,
                played_ms,
            } => ClientMessage::ResponseCancel {
                response_id,
                played_ms,
            },
            Self::BargeInPaused | Self::BargeInResumed | Self::ReplyPlayed { .. } => return None,
        })
    }

    /// The page's `onEvent(kind, data)` for this event: `("speech", {started})`, ...
    pub fn page_event(self) -> (&'static str, serde_json::Value) {
        use serde_json::json;
        match self {
            Self::SpeechStarted { stream_id } => ("speech", json!({"started": stream_id})),
            Self::SpeechStopped { stream_id, frames } => {
                ("speech", json!({"stopped": stream_id, "frames": frames}))
            }
            Self::SpeechPaused {
                stream_id,
                silence_ms,
                ..
            } => (
                "speech",
                json!({"paused": stream_id, "silence_ms": silence_ms}),
            ),
            Self::SpeechResumed { stream_id } => ("speech", json!({"resumed": stream_id})),
            Self::BargeInPaused => ("barge_in", json!({"paused": true})),
            Self::BargeInResumed => ("barge_in", json!({"resumed": true})),
            Self::Interrupted {
                response_id,
                played_ms,
            } => (
                "barge_in",
                json!({"interrupted": response_id, "played_ms": played_ms}),
            ),
            Self::ReplyPlayed {
                response_id,
                played_ms,
            } => (
                "reply_played",
                json!({"response_id": response_id, "played_ms": played_ms}),
            ),
        }
    }
}

/// One record of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    Event(EngineEvent),
    /// One encoded input frame.
    Frame(&'a [u8]),
}

/// Why a record stream could not be read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record {0} has an unknown tag {1}")]
    UnknownTag(usize, u8),
    #[error("record {0} is cut short")]
    Truncated(usize),
}

const FRAME_TAG: u8 = 0;

/// Appends records to a buffer the worklet hands over whole, once per quantum.
#[derive(Debug, Default)]
pub struct RecordWriter {
    bytes: Vec<u8>,
}

impl RecordWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
        }
    }

    pub fn event(&mut self, event: EngineEvent) {
        let (tag, fields) = event.encode();
        self.bytes.push(tag);
        for f in fields {
            self.bytes.extend_from_slice(&f.to_le_bytes());
        }
    }

    pub fn frame(&mut self, frame: &[u8]) {
        self.bytes.push(FRAME_TAG);
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(frame);
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The records written since the last take.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// The records of `bytes`, in order; a malformed record ends the stream with its error.
pub fn records(bytes: &[u8]) -> impl Iterator<Item = Result<Record<'_>, RecordError>> {
    let mut rest = bytes;
    let mut index = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || rest.is_empty() {
            return None;
        }
        let item = next_record(&mut rest, index);
        index += 1;
        failed = item.is_err();
        Some(item)
    })
}

fn next_record<'a>(rest: &mut &'a [u8], index: usize) -> Result<Record<'a>, RecordError> {
    let (&tag, body) = rest.split_first().ok_or(RecordError::Truncated(index))?;
    let u32_at = |b: &[u8], i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
    };
    if tag == FRAME_TAG {
        let len = u32_at(body, 0).ok_or(RecordError::Truncated(index))? as usize;
        let frame = body
            .get(4..4usize.saturating_add(len))
            .ok_or(RecordError::Truncated(index))?;
        *rest = &body[4 + len..];
        return Ok(Record::Frame(frame));
    }
    let fields = [0, 4, 8].map(|i| u32_at(body, i));
    let [Some(a), Some(b), Some(c)] = fields else {
        return Err(RecordError::Truncated(index));
    };
    let event = EngineEvent::decode(tag, [a, b, c]).ok_or(RecordError::UnknownTag(index, tag))?;
    *rest = &body[12..];
    Ok(Record::Event(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [EngineEvent; 8] = [
        EngineEvent::SpeechStarted { stream_id: 3 },
        EngineEvent::SpeechStopped {
            stream_id: 3,
            frames: 40,
        },
        EngineEvent::BargeInPaused,
        EngineEvent::BargeInResumed,
        EngineEvent::Interrupted {
            response_id: 7,
            played_ms: 1_240,
        },
        EngineEvent::ReplyPlayed {
            response_id: 8,
            played_ms: 3_000,
        },
        EngineEvent::SpeechPaused {
            stream_id: 4,
            frames: 12,
            silence_ms: 160,
        },
        EngineEvent::SpeechResumed { stream_id: 4 },
    ];

    #[test]
    fn events_and_frames_come_back_in_the_order_written() {
        let mut w = RecordWriter::default();
        w.event(ALL[0]);
        w.frame(&[1, 2, 3, 4, 5]);
        w.frame(&[]);
        w.event(ALL[6]);
        w.frame(&[9; 660]);
        for e in ALL {
            w.event(e);
        }
        let bytes = w.take();
        assert!(w.is_empty());
        let read: Vec<Record> = records(&bytes).map(Result::unwrap).collect();
        let mut want = vec![
            Record::Event(ALL[0]),
            Record::Frame(&[1, 2, 3, 4, 5]),
            Record::Frame(&[]),
            Record::Event(ALL[6]),
            Record::Frame(&[9; 660]),
        ];
        want.extend(ALL.map(Record::Event));
        assert_eq!(read, want);
    }

    #[test]
    fn a_torn_or_unknown_record_ends_the_stream_with_an_error_and_no_panic() {
        let mut w = RecordWriter::default();
        w.event(ALL[0]);
        w.frame(&[1, 2, 3, 4]);
        let bytes = w.take();
        // The first record (an event) is 13 bytes: a cut there is a whole, shorter stream.
        assert_eq!(
            records(&bytes[..13]).collect::<Vec<_>>(),
            [Ok(Record::Event(ALL[0]))]
        );
        for cut in (1..bytes.len()).filter(|&c| c != 13) {
            let read: Vec<_> = records(&bytes[..cut]).collect();
            assert!(read.last().unwrap().is_err(), "cut at {cut}: {read:?}");
            assert!(read.iter().rev().skip(1).all(Result::is_ok));
        }
        let unknown = [42u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let read: Vec<_> = records(&unknown).collect();
        assert_eq!(read, [Err(RecordError::UnknownTag(0, 42))]);
        let huge = [0u8, 255, 255, 255, 255, 1, 2];
        assert_eq!(
            records(&huge).collect::<Vec<_>>(),
            [Err(RecordError::Truncated(0))]
        );
        assert_eq!(records(&[]).count(), 0);
    }

    #[test]
    fn speech_and_interruptions_become_messages_barge_in_pauses_stay_local() {
        let types: Vec<Option<String>> = ALL
            .iter()
            .map(|e| {
                e.message().map(|m| {
                    let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
                    v["type"].as_str().unwrap().to_string()
                })
            })
            .collect();
        let want = [
            Some("input.speech_started"),
            Some("input.speech_stopped"),
            None,
            None,
            Some("response.cancel"),
            None,
            Some("input.speech_paused"),
            Some("input.speech_resumed"),
        ];
        assert_eq!(types, want.map(|t| t.map(String::from)));
    }

    #[test]
    fn each_event_has_the_page_event_the_widget_shows() {
        let kinds: Vec<_> = ALL.iter().map(|e| e.page_event().0).collect();
        assert_eq!(
            kinds,
            [
                "speech",
                "speech",
                "barge_in",
                "barge_in",
                "barge_in",
                "reply_played",
                "speech",
                "speech"
            ]
        );
        assert_eq!(
            ALL[6].page_event().1,
            serde_json::json!({"paused": 4, "silence_ms": 160})
        );
        assert_eq!(
            ALL[4].page_event().1,
            serde_json::json!({"interrupted": 7, "played_ms": 1240})
        );
    }
}
