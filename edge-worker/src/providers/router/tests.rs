//! Tests of [`super`] (router.rs).

use super::*;

fn routes() -> Vec<Route> {
    vec![
        Route {
            name: "openai".into(),
            provider: "openai".into(),
            model: "gpt-4o".into(),
            tier: Tier::Strong,
            reasoning_effort: None,
            context_tokens: None,
        },
        Route {
            name: "groq".into(),
            provider: "groq".into(),
            model: "llama-3.1-8b-instant".into(),
            tier: Tier::Fast,
            reasoning_effort: None,
            context_tokens: None,
        },
        Route {
            name: "xai".into(),
            provider: "xai".into(),
            model: "grok-3".into(),
            tier: Tier::Strong,
            reasoning_effort: None,
            context_tokens: None,
        },
    ]
}

fn req(text: &str, tools: bool) -> Request<'_> {
    Request {
        user_text: text,
        tools_available: tools,
    }
}

#[test]
fn smart_routing_sends_small_talk_fast_and_long_or_tool_requests_strong() {
    let mut r = Router::new(RouterConfig::default(), routes());
    assert_eq!(
        r.plan(&req("Hi there, how are you?", true), 0).order,
        vec![1, 0, 2]
    );
    assert_eq!(
        r.plan(&req("Can you check my order 1234?", true), 0).order,
        vec![0, 2, 1]
    );
    let long = "Tell me about ".to_string() + &"your sourdough and rye ".repeat(5);
    let plan = r.plan(&req(&long, false), 0);
    assert_eq!(plan.order, vec![0, 2, 1]);
    assert!(plan.reason.contains("long request"), "{}", plan.reason);
    // The same tool words without tools configured are just talk.
    assert_eq!(
        r.plan(&req("check this out", false), 0).order,
        vec![1, 0, 2]
    );
}

#[test]
fn a_tenant_can_switch_smart_routing_off() {
    let mut r = Router::new(
        RouterConfig {
            smart: false,
            ..RouterConfig::default()
        },
        routes(),
    );
    let plan = r.plan(&req("Hi", false), 0);
    assert_eq!(plan.order, vec![0, 1, 2]);
    assert!(plan.reason.contains("smart routing off"));
}

#[test]
fn fallback_before_the_first_token_on_each_transient_failure() {
    for failure in [
        Failure::Status {
            code: 429,
            retry_after_ms: Some(2_000),
        },
        Failure::Status {
            code: 500,
            retry_after_ms: None,
        },
        Failure::Status {
            code: 503,
            retry_after_ms: None,
        },
        Failure::Status {
            code: 401,
            retry_after_ms: None,
        },
        Failure::FirstTokenTimeout,
        Failure::Disconnect,
        Failure::Malformed,
    ] {
        let mut r = Router::new(RouterConfig::default(), routes());
        let next = r.failed(0, failure, false, &[2, 1], 0);
        assert!(
            matches!(next, Next::FallBack { route: 2, .. }),
            "{failure:?}: {next:?}"
        );
    }
}

#[test]
fn no_fallback_after_text_was_sent_or_when_the_request_is_wrong_or_nothing_is_left() {
    let mut r = Router::new(RouterConfig::default(), routes());
    let next = r.failed(0, Failure::Disconnect, true, &[2], 0);
    assert!(
        matches!(&next, Next::GiveUp { reason } if reason.contains("repeating speech")),
        "{next:?}"
    );
    let next = r.failed(
        0,
        Failure::Status {
            code: 400,
            retry_after_ms: None,
        },
        false,
        &[2],
        0,
    );
    assert!(matches!(next, Next::GiveUp { .. }));
    let next = r.failed(
        0,
        Failure::Status {
            code: 502,
            retry_after_ms: None,
        },
        false,
        &[],
        0,
    );
    assert!(matches!(&next, Next::GiveUp { reason } if reason.contains("no provider left")));
}

