//! The admin API: routes, authentication and request bodies. Every route is under
//! `/admin/v1/tenants/{tenant}` and needs `Authorization: Bearer {ADMIN_TOKEN}`.
//!
//! | method | path | does |
//! |---|---|---|
//! | `PUT` | `/admin/v1/tenants/{id}` | create or update the tenant's settings ([`crate::tenant::settings::TenantSettings`]); `"enabled": false` disables it |
//! | `GET` | `/admin/v1/tenants/{id}` | settings, publishable keys, which provider slots hold keys (never the keys) |
//! | `POST` | `/admin/v1/tenants/{id}/publishable-keys` | a new publishable key |
//! | `DELETE` | `/admin/v1/tenants/{id}/publishable-keys/{key}` | revoke one |
//! | `POST` | `/admin/v1/tenants/{id}/publishable-keys/reissue` | replace each key the Worker refuses (the form of before the tag, or tagged under a replaced secret) with a new one |
//! | `PUT` | `/admin/v1/tenants/{id}/provider-keys/{slot}` | set or rotate a provider key: `{"key": "...", "grace_s": 3600}` |
//! | `POST` | `/admin/v1/tenants/{id}/rewrap` | re-seal its provider keys under the current master key |
//! | `GET` | `/admin/v1/tenants/{id}/usage` | today's usage and live sessions |
//! | `DELETE` | `/admin/v1/tenants/{id}/conversations/{conversation}` | delete a conversation now: its history and facts, its open socket closed |
//! | `DELETE` | `/admin/v1/tenants/{id}/conversations` | delete all of the tenant's conversations: answered at once (202), done by the tenant object's alarm ([`crate::tenant::erasure`]) |
//! | `POST` | `/admin/v1/conversation-objects/{object_id}/index` | list a conversation's object (by its Durable Object id, as Cloudflare's API lists them) with its tenant, once, for conversations from before the tenant object listed them ([`object_index_route`]) |
//! | `DELETE` | `/admin/v1/tenants/{id}` | delete the tenant and everything the edge stores for it: its record at once, its conversations by the alarm, then the object's storage (202) |

use serde::{Deserialize, Serialize};

use crate::tenant::settings::{TenantError, TenantId, is_key_slot};

/// Largest admin request body.
pub const BODY_MAX: usize = 64 * 1024;
/// Longest grace period for a rotated provider key: 7 days.
pub const GRACE_MAX_S: u64 = 7 * 86_400;

/// What an admin request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    PutTenant,
    GetTenant,
    /// The tenant and all its data ([`crate::tenant::erasure`]).
    DeleteTenant,
    AddPublishableKey,
    RevokePublishableKey(String),
    /// Replace the keys the Worker refuses ([`crate::tenant::key_tag::KeyTagger::accepts`]).
    ReissuePublishableKeys,
    SetProviderKey(String),
    Rewrap,
    Usage,
    /// Handled by the conversation's own object, not the tenant's.
    DeleteConversation(String),
    /// All of the tenant's conversations ([`crate::tenant::erasure`]).
    DeleteConversations,
}

/// Why an admin request was refused before reaching the tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Invalid(#[from] TenantError),
}

impl AdminError {
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Invalid(_) => 400,
        }
    }
}

/// The tenant and route of `method path`, for paths under `/admin/v1/tenants/`.
pub fn admin_route(method: &str, path: &str) -> Result<(TenantId, AdminRoute), AdminError> {
    let rest = path
        .strip_prefix("/admin/v1/tenants/")
        .ok_or(AdminError::NotFound)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let tenant = TenantId::parse(parts[0])?;
    let route = match (parts.as_slice(), method) {
        ([_], "PUT") => AdminRoute::PutTenant,
        ([_], "GET") => AdminRoute::GetTenant,
        ([_], "DELETE") => AdminRoute::DeleteTenant,
        ([_], _) => return Err(AdminError::MethodNotAllowed),
        ([_, "publishable-keys"], "POST") => AdminRoute::AddPublishableKey,
        ([_, "publishable-keys", "reissue"], "POST") => AdminRoute::ReissuePublishableKeys,
        ([_, "publishable-keys", key], "DELETE") if !key.is_empty() => {
            AdminRoute::RevokePublishableKey(key.to_string())
        }
        ([_, "provider-keys", slot], "PUT") if is_key_slot(slot) => {
            AdminRoute::SetProviderKey(slot.to_string())
        }
        ([_, "rewrap"], "POST") => AdminRoute::Rewrap,
        ([_, "usage"], "GET") => AdminRoute::Usage,
        ([_, "conversations"], "DELETE") => AdminRoute::DeleteConversations,
        ([_, "conversations"], _) => return Err(AdminError::MethodNotAllowed),
        ([_, "conversations", id], "DELETE") if is_conversation_id(id) => {
            AdminRoute::DeleteConversation(id.to_string())
        }
        ([_, "conversations", id], _) if is_conversation_id(id) => {
            return Err(AdminError::MethodNotAllowed);
        }
        (
            [_, "publishable-keys"] | [_, "publishable-keys", _] | [_, "rewrap"] | [_, "usage"],
            _,
        ) => {
            return Err(AdminError::MethodNotAllowed);
        }
        ([_, "provider-keys", slot], _) if is_key_slot(slot) => {
            return Err(AdminError::MethodNotAllowed);
        }
        _ => return Err(AdminError::NotFound),
    };
    Ok((tenant, route))
}

