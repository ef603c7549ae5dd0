//! The streamed reply of an OpenAI-compatible `POST /v1/chat/completions` with `stream: true`
//! (OpenAI, xAI Grok, Groq, llama.cpp, Ollama, ...): SSE events carrying
//! `chat.completion.chunk` JSON, normally ending with `data: [DONE]`. Turned into typed
//! [`ChatEvent`]s. An `error` object mid-stream, or a chunk that is not JSON, are typed errors,
//! so the router can fall back or tell the user, never hang or guess.
//!
//! Real providers' quirks, all accepted:
//! - `null` wherever the schema allows the field to be absent (`"tool_calls": null`,
//!   `"content": null`, `"choices": null`, `"usage": null`, `"index": null`, ...: Azure AI
//!   DeepSeek-R1, Alibaba DashScope), no `delta.role`, and usage-only chunks with `choices: []`.
//! - No `[DONE]` (older llama.cpp, ik_llama.cpp, some gateways): a body that ends cleanly after a
//!   `finish_reason` is a normal end; one that ends mid-event or before any `finish_reason` is
//!   still [`ChatStreamError::Truncated`].
//! - llama.cpp's old non-standard `error:` SSE field (then `[DONE]`, HTTP 200) and Groq's
//!   `event: error` are errors, with who is to blame ([`Blame`]): Groq's `tool_use_failed` is the
//!   model's mistake (the provider works), not the provider's failure.
//! - Reasoning: `delta.reasoning_content` (xAI, llama.cpp, DeepSeek) and `delta.reasoning`
//!   (Ollama, OpenRouter) become [`ChatEvent::Reasoning`], never text; `<think>...</think>` in
//!   `content` (Groq qwen3 raw format, DeepSeek-R1 on some hosts) is removed by a
//!   [`ThinkFilter`] and reported the same way; `completion_tokens_details.reasoning_tokens`
//!   becomes [`ChatEvent::ReasoningTokens`].

use serde::{Deserialize, Deserializer};

use crate::providers::sse::{SseError, SseEvent, SseParser};
use crate::providers::think_filter::{Filtered, ThinkFilter};

/// Largest SSE event accepted from a provider.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Longest provider error message kept (it is for logs and never holds the model's output).
const MESSAGE_MAX_CHARS: usize = 300;

/// Why a reply stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    Other(String),
}

/// One thing the stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// Reply text, in order (with any `<think>` block already removed).
    Text(String),
    /// A fragment of tool call `index`: its id and name arrive once, its arguments in pieces.
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    Finish(FinishReason),
    Usage {
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    /// The model is reasoning: this many bytes of reasoning arrived (a `reasoning_content` or
    /// `reasoning` delta, or text inside `<think>`). Never text to speak, show or store; it
    /// proves the stream is alive.
    Reasoning(usize),
    /// Sent right after [`ChatEvent::Usage`] when the provider reports
    /// `completion_tokens_details.reasoning_tokens`. Whether `completion_tokens` already
    /// includes them depends on the provider (OpenAI's does, xAI's does not): `apart` is what
    /// the report's `total_tokens` says ([`crate::providers::reasoning::apart_by_totals`]).
    ReasoningTokens {
        tokens: u32,
        apart: Option<bool>,
    },
}

impl ChatEvent {
    /// Whether the event shows the model is working on the answer (text, a tool call, or
    /// reasoning): for a first-token deadline, a provider busy reasoning is alive.
    pub fn shows_progress(&self) -> bool {
        matches!(
            self,
            Self::Text(_) | Self::ToolCall { .. } | Self::Reasoning(_)
        )
    }
}

/// Who is to blame for an error reported in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The provider failed (overloaded, internal error, ...): another route may succeed and the
    /// breaker should count it.
    Provider,
    /// The model produced something the provider could not use (Groq's `tool_use_failed`: a
    /// malformed tool call). The provider works; retrying or another route may help, but this is
    /// no reason to trip the route's breaker.
    Model,
}

/// Where in the stream an error was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorVia {
    /// An `error` object in a `data:` chunk (OpenAI style, Groq's `event: error`).
    Data,
    /// llama.cpp's non-standard `error:` SSE field.
    ErrorField,
}

/// An error the provider reported inside a 200 stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedError {
    pub blame: Blame,
    pub via: ErrorVia,
    /// The error's `type` (`server_error`, `invalid_request_error`, ...), if given.
    pub kind: Option<String>,
    /// The error's `code` as text (`tool_use_failed`, `500`, ...), if given.
    pub code: Option<String>,
    /// The provider's message, shortened. Not shown to users.
    pub message: String,
}

