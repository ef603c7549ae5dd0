use super::*;

const COMPLETE: Verdict = Verdict {
    wait_ms: 300,
    reason: "complete",
    speculate: true,
};
const UNFINISHED: Verdict = Verdict {
    wait_ms: 2_000,
    reason: "unfinished",
    speculate: false,
};

fn steps(t: &mut TurnEnd) -> Vec<Step> {
    std::iter::from_fn(|| t.poll_step()).collect()
}

#[test]
fn a_complete_pause_speculates_and_commits_after_its_short_wait() {
    let mut t = TurnEnd::new(2_500);
    t.paused(1_200, 200); // speech ended at 1 000
    assert_eq!(steps(&mut t), [Step::Transcribe { pause: 1 }]);
    assert_eq!(t.poll_timeout(), Some(3_500), "the cap while no transcript");
    t.transcribed(1, Some(("When do you open?".into(), COMPLETE)), 1_250);
    assert_eq!(
        steps(&mut t),
        [Step::Speculate {
            pause: 1,
            text: "When do you open?".into(),
            speech_end_ms: 1_000,
        }]
    );
    assert_eq!(t.poll_timeout(), Some(1_300));
    t.handle_timeout(1_299);
    assert_eq!(steps(&mut t), []);
    t.handle_timeout(1_300);
    let [
        Step::Commit {
            text,
            end,
            speech_end_ms: Some(1_000),
        },
    ] = &steps(&mut t)[..]
    else {
        panic!()
    };
    assert_eq!(text.as_deref(), Some("When do you open?"));
    assert_eq!(
        *end,
        EndOfTurn {
            pause_ms: Some(200),
            wait_ms: Some(300),
            reason: "complete",
            speculative: true,
            discarded_replies: 0,
            speculative_tokens: 0,
        }
    );
    assert!(t.is_committed());
}

#[test]
fn a_transcript_that_comes_late_commits_as_soon_as_it_is_read() {
    let mut t = TurnEnd::new(2_500);
    t.paused(200, 200);
    steps(&mut t);
    t.transcribed(1, Some(("Yes.".into(), COMPLETE)), 900);
    let s = steps(&mut t);
    assert!(matches!(s[0], Step::Speculate { .. }));
    assert!(matches!(s[1], Step::Commit { .. }), "{s:?}");
}

#[test]
fn an_unfinished_pause_waits_long_without_a_reply_and_speech_goes_on() {
    let mut t = TurnEnd::new(2_500);
    t.paused(1_200, 200);
    steps(&mut t);
    t.transcribed(
        1,
        Some(("I'd like to order, um,".into(), UNFINISHED)),
        1_400,
    );
    assert_eq!(steps(&mut t), [], "no speculation on an unfinished turn");
    assert_eq!(t.poll_timeout(), Some(3_000));
    t.handle_timeout(2_000);
    assert_eq!(steps(&mut t), [], "not yet");
    t.resumed();
    assert_eq!(steps(&mut t), [], "nothing to drop");
    assert_eq!(t.poll_timeout(), None, "speaking: nothing is due");
    t.paused(4_000, 200);
    assert_eq!(steps(&mut t), [Step::Transcribe { pause: 2 }]);
}

#[test]
fn speech_after_a_speculative_pause_drops_its_reply_and_counts_it() {
    let mut t = TurnEnd::new(2_500);
    t.paused(1_200, 200);
    t.transcribed(1, Some(("I want to fly.".into(), COMPLETE)), 1_250);
    steps(&mut t);
    t.resumed();
    assert_eq!(steps(&mut t), [Step::Discard { pause: 1 }]);
    t.spent(420);
    // The old pause's late news changes nothing.
    t.transcribed(1, Some(("x".into(), COMPLETE)), 1_500);
    t.handle_timeout(9_000);
    assert_eq!(steps(&mut t), []);
    t.paused(3_000, 200);
    steps(&mut t);
    t.transcribed(
        2,
        Some(("I want to fly to Boston on Friday.".into(), COMPLETE)),
        3_200,
    );
    t.handle_timeout(3_200);
    let s = steps(&mut t);
    let Step::Commit { text, end, .. } = &s[1] else {
        panic!("{s:?}")
    };
    assert_eq!(text.as_deref(), Some("I want to fly to Boston on Friday."));
    assert_eq!((end.discarded_replies, end.speculative_tokens), (1, 420));
    assert!(end.speculative);
}

