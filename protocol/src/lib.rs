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

/// The protocol version this crate speaks. Sent in `session.start`/`session.ready` and in the
/// first byte of every audio frame.
pub const PROTOCOL_VERSION: u32 = 1;
