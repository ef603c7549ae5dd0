//! The HTTP server.

use std::collections::VecDeque;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::record::Recorded;
use crate::script::{Behaviour, Endpoint, Fault, Mode, Script};
use crate::state::{Shared, Tracker, error_response, sleep_ms};

/// The emulator's routes, for embedding; its clock starts now.
pub fn router() -> Router {
    router_from(Instant::now())
}

fn router_from(start: Instant) -> Router {
    router_with(Shared::new(start, false))
}

fn router_with(shared: Shared) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/audio/speech", post(crate::speak::openai))
        .route(
            "/v1/text-to-speech/{voice}/stream",
            post(crate::speak::elevenlabs),
        )
        .route("/v1/speak", post(crate::speak::deepgram))
        .route("/tts/bytes", post(crate::speak::cartesia))
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route("/_emulator/script", post(script))
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/keys", post(keys))
        .route("/v1/listen", get(crate::listen::listen))
        .with_state(shared)
}

async fn script(
    State(shared): State<Shared>,
    axum::Json(script): axum::Json<Script>,
) -> StatusCode {
    apply_script(&shared, script);
    StatusCode::NO_CONTENT
}

fn apply_script(shared: &Shared, script: Script) {
    shared.with(|i| {
        i.queues
            .entry(script.endpoint)
            .or_default()
            .extend(script.queue);
        if let Some(d) = script.default {
            i.defaults.insert(script.endpoint, d);
        }
    });
}

/// `POST /_emulator/keys` with `{"accept": ["sk-..."]}` (or `null` to accept any key).
async fn keys(State(shared): State<Shared>, axum::Json(body): axum::Json<Value>) -> StatusCode {
    let accept = body["accept"].as_array().map(|a| {
        a.iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    });
    shared.with(|i| i.accepted_keys = accept);
    StatusCode::NO_CONTENT
}

async fn requests(State(shared): State<Shared>) -> axum::Json<Vec<Recorded>> {
    axum::Json(shared.with(|i| i.log.clone()))
}

