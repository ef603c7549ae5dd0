//! The whole-turn scenarios.

use aura_protocol::{ResponseStatus, ServerMessage};
use serde_json::json;

use super::*;
use crate::providers::router::Tier;
use crate::session::turn::config::FILLER;
use crate::session::turn::core::{Event, Turn};

#[test]
fn a_spoken_turn_streams_captions_and_frames_and_ends_with_the_end_frame() {
    let mut fake = Fake {
        llm: vec![reply(vec!["We open ", "at nine. ", "See you ", "soon."])],
        ..Fake::default()
    };
    let mut turn = start(input("When do you open?", Some(3)), config(one_route()));
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap().clone();
    assert_eq!(outcome.status, ResponseStatus::Completed);
    assert_eq!(outcome.stored, "We open at nine. See you soon.");
    assert_eq!(fake.captions(), outcome.stored);
    assert_eq!(
        fake.sent[0],
        ServerMessage::ResponseStarted {
            response_id: 7,
            stream_id: Some(3)
        }
    );
    assert_eq!(fake.tts_inputs, ["We open at nine.", "See you soon."]);
    let frames = fake.frame_list();
    let (last, body) = frames.split_last().unwrap();
    assert_eq!(
        *last,
        (body.len() as u32, 0, true),
        "END takes the next seq and carries nothing"
    );
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, f)| f.0 == i as u32 && f.1 <= 480 && !f.2)
    );
    let m = &outcome.metrics;
    assert_eq!(
        (m.eos_to_transcript_ms, m.llm_first_token_ms),
        (Some(200), Some(350))
    );
    assert_eq!(m.tts_first_byte_ms, Some(150));
    assert!(m.eos_to_first_audio_ms.is_some_and(|t| t >= 350 + 150));
    assert_eq!(m.provider.as_deref(), Some("openai"));
    let reply_ms: u64 = outcome.chunks.iter().map(|c| u64::from(c.audio_ms)).sum();
    assert_eq!(
        outcome.audio_ms,
        1_500 + reply_ms,
        "speech and reply audio are billed"
    );
    assert!(
        outcome.llm_tokens > 0,
        "estimated when the provider reports no usage"
    );
    assert!(fake.errors().is_empty());
}

#[test]
fn a_typed_turn_bills_only_the_reply_audio_and_reports_usage_when_given() {
    let mut fake = Fake {
        llm: vec![reply(vec!["Hello."])],
        ..Fake::default()
    };
    let mut turn = start(input("Hi", None), config(one_route()));
    // The provider's usage arrives with the last chunk.
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(
        fake.sent[0],
        ServerMessage::ResponseStarted {
            response_id: 7,
            stream_id: None
        }
    );
    assert_eq!(
        outcome.audio_ms,
        outcome
            .chunks
            .iter()
            .map(|c| u64::from(c.audio_ms))
            .sum::<u64>()
    );
    assert_eq!(outcome.metrics.eos_to_transcript_ms, None);
    assert_eq!(
        outcome.done_message(7),
        ServerMessage::ResponseDone {
            response_id: 7,
            status: ResponseStatus::Completed,
            metrics: outcome.metrics.clone()
        }
    );
}

