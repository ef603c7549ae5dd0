//! The real AudioWorklet in headless Chromium, fed by the fake microphone: a spoken turn is
//! detected and framed, and speech over a playing reply stops it (barge-in), measured in audio
//! frames by a probe worklet. Speech is made by espeak-ng at test time.

use aura_tests::{Scratch, StaticServer, microphone_wav, root, run_page};

const RATE: u32 = 48_000;
fn server() -> StaticServer {
    StaticServer::start(vec![
        ("/test/", root().join("tests/pages")),
        ("/", root().join("www")),
    ])
}

/// Events as (frame, kind, a, b).
fn events(result: &serde_json::Value) -> Vec<[u64; 4]> {
    result["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let v: Vec<u64> = e
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect()
}

/// The Silero network decided, from before the speech began (`onset_s` into the audio).
fn assert_silero_loaded(result: &serde_json::Value, onset_s: f64) {
    assert_eq!(result["vad"], "silero", "{result}");
    let ready = result["vad_ready_s"].as_f64().unwrap();
    assert!(ready < onset_s, "Silero ready only at {ready} s");
}

fn ms_after_marker(result: &serde_json::Value, frame: u64) -> f32 {
    let marker = result["marker"]
        .as_u64()
        .expect("the probe heard the marker click");
    (frame as f32 - marker as f32) * 1000.0 / RATE as f32
}

#[test]
#[ignore = "needs the built client, node packages and chromium: run by `make test`"]
fn the_worklet_detects_and_frames_a_spoken_turn_from_the_microphone() {
    let scratch = Scratch::new("worklet-turn");
    let wav = scratch.0.join("mic.wav");
    let onset_ms = microphone_wav(&wav, "What time do you open tomorrow morning?", 2.0, 6.5)
        .onset_after_marker_ms;
    let server = server();
    let result = run_page(&server.url("/test/worklet.html?run_ms=7500"), &wav, 30_000);
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert_eq!(result["rate"], 48_000);
    assert_silero_loaded(&result, 2.0);

    let ev = events(&result);
    let started: Vec<_> = ev.iter().filter(|e| e[1] == 1).collect();
    let stopped: Vec<_> = ev.iter().filter(|e| e[1] == 2).collect();
    assert_eq!(
        (started.len(), stopped.len()),
        (1, 1),
        "one turn expected: {ev:?}"
    );
    assert_eq!(
        stopped[0][3],
        result["input_frames"].as_u64().unwrap(),
        "frames counted = frames sent"
    );
    let decided = ms_after_marker(&result, started[0][0]) - onset_ms;
    eprintln!("speech start decided {decided:.0} ms after the onset in the file");
    assert!(
        (0.0..400.0).contains(&decided),
        "speech start decided {decided} ms after the onset"
    );
    let secs = (result["input_bytes"].as_u64().unwrap() as f32
        - 20.0 * result["input_frames"].as_u64().unwrap() as f32)
        / 2.0
        / 16_000.0;
    assert!((2.0..5.0).contains(&secs), "{secs} s of speech framed");
}

#[test]
#[ignore = "needs the built client, node packages and chromium: run by `make test`"]
fn speech_over_a_playing_reply_stops_it_locally() {
    let scratch = Scratch::new("worklet-barge-in");
    let wav = scratch.0.join("mic.wav");
    let onset_ms = microphone_wav(&wav, "Wait, stop, I need something else please.", 3.0, 6.5)
        .onset_after_marker_ms;
    let server = server();
    let result = run_page(
        &server.url("/test/worklet.html?run_ms=7500&reply_ms=8000"),
        &wav,
        30_000,
    );
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert_eq!(result["refused"], serde_json::json!([]), "{result}");
    assert_silero_loaded(&result, 3.0);

    // The reply was sounding when the user began, and went silent soon after.
    let changes: Vec<(f32, u64)> = result["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                ms_after_marker(&result, c[0].as_u64().unwrap()),
                c[1].as_u64().unwrap(),
            )
        })
        .collect();
    let sounding_at_onset = changes
        .iter()
        .rev()
        .find(|(t, _)| *t <= onset_ms)
        .map(|c| c.1);
    assert_eq!(
        sounding_at_onset,
        Some(1),
        "the reply was not playing at the onset: {changes:?}"
    );
    let silent = changes
        .iter()
        .find(|(t, s)| *t > onset_ms && *s == 0)
        .expect("the reply never stopped");
    let latency = silent.0 - onset_ms;
    eprintln!("barge-in: playback silent {latency:.0} ms after the speech onset in the file");
    assert!(
        latency < 250.0,
        "playback went silent {latency} ms after the onset: {changes:?}"
    );
    assert!(
        !changes.iter().any(|(t, s)| *t > silent.0 && *s == 1),
        "the reply came back: {changes:?}"
    );

    let ev = events(&result);
    assert!(ev.iter().any(|e| e[1] == 3), "no pause event: {ev:?}");
    let interrupted = ev.iter().find(|e| e[1] == 5).expect("an interruption");
    assert_eq!(interrupted[2], 1, "the playing reply (id 1) was cancelled");
    assert!(
        interrupted[3] > 1_000,
        "played {} ms before the interruption",
        interrupted[3]
    );
    assert!(
        ev.iter().any(|e| e[1] == 1),
        "the interruption opened the user's turn: {ev:?}"
    );
}
