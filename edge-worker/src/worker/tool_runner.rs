//! Runs one tool call for a voice session: checks the arguments against the tool's schema,
//! calls the tenant's webhook with a signed body, within the tool's timeout, abortable by the
//! user's interruption when the tool allows it. Every failure becomes a result the LLM reads
//! (`{"error": "..."}`), never a failed turn, and never quotes the webhook secret.

use std::time::Duration;

use futures::future::{self, Either};
use serde_json::{Value, json};
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

use crate::providers::tool_calls::ToolCall;
use crate::tenant::tools::{ToolSettings, check_arguments};
use crate::tenant::webhook_signature;
use crate::worker::runtime::now_ms;

/// Largest webhook answer accepted.
const RESULT_MAX_BYTES: usize = 32 * 1024;

/// How a call ended, for the result and the log.
pub(crate) struct ToolOutcome {
    /// The tool message's content for the LLM (JSON text).
    pub content: String,
    /// `ok`, `unknown_tool`, `bad_arguments`, `no_secret`, `timeout`, `cancelled`,
    /// `redirect`, `http_error`, `unreachable`, `bad_answer`.
    pub outcome: &'static str,
}

fn failed(outcome: &'static str, message: &str) -> ToolOutcome {
    ToolOutcome {
        content: json!({ "error": message }).to_string(),
        outcome,
    }
}

/// Runs `call` with the tenant's `tools`. `cancelled` resolves when the user interrupts: a
/// cancellable tool's request is aborted then; another runs on to its answer or its timeout.
pub(crate) async fn run(
    tools: &[ToolSettings],
    secret: Option<&str>,
    call: &ToolCall,
    conversation: &str,
    cancelled: impl std::future::Future<Output = ()>,
) -> ToolOutcome {
    let Some(tool) = tools.iter().find(|t| t.name == call.name) else {
        return failed("unknown_tool", "there is no tool by that name");
    };
    let arguments = match check_arguments(&tool.parameters, &call.arguments) {
        Ok(v) => v,
        Err(e) => return failed("bad_arguments", &e.to_string()),
    };
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return failed("no_secret", "the tool is not available right now");
    };
    let body = json!({
        "tool": tool.name, "call_id": call.id, "conversation": conversation, "arguments": arguments,
    })
    .to_string();
    let signature = webhook_signature::sign(secret.as_bytes(), now_ms() / 1000, body.as_bytes());
    let controller = AbortController::default();
    let signal = controller.signal();
    let send = async {
        let headers = Headers::new();
        headers.set("content-type", "application/json").ok()?;
        headers.set(webhook_signature::HEADER, &signature).ok()?;
        let mut init = RequestInit::new();
        // A redirect is not followed: it would carry the signed call (and its Aura-Signature)
        // to a host nobody validated. The 3xx comes back as the answer and fails the call.
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.clone().into()))
            .with_redirect(RequestRedirect::Manual);
        let req = Request::new_with_init(&tool.webhook_url, &init).ok()?;
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await.ok()?;
        let status = resp.status_code();
        if !(200..300).contains(&status) {
            return Some((status, None));
        }
        let text = resp.text().await.ok();
        Some((status, text))
    };
    let deadline = Delay::from(Duration::from_millis(u64::from(tool.timeout_ms)));
    let cancel_watch = async {
        cancelled.await;
        if !tool.cancellable {
            future::pending::<()>().await;
        }
    };
    let cancel_watch = std::pin::pin!(cancel_watch);
    let stop = std::pin::pin!(future::select(deadline, cancel_watch));
    let send = std::pin::pin!(send);
    match future::select(send, stop).await {
        Either::Left((Some((status, text)), _)) => {
            if is_redirect(status) {
                return failed(
                    "redirect",
                    "the tool answered with a redirect, not followed",
                );
            }
            if !(200..300).contains(&status) {
                return failed("http_error", &format!("the tool answered HTTP {status}"));
            }
            let Some(text) = text.filter(|t| t.len() <= RESULT_MAX_BYTES) else {
                return failed("bad_answer", "the tool's answer is missing or too long");
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => ToolOutcome {
                    content: v.to_string(),
                    outcome: "ok",
                },
                Err(_) => failed("bad_answer", "the tool's answer is not JSON"),
            }
        }
        Either::Left((None, _)) => failed("unreachable", "the tool could not be reached"),
        Either::Right((Either::Left(_), _)) => {
            controller.abort();
            failed("timeout", "the tool did not answer in time")
        }
        Either::Right((Either::Right(_), _)) => {
            controller.abort();
            failed("cancelled", "the user interrupted; the call was stopped")
        }
    }
}

/// Whether a webhook's status is a redirect (301, 302, 303, 307, 308...), which fails the call.
fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}
