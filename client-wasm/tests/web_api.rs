//! The client's exported WebAssembly API, run in headless Chromium by wasm-bindgen-test
//! (`scripts/test.sh`: `cargo test --target wasm32-unknown-unknown -p aura-client --test web_api`
//! with `CHROMEDRIVER=/usr/bin/chromedriver`). What the worklet and the page call: the engine's
//! constructor and its errors, capture from the input buffer to protocol frames and events,
//! reply playback and its refusal codes, the framer with a JavaScript callback; and the SIMD
//! dot product of the resampler, which only WebAssembly builds compile.
#![cfg(target_arch = "wasm32")]

use aura_client::records::{EngineEvent, Record, records};
use aura_client::resample::{Filter, StreamResampler, dot, dot_scalar};
use aura_client::wasm::{AudioEngine, QUANTUM, WasmFramer};
use aura_protocol::{AudioFrame, FrameHeader, FrameKind};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Writes one quantum of `f(n)` (n counts samples from `start`) into the engine's input.
fn feed(engine: &mut AudioEngine, start: usize, f: impl Fn(usize) -> f32) {
    let input = engine.input_ptr();
    for i in 0..QUANTUM {
        // SAFETY: input_ptr points at the engine's QUANTUM-sample input buffer.
        unsafe { *input.add(i) = f(start + i) };
    }
}

fn output(engine: &AudioEngine) -> Vec<f32> {
    // SAFETY: output_ptr points at the engine's QUANTUM-sample output buffer.
    unsafe { std::slice::from_raw_parts(engine.output_ptr(), QUANTUM).to_vec() }
}

#[wasm_bindgen_test]
fn an_engine_refuses_an_impossible_rate_with_a_number() {
    assert!(AudioEngine::new(48_000).is_ok());
    assert!(AudioEngine::new(44_100).is_ok());
    let err = AudioEngine::new(1).err().expect("1 Hz refused");
    assert_eq!(err.as_f64(), Some(1.0), "the rate comes back as a number");
}

#[wasm_bindgen_test]
fn voiced_sound_becomes_a_speech_start_and_16k_input_frames() {
    let mut engine = AudioEngine::new(48_000).unwrap();
    // Half a second of silence, then a second of a voiced, syllable-modulated tone.
    let voiced = |n: usize| {
        let t = n as f32 / 48_000.0;
        let syllables = 0.5 + 0.5 * (std::f32::consts::TAU * 4.0 * t).sin();
        let voice: f32 = (1..=6)
            .map(|h| (std::f32::consts::TAU * 150.0 * h as f32 * t).sin() / h as f32)
            .sum();
        0.2 * syllables * voice
    };
    let mut stream = Vec::new();
    for q in 0..(48_000 * 3 / 2 / QUANTUM) {
        let start = q * QUANTUM;
        if start < 24_000 {
            feed(&mut engine, start, |_| 0.0);
        } else {
            feed(&mut engine, start, voiced);
        }
        if engine.process() {
            stream.extend(engine.take_records());
        }
    }
    let read: Vec<Record> = records(&stream)
        .map(|r| r.expect("whole records"))
        .collect();
    let mut events = Vec::new();
    let mut decoded = 0;
    for record in &read {
        match record {
            Record::Event(e) => events.push(*e),
            Record::Frame(bytes) => {
                let frame =
                    AudioFrame::decode_kind(bytes, FrameKind::Input).expect("a valid input frame");
                assert_eq!(frame.header.sample_rate, 16_000);
                decoded += 1;
            }
        }
    }
    let starts = events
        .iter()
        .filter(|e| matches!(e, EngineEvent::SpeechStarted { .. }))
        .count();
    assert_eq!(starts, 1, "one speech start: {events:?}");
    assert!(
        matches!(
            read.first(),
            Some(Record::Event(EngineEvent::SpeechStarted { .. }))
        ),
        "the speech start comes before the utterance's first frame"
    );
    assert!(
        decoded >= 40,
        "about a second of 20 ms frames (with pre-roll): {decoded}"
    );
}

fn reply_frame(stream: u32, seq: u32, end: bool, samples: &[i16]) -> Vec<u8> {
    let header = FrameHeader::output(stream, seq, 24_000, samples.len() as u16);
    let header = if end { header.ending() } else { header };
    let mut out = Vec::new();
    AudioFrame::encode(&header, samples, &mut out).unwrap();
    out
}

