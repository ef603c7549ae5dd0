//! Incremental Server-Sent Events parser (the WHATWG event-stream format), for streamed LLM
//! replies. Bytes arrive in reads of any size: an event, a line, even a UTF-8 character can be
//! split across reads. Lines end in LF, CRLF or CR; a blank line dispatches the event; lines
//! starting with `:` are comments (keep-alives). Memory is bounded: an event larger than the
//! limit is a typed error, not an unbounded buffer.
//!
//! One extension to the format: older llama.cpp servers report a failure mid-stream with a
//! non-standard `error:` field (`error: {"code":500,"message":...,"type":"server_error"}`,
//! a blank line, then `data: [DONE]`, all with HTTP 200). The format says to ignore unknown
//! fields, which would turn the failure into an empty successful reply; the parser keeps the
//! field's value in [`SseEvent::error`] and dispatches an event that has it even without data.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any (`message` is the default type).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The non-standard `error:` field (llama.cpp), if any: its last value.
    pub error: Option<String>,
}

/// Why the stream cannot be parsed further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event exceeded {0} bytes")]
    TooLarge(usize),
    #[error("the stream is not valid UTF-8")]
    NotUtf8,
}

/// The parser. Feed it reads with [`SseParser::push`]; call [`SseParser::finish`] at the end.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    event: Option<String>,
    error: Option<String>,
    /// The previous read ended in CR: a leading LF of the next read belongs to it.
    after_cr: bool,
    max_event: usize,
}

impl SseParser {
    /// A parser that refuses events (or lines) over `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        Self {
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            event: None,
            error: None,
            after_cr: false,
            max_event,
        }
    }

    /// Parses one read; calls `on_event` for every event it completes.
    pub fn push(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(SseEvent),
    ) -> Result<(), SseError> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, &mut on_event)?;
                    self.line = line;
                    self.line.clear();
                }
                _ => {
                    if self.line.len() + self.data.len() >= self.max_event {
                        return Err(SseError::TooLarge(self.max_event));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    /// Ends the stream. Per the format, an event not closed by a blank line is dropped; this
    /// returns true if such an unfinished event was pending (a stream cut mid-event).
    pub fn finish(&mut self) -> bool {
        let unfinished = self.has_data || self.error.is_some() || !self.line.is_empty();
        self.line.clear();
        self.data.clear();
        self.has_data = false;
        self.event = None;
        self.error = None;
        unfinished
    }

    fn line_done(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(SseEvent),
    ) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data || self.error.is_some() {
                on_event(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                    error: self.error.take(),
                });
            }
            self.has_data = false;
            self.event = None;
            self.error = None;
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
                if self.data.len() > self.max_event {
                    return Err(SseError::TooLarge(self.max_event));
                }
            }
            "event" => self.event = Some(value.to_string()),
            "error" => {
                if self.data.len() + value.len() > self.max_event {
                    return Err(SseError::TooLarge(self.max_event));
                }
                self.error = Some(value.to_string());
            }
            // `id` and `retry` matter to reconnecting EventSource clients, not to us.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(stream: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut p = SseParser::new(1 << 16);
        let mut out = Vec::new();
        for chunk in stream.chunks(piece) {
            p.push(chunk, |e| out.push(e)).unwrap();
        }
        out
    }

    const STREAM: &str = ": keep-alive\n\ndata: {\"a\":1}\n\nevent: error\r\ndata: line one\r\ndata: line two\r\n\r\ndata:no-space\rdata: [DONE]\n\n";

    #[test]
    fn events_are_the_same_whatever_the_read_boundaries() {
        let whole = parse_in_pieces(STREAM.as_bytes(), STREAM.len());
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: None,
                    data: "{\"a\":1}".into(),
                    error: None,
                },
                SseEvent {
                    event: Some("error".into()),
                    data: "line one\nline two".into(),
                    error: None,
                },
                SseEvent {
                    event: None,
                    data: "no-space\n[DONE]".into(),
                    error: None,
                },
            ]
        );
        for piece in 1..STREAM.len() {
            assert_eq!(
                parse_in_pieces(STREAM.as_bytes(), piece),
                whole,
                "reads of {piece} bytes"
            );
        }
    }

    #[test]
    fn a_multibyte_character_split_across_reads_survives() {
        let stream = "data: caf\u{e9} \u{1f600}\n\n".as_bytes();
        for piece in 1..stream.len() {
            assert_eq!(
                parse_in_pieces(stream, piece)[0].data,
                "caf\u{e9} \u{1f600}"
            );
        }
    }

    #[test]
    fn comments_alone_dispatch_nothing_and_an_unfinished_event_is_reported() {
        let mut p = SseParser::new(1024);
        let mut n = 0;
        p.push(b": ping\n\n: ping\n\ndata: partial", |_| n += 1)
            .unwrap();
        assert_eq!(n, 0);
        assert!(p.finish(), "the cut event is reported");
        assert!(!p.finish());
    }

    #[test]
    fn llama_cpp_error_field_is_kept_and_dispatched_without_data_for_any_split() {
        let stream = b"data: {\"a\":1}\n\nerror: {\"code\":500,\"message\":\"boom\",\"type\":\"server_error\"}\n\ndata: [DONE]\n\n";
        let whole = parse_in_pieces(stream, stream.len());
        assert_eq!(whole.len(), 3);
        assert_eq!(
            whole[1],
            SseEvent {
                event: None,
                data: String::new(),
                error: Some("{\"code\":500,\"message\":\"boom\",\"type\":\"server_error\"}".into()),
            }
        );
        assert_eq!(whole[2].data, "[DONE]");
        for piece in 1..stream.len() {
            assert_eq!(parse_in_pieces(stream, piece), whole, "reads of {piece}");
        }
        // Cut right after the error line, before its blank line: pending, not lost silently.
        let mut p = SseParser::new(1024);
        p.push(b"error: {}\n", |_| panic!("not yet dispatched"))
            .unwrap();
        assert!(p.finish());
    }

    #[test]
    fn oversize_events_and_bad_utf8_are_typed_errors() {
        let mut p = SseParser::new(64);
        let big = format!("data: {}\n\n", "x".repeat(100));
        assert_eq!(p.push(big.as_bytes(), |_| {}), Err(SseError::TooLarge(64)));
        let mut p = SseParser::new(64);
        let many = "data: 0123456789\n".repeat(10);
        assert_eq!(p.push(many.as_bytes(), |_| {}), Err(SseError::TooLarge(64)));
        let mut p = SseParser::new(64);
        assert_eq!(
            p.push(b"data: \xff\xfe\n\n", |_| {}),
            Err(SseError::NotUtf8)
        );
    }
}
