//! Streaming speech-to-text in Deepgram's live format (`wss://api.deepgram.com/v1/listen`):
//! the URL, the control messages, and the results turned into a transcript. Plain Rust; the
//! voice session moves the bytes.
//!
//! Audio goes out as binary linear16 frames while the user speaks. Results come back as
//! `{"type":"Results", "is_final", "speech_final", "from_finalize", "channel": {"alternatives":
//! [{"transcript"}]}}`: interim ones revise the open segment, an `is_final` one closes it (the
//! utterance is the closed segments joined). At the client's end of speech the session sends
//! `Finalize`; the result marked `from_finalize` closes the utterance, usually within
//! 100-300 ms, instead of a whole-file upload after the fact.
//!
//! Deepgram's other messages: `SpeechStarted` and `UtteranceEnd` (with `vad_events` /
//! `utterance_end_ms`) carry `channel` as an array of indices (`[0, 1]`), unlike `Results`,
//! whose `channel` is an object; both parse ([`LiveEvent::SpeechStarted`],
//! [`LiveEvent::UtteranceEnd`]). When Deepgram gives up on a stream it closes the socket with a
//! reason such as `NET-0001` (no audio received in time) or `DATA-0000` (audio not decodable):
//! [`close_reason`] turns the close frame into a typed [`CloseReason`].

use serde::Deserialize;

/// Flushes the audio sent so far into final results.
pub const FINALIZE: &str = r#"{"type":"Finalize"}"#;
/// Ends the stream (the server answers `Metadata` and closes).
pub const CLOSE_STREAM: &str = r#"{"type":"CloseStream"}"#;
/// Keeps an idle stream open (Deepgram closes after about 10 s without audio).
pub const KEEP_ALIVE: &str = r#"{"type":"KeepAlive"}"#;

/// Why a live STT exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveSttError {
    #[error("the STT base URL is not http(s)")]
    BadBaseUrl,
    #[error("the STT stream sent a message that is not a result")]
    Malformed,
    #[error("the STT stream reported an error")]
    Provider,
    #[error("the STT stream was closed by the provider ({})", .0.code())]
    Closed(CloseReason),
}

/// Why the provider closed a live stream, from its close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// A normal close (1000, or no frame reason at all after `CloseStream`).
    Normal,
    /// `NET-0001`: Deepgram received no audio or `KeepAlive` in time (about 10 s): our side idled.
    NoAudioReceived,
    /// Another `NET-...` code (`NET-0000`: Deepgram sent nothing in time): the provider's side.
    Network(String),
    /// `DATA-...` (`DATA-0000`): the audio could not be decoded: our audio format is wrong.
    BadAudio(String),
    /// Any other close: its close code (the reason text is not kept).
    Other(u16),
}

impl CloseReason {
    /// A stable code for logs: `normal`, `NET-0001`, the provider's `NET-`/`DATA-` code, or
    /// `close_CODE`.
    pub fn code(&self) -> String {
        match self {
            Self::Normal => "normal".into(),
            Self::NoAudioReceived => "NET-0001".into(),
            Self::Network(c) | Self::BadAudio(c) => c.clone(),
            Self::Other(code) => format!("close_{code}"),
        }
    }

    /// Whether the provider is to blame (another STT route may succeed with the same audio).
    pub fn blames_provider(&self) -> bool {
        matches!(self, Self::Network(_) | Self::Other(_))
    }
}

/// `PREFIX-` and four digits, as Deepgram's close reasons are (`NET-0001`, `DATA-0000`).
fn deepgram_code(reason: &str, prefix: &str) -> Option<String> {
    let digits = reason.strip_prefix(prefix)?.strip_prefix('-')?;
    (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| reason.to_string())
}

/// The typed reason of a close frame (`code` and `reason` as received). The reason may carry
/// text after the code (`NET-0001: ...`); only a known code is kept, never free text.
pub fn close_reason(code: u16, reason: &str) -> CloseReason {
    let token = reason
        .trim()
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .next()
        .unwrap_or("");
    if token == "NET-0001" {
        return CloseReason::NoAudioReceived;
    }
    if let Some(c) = deepgram_code(token, "NET") {
        return CloseReason::Network(c);
    }
    if let Some(c) = deepgram_code(token, "DATA") {
        return CloseReason::BadAudio(c);
    }
    match code {
        1000 | 1005 => CloseReason::Normal,
        other => CloseReason::Other(other),
    }
}

