//! What the user actually heard of an interrupted reply, so the history keeps only that.
//!
//! Each TTS chunk's audio duration is known exactly (its PCM sample count). The client reports
//! how many ms of the reply it played, which cannot exceed the audio it was sent. Whole chunks
//! within that time were heard; inside the chunk being played, words are assumed to take time in
//! proportion to their characters, and the cut falls after the last word fully played. A chunk
//! whose synthesis was cut short (the interruption came first) has its full duration estimated
//! from its characters at the pace of the reply's complete chunks. Text generated but not yet
//! spoken was never heard.

/// One spoken chunk of a reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpokenChunk {
    pub text: String,
    /// Duration of the chunk's audio sent to the client, in ms.
    pub audio_ms: u32,
    /// Whether all of the chunk's audio was synthesised and sent.
    pub complete: bool,
}

/// Speaking pace assumed when no complete chunk shows the voice's own: ms per character.
pub const DEFAULT_MS_PER_CHAR: f64 = 65.0;

/// What was heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The heard text, chunks joined with spaces.
    pub text: String,
    /// Whether the cut fell inside a chunk (the reply was interrupted mid-sentence).
    pub cut_mid_chunk: bool,
}

/// The text heard of `chunks` (in playback order) after `played_ms` of their audio.
pub fn heard(chunks: &[SpokenChunk], played_ms: u32) -> Heard {
    let sent: u64 = chunks.iter().map(|c| u64::from(c.audio_ms)).sum();
    let played = u64::from(played_ms).min(sent);
    let (chars, ms) = chunks
        .iter()
        .filter(|c| c.complete)
        .fold((0u64, 0u64), |(n, t), c| {
            (
                n + c.text.trim().chars().count() as u64,
                t + u64::from(c.audio_ms),
            )
        });
    let pace = if chars > 0 && ms > 0 {
        ms as f64 / chars as f64
    } else {
        DEFAULT_MS_PER_CHAR
    };
    let mut parts: Vec<&str> = Vec::new();
    let mut partial = String::new();
    let mut start = 0u64;
    let mut cut_mid_chunk = false;
    for chunk in chunks {
        let end = start + u64::from(chunk.audio_ms);
        if played >= end && chunk.complete {
            parts.push(chunk.text.trim());
            start = end;
            continue;
        }
        // The chunk being played when the reply stopped (or whose audio ran out).
        let into = played.saturating_sub(start) as f64;
        let full = if chunk.complete {
            f64::from(chunk.audio_ms)
        } else {
            f64::from(chunk.audio_ms).max(chunk.text.trim().chars().count() as f64 * pace)
        };
        if into > 0.0 && full > 0.0 {
            partial = words_within(&chunk.text, into / full);
            cut_mid_chunk = true;
        }
        break;
    }
    let mut text = parts.join(" ");
    if !partial.is_empty() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&partial);
    }
    Heard {
        text,
        cut_mid_chunk,
    }
}

/// The words of `text` fully spoken by `fraction` of its duration, characters weighting time.
fn words_within(text: &str, fraction: f64) -> String {
    let total = text.trim().chars().count().max(1) as f64;
    let mut spoken = 0usize;
    let mut out: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        let after = spoken + word.chars().count();
        if after as f64 / total > fraction {
            break;
        }
        out.push(word);
        spoken = after + 1;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str, audio_ms: u32) -> SpokenChunk {
        SpokenChunk {
            text: text.into(),
            audio_ms,
            complete: true,
        }
    }

    fn chunks() -> Vec<SpokenChunk> {
        vec![
            chunk("We open at nine.", 1_000),
            chunk("On Sundays we open at eight and close at one.", 3_000),
            chunk("Cakes need two days' notice.", 2_000),
        ]
    }

    #[test]
    fn whole_chunks_played_are_heard_whole() {
        assert_eq!(
            heard(&chunks(), 1_000),
            Heard {
                text: "We open at nine.".into(),
                cut_mid_chunk: false
            }
        );
        assert_eq!(
            heard(&chunks(), 6_000).text,
            "We open at nine. On Sundays we open at eight and close at one. Cakes need two days' notice."
        );
        assert_eq!(heard(&chunks(), 60_000).text, heard(&chunks(), 6_000).text);
    }

    #[test]
    fn inside_a_chunk_the_cut_falls_after_the_last_fully_played_word() {
        // Half of the second chunk: "On Sundays we open at eight and close at one." has 45
        // characters; half of them end inside "eight".
        let h = heard(&chunks(), 2_500);
        assert_eq!(
            h,
            Heard {
                text: "We open at nine. On Sundays we open at".into(),
                cut_mid_chunk: true
            }
        );
        // "On Sundays we open at eight" is 27 of 45 characters: complete at 60% (1.8 s in).
        assert_eq!(
            heard(&chunks(), 2_790).text,
            "We open at nine. On Sundays we open at"
        );
        let h = heard(&chunks(), 2_800);
        assert_eq!(h.text, "We open at nine. On Sundays we open at eight");
    }

    #[test]
    fn nothing_played_means_nothing_heard() {
        assert_eq!(
            heard(&chunks(), 0),
            Heard {
                text: String::new(),
                cut_mid_chunk: false
            }
        );
        assert_eq!(
            heard(&chunks(), 50).text,
            "",
            "not even the first word is complete"
        );
        assert_eq!(heard(&[], 5_000).text, "");
    }

    #[test]
    fn a_chunk_cut_short_is_mapped_at_the_pace_of_the_complete_ones() {
        // The first chunk ran at 62.5 ms per character (16 chars, 1 s). The second had only
        // 1.4 s of its audio sent before the interruption: its full length is estimated at
        // 45 x 62.5 = 2.8 s, so 1.4 s in is half of it.
        let mut c = chunks();
        c[1].audio_ms = 1_400;
        c[1].complete = false;
        c.truncate(2);
        assert_eq!(
            heard(&c, 2_400).text,
            "We open at nine. On Sundays we open at"
        );
        // The client cannot have played more than it was sent.
        assert_eq!(heard(&c, 60_000).text, heard(&c, 2_400).text);
        // With no complete chunk, the default pace is used.
        let lone = vec![SpokenChunk {
            text: "We open at nine.".into(),
            audio_ms: 100,
            complete: false,
        }];
        assert_eq!(
            heard(&lone, 700).text,
            "",
            "100 ms of a 1 s sentence: no whole word"
        );
    }

    #[test]
    fn heard_text_only_grows_with_the_played_time() {
        let mut previous = String::new();
        for ms in (0..=6_000).step_by(50) {
            let text = heard(&chunks(), ms).text;
            assert!(
                text.starts_with(&previous),
                "{ms} ms: {text:?} after {previous:?}"
            );
            previous = text;
        }
    }
}
