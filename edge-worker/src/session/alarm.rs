//! What the voice session object's alarm does, decided in plain Rust: a socket that has not
//! sent `session.start` (or `session.resume`) within [`START_TIMEOUT_MS`] of its upgrade is
//! closed, which frees the session slot it was admitted with; a started socket renews its
//! lease every [`LEASE_RENEW_MS`], so its slot follows it for as long as it is open and no
//! longer. With no socket left, the conversation is deleted once it is past its retention
//! (`retention_days` after its last activity, and never within its resume window). The object
//! has one alarm; [`plan`] says what is due now and when to wake next.

pub use crate::tenant::lease::LEASE_RENEW_MS;

/// How long an upgraded socket may stay silent before `session.start`.
pub const START_TIMEOUT_MS: u64 = 5_000;

/// One of the object's sockets, as its attachment records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketState {
    pub accepted_ms: u64,
    pub started: bool,
}

/// What is due, by index into the sockets given to [`plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Close it: no `session.start` in time.
    CloseUnstarted(usize),
    /// Renew its lease with the tenant's object.
    Renew(usize),
    /// Delete the conversation (history, facts, everything): it is past its retention.
    Expire,
}

/// When a conversation last active at `last_seen_ms` may be deleted: `retention_days` later,
/// and not before its resume window (`resume_window_ms`) has passed.
pub fn expires_at(last_seen_ms: u64, retention_days: u32, resume_window_ms: u64) -> u64 {
    let keep = u64::from(retention_days) * 86_400_000;
    last_seen_ms.saturating_add(keep.max(resume_window_ms))
}

/// The alarm's work and its next wake-up (`None`: no socket needs one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub due: Vec<Due>,
    pub next_ms: Option<u64>,
}

/// When to wake after a socket is accepted at `now_ms`.
pub fn after_accept(now_ms: u64) -> u64 {
    now_ms + START_TIMEOUT_MS
}

/// The alarm fired at `now_ms`; with no socket, the conversation expires at `expires_at_ms`.
pub fn plan(sockets: &[SocketState], now_ms: u64, expires_at_ms: u64) -> Plan {
    if sockets.is_empty() {
        return if now_ms >= expires_at_ms {
            Plan {
                due: vec![Due::Expire],
                next_ms: None,
            }
        } else {
            Plan {
                due: vec![],
                next_ms: Some(expires_at_ms),
            }
        };
    }
    let mut due = Vec::new();
    let mut next: Option<u64> = None;
    let mut wake_at = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
    for (i, s) in sockets.iter().enumerate() {
        if s.started {
            due.push(Due::Renew(i));
            wake_at(now_ms + LEASE_RENEW_MS);
        } else if now_ms >= s.accepted_ms + START_TIMEOUT_MS {
            due.push(Due::CloseUnstarted(i));
        } else {
            wake_at(s.accepted_ms + START_TIMEOUT_MS);
        }
    }
    Plan { due, next_ms: next }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn socket(accepted_ms: u64, started: bool) -> SocketState {
        SocketState {
            accepted_ms,
            started,
        }
    }

    #[test]
    fn a_socket_that_never_starts_is_closed_at_its_deadline_and_not_before() {
        let s = [socket(1_000, false)];
        assert_eq!(after_accept(1_000), 6_000);
        // An early wake (another socket's deadline, a retry) closes nothing.
        assert_eq!(
            plan(&s, 5_999, NEVER),
            Plan {
                due: vec![],
                next_ms: Some(6_000)
            }
        );
        assert_eq!(
            plan(&s, 6_000, NEVER),
            Plan {
                due: vec![Due::CloseUnstarted(0)],
                next_ms: None
            }
        );
    }

    #[test]
    fn a_started_socket_renews_its_lease_on_every_wake_and_keeps_the_alarm() {
        let s = [socket(1_000, true)];
        assert_eq!(
            plan(&s, 6_000, NEVER),
            Plan {
                due: vec![Due::Renew(0)],
                next_ms: Some(6_000 + LEASE_RENEW_MS)
            }
        );
        const { assert!(LEASE_RENEW_MS * 2 < crate::tenant::lease::LEASE_TTL_MS) };
    }

    #[test]
    fn a_replacing_socket_gets_its_own_deadline_beside_the_renewal() {
        let s = [socket(0, true), socket(10_000, false)];
        assert_eq!(
            plan(&s, 12_000, NEVER),
            Plan {
                due: vec![Due::Renew(0)],
                next_ms: Some(15_000)
            }
        );
    }

    const NEVER: u64 = u64::MAX;

    #[test]
    fn with_no_socket_left_the_conversation_is_deleted_after_its_retention() {
        let day = 86_400_000;
        let at = expires_at(1_000, 30, 120_000);
        assert_eq!(at, 1_000 + 30 * day);
        assert_eq!(
            plan(&[], 2_000, at),
            Plan {
                due: vec![],
                next_ms: Some(at)
            },
            "wakes then"
        );
        assert_eq!(plan(&[], at, at).due, vec![Due::Expire]);
        assert_eq!(plan(&[], at, at).next_ms, None);
        // Zero days: as soon as it can no longer be resumed, not before.
        assert_eq!(expires_at(1_000, 0, 120_000), 121_000);
        // A live socket keeps it, whatever the date.
        assert_eq!(
            plan(&[socket(0, true)], at + day, at).due,
            vec![Due::Renew(0)]
        );
        assert_eq!(expires_at(u64::MAX - 5, 30, 0), u64::MAX, "no overflow");
    }
}
