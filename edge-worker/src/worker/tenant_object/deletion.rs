//! Deleting a whole tenant (`DELETE /admin/v1/tenants/{id}`): its record goes at once, its
//! conversations by the alarm ([`super::conversations`]), then the object's whole storage
//! ([`crate::tenant::erasure`] decides when).

use serde::Deserialize;
use serde_json::json;
use worker::{Response, Result, console_log};

use super::TenantObject;
use crate::tenant::api_error::ApiError;
use crate::tenant::placement::Placement;
use crate::tenant::settings::TenantId;
use crate::worker::runtime::{api_error, json_response};

/// Everything the tenant's record holds, each bounded by the tenant's own settings and
/// limits: deleted in one request. `record` keeps only what the alarm needs to finish.
const RECORD_TABLES: [&str; 6] = [
    "publishable_keys",
    "provider_keys",
    "session_leases",
    "turn_starts",
    "usage",
    "reservations",
];

impl TenantObject {
    /// Where the tenant's conversations live, kept while it is being deleted (its settings
    /// are gone by then); `None` when it is not being deleted.
    pub(super) fn deleting(&self) -> Result<Option<Placement>> {
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let rows: Vec<Row> = self
            .sql("SELECT value FROM record WHERE name = 'deleting'", vec![])?
            .to_array()?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| serde_json::from_str(&r.value).unwrap_or_default()))
    }

    /// `DELETE /admin/v1/tenants/{id}`: deletes the record now (its keys are refused from this
    /// request on, admin reads answer 404), marks every listed conversation and wakes the
    /// alarm, which deletes them and then the object's storage. Asked again while that runs,
    /// it marks again and answers the same way; once the tenant is gone, 404.
    pub(super) async fn delete_tenant(&self, tenant: &TenantId, exists: bool) -> Result<Response> {
        let placement = match self.deleting()? {
            Some(p) => p,
            None if exists => self.settings()?.map(|s| s.placement()).unwrap_or_default(),
            None => return api_error(&ApiError::NoSuchTenant),
        };
        for table in RECORD_TABLES {
            self.sql(&format!("DELETE FROM {table}"), vec![])?;
        }
        self.sql("DELETE FROM record", vec![])?;
        for (name, value) in [
            ("tenant_id", tenant.as_str().to_string()),
            ("deleting", serde_json::to_string(&placement)?),
        ] {
            self.sql(
                "INSERT INTO record (name, value) VALUES (?, ?)",
                vec![name.into(), value.into()],
            )?;
        }
        self.sql("UPDATE conversations SET erase = 1", vec![])?;
        let marked = self.marked()?;
        // Even with no conversation to delete: the alarm deletes the storage.
        self.state.storage().set_alarm(0).await?;
        console_log!(
            "{}",
            json!({"event": "admin", "action": "delete_tenant", "conversations_marked": marked})
        );
        json_response(
            202,
            &json!({"tenant": tenant.as_str(), "deleting": true, "conversations_marked": marked}),
        )
    }

    /// The alarm, once no marked conversation is left of a tenant being deleted: the object's
    /// whole storage goes (tables, alarm), as if the tenant had never been created.
    pub(super) async fn delete_storage(&self) -> Result<()> {
        self.state.storage().delete_alarm().await?;
        self.state.storage().delete_all().await?;
        self.schema_ready.set(false);
        console_log!("{}", json!({"event": "tenant_deleted"}));
        Ok(())
    }
}
