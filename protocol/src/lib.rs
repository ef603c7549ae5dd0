//! Aura wire protocol v1, spoken between the browser client and the edge worker.
//!
//! Two kinds of WebSocket message travel on one connection:
//! - **text** messages are JSON control messages with a `type` field ([`ClientMessage`] from the
//!   browser, [`ServerMessage`] from the edge);
//! - **binary** messages are audio frames: a fixed 20-byte header followed by PCM s16le mono
//!   ([`AudioFrame`]).
//!
//! Parsing is total: every input gives `Ok` or a typed error ([`ControlError`], [`FrameError`]),
//! never a panic, and each error maps to the [`ErrorCode`] sent back to the peer.
//! The normative description, with examples that the tests parse, is `docs/protocol.md`.

mod audio;
mod control;
mod error_code;
pub mod limits;

pub use audio::{AudioFrame, FrameError, FrameFlags, FrameHeader, FrameKind, HEADER_LEN};
pub use control::{
    ClientMessage, ControlError, ResponseStatus, ServerMessage, SessionReady, SessionResume,
    SessionStart, TurnMetrics, is_language_tag,
};
pub use error_code::ErrorCode;

/// The newest protocol version this crate speaks, sent in `session.start`/`session.ready`.
/// v2 adds `input.speech_paused`, `input.speech_resumed`, `turn.committed` and
/// `session.ready.end_of_turn_fallback_ms` (the edge decides the end of a spoken turn). Audio
/// frames did not change: their own version byte stays 1.
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest version still accepted: a v1 client's silence ends its turns, as before.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
