//! JSON control messages. Each is one WebSocket text message: a JSON object whose `type` names it.

use serde::{Deserialize, Serialize};

use crate::limits::{
    INPUT_SAMPLE_RATE, MAX_CONTROL_MESSAGE_BYTES, MAX_ID_BYTES, MAX_INPUT_TEXT_CHARS,
    is_output_rate,
};
use crate::{ErrorCode, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};

/// Opens a new conversation. The first message a client sends on a fresh connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStart {
    /// Protocol version the client speaks: [`MIN_PROTOCOL_VERSION`] to [`PROTOCOL_VERSION`].
    /// The session speaks it (`session.ready` says it back); v2 adds pauses and the edge's
    /// end-of-turn decision (`input.speech_paused`, `input.speech_resumed`, `turn.committed`).
    pub protocol: u32,
    /// Rate of the microphone audio the client will send; must be 16000.
    pub input_sample_rate: u32,
    /// Reply audio rate the client would like; the server may choose another allowed rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_sample_rate: Option<u32>,
    /// BCP 47 language tag of the user's speech, e.g. `en-US`. A hint: a value that is not a
    /// well-formed tag ([`is_language_tag`]) does not refuse the session; the edge starts it as if
    /// `language` were absent and logs a warning (browsers report values such as `C`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The reply voice the page asks for (the TTS provider's name, e.g. `nova`), instead of the
    /// tenant's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
}

/// Continues a conversation after a reconnect, instead of `session.start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResume {
    pub protocol: u32,
    /// The `session_id` from the earlier `session.ready`.
    pub session_id: String,
    /// The resume `token` from the earlier `session.ready`.
    pub token: String,
}

/// Messages from the browser client to the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientMessage {
    #[serde(rename = "session.start")]
    SessionStart(SessionStart),
    #[serde(rename = "session.resume")]
    SessionResume(SessionResume),
    /// The client's VAD heard speech begin; audio frames of `stream_id` follow.
    #[serde(rename = "input.speech_started")]
    SpeechStarted { stream_id: u32 },
    /// The client detected the end of the user's turn. `frames` is how many audio frames the
    /// client sent for `stream_id`, so the server can tell whether any were lost. In v2 the
    /// edge decides the end of a turn (`turn.committed`); the client sends this only as its
    /// fallback (no decision came within its own end-of-turn silence) or at its longest
    /// utterance, and the edge then commits the turn at once.
    #[serde(rename = "input.speech_stopped")]
    SpeechStopped { stream_id: u32, frames: u32 },
    /// (v2) The client's VAD heard a short pause, `silence_ms` of silence since the end of
    /// speech, in utterance `stream_id` after `frames` frames; the utterance stays open and its
    /// audio (silence too) keeps coming. The edge may start working on what was said so far,
    /// but plays nothing of it before `turn.committed`.
    #[serde(rename = "input.speech_paused")]
    SpeechPaused {
        stream_id: u32,
        frames: u32,
        silence_ms: u32,
    },
    /// (v2) Speech began again in utterance `stream_id` after `input.speech_paused`: the turn
    /// goes on, and whatever the edge started on the pause is dropped unheard.
    #[serde(rename = "input.speech_resumed")]
    SpeechResumed { stream_id: u32 },
    /// A typed user turn, the alternative to speech.
    #[serde(rename = "input.text")]
    InputText { text: String },
    /// The user interrupted reply `response_id` after hearing `played_ms` of its audio.
    #[serde(rename = "response.cancel")]
    ResponseCancel { response_id: u32, played_ms: u32 },
    #[serde(rename = "ping")]
    Ping { nonce: u32 },
}

/// Answer to `session.start` or `session.resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReady {
    pub protocol: u32,
    pub session_id: String,
    /// Opaque token that a reconnect presents in `session.resume`.
    pub token: String,
    /// True when this connection continues an existing conversation.
    pub resumed: bool,
    pub input_sample_rate: u32,
    /// Rate of the reply audio frames the server will send.
    pub output_sample_rate: u32,
    /// How long after a disconnect the conversation can still be resumed, in seconds.
    pub resume_window_s: u32,
    /// (v2) The edge decides the end of each spoken turn (`turn.committed`); the client ends
    /// a turn on its own (`input.speech_stopped`) only after this much silence, a fallback for
    /// an edge that gives no decision. Absent in v1: the client's silence ends every turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_turn_fallback_ms: Option<u32>,
}

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    Completed,
    /// Cut short by `response.cancel`; the history keeps only what was heard.
    Interrupted,
    /// A provider failed mid-response; an `error` message precedes this one.
    Failed,
}

