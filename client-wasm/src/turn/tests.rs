use super::*;

/// Feeds one probability per 16 ms frame and collects the events.
fn run(config: TurnConfig, probs: &[f32]) -> Vec<TurnEvent> {
    run_impulsive(config, probs, &[])
}

/// The same, with the frames in `impulsive` (indices) flagged impulsive.
fn run_impulsive(config: TurnConfig, probs: &[f32], impulsive: &[usize]) -> Vec<TurnEvent> {
    let mut turn = TurnDetector::new(config);
    let mut events: Vec<TurnEvent> = probs
        .iter()
        .enumerate()
        .filter_map(|(i, &p)| turn.push(i as u64 * 16, p, impulsive.contains(&i)))
        .collect();
    events.extend(turn.finish(probs.len() as u64 * 16));
    events
}

fn frames(spec: &[(f32, usize)]) -> Vec<f32> {
    spec.iter()
        .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
        .collect()
}

#[test]
fn an_utterance_starts_on_its_first_speech_frame_and_ends_after_the_silence() {
    // 10 silent frames, 50 speech frames (800 ms), 50 silent frames.
    let events = run(
        TurnConfig::default(),
        &frames(&[(0.0, 10), (0.9, 50), (0.0, 50)]),
    );
    assert_eq!(
        events,
        vec![
            TurnEvent::Started {
                start_ms: 160,
                decided_ms: 176
            },
            // Last speech frame ends at 960; 600 ms of silence is decided at 1568 (38 frames of 16 ms = 608).
            TurnEvent::Ended {
                start_ms: 160,
                end_ms: 960,
                decided_ms: 1_568,
                reason: EndReason::Silence
            },
        ]
    );
}

#[test]
fn an_impulsive_onset_needs_three_frames_of_speech() {
    // A click: earshot scores it as speech for a frame or two after it, when the impulse
    // check already sees it over.
    let click = frames(&[(0.0, 5), (0.9, 2), (0.0, 50)]);
    assert_eq!(
        run_impulsive(TurnConfig::default(), &click, &[5, 6]),
        vec![]
    );
    // Impulsive on the first speech frame: held until 48 ms, dated back to the onset.
    let voice = frames(&[(0.0, 5), (0.9, 40), (0.0, 50)]);
    let events = run_impulsive(TurnConfig::default(), &voice, &[5]);
    assert_eq!(
        events[0],
        TurnEvent::Started {
            start_ms: 80,
            decided_ms: 128
        }
    );
}

#[test]
fn a_blip_shorter_than_min_speech_is_ignored() {
    let config = TurnConfig {
        min_speech_ms: 48,
        ..TurnConfig::default()
    };
    assert_eq!(
        run(config, &frames(&[(0.0, 5), (0.9, 2), (0.0, 50)])),
        vec![]
    );
    // Two frames are enough with the default when they are not impulsive.
    assert_eq!(
        run(
            TurnConfig::default(),
            &frames(&[(0.0, 5), (0.9, 2), (0.0, 50)])
        )
        .len(),
        2
    );
}

#[test]
fn pauses_shorter_than_end_silence_keep_one_utterance() {
    let p = frames(&[(0.9, 20), (0.0, 30), (0.9, 20), (0.0, 60)]);
    let events = run(TurnConfig::default(), &p);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(
        events[1],
        TurnEvent::Ended {
            start_ms: 0,
            end_ms: 1_120,
            ..
        }
    ));
}

#[test]
fn hysteresis_keeps_speech_going_between_the_thresholds() {
    // 0.4 is below start (0.5) but not below stop (0.3): it neither starts nor ends speech.
    assert_eq!(run(TurnConfig::default(), &frames(&[(0.4, 100)])), vec![]);
    let events = run(
        TurnConfig::default(),
        &frames(&[(0.9, 10), (0.4, 100), (0.0, 40)]),
    );
    assert!(
        matches!(
            events[1],
            TurnEvent::Ended {
                end_ms: 1_760,
                reason: EndReason::Silence,
                ..
            }
        ),
        "{events:?}"
    );
}

