//! Reasoning models in local workerd (issue 16 item 6): a route's `reasoning_effort` is sent to
//! that route only, and reasoning tokens are billed once whether the provider counts them inside
//! `completion_tokens` (OpenAI) or apart (xAI: before, xAI's were not billed at all).

use aura_emulator::Emulator;
use aura_tests::{WranglerDev, requests_to, script, typed_turn};
use serde_json::json;

const REPLY: &str = "We open at nine.";

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn reasoning_effort_is_sent_where_set_and_reasoning_tokens_are_billed_for_each_provider() {
    let emu = Emulator::start(0).unwrap();
    let dev = WranglerDev::start();
    let mut settings =
        aura_admin::settings_for("reasoning", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["llm"][0]["reasoning_effort"] = json!("high");
    let tenant = dev.tenant_with("reasoning", settings);
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"reply": REPLY, "mode": "reasoning_content"},
            {"reply": REPLY, "mode": "xai_reasoning"},
            {"reply": REPLY},
        ]}),
    );
    let (text, openai_style, errors) = typed_turn(&tenant, "When do you open?");
    assert_eq!((text.as_str(), errors.len()), (REPLY, 0), "{errors:?}");
    let (_, xai_style, _) = typed_turn(&tenant, "When do you open?");
    let plain = dev.tenant("plain", &emu.base_url(), &[]);
    let (_, no_reasoning, _) = typed_turn(&plain, "When do you open?");

    let billed = |done: &serde_json::Value| done["metrics"]["completion_tokens"].as_u64().unwrap();
    // The emulator reasons in six tokens before the reply.
    assert_eq!(
        billed(&openai_style),
        billed(&no_reasoning) + 6,
        "{openai_style}"
    );
    assert_eq!(
        billed(&xai_style),
        billed(&openai_style),
        "xAI's reasoning tokens, reported apart, are billed too: {xai_style}"
    );
    let chat = requests_to(&emu, "chat");
    assert_eq!(chat[0]["body"]["reasoning_effort"], "high");
    assert_eq!(chat[1]["body"]["reasoning_effort"], "high");
    assert!(
        chat[2]["body"].get("reasoning_effort").is_none(),
        "a route without the setting is not sent it: {}",
        chat[2]["body"]
    );
}
