//! Barge-in: deciding, while reply audio plays, that the user is talking over it.
//!
//! The client knows exactly what it plays, so it uses the playback signal as a reference:
//! a microphone frame counts as the user's speech only if the VAD says speech *and* its energy
//! exceeds the echo that the recent playback could explain by `echo_margin_db` (a double-talk
//! test in the manner of Geigel's, with the echo's coupling learned while the reply plays).
//! Our own voice leaking from the speakers therefore does not interrupt us.
//!
//! Decisions, per 16 ms VAD frame:
//! 1. `onset_ms` of gated speech: **pause** playback at once (within that frame's decision).
//! 2. Speech goes on to `confirm_ms` in total: **interrupt**. The reply is stopped, its queue
//!    dropped, and the client sends `response.cancel` with the position where playback paused.
//! 3. Speech stops for `resume_after_ms` first: it was a cough, a noise or a backchannel
//!    ("mm-hm", "yeah"): **resume** where playback paused. The server is never told.
//!
//! So short noises never cut a reply, while a real interruption silences it within about one
//! VAD decision of its onset.

use crate::vad::VAD_FRAME_MS;

/// Barge-in parameters. All documented defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BargeInConfig {
    /// VAD probability at or above which a microphone frame may be the user's speech. Default 0.5.
    pub threshold: f32,
    /// Gated speech that pauses playback, in ms. Default 32 (two frames).
    pub onset_ms: u32,
    /// Gated speech (counted from the onset) that confirms an interruption, in ms. Default 400:
    /// coughs, clicks and most backchannels are shorter.
    pub confirm_ms: u32,
    /// Silence after which an unconfirmed pause resumes the reply, in ms. Default 240.
    pub resume_after_ms: u32,
    /// How far the microphone must rise above the expected echo, in dB. Default 6.
    pub echo_margin_db: f32,
    /// Echo path delays considered (output latency + acoustics + input latency + resampling), in
    /// ms. Default 480.
    pub echo_window_ms: u32,
    /// Echo coupling assumed before any is learned, in dB (0 = the echo is as loud as what we
    /// play: conservative for laptop speakers). Default 0.
    pub initial_coupling_db: f32,
    /// Microphone energy below which nothing is speech, in dBFS. Default -60.
    pub floor_dbfs: f32,
}

impl Default for BargeInConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            onset_ms: 32,
            confirm_ms: 400,
            resume_after_ms: 240,
            echo_margin_db: 6.0,
            echo_window_ms: 480,
            initial_coupling_db: 0.0,
            floor_dbfs: -60.0,
        }
    }
}

/// What the client must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BargeInEvent {
    /// Possible interruption: pause playback now, keep its position.
    Pause,
    /// It was not an interruption: resume playback.
    Resume,
    /// The user is interrupting: stop playback for good and send `response.cancel`. The user's
    /// speech began at `speech_start_ms` (stream time of the onset), so the turn that follows
    /// can include it.
    Interrupt { speech_start_ms: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Listening {
        onset_ms: u32,
        onset_start: u64,
    },
    Paused {
        speech_ms: u32,
        silence_ms: u32,
        onset_start: u64,
    },
}

/// Frames of history kept for the echo-delay estimate (~2 s).
const HISTORY: usize = 128;
/// Most frames of echo delay considered (the window is capped at this).
const MAX_WINDOW_FRAMES: usize = 48;
/// Frames of reverberation after the direct echo that the gate allows for, and their decay.
const REVERB_FRAMES: usize = 12;
const REVERB_DECAY: f32 = 0.5; // -3 dB per 16 ms frame: an RT60 of about 320 ms
/// Echo frames needed at a lag before its estimate is trusted.
const MIN_EVIDENCE: usize = 24;
/// Added to the loudest echo ratio heard for the coupling bound, in dB.
const BOUND_SAFETY_DB: f32 = 6.0;
/// Spread (standard deviation of the log ratio, natural log) below which the lag is trusted:
/// about 4 dB.
const MAX_SPREAD: f32 = 0.92;
/// A delay is not trusted when more than this percentage of its frames are misses (the
/// microphone silent while the playback at that delay was active).
const MAX_MISS_PERCENT: usize = 10;
/// What a delay's share of misses adds to its spread when delays are compared.
const MISS_PENALTY: f32 = 4.0;

