//! The tenant object's list of its conversations, and the deletion of all of them
//! ([`crate::tenant::erasure`] decides the batches).

use serde::Deserialize;
use serde_json::json;
use worker::{Response, Result, console_log};

use super::{CountRow, TenantObject};
use crate::tenant::erasure;
use crate::tenant::rpc::IndexAnswer;
use crate::tenant::settings::TenantId;
use crate::worker::entry::delete_conversation_object;
use crate::worker::runtime::{json_response, now_ms};

impl TenantObject {
    /// Lists `conversation` (admitted, or active at a turn) as last active `now`, keeping its
    /// mark if it is being deleted; forgets those its own retention has deleted by now.
    pub(super) fn note_conversation(
        &self,
        conversation: &str,
        retention_days: u32,
        now: u64,
    ) -> Result<()> {
        self.sql(
            "INSERT INTO conversations (id, last_ms, erase) VALUES (?, ?, 0) ON CONFLICT(id) DO UPDATE SET last_ms = excluded.last_ms",
            vec![conversation.into(), (now as f64).into()],
        )?;
        self.sql(
            "DELETE FROM conversations WHERE last_ms < ? AND erase = 0",
            vec![(erasure::forget_before(now, retention_days) as f64).into()],
        )?;
        Ok(())
    }

    /// `POST /index`: lists a conversation this object did not know (from before it listed
    /// them) as active now; marked at once if the tenant is being deleted.
    pub(super) async fn index_conversation(&self, conversation: &str) -> Result<IndexAnswer> {
        if self.deleting()?.is_some() {
            self.sql(
                "INSERT INTO conversations (id, last_ms, erase) VALUES (?, ?, 1) ON CONFLICT(id) DO UPDATE SET erase = 1",
                vec![conversation.into(), (now_ms() as f64).into()],
            )?;
            self.state.storage().set_alarm(0).await?;
            return Ok(IndexAnswer::Marked);
        }
        let Some(settings) = self.settings()? else {
            return Ok(IndexAnswer::NoTenant);
        };
        self.note_conversation(conversation, settings.retention_days, now_ms())?;
        Ok(IndexAnswer::Listed)
    }

    /// `DELETE .../conversations`: marks every listed conversation for deletion and wakes the
    /// alarm, which deletes them a batch at a time. Answers how many were marked (202).
    pub(super) async fn mark_all_conversations(&self, tenant: &TenantId) -> Result<Response> {
        self.sql("UPDATE conversations SET erase = 1", vec![])?;
        // The alarm has no request to say whose object this is.
        self.sql(
            "INSERT OR REPLACE INTO record (name, value) VALUES ('tenant_id', ?)",
            vec![tenant.as_str().into()],
        )?;
        let marked = self.marked()?;
        if marked > 0 {
            self.state.storage().set_alarm(0).await?;
        }
        console_log!(
            "{}",
            json!({"event": "admin", "action": "delete_conversations", "marked": marked})
        );
        json_response(202, &json!({"conversations_marked": marked}))
    }

    pub(super) fn marked(&self) -> Result<usize> {
        let row: CountRow = self
            .sql(
                "SELECT COUNT(*) AS n FROM conversations WHERE erase = 1",
                vec![],
            )?
            .one()?;
        Ok(row.n as usize)
    }

    /// The alarm: deletes the next batch of marked conversations, and runs again while any
    /// is left.
    pub(super) async fn delete_marked_conversations(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Value {
            value: String,
        }
        let rows: Vec<Value> = self
            .sql("SELECT value FROM record WHERE name = 'tenant_id'", vec![])?
            .to_array()?;
        let Some(tenant) = rows
            .into_iter()
            .next()
            .and_then(|r| TenantId::parse(&r.value).ok())
        else {
            return Ok(());
        };
        let tenant = &tenant;
        let step = erasure::step(self.marked()?, now_ms());
        #[derive(Deserialize)]
        struct Row {
            id: String,
        }
        let batch: Vec<Row> = self
            .sql(
                "SELECT id FROM conversations WHERE erase = 1 LIMIT ?",
                vec![(step.delete as f64).into()],
            )?
            .to_array()?;
        let deleting = self.deleting()?;
        let placement = match deleting {
            Some(p) => p,
            None => self.settings()?.map(|s| s.placement()).unwrap_or_default(),
        };
        let mut deleted = 0;
        for row in batch {
            let answer = delete_conversation_object(&self.env, placement, tenant, &row.id).await;
            if answer.is_ok_and(|r| r.status_code() == 200) {
                self.sql(
                    "DELETE FROM conversations WHERE id = ? AND erase = 1",
                    vec![row.id.into()],
                )?;
                deleted += 1;
            }
        }
        let left = self.marked()?;
        console_log!(
            "{}",
            json!({"event": "conversations_deleted", "left": left})
        );
        match erasure::after_batch(step, deleted, left, deleting.is_some(), now_ms()) {
            erasure::AfterBatch::Again(at) => {
                self.state
                    .storage()
                    .set_alarm(at.saturating_sub(now_ms()) as i64)
                    .await?;
            }
            erasure::AfterBatch::DeleteTenant => self.delete_storage().await?,
            erasure::AfterBatch::Done => {}
        }
        Ok(())
    }
}
