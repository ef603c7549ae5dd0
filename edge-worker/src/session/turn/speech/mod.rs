//! The speaking side of a turn: chunks of reply text are synthesised one at a time, in order
//! (the next is requested once the previous one's audio has all arrived, while the client is
//! still playing it), and their audio goes out as 20 ms frames at one rate per reply (the
//! first chunk's, converted where the protocol does not allow it; a later chunk at another
//! rate is converted to it). A route that fails before its first byte of audio hands the chunk
//! to the next route, which speaks the rest of the reply. What was sent of each chunk is kept,
//! so an interruption can tell what the user heard.

use std::collections::VecDeque;

use aura_protocol::{AudioFrame, FrameHeader};
use serde_json::json;

use super::config::TTS_RATE;
use super::io::Command;
use crate::providers::tts::TtsRequest;
use crate::providers::tts::audio::SpeechAudio;
use crate::session::heard::SpokenChunk;
use crate::session::sentence::speakable;

/// Length of a reply frame, ms (480 samples at 24 kHz).
pub const FRAME_MS: u32 = 20;

/// The chunk being synthesised.
#[derive(Debug)]
struct Synthesis {
    /// The request's id (a retry on the next route gets a new one).
    chunk: u32,
    route: usize,
    text: String,
    started_ms: u64,
    answered: bool,
    audio: SpeechAudio,
    /// Decoded samples not yet framed.
    pending: Vec<i16>,
    /// Whether any audio of it arrived.
    heard_from: bool,
    samples: u64,
}

