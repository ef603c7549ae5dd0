//! Tool calls streamed by an OpenAI-compatible LLM, assembled: the id and name of call `index`
//! arrive once, its arguments in pieces, several calls may interleave, and the stream ends with
//! `finish_reason: "tool_calls"`. Plain Rust, fed by [`crate::providers::openai_chat::ChatEvent::ToolCall`].

use crate::tenant::tools::bounds::ARGUMENTS_MAX_BYTES;

/// Most calls accepted in one LLM step.
pub const CALLS_PER_STEP_MAX: usize = 8;

/// One complete call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON text; checked against the tool's schema
    /// before the call, see [`crate::tenant::tools::check_arguments`]).
    pub arguments: String,
}

/// Why the calls of a step could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolCallError {
    #[error("tool call {0} has no id or no name")]
    Incomplete(u32),
    #[error("more than {CALLS_PER_STEP_MAX} tool calls in one step")]
    TooMany,
    #[error("tool call {0} has arguments longer than 16 KiB")]
    TooLarge(u32),
}

#[derive(Debug, Default)]
struct Partial {
    index: u32,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
    oversize: bool,
}

/// Collects the fragments of one step's calls.
#[derive(Debug, Default)]
pub struct ToolCallAssembler {
    calls: Vec<Partial>,
    too_many: bool,
}

impl ToolCallAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any fragment arrived.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// One fragment of call `index`.
    pub fn push(&mut self, index: u32, id: Option<String>, name: Option<String>, arguments: &str) {
        let at = match self.calls.iter().position(|c| c.index == index) {
            Some(i) => i,
            None => {
                if self.calls.len() == CALLS_PER_STEP_MAX {
                    self.too_many = true;
                    return;
                }
                self.calls.push(Partial {
                    index,
                    ..Partial::default()
                });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[at];
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            call.id.get_or_insert(id);
        }
        if let Some(name) = name.filter(|s| !s.is_empty()) {
            // Some servers repeat the name in every fragment; the first one counts.
            call.name.get_or_insert(name);
        }
        if call.arguments.len() + arguments.len() > ARGUMENTS_MAX_BYTES {
            call.oversize = true;
        } else {
            call.arguments.push_str(arguments);
        }
    }

    /// The step's calls, in index order.
    pub fn finish(mut self) -> Result<Vec<ToolCall>, ToolCallError> {
        if self.too_many {
            return Err(ToolCallError::TooMany);
        }
        self.calls.sort_by_key(|c| c.index);
        self.calls
            .into_iter()
            .map(|c| {
                if c.oversize {
                    return Err(ToolCallError::TooLarge(c.index));
                }
                match (c.id, c.name) {
                    (Some(id), Some(name)) => Ok(ToolCall {
                        id,
                        name,
                        arguments: c.arguments,
                    }),
                    _ => Err(ToolCallError::Incomplete(c.index)),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::openai_chat::{ChatEvent, ChatStream, FinishReason};

    /// Feeds an SSE body through the edge's chat-stream parser into an assembler.
    fn assemble(body: &str) -> (Result<Vec<ToolCall>, ToolCallError>, Option<FinishReason>) {
        let mut asm = ToolCallAssembler::new();
        let mut finish = None;
        let mut parser = ChatStream::new();
        parser
            .push(body.as_bytes(), |e| match e {
                ChatEvent::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => asm.push(index, id, name, &arguments),
                ChatEvent::Finish(f) => finish = Some(f),
                _ => {}
            })
            .unwrap();
        (asm.finish(), finish)
    }

    fn chunk(delta: &str, finish: &str) -> String {
        format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    }

    #[test]
    fn two_interleaved_calls_are_assembled_in_order() {
        let body = [
            chunk(r#"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"check_order","arguments":""}}]}"#, "null"),
            chunk(r#"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"opening_hours","arguments":"{\"day\":"}}]}"#, "null"),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"order\":"}}]}"#, "null"),
            chunk(r#"{"tool_calls":[{"index":1,"function":{"arguments":"\"sunday\"}"}}]}"#, "null"),
            chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"42}"}}]}"#, "null"),
            chunk("{}", "\"tool_calls\""),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let (calls, finish) = assemble(&body);
        assert_eq!(finish, Some(FinishReason::ToolCalls));
        assert_eq!(
            calls.unwrap(),
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "check_order".into(),
                    arguments: "{\"order\":42}".into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "opening_hours".into(),
                    arguments: "{\"day\":\"sunday\"}".into()
                },
            ]
        );
    }

    #[test]
    fn calls_with_null_fields_and_no_done_are_assembled() {
        // DashScope / Azure AI style nulls, and the body ends after the finish reason.
        let body = [
            chunk(r#"{"content":null,"function_call":null,"refusal":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"check_order","arguments":null}}]}"#, "null"),
            chunk(r#"{"content":null,"tool_calls":[{"index":null,"id":null,"type":null,"function":{"name":null,"arguments":"{\"order\":42}"}}]}"#, "null"),
            chunk(r#"{"content":null,"tool_calls":null}"#, "\"tool_calls\""),
        ]
        .concat();
        let (calls, finish) = assemble(&body);
        assert_eq!(finish, Some(FinishReason::ToolCalls));
        assert_eq!(
            calls.unwrap(),
            vec![ToolCall {
                id: "call_a".into(),
                name: "check_order".into(),
                arguments: "{\"order\":42}".into()
            }]
        );
        let mut parser = ChatStream::new();
        parser.push(body.as_bytes(), |_| {}).unwrap();
        assert_eq!(
            parser.finish(),
            Ok(()),
            "a clean end after the finish reason"
        );
    }

    #[test]
    fn a_call_without_a_name_or_id_is_an_error_not_a_guess() {
        let mut asm = ToolCallAssembler::new();
        asm.push(0, None, Some("x".into()), "{}");
        assert_eq!(asm.finish(), Err(ToolCallError::Incomplete(0)));
        let mut asm = ToolCallAssembler::new();
        asm.push(0, Some("id".into()), Some("first".into()), "");
        asm.push(0, None, Some("first".into()), "{}");
        assert_eq!(
            asm.finish().unwrap()[0].name,
            "first",
            "a repeated name is not appended"
        );
    }

    #[test]
    fn too_many_calls_or_huge_arguments_are_refused() {
        let mut asm = ToolCallAssembler::new();
        for i in 0..9 {
            asm.push(i, Some(format!("c{i}")), Some("t".into()), "{}");
        }
        assert_eq!(asm.finish(), Err(ToolCallError::TooMany));
        let mut asm = ToolCallAssembler::new();
        asm.push(0, Some("c".into()), Some("t".into()), "{\"a\":\"");
        for _ in 0..20 {
            asm.push(0, None, None, &"x".repeat(1_000));
        }
        assert_eq!(asm.finish(), Err(ToolCallError::TooLarge(0)));
    }
}
