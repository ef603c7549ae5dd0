//! Text-to-speech providers: the request each API takes for one chunk of text (path and
//! query, headers, body, where the key goes), the code in their refusals, and their audio
//! ([`audio`]: raw PCM or a WAV stream, brought to a rate the client plays).

pub mod audio;

use serde_json::{Value, json};

use crate::tenant::settings::{DEFAULT_TTS_RATE, TtsApi, TtsFormat, TtsSettings};

/// Where a provider wants its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeader {
    /// `Authorization: Bearer KEY` (OpenAI-compatible).
    Bearer,
    /// `Authorization: Token KEY` (Deepgram).
    Token,
    /// The key alone in this header: `xi-api-key` (ElevenLabs), `x-api-key` (Cartesia).
    Named(&'static str),
}

/// The `Cartesia-Version` sent: the first that answers errors as JSON objects.
pub const CARTESIA_VERSION: &str = "2026-03-01";

/// One TTS route as a turn sees it (no key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtsRoute {
    pub api: TtsApi,
    pub format: TtsFormat,
    pub model: String,
    pub voice: String,
    /// The rate the audio comes at (`None`: its WAV header says).
    pub source_rate: Option<u32>,
}

/// The request for one chunk of text.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsRequest {
    /// Path and query after the base URL.
    pub path: String,
    pub key: KeyHeader,
    /// Headers besides the key and `content-type: application/json`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl TtsRoute {
    /// The route of `settings`, speaking with `voice` unless the route names its own.
    pub fn from_settings(settings: &TtsSettings, voice: &str) -> Self {
        Self {
            api: settings.api,
            format: settings.format,
            model: settings.model.clone(),
            voice: settings.voice.clone().unwrap_or_else(|| voice.to_string()),
            source_rate: settings.source_rate(),
        }
    }

    /// The request that speaks `text` (already made speakable).
    pub fn request(&self, text: &str) -> TtsRequest {
        let rate = self.source_rate.unwrap_or(DEFAULT_TTS_RATE);
        match self.api {
            TtsApi::Openai => {
                let format = match self.format {
                    TtsFormat::Pcm => "pcm",
                    TtsFormat::Wav => "wav",
                };
                TtsRequest {
                    path: "v1/audio/speech".into(),
                    key: KeyHeader::Bearer,
                    headers: Vec::new(),
                    body: json!({"model": self.model, "voice": self.voice, "input": text, "response_format": format}),
                }
            }
            TtsApi::Elevenlabs => TtsRequest {
                path: format!(
                    "v1/text-to-speech/{}/stream?output_format=pcm_{rate}",
                    encoded(&self.voice)
                ),
                key: KeyHeader::Named("xi-api-key"),
                headers: Vec::new(),
                body: json!({"text": text, "model_id": self.model}),
            },
            // Aura's voice is its model (`aura-2-thalia-en`); `container=none` drops the WAV
            // header its REST API adds to linear16 by default.
            TtsApi::Deepgram => TtsRequest {
                path: format!(
                    "v1/speak?model={}&encoding=linear16&container=none&sample_rate={rate}",
                    encoded(&self.model)
                ),
                key: KeyHeader::Token,
                headers: Vec::new(),
                body: json!({"text": text}),
            },
            TtsApi::Cartesia => TtsRequest {
                path: "tts/bytes".into(),
                key: KeyHeader::Named("x-api-key"),
                headers: vec![("cartesia-version", CARTESIA_VERSION.to_string())],
                body: json!({
                    "model_id": self.model,
                    "transcript": text,
                    "voice": {"mode": "id", "id": self.voice},
                    "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": rate},
                }),
            },
        }
    }
}

fn encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The machine-readable code in a provider's refusal, if it gave one: OpenAI's `error.code`
/// (or `error.type`), ElevenLabs' `detail.status` (or a validation error's `detail[0].type`),
/// Deepgram's `err_code` (or `category`), Cartesia's `error_code`. Only `[A-Za-z0-9_.-]`, at
/// most 48 characters: it goes to logs and error messages, which must never echo a message.
pub fn refusal_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let candidates = [
        &v["error"]["code"],
        &v["error"]["type"],
        &v["detail"]["status"],
        &v["detail"][0]["type"],
        &v["err_code"],
        &v["category"],
        &v["error_code"],
    ];
    candidates
        .into_iter()
        .filter_map(Value::as_str)
        .find(|c| {
            !c.is_empty()
                && c.len() <= 48
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests;
