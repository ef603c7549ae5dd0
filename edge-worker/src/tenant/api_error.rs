//! Every refusal that the Worker and the tenant's object answer over HTTP, typed: a status and
//! a stable code, for the body `{"error": message, "code": code}`. One mapping instead of a
//! status and a message written at each call site.

use super::admin_api::AdminError;
use super::admission::INVALID_KEY;
use super::settings::TenantError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("this endpoint takes a WebSocket upgrade")]
    UpgradeRequired,
    #[error("{INVALID_KEY}")]
    InvalidKey,
    #[error("sessions are not configured on this edge")]
    SessionsNotConfigured,
    #[error("invalid or expired session token")]
    BadSessionToken,
    #[error("unknown session")]
    UnknownSession,
    #[error("admin token required")]
    AdminTokenRequired,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A request reached a tenant's object without its tenant, or for another tenant.
    #[error("no tenant")]
    NoTenant,
    #[error("tenant mismatch")]
    TenantMismatch,
    #[error("no such tenant")]
    NoSuchTenant,
    /// The tenant's deletion has not finished: it cannot be created again yet.
    #[error("this tenant is being deleted; try again once it is gone")]
    TenantBeingDeleted,
    /// The settings are not valid JSON of the settings' shape.
    #[error("invalid settings: {0}")]
    SettingsShape(String),
    /// A field's value is refused.
    #[error("{0}")]
    Invalid(#[from] TenantError),
    #[error("too many publishable keys; revoke one first")]
    TooManyKeys,
    #[error("no such publishable key")]
    NoSuchKey,
    #[error("MASTER_KEYS is not configured")]
    MasterKeysMissing,
    #[error("PUBLISHABLE_KEY_SECRET is not configured")]
    KeySecretMissing,
    #[error("expected {{\"key\": string, \"grace_s\": number}}")]
    KeyBodyShape,
    #[error("this tenant has no such provider slot")]
    NoSuchSlot,
    /// A sealed key could not be sealed again under the current master key.
    #[error("slot {slot}: {reason}")]
    Rewrap { slot: String, reason: String },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::SettingsShape(_)
            | Self::Invalid(_)
            | Self::NoTenant
            | Self::TenantMismatch
            | Self::KeyBodyShape
            | Self::NoSuchSlot => 400,
            Self::InvalidKey | Self::BadSessionToken | Self::AdminTokenRequired => 401,
            Self::NotFound | Self::UnknownSession | Self::NoSuchTenant | Self::NoSuchKey => 404,
            Self::MethodNotAllowed => 405,
            Self::TooManyKeys | Self::Rewrap { .. } | Self::TenantBeingDeleted => 409,
            Self::BodyTooLarge => 413,
            Self::UpgradeRequired => 426,
            Self::SessionsNotConfigured | Self::MasterKeysMissing | Self::KeySecretMissing => 503,
        }
    }

    /// A stable, machine-readable name of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UpgradeRequired => "upgrade_required",
            Self::InvalidKey => "invalid_key",
            Self::SessionsNotConfigured => "sessions_not_configured",
            Self::BadSessionToken => "bad_session_token",
            Self::UnknownSession => "unknown_session",
            Self::AdminTokenRequired => "admin_token_required",
            Self::BodyTooLarge => "body_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NoTenant => "no_tenant",
            Self::TenantMismatch => "tenant_mismatch",
            Self::NoSuchTenant => "no_such_tenant",
            Self::TenantBeingDeleted => "tenant_being_deleted",
            Self::SettingsShape(_) => "invalid_settings",
            Self::Invalid(_) => "invalid_field",
            Self::TooManyKeys => "too_many_keys",
            Self::NoSuchKey => "no_such_key",
            Self::MasterKeysMissing => "master_keys_missing",
            Self::KeySecretMissing => "publishable_key_secret_missing",
            Self::KeyBodyShape => "invalid_key_body",
            Self::NoSuchSlot => "no_such_slot",
            Self::Rewrap { .. } => "rewrap_failed",
        }
    }

    /// The response body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.to_string(), "code": self.code()})
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound => Self::NotFound,
            AdminError::MethodNotAllowed => Self::MethodNotAllowed,
            AdminError::Invalid(e) => Self::Invalid(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_code_and_message() {
        assert_eq!(ApiError::InvalidKey.to_string(), INVALID_KEY);
        assert_eq!(ApiError::InvalidKey.status(), 401);
        assert_eq!(
            ApiError::KeyBodyShape.to_string(),
            r#"expected {"key": string, "grace_s": number}"#
        );
        let rewrap = ApiError::Rewrap {
            slot: "llm0".into(),
            reason: "unreadable".into(),
        };
        assert_eq!(
            (rewrap.status(), rewrap.to_string().as_str()),
            (409, "slot llm0: unreadable")
        );
        assert_eq!(ApiError::from(AdminError::MethodNotAllowed).status(), 405);
        let body = ApiError::MasterKeysMissing.body();
        assert_eq!(body["code"], "master_keys_missing");
        assert_eq!(body["error"], "MASTER_KEYS is not configured");
    }
}
