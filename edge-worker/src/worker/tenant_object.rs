//! The tenant Durable Object: one per tenant, named by its id. It holds the tenant's record
//! (settings, publishable keys, sealed provider keys) and its counters (session leases, recent
//! turns, daily usage) in SQLite, and answers admission, per-turn grants, usage reports and the
//! admin API. A Durable Object runs one request at a time between awaits, and every decision
//! here reads and writes storage with no await in between, so limits hold under concurrency.
//!
//! Why a Durable Object rather than KV or D1: admission must see a revoked key or a disabled
//! tenant at once (KV is eventually consistent, up to a minute), and the session limit needs
//! an atomic count next to the record (D1 would mean a second store for counters). One object
//! per tenant gives both, strongly consistent, with one round trip per session start and turn.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use worker::{DurableObject, Env, Request, Response, Result, State, console_log, durable_object};

use crate::tenant::admin_api::{AdminRoute, ProviderKeyBody, SlotInfo, admin_route};
use crate::tenant::admission::{AdmitAnswer, AdmitRequest, TenantView, admit, precheck};
use crate::tenant::api_error::ApiError;
use crate::tenant::key_vault::{KeySlot, MasterKeys, aad};
use crate::tenant::quota::{self, DayUsage, LEASE_TTL_MS};
use crate::tenant::rpc::{ReleaseRequest, TurnAnswer, TurnRequest, UsageReport};
use crate::tenant::settings::{
    PublishableKey, TenantId, TenantSettings, UrlPolicy, bounds, key_slots,
};
use crate::worker::runtime::{api_error, json_response, now_ms, random_bytes};

/// The header by which the Worker tells the object which tenant it is (its name).
pub(crate) const TENANT_HEADER: &str = "x-aura-tenant";

#[durable_object]
pub struct TenantObject {
    state: State,
    env: Env,
}

impl DurableObject for TenantObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Some(tenant) = req
            .headers()
            .get(TENANT_HEADER)?
            .and_then(|t| TenantId::parse(&t).ok())
        else {
            return api_error(&ApiError::NoTenant);
        };
        let path = req.path();
        let method = req.method().to_string();
        // Only the admin API creates a tenant's storage: a request naming a tenant that does
        // not exist (anyone can make up a publishable key) reads and writes nothing.
        if path.starts_with("/admin/") {
            self.ensure_schema()?;
        } else if !self.has_schema()? {
            return match path.as_str() {
                "/admit" => json_response(200, &admit(None, &req.json::<AdmitRequest>().await?)),
                "/turn" => json_response(
                    200,
                    &TurnAnswer::Refused {
                        message: "this assistant is not available".into(),
                    },
                ),
                _ => json_response(200, &json!({})),
            };
        }
        match path.as_str() {
            "/admit" => {
                let body: AdmitRequest = req.json().await?;
                json_response(200, &self.admit(&body)?)
            }
            "/turn" => {
                let body: TurnRequest = req.json().await?;
                json_response(200, &self.turn(&body)?)
            }
            "/usage" => {
                let body: UsageReport = req.json().await?;
                self.add_usage(body)?;
                json_response(200, &json!({}))
            }
            "/release" => {
                let body: ReleaseRequest = req.json().await?;
                self.sql(
                    "DELETE FROM leases WHERE conversation = ?",
                    vec![body.conversation.into()],
                )?;
                json_response(200, &json!({}))
            }
            p if p.starts_with("/admin/") => {
                let body = req.text().await?;
                self.admin(&tenant, &method, p, &body).await
            }
            _ => api_error(&ApiError::NotFound),
        }
    }
}

#[derive(Deserialize)]
struct JsonRow {
    value: String,
}

#[derive(Deserialize)]
struct CountRow {
    n: f64,
}

impl TenantObject {
    fn sql(&self, query: &str, args: Vec<worker::SqlStorageValue>) -> Result<worker::SqlCursor> {
        self.state.storage().sql().exec(query, Some(args))
    }

    /// Whether this tenant's tables exist (reading the schema writes nothing).
    fn has_schema(&self) -> Result<bool> {
        let row: CountRow = self
            .sql(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'record'",
                vec![],
            )?
            .one()?;
        Ok(row.n > 0.0)
    }

