//! How long a turn waits in silence before it commits, from how its transcript reads and the
//! tenant's `turn_eagerness`: [`decide`].
//!
//! | reading | `high` | `medium` | `low` |
//! |---|---|---|---|
//! | complete | 200 ms | 300 ms | 500 ms |
//! | neutral | 500 ms | 800 ms | 1 200 ms |
//! | unfinished | 1 200 ms | 2 000 ms | 2 800 ms |
//! | cap | 1 500 ms | 2 500 ms | 3 500 ms |
//! | no transcript (fallback) | 600 ms | 600 ms | 600 ms |
//!
//! Why these (see `docs/turn-taking.md`): Vapi waits ~0.1 s after final punctuation and ~1.5 s
//! without; a VAD-only rule needs ~1.6 s of silence to cut off under 5% of pauses (LiveKit's
//! benchmark), so an unfinished turn waits longer than that at `medium`; a neutral one waits a
//! little more than today's 600 ms at `medium`; OpenAI's semantic VAD caps its wait at 2/4/8 s,
//! and ours sit below those because a transcript cue is a stronger signal than none.

use serde::{Deserialize, Serialize};

use super::reading::{Cue, Reading, read};

/// How soon a turn ends after the user stops speaking: the tenant setting `turn_eagerness`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eagerness {
    /// Waits longest: for callers who pause a lot (dictation, older users).
    Low,
    #[default]
    Medium,
    /// Answers soonest; cuts off more pauses.
    High,
}

impl Eagerness {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// The wait when there is no transcript to read (the STT failed or gave nothing): today's
/// fixed end-of-speech silence, the client's `end_silence_ms` default.
pub const FALLBACK_WAIT_MS: u32 = 600;

/// Silence after the end of speech before a turn that reads `reading` commits, in ms.
pub fn wait_ms(eagerness: Eagerness, reading: Reading) -> u32 {
    let ms = match (reading, eagerness) {
        (Reading::Complete, Eagerness::High) => 200,
        (Reading::Complete, Eagerness::Medium) => 300,
        (Reading::Complete, Eagerness::Low) => 500,
        (Reading::Neutral, Eagerness::High) => 500,
        (Reading::Neutral, Eagerness::Medium) => 800,
        (Reading::Neutral, Eagerness::Low) => 1_200,
        (Reading::Unfinished(_), Eagerness::High) => 1_200,
        (Reading::Unfinished(_), Eagerness::Medium) => 2_000,
        (Reading::Unfinished(_), Eagerness::Low) => 2_800,
    };
    ms.min(cap_ms(eagerness))
}

/// The longest silence any turn waits before it commits, in ms: a turn always ends, whatever
/// its transcript says or whether one arrives.
pub fn cap_ms(eagerness: Eagerness) -> u32 {
    match eagerness {
        Eagerness::High => 1_500,
        Eagerness::Medium => 2_500,
        Eagerness::Low => 3_500,
    }
}

/// Why a turn waited as long as it did: for per-turn metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitReason {
    Complete,
    Neutral,
    Unfinished,
    /// The hard cap: the wait reached [`cap_ms`] before anything else decided it.
    Cap,
    /// No transcript: [`FALLBACK_WAIT_MS`].
    Fallback,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Neutral => "neutral",
            Self::Unfinished => "unfinished",
            Self::Cap => "cap",
            Self::Fallback => "fallback",
        }
    }
}

/// The end-of-turn wait chosen for a turn, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOfTurnWait {
    /// Silence after the end of speech before the turn commits, in ms.
    pub wait_ms: u32,
    pub reason: WaitReason,
    /// What made it read unfinished, when it did.
    pub cue: Option<Cue>,
}

impl EndOfTurnWait {
    /// The hard cap of `eagerness`: what an adapter commits at when it has waited that long
    /// without a decision (a transcript still on its way).
    pub fn cap(eagerness: Eagerness) -> Self {
        Self {
            wait_ms: cap_ms(eagerness),
            reason: WaitReason::Cap,
            cue: None,
        }
    }
}

/// The wait for a turn whose transcript so far is `transcript` (`None`: none could be made).
/// `language` as for [`read`].
pub fn decide(
    eagerness: Eagerness,
    transcript: Option<&str>,
    language: Option<&str>,
) -> EndOfTurnWait {
    let Some(transcript) = transcript else {
        return EndOfTurnWait {
            wait_ms: FALLBACK_WAIT_MS.min(cap_ms(eagerness)),
            reason: WaitReason::Fallback,
            cue: None,
        };
    };
    let reading = read(transcript, language);
    let (reason, cue) = match reading {
        Reading::Complete => (WaitReason::Complete, None),
        Reading::Neutral => (WaitReason::Neutral, None),
        Reading::Unfinished(cue) => (WaitReason::Unfinished, Some(cue)),
    };
    EndOfTurnWait {
        wait_ms: wait_ms(eagerness, reading),
        reason,
        cue,
    }
}
