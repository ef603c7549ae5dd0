//! Playback of streamed reply audio: a jitter buffer that starts after a small lead, never
//! clicks (every start, stop and underrun is a short ramp), stops at once on barge-in, drops
//! stale audio of cancelled replies, and knows exactly how much of each reply was played.
//!
//! Reply audio arrives as s16le frames at the TTS rate (e.g. 24 kHz) and is stored compactly in
//! a ring of i16; it is converted to the audio context's rate while rendering, 128 samples at a
//! time. Nothing is allocated after construction unless the TTS rate changes.

use crate::resample::{Filter, ResampleError, StreamResampler};

/// Playback parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaybackConfig {
    /// Audio buffered before a reply starts (or restarts after an underrun), in ms. Default 60.
    pub lead_ms: u32,
    /// Reply audio the buffer can hold ahead of playback, in seconds. Default 60.
    pub capacity_s: u32,
    /// Length of the gain ramps at start, stop, pause and underrun, in ms. Default 4.
    pub ramp_ms: f32,
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self {
            lead_ms: 60,
            capacity_s: 60,
            ramp_ms: 4.0,
        }
    }
}

/// Why a frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaybackError {
    #[error("reply {0} was cancelled or has finished; its late audio is dropped")]
    Stale(u32),
    #[error("the playback buffer is full ({0} s); the frame was dropped")]
    Full(u32),
    #[error(transparent)]
    Rate(#[from] ResampleError),
}

/// What the buffer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackState {
    /// Nothing to play.
    Idle,
    /// Collecting the lead before (re)starting.
    Buffering,
    Playing,
    /// Held by a possible barge-in; resumes where it stopped.
    Paused,
}

/// The jitter buffer and renderer for reply audio.
pub struct Playback {
    config: PlaybackConfig,
    ctx_rate: u32,
    resampler: Option<StreamResampler>,
    /// Reply audio at the TTS rate, not yet converted.
    ring: Vec<i16>,
    head: usize,
    len: usize,
    /// Converted audio at the context rate, waiting to be rendered.
    fifo: Vec<f32>,
    fifo_head: usize,
    fifo_len: usize,
    /// Scratch for one resampler chunk.
    chunk: Vec<f32>,
    /// Context-rate samples of the current reply still to drop (the resampler's start delay).
    skip: usize,
    state: PlaybackState,
    /// The reply being played, whether its last frame has arrived, and how much of it was played.
    reply: Option<u32>,
    ended: bool,
    played: u64,
    /// Replies with an id at or below this are over: their frames are stale.
    retired_up_to: Option<u32>,
    gain: f32,
    ramp_step: f32,
    lost_frames: u32,
    next_seq: u32,
    /// The current reply's last samples have been converted.
    drained: bool,
    /// A reply that played to its end, and its played ms, not yet taken.
    finished: Option<(u32, u32)>,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("state", &self.state)
            .field("reply", &self.reply)
            .field("buffered_ms", &self.buffered_ms())
            .field("played_ms", &self.played_ms())
            .finish()
    }
}

impl Playback {
    /// A buffer that renders at the audio context's rate.
    pub fn new(ctx_rate: u32, config: PlaybackConfig) -> Result<Self, ResampleError> {
        // Validates the rate the same way the resampler does.
        StreamResampler::new(ctx_rate, ctx_rate, Filter::Playback)?;
        let fifo_cap = ctx_rate as usize / 5; // 200 ms: more than one converted chunk at any rate
        Ok(Self {
            config,
            ctx_rate,
            resampler: None,
            ring: Vec::new(),
            head: 0,
            len: 0,
            fifo: vec![0.0; fifo_cap],
            fifo_head: 0,
            fifo_len: 0,
            chunk: Vec::new(),
            skip: 0,
            state: PlaybackState::Idle,
            reply: None,
            ended: false,
            played: 0,
            retired_up_to: None,
            gain: 0.0,
            ramp_step: 1.0 / (config.ramp_ms.max(0.5) * ctx_rate as f32 / 1000.0),
            lost_frames: 0,
            next_seq: 0,
            drained: false,
            finished: None,
        })
    }