/// `POST /admin/v1/conversation-objects/{object_id}/index`: `None` for another path, else the
/// object's id or why the request is refused. Conversations admitted before the tenant object
/// listed them (before d01a617) are unknown to it, so deleting the tenant's conversations
/// missed them; no Workers API lists a namespace's objects, but Cloudflare's REST API does
/// (ids only), and each object knows whose it is: this route asks it and lists it there.
pub fn object_index_route(method: &str, path: &str) -> Option<Result<String, AdminError>> {
    let rest = path.strip_prefix("/admin/v1/conversation-objects/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    Some(match (parts.as_slice(), method) {
        ([id, "index"], "POST") if is_object_id(id) => Ok(id.to_string()),
        ([id, "index"], _) if is_object_id(id) => Err(AdminError::MethodNotAllowed),
        _ => Err(AdminError::NotFound),
    })
}

/// A Durable Object id as Cloudflare gives it: 32 bytes, lower-case hex.
pub fn is_object_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A conversation id: 16 random bytes, lower-case hex (what the Worker makes up).
pub fn is_conversation_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether an `Authorization` header carries the admin token (compared in constant time).
/// With no token configured the admin API is closed.
pub fn authorized(header: Option<&str>, admin_token: Option<&str>) -> bool {
    let (Some(header), Some(token)) = (header, admin_token) else {
        return false;
    };
    if token.len() < 16 {
        return false;
    }
    let Some(given) = header.strip_prefix("Bearer ") else {
        return false;
    };
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `PUT .../provider-keys/{slot}`. Its `Debug` redacts the key (see `redacted_debug.rs`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderKeyBody {
    pub key: String,
    /// How long the replaced key stays usable, in seconds (0: not at all).
    #[serde(default)]
    pub grace_s: u64,
}

impl ProviderKeyBody {
    pub fn validate(&self) -> Result<(), TenantError> {
        if self.key.is_empty() {
            return Err(TenantError::Missing("key"));
        }
        if self.key.len() > crate::tenant::settings::bounds::PROVIDER_KEY_MAX {
            return Err(TenantError::TooLong("key"));
        }
        // It goes into an HTTP header: printable ASCII without spaces only.
        if !self.key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TenantError::Invalid(
                "key",
                "printable ASCII without spaces",
            ));
        }
        if self.grace_s > GRACE_MAX_S {
            return Err(TenantError::Invalid("grace_s", "at most 7 days"));
        }
        Ok(())
    }
}

