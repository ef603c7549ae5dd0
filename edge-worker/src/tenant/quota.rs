//! Per-tenant rate limits and daily quotas: the decisions only. The tenant's Durable Object
//! holds the counters and calls these inside one storage transaction, so concurrent requests
//! are decided one at a time (no check-then-act race).
//!
//! - concurrent sessions: leases of live connections, decided in [`crate::tenant::lease`];
//! - turns per minute, for the tenant and for each client (its share): a sliding window over the
//!   start times of the last minute's turns;
//! - audio seconds and LLM tokens per UTC day: counters that reset at midnight UTC. Audio counts
//!   both directions: the user's speech sent to STT and the reply audio synthesised.

use serde::{Deserialize, Serialize};

use crate::tenant::settings::Limits;

/// What a client is told to wait when all session slots are taken (one may free at any time).
pub const SESSION_RETRY_MS: u32 = 10_000;
const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

/// A refusal: which limit, and when trying again can succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limited {
    pub limit: String,
    pub retry_after_ms: u32,
}

impl Limited {
    pub fn new(limit: &str, retry_after_ms: u32) -> Self {
        limited(limit, retry_after_ms.into())
    }
}

/// What the client is told: `rate_limited` with the limit's name and when to try again.
impl From<Limited> for aura_protocol::ServerMessage {
    fn from(l: Limited) -> Self {
        Self::RateLimited {
            retry_after_ms: l.retry_after_ms,
            limit: l.limit,
        }
    }
}

fn limited(limit: &str, retry_after_ms: u64) -> Limited {
    Limited {
        limit: limit.to_string(),
        retry_after_ms: retry_after_ms.clamp(1, u32::MAX as u64) as u32,
    }
}

/// Today's usage (UTC day number and its counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    pub day: u64,
    pub audio_ms: u64,
    pub llm_tokens: u64,
    pub turns: u64,
    /// Of `llm_tokens`, those spent on speculative replies dropped unheard.
    #[serde(default)]
    pub speculative_tokens: u64,
    /// Speculative replies dropped unheard.
    #[serde(default)]
    pub discarded_replies: u64,
}

impl DayUsage {
    /// The usage to count against at `now_ms`: these counters if they are today's, else zero.
    pub fn today(self, now_ms: u64) -> Self {
        let day = now_ms / DAY_MS;
        if self.day == day {
            self
        } else {
            Self {
                day,
                ..Self::default()
            }
        }
    }

    /// Adds a turn's usage (after [`Self::today`]).
    pub fn add(mut self, audio_ms: u64, llm_tokens: u64) -> Self {
        self.audio_ms = self.audio_ms.saturating_add(audio_ms);
        self.llm_tokens = self.llm_tokens.saturating_add(llm_tokens);
        self
    }

    /// Adds a dropped speculative reply's tokens: spent, so counted in `llm_tokens` and its
    /// quota, and also apart.
    pub fn add_discarded(mut self, llm_tokens: u64) -> Self {
        self.llm_tokens = self.llm_tokens.saturating_add(llm_tokens);
        self.speculative_tokens = self.speculative_tokens.saturating_add(llm_tokens);
        self.discarded_replies = self.discarded_replies.saturating_add(1);
        self
    }
}

fn until_tomorrow(now_ms: u64) -> u64 {
    DAY_MS - now_ms % DAY_MS
}

/// A turn started in the last minute, and for which client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnStart {
    pub at_ms: u64,
    pub client: String,
}

/// Whether a sliding minute over `starts` has room under `limit`; if not, when a slot frees
/// (when the oldest start in the window leaves it).
fn minute_window(limit: u32, starts: &[u64], now_ms: u64) -> Result<(), u64> {
    let window_start = now_ms.saturating_sub(MINUTE_MS);
    let in_window: Vec<u64> = starts
        .iter()
        .copied()
        .filter(|&t| t > window_start)
        .collect();
    if in_window.len() as u64 >= u64::from(limit) {
        let oldest = in_window.iter().min().copied().unwrap_or(now_ms);
        return Err(oldest + MINUTE_MS - now_ms);
    }
    Ok(())
}

/// What a granted turn holds of the day's quotas until its usage is reported (then released),
/// so turns running at once cannot each pass the check on the same remainder and together
/// overshoot it. A turn that never reports (its object died) holds it for
/// [`RESERVATION_TTL_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub tokens: u64,
    pub audio_ms: u64,
    pub at_ms: u64,
}

