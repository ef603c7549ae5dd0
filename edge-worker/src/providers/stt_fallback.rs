//! When a speech-to-text route's failure hands the utterance to the tenant's second route
//! (`stt_fallback`): only failures before any answer that the provider, not the audio or the
//! tenant's settings, caused: it could not be reached, it was overloaded (5xx), it rate-limited
//! (429) or it timed out (408, or no answer in [`BATCH_TIMEOUT_MS`]). A refused key, a bad request or an unreadable answer is the
//! same on the next try of that route and fails the utterance as before.

use aura_protocol::ErrorCode;

use crate::session::turn::ProviderFailure;

/// Why a speech-to-text route gave no transcript (batch request or live socket's opening).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SttError {
    /// The request could not be built.
    Request,
    /// The provider could not be reached.
    Unreachable,
    /// The provider answered with this status instead of a transcript (or an upgrade).
    Status(u16),
    /// No answer within [`BATCH_TIMEOUT_MS`].
    Timeout,
    /// An answer came and could not be used; what was wrong with it.
    Unusable(&'static str),
}

/// Time allowed to a batch transcription's answer (Whisper takes a few seconds for 30 s of
/// speech); then the request is aborted.
pub const BATCH_TIMEOUT_MS: u64 = 10_000;

impl SttError {
    /// Why the second route takes over, for the log (`unreachable`, `rate_limited`,
    /// `timeout`, `server_error`), or `None` if this failure is not one to fall back on.
    pub fn fallback_reason(self) -> Option<&'static str> {
        match self {
            Self::Unreachable => Some("unreachable"),
            Self::Status(429) => Some("rate_limited"),
            Self::Timeout | Self::Status(408) => Some("timeout"),
            Self::Status(500..=599) => Some("server_error"),
            Self::Request | Self::Status(_) | Self::Unusable(_) => None,
        }
    }

    /// What the client is told when no route gave a transcript.
    pub fn failure(self) -> ProviderFailure {
        match self {
            Self::Request => {
                ProviderFailure::new(ErrorCode::ProviderError, "speech-to-text failed: request")
            }
            Self::Unreachable => {
                ProviderFailure::new(ErrorCode::ProviderError, "speech-to-text unreachable")
            }
            Self::Status(status) => ProviderFailure::from_status("speech-to-text", status),
            Self::Timeout => ProviderFailure::new(
                ErrorCode::ProviderTimeout,
                "speech-to-text did not answer in time",
            ),
            Self::Unusable(what) => ProviderFailure::new(
                ErrorCode::ProviderError,
                format!("speech-to-text failed: {what}"),
            ),
        }
    }
}

/// The log line of a fallback: the reason only (never a host, key or transcript).
pub fn fallback_event(reason: &str) -> serde_json::Value {
    serde_json::json!({"event": "stt_fallback", "reason": reason})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_of_the_provider_before_an_answer_fall_back() {
        for (error, reason) in [
            (SttError::Unreachable, Some("unreachable")),
            (SttError::Status(429), Some("rate_limited")),
            (SttError::Status(408), Some("timeout")),
            (SttError::Timeout, Some("timeout")),
            (SttError::Status(500), Some("server_error")),
            (SttError::Status(503), Some("server_error")),
            (SttError::Status(400), None),
            (SttError::Status(401), None),
            (SttError::Status(403), None),
            (SttError::Status(404), None),
            (SttError::Request, None),
            (SttError::Unusable("unreadable answer"), None),
        ] {
            assert_eq!(error.fallback_reason(), reason, "{error:?}");
        }
    }

    #[test]
    fn the_failure_told_keeps_its_code_and_the_log_names_no_host() {
        assert_eq!(
            SttError::Status(429).failure().code,
            ErrorCode::ProviderTimeout
        );
        assert_eq!(
            SttError::Unusable("unreadable answer").failure().message,
            "speech-to-text failed: unreadable answer"
        );
        assert_eq!(
            fallback_event("server_error"),
            serde_json::json!({"event": "stt_fallback", "reason": "server_error"})
        );
    }
}