/// What `GET /admin/v1/tenants/{id}` shows about a provider slot: that it holds a key, sealed
/// under which master key version, and until when a replaced key still works. Never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotInfo {
    pub slot: String,
    pub master_key_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_until_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Result<AdminRoute, AdminError> {
        admin_route(method, path).map(|(_, r)| r)
    }

    #[test]
    fn routes() {
        let t = "/admin/v1/tenants/mill-lane";
        assert_eq!(route("PUT", t), Ok(AdminRoute::PutTenant));
        assert_eq!(route("GET", t), Ok(AdminRoute::GetTenant));
        assert_eq!(route("DELETE", t), Ok(AdminRoute::DeleteTenant));
        assert_eq!(
            route("POST", &format!("{t}/publishable-keys")),
            Ok(AdminRoute::AddPublishableKey)
        );
        assert_eq!(
            route("DELETE", &format!("{t}/publishable-keys/pk_x")),
            Ok(AdminRoute::RevokePublishableKey("pk_x".into()))
        );
        assert_eq!(
            route("PUT", &format!("{t}/provider-keys/llm1")),
            Ok(AdminRoute::SetProviderKey("llm1".into()))
        );
        assert_eq!(
            route("POST", &format!("{t}/rewrap")),
            Ok(AdminRoute::Rewrap)
        );
        assert_eq!(
            route("POST", &format!("{t}/publishable-keys/reissue")),
            Ok(AdminRoute::ReissuePublishableKeys)
        );
        assert_eq!(route("GET", &format!("{t}/usage")), Ok(AdminRoute::Usage));
        let c = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            route("DELETE", &format!("{t}/conversations/{c}")),
            Ok(AdminRoute::DeleteConversation(c.into()))
        );
        assert_eq!(
            route("GET", &format!("{t}/conversations/{c}")),
            Err(AdminError::MethodNotAllowed)
        );
        assert_eq!(
            route("DELETE", &format!("{t}/conversations")),
            Ok(AdminRoute::DeleteConversations)
        );
        assert_eq!(
            route("GET", &format!("{t}/conversations")),
            Err(AdminError::MethodNotAllowed)
        );
        assert_eq!(
            route("DELETE", &format!("{t}/conversations/../x")),
            Err(AdminError::NotFound)
        );
        assert_eq!(admin_route("GET", t).unwrap().0.as_str(), "mill-lane");
    }

    #[test]
    fn wrong_methods_paths_and_ids_are_refused() {
        let t = "/admin/v1/tenants/mill-lane";
        assert_eq!(route("POST", t), Err(AdminError::MethodNotAllowed));
        assert_eq!(
            route("GET", &format!("{t}/rewrap")),
            Err(AdminError::MethodNotAllowed)
        );
        assert_eq!(
            route("GET", &format!("{t}/provider-keys/llm0")),
            Err(AdminError::MethodNotAllowed)
        );
        for bad in [
            format!("{t}/provider-keys/llm9"),
            format!("{t}/provider-keys/"),
            format!("{t}/publishable-keys/"),
            format!("{t}/nothing"),
            format!("{t}/usage/x"),
            "/admin/v1/tenants/".to_string(),
            "/admin/v1/tenant/mill-lane".to_string(),
        ] {
            assert!(
                route("PUT", &bad).is_err() && route("DELETE", &bad).is_err(),
                "{bad}"
            );
        }
        for bad_id in ["..", "Mill", "a%2Fb", "x"] {
            assert!(matches!(
                route("GET", &format!("/admin/v1/tenants/{bad_id}")),
                Err(AdminError::Invalid(_))
            ));
        }
    }

    #[test]
    fn conversation_objects_are_named_by_their_object_id() {
        let id = "0123456789abcdef".repeat(4);
        let path = format!("/admin/v1/conversation-objects/{id}/index");
        assert_eq!(object_index_route("POST", &path), Some(Ok(id.clone())));
        assert_eq!(
            object_index_route("GET", &path),
            Some(Err(AdminError::MethodNotAllowed))
        );
        for bad in [
            format!("/admin/v1/conversation-objects/{}/index", &id[1..]),
            format!("/admin/v1/conversation-objects/{}/index", id.to_uppercase()),
            format!("/admin/v1/conversation-objects/{id}"),
            format!("/admin/v1/conversation-objects/{id}/index/x"),
        ] {
            assert_eq!(
                object_index_route("POST", &bad),
                Some(Err(AdminError::NotFound)),
                "{bad}"
            );
        }
        assert_eq!(object_index_route("POST", "/admin/v1/tenants/x"), None);
    }

    #[test]
    fn the_admin_token_is_checked_exactly() {
        let token = "adm_0123456789abcdef";
        assert!(authorized(Some(&format!("Bearer {token}")), Some(token)));
        for bad in [
            "",
            "Bearer ",
            token,
            "bearer adm_0123456789abcdef",
            "Bearer adm_0123456789abcdeF",
            "Bearer adm_0123456789abcdef ",
        ] {
            assert!(!authorized(Some(bad), Some(token)), "{bad}");
        }
        assert!(!authorized(None, Some(token)));
        assert!(
            !authorized(Some("Bearer x"), None),
            "no token configured: closed"
        );
        assert!(
            !authorized(Some("Bearer short"), Some("short")),
            "weak tokens refused"
        );
    }

    #[test]
    fn provider_key_bodies_are_bounded() {
        let body = |key: &str, grace_s| ProviderKeyBody {
            key: key.into(),
            grace_s,
        };
        assert!(body("sk-abc", 3600).validate().is_ok());
        assert!(body("", 0).validate().is_err());
        assert!(body("sk abc", 0).validate().is_err());
        assert!(body("sk-abc\r\nx: y", 0).validate().is_err());
        assert!(body(&"k".repeat(501), 0).validate().is_err());
        assert!(body("sk-abc", GRACE_MAX_S + 1).validate().is_err());
        assert!(serde_json::from_str::<ProviderKeyBody>(r#"{"key":"k","extra":1}"#).is_err());
    }
}