/// Latency and routing figures for one turn, in milliseconds. A stage that did not happen is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnMetrics {
    /// End of speech (client's `input.speech_stopped`) to the final transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_to_transcript_ms: Option<u32>,
    /// LLM request sent to its first token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_first_token_ms: Option<u32>,
    /// First TTS request sent to its first audio byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts_first_byte_ms: Option<u32>,
    /// End of speech to the first reply audio frame sent to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_to_first_audio_ms: Option<u32>,
    /// The LLM provider that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How many providers were tried and skipped before the one that answered.
    #[serde(default)]
    pub fallbacks: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u32>,
    /// (v2) The silence at which the edge began the work that answered: the pause it
    /// transcribed (and, when it read complete, started the reply on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_ms: Option<u32>,
    /// (v2) The end-of-turn wait chosen: silence after the end of speech before the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_turn_wait_ms: Option<u32>,
    /// (v2) Why that wait: `complete`, `neutral`, `unfinished` (what the transcript read
    /// like), `cap` (the hard cap), `fallback` (no transcript to read) or `client` (the
    /// client's own fallback silence ended the turn first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_turn_reason: Option<String>,
    /// (v2) The reply was started before the commit, on a pause, and kept (a hit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub speculative: bool,
    /// (v2) Replies started on earlier pauses of this turn and dropped unheard because the
    /// user went on, and the LLM tokens they spent (counted in usage and quotas too).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub discarded_replies: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub speculative_tokens: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Messages from the edge to the browser client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    #[serde(rename = "session.ready")]
    SessionReady(SessionReady),
    /// A fresh session token replacing the one from `session.ready` (sent before the old one
    /// expires, so a long conversation can still resume).
    #[serde(rename = "session.token")]
    SessionToken { token: String, expires_in_s: u32 },
    /// (v2) The edge decided that the user's turn on `stream_id` is over: the client ends the
    /// utterance (sends no more of its audio) and the reply follows. Speech after it is a new
    /// utterance (or a barge-in, once the reply plays).
    #[serde(rename = "turn.committed")]
    TurnCommitted { stream_id: u32 },
    #[serde(rename = "transcript.partial")]
    TranscriptPartial { stream_id: u32, text: String },
    #[serde(rename = "transcript.final")]
    TranscriptFinal { stream_id: u32, text: String },
    /// A reply begins. `stream_id` is the utterance it answers (absent for a typed turn);
    /// its audio frames carry `response_id` as their stream id.
    #[serde(rename = "response.started")]
    ResponseStarted {
        response_id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_id: Option<u32>,
    },
    /// Caption text of the reply, in order.
    #[serde(rename = "response.text_delta")]
    ResponseTextDelta { response_id: u32, delta: String },
    /// The reply is over: every text delta and audio frame of it has been sent.
    #[serde(rename = "response.done")]
    ResponseDone {
        response_id: u32,
        status: ResponseStatus,
        metrics: TurnMetrics,
    },
    #[serde(rename = "error")]
    Error {
        code: ErrorCode,
        message: String,
        retryable: bool,
    },
    /// A tenant limit was reached; the action may be retried after `retry_after_ms`.
    #[serde(rename = "rate_limited")]
    RateLimited { retry_after_ms: u32, limit: String },
    #[serde(rename = "pong")]
    Pong { nonce: u32 },
    /// The assistant handed the conversation to a person (a built-in tool): the page decides
    /// how (a chat link, a phone number). The session goes on.
    #[serde(rename = "handoff")]
    Handoff { reason: String },
    /// The assistant ended the conversation (a built-in tool), after its last reply. The
    /// client closes the socket and does not reconnect.
    #[serde(rename = "session.end")]
    SessionEnd { reason: String },
}