/// The barge-in detector. Feed it every VAD frame, whether or not a reply is playing.
#[derive(Debug, Clone)]
pub struct BargeIn {
    config: BargeInConfig,
    state: State,
    /// Played energy per frame, and the natural log of it and of the microphone's energy.
    played: [f32; HISTORY],
    played_ln: [f32; HISTORY],
    /// The natural log of the mean played energy of the frame and the one before it: the
    /// played energy an echo delayed by a whole number of frames and a half would carry.
    played_pair_ln: [f32; HISTORY],
    mic_ln: [f32; HISTORY],
    /// Whether the frame was judged echo (not the user): only those teach the estimate.
    echo_frame: [bool; HISTORY],
    /// Frames pushed so far (the ring index is `frames % HISTORY`).
    frames: u64,
    window: usize,
    /// The echo path as estimated: delay in frames and coupling (energy ratio), if trusted.
    estimate: Option<(usize, f32)>,
    /// Without a trusted path: an upper bound of the coupling from what the microphone heard
    /// while we played (quiet microphone, loud playback: the echo is quiet), if lower than the
    /// initial assumption.
    bound: Option<f32>,
    initial_coupling: f32,
    margin: f32,
    floor: f32,
    /// Whether the last frame rose above the echo the recent playback could explain.
    above_echo: bool,
}

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

impl BargeIn {
    pub fn new(config: BargeInConfig) -> Self {
        let window =
            (config.echo_window_ms / VAD_FRAME_MS).clamp(1, MAX_WINDOW_FRAMES as u32) as usize;
        Self {
            config,
            state: State::Listening {
                onset_ms: 0,
                onset_start: 0,
            },
            played: [0.0; HISTORY],
            played_ln: [0.0; HISTORY],
            played_pair_ln: [0.0; HISTORY],
            mic_ln: [0.0; HISTORY],
            echo_frame: [false; HISTORY],
            frames: 0,
            window,
            estimate: None,
            bound: None,
            initial_coupling: db_to_power(config.initial_coupling_db),
            above_echo: true,
            margin: db_to_power(config.echo_margin_db),
            floor: db_to_power(config.floor_dbfs),
        }
    }

    pub fn config(&self) -> &BargeInConfig {
        &self.config
    }

    /// True while playback is paused for a possible interruption.
    pub fn is_paused(&self) -> bool {
        matches!(self.state, State::Paused { .. })
    }

    /// Whether the last frame pushed rose above the echo that recent playback could explain by
    /// the margin. True once playback has been silent for the echo window: the turn detector
    /// uses it so the tail of a reply's echo, after the reply ends, is not taken for the user.
    pub fn above_echo(&self) -> bool {
        self.above_echo
    }

    /// The estimated echo path: (delay in ms, coupling in dB), once trusted.
    pub fn echo_estimate(&self) -> Option<(u32, f32)> {
        self.estimate
            .map(|(lag, c)| (lag as u32 * VAD_FRAME_MS, 10.0 * c.max(1e-12).log10()))
    }