/// How long a reservation holds without a report: longer than any turn.
pub const RESERVATION_TTL_MS: u64 = 5 * MINUTE_MS;
/// A reply's completion, on top of the context it is sent, in tokens.
const REPLY_TOKENS: u64 = 600;
/// A turn's audio: its utterance (30 s at most) and its spoken reply.
const TURN_AUDIO_MS: u64 = 60_000;

impl Reservation {
    /// A turn's reservation at `now_ms`: a full context of `context_tokens` and a reply, and a
    /// turn's audio, each no more than what today's usage and the live reservations leave.
    pub fn for_turn(
        limits: &Limits,
        usage: DayUsage,
        live: &[Reservation],
        context_tokens: u64,
        now_ms: u64,
    ) -> Self {
        let (tokens, audio_ms) = committed(usage.today(now_ms), live, now_ms);
        let left_tokens = (limits.llm_tokens_per_day as u64).saturating_sub(tokens);
        let left_audio = (limits.audio_seconds_per_day as u64 * 1000).saturating_sub(audio_ms);
        Self {
            tokens: (context_tokens + REPLY_TOKENS).min(left_tokens),
            audio_ms: TURN_AUDIO_MS.min(left_audio),
            at_ms: now_ms,
        }
    }

    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.at_ms + RESERVATION_TTL_MS
    }
}

/// Today's usage plus what live reservations hold: (tokens, audio ms).
fn committed(usage: DayUsage, live: &[Reservation], now_ms: u64) -> (u64, u64) {
    live.iter()
        .filter(|r| r.is_live(now_ms))
        .fold((usage.llm_tokens, usage.audio_ms), |(t, a), r| {
            (t.saturating_add(r.tokens), a.saturating_add(r.audio_ms))
        })
}

