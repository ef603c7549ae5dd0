//! What the voice session asks its tenant's object during a conversation, and the answers.
//! (Admission has its own types in [`crate::tenant::admission`].)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tenant::key_vault::KeySlot;
use crate::tenant::quota::Limited;
use crate::tenant::settings::TenantSettings;

/// A live connection of a conversation, as the tenant's object knows it (see
/// [`crate::tenant::lease`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRef {
    pub conversation: String,
    /// The socket's id, given by the Worker at admission.
    pub connection: String,
    /// The client's tag (a keyed hash of its IP address).
    pub client: String,
    /// The publishable key and page origin it was admitted with: a grant or a renewal checks
    /// them again, so a revoked key or a removed origin ends the session.
    pub publishable_key: String,
    pub origin: String,
}

/// `POST /turn`: a turn with audio or text is about to start; renews the connection's lease.
pub type TurnRequest = ConnectionRef;

/// `POST /renew`: a live socket keeps its session slot (the session object's alarm).
pub type RenewRequest = ConnectionRef;

/// The answer to [`RenewRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RenewAnswer {
    Held,
    /// The lease had lapsed and no slot is free now.
    Limited(Limited),
    /// A newer connection of the conversation holds it; this socket was replaced.
    Replaced,
    /// This connection holds no lease any more (released or lapsed).
    Lost,
    /// The tenant is gone or disabled.
    Refused,
}

/// `POST /takeover`: a connection resumed its conversation with the latest token; the
/// conversation's lease becomes this connection's (within the limits if it had lapsed).
pub type TakeOverRequest = ConnectionRef;

/// The answer to [`TakeOverRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TakeOverAnswer {
    /// The lease is this connection's now.
    Held,
    /// The lease had lapsed and no slot is free now.
    Limited(Limited),
    /// The tenant is gone or disabled, its key revoked or its origin removed.
    Refused,
}

/// The answer to [`TurnRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TurnAnswer {
    /// Go ahead with these settings and sealed provider keys (by slot).
    Granted {
        settings: Box<TenantSettings>,
        keys: BTreeMap<String, KeySlot>,
        /// What the turn holds of the day's quotas ([`crate::tenant::quota::Reservation`]),
        /// released by the usage report that names it.
        #[serde(default)]
        reservation: Option<String>,
    },
    Limited(Limited),
    /// The tenant is gone or disabled.
    Refused {
        message: String,
    },
}

/// `POST /usage`: what a finished turn used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// User speech sent to STT plus reply audio synthesised, ms.
    pub audio_ms: u64,
    /// Every LLM token spent, the speculative ones included.
    pub llm_tokens: u64,
    /// Of `llm_tokens`, those spent on speculative replies dropped unheard (v2).
    #[serde(default)]
    pub speculative_tokens: u64,
    /// Speculative replies dropped unheard.
    #[serde(default)]
    pub discarded_replies: u64,
    /// The turn's reservation, released with this report (its last).
    #[serde(default)]
    pub reservation: Option<String>,
}

/// `POST /release`: a socket closed; its session slot is free if it still held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub conversation: String,
    pub connection: String,
}

/// What a conversation's object says of itself to `GET /admin/identity` (the one-time listing
/// of conversations from before the tenant object listed them): whose it is. `null` when the
/// object stores nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationIdentity {
    pub tenant: String,
    pub conversation: String,
}

/// `POST /index` to the tenant's object: list this conversation (see [`IndexAnswer`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRequest {
    pub conversation: String,
}

/// The answer to [`IndexRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexAnswer {
    /// Listed as active now, so a deletion of the tenant's conversations reaches it.
    Listed,
    /// The tenant is being deleted: listed and marked, its alarm deletes it.
    Marked,
    /// The tenant does not exist (any more): the conversation is deleted by the Worker.
    NoTenant,
}
