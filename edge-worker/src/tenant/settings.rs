//! The tenant model: who a tenant is, what its publishable keys look like, which origins may
//! embed it, how it reaches its providers and what it may spend. Everything an admin sends is
//! validated here, with errors that name the field and never quote its value.

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::providers::router::Tier;
use crate::tenant::host_policy::{HostClass, classify, is_public_suffix};

/// Bounds on what an admin may store, so a tenant record stays small and fast to read.
pub mod bounds {
    pub const TENANT_ID_MAX: usize = 40;
    pub const NAME_MAX: usize = 100;
    pub const ORIGINS_MAX: usize = 20;
    pub const URL_MAX: usize = 300;
    pub const MODEL_MAX: usize = 100;
    pub const LLM_ROUTES_MAX: usize = 4;
    pub const SYSTEM_PROMPT_MAX: usize = 8_000;
    pub const PROVIDER_KEY_MAX: usize = 500;
    pub const PUBLISHABLE_KEYS_MAX: usize = 10;
}

/// Why a tenant record or a request about one was refused. The text names the field only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("`{0}` is missing or empty")]
    Missing(&'static str),
    #[error("`{0}` is too long")]
    TooLong(&'static str),
    #[error("`{0}` has too many entries")]
    TooMany(&'static str),
    #[error("`{0}` is not valid: {1}")]
    Invalid(&'static str, &'static str),
}

/// A tenant id: 3 to 40 characters of `a-z`, `0-9` and `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, TenantError> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if s.is_empty() {
            Err(TenantError::Missing("tenant id"))
        } else if s.len() > bounds::TENANT_ID_MAX {
            Err(TenantError::TooLong("tenant id"))
        } else if s.len() < 3 || !ok_chars || s.starts_with('-') {
            Err(TenantError::Invalid(
                "tenant id",
                "use 3 to 40 of a-z, 0-9 and -, not starting with -",
            ))
        } else {
            Ok(Self(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = TenantError;
    fn try_from(s: String) -> Result<Self, TenantError> {
        Self::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A publishable key, safe to put in a web page: `pk_{tenant}_{secret part}`. The tenant id in
/// it says which tenant to ask; the tenant's record says whether the key is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishableKey {
    pub tenant: TenantId,
    /// The whole key as given.
    pub key: String,
}

impl PublishableKey {
    /// Makes a key for `tenant` from 16 random bytes.
    pub fn generate(tenant: &TenantId, random: [u8; 16]) -> Self {
        let tail: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            tenant: tenant.clone(),
            key: format!("pk_{tenant}_{tail}"),
        }
    }

    pub fn parse(key: &str) -> Result<Self, TenantError> {
        let invalid = TenantError::Invalid("publishable key", "expected pk_TENANT_SECRET");
        let rest = key.strip_prefix("pk_").ok_or(invalid.clone())?;
        let (tenant, tail) = rest.rsplit_once('_').ok_or(invalid.clone())?;
        if tail.len() != 32 || !tail.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid);
        }
        Ok(Self {
            tenant: TenantId::parse(tenant).map_err(|_| invalid)?,
            key: key.to_string(),
        })
    }
}

/// Whether provider and webhook URLs may point at this machine (`http://127.0.0.1`,
/// `localhost`): only in local development (the `AURA_DEV` var). Private, reserved and
/// internal hosts are refused under both (see [`crate::tenant::host_policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    HttpsOnly,
    AllowLoopback,
}

/// A provider's address and model. Its key is stored apart, encrypted (see [`crate::tenant::key_vault`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSettings {
    pub base_url: String,
    pub model: String,
}

/// How a tenant's speech-to-text is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SttApi {
    /// OpenAI-compatible `POST /v1/audio/transcriptions` with the utterance as WAV (OpenAI,
    /// Groq, ...), sent at the end of speech.
    #[default]
    Openai,
    /// Deepgram-style live transcription over WebSocket (`/v1/listen`): audio streamed while
    /// the user speaks, interim results, final at the end of speech.
    Deepgram,
}

/// The speech-to-text provider: its API, address and model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SttSettings {
    #[serde(default)]
    pub api: SttApi,
    pub base_url: String,
    pub model: String,
}

/// One LLM route: a provider and the tier it serves for smart routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmRouteSettings {
    pub base_url: String,
    pub model: String,
    #[serde(default = "strong")]
    pub tier: Tier,
}

