//! A client of Aura's admin API (see `edge-worker/src/tenant/admin_api.rs` for the routes). Used by
//! the `aura-admin` command and by the tests.

pub mod dev_vars;

use std::time::Duration;

use serde_json::{Value, json};

/// An admin API error: the HTTP status and the edge's `error` text, or a transport failure.
#[derive(Debug)]
pub enum AdminError {
    Status(u16, String),
    Transport(String),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(code, msg) => write!(f, "HTTP {code}: {msg}"),
            Self::Transport(msg) => write!(f, "cannot reach the edge: {msg}"),
        }
    }
}

impl std::error::Error for AdminError {}

pub struct AdminClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl AdminClient {
    /// `base` is the edge's URL (`http://127.0.0.1:8787`); `token` its `ADMIN_TOKEN`.
    pub fn new(base: &str, token: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent,
        }
    }

    /// Any admin request about a tenant (`path` under `/admin/v1/tenants/`); `Ok` holds the
    /// JSON answer of a 2xx.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdminError> {
        self.request_under(
            method,
            &format!("tenants/{}", path.trim_start_matches('/')),
            body,
        )
    }

    /// Lists a conversation's Durable Object (its id as Cloudflare's API lists them) with its
    /// tenant: `{"stored": false}`, or `{"stored": true, "tenant", "conversation", "outcome":
    /// "listed"|"marked"|"deleted"}`.
    pub fn index_conversation_object(&self, object_id: &str) -> Result<Value, AdminError> {
        self.request_under(
            "POST",
            &format!("conversation-objects/{object_id}/index"),
            None,
        )
    }

    /// Any admin request to `/admin/v1/{path}`.
    fn request_under(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdminError> {
        let url = format!("{}/admin/v1/{path}", self.base);
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json");
        let resp = match body {
            Some(b) => self.agent.run(req.body(b.to_string()).unwrap()),
            None => self.agent.run(req.body(()).unwrap()),
        };
        let mut resp = resp.map_err(|e| AdminError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            let msg = value["error"]
                .as_str()
                .unwrap_or("no error text")
                .to_string();
            Err(AdminError::Status(status, msg))
        }
    }

    pub fn put_tenant(&self, id: &str, settings: &Value) -> Result<Value, AdminError> {
        self.request("PUT", id, Some(settings))
    }

    pub fn get_tenant(&self, id: &str) -> Result<Value, AdminError> {
        self.request("GET", id, None)
    }

    /// A new publishable key.
    pub fn add_publishable_key(&self, id: &str) -> Result<String, AdminError> {
        let v = self.request("POST", &format!("{id}/publishable-keys"), None)?;
        Ok(v["publishable_key"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub fn revoke_publishable_key(&self, id: &str, key: &str) -> Result<Value, AdminError> {
        self.request("DELETE", &format!("{id}/publishable-keys/{key}"), None)
    }

    /// Sets or rotates the key of a provider slot (`stt`, `tts`, `llm0`, ...).
    pub fn set_provider_key(
        &self,
        id: &str,
        slot: &str,
        key: &str,
        grace_s: u64,
    ) -> Result<Value, AdminError> {
        let body = json!({"key": key, "grace_s": grace_s});
        self.request("PUT", &format!("{id}/provider-keys/{slot}"), Some(&body))
    }

    pub fn rewrap(&self, id: &str) -> Result<Value, AdminError> {
        self.request("POST", &format!("{id}/rewrap"), None)
    }

    pub fn usage(&self, id: &str) -> Result<Value, AdminError> {
        self.request("GET", &format!("{id}/usage"), None)
    }

    /// Deletes all of the tenant's conversations (answered at once; done by the edge within
    /// seconds): `{"conversations_marked": N}`.
    pub fn delete_conversations(&self, id: &str) -> Result<Value, AdminError> {
        self.request("DELETE", &format!("{id}/conversations"), None)
    }

    /// Replaces each of the tenant's publishable keys the edge refuses (the form of before the
    /// tag, or tagged under a replaced secret): `{"reissued": [{"old", "new"}]}`.
    pub fn reissue_publishable_keys(&self, id: &str) -> Result<Value, AdminError> {
        self.request("POST", &format!("{id}/publishable-keys/reissue"), None)
    }

    /// Deletes the tenant and everything the edge stores for it (answered at once; its
    /// conversations and then its record's storage go within seconds):
    /// `{"tenant": ID, "deleting": true, "conversations_marked": N}`.
    pub fn delete_tenant(&self, id: &str) -> Result<Value, AdminError> {
        self.request("DELETE", id, None)
    }

    /// Deletes one conversation (its history and facts) now.
    pub fn delete_conversation(&self, id: &str, conversation: &str) -> Result<Value, AdminError> {
        self.request(
            "DELETE",
            &format!("{id}/conversations/{conversation}"),
            None,
        )
    }
}

/// Settings for a tenant whose providers are all at `provider_url` (OpenAI-compatible), with
/// OpenAI's models and voice, allowing pages from `origins`.
pub fn settings_for(
    name: &str,
    origins: &[&str],
    provider_url: &str,
    system_prompt: &str,
) -> Value {
    json!({
        "name": name,
        "allowed_origins": origins,
        "stt": {"base_url": provider_url, "model": "whisper-1"},
        "llm": [{"base_url": provider_url, "model": "gpt-4o-mini"}],
        "tts": {"base_url": provider_url, "model": "tts-1"},
        "tts_voice": "alloy",
        "system_prompt": system_prompt,
    })
}
