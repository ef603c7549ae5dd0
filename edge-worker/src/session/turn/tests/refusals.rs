//! Refusals a retry on the same route mends (llama.cpp without `--jinja`, a context too long).

use aura_protocol::ResponseStatus;

use super::*;
use crate::session::turn::core::Turn;

const NO_JINJA: &str =
    r#"{"error":{"code":500,"message":"tools param requires --jinja flag","type":"server_error"}}"#;
const TOO_LONG: &str = r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}"#;

fn with_history(text: &str) -> TurnInput {
    let mut i = input(text, None);
    let question = i.context.pop().unwrap();
    for (role, content) in [
        (Role::User, "Earlier question."),
        (Role::Assistant, "Earlier answer."),
    ] {
        i.context.push(Message {
            role,
            content: content.into(),
        });
    }
    i.context.push(question);
    i
}

#[test]
fn a_route_without_tools_support_is_asked_again_without_them_and_remembered() {
    let mut fake = Fake {
        llm: vec![Llm::Refused(500, NO_JINJA), reply(vec!["At nine."])],
        ..Fake::default()
    };
    let mut turn = start(input("When?", None), with_tools(config(one_route())));
    fake.run(&mut turn);
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Completed);
    assert_eq!(fake.captions(), "At nine.");
    assert!(fake.llm_requests[0].1.get("tools").is_some());
    assert!(
        fake.llm_requests[1].1.get("tools").is_none(),
        "the retry has none"
    );
    assert_eq!(fake.llm_requests[1].0, 0, "on the same route");
    assert!(fake.logs.iter().any(|l| l["event"] == "route_retry"));
    assert_eq!(turn.outcome().unwrap().metrics.fallbacks, 0);
    // The next turn asks that route without tools at once.
    let router = turn.into_router();
    let mut fake = Fake {
        llm: vec![reply(vec!["Yes."])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Open?", None),
        with_tools(config(one_route())),
        router,
        0,
    );
    fake.run(&mut turn);
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Completed);
    assert_eq!(fake.llm_requests.len(), 1);
    assert!(fake.llm_requests[0].1.get("tools").is_none());
}

#[test]
fn the_same_refusal_without_tools_offered_is_a_failure() {
    let mut fake = Fake {
        llm: vec![Llm::Refused(500, NO_JINJA)],
        ..Fake::default()
    };
    let mut turn = start(input("When?", None), config(one_route()));
    fake.run(&mut turn);
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Failed);
    assert_eq!(fake.llm_requests.len(), 1);
}

#[test]
fn a_context_too_long_is_asked_again_once_without_earlier_turns() {
    let mut fake = Fake {
        llm: vec![Llm::Refused(400, TOO_LONG), reply(vec!["At nine."])],
        ..Fake::default()
    };
    let mut turn = start(with_history("When?"), config(one_route()));
    fake.run(&mut turn);
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Completed);
    let contents = |i: usize| -> Vec<String> {
        fake.llm_requests[i].1["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(contents(0).len(), 4);
    assert_eq!(contents(1), ["Be brief.", "When?"]);
    // Refused again with nothing more to drop: the turn fails (no loop).
    let mut fake = Fake {
        llm: vec![Llm::Refused(400, TOO_LONG), Llm::Refused(400, TOO_LONG)],
        ..Fake::default()
    };
    let mut turn = start(with_history("When?"), config(one_route()));
    fake.run(&mut turn);
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Failed);
    assert_eq!(fake.llm_requests.len(), 2);
}

const REGION: &str = r#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}"#;

#[test]
fn a_region_refusal_falls_back_is_logged_as_such_and_is_not_called_a_bad_key() {
    let routes = vec![route("openai", Tier::Strong), route("groq", Tier::Strong)];
    let mut fake = Fake {
        llm: vec![Llm::Refused(403, REGION), reply(vec!["At nine."])],
        ..Fake::default()
    };
    let mut turn = start(input("When?", None), config(routes));
    fake.run(&mut turn);
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Completed);
    assert_eq!(fake.captions(), "At nine.");
    assert_eq!(fake.llm_requests[1].0, 1, "the next route answered");
    let region = fake
        .logs
        .iter()
        .find(|l| l["event"] == "provider_region_refused")
        .expect("the refusal is logged");
    assert_eq!(region["code"], "provider_region_refused");
    assert_eq!(region["provider"], "openai");
    let fallback = fake
        .logs
        .iter()
        .find(|l| l["event"] == "route_fallback")
        .unwrap();
    let reason = fallback["reason"].as_str().unwrap();
    assert!(
        reason.contains("refused in this region") && !reason.contains("key refused"),
        "{reason}"
    );

    // With no other route, the user's error says so too.
    let mut fake = Fake {
        llm: vec![Llm::Refused(403, REGION)],
        ..Fake::default()
    };
    let mut turn = start(input("When?", None), config(one_route()));
    fake.run(&mut turn);
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Failed);
    let told = fake.sent.iter().any(|m| {
        matches!(m, ServerMessage::Error { message, .. } if message.contains("refused in this region"))
    });
    assert!(told, "{:?}", fake.errors());
}