fn strong() -> Tier {
    Tier::Strong
}

/// What a tenant may spend. Zero means "none allowed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub concurrent_sessions: u32,
    pub turns_per_minute: u32,
    pub audio_seconds_per_day: u32,
    pub llm_tokens_per_day: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            concurrent_sessions: 20,
            turns_per_minute: 60,
            audio_seconds_per_day: 4 * 3600,
            llm_tokens_per_day: 2_000_000,
        }
    }
}

/// Everything an admin sets about a tenant (`PUT /admin/v1/tenants/{id}`). Provider keys and
/// publishable keys have their own endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Origins allowed to open sessions: `https://shop.example`, or `https://*.shop.example`
    /// for its subdomains. Exact scheme, host and port; no paths.
    pub allowed_origins: Vec<String>,
    pub stt: SttSettings,
    /// Ordered: the primary first, then fallbacks.
    pub llm: Vec<LlmRouteSettings>,
    #[serde(default = "yes")]
    pub smart_routing: bool,
    pub tts: ProviderSettings,
    pub tts_voice: String,
    pub system_prompt: String,
    #[serde(default = "default_budget")]
    pub context_budget_tokens: u32,
    #[serde(default = "default_first_token_timeout")]
    pub first_token_timeout_ms: u32,
    #[serde(default)]
    pub limits: Limits,
    /// Tools the assistant may call (see [`crate::tenant::tools`]); their webhook calls are signed with
    /// the secret in the `webhook` key slot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<crate::tenant::tools::ToolSettings>,
    /// Built-in tools offered to the LLM: `end_conversation`, `transfer_to_human`,
    /// `current_time` (none by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builtin_tools: Vec<String>,
    /// The business's IANA time zone, for `current_time`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

fn yes() -> bool {
    true
}
fn default_budget() -> u32 {
    6_000
}
fn default_first_token_timeout() -> u32 {
    2_500
}

/// The provider slots a tenant holds keys for: `stt`, `tts`, and `llm0`, `llm1`, ... in route
/// order.
pub fn key_slots(settings: &TenantSettings) -> Vec<String> {
    let mut slots = vec!["stt".to_string(), "tts".to_string()];
    slots.extend((0..settings.llm.len()).map(|i| format!("llm{i}")));
    if !settings.tools.is_empty() {
        slots.push("webhook".to_string());
    }
    slots
}

/// Whether `slot` names a provider-key slot (`stt`, `tts`, `llm0`..`llm3`).
pub fn is_key_slot(slot: &str) -> bool {
    matches!(slot, "stt" | "tts" | "webhook")
        || slot
            .strip_prefix("llm")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < bounds::LLM_ROUTES_MAX && slot.len() == 4)
}

impl TenantSettings {
    /// Checks every field. `policy` says whether loopback provider URLs are allowed (dev).
    pub fn validate(&self, policy: UrlPolicy) -> Result<(), TenantError> {
        text("name", &self.name, bounds::NAME_MAX)?;
        if self.allowed_origins.is_empty() {
            return Err(TenantError::Missing("allowed_origins"));
        }
        if self.allowed_origins.len() > bounds::ORIGINS_MAX {
            return Err(TenantError::TooMany("allowed_origins"));
        }
        for origin in &self.allowed_origins {
            validate_origin_pattern(origin, policy)?;
        }
        provider_url("stt.base_url", &self.stt.base_url, policy)?;
        text("stt.model", &self.stt.model, bounds::MODEL_MAX)?;
        if self.llm.is_empty() {
            return Err(TenantError::Missing("llm"));
        }
        if self.llm.len() > bounds::LLM_ROUTES_MAX {
            return Err(TenantError::TooMany("llm"));
        }
        for route in &self.llm {
            provider_url("llm.base_url", &route.base_url, policy)?;
            text("llm.model", &route.model, bounds::MODEL_MAX)?;
        }
        provider_url("tts.base_url", &self.tts.base_url, policy)?;
        text("tts.model", &self.tts.model, bounds::MODEL_MAX)?;
        text("tts_voice", &self.tts_voice, bounds::MODEL_MAX)?;
        text(
            "system_prompt",
            &self.system_prompt,
            bounds::SYSTEM_PROMPT_MAX,
        )?;
        if !(500..=128_000).contains(&self.context_budget_tokens) {
            return Err(TenantError::Invalid(
                "context_budget_tokens",
                "between 500 and 128000",
            ));
        }
        crate::tenant::tools::validate_tools(&self.tools, policy)?;
        crate::tenant::tools::validate_builtins(&self.builtin_tools, &self.time_zone)?;
        if !(200..=30_000).contains(&self.first_token_timeout_ms) {
            return Err(TenantError::Invalid(
                "first_token_timeout_ms",
                "between 200 and 30000",
            ));
        }
        Ok(())
    }