#[test]
fn max_length_cuts_a_monologue_and_the_next_one_starts_after_a_pause() {
    let config = TurnConfig {
        max_utterance_ms: 1_600,
        ..TurnConfig::default()
    };
    // 2.4 s of speech with one silent frame at 2.0 s.
    let events = run(config, &frames(&[(0.9, 125), (0.1, 1), (0.9, 24)]));
    assert!(
        matches!(
            events[1],
            TurnEvent::Ended {
                start_ms: 0,
                end_ms: 1_600,
                reason: EndReason::MaxLength,
                ..
            }
        ),
        "{events:?}"
    );
    assert_eq!(
        events[2],
        TurnEvent::Started {
            start_ms: 2_016,
            decided_ms: 2_032
        },
        "{events:?}"
    );
    assert!(matches!(
        events.last(),
        Some(TurnEvent::Ended {
            reason: EndReason::StreamEnd,
            end_ms: 2_400,
            ..
        })
    ));
}

#[test]
fn sound_that_never_pauses_makes_one_utterance_not_one_per_max_length() {
    let config = TurnConfig {
        max_utterance_ms: 1_600,
        ..TurnConfig::default()
    };
    let events = run(config, &frames(&[(0.9, 500)]));
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(
        events[1],
        TurnEvent::Ended {
            reason: EndReason::MaxLength,
            ..
        }
    ));
}

#[test]
fn every_started_is_followed_by_exactly_one_ended() {
    let mut seed = 12345u32;
    let probs: Vec<f32> = (0..5_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as f32 / 65_536.0
        })
        .collect();
    let events = run(TurnConfig::default(), &probs);
    let mut open = false;
    for e in &events {
        match e {
            TurnEvent::Started { .. } => {
                assert!(!open);
                open = true;
            }
            TurnEvent::Ended {
                start_ms, end_ms, ..
            } => {
                assert!(open && end_ms > start_ms);
                open = false;
            }
            TurnEvent::Paused { .. } | TurnEvent::Resumed { .. } => {
                unreachable!("no pauses when the client ends the turn")
            }
        }
    }
    assert!(!open);
}

fn edge(fallback_ms: u32) -> TurnConfig {
    TurnConfig {
        end_of_turn: EndOfTurn::Edge { fallback_ms },
        ..TurnConfig::default()
    }
}

#[test]
fn with_the_edge_deciding_a_pause_then_speech_keeps_one_utterance() {
    // 20 speech frames, 30 silent (480 ms: a v1 turn would go on too, but pause), 20 speech.
    let p = frames(&[(0.9, 20), (0.0, 30), (0.9, 20), (0.0, 300)]);
    let events = run(edge(4_000), &p);
    assert_eq!(
        events,
        vec![
            TurnEvent::Started {
                start_ms: 0,
                decided_ms: 16
            },
            // 10 frames of silence = 160 ms, after the speech ending at 320.
            TurnEvent::Paused {
                start_ms: 0,
                speech_end_ms: 320,
                silence_ms: 160,
                decided_ms: 480
            },
            TurnEvent::Resumed {
                start_ms: 0,
                speech_ms: 800,
                decided_ms: 816
            },
            TurnEvent::Paused {
                start_ms: 0,
                speech_end_ms: 1_120,
                silence_ms: 160,
                decided_ms: 1_280
            },
            // The fallback: 4 s of silence (250 frames = 4 000 ms).
            TurnEvent::Ended {
                start_ms: 0,
                end_ms: 1_120,
                decided_ms: 5_120,
                reason: EndReason::Silence
            },
        ]
    );
}

#[test]
fn a_pause_longer_than_v1s_end_silence_does_not_end_the_turn_when_the_edge_decides() {
    // 1.5 s pause: v1 ends the turn at 600 ms; v2 only pauses.
    let p = frames(&[(0.9, 20), (0.0, 94), (0.9, 20), (0.0, 40)]);
    let v1 = run(TurnConfig::default(), &p);
    assert_eq!(v1.len(), 4, "v1 makes two turns: {v1:?}");
    let v2 = run(edge(4_000), &p);
    let ended = v2
        .iter()
        .filter(|e| matches!(e, TurnEvent::Ended { .. }))
        .count();
    let paused = v2
        .iter()
        .filter(|e| matches!(e, TurnEvent::Paused { .. }))
        .count();
    // Only the end of the stream ends it (no fallback yet); each pause reported once.
    assert_eq!((ended, paused), (1, 2), "{v2:?}");
    assert!(matches!(
        v2.last(),
        Some(TurnEvent::Ended {
            reason: EndReason::StreamEnd,
            ..
        })
    ));
}

