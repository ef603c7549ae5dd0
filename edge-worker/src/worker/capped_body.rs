//! Reads an HTTP answer's body up to a cap, as it streams: a webhook or a provider that sends
//! more (or never stops) is cut off at the cap, never held whole in memory. wasm32 only.

use futures::StreamExt;
use worker::Response;

use crate::tenant::tool_answer::BodyError;

/// The body of `resp`, if it is at most `max` bytes.
pub(crate) async fn read_capped(resp: &mut Response, max: usize) -> Result<Vec<u8>, BodyError> {
    let mut stream = resp.stream().map_err(|_| BodyError::Unreadable)?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > max {
            // Dropping the stream cancels the rest of the body.
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first `max` bytes of `resp`'s body (the rest is not read).
pub(crate) async fn read_prefix(resp: &mut Response, max: usize) -> Vec<u8> {
    let Ok(mut stream) = resp.stream() else {
        return Vec::new();
    };
    let mut body = Vec::new();
    while body.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(max);
    body
}
