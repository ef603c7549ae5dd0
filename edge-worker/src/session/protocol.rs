//! The protocol side of one voice session, sans-IO: every client message in, the actions to
//! take out. It enforces the order of messages (nothing before `session.start`), buffers each
//! utterance's audio within limits, checks frames and sequence numbers, and answers every bad
//! input with a typed `error` while the session goes on. The Durable Object runs the actions.

use aura_protocol::limits::INPUT_SAMPLE_RATE;
use aura_protocol::{
    AudioFrame, ClientMessage, ControlError, ErrorCode, FrameKind, ServerMessage, SessionResume,
    SessionStart, is_language_tag,
};

/// Longest utterance buffered for transcription, in samples (30 s at 16 kHz).
pub const MAX_UTTERANCE_SAMPLES: usize = 30 * INPUT_SAMPLE_RATE as usize;
/// How far an utterance's audio may run ahead of the wall clock since its first frame (a
/// client's pre-roll and network bunching); beyond it audio is dropped, not transcribed or
/// billed: a microphone cannot speak faster than real time.
pub const AUDIO_AHEAD_MAX_MS: u64 = 2_000;
/// How far a connection's first utterance may run ahead: a client re-sends the utterance a
/// dropped connection cut (or spoken before the session was ready), all of it at once (at
/// most the 30 s buffered). Once per connection, and every connection is admitted.
pub const RESENT_AHEAD_MAX_MS: u64 = AUDIO_AHEAD_MAX_MS + 30_000;

/// What the session asks its host to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message to the client.
    Send(ServerMessage),
    /// Write this record to the Worker's log (no key, transcript or visitor text in it).
    Log(serde_json::Value),
    /// Open a new conversation (then send `session.ready`).
    Start(SessionStart),
    /// Resume a conversation if the id and token check out (then `session.ready`).
    Resume(SessionResume),
    /// The first audio of the utterance on `stream_id` arrived (`pcm`, as in
    /// [`Action::UtteranceAudio`]): its turn is asked for now (a turn is counted only once it
    /// carries audio) and a streaming STT opens.
    UtteranceStarted { stream_id: u32, pcm: Vec<u8> },
    /// One accepted frame of the open utterance: 16 kHz s16le mono PCM, for a streaming STT.
    UtteranceAudio { stream_id: u32, pcm: Vec<u8> },
    /// The utterance ended: transcribe it (16 kHz mono WAV; a streaming STT finalizes
    /// instead), then answer it.
    Transcribe {
        stream_id: u32,
        wav: Vec<u8>,
        frames_expected: u32,
        frames_received: u32,
    },
    /// (v2) A short pause in the open utterance after `silence_ms` of silence: transcribe
    /// the audio so far (`wav`; a streaming STT finalizes instead) and decide the end of the
    /// turn; the utterance stays open.
    Paused {
        stream_id: u32,
        wav: Vec<u8>,
        silence_ms: u32,
        frames_expected: u32,
        frames_received: u32,
    },
    /// (v2) Speech began again in the open utterance after a pause.
    Resumed { stream_id: u32 },
    /// Answer a typed turn.
    Respond { text: String },
    /// Stop reply `response_id` now; the user heard `played_ms` of it.
    Cancel { response_id: u32, played_ms: u32 },
    /// Close the socket with this code (nothing more of it is handled).
    Close { code: u16, reason: &'static str },
}

/// The close code for a text message that was not UTF-8 (RFC 6455, 7.4.1).
pub const CLOSE_INVALID_DATA: u16 = 1007;

#[derive(Debug)]
struct Utterance {
    stream_id: u32,
    samples: Vec<i16>,
    next_seq: u32,
    received: u32,
    overflowed: bool,
    /// When its first audio arrived.
    first_audio_ms: Option<u64>,
    /// Whether audio faster than real time was reported (once per utterance).
    too_fast: bool,
    /// How far its audio may run ahead of the wall clock.
    ahead_max_ms: u64,
}

/// One connection's protocol state.
#[derive(Debug, Default)]
pub struct Session {
    started: bool,
    utterance: Option<Utterance>,
    /// The last utterance the edge committed (v2): what the client still sends of it in
    /// flight (frames, a crossing `input.speech_stopped` or `input.speech_resumed`) is dropped
    /// without an error.
    committed: Option<u32>,
    /// Started, and no utterance opened since: the next may be one a drop cut, re-sent at
    /// once.
    resent_next: bool,
    /// The socket is being closed: what it still sends is ignored.
    closing: bool,
}