/// A new turn for `client`, given the tenant's turn starts in the last minute (any order),
/// today's usage and the reservations of turns still running.
pub fn admit_turn(
    limits: &Limits,
    recent: &[TurnStart],
    client: &str,
    usage: DayUsage,
    live: &[Reservation],
    now_ms: u64,
) -> Result<(), Limited> {
    let all: Vec<u64> = recent.iter().map(|t| t.at_ms).collect();
    minute_window(limits.turns_per_minute, &all, now_ms)
        .map_err(|retry| limited("turns_per_minute", retry))?;
    let mine: Vec<u64> = recent
        .iter()
        .filter(|t| t.client == client)
        .map(|t| t.at_ms)
        .collect();
    minute_window(limits.turns_per_minute_per_client(), &mine, now_ms)
        .map_err(|retry| limited("turns_per_minute_per_client", retry))?;
    let (tokens, audio_ms) = committed(usage.today(now_ms), live, now_ms);
    if audio_ms >= limits.audio_seconds_per_day as u64 * 1000 {
        return Err(limited("audio_seconds_per_day", until_tomorrow(now_ms)));
    }
    if tokens >= limits.llm_tokens_per_day as u64 {
        return Err(limited("llm_tokens_per_day", until_tomorrow(now_ms)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            concurrent_sessions: 2,
            turns_per_minute: 3,
            audio_seconds_per_day: 10,
            llm_tokens_per_day: 100,
            ..Limits::default()
        }
    }

    fn starts(at: &[u64], client: &str) -> Vec<TurnStart> {
        at.iter()
            .map(|&at_ms| TurnStart {
                at_ms,
                client: client.into(),
            })
            .collect()
    }

    fn admit(recent: &[TurnStart], client: &str, usage: DayUsage, now: u64) -> Result<(), Limited> {
        let l = Limits {
            turns_per_minute_per_client: Some(3),
            ..limits()
        };
        admit_turn(&l, recent, client, usage, &[], now)
    }

    #[test]
    fn turns_per_minute_slide_and_say_when_to_retry() {
        let now = 1_000_000;
        let recent = starts(&[now - 50_000, now - 10_000, now - 5_000], "a");
        let refused = admit(&recent, "b", DayUsage::default(), now).unwrap_err();
        assert_eq!(refused.limit, "turns_per_minute");
        assert_eq!(refused.retry_after_ms, 10_000, "the oldest leaves in 10 s");
        // Ten seconds later the oldest has left the window.
        assert!(admit(&recent, "b", DayUsage::default(), now + 10_000).is_ok());
        // Turns older than a minute do not count.
        let old = starts(&[now - 70_000, now - 61_000, now - 60_000], "a");
        assert!(admit(&old, "a", DayUsage::default(), now).is_ok());
    }

    #[test]
    fn one_client_takes_only_its_share_of_the_turns() {
        let now = 1_000_000;
        let l = Limits {
            turns_per_minute: 8,
            ..limits()
        };
        assert_eq!(l.turns_per_minute_per_client(), 2, "a quarter by default");
        let recent = starts(&[now - 30_000, now - 20_000], "a");
        let refused = admit_turn(&l, &recent, "a", DayUsage::default(), &[], now).unwrap_err();
        assert_eq!(refused.limit, "turns_per_minute_per_client");
        assert_eq!(refused.retry_after_ms, 30_000);
        assert!(admit_turn(&l, &recent, "b", DayUsage::default(), &[], now).is_ok());
    }

    #[test]
    fn daily_quotas_reset_at_midnight_utc() {
        let day = 20_000;
        let now = day * DAY_MS + 3_600_000; // 01:00 UTC
        let used = DayUsage {
            day,
            audio_ms: 10_000,
            llm_tokens: 0,
            turns: 4,
            ..DayUsage::default()
        };
        let refused = admit(&[], "a", used, now).unwrap_err();
        assert_eq!(refused.limit, "audio_seconds_per_day");
        assert_eq!(refused.retry_after_ms as u64, 23 * 3_600_000);
        let tokens = DayUsage {
            day,
            audio_ms: 0,
            llm_tokens: 100,
            turns: 1,
            ..DayUsage::default()
        };
        assert_eq!(
            admit(&[], "a", tokens, now).unwrap_err().limit,
            "llm_tokens_per_day"
        );
        // Yesterday's counters do not count today.
        assert!(admit(&[], "a", used, now + DAY_MS).is_ok());
        assert_eq!(used.today(now + DAY_MS).audio_ms, 0);
    }

    #[test]
    fn usage_adds_without_overflow() {
        let u = DayUsage::default().add(u64::MAX, 5).add(1, 5);
        assert_eq!((u.audio_ms, u.llm_tokens), (u64::MAX, 10));
    }

    #[test]
    fn a_dropped_speculative_reply_counts_in_the_tokens_and_apart() {
        let u = DayUsage::default().add(1_000, 50).add_discarded(30);
        assert_eq!(
            (u.llm_tokens, u.speculative_tokens, u.discarded_replies),
            (80, 30, 1)
        );
        assert_eq!(u.audio_ms, 1_000);
    }

    /// Turns granted at once each hold a reservation: the next is refused once usage and the
    /// live reservations reach the quota, and a reservation that was never released lapses.
    #[test]
    fn running_turns_reserve_so_together_they_cannot_overshoot() {
        let l = Limits {
            llm_tokens_per_day: 3_000,
            audio_seconds_per_day: 600,
            ..limits()
        };
        let now = 5 * DAY_MS;
        let usage = DayUsage {
            day: 5,
            llm_tokens: 500,
            ..DayUsage::default()
        };
        let mut live = Vec::new();
        let mut granted = 0;
        while admit_turn(&l, &[], "a", usage, &live, now).is_ok() {
            live.push(Reservation::for_turn(&l, usage, &live, 1_000, now));
            granted += 1;
            assert!(granted < 10);
        }
        // 2 500 tokens left, 1 600 per turn: the second gets only the last 900.
        assert_eq!(granted, 2);
        assert_eq!(live[1].tokens, 900);
        let refused = admit_turn(&l, &[], "a", usage, &live, now).unwrap_err();
        assert_eq!(refused.limit, "llm_tokens_per_day");
        // Never released: after its time it no longer holds anything.
        assert!(admit_turn(&l, &[], "a", usage, &live, now + RESERVATION_TTL_MS).is_ok());
        // Audio is held the same way.
        let one_turn = Limits {
            audio_seconds_per_day: 60,
            ..l
        };
        let held = [Reservation::for_turn(
            &one_turn,
            DayUsage::default(),
            &[],
            0,
            now,
        )];
        assert_eq!(held[0].audio_ms, 60_000);
        assert_eq!(
            admit_turn(&one_turn, &[], "a", DayUsage::default(), &held, now)
                .unwrap_err()
                .limit,
            "audio_seconds_per_day"
        );
    }
}
