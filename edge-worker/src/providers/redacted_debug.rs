//! Debug output of the structs that hold plaintext keys (issue 14 item 16): a `{:?}` in a log
//! line or a panic message shows that a key is set, never the key. Hand-written here rather
//! than derived; each names every field, so a new one is not printed by accident. (The
//! provider structs' impls live here, not in `providers/config.rs`, which keeps only the
//! decisions; an impl after its test module would trip clippy's `items_after_test_module`.)

use std::fmt;

use crate::providers::config::{ProviderConfig, ProviderEndpoint};
use crate::tenant::admin_api::ProviderKeyBody;

/// What a redacted key prints as.
pub(super) const REDACTED: &str = "<redacted>";

fn redacted(key: &Option<String>) -> Option<&'static str> {
    key.as_ref().map(|_| REDACTED)
}

impl fmt::Debug for ProviderEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderEndpoint")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &redacted(&self.api_key))
            .field("fallback_key", &redacted(&self.fallback_key))
            .finish()
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("stt", &self.stt)
            .field("stt_api", &self.stt_api)
            .field("stt_fallback", &self.stt_fallback)
            .field("llm", &self.llm)
            .field("smart_routing", &self.smart_routing)
            .field("tts", &self.tts)
            .field("tts_voice", &self.tts_voice)
            .field("system_prompt", &self.system_prompt)
            .field("context_budget_tokens", &self.context_budget_tokens)
            .field("first_token_timeout_ms", &self.first_token_timeout_ms)
            .field("turn_eagerness", &self.turn_eagerness)
            .field("tools", &self.tools)
            .field("webhook_secret", &redacted(&self.webhook_secret))
            .field("builtin_tools", &self.builtin_tools)
            .field("time_zone", &self.time_zone)
            .finish()
    }
}

impl fmt::Debug for ProviderKeyBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderKeyBody")
            .field("key", &REDACTED)
            .field("grace_s", &self.grace_s)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::settings::tests::sample;

    const KEYS: [&str; 4] = [
        "sk-live-current-1234",
        "sk-live-old-5678",
        "sk-tts-9abc",
        "whsec-def0",
    ];

    fn assert_redacted(text: &str) {
        for key in KEYS {
            assert!(!text.contains(key), "{key} in {text}");
        }
        assert!(text.contains(REDACTED), "{text}");
    }

    #[test]
    fn provider_endpoints_and_configs_print_no_key() {
        let mut s = sample();
        s.tools = vec![crate::tenant::tools::ToolSettings {
            name: "lookup".into(),
            description: "Looks things up.".into(),
            parameters: serde_json::json!({"type": "object"}),
            webhook_url: "https://hooks.mill-lane.example".into(),
            timeout_ms: 5_000,
            cancellable: true,
        }];
        let config = ProviderConfig::from_tenant(&s, |slot| match slot {
            "llm0" => vec![KEYS[0].into(), KEYS[1].into()],
            "tts" => vec![KEYS[2].into()],
            "webhook" => vec![KEYS[3].into()],
            _ => vec![],
        });
        for text in [
            format!("{config:?}"),
            format!("{config:#?}"),
            format!("{:?}", config.llm[0].endpoint),
            format!("{:?}", config.tts),
        ] {
            assert_redacted(&text);
        }
        // What is not secret still shows, and an absent key shows as absent.
        let text = format!("{config:?}");
        assert!(text.contains("https://api.openai.com") && text.contains("gpt-4o-mini"));
        assert!(format!("{:?}", config.stt).contains("api_key: None"));
        assert!(
            text.contains("webhook_secret: Some(\"<redacted>\")"),
            "{text}"
        );
    }

    #[test]
    fn a_provider_key_body_prints_no_key() {
        let body: ProviderKeyBody =
            serde_json::from_str(&format!(r#"{{"key": "{}", "grace_s": 60}}"#, KEYS[0])).unwrap();
        assert_redacted(&format!("{body:?}"));
        assert_redacted(&format!("{body:#?}"));
        assert!(format!("{body:?}").contains("grace_s: 60"));
    }
}
