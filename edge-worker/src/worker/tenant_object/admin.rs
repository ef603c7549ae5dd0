//! The tenant object's admin API: settings, publishable keys, sealed provider keys and usage.

use serde_json::json;
use worker::{Response, Result, console_log};

use super::TenantObject;
use crate::tenant::admin_api::{AdminRoute, ProviderKeyBody, SlotInfo, admin_route};
use crate::tenant::api_error::ApiError;
use crate::tenant::key_vault::{KeySlot, aad};
use crate::tenant::settings::{TenantId, TenantSettings, bounds, key_slots};
use crate::worker::runtime::{api_error, json_response, now_ms, random_bytes};

impl TenantObject {
    pub(super) async fn admin(
        &self,
        tenant: &TenantId,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<Response> {
        let route = match admin_route(method, path) {
            Ok((id, route)) if &id == tenant => route,
            Ok(_) => return api_error(&ApiError::TenantMismatch),
            Err(e) => return api_error(&ApiError::from(e)),
        };
        let exists = self.settings()?.is_some();
        if route == AdminRoute::PutTenant && self.deleting()?.is_some() {
            return api_error(&ApiError::TenantBeingDeleted);
        }
        // A tenant being deleted has no settings, and its deletion can be asked again.
        if !exists && !matches!(route, AdminRoute::PutTenant | AdminRoute::DeleteTenant) {
            return api_error(&ApiError::NoSuchTenant);
        }
        match route {
            AdminRoute::PutTenant => self.put_tenant(tenant, exists, body),
            AdminRoute::GetTenant => self.get_tenant(tenant),
            AdminRoute::AddPublishableKey => self.add_publishable_key(tenant),
            AdminRoute::RevokePublishableKey(key) => self.revoke_publishable_key(key),
            AdminRoute::ReissuePublishableKeys => self.reissue_publishable_keys(tenant),
            AdminRoute::SetProviderKey(slot) => self.set_provider_key(tenant, slot, body),
            AdminRoute::Rewrap => self.rewrap(tenant),
            AdminRoute::Usage => self.usage(),
            // The Worker sends it to the conversation's own object.
            AdminRoute::DeleteConversation(_) => api_error(&ApiError::NotFound),
            AdminRoute::DeleteConversations => self.mark_all_conversations(tenant).await,
            AdminRoute::DeleteTenant => self.delete_tenant(tenant, exists).await,
        }
    }

    /// `PUT`: creates or replaces the tenant's settings, validated. A provider key whose slot
    /// now points at another origin (or is gone) is deleted: it was sealed for the old one and
    /// will not be sent to the new one (`provider_keys_cleared` names them).
    fn put_tenant(&self, tenant: &TenantId, exists: bool, body: &str) -> Result<Response> {
        let settings: TenantSettings = match serde_json::from_str(body) {
            Ok(s) => s,
            Err(e) => {
                return api_error(&ApiError::SettingsShape(describe(&e)));
            }
        };
        if let Err(e) = settings.validate(self.url_policy()) {
            return api_error(&ApiError::from(e));
        }
        let cleared: Vec<String> = match self.settings()? {
            Some(old) => self
                .key_slots()?
                .into_keys()
                .filter(|slot| {
                    !key_slots(&settings).contains(slot)
                        || old.key_binding(slot) != settings.key_binding(slot)
                })
                .collect(),
            None => Vec::new(),
        };
        for slot in &cleared {
            self.sql(
                "DELETE FROM provider_keys WHERE slot = ?",
                vec![slot.clone().into()],
            )?;
        }
        self.sql(
            "INSERT OR REPLACE INTO record (name, value) VALUES ('settings', ?)",
            vec![serde_json::to_string(&settings)?.into()],
        )?;
        console_log!(
            "{}",
            json!({"event": "admin", "tenant": tenant.as_str(), "action": if exists {"update"} else {"create"}})
        );
        json_response(
            if exists { 200 } else { 201 },
            &json!({"tenant": tenant.as_str(), "provider_keys_cleared": cleared}),
        )
    }

    /// `GET`: the settings, publishable keys and provider-key slots (never a key).
    fn get_tenant(&self, tenant: &TenantId) -> Result<Response> {
        let slots: Vec<SlotInfo> = self
            .key_slots()?
            .into_iter()
            .map(|(slot, s)| SlotInfo {
                slot,
                master_key_version: s.current.v,
                previous_until_ms: s.previous_until_ms,
            })
            .collect();
        json_response(
            200,
            &json!({
                "tenant": tenant.as_str(),
                "settings": self.settings()?,
                "publishable_keys": self.publishable_keys()?,
                "provider_keys": slots,
            }),
        )
    }

    /// A new publishable key.
    fn add_publishable_key(&self, tenant: &TenantId) -> Result<Response> {
        if self.publishable_keys()?.len() >= bounds::PUBLISHABLE_KEYS_MAX {
            return api_error(&ApiError::TooManyKeys);
        }
        let Some(tagger) = crate::worker::entry::key_tagger(&self.env) else {
            return api_error(&ApiError::KeySecretMissing);
        };
        let key = tagger.issue(tenant, random_bytes::<16>()?);
        self.sql(
            "INSERT INTO publishable_keys (key, created_ms) VALUES (?, ?)",
            vec![key.key.clone().into(), (now_ms() as f64).into()],
        )?;
        json_response(201, &json!({"publishable_key": key.key}))
    }

    /// Replaces each stored key the Worker refuses (the form of before the tag, or tagged under
    /// a replaced `PUBLISHABLE_KEY_SECRET`) with a new one; keys it accepts are kept. Answers
    /// `{"reissued": [{"old", "new"}]}` (empty when there is none left to replace).
    fn reissue_publishable_keys(&self, tenant: &TenantId) -> Result<Response> {
        let Some(tagger) = crate::worker::entry::key_tagger(&self.env) else {
            return api_error(&ApiError::KeySecretMissing);
        };
        let mut reissued = Vec::new();
        for old in self.publishable_keys()? {
            if tagger.accepts(tenant, &old) {
                continue;
            }
            let new = tagger.issue(tenant, random_bytes::<16>()?);
            self.sql(
                "DELETE FROM publishable_keys WHERE key = ?",
                vec![old.clone().into()],
            )?;
            self.sql(
                "INSERT INTO publishable_keys (key, created_ms) VALUES (?, ?)",
                vec![new.key.clone().into(), (now_ms() as f64).into()],
            )?;
            reissued.push(json!({"old": old, "new": new.key}));
        }
        console_log!(
            "{}",
            json!({"event": "admin", "action": "publishable_keys_reissued", "count": reissued.len()})
        );
        json_response(200, &json!({"reissued": reissued}))
    }

    fn revoke_publishable_key(&self, key: String) -> Result<Response> {
        if !self.publishable_keys()?.contains(&key) {
            return api_error(&ApiError::NoSuchKey);
        }
        self.sql(
            "DELETE FROM publishable_keys WHERE key = ?",
            vec![key.into()],
        )?;
        json_response(200, &json!({"revoked": true}))
    }

    /// Seals a provider key into its slot; the key it replaces stays usable for its grace.
    fn set_provider_key(&self, tenant: &TenantId, slot: String, body: &str) -> Result<Response> {
        let Some(master) = self.master_keys() else {
            return api_error(&ApiError::MasterKeysMissing);
        };
        let body: ProviderKeyBody = match serde_json::from_str(body) {
            Ok(b) => b,
            Err(_) => {
                return api_error(&ApiError::KeyBodyShape);
            }
        };
        if let Err(e) = body.validate() {
            return api_error(&ApiError::from(e));
        }
        let settings = self.settings()?.unwrap_or_else(|| unreachable!());
        if !key_slots(&settings).contains(&slot) {
            return api_error(&ApiError::NoSuchSlot);
        }
        let now = now_ms();
        let sealed = master.seal(
            &body.key,
            &aad(tenant.as_str(), &slot, &settings.key_binding(&slot)),
            random_bytes::<12>()?,
        );
        let next = match self.key_slots()?.remove(&slot) {
            Some(old) => old.rotate(sealed, body.grace_s * 1000, now),
            None => KeySlot::new(sealed),
        };
        self.store_slot(&slot, &next)?;
        console_log!(
            "{}",
            json!({"event": "admin", "tenant": tenant.as_str(), "action": "provider_key_set", "slot": slot, "grace_s": body.grace_s})
        );
        json_response(
            200,
            &json!({"slot": slot, "master_key_version": next.current.v, "previous_until_ms": next.previous_until_ms}),
        )
    }

    /// Seals every slot again under the current master key.
    fn rewrap(&self, tenant: &TenantId) -> Result<Response> {
        let Some(master) = self.master_keys() else {
            return api_error(&ApiError::MasterKeysMissing);
        };
        let Some(settings) = self.settings()? else {
            return api_error(&ApiError::NoSuchTenant);
        };
        let mut rewrapped = 0;
        for (name, slot) in self.key_slots()? {
            let a = aad(tenant.as_str(), &name, &settings.key_binding(&name));
            let current = match master.rewrap(&slot.current, &a, random_bytes::<12>()?) {
                Ok(s) => s,
                Err(e) => {
                    return api_error(&ApiError::Rewrap {
                        slot: name.clone(),
                        reason: e.to_string(),
                    });
                }
            };
            let previous = match &slot.previous {
                Some(p) => match master.rewrap(p, &a, random_bytes::<12>()?) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        return api_error(&ApiError::Rewrap {
                            slot: name.clone(),
                            reason: e.to_string(),
                        });
                    }
                },
                None => None,
            };
            let next = KeySlot {
                current,
                previous,
                previous_until_ms: slot.previous_until_ms,
            };
            if next != slot {
                rewrapped += 1;
            }
            self.store_slot(&name, &next)?;
        }
        json_response(
            200,
            &json!({"rewrapped": rewrapped, "master_key_version": master.current_version()}),
        )
    }

    /// Today's usage and the live sessions.
    fn usage(&self) -> Result<Response> {
        let now = now_ms();
        let usage = self.day_usage(now)?;
        let active = self.leases(now)?.len();
        json_response(200, &json!({"today": usage, "active_sessions": active}))
    }
}

/// A JSON parse error described without quoting the input: the category, and for a missing
/// or unknown field its name (serde's text for those names the field, not a value).
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => {
            let text = e.to_string();
            let field_error =
                text.starts_with("unknown field") || text.starts_with("missing field");
            match text
                .split_once(", expected")
                .or_else(|| text.split_once(" at line"))
            {
                Some((head, _)) if field_error => head.to_string(),
                _ => "a field is missing, unknown or of the wrong type".into(),
            }
        }
        Category::Syntax => "not valid JSON".into(),
        Category::Eof => "truncated JSON".into(),
        Category::Io => "unreadable".into(),
    }
}