    /// Takes one VAD frame that starts at `frame_start_ms`: the microphone's speech probability
    /// and mean-square energy, the mean-square energy of what was played during the frame, and
    /// whether a reply is audible or paused by us (`reply_active`).
    pub fn push(
        &mut self,
        frame_start_ms: u64,
        mic_probability: f32,
        mic_energy: f32,
        played_energy: f32,
        reply_active: bool,
    ) -> Option<BargeInEvent> {
        let i = (self.frames % HISTORY as u64) as usize;
        self.played[i] = played_energy;
        self.played_ln[i] = played_energy.max(1e-12).ln();
        let before = self.played_back(0);
        self.played_pair_ln[i] = ((played_energy + before) / 2.0).max(1e-12).ln();
        self.mic_ln[i] = mic_energy.max(1e-12).ln();
        self.echo_frame[i] = false;
        self.frames += 1;
        let echo = self.expected_echo();
        self.above_echo = mic_energy > echo * self.margin;
        if !reply_active {
            self.state = State::Listening {
                onset_ms: 0,
                onset_start: 0,
            };
            return None;
        }
        let gated =
            mic_probability >= self.config.threshold && mic_energy > self.floor && self.above_echo;
        // Evidence for the echo path: frames the current model explains (at no margin), so the
        // user's voice during double talk, not yet loud enough to pass the gate, teaches nothing.
        if mic_energy <= echo {
            self.echo_frame[i] = true;
            if self.frames.is_multiple_of(4) {
                self.estimate = self.estimate_echo_path();
                self.bound = self.coupling_bound();
            }
        }
        let frame = VAD_FRAME_MS;
        match self.state {
            State::Listening {
                onset_ms,
                onset_start,
            } => {
                if !gated {
                    self.state = State::Listening {
                        onset_ms: 0,
                        onset_start: 0,
                    };
                    return None;
                }
                let start = if onset_ms == 0 {
                    frame_start_ms
                } else {
                    onset_start
                };
                let onset_ms = onset_ms + frame;
                if onset_ms >= self.config.onset_ms {
                    self.state = State::Paused {
                        speech_ms: onset_ms,
                        silence_ms: 0,
                        onset_start: start,
                    };
                    Some(BargeInEvent::Pause)
                } else {
                    self.state = State::Listening {
                        onset_ms,
                        onset_start: start,
                    };
                    None
                }
            }
            State::Paused {
                speech_ms,
                silence_ms,
                onset_start,
            } => {
                if gated {
                    let speech_ms = speech_ms + frame;
                    if speech_ms >= self.config.confirm_ms {
                        self.state = State::Listening {
                            onset_ms: 0,
                            onset_start: 0,
                        };
                        return Some(BargeInEvent::Interrupt {
                            speech_start_ms: onset_start,
                        });
                    }
                    self.state = State::Paused {
                        speech_ms,
                        silence_ms: 0,
                        onset_start,
                    };
                    None
                } else {
                    let silence_ms = silence_ms + frame;
                    if silence_ms >= self.config.resume_after_ms {
                        self.state = State::Listening {
                            onset_ms: 0,
                            onset_start: 0,
                        };
                        return Some(BargeInEvent::Resume);
                    }
                    self.state = State::Paused {
                        speech_ms,
                        silence_ms,
                        onset_start,
                    };
                    None
                }
            }
        }
    }

    /// Played energy `back` frames before the current one.
    fn played_back(&self, back: usize) -> f32 {
        if back as u64 >= self.frames {
            return 0.0;
        }
        self.played[((self.frames - 1 - back as u64) % HISTORY as u64) as usize]
    }

    /// The loudest echo the recent playback could put in the current microphone frame. With a
    /// trusted estimate: the played energy at the echo delay (plus or minus a frame) and its
    /// decaying reverberation, times the coupling. Without one: the loudest frame of the whole
    /// window at the initial (conservative) coupling.
    fn expected_echo(&self) -> f32 {
        match self.estimate {
            Some((lag, coupling)) => {
                let direct = (lag.saturating_sub(1)..=lag + 1)
                    .map(|b| self.played_back(b))
                    .fold(0.0f32, f32::max);
                let mut tail = 0.0f32;
                let mut decay = 1.0;
                for k in 1..=REVERB_FRAMES {
                    decay *= REVERB_DECAY;
                    tail = tail.max(self.played_back(lag + 1 + k) * decay);
                }
                direct.max(tail) * coupling
            }
            None => {
                (0..self.window)
                    .map(|b| self.played_back(b))
                    .fold(0.0f32, f32::max)
                    * self
                        .bound
                        .map_or(self.initial_coupling, |b| b.min(self.initial_coupling))
            }
        }
    }