/// The error a close frame means, if it is not a normal close.
pub fn close_error(code: u16, reason: &str) -> Option<LiveSttError> {
    match close_reason(code, reason) {
        CloseReason::Normal => None,
        other => Some(LiveSttError::Closed(other)),
    }
}

/// The `wss://` URL of the listen endpoint for 16 kHz linear16 mono with interim results.
pub fn listen_url(
    base_url: &str,
    model: &str,
    language: Option<&str>,
) -> Result<String, LiveSttError> {
    let base = base_url.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(LiveSttError::BadBaseUrl);
    };
    let mut url =
        url::Url::parse(&format!("{ws}/v1/listen")).map_err(|_| LiveSttError::BadBaseUrl)?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("model", model)
            .append_pair("encoding", "linear16")
            .append_pair("sample_rate", "16000")
            .append_pair("channels", "1")
            .append_pair("interim_results", "true")
            .append_pair("punctuate", "true")
            .append_pair("smart_format", "true")
            // "um", "uh" kept: the end-of-turn reading waits longer after them.
            .append_pair("filler_words", "true");
        if let Some(lang) = language {
            q.append_pair("language", lang);
        }
    }
    Ok(url.into())
}

/// One message from the stream, as far as a transcript cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// An interim revision of the open segment.
    Interim(String),
    /// A closed segment; `finalizes` when it answers our `Finalize` (the utterance is complete).
    Segment { text: String, finalizes: bool },
    /// The stream's summary after `CloseStream`.
    Metadata,
    /// Deepgram's VAD heard speech start.
    SpeechStarted,
    /// Deepgram's end of utterance: a gap after the last word (its end, in ms of the stream).
    UtteranceEnd { last_word_end_ms: Option<u32> },
    /// Anything else (future types).
    Other,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    is_final: bool,
    #[serde(default)]
    from_finalize: bool,
    #[serde(default)]
    channel: Option<ChannelField>,
    /// `UtteranceEnd`: the end of the last word, in seconds.
    #[serde(default)]
    last_word_end: Option<f64>,
}

/// `channel` is an object in `Results` and an array of indices in `SpeechStarted` and
/// `UtteranceEnd`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ChannelField {
    /// The indices are not needed (one channel is sent); the shape is what counts.
    Indices(#[allow(dead_code)] Vec<u32>),
    Results(Channel),
}

#[derive(Deserialize)]
struct Channel {
    #[serde(default)]
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
}

/// Parses one text message of the stream.
pub fn parse(text: &str) -> Result<LiveEvent, LiveSttError> {
    let wire: Wire = serde_json::from_str(text).map_err(|_| LiveSttError::Malformed)?;
    match wire.kind.as_deref() {
        Some("Results") => {
            let channel = match wire.channel {
                Some(ChannelField::Results(c)) => Some(c),
                Some(ChannelField::Indices(_)) => return Err(LiveSttError::Malformed),
                None => None,
            };
            let transcript = channel
                .and_then(|c| c.alternatives.into_iter().next())
                .map(|a| a.transcript)
                .unwrap_or_default();
            Ok(if wire.is_final || wire.from_finalize {
                LiveEvent::Segment {
                    text: transcript,
                    finalizes: wire.from_finalize,
                }
            } else {
                LiveEvent::Interim(transcript)
            })
        }
        Some("Metadata") => Ok(LiveEvent::Metadata),
        Some("SpeechStarted") => Ok(LiveEvent::SpeechStarted),
        Some("UtteranceEnd") => Ok(LiveEvent::UtteranceEnd {
            last_word_end_ms: wire
                .last_word_end
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| (s * 1000.0).min(f64::from(u32::MAX)) as u32),
        }),
        Some("Error") => Err(LiveSttError::Provider),
        Some(_) => Ok(LiveEvent::Other),
        None => Err(LiveSttError::Malformed),
    }
}

