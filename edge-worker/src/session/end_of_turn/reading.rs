//! How finished a transcript reads, from its last marks and words: [`read`].
//!
//! The transcript is taken as STTs print it: Whisper's leading space, closing quotes and
//! brackets after the final mark, curly apostrophes, `[BLANK_AUDIO]`-style annotations, any
//! case. Then, in order:
//! 1. **The final mark.** `...`/`…` (trailing off), `,`, `:` or a dash leave the turn
//!    [`Reading::Unfinished`] whatever the words. `? ？ ؟` make it a question, `. ! 。 ！ ।` a
//!    sentence end; no mark at all (some STTs give none) leaves it to the words.
//! 2. **Dictation** at the end ([`super::dictation`]): figures, spelled letters, an address.
//! 3. **The last words**, per language ([`super::lexicon`]): a filler, a lead-in ("my number
//!    is"), a conjunction, an article, a preposition.
//!
//! A cue is [`Strength::Hard`] when it holds even after a full stop ("I want to go to." is not
//! finished), [`Strength::Soft`] when it only counts without final punctuation ("come in"). A
//! question is [`Reading::Complete`] unless it ends in an article ("Can I get a?"): "Where are
//! you from?" ends in a preposition and is finished.

use super::dictation::dictation_cue;
use super::lexicon::{Lexicon, lexicon_for};

/// How finished a transcript reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A question, or a sentence with final punctuation that does not end in a cue.
    Complete,
    /// Nothing either way: no final punctuation and no cue.
    Neutral,
    /// The speaker has more to say, and why it reads so.
    Unfinished(Cue),
}

impl Reading {
    /// For logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Neutral => "neutral",
            Self::Unfinished(_) => "unfinished",
        }
    }
}

/// Why a transcript reads unfinished. Its name goes in logs; the transcript never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cue {
    /// "and", "because", "aber", "porque".
    TrailingConjunction,
    /// "to", "of", "with", "für".
    TrailingPreposition,
    /// "the", "a", "my", "le".
    TrailingArticle,
    /// "um", "uh", "hmm", "euh", "äh".
    Filler,
    /// "my number is", "the address is", "it's", "c'est", "as in".
    LeadIn,
    /// A phone number or code being read out: "five five five, two three", "555 23".
    DigitString,
    /// An address being spoken: "john at", "gmail dot", "john@gmail".
    SpelledEmail,
    /// A word spelled letter by letter: "j o h n", "J-O-H-N".
    Spelling,
    /// A final `,` (or `;`, `、`).
    TrailingComma,
    /// A final `:`.
    TrailingColon,
    /// A final dash: a word cut off ("I was going to-").
    TrailingDash,
    /// A final `...` or `…`: trailing off.
    TrailingEllipsis,
}

impl Cue {
    /// For logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TrailingConjunction => "trailing_conjunction",
            Self::TrailingPreposition => "trailing_preposition",
            Self::TrailingArticle => "trailing_article",
            Self::Filler => "filler",
            Self::LeadIn => "lead_in",
            Self::DigitString => "digit_string",
            Self::SpelledEmail => "spelled_email",
            Self::Spelling => "spelling",
            Self::TrailingComma => "trailing_comma",
            Self::TrailingColon => "trailing_colon",
            Self::TrailingDash => "trailing_dash",
            Self::TrailingEllipsis => "trailing_ellipsis",
        }
    }
}

/// Whether a cue outweighs a final full stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strength {
    /// Unfinished even after `.` or `!`.
    Hard,
    /// Unfinished only without final punctuation.
    Soft,
}

/// What a transcript ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Sentence,
    Question,
    /// A mark that leaves it open: comma, colon, dash, ellipsis.
    Open(Cue),
    /// No mark.
    Bare,
}

