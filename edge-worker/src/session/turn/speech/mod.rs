//! The speaking side of a turn: chunks of reply text are synthesised one at a time, in order
//! (the next is requested once the previous one's audio has all arrived, while the client is
//! still playing it), and their audio goes out as 20 ms frames. What was sent of each chunk is
//! kept, so an interruption can tell what the user heard.

use std::collections::VecDeque;

use aura_protocol::{AudioFrame, FrameHeader};

use super::io::Command;
use crate::session::heard::SpokenChunk;
use crate::session::sentence::speakable;

/// Length of a reply frame, ms (480 samples at 24 kHz).
pub const FRAME_MS: u32 = 20;

/// The chunk being synthesised.
#[derive(Debug)]
struct Synthesis {
    chunk: u32,
    text: String,
    started_ms: u64,
    answered: bool,
    pending: Vec<u8>,
    samples: u64,
}

/// The speaking side of one reply.
#[derive(Debug)]
pub struct Speech {
    response_id: u32,
    rate: u32,
    frame_bytes: usize,
    queue: VecDeque<String>,
    current: Option<Synthesis>,
    next_chunk: u32,
    seq: u32,
    chunks: Vec<SpokenChunk>,
    pub first_byte_ms: Option<u32>,
    pub first_audio_at: Option<u64>,
    failed: Option<String>,
}

impl Speech {
    pub fn new(response_id: u32, rate: u32) -> Self {
        Self {
            response_id,
            rate,
            frame_bytes: (rate * FRAME_MS / 1000) as usize * 2,
            queue: VecDeque::new(),
            current: None,
            next_chunk: 0,
            seq: 0,
            chunks: Vec::new(),
            first_byte_ms: None,
            first_audio_at: None,
            failed: None,
        }
    }

    /// A chunk of reply text to speak after the ones before it.
    pub fn push(&mut self, text: String) {
        if self.failed.is_none() {
            self.queue.push_back(text);
        }
    }

    /// Starts the next synthesis if none is running; `body` makes its request.
    pub fn poll(
        &mut self,
        now: u64,
        body: impl Fn(&str) -> serde_json::Value,
        out: &mut VecDeque<Command>,
    ) {
        while self.current.is_none() && self.failed.is_none() {
            let Some(text) = self.queue.pop_front() else {
                return;
            };
            let say = speakable(&text);
            if say.is_empty() {
                continue;
            }
            let chunk = self.next_chunk;
            self.next_chunk += 1;
            out.push_back(Command::StartTts {
                chunk,
                body: body(&say),
            });
            self.current = Some(Synthesis {
                chunk,
                text,
                started_ms: now,
                answered: false,
                pending: Vec::with_capacity(self.frame_bytes),
                samples: 0,
            });
        }
    }

    fn current(&mut self, chunk: u32) -> Option<&mut Synthesis> {
        self.current.as_mut().filter(|s| s.chunk == chunk)
    }

    /// The provider answered the chunk's request with `status`.
    pub fn on_status(&mut self, chunk: u32, status: u16) {
        let Some(s) = self.current(chunk) else { return };
        if status == 200 {
            s.answered = true;
        } else {
            self.current = None;
            self.fail(format!("text-to-speech answered HTTP {status}"));
        }
    }

    /// Audio bytes of the chunk: whole frames go out at once.
    pub fn on_audio(&mut self, chunk: u32, bytes: &[u8], now: u64, out: &mut VecDeque<Command>) {
        let (id, rate, frame_bytes) = (self.response_id, self.rate, self.frame_bytes);
        let Some(s) = self.current.as_mut().filter(|s| s.chunk == chunk) else {
            return;
        };
        self.first_byte_ms
            .get_or_insert(now.saturating_sub(s.started_ms) as u32);
        s.pending.extend_from_slice(bytes);
        let whole = s.pending.len() / frame_bytes * frame_bytes;
        for frame in s.pending[..whole].chunks_exact(frame_bytes) {
            out.push_back(frame_command(id, &mut self.seq, rate, frame));
            s.samples += (frame_bytes / 2) as u64;
            self.first_audio_at.get_or_insert(now);
        }
        s.pending.drain(..whole);
    }

    /// The chunk's audio is complete: the rest goes out as a short frame.
    pub fn on_end(&mut self, chunk: u32, out: &mut VecDeque<Command>) {
        let Some(mut s) = self.current.take_if(|s| s.chunk == chunk) else {
            return;
        };
        let even = s.pending.len() / 2 * 2;
        if even > 0 {
            out.push_back(frame_command(
                self.response_id,
                &mut self.seq,
                self.rate,
                &s.pending[..even],
            ));
            s.samples += (even / 2) as u64;
        }
        self.record(&s, true);
    }

    /// The chunk's request or audio broke off.
    pub fn on_broken(&mut self, chunk: u32) {
        let Some(s) = self.current.take_if(|s| s.chunk == chunk) else {
            return;
        };
        self.record(&s, false);
        self.fail(if s.answered {
            "text-to-speech stream broke off"
        } else {
            "text-to-speech is unreachable"
        });
    }

