use serde::{Deserialize, Serialize};

/// The `code` of an `error` message. Stable strings: clients switch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Text message that is not valid JSON, lacks `type`, or has fields of the wrong shape.
    BadMessage,
    /// A `type` this peer does not know.
    UnknownType,
    /// A text or binary message beyond the size limits.
    MessageTooLarge,
    /// A binary message that is not a valid audio frame.
    BadFrame,
    /// Audio at a sample rate the protocol does not allow here.
    WrongSampleRate,
    /// Input audio arriving faster than real time (beyond a margin); the excess is dropped.
    AudioTooFast,
    /// A protocol version this peer does not speak.
    UnsupportedVersion,
    /// A message that needs a started session, sent before `session.start`.
    NotStarted,
    /// A second `session.start` or `session.resume` on one connection.
    AlreadyStarted,
    /// Missing, wrong or expired credentials.
    Unauthorized,
    /// The session to resume is unknown or its resume window has passed.
    SessionExpired,
    /// A provider (STT, LLM, TTS) failed and no fallback could answer.
    ProviderError,
    /// A provider did not answer in time and no fallback could answer.
    ProviderTimeout,
    /// The last provider tried refuses the region the conversation runs in (OpenAI's 403
    /// `unsupported_country_region_territory`), and no fallback answered. Not retryable: the
    /// site's owner must give the tenant a location hint or another provider.
    ProviderRegionRefused,
    /// Anything else on the server side. The message says no more than needed.
    Internal,
    /// A code from a newer peer that this version does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Whether a client may retry the same action later and expect it to work.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::ProviderError | Self::ProviderTimeout | Self::Internal
        )
    }
}