async fn reset(State(shared): State<Shared>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

/// Applies a status or hang fault before any body is sent. `None` means go on.
pub(crate) async fn early_fault(behaviour: &Behaviour, tracker: &mut Tracker) -> Option<Response> {
    match behaviour.fault {
        Some(Fault::Status {
            code,
            retry_after_s,
        }) => {
            sleep_ms(behaviour.first_byte_ms).await;
            tracker.complete();
            let mut resp = error_response(code, retry_after_s, "emulated failure");
            crate::refusals::rate_limit_headers(behaviour.mode, &mut resp);
            Some(resp)
        }
        Some(Fault::Hang) => {
            // Never answers; when the client gives up, the tracker records the abort.
            std::future::pending::<()>().await;
            None
        }
        _ => None,
    }
}

/// The words of a reply as tokens that keep their leading spaces.
fn tokens(reply: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, word) in reply.split(' ').enumerate() {
        out.push(if i == 0 {
            word.to_string()
        } else {
            format!(" {word}")
        });
    }
    out
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

/// One part of a streamed response body.
pub(crate) enum Piece {
    Data(Bytes),
    /// Cut the connection here.
    Cut,
}

impl Piece {
    pub(crate) fn text(s: String) -> Self {
        Self::Data(Bytes::from(s))
    }
}

async fn chat(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let json: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return error_response(400, None, "the body is not JSON"),
    };
    let mut tracker = shared.record(Endpoint::Chat, &headers, json.clone());
    if shared.refuses_key(&headers) {
        tracker.complete();
        return error_response(401, None, "Incorrect API key provided.");
    }
    let behaviour = shared.next_behaviour(Endpoint::Chat);
    if let Some(resp) = early_fault(&behaviour, &mut tracker).await {
        return resp;
    }
    if let Some(resp) = crate::refusals::chat_refusal(behaviour.mode, &json) {
        tracker.complete();
        return resp;
    }
    let model = json["model"]
        .as_str()
        .unwrap_or("emulated-model")
        .to_string();
    let reply = behaviour.reply.clone().unwrap_or_else(|| {
        format!(
            "This reply comes from Aura's provider emulator, not a language model. You said: {}",
            last_user_text(&json)
        )
    });
    let toks = tokens(&reply);
    let completion_tokens = toks.len() as u32;
    let prompt_tokens = body.len() as u32 / 4;

    if json["stream"] != Value::Bool(true) {
        sleep_ms(behaviour.first_byte_ms).await;
        tracker.complete();
        return axum::Json(json!({
            "id": "chatcmpl-emulated", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        }))
        .into_response();
    }

    let mode = behaviour.mode;
    let nulls = mode == Some(Mode::NullFields);
    let chunk = |mut delta: Value, finish: Value| {
        if nulls {
            // Every absent field as `null`, as DeepSeek-R1 on Azure AI and DashScope send.
            for field in [
                "content",
                "tool_calls",
                "function_call",
                "refusal",
                "reasoning_content",
            ] {
                if delta.get(field).is_none() {
                    delta[field] = Value::Null;
                }
            }
            return format!(
                "data: {}\n\n",
                json!({"id": "chatcmpl-emulated", "object": "chat.completion.chunk", "model": model,
                       "system_fingerprint": null, "usage": null,
                       "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            );
        }
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-emulated", "object": "chat.completion.chunk", "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    // DashScope's first chunk has no role.
    let first = if nulls {
        json!({"content": ""})
    } else {
        json!({"role": "assistant", "content": ""})
    };
    let mut pieces: Vec<Piece> = vec![Piece::text(chunk(first, Value::Null))];
    match mode {
        Some(Mode::LlamaCppError) => {
            // llama.cpp's old server: the error in a non-standard field, then [DONE], HTTP 200.
            pieces.push(Piece::text(format!(
                "error: {}\n\n",
                json!({"code": 500, "message": "the request exceeds the available context size, try increasing it", "type": "server_error"})
            )));
            pieces.push(Piece::text("data: [DONE]\n\n".into()));
            return stream_response(tracker, pieces, behaviour, 2, "text/event-stream");
        }
        Some(Mode::GroqToolUseFailed) => {
            pieces.push(Piece::text(format!(
                "event: error\ndata: {}\n\n",
                json!({"error": {"message": "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.",
                                 "type": "invalid_request_error", "code": "tool_use_failed",
                                 "failed_generation": "<function=check_order>{\"order\": 42}</function>"}})
            )));
            return stream_response(tracker, pieces, behaviour, 2, "text/event-stream");
        }
        _ => {}
    }
    const REASONING: [&str; 6] = [
        "The user",
        " asks a",
        " question;",
        " answer it",
        " briefly",
        " and plainly.",
    ];
    let mut reasoning_tokens = 0u32;
    match mode {
        Some(m @ (Mode::ReasoningContent | Mode::XaiReasoning | Mode::Reasoning)) => {
            let field = if m == Mode::Reasoning {
                "reasoning"
            } else {
                "reasoning_content"
            };
            for r in REASONING {
                pieces.push(Piece::text(chunk(json!({ field: r }), Value::Null)));
            }
            reasoning_tokens = REASONING.len() as u32;
        }
        Some(Mode::ThinkTags) => {
            // The tags split across deltas, as a tokenizer may cut them.
            let mut parts = vec!["<th", "ink>"];
            parts.extend(REASONING);
            parts.extend(["</thi", "nk>\n\n"]);
            for p in parts {
                pieces.push(Piece::text(chunk(json!({ "content": p }), Value::Null)));
            }
            reasoning_tokens = REASONING.len() as u32 + 4;
        }
        _ => {}
    }
    match &behaviour.tool_calls {
        Some(calls) => {
            // Ids and names first, then each call's arguments in two pieces, interleaved.
            for (i, call) in calls.iter().enumerate() {
                pieces.push(Piece::text(chunk(
                    json!({"tool_calls": [{"index": i, "id": format!("call_emulated_{i}"), "type": "function", "function": {"name": call.name, "arguments": ""}}]}),
                    Value::Null,
                )));
            }
            for half in 0..2 {
                for (i, call) in calls.iter().enumerate() {
                    let cut = call
                        .arguments
                        .char_indices()
                        .nth(call.arguments.chars().count() / 2)
                        .map_or(call.arguments.len(), |(b, _)| b);
                    let piece = if half == 0 {
                        &call.arguments[..cut]
                    } else {
                        &call.arguments[cut..]
                    };
                    pieces.push(Piece::text(chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                        Value::Null,
                    )));
                }
            }
            pieces.push(Piece::text(chunk(json!({}), json!("tool_calls"))));
        }
        None => {
            pieces.extend(
                toks.iter()
                    .map(|t| Piece::text(chunk(json!({"content": t}), Value::Null))),
            );
            pieces.push(Piece::text(chunk(json!({}), json!("stop"))));
        }
    }
    if json["stream_options"]["include_usage"] == Value::Bool(true) || nulls {
        // OpenAI counts reasoning inside `completion_tokens`; xAI apart, in the total only.
        let completion = if mode == Some(Mode::XaiReasoning) {
            completion_tokens
        } else {
            completion_tokens + reasoning_tokens
        };
        let total = prompt_tokens + completion_tokens + reasoning_tokens;
        let mut usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": total});
        if reasoning_tokens > 0 {
            usage["completion_tokens_details"] = json!({"reasoning_tokens": reasoning_tokens});
        } else if nulls {
            usage["completion_tokens_details"] = Value::Null;
            usage["prompt_tokens_details"] = Value::Null;
        }
        pieces.push(Piece::text(format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-emulated", "object": "chat.completion.chunk", "model": model, "choices": [],
                   "usage": usage})
        )));
    }
    if mode != Some(Mode::NoDone) {
        pieces.push(Piece::text("data: [DONE]\n\n".into()));
    }
    match behaviour.fault {
        Some(Fault::DisconnectAfter { chunks }) => {
            pieces.truncate(chunks + 1);
            pieces.push(Piece::Cut);
        }
        Some(Fault::MalformedAfter { chunks }) => {
            pieces.truncate(chunks + 1);
            pieces.push(Piece::text(
                "data: {\"choices\": [ this is not json\n\n".into(),
            ));
        }
        _ => {}
    }
    // The role chunk and the first token go out together, as OpenAI sends them.
    stream_response(tracker, pieces, behaviour, 2, "text/event-stream")
}

