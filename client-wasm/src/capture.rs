//! The capture pipeline the AudioWorklet runs for every render quantum: microphone at the
//! context rate -> 16 kHz -> VAD -> turn-taking (or, while a reply plays, barge-in) -> 20 ms
//! protocol frames of each utterance, starting `pre_speech_pad_ms` before its detected start.
//!
//! Sans-IO: the worklet passes the microphone block and the block it just played, and forwards
//! whatever [`CaptureEvent`]s come back. Nothing is allocated after construction.

use crate::barge_in::{BargeIn, BargeInConfig, BargeInEvent};
use crate::framer::Framer;
use crate::resample::{Filter, ResampleError, StreamResampler};
use crate::turn::{EndOfTurn, TurnConfig, TurnDetector, TurnEvent};
use crate::vad::{VAD_FRAME_MS, VAD_FRAME_SAMPLES, Vad};

/// What the capture pipeline asks the client to do.
#[derive(Debug, PartialEq)]
pub enum CaptureEvent<'a> {
    /// Send `input.speech_started` for `stream_id`.
    SpeechStarted { stream_id: u32 },
    /// Send this binary input frame.
    Frame(&'a [u8]),
    /// Send `input.speech_stopped` with the number of frames sent.
    SpeechStopped { stream_id: u32, frames: u32 },
    /// (v2) Send `input.speech_paused`: `silence_ms` of silence in `stream_id` after `frames`
    /// frames; the utterance goes on.
    SpeechPaused {
        stream_id: u32,
        frames: u32,
        silence_ms: u32,
    },
    /// (v2) Send `input.speech_resumed`: speech came back in `stream_id` after a pause.
    SpeechResumed { stream_id: u32 },
    /// Pause, resume or stop the reply (and on `Interrupt`, send `response.cancel`).
    BargeIn(BargeInEvent),
}

/// The capture pipeline.
pub struct Capture {
    resampler: StreamResampler,
    vad: Vad,
    turn: TurnDetector,
    barge_in: BargeIn,
    framer: Framer,
    /// The last `preroll.len()` samples at 16 kHz; sample `n` of the stream is at `n % len`.
    preroll: Vec<f32>,
    /// 16 kHz samples seen so far (all of them have been through the VAD or are pending in it).
    samples_seen: u64,
    /// Next 16 kHz sample of the current utterance to frame, while one is open.
    sending_from: Option<u64>,
    /// First 16 kHz sample that no utterance has sent: the padding of the next one starts no
    /// earlier, so no audio is sent twice (a monologue cut at `max_utterance_ms` goes on at once).
    sent_until: u64,
    /// The 16 kHz sample where the open utterance's speech ended at its last pause: what the
    /// edge can have committed. Speech after it that a commit crossed goes into the next one.
    paused_speech_end: u64,
    stream_id: u32,
    /// Played energy accumulated since the last VAD frame.
    played_sum: f64,
    played_count: u64,
    /// Scratch for the 16 kHz output of one quantum.
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("stream_id", &self.stream_id)
            .field("in_utterance", &self.in_utterance())
            .finish()
    }
}

impl Capture {
    /// A pipeline for microphone audio at `ctx_rate`.
    pub fn new(
        ctx_rate: u32,
        turn: TurnConfig,
        barge_in: BargeInConfig,
    ) -> Result<Self, ResampleError> {
        let resampler = StreamResampler::new(ctx_rate, 16_000, Filter::Speech)?;
        // Enough history for the padding before a barge-in's onset plus its confirmation time.
        let keep_ms =
            turn.pre_speech_pad_ms + barge_in.confirm_ms + barge_in.onset_ms + 4 * VAD_FRAME_MS;
        let scratch =
            vec![0.0; resampler.chunk_len().max(128) * 16_000 / ctx_rate as usize + 1_024];
        Ok(Self {
            resampler,
            vad: Vad::new(),
            turn: TurnDetector::new(turn),
            barge_in: BargeIn::new(barge_in),
            framer: Framer::new(0),
            preroll: vec![0.0; (keep_ms as usize * 16).max(VAD_FRAME_SAMPLES)],
            samples_seen: 0,
            sending_from: None,
            sent_until: 0,
            paused_speech_end: 0,
            stream_id: 0,
            played_sum: 0.0,
            played_count: 0,
            scratch,
        })
    }