    pub fn state(&self) -> PlaybackState {
        self.state
    }

    /// The reply currently held, if any.
    pub fn reply(&self) -> Option<u32> {
        self.reply
    }

    /// Milliseconds of the current reply that have reached the speaker.
    pub fn played_ms(&self) -> u32 {
        (self.played * 1000 / u64::from(self.ctx_rate)) as u32
    }

    /// Milliseconds of audio waiting to be played.
    pub fn buffered_ms(&self) -> u32 {
        let tts = self
            .resampler
            .as_ref()
            .map_or(self.ctx_rate, StreamResampler::rate_in);
        (self.len as u64 * 1000 / u64::from(tts)
            + self.fifo_len as u64 * 1000 / u64::from(self.ctx_rate)) as u32
    }

    /// Frames of the current reply that never arrived (gaps in `seq`).
    pub fn lost_frames(&self) -> u32 {
        self.lost_frames
    }

    /// Queues one frame of reply `reply` (seq `seq`, at `rate` Hz). `end` marks its last frame.
    pub fn push(
        &mut self,
        reply: u32,
        seq: u32,
        rate: u32,
        samples: &[i16],
        end: bool,
    ) -> Result<(), PlaybackError> {
        if self.retired_up_to.is_some_and(|r| reply <= r)
            || (self.reply == Some(reply) && self.ended)
        {
            return Err(PlaybackError::Stale(reply));
        }
        if self.reply != Some(reply) {
            // A newer reply replaces whatever is left of the current one.
            if let Some(old) = self.reply {
                self.retire(old);
            }
            self.start_reply(reply, rate)?;
        } else if self.resampler.as_ref().is_some_and(|r| r.rate_in() != rate) {
            return Err(PlaybackError::Rate(ResampleError::UnsupportedRate(rate)));
        }
        if seq != self.next_seq {
            self.lost_frames += seq.wrapping_sub(self.next_seq);
        }
        self.next_seq = seq.wrapping_add(1);
        if self.len + samples.len() > self.ring.len() {
            return Err(PlaybackError::Full(self.config.capacity_s));
        }
        let cap = self.ring.len();
        for (i, &s) in samples.iter().enumerate() {
            self.ring[(self.head + self.len + i) % cap] = s;
        }
        self.len += samples.len();
        if end {
            self.ended = true;
        }
        if self.state == PlaybackState::Idle {
            self.state = PlaybackState::Buffering;
        }
        Ok(())
    }

    fn start_reply(&mut self, reply: u32, rate: u32) -> Result<(), ResampleError> {
        if self.resampler.as_ref().is_none_or(|r| r.rate_in() != rate) {
            let rs = StreamResampler::new(rate, self.ctx_rate, Filter::Playback)?;
            self.chunk = vec![0.0; rs.chunk_len().max(1)];
            self.ring = vec![0; rate as usize * self.config.capacity_s as usize];
            self.resampler = Some(rs);
        }
        if let Some(rs) = &mut self.resampler {
            rs.reset();
            self.skip = rs.output_delay();
        }
        self.head = 0;
        self.len = 0;
        self.fifo_head = 0;
        self.fifo_len = 0;
        self.reply = Some(reply);
        self.ended = false;
        self.played = 0;
        self.lost_frames = 0;
        self.next_seq = 0;
        self.drained = false;
        self.state = PlaybackState::Buffering;
        Ok(())
    }

    fn retire(&mut self, reply: u32) {
        self.retired_up_to = Some(self.retired_up_to.map_or(reply, |r| r.max(reply)));
    }

    /// Barge-in confirmed, or the reply was cancelled: stop now, drop everything queued, and
    /// refuse any later frame of this reply. Returns how many ms of it were played.
    pub fn stop(&mut self) -> u32 {
        let played = self.played_ms();
        if let Some(reply) = self.reply.take() {
            self.retire(reply);
        }
        self.len = 0;
        self.state = PlaybackState::Idle;
        // The next render fades the already-converted audio out over the ramp and then drops it.
        played
    }

