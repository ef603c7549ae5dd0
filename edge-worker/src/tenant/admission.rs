//! Session admission: whether a publishable key from a page at an origin may open (or resume)
//! a conversation, decided from the tenant's record and its live session count. The tenant's
//! Durable Object calls [`admit`] inside one storage transaction; the Worker turns the answer
//! into an HTTP error before any upgrade, or a `rate_limited` message.
//!
//! The refusals say what the caller must fix and nothing else: an unknown tenant, an unknown
//! key and a revoked key all read "invalid publishable key".

use serde::{Deserialize, Serialize};

use crate::tenant::quota::{self, Limited};
use crate::tenant::settings::TenantSettings;

/// What the Worker asks the tenant's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmitRequest {
    pub publishable_key: String,
    /// The request's `Origin` header (empty if absent).
    pub origin: String,
    pub conversation: String,
    /// A reconnect to an existing conversation (its token already checked by the Worker).
    pub resume: bool,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AdmitAnswer {
    Admitted,
    /// Refused before any upgrade with this HTTP status and message.
    Refused {
        status: u16,
        message: String,
    },
    /// Over a limit: the client gets the protocol's `rate_limited` message.
    Limited(Limited),
}

impl AdmitAnswer {
    fn refused(status: u16, message: &str) -> Self {
        Self::Refused {
            status,
            message: message.to_string(),
        }
    }
}

/// What admission needs to know about a tenant.
pub struct TenantView<'a> {
    pub settings: &'a TenantSettings,
    pub publishable_keys: &'a [String],
    /// Unexpired session leases, not counting this conversation's own.
    pub other_active_sessions: u32,
    /// Whether this conversation already holds a lease (a resume within its lease).
    pub holds_lease: bool,
}

pub const INVALID_KEY: &str = "invalid publishable key";
pub const WRONG_ORIGIN: &str = "this page's origin is not allowed for this key";
pub const DISABLED: &str = "this key's account is disabled";

/// The first check, made before the tenant's record is read or any lease is touched: whether
/// the key is one of the tenant's live keys, which the object answers with one indexed lookup.
/// A made-up or revoked key (anyone can make one up) is refused here, so it costs no read of
/// the settings and keys and no write. `None`: go on to [`admit`], which checks the rest.
pub fn precheck(key_is_live: bool) -> Option<AdmitAnswer> {
    (!key_is_live).then(|| AdmitAnswer::refused(401, INVALID_KEY))
}

/// Decides. `tenant` is `None` when no tenant has this id.
pub fn admit(tenant: Option<&TenantView<'_>>, req: &AdmitRequest) -> AdmitAnswer {
    let Some(t) = tenant else {
        return AdmitAnswer::refused(401, INVALID_KEY);
    };
    if !t.publishable_keys.iter().any(|k| k == &req.publishable_key) {
        return AdmitAnswer::refused(401, INVALID_KEY);
    }
    if !t.settings.allows_origin(&req.origin) {
        return AdmitAnswer::refused(403, WRONG_ORIGIN);
    }
    if !t.settings.enabled {
        return AdmitAnswer::refused(403, DISABLED);
    }
    if req.resume && t.holds_lease {
        return AdmitAnswer::Admitted;
    }
    match quota::admit_session(&t.settings.limits, t.other_active_sessions) {
        Ok(()) => AdmitAnswer::Admitted,
        Err(limited) => AdmitAnswer::Limited(limited),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::settings::tests::sample;

    const KEY: &str = "pk_mill-lane_abababababababababababababababab";

    fn req(key: &str, origin: &str) -> AdmitRequest {
        AdmitRequest {
            publishable_key: key.into(),
            origin: origin.into(),
            conversation: "c1".into(),
            resume: false,
        }
    }

    fn view<'a>(settings: &'a TenantSettings, keys: &'a [String], active: u32) -> TenantView<'a> {
        TenantView {
            settings,
            publishable_keys: keys,
            other_active_sessions: active,
            holds_lease: false,
        }
    }

    #[test]
    fn a_live_key_from_an_allowed_origin_is_admitted() {
        let s = sample();
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, 0);
        assert_eq!(
            admit(Some(&v), &req(KEY, "https://mill-lane.example")),
            AdmitAnswer::Admitted
        );
    }

    #[test]
    fn unknown_tenants_unknown_keys_and_revoked_keys_read_the_same() {
        let s = sample();
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, 0);
        let other = "pk_mill-lane_cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
        let expected = AdmitAnswer::refused(401, INVALID_KEY);
        assert_eq!(
            admit(None, &req(KEY, "https://mill-lane.example")),
            expected
        );
        assert_eq!(
            admit(Some(&v), &req(other, "https://mill-lane.example")),
            expected
        );
        let none: [String; 0] = [];
        let revoked = view(&s, &none, 0);
        assert_eq!(
            admit(Some(&revoked), &req(KEY, "https://mill-lane.example")),
            expected
        );
    }

    /// The cheap first check refuses exactly as the full decision does, so an unknown key
    /// reads the same whether it stopped there or not; a live key goes on.
    #[test]
    fn the_key_is_checked_first_with_the_same_answer() {
        let s = sample();
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, 0);
        let other = "pk_mill-lane_cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
        assert_eq!(
            precheck(false),
            Some(admit(Some(&v), &req(other, "https://mill-lane.example")))
        );
        assert_eq!(precheck(false), Some(admit(None, &req(KEY, ""))));
        assert_eq!(precheck(true), None);
    }

    #[test]
    fn another_origin_or_none_is_forbidden() {
        let s = sample();
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, 0);
        for origin in [
            "https://evil.example",
            "",
            "null",
            "http://mill-lane.example",
        ] {
            assert_eq!(
                admit(Some(&v), &req(KEY, origin)),
                AdmitAnswer::refused(403, WRONG_ORIGIN),
                "{origin}"
            );
        }
    }

    #[test]
    fn a_disabled_tenant_is_refused() {
        let mut s = sample();
        s.enabled = false;
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, 0);
        assert_eq!(
            admit(Some(&v), &req(KEY, "https://mill-lane.example")),
            AdmitAnswer::refused(403, DISABLED)
        );
    }

    #[test]
    fn sessions_beyond_the_limit_are_rate_limited_but_a_resume_keeps_its_slot() {
        let mut s = sample();
        s.limits.concurrent_sessions = 2;
        let keys = [KEY.to_string()];
        let full = view(&s, &keys, 2);
        let AdmitAnswer::Limited(l) = admit(Some(&full), &req(KEY, "https://mill-lane.example"))
        else {
            panic!("not limited")
        };
        assert_eq!(l.limit, "concurrent_sessions");
        let mut resume = req(KEY, "https://mill-lane.example");
        resume.resume = true;
        let holding = TenantView {
            holds_lease: true,
            ..view(&s, &keys, 2)
        };
        assert_eq!(admit(Some(&holding), &resume), AdmitAnswer::Admitted);
        // A resume whose lease lapsed competes like a new session.
        assert!(matches!(
            admit(Some(&full), &resume),
            AdmitAnswer::Limited(_)
        ));
    }
}
