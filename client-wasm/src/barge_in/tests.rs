//! Tests of [`super`] (barge_in.rs).

use super::*;

/// Feeds frames of (mic probability, mic energy, played energy) with a reply active.
fn run(b: &mut BargeIn, frames: &[(f32, f32, f32)], from_frame: u64) -> Vec<(u64, BargeInEvent)> {
    frames
        .iter()
        .enumerate()
        .filter_map(|(i, &(p, m, r))| {
            let t = (from_frame + i as u64) * 16;
            b.push(t, p, m, r, true).map(|e| (t, e))
        })
        .collect()
}

const PLAY: f32 = 0.01; // -20 dBFS of reply audio
fn echo_only(n: usize, coupling: f32) -> Vec<(f32, f32, f32)> {
    // Our own voice in the microphone: the VAD says speech, but it is only the echo.
    vec![(0.95, PLAY * coupling, PLAY); n]
}

#[test]
fn our_own_voice_never_interrupts_even_at_full_coupling() {
    let mut b = BargeIn::new(BargeInConfig::default());
    assert_eq!(run(&mut b, &echo_only(500, 1.0), 0), vec![]);
    let mut b = BargeIn::new(BargeInConfig::default());
    assert_eq!(run(&mut b, &echo_only(500, 0.1), 0), vec![]);
}

#[test]
fn the_user_talking_over_the_reply_pauses_within_two_frames_then_interrupts() {
    let mut b = BargeIn::new(BargeInConfig::default());
    let mut frames = echo_only(100, 0.1);
    // The user: 10 dB above the reply level, on top of the echo.
    frames.extend(vec![(0.9, PLAY * 10.0, PLAY); 40]);
    let events = run(&mut b, &frames, 0);
    assert_eq!(
        events[0],
        (101 * 16, BargeInEvent::Pause),
        "pause on the second speech frame"
    );
    assert_eq!(
        events[1],
        (
            124 * 16,
            BargeInEvent::Interrupt {
                speech_start_ms: 100 * 16
            }
        )
    );
    // (After the interruption the reply is stopped, so no further decision is asked for.)
}

#[test]
fn a_cough_pauses_then_resumes_and_is_never_an_interruption() {
    let mut b = BargeIn::new(BargeInConfig::default());
    let mut frames = echo_only(100, 0.1);
    frames.extend(vec![(0.8, PLAY * 10.0, PLAY); 12]); // ~190 ms burst
    frames.extend(echo_only(40, 0.1));
    let events: Vec<BargeInEvent> = run(&mut b, &frames, 0).into_iter().map(|e| e.1).collect();
    assert_eq!(events, vec![BargeInEvent::Pause, BargeInEvent::Resume]);
}

#[test]
fn a_single_frame_click_does_not_even_pause() {
    let mut b = BargeIn::new(BargeInConfig::default());
    let mut frames = echo_only(50, 0.1);
    frames.push((0.9, PLAY * 10.0, PLAY));
    frames.extend(echo_only(50, 0.1));
    assert_eq!(run(&mut b, &frames, 0), vec![]);
}

#[test]
fn coupling_is_learned_so_a_quiet_echo_path_lets_softer_speech_through() {
    let mut b = BargeIn::new(BargeInConfig::default());
    run(&mut b, &echo_only(400, 0.01), 0); // -20 dB echo path
    let (_, coupling) = b.echo_estimate().expect("an estimate");
    assert!(coupling < -15.0, "learned {coupling} dB");
    // The user at the level of the reply itself: 20 dB above the echo.
    let events = run(&mut b, &vec![(0.9, PLAY, PLAY); 30], 400);
    assert_eq!(events.first().map(|e| e.1), Some(BargeInEvent::Pause));
}

#[test]
fn a_microphone_that_stays_quiet_while_we_play_lets_a_normal_voice_interrupt() {
    // Headphones or the browser's echo canceller: nothing of the reply reaches the
    // microphone, so no echo delay can be learned; its silence bounds the coupling.
    let mut b = BargeIn::new(BargeInConfig::default());
    assert_eq!(run(&mut b, &vec![(0.02, 1e-9, PLAY); 100], 0), vec![]);
    // The user 3 dB below the reply's level: the initial 0 dB assumption (+6 dB margin)
    // would have gated it out.
    let events = run(&mut b, &vec![(0.9, PLAY * 0.5, PLAY); 40], 100);
    assert_eq!(
        events.first().map(|e| e.1),
        Some(BargeInEvent::Pause),
        "{events:?}"
    );
    assert!(
        matches!(events.get(1), Some((_, BargeInEvent::Interrupt { .. }))),
        "{events:?}"
    );
    // Without that quiet evidence the same voice is gated (the conservative start).
    let mut fresh = BargeIn::new(BargeInConfig::default());
    assert_eq!(
        run(&mut fresh, &vec![(0.9, PLAY * 0.5, PLAY); 40], 0),
        vec![]
    );
}