/// How finished `transcript` reads. `language` is a BCP 47 tag (`en-US`, `de`) or Whisper's
/// language name (`english`); word rules for English, Spanish, French, German, Portuguese and
/// Italian, English ones for any other language or none; the marks and dictation rules apply
/// to every language.
pub fn read(transcript: &str, language: Option<&str>) -> Reading {
    let primary = language
        .and_then(|tag| tag.trim().split(['-', '_']).next())
        .unwrap_or_default()
        .to_lowercase();
    let lex = lexicon_for(&primary);
    // Greek writes its question mark as `;`.
    let semicolon_asks = primary == "el" || primary == "greek";
    let (body, ending) = split_ending(without_closers(transcript), semicolon_asks);
    let words = words(body);
    if words.is_empty() {
        return Reading::Neutral;
    }
    let sentence_end = matches!(ending, Ending::Sentence | Ending::Question);
    let cue = dictation_cue(&words, lex).or_else(|| word_cue(&words, lex, sentence_end));
    match (ending, cue) {
        (Ending::Question, Some((Cue::TrailingArticle, _))) => {
            Reading::Unfinished(Cue::TrailingArticle)
        }
        (Ending::Question, _) => Reading::Complete,
        (Ending::Sentence, Some((cue, Strength::Hard))) => Reading::Unfinished(cue),
        (Ending::Sentence, _) => Reading::Complete,
        (Ending::Open(mark), cue) => Reading::Unfinished(cue.map_or(mark, |(cue, _)| cue)),
        (Ending::Bare, Some((cue, _))) => Reading::Unfinished(cue),
        (Ending::Bare, None) => Reading::Neutral,
    }
}

/// Quotes and brackets that may follow the final mark.
const CLOSERS: &[char] = &[
    '"', '”', '»', '›', ')', ']', '}', '」', '』', '）', '】', '〉', '》',
];

/// The transcript without trailing white space, closing quotes and brackets, or a final
/// `[...]` annotation (`[BLANK_AUDIO]`, `[Music]`). A final `'`/`’` goes only after a mark:
/// after a letter it is an apostrophe (`l'`).
fn without_closers(transcript: &str) -> &str {
    let mut t = transcript.trim_end();
    loop {
        if t.ends_with(']')
            && let Some(open) = t.rfind('[')
        {
            t = t[..open].trim_end();
            continue;
        }
        let mut rev = t.chars().rev();
        let (Some(last), before) = (rev.next(), rev.next()) else {
            return t;
        };
        let quote_after_mark =
            matches!(last, '\'' | '’') && before.is_some_and(|c| !c.is_alphanumeric());
        if CLOSERS.contains(&last) || quote_after_mark {
            t = t[..t.len() - last.len_utf8()].trim_end();
        } else {
            return t;
        }
    }
}

fn is_question_mark(c: char, semicolon_asks: bool) -> bool {
    matches!(c, '?' | '？' | '؟' | '⁇' | '⁈' | '⁉' | '\u{37E}' | '՞')
        || (semicolon_asks && c == ';')
}

fn is_full_stop(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '。' | '！' | '．' | '｡' | '‼' | '।' | '॥' | '።'
    )
}

fn is_comma(c: char) -> bool {
    matches!(c, ',' | '，' | '、' | '،' | ';' | '；' | '፣' | '､')
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '–' | '—' | '‐' | '―' | '‑')
}

fn is_ellipsis(c: char) -> bool {
    matches!(c, '…' | '‥' | '⋯')
}

fn is_mark(c: char, semicolon_asks: bool) -> bool {
    is_question_mark(c, semicolon_asks)
        || is_full_stop(c)
        || is_comma(c)
        || is_dash(c)
        || is_ellipsis(c)
        || matches!(c, ':' | '：')
}

