//! Conversation memory: the turns so far, and the context sent to the LLM within a budget.
//! Audio is never part of it. The oldest turns are dropped first (whole user+assistant pairs);
//! the system prompt and the newest user turn always stay.

use serde::Serialize;

/// How many messages a conversation keeps (older ones are deleted as new ones come): more
/// than any context budget sends, and a bound on what is read per turn and kept at rest.
pub const HISTORY_KEPT: u32 = 200;

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "system" => Some(Self::System),
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

/// One message of the chat context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// Rough token count: about four characters per token for English text.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4) + 4
}

/// The context for the next reply: the system prompt, as many recent turns as fit in
/// `budget_tokens`, and the new user turn (always included).
pub fn build_context(
    system_prompt: &str,
    history: &[Message],
    user_text: &str,
    budget_tokens: usize,
) -> Vec<Message> {
    let system = Message {
        role: Role::System,
        content: system_prompt.to_string(),
    };
    let user = Message {
        role: Role::User,
        content: user_text.to_string(),
    };
    let mut left =
        budget_tokens.saturating_sub(estimate_tokens(system_prompt) + estimate_tokens(user_text));
    // Walk back from the newest turn; keep turns while they fit, and never start the kept part
    // with an assistant turn whose user turn was dropped.
    let mut keep = history.len();
    for (i, m) in history.iter().enumerate().rev() {
        let cost = estimate_tokens(&m.content);
        if cost > left {
            break;
        }
        left -= cost;
        keep = i;
    }
    while keep < history.len() && history[keep].role == Role::Assistant {
        keep += 1;
    }
    let mut out = vec![system];
    out.extend(
        history[keep..]
            .iter()
            .filter(|m| m.role != Role::System)
            .cloned(),
    );
    out.push(user);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: Role, text: &str) -> Message {
        Message {
            role,
            content: text.into(),
        }
    }

    #[test]
    fn everything_fits_in_a_large_budget() {
        let history = vec![
            turn(Role::User, "Hi"),
            turn(Role::Assistant, "Hello! How can I help?"),
        ];
        let ctx = build_context("Be brief.", &history, "Hours?", 10_000);
        let roles: Vec<Role> = ctx.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            vec![Role::System, Role::User, Role::Assistant, Role::User]
        );
        assert_eq!(ctx.last().unwrap().content, "Hours?");
    }

    #[test]
    fn the_oldest_turns_go_first_and_the_kept_part_starts_with_a_user_turn() {
        let long = "x".repeat(400); // ~104 tokens
        let history = vec![
            turn(Role::User, &long),
            turn(Role::Assistant, &long),
            turn(Role::User, "short question"),
            turn(Role::Assistant, &long),
        ];
        let ctx = build_context("Be brief.", &history, "and now?", 250);
        let contents: Vec<&str> = ctx.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            vec!["Be brief.", "short question", long.as_str(), "and now?"]
        );
    }

    #[test]
    fn the_new_turn_and_the_system_prompt_stay_even_over_budget() {
        let ctx = build_context(
            "System.",
            &[turn(Role::User, "old")],
            &"y".repeat(1_000),
            10,
        );
        assert_eq!(ctx.len(), 2);
        assert_eq!((ctx[0].role, ctx[1].role), (Role::System, Role::User));
    }
}
