//! wasm-bindgen exports for the browser. Thin: each call forwards to the host-tested core.
//!
//! No strings cross this boundary, so the glue needs no TextDecoder and loads in an
//! AudioWorklet. The real-time path copies nothing through the glue either: the worklet writes
//! each microphone quantum into [`AudioEngine::input_ptr`] and reads the speaker quantum from
//! [`AudioEngine::output_ptr`] (views on the WASM memory), then calls [`AudioEngine::process`].

use aura_protocol::{AudioFrame, FrameKind};
use wasm_bindgen::prelude::*;

use crate::barge_in::{BargeInConfig, BargeInEvent};
use crate::capture::{Capture, CaptureEvent};
use crate::playback::{Playback, PlaybackConfig, PlaybackError};
use crate::records::{EngineEvent, RecordWriter};
use crate::resample::{CHUNK, Engine, Filter, StreamResampler};
use crate::silero::Silero;
use crate::silero::weights::{Weights, WeightsError};
use crate::turn::{EndOfTurn, TurnConfig};
use crate::vad::{VAD_FRAME_SAMPLES, Vad};

/// The wire protocol version this build speaks.
#[wasm_bindgen(js_name = protocolVersion)]
pub fn protocol_version() -> u32 {
    aura_protocol::PROTOCOL_VERSION
}

/// Render quantum of the Web Audio API.
pub const QUANTUM: usize = 128;

/// Microphone capture, turn-taking, barge-in and reply playback for one audio context.
#[wasm_bindgen]
pub struct AudioEngine {
    capture: Capture,
    playback: Playback,
    input: Vec<f32>,
    output: Vec<f32>,
    /// What happened since the worklet last took them: events and input frames, in order.
    records: RecordWriter,
}

#[wasm_bindgen]
impl AudioEngine {
    /// An engine for an audio context at `sample_rate` Hz (8 kHz to 192 kHz); throws a number
    /// (not a string) for a rate out of range.
    #[wasm_bindgen(constructor)]
    pub fn new(sample_rate: u32) -> Result<AudioEngine, JsValue> {
        let capture = Capture::new(sample_rate, TurnConfig::default(), BargeInConfig::default())
            .map_err(|_| JsValue::from(sample_rate))?;
        let playback = Playback::new(sample_rate, PlaybackConfig::default())
            .map_err(|_| JsValue::from(sample_rate))?;
        Ok(Self {
            capture,
            playback,
            input: vec![0.0; QUANTUM],
            output: vec![0.0; QUANTUM],
            records: RecordWriter::with_capacity(16 * 1024),
        })
    }

    /// Where the worklet writes each microphone quantum (128 f32).
    #[wasm_bindgen(js_name = inputPtr)]
    pub fn input_ptr(&mut self) -> *mut f32 {
        self.input.as_mut_ptr()
    }

    /// Where the worklet reads each speaker quantum (128 f32) after `process`.
    #[wasm_bindgen(js_name = outputPtr)]
    pub fn output_ptr(&self) -> *const f32 {
        self.output.as_ptr()
    }

    /// Runs one render quantum: plays reply audio into the output buffer, then analyses the
    /// microphone quantum against it. Barge-in acts on playback here, before anything leaves
    /// the worklet. Returns whether records are waiting ([`Self::take_records`]).
    pub fn process(&mut self) -> bool {
        self.playback.render(&mut self.output);
        let reply_active = self.playback.reply().is_some();
        let (playback, records) = (&mut self.playback, &mut self.records);
        self.capture
            .process(&self.input, &self.output, reply_active, |e| match e {
                CaptureEvent::BargeIn(BargeInEvent::Pause) => {
                    playback.pause();
                    records.event(EngineEvent::BargeInPaused);
                }
                CaptureEvent::BargeIn(BargeInEvent::Resume) => {
                    playback.resume();
                    records.event(EngineEvent::BargeInResumed);
                }
                CaptureEvent::BargeIn(BargeInEvent::Interrupt { .. }) => {
                    let response_id = playback.reply().unwrap_or(0);
                    let played_ms = playback.stop();
                    records.event(EngineEvent::Interrupted {
                        response_id,
                        played_ms,
                    });
                }
                other => record(other, records),
            });
        if let Some((response_id, played_ms)) = self.playback.take_finished() {
            self.records.event(EngineEvent::ReplyPlayed {
                response_id,
                played_ms,
            });
        }
        !self.records.is_empty()
    }