/// The text before its final marks, and what they say.
fn split_ending(text: &str, semicolon_asks: bool) -> (&str, Ending) {
    let body = text.trim_end_matches(|c| is_mark(c, semicolon_asks));
    let marks = &text[body.len()..];
    let dots = marks
        .chars()
        .filter(|&c| matches!(c, '.' | '。' | '．'))
        .count();
    let ending = if marks.chars().any(is_ellipsis) || dots >= 2 {
        Ending::Open(Cue::TrailingEllipsis)
    } else if marks.chars().any(|c| is_question_mark(c, semicolon_asks)) {
        Ending::Question
    } else if marks.chars().any(is_full_stop) {
        Ending::Sentence
    } else {
        match marks.chars().last() {
            None => Ending::Bare,
            Some(c) if is_comma(c) => Ending::Open(Cue::TrailingComma),
            Some(c) if is_dash(c) => Ending::Open(Cue::TrailingDash),
            Some(_) => Ending::Open(Cue::TrailingColon),
        }
    };
    (body.trim_end(), ending)
}

/// The words of `body`: lower case, straight apostrophes, without the quotes and marks around
/// them; `e-mail` is `email`.
fn words(body: &str) -> Vec<String> {
    body.split_whitespace()
        .map(|raw| {
            let w: String = raw
                .chars()
                .map(|c| match c {
                    '’' | '‘' | 'ʼ' | '`' | '´' => '\'',
                    '‐' | '‑' => '-',
                    c => c,
                })
                .collect::<String>()
                .to_lowercase();
            let w = w
                .trim_start_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '+')
                .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '@');
            match w {
                "e-mail" => "email".to_string(),
                w => w.to_string(),
            }
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The cue of the last words, if any. `sentence_end`: the STT closed the sentence, so an
/// infinitive marker after "want", "like", ... ends it ("I'd like to.").
fn word_cue(words: &[String], lex: &Lexicon, sentence_end: bool) -> Option<(Cue, Strength)> {
    let n = words.len();
    let last = words[n - 1].as_str();
    let prev = n.checked_sub(2).map(|i| words[i].as_str());
    let pair_in = |pairs: &[[&str; 2]]| {
        prev.is_some_and(|p| pairs.iter().any(|[a, b]| *a == p && *b == last))
    };
    let ends_with = |phrase: &[&str]| {
        n >= phrase.len()
            && words[n - phrase.len()..]
                .iter()
                .zip(phrase)
                .all(|(w, p)| w == p)
    };
    if lex.fillers.contains(&last) {
        return Some((Cue::Filler, Strength::Hard));
    }
    if lex.lead_in_words.contains(&last) || pair_in(lex.lead_in_pairs) {
        return Some((Cue::LeadIn, Strength::Hard));
    }
    if lex.copulas.contains(&last) {
        if prev.is_some_and(|p| lex.lead_in_nouns.contains(&p)) {
            return Some((Cue::LeadIn, Strength::Hard));
        }
        let possessive_back =
            |back: usize| n > back && lex.possessives.contains(&words[n - 1 - back].as_str());
        if possessive_back(2) || possessive_back(3) {
            return Some((Cue::LeadIn, Strength::Soft));
        }
    }
    if pair_in(lex.conjunction_pairs) || lex.conjunctions.contains(&last) {
        return Some((Cue::TrailingConjunction, Strength::Hard));
    }
    if lex.articles.contains(&last) {
        return Some((Cue::TrailingArticle, Strength::Hard));
    }
    if lex.prepositions.contains(&last) {
        let infinitive_ends = sentence_end
            && lex.infinitive.is_some_and(|(marker, after)| {
                marker == last && prev.is_some_and(|p| after.contains(&p))
            });
        if !infinitive_ends {
            return Some((Cue::TrailingPreposition, Strength::Hard));
        }
    }
    if lex.soft_lead_ins.iter().any(|phrase| ends_with(phrase)) {
        return Some((Cue::LeadIn, Strength::Soft));
    }
    if lex.soft_prepositions.contains(&last) {
        return Some((Cue::TrailingPreposition, Strength::Soft));
    }
    if lex
        .possessive_ending
        .is_some_and(|end| last.len() > end.len() && last.ends_with(end))
    {
        return Some((Cue::TrailingArticle, Strength::Soft));
    }
    None
}