    /// An upper bound of the coupling that needs no consistent delay: the loudest ratio of the
    /// microphone to the loudest playback of the echo window before it, over the echo frames
    /// while playback was active, plus `BOUND_SAFETY`. It teaches the gate that a microphone
    /// which stays quiet while we play loudly (headphones, the browser's echo canceller) hears
    /// little echo, so the user need not outshout the reply; any echo that is there raises the
    /// bound, so it never makes the gate less safe than what was heard.
    fn coupling_bound(&self) -> Option<f32> {
        let active = self.floor.ln() + 2.3;
        let have = (self.frames as usize).min(HISTORY);
        let (mut n, mut worst) = (0usize, 0.0f32);
        for t in 0..have.saturating_sub(self.window) {
            let now = ((self.frames - 1 - t as u64) % HISTORY as u64) as usize;
            if !self.echo_frame[now] {
                continue;
            }
            let loudest = (t..t + self.window)
                .map(|b| self.played_back(b))
                .fold(0.0f32, f32::max);
            if loudest.max(1e-12).ln() <= active {
                continue;
            }
            n += 1;
            worst = worst.max(self.mic_ln[now].exp() / loudest);
        }
        (n >= MIN_EVIDENCE).then(|| worst * db_to_power(BOUND_SAFETY_DB))
    }

    /// Finds the delay at which the microphone's echo frames follow the played energy most
    /// consistently (smallest spread of the log ratio) and estimates the coupling there as the
    /// mean ratio plus two spreads (an upper envelope). Trusted only with enough evidence and
    /// a small spread; otherwise the conservative gate stays.
    ///
    /// Delays are tried in half frames: an echo late by 7.5 frames spreads each played frame
    /// over two microphone frames, which no whole-frame delay explains consistently, but the
    /// mean of two played frames does. The delay returned is the whole frame just below (the
    /// gate looks one frame either side of it).
    fn estimate_echo_path(&self) -> Option<(usize, f32)> {
        let floor_ln = self.floor.ln();
        let active = floor_ln + 2.3; // 10 dB above the floor
        let have = (self.frames as usize).min(HISTORY);
        let mut best: Option<(f32, usize, f32, f32)> = None;
        for candidate in 0..2 * self.window {
            let (lag, half) = (candidate / 2, candidate % 2 == 1);
            let played_ln = if half {
                &self.played_pair_ln
            } else {
                &self.played_ln
            };
            let (mut n, mut misses, mut sum, mut sum_sq) = (0usize, 0usize, 0.0f32, 0.0f32);
            for t in lag..have.saturating_sub(usize::from(half)) {
                let now = ((self.frames - 1 - (t - lag) as u64) % HISTORY as u64) as usize;
                let then = ((self.frames - 1 - t as u64) % HISTORY as u64) as usize;
                if !self.echo_frame[now] || played_ln[then] <= active {
                    continue;
                }
                // A microphone frame below the floor while the playback at this delay was
                // active is a miss, not a ratio: its log would be an outlier of tens of dB
                // (digital silence in a pause; a frame the echo's edge just missed).
                if self.mic_ln[now] <= floor_ln {
                    misses += 1;
                    continue;
                }
                let r = self.mic_ln[now] - played_ln[then];
                n += 1;
                sum += r;
                sum_sq += r * r;
            }
            if n < MIN_EVIDENCE || misses * 100 > MAX_MISS_PERCENT * (n + misses) {
                continue;
            }
            let mean = sum / n as f32;
            let spread = (sum_sq / n as f32 - mean * mean).max(0.0).sqrt();
            // Misses count against a delay, so the true one wins over its neighbours.
            let score = spread + MISS_PENALTY * misses as f32 / (n + misses) as f32;
            if best.is_none_or(|(s, _, _, _)| score < s) {
                best = Some((score, lag, spread, mean));
            }
        }
        best.filter(|(_, _, spread, _)| *spread < MAX_SPREAD)
            .map(|(_, lag, spread, mean)| (lag, (mean + 2.0 * spread).exp()))
    }
}

#[cfg(test)]
mod tests;
