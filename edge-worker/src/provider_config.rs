//! Provider settings for a session. Until tenants carry their own configuration (the tenancy
//! work), they come from the Worker's environment: vars for URLs and models, secrets for keys.

use crate::llm_router::Tier;

/// One provider endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEndpoint {
    /// Base URL without a trailing slash, e.g. `https://api.openai.com`.
    pub base_url: String,
    pub model: String,
    /// The API key, if the provider needs one. Never logged, never sent to a client.
    pub api_key: Option<String>,
}

impl ProviderEndpoint {
    /// `{base_url}{path}`, with exactly one slash between.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// Everything a session needs to reach its providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub stt: ProviderEndpoint,
    /// The LLM routes in configured order: the primary, then the fallback if any.
    pub llm: Vec<(ProviderEndpoint, Tier)>,
    /// Rule-based choice of tier per request (`LLM_SMART_ROUTING`, default on).
    pub smart_routing: bool,
    pub tts: ProviderEndpoint,
    pub tts_voice: String,
    pub system_prompt: String,
    /// Token budget of the context sent to the LLM.
    pub context_budget_tokens: usize,
    /// Time allowed to an LLM's first token before the next route is tried, in ms.
    pub first_token_timeout_ms: u32,
}

impl ProviderConfig {
    /// Reads the configuration through `get` (a var or secret by name). Missing values take
    /// OpenAI's defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let endpoint = |prefix: &str, model: &str| ProviderEndpoint {
            base_url: get(&format!("{prefix}_BASE_URL"))
                .unwrap_or_else(|| "https://api.openai.com".into()),
            model: get(&format!("{prefix}_MODEL")).unwrap_or_else(|| model.into()),
            api_key: get(&format!("{prefix}_API_KEY")).filter(|k| !k.is_empty()),
        };
        Self {
            stt: endpoint("STT", "whisper-1"),
            llm: {
                let tier = |name: &str, default: Tier| match get(name).as_deref() {
                    Some("fast") => Tier::Fast,
                    Some("strong") => Tier::Strong,
                    _ => default,
                };
                let mut routes = vec![(endpoint("LLM", "gpt-4o-mini"), tier("LLM_TIER", Tier::Strong))];
                if get("LLM_FALLBACK_BASE_URL").is_some() {
                    routes.push((endpoint("LLM_FALLBACK", "gpt-4o-mini"), tier("LLM_FALLBACK_TIER", Tier::Strong)));
                }
                routes
            },
            smart_routing: get("LLM_SMART_ROUTING").is_none_or(|v| v != "off"),
            tts: endpoint("TTS", "tts-1"),
            tts_voice: get("TTS_VOICE").unwrap_or_else(|| "alloy".into()),
            system_prompt: get("SYSTEM_PROMPT").unwrap_or_else(|| {
                "You are a helpful voice assistant on a website. Answer in one to three short spoken sentences, without lists or formatting.".into()
            }),
                        context_budget_tokens: get("CONTEXT_BUDGET_TOKENS").and_then(|v| v.parse().ok()).unwrap_or(6_000),
            first_token_timeout_ms: get("LLM_FIRST_TOKEN_TIMEOUT_MS").and_then(|v| v.parse().ok()).unwrap_or(2_500),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = ProviderConfig::from_lookup(|k| match k {
            "LLM_BASE_URL" => Some("http://127.0.0.1:8790/".into()),
            "LLM_API_KEY" => Some(String::new()),
            "TTS_API_KEY" => Some("sk-tts".into()),
            _ => None,
        });
        assert_eq!(c.llm.len(), 1, "no fallback configured");
        assert_eq!(
            c.llm[0].0.url("/v1/chat/completions"),
            "http://127.0.0.1:8790/v1/chat/completions"
        );
        assert_eq!(c.llm[0].0.api_key, None, "an empty key is no key");
        assert!(c.smart_routing);
        assert_eq!(c.tts.api_key.as_deref(), Some("sk-tts"));
        assert_eq!(
            c.stt.url("v1/audio/transcriptions"),
            "https://api.openai.com/v1/audio/transcriptions"
        );
        assert_eq!(c.llm[0].0.model, "gpt-4o-mini");
    }

    #[test]
    fn a_fallback_route_and_tiers_come_from_their_own_vars() {
        let c = ProviderConfig::from_lookup(|k| match k {
            "LLM_FALLBACK_BASE_URL" => Some("https://api.x.ai".into()),
            "LLM_FALLBACK_MODEL" => Some("grok-3-mini".into()),
            "LLM_FALLBACK_TIER" => Some("fast".into()),
            "LLM_SMART_ROUTING" => Some("off".into()),
            _ => None,
        });
        assert_eq!(c.llm.len(), 2);
        assert_eq!(
            (c.llm[1].0.model.as_str(), c.llm[1].1),
            ("grok-3-mini", Tier::Fast)
        );
        assert!(!c.smart_routing);
    }
}