/// Why a text message was refused. Every variant maps to the [`ErrorCode`] sent back.
/// The texts never echo field values, so they are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("not a JSON object with a string `type`: {detail}")]
    Malformed { detail: String },
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("invalid `{ty}` message: {detail}")]
    Invalid { ty: &'static str, detail: String },
    #[error(
        "protocol version {0} is not supported (this peer speaks {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("sample rate {rate} Hz is not allowed for {what}")]
    WrongSampleRate { what: &'static str, rate: u32 },
    /// A client's text holds U+FFFD as such. Workers' runtime decodes a text frame before the
    /// edge sees it, replacing bytes that are not UTF-8 with U+FFFD, so a raw U+FFFD is taken
    /// for such bytes; a client that means the character writes its escape `\ufffd`, as
    /// [`ClientMessage::to_json`] does. The edge closes the socket with 1007.
    #[error("text messages must be valid UTF-8 (write U+FFFD as \\ufffd)")]
    NotUtf8,
}

impl ControlError {
    /// The code to send back in an `error` message.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::MessageTooLarge,
            Self::Malformed { .. } | Self::Invalid { .. } | Self::NotUtf8 => ErrorCode::BadMessage,
            Self::UnknownType(_) => ErrorCode::UnknownType,
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            Self::WrongSampleRate { .. } => ErrorCode::WrongSampleRate,
        }
    }

    /// The `error` message that answers this failure.
    pub fn to_message(&self) -> ServerMessage {
        let code = self.code();
        ServerMessage::Error {
            code,
            message: self.to_string(),
            retryable: code.is_retryable(),
        }
    }
}

const CLIENT_TYPES: [&str; 9] = [
    "session.start",
    "session.resume",
    "input.speech_started",
    "input.speech_stopped",
    "input.speech_paused",
    "input.speech_resumed",
    "input.text",
    "response.cancel",
    "ping",
];

const SERVER_TYPES: [&str; 13] = [
    "session.ready",
    "session.token",
    "turn.committed",
    "transcript.partial",
    "transcript.final",
    "response.started",
    "response.text_delta",
    "response.done",
    "error",
    "rate_limited",
    "pong",
    "handoff",
    "session.end",
];

impl ClientMessage {
    /// Parses and validates one text message from a client.
    pub fn parse(text: &str) -> Result<Self, ControlError> {
        if text.len() <= MAX_CONTROL_MESSAGE_BYTES && text.contains(char::REPLACEMENT_CHARACTER) {
            return Err(ControlError::NotUtf8);
        }
        let msg: Self = parse_tagged(text, &CLIENT_TYPES)?;
        msg.validate()?;
        Ok(msg)
    }

    /// The message's `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::SessionStart(_) => "session.start",
            Self::SessionResume(_) => "session.resume",
            Self::SpeechStarted { .. } => "input.speech_started",
            Self::SpeechStopped { .. } => "input.speech_stopped",
            Self::SpeechPaused { .. } => "input.speech_paused",
            Self::SpeechResumed { .. } => "input.speech_resumed",
            Self::InputText { .. } => "input.text",
            Self::ResponseCancel { .. } => "response.cancel",
            Self::Ping { .. } => "ping",
        }
    }

    /// Checks the limits that the JSON shape alone does not express.
    pub fn validate(&self) -> Result<(), ControlError> {
        let ty = self.type_name();
        match self {
            Self::SessionStart(s) => {
                check_version(s.protocol)?;
                if s.input_sample_rate != INPUT_SAMPLE_RATE {
                    return Err(ControlError::WrongSampleRate {
                        what: "input audio (must be 16000)",
                        rate: s.input_sample_rate,
                    });
                }
                if let Some(rate) = s.output_sample_rate.filter(|r| !is_output_rate(*r)) {
                    return Err(ControlError::WrongSampleRate {
                        what: "reply audio",
                        rate,
                    });
                }
                if let Some(voice) = &s.voice {
                    check_voice(ty, voice)?;
                }
            }
            Self::SessionResume(r) => {
                check_version(r.protocol)?;
                check_id(ty, "session_id", &r.session_id)?;
                check_id(ty, "token", &r.token)?;
            }
            Self::InputText { text } => {
                if text.trim().is_empty() {
                    return Err(invalid(ty, "`text` is empty"));
                }
                let chars = text.chars().count();
                if chars > MAX_INPUT_TEXT_CHARS {
                    return Err(invalid(
                        ty,
                        format!(
                            "`text` has {chars} characters, the limit is {MAX_INPUT_TEXT_CHARS}"
                        ),
                    ));
                }
            }
            Self::SpeechStarted { .. }
            | Self::SpeechStopped { .. }
            | Self::SpeechPaused { .. }
            | Self::SpeechResumed { .. }
            | Self::ResponseCancel { .. }
            | Self::Ping { .. } => {}
        }
        Ok(())
    }

    /// Serialises the message as one JSON text message. U+FFFD is written as its escape
    /// (the same JSON), since a raw one reads as bytes that were not UTF-8 ([`ControlError::NotUtf8`]).
    pub fn to_json(&self) -> String {
        to_json(self).replace(char::REPLACEMENT_CHARACTER, "\\ufffd")
    }
}

