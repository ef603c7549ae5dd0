//! Cuts the LLM's token stream into chunks for streaming TTS.
//!
//! A chunk ends at a sentence end (`. ! ? …` followed by white space, or `。！？` at once), at a
//! line break (lists, paragraphs), or, when a run grows past `max_chars`, at the last clause
//! mark or space. A `.` is not a sentence end after a known abbreviation (`Dr.`, `e.g.`), an
//! initial (`J.`), inside a number (`3.5`), after a list number at the start of a line (`1.`),
//! or when the next word starts in lower case. The **first** chunk of a reply goes out early, at
//! the first clause mark (`, ; : —`) after `first_min_words` words, so speech starts while the
//! rest of the sentence is still being generated.
//!
//! The result does not depend on how the text was split into tokens.

/// Cutter parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutterConfig {
    /// Words needed before the first chunk may end at a clause mark. Default 4.
    pub first_min_words: usize,
    /// Longest chunk, in characters, before it is cut at a clause mark or a space. Default 240.
    pub max_chars: usize,
}

impl Default for CutterConfig {
    fn default() -> Self {
        Self {
            first_min_words: 4,
            max_chars: 240,
        }
    }
}

const ABBREVIATIONS: [&str; 24] = [
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "approx",
    "inc", "ltd", "co", "mt", "ft", "dept", "est", "fig", "ave", "u.s",
];

/// The cutter for one reply.
#[derive(Debug, Clone)]
pub struct SentenceCutter {
    config: CutterConfig,
    buf: String,
    chunks: usize,
}

impl SentenceCutter {
    pub fn new(config: CutterConfig) -> Self {
        Self {
            config,
            buf: String::new(),
            chunks: 0,
        }
    }

    /// Adds streamed text; calls `emit` with every chunk it completes.
    pub fn push(&mut self, text: &str, mut emit: impl FnMut(String)) {
        self.buf.push_str(text);
        while let Some(cut) = self.find_cut(false) {
            self.take(cut, &mut emit);
        }
    }

    /// The reply is complete: emits what remains (cut as needed).
    pub fn finish(&mut self, mut emit: impl FnMut(String)) {
        while let Some(cut) = self.find_cut(true) {
            self.take(cut, &mut emit);
        }
        let rest = self.buf.trim();
        if !rest.is_empty() {
            emit(rest.to_string());
            self.chunks += 1;
        }
        self.buf.clear();
    }

    fn take(&mut self, cut: usize, emit: &mut impl FnMut(String)) {
        let chunk = self.buf[..cut].trim().to_string();
        self.buf.replace_range(..cut, "");
        let trimmed = self.buf.trim_start().len();
        let start = self.buf.len() - trimmed;
        self.buf.replace_range(..start, "");
        if !chunk.is_empty() {
            emit(chunk);
            self.chunks += 1;
        }
    }

    /// Byte index just after the next chunk's end, if one is decided.
    fn find_cut(&self, at_end: bool) -> Option<usize> {
        let s = &self.buf;
        let chars: Vec<(usize, char)> = s.char_indices().collect();
        let mut words = 0;
        let mut in_word = false;
        let mut last_clause: Option<usize> = None;
        let mut last_space: Option<usize> = None;
        for (k, &(i, c)) in chars.iter().enumerate() {
            let after = i + c.len_utf8();
            if c.is_whitespace() {
                in_word = false;
                last_space = Some(i);
            } else if !in_word {
                in_word = true;
                words += 1;
            }
            if c == '\n' && !s[..i].trim().is_empty() {
                return Some(after);
            }
            if matches!(c, '。' | '！' | '？') {
                return Some(after);
            }
            if matches!(c, '.' | '!' | '?' | '…') {
                // Closing quotes and brackets belong to the sentence.
                let mut end_k = k + 1;
                while chars
                    .get(end_k)
                    .is_some_and(|&(_, q)| matches!(q, '"' | '\'' | ')' | ']' | '”' | '’' | '.'))
                {
                    end_k += 1;
                }
                match chars.get(end_k) {
                    None if !at_end => return None, // undecided until the next character arrives
                    None => {}
                    Some(&(_, next)) if !next.is_whitespace() => continue,
                    Some(_) => {}
                }
                if c == '.' && !self.dot_ends_sentence(&chars, k, end_k, at_end) {
                    continue;
                }
                if c == '.'
                    && chars.get(end_k).is_some()
                    && self.next_word_start(&chars, end_k).is_none()
                    && !at_end
                {
                    return None; // need the next word to judge its case
                }
                return Some(chars.get(end_k).map_or(s.len(), |&(j, _)| j));
            }
            if matches!(c, ',' | ';' | ':' | '—')
                && chars.get(k + 1).is_some_and(|&(_, n)| n.is_whitespace())
            {
                last_clause = Some(after);
                if self.chunks == 0 && words >= self.config.first_min_words {
                    return Some(after);
                }
            }
            if after > self.config.max_chars {
                return last_clause.or(last_space).or(Some(after));
            }
        }
        None
    }

    /// The first character of the word after position `from`, if it has arrived.
    fn next_word_start(&self, chars: &[(usize, char)], from: usize) -> Option<char> {
        chars[from..]
            .iter()
            .map(|&(_, c)| c)
            .find(|c| !c.is_whitespace())
    }

