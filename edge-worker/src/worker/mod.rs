//! The adapters to the Workers runtime (wasm32 only, the one place that names the `worker`
//! crate): they perform I/O and timers and make no decision.
//!
//! - [`entry`]: the Worker's fetch handler: routing, admission through the tenant's object,
//!   the upgrade handed to the conversation's object.
//! - [`tenant_object`]: the tenant's Durable Object (settings, keys, leases, usage).
//! - [`voice_session`]: the conversation's Durable Object (socket, history, turns).
//! - [`turn_io`]: performs the turn core's commands; [`provider_http`]: the one HTTP path to
//!   providers; [`stt_stream`]: the live STT socket; [`tool_runner`]: webhook calls; [`capped_body`]: bodies read
//!   up to a cap;
//!   [`runtime`]: the clock.

pub(crate) mod capped_body;
pub(crate) mod entry;
pub(crate) mod provider_http;
pub(crate) mod runtime;
pub(crate) mod stt_stream;
pub(crate) mod tenant_object;
pub(crate) mod tool_runner;
pub(crate) mod turn_io;
pub(crate) mod voice_session;