#[test]
fn between_the_thresholds_a_pause_stays_a_pause() {
    // 0.4 after a pause is neither speech nor a resume: the silence goes on and ends it.
    let p = frames(&[(0.9, 20), (0.0, 13), (0.4, 60)]);
    let events = run(edge(800), &p);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TurnEvent::Resumed { .. })),
        "{events:?}"
    );
    assert!(matches!(
        events.last(),
        Some(TurnEvent::Ended {
            end_ms: 320,
            reason: EndReason::Silence,
            ..
        })
    ));
}

#[test]
fn a_commit_ends_the_utterance_and_the_next_speech_opens_another() {
    let mut turn = TurnDetector::new(edge(4_000));
    let mut at = 0;
    let mut push = |turn: &mut TurnDetector, p: f32, n: usize| {
        let mut out = Vec::new();
        for _ in 0..n {
            out.extend(turn.push(at, p, false));
            at += 16;
        }
        out
    };
    assert_eq!(push(&mut turn, 0.9, 20).len(), 1);
    assert_eq!(push(&mut turn, 0.0, 20).len(), 1, "paused");
    assert_eq!(
        turn.commit(640),
        None,
        "silent at the commit: nothing opens"
    );
    assert!(!turn.in_utterance());
    // Silence after the commit: no fallback end, nothing at all.
    assert_eq!(push(&mut turn, 0.0, 300), vec![]);
    assert_eq!(
        push(&mut turn, 0.9, 1),
        vec![TurnEvent::Started {
            start_ms: 5_440,
            decided_ms: 5_456
        }]
    );
}

#[test]
fn speech_the_commit_crossed_is_a_new_utterance_from_where_it_began() {
    let mut turn = TurnDetector::new(edge(4_000));
    let probs = frames(&[(0.9, 20), (0.0, 20), (0.9, 10)]);
    let events: Vec<_> = probs
        .iter()
        .enumerate()
        .filter_map(|(i, &p)| turn.push(i as u64 * 16, p, false))
        .collect();
    assert!(matches!(
        events.last(),
        Some(TurnEvent::Resumed { speech_ms: 640, .. })
    ));
    // The commit of the first part arrives while the user speaks on.
    assert_eq!(
        turn.commit(800),
        Some(TurnEvent::Started {
            start_ms: 640,
            decided_ms: 800
        })
    );
    assert!(turn.in_utterance());
    // The new utterance pauses and ends on its own.
    let rest: Vec<_> = (50..400)
        .filter_map(|i| turn.push(i * 16, 0.0, false))
        .collect();
    assert!(
        matches!(
            rest[0],
            TurnEvent::Paused {
                start_ms: 640,
                speech_end_ms: 800,
                ..
            }
        ),
        "{rest:?}"
    );
    assert!(matches!(
        rest[1],
        TurnEvent::Ended {
            start_ms: 640,
            reason: EndReason::Silence,
            ..
        }
    ));
}

#[test]
fn max_length_still_ends_a_turn_when_the_edge_decides() {
    let config = TurnConfig {
        max_utterance_ms: 1_600,
        ..edge(4_000)
    };
    let events = run(config, &frames(&[(0.9, 125), (0.0, 20)]));
    assert!(
        matches!(
            events[1],
            TurnEvent::Ended {
                end_ms: 1_600,
                reason: EndReason::MaxLength,
                ..
            }
        ),
        "{events:?}"
    );
    assert_eq!(events.len(), 2, "{events:?}");
}

#[test]
fn switching_to_the_edge_mid_utterance_keeps_it_open() {
    let mut turn = TurnDetector::new(TurnConfig::default());
    assert!(turn.push(0, 0.9, false).is_some());
    turn.set_end_of_turn(EndOfTurn::Edge { fallback_ms: 4_000 });
    let events: Vec<_> = (1..100)
        .filter_map(|i| turn.push(i * 16, 0.0, false))
        .collect();
    assert!(
        matches!(events[..], [TurnEvent::Paused { .. }]),
        "{events:?}"
    );
    assert!(turn.in_utterance());
}
