//! The speech providers of the demo tenant from `.dev.vars`: which API each speaks, its rate
//! and format, and fallback STT and TTS routes.
//!
//! `STT_API` (`openai`, `deepgram`), `TTS_API` (`openai`, `elevenlabs`, `deepgram`,
//! `cartesia`), `TTS_FORMAT` (`pcm`, `wav`; OpenAI-style only), `TTS_SAMPLE_RATE`, and
//! `TTS_FALLBACK_API`, `TTS_FALLBACK_BASE_URL`, `TTS_FALLBACK_MODEL`, `TTS_FALLBACK_VOICE`,
//! `TTS_FALLBACK_SAMPLE_RATE` (its key: `TTS_FALLBACK_API_KEY`), and `STT_FALLBACK_API`,
//! `STT_FALLBACK_BASE_URL`, `STT_FALLBACK_MODEL` (its key: `STT_FALLBACK_API_KEY`). A provider's base URL
//! defaults to its own API's when only the API is named.

use serde_json::{Value, json};

/// The base URL of a speech API when `.dev.vars` names none.
pub fn default_base_url(api: &str) -> Option<&'static str> {
    match api {
        "openai" => Some("https://api.openai.com"),
        "elevenlabs" => Some("https://api.elevenlabs.io"),
        "deepgram" => Some("https://api.deepgram.com"),
        "cartesia" => Some("https://api.cartesia.ai"),
        _ => None,
    }
}

/// Applies the speech variables `var` gives to `settings` (from [`crate::settings_for`], its
/// base URLs already chosen).
pub fn apply_speech_vars(settings: &mut Value, var: impl Fn(&str) -> Option<String>) {
    if let Some(api) = var("STT_API") {
        if var("STT_BASE_URL").is_none()
            && let Some(url) = default_base_url(&api)
        {
            settings["stt"]["base_url"] = url.into();
        }
        settings["stt"]["api"] = api.into();
    }
    if let Some(api) = var("TTS_API") {
        if var("TTS_BASE_URL").is_none()
            && let Some(url) = default_base_url(&api)
        {
            settings["tts"]["base_url"] = url.into();
        }
        settings["tts"]["api"] = api.into();
    }
    if let Some(format) = var("TTS_FORMAT") {
        settings["tts"]["format"] = format.into();
    }
    if let Some(rate) = var("TTS_SAMPLE_RATE").and_then(|r| r.parse::<u32>().ok()) {
        settings["tts"]["sample_rate"] = rate.into();
    }
    let api = var("STT_FALLBACK_API");
    let base_url = var("STT_FALLBACK_BASE_URL").or_else(|| {
        api.as_deref()
            .and_then(default_base_url)
            .map(str::to_string)
    });
    if let Some(base_url) = base_url {
        let api = api.unwrap_or_else(|| "openai".into());
        let model = var("STT_FALLBACK_MODEL").unwrap_or_else(|| "whisper-1".into());
        settings["stt_fallback"] = json!({"api": api, "base_url": base_url, "model": model});
    }
    let api = var("TTS_FALLBACK_API");
    let base_url = var("TTS_FALLBACK_BASE_URL").or_else(|| {
        api.as_deref()
            .and_then(default_base_url)
            .map(str::to_string)
    });
    if let Some(base_url) = base_url {
        let api = api.unwrap_or_else(|| "openai".into());
        let model = var("TTS_FALLBACK_MODEL").unwrap_or_else(|| "tts-1".into());
        let mut fallback = json!({"api": api, "base_url": base_url, "model": model});
        if let Some(v) = var("TTS_FALLBACK_VOICE") {
            fallback["voice"] = v.into();
        }
        if let Some(rate) = var("TTS_FALLBACK_SAMPLE_RATE").and_then(|r| r.parse::<u32>().ok()) {
            fallback["sample_rate"] = rate.into();
        }
        settings["tts_fallback"] = fallback;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn a_named_api_brings_its_base_url_unless_one_is_given() {
        let mut s = crate::settings_for("t", &["https://a.example"], "http://127.0.0.1:1", "p");
        apply_speech_vars(
            &mut s,
            vars(&[
                ("TTS_API", "elevenlabs"),
                ("TTS_SAMPLE_RATE", "16000"),
                ("STT_API", "deepgram"),
                ("STT_BASE_URL", "http://127.0.0.1:1"),
                ("TTS_FALLBACK_API", "cartesia"),
                ("TTS_FALLBACK_VOICE", "a0e99841"),
                ("STT_FALLBACK_BASE_URL", "https://api.groq.com/openai"),
                ("STT_FALLBACK_MODEL", "whisper-large-v3-turbo"),
            ]),
        );
        assert_eq!(s["tts"]["api"], "elevenlabs");
        assert_eq!(s["tts"]["base_url"], "https://api.elevenlabs.io");
        assert_eq!(s["tts"]["sample_rate"], 16_000);
        assert_eq!(s["stt"]["api"], "deepgram");
        assert_eq!(
            s["stt"]["base_url"], "http://127.0.0.1:1",
            "its own URL wins"
        );
        assert_eq!(
            s["tts_fallback"],
            json!({"api": "cartesia", "base_url": "https://api.cartesia.ai", "model": "tts-1", "voice": "a0e99841"})
        );
        assert_eq!(
            s["stt_fallback"],
            json!({"api": "openai", "base_url": "https://api.groq.com/openai", "model": "whisper-large-v3-turbo"})
        );
        let mut plain = crate::settings_for("t", &["https://a.example"], "http://127.0.0.1:1", "p");
        apply_speech_vars(&mut plain, vars(&[]));
        assert!(plain.get("tts_fallback").is_none() && plain["tts"].get("api").is_none());
        assert!(plain.get("stt_fallback").is_none());
    }
}