    /// Who ends a turn: `fallback_ms` 0, the client's silence (protocol v1); else the edge
    /// (`turn.committed`), with this silence (`session.ready.end_of_turn_fallback_ms`) as the
    /// client's fallback.
    #[wasm_bindgen(js_name = setEndOfTurn)]
    pub fn set_end_of_turn(&mut self, fallback_ms: u32) {
        self.capture.set_end_of_turn(match fallback_ms {
            0 => EndOfTurn::Client,
            fallback_ms => EndOfTurn::Edge { fallback_ms },
        });
    }

    /// The edge committed utterance `stream_id` (`turn.committed`). Records it causes
    /// (speech it crossed opens the next utterance) go out with the next quantum's.
    #[wasm_bindgen(js_name = commitTurn)]
    pub fn commit_turn(&mut self, stream_id: u32) {
        let records = &mut self.records;
        self.capture.commit(stream_id, |e| record(e, records));
    }

    /// Takes the records written since the last take: events and encoded input frames in the
    /// order they happened ([`crate::records`]), for `SessionClient.dispatchRecords`.
    #[wasm_bindgen(js_name = takeRecords)]
    pub fn take_records(&mut self) -> Vec<u8> {
        self.records.take()
    }

    /// Queues one binary output frame from the server. Returns 0, or a negative code:
    /// -1 not a valid output frame, -2 stale (its reply was cancelled or finished), -3 buffer
    /// full, -4 unsupported rate.
    #[wasm_bindgen(js_name = pushReplyFrame)]
    pub fn push_reply_frame(&mut self, bytes: &[u8]) -> i32 {
        let Ok(frame) = AudioFrame::decode_kind(bytes, FrameKind::Output) else {
            return -1;
        };
        let h = frame.header;
        let mut samples = [0i16; aura_protocol::limits::MAX_FRAME_SAMPLES];
        let n = usize::from(h.sample_count);
        for (dst, src) in samples.iter_mut().zip(frame.samples()) {
            *dst = src;
        }
        match self.playback.push(
            h.stream_id,
            h.seq,
            h.sample_rate,
            &samples[..n],
            h.flags.is_end(),
        ) {
            Ok(()) => 0,
            Err(PlaybackError::Stale(_)) => -2,
            Err(PlaybackError::Full(_)) => -3,
            Err(PlaybackError::Rate(_)) => -4,
        }
    }

    /// Loads the Silero VAD weights (the file `pkg/silero-v6-int8.bin`), fetched by the page
    /// when the microphone opens; earshot decides until then. Returns 0, or the refusal's
    /// number: 1 bad magic, 2 unknown encoding, 3 wrong length, 4 a value not finite.
    #[wasm_bindgen(js_name = loadVadWeights)]
    pub fn load_vad_weights(&mut self, bytes: &[u8]) -> u32 {
        match Weights::parse(bytes) {
            Ok(weights) => {
                self.capture.set_vad_network(Silero::new(weights));
                0
            }
            Err(e) => weights_error_number(&e),
        }
    }

    /// Whether the Silero network decides (else earshot, the fallback).
    #[wasm_bindgen(getter, js_name = vadNetwork)]
    pub fn vad_network(&self) -> bool {
        self.capture.has_vad_network()
    }

    /// Stops the current reply at once (the server cancelled it, or the user pressed stop).
    /// Returns the ms of it that were played.
    #[wasm_bindgen(js_name = stopReply)]
    pub fn stop_reply(&mut self) -> u32 {
        self.playback.stop()
    }

    /// The reply being played (0 when none).
    #[wasm_bindgen(getter, js_name = currentReply)]
    pub fn current_reply(&self) -> u32 {
        self.playback.reply().unwrap_or(0)
    }

    /// Ms of the current reply played so far.
    #[wasm_bindgen(getter, js_name = playedMs)]
    pub fn played_ms(&self) -> u32 {
        self.playback.played_ms()
    }
}

/// Records a capture event that needs the main thread (all but barge-in, which acts here).
fn record(e: CaptureEvent<'_>, records: &mut RecordWriter) {
    let event = match e {
        CaptureEvent::SpeechStarted { stream_id } => EngineEvent::SpeechStarted { stream_id },
        CaptureEvent::SpeechStopped { stream_id, frames } => {
            EngineEvent::SpeechStopped { stream_id, frames }
        }
        CaptureEvent::SpeechPaused {
            stream_id,
            frames,
            silence_ms,
        } => EngineEvent::SpeechPaused {
            stream_id,
            frames,
            silence_ms,
        },
        CaptureEvent::SpeechResumed { stream_id } => EngineEvent::SpeechResumed { stream_id },
        CaptureEvent::Frame(bytes) => return records.frame(bytes),
        // Acted on by the engine itself.
        CaptureEvent::BargeIn(_) => return,
    };
    records.event(event);
}

