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
    /// includes them depends on the provider (OpenAI's does, xAI's does not).
    ReasoningTokens(u32),
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
                on_event(ChatEvent::ReasoningTokens(n));
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
mod tests {
    use super::*;

    fn run(body: &str, piece: usize) -> (Vec<ChatEvent>, Result<(), ChatStreamError>) {
        let mut s = ChatStream::new();
        let mut events = Vec::new();
        for chunk in body.as_bytes().chunks(piece) {
            if let Err(e) = s.push(chunk, |e| events.push(e)) {
                return (events, Err(e));
            }
        }
        let end = s.finish();
        (events, end)
    }

    /// A reply as OpenAI streams it, with a keep-alive comment, CRLF line ends and usage.
    const OPENAI: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"We open \"},\"finish_reason\":null}]}\r\n\r\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"at nine.\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":5,\"total_tokens\":45}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn a_text_reply_gives_text_finish_and_usage_for_any_read_size() {
        let expected = vec![
            ChatEvent::Text("We open ".into()),
            ChatEvent::Text("at nine.".into()),
            ChatEvent::Finish(FinishReason::Stop),
            ChatEvent::Usage {
                prompt_tokens: 40,
                completion_tokens: 5,
            },
        ];
        for piece in [1, 2, 7, 64, OPENAI.len()] {
            let (events, end) = run(OPENAI, piece);
            assert_eq!(events, expected, "reads of {piece}");
            assert_eq!(end, Ok(()));
        }
    }

    #[test]
    fn tool_call_deltas_are_passed_on_in_pieces() {
        let body = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"check_order\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"order\\\":\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"42}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (events, end) = run(body, 5);
        assert_eq!(end, Ok(()));
        let args: String = events
            .iter()
            .filter_map(|e| match e {
                ChatEvent::ToolCall { arguments, .. } => Some(arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(args, "{\"order\":42}");
        assert!(
            matches!(&events[0], ChatEvent::ToolCall { id: Some(id), name: Some(n), .. } if id == "call_1" && n == "check_order")
        );
        assert_eq!(
            events.last(),
            Some(&ChatEvent::Finish(FinishReason::ToolCalls))
        );
    }

    #[test]
    fn a_cut_stream_is_truncated_unless_it_ended_cleanly_after_a_finish_reason() {
        // Cut before the finish chunk: a disconnect.
        let before_finish = &OPENAI[..OPENAI
            .find("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},")
            .unwrap()];
        let (events, end) = run(before_finish, 16);
        assert_eq!(events.len(), 2);
        assert_eq!(end, Err(ChatStreamError::Truncated));
        let (_, end) = run(&OPENAI[..30], 8);
        assert_eq!(end, Err(ChatStreamError::Truncated));
        // No [DONE] after the finish reason and usage: a normal end.
        let no_done = &OPENAI[..OPENAI.find("data: [DONE]").unwrap()];
        for piece in [1, 3, 64, no_done.len()] {
            let (events, end) = run(no_done, piece);
            assert_eq!(events.len(), 4, "reads of {piece}");
            assert_eq!(end, Ok(()), "reads of {piece}");
        }
        // Cut in the middle of the usage event after the finish reason: still a disconnect.
        let mid_event = &no_done[..no_done.len() - 10];
        assert_eq!(run(mid_event, 7).1, Err(ChatStreamError::Truncated));
        // The finish event's blank line missing: the finish never arrived.
        let unterminated =
            &OPENAI[..OPENAI.find("data: {\"id\":\"c1\",\"choices\":[],").unwrap() - 1];
        assert_eq!(run(unterminated, 5).1, Err(ChatStreamError::Truncated));
    }

    #[test]
    fn every_prefix_of_a_stream_without_done_ends_ok_only_after_the_finish_event() {
        let no_done = &OPENAI[..OPENAI.find("data: {\"id\":\"c1\",\"choices\":[],").unwrap()];
        let finish_end = no_done.len();
        for cut in 0..=finish_end {
            let (_, end) = run(&no_done[..cut], 9);
            // Ok exactly when the finish event is complete (its blank line included).
            let complete = cut == finish_end;
            assert_eq!(end.is_ok(), complete, "cut at {cut}: {end:?}");
        }
    }

    /// DeepSeek-R1 on Azure AI / DashScope style: `null` for every absent field.
    const NULLS: &str = concat!(
        "data: {\"id\":\"n1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":null,\"function_call\":null,\"refusal\":null,\"reasoning_content\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null,\"system_fingerprint\":null}\n\n",
        "data: {\"id\":\"n1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"We open \",\"tool_calls\":null,\"function_call\":null,\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"n1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"at nine.\",\"tool_calls\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"n1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"tool_calls\":null,\"role\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"n1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4,\"total_tokens\":16,\"prompt_tokens_details\":null,\"completion_tokens_details\":null}}\n\n",
        "data: {\"id\":\"n1\",\"choices\":null,\"usage\":null}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn null_fields_are_the_same_as_absent_ones_for_any_read_size() {
        let expected = vec![
            ChatEvent::Text("We open ".into()),
            ChatEvent::Text("at nine.".into()),
            ChatEvent::Finish(FinishReason::Stop),
            ChatEvent::Usage {
                prompt_tokens: 12,
                completion_tokens: 4,
            },
        ];
        for piece in 1..=NULLS.len().min(200) {
            let (events, end) = run(NULLS, piece);
            assert_eq!(events, expected, "reads of {piece}");
            assert_eq!(end, Ok(()), "reads of {piece}");
        }
        // Nulls inside tool call deltas, and a null index, too.
        let body = concat!(
            "data: {\"choices\":[{\"index\":null,\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":null,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"check_order\",\"arguments\":null}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":null,\"type\":null,\"function\":{\"name\":null,\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":null},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":null,\"completion_tokens\":null}}\n\n",
            "data: [DONE]\n\n",
        );
        let (events, end) = run(body, 11);
        assert_eq!(end, Ok(()));
        assert_eq!(
            events,
            vec![
                ChatEvent::ToolCall {
                    index: 0,
                    id: Some("call_1".into()),
                    name: Some("check_order".into()),
                    arguments: String::new()
                },
                ChatEvent::ToolCall {
                    index: 0,
                    id: None,
                    name: None,
                    arguments: "{}".into()
                },
                ChatEvent::Finish(FinishReason::ToolCalls),
                ChatEvent::Usage {
                    prompt_tokens: 0,
                    completion_tokens: 0
                },
            ]
        );
    }

    /// llama.cpp before the OpenAI-style errors: an `error:` field, then `[DONE]`, HTTP 200.
    const LLAMA_ERROR: &str = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}],\"object\":\"chat.completion.chunk\"}\n\n",
        "error: {\"code\":500,\"message\":\"the request exceeds the available context size\",\"type\":\"server_error\"}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn llama_cpp_error_field_is_a_provider_error_not_an_empty_reply() {
        for piece in 1..=LLAMA_ERROR.len() {
            let (events, end) = run(LLAMA_ERROR, piece);
            assert!(events.is_empty(), "reads of {piece}: {events:?}");
            let Err(ChatStreamError::Provider(e)) = &end else {
                panic!("reads of {piece}: {end:?}");
            };
            assert_eq!(e.via, ErrorVia::ErrorField);
            assert_eq!(e.blame, Blame::Provider);
            assert_eq!(e.kind.as_deref(), Some("server_error"));
            assert_eq!(e.code.as_deref(), Some("500"));
            assert!(e.message.contains("context size"));
            assert_eq!(end.unwrap_err().code(), ChatStreamErrorCode::ProviderError);
        }
        // Wrapped in `error`, or not JSON at all: still an error.
        let wrapped = "error: {\"error\":{\"code\":400,\"message\":\"bad\",\"type\":\"invalid_request_error\"}}\n\ndata: [DONE]\n\n";
        let (_, end) = run(wrapped, 4);
        assert!(
            matches!(&end, Err(ChatStreamError::Provider(e)) if e.kind.as_deref() == Some("invalid_request_error")),
            "{end:?}"
        );
        let (_, end) = run("error: out of memory\n\ndata: [DONE]\n\n", 4);
        assert!(
            matches!(&end, Err(ChatStreamError::Provider(e)) if e.message == "out of memory"),
            "{end:?}"
        );
    }

    /// Groq, when the model writes a tool call its parser cannot read.
    const GROQ_TOOL_USE_FAILED: &str = concat!(
        "data: {\"id\":\"chatcmpl-g1\",\"object\":\"chat.completion.chunk\",\"model\":\"llama-3.3-70b-versatile\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"x_groq\":{\"id\":\"req_1\"}}\n\n",
        "event: error\n",
        "data: {\"error\":{\"message\":\"Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.\",\"type\":\"invalid_request_error\",\"code\":\"tool_use_failed\",\"failed_generation\":\"<function=check_order>{\\\"order\\\": 42}</function>\"}}\n\n",
    );

    #[test]
    fn groq_tool_use_failed_is_the_models_mistake_not_the_providers() {
        for piece in 1..=GROQ_TOOL_USE_FAILED.len() {
            let (events, end) = run(GROQ_TOOL_USE_FAILED, piece);
            assert!(events.is_empty(), "{events:?}");
            let err = end.unwrap_err();
            assert!(err.is_model_mistake(), "reads of {piece}: {err:?}");
            assert_eq!(err.code(), ChatStreamErrorCode::ModelError);
            let ChatStreamError::Provider(e) = &err else {
                unreachable!()
            };
            assert_eq!(e.code.as_deref(), Some("tool_use_failed"));
            assert_eq!(e.blame, Blame::Model);
            // The model's failed output is never kept.
            assert!(!e.message.contains("check_order"));
            assert!(!err.to_string().contains("Failed to call"));
        }
        // Any other `event: error` is the provider's, even with an odd body.
        let other = "event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
        let err = run(other, 5).1.unwrap_err();
        assert_eq!(err.code(), ChatStreamErrorCode::ProviderError);
        for body in ["event: error\ndata: oops\n\n", "event: error\ndata: {}\n\n"] {
            let err = run(body, 5).1.unwrap_err();
            assert_eq!(err.code(), ChatStreamErrorCode::ProviderError, "{body}");
        }
    }

    #[test]
    fn reasoning_deltas_are_never_text_and_reasoning_tokens_are_reported() {
        let body = concat!(
            // xAI / llama.cpp / DeepSeek
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"The user\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\" asks.\",\"content\":null},\"finish_reason\":null}]}\n\n",
            // Ollama / OpenRouter
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"Hmm\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Nine.\",\"reasoning_content\":\"\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"completion_tokens_details\":{\"reasoning_tokens\":31,\"accepted_prediction_tokens\":0}}}\n\n",
            "data: [DONE]\n\n",
        );
        for piece in [1, 5, 17, body.len()] {
            let (events, end) = run(body, piece);
            assert_eq!(end, Ok(()));
            assert_eq!(
                events,
                vec![
                    ChatEvent::Reasoning(8),
                    ChatEvent::Reasoning(6),
                    ChatEvent::Reasoning(3),
                    ChatEvent::Text("Nine.".into()),
                    ChatEvent::Finish(FinishReason::Stop),
                    ChatEvent::Usage {
                        prompt_tokens: 9,
                        completion_tokens: 2
                    },
                    ChatEvent::ReasoningTokens(31),
                ],
                "reads of {piece}"
            );
        }
    }

    #[test]
    fn reasoning_text_and_tool_calls_show_progress_and_bookkeeping_does_not() {
        assert!(ChatEvent::Reasoning(3).shows_progress());
        assert!(ChatEvent::Text("a".into()).shows_progress());
        assert!(
            ChatEvent::ToolCall {
                index: 0,
                id: None,
                name: None,
                arguments: String::new()
            }
            .shows_progress()
        );
        assert!(!ChatEvent::Finish(FinishReason::Stop).shows_progress());
        assert!(!ChatEvent::ReasoningTokens(1).shows_progress());
        assert!(
            !ChatEvent::Usage {
                prompt_tokens: 1,
                completion_tokens: 1
            }
            .shows_progress()
        );
    }

    /// Content deltas of `text` cut at the given byte positions, as a stream without `[DONE]`.
    fn content_stream(text: &str, cuts: &[usize]) -> String {
        let mut out = String::new();
        let mut last = 0;
        for &c in cuts.iter().chain([text.len()].iter()) {
            let piece = serde_json::to_string(&text[last..c]).unwrap();
            out.push_str(&format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{piece}}},\"finish_reason\":null}}]}}\n\n"
            ));
            last = c;
        }
        out.push_str(
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        );
        out
    }

    fn text_of(events: &[ChatEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                ChatEvent::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn think_tags_in_content_are_removed_wherever_the_deltas_split_them() {
        let text = "<think>The user wants the hours. We open at nine.</think>\n\nWe open at nine. See you <3";
        for at in 0..=text.len() {
            let body = content_stream(text, &[at]);
            let (events, end) = run(&body, 13);
            assert_eq!(end, Ok(()), "split at {at}");
            assert_eq!(
                text_of(&events),
                "We open at nine. See you <3",
                "split at {at}"
            );
            assert!(events.iter().any(|e| matches!(e, ChatEvent::Reasoning(_))));
            // Text held back at the end is released before the finish event.
            assert_eq!(events.last(), Some(&ChatEvent::Finish(FinishReason::Stop)));
        }
        // A reply ending in what could start a tag keeps it.
        let (events, _) = run(&content_stream("a <th", &[3]), 100);
        assert_eq!(text_of(&events), "a <th");
    }

    #[test]
    fn every_split_of_every_quirky_stream_gives_the_same_events_and_never_panics() {
        for body in [OPENAI, NULLS, LLAMA_ERROR, GROQ_TOOL_USE_FAILED] {
            let whole = run(body, body.len());
            for at in 0..=body.len() {
                let mut s = ChatStream::new();
                let mut events = Vec::new();
                let first = s.push(&body.as_bytes()[..at], |e| events.push(e));
                let end = first
                    .and_then(|()| s.push(&body.as_bytes()[at..], |e| events.push(e)))
                    .and_then(|()| s.finish());
                assert_eq!((events, end), whole, "split at {at}");
            }
        }
        // Garbage in any shape is an error or nothing, never a panic.
        let mut seed: u64 = 7;
        for _ in 0..500 {
            let mut bytes = Vec::new();
            for _ in 0..(seed % 300) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let alphabet = b"data: {}[]\"error:event\n\r,nul0";
                bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let mut s = ChatStream::new();
            let _ = s.push(&bytes, |_| {});
            let _ = s.finish();
            seed = seed.wrapping_add(1);
        }
    }

    #[test]
    fn provider_errors_and_garbage_mid_stream_are_typed() {
        let err = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
        let (events, end) = run(err, 3);
        assert_eq!(events, vec![ChatEvent::Text("Hi".into())]);
        assert_eq!(
            end,
            Err(ChatStreamError::Provider(StreamedError {
                blame: Blame::Provider,
                via: ErrorVia::Data,
                kind: Some("server_error".into()),
                code: None,
                message: "overloaded".into()
            }))
        );
        let (_, end) = run("data: {not json\n\n", 4);
        assert!(matches!(end, Err(ChatStreamError::BadChunk(_))));
    }

    #[test]
    fn groq_usage_is_read_from_x_groq() {
        let body = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}}\n\ndata: [DONE]\n\n";
        let (events, _) = run(body, 100);
        assert_eq!(
            events[1],
            ChatEvent::Usage {
                prompt_tokens: 7,
                completion_tokens: 3
            }
        );
    }
}
