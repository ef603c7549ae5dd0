//! The field checks that a tenant's settings and its tools share: the error that names a
//! field (never its value), the bounds on what an admin may store, and the URL policy for
//! provider and webhook addresses.

use url::Url;

use crate::tenant::host_policy::{HostClass, classify};

/// Bounds on what an admin may store, so a tenant record stays small and fast to read.
pub mod bounds {
    pub const TENANT_ID_MAX: usize = 40;
    pub const NAME_MAX: usize = 100;
    pub const ORIGINS_MAX: usize = 20;
    pub const URL_MAX: usize = 300;
    pub const MODEL_MAX: usize = 100;
    pub const LLM_ROUTES_MAX: usize = 4;
    pub const SYSTEM_PROMPT_MAX: usize = 8_000;
    pub const PROVIDER_KEY_MAX: usize = 500;
    /// Whisper reads at most 224 tokens of a prompt.
    pub const STT_PROMPT_MAX: usize = 600;
    pub const PUBLISHABLE_KEYS_MAX: usize = 10;
}

/// Why a tenant record or a request about one was refused. The text names the field only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("`{0}` is missing or empty")]
    Missing(&'static str),
    #[error("`{0}` is too long")]
    TooLong(&'static str),
    #[error("`{0}` has too many entries")]
    TooMany(&'static str),
    #[error("`{0}` is not valid: {1}")]
    Invalid(&'static str, &'static str),
}

/// Whether provider and webhook URLs may point at this machine (`http://127.0.0.1`,
/// `localhost`): only in local development (the `AURA_DEV` var). Private, reserved and
/// internal hosts are refused under both (see [`crate::tenant::host_policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    HttpsOnly,
    AllowLoopback,
}

pub(crate) fn text(field: &'static str, value: &str, max: usize) -> Result<(), TenantError> {
    if value.trim().is_empty() {
        Err(TenantError::Missing(field))
    } else if value.len() > max {
        Err(TenantError::TooLong(field))
    } else {
        Ok(())
    }
}

/// A provider or webhook base URL: https to a public host (or http and https to this machine
/// in local development), no credentials, query or fragment. The host is checked as the URL
/// parser normalised it (see [`crate::tenant::host_policy`]): no private, reserved or internal host.
pub(crate) fn provider_url(
    field: &'static str,
    value: &str,
    policy: UrlPolicy,
) -> Result<(), TenantError> {
    text(field, value, bounds::URL_MAX)?;
    let url = Url::parse(value).map_err(|_| TenantError::Invalid(field, "not a URL"))?;
    let https = url.scheme() == "https";
    if !https && url.scheme() != "http" {
        return Err(TenantError::Invalid(field, "must be an https URL"));
    }
    let Some(host) = url.host() else {
        return Err(TenantError::Invalid(field, "must be an https URL"));
    };
    match (classify(&host), policy) {
        (HostClass::Loopback, UrlPolicy::AllowLoopback) => {}
        (HostClass::Loopback, UrlPolicy::HttpsOnly) => {
            return Err(TenantError::Invalid(
                field,
                "this machine is allowed only in local development",
            ));
        }
        (HostClass::Refused(why), _) => return Err(TenantError::Invalid(field, why)),
        (HostClass::Public, _) if https => {}
        (HostClass::Public, _) => return Err(TenantError::Invalid(field, "must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TenantError::Invalid(field, "must not hold credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(TenantError::Invalid(
            field,
            "must not have a query or fragment",
        ));
    }
    Ok(())
}
