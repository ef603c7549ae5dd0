//! Aura browser client.
//!
//! The DSP and session logic is plain Rust, built and tested on the host; [`wasm`] is the thin
//! wasm-bindgen adapter that the browser loads.

pub mod framer;
pub mod resample;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use framer::Framer;
