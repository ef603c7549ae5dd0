//! Dictation at a transcript's end: a phone number read out in groups ("five five five, two
//! three", "555 23"), a name spelled letter by letter ("J-O-H-N", "j o h n"), an email address
//! spoken up to its "at" or "dot" ("john at gmail dot", "john@gmail").
//!
//! People pause between the groups of what they dictate, and an STT often closes each group
//! with a full stop ("555. 23."), so most of these cues hold even after one ([`Strength::Hard`]).
//! Two do not: a run of numbers of 7 digits or more reads as a whole phone number, and a run
//! of under 3 digits ("two, three.") as an answer; both count only without final punctuation.

use super::lexicon::{EMAIL_CONTEXT, Lexicon, NUMBER_CONTEXT};
use super::reading::{Cue, Strength};

/// What the run of dictated tokens at the end holds.
#[derive(Debug, Default)]
struct Run {
    /// Groups of figures: "555-1234" is two, "five five" two, "twenty three" one.
    groups: usize,
    digits: usize,
    /// Single letters spelled out.
    letters: usize,
    /// "hundred", "5,000", "3.50": an amount said as a number, not figures dictated.
    amount: bool,
    /// "at", "dot", "underscore" and their kin.
    joiners: usize,
    /// How many of the last words the run takes.
    tokens: usize,
}

/// The cue of dictation in progress at the end of `words` (lower case, in order).
pub(super) fn dictation_cue(words: &[String], lex: &Lexicon) -> Option<(Cue, Strength)> {
    let last = words.last()?;
    if let Some(open) = glued_address(last) {
        return open.then_some((Cue::SpelledEmail, Strength::Hard));
    }
    let context = words
        .iter()
        .any(|w| EMAIL_CONTEXT.contains(&w.as_str()) || w.contains('@'));
    let run = trailing_run(words, lex);
    if is_joiner(last, lex) && (context || run.letters > 0 || run.joiners >= 2) {
        return Some((Cue::SpelledEmail, Strength::Hard));
    }
    // "my email is john at gmail": the domain is not finished until its dot.
    let after_at = words.len() >= 2 && lex.at_words.contains(&words[words.len() - 2].as_str());
    if context && after_at {
        return Some((Cue::SpelledEmail, Strength::Hard));
    }
    if run.letters >= 2 {
        return Some((Cue::Spelling, Strength::Hard));
    }
    if run.amount || run.groups == 0 {
        return None;
    }
    // "My number is five five.": a number announced as long, still short of a whole one.
    let announced = announces_a_number(&words[..words.len() - run.tokens]);
    // One written group of 4-6 figures reads whole ("The zip code is 90210."); digit words,
    // several groups, or fewer figures are a number still being read.
    let one_whole_group = run.groups == 1 && run.digits >= 4 && run.tokens == 1;
    if announced && run.digits > 0 && run.digits < 7 && !one_whole_group {
        return Some((Cue::DigitString, Strength::Hard));
    }
    if run.groups >= 2 {
        let strength = if (3..7).contains(&run.digits) {
            Strength::Hard
        } else {
            Strength::Soft
        };
        return Some((Cue::DigitString, strength));
    }
    let year = run.digits == 4 && (last.starts_with("19") || last.starts_with("20"));
    (run.digits >= 3 && !year).then_some((Cue::DigitString, Strength::Soft))
}

/// Whether `before` ends by announcing a long number: "my phone number is", "la cuenta es",
/// "my number's" (not "number four", "table for two").
fn announces_a_number(before: &[String]) -> bool {
    let Some((last, rest)) = before.split_last() else {
        return false;
    };
    if let Some(noun) = last.strip_suffix("'s") {
        return NUMBER_CONTEXT.contains(&noun);
    }
    COPULAS.contains(&last.as_str())
        && rest
            .iter()
            .rev()
            .take(3)
            .any(|w| NUMBER_CONTEXT.contains(&w.as_str()))
}

/// "is" in the languages with word rules.
const COPULAS: &[&str] = &["is", "es", "est", "ist", "è", "é", "era", "war", "was"];

/// Reads back from the end while the tokens are figures, number words, spelled letters or
/// address joiners.
fn trailing_run(words: &[String], lex: &Lexicon) -> Run {
    let mut run = Run::default();
    // Whether the token after this one (already read) was a digit word: "twenty" + "three".
    let mut before_digit_word = false;
    for word in words.iter().rev() {
        let w = word.as_str();
        let mut digit_word = false;
        if let Some((groups, digits, amount)) = figures(w) {
            run.groups += groups;
            run.digits += digits;
            run.amount |= amount;
        } else if lex.digits.contains(&w) {
            run.groups += 1;
            run.digits += 1;
            digit_word = true;
        } else if lex.tens.contains(&w) {
            if before_digit_word {
                run.digits += 1;
            } else {
                run.groups += 1;
                run.digits += 2;
            }
        } else if lex.magnitudes.contains(&w) {
            run.amount = true;
        } else if let Some(n) = spelled_letters(w, lex) {
            run.letters += n;
            run.groups += 1;
        } else if is_joiner(w, lex) {
            run.joiners += 1;
        } else {
            break;
        }
        before_digit_word = digit_word;
        run.tokens += 1;
    }
    run
}

fn is_joiner(w: &str, lex: &Lexicon) -> bool {
    lex.at_words.contains(&w) || lex.joiner_words.contains(&w)
}

/// A token of figures ("555", "555-1234", "(555)", "+1"): its groups, digits, and whether it
/// reads as an amount ("5,000", "3.50").
fn figures(w: &str) -> Option<(usize, usize, bool)> {
    let figure_chars = w
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | ',' | '(' | ')' | '+' | '/'));
    let digits = w.chars().filter(char::is_ascii_digit).count();
    if !figure_chars || digits == 0 {
        return None;
    }
    let amount = w.contains(',') || w.matches('.').count() == 1;
    let groups = w
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .count();
    Some((if amount { 1 } else { groups }, digits, amount))
}

/// How many letters a token spells: "j" is one, "j-o-h-n" four. A one-letter word of the
/// language ("a", Spanish "y", Italian "e") is a word, not a spelled letter.
fn spelled_letters(w: &str, lex: &Lexicon) -> Option<usize> {
    let single = |p: &str| p.chars().count() == 1 && p.chars().all(char::is_alphabetic);
    if w.contains('-') {
        let parts: Vec<&str> = w.split('-').collect();
        return (parts.len() >= 2 && parts.iter().all(|p| single(p))).then_some(parts.len());
    }
    let word =
        lex.conjunctions.contains(&w) || lex.articles.contains(&w) || lex.prepositions.contains(&w);
    (single(w) && !word).then_some(1)
}

/// For a token with an `@`: whether the address is still open ("john@", "john@gmail") rather
/// than whole ("john@gmail.com"). `None` without an `@`.
fn glued_address(w: &str) -> Option<bool> {
    let (local, domain) = w.split_once('@')?;
    if !local.chars().any(char::is_alphanumeric) {
        return None;
    }
    let tld = domain.rsplit_once('.').map(|(_, tld)| tld);
    let whole = tld.is_some_and(|t| t.chars().count() >= 2 && t.chars().all(char::is_alphabetic));
    Some(!whole)
}
