//! Strips `<think>...</think>` reasoning from streamed reply text. Some hosts put a model's raw
//! reasoning into `content` (Groq's qwen3 with the raw reasoning format, DeepSeek-R1 on some
//! hosts) instead of a separate `reasoning_content` field; it must never be spoken, captioned or
//! stored. The text arrives in deltas of any size, so a tag can be split anywhere (`<th` +
//! `ink>`): the filter holds back at most a tag's length of text that might still become a tag,
//! and releases it as soon as it cannot. Plain Rust, no allocation beyond the held-back bytes.
//!
//! The whitespace right after a leading block's closing tag (models write `</think>\n\n`) is
//! dropped too, so the reply does not start with blank lines. An unclosed `<think>` hides the rest of the reply.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// What the filter lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filtered {
    /// Reply text, in order.
    Content(String),
    /// This many bytes of reasoning were dropped (never the text: it is not to be kept).
    Reasoning(usize),
}

/// The filter for one reply.
#[derive(Debug, Default, Clone)]
pub struct ThinkFilter {
    /// Inside a `<think>` block.
    inside: bool,
    /// A tail that may be the start of a tag (always shorter than the tag).
    held: String,
    /// Just after `</think>`: leading whitespace of what follows is dropped.
    skip_space: bool,
    /// Some content was released already.
    emitted: bool,
}

/// The length of the longest suffix of `text` that is a proper prefix of `tag`.
fn partial_tag_len(text: &str, tag: &str) -> usize {
    let max = (tag.len() - 1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n) && tag.starts_with(&text[text.len() - n..])
        })
        .unwrap_or(0)
}

