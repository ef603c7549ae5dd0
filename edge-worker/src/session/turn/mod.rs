//! The turn core: every decision of one reply, sans-IO (in the style of quinn-proto).
//!
//! A [`Turn`] takes [`Event`]s (a provider answered, bytes arrived, a tool finished, the user
//! interrupted) with the time `now` in ms, and queues [`Command`]s (send this message or frame,
//! start or abort this request, run this tool). [`Turn::poll_timeout`] says when it next needs
//! [`Turn::handle_timeout`] (a first-token deadline, the filler for a slow tool). When it is
//! done, [`Turn::outcome`] gives the status, the text to store, usage and metrics. The voice
//! session's Durable Object only performs the commands and feeds the results back.
//!
//! - [`config`]: what a turn needs of the tenant's settings (no keys), and the request bodies.
//! - [`speech`]: the TTS side: one synthesis at a time in order, 20 ms frames, spoken chunks.
//! - [`builtins`]: the built-in tools' results.
//! - [`core`]: the LLM steps, fallback, tool calls, filler, interruption and the outcome.

pub mod builtins;
pub mod config;
pub mod core;
pub mod io;
pub mod speech;
#[cfg(test)]
mod tests;

pub use self::config::TurnConfig;
pub use self::core::{Command, Event, Turn, TurnInput, TurnOutcome};

use aura_protocol::ErrorCode;

/// A provider failure as the user is told of it: a code and a message naming no host or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderFailure {
    pub code: ErrorCode,
    pub message: String,
}

impl ProviderFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The failure for a provider's HTTP status: a 429 or 408 is a timeout the user may retry
    /// soon, anything else a provider error. `what` names the provider's role.
    pub fn from_status(what: &str, status: u16) -> Self {
        let code = match status {
            408 | 429 => ErrorCode::ProviderTimeout,
            _ => ErrorCode::ProviderError,
        };
        Self::new(code, format!("{what} answered HTTP {status}"))
    }
}

/// Whether a provider's status means it refused the API key (try the rotated-out key, if any).
pub fn refused_key(status: u16) -> bool {
    status == 401 || status == 403
}

/// The host of a base URL, for metrics (never a key or a path).
pub fn host_of(base_url: &str) -> String {
    base_url
        .split("://")
        .nth(1)
        .unwrap_or(base_url)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn statuses_map_to_codes_and_hosts_name_no_path_or_credentials() {
        assert_eq!(
            ProviderFailure::from_status("speech-to-text", 429).code,
            ErrorCode::ProviderTimeout
        );
        assert_eq!(
            ProviderFailure::from_status("speech-to-text", 500),
            ProviderFailure::new(ErrorCode::ProviderError, "speech-to-text answered HTTP 500")
        );
        assert!(refused_key(401) && refused_key(403) && !refused_key(404));
        assert_eq!(host_of("https://api.openai.com/v1?x=1"), "api.openai.com");
        assert_eq!(host_of("http://user:pw@127.0.0.1:8790/"), "127.0.0.1:8790");
        assert_eq!(host_of("api.x.ai"), "api.x.ai");
    }
}