    /// Holds playback (a possible barge-in). The position is kept.
    pub fn pause(&mut self) {
        if matches!(
            self.state,
            PlaybackState::Playing | PlaybackState::Buffering
        ) {
            self.state = PlaybackState::Paused;
        }
    }

    /// Continues after a pause that was not an interruption.
    pub fn resume(&mut self) {
        if self.state == PlaybackState::Paused {
            self.state = if self.reply.is_some() {
                PlaybackState::Playing
            } else {
                PlaybackState::Idle
            };
        }
    }

    /// Renders the next block of output at the context rate. Returns true if any reply audio
    /// was played into it. Allocation-free.
    ///
    /// Every transition is a ramp over real audio: a stop or pause fades the next few ms out, and
    /// when the buffer is about to run dry mid-reply the last samples fade out before it does, so
    /// an underrun is silence, not a click. Samples heard at any non-zero gain count as played.
    pub fn render(&mut self, out: &mut [f32]) -> bool {
        if self.state == PlaybackState::Buffering
            && (self.ended || self.buffered_ms() >= self.config.lead_ms)
        {
            self.state = PlaybackState::Playing;
        }
        let ramp_len = (1.0 / self.ramp_step).ceil() as usize;
        let mut played_any = false;
        for o in out.iter_mut() {
            *o = 0.0;
            let playing = self.state == PlaybackState::Playing;
            if !playing && self.gain == 0.0 {
                continue;
            }
            let starving = playing && !self.ended && self.available() <= ramp_len;
            if starving && self.gain == 0.0 {
                // Faded out ahead of the underrun: wait for the lead again, keeping what is left.
                self.state = PlaybackState::Buffering;
                continue;
            }
            let target = if playing && !starving { 1.0 } else { 0.0 };
            match self.next_sample() {
                Some(s) => {
                    self.gain = approach(self.gain, target, self.ramp_step);
                    *o = s * self.gain;
                    if self.gain > 0.0 && self.reply.is_some() {
                        self.played += 1;
                        played_any = true;
                    }
                }
                None => {
                    self.gain = 0.0;
                    if playing {
                        if self.ended {
                            self.finish();
                        } else {
                            self.state = PlaybackState::Buffering;
                        }
                    }
                }
            }
        }
        if self.state == PlaybackState::Idle && self.gain == 0.0 {
            // The fade after a stop is over: nothing of the old reply may be heard again.
            self.fifo_len = 0;
        }
        played_any
    }

    /// Context-rate samples that can still be rendered without new frames. Mid-reply the
    /// resampler converts whole chunks only and holds its filter's lookahead back, so neither
    /// counts.
    fn available(&self) -> usize {
        let Some(rs) = &self.resampler else {
            return self.fifo_len;
        };
        self.fifo_len + rs.ready_with(self.len)
    }

    fn finish(&mut self) {
        if let Some(reply) = self.reply.take() {
            self.retire(reply);
            self.finished = Some((reply, self.played_ms()));
        }
        self.state = PlaybackState::Idle;
    }

    /// The reply that last played to its end (not stopped), with its played ms, once.
    pub fn take_finished(&mut self) -> Option<(u32, u32)> {
        self.finished.take()
    }

    /// The next converted sample, converting another chunk when needed.
    fn next_sample(&mut self) -> Option<f32> {
        if self.fifo_len == 0 && !self.refill() {
            return None;
        }
        let s = self.fifo[self.fifo_head];
        self.fifo_head = (self.fifo_head + 1) % self.fifo.len();
        self.fifo_len -= 1;
        Some(s)
    }

