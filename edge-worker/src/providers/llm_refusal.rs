//! What an OpenAI-compatible chat endpoint's refusal means, from its status and body, when it
//! is something a retry on the same route can mend:
//!
//! - llama.cpp started without `--jinja` answers 500 `tools param requires --jinja flag`: the
//!   route takes no tools (ask it again without them).
//! - The context is too long: OpenAI's 400 `context_length_exceeded`, llama.cpp's 400
//!   `exceed_context_size_error` ("the request exceeds the available context size"), and the
//!   "maximum context length" wording other OpenAI-compatible servers copy (ask again with
//!   fewer earlier turns).
//!
//! And one a retry with another key cannot mend: OpenAI's 403
//! `unsupported_country_region_territory` refuses the caller's location (a Durable Object lives
//! near its first caller), not the key ([`region_refused`]).

use serde_json::Value;

/// A refusal, as far as what to do next goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmRefusal {
    /// The server cannot take `tools` at all.
    ToolsUnsupported,
    /// The prompt is longer than the model's context.
    ContextOverflow,
    /// The provider refuses the region the request came from (not the key): another route may
    /// answer; the tenant's admin is told by [`REGION_REFUSED_CODE`] in the log.
    RegionRefused,
    /// Anything else: the router decides (fallback, breaker).
    Other,
}

/// The code of the log event and of the route's failure when a provider refuses the region.
pub const REGION_REFUSED_CODE: &str = "provider_region_refused";

/// Whether a refusal is OpenAI's 403 `unsupported_country_region_territory` (in `error.code`,
/// as OpenAI sends it, or `error.type`): the caller's location, not its key, is refused.
pub fn region_refused(status: u16, body: &[u8]) -> bool {
    const CODE: &str = "unsupported_country_region_territory";
    if status != 403 {
        return false;
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    json["error"]["code"] == CODE || json["error"]["type"] == CODE
}

/// Reads a refusal's `status` and (the start of) its `body`.
pub fn classify(status: u16, body: &[u8]) -> LlmRefusal {
    if region_refused(status, body) {
        return LlmRefusal::RegionRefused;
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &json["error"];
    let message = error["message"]
        .as_str()
        .or_else(|| error.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
        .to_ascii_lowercase();
    let code = error["code"].as_str().unwrap_or("");
    let kind = error["type"].as_str().unwrap_or("");
    if message.contains("tools param requires --jinja") {
        return LlmRefusal::ToolsUnsupported;
    }
    let overflow = code == "context_length_exceeded"
        || kind == "exceed_context_size_error"
        || message.contains("exceeds the available context size")
        || message.contains("maximum context length");
    if (400..500).contains(&status) && overflow {
        return LlmRefusal::ContextOverflow;
    }
    LlmRefusal::Other
}

/// Drops the earlier turns of `messages`: keeps a leading system message and everything from
/// the last user message on (this turn's question and its tool steps). `false` if there was
/// nothing to drop.
pub fn drop_earlier_turns(messages: &mut Vec<Value>) -> bool {
    let Some(last_user) = messages.iter().rposition(|m| m["role"] == "user") else {
        return false;
    };
    let keep_from = usize::from(messages.first().is_some_and(|m| m["role"] == "system"));
    if last_user <= keep_from {
        return false;
    }
    messages.drain(keep_from..last_user);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_region_refusal_is_told_apart_from_a_refused_key() {
        let region = r#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}"#;
        assert!(region_refused(403, region.as_bytes()));
        assert_eq!(classify(403, region.as_bytes()), LlmRefusal::RegionRefused);
        let key = r#"{"error":{"code":"invalid_api_key","message":"Incorrect API key provided.","type":"invalid_request_error"}}"#;
        assert!(!region_refused(403, key.as_bytes()));
        assert!(!region_refused(401, region.as_bytes()), "only a 403");
        assert!(
            !region_refused(403, b"forbidden"),
            "an unreadable body is not one"
        );
        assert_eq!(classify(403, key.as_bytes()), LlmRefusal::Other);
    }

    #[test]
    fn refusals_that_a_retry_on_the_same_route_can_mend_are_told_apart() {
        let cases: [(u16, &str, LlmRefusal); 7] = [
            (
                500,
                r#"{"error":{"code":500,"message":"tools param requires --jinja flag","type":"server_error"}}"#,
                LlmRefusal::ToolsUnsupported,
            ),
            (
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
                LlmRefusal::ContextOverflow,
            ),
            (
                400,
                r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}"#,
                LlmRefusal::ContextOverflow,
            ),
            (
                400,
                r#"{"error":"maximum context length exceeded"}"#,
                LlmRefusal::ContextOverflow,
            ),
            (
                500,
                r#"{"error":{"message":"maximum context length","type":"server_error"}}"#,
                LlmRefusal::Other,
            ),
            (
                400,
                r#"{"error":{"message":"Invalid model","type":"invalid_request_error"}}"#,
                LlmRefusal::Other,
            ),
            (503, "upstream unavailable", LlmRefusal::Other),
        ];
        for (status, body, want) in cases {
            assert_eq!(classify(status, body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn earlier_turns_are_dropped_and_the_system_prompt_and_this_turn_kept() {
        let mut m = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "one"}),
            json!({"role": "assistant", "content": "1"}),
            json!({"role": "user", "content": "two"}),
            json!({"role": "assistant", "content": null, "tool_calls": []}),
            json!({"role": "tool", "content": "{}"}),
        ];
        assert!(drop_earlier_turns(&mut m));
        let roles: Vec<&str> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool"]);
        assert_eq!(m[1]["content"], "two");
        assert!(!drop_earlier_turns(&mut m), "nothing more to drop");
    }
}
