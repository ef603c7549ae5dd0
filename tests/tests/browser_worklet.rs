//! The real AudioWorklet in headless Chromium, fed by the fake microphone: a spoken turn is
//! detected and framed, and speech over a playing reply stops it (barge-in), measured in audio
//! frames by a probe worklet; and the v2 turn-taking (pauses reported, a 900 ms pause kept in
//! one utterance, the commit ending it) against v1 on the same audio. Speech is made by
//! espeak-ng at test time.

use aura_tests::{Scratch, microphone_turns_wav, microphone_wav, run_page, test_pages};

const RATE: u32 = 48_000;

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
    let server = test_pages();
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
    let server = test_pages();
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

/// The same phrase twice with 900 ms of silence between (more than v1's 600 ms), from 2.0 s.
fn phrase_pause_phrase(wav: &std::path::Path) -> f64 {
    let text = "I would like to order two loaves";
    let first = microphone_turns_wav(wav, text, &[2.0], 9.0)[0];
    let len_s = (first.end_after_marker_ms - first.onset_after_marker_ms) / 1000.0;
    let second_s = 2.0 + len_s + 0.9;
    let turns = microphone_turns_wav(wav, text, &[2.0, second_s as f32], 9.0);
    let gap = turns[1].onset_after_marker_ms - turns[0].end_after_marker_ms;
    assert!(
        (850.0..950.0).contains(&gap),
        "{gap} ms between the phrases"
    );
    turns[1].end_after_marker_ms
}

#[test]
#[ignore = "needs the built client, node packages and chromium: run by `make test`"]
fn with_the_edge_deciding_a_long_pause_stays_one_utterance_and_the_commit_ends_it() {
    let scratch = Scratch::new("worklet-pauses");
    let wav = scratch.0.join("mic.wav");
    let end_ms = phrase_pause_phrase(&wav);
    let server = test_pages();

    // v1 (no end-of-turn message, as after a v1 session.ready): the pause ends the turn.
    let v1 = run_page(&server.url("/test/worklet.html?run_ms=8000"), &wav, 30_000);
    assert_eq!(v1["errors"], serde_json::json!([]), "{v1}");
    let ev = events(&v1);
    let count = |ev: &[[u64; 4]], kind: u64| ev.iter().filter(|e| e[1] == kind).count();
    assert_eq!(
        (count(&ev, 1), count(&ev, 2), count(&ev, 7), count(&ev, 8)),
        (2, 2, 0, 0),
        "v1: two turns, no pauses reported: {ev:?}"
    );

    // v2, committed 300 ms after the second pause (the one after the second phrase).
    let v2 = run_page(
        &server.url(
            "/test/worklet.html?run_ms=8000&end_of_turn_fallback_ms=4000&commit_at_pause=2&commit_after_ms=300",
        ),
        &wav,
        30_000,
    );
    assert_eq!(v2["errors"], serde_json::json!([]), "{v2}");
    let ev = events(&v2);
    assert_eq!(count(&ev, 1), 1, "one utterance across the pause: {ev:?}");
    assert_eq!(count(&ev, 2), 0, "no input.speech_stopped: {ev:?}");
    assert!(count(&ev, 7) >= 2 && count(&ev, 8) >= 1, "{ev:?}");
    let paused: Vec<_> = ev.iter().filter(|e| e[1] == 7).collect();
    for p in &paused {
        assert_eq!(p[2], 1, "stream 1: {ev:?}");
    }
    let second_pause_ms = ms_after_marker(&v2, paused[1][0]);
    let after_speech = second_pause_ms - end_ms as f32;
    eprintln!("v2: pause reported {after_speech:.0} ms after the speech ended in the file");
    assert!(
        (150.0..450.0).contains(&after_speech),
        "the pause after the speech reported {after_speech} ms after its end"
    );
    // No frame of it after the commit (within the few quanta the message takes to arrive).
    let committed_at = v2["committed_at"].as_u64().expect("the page committed");
    let last_frame_at = v2["last_frame_at"].as_u64().unwrap();
    let late_ms = (last_frame_at as f64 - committed_at as f64) * 1000.0 / f64::from(RATE);
    assert!(late_ms < 50.0, "frames {late_ms} ms after the commit");
}