#[test]
fn fallback_before_the_first_token_on_an_error_and_on_a_silent_provider() {
    for first in [Llm::Status(503), Llm::Hang] {
        let mut c = config(vec![
            route("primary", Tier::Strong),
            route("fallback", Tier::Strong),
        ]);
        c.router.first_token_timeout_ms = 400;
        let mut fake = Fake {
            llm: vec![first, reply(vec!["From the fallback."])],
            ..Fake::default()
        };
        let mut turn = start(input("When?", None), c);
        fake.run(&mut turn);
        let outcome = turn.outcome().unwrap();
        assert_eq!(outcome.status, ResponseStatus::Completed);
        assert_eq!(fake.captions(), "From the fallback.");
        assert_eq!(outcome.metrics.fallbacks, 1);
        assert_eq!(outcome.metrics.provider.as_deref(), Some("fallback"));
        assert_eq!(
            fake.llm_requests.iter().map(|r| r.0).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(fake.aborted_llm, [1], "the failed attempt is abandoned");
        assert!(fake.logs.iter().any(|l| l["event"] == "route_fallback"));
    }
}

#[test]
fn the_first_token_timeout_is_the_tenants_and_no_route_left_is_a_retryable_error() {
    let mut c = config(one_route());
    c.router.first_token_timeout_ms = 400;
    let mut fake = Fake {
        llm: vec![Llm::Hang],
        ..Fake::default()
    };
    let mut turn = start(input("When?", None), c);
    fake.run(&mut turn);
    assert_eq!(
        fake.now, 400,
        "given up at the tenant's 400 ms, not a default"
    );
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Failed);
    assert_eq!(fake.errors(), ["ProviderTimeout"]);
    assert!(
        fake.frame_list().is_empty(),
        "no END frame for a failed reply"
    );
}

#[test]
fn a_tool_call_runs_after_a_spoken_filler_when_slow_and_its_result_reaches_the_model() {
    let mut fake = slow_order_check();
    let mut turn = start(
        input("Where is my order?", None),
        with_tools(config(one_route())),
    );
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Completed);
    assert_eq!(fake.tools_run, ["check_order"]);
    assert_eq!(fake.captions(), format!("{FILLER} It has shipped."));
    assert_eq!(fake.tts_inputs, [FILLER, "It has shipped."]);
    let second = &fake.llm_requests[1].1["messages"];
    let n = second.as_array().unwrap().len();
    assert_eq!(
        second[n - 2]["tool_calls"][0]["function"]["name"],
        "check_order"
    );
    assert_eq!(second[n - 1]["role"], "tool");
    assert_eq!(second[n - 1]["content"], r#"{"status":"shipped"}"#);
    assert!(
        fake.llm_requests[0].1["tools"].is_array(),
        "tools are offered"
    );
    assert!(
        fake.logs
            .iter()
            .any(|l| l["event"] == "tool_call" && l["ms"] == 1_500)
    );
}

#[test]
fn a_fast_tool_gets_no_filler() {
    let mut fake = Fake {
        llm: vec![
            Llm::Call {
                name: "check_order",
                arguments: "{}",
            },
            reply(vec!["Shipped."]),
        ],
        tool_ms: 200,
        ..Fake::default()
    };
    let mut turn = start(input("Order?", None), with_tools(config(one_route())));
    fake.run(&mut turn);
    assert_eq!(fake.captions(), "Shipped.");
}

#[test]
fn an_interruption_mid_sentence_stops_everything_and_keeps_only_what_was_heard() {
    let mut fake = Fake {
        llm: vec![reply(vec![
            "We open at nine on weekdays. ",
            "On Sundays we open at ten ",
            "and close at four.",
        ])],
        // The first chunk (28 characters, 1.8 s of audio) has been sent and half of the second
        // is: the user heard 2.2 s.
        cancel_at: Some((675, 2_200)),
        ..Fake::default()
    };
    let mut turn = start(input("When do you open?", Some(1)), config(one_route()));
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Interrupted);
    assert!(
        outcome.stored.starts_with("We open at nine on weekdays."),
        "{}",
        outcome.stored
    );
    assert!(
        !outcome.stored.contains("four"),
        "never spoken: {}",
        outcome.stored
    );
    assert!(fake.tts_aborted, "the synthesis in flight is aborted");
    assert!(
        fake.frame_list().iter().all(|f| !f.2),
        "no END frame for an interrupted reply"
    );
    assert!(fake.errors().is_empty());
}