/// After `Finalize`, how long a transcript with nothing open waits for a late final result
/// before its closed segments are taken as the whole utterance, ms.
pub const FINALIZE_GRACE_MS: u64 = 300;
/// After `Finalize`, the longest wait for the provider to close its last words, ms; then they
/// are used as last shown.
pub const FINALIZE_CAP_MS: u64 = 3_000;

/// Whether an utterance's transcript is known, at the end of speech.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The utterance's text.
    Text(String),
    /// Not yet: look again at this time, or when the next message arrives.
    WaitUntil(u64),
    /// The provider sent no result at all, not even to `Finalize`: it is not answering.
    NoAnswer,
}

/// The transcript of one utterance as results arrive.
#[derive(Debug, Default, Clone)]
pub struct LiveTranscript {
    segments: Vec<String>,
    open: String,
    finalized: bool,
    utterance_ended: bool,
    /// Results received (interim or final, empty ones too).
    results: usize,
}

impl LiveTranscript {
    /// Applies an event; returns the text to show as a partial transcript if it changed.
    pub fn push(&mut self, event: LiveEvent) -> Option<String> {
        if matches!(event, LiveEvent::Interim(_) | LiveEvent::Segment { .. }) {
            self.results += 1;
        }
        match event {
            LiveEvent::Interim(text) => {
                if text == self.open {
                    return None;
                }
                self.open = text;
            }
            LiveEvent::Segment { text, finalizes } => {
                if !text.trim().is_empty() {
                    self.segments.push(text.trim().to_string());
                }
                self.open.clear();
                if finalizes {
                    self.finalized = true;
                    return None;
                }
            }
            LiveEvent::UtteranceEnd { .. } => {
                self.utterance_ended = true;
                return None;
            }
            LiveEvent::Metadata | LiveEvent::SpeechStarted | LiveEvent::Other => return None,
        }
        Some(self.shown())
    }

    /// Closed segments and the open one, as the user would read them now.
    pub fn shown(&self) -> String {
        let mut parts: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        if !self.open.trim().is_empty() {
            parts.push(self.open.trim());
        }
        parts.join(" ")
    }

    /// The utterance's final text: the closed segments.
    pub fn final_text(&self) -> String {
        self.segments.join(" ")
    }

    /// After a pause's `Finalize` was settled, the utterance goes on: the next `Finalize` is
    /// waited for afresh, and its text includes the segments so far.
    pub fn reopen(&mut self) {
        self.finalized = false;
        self.utterance_ended = false;
    }

    /// Whether the answer to `Finalize` has arrived.
    pub fn is_finalized(&self) -> bool {
        self.finalized
    }

    /// Whether Deepgram reported the end of the utterance (`UtteranceEnd`): the closed segments
    /// are the whole utterance even if `Finalize` is never answered.
    pub fn utterance_ended(&self) -> bool {
        self.utterance_ended
    }

    /// The utterance's text at `now`, `Finalize` having been sent at `finalize_at`. Deepgram
    /// does not guarantee an answer to `Finalize` when little audio remains (the usual case
    /// after the client's end-of-turn silence), so its answer is not required: the answer,
    /// or `UtteranceEnd`, settles it at once; with nothing open, a short grace for a late final
    /// result; with words still open, up to [`FINALIZE_CAP_MS`], then the words as shown. A
    /// provider that sent no result at all is waited for up to the cap, then not answering.
    pub fn settle(&self, finalize_at: u64, now: u64) -> Settled {
        if self.finalized || self.utterance_ended {
            return Settled::Text(self.final_text());
        }
        if self.results == 0 {
            let until = finalize_at + FINALIZE_CAP_MS;
            return if now >= until {
                Settled::NoAnswer
            } else {
                Settled::WaitUntil(until)
            };
        }
        let (until, text) = if self.open.trim().is_empty() {
            (finalize_at + FINALIZE_GRACE_MS, self.final_text())
        } else {
            (finalize_at + FINALIZE_CAP_MS, self.shown())
        };
        if now >= until {
            Settled::Text(text)
        } else {
            Settled::WaitUntil(until)
        }
    }
}

#[cfg(test)]
mod tests;
