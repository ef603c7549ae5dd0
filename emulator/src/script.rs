//! What the emulator does for each request: scripted behaviours, queued per endpoint, and the
//! default when the queue is empty.

use serde::{Deserialize, Serialize};

/// The emulated endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /v1/chat/completions`
    Chat,
    /// `POST /v1/audio/speech`
    Speech,
    /// `POST /v1/audio/transcriptions`
    Transcriptions,
    /// `GET /v1/listen` (WebSocket): Deepgram-style live transcription.
    Listen,
}

/// A failure to inject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this status (and `retry-after`, in seconds) and an OpenAI-style error body.
    Status {
        code: u16,
        #[serde(default)]
        retry_after_s: Option<u64>,
    },
    /// Accept the request and never answer.
    Hang,
    /// Stream `chunks` chunks, then cut the connection.
    DisconnectAfter { chunks: usize },
    /// Stream `chunks` chunks, then send a chunk that is not valid JSON (chat) and stop.
    MalformedAfter { chunks: usize },
}

/// One scripted answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Behaviour {
    /// Chat: the reply text (streamed word by word). Transcriptions: the transcript.
    #[serde(default)]
    pub reply: Option<String>,
    /// Time to the first byte of the response (first token for chat), in ms.
    #[serde(default)]
    pub first_byte_ms: u64,
    /// Time between chunks (tokens for chat, 100 ms PCM blocks for speech), in ms.
    #[serde(default)]
    pub chunk_ms: u64,
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Chat: instead of text, stream these tool calls (OpenAI format: deltas of id and name,
    /// then the arguments in two pieces; `finish_reason: "tool_calls"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ScriptedToolCall>>,
    /// Speech: the rate of an answer whose request does not set one (an OpenAI-style `wav`),
    /// default 24 000 Hz (Groq's WAV is 48 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// A real provider's quirk to reproduce on the wire (see [`Mode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

/// Shapes real providers send that a plain OpenAI stream never has, to reproduce exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Chat: `null` for every absent field (`tool_calls`, `function_call`, `refusal`, `content`,
    /// `logprobs`, `usage`, ...), no `delta.role`, and a usage-only chunk with `choices: []`,
    /// as Azure AI's DeepSeek-R1 and Alibaba DashScope send.
    NullFields,
    /// Chat: the body ends after the finish (and usage) chunk without `data: [DONE]`, as older
    /// llama.cpp, ik_llama.cpp and some gateways do.
    NoDone,
    /// Chat: HTTP 200, the role chunk, then llama.cpp's old non-standard SSE field
    /// `error: {"code":500,"message":...,"type":"server_error"}` and `data: [DONE]`.
    LlamaCppError,
    /// Chat: HTTP 200, the role chunk, then Groq's `event: error` with a `tool_use_failed`
    /// error object (the model wrote a tool call Groq could not parse); the body ends.
    GroqToolUseFailed,
    /// Chat: reasoning in `delta.reasoning_content` (xAI, llama.cpp, DeepSeek) before the reply,
    /// and `completion_tokens_details.reasoning_tokens` in usage.
    ReasoningContent,
    /// Chat: as [`Mode::ReasoningContent`], with usage as xAI reports it: `completion_tokens`
    /// without the reasoning tokens, `total_tokens` adding them apart.
    XaiReasoning,
    /// Chat: OpenAI's 403 `unsupported_country_region_territory` (the caller's location is
    /// refused, not its key).
    UnsupportedRegion,
    /// Chat: reasoning in `delta.reasoning` (Ollama, OpenRouter) before the reply.
    Reasoning,
    /// Chat: reasoning inside `<think>...</think>` in `content`, the tags split across deltas
    /// (`<th` + `ink>`), as Groq's qwen3 raw format and DeepSeek-R1 on some hosts send.
    ThinkTags,
    /// Listen: Deepgram's VAD messages, `SpeechStarted` at the first audio and `UtteranceEnd`
    /// after the final result, both with `channel` as an array (`[0, 1]`).
    VadEvents,
    /// Listen: at `Finalize`, close the socket with Deepgram's close frame 1011 `NET-0001` (no
    /// audio received in time) instead of a result.
    CloseNet0001,
    /// Listen: at the first audio, close with Deepgram's close frame 1008 `DATA-0000` (the audio
    /// could not be decoded).
    CloseData0000,
    /// Listen: `Finalize` is never answered with `from_finalize: true` (Deepgram does not
    /// guarantee it when little audio remains): the last words come as an ordinary final
    /// segment, then nothing.
    SilentFinalize,
    /// Chat: a request with `tools` is refused as llama.cpp's server without `--jinja` does
    /// (500 `tools param requires --jinja flag`); one without is answered.
    LlamaCppNoJinja,
    /// Chat: a request with earlier turns (an assistant message) is refused as llama.cpp does
    /// when the prompt exceeds `n_ctx` (400 `exceed_context_size_error`).
    LlamaCppContextOverflow,
    /// Chat: the same refusal as OpenAI words it (400 `context_length_exceeded`).
    ContextLengthExceeded,
    /// Transcriptions: the answer Whisper gives for audio with no speech in it
    /// (` Thank you for watching!`), whatever the audio.
    WhisperHallucination,
    /// With a status fault: the wait only in `retry-after-ms` (45 000).
    RetryAfterMs,
    /// With a status fault: `retry-after` as an HTTP date two minutes ahead.
    RetryAfterDate,
    /// With a status fault: no `retry-after`; `x-ratelimit-reset-requests: 2m0s`,
    /// `x-ratelimit-reset-tokens: 150ms`, as OpenAI and Groq send.
    RateLimitReset,
}

/// A tool call the emulated LLM makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedToolCall {
    pub name: String,
    /// The arguments as JSON text, sent as the model would.
    pub arguments: String,
}

/// A script sent to `POST /_emulator/script`: behaviours queued for an endpoint, used one per
/// request in order, and optionally a new default for when the queue is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Script {
    pub endpoint: Endpoint,
    #[serde(default)]
    pub queue: Vec<Behaviour>,
    #[serde(default)]
    pub default: Option<Behaviour>,
}
