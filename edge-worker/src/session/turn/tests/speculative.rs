//! Speculative turns: started on a pause, nothing heard before the commit, dropped unheard.

use aura_protocol::{ResponseStatus, ServerMessage};
use serde_json::json;

use super::*;
use crate::session::turn::config::FILLER;

fn speculative(input: TurnInput, config: TurnConfig) -> Turn {
    Turn::start_speculative(
        input,
        config,
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    )
}

#[test]
fn a_speculative_reply_is_made_but_sent_only_at_its_commit() {
    let mut fake = Fake {
        llm: vec![reply(vec!["We open ", "at nine."])],
        ..Fake::default()
    };
    let mut turn = speculative(input("When do you open?", Some(4)), config(one_route()));
    fake.run_until(&mut turn, 2_000);
    assert!(turn.is_speculative() && turn.outcome().is_none());
    assert_eq!(fake.llm_requests.len(), 1, "the LLM was asked at once");
    assert_eq!(fake.tts_inputs, ["We open at nine."], "and its speech made");
    assert!(
        fake.sent.is_empty() && fake.frames.is_empty(),
        "nothing sent"
    );
    turn.commit(2_000);
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Completed);
    assert!(!outcome.discarded);
    assert_eq!(outcome.stored, "We open at nine.");
    assert!(matches!(
        fake.sent[0],
        ServerMessage::ResponseStarted {
            stream_id: Some(4),
            ..
        }
    ));
    assert_eq!(fake.captions(), "We open at nine.");
    assert!(fake.frame_list().last().unwrap().2, "the end frame");
    assert_eq!(
        outcome.metrics.eos_to_first_audio_ms,
        Some(2_000),
        "its first audio went out at the commit"
    );
}

#[test]
fn a_commit_before_the_reply_is_ready_lets_it_flow_as_it_comes() {
    let mut fake = Fake {
        llm: vec![reply(vec!["Nine."])],
        ..Fake::default()
    };
    let mut turn = speculative(input("When?", Some(1)), config(one_route()));
    fake.run_until(&mut turn, 100);
    turn.commit(100);
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    // The sentence ends with the body at 370, TTS answers 150 ms later: the commit at 100
    // delays nothing.
    assert_eq!(outcome.metrics.eos_to_first_audio_ms, Some(520));
    assert_eq!(fake.captions(), "Nine.");
}

#[test]
fn a_discarded_reply_aborts_its_requests_and_sends_and_keeps_nothing() {
    let mut fake = Fake {
        llm: vec![reply(vec!["We open ", "at nine."])],
        ..Fake::default()
    };
    let mut turn = speculative(input("When do you", Some(2)), config(one_route()));
    fake.run_until(&mut turn, 200);
    turn.discard(200);
    while let Some(c) = turn.poll_command() {
        fake.perform(c);
    }
    let outcome = turn.outcome().expect("a discarded turn is over");
    assert!(outcome.discarded);
    assert_eq!(outcome.stored, "");
    assert_eq!(fake.aborted_llm, [1], "its LLM request aborted");
    assert!(fake.sent.is_empty() && fake.frames.is_empty());
    assert!(outcome.llm_tokens > 0, "what it spent is still counted");

    // Finished before the user went on: still nothing of it is sent or kept.
    let mut fake = Fake {
        llm: vec![reply(vec!["Nine."])],
        ..Fake::default()
    };
    let mut turn = speculative(input("When?", Some(3)), config(one_route()));
    fake.run_until(&mut turn, 5_000);
    turn.discard(5_000);
    while let Some(c) = turn.poll_command() {
        fake.perform(c);
    }
    let outcome = turn.outcome().unwrap();
    assert!(outcome.discarded && outcome.stored.is_empty() && outcome.chunks.is_empty());
    assert!(fake.sent.is_empty() && fake.frames.is_empty());
}

#[test]
fn a_superseded_or_abandoned_speculative_turn_is_discarded() {
    for event in [
        Event::Cancel {
            played_ms: u32::MAX,
        },
        Event::ClientGone,
    ] {
        let mut fake = Fake {
            llm: vec![reply(vec!["Nine."])],
            ..Fake::default()
        };
        let mut turn = speculative(input("When?", Some(3)), config(one_route()));
        fake.run_until(&mut turn, 400);
        turn.handle(event, 400);
        fake.run(&mut turn);
        assert!(turn.outcome().unwrap().discarded);
        assert!(fake.sent.is_empty() && fake.frames.is_empty());
    }
}

#[test]
fn a_webhook_and_its_filler_wait_for_the_commit() {
    let mut fake = slow_order_check();
    let mut turn = speculative(
        input("Where is my order?", Some(5)),
        with_tools(config(one_route())),
    );
    fake.run_until(&mut turn, 3_000);
    assert!(fake.tools_run.is_empty(), "no webhook before the commit");
    assert!(fake.tts_inputs.is_empty(), "no filler before the commit");
    assert!(fake.sent.is_empty());
    turn.commit(3_000);
    fake.run(&mut turn);
    assert_eq!(fake.tools_run, ["check_order"]);
    assert_eq!(fake.captions(), format!("{FILLER} It has shipped."));
    assert!(
        fake.logs
            .iter()
            .any(|l| l["event"] == "tool_call" && l["ms"] == 1_500),
        "the tool's time counts from the commit"
    );
}

#[test]
fn a_built_in_that_only_reads_may_run_before_the_commit() {
    let mut c = config(one_route());
    c.builtins = vec!["current_time".into()];
    c.offered_tools = vec![json!({})];
    let mut fake = Fake {
        llm: vec![
            Llm::Call {
                name: "current_time",
                arguments: "{}",
            },
            reply(vec!["It is noon."]),
        ],
        ..Fake::default()
    };
    let mut turn = speculative(input("What time is it?", Some(6)), c);
    fake.run_until(&mut turn, 2_000);
    assert_eq!(fake.tools_run, ["current_time"]);
    assert_eq!(
        fake.llm_requests.len(),
        2,
        "the answer after it was asked too"
    );
    assert!(fake.sent.is_empty());
    turn.commit(2_000);
    fake.run(&mut turn);
    assert_eq!(fake.captions(), "It is noon.");
}