impl ThinkFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the filter is inside a reasoning block now.
    pub fn in_reasoning(&self) -> bool {
        self.inside
    }

    /// One delta of reply text; calls `out` with what can be released now, in order.
    pub fn push(&mut self, text: &str, mut out: impl FnMut(Filtered)) {
        if text.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.push_str(text);
        let mut rest = buf.as_str();
        loop {
            if self.inside {
                match rest.find(CLOSE) {
                    Some(at) => {
                        let dropped = at + CLOSE.len();
                        out(Filtered::Reasoning(dropped));
                        rest = &rest[dropped..];
                        self.inside = false;
                        // Blank lines after a leading block are dropped; mid-reply, spacing stays.
                        self.skip_space = !self.emitted;
                    }
                    None => {
                        let keep = partial_tag_len(rest, CLOSE);
                        let dropped = rest.len() - keep;
                        if dropped > 0 {
                            out(Filtered::Reasoning(dropped));
                        }
                        self.held = rest[dropped..].to_string();
                        return;
                    }
                }
            } else {
                match rest.find(OPEN) {
                    Some(at) => {
                        self.content(&rest[..at], &mut out);
                        out(Filtered::Reasoning(OPEN.len()));
                        rest = &rest[at + OPEN.len()..];
                        self.inside = true;
                    }
                    None => {
                        let keep = partial_tag_len(rest, OPEN);
                        let (now, later) = rest.split_at(rest.len() - keep);
                        self.content(now, &mut out);
                        self.held = later.to_string();
                        return;
                    }
                }
            }
        }
    }

    /// The reply's text ended: releases what was held back (a partial tag that never completed
    /// is text outside a block, reasoning inside one).
    pub fn flush(&mut self, mut out: impl FnMut(Filtered)) {
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return;
        }
        if self.inside {
            out(Filtered::Reasoning(held.len()));
        } else {
            self.content(&held, &mut out);
        }
    }

    fn content(&mut self, text: &str, out: &mut impl FnMut(Filtered)) {
        let text = if self.skip_space {
            let trimmed = text.trim_start();
            if trimmed.is_empty() {
                return;
            }
            self.skip_space = false;
            trimmed
        } else {
            text
        };
        if !text.is_empty() {
            self.emitted = true;
            out(Filtered::Content(text.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `deltas` through a filter; returns (content joined, reasoning bytes, content pieces).
    fn run(deltas: &[&str]) -> (String, usize, usize) {
        let mut f = ThinkFilter::new();
        let mut text = String::new();
        let mut reasoning = 0;
        let mut pieces = 0;
        let mut take = |e: Filtered| match e {
            Filtered::Content(t) => {
                assert!(!t.is_empty());
                pieces += 1;
                text.push_str(&t);
            }
            Filtered::Reasoning(n) => reasoning += n,
        };
        for d in deltas {
            f.push(d, &mut take);
        }
        f.flush(&mut take);
        (text, reasoning, pieces)
    }

    const SAMPLE: &str = "<think>The user asks when we open. Say nine.</think>\n\nWe open at nine. <b>Bold</b> < 3 <thinking is fine";

    #[test]
    fn a_leading_think_block_is_removed_with_the_blank_lines_after_it() {
        let (text, reasoning, _) = run(&[SAMPLE]);
        assert_eq!(text, "We open at nine. <b>Bold</b> < 3 <thinking is fine");
        assert_eq!(
            reasoning,
            "<think>The user asks when we open. Say nine.</think>".len()
        );
    }

    #[test]
    fn every_split_point_of_the_sample_gives_the_same_text() {
        let (whole, reasoning, _) = run(&[SAMPLE]);
        for at in 0..=SAMPLE.len() {
            let (text, r, _) = run(&[&SAMPLE[..at], &SAMPLE[at..]]);
            assert_eq!(text, whole, "split at {at}");
            assert_eq!(r, reasoning, "split at {at}");
        }
        // Every pair of split points too (three deltas).
        for a in 0..=SAMPLE.len() {
            for b in a..=SAMPLE.len() {
                let (text, _, _) = run(&[&SAMPLE[..a], &SAMPLE[a..b], &SAMPLE[b..]]);
                assert_eq!(text, whole, "split at {a} and {b}");
            }
        }
    }

    #[test]
    fn byte_by_byte_deltas_and_multibyte_text_around_the_tags() {
        let sample =
            "caf\u{e9}<think>r\u{e9}flexion \u{1f914}</think> d\u{e9}j\u{e0} vu \u{1f600}<";
        let chars: Vec<String> = sample.chars().map(String::from).collect();
        let deltas: Vec<&str> = chars.iter().map(String::as_str).collect();
        let (text, _, _) = run(&deltas);
        assert_eq!(text, "caf\u{e9} d\u{e9}j\u{e0} vu \u{1f600}<");
        for at in (0..=sample.len()).filter(|&i| sample.is_char_boundary(i)) {
            assert_eq!(
                run(&[&sample[..at], &sample[at..]]).0,
                text,
                "split at {at}"
            );
        }
    }

    #[test]
    fn text_without_tags_passes_unchanged_and_at_once() {
        let (text, reasoning, pieces) = run(&["We open ", "at nine."]);
        assert_eq!(
            (text.as_str(), reasoning, pieces),
            ("We open at nine.", 0, 2)
        );
        // A `<` that cannot start a tag is not held back.
        let mut f = ThinkFilter::new();
        let mut got = Vec::new();
        f.push("a <b", |e| got.push(e));
        assert_eq!(got, vec![Filtered::Content("a <b".into())]);
        // One that can is held until it cannot.
        let mut got = Vec::new();
        f.push(" and <th", |e| got.push(e));
        assert_eq!(got, vec![Filtered::Content(" and ".into())]);
        let mut got = Vec::new();
        f.push("e end", |e| got.push(e));
        assert_eq!(got, vec![Filtered::Content("<the end".into())]);
    }

    #[test]
    fn an_unclosed_block_hides_the_rest_and_several_blocks_are_all_removed() {
        assert_eq!(run(&["<think>still thinking when cut </thi"]).0, "");
        let (text, _, _) = run(&["A<think>x</think> B <think>y</think>C"]);
        assert_eq!(text, "A B C");
        assert_eq!(run(&["<think></think>", "   ", "\n", "Hi"]).0, "Hi");
        // The whitespace skip ends at the first text: later spaces stay.
        assert_eq!(run(&["<think>a</think>", " Hi", " there"]).0, "Hi there");
    }

    #[test]
    fn in_reasoning_reports_the_state() {
        let mut f = ThinkFilter::new();
        f.push("<thi", |_| {});
        assert!(!f.in_reasoning());
        f.push("nk>hm", |_| {});
        assert!(f.in_reasoning());
        f.push("</think>ok", |_| {});
        assert!(!f.in_reasoning());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_grow_the_held_text() {
        // A small deterministic generator over an alphabet rich in tag characters.
        let alphabet = ["<", "/", "t", "h", "i", "n", "k", ">", " ", "\u{e9}", "x"];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2_000 {
            let mut f = ThinkFilter::new();
            for _ in 0..20 {
                let mut delta = String::new();
                for _ in 0..(seed % 7) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    delta.push_str(alphabet[(seed % alphabet.len() as u64) as usize]);
                }
                f.push(&delta, |_| {});
                assert!(f.held.len() < CLOSE.len());
                seed = seed.wrapping_add(1);
            }
            f.flush(|_| {});
        }
    }
}
