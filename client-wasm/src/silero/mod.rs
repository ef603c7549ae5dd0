//! Silero VAD v6's 16 kHz network, inference in plain Rust (no ONNX runtime).
//!
//! One call takes 512 new samples (32 ms) and returns the speech probability; state carried
//! across calls is the LSTM's (h, c) and the last 64 samples, as the reference wrapper keeps.
//! The layers, read from the ONNX graph of the `silero-vad` 6.2.3 wheel:
//! 1. [`stft`]: |STFT| of 64 context + 512 new samples, 129 bins x 4 frames;
//! 2. four convolutions (kernel 3, padding 1, strides 1, 2, 2, 1), each followed by ReLU:
//!    129 -> 128 -> 64 -> 64 -> 128 channels, 4 -> 4 -> 2 -> 1 -> 1 frames;
//! 3. an LSTM cell (128 -> 128);
//! 4. ReLU, a 1x1 convolution to one value, sigmoid.
//!
//! Every product goes through [`crate::resample::dot`] (SIMD in WebAssembly). Nothing is
//! allocated per call.

mod stft;
pub mod weights;

use crate::resample::dot;
use stft::{BINS, FRAMES, Stft};
pub use stft::{CHUNK, CONTEXT};
use weights::{Conv, HIDDEN, Weights};

/// Milliseconds of audio per call at 16 kHz.
pub const CHUNK_MS: u32 = 32;

/// The network with its weights and its state across calls. A clone shares the weights.
#[derive(Debug, Clone)]
pub struct Silero {
    weights: std::sync::Arc<Weights>,
    stft: Stft,
    context: [f32; CONTEXT],
    /// LSTM hidden state, then cell state.
    h: [f32; HIDDEN],
    c: [f32; HIDDEN],
    spectrum: [f32; BINS * FRAMES],
    /// Activations between layers, `[channel][frame]`, and one im2col column.
    a: Vec<f32>,
    b: Vec<f32>,
    column: Vec<f32>,
    xh: [f32; 2 * HIDDEN],
    gates: [f32; 4 * HIDDEN],
}

impl Silero {
    pub fn new(weights: Weights) -> Self {
        Self {
            weights: std::sync::Arc::new(weights),
            stft: Stft::new(),
            context: [0.0; CONTEXT],
            h: [0.0; HIDDEN],
            c: [0.0; HIDDEN],
            spectrum: [0.0; BINS * FRAMES],
            a: vec![0.0; 128 * FRAMES],
            b: vec![0.0; 128 * FRAMES],
            column: vec![0.0; BINS * 3],
            xh: [0.0; 2 * HIDDEN],
            gates: [0.0; 4 * HIDDEN],
        }
    }

    /// The weights' storage encoding.
    pub fn encoding(&self) -> weights::Encoding {
        self.weights.encoding
    }

    /// A second stream of the same network (weights shared, state fresh).
    pub fn another_stream(&self) -> Self {
        let mut other = self.clone();
        other.reset();
        other
    }

    /// Forgets the state: the next call starts a new stream.
    pub fn reset(&mut self) {
        self.context = [0.0; CONTEXT];
        self.h = [0.0; HIDDEN];
        self.c = [0.0; HIDDEN];
    }

    /// Speech probability of the next 512 samples (16 kHz, nominally in [-1, 1]).
    pub fn predict(&mut self, chunk: &[f32; CHUNK]) -> f32 {
        self.stft
            .magnitudes(&self.context, chunk, &mut self.spectrum);
        self.context.copy_from_slice(&chunk[CHUNK - CONTEXT..]);

        let [c1, c2, c3, c4] = &self.weights.encoder;
        let mut frames = conv_relu(c1, &self.spectrum, FRAMES, &mut self.column, &mut self.a);
        frames = conv_relu(c2, &self.a, frames, &mut self.column, &mut self.b);
        frames = conv_relu(c3, &self.b, frames, &mut self.column, &mut self.a);
        frames = conv_relu(c4, &self.a, frames, &mut self.column, &mut self.b);
        debug_assert_eq!(frames, 1);

        // LSTM cell on the one remaining frame (128 channels x 1).
        self.xh[..HIDDEN].copy_from_slice(&self.b[..HIDDEN]);
        self.xh[HIDDEN..].copy_from_slice(&self.h);
        let w = &self.weights;
        for (row, gate) in self.gates.iter_mut().enumerate() {
            *gate =
                w.lstm_bias[row] + dot(&w.lstm[row * 2 * HIDDEN..(row + 1) * 2 * HIDDEN], &self.xh);
        }
        for j in 0..HIDDEN {
            let i = sigmoid(self.gates[j]);
            let f = sigmoid(self.gates[HIDDEN + j]);
            let g = self.gates[2 * HIDDEN + j].tanh();
            let o = sigmoid(self.gates[3 * HIDDEN + j]);
            self.c[j] = f * self.c[j] + i * g;
            self.h[j] = o * self.c[j].tanh();
        }

        // Decoder: ReLU, 1x1 convolution, sigmoid (the mean over one frame is that frame).
        for (x, &h) in self.xh[..HIDDEN].iter_mut().zip(&self.h) {
            *x = h.max(0.0);
        }
        sigmoid(w.head_bias + dot(&w.head, &self.xh[..HIDDEN]))
    }
}

/// One encoder layer: `out[o][t] = relu(b[o] + sum_i,k w[o][i][k] x[i][t*s + k - 1])`, with zero
/// padding; returns the output frame count. `input` and `out` are `[channel][frame]`.
fn conv_relu(
    conv: &Conv,
    input: &[f32],
    frames_in: usize,
    column: &mut [f32],
    out: &mut [f32],
) -> usize {
    let frames_out = (frames_in - 1) / conv.stride + 1;
    let width = conv.inputs * 3;
    for t in 0..frames_out {
        for i in 0..conv.inputs {
            for k in 0..3 {
                let pos = (t * conv.stride + k) as isize - 1;
                column[i * 3 + k] = if pos >= 0 && (pos as usize) < frames_in {
                    input[i * frames_in + pos as usize]
                } else {
                    0.0
                };
            }
        }
        for o in 0..conv.outputs {
            let v = conv.bias[o] + dot(&conv.weight[o * width..(o + 1) * width], &column[..width]);
            out[o * frames_out + t] = v.max(0.0);
        }
    }
    frames_out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_carries_across_calls_and_reset_clears_it() {
        let mut net = Silero::new(Weights::parse(&weights::uniform_file(0.001)).unwrap());
        let chunk: [f32; CHUNK] = std::array::from_fn(|i| ((i * 37 % 101) as f32 / 101.0) - 0.5);
        let first = net.predict(&chunk);
        let second = net.predict(&chunk);
        assert!((0.0..=1.0).contains(&first));
        // Same audio, different state (LSTM memory and the 64-sample context): a different answer.
        assert_ne!(first, second);
        net.reset();
        assert_eq!(net.predict(&chunk), first);
    }

    #[test]
    fn silence_through_zero_weights_is_one_half() {
        let mut net = Silero::new(Weights::parse(&weights::uniform_file(0.0)).unwrap());
        assert_eq!(net.predict(&[0.0; CHUNK]), 0.5);
    }
}
