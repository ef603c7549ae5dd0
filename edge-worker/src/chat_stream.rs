//! The streamed reply of an OpenAI-compatible `POST /v1/chat/completions` with `stream: true`
//! (OpenAI, xAI Grok, Groq, llama.cpp, Ollama, ...): SSE events carrying
//! `chat.completion.chunk` JSON, ending with `data: [DONE]`. Turned into typed [`ChatEvent`]s.
//! A stream that stops before `[DONE]`, an `error` object mid-stream, or a chunk that is not
//! JSON are typed errors, so the router can fall back or tell the user, never hang or guess.

use serde::Deserialize;

use crate::sse::{SseError, SseParser};

/// Largest SSE event accepted from a provider.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

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
    /// Reply text, in order.
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
}

/// Why the stream failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatStreamError {
    #[error("malformed event stream: {0}")]
    Sse(#[from] SseError),
    #[error("a stream chunk is not a chat completion chunk ({0})")]
    BadChunk(String),
    #[error("the provider reported an error mid-stream: {kind}")]
    Provider { kind: String, message: String },
    #[error("the stream ended before [DONE]")]
    Truncated,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
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
    #[serde(default)]
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
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
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
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

#[derive(Deserialize)]
struct ProviderError {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// Parser for one streamed reply.
#[derive(Debug)]
pub struct ChatStream {
    sse: SseParser,
    done: bool,
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
            done: false,
        }
    }

    /// True once `[DONE]` was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Parses one read of the response body; calls `on_event` for each event, in order.
    pub fn push(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(ChatEvent),
    ) -> Result<(), ChatStreamError> {
        let mut failure = None;
        let done = &mut self.done;
        self.sse.push(bytes, |ev| {
            if failure.is_some() || *done {
                return;
            }
            if let Err(e) = handle(&ev.data, done, &mut on_event) {
                failure = Some(e);
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// The body ended: an error unless `[DONE]` was seen.
    pub fn finish(&mut self) -> Result<(), ChatStreamError> {
        self.sse.finish();
        if self.done {
            Ok(())
        } else {
            Err(ChatStreamError::Truncated)
        }
    }
}

fn handle(
    data: &str,
    done: &mut bool,
    on_event: &mut impl FnMut(ChatEvent),
) -> Result<(), ChatStreamError> {
    let data = data.trim();
    if data == "[DONE]" {
        *done = true;
        return Ok(());
    }
    let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
        ChatStreamError::BadChunk(format!("{:?} at column {}", e.classify(), e.column()))
    })?;
    if let Some(err) = chunk.error {
        let kind = err
            .kind
            .or_else(|| err.code.map(|c| c.to_string()))
            .unwrap_or_else(|| "error".into());
        return Err(ChatStreamError::Provider {
            kind,
            message: err.message,
        });
    }
    for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
        if let Some(delta) = choice.delta {
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                on_event(ChatEvent::Text(text));
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
    }
    Ok(())
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
    fn a_cut_stream_is_truncated_not_complete() {
        let cut = &OPENAI[..OPENAI.find("data: [DONE]").unwrap()];
        let (events, end) = run(cut, 16);
        assert_eq!(events.len(), 4);
        assert_eq!(end, Err(ChatStreamError::Truncated));
        let (_, end) = run(&OPENAI[..30], 8);
        assert_eq!(end, Err(ChatStreamError::Truncated));
    }

    #[test]
    fn provider_errors_and_garbage_mid_stream_are_typed() {
        let err = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
        let (events, end) = run(err, 3);
        assert_eq!(events, vec![ChatEvent::Text("Hi".into())]);
        assert_eq!(
            end,
            Err(ChatStreamError::Provider {
                kind: "server_error".into(),
                message: "overloaded".into()
            })
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