    /// Checks only the URLs the edge fetches (providers and webhooks) against `policy`: what a
    /// grant re-checks each turn, so a record stored under an older or looser policy (a dev
    /// edge's loopback provider, a host refused since) is not fetched.
    pub fn validate_urls(&self, policy: UrlPolicy) -> Result<(), TenantError> {
        provider_url("stt.base_url", &self.stt.base_url, policy)?;
        for route in &self.llm {
            provider_url("llm.base_url", &route.base_url, policy)?;
        }
        provider_url("tts.base_url", &self.tts.base_url, policy)?;
        for tool in &self.tools {
            provider_url("tools.webhook_url", &tool.webhook_url, policy)?;
        }
        Ok(())
    }

    /// Whether a page at `origin` (the request's `Origin` header) may open a session.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|pattern| origin_matches(pattern, origin))
    }
}

fn text(field: &'static str, value: &str, max: usize) -> Result<(), TenantError> {
    if value.trim().is_empty() {
        Err(TenantError::Missing(field))
    } else if value.len() > max {
        Err(TenantError::TooLong(field))
    } else {
        Ok(())
    }
}

/// A provider or webhook base URL: https to a public host (or http and https to this machine
/// in local development), no credentials, query or fragment. The host is checked as the URL
/// parser normalised it (see [`crate::tenant::host_policy`]): no private, reserved or internal host.
pub(crate) fn provider_url(
    field: &'static str,
    value: &str,
    policy: UrlPolicy,
) -> Result<(), TenantError> {
    text(field, value, bounds::URL_MAX)?;
    let url = Url::parse(value).map_err(|_| TenantError::Invalid(field, "not a URL"))?;
    let https = url.scheme() == "https";
    if !https && url.scheme() != "http" {
        return Err(TenantError::Invalid(field, "must be an https URL"));
    }
    let Some(host) = url.host() else {
        return Err(TenantError::Invalid(field, "must be an https URL"));
    };
    match (classify(&host), policy) {
        (HostClass::Loopback, UrlPolicy::AllowLoopback) => {}
        (HostClass::Loopback, UrlPolicy::HttpsOnly) => {
            return Err(TenantError::Invalid(
                field,
                "this machine is allowed only in local development",
            ));
        }
        (HostClass::Refused(why), _) => return Err(TenantError::Invalid(field, why)),
        (HostClass::Public, _) if https => {}
        (HostClass::Public, _) => return Err(TenantError::Invalid(field, "must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TenantError::Invalid(field, "must not hold credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(TenantError::Invalid(
            field,
            "must not have a query or fragment",
        ));
    }
    Ok(())
}

/// An allowed origin: `scheme://host[:port]` exactly as browsers send it, where the host may
/// start with `*.` to allow every subdomain. https only, except this machine over http
/// (`http://127.0.0.1:8787`, `http://localhost:3000`) in local development. A wildcard must
/// sit under a registrable domain: not over a public suffix (`*.com`, `*.co.uk`) or a
/// multi-tenant hosting suffix (`*.github.io`, `*.workers.dev`; see
/// [`crate::tenant::host_policy::is_public_suffix`]), an IP address or `localhost`.
fn validate_origin_pattern(pattern: &str, policy: UrlPolicy) -> Result<(), TenantError> {
    const FIELD: &str = "allowed_origins";
    text(FIELD, pattern, bounds::URL_MAX)?;
    let (scheme, rest) = pattern
        .split_once("://")
        .ok_or(TenantError::Invalid(FIELD, "expected scheme://host[:port]"))?;
    if scheme != "https" && scheme != "http" {
        return Err(TenantError::Invalid(FIELD, "scheme must be https or http"));
    }
    let wildcard = rest.starts_with("*.");
    let concrete = rest.strip_prefix("*.").unwrap_or(rest);
    let url = Url::parse(&format!("{scheme}://{concrete}"))
        .map_err(|_| TenantError::Invalid(FIELD, "expected scheme://host[:port]"))?;
    // What the URL parser serialises back must be the pattern itself: no path, no case or
    // encoding tricks, nothing a browser's Origin header could not be.
    if url.origin().ascii_serialization() != format!("{scheme}://{concrete}")
        || concrete.contains('*')
    {
        return Err(TenantError::Invalid(
            FIELD,
            "expected scheme://host[:port] in lower case, without path or wildcard inside",
        ));
    }
    let Some(host) = url.host() else {
        return Err(TenantError::Invalid(FIELD, "expected scheme://host[:port]"));
    };
    if let Host::Domain(name) = host
        && !name
            .strip_suffix('.')
            .unwrap_or(name)
            .split('.')
            .all(is_host_label)
    {
        return Err(TenantError::Invalid(
            FIELD,
            "the host must be labels of a-z, 0-9 and -",
        ));
    }
    let loopback = classify(&host) == HostClass::Loopback;
    if scheme == "http" && !(loopback && policy == UrlPolicy::AllowLoopback) {
        return Err(TenantError::Invalid(
            FIELD,
            "must be https (http only for this machine in local development)",
        ));
    }
    if wildcard {
        let Host::Domain(name) = host else {
            return Err(TenantError::Invalid(
                FIELD,
                "a wildcard must be over a domain name, not an address",
            ));
        };
        if loopback || is_public_suffix(name) {
            return Err(TenantError::Invalid(
                FIELD,
                "a wildcard must be under your own domain, not over a public or hosting suffix",
            ));
        }
    }
    Ok(())
}

/// Whether `origin` (a request's `Origin` header) is allowed by `pattern` (validated). A
/// wildcard admits one or more subdomain labels of letters, digits and hyphens only.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    match pattern.split_once("://*.") {
        None => pattern == origin,
        Some((scheme, suffix)) => origin
            .strip_prefix(scheme)
            .and_then(|o| o.strip_prefix("://"))
            .and_then(|host| host.strip_suffix(suffix))
            .and_then(|sub| sub.strip_suffix('.'))
            .is_some_and(|sub| sub.split('.').all(is_host_label)),
    }
}