#[test]
fn a_cancel_during_a_tool_call_aborts_it_and_asks_the_model_nothing_more() {
    let mut fake = Fake {
        llm: vec![
            Llm::Call {
                name: "check_order",
                arguments: "{}",
            },
            reply(vec!["Never."]),
        ],
        tool_ms: 5_000,
        cancel_at: Some((1_000, 0)),
        ..Fake::default()
    };
    let mut turn = start(input("Order?", None), with_tools(config(one_route())));
    fake.run(&mut turn);
    assert_eq!(
        fake.now, 1_000,
        "the turn ends at the interruption, not when the tool would"
    );
    assert!(fake.tools_aborted);
    assert_eq!(fake.llm_requests.len(), 1);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Interrupted);
    assert_eq!(
        fake.captions(),
        FILLER,
        "the filler was said at 800 ms; nothing after"
    );
}

#[test]
fn tools_make_the_router_put_the_strong_tier_first() {
    let routes = vec![route("fast", Tier::Fast), route("strong", Tier::Strong)];
    let mut c = with_tools(config(routes));
    c.router.smart = true;
    let mut fake = Fake {
        llm: vec![reply(vec!["Let me see."])],
        ..Fake::default()
    };
    let mut turn = start(input("Can you check my order?", None), c.clone());
    fake.run(&mut turn);
    assert_eq!(
        fake.llm_requests[0].0, 1,
        "strong first: {:?}",
        fake.logs[0]
    );
    assert!(
        fake.logs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("may need tools")
    );
    // The same words with no tools: small talk, fast first.
    c.offered_tools.clear();
    let mut fake = Fake {
        llm: vec![reply(vec!["Sure."])],
        ..Fake::default()
    };
    let mut turn = start(input("Can you check my order?", None), c);
    fake.run(&mut turn);
    assert_eq!(fake.llm_requests[0].0, 0);
}

#[test]
fn the_router_follows_routes_that_shrink_between_turns() {
    let three = vec![
        route("a", Tier::Strong),
        route("b", Tier::Strong),
        route("c", Tier::Strong),
    ];
    let mut fake = Fake {
        llm: vec![Llm::Status(500), Llm::Status(500), reply(vec!["From c."])],
        ..Fake::default()
    };
    let mut turn = start(input("Hi", None), config(three));
    fake.run(&mut turn);
    assert_eq!(fake.captions(), "From c.");
    // The admin leaves only `c`: the next turn's plan indexes the one route it has.
    let router = turn.into_router();
    let mut fake = Fake {
        llm: vec![reply(vec!["Still c."])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Hi", None),
        config(vec![route("c", Tier::Strong)]),
        router,
        10,
    );
    fake.run(&mut turn);
    assert_eq!(fake.llm_requests[0].0, 0);
    assert_eq!(fake.captions(), "Still c.");
}

#[test]
fn a_failure_after_text_was_sent_keeps_the_text_and_fails_without_fallback() {
    let c = config(vec![
        route("primary", Tier::Strong),
        route("fallback", Tier::Strong),
    ]);
    let mut fake = Fake {
        llm: vec![reply(vec!["We open ", "at"])],
        ..Fake::default()
    };
    let mut turn = start(input("When?", None), c);
    while let Some(c) = turn.poll_command() {
        fake.perform(c);
    }
    // Cut the body after the second delta: drop the finish and the end, break the stream.
    fake.pending
        .retain(|(_, _, e)| !matches!(e, Event::LlmEnded { .. }));
    let last = fake.pending.iter().map(|p| p.1).max().unwrap();
    fake.pending.retain(|p| p.1 != last);
    fake.at(500, Event::LlmBroken { attempt: 1 });
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Failed);
    assert_eq!(outcome.stored, "We open at");
    assert_eq!(
        fake.llm_requests.len(),
        1,
        "no fallback after text was sent"
    );
    assert_eq!(fake.errors(), ["ProviderError"]);
}

#[test]
fn a_stream_that_ends_without_done_after_its_finish_reason_is_a_normal_end() {
    let mut fake = Fake {
        llm: vec![Llm::Reply {
            first_ms: 100,
            deltas: vec!["Open at nine. ", "Bye now."],
            done: false,
        }],
        ..Fake::default()
    };
    let mut turn = start(input("When?", None), config(one_route()));
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(
        outcome.status,
        ResponseStatus::Completed,
        "{:?}",
        fake.errors()
    );
    assert_eq!(
        fake.tts_inputs.last().map(String::as_str),
        Some("Bye now."),
        "the last sentence is spoken"
    );
}

