//! The tenant model: who a tenant is, what its publishable keys look like, which origins may
//! embed it, how it reaches its providers and what it may spend. Everything an admin sends is
//! validated here, with errors that name the field and never quote its value.

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::providers::reasoning::ReasoningEffort;
use crate::providers::router::Tier;
pub use crate::session::end_of_turn::Eagerness;
pub use crate::tenant::fields::{TenantError, UrlPolicy, bounds};
use crate::tenant::fields::{provider_url, text};
use crate::tenant::host_policy::{HostClass, classify, is_public_suffix};
use crate::tenant::placement::{Jurisdiction, LocationHint, Placement};

mod tts;
pub use self::tts::{DEFAULT_TTS_RATE, TtsApi, TtsFormat, TtsSettings};

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

/// A publishable key, safe to put in a web page: `pk_{tenant}_{48 hex}` (16 random bytes and
/// the edge's 8-byte tag, [`crate::tenant::key_tag`]). The tenant id in it says which tenant to
/// ask; the tag says the edge issued it; the tenant's record says whether it is still live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishableKey {
    pub tenant: TenantId,
    /// The whole key as given.
    pub key: String,
}

/// Hex digits after the tenant id: the random part and the tag.
pub const PUBLISHABLE_KEY_TAIL: usize = 48;

impl PublishableKey {
    /// The key's form only (whether the edge issued it is [`crate::tenant::key_tag`]'s check).
    /// Keys of before the tag (32 hex digits) are refused: they are rotated with a new one.
    pub fn parse(key: &str) -> Result<Self, TenantError> {
        let invalid = TenantError::Invalid("publishable key", "expected pk_TENANT_SECRET");
        let rest = key.strip_prefix("pk_").ok_or(invalid.clone())?;
        let (tenant, tail) = rest.rsplit_once('_').ok_or(invalid.clone())?;
        if tail.len() != PUBLISHABLE_KEY_TAIL || !tail.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid);
        }
        Ok(Self {
            tenant: TenantId::parse(tenant).map_err(|_| invalid)?,
            key: key.to_string(),
        })
    }
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
    /// Sent as `prompt` to an OpenAI-style (batch) STT: the words it should expect (product
    /// and place names) in the style it should write. Without one, English sessions get
    /// [`crate::providers::whisper::FILLER_PROMPT`], so fillers and trailing off stay in the
    /// transcript for the end-of-turn reading. Not sent to Deepgram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// One LLM route: a provider and the tier it serves for smart routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmRouteSettings {
    pub base_url: String,
    pub model: String,
    #[serde(default = "strong")]
    pub tier: Tier,
    /// `low`, `medium` or `high`: sent as `reasoning_effort` to this route only (OpenAI
    /// o-series and gpt-5, xAI grok-3-mini accept it; others may refuse it). None by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The model's context window in tokens (e.g. 4096 for Ollama's default, which cuts a
    /// longer context silently): the history sent to this route is cut to fit it, leaving
    /// room for the reply. None: the tenant's `context_budget_tokens` alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
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
    /// One client's (IP address's) share of `concurrent_sessions`; by default a quarter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_per_client: Option<u32>,
    /// One client's share of `turns_per_minute`; by default a quarter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turns_per_minute_per_client: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            concurrent_sessions: 20,
            turns_per_minute: 60,
            audio_seconds_per_day: 4 * 3600,
            llm_tokens_per_day: 2_000_000,
            sessions_per_client: None,
            turns_per_minute_per_client: None,
        }
    }
}

/// A client's share of a tenant-wide limit: as set, else a quarter (at least one), never more
/// than the tenant's own limit.
fn client_share(set: Option<u32>, tenant: u32) -> u32 {
    set.unwrap_or_else(|| tenant.div_ceil(4).max(1)).min(tenant)
}

impl Limits {
    /// How many sessions one client may hold at once.
    pub fn sessions_per_client(&self) -> u32 {
        client_share(self.sessions_per_client, self.concurrent_sessions)
    }

