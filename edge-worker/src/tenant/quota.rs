//! Per-tenant rate limits and daily quotas: the decisions only. The tenant's Durable Object
//! holds the counters and calls these inside one storage transaction, so concurrent requests
//! are decided one at a time (no check-then-act race).
//!
//! - concurrent sessions: leases, taken at admission, renewed by each turn, released when the
//!   socket closes; a lease not renewed for [`LEASE_TTL_MS`] lapses (a session object that died
//!   without releasing does not hold a slot forever);
//! - turns per minute: a sliding window over the start times of the last minute's turns;
//! - audio seconds and LLM tokens per UTC day: counters that reset at midnight UTC. Audio counts
//!   both directions: the user's speech sent to STT and the reply audio synthesised.

use serde::{Deserialize, Serialize};

use crate::tenant::settings::Limits;

/// How long a session lease lasts without renewal.
pub const LEASE_TTL_MS: u64 = 10 * 60 * 1000;
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

fn limited(limit: &str, retry_after_ms: u64) -> Limited {
    Limited {
        limit: limit.to_string(),
        retry_after_ms: retry_after_ms.clamp(1, u32::MAX as u64) as u32,
    }
}

/// A new session, given how many unexpired leases the tenant holds.
pub fn admit_session(limits: &Limits, active_leases: u32) -> Result<(), Limited> {
    if active_leases >= limits.concurrent_sessions {
        return Err(limited("concurrent_sessions", SESSION_RETRY_MS as u64));
    }
    Ok(())
}

/// Today's usage (UTC day number and its counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    pub day: u64,
    pub audio_ms: u64,
    pub llm_tokens: u64,
    pub turns: u64,
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
}

fn until_tomorrow(now_ms: u64) -> u64 {
    DAY_MS - now_ms % DAY_MS
}

/// A new turn, given the start times of the tenant's turns in the last minute (any order) and
/// today's usage.
pub fn admit_turn(
    limits: &Limits,
    recent_turns_ms: &[u64],
    usage: DayUsage,
    now_ms: u64,
) -> Result<(), Limited> {
    let window_start = now_ms.saturating_sub(MINUTE_MS);
    let in_window: Vec<u64> = recent_turns_ms
        .iter()
        .copied()
        .filter(|&t| t > window_start)
        .collect();
    if in_window.len() as u64 >= limits.turns_per_minute as u64 {
        // The slot frees when the oldest turn in the window leaves it.
        let oldest = in_window.iter().min().copied().unwrap_or(now_ms);
        return Err(limited("turns_per_minute", oldest + MINUTE_MS - now_ms));
    }
    let usage = usage.today(now_ms);
    if usage.audio_ms >= limits.audio_seconds_per_day as u64 * 1000 {
        return Err(limited("audio_seconds_per_day", until_tomorrow(now_ms)));
    }
    if usage.llm_tokens >= limits.llm_tokens_per_day as u64 {
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
        }
    }

    #[test]
    fn sessions_up_to_the_limit() {
        assert!(admit_session(&limits(), 0).is_ok());
        assert!(admit_session(&limits(), 1).is_ok());
        let refused = admit_session(&limits(), 2).unwrap_err();
        assert_eq!(refused.limit, "concurrent_sessions");
        assert_eq!(refused.retry_after_ms, SESSION_RETRY_MS);
        let none = Limits {
            concurrent_sessions: 0,
            ..limits()
        };
        assert!(admit_session(&none, 0).is_err(), "zero means none");
    }

    #[test]
    fn turns_per_minute_slide_and_say_when_to_retry() {
        let now = 1_000_000;
        let recent = [now - 50_000, now - 10_000, now - 5_000];
        let refused = admit_turn(&limits(), &recent, DayUsage::default(), now).unwrap_err();
        assert_eq!(refused.limit, "turns_per_minute");
        assert_eq!(refused.retry_after_ms, 10_000, "the oldest leaves in 10 s");
        // Ten seconds later the oldest has left the window.
        assert!(admit_turn(&limits(), &recent, DayUsage::default(), now + 10_000).is_ok());
        // Turns older than a minute do not count.
        let old = [now - 70_000, now - 61_000, now - 60_000];
        assert!(admit_turn(&limits(), &old, DayUsage::default(), now).is_ok());
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
        };
        let refused = admit_turn(&limits(), &[], used, now).unwrap_err();
        assert_eq!(refused.limit, "audio_seconds_per_day");
        assert_eq!(refused.retry_after_ms as u64, 23 * 3_600_000);
        let tokens = DayUsage {
            day,
            audio_ms: 0,
            llm_tokens: 100,
            turns: 1,
        };
        assert_eq!(
            admit_turn(&limits(), &[], tokens, now).unwrap_err().limit,
            "llm_tokens_per_day"
        );
        // Yesterday's counters do not count today.
        assert!(admit_turn(&limits(), &[], used, now + DAY_MS).is_ok());
        assert_eq!(used.today(now + DAY_MS).audio_ms, 0);
    }

    #[test]
    fn usage_adds_without_overflow() {
        let u = DayUsage::default().add(u64::MAX, 5).add(1, 5);
        assert_eq!((u.audio_ms, u.llm_tokens), (u64::MAX, 10));
    }
}