/// Why the stream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatStreamError {
    #[error("malformed event stream: {0}")]
    Sse(#[from] SseError),
    #[error("a stream chunk is not a chat completion chunk ({0})")]
    BadChunk(String),
    #[error("the provider reported an error mid-stream ({})", .0.describe())]
    Provider(StreamedError),
    #[error("the stream ended before [DONE] or a finish reason")]
    Truncated,
}

/// A stable code for each [`ChatStreamError`], for logs and routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatStreamErrorCode {
    /// The event stream itself was bad (too large, not UTF-8).
    Sse,
    /// A chunk was not a chat completion chunk.
    BadChunk,
    /// The provider reported its own failure.
    ProviderError,
    /// The provider reported the model's mistake (e.g. `tool_use_failed`).
    ModelError,
    /// The body ended too early.
    Truncated,
}

impl ChatStreamErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sse => "sse",
            Self::BadChunk => "bad_chunk",
            Self::ProviderError => "provider_error",
            Self::ModelError => "model_error",
            Self::Truncated => "truncated",
        }
    }
}

impl ChatStreamError {
    pub fn code(&self) -> ChatStreamErrorCode {
        match self {
            Self::Sse(_) => ChatStreamErrorCode::Sse,
            Self::BadChunk(_) => ChatStreamErrorCode::BadChunk,
            Self::Provider(e) if e.blame == Blame::Model => ChatStreamErrorCode::ModelError,
            Self::Provider(_) => ChatStreamErrorCode::ProviderError,
            Self::Truncated => ChatStreamErrorCode::Truncated,
        }
    }

    /// Whether the model, not the provider, is to blame (the breaker must not count it).
    pub fn is_model_mistake(&self) -> bool {
        self.code() == ChatStreamErrorCode::ModelError
    }
}

impl StreamedError {
    fn describe(&self) -> String {
        match (&self.kind, &self.code) {
            (Some(k), Some(c)) => format!("{k}, {c}"),
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => "error".into(),
        }
    }
}

/// `null` where a list or number may be absent: the same as absent.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default, deserialize_with = "null_as_default")]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<ProviderError>,
    /// Groq reports usage here.
    #[serde(default)]
    x_groq: Option<XGroq>,
}

#[derive(Deserialize)]
struct XGroq {
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default, deserialize_with = "null_as_default")]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// xAI, llama.cpp, DeepSeek.
    #[serde(default)]
    reasoning_content: Option<String>,
    /// Ollama, OpenRouter.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default, deserialize_with = "null_as_default")]
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default, deserialize_with = "null_as_default")]
    prompt_tokens: u32,
    #[serde(default, deserialize_with = "null_as_default")]
    completion_tokens: u32,
    #[serde(default)]
    total_tokens: Option<u32>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct ProviderError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// The error object of llama.cpp's `error:` field: the object itself, or wrapped in `error`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorFieldBody {
    Wrapped { error: ProviderError },
    Bare(ProviderError),
}

/// Error codes that mean the model, not the provider, failed.
const MODEL_MISTAKE_CODES: &[&str] = &["tool_use_failed"];

impl ProviderError {
    fn into_streamed(self, via: ErrorVia) -> StreamedError {
        let code = self.code.and_then(|c| match c {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        });
        let blame = if code
            .as_deref()
            .is_some_and(|c| MODEL_MISTAKE_CODES.contains(&c))
        {
            Blame::Model
        } else {
            Blame::Provider
        };
        StreamedError {
            blame,
            via,
            kind: self.kind,
            code,
            message: self
                .message
                .unwrap_or_default()
                .chars()
                .take(MESSAGE_MAX_CHARS)
                .collect(),
        }
    }
}

/// Parser for one streamed reply.
#[derive(Debug)]
pub struct ChatStream {
    sse: SseParser,
    state: State,
}

#[derive(Debug, Default)]
struct State {
    done: bool,
    finished: bool,
    think: ThinkFilter,
}

impl Default for ChatStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatStream {
    pub fn new() -> Self {
        Self {
            sse: SseParser::new(MAX_EVENT_BYTES),
            state: State::default(),
        }
    }

    /// True once `[DONE]` was seen.
    pub fn is_done(&self) -> bool {
        self.state.done
    }

    /// True once choice 0 reported a `finish_reason`.
    pub fn is_finished(&self) -> bool {
        self.state.finished
    }