#[test]
fn the_breaker_opens_after_repeated_failures_skips_the_route_then_lets_one_trial_through() {
    let config = RouterConfig {
        smart: false,
        ..RouterConfig::default()
    };
    let mut r = Router::new(config, routes());
    for t in 0..3 {
        r.failed(
            0,
            Failure::Status {
                code: 500,
                retry_after_ms: None,
            },
            false,
            &[1],
            t,
        );
    }
    let plan = r.plan(&req("Hi", false), 10);
    assert_eq!(plan.order, vec![1, 2, 0], "open route goes last");
    assert!(plan.reason.contains("breaker open"), "{}", plan.reason);
    // After the open period: one trial, first in line again.
    assert_eq!(r.plan(&req("Hi", false), 30_010).order, vec![0, 1, 2]);
    // While the trial is in flight, others go first.
    assert_eq!(r.plan(&req("Hi", false), 30_011).order, vec![1, 2, 0]);
    // The trial fails: open again at once.
    r.failed(0, Failure::FirstTokenTimeout, false, &[1], 30_100);
    assert_eq!(r.plan(&req("Hi", false), 30_200).order, vec![1, 2, 0]);
    // Next trial succeeds: closed.
    assert_eq!(r.plan(&req("Hi", false), 60_200).order, vec![0, 1, 2]);
    r.succeeded(0);
    assert_eq!(r.plan(&req("Hi", false), 60_300).order, vec![0, 1, 2]);
}

#[test]
fn a_429_retry_after_longer_than_the_breaker_wins() {
    let mut r = Router::new(
        RouterConfig {
            smart: false,
            ..RouterConfig::default()
        },
        routes(),
    );
    r.failed(
        0,
        Failure::Status {
            code: 429,
            retry_after_ms: Some(90_000),
        },
        false,
        &[1],
        0,
    );
    assert_eq!(r.plan(&req("Hi", false), 60_000).order, vec![1, 2, 0]);
    assert_eq!(r.plan(&req("Hi", false), 90_000).order, vec![0, 1, 2]);
}

#[test]
fn a_429_without_any_wait_still_opens_the_breaker_at_once() {
    let config = RouterConfig {
        smart: false,
        ..RouterConfig::default()
    };
    let mut r = Router::new(config, routes());
    let rate_limited = Failure::Status {
        code: 429,
        retry_after_ms: None,
    };
    r.failed(0, rate_limited, false, &[1], 0);
    assert_eq!(r.plan(&req("Hi", false), 1_000).order, vec![1, 2, 0]);
    assert_eq!(r.plan(&req("Hi", false), 30_000).order, vec![0, 1, 2]);
}

#[test]
fn plans_follow_the_routes_of_the_turn_when_they_change_or_shrink() {
    let config = RouterConfig {
        smart: false,
        ..RouterConfig::default()
    };
    let mut r = Router::new(config, routes());
    // xai (index 2) fails until its breaker opens.
    for t in 0..3 {
        r.failed(2, Failure::Disconnect, false, &[], t);
    }
    // The admin removes openai and groq: xai alone, now at index 0, still open.
    let xai = routes()[2].clone();
    r.follow(config, vec![xai.clone()]);
    let plan = r.plan(&req("Hi", false), 10);
    assert_eq!(plan.order, vec![0], "every index is a route of this turn");
    assert!(
        plan.reason.contains("breaker open, tried last: xai"),
        "{}",
        plan.reason
    );
    // A shorter list never yields an index past its end, whatever the old plan held.
    let mut grown = Router::new(config, routes());
    grown.follow(config, vec![routes()[1].clone()]);
    assert!(
        grown
            .plan(&req("Hi", false), 0)
            .order
            .iter()
            .all(|&i| i < 1)
    );
    // A new route starts closed; the timeout follows the tenant's setting.
    let faster = RouterConfig {
        first_token_timeout_ms: 700,
        ..config
    };
    r.follow(faster, vec![routes()[0].clone(), xai]);
    assert_eq!(r.plan(&req("Hi", false), 20).order, vec![0, 1]);
    assert_eq!(r.config().first_token_timeout_ms, 700);
}

#[test]
fn a_success_resets_the_failure_count() {
    let mut r = Router::new(
        RouterConfig {
            smart: false,
            ..RouterConfig::default()
        },
        routes(),
    );
    r.failed(0, Failure::Disconnect, false, &[1], 0);
    r.failed(0, Failure::Disconnect, false, &[1], 1);
    r.succeeded(0);
    r.failed(0, Failure::Disconnect, false, &[1], 2);
    assert_eq!(
        r.plan(&req("Hi", false), 3).order,
        vec![0, 1, 2],
        "two failures, a success, one failure: closed"
    );
}
