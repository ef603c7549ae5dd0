//! Provider settings for one turn: the tenant's settings with its provider keys opened. Built
//! in memory for the outgoing requests and dropped with the turn; never stored, logged or sent
//! to a client.

use crate::providers::reasoning::ReasoningEffort;
use crate::providers::router::Tier;
use crate::session::end_of_turn::Eagerness;
use crate::tenant::settings::{SttApi, TenantSettings, TtsSettings};

/// One provider endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderEndpoint {
    /// Base URL without a trailing slash, e.g. `https://api.openai.com`.
    pub base_url: String,
    pub model: String,
    /// The API key, if the provider needs one. Never logged, never sent to a client.
    pub api_key: Option<String>,
    /// The key it replaced, during the rotation's grace period: tried only when the provider
    /// refuses `api_key` (401/403).
    pub fallback_key: Option<String>,
}

impl ProviderEndpoint {
    /// The keys to try in order: the current one, then the rotated-out one in its grace period.
    pub fn keys(&self) -> std::vec::IntoIter<&str> {
        let keys: Vec<&str> = self
            .api_key
            .iter()
            .chain(self.fallback_key.iter())
            .map(String::as_str)
            .collect();
        keys.into_iter()
    }

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
/// One LLM route as a turn uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmRouteConfig {
    pub endpoint: ProviderEndpoint,
    pub tier: Tier,
    /// Sent as `reasoning_effort` when set.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The model's context window, when the tenant gave one: what is sent to this route is cut
    /// to fit it ([`crate::providers::context_window`]).
    pub context_tokens: Option<u32>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub stt: ProviderEndpoint,
    /// Which STT API `stt` speaks.
    pub stt_api: SttApi,
    /// The second STT route and its API, if any ([`crate::providers::stt_fallback`]).
    pub stt_fallback: Option<(ProviderEndpoint, SttApi)>,
    /// The tenant's `prompt` of `stt` and of `stt_fallback` (see [`crate::providers::whisper::prompt`]).
    pub stt_prompt: Option<String>,
    pub stt_fallback_prompt: Option<String>,
    /// The LLM routes in configured order: the primary, then the fallbacks.
    pub llm: Vec<LlmRouteConfig>,
    /// Rule-based choice of tier per request (`LLM_SMART_ROUTING`, default on).
    pub smart_routing: bool,
    /// The TTS routes: the primary, then the fallback if any, each with its API and audio.
    pub tts: Vec<(ProviderEndpoint, TtsSettings)>,
    pub tts_voice: String,
    pub system_prompt: String,
    /// Token budget of the context sent to the LLM.
    pub context_budget_tokens: usize,
    /// Time allowed to an LLM's first token before the next route is tried, in ms.
    pub first_token_timeout_ms: u32,
    /// How soon a turn ends after the user stops speaking ([`crate::session::end_of_turn`]).
    pub turn_eagerness: Eagerness,
    /// The tenant's tools, and the secret that signs their webhook calls.
    pub tools: Vec<crate::tenant::tools::ToolSettings>,
    pub webhook_secret: Option<String>,
    /// Built-in tools enabled, and the time zone for `current_time`.
    pub builtin_tools: Vec<String>,
    pub time_zone: String,
    /// The grant's hold on the day's quotas, released by the turn's last usage report.
    pub reservation: Option<String>,
}

impl ProviderConfig {
    /// The configuration of a turn: `settings`, with `keys(slot)` giving the opened keys of a
    /// slot (`stt`, `tts`, `llm0`, ...) in the order to try them.
    pub fn from_tenant(
        settings: &TenantSettings,
        mut keys: impl FnMut(&str) -> Vec<String>,
    ) -> Self {
        let mut endpoint = |base_url: &str, model: &str, slot: &str| {
            let mut k = keys(slot).into_iter();
            ProviderEndpoint {
                base_url: base_url.to_string(),
                model: model.to_string(),
                api_key: k.next(),
                fallback_key: k.next(),
            }
        };
        let stt = endpoint(&settings.stt.base_url, &settings.stt.model, "stt");
        let stt_fallback = settings
            .stt_fallback
            .as_ref()
            .map(|f| (endpoint(&f.base_url, &f.model, "stt1"), f.api));
        let tts = std::iter::once(&settings.tts)
            .chain(settings.tts_fallback.as_ref())
            .zip(["tts", "tts1"])
            .map(|(t, slot)| (endpoint(&t.base_url, &t.model, slot), t.clone()))
            .collect();
        let llm = settings
            .llm
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let e = endpoint(&r.base_url, &r.model, &format!("llm{i}"));
                LlmRouteConfig {
                    endpoint: e,
                    tier: r.tier,
                    reasoning_effort: r.reasoning_effort,
                    context_tokens: r.context_tokens,
                }
            })
            .collect();
        Self {
            stt,
            stt_api: settings.stt.api,
            stt_fallback,
            stt_prompt: settings.stt.prompt.clone(),
            stt_fallback_prompt: settings
                .stt_fallback
                .as_ref()
                .and_then(|f| f.prompt.clone()),
            llm,
            smart_routing: settings.smart_routing,
            tts,
            tts_voice: settings.tts_voice.clone(),
            system_prompt: settings.system_prompt.clone(),
            context_budget_tokens: settings.context_budget_tokens as usize,
            first_token_timeout_ms: settings.first_token_timeout_ms,
            turn_eagerness: settings.turn_eagerness,
            tools: settings.tools.clone(),
            builtin_tools: settings.builtin_tools.clone(),
            time_zone: settings.time_zone.clone(),
            reservation: None,
            webhook_secret: keys("webhook").into_iter().next(),
        }
    }
}

