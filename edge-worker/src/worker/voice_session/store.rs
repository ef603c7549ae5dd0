//! The conversation's storage: the Durable Object's SQLite as a type. The history (`messages`)
//! and a few typed facts about the conversation (`meta`); whose conversation it is is read once
//! and kept.

use std::cell::RefCell;

use serde::Deserialize;
use worker::{Result, SqlStorage};

use crate::session::conversation::{HISTORY_KEPT, Message, Role};
use crate::tenant::settings::TenantId;

/// What the conversation keeps besides its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Meta {
    /// The tenant and the conversation id, set by the first admitted connection.
    Tenant,
    Conversation,
    /// The page's language and voice, from `session.start`.
    Language,
    Voice,
    /// When the current session token expires, Unix s.
    TokenExpiresS,
    /// The tenant's `retention_days`, from the latest grant.
    RetentionDays,
    /// The latest session token's generation ([`crate::session::token::Claims::generation`]).
    TokenGeneration,
    /// The last activity, Unix ms (for the resume window).
    LastSeenMs,
    /// The connection the conversation lives on: the one that started it or took it over last.
    LiveConnection,
    /// The last reply's id: reply ids keep increasing across hibernation and reconnects.
    LastResponseId,
    /// The last completed reply's stored message and spoken chunks (JSON).
    LastReply,
    /// The last utterance the edge committed (`turn.committed`, v2): a resumed connection
    /// that re-sends it does not commit it twice.
    CommittedStream,
}

impl Meta {
    fn key(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Conversation => "conversation",
            Self::Language => "language",
            Self::Voice => "voice",
            Self::TokenExpiresS => "token_expires_s",
            Self::TokenGeneration => "token_generation",
            Self::RetentionDays => "retention_days",
            Self::LastSeenMs => "last_seen_ms",
            Self::LiveConnection => "live_connection",
            Self::LastResponseId => "last_response_id",
            Self::LastReply => "last_reply",
            Self::CommittedStream => "committed_stream",
        }
    }
}

pub(super) struct ConversationStore {
    sql: SqlStorage,
    identity: RefCell<Option<(TenantId, String)>>,
}

impl ConversationStore {
    pub(super) fn new(sql: SqlStorage) -> Self {
        Self {
            sql,
            identity: RefCell::new(None),
        }
    }

    /// Whether this object has a conversation's tables (reading the schema writes nothing).
    pub(super) fn exists(&self) -> Result<bool> {
        #[derive(Deserialize)]
        struct Row {
            n: f64,
        }
        let row: Row = self
            .sql
            .exec(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                None,
            )?
            .one()?;
        Ok(row.n > 0.0)
    }

    pub(super) fn ensure_schema(&self) -> Result<()> {
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT NOT NULL, content TEXT NOT NULL, at_ms INTEGER NOT NULL)",
            None,
        )?;
        self.sql.exec(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        Ok(())
    }

    pub(super) fn get(&self, key: Meta) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT value FROM meta WHERE key = ?",
                Some(vec![key.key().into()]),
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.value))
    }

    /// A number kept under `key` (0 if none or unreadable).
    pub(super) fn get_u64(&self, key: Meta) -> Result<u64> {
        Ok(self.get(key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    pub(super) fn set(&self, key: Meta, value: &str) -> Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            Some(vec![key.key().into(), value.into()]),
        )?;
        Ok(())
    }

    /// Whose conversation this is, read once.
    pub(super) fn identity(&self) -> Result<(TenantId, String)> {
        if let Some(id) = self.identity.borrow().as_ref() {
            return Ok(id.clone());
        }
        let tenant = self
            .get(Meta::Tenant)?
            .and_then(|t| TenantId::parse(&t).ok())
            .ok_or_else(|| worker::Error::RustError("conversation without tenant".into()))?;
        let conversation = self
            .get(Meta::Conversation)?
            .ok_or_else(|| worker::Error::RustError("conversation without id".into()))?;
        *self.identity.borrow_mut() = Some((tenant.clone(), conversation.clone()));
        Ok((tenant, conversation))
    }

    pub(super) fn history(&self) -> Result<Vec<Message>> {
        #[derive(Deserialize)]
        struct Row {
            role: String,
            content: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT role, content FROM messages ORDER BY seq", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Role::parse(&r.role).map(|role| Message {
                    role,
                    content: r.content,
                })
            })
            .collect())
    }

    /// Appends a message at `now_ms` and counts it as activity; keeps the last
    /// [`HISTORY_KEPT`] messages.
    pub(super) fn remember(&self, role: Role, content: &str, now_ms: u64) -> Result<()> {
        self.sql.exec(
            "INSERT INTO messages (role, content, at_ms) VALUES (?, ?, ?)",
            Some(vec![
                role.as_str().into(),
                content.into(),
                (now_ms as f64).into(),
            ]),
        )?;
        self.sql.exec(
            "DELETE FROM messages WHERE seq <= (SELECT MAX(seq) FROM messages) - ?",
            Some(vec![f64::from(HISTORY_KEPT).into()]),
        )?;
        self.set(Meta::LastSeenMs, &now_ms.to_string())
    }

    /// Forgets who this conversation was (after its storage was deleted).
    pub(super) fn forget_identity(&self) {
        *self.identity.borrow_mut() = None;
    }

    /// A new conversation on this object starts empty.
    pub(super) fn clear_history(&self) -> Result<()> {
        self.sql.exec("DELETE FROM messages", None)?;
        Ok(())
    }

    /// The newest message's sequence number (0 if none).
    pub(super) fn last_message_seq(&self) -> Result<f64> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT seq FROM messages ORDER BY seq DESC LIMIT 1", None)?
            .to_array()?;
        Ok(rows.first().map_or(0.0, |r| r.seq))
    }

    /// Replaces message `seq`'s text, or deletes the message if `text` is blank.
    pub(super) fn rewrite(&self, seq: f64, text: &str) -> Result<()> {
        if text.trim().is_empty() {
            self.sql
                .exec("DELETE FROM messages WHERE seq = ?", Some(vec![seq.into()]))?;
        } else {
            self.sql.exec(
                "UPDATE messages SET content = ? WHERE seq = ?",
                Some(vec![text.into(), seq.into()]),
            )?;
        }
        Ok(())
    }
}