    /// Parses one read of the response body; calls `on_event` for each event, in order.
    pub fn push(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(ChatEvent),
    ) -> Result<(), ChatStreamError> {
        let mut failure = None;
        let state = &mut self.state;
        self.sse.push(bytes, |ev| {
            if failure.is_some() || state.done {
                return;
            }
            if let Err(e) = state.handle(&ev, &mut on_event) {
                failure = Some(e);
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// The body ended: `Ok` after `[DONE]`, or after a `finish_reason` when the body ended
    /// cleanly between events (no `[DONE]`, as older llama.cpp sends); otherwise
    /// [`ChatStreamError::Truncated`].
    pub fn finish(&mut self) -> Result<(), ChatStreamError> {
        let cut_mid_event = self.sse.finish();
        if self.state.done || (self.state.finished && !cut_mid_event) {
            Ok(())
        } else {
            Err(ChatStreamError::Truncated)
        }
    }
}

impl State {
    fn text(&mut self, text: &str, on_event: &mut impl FnMut(ChatEvent)) {
        self.think.push(text, |f| on_event(filtered(f)));
    }

    fn end_of_text(&mut self, on_event: &mut impl FnMut(ChatEvent)) {
        self.think.flush(|f| on_event(filtered(f)));
    }

    fn handle(
        &mut self,
        ev: &SseEvent,
        on_event: &mut impl FnMut(ChatEvent),
    ) -> Result<(), ChatStreamError> {
        if let Some(field) = &ev.error {
            let err = match serde_json::from_str::<ErrorFieldBody>(field.trim()) {
                Ok(ErrorFieldBody::Wrapped { error } | ErrorFieldBody::Bare(error)) => error,
                // Not JSON: still an error, not a reply.
                Err(_) => ProviderError {
                    message: Some(field.trim().to_string()),
                    kind: None,
                    code: None,
                },
            };
            return Err(ChatStreamError::Provider(
                err.into_streamed(ErrorVia::ErrorField),
            ));
        }
        let data = ev.data.trim();
        if data.is_empty() && ev.event.is_none() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.end_of_text(on_event);
            self.done = true;
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            if ev.event.as_deref() == Some("error") {
                // Groq's `event: error` whose data is not an error object: still an error.
                return ChatStreamError::Provider(StreamedError {
                    blame: Blame::Provider,
                    via: ErrorVia::Data,
                    kind: None,
                    code: None,
                    message: String::new(),
                });
            }
            ChatStreamError::BadChunk(format!("{:?} at column {}", e.classify(), e.column()))
        })?;
        if let Some(err) = chunk.error {
            return Err(ChatStreamError::Provider(err.into_streamed(ErrorVia::Data)));
        }
        if ev.event.as_deref() == Some("error") {
            return Err(ChatStreamError::Provider(StreamedError {
                blame: Blame::Provider,
                via: ErrorVia::Data,
                kind: None,
                code: None,
                message: String::new(),
            }));
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                for reasoning in [delta.reasoning_content, delta.reasoning]
                    .into_iter()
                    .flatten()
                    .filter(|r| !r.is_empty())
                {
                    on_event(ChatEvent::Reasoning(reasoning.len()));
                }
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    self.text(&text, on_event);
                }
                for call in delta.tool_calls {
                    let (name, arguments) = call.function.map_or((None, String::new()), |f| {
                        (f.name, f.arguments.unwrap_or_default())
                    });
                    on_event(ChatEvent::ToolCall {
                        index: call.index,
                        id: call.id,
                        name,
                        arguments,
                    });
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.end_of_text(on_event);
                self.finished = true;
                on_event(ChatEvent::Finish(match reason.as_str() {
                    "stop" => FinishReason::Stop,
                    "length" => FinishReason::Length,
                    "tool_calls" | "function_call" => FinishReason::ToolCalls,
                    "content_filter" => FinishReason::ContentFilter,
                    _ => FinishReason::Other(reason),
                }));
            }
        }
        if let Some(u) = chunk.usage.or(chunk.x_groq.and_then(|x| x.usage)) {
            on_event(ChatEvent::Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
            });
            if let Some(n) = u.completion_tokens_details.and_then(|d| d.reasoning_tokens) {
                let apart = crate::providers::reasoning::apart_by_totals(
                    u.prompt_tokens,
                    u.completion_tokens,
                    u.total_tokens,
                    n,
                );
                on_event(ChatEvent::ReasoningTokens { tokens: n, apart });
            }
        }
        Ok(())
    }
}

fn filtered(f: Filtered) -> ChatEvent {
    match f {
        Filtered::Content(t) => ChatEvent::Text(t),
        Filtered::Reasoning(n) => ChatEvent::Reasoning(n),
    }
}

#[cfg(test)]
mod tests;
