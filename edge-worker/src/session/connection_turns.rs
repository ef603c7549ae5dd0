//! One connection's own turn limit, kept in memory by its conversation's session object (and
//! not reset by a reconnect): a visitor who floods one socket with utterances or typed turns
//! is refused there, before the tenant's object is asked for anything. It sits below the client's and the tenant's limits (which the tenant's
//! object keeps exactly); it is a guard, so losing it when an idle object hibernates is fine.

use std::collections::VecDeque;

use crate::tenant::quota::Limited;

/// Turns one connection may start per minute. A person talking fast, with barge-ins, starts
/// well under one turn every three seconds.
pub const TURNS_PER_MINUTE_PER_CONNECTION: usize = 20;
const MINUTE_MS: u64 = 60_000;

/// The start times of this connection's turns in the last minute.
#[derive(Debug, Default)]
pub struct ConnectionTurns {
    starts: VecDeque<u64>,
}

impl ConnectionTurns {
    /// A new turn at `now_ms`: counted if there is room, else refused with when to retry.
    pub fn admit(&mut self, now_ms: u64) -> Result<(), Limited> {
        while self
            .starts
            .front()
            .is_some_and(|&t| t + MINUTE_MS <= now_ms)
        {
            self.starts.pop_front();
        }
        if self.starts.len() >= TURNS_PER_MINUTE_PER_CONNECTION {
            let oldest = self.starts.front().copied().unwrap_or(now_ms);
            let retry = (oldest + MINUTE_MS).saturating_sub(now_ms);
            return Err(Limited::new(
                "turns_per_minute_per_connection",
                retry.clamp(1, MINUTE_MS) as u32,
            ));
        }
        self.starts.push_back(now_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_on_one_connection_is_refused_until_the_minute_slides() {
        let mut c = ConnectionTurns::default();
        for i in 0..TURNS_PER_MINUTE_PER_CONNECTION as u64 {
            assert!(c.admit(1_000 + i * 100).is_ok());
        }
        let refused = c.admit(5_000).unwrap_err();
        assert_eq!(refused.limit, "turns_per_minute_per_connection");
        assert_eq!(
            refused.retry_after_ms, 56_000,
            "the first start leaves at 61 s"
        );
        assert!(c.admit(60_999).is_err());
        assert!(c.admit(61_000).is_ok(), "the oldest left the window");
        // Refusals are not counted: the connection is not locked out for longer.
        assert!(c.admit(61_050).is_err());
        assert!(c.admit(61_100).is_ok());
    }
}
