//! Text-to-speech in four providers' wire formats, each with its own key header and error
//! bodies (built from their API references):
//!
//! - OpenAI-style `POST /v1/audio/speech` (`Authorization: Bearer`): `response_format` `pcm`
//!   (24 kHz s16le) or `wav` (a WAV stream, at the behaviour's `sample_rate`, default 24 kHz;
//!   Groq's is 48 kHz); errors `{"error": {"message", "type", "code"}}`.
//! - ElevenLabs `POST /v1/text-to-speech/{voice}/stream?output_format=pcm_RATE` (`xi-api-key`):
//!   raw s16le at RATE; errors `{"detail": {"status", "message"}}`.
//! - Deepgram Aura `POST /v1/speak?model=..&encoding=linear16&sample_rate=RATE&container=..`
//!   (`Authorization: Token`): linear16 in a WAV container unless `container=none`, as its REST
//!   API does; errors `{"err_code", "err_msg", "request_id"}`.
//! - Cartesia `POST /tts/bytes` (`X-API-Key`, and `Cartesia-Version` required):
//!   `output_format` raw `pcm_s16le` at its `sample_rate`; errors
//!   `{"error_code", "title", "message", "request_id"}`.
//!
//! Every answer is recorded as endpoint `speech` with a body summary that names the API, the
//! text (`input`), voice, model and rate, so tests read them alike.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::script::{Behaviour, Endpoint, Fault};
use crate::server::{Piece, stream_response};
use crate::state::{Shared, Tracker, sleep_ms};