#[test]
fn the_cap_bounds_every_wait_and_a_turn_with_no_transcript_still_ends() {
    let long = Verdict {
        wait_ms: 9_000,
        reason: "unfinished",
        speculate: false,
    };
    let mut t = TurnEnd::new(2_500);
    t.paused(1_200, 200);
    t.transcribed(1, Some(("and".into(), long)), 1_300);
    assert_eq!(t.poll_timeout(), Some(3_500));
    t.handle_timeout(3_500);
    let s = steps(&mut t);
    let Step::Commit { end, .. } = &s[1] else {
        panic!("{s:?}")
    };
    assert_eq!((end.wait_ms, end.reason), (Some(2_500), "cap"));

    // The STT never answers: committed at the cap, to be transcribed whole.
    let mut t = TurnEnd::new(2_500);
    t.paused(1_200, 200);
    t.handle_timeout(3_500);
    let s = steps(&mut t);
    assert!(matches!(&s[1], Step::Commit { text: None, end, .. } if end.reason == "cap"));
}

#[test]
fn a_failed_transcript_falls_back_to_the_fixed_silence() {
    let mut t = TurnEnd::new(2_500);
    t.paused(1_200, 200);
    t.transcribed(1, None, 1_300);
    assert_eq!(t.poll_timeout(), Some(1_000 + u64::from(FALLBACK_WAIT_MS)));
    t.handle_timeout(1_600);
    let s = steps(&mut t);
    assert!(matches!(&s[1], Step::Commit { text: None, end, .. } if end.reason == "fallback"));
}

#[test]
fn the_clients_own_fallback_commits_at_once_and_only_once() {
    let mut t = TurnEnd::new(2_500);
    t.paused(1_200, 200);
    t.transcribed(1, Some(("My number is".into(), UNFINISHED)), 1_300);
    steps(&mut t);
    t.stopped(4_000);
    let [Step::Commit { text, end, .. }] = &steps(&mut t)[..] else {
        panic!()
    };
    assert_eq!(text.as_deref(), Some("My number is"));
    assert_eq!((end.reason, end.wait_ms), ("client", Some(3_000)));
    t.stopped(4_100);
    t.paused(4_200, 200);
    t.handle_timeout(99_000);
    assert_eq!(steps(&mut t), [], "committed once");

    // Stopped while speaking (no pause since the speech resumed): transcribed whole.
    let mut t = TurnEnd::new(2_500);
    t.paused(1_200, 200);
    t.resumed();
    steps(&mut t);
    t.stopped(30_000);
    let [
        Step::Commit {
            text: None,
            end,
            speech_end_ms: None,
        },
    ] = &steps(&mut t)[..]
    else {
        panic!()
    };
    assert_eq!(end.wait_ms, None);
}

#[test]
fn metrics_carry_the_decision() {
    let end = EndOfTurn {
        pause_ms: Some(200),
        wait_ms: Some(300),
        reason: "complete",
        speculative: true,
        discarded_replies: 2,
        speculative_tokens: 812,
    };
    let mut m = TurnMetrics::default();
    end.apply(&mut m);
    assert_eq!(m.end_of_turn_reason.as_deref(), Some("complete"));
    assert_eq!(
        (m.pause_ms, m.end_of_turn_wait_ms, m.speculative),
        (Some(200), Some(300), true)
    );
    assert_eq!((m.discarded_replies, m.speculative_tokens), (2, 812));
}

#[test]
fn the_end_of_turn_rules_give_the_verdict() {
    use crate::session::end_of_turn::{Eagerness, decide};
    let text = "When are you open on Sunday?";
    let v = Verdict::from_wait(decide(Eagerness::Medium, Some(text), Some("en")), text);
    assert_eq!((v.reason, v.speculate), ("complete", true));
    assert!(v.wait_ms <= 400);
    let text = "I'd like to order, um,";
    let v = Verdict::from_wait(decide(Eagerness::Medium, Some(text), Some("en")), text);
    assert_eq!((v.reason, v.speculate), ("unfinished", false));
    assert!(v.wait_ms >= 1_600);
    let v = Verdict::from_wait(decide(Eagerness::High, Some(""), None), "");
    assert!(!v.speculate, "nothing said: nothing to start");
    // Eagerness moves the wait.
    let text = "I want to fly to Boston";
    let low = Verdict::from_wait(decide(Eagerness::Low, Some(text), None), text);
    let high = Verdict::from_wait(decide(Eagerness::High, Some(text), None), text);
    assert!(low.wait_ms > high.wait_ms);
}
