//! What the user actually heard of an interrupted reply, so the history keeps only that.
//!
//! Each TTS chunk's audio duration is known exactly (its PCM sample count). The client reports
//! how many ms of the reply it played. Whole chunks within that time were heard; inside the chunk
//! being played, words are assumed to take time in proportion to their characters, and the cut
//! falls after the last word fully played. Text generated but not yet spoken was never heard.

/// One spoken chunk of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokenChunk {
    pub text: String,
    /// Duration of the chunk's audio, in ms.
    pub audio_ms: u32,
}

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
    let mut parts: Vec<&str> = Vec::new();
    let mut partial = String::new();
    let mut start = 0u64;
    let mut cut_mid_chunk = false;
    for chunk in chunks {
        let end = start + u64::from(chunk.audio_ms);
        if u64::from(played_ms) >= end {
            parts.push(chunk.text.trim());
            start = end;
            continue;
        }
        // The chunk being played when the reply stopped.
        let into = u64::from(played_ms).saturating_sub(start);
        if into > 0 && chunk.audio_ms > 0 {
            partial = words_within(&chunk.text, into as f64 / f64::from(chunk.audio_ms));
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

    fn chunks() -> Vec<SpokenChunk> {
        vec![
            SpokenChunk {
                text: "We open at nine.".into(),
                audio_ms: 1_000,
            },
            SpokenChunk {
                text: "On Sundays we open at eight and close at one.".into(),
                audio_ms: 3_000,
            },
            SpokenChunk {
                text: "Cakes need two days' notice.".into(),
                audio_ms: 2_000,
            },
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