impl ProviderConfig {
    /// This configuration with the second STT route in place of the first (and none after
    /// it), if there is one: what an utterance uses once its first route failed.
    pub fn with_stt_fallback(&self) -> Option<Self> {
        let (stt, api) = self.stt_fallback.clone()?;
        Some(Self {
            stt,
            stt_api: api,
            stt_fallback: None,
            stt_prompt: self.stt_fallback_prompt.clone(),
            stt_fallback_prompt: None,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::settings::LlmRouteSettings;
    use crate::tenant::settings::tests::sample;

    #[test]
    fn a_tenant_becomes_a_turn_configuration_with_its_keys() {
        let mut s = sample();
        s.llm[0].base_url = "http://127.0.0.1:8790/".into();
        s.llm.push(LlmRouteSettings {
            base_url: "https://api.x.ai".into(),
            model: "grok-3-mini".into(),
            tier: Tier::Fast,
            reasoning_effort: Some(crate::providers::reasoning::ReasoningEffort::Low),
            context_tokens: Some(8_192),
        });
        s.smart_routing = false;
        s.turn_eagerness = Eagerness::High;
        let c = ProviderConfig::from_tenant(&s, |slot| match slot {
            "llm0" => vec!["sk-new".into(), "sk-old".into()],
            "tts" => vec!["sk-tts".into()],
            _ => vec![],
        });
        assert_eq!(
            c.llm[0].endpoint.url("/v1/chat/completions"),
            "http://127.0.0.1:8790/v1/chat/completions"
        );
        assert_eq!(c.llm[0].endpoint.api_key.as_deref(), Some("sk-new"));
        assert_eq!(c.llm[0].endpoint.fallback_key.as_deref(), Some("sk-old"));
        assert_eq!(
            (c.llm[1].endpoint.model.as_str(), c.llm[1].tier),
            ("grok-3-mini", Tier::Fast)
        );
        assert_eq!(c.llm[1].endpoint.api_key, None, "no key set: none sent");
        assert_eq!(
            (c.llm[0].reasoning_effort, c.llm[1].reasoning_effort),
            (None, Some(ReasoningEffort::Low))
        );
        assert_eq!(
            (c.llm[0].context_tokens, c.llm[1].context_tokens),
            (None, Some(8_192))
        );
        assert_eq!(c.tts.len(), 1, "no fallback TTS route");
        assert_eq!(c.tts[0].0.api_key.as_deref(), Some("sk-tts"));
        assert_eq!(c.tts[0].0.fallback_key, None);
        assert_eq!(
            c.stt.url("v1/audio/transcriptions"),
            "https://api.openai.com/v1/audio/transcriptions"
        );
        assert!(!c.smart_routing);
        assert_eq!(c.turn_eagerness, Eagerness::High);
        assert_eq!(c.system_prompt, s.system_prompt);
        assert!(c.with_stt_fallback().is_none(), "no second STT route");
    }

    #[test]
    fn the_second_stt_route_takes_the_firsts_place_with_its_own_key() {
        let mut s = sample();
        s.stt.api = SttApi::Deepgram;
        s.stt_fallback = Some(crate::tenant::settings::SttSettings {
            api: SttApi::Openai,
            base_url: "https://api.groq.com/openai".into(),
            model: "whisper-large-v3-turbo".into(),
            prompt: Some("Mill Lane Bakery".into()),
        });
        let c = ProviderConfig::from_tenant(&s, |slot| vec![format!("sk-{slot}")]);
        assert_eq!(c.stt_api, SttApi::Deepgram);
        assert_eq!(c.stt.api_key.as_deref(), Some("sk-stt"));
        let next = c.with_stt_fallback().unwrap();
        assert_eq!(next.stt_api, SttApi::Openai);
        assert_eq!(next.stt.api_key.as_deref(), Some("sk-stt1"));
        assert_eq!(
            next.stt.url("v1/audio/transcriptions"),
            "https://api.groq.com/openai/v1/audio/transcriptions"
        );
        assert!(
            next.with_stt_fallback().is_none(),
            "one fallback, not a loop"
        );
        assert_eq!(next.llm, c.llm);
    }
}
