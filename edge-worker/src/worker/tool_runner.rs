//! Runs one tool call for a voice session: checks the arguments against the tool's schema,
//! calls the tenant's webhook with a signed body, within the tool's timeout, abortable by the
//! user's interruption when the tool allows it. Every failure becomes a result the LLM reads
//! (`{"error": "..."}`), never a failed turn, and never quotes the webhook secret.

use std::time::Duration;

use futures::future::{self, Either};
use serde_json::json;
use worker::{
    AbortController, AbortSignal, Delay, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect,
};

use crate::providers::tool_calls::ToolCall;
use crate::tenant::tool_answer::{BodyError, RESULT_MAX_BYTES, ToolOutcome, failed, judge};
use crate::tenant::tools::{ToolSettings, check_arguments};
use crate::tenant::webhook_signature;
use crate::worker::capped_body::read_capped;
use crate::worker::runtime::now_ms;

/// A webhook's status and, for a 2xx, its body read up to [`RESULT_MAX_BYTES`].
type Answer = (u16, Option<Result<Vec<u8>, BodyError>>);

/// POSTs the signed call to the tool's webhook; `None` if it could not be reached.
async fn post_call(url: &str, body: &str, signature: &str, signal: &AbortSignal) -> Option<Answer> {
    let headers = Headers::new();
    headers.set("content-type", "application/json").ok()?;
    headers.set(webhook_signature::HEADER, signature).ok()?;
    let mut init = RequestInit::new();
    // A redirect is not followed: it would carry the signed call (and its Aura-Signature)
    // to a host nobody validated. The 3xx comes back as the answer and fails the call.
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()))
        .with_redirect(RequestRedirect::Manual);
    let req = Request::new_with_init(url, &init).ok()?;
    let mut resp = Fetch::Request(req).send_with_signal(signal).await.ok()?;
    let status = resp.status_code();
    if !(200..300).contains(&status) {
        return Some((status, None));
    }
    // Streamed up to the cap: a webhook that sends more (or never stops) is cut off there.
    Some((status, Some(read_capped(&mut resp, RESULT_MAX_BYTES).await)))
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
    let send = std::pin::pin!(post_call(&tool.webhook_url, &body, &signature, &signal));
    let deadline = Delay::from(Duration::from_millis(u64::from(tool.timeout_ms)));
    let cancel_watch = async {
        cancelled.await;
        if !tool.cancellable {
            future::pending::<()>().await;
        }
    };
    let cancel_watch = std::pin::pin!(cancel_watch);
    let stop = std::pin::pin!(future::select(deadline, cancel_watch));
    match future::select(send, stop).await {
        Either::Left((Some((status, body)), _)) => judge(status, body),
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
