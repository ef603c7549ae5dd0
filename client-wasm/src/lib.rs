//! Aura browser client.
//!
//! The DSP and session logic is plain Rust, built and tested on the host; [`wasm`] is the thin
//! wasm-bindgen adapter that the browser loads.

pub mod barge_in;
pub mod capture;
#[cfg(not(target_arch = "wasm32"))]
pub mod clip;
pub mod connection;
pub mod framer;
pub mod impulse;
pub mod language;
pub mod playback;
pub mod records;
pub mod resend;
pub use aura_resample as resample;
pub mod silero;
pub mod turn;
pub mod vad;

#[cfg(target_arch = "wasm32")]
pub mod session_client;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use framer::Framer;