/// The speaking side of one reply.
#[derive(Debug)]
pub struct Speech {
    response_id: u32,
    /// Each route's audio rate (`None`: a WAV header says).
    routes: Vec<Option<u32>>,
    /// The route new chunks go to: the next one after a route failed.
    route: usize,
    /// The reply's rate, once its first audio set it.
    rate: Option<u32>,
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
    /// The speech of reply `response_id` over TTS routes whose audio comes at `routes`' rates.
    pub fn new(response_id: u32, routes: Vec<Option<u32>>) -> Self {
        Self {
            response_id,
            routes,
            route: 0,
            rate: None,
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

    /// Starts the next synthesis if none is running; `request(route, text)` makes its request.
    pub fn poll(
        &mut self,
        now: u64,
        request: impl Fn(usize, &str) -> Option<TtsRequest>,
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
            let route = self.route;
            let Some(request) = request(route, &say) else {
                self.fail("no text-to-speech route is configured");
                return;
            };
            let chunk = self.next_chunk;
            self.next_chunk += 1;
            out.push_back(Command::StartTts {
                chunk,
                route,
                request,
            });
            let source_rate = self.routes.get(route).copied().flatten();
            self.current = Some(Synthesis {
                chunk,
                route,
                text,
                started_ms: now,
                answered: false,
                audio: SpeechAudio::new(source_rate, self.rate),
                pending: Vec::new(),
                heard_from: false,
                samples: 0,
            });
        }
    }

    /// The provider answered the chunk's request with `status` (200: its audio follows).
    pub fn on_status(&mut self, chunk: u32, status: u16, out: &mut VecDeque<Command>) {
        if status == 200 {
            if let Some(s) = self.current.as_mut().filter(|s| s.chunk == chunk) {
                s.answered = true;
            }
        } else {
            self.on_refused(chunk, status, None, out);
        }
    }

    /// The provider refused the chunk with `status` and its error `code`.
    pub fn on_refused(
        &mut self,
        chunk: u32,
        status: u16,
        code: Option<&str>,
        out: &mut VecDeque<Command>,
    ) {
        let why = match code {
            Some(code) => format!("text-to-speech answered HTTP {status} ({code})"),
            None => format!("text-to-speech answered HTTP {status}"),
        };
        self.chunk_failed(chunk, why, out);
    }

    /// Audio bytes of the chunk: whole frames go out at once.
    pub fn on_audio(&mut self, chunk: u32, bytes: &[u8], now: u64, out: &mut VecDeque<Command>) {
        let Some(s) = self.current.as_mut().filter(|s| s.chunk == chunk) else {
            return;
        };
        if let Err(e) = s.audio.push(bytes, &mut s.pending) {
            out.push_back(Command::AbortTts);
            self.chunk_failed(
                chunk,
                format!("text-to-speech audio cannot be played: {e}"),
                out,
            );
            return;
        }
        s.heard_from |= !bytes.is_empty();
        self.first_byte_ms
            .get_or_insert(now.saturating_sub(s.started_ms) as u32);
        self.send_frames(false, now, out);
    }

    /// The chunk's audio is complete: the rest goes out as a short frame.
    pub fn on_end(&mut self, chunk: u32, now: u64, out: &mut VecDeque<Command>) {
        let Some(s) = self.current.as_mut().filter(|s| s.chunk == chunk) else {
            return;
        };
        if !s.heard_from {
            // A 200 with no audio at all is a failure of the route, not a silent chunk.
            self.chunk_failed(chunk, "text-to-speech sent no audio".into(), out);
            return;
        }
        s.audio.finish(&mut s.pending);
        self.send_frames(true, now, out);
        if let Some(s) = self.current.take() {
            self.record(&s, true);
        }
    }

    /// The chunk's request or audio broke off.
    pub fn on_broken(&mut self, chunk: u32, out: &mut VecDeque<Command>) {
        let Some(s) = self.current.as_ref().filter(|s| s.chunk == chunk) else {
            return;
        };
        let why = if s.answered {
            "text-to-speech stream broke off"
        } else {
            "text-to-speech is unreachable"
        };
        self.chunk_failed(chunk, why.into(), out);
    }

    /// Frames the current chunk's decoded samples: whole 20 ms frames, and the rest if `last`.
    fn send_frames(&mut self, last: bool, now: u64, out: &mut VecDeque<Command>) {
        let Some(s) = self.current.as_mut() else {
            return;
        };
        let Some(rate) = s.audio.rate_out() else {
            return; // a WAV header still arriving
        };
        self.rate.get_or_insert(rate);
        let frame = (rate * FRAME_MS / 1000) as usize;
        let whole = if last {
            s.pending.len()
        } else {
            s.pending.len() / frame * frame
        };
        for samples in s.pending[..whole].chunks(frame) {
            out.push_back(frame_command(
                self.response_id,
                &mut self.seq,
                rate,
                samples,
            ));
            s.samples += samples.len() as u64;
            self.first_audio_at.get_or_insert(now);
        }
        s.pending.drain(..whole);
    }

    /// The chunk failed: before its first audio, the next route speaks it (and the rest);
    /// otherwise the reply's speech ends failed.
    fn chunk_failed(&mut self, chunk: u32, why: String, out: &mut VecDeque<Command>) {
        let Some(s) = self.current.take_if(|s| s.chunk == chunk) else {
            return;
        };
        let next = s.route + 1;
        if !s.heard_from && next < self.routes.len() {
            out.push_back(Command::Log(json!({
                "event": "tts_fallback", "from_route": s.route, "to_route": next, "reason": why,
            })));
            self.route = next;
            self.queue.push_front(s.text);
            return;
        }
        self.record(&s, false);
        self.fail(why);
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
        let rate = s.audio.rate_out().unwrap_or(TTS_RATE);
        self.chunks.push(SpokenChunk {
            text: s.text.clone(),
            audio_ms: (s.samples * 1000 / u64::from(rate)) as u32,
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

    /// The rate of the reply's frames (the default until its first audio).
    pub fn rate(&self) -> u32 {
        self.rate.unwrap_or(TTS_RATE)
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
        let header = FrameHeader::output(self.response_id, self.seq, self.rate(), 0).ending();
        Command::SendFrame(AudioFrame::to_bytes(&header, &[]).unwrap_or_default())
    }
}

fn frame_command(id: u32, seq: &mut u32, rate: u32, samples: &[i16]) -> Command {
    let header = FrameHeader::output(id, *seq, rate, samples.len() as u16);
    *seq += 1;
    let mut bytes = Vec::with_capacity(aura_protocol::HEADER_LEN + 2 * samples.len());
    // The header is valid by construction (an allowed rate, at most one 20 ms frame).
    let _ = AudioFrame::encode(&header, samples, &mut bytes);
    Command::SendFrame(bytes)
}

#[cfg(test)]
mod tests;