    fn dot_ends_sentence(
        &self,
        chars: &[(usize, char)],
        k: usize,
        end_k: usize,
        at_end: bool,
    ) -> bool {
        // The word before the dot (letters, digits and inner dots, as in "e.g").
        let mut b = k;
        while b > 0 && (chars[b - 1].1.is_alphanumeric() || chars[b - 1].1 == '.') {
            b -= 1;
        }
        let word: String = chars[b..k]
            .iter()
            .map(|&(_, c)| c)
            .collect::<String>()
            .to_lowercase();
        let at_line_start = b == 0 || chars[b - 1].1 == '\n';
        if !word.is_empty()
            && word.chars().all(|c| c.is_ascii_digit())
            && at_line_start
            && b + word.len() == k
        {
            return false; // "1. " list number
        }
        if ABBREVIATIONS.contains(&word.as_str()) {
            return false;
        }
        if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
            return false; // an initial, "J."
        }
        match self.next_word_start(chars, end_k) {
            Some(n) => !n.is_lowercase(),
            None => at_end,
        }
    }
}

/// The text to send to TTS for a chunk: Markdown emphasis, headings, code marks and list bullets
/// removed, white space folded. Captions keep the original text.
pub fn speakable(chunk: &str) -> String {
    let mut out = String::with_capacity(chunk.len());
    for line in chunk.lines() {
        let line = line.trim_start();
        let line = line.trim_start_matches('#').trim_start();
        let line = line
            .strip_prefix("- ")
            .or_else(|| line.strip_prefix("* "))
            .unwrap_or(line);
        for c in line.chars() {
            if !matches!(c, '*' | '_' | '`') {
                out.push(c);
            }
        }
        out.push(' ');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str, config: CutterConfig) -> Vec<String> {
        let mut c = SentenceCutter::new(config);
        let mut out = Vec::new();
        c.push(text, |s| out.push(s));
        c.finish(|s| out.push(s));
        out
    }

    /// Cuts the text fed one character at a time, and in 3-character tokens; both must equal
    /// the whole-text result.
    fn cut_streamed(text: &str) -> Vec<String> {
        let whole = cut(text, CutterConfig::default());
        for size in [1, 3, 7] {
            let mut c = SentenceCutter::new(CutterConfig::default());
            let mut out = Vec::new();
            let chars: Vec<char> = text.chars().collect();
            for token in chars.chunks(size) {
                c.push(&token.iter().collect::<String>(), |s| out.push(s));
            }
            c.finish(|s| out.push(s));
            assert_eq!(out, whole, "tokens of {size} chars");
        }
        whole
    }

    #[test]
    fn abbreviations_decimals_and_initials_do_not_end_sentences() {
        assert_eq!(
            cut_streamed(
                "Hi. Dr. Smith paid 3.50 dollars at St. Mary's, e.g. for J. R. R. Tolkien books. Then he left!"
            ),
            // Only a reply's first chunk ends early at a clause; "Hi." was the first.
            vec![
                "Hi.",
                "Dr. Smith paid 3.50 dollars at St. Mary's, e.g. for J. R. R. Tolkien books.",
                "Then he left!"
            ]
        );
    }

    #[test]
    fn the_first_chunk_goes_out_at_a_clause_after_four_words() {
        assert_eq!(
            cut_streamed(
                "Sure, I can check that for you, it takes a moment. The order shipped yesterday, and arrives Friday."
            ),
            vec![
                "Sure, I can check that for you,",
                "it takes a moment.",
                "The order shipped yesterday, and arrives Friday.",
            ]
        );
    }

    #[test]
    fn lists_and_line_breaks_cut_but_list_numbers_do_not() {
        assert_eq!(
            cut_streamed(
                "We bake three loaves:\n1. Sourdough\n2. Rye with 3.5% seeds\n\n- Cakes need notice."
            ),
            vec![
                "We bake three loaves:",
                "1. Sourdough",
                "2. Rye with 3.5% seeds",
                "- Cakes need notice."
            ]
        );
    }

    #[test]
    fn quotes_stay_with_their_sentence_and_lower_case_continues_it() {
        assert_eq!(
            cut_streamed(
                "He said \"we open at nine.\" Then approx. ten people came. Ok, it was fine. and so on"
            ),
            vec![
                "He said \"we open at nine.\"",
                "Then approx. ten people came.",
                "Ok, it was fine. and so on"
            ]
        );
    }

    #[test]
    fn cjk_sentences_end_without_spaces() {
        assert_eq!(
            cut_streamed("你好。我们九点开门！"),
            vec!["你好。", "我们九点开门！"]
        );
    }

    #[test]
    fn a_run_without_punctuation_is_cut_at_spaces_before_the_limit() {
        let text = "word ".repeat(200);
        let chunks = cut_streamed(&text);
        assert!(chunks.len() >= 4, "{}", chunks.len());
        assert!(
            chunks.iter().all(|c| c.chars().count() <= 240),
            "{chunks:?}"
        );
        assert_eq!(chunks.join(" "), text.trim());
    }

    #[test]
    fn nothing_is_lost_or_duplicated() {
        let text =
            "One. Two, three, four, five, six; seven! Eight? Nine… ten.\n- eleven\n12. twelve";
        let joined: String = cut_streamed(text).join(" ");
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(squash(&joined), squash(text));
    }

    #[test]
    fn speakable_text_drops_markdown_marks() {
        assert_eq!(speakable("## **Hours**: `Tue`-_Sat_"), "Hours: Tue-Sat");
        assert_eq!(speakable("- Sourdough\n- Rye"), "Sourdough Rye");
    }
}
