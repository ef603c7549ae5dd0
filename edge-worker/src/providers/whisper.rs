//! What the edge asks of an OpenAI-style transcription and what it keeps of the answer: the
//! `language` field (ISO-639-1, from the session's BCP 47 tag), and the transcripts Whisper is
//! known to invent on silence, music or noise (the sign-offs of the videos it was trained on),
//! which are dropped instead of answered as a turn.

/// The ISO-639-1 code of a BCP 47 tag (`en-GB` -> `en`), if its language has one (Whisper's
/// `language` takes only two-letter codes).
pub fn language_code(tag: &str) -> Option<String> {
    let primary = tag.split(['-', '_']).next()?;
    (primary.len() == 2 && primary.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

/// Below this much speech, a transcript is not a turn (a cough, a click that passed the VAD).
pub const SHORTEST_SPEECH_MS: u64 = 250;

/// Phrases Whisper writes for audio with no speech in it, compared without case, spaces or
/// punctuation.
const INVENTED: [&str; 12] = [
    "thank you for watching",
    "thanks for watching",
    "thank you so much for watching",
    "thank you for watching and see you next time",
    "please subscribe",
    "please like and subscribe",
    "dont forget to like and subscribe",
    "subtitles by the amaraorg community",
    "transcribed by otterai",
    "music",
    "blankaudio",
    "silence",
];

/// Why a transcript is not answered, if it is not.
pub fn dropped(text: &str, speech_ms: u64) -> Option<&'static str> {
    let words: String = text
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if words.is_empty() {
        return Some("no words");
    }
    if speech_ms < SHORTEST_SPEECH_MS {
        return Some("too little speech");
    }
    let bare: String = words.chars().filter(|c| !c.is_whitespace()).collect();
    INVENTED
        .iter()
        .any(|p| p.replace(' ', "") == bare)
        .then_some("a known Whisper hallucination on non-speech")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_become_two_letter_codes_or_nothing() {
        assert_eq!(language_code("en-GB").as_deref(), Some("en"));
        assert_eq!(language_code("PT_br").as_deref(), Some("pt"));
        assert_eq!(language_code("de").as_deref(), Some("de"));
        for none in ["yue-HK", "C", "", "e1-US"] {
            assert_eq!(language_code(none), None, "{none:?}");
        }
    }

    #[test]
    fn invented_sign_offs_and_too_short_audio_are_dropped_and_real_words_kept() {
        assert!(dropped(" Thank you for watching!", 1_200).is_some());
        assert!(dropped("Subtitles by the Amara.org community", 3_000).is_some());
        assert!(dropped("[BLANK_AUDIO]", 900).is_some());
        assert!(dropped("♪ ♪", 900).is_some(), "no words");
        assert!(dropped("Yes.", 120).is_some(), "120 ms is not a turn");
        assert_eq!(dropped("Thank you, that's all.", 1_200), None);
        assert_eq!(dropped("Thank you.", 700), None, "said to the assistant");
        assert_eq!(dropped("When do you open?", 1_500), None);
    }
}