/// Streams pieces with the behaviour's latencies: the first `together` pieces after
/// `first_byte_ms`, each later one `chunk_ms` after the previous.
pub(crate) fn stream_response(
    tracker: Tracker,
    pieces: Vec<Piece>,
    behaviour: Behaviour,
    together: usize,
    content_type: &'static str,
) -> Response {
    let state = (tracker, VecDeque::from(pieces), 0usize, behaviour);
    let stream =
        futures_util::stream::unfold(state, move |(mut tracker, mut pieces, n, b)| async move {
            let piece = pieces.pop_front()?;
            let wait = match n {
                0 => b.first_byte_ms,
                n if n < together => 0,
                _ => b.chunk_ms,
            };
            sleep_ms(wait).await;
            match piece {
                Piece::Data(bytes) => {
                    tracker.sent_chunk();
                    if pieces.is_empty() {
                        tracker.complete();
                    }
                    Some((
                        Ok::<Bytes, std::io::Error>(bytes),
                        (tracker, pieces, n + 1, b),
                    ))
                }
                // An error from the body stream makes hyper cut the connection mid-response.
                Piece::Cut => {
                    tracker.complete();
                    Some((
                        Err(std::io::Error::other("emulated disconnect")),
                        (tracker, pieces, n + 1, b),
                    ))
                }
            }
        });
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn transcriptions(
    State(shared): State<Shared>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let (mut model, mut language, mut prompt, mut file) = (None, None, None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let Ok(data) = field.bytes().await else {
                    return error_response(400, None, "unreadable multipart body");
                };
                match name.as_str() {
                    "model" => model = Some(String::from_utf8_lossy(&data).into_owned()),
                    "language" => language = Some(String::from_utf8_lossy(&data).into_owned()),
                    "prompt" => prompt = Some(String::from_utf8_lossy(&data).into_owned()),
                    "file" => file = Some(data),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return error_response(400, None, "malformed multipart body"),
        }
    }
    let Some(file) = file else {
        return error_response(400, None, "the form has no `file`");
    };
    // A WAV header's rate and data length, when it is one.
    let wav = file.len() >= 44 && &file[..4] == b"RIFF" && &file[8..12] == b"WAVE";
    let rate = if wav {
        u32::from_le_bytes([file[24], file[25], file[26], file[27]])
    } else {
        0
    };
    let duration_ms = if wav && rate > 0 {
        (file.len() as u64 - 44) * 1000 / (2 * u64::from(rate))
    } else {
        0
    };
    let summary = json!({"model": model, "language": language, "prompt": prompt, "file_bytes": file.len(), "wav": wav, "sample_rate": rate, "duration_ms": duration_ms});
    let mut tracker = shared.record(Endpoint::Transcriptions, &headers, summary);
    if shared.refuses_key(&headers) {
        tracker.complete();
        return error_response(401, None, "Incorrect API key provided.");
    }
    let behaviour = shared.next_behaviour(Endpoint::Transcriptions);
    if let Some(resp) = early_fault(&behaviour, &mut tracker).await {
        return resp;
    }
    if !wav {
        tracker.complete();
        return error_response(400, None, "the file is not a WAV file");
    }
    sleep_ms(behaviour.first_byte_ms).await;
    let heard = match (&behaviour.reply, shared.offline) {
        (None, true) => {
            let wav = file.to_vec();
            tokio::task::spawn_blocking(move || crate::offline::transcribe(&wav))
                .await
                .ok()
                .flatten()
        }
        _ => None,
    };
    tracker.complete();
    // What Whisper writes for audio with no speech in it.
    let invented = (behaviour.mode == Some(Mode::WhisperHallucination))
        .then(|| " Thank you for watching!".to_string());
    let text = invented.or(behaviour.reply).or(heard).unwrap_or_else(|| {
        format!(
            "(emulated transcript of {:.1} seconds of audio)",
            duration_ms as f64 / 1000.0
        )
    });
    axum::Json(json!({"text": text})).into_response()
}

/// A running emulator on its own thread and runtime; stops when dropped.
pub struct Emulator {
    pub port: u16,
    shared: Shared,
    /// The instant its clock (`*_ms`, `*_us` in the request log) counts from.
    pub started_at: std::time::Instant,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Emulator {
    /// Starts on 127.0.0.1:`port` (0 picks a free port) and returns once it accepts connections.
    pub fn start(port: u16) -> std::io::Result<Self> {
        Self::start_with(port, false)
    }

    /// [`Self::start`], with unscripted speech requests answered by espeak-ng and pocketsphinx
    /// when `offline_engines` (and they are installed; otherwise synthetic audio and
    /// placeholder transcripts, as without).
    pub fn start_with(port: u16, offline_engines: bool) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let started_at = Instant::now();
        let shared = Shared::new(started_at, offline_engines && crate::offline::available());
        let served = shared.clone();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, router_with(served))
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Ok(Self {
            port,
            shared,
            started_at,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Whether unscripted speech requests use espeak-ng and pocketsphinx.
    pub fn offline_engines(&self) -> bool {
        self.shared.offline
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Queues behaviours, as `POST /_emulator/script` does.
    pub fn script(&self, script: Script) {
        apply_script(&self.shared, script);
    }

    /// Accepts only these API keys from now on (`None`: any), as `POST /_emulator/keys` does.
    pub fn accept_keys(&self, keys: Option<Vec<String>>) {
        self.shared.with(|i| i.accepted_keys = keys);
    }

    /// What was received so far, as `GET /_emulator/requests` returns it.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.with(|i| i.log.clone())
    }

    /// The requests to one endpoint, as JSON (convenient for assertions).
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<serde_json::Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.endpoint == endpoint)
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Streams still open (a hang) would keep a graceful shutdown waiting; do not join.
        drop(self.thread.take());
    }
}
