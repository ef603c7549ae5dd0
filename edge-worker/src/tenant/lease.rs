//! Session leases: which live connection holds each of a tenant's session slots, decided in
//! plain Rust. The tenant's object keeps the leases in SQLite and calls [`decide`] with no
//! await between reading and writing them, so two requests never take the same slot.
//!
//! A lease belongs to one *connection* of a conversation, not to the conversation: a reconnect
//! that proved it holds the conversation's latest token ([`crate::session::resume`]) takes the
//! conversation's lease over, and the replaced socket's close then releases nothing
//! (it names its own connection, which no longer holds the lease). A live socket renews its
//! lease on a timer (the session object's alarm) and at every turn, so a lease lapses only when
//! its socket's object is gone. Wherever a lease is taken (admission, a turn or a renewal that
//! finds it lapsed) the tenant's limit and the client's share are checked.

use serde::{Deserialize, Serialize};

use crate::tenant::quota::{Limited, SESSION_RETRY_MS};
use crate::tenant::settings::Limits;

/// How long a lease lasts without renewal.
pub const LEASE_TTL_MS: u64 = 5 * 60 * 1000;
/// How often a live socket renews its lease (well inside [`LEASE_TTL_MS`]).
pub const LEASE_RENEW_MS: u64 = 2 * 60 * 1000;

/// One held session slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub conversation: String,
    /// The connection (one WebSocket) that holds it, named by the Worker at admission.
    pub connection: String,
    /// The client it was taken for (a keyed tag of its IP address, never the address).
    pub client: String,
    pub expires_ms: u64,
}

/// Who asks for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder<'a> {
    pub conversation: &'a str,
    pub connection: &'a str,
    pub client: &'a str,
}

/// Why a lease is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A new socket for a new conversation.
    Admit,
    /// A reconnect's `session.resume` with the latest token: takes over the conversation's
    /// lease, whichever connection held it (a resumed connection is admitted with no lease).
    TakeOver,
    /// A turn on a live socket: keeps its slot, or takes one again within the limits if its
    /// lease had lapsed (a turn proves the socket is live).
    Turn,
    /// The renewal timer: keeps the slot only if this connection still holds it (a socket
    /// that closed as the timer fired must not bring its released lease back).
    Renew,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// Write this lease (new, renewed or taken over).
    Hold(Lease),
    /// Over a limit: no slot.
    Refuse(Limited),
    /// The conversation's lease is held by a newer connection: this one was replaced.
    Replaced,
    /// A renewal found no lease (released, or lapsed): this connection has no slot.
    Lost,
}

/// Decides, given the tenant's unexpired leases.
pub fn decide(
    limits: &Limits,
    leases: &[Lease],
    who: Holder<'_>,
    purpose: Purpose,
    now_ms: u64,
) -> LeaseDecision {
    let own = leases.iter().find(|l| l.conversation == who.conversation);
    let hold = || {
        LeaseDecision::Hold(Lease {
            conversation: who.conversation.to_string(),
            connection: who.connection.to_string(),
            client: who.client.to_string(),
            expires_ms: now_ms + LEASE_TTL_MS,
        })
    };
    match (own, purpose) {
        (Some(_), Purpose::TakeOver) => return hold(),
        (Some(l), Purpose::Turn | Purpose::Renew) if l.connection == who.connection => {
            return hold();
        }
        (Some(_), Purpose::Turn | Purpose::Renew) => return LeaseDecision::Replaced,
        (None, Purpose::Renew) => return LeaseDecision::Lost,
        // A new conversation (the Worker made its id up) or a lapsed lease: check the limits.
        (Some(_), Purpose::Admit) | (None, _) => {}
    }
    let others: Vec<&Lease> = leases
        .iter()
        .filter(|l| l.conversation != who.conversation)
        .collect();
    if others.len() as u64 >= u64::from(limits.concurrent_sessions) {
        return LeaseDecision::Refuse(Limited::new("concurrent_sessions", SESSION_RETRY_MS));
    }
    let clients = others.iter().filter(|l| l.client == who.client).count();
    if clients as u64 >= u64::from(limits.sessions_per_client()) {
        return LeaseDecision::Refuse(Limited::new("sessions_per_client", SESSION_RETRY_MS));
    }
    hold()
}

