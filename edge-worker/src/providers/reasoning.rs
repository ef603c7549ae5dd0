//! Reasoning models' two provider-specific facts: how hard a route is asked to think (the
//! tenant's per-route `reasoning_effort`, sent as the chat body's `reasoning_effort` only where
//! set: OpenAI o-series and gpt-5, xAI grok-3-mini), and whether the provider's
//! `completion_tokens` already count its `completion_tokens_details.reasoning_tokens` (OpenAI's
//! do; xAI's do not, its `total_tokens` adds them apart), so usage bills every token once.

use serde::{Deserialize, Serialize};

/// How much a reasoning model thinks before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningEffort {
    Low,
    Medium,
    High,
}

impl ReasoningEffort {
    /// The value of the chat body's `reasoning_effort`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// What a usage report's totals say of its reasoning tokens: `Some(true)` when `total_tokens`
/// is prompt + completion + reasoning (counted apart), `Some(false)` when it is prompt +
/// completion (reasoning inside completion), `None` when there is no total or it says neither.
pub fn apart_by_totals(
    prompt: u32,
    completion: u32,
    total: Option<u32>,
    reasoning: u32,
) -> Option<bool> {
    let total = total?;
    let within = prompt.saturating_add(completion);
    if reasoning > 0 && total == within.saturating_add(reasoning) {
        Some(true)
    } else if total == within {
        Some(false)
    } else {
        None
    }
}

/// The completion tokens to bill from a route on `host` that reported `completion` and
/// `reasoning` tokens: reasoning is added when the provider counts it apart, as its totals say
/// or, without them, as its host is known to (xAI, `api.x.ai`).
pub fn billed_completion(host: &str, completion: u32, reasoning: u32, apart: Option<bool>) -> u32 {
    let xai = host == "api.x.ai" || host.ends_with(".x.ai");
    if apart.unwrap_or(xai) {
        completion.saturating_add(reasoning)
    } else {
        completion
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_is_billed_once_whether_the_provider_counts_it_inside_or_apart() {
        // OpenAI (o-series, gpt-5): completion 40 includes 31 reasoning; total 49 = 9 + 40.
        let openai = apart_by_totals(9, 40, Some(49), 31);
        assert_eq!(openai, Some(false));
        assert_eq!(billed_completion("api.openai.com", 40, 31, openai), 40);
        // xAI grok-3-mini: completion 9 excludes 94 reasoning; total 135 = 32 + 9 + 94.
        let xai = apart_by_totals(32, 9, Some(135), 94);
        assert_eq!(xai, Some(true));
        assert_eq!(billed_completion("api.x.ai", 9, 94, xai), 103);
        // The totals win over the host: a gateway on any host is read by its own arithmetic.
        assert_eq!(billed_completion("127.0.0.1:8790", 9, 94, xai), 103);
        // No total: the host decides.
        assert_eq!(apart_by_totals(32, 9, None, 94), None);
        assert_eq!(billed_completion("api.x.ai", 9, 94, None), 103);
        assert_eq!(billed_completion("api.openai.com", 40, 31, None), 40);
        // A total that matches neither reading says nothing.
        assert_eq!(apart_by_totals(1, 2, Some(100), 5), None);
    }

    #[test]
    fn efforts_are_the_three_documented_words() {
        for (effort, word) in [
            (ReasoningEffort::Low, "low"),
            (ReasoningEffort::Medium, "medium"),
            (ReasoningEffort::High, "high"),
        ] {
            assert_eq!(effort.as_str(), word);
            assert_eq!(serde_json::to_value(effort).unwrap(), word);
        }
        assert!(serde_json::from_str::<ReasoningEffort>("\"max\"").is_err());
    }
}
