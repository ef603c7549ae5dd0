//! What the voice session asks its tenant's object during a conversation, and the answers.
//! (Admission has its own types in [`crate::tenant::admission`].)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tenant::key_vault::KeySlot;
use crate::tenant::quota::Limited;
use crate::tenant::settings::TenantSettings;

/// `POST /turn`: a turn is about to start; renews the conversation's session lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnRequest {
    pub conversation: String,
}

/// The answer to [`TurnRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TurnAnswer {
    /// Go ahead with these settings and sealed provider keys (by slot).
    Granted {
        settings: Box<TenantSettings>,
        keys: BTreeMap<String, KeySlot>,
    },
    Limited(Limited),
    /// The tenant is gone or disabled.
    Refused {
        message: String,
    },
}

/// `POST /usage`: what a finished turn used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// User speech sent to STT plus reply audio synthesised, ms.
    pub audio_ms: u64,
    pub llm_tokens: u64,
}

/// `POST /release`: the conversation's socket closed; its session slot is free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub conversation: String,
}