/// A DNS label as a browser serialises it in an origin: 1 to 63 of `a-z`, `0-9` and `-`, not
/// starting or ending with `-` (IDNA labels arrive as `xn--...`).
fn is_host_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> TenantSettings {
        TenantSettings {
            name: "Mill Lane Bakery".into(),
            enabled: true,
            allowed_origins: vec!["https://mill-lane.example".into()],
            stt: SttSettings {
                api: SttApi::Openai,
                base_url: "https://api.openai.com".into(),
                model: "whisper-1".into(),
            },
            llm: vec![LlmRouteSettings {
                base_url: "https://api.openai.com".into(),
                model: "gpt-4o-mini".into(),
                tier: Tier::Strong,
            }],
            smart_routing: true,
            tts: ProviderSettings {
                base_url: "https://api.openai.com".into(),
                model: "tts-1".into(),
            },
            tts_voice: "alloy".into(),
            system_prompt: "You are the bakery's assistant.".into(),
            context_budget_tokens: 6_000,
            first_token_timeout_ms: 2_500,
            limits: Limits::default(),
            tools: Vec::new(),
            builtin_tools: Vec::new(),
            time_zone: "UTC".into(),
        }
    }

    #[test]
    fn tenant_ids_are_short_lowercase_slugs() {
        assert!(TenantId::parse("mill-lane").is_ok());
        assert!(TenantId::parse("a1b").is_ok());
        for bad in [
            "",
            "ab",
            "Mill",
            "mill_lane",
            "-mill",
            "a/b",
            "../x",
            "é-tenant",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            TenantId::parse(&"a".repeat(41)),
            Err(TenantError::TooLong("tenant id"))
        );
    }

    #[test]
    fn publishable_keys_name_their_tenant() {
        let t = TenantId::parse("mill-lane").unwrap();
        let k = PublishableKey::generate(&t, [0xab; 16]);
        assert_eq!(k.key, format!("pk_mill-lane_{}", "ab".repeat(16)));
        assert_eq!(PublishableKey::parse(&k.key).unwrap(), k);
        for bad in [
            "",
            "pk_",
            "sk_mill-lane_abababababababababababababababab",
            "pk_mill-lane_short",
            "pk_Mill_abababababababababababababababab",
            "pk__abababababababababababababababab",
            "pk_mill-lane_zzabababababababababababababababab",
        ] {
            assert!(PublishableKey::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_sample_tenant_is_valid_and_round_trips() {
        let s = sample();
        s.validate(UrlPolicy::HttpsOnly).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<TenantSettings>(&json).unwrap(), s);
    }

    #[test]
    fn unknown_fields_are_refused_so_typos_do_not_pass_silently() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["alowed_origins"] = serde_json::json!(["https://x.example"]);
        assert!(serde_json::from_value::<TenantSettings>(v).is_err());
    }

    #[test]
    fn provider_urls_must_be_https_except_loopback_in_dev() {
        let with_llm = |url: &str| {
            let mut s = sample();
            s.llm[0].base_url = url.into();
            s
        };
        let local = with_llm("http://127.0.0.1:8790");
        assert!(local.validate(UrlPolicy::AllowLoopback).is_ok());
        assert!(matches!(
            local.validate(UrlPolicy::HttpsOnly),
            Err(TenantError::Invalid("llm.base_url", _))
        ));
        for bad in [
            "http://api.openai.com",
            "ftp://api.openai.com",
            "https://user:pw@api.openai.com",
            "https://api.openai.com/?key=1",
            "https://api.openai.com/#x",
            "not a url",
            "http://10.0.0.1",
        ] {
            assert!(
                with_llm(bad).validate(UrlPolicy::AllowLoopback).is_err(),
                "{bad} accepted"
            );
        }
        let long = format!("https://api.openai.com/{}", "a".repeat(400));
        assert_eq!(
            with_llm(&long).validate(UrlPolicy::HttpsOnly),
            Err(TenantError::TooLong("llm.base_url"))
        );
    }

    /// Every spelling of an internal host the SSRF probe tried (issue 14), as a provider URL
    /// and as a webhook URL: refused in production, and still refused in local development
    /// unless it is this machine.
    #[test]
    fn provider_and_webhook_urls_refuse_internal_hosts_in_every_spelling() {
        let loopback = [
            "https://127.0.0.1",
            "https://127.1",
            "https://2130706433",
            "https://0x7f.1",
            "https://017700000001",
            "https://[::1]",
            "https://[::ffff:127.0.0.1]",
            "https://[::ffff:7f00:1]",
            "https://localhost",
            "https://localhost.",
            "https://api.localhost",
            "http://127.0.0.1:8790",
            "http://localhost:8790",
        ];
        let internal = [
            "https://169.254.169.254",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1",
            "https://10.1.2.3:8443/v1",
            "https://172.16.0.1",
            "https://172.31.0.9",
            "https://192.168.1.10",
            "https://100.64.0.1",
            "https://0.0.0.0",
            "https://0.1.2.3",
            "https://[fe80::1]",
            "https://[fc00::1]",
            "https://[fd00:ec2::254]",
            "https://[::ffff:169.254.169.254]",
            "https://metadata.google.internal",
            "https://db.internal",
            "https://kubernetes.default.svc",
            "https://api.default.svc.cluster.local",
            "https://printer.local",
            "https://metadata",
            "http://10.0.0.1",
            "http://169.254.169.254",
        ];
        let public = [
            "https://api.openai.com",
            "https://api.x.ai",
            "https://api.groq.com/openai",
            "https://hooks.mill-lane.example/tools",
            "https://8.8.8.8",
            "https://172.32.0.1",
            "https://[2606:4700:4700::1111]",
            "https://localhost.mill-lane.example",
        ];
        let with_url = |url: &str| {
            let mut llm = sample();
            llm.llm[0].base_url = url.into();
            let mut stt = sample();
            stt.stt.base_url = url.into();
            let mut hook = sample();
            hook.tools = vec![crate::tenant::tools::ToolSettings {
                name: "lookup".into(),
                description: "Looks things up.".into(),
                parameters: serde_json::json!({"type": "object"}),
                webhook_url: url.into(),
                timeout_ms: 5_000,
                cancellable: true,
            }];
            [
                ("llm.base_url", llm),
                ("stt.base_url", stt),
                ("tools.webhook_url", hook),
            ]
        };
        for url in loopback.iter().chain(&internal) {
            for (field, s) in with_url(url) {
                assert!(
                    matches!(s.validate(UrlPolicy::HttpsOnly), Err(TenantError::Invalid(f, _)) if f == field),
                    "{url} accepted as {field} in production"
                );
            }
        }
        for url in internal {
            for (field, s) in with_url(url) {
                assert!(
                    s.validate(UrlPolicy::AllowLoopback).is_err(),
                    "{url} accepted as {field} in local development"
                );
            }
        }
        for url in loopback {
            for (field, s) in with_url(url) {
                assert_eq!(
                    s.validate(UrlPolicy::AllowLoopback),
                    Ok(()),
                    "{url} as {field} in local development"
                );
            }
        }
        for url in public {
            for (field, s) in with_url(url) {
                assert_eq!(s.validate(UrlPolicy::HttpsOnly), Ok(()), "{url} as {field}");
                assert_eq!(
                    s.validate_urls(UrlPolicy::HttpsOnly),
                    Ok(()),
                    "{url} as {field}"
                );
            }
        }
        // The grant's re-check refuses the same URLs.
        for url in loopback.iter().chain(&internal) {
            for (field, s) in with_url(url) {
                assert!(
                    matches!(s.validate_urls(UrlPolicy::HttpsOnly), Err(TenantError::Invalid(f, _)) if f == field),
                    "{url} passed the grant's check as {field}"
                );
            }
        }
    }

    #[test]
    fn sizes_are_bounded() {
        let mut s = sample();
        s.system_prompt = "x".repeat(bounds::SYSTEM_PROMPT_MAX + 1);
        assert_eq!(
            s.validate(UrlPolicy::HttpsOnly),
            Err(TenantError::TooLong("system_prompt"))
        );
        let mut s = sample();
        s.allowed_origins = (0..21).map(|i| format!("https://s{i}.example")).collect();
        assert_eq!(
            s.validate(UrlPolicy::HttpsOnly),
            Err(TenantError::TooMany("allowed_origins"))
        );
        let mut s = sample();
        s.llm = vec![s.llm[0].clone(); 5];
        assert_eq!(
            s.validate(UrlPolicy::HttpsOnly),
            Err(TenantError::TooMany("llm"))
        );
        let mut s = sample();
        s.name = "  ".into();
        assert_eq!(
            s.validate(UrlPolicy::HttpsOnly),
            Err(TenantError::Missing("name"))
        );
    }

    #[test]
    fn origin_patterns_are_exact_origins() {
        let mut s = sample();
        for bad in [
            "https://mill-lane.example/",
            "https://mill-lane.example/shop",
            "https://Mill-Lane.example",
            "mill-lane.example",
            "*",
            "https://*",
            "https://shop.*.example",
            "javascript://x",
            "https://mill-lane.example:443",
        ] {
            s.allowed_origins = vec![bad.into()];
            assert!(s.validate(UrlPolicy::HttpsOnly).is_err(), "{bad} accepted");
        }
        s.allowed_origins = vec!["https://*.mill-lane.example".into()];
        s.validate(UrlPolicy::HttpsOnly).unwrap();
        s.allowed_origins = vec![
            "https://*.mill-lane.example".into(),
            "http://127.0.0.1:8787".into(),
        ];
        s.validate(UrlPolicy::AllowLoopback).unwrap();
    }

    /// Issue 14 item 10: no wildcard over a public or hosting suffix, an address or this
    /// machine; no plain http in production, and in local development only to this machine.
    #[test]
    fn origin_patterns_refuse_public_suffix_wildcards_and_http_in_production() {
        let policy_table: [(&str, bool, bool); 36] = [
            // (pattern, allowed in production, allowed in local development)
            ("https://mill-lane.example", true, true),
            ("https://*.mill-lane.example", true, true),
            ("https://*.shop.mill-lane.co.uk", true, true),
            ("https://*.mill-lane.co.uk", true, true),
            ("https://*.mill-lane.github.io", true, true),
            ("https://*.mill-lane.workers.dev", true, true),
            ("https://mill-lane.github.io", true, true),
            ("https://shop.example:8443", true, true),
            ("https://*.com", false, false),
            ("https://*.example", false, false),
            ("https://*.com.", false, false),
            ("https://*.co.uk", false, false),
            ("https://*.com.au", false, false),
            ("https://*.github.io", false, false),
            ("https://*.workers.dev", false, false),
            ("https://*.pages.dev", false, false),
            ("https://*.vercel.app", false, false),
            ("https://*.netlify.app", false, false),
            ("https://*.herokuapp.com", false, false),
            ("https://*.myshopify.com", false, false),
            ("https://*.s3.amazonaws.com", false, false),
            ("https://*.blogspot.com", false, false),
            ("https://*.1.1.1", false, false),
            ("https://*.localhost", false, false),
            ("https://*.app.localhost", false, false),
            ("http://*.localhost:8787", false, false),
            ("http://mill-lane.example", false, false),
            ("http://*.mill-lane.example", false, false),
            ("http://10.0.0.5:8080", false, false),
            ("http://127.0.0.1:8787", false, true),
            ("http://localhost:3000", false, true),
            ("http://[::1]:8787", false, true),
            ("https://localhost:3000", true, true),
            ("https://*.xn--bcher-kva.example", true, true),
            ("https://*.", false, false),
            ("https://*..example", false, false),
        ];
        for (pattern, production, dev) in policy_table {
            let mut s = sample();
            s.allowed_origins = vec![pattern.into()];
            assert_eq!(
                s.validate(UrlPolicy::HttpsOnly).is_ok(),
                production,
                "{pattern} in production"
            );
            assert_eq!(
                s.validate(UrlPolicy::AllowLoopback).is_ok(),
                dev,
                "{pattern} in local development"
            );
        }
    }

    /// The subdomain part of a wildcard match holds host labels only.
    #[test]
    fn wildcard_origins_admit_only_host_names() {
        let mut s = sample();
        s.allowed_origins = vec!["https://*.shop-b.example".into()];
        s.validate(UrlPolicy::HttpsOnly).unwrap();
        for ok in [
            "https://a.shop-b.example",
            "https://a-1.b2.shop-b.example",
            "https://xn--bcher-kva.shop-b.example",
            "https://0.shop-b.example",
        ] {
            assert!(s.allows_origin(ok), "{ok} refused");
        }
        for bad in [
            "https://a b.shop-b.example",
            "https://*.shop-b.example",
            "https://..shop-b.example",
            "https://a..shop-b.example",
            "https://.shop-b.example",
            "https://-a.shop-b.example",
            "https://a-.shop-b.example",
            "https://A.shop-b.example",
            "https://a_b.shop-b.example",
            "https://a%20b.shop-b.example",
            "https://a@b.shop-b.example",
            "https://a\tb.shop-b.example",
            "https://a\nb.shop-b.example",
            "https://a/b.shop-b.example",
            "https://a:1.shop-b.example",
            "https://a?.shop-b.example",
            "https://a#.shop-b.example",
            "https://é.shop-b.example",
            "https://shop-b.example",
            "https://x.shop-b.example.evil.example",
        ] {
            assert!(!s.allows_origin(bad), "{bad:?} allowed");
        }
        let long = format!("https://{}.shop-b.example", "a".repeat(64));
        assert!(!s.allows_origin(&long));
        let longest = format!("https://{}.shop-b.example", "a".repeat(63));
        assert!(s.allows_origin(&longest));
    }

    #[test]
    fn origins_match_exactly_or_as_subdomains() {
        let mut s = sample();
        s.allowed_origins = vec![
            "https://mill-lane.example".into(),
            "https://*.bakery.example".into(),
        ];
        assert!(s.allows_origin("https://mill-lane.example"));
        assert!(s.allows_origin("https://shop.bakery.example"));
        assert!(s.allows_origin("https://a.b.bakery.example"));
        for bad in [
            "http://mill-lane.example",
            "https://mill-lane.example:8443",
            "https://evil-mill-lane.example",
            "https://mill-lane.example.evil.example",
            "https://bakery.example",
            "https://evilbakery.example",
            "https://x.bakery.example:444",
            "https://x.bakery.example/",
            "null",
            "",
        ] {
            assert!(!s.allows_origin(bad), "{bad} allowed");
        }
    }

    #[test]
    fn key_slots_follow_the_routes() {
        let mut s = sample();
        s.llm.push(s.llm[0].clone());
        assert_eq!(key_slots(&s), ["stt", "tts", "llm0", "llm1"]);
        for ok in ["stt", "tts", "llm0", "llm3", "webhook"] {
            assert!(is_key_slot(ok));
        }
        for bad in ["llm4", "llm", "llm00", "llm-1", "STT", "stt "] {
            assert!(!is_key_slot(bad), "{bad}");
        }
    }
}
