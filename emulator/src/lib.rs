//! Aura's provider emulator: speaks the wire formats of OpenAI-compatible providers on
//! 127.0.0.1 so tests (and offline runs) exercise the edge exactly as production does.
//!
//! - `POST /v1/chat/completions`: with `stream: true`, SSE `chat.completion.chunk`s token by
//!   token, a finish chunk, usage (with `stream_options.include_usage`) and `[DONE]`;
//!   without, one `chat.completion`.
//! - Text-to-speech in four providers' formats, each with its key header and error bodies
//!   (see `speak.rs`): OpenAI-style `POST /v1/audio/speech` (`pcm` 24 kHz s16le, or `wav`),
//!   ElevenLabs `POST /v1/text-to-speech/{voice}/stream`, Deepgram Aura `POST /v1/speak`,
//!   Cartesia `POST /tts/bytes`; streamed in 100 ms blocks of a synthetic voice-like signal,
//!   60 ms per character.
//! - `POST /v1/audio/transcriptions`: multipart with a WAV `file`; answers `{"text": ...}`.
//!
//! A behaviour's `mode` reproduces a real provider's quirk on the wire ([`Mode`]: `null`
//! fields, no `[DONE]`, llama.cpp's `error:` field, Groq's `event: error`, reasoning deltas,
//! `<think>` tags, Deepgram's VAD messages and error close frames).
//!
//! Control: `POST /_emulator/script` (queue behaviours: replies, latencies, faults),
//! `GET /_emulator/requests` (what was received, and whether the client aborted),
//! `POST /_emulator/reset`, `POST /_emulator/keys` (accept only these API keys, 401 otherwise). Replies not scripted say plainly that they come from the emulator.

mod listen;
mod offline;
mod record;
mod refusals;
mod script;
mod server;
mod speak;
mod state;

pub use record::Recorded;
pub use script::{Behaviour, Endpoint, Fault, Mode, Script};
pub use server::{Emulator, router};
