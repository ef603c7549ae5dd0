//! Small helpers over the Workers runtime shared by the Worker and its Durable Objects.

use serde::Serialize;
use wasm_bindgen::JsCast;
use worker::{Date, Response, Result};

pub(crate) fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// `N` random bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let crypto: web_sys::Crypto =
        js_sys::Reflect::get(&js_sys::global(), &"crypto".into())?.unchecked_into();
    let mut bytes = [0u8; N];
    crypto.get_random_values_with_u8_array(&mut bytes)?;
    Ok(bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON response with a status, never cached.
pub(crate) fn json_response<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    let resp = Response::from_json(body)?.with_status(status);
    resp.headers().set("cache-control", "no-store")?;
    Ok(resp)
}

/// A JSON error body `{"error": message}` with a status.
pub(crate) fn json_error(status: u16, message: &str) -> Result<Response> {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// The response for a typed refusal: its status, `{"error": message, "code": code}`.
pub(crate) fn api_error(e: &crate::tenant::api_error::ApiError) -> Result<Response> {
    json_response(e.status(), &e.body())
}