/// Whether a socket's close releases `lease`: only the connection that holds it does.
pub fn releases(lease: &Lease, connection: &str) -> bool {
    lease.connection == connection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(sessions: u32, per_client: Option<u32>) -> Limits {
        Limits {
            concurrent_sessions: sessions,
            sessions_per_client: per_client,
            ..Limits::default()
        }
    }

    fn lease(conversation: &str, connection: &str, client: &str) -> Lease {
        Lease {
            conversation: conversation.into(),
            connection: connection.into(),
            client: client.into(),
            expires_ms: 1_000 + LEASE_TTL_MS,
        }
    }

    fn who<'a>(conversation: &'a str, connection: &'a str, client: &'a str) -> Holder<'a> {
        Holder {
            conversation,
            connection,
            client,
        }
    }

    const NEW: Purpose = Purpose::Admit;
    const RESUME: Purpose = Purpose::TakeOver;

    fn refused(d: LeaseDecision) -> String {
        match d {
            LeaseDecision::Refuse(l) => l.limit,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn new_sessions_take_slots_up_to_the_limit() {
        let l = limits(2, Some(2));
        let held = vec![lease("a", "a1", "x")];
        let d = decide(&l, &held, who("b", "b1", "y"), NEW, 5_000);
        assert_eq!(
            d,
            LeaseDecision::Hold(Lease {
                expires_ms: 5_000 + LEASE_TTL_MS,
                ..lease("b", "b1", "y")
            })
        );
        let full = vec![lease("a", "a1", "x"), lease("b", "b1", "y")];
        assert_eq!(
            refused(decide(&l, &full, who("c", "c1", "z"), NEW, 5_000)),
            "concurrent_sessions"
        );
        assert_eq!(
            refused(decide(&limits(0, None), &[], who("c", "c1", "z"), NEW, 0)),
            "concurrent_sessions",
            "zero means none"
        );
    }

    /// A reconnect takes over its conversation's slot without a second one, and the socket it
    /// replaced can neither renew nor release it.
    #[test]
    fn a_resume_takes_over_its_lease_and_the_replaced_socket_loses_it() {
        let l = limits(1, None);
        let held = vec![lease("a", "a1", "x")];
        let LeaseDecision::Hold(taken) = decide(&l, &held, who("a", "a2", "x"), RESUME, 9_000)
        else {
            panic!("a resume keeps its slot at the limit")
        };
        assert_eq!(taken.connection, "a2");
        let now = vec![taken.clone()];
        for purpose in [Purpose::Turn, Purpose::Renew] {
            assert_eq!(
                decide(&l, &now, who("a", "a1", "x"), purpose, 9_500),
                LeaseDecision::Replaced
            );
        }
        assert!(
            !releases(&taken, "a1"),
            "the old socket's close frees nothing"
        );
        assert!(releases(&taken, "a2"));
        assert!(matches!(
            decide(&l, &now, who("a", "a2", "x"), Purpose::Renew, 9_500),
            LeaseDecision::Hold(_)
        ));
    }

    /// A lease that lapsed is taken again only within the limits: a turn cannot bring back a
    /// slot that another session has since taken.
    #[test]
    fn a_lapsed_lease_competes_like_a_new_session() {
        let l = limits(1, None);
        let others = vec![lease("b", "b1", "y")];
        assert_eq!(
            refused(decide(&l, &others, who("a", "a1", "x"), Purpose::Turn, 0)),
            "concurrent_sessions"
        );
        assert_eq!(
            refused(decide(&l, &others, who("a", "a2", "x"), RESUME, 0)),
            "concurrent_sessions"
        );
        assert!(matches!(
            decide(&l, &[], who("a", "a1", "x"), Purpose::Turn, 0),
            LeaseDecision::Hold(_)
        ));
        // The timer never brings a lease back: a released one stays released.
        assert_eq!(
            decide(&l, &[], who("a", "a1", "x"), Purpose::Renew, 0),
            LeaseDecision::Lost
        );
    }

    #[test]
    fn one_client_takes_only_its_share() {
        // The default share: a quarter of the tenant's sessions, at least one.
        let l = limits(8, None);
        assert_eq!(l.sessions_per_client(), 2);
        let held = vec![lease("a", "a1", "x"), lease("b", "b1", "x")];
        assert_eq!(
            refused(decide(&l, &held, who("c", "c1", "x"), NEW, 0)),
            "sessions_per_client"
        );
        assert!(matches!(
            decide(&l, &held, who("c", "c1", "y"), NEW, 0),
            LeaseDecision::Hold(_)
        ));
        // Its own conversation's lease does not count against its resume.
        assert!(matches!(
            decide(&l, &held, who("a", "a2", "x"), RESUME, 0),
            LeaseDecision::Hold(_)
        ));
        assert_eq!(limits(2, None).sessions_per_client(), 1);
        assert_eq!(
            limits(2, Some(9)).sessions_per_client(),
            2,
            "never above the tenant's"
        );
    }
}
