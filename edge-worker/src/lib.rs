//! Aura edge worker.
//!
//! Every decision is plain Rust in the folders below, built and tested on the host; only
//! [`worker`] (wasm32) names the `worker` crate, and it only performs I/O and timers.
//!
//! - [`session`]: one conversation: the protocol state of a connection, the turn core (every
//!   decision of a reply: routing, fallback, tools, sentence chunks, speech, interruption), what
//!   was heard, the context sent to the LLM, session tokens.
//! - [`providers`]: the providers of a turn: their settings with keys opened, the LLM router
//!   with its circuit breakers, and the wire formats they answer in (SSE, OpenAI-style chat
//!   streams, streamed tool calls, Deepgram's live results, reasoning filters).
//! - [`tenant`]: a tenant's settings and their validation (URL and origin policy), admission
//!   and quotas, sealed provider keys, tools and webhook signatures, the admin API and the RPC
//!   between the Worker and the Durable Objects.
//! - `worker` (wasm32 only): the Worker's entry, the tenant and voice-session Durable Objects,
//!   provider HTTP, the turn's I/O.
//! - [`endpoint`], [`health`]: which route a request is for, and `/health`.

pub mod endpoint;
pub mod health;
pub mod providers;
pub mod session;
pub mod tenant;

#[cfg(target_arch = "wasm32")]
mod worker;