/// The text-to-speech APIs emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Openai,
    Elevenlabs,
    Deepgram,
    Cartesia,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Elevenlabs => "elevenlabs",
            Self::Deepgram => "deepgram",
            Self::Cartesia => "cartesia",
        }
    }

    /// The key the request presents in this API's own header (`None`: absent).
    fn key(self, headers: &HeaderMap) -> Option<String> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match self {
            Self::Openai => get("authorization")?
                .strip_prefix("Bearer ")
                .map(str::to_string),
            Self::Deepgram => get("authorization")?
                .strip_prefix("Token ")
                .map(str::to_string),
            Self::Elevenlabs => get("xi-api-key"),
            Self::Cartesia => get("x-api-key"),
        }
    }

    /// This API's error response.
    fn error(self, code: u16, retry_after_s: Option<u64>, message: &str) -> Response {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let kind = match code {
            401 | 403 => "invalid_api_key",
            429 => "rate_limit_exceeded",
            400..=499 => "invalid_request",
            _ => "server_error",
        };
        let body = match self {
            Self::Openai => return crate::state::error_response(code, retry_after_s, message),
            Self::Elevenlabs => json!({"detail": {"status": kind, "message": message}}),
            Self::Deepgram => {
                let code = match code {
                    401 | 403 => "INVALID_AUTH",
                    429 => "TOO_MANY_REQUESTS",
                    400..=499 => "Bad Request",
                    _ => "INTERNAL_SERVER_ERROR",
                };
                json!({"err_code": code, "err_msg": message, "request_id": "emulated-request"})
            }
            Self::Cartesia => {
                json!({"error_code": kind, "title": "Emulated error", "message": message, "request_id": "emulated-request"})
            }
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(s) = retry_after_s {
            resp.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        resp
    }
}

/// What one speech request asks for, in any API.
struct Ask {
    api: Api,
    text: String,
    voice: String,
    model: String,
    /// Raw PCM; else a WAV stream.
    raw: bool,
    /// The rate asked for (`None`: the behaviour's `sample_rate`, default 24 kHz).
    rate: Option<u32>,
}

/// Records the request, checks its key, applies early faults; `Ok` with the behaviour to
/// answer with, or the response already decided.
async fn admit(
    shared: &Shared,
    headers: &HeaderMap,
    ask: &Ask,
    request: Value,
) -> Result<(Tracker, Behaviour), Response> {
    let summary = json!({
        "api": ask.api.name(), "input": ask.text, "voice": ask.voice, "model": ask.model,
        "sample_rate": ask.rate, "raw": ask.raw, "request": request,
    });
    let mut tracker = shared.record(Endpoint::Speech, headers, summary);
    let key = ask.api.key(headers);
    if shared.refuses(key.as_deref()) {
        tracker.complete();
        return Err(ask.api.error(401, None, "Invalid API key."));
    }
    let behaviour = shared.next_behaviour(Endpoint::Speech);
    match behaviour.fault {
        Some(Fault::Status {
            code,
            retry_after_s,
        }) => {
            sleep_ms(behaviour.first_byte_ms).await;
            tracker.complete();
            Err(ask.api.error(code, retry_after_s, "emulated failure"))
        }
        Some(Fault::Hang) => {
            std::future::pending::<()>().await;
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        _ => Ok((tracker, behaviour)),
    }
}

/// Answers `ask` with its audio, streamed in 100 ms blocks.
async fn answer(shared: Shared, headers: HeaderMap, ask: Ask, request: Value) -> Response {
    let (tracker, behaviour) = match admit(&shared, &headers, &ask, request).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let rate = ask
        .rate
        .or(behaviour.sample_rate)
        .unwrap_or(24_000)
        .clamp(8_000, 48_000);
    let spoken = if shared.offline && rate == 24_000 {
        let (text, voice) = (ask.text.clone(), ask.voice.clone());
        tokio::task::spawn_blocking(move || crate::offline::speak(&text, &voice))
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let pcm = spoken.unwrap_or_else(|| synthetic_speech(&ask.text, rate));
    let block = rate as usize / 10 * 2;
    let mut pieces: Vec<Piece> = Vec::new();
    if !ask.raw {
        pieces.push(Piece::Data(Bytes::from(wav_header(rate))));
    }
    pieces.extend(
        pcm.chunks(block)
            .map(|c| Piece::Data(Bytes::copy_from_slice(c))),
    );
    if let Some(Fault::DisconnectAfter { chunks }) = behaviour.fault {
        pieces.truncate(chunks);
        pieces.push(Piece::Cut);
    }
    let content_type = if ask.raw {
        "application/octet-stream"
    } else {
        "audio/wav"
    };
    stream_response(tracker, pieces, behaviour, 1, content_type)
}

fn parse(body: &Bytes) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

fn text_of(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// `POST /v1/audio/speech`.
pub(crate) async fn openai(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(json) = parse(&body) else {
        return Api::Openai.error(400, None, "the body is not JSON");
    };
    let (raw, rate) = match json["response_format"].as_str() {
        Some("pcm") => (true, Some(24_000)),
        Some("wav") => (false, None),
        _ => {
            return Api::Openai.error(
                400,
                None,
                "the emulator produces response_format pcm or wav",
            );
        }
    };
    let ask = Ask {
        api: Api::Openai,
        text: text_of(&json["input"]),
        voice: text_of(&json["voice"]),
        model: text_of(&json["model"]),
        raw,
        rate,
    };
    // The body as before (tests read `body.input`); the summary adds the API.
    answer(shared, headers, ask, json).await
}

/// `POST /v1/text-to-speech/{voice}/stream`.
pub(crate) async fn elevenlabs(
    State(shared): State<Shared>,
    Path(voice): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = Api::Elevenlabs;
    let Some(json) = parse(&body) else {
        return api.error(400, None, "the body is not JSON");
    };
    // ElevenLabs' default is mp3_44100_128; the emulator produces only pcm_RATE.
    let rate = query
        .get("output_format")
        .and_then(|f| f.strip_prefix("pcm_"))
        .and_then(|r| r.parse::<u32>().ok())
        .filter(|r| [8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000].contains(r));
    let Some(rate) = rate else {
        return api.error(
            422,
            None,
            "the emulator produces output_format pcm_8000..pcm_48000",
        );
    };
    let ask = Ask {
        api,
        text: text_of(&json["text"]),
        voice,
        model: text_of(&json["model_id"]),
        raw: true,
        rate: Some(rate),
    };
    answer(shared, headers, ask, json!({"query": query, "body": json})).await
}

/// `POST /v1/speak`.
pub(crate) async fn deepgram(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = Api::Deepgram;
    let Some(json) = parse(&body) else {
        return api.error(400, None, "the body is not JSON");
    };
    if query.get("encoding").map(String::as_str) != Some("linear16") {
        return api.error(400, None, "the emulator produces encoding=linear16 only");
    }
    let rate = query
        .get("sample_rate")
        .map_or(Some(24_000), |r| r.parse::<u32>().ok())
        .filter(|r| [8_000, 16_000, 24_000, 32_000, 48_000].contains(r));
    let Some(rate) = rate else {
        return api.error(
            400,
            None,
            "sample_rate must be 8000, 16000, 24000, 32000 or 48000",
        );
    };
    // Deepgram's REST default for linear16 is a WAV container.
    let container_none = query.get("container").map(String::as_str) == Some("none");
    let ask = Ask {
        api,
        text: text_of(&json["text"]),
        voice: query.get("model").cloned().unwrap_or_default(),
        model: query.get("model").cloned().unwrap_or_default(),
        raw: container_none,
        rate: Some(rate),
    };
    answer(shared, headers, ask, json!({"query": query, "body": json})).await
}

/// `POST /tts/bytes`.
pub(crate) async fn cartesia(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = Api::Cartesia;
    if headers.get("cartesia-version").is_none() {
        return api.error(400, None, "the Cartesia-Version header is required");
    }
    let Some(json) = parse(&body) else {
        return api.error(400, None, "the body is not JSON");
    };
    let format = &json["output_format"];
    let rate = format["sample_rate"]
        .as_u64()
        .map(|r| r as u32)
        .filter(|r| [8_000, 16_000, 22_050, 24_000, 44_100, 48_000].contains(r));
    let raw = format["container"] == "raw" && format["encoding"] == "pcm_s16le";
    let (Some(rate), true) = (rate, raw) else {
        return api.error(
            400,
            None,
            "the emulator produces raw pcm_s16le at a documented rate",
        );
    };
    let ask = Ask {
        api,
        text: text_of(&json["transcript"]),
        voice: text_of(&json["voice"]["id"]),
        model: text_of(&json["model_id"]),
        raw: true,
        rate: Some(rate),
    };
    answer(shared, headers, ask, json).await
}

/// Synthetic voice-like PCM at `rate`: 60 ms per character of text (at least 200 ms).
pub(crate) fn synthetic_speech(text: &str, rate: u32) -> Vec<u8> {
    let samples = (text.chars().count().max(1) as u64 * 60).max(200) * u64::from(rate) / 1000;
    let mut out = Vec::with_capacity(samples as usize * 2);
    for n in 0..samples {
        let t = n as f64 / f64::from(rate);
        let syllables = 0.55 + 0.45 * (std::f64::consts::TAU * 4.0 * t).sin();
        let voice = (1..=5)
            .map(|h| (std::f64::consts::TAU * 140.0 * f64::from(h) * t).sin() / f64::from(h))
            .sum::<f64>();
        let s = (0.25 * syllables * voice * 32_767.0 / 2.3) as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// The header of a streamed mono 16-bit WAV at `rate`: its sizes unknown (0xFFFFFFFF).
fn wav_header(rate: u32) -> Vec<u8> {
    let mut h = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2).to_le_bytes());
    h.extend_from_slice(b"\x02\0\x10\0data\xff\xff\xff\xff");
    h
}