/// The records of `bytes` as `[kind, a, b, c]` u32s each, for test pages and benchmarks: an
/// event's tag and fields, or `[0, byte length, 0, 0]` for a frame; a malformed record ends it.
#[wasm_bindgen(js_name = recordSummary)]
pub fn record_summary(bytes: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    for record in crate::records::records(bytes).map_while(Result::ok) {
        match record {
            crate::records::Record::Frame(f) => out.extend([0, f.len() as u32, 0, 0]),
            crate::records::Record::Event(e) => out.extend(e.summary()),
        }
    }
    out
}

/// earshot alone, for the cost benchmark's baseline: one 16 ms frame at 16 kHz per call.
#[wasm_bindgen]
pub struct VadOnly {
    vad: Vad,
    frame: Vec<f32>,
}

#[wasm_bindgen]
impl VadOnly {
    #[wasm_bindgen(constructor)]
    pub fn new() -> VadOnly {
        Self {
            vad: Vad::new(),
            frame: vec![0.0; VAD_FRAME_SAMPLES],
        }
    }

    /// Where to write the 256 samples of a frame.
    #[wasm_bindgen(js_name = framePtr)]
    pub fn frame_ptr(&mut self) -> *mut f32 {
        self.frame.as_mut_ptr()
    }

    /// The speech probability of the frame at `framePtr`.
    pub fn process(&mut self) -> f32 {
        let mut p = 0.0;
        self.vad.process(&self.frame, |f| p = f.probability);
        p
    }
}

impl Default for VadOnly {
    fn default() -> Self {
        Self::new()
    }
}

/// Silero alone, for the cost benchmark: one 32 ms chunk at 16 kHz per call.
#[wasm_bindgen]
pub struct SileroOnly {
    net: Silero,
    chunk: Vec<f32>,
}

#[wasm_bindgen]
impl SileroOnly {
    /// Throws the refusal's number (as `loadVadWeights` returns it) for unusable weights.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<SileroOnly, JsValue> {
        let weights = Weights::parse(bytes).map_err(|e| JsValue::from(weights_error_number(&e)))?;
        Ok(Self {
            net: Silero::new(weights),
            chunk: vec![0.0; crate::silero::CHUNK],
        })
    }

    /// Where to write the 512 samples of a chunk.
    #[wasm_bindgen(js_name = chunkPtr)]
    pub fn chunk_ptr(&mut self) -> *mut f32 {
        self.chunk.as_mut_ptr()
    }

    /// The speech probability of the chunk at `chunkPtr`.
    pub fn process(&mut self) -> f32 {
        let mut chunk = [0.0; crate::silero::CHUNK];
        chunk.copy_from_slice(&self.chunk);
        self.net.predict(&chunk)
    }
}

fn weights_error_number(e: &WeightsError) -> u32 {
    match e {
        WeightsError::BadMagic => 1,
        WeightsError::UnknownEncoding(_) => 2,
        WeightsError::WrongLength { .. } => 3,
        WeightsError::NotFinite => 4,
    }
}

/// One resampler alone, for the cost benchmark's comparison of the converters in one run:
/// the polyphase one the client uses, or rubato's sinc resampler with the same filter.
#[wasm_bindgen]
pub struct ResamplerOnly {
    rs: StreamResampler,
    input: Vec<f32>,
}

#[wasm_bindgen]
impl ResamplerOnly {
    /// `speech`: the microphone filter (else the playback one); `rubato`: rubato's converter.
    #[wasm_bindgen(constructor)]
    pub fn new(
        rate_in: u32,
        rate_out: u32,
        speech: bool,
        rubato: bool,
    ) -> Result<ResamplerOnly, JsValue> {
        let filter = if speech {
            Filter::Speech
        } else {
            Filter::Playback
        };
        let engine = if rubato {
            Engine::Rubato
        } else {
            Engine::Polyphase
        };
        let rs = StreamResampler::with_engine(rate_in, rate_out, filter, engine)
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        Ok(Self {
            rs,
            input: vec![0.0; CHUNK],
        })
    }

    /// Where to write the next 128 input samples.
    #[wasm_bindgen(js_name = inputPtr)]
    pub fn input_ptr(&mut self) -> *mut f32 {
        self.input.as_mut_ptr()
    }

    /// Converts the samples at `inputPtr`; returns the sum of the output (so it is used).
    pub fn process(&mut self) -> f32 {
        let mut sum = 0.0;
        self.rs
            .process(&self.input, |out| sum += out.iter().sum::<f32>());
        sum
    }
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
