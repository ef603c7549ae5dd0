//! The one way the voice session reaches a provider over HTTP: the request is built for each of
//! the endpoint's keys in turn (the current one, then the rotated-out one in its grace period,
//! tried only when the provider refuses a key with 401/403, not when a 403 refuses the
//! caller's region), redirects are not followed (a
//! redirect is an answer like any other non-success status, so a key never travels to a host
//! it was not set for), and an abort signal can end it. wasm32 only.

use worker::{
    AbortSignal, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
};

use crate::providers::config::ProviderEndpoint;
use crate::providers::tts::{KeyHeader, TtsRequest};
use crate::session::turn::refused_key;

/// How the key is presented.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth {
    /// `Authorization: Bearer KEY` (OpenAI-compatible).
    Bearer,
    /// `Authorization: Token KEY` (Deepgram).
    Token,
    /// The key alone in this header (`xi-api-key`, `x-api-key`).
    Named(&'static str),
}

impl From<KeyHeader> for Auth {
    fn from(k: KeyHeader) -> Self {
        match k {
            KeyHeader::Bearer => Self::Bearer,
            KeyHeader::Token => Self::Token,
            KeyHeader::Named(name) => Self::Named(name),
        }
    }
}

/// Why no answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The request could not be built.
    Request,
    /// The provider could not be reached (or the request was aborted).
    Unreachable,
}

/// Sends `method` `url` with `headers` (the authorization is added) and the body `body()`
/// makes, once per key until the provider stops refusing keys.
pub(crate) async fn send(
    endpoint: &ProviderEndpoint,
    auth: Auth,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Fn() -> Option<wasm_bindgen::JsValue>,
    signal: Option<&AbortSignal>,
) -> Result<Response, SendError> {
    let mut keys = endpoint.keys();
    loop {
        let h = Headers::new();
        for (name, value) in headers {
            h.set(name, value).map_err(|_| SendError::Request)?;
        }
        if let Some(key) = keys.next() {
            let (name, value) = match auth {
                Auth::Bearer => ("authorization", format!("Bearer {key}")),
                Auth::Token => ("authorization", format!("Token {key}")),
                Auth::Named(name) => (name, key.to_string()),
            };
            h.set(name, &value).map_err(|_| SendError::Request)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method.clone())
            .with_headers(h)
            .with_redirect(RequestRedirect::Manual)
            .with_body(body());
        let req = Request::new_with_init(url, &init).map_err(|_| SendError::Request)?;
        let sent = match signal {
            Some(s) => Fetch::Request(req).send_with_signal(s).await,
            None => Fetch::Request(req).send().await,
        };
        let mut resp = sent.map_err(|_| SendError::Unreachable)?;
        if !(refused_key(resp.status_code()) && keys.len() > 0) || refuses_region(&mut resp).await {
            return Ok(resp);
        }
    }
}

/// Whether a 403 refuses the caller's region, not its key (read from a copy of the body, so
/// the answer is still whole): another key would be refused the same way.
async fn refuses_region(resp: &mut Response) -> bool {
    if resp.status_code() != 403 {
        return false;
    }
    let Ok(mut copy) = resp.cloned() else {
        return false;
    };
    let body = copy.text().await.unwrap_or_default();
    crate::providers::llm_refusal::region_refused(403, body.as_bytes())
}

/// POSTs JSON to `path` of the endpoint with its key.
pub(crate) async fn post_json(
    endpoint: &ProviderEndpoint,
    path: &str,
    body: &serde_json::Value,
    signal: Option<&AbortSignal>,
) -> Result<Response, SendError> {
    let text = body.to_string();
    send(
        endpoint,
        Auth::Bearer,
        Method::Post,
        &endpoint.url(path),
        &[("content-type", "application/json")],
        || Some(text.as_str().into()),
        signal,
    )
    .await
}

/// Sends a TTS route's request for one chunk.
pub(crate) async fn send_tts(
    endpoint: &ProviderEndpoint,
    request: &TtsRequest,
    signal: Option<&AbortSignal>,
) -> Result<Response, SendError> {
    let text = request.body.to_string();
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    headers.extend(request.headers.iter().map(|(n, v)| (*n, v.as_str())));
    send(
        endpoint,
        request.key.into(),
        Method::Post,
        &endpoint.url(&request.path),
        &headers,
        || Some(text.as_str().into()),
        signal,
    )
    .await
}

/// How long the answer asks to be left alone, in ms (see [`crate::providers::rate_limit`]).
pub(crate) fn retry_after_ms(resp: &Response) -> Option<u64> {
    let headers = resp.headers();
    crate::providers::rate_limit::retry_after_ms(
        |name| headers.get(name).ok().flatten(),
        worker::Date::now().as_millis(),
    )
}
