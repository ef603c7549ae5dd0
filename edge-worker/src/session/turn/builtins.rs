//! The built-in tools' results, as the LLM reads them. The side effects (the page's handoff,
//! the end of the conversation) are the turn's; the clock is the runtime's.

use serde_json::json;

/// A tool's result for the LLM and how the call went, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    /// The tool message's content (JSON text).
    pub content: String,
    /// `ok`, `unknown_tool`, or a webhook's outcome (`timeout`, `cancelled`, ...).
    pub outcome: &'static str,
}

impl ToolResult {
    pub fn ok(content: serde_json::Value) -> Self {
        Self {
            content: content.to_string(),
            outcome: "ok",
        }
    }

    pub fn unknown() -> Self {
        Self {
            content: json!({"error": "there is no tool by that name"}).to_string(),
            outcome: "unknown_tool",
        }
    }
}

/// `current_time`: the local time in the business's zone if the runtime knows the zone, else
/// the UTC time with a note.
pub fn current_time(local: Option<String>, time_zone: &str, utc_now: &str) -> ToolResult {
    match local {
        Some(now) => ToolResult::ok(json!({"now": now, "time_zone": time_zone})),
        None => ToolResult::ok(
            json!({"now_utc": utc_now, "note": "the business's time zone is not known"}),
        ),
    }
}

pub fn handed_off() -> ToolResult {
    ToolResult::ok(
        json!({"ok": true, "note": "the page was asked to connect the user with a person"}),
    )
}

pub fn ending() -> ToolResult {
    ToolResult::ok(json!({"ok": true, "note": "the conversation ends after this reply"}))
}

/// The `reason` argument of a call (at most 500 characters; empty if absent or not JSON).
pub fn reason(arguments: &str) -> String {
    let args: serde_json::Value = serde_json::from_str(if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    })
    .unwrap_or(serde_json::Value::Null);
    args["reason"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(500)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_read_as_json_and_reasons_are_bounded() {
        let r = current_time(Some("Monday 9:00".into()), "Europe/London", "x");
        assert_eq!(r.outcome, "ok");
        assert!(r.content.contains("Europe/London"));
        assert!(
            current_time(None, "Mars/Base", "2026-12-01T00:00:00Z")
                .content
                .contains("now_utc")
        );
        assert_eq!(reason(r#"{"reason": "wants a person"}"#), "wants a person");
        assert_eq!(reason(""), "");
        assert_eq!(reason("not json"), "");
        assert_eq!(
            reason(&format!(r#"{{"reason": "{}"}}"#, "a".repeat(900))).len(),
            500
        );
        assert_eq!(ToolResult::unknown().outcome, "unknown_tool");
    }
}
