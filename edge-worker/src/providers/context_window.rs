//! A route's context window: the chat messages sent to a route whose model holds fewer tokens
//! than the tenant's context budget (Ollama's default of 4 096, which drops the start of a
//! longer context silently; a small llama.cpp `-c`) are cut to fit it before they are sent,
//! leaving room for the reply. The system prompt and the current turn (its user message and
//! any tool steps after it) always stay; earlier turns go, oldest first, whole.

use serde_json::Value;

use crate::session::conversation::estimate_tokens;

/// Room kept for the reply: a quarter of the window, at most this many tokens.
pub const REPLY_ROOM_MAX: usize = 1_024;

/// `messages` cut to fit a context window of `limit` tokens (none: all of them). If the system
/// prompt and the current turn alone do not fit, they are sent as they are: the provider's
/// refusal then drops the earlier turns ([`crate::providers::llm_refusal`]).
pub fn fit(messages: &[Value], limit: Option<u32>) -> Vec<Value> {
    let Some(limit) = limit.map(|l| l as usize) else {
        return messages.to_vec();
    };
    let budget = limit.saturating_sub((limit / 4).min(REPLY_ROOM_MAX));
    let system = usize::from(messages.first().is_some_and(|m| m["role"] == "system"));
    let Some(current) = messages.iter().rposition(|m| m["role"] == "user") else {
        return messages.to_vec();
    };
    let current = current.max(system);
    let cost = |m: &[Value]| m.iter().map(tokens_of).sum::<usize>();
    let mut left = budget.saturating_sub(cost(&messages[..system]) + cost(&messages[current..]));
    // Walk back over the earlier turns while they fit; the kept part starts at a user message.
    let mut keep = current;
    for i in (system..current).rev() {
        let t = tokens_of(&messages[i]);
        if t > left {
            break;
        }
        left -= t;
        keep = i;
    }
    while keep < current && messages[keep]["role"] != "user" {
        keep += 1;
    }
    messages[..system]
        .iter()
        .chain(&messages[keep..])
        .cloned()
        .collect()
}

/// A message's tokens, estimated as the history's are: its text and its tool calls.
fn tokens_of(message: &Value) -> usize {
    let text = message["content"].as_str().unwrap_or_default();
    let calls = message["tool_calls"].as_array().map_or(0, |calls| {
        calls.iter().map(|c| c.to_string().len() / 4).sum()
    });
    estimate_tokens(text) + calls
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn said(role: &str, words: usize) -> Value {
        json!({"role": role, "content": "word ".repeat(words)})
    }

    fn roles(messages: &[Value]) -> Vec<&str> {
        messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect()
    }

    fn conversation(turns: usize) -> Vec<Value> {
        let mut m = vec![said("system", 40)];
        for _ in 0..turns {
            m.push(said("user", 100));
            m.push(said("assistant", 100));
        }
        m.push(said("user", 20));
        m
    }

    #[test]
    fn without_a_window_everything_is_sent() {
        let m = conversation(30);
        assert_eq!(fit(&m, None), m);
    }

    #[test]
    fn a_small_window_keeps_the_prompt_the_newest_turns_and_room_for_the_reply() {
        // Each earlier message is ~129 tokens; 30 turns are ~7 700.
        let m = conversation(30);
        let cut = fit(&m, Some(4_096));
        let sent: usize = cut.iter().map(tokens_of).sum();
        assert!(sent <= 4_096 - 1_024, "{sent} tokens sent");
        assert!(
            sent > 4_096 - 1_024 - 2 * 129,
            "as many turns as fit: {sent}"
        );
        assert_eq!(cut[0], m[0], "the system prompt stays");
        assert_eq!(cut.last(), m.last(), "the new user turn stays");
        assert_eq!(roles(&cut)[1], "user", "no orphan reply first");
        assert_eq!(
            &cut[1..],
            &m[m.len() - (cut.len() - 1)..],
            "the newest turns, in order"
        );
    }

    #[test]
    fn the_current_turns_tool_steps_always_stay() {
        let mut m = vec![
            said("system", 40),
            said("user", 400),
            said("assistant", 400),
        ];
        m.push(said("user", 20));
        m.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "hours", "arguments": "{}"}}]}));
        m.push(json!({"role": "tool", "tool_call_id": "c1", "content": "9 to 5"}));
        let cut = fit(&m, Some(600));
        assert_eq!(roles(&cut), ["system", "user", "assistant", "tool"]);
    }

    #[test]
    fn a_turn_too_long_for_the_window_is_sent_whole_for_the_provider_to_refuse() {
        let m = vec![said("system", 10), said("user", 5_000)];
        assert_eq!(fit(&m, Some(1_000)), m);
    }

    #[test]
    fn odd_message_lists_neither_panic_nor_lose_the_turn() {
        assert!(fit(&[], Some(512)).is_empty());
        let only_system = vec![said("system", 10)];
        assert_eq!(fit(&only_system, Some(512)), only_system);
        let no_user = vec![said("system", 10), said("assistant", 10)];
        assert_eq!(fit(&no_user, Some(512)), no_user);
    }
}
