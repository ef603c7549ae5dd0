//! How a tenant's text-to-speech is reached: which provider's API, and the audio asked of it.

use serde::{Deserialize, Serialize};

use crate::tenant::fields::{TenantError, UrlPolicy, bounds, provider_url, text};

/// The text-to-speech APIs the edge speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtsApi {
    /// OpenAI-compatible `POST /v1/audio/speech` (OpenAI, Groq, Kokoro, ...), `Bearer` key.
    #[default]
    Openai,
    /// ElevenLabs `POST /v1/text-to-speech/{voice}/stream?output_format=pcm_RATE`, `xi-api-key`.
    Elevenlabs,
    /// Deepgram Aura `POST /v1/speak?model=..&encoding=linear16&container=none&sample_rate=RATE`,
    /// `Authorization: Token`.
    Deepgram,
    /// Cartesia `POST /tts/bytes`, raw `pcm_s16le`, `X-API-Key` and `Cartesia-Version`.
    Cartesia,
}

/// What an OpenAI-style speech endpoint is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtsFormat {
    /// Raw s16le mono at 24 kHz (OpenAI's `pcm`).
    #[default]
    Pcm,
    /// A WAV stream whose header gives the rate (Groq offers no `pcm`; its WAV is 48 kHz).
    Wav,
}

impl TtsApi {
    /// The sample rates the provider documents for raw 16-bit PCM (`None`: the format says it).
    pub fn sample_rates(self) -> Option<&'static [u32]> {
        match self {
            Self::Openai => None,
            Self::Elevenlabs => Some(&[8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000]),
            Self::Deepgram => Some(&[8_000, 16_000, 24_000, 32_000, 48_000]),
            Self::Cartesia => Some(&[8_000, 16_000, 22_050, 24_000, 44_100, 48_000]),
        }
    }
}

/// One text-to-speech route: its API, address, model and audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtsSettings {
    #[serde(default)]
    pub api: TtsApi,
    pub base_url: String,
    pub model: String,
    /// OpenAI-style only: `pcm` (default) or `wav`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub format: TtsFormat,
    /// ElevenLabs, Deepgram, Cartesia: the rate asked for (default 24 000 Hz).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// This route's voice, when it is not the tenant's `tts_voice` (a fallback on another
    /// provider names its voices differently).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
}

fn is_default(f: &TtsFormat) -> bool {
    *f == TtsFormat::Pcm
}

/// The rate asked of a provider when the settings name none.
pub const DEFAULT_TTS_RATE: u32 = 24_000;

impl TtsSettings {
    /// The rate the route's audio comes at, where the request says it (`None`: a WAV header).
    pub fn source_rate(&self) -> Option<u32> {
        match (self.api, self.format) {
            (TtsApi::Openai, TtsFormat::Pcm) => Some(DEFAULT_TTS_RATE),
            (TtsApi::Openai, TtsFormat::Wav) => None,
            _ => Some(self.sample_rate.unwrap_or(DEFAULT_TTS_RATE)),
        }
    }

    /// Checks the route; `field` is `tts` or `tts_fallback`.
    pub fn validate(&self, field: &'static str, policy: UrlPolicy) -> Result<(), TenantError> {
        let (url, model, voice, rate, format) = match field {
            "tts" => (
                "tts.base_url",
                "tts.model",
                "tts.voice",
                "tts.sample_rate",
                "tts.format",
            ),
            _ => (
                "tts_fallback.base_url",
                "tts_fallback.model",
                "tts_fallback.voice",
                "tts_fallback.sample_rate",
                "tts_fallback.format",
            ),
        };
        provider_url(url, &self.base_url, policy)?;
        text(model, &self.model, bounds::MODEL_MAX)?;
        if let Some(v) = &self.voice {
            text(voice, v, bounds::MODEL_MAX)?;
        }
        match (self.api.sample_rates(), self.sample_rate) {
            (None, Some(_)) => {
                return Err(TenantError::Invalid(
                    rate,
                    "an OpenAI-style route's rate is its format's (pcm: 24000, wav: its header)",
                ));
            }
            (Some(rates), Some(r)) if !rates.contains(&r) => {
                return Err(TenantError::Invalid(
                    rate,
                    "not a rate this provider documents",
                ));
            }
            _ => {}
        }
        if self.api != TtsApi::Openai && self.format != TtsFormat::Pcm {
            return Err(TenantError::Invalid(
                format,
                "only OpenAI-style routes take a format; the others send raw PCM",
            ));
        }
        Ok(())
    }
}
