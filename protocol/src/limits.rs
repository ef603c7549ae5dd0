//! Hard limits of protocol v1. Both peers enforce them; a message beyond a limit is answered
//! with a typed error and is never partially processed.

/// Largest text (JSON) message accepted, in bytes.
pub const MAX_CONTROL_MESSAGE_BYTES: usize = 16 * 1024;

/// Longest `input.text` accepted, in Unicode scalar values.
pub const MAX_INPUT_TEXT_CHARS: usize = 4_000;

/// Longest identifier (session id, token, provider name) accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// The only sample rate accepted for microphone audio sent upstream.
pub const INPUT_SAMPLE_RATE: u32 = 16_000;

/// Sample rates accepted for reply audio sent downstream (the TTS rate; 24 kHz for OpenAI `pcm`).
pub const OUTPUT_SAMPLE_RATES: [u32; 5] = [16_000, 22_050, 24_000, 44_100, 48_000];

/// Longest audio frame, in milliseconds. Clients send 20 ms frames upstream.
pub const MAX_FRAME_MS: u32 = 100;

/// The frame duration clients send upstream, in milliseconds.
pub const INPUT_FRAME_MS: u32 = 20;

/// Most samples in one frame at the highest allowed rate (100 ms at 48 kHz).
pub const MAX_FRAME_SAMPLES: usize = 4_800;

/// Largest binary message accepted, in bytes (header plus the largest payload).
pub const MAX_BINARY_MESSAGE_BYTES: usize = crate::HEADER_LEN + 2 * MAX_FRAME_SAMPLES;

/// Whether `rate` may be used for reply audio.
pub fn is_output_rate(rate: u32) -> bool {
    OUTPUT_SAMPLE_RATES.contains(&rate)
}