#[test]
fn built_ins_hand_off_and_end_the_conversation_without_a_webhook() {
    let mut c = config(one_route());
    c.builtins = vec![
        "transfer_to_human".into(),
        "end_conversation".into(),
        "current_time".into(),
    ];
    c.offered_tools = vec![json!({})];
    let mut fake = Fake {
        llm: vec![
            Llm::Call {
                name: "transfer_to_human",
                arguments: r#"{"reason": "asked for a person"}"#,
            },
            Llm::Call {
                name: "current_time",
                arguments: "{}",
            },
            Llm::Call {
                name: "end_conversation",
                arguments: r#"{"reason": "goodbye"}"#,
            },
            reply(vec!["Goodbye."]),
        ],
        ..Fake::default()
    };
    let mut turn = start(input("A person please, then bye", None), c);
    fake.run(&mut turn);
    assert!(fake.sent.contains(&ServerMessage::Handoff {
        reason: "asked for a person".into()
    }));
    assert_eq!(
        fake.tools_run,
        ["current_time"],
        "only the clock goes to the runtime"
    );
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.ending.as_deref(), Some("goodbye"));
    assert_eq!(outcome.status, ResponseStatus::Completed);
}

#[test]
fn the_step_after_the_last_tool_step_offers_no_tools() {
    let calls = (0..5).map(|_| Llm::Call {
        name: "check_order",
        arguments: "{}",
    });
    let mut fake = Fake {
        llm: calls.chain([reply(vec!["Done."])]).collect(),
        tool_ms: 10,
        ..Fake::default()
    };
    let mut turn = start(input("Loop", None), with_tools(config(one_route())));
    fake.run(&mut turn);
    assert_eq!(
        fake.llm_requests.len(),
        5,
        "four tool steps, then a step without tools"
    );
    assert!(fake.llm_requests[4].1.get("tools").is_none());
    assert_eq!(fake.tools_run.len(), 4);
    assert!(
        fake.logs
            .iter()
            .any(|l| l["event"] == "tool_steps_exhausted")
    );
}

#[test]
fn a_provider_busy_reasoning_is_alive_and_its_reasoning_is_never_said() {
    let mut c = config(vec![
        route("thinker", Tier::Strong),
        route("fallback", Tier::Strong),
    ]);
    c.router.first_token_timeout_ms = 400;
    let mut fake = Fake {
        llm: vec![
            Llm::Reasoning {
                reasoning_ms: 2_000,
                reply: "Nine.",
            },
            reply(vec!["Never."]),
        ],
        ..Fake::default()
    };
    let mut turn = start(input("When?", None), c);
    fake.run(&mut turn);
    assert_eq!(
        fake.captions(),
        "Nine.",
        "2 s of reasoning, 300 ms apart, is not a timeout"
    );
    assert_eq!(fake.llm_requests.len(), 1);
    assert_eq!(fake.tts_inputs, ["Nine."]);
    assert_eq!(turn.outcome().unwrap().metrics.fallbacks, 0);
    // A provider that goes quiet while reasoning still times out.
    let mut c = config(vec![route("thinker", Tier::Strong)]);
    c.router.first_token_timeout_ms = 400;
    let mut fake = Fake {
        llm: vec![Llm::Reasoning {
            reasoning_ms: 150,
            reply: "x",
        }],
        ..Fake::default()
    };
    fake.llm[0] = Llm::Reasoning {
        reasoning_ms: 150,
        reply: "x",
    };
    let mut turn = start(input("When?", None), c);
    while let Some(cmd) = turn.poll_command() {
        fake.perform(cmd);
    }
    // Keep the reasoning, drop the answer: silence after 100 ms.
    fake.pending.retain(|(at, _, _)| *at <= 100);
    fake.run(&mut turn);
    assert_eq!(fake.now, 500, "400 ms after the last sign of life");
    assert_eq!(fake.errors(), ["ProviderTimeout"]);
}