    /// How many turns one client may start per minute.
    pub fn turns_per_minute_per_client(&self) -> u32 {
        client_share(self.turns_per_minute_per_client, self.turns_per_minute)
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
    /// A second speech-to-text route (key slot `stt1`), used when the first cannot be reached,
    /// answers 5xx, 429 or 408, or times out ([`crate::providers::stt_fallback`]). After a
    /// live (`deepgram`) first route it may be either API; after a batch one, batch only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stt_fallback: Option<SttSettings>,
    /// Ordered: the primary first, then fallbacks.
    pub llm: Vec<LlmRouteSettings>,
    #[serde(default = "yes")]
    pub smart_routing: bool,
    pub tts: TtsSettings,
    /// A second text-to-speech route, used when the first fails before its first byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts_fallback: Option<TtsSettings>,
    pub tts_voice: String,
    pub system_prompt: String,
    #[serde(default = "default_budget")]
    pub context_budget_tokens: u32,
    #[serde(default = "default_first_token_timeout")]
    pub first_token_timeout_ms: u32,
    /// How soon a turn ends after the user stops speaking: `low`, `medium` (default) or
    /// `high`, which set the silence waited per reading of the transcript and its cap
    /// ([`crate::session::end_of_turn::waits`]). Always shown, so a `GET` says which applies.
    #[serde(default)]
    pub turn_eagerness: Eagerness,
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
    /// How long a conversation's history is kept after its last activity, in days; then its
    /// object deletes it (by alarm). 0: as soon as it can no longer be resumed.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Where new conversations' objects are placed (`wnam`, `enam`, `sam`, `weur`, `eeur`,
    /// `apac`, `oc`, `afr`, `me`); none: near their first caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_hint: Option<LocationHint>,
    /// `eu`: conversations' objects run and store data in the EU only. Changing it leaves the
    /// conversations made before where they are (not resumable afterwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<Jurisdiction>,
}

impl TenantSettings {
    /// Where this tenant's conversations' objects go.
    pub fn placement(&self) -> Placement {
        Placement {
            location_hint: self.location_hint,
            jurisdiction: self.jurisdiction,
        }
    }
}

/// Most days a conversation may be kept.
pub const RETENTION_DAYS_MAX: u32 = 3_650;

/// `retention_days` when none is set.
pub fn default_retention_days() -> u32 {
    30
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

/// The provider slots a tenant holds keys for: `stt`, `tts` (and `stt1`, `tts1` for the
/// fallbacks), and `llm0`, `llm1`, ... in route order.
pub fn key_slots(settings: &TenantSettings) -> Vec<String> {
    let mut slots = vec!["stt".to_string(), "tts".to_string()];
    if settings.stt_fallback.is_some() {
        slots.push("stt1".to_string());
    }
    if settings.tts_fallback.is_some() {
        slots.push("tts1".to_string());
    }
    slots.extend((0..settings.llm.len()).map(|i| format!("llm{i}")));
    if !settings.tools.is_empty() {
        slots.push("webhook".to_string());
    }
    slots
}

impl TenantSettings {
    /// What a slot's key is bound to ([`crate::tenant::key_vault::aad`]): the origin (scheme,
    /// host, port) of the provider it is sent to. The webhook secret only signs, is never sent,
    /// and is bound to no host (`""`).
    pub fn key_binding(&self, slot: &str) -> String {
        let base = match slot {
            "stt" => Some(&self.stt.base_url),
            "stt1" => self.stt_fallback.as_ref().map(|f| &f.base_url),
            "tts" => Some(&self.tts.base_url),
            "tts1" => self.tts_fallback.as_ref().map(|f| &f.base_url),
            _ => slot
                .strip_prefix("llm")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| self.llm.get(n))
                .map(|r| &r.base_url),
        };
        base.and_then(|b| Url::parse(b).ok())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }
}

/// Whether `slot` names a provider-key slot (`stt`, `stt1`, `tts`, `tts1`, `llm0`..`llm3`).
pub fn is_key_slot(slot: &str) -> bool {
    matches!(slot, "stt" | "stt1" | "tts" | "tts1" | "webhook")
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
        stt_prompt("stt.prompt", &self.stt)?;
        if let Some(fallback) = &self.stt_fallback {
            stt_prompt("stt_fallback.prompt", fallback)?;
            provider_url("stt_fallback.base_url", &fallback.base_url, policy)?;
            text("stt_fallback.model", &fallback.model, bounds::MODEL_MAX)?;
            if self.stt.api == SttApi::Openai && fallback.api == SttApi::Deepgram {
                return Err(TenantError::Invalid(
                    "stt_fallback.api",
                    "after a batch (openai) stt, the fallback must be batch too",
                ));
            }
        }
        if self.llm.is_empty() {
            return Err(TenantError::Missing("llm"));
        }
        if self.llm.len() > bounds::LLM_ROUTES_MAX {
            return Err(TenantError::TooMany("llm"));
        }
        for route in &self.llm {
            provider_url("llm.base_url", &route.base_url, policy)?;
            text("llm.model", &route.model, bounds::MODEL_MAX)?;
            if route
                .context_tokens
                .is_some_and(|t| !(512..=2_000_000).contains(&t))
            {
                return Err(TenantError::Invalid(
                    "llm.context_tokens",
                    "from 512 to 2000000 tokens",
                ));
            }
        }
        self.tts.validate("tts", policy)?;
        if let Some(fallback) = &self.tts_fallback {
            fallback.validate("tts_fallback", policy)?;
        }
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
        if self.retention_days > RETENTION_DAYS_MAX {
            return Err(TenantError::Invalid("retention_days", "at most 3650"));
        }
        Ok(())
    }

    /// Checks only the URLs the edge fetches (providers and webhooks) against `policy`: what a
    /// grant re-checks each turn, so a record stored under an older or looser policy (a dev
    /// edge's loopback provider, a host refused since) is not fetched.
    pub fn validate_urls(&self, policy: UrlPolicy) -> Result<(), TenantError> {
        provider_url("stt.base_url", &self.stt.base_url, policy)?;
        if let Some(fallback) = &self.stt_fallback {
            provider_url("stt_fallback.base_url", &fallback.base_url, policy)?;
        }
        for route in &self.llm {
            provider_url("llm.base_url", &route.base_url, policy)?;
        }
        provider_url("tts.base_url", &self.tts.base_url, policy)?;
        if let Some(fallback) = &self.tts_fallback {
            provider_url("tts_fallback.base_url", &fallback.base_url, policy)?;
        }
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

/// An STT prompt, if any: not blank, within Whisper's reach, no control characters.
fn stt_prompt(field: &'static str, stt: &SttSettings) -> Result<(), TenantError> {
    let Some(prompt) = &stt.prompt else {
        return Ok(());
    };
    text(field, prompt, bounds::STT_PROMPT_MAX)?;
    if prompt.chars().any(char::is_control) {
        return Err(TenantError::Invalid(field, "control characters"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