    /// Converts queued TTS-rate audio into the FIFO. False when nothing could be converted.
    fn refill(&mut self) -> bool {
        if self.drained {
            return false;
        }
        let Some(rs) = self.resampler.as_mut() else {
            return false;
        };
        // Mid-reply, feed whole chunks only (a partial one would produce nothing yet).
        let need = rs.chunk_len().max(1) - rs.pending_input();
        let take = if self.len >= need {
            need
        } else if self.ended {
            self.len
        } else {
            return false;
        };
        let cap = self.ring.len();
        for (i, c) in self.chunk[..take].iter_mut().enumerate() {
            *c = f32::from(self.ring[(self.head + i) % cap]) / 32_768.0;
        }
        self.head = (self.head + take) % cap;
        self.len -= take;
        let (fifo, skip) = (&mut self.fifo, &mut self.skip);
        let (fifo_head, fifo_len) = (self.fifo_head, &mut self.fifo_len);
        let fcap = fifo.len();
        let mut push = |block: &[f32]| {
            for &s in block {
                if *skip > 0 {
                    *skip -= 1;
                } else if *fifo_len < fcap {
                    fifo[(fifo_head + *fifo_len) % fcap] = s;
                    *fifo_len += 1;
                }
            }
        };
        if take > 0 {
            rs.process(&self.chunk[..take], &mut push);
        }
        if self.len == 0 && self.ended {
            // The reply is complete: push the resampler's tail out, once.
            rs.flush(&mut push);
            self.drained = true;
        }
        self.fifo_len > 0
    }
}

