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

use std::cell::Cell;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

use crate::tenant::admission::{AdmitAnswer, AdmitRequest, admit};
use crate::tenant::api_error::ApiError;
use crate::tenant::key_vault::{KeySlot, MasterKeys};
use crate::tenant::placement::Placement;
use crate::tenant::rpc::{
    IndexAnswer, IndexRequest, ReleaseRequest, RenewAnswer, RenewRequest, TakeOverAnswer,
    TakeOverRequest, TurnAnswer, TurnRequest, UsageReport,
};
use crate::tenant::settings::{TenantId, TenantSettings, UrlPolicy};
use crate::worker::runtime::{api_error, json_response, now_ms};

mod admin;
mod conversations;
mod counters;
mod deletion;

/// The header by which the Worker tells the object which tenant it is (its name).
pub(crate) const TENANT_HEADER: &str = "x-aura-tenant";

#[durable_object]
pub struct TenantObject {
    state: State,
    env: Env,
    /// Whether this object's tables are known to be in their current shape.
    schema_ready: Cell<bool>,
}

impl DurableObject for TenantObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            schema_ready: Cell::new(false),
        }
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
        // Only the admin API's `PUT` creates a tenant's storage: a request naming a tenant that
        // does not exist (anyone can make up a publishable key; an admin reads a deleted
        // tenant) reads and writes nothing.
        if self.schema_ready.get() || self.has_schema()? || creates_tenant(&method, &path) {
            self.ensure_schema()?;
        } else if path.starts_with("/admin/") {
            return api_error(&ApiError::NoSuchTenant);
        } else {
            return match path.as_str() {
                "/admit" => {
                    let body: AdmitRequest = req.json().await?;
                    let refused = admit(None, &body, now_ms()).err();
                    json_response(
                        200,
                        &refused.unwrap_or(AdmitAnswer::Admitted(Default::default())),
                    )
                }
                "/renew" => json_response(200, &RenewAnswer::Refused),
                "/takeover" => json_response(200, &TakeOverAnswer::Refused),
                "/placement" => json_response(200, &Placement::default()),
                "/index" => json_response(200, &IndexAnswer::NoTenant),
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
            "/placement" => {
                let placement = self.settings()?.map(|s| s.placement());
                json_response(200, &placement.unwrap_or_default())
            }
            "/turn" => {
                let body: TurnRequest = req.json().await?;
                json_response(200, &self.turn(&body)?)
            }
            "/index" => {
                let body: IndexRequest = req.json().await?;
                json_response(200, &self.index_conversation(&body.conversation).await?)
            }
            "/usage" => {
                let body: UsageReport = req.json().await?;
                self.add_usage(body)?;
                json_response(200, &json!({}))
            }
            "/renew" => {
                let body: RenewRequest = req.json().await?;
                json_response(200, &self.renew(&body)?)
            }
            "/takeover" => {
                let body: TakeOverRequest = req.json().await?;
                json_response(200, &self.take_over(&body)?)
            }
            "/release" => {
                let body: ReleaseRequest = req.json().await?;
                self.release(&body)?;
                json_response(200, &json!({}))
            }
            p if p.starts_with("/admin/") => {
                let body = req.text().await?;
                self.admin(&tenant, &method, p, &body).await
            }
            _ => api_error(&ApiError::NotFound),
        }
    }

    /// The alarm: only the deletion of all conversations, or of the tenant, sets one.
    async fn alarm(&self) -> Result<Response> {
        if self.has_schema()? {
            self.ensure_schema()?;
            self.delete_marked_conversations().await?;
        }
        Response::ok("")
    }
}

/// Whether an admin request creates the tenant (`PUT /admin/v1/tenants/{id}`).
fn creates_tenant(method: &str, path: &str) -> bool {
    matches!(
        crate::tenant::admin_api::admin_route(method, path),
        Ok((_, crate::tenant::admin_api::AdminRoute::PutTenant))
    )
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

    /// Creates the tables, and brings an older object's into their current shape: the leases
    /// and turn starts of before they named a connection and a client are dropped (they lapse
    /// within minutes anyway).
    fn ensure_schema(&self) -> Result<()> {
        if self.schema_ready.get() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        for stmt in [
            "CREATE TABLE IF NOT EXISTS record (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS publishable_keys (key TEXT PRIMARY KEY, created_ms INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS provider_keys (slot TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "DROP TABLE IF EXISTS leases",
            "DROP TABLE IF EXISTS turns",
            "CREATE TABLE IF NOT EXISTS session_leases (conversation TEXT PRIMARY KEY, connection TEXT NOT NULL, client TEXT NOT NULL, expires_ms INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS turn_starts (at_ms INTEGER NOT NULL, client TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS usage (day INTEGER PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, last_ms INTEGER NOT NULL, erase INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX IF NOT EXISTS conversations_by_last ON conversations (last_ms)",
            "CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, tokens INTEGER NOT NULL, audio_ms INTEGER NOT NULL, at_ms INTEGER NOT NULL)",
        ] {
            sql.exec(stmt, None)?;
        }
        self.schema_ready.set(true);
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
}
