//! Session admission: whether a publishable key from a page at an origin may open (or resume)
//! a conversation, decided from the tenant's record and its session leases ([`lease`]). The tenant's
//! Durable Object calls [`admit`] inside one storage transaction; the Worker turns the answer
//! into an HTTP error before any upgrade, or a `rate_limited` message.
//!
//! The refusals say what the caller must fix and nothing else: an unknown tenant, an unknown
//! key and a revoked key all read "invalid publishable key".

use serde::{Deserialize, Serialize};

use crate::tenant::lease::{self, Holder, Lease, LeaseDecision, Purpose};
use crate::tenant::placement::Placement;
use crate::tenant::quota::Limited;
use crate::tenant::settings::TenantSettings;

/// What the Worker asks the tenant's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmitRequest {
    pub publishable_key: String,
    /// The request's `Origin` header (empty if absent).
    pub origin: String,
    pub conversation: String,
    /// A reconnect to an existing conversation: admitted without a lease, which only its
    /// `session.resume` with the latest token takes over ([`crate::session::resume`]).
    pub resume: bool,
    /// The new socket's id, made up by the Worker; the lease is this connection's.
    pub connection: String,
    /// The client's tag (keyed hash of its IP address as Cloudflare reports it).
    pub client: String,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AdmitAnswer {
    /// Admitted; the conversation's object is placed as the tenant says.
    Admitted(Placement),
    /// Refused before any upgrade with this HTTP status and message.
    Refused { status: u16, message: String },
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
    /// The tenant's unexpired session leases.
    pub leases: &'a [Lease],
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

/// Decides. `tenant` is `None` when no tenant has this id. Admitted: the lease to write, none
/// for a resume (the caller answers [`AdmitAnswer::Admitted`]); otherwise the answer to give.
/// A resume takes nothing here: the conversation's lease stays with its live socket until the
/// new connection proves it holds the latest token, and is then taken over
/// ([`Purpose::TakeOver`]).
pub fn admit(
    tenant: Option<&TenantView<'_>>,
    req: &AdmitRequest,
    now_ms: u64,
) -> Result<Option<Lease>, AdmitAnswer> {
    let Some(t) = tenant else {
        return Err(AdmitAnswer::refused(401, INVALID_KEY));
    };
    if !t.publishable_keys.iter().any(|k| k == &req.publishable_key) {
        return Err(AdmitAnswer::refused(401, INVALID_KEY));
    }
    if !t.settings.allows_origin(&req.origin) {
        return Err(AdmitAnswer::refused(403, WRONG_ORIGIN));
    }
    if !t.settings.enabled {
        return Err(AdmitAnswer::refused(403, DISABLED));
    }
    if req.resume {
        return Ok(None);
    }
    let who = Holder {
        conversation: &req.conversation,
        connection: &req.connection,
        client: &req.client,
    };
    match lease::decide(&t.settings.limits, t.leases, who, Purpose::Admit, now_ms) {
        LeaseDecision::Hold(lease) => Ok(Some(lease)),
        LeaseDecision::Refuse(limited) => Err(AdmitAnswer::Limited(limited)),
        // Only a turn or a renewal can find its lease taken over or gone.
        LeaseDecision::Replaced | LeaseDecision::Lost => Err(AdmitAnswer::refused(
            409,
            "this conversation moved to another connection",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::settings::tests::sample;

    const KEY: &str = "pk_mill-lane_abababababababababababababababab";
    const SITE: &str = "https://mill-lane.example";

    fn req(key: &str, origin: &str) -> AdmitRequest {
        AdmitRequest {
            publishable_key: key.into(),
            origin: origin.into(),
            conversation: "c1".into(),
            resume: false,
            connection: "n1".into(),
            client: "k1".into(),
        }
    }

    fn view<'a>(
        settings: &'a TenantSettings,
        keys: &'a [String],
        leases: &'a [Lease],
    ) -> TenantView<'a> {
        TenantView {
            settings,
            publishable_keys: keys,
            leases,
        }
    }

    fn answer(t: Option<&TenantView<'_>>, r: &AdmitRequest) -> AdmitAnswer {
        match admit(t, r, 0) {
            Ok(_) => AdmitAnswer::Admitted(Placement::default()),
            Err(a) => a,
        }
    }

    fn lease(conversation: &str, client: &str) -> Lease {
        Lease {
            conversation: conversation.into(),
            connection: format!("{conversation}-n"),
            client: client.into(),
            expires_ms: lease::LEASE_TTL_MS,
        }
    }

    #[test]
    fn a_live_key_from_an_allowed_origin_is_admitted_with_its_connections_lease() {
        let s = sample();
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, &[]);
        let taken = admit(Some(&v), &req(KEY, SITE), 7).unwrap().unwrap();
        assert_eq!(
            (
                taken.conversation.as_str(),
                taken.connection.as_str(),
                taken.client.as_str()
            ),
            ("c1", "n1", "k1")
        );
        assert_eq!(taken.expires_ms, 7 + lease::LEASE_TTL_MS);
    }

    #[test]
    fn unknown_tenants_unknown_keys_and_revoked_keys_read_the_same() {
        let s = sample();
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, &[]);
        let other = "pk_mill-lane_cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
        let expected = AdmitAnswer::refused(401, INVALID_KEY);
        assert_eq!(answer(None, &req(KEY, SITE)), expected);
        assert_eq!(answer(Some(&v), &req(other, SITE)), expected);
        let none: [String; 0] = [];
        let revoked = view(&s, &none, &[]);
        assert_eq!(answer(Some(&revoked), &req(KEY, SITE)), expected);
    }

    /// The cheap first check refuses exactly as the full decision does, so an unknown key
    /// reads the same whether it stopped there or not; a live key goes on.
    #[test]
    fn the_key_is_checked_first_with_the_same_answer() {
        let s = sample();
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, &[]);
        let other = "pk_mill-lane_cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
        assert_eq!(precheck(false), Some(answer(Some(&v), &req(other, SITE))));
        assert_eq!(precheck(false), Some(answer(None, &req(KEY, ""))));
        assert_eq!(precheck(true), None);
    }

    #[test]
    fn another_origin_or_none_is_forbidden() {
        let s = sample();
        let keys = [KEY.to_string()];
        let v = view(&s, &keys, &[]);
        for origin in [
            "https://evil.example",
            "",
            "null",
            "http://mill-lane.example",
        ] {
            assert_eq!(
                answer(Some(&v), &req(KEY, origin)),
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
        let v = view(&s, &keys, &[]);
        assert_eq!(
            answer(Some(&v), &req(KEY, SITE)),
            AdmitAnswer::refused(403, DISABLED)
        );
    }

    /// A resume is admitted at the limit and takes no slot and no lease: the live socket's
    /// lease stays its own until the new connection's `session.resume` proves the latest token.
    #[test]
    fn sessions_beyond_the_limit_are_rate_limited_but_a_resume_takes_nothing_yet() {
        let mut s = sample();
        s.limits.concurrent_sessions = 2;
        let keys = [KEY.to_string()];
        let held = [lease("a", "k2"), lease("b", "k3")];
        let full = view(&s, &keys, &held);
        let AdmitAnswer::Limited(l) = answer(Some(&full), &req(KEY, SITE)) else {
            panic!("not limited")
        };
        assert_eq!(l.limit, "concurrent_sessions");
        let mut resume = req(KEY, SITE);
        resume.resume = true;
        for conversation in ["a", "c"] {
            resume.conversation = conversation.into();
            assert_eq!(admit(Some(&full), &resume, 0), Ok(None), "{conversation}");
        }
        // But the key, the origin and the tenant are checked as for any admission.
        resume.origin = "https://evil.example".into();
        assert_eq!(
            answer(Some(&full), &resume),
            AdmitAnswer::refused(403, WRONG_ORIGIN)
        );
    }
}