fn approach(value: f32, target: f32, step: f32) -> f32 {
    if value < target {
        (value + step).min(target)
    } else {
        (value - step).max(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: u32 = 48_000;
    const TTS: u32 = 24_000;

    /// 20 ms frames of a 440 Hz tone at the TTS rate, amplitude 0.5.
    fn frames(ms: u32, offset_frames: u32) -> Vec<Vec<i16>> {
        (0..ms / 20)
            .map(|f| {
                (0..480)
                    .map(|i| {
                        let n = f64::from((offset_frames + f) * 480 + i);
                        (0.5 * 32_767.0
                            * (std::f64::consts::TAU * 440.0 * n / f64::from(TTS)).sin())
                            as i16
                    })
                    .collect()
            })
            .collect()
    }

    fn push_all(p: &mut Playback, reply: u32, first_seq: u32, frames: &[Vec<i16>], end_last: bool) {
        for (i, f) in frames.iter().enumerate() {
            let end = end_last && i + 1 == frames.len();
            p.push(reply, first_seq + i as u32, TTS, f, end).unwrap();
        }
    }

    /// Renders `ms` of output in 128-sample quanta.
    fn render(p: &mut Playback, ms: u32) -> Vec<f32> {
        let mut out = Vec::new();
        let mut q = [0.0f32; 128];
        for _ in 0..(ms * CTX / 1000).div_ceil(128) {
            p.render(&mut q);
            out.extend_from_slice(&q);
        }
        out
    }

    fn max_step(x: &[f32]) -> f32 {
        x.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    }

    /// Largest step of the clean tone at the context rate, plus a little for the ramps.
    const SMOOTH: f32 = 0.5 * std::f32::consts::TAU * 440.0 / CTX as f32 * 1.5;

    #[test]
    fn waits_for_the_lead_then_plays_the_whole_reply_exactly_once() {
        let mut p = Playback::new(CTX, PlaybackConfig::default()).unwrap();
        let all = frames(1_000, 0);
        push_all(&mut p, 1, 0, &all[..2], false);
        assert!(
            render(&mut p, 20).iter().all(|&s| s == 0.0),
            "40 ms is below the 60 ms lead"
        );
        push_all(&mut p, 1, 2, &all[2..], true);
        let out = render(&mut p, 1_200);
        let heard = out.iter().filter(|s| s.abs() > 1e-4).count();
        assert!(
            (heard as i64 - 48_000).abs() < 200,
            "{heard} samples heard of 48000"
        );
        assert!(
            (p.played_ms() as i64 - 1_000).abs() <= 5,
            "played {} ms",
            p.played_ms()
        );
        assert_eq!(p.state(), PlaybackState::Idle);
        assert!(max_step(&out) < SMOOTH, "click: step {}", max_step(&out));
        assert_eq!(p.lost_frames(), 0);
    }

    #[test]
    fn an_underrun_fades_out_and_back_in_without_a_click() {
        let mut p = Playback::new(CTX, PlaybackConfig::default()).unwrap();
        let all = frames(600, 0);
        push_all(&mut p, 1, 0, &all[..10], false);
        let mut out = render(&mut p, 400);
        assert_eq!(p.state(), PlaybackState::Buffering, "ran dry mid-reply");
        push_all(&mut p, 1, 10, &all[10..], true);
        out.extend(render(&mut p, 600));
        assert!(max_step(&out) < SMOOTH, "click: step {}", max_step(&out));
        assert!(
            (p.played_ms() as i64 - 600).abs() <= 5,
            "played {} ms",
            p.played_ms()
        );
    }

    #[test]
    fn stop_silences_within_the_ramp_and_refuses_late_frames_of_that_reply() {
        let mut p = Playback::new(CTX, PlaybackConfig::default()).unwrap();
        let all = frames(2_000, 0);
        push_all(&mut p, 7, 0, &all[..50], false);
        render(&mut p, 500);
        let played = p.stop();
        assert!((played as i64 - 500).abs() <= 8, "played {played} ms");
        assert_eq!(
            p.take_finished(),
            None,
            "a stopped reply did not play to its end"
        );
        let after = render(&mut p, 100);
        let ramp = (4 * CTX / 1000) as usize;
        assert!(
            after[ramp + 1..].iter().all(|&s| s == 0.0),
            "audio after the stop ramp"
        );
        assert!(max_step(&after) < SMOOTH, "click on stop");
        assert_eq!(
            p.push(7, 50, TTS, &all[50], false),
            Err(PlaybackError::Stale(7))
        );
        assert!(
            render(&mut p, 200).iter().all(|&s| s == 0.0),
            "stale audio replayed"
        );
        // The next reply plays normally.
        push_all(&mut p, 8, 0, &all[..10], true);
        assert!(render(&mut p, 300).iter().any(|&s| s.abs() > 0.1));
    }

    #[test]
    fn pause_keeps_the_position_and_resume_continues() {
        let mut p = Playback::new(CTX, PlaybackConfig::default()).unwrap();
        push_all(&mut p, 1, 0, &frames(1_000, 0), true);
        render(&mut p, 300);
        p.pause();
        let paused_at = p.played_ms();
        let quiet = render(&mut p, 200);
        assert!(quiet[200..].iter().all(|&s| s == 0.0));
        assert!(p.played_ms() <= paused_at + 5);
        p.resume();
        render(&mut p, 900);
        assert!(p.played_ms() >= 990, "played {} ms", p.played_ms());
    }

    #[test]
    fn a_newer_reply_replaces_the_old_one_and_old_frames_are_stale() {
        let mut p = Playback::new(CTX, PlaybackConfig::default()).unwrap();
        let f = frames(200, 0);
        push_all(&mut p, 1, 0, &f, false);
        push_all(&mut p, 2, 0, &f, true);
        assert_eq!(p.reply(), Some(2));
        assert_eq!(
            p.push(1, 10, TTS, &f[0], false),
            Err(PlaybackError::Stale(1))
        );
    }

    #[test]
    fn gaps_in_seq_are_counted_and_a_full_buffer_refuses_frames() {
        let config = PlaybackConfig {
            capacity_s: 1,
            ..PlaybackConfig::default()
        };
        let mut p = Playback::new(CTX, config).unwrap();
        let f = frames(1_100, 0);
        p.push(1, 0, TTS, &f[0], false).unwrap();
        p.push(1, 3, TTS, &f[1], false).unwrap();
        assert_eq!(p.lost_frames(), 2);
        let mut result = Ok(());
        for (i, frame) in f.iter().enumerate().skip(2) {
            result = p.push(1, 2 + i as u32, TTS, frame, false);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(PlaybackError::Full(1)));
    }

    #[test]
    fn rates_are_checked() {
        assert!(Playback::new(1_000, PlaybackConfig::default()).is_err());
        let mut p = Playback::new(CTX, PlaybackConfig::default()).unwrap();
        p.push(1, 0, TTS, &[0; 480], false).unwrap();
        assert!(matches!(
            p.push(1, 1, 16_000, &[0; 320], false),
            Err(PlaybackError::Rate(_))
        ));
    }
}