#[wasm_bindgen_test]
fn reply_frames_play_and_bad_ones_get_their_codes() {
    let mut engine = AudioEngine::new(48_000).unwrap();
    assert_eq!(engine.push_reply_frame(b"not a frame"), -1);
    let tone: Vec<i16> = (0..480)
        .map(|i| ((i as f32 * 0.2).sin() * 8_000.0) as i16)
        .collect();
    for seq in 0..10 {
        assert_eq!(
            engine.push_reply_frame(&reply_frame(7, seq, seq == 9, &tone)),
            0
        );
    }
    let mut loudest = 0.0f32;
    for _ in 0..(48_000 / QUANTUM) {
        feed(&mut engine, 0, |_| 0.0);
        engine.process();
        loudest = output(&engine).iter().fold(loudest, |m, s| m.max(s.abs()));
    }
    assert!(loudest > 0.1, "the reply sounded: peak {loudest}");
    let stream = engine.take_records();
    let played = records(&stream)
        .find_map(|r| match r {
            Ok(Record::Event(EngineEvent::ReplyPlayed {
                response_id,
                played_ms,
            })) => Some((response_id, played_ms)),
            _ => None,
        })
        .expect("the end of the reply is reported");
    assert_eq!(played.0, 7);
    assert!(
        (190..=210).contains(&played.1),
        "200 ms played: {}",
        played.1
    );
    // A finished reply's frames are stale.
    assert_eq!(
        engine.push_reply_frame(&reply_frame(7, 10, false, &tone)),
        -2
    );
    // A new reply, stopped at once.
    assert_eq!(engine.push_reply_frame(&reply_frame(8, 0, false, &tone)), 0);
    engine.stop_reply();
    assert_eq!(engine.current_reply(), 0);
}

#[wasm_bindgen_test]
fn the_framer_calls_back_with_protocol_frames() {
    let sent = js_sys::Array::new();
    let collect = {
        let sent = sent.clone();
        Closure::<dyn Fn(js_sys::Uint8Array)>::new(move |bytes: js_sys::Uint8Array| {
            sent.push(&bytes);
        })
    };
    let callback: &js_sys::Function = collect.as_ref().unchecked_ref();
    let mut framer = WasmFramer::new(3);
    framer.push(&[0.25; 700], callback);
    assert_eq!(framer.frames_sent(), 2, "two whole 320-sample frames");
    framer.finish(callback);
    assert_eq!(sent.length(), 3);
    let last = sent
        .get(2)
        .dyn_into::<js_sys::Uint8Array>()
        .unwrap()
        .to_vec();
    let frame = AudioFrame::decode_kind(&last, FrameKind::Input).unwrap();
    assert!(frame.header.flags.is_end());
    assert_eq!(
        (
            frame.header.stream_id,
            frame.header.seq,
            frame.samples().len()
        ),
        (3, 2, 60)
    );
}

#[wasm_bindgen_test]
fn the_simd_dot_product_matches_the_scalar_one() {
    for n in [0usize, 1, 3, 4, 7, 8, 9, 63, 64, 65, 320] {
        let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0).collect();
        let plain: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        assert!((f64::from(dot(&a, &b)) - plain).abs() < 1e-4, "n = {n}");
        assert!((dot(&a, &b) - dot_scalar(&a, &b)).abs() < 1e-4, "n = {n}");
    }
}

#[wasm_bindgen_test]
fn the_resampler_in_webassembly_keeps_a_tone_exactly() {
    // The host tests check the converter; this checks it with the SIMD dot product.
    let signal = |t: f64| (std::f64::consts::TAU * 1_000.0 * t).sin() * 0.5;
    let input: Vec<f32> = (0..24_000)
        .map(|i| signal(f64::from(i) / 48_000.0) as f32)
        .collect();
    let mut rs = StreamResampler::new(48_000, 16_000, Filter::Speech).unwrap();
    let mut out = Vec::new();
    for q in input.chunks(128) {
        rs.process(q, |o| out.extend_from_slice(o));
    }
    rs.flush(|o| out.extend_from_slice(o));
    assert_eq!(out.len(), 8_000);
    let worst = (1_000..7_000)
        .map(|j| (f64::from(out[j]) - signal(j as f64 / 16_000.0)).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "{worst}");
}
