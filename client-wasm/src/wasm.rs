//! wasm-bindgen exports for the browser. Thin: each call forwards to the host-tested core.
//! No strings cross this boundary, so the glue needs no TextDecoder and also loads in an
//! AudioWorklet.

use wasm_bindgen::prelude::*;

/// The wire protocol version this build speaks.
#[wasm_bindgen(js_name = protocolVersion)]
pub fn protocol_version() -> u32 {
    aura_protocol::PROTOCOL_VERSION
}

/// Frames 16 kHz float audio into 20 ms binary protocol messages.
#[wasm_bindgen(js_name = Framer)]
pub struct WasmFramer(crate::Framer);

#[wasm_bindgen(js_class = Framer)]
impl WasmFramer {
    #[wasm_bindgen(constructor)]
    pub fn new(stream_id: u32) -> Self {
        Self(crate::Framer::new(stream_id))
    }

    /// Adds samples; calls `send(bytes)` for every complete frame.
    pub fn push(&mut self, samples: &[f32], send: &js_sys::Function) {
        self.0.push(samples, |bytes| call(send, bytes));
    }

    /// Ends the utterance: sends the last partial frame with the END flag.
    pub fn finish(&mut self, send: &js_sys::Function) {
        self.0.finish(|bytes| call(send, bytes));
    }

    /// Starts utterance `stream_id` at sequence 0.
    pub fn restart(&mut self, stream_id: u32) {
        self.0.restart(stream_id);
    }

    #[wasm_bindgen(getter, js_name = framesSent)]
    pub fn frames_sent(&self) -> u32 {
        self.0.frames_sent()
    }
}

fn call(send: &js_sys::Function, bytes: &[u8]) {
    let array = js_sys::Uint8Array::from(bytes);
    // A throwing callback is the page's error; the framer's state stays consistent either way.
    let _ = send.call1(&JsValue::NULL, &array);
}
