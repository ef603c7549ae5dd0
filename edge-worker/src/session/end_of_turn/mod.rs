//! When a turn ends: how finished its transcript reads ([`reading`]) and, from that and the
//! tenant's `turn_eagerness`, how long the silence after it must last before the turn commits
//! ([`waits`]). Plain decisions on a string; the adapter that holds the silence timer and the
//! transcript calls [`decide`]. No transcript text is kept or logged: only [`Cue::as_str`] and
//! [`WaitReason::as_str`] are meant for logs.
//!
//! The rules, the waits and what each language gets: `docs/turn-taking.md`, "Reading the
//! transcript".

mod dictation;
mod lexicon;
pub mod reading;
pub mod waits;

pub use self::reading::{Cue, Reading, read};
pub use self::waits::{
    Eagerness, EndOfTurnWait, FALLBACK_WAIT_MS, WaitReason, cap_ms, decide, wait_ms,
};

#[cfg(test)]
mod tests;
