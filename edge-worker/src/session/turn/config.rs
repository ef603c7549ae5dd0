//! What a turn needs of the tenant's settings, without any key, and the bodies of the requests
//! it makes (OpenAI-style chat completions; speech in each TTS API's own shape).

use serde_json::{Value, json};

use crate::providers::config::ProviderConfig;
use crate::providers::context_window;
use crate::providers::router::{Route, RouterConfig};
use crate::providers::tts::{TtsRequest, TtsRoute};

/// The reply audio rate `session.ready` names: OpenAI-style `pcm`'s 24 kHz, the default of
/// every route. Each frame carries its own rate (one per reply), which the client follows.
pub const TTS_RATE: u32 = 24_000;
/// LLM steps with tool calls in one turn, at most; the step after them offers no tools, so
/// the model must answer in words.
pub const TOOL_STEPS_MAX: usize = 4;
/// A webhook slower than this gets a short spoken filler (once per turn).
pub const FILLER_AFTER_MS: u64 = 800;
pub const FILLER: &str = "One moment, let me check.";

/// A turn's view of the tenant's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnConfig {
    /// The LLM routes of this turn, in configured order; plans index this list.
    pub routes: Vec<Route>,
    pub router: RouterConfig,
    /// Tool definitions offered to the model: the tenant's tools, then the enabled built-ins.
    pub offered_tools: Vec<Value>,
    /// Enabled built-in tools.
    pub builtins: Vec<String>,
    /// The TTS routes, in order: the primary, then the fallback.
    pub tts: Vec<TtsRoute>,
}

impl TurnConfig {
    pub fn from_providers(c: &ProviderConfig) -> Self {
        let routes = c
            .llm
            .iter()
            .enumerate()
            .map(|(i, r)| Route {
                name: format!("llm{i}"),
                provider: super::host_of(&r.endpoint.base_url),
                model: r.endpoint.model.clone(),
                tier: r.tier,
                reasoning_effort: r.reasoning_effort,
                context_tokens: r.context_tokens,
            })
            .collect();
        let offered_tools = c
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .chain(c.builtin_tools.iter().filter_map(|n| crate::tenant::tools::builtin_definition(n)))
            .collect();
        Self {
            routes,
            router: RouterConfig {
                smart: c.smart_routing,
                first_token_timeout_ms: c.first_token_timeout_ms,
                ..RouterConfig::default()
            },
            offered_tools,
            builtins: c.builtin_tools.clone(),
            tts: c
                .tts
                .iter()
                .map(|(_, t)| TtsRoute::from_settings(t, &c.tts_voice))
                .collect(),
        }
    }

    /// Whether the model may call a tool this turn: the tenant has tools or built-ins.
    pub fn tools_available(&self) -> bool {
        !self.offered_tools.is_empty()
    }

    /// The streamed chat request of one step.
    pub fn chat_body(&self, route: usize, messages: &[Value], offer_tools: bool) -> Value {
        let model = self.routes.get(route).map_or("", |r| r.model.as_str());
        let limit = self.routes.get(route).and_then(|r| r.context_tokens);
        let messages = context_window::fit(messages, limit);
        let mut body = json!({
            "model": model, "stream": true, "stream_options": {"include_usage": true}, "messages": messages,
        });
        if let Some(effort) = self.routes.get(route).and_then(|r| r.reasoning_effort) {
            body["reasoning_effort"] = effort.as_str().into();
        }
        if offer_tools && self.tools_available() {
            body["tools"] = self.offered_tools.clone().into();
        }
        body
    }

    /// The speech request of TTS route `route` for one chunk of text (already made speakable).
    pub fn speech_request(&self, route: usize, text: &str) -> Option<TtsRequest> {
        self.tts.get(route).map(|r| r.request(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::router::Tier;
    use crate::tenant::settings::tests::sample;

    fn config(builtins: &[&str]) -> TurnConfig {
        let mut s = sample();
        s.builtin_tools = builtins.iter().map(|b| b.to_string()).collect();
        TurnConfig::from_providers(&ProviderConfig::from_tenant(&s, |_| vec!["sk-x".into()]))
    }

    #[test]
    fn tools_are_available_when_the_tenant_has_tools_or_built_ins() {
        assert!(
            !config(&[]).tools_available(),
            "the sample tenant has no tools"
        );
        let c = config(&["current_time"]);
        assert!(c.tools_available());
        let body = c.chat_body(0, &[json!({"role": "user", "content": "hi"})], true);
        assert_eq!(body["tools"][0]["function"]["name"], "current_time");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        // The last step offers none.
        assert!(c.chat_body(0, &[], false).get("tools").is_none());
        assert!(body.get("reasoning_effort").is_none(), "not set: not sent");
        let mut s = sample();
        s.llm.push(s.llm[0].clone());
        s.llm[1].reasoning_effort = Some(crate::providers::reasoning::ReasoningEffort::High);
        let two = TurnConfig::from_providers(&ProviderConfig::from_tenant(&s, |_| vec![]));
        assert!(
            two.chat_body(0, &[], false)
                .get("reasoning_effort")
                .is_none()
        );
        assert_eq!(two.chat_body(1, &[], false)["reasoning_effort"], "high");
    }

    #[test]
    fn a_route_with_a_small_context_window_is_sent_only_the_newest_turns() {
        let mut s = sample();
        s.llm.push(s.llm[0].clone());
        s.llm[1].context_tokens = Some(1_024);
        let c = TurnConfig::from_providers(&ProviderConfig::from_tenant(&s, |_| vec![]));
        let mut messages = vec![json!({"role": "system", "content": "Be brief."})];
        for _ in 0..40 {
            messages.push(json!({"role": "user", "content": "word ".repeat(60)}));
            messages.push(json!({"role": "assistant", "content": "word ".repeat(60)}));
        }
        messages.push(json!({"role": "user", "content": "And on Sunday?"}));
        let sent = |route| {
            c.chat_body(route, &messages, false)["messages"]
                .as_array()
                .unwrap()
                .clone()
        };
        assert_eq!(sent(0).len(), messages.len(), "no window: all of it");
        let small = sent(1);
        assert!(small.len() < 14, "{} messages", small.len());
        assert_eq!(small[0]["role"], "system");
        assert_eq!(small.last().unwrap()["content"], "And on Sunday?");
    }

    #[test]
    fn routes_name_hosts_and_keep_no_key() {
        let c = config(&[]);
        assert_eq!(c.routes[0].tier, Tier::Strong);
        assert!(!c.routes[0].provider.contains('/'));
        assert!(!format!("{c:?}").contains("sk-x"));
        let speech = c.speech_request(0, "Hello.").unwrap();
        assert_eq!(speech.body["response_format"], "pcm");
        assert_eq!(speech.body["voice"], "alloy");
        assert!(c.speech_request(1, "Hello.").is_none(), "no fallback route");
        assert_eq!(
            c.router.first_token_timeout_ms,
            sample().first_token_timeout_ms
        );
    }
}
