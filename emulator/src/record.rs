//! What the emulator received and how each exchange ended, for tests to assert on.

use serde::Serialize;

use crate::script::Endpoint;

/// One request as received.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub id: u64,
    pub endpoint: Endpoint,
    /// The `authorization` header, so tests can check whose key was used.
    pub authorization: Option<String>,
    /// The JSON body (chat, speech), or a summary of the form (transcriptions).
    pub body: serde_json::Value,
    /// Ms since the emulator started.
    pub received_ms: u64,
    /// When the first byte of the response body was sent.
    pub first_byte_ms: Option<u64>,
    /// The same, in microseconds since the emulator started (for latency benchmarks).
    pub first_byte_us: Option<u64>,
    /// When the whole response had been sent.
    pub completed_ms: Option<u64>,
    /// When the client went away before the response was complete (an abort).
    pub closed_early_ms: Option<u64>,
    /// Chunks (tokens, audio blocks) sent.
    pub chunks_sent: usize,
}