    /// The user interrupted, or the client left: what was sent of the current chunk is kept
    /// (incomplete), nothing more is spoken.
    pub fn cut(&mut self) {
        if let Some(s) = self.current.take() {
            self.record(&s, false);
        }
        self.queue.clear();
    }

    /// The client went away: nothing more can be sent.
    pub fn client_gone(&mut self) {
        self.cut();
        self.fail("the client went away");
    }

    fn record(&mut self, s: &Synthesis, complete: bool) {
        self.chunks.push(SpokenChunk {
            text: s.text.clone(),
            audio_ms: (s.samples * 1000 / u64::from(self.rate)) as u32,
            complete,
        });
    }

    fn fail(&mut self, why: impl Into<String>) {
        self.failed.get_or_insert_with(|| why.into());
        self.queue.clear();
    }

    /// Whether every chunk pushed so far is spoken (or dropped after a failure).
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && (self.queue.is_empty() || self.failed.is_some())
    }

    /// The chunk being synthesised, if any.
    pub fn in_flight(&self) -> bool {
        self.current.is_some()
    }

    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Frames sent so far: the END frame takes this sequence number.
    pub fn frames_sent(&self) -> u32 {
        self.seq
    }

    /// The spoken chunks (those with audio), in order.
    pub fn spoken(&self) -> Vec<SpokenChunk> {
        self.chunks
            .iter()
            .filter(|c| c.audio_ms > 0)
            .cloned()
            .collect()
    }

    /// The frame that tells the client the reply is complete.
    pub fn end_frame(&self) -> Command {
        let header = FrameHeader::output(self.response_id, self.seq, self.rate, 0).ending();
        Command::SendFrame(AudioFrame::to_bytes(&header, &[]).unwrap_or_default())
    }
}

fn frame_command(id: u32, seq: &mut u32, rate: u32, pcm: &[u8]) -> Command {
    let header = FrameHeader::output(id, *seq, rate, (pcm.len() / 2) as u16);
    *seq += 1;
    // The header is valid by construction (an allowed rate, at most one 20 ms frame).
    Command::SendFrame(AudioFrame::to_bytes(&header, pcm).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(out: &VecDeque<Command>) -> Vec<(u32, usize)> {
        out.iter()
            .filter_map(|c| match c {
                Command::SendFrame(b) => {
                    let f = AudioFrame::decode(b).unwrap();
                    Some((f.header.seq, f.pcm_bytes().len()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn chunks_are_synthesised_in_order_one_at_a_time_and_framed_every_20_ms() {
        let mut s = Speech::new(3, 24_000);
        let mut out = VecDeque::new();
        let body = |t: &str| serde_json::json!({ "input": t });
        s.push("Hello there.".into());
        s.push(" ".into()); // nothing to say: skipped
        s.push("Bye.".into());
        s.poll(0, body, &mut out);
        assert!(matches!(
            out.pop_front(),
            Some(Command::StartTts { chunk: 0, .. })
        ));
        assert!(out.is_empty(), "one synthesis at a time");
        s.on_status(0, 200);
        s.on_audio(0, &[0; 1500], 40, &mut out);
        s.on_audio(0, &[0; 500], 45, &mut out);
        s.on_end(0, &mut out);
        assert_eq!(frames(&out), vec![(0, 960), (1, 960), (2, 80)]);
        assert_eq!(s.first_byte_ms, Some(40));
        out.clear();
        s.poll(50, body, &mut out);
        assert!(matches!(&out[0], Command::StartTts { chunk: 1, body } if body["input"] == "Bye."));
        s.on_status(1, 200);
        s.on_audio(1, &[0; 961], 60, &mut out); // an odd byte is dropped at the end
        s.on_end(1, &mut out);
        assert!(s.is_idle());
        let spoken = s.spoken();
        assert_eq!(spoken.len(), 2);
        assert_eq!(spoken[0].audio_ms, 41, "1 000 samples at 24 kHz");
        assert!(spoken.iter().all(|c| c.complete));
        assert_eq!(s.frames_sent(), 4);
    }

    #[test]
    fn a_failure_drops_the_rest_and_a_cut_keeps_what_was_sent() {
        let mut s = Speech::new(1, 24_000);
        let mut out = VecDeque::new();
        let body = |t: &str| serde_json::json!({ "input": t });
        s.push("One.".into());
        s.push("Two.".into());
        s.poll(0, body, &mut out);
        s.on_status(0, 500);
        assert_eq!(s.failure(), Some("text-to-speech answered HTTP 500"));
        assert!(s.is_idle(), "the queued chunk is dropped");
        let mut s = Speech::new(1, 24_000);
        s.push("One sentence.".into());
        s.poll(0, body, &mut out);
        s.on_status(0, 200);
        s.on_audio(0, &[0; 960 * 5], 10, &mut out);
        s.cut();
        let spoken = s.spoken();
        assert_eq!((spoken[0].audio_ms, spoken[0].complete), (100, false));
        // Events of a chunk no longer in flight are ignored.
        s.on_audio(0, &[0; 960], 20, &mut out);
        s.on_end(0, &mut out);
        assert_eq!(s.spoken().len(), 1);
    }
}
