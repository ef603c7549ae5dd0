//! Refusals real chat servers send that a plain OpenAI stream never has: the ones a retry on
//! the same route can mend (llama.cpp without `--jinja`, a context too long), and 429s whose
//! wait is said only in `retry-after-ms`, an HTTP-date `retry-after` or the
//! `x-ratelimit-reset-*` headers, and OpenAI's 403 refusing the caller's region. Bodies as the servers document them.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::script::Mode;

/// The refusal a chat request gets in `mode`, if its shape calls for one.
pub(crate) fn chat_refusal(mode: Option<Mode>, request: &Value) -> Option<Response> {
    let history = request["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["role"] == "assistant"));
    let (status, body) = match mode? {
        // llama.cpp's server started without `--jinja`, asked with tools.
        Mode::LlamaCppNoJinja if request.get("tools").is_some() => (
            500,
            json!({"error": {"code": 500, "message": "tools param requires --jinja flag", "type": "server_error"}}),
        ),
        // llama.cpp's context (`n_ctx`) is smaller than a request with earlier turns.
        Mode::LlamaCppContextOverflow if history => (
            400,
            json!({"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 5_000, "n_ctx": 4_096}}),
        ),
        // OpenAI's answer to the same.
        Mode::ContextLengthExceeded if history => (
            400,
            json!({"error": {"message": "This model's maximum context length is 4096 tokens. However, your messages resulted in 5000 tokens. Please reduce the length of the messages.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
        ),
        // OpenAI refusing the caller's country, region or territory (not its key).
        Mode::UnsupportedRegion => (
            403,
            json!({"error": {"code": "unsupported_country_region_territory", "message": "Country, region, or territory not supported", "param": null, "type": "request_forbidden"}}),
        ),
        _ => return None,
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Some((status, axum::Json(body)).into_response())
}

/// Adds the wait headers of a rate-limit `mode` to a refusal (in place of `retry-after`).
pub(crate) fn rate_limit_headers(mode: Option<Mode>, resp: &mut Response) {
    let headers: &[(&str, String)] = match mode {
        Some(Mode::RetryAfterMs) => &[("retry-after-ms", "45000".into())],
        Some(Mode::RetryAfterDate) => &[("retry-after", in_two_minutes())],
        Some(Mode::RateLimitReset) => &[
            ("x-ratelimit-reset-requests", "2m0s".into()),
            ("x-ratelimit-reset-tokens", "150ms".into()),
            ("x-ratelimit-remaining-requests", "0".into()),
        ],
        _ => return,
    };
    resp.headers_mut().remove(axum::http::header::RETRY_AFTER);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
}

fn in_two_minutes() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(120))
}
