//! The providers of a turn: their settings with the tenant's keys opened ([`config`]), the LLM
//! router ([`router`]), and the wire formats they answer in: server-sent events ([`sse`]),
//! OpenAI-compatible chat streams ([`openai_chat`]) with streamed tool calls ([`tool_calls`])
//! and reasoning kept out of the reply ([`think_filter`]) but asked for and billed per provider
//! ([`reasoning`]), Deepgram's live results
//! ([`deepgram`]), OpenAI-style transcription's language and invented transcripts
//! ([`whisper`]), when speech-to-text falls back to its second route ([`stt_fallback`]), and the text-to-speech APIs' requests, refusals and audio ([`tts`]).

pub mod config;
pub mod context_window;
pub mod deepgram;
pub mod llm_refusal;
pub mod openai_chat;
pub mod rate_limit;
pub mod reasoning;
mod redacted_debug;
pub mod router;
pub mod sse;
pub mod stt_fallback;
pub mod think_filter;
pub mod tool_calls;
pub mod tts;
pub mod whisper;