#[test]
fn echo_that_is_heard_keeps_the_bound_high() {
    // A loud but irregular echo (no consistent delay): the bound follows the loudest ratio,
    // so the echo itself still never interrupts.
    let mut b = BargeIn::new(BargeInConfig::default());
    let frames: Vec<(f32, f32, f32)> = (0..400)
        .map(|i| (0.95, PLAY * if i % 7 == 0 { 0.9 } else { 0.05 }, PLAY))
        .collect();
    assert_eq!(run(&mut b, &frames, 0), vec![]);
}

#[test]
fn non_speech_and_silence_are_ignored_and_no_reply_means_no_decision() {
    let mut b = BargeIn::new(BargeInConfig::default());
    assert_eq!(
        run(&mut b, &vec![(0.1, PLAY * 10.0, PLAY); 100], 0),
        vec![],
        "loud noise, not speech"
    );
    assert_eq!(
        run(&mut b, &vec![(0.9, 1e-9, 0.0); 100], 100),
        vec![],
        "below the floor"
    );
    let mut b = BargeIn::new(BargeInConfig::default());
    assert!((0..100).all(|i| b.push(i * 16, 0.9, 1.0, 0.0, false).is_none()));
}

/// Played energy that changes from frame to frame like speech: -40 to -15 dBFS.
fn speech_like_played(n: usize) -> Vec<f32> {
    let mut seed = 7u32;
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let db = -40.0 + 25.0 * f32::from((seed >> 16) as u16) / 65_535.0;
            db_to_power(db)
        })
        .collect()
}

#[test]
fn an_echo_late_by_half_a_frame_is_learned() {
    // 7.5 frames (120 ms): each microphone frame holds the second half of one played frame
    // and the first half of the next, at -10 dB.
    let played = speech_like_played(300);
    let frames: Vec<(f32, f32, f32)> = (0..300)
        .map(|i| {
            let echo = if i >= 8 {
                (played[i - 7] + played[i - 8]) / 2.0 * 0.1
            } else {
                0.0
            };
            (0.95, echo, played[i])
        })
        .collect();
    let mut b = BargeIn::new(BargeInConfig::default());
    assert_eq!(run(&mut b, &frames, 0), vec![]);
    let (delay_ms, coupling) = b.echo_estimate().expect("an estimate");
    assert_eq!(delay_ms, 7 * 16);
    assert!((-10.0..-4.0).contains(&coupling), "{coupling} dB");
}

#[test]
fn digitally_silent_microphone_frames_do_not_spoil_the_estimate() {
    // Synthetic audio has exact zeros in its pauses; a frame the echo's edge just misses is
    // silent while the played frame at the echo delay was not.
    let played = speech_like_played(300);
    let frames: Vec<(f32, f32, f32)> = (0..300)
        .map(|i| {
            let echo = if i >= 8 && i % 12 != 0 {
                played[i - 8] * 0.1
            } else {
                0.0
            };
            (0.95, echo, played[i])
        })
        .collect();
    let mut b = BargeIn::new(BargeInConfig::default());
    assert_eq!(run(&mut b, &frames, 0), vec![]);
    assert_eq!(b.echo_estimate().map(|e| e.0), Some(8 * 16));
}

#[test]
fn echo_delayed_within_the_window_is_still_recognised() {
    let mut b = BargeIn::new(BargeInConfig::default());
    // Playback bursts; the microphone hears them 320 ms (20 frames) later at full coupling.
    let played: Vec<f32> = (0..400)
        .map(|i| if (i / 25) % 2 == 0 { PLAY } else { 0.0 })
        .collect();
    let frames: Vec<(f32, f32, f32)> = (0..400)
        .map(|i| (0.95, if i >= 20 { played[i - 20] } else { 0.0 }, played[i]))
        .collect();
    assert_eq!(run(&mut b, &frames, 0), vec![]);
    assert_eq!(
        b.echo_estimate().map(|e| e.0),
        Some(320),
        "the delay is found"
    );
}