impl ServerMessage {
    /// Parses one text message from the server.
    pub fn parse(text: &str) -> Result<Self, ControlError> {
        let msg: Self = parse_tagged(text, &SERVER_TYPES)?;
        if let Self::SessionReady(r) = &msg {
            check_version(r.protocol)?;
        }
        Ok(msg)
    }

    /// Serialises the message as one JSON text message.
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// An `error` message with the retry flag that goes with `code`.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            retryable: code.is_retryable(),
        }
    }
}

fn to_json<T: Serialize>(msg: &T) -> String {
    // Serialising these types cannot fail: every key is a string and there are no maps or floats.
    serde_json::to_string(msg).unwrap_or_else(|_| String::from(r#"{"type":"error"}"#))
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<std::borrow::Cow<'a, str>>,
}

/// Checks size and envelope, then the full shape. Known types are told apart from unknown ones
/// before the full parse, so an unknown type is never reported as a shape error.
fn parse_tagged<T: serde::de::DeserializeOwned>(
    text: &str,
    known: &[&'static str],
) -> Result<T, ControlError> {
    if text.len() > MAX_CONTROL_MESSAGE_BYTES {
        return Err(ControlError::TooLarge {
            len: text.len(),
            max: MAX_CONTROL_MESSAGE_BYTES,
        });
    }
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| ControlError::Malformed {
            detail: describe(&e),
        })?;
    let Some(ty) = envelope.ty else {
        return Err(ControlError::Malformed {
            detail: "missing field `type`".into(),
        });
    };
    let Some(&ty) = known.iter().find(|k| **k == ty) else {
        return Err(ControlError::UnknownType(truncate(&ty, 64)));
    };
    serde_json::from_str(text).map_err(|e| invalid(ty, describe(&e)))
}

/// A description of a serde_json error that never quotes the input's values.
fn describe(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("missing field") || msg.starts_with("duplicate field") {
        return msg;
    }
    let what = match e.classify() {
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Data => "a field has the wrong type or value",
        serde_json::error::Category::Io => "unreadable input",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

fn invalid(ty: &'static str, detail: impl Into<String>) -> ControlError {
    ControlError::Invalid {
        ty,
        detail: detail.into(),
    }
}

fn check_version(protocol: u32) -> Result<(), ControlError> {
    if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&protocol) {
        Ok(())
    } else {
        Err(ControlError::UnsupportedVersion(protocol))
    }
}

fn check_id(ty: &'static str, field: &str, value: &str) -> Result<(), ControlError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(invalid(
            ty,
            format!("`{field}` must be 1 to {MAX_ID_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Longest language tag accepted, in bytes.
pub(crate) const MAX_LANGUAGE_TAG_BYTES: usize = 35;

/// Whether `tag` is a well-formed BCP 47 language tag (RFC 5646 syntax, as far as speech
/// providers need it): a primary language subtag of 2-3 or 5-8 letters, then subtags of 1-8
/// letters or digits separated by `-`, a singleton (`u`, `x`, ...) followed by at least one
/// subtag, at most [`MAX_LANGUAGE_TAG_BYTES`] bytes. `en`, `en-US`, `zh-Hant-TW`, `de-CH-1996`
/// pass; `C`, `en_US`, `x`, `123`, `en-`, `C.UTF-8` do not.
pub fn is_language_tag(tag: &str) -> bool {
    if tag.is_empty() || tag.len() > MAX_LANGUAGE_TAG_BYTES {
        return false;
    }
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or_default();
    if !matches!(primary.len(), 2..=3 | 5..=8) || !primary.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return false;
    }
    let mut after_singleton = false;
    for sub in subtags {
        if !(1..=8).contains(&sub.len()) || !sub.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return false;
        }
        after_singleton = sub.len() == 1;
    }
    !after_singleton
}

fn check_voice(ty: &'static str, voice: &str) -> Result<(), ControlError> {
    let ok = (1..=64).contains(&voice.len())
        && voice
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(ty, "`voice` is not a voice name"))
    }
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