fn error(code: ErrorCode, message: impl Into<String>) -> Action {
    Action::Send(ServerMessage::error(code, message))
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// A session that was already started on this connection (restored after hibernation).
    pub fn restored(started: bool) -> Self {
        Self {
            started,
            ..Self::default()
        }
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The edge committed the open utterance `stream_id` (v2, `turn.committed`): it is closed,
    /// and its audio so far returned as a WAV (for a transcript made at the commit). `None` if
    /// that is not the open utterance.
    pub fn commit(&mut self, stream_id: u32) -> Option<Vec<u8>> {
        let u = self.utterance.take_if(|u| u.stream_id == stream_id)?;
        self.committed = Some(stream_id);
        Some(wav(&u.samples))
    }

    /// The host accepted `Start` or `Resume`.
    /// The next utterance may be one a drop cut, re-sent at once (docs/protocol.md,
    /// "Reconnecting mid-utterance").
    pub fn mark_started(&mut self) {
        self.started = true;
        self.resent_next = true;
    }

    /// The host accepted `Resume` ([`Self::mark_started`]): the conversation's last
    /// committed utterance (`committed`, maybe on the replaced connection) is not opened
    /// again.
    pub fn mark_resumed(&mut self, committed: Option<u32>) {
        self.mark_started();
        self.committed = committed.or(self.committed);
    }

    /// Handles one text message.
    pub fn on_text(&mut self, text: &str) -> Vec<Action> {
        if self.closing {
            return Vec::new();
        }
        let msg = match ClientMessage::parse(text) {
            Ok(m) => m,
            // Bytes that were not UTF-8 (the runtime decoded them lossily): the connection
            // ends, as a peer that checks UTF-8 itself would end it.
            Err(e @ ControlError::NotUtf8) => {
                self.closing = true;
                return vec![
                    Action::Send(e.to_message()),
                    Action::Close {
                        code: CLOSE_INVALID_DATA,
                        reason: "text is not UTF-8",
                    },
                ];
            }
            Err(e) => return vec![Action::Send(e.to_message())],
        };
        match msg {
            ClientMessage::SessionStart(mut s) if !self.started => {
                // `language` is a hint (docs/protocol.md): a browser that reports a value that is
                // not a BCP 47 tag (WebKit says "C" under LANG=C) must not break the session, and
                // the value must not reach a speech provider. The session starts without it.
                match s.language.take_if(|l| !is_language_tag(l)) {
                    // Its length only: the value is the visitor's, not for the logs.
                    Some(lang) => vec![
                        Action::Log(
                            serde_json::json!({"event": "language_ignored", "bytes": lang.len()}),
                        ),
                        Action::Start(s),
                    ],
                    None => vec![Action::Start(s)],
                }
            }
            ClientMessage::SessionResume(r) if !self.started => vec![Action::Resume(r)],
            ClientMessage::SessionStart(_) | ClientMessage::SessionResume(_) => {
                vec![error(
                    ErrorCode::AlreadyStarted,
                    "this connection already has a session",
                )]
            }
            ClientMessage::Ping { nonce } => vec![Action::Send(ServerMessage::Pong { nonce })],
            _ if !self.started => vec![error(
                ErrorCode::NotStarted,
                "send session.start or session.resume first",
            )],
            ClientMessage::SpeechStarted { stream_id } if self.committed == Some(stream_id) => {
                // Re-sent after a drop that lost its `turn.committed`: the turn is not
                // committed twice; the client hears that it was.
                vec![Action::Send(ServerMessage::TurnCommitted { stream_id })]
            }
            ClientMessage::SpeechStarted { stream_id } => {
                let mut out = Vec::new();
                if let Some(old) = self.utterance.take() {
                    out.push(error(
                        ErrorCode::BadMessage,
                        format!("stream {} was never stopped; it is dropped", old.stream_id),
                    ));
                }
                self.utterance = Some(Utterance {
                    stream_id,
                    samples: Vec::new(),
                    next_seq: 0,
                    received: 0,
                    overflowed: false,
                    first_audio_ms: None,
                    too_fast: false,
                    ahead_max_ms: if std::mem::take(&mut self.resent_next) {
                        RESENT_AHEAD_MAX_MS
                    } else {
                        AUDIO_AHEAD_MAX_MS
                    },
                });
                // Its turn waits for its first audio (`on_binary`).
                out
            }
            ClientMessage::SpeechStopped { stream_id, .. }
            | ClientMessage::SpeechResumed { stream_id }
                if self.committed == Some(stream_id) =>
            {
                Vec::new() // crossed `turn.committed` on the wire
            }
            ClientMessage::SpeechPaused {
                stream_id,
                frames,
                silence_ms,
            } => match self.utterance.as_ref() {
                Some(u) if u.stream_id == stream_id && !u.samples.is_empty() => {
                    vec![Action::Paused {
                        stream_id,
                        wav: wav(&u.samples),
                        silence_ms,
                        frames_expected: frames,
                        frames_received: u.received,
                    }]
                }
                _ if self.committed == Some(stream_id) => Vec::new(),
                _ => vec![error(
                    ErrorCode::BadMessage,
                    format!("stream {stream_id} is not an open stream with audio"),
                )],
            },
            ClientMessage::SpeechResumed { stream_id } => match self.utterance.as_ref() {
                Some(u) if u.stream_id == stream_id => vec![Action::Resumed { stream_id }],
                _ => vec![error(
                    ErrorCode::BadMessage,
                    format!("stream {stream_id} is not the open stream"),
                )],
            },
            ClientMessage::SpeechStopped { stream_id, frames } => match self.utterance.take() {
                Some(u) if u.stream_id == stream_id => {
                    if u.samples.is_empty() {
                        return vec![error(
                            ErrorCode::BadMessage,
                            format!("stream {stream_id} carried no audio"),
                        )];
                    }
                    vec![Action::Transcribe {
                        stream_id,
                        wav: wav(&u.samples),
                        frames_expected: frames,
                        frames_received: u.received,
                    }]
                }
                other => {
                    self.utterance = other;
                    vec![error(
                        ErrorCode::BadMessage,
                        format!("stream {stream_id} is not the open stream"),
                    )]
                }
            },
            ClientMessage::InputText { text } => vec![Action::Respond { text }],
            ClientMessage::ResponseCancel {
                response_id,
                played_ms,
            } => vec![Action::Cancel {
                response_id,
                played_ms,
            }],
        }
    }

    /// Handles one binary message (an input audio frame) that arrived at `now_ms`.
    pub fn on_binary(&mut self, bytes: &[u8], now_ms: u64) -> Vec<Action> {
        if self.closing {
            return Vec::new();
        }
        if !self.started {
            return vec![error(
                ErrorCode::NotStarted,
                "send session.start before audio",
            )];
        }
        let frame = match AudioFrame::decode_kind(bytes, FrameKind::Input) {
            Ok(f) => f,
            Err(e) => return vec![error(e.code(), e.to_string())],
        };
        let h = frame.header;
        let Some(u) = self
            .utterance
            .as_mut()
            .filter(|u| u.stream_id == h.stream_id)
        else {
            if self.committed == Some(h.stream_id) {
                return Vec::new(); // sent before the client saw `turn.committed`
            }
            return vec![error(
                ErrorCode::BadFrame,
                format!("audio for stream {} which is not open", h.stream_id),
            )];
        };
        let mut out = Vec::new();
        if h.seq != u.next_seq {
            out.push(error(
                ErrorCode::BadFrame,
                format!(
                    "stream {}: frame {} arrived where {} was expected",
                    h.stream_id, h.seq, u.next_seq
                ),
            ));
        }
        u.next_seq = h.seq.wrapping_add(1);
        u.received += 1;
        let after = u.samples.len() + usize::from(h.sample_count);
        let since_first = now_ms.saturating_sub(*u.first_audio_ms.get_or_insert(now_ms));
        let ahead =
            (after as u64 * 1000 / u64::from(INPUT_SAMPLE_RATE)).saturating_sub(since_first);
        if ahead > u.ahead_max_ms {
            if !u.too_fast {
                u.too_fast = true;
                out.push(error(
                    ErrorCode::AudioTooFast,
                    "audio arrives faster than real time; the excess is dropped",
                ));
            }
        } else if after > MAX_UTTERANCE_SAMPLES {
            if !u.overflowed {
                u.overflowed = true;
                out.push(error(
                    ErrorCode::MessageTooLarge,
                    "utterance longer than 30 s; the rest is not transcribed",
                ));
            }
        } else {
            let first = u.samples.is_empty() && h.sample_count > 0;
            u.samples.extend(frame.samples());
            let (stream_id, pcm) = (h.stream_id, bytes[aura_protocol::HEADER_LEN..].to_vec());
            out.push(if first {
                Action::UtteranceStarted { stream_id, pcm }
            } else {
                Action::UtteranceAudio { stream_id, pcm }
            });
        }
        out
    }
}

/// A 16 kHz mono s16le WAV file of `samples`.
pub fn wav(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&INPUT_SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(INPUT_SAMPLE_RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests;