    /// Hands the VAD the Silero network (loaded on demand), fused with earshot from then on
    /// ([`crate::vad::Blend::Fused`]); earshot alone decided until now.
    pub fn set_vad_network(&mut self, network: crate::silero::Silero) {
        self.vad.set_network(network, crate::vad::Blend::Fused);
    }

    /// Whether the Silero network decides (else earshot).
    pub fn has_vad_network(&self) -> bool {
        self.vad.blend().is_some()
    }

    pub fn in_utterance(&self) -> bool {
        self.sending_from.is_some()
    }

    /// Who ends a turn from now on: the session's `end_of_turn_fallback_ms` (v2) or not (v1).
    pub fn set_end_of_turn(&mut self, end_of_turn: EndOfTurn) {
        self.turn.set_end_of_turn(end_of_turn);
    }

    /// The edge committed utterance `stream_id` (`turn.committed`): it ends here, with no
    /// `input.speech_stopped` and no more of its frames. Speech the commit crossed (the user
    /// went on after the pause) opens the next utterance at once, from where that speech
    /// began. A commit of another utterance, or when none is open, is stale and ignored.
    pub fn commit(&mut self, stream_id: u32, mut emit: impl FnMut(CaptureEvent<'_>)) {
        if self.sending_from.is_none() || stream_id != self.stream_id {
            return;
        }
        self.sending_from = None;
        if let Some(TurnEvent::Started { start_ms, .. }) = self.turn.commit(self.samples_seen / 16)
        {
            // Its frames were sent in the committed utterance, which the edge dropped.
            self.sent_until = self.sent_until.min(self.paused_speech_end);
            self.open_utterance(start_ms, &mut emit);
        }
    }

    /// The latency the resampler adds to the microphone path, in ms.
    pub fn resampler_latency_ms(&self) -> f64 {
        self.resampler.latency_ms()
    }

    /// Takes one block of microphone audio and the block of reply audio played at the same
    /// time (empty when nothing played); `reply_active` while a reply is playing or paused.
    pub fn process(
        &mut self,
        mic: &[f32],
        played: &[f32],
        reply_active: bool,
        mut emit: impl FnMut(CaptureEvent<'_>),
    ) {
        for s in played {
            self.played_sum += f64::from(s * s);
        }
        self.played_count += played.len() as u64;
        let mut n = 0;
        let scratch = &mut self.scratch;
        self.resampler.process(mic, |block| {
            let take = block.len().min(scratch.len() - n);
            scratch[n..n + take].copy_from_slice(&block[..take]);
            n += take;
        });
        // Feed the VAD from a copy range so `self` stays free for the frame handler.
        let mut offset = 0;
        while offset < n {
            let take = (n - offset).min(VAD_FRAME_SAMPLES);
            let block: [f32; VAD_FRAME_SAMPLES] = {
                let mut b = [0.0; VAD_FRAME_SAMPLES];
                b[..take].copy_from_slice(&self.scratch[offset..offset + take]);
                b
            };
            offset += take;
            let mut decided: Option<(u64, [f32; 2], f32, bool)> = None;
            for &s in &block[..take] {
                let i = (self.samples_seen % self.preroll.len() as u64) as usize;
                self.preroll[i] = s;
                self.samples_seen += 1;
            }
            self.vad.process(&block[..take], |frame| {
                let energy =
                    frame.samples.iter().map(|s| s * s).sum::<f32>() / VAD_FRAME_SAMPLES as f32;
                let p = [frame.probability, frame.earshot];
                decided = Some((frame.start_ms(), p, energy, frame.impulsive));
            });
            if let Some((start_ms, probability, energy, impulsive)) = decided {
                self.on_frame(
                    start_ms,
                    probability,
                    energy,
                    impulsive,
                    reply_active,
                    &mut emit,
                );
            }
        }
    }

    /// `probability`: the VAD's (Silero fused with earshot once loaded) and earshot's. Turn-taking uses the first;
    /// barge-in the larger of the two, so it stays at least as quick to pause and as slow to
    /// resume as with earshot alone (Silero drops to ~0 in the short pause after "Wait," where
    /// earshot holds, and a one-word interruption would resume the reply).
    fn on_frame(
        &mut self,
        start_ms: u64,
        [probability, earshot]: [f32; 2],
        energy: f32,
        impulsive: bool,
        reply_active: bool,
        emit: &mut impl FnMut(CaptureEvent<'_>),
    ) {
        let played_energy = if self.played_count > 0 {
            (self.played_sum / self.played_count as f64) as f32
        } else {
            0.0
        };
        self.played_sum = 0.0;
        self.played_count = 0;
        let end_ms = start_ms + u64::from(VAD_FRAME_MS);

        let barge = self.barge_in.push(
            start_ms,
            probability.max(earshot),
            energy,
            played_energy,
            reply_active,
        );
        if let Some(event) = barge {
            emit(CaptureEvent::BargeIn(event));
            if let BargeInEvent::Interrupt { speech_start_ms } = event
                && self.sending_from.is_none()
            {
                self.turn.begin(speech_start_ms, end_ms);
                self.open_utterance(speech_start_ms, emit);
            }
        }
        // While a reply plays, only a barge-in may open a turn; and right after it, its echo
        // tail counts as silence (a frame must rise above the echo the playback explains).
        let turn_event = if reply_active && self.sending_from.is_none() {
            None
        } else {
            let p = if self.barge_in.above_echo() {
                probability
            } else {
                0.0
            };
            self.turn.push(start_ms, p, impulsive)
        };
        match turn_event {
            Some(TurnEvent::Started { start_ms, .. }) => self.open_utterance(start_ms, emit),
            Some(TurnEvent::Ended { .. }) => {
                self.send_pending(emit);
                self.framer.finish(|bytes| emit(CaptureEvent::Frame(bytes)));
                emit(CaptureEvent::SpeechStopped {
                    stream_id: self.stream_id,
                    frames: self.framer.frames_sent(),
                });
                self.sending_from = None;
            }
            Some(TurnEvent::Paused {
                speech_end_ms,
                silence_ms,
                ..
            }) => {
                self.send_pending(emit);
                self.paused_speech_end = speech_end_ms * 16;
                emit(CaptureEvent::SpeechPaused {
                    stream_id: self.stream_id,
                    frames: self.framer.frames_sent(),
                    silence_ms,
                });
            }
            Some(TurnEvent::Resumed { .. }) => {
                self.send_pending(emit);
                emit(CaptureEvent::SpeechResumed {
                    stream_id: self.stream_id,
                });
            }
            None => self.send_pending(emit),
        }
    }

    fn open_utterance(&mut self, start_ms: u64, emit: &mut impl FnMut(CaptureEvent<'_>)) {
        self.stream_id = self.stream_id.wrapping_add(1);
        self.framer.restart(self.stream_id);
        emit(CaptureEvent::SpeechStarted {
            stream_id: self.stream_id,
        });
        let pad = u64::from(self.turn.config().pre_speech_pad_ms) * 16;
        let oldest_kept = self.samples_seen.saturating_sub(self.preroll.len() as u64);
        self.sending_from = Some(
            (start_ms * 16)
                .saturating_sub(pad)
                .max(oldest_kept)
                .max(self.sent_until),
        );
        self.send_pending(emit);
    }

    /// Frames every sample of the open utterance received so far.
    fn send_pending(&mut self, emit: &mut impl FnMut(CaptureEvent<'_>)) {
        let Some(from) = self.sending_from else {
            return;
        };
        let len = self.preroll.len() as u64;
        let mut at = from;
        while at < self.samples_seen {
            let i = (at % len) as usize;
            let run = ((len - at % len).min(self.samples_seen - at)) as usize;
            self.framer.push(&self.preroll[i..i + run], |bytes| {
                emit(CaptureEvent::Frame(bytes))
            });
            at += run as u64;
        }
        self.sending_from = Some(at);
        self.sent_until = at;
    }
}

#[cfg(test)]
mod tests;