    fn ensure_schema(&self) -> Result<()> {
        let sql = self.state.storage().sql();
        for stmt in [
            "CREATE TABLE IF NOT EXISTS record (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS publishable_keys (key TEXT PRIMARY KEY, created_ms INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS provider_keys (slot TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS leases (conversation TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS turns (at_ms INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS usage (day INTEGER PRIMARY KEY, value TEXT NOT NULL)",
        ] {
            sql.exec(stmt, None)?;
        }
        Ok(())
    }

    fn settings(&self) -> Result<Option<TenantSettings>> {
        let rows: Vec<JsonRow> = self
            .sql("SELECT value FROM record WHERE name = 'settings'", vec![])?
            .to_array()?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| serde_json::from_str(&r.value).ok()))
    }

    fn publishable_keys(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
        }
        let rows: Vec<Row> = self
            .sql(
                "SELECT key FROM publishable_keys ORDER BY created_ms",
                vec![],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|r| r.key).collect())
    }

    fn key_slots(&self) -> Result<BTreeMap<String, KeySlot>> {
        #[derive(Deserialize)]
        struct Row {
            slot: String,
            value: String,
        }
        let now = now_ms();
        let rows: Vec<Row> = self
            .sql("SELECT slot, value FROM provider_keys", vec![])?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let slot: KeySlot = serde_json::from_str(&r.value).ok()?;
                Some((r.slot, slot.pruned(now)))
            })
            .collect())
    }

    fn store_slot(&self, name: &str, slot: &KeySlot) -> Result<()> {
        self.sql(
            "INSERT OR REPLACE INTO provider_keys (slot, value) VALUES (?, ?)",
            vec![name.into(), serde_json::to_string(slot)?.into()],
        )?;
        Ok(())
    }

    fn active_leases(&self, except: &str) -> Result<(u32, bool)> {
        let now = now_ms() as f64;
        self.sql("DELETE FROM leases WHERE expires_ms <= ?", vec![now.into()])?;
        let others: CountRow = self
            .sql(
                "SELECT COUNT(*) AS n FROM leases WHERE conversation != ?",
                vec![except.into()],
            )?
            .one()?;
        let own: CountRow = self
            .sql(
                "SELECT COUNT(*) AS n FROM leases WHERE conversation = ?",
                vec![except.into()],
            )?
            .one()?;
        Ok((others.n as u32, own.n > 0.0))
    }

    fn take_lease(&self, conversation: &str) -> Result<()> {
        self.sql(
            "INSERT OR REPLACE INTO leases (conversation, expires_ms) VALUES (?, ?)",
            vec![
                conversation.into(),
                ((now_ms() + LEASE_TTL_MS) as f64).into(),
            ],
        )?;
        Ok(())
    }

    /// Whether `key` is one of the tenant's live publishable keys (one primary-key lookup).
    fn has_publishable_key(&self, key: &str) -> Result<bool> {
        let row: CountRow = self
            .sql(
                "SELECT COUNT(*) AS n FROM publishable_keys WHERE key = ?",
                vec![key.into()],
            )?
            .one()?;
        Ok(row.n > 0.0)
    }

    /// Admission, decided and recorded with no await in between. The key is checked first:
    /// an unknown or revoked one reads nothing else and writes nothing.
    fn admit(&self, req: &AdmitRequest) -> Result<AdmitAnswer> {
        if let Some(refused) = precheck(self.has_publishable_key(&req.publishable_key)?) {
            return Ok(refused);
        }
        let Some(settings) = self.settings()? else {
            return Ok(admit(None, req));
        };
        let keys = self.publishable_keys()?;
        let (others, holds) = self.active_leases(&req.conversation)?;
        let answer = admit(
            Some(&TenantView {
                settings: &settings,
                publishable_keys: &keys,
                other_active_sessions: others,
                holds_lease: holds,
            }),
            req,
        );
        if answer == AdmitAnswer::Admitted {
            self.take_lease(&req.conversation)?;
        }
        Ok(answer)
    }

    fn day_usage(&self, now: u64) -> Result<DayUsage> {
        let day = DayUsage::default().today(now).day;
        let rows: Vec<JsonRow> = self
            .sql(
                "SELECT value FROM usage WHERE day = ?",
                vec![(day as f64).into()],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| serde_json::from_str::<DayUsage>(&r.value).ok())
            .unwrap_or_default()
            .today(now))
    }

    fn store_usage(&self, usage: DayUsage) -> Result<()> {
        self.sql(
            "INSERT OR REPLACE INTO usage (day, value) VALUES (?, ?)",
            vec![
                (usage.day as f64).into(),
                serde_json::to_string(&usage)?.into(),
            ],
        )?;
        // Keep a month of history for the usage endpoint's callers; older days go.
        self.sql(
            "DELETE FROM usage WHERE day < ?",
            vec![(usage.day.saturating_sub(31) as f64).into()],
        )?;
        Ok(())
    }

    /// A turn: checks the per-minute and daily limits, records it, renews the lease, and hands
    /// out the settings and sealed keys.
    fn turn(&self, req: &TurnRequest) -> Result<TurnAnswer> {
        let settings = match self.settings()? {
            Some(s) if s.enabled => s,
            _ => {
                return Ok(TurnAnswer::Refused {
                    message: "this assistant is not available".into(),
                });
            }
        };
        // A record stored under a looser policy (a dev edge, a host refused since) is not
        // fetched: the URLs are checked again, cheaply, at every grant. The log names the
        // field, never the URL.
        if let Err(e) = settings.validate_urls(self.url_policy()) {
            console_log!(
                "{}",
                json!({"event": "grant_refused", "reason": "url_policy", "error": e.to_string()})
            );
            return Ok(TurnAnswer::Refused {
                message: "this assistant is not available".into(),
            });
        }
        let now = now_ms();
        self.sql(
            "DELETE FROM turns WHERE at_ms <= ?",
            vec![(now.saturating_sub(60_000) as f64).into()],
        )?;
        #[derive(Deserialize)]
        struct Row {
            at_ms: f64,
        }
        let recent: Vec<u64> = self
            .sql("SELECT at_ms FROM turns", vec![])?
            .to_array::<Row>()?
            .into_iter()
            .map(|r| r.at_ms as u64)
            .collect();
        let usage = self.day_usage(now)?;
        if let Err(limited) = quota::admit_turn(&settings.limits, &recent, usage, now) {
            return Ok(TurnAnswer::Limited(limited));
        }
        self.sql(
            "INSERT INTO turns (at_ms) VALUES (?)",
            vec![(now as f64).into()],
        )?;
        self.store_usage(DayUsage {
            turns: usage.turns + 1,
            ..usage
        })?;
        self.take_lease(&req.conversation)?;
        Ok(TurnAnswer::Granted {
            settings: Box::new(settings),
            keys: self.key_slots()?,
        })
    }

    fn add_usage(&self, report: UsageReport) -> Result<()> {
        let now = now_ms();
        let usage = self.day_usage(now)?.add(report.audio_ms, report.llm_tokens);
        self.store_usage(usage)
    }

    fn master_keys(&self) -> Option<MasterKeys> {
        let spec = self.env.secret("MASTER_KEYS").ok()?.to_string();
        MasterKeys::parse(&spec).ok()
    }

    fn url_policy(&self) -> UrlPolicy {
        match self.env.var("AURA_DEV").map(|v| v.to_string()) {
            Ok(v) if v == "1" => UrlPolicy::AllowLoopback,
            _ => UrlPolicy::HttpsOnly,
        }
    }

    async fn admin(
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
        if !exists && route != AdminRoute::PutTenant {
            return api_error(&ApiError::NoSuchTenant);
        }
        match route {
            AdminRoute::PutTenant => self.put_tenant(tenant, exists, body),
            AdminRoute::GetTenant => self.get_tenant(tenant),
            AdminRoute::AddPublishableKey => self.add_publishable_key(tenant),
            AdminRoute::RevokePublishableKey(key) => self.revoke_publishable_key(key),
            AdminRoute::SetProviderKey(slot) => self.set_provider_key(tenant, slot, body),
            AdminRoute::Rewrap => self.rewrap(tenant),
            AdminRoute::Usage => self.usage(),
        }
    }

    /// `PUT`: creates or replaces the tenant's settings, validated.
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
            &json!({"tenant": tenant.as_str()}),
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
        let key = PublishableKey::generate(tenant, random_bytes::<16>()?);
        self.sql(
            "INSERT INTO publishable_keys (key, created_ms) VALUES (?, ?)",
            vec![key.key.clone().into(), (now_ms() as f64).into()],
        )?;
        json_response(201, &json!({"publishable_key": key.key}))
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
            &aad(tenant.as_str(), &slot),
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
        let mut rewrapped = 0;
        for (name, slot) in self.key_slots()? {
            let a = aad(tenant.as_str(), &name);
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
        let (active, _) = self.active_leases("")?;
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
