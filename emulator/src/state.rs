//! What the emulator's handlers share: the scripted behaviours, the log of exchanges and its
//! trackers, the clock, and OpenAI-style error responses.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::record::Recorded;
use crate::script::{Behaviour, Endpoint};

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) queues: HashMap<Endpoint, VecDeque<Behaviour>>,
    pub(crate) defaults: HashMap<Endpoint, Behaviour>,
    pub(crate) log: Vec<Recorded>,
    /// If set, only these API keys are accepted (`Authorization: Bearer KEY`); others get 401.
    pub(crate) accepted_keys: Option<Vec<String>>,
}

#[derive(Clone)]
pub(crate) struct Shared {
    inner: Arc<Mutex<Inner>>,
    start: Instant,
    /// Unscripted speech requests use espeak-ng and pocketsphinx (see [`crate::offline`]).
    pub(crate) offline: bool,
}

impl Shared {
    /// A fresh emulator state whose clock starts at `start`.
    pub(crate) fn new(start: Instant, offline: bool) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            start,
            offline,
        }
    }

    /// Forgets every script, log entry and accepted key.
    pub(crate) fn reset(&self) {
        self.with(|i| *i = Inner::default());
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A poisoned lock only means a handler panicked mid-update; the data is still usable.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub(crate) fn next_behaviour(&self, endpoint: Endpoint) -> Behaviour {
        self.with(|i| {
            i.queues
                .get_mut(&endpoint)
                .and_then(VecDeque::pop_front)
                .or_else(|| i.defaults.get(&endpoint).cloned())
                .unwrap_or_default()
        })
    }

    /// Whether the request's key is outside the accepted set (when one is set).
    pub(crate) fn refuses_key(&self, headers: &HeaderMap) -> bool {
        // OpenAI-style `Bearer KEY`, Deepgram-style `Token KEY`.
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("Token "))
            })
            .unwrap_or("")
            .to_string();
        self.with(|i| {
            i.accepted_keys
                .as_ref()
                .is_some_and(|keys| !keys.contains(&given))
        })
    }

    /// Whether `key` (as the API's own header gave it) is outside the accepted set.
    pub(crate) fn refuses(&self, key: Option<&str>) -> bool {
        self.with(|i| {
            i.accepted_keys
                .as_ref()
                .is_some_and(|keys| !key.is_some_and(|k| keys.iter().any(|a| a == k)))
        })
    }

    pub(crate) fn record(&self, endpoint: Endpoint, headers: &HeaderMap, body: Value) -> Tracker {
        let received_ms = self.now_ms();
        // `Authorization`, or the key header of an API that has its own.
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().ok().map(str::to_string))
            .or_else(|| {
                ["xi-api-key", "x-api-key"].into_iter().find_map(|name| {
                    let v = headers.get(name)?.to_str().ok()?;
                    Some(Some(format!("{name}: {v}")))
                })
            })
            .flatten();
        let id = self.with(|i| {
            let id = i.log.len() as u64;
            i.log.push(Recorded {
                id,
                endpoint,
                authorization,
                body,
                received_ms,
                first_byte_ms: None,
                first_byte_us: None,
                completed_ms: None,
                closed_early_ms: None,
                chunks_sent: 0,
            });
            id
        });
        Tracker {
            shared: self.clone(),
            id,
            done: false,
        }
    }
}

/// Tracks one exchange; if dropped before `complete`, the client went away early.
pub(crate) struct Tracker {
    shared: Shared,
    id: u64,
    done: bool,
}

impl Tracker {
    /// Replaces the recorded body summary (for exchanges whose content arrives over time).
    pub(crate) fn set_body(&self, body: Value) {
        self.shared.with(|i| i.log[self.id as usize].body = body);
    }

    pub(crate) fn sent_chunk(&self) {
        let now = self.shared.now_ms();
        let now_us = self.shared.now_us();
        self.shared.with(|i| {
            let r = &mut i.log[self.id as usize];
            r.first_byte_ms.get_or_insert(now);
            r.first_byte_us.get_or_insert(now_us);
            r.chunks_sent += 1;
        });
    }

    pub(crate) fn complete(&mut self) {
        self.done = true;
        let now = self.shared.now_ms();
        self.shared.with(|i| {
            let r = &mut i.log[self.id as usize];
            r.first_byte_ms.get_or_insert(now);
            r.completed_ms = Some(now);
        });
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if !self.done {
            let now = self.shared.now_ms();
            self.shared
                .with(|i| i.log[self.id as usize].closed_early_ms = Some(now));
        }
    }
}

pub(crate) fn sleep_ms(ms: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(ms))
}

/// An OpenAI-style error response.
pub(crate) fn error_response(code: u16, retry_after_s: Option<u64>, message: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = match code {
        429 => "rate_limit_exceeded",
        401 | 403 => "invalid_api_key",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    let body = json!({"error": {"message": message, "type": kind, "code": code}});
    let mut resp = (status, axum::Json(body)).into_response();
    if let Some(s) = retry_after_s {
        resp.headers_mut().insert(header::RETRY_AFTER, s.into());
    }
    resp
}
