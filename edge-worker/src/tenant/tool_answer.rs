//! What a tool's webhook answered, as the result the LLM reads: a JSON answer within the size
//! cap is the result; anything else (a redirect, an error status, a body too long or not
//! JSON) becomes `{"error": "..."}` with an outcome for the log. Decided here, on the host;
//! `worker/tool_runner.rs` only performs the call.

use serde_json::{Value, json};

/// Largest webhook answer accepted, in bytes.
pub const RESULT_MAX_BYTES: usize = 32 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than its cap (reading stopped there).
    TooLarge,
    /// The stream failed.
    Unreadable,
}

/// How a call ended, for the result and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    /// The tool message's content for the LLM (JSON text).
    pub content: String,
    /// `ok`, `unknown_tool`, `bad_arguments`, `no_secret`, `timeout`, `cancelled`,
    /// `redirect`, `http_error`, `unreachable`, `too_large`, `bad_answer`.
    pub outcome: &'static str,
}

/// A failed call: the LLM reads `message` as the tool's error.
pub fn failed(outcome: &'static str, message: &str) -> ToolOutcome {
    ToolOutcome {
        content: json!({ "error": message }).to_string(),
        outcome,
    }
}

/// The result of a webhook that answered `status`, with its body read (only for a 2xx).
pub fn judge(status: u16, body: Option<Result<Vec<u8>, BodyError>>) -> ToolOutcome {
    if (300..400).contains(&status) {
        return failed(
            "redirect",
            "the tool answered with a redirect, not followed",
        );
    }
    if !(200..300).contains(&status) {
        return failed("http_error", &format!("the tool answered HTTP {status}"));
    }
    match body {
        Some(Ok(bytes)) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => ToolOutcome {
                content: v.to_string(),
                outcome: "ok",
            },
            Err(_) => failed("bad_answer", "the tool's answer is not JSON"),
        },
        Some(Err(BodyError::TooLarge)) => failed("too_large", "the tool's answer is too long"),
        Some(Err(BodyError::Unreadable)) | None => {
            failed("bad_answer", "the tool's answer is missing")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_answer_is_the_result_and_anything_else_an_error_the_llm_reads() {
        let ok = judge(200, Some(Ok(br#"{"status": "shipped"}"#.to_vec())));
        assert_eq!(
            (ok.outcome, ok.content.as_str()),
            ("ok", r#"{"status":"shipped"}"#)
        );
        for (status, body, outcome) in [
            (302, None, "redirect"),
            (500, None, "http_error"),
            (200, Some(Err(BodyError::TooLarge)), "too_large"),
            (200, Some(Err(BodyError::Unreadable)), "bad_answer"),
            (200, Some(Ok(b"not json".to_vec())), "bad_answer"),
            (204, None, "bad_answer"),
        ] {
            let o = judge(status, body);
            assert_eq!(o.outcome, outcome, "{status}");
            let v: Value = serde_json::from_str(&o.content).unwrap();
            assert!(v["error"].is_string(), "{}", o.content);
        }
    }
}
