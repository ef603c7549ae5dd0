//! Aura edge worker.
//!
//! The decisions (routing, protocol handling, tenant policy, provider routing) are plain Rust in
//! the modules below, built and tested on the host. [`entry`] is the thin adapter that binds them
//! to the Workers runtime through the `worker` crate; it exists only on wasm32.

pub mod admin_api;
pub mod admission;
pub mod chat_stream;
pub mod conversation;
pub mod endpoint;
pub mod health;
pub mod heard;
pub mod host_policy;
pub mod key_vault;
pub mod live_stt;
pub mod llm_router;
pub mod provider_config;
pub mod quota;
mod redacted_debug;
pub mod sentence;
pub mod session;
pub mod session_token;
pub mod sse;
pub mod tenant;
pub mod tenant_rpc;
pub mod think_filter;
pub mod tool_calls;
pub mod tools;
pub mod turn;
pub mod webhook_signature;

#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod provider_http;
#[cfg(target_arch = "wasm32")]
mod runtime;
#[cfg(target_arch = "wasm32")]
mod stt_stream;
#[cfg(target_arch = "wasm32")]
mod tenant_object;
#[cfg(target_arch = "wasm32")]
mod tool_runner;
#[cfg(target_arch = "wasm32")]
mod turn_io;
#[cfg(target_arch = "wasm32")]
mod voice_session;
