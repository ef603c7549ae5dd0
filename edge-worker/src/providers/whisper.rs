//! What the edge asks of an OpenAI-style transcription and what it keeps of the answer: the
//! `language` field (ISO-639-1, from the session's BCP 47 tag), and the transcripts Whisper is
//! known to invent on silence, music or noise (the sign-offs of the videos it was trained on),
//! which are dropped instead of answered as a turn; and the `prompt` it is sent.

/// The ISO-639-1 code of a BCP 47 tag (`en-GB` -> `en`), if its language has one (Whisper's
/// `language` takes only two-letter codes).
pub fn language_code(tag: &str) -> Option<String> {
    let primary = tag.split(['-', '_']).next()?;
    (primary.len() == 2 && primary.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

/// The prompt of an English session whose tenant set none. Whisper writes in the style of its
/// prompt, and by default it drops fillers and closes every fragment with a full stop ("I'd
/// like to order, um," comes back "I'd like to order."), which reads as a finished turn. A
/// prompt with fillers and trailing off keeps them (OpenAI's speech-to-text guide documents
/// this use), so the end-of-turn reading sees "um," and "...".
pub const FILLER_PROMPT: &str =
    "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking. So, uh, I'd like to...";

/// The `prompt` to send with a batch transcription: the tenant's, else [`FILLER_PROMPT`] for
/// an English (or unknown) `language` tag; other languages get none (an English prompt would
/// pull Whisper towards English).
pub fn prompt(tenant_prompt: Option<&str>, language: Option<&str>) -> Option<String> {
    if let Some(p) = tenant_prompt.map(str::trim).filter(|p| !p.is_empty()) {
        return Some(p.to_string());
    }
    let english = language
        .and_then(language_code)
        .is_none_or(|code| code == "en");
    english.then(|| FILLER_PROMPT.to_string())
}

/// Text without case, punctuation or spaces, to compare transcripts.
fn bare(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
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

/// Why a transcript of audio sent with `prompt` is not answered, if it is not: no words, too
/// little speech, a known hallucination, or the prompt given back (Whisper may repeat its
/// prompt on audio with no speech in it: most of it, not a few of its words).
pub fn dropped(text: &str, speech_ms: u64, prompt: Option<&str>) -> Option<&'static str> {
    let said = bare(text);
    if said.is_empty() {
        return Some("no words");
    }
    if speech_ms < SHORTEST_SPEECH_MS {
        return Some("too little speech");
    }
    if INVENTED.iter().any(|p| p.replace(' ', "") == said) {
        return Some("a known Whisper hallucination on non-speech");
    }
    prompt
        .map(bare)
        .is_some_and(|p| p.contains(&said) && said.len() * 3 >= p.len() * 2)
        .then_some("the prompt given back")
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
        assert!(dropped(" Thank you for watching!", 1_200, None).is_some());
        assert!(dropped("Subtitles by the Amara.org community", 3_000, None).is_some());
        assert!(dropped("[BLANK_AUDIO]", 900, None).is_some());
        assert!(dropped("♪ ♪", 900, None).is_some(), "no words");
        assert!(dropped("Yes.", 120, None).is_some(), "120 ms is not a turn");
        assert_eq!(dropped("Thank you, that's all.", 1_200, None), None);
        assert_eq!(
            dropped("Thank you.", 700, None),
            None,
            "said to the assistant"
        );
        assert_eq!(dropped("When do you open?", 1_500, None), None);
    }

    #[test]
    fn english_sessions_keep_their_fillers_unless_the_tenant_prompts() {
        assert_eq!(prompt(None, Some("en-GB")).as_deref(), Some(FILLER_PROMPT));
        assert_eq!(prompt(None, None).as_deref(), Some(FILLER_PROMPT));
        assert_eq!(
            prompt(Some("  "), Some("en")).as_deref(),
            Some(FILLER_PROMPT)
        );
        assert_eq!(
            prompt(None, Some("de-DE")),
            None,
            "no English prompt for German"
        );
        assert_eq!(
            prompt(Some(" Mill Lane Bakery, sourdough, rye. "), Some("de")).as_deref(),
            Some("Mill Lane Bakery, sourdough, rye.")
        );
    }

    #[test]
    fn the_prompt_given_back_is_dropped_but_a_few_of_its_words_are_not() {
        let p = Some(FILLER_PROMPT);
        let echo = " Umm, let me think like, hmm... Okay, here's what I'm, like, thinking.";
        assert_eq!(dropped(echo, 2_000, p), Some("the prompt given back"));
        assert_eq!(
            dropped(FILLER_PROMPT, 2_000, p),
            Some("the prompt given back")
        );
        assert_eq!(dropped(" I'd like to...", 900, p), None);
        assert_eq!(dropped(" Okay.", 600, p), None);
        assert_eq!(dropped(echo, 2_000, None), None, "no prompt was sent");
    }
}
