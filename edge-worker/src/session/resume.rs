//! Who may take a conversation over, decided in plain Rust.
//!
//! A connection is admitted either for a new conversation or to resume one. A resuming
//! connection holds nothing when it is accepted: no session slot (the Worker's admission checks
//! only the key, the origin and that the tenant is enabled) and no claim on the live socket.
//! Only its first message, `session.resume` with the conversation's *latest* token, can take
//! the conversation over; the host then has the tenant's object hand the conversation's lease
//! to this connection and only after that closes the socket it replaces. An older token (one
//! refreshed or resumed with since, or one of a conversation that ended, whose tokens were
//! revoked by a generation bump) takes nothing: the live socket goes on undisturbed.
//!
//! The token travels in that first message, not in the URL (a URL ends up in logs and
//! histories); the URL `token` of older clients is still accepted and checked by the Worker,
//! but what decides is the message.

use crate::session::token::{Claims, TokenError};

/// How a connection was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A new conversation, its id made up by the Worker.
    New,
    /// To resume the conversation named in the URL.
    Resume,
}

/// What the conversation's object knows when a `session.resume` arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversation<'a> {
    /// This object's conversation id.
    pub id: &'a str,
    /// The generation of the latest token handed out.
    pub latest_generation: u64,
    /// The last activity, Unix ms.
    pub last_seen_ms: u64,
    /// How long after the last activity it may be resumed, ms.
    pub resume_window_ms: u64,
    /// Another connection's takeover is in flight (waiting for the tenant's object).
    pub takeover_in_flight: bool,
}

/// Why a start or a resume is refused; the session does not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong, older or revoked token, another conversation's id, or a `session.start` on a
    /// connection admitted to resume (which would otherwise wipe the conversation).
    Unauthorized,
    /// The resume window has passed.
    Expired,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Start a new conversation on this connection.
    Start,
    /// Ask the tenant's object for the conversation's lease; once held, close the other
    /// sockets and answer `session.ready` with a new token.
    TakeOver,
    Refuse(Refusal),
}

/// `session.start` on a connection: only one admitted for a new conversation may start.
pub fn on_start(opening: Opening) -> Verdict {
    match opening {
        Opening::New => Verdict::Start,
        Opening::Resume => Verdict::Refuse(Refusal::Unauthorized),
    }
}

/// `session.resume` naming `claimed_id`, its token already checked for signature, expiry and
/// subject (`token`), at `now_ms`.
pub fn on_resume(
    conversation: &Conversation<'_>,
    claimed_id: &str,
    token: Result<Claims, TokenError>,
    now_ms: u64,
) -> Verdict {
    let latest = token.is_ok_and(|claims| {
        claims.conversation == conversation.id
            && claims.generation == conversation.latest_generation
    });
    if claimed_id != conversation.id || !latest || conversation.takeover_in_flight {
        return Verdict::Refuse(Refusal::Unauthorized);
    }
    if now_ms.saturating_sub(conversation.last_seen_ms) > conversation.resume_window_ms {
        return Verdict::Refuse(Refusal::Expired);
    }
    Verdict::TakeOver
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: u64 = 120_000;

    fn conversation(latest: u64) -> Conversation<'static> {
        Conversation {
            id: "c0ffee",
            latest_generation: latest,
            last_seen_ms: 1_000,
            resume_window_ms: WINDOW,
            takeover_in_flight: false,
        }
    }

    fn token(generation: u64) -> Result<Claims, TokenError> {
        Ok(Claims {
            tenant: "mill-lane".into(),
            conversation: "c0ffee".into(),
            expires_at_s: 10_000,
            generation,
        })
    }

    #[test]
    fn only_the_latest_token_takes_the_conversation_over() {
        let c = conversation(3);
        assert_eq!(on_resume(&c, "c0ffee", token(3), 2_000), Verdict::TakeOver);
        for older in [0, 1, 2, 4] {
            assert_eq!(
                on_resume(&c, "c0ffee", token(older), 2_000),
                Verdict::Refuse(Refusal::Unauthorized),
                "generation {older}"
            );
        }
    }

    /// `session.end` bumps the generation past every token handed out.
    #[test]
    fn no_token_resumes_a_conversation_that_ended() {
        let ended = conversation(4);
        assert_eq!(
            on_resume(&ended, "c0ffee", token(3), 2_000),
            Verdict::Refuse(Refusal::Unauthorized)
        );
    }

    #[test]
    fn a_bad_token_or_another_conversation_is_refused() {
        let c = conversation(3);
        for bad in [
            TokenError::Malformed,
            TokenError::BadSignature,
            TokenError::Expired,
            TokenError::WrongSubject,
        ] {
            assert_eq!(
                on_resume(&c, "c0ffee", Err(bad), 2_000),
                Verdict::Refuse(Refusal::Unauthorized)
            );
        }
        assert_eq!(
            on_resume(&c, "other", token(3), 2_000),
            Verdict::Refuse(Refusal::Unauthorized)
        );
        let mut elsewhere = token(3).unwrap();
        elsewhere.conversation = "other".into();
        assert_eq!(
            on_resume(&c, "c0ffee", Ok(elsewhere), 2_000),
            Verdict::Refuse(Refusal::Unauthorized)
        );
    }

    #[test]
    fn past_the_window_the_latest_token_is_told_it_expired() {
        let c = conversation(3);
        assert_eq!(
            on_resume(&c, "c0ffee", token(3), 1_000 + WINDOW),
            Verdict::TakeOver
        );
        assert_eq!(
            on_resume(&c, "c0ffee", token(3), 1_001 + WINDOW),
            Verdict::Refuse(Refusal::Expired)
        );
        // An older token learns nothing about the window.
        assert_eq!(
            on_resume(&c, "c0ffee", token(2), 1_001 + WINDOW),
            Verdict::Refuse(Refusal::Unauthorized)
        );
    }

    /// Two connections with the same latest token: the first to ask takes it over, the other
    /// is refused while that takeover waits for the tenant's object.
    #[test]
    fn one_takeover_at_a_time() {
        let busy = Conversation {
            takeover_in_flight: true,
            ..conversation(3)
        };
        assert_eq!(
            on_resume(&busy, "c0ffee", token(3), 2_000),
            Verdict::Refuse(Refusal::Unauthorized)
        );
    }

    /// A connection admitted to resume cannot start afresh: that would wipe the conversation
    /// with no token at all.
    #[test]
    fn a_resuming_connection_cannot_start_a_new_conversation() {
        assert_eq!(on_start(Opening::New), Verdict::Start);
        assert_eq!(
            on_start(Opening::Resume),
            Verdict::Refuse(Refusal::Unauthorized)
        );
    }
}
