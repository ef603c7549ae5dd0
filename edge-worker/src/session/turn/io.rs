//! The turn's vocabulary with the I/O side: the [`Command`]s it gives and the [`Event`]s it
//! takes.

use aura_protocol::ServerMessage;
use serde_json::Value;

use super::builtins::ToolResult;
use crate::providers::tool_calls::ToolCall;
use crate::providers::tts::TtsRequest;

/// What the turn asks the I/O side to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A message to the client.
    Send(ServerMessage),
    /// An audio frame to the client.
    SendFrame(Vec<u8>),
    /// A log record (no key, no transcript).
    Log(Value),
    /// POST `body` to route `route`'s `v1/chat/completions`, streaming; report as `attempt`.
    StartLlm {
        attempt: u32,
        route: usize,
        body: Value,
    },
    /// Abandon attempt `attempt` (abort its request).
    AbortLlm { attempt: u32 },
    /// Send `request` to TTS route `route`, streaming; report as `chunk`.
    StartTts {
        chunk: u32,
        route: usize,
        request: TtsRequest,
    },
    /// Abort every TTS request of the turn.
    AbortTts,
    /// Run tool call `index` of the step: a built-in that reads the clock, or a webhook.
    RunTool {
        index: usize,
        call: ToolCall,
        builtin: bool,
    },
    /// Abort the tool in flight, if it allows it.
    AbortTools,
}

/// What happened, as the I/O side saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The LLM answered with its status (and `retry-after`, in ms).
    LlmStatus {
        attempt: u32,
        status: u16,
        retry_after_ms: Option<u64>,
    },
    /// The LLM refused with `status` (not 200), `retry-after` in ms, and the start of its
    /// body (what the refusal means: [`crate::providers::llm_refusal`]).
    LlmRefused {
        attempt: u32,
        status: u16,
        retry_after_ms: Option<u64>,
        body: Vec<u8>,
    },
    LlmBytes {
        attempt: u32,
        bytes: Vec<u8>,
    },
    /// The body ended.
    LlmEnded {
        attempt: u32,
    },
    /// The request could not be sent, or the body broke off.
    LlmBroken {
        attempt: u32,
    },
    TtsStatus {
        chunk: u32,
        status: u16,
    },
    /// The provider refused the chunk with `status`; `code` is its error code, if it gave one
    /// ([`crate::providers::tts::refusal_code`]).
    TtsRefused {
        chunk: u32,
        status: u16,
        code: Option<String>,
    },
    TtsBytes {
        chunk: u32,
        bytes: Vec<u8>,
    },
    TtsEnded {
        chunk: u32,
    },
    TtsBroken {
        chunk: u32,
    },
    ToolFinished {
        index: usize,
        result: ToolResult,
    },
    /// The user interrupted after hearing `played_ms` of the reply.
    Cancel {
        played_ms: u32,
    },
    /// The client's socket is gone.
    ClientGone,
}
