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
mod tests {
    use super::*;

    /// Feeds frames of (mic probability, mic energy, played energy) with a reply active.
    fn run(
        b: &mut BargeIn,
        frames: &[(f32, f32, f32)],
        from_frame: u64,
    ) -> Vec<(u64, BargeInEvent)> {
        frames
            .iter()
            .enumerate()
            .filter_map(|(i, &(p, m, r))| {
                let t = (from_frame + i as u64) * 16;
                b.push(t, p, m, r, true).map(|e| (t, e))
            })
            .collect()
    }

    const PLAY: f32 = 0.01; // -20 dBFS of reply audio
    fn echo_only(n: usize, coupling: f32) -> Vec<(f32, f32, f32)> {
        // Our own voice in the microphone: the VAD says speech, but it is only the echo.
        vec![(0.95, PLAY * coupling, PLAY); n]
    }

    #[test]
    fn our_own_voice_never_interrupts_even_at_full_coupling() {
        let mut b = BargeIn::new(BargeInConfig::default());
        assert_eq!(run(&mut b, &echo_only(500, 1.0), 0), vec![]);
        let mut b = BargeIn::new(BargeInConfig::default());
        assert_eq!(run(&mut b, &echo_only(500, 0.1), 0), vec![]);
    }

    #[test]
    fn the_user_talking_over_the_reply_pauses_within_two_frames_then_interrupts() {
        let mut b = BargeIn::new(BargeInConfig::default());
        let mut frames = echo_only(100, 0.1);
        // The user: 10 dB above the reply level, on top of the echo.
        frames.extend(vec![(0.9, PLAY * 10.0, PLAY); 40]);
        let events = run(&mut b, &frames, 0);
        assert_eq!(
            events[0],
            (101 * 16, BargeInEvent::Pause),
            "pause on the second speech frame"
        );
        assert_eq!(
            events[1],
            (
                124 * 16,
                BargeInEvent::Interrupt {
                    speech_start_ms: 100 * 16
                }
            )
        );
        // (After the interruption the reply is stopped, so no further decision is asked for.)
    }

    #[test]
    fn a_cough_pauses_then_resumes_and_is_never_an_interruption() {
        let mut b = BargeIn::new(BargeInConfig::default());
        let mut frames = echo_only(100, 0.1);
        frames.extend(vec![(0.8, PLAY * 10.0, PLAY); 12]); // ~190 ms burst
        frames.extend(echo_only(40, 0.1));
        let events: Vec<BargeInEvent> = run(&mut b, &frames, 0).into_iter().map(|e| e.1).collect();
        assert_eq!(events, vec![BargeInEvent::Pause, BargeInEvent::Resume]);
    }

    #[test]
    fn a_single_frame_click_does_not_even_pause() {
        let mut b = BargeIn::new(BargeInConfig::default());
        let mut frames = echo_only(50, 0.1);
        frames.push((0.9, PLAY * 10.0, PLAY));
        frames.extend(echo_only(50, 0.1));
        assert_eq!(run(&mut b, &frames, 0), vec![]);
    }

    #[test]
    fn coupling_is_learned_so_a_quiet_echo_path_lets_softer_speech_through() {
        let mut b = BargeIn::new(BargeInConfig::default());
        run(&mut b, &echo_only(400, 0.01), 0); // -20 dB echo path
        let (_, coupling) = b.echo_estimate().expect("an estimate");
        assert!(coupling < -15.0, "learned {coupling} dB");
        // The user at the level of the reply itself: 20 dB above the echo.
        let events = run(&mut b, &vec![(0.9, PLAY, PLAY); 30], 400);
        assert_eq!(events.first().map(|e| e.1), Some(BargeInEvent::Pause));
    }

    #[test]
    fn a_microphone_that_stays_quiet_while_we_play_lets_a_normal_voice_interrupt() {
        // Headphones or the browser's echo canceller: nothing of the reply reaches the
        // microphone, so no echo delay can be learned; its silence bounds the coupling.
        let mut b = BargeIn::new(BargeInConfig::default());
        assert_eq!(run(&mut b, &vec![(0.02, 1e-9, PLAY); 100], 0), vec![]);
        // The user 3 dB below the reply's level: the initial 0 dB assumption (+6 dB margin)
        // would have gated it out.
        let events = run(&mut b, &vec![(0.9, PLAY * 0.5, PLAY); 40], 100);
        assert_eq!(
            events.first().map(|e| e.1),
            Some(BargeInEvent::Pause),
            "{events:?}"
        );
        assert!(
            matches!(events.get(1), Some((_, BargeInEvent::Interrupt { .. }))),
            "{events:?}"
        );
        // Without that quiet evidence the same voice is gated (the conservative start).
        let mut fresh = BargeIn::new(BargeInConfig::default());
        assert_eq!(
            run(&mut fresh, &vec![(0.9, PLAY * 0.5, PLAY); 40], 0),
            vec![]
        );
    }

    #[test]
    fn echo_that_is_heard_keeps_the_bound_high() {
        // A loud but irregular echo (no consistent delay): the bound follows the loudest ratio,
        // so the echo itself still never interrupts.
        let mut b = BargeIn::new(BargeInConfig::default());
        let frames: Vec<(f32, f32, f32)> = (0..400)
            .map(|i| (0.95, PLAY * if i % 7 == 0 { 0.9 } else { 0.05 }, PLAY))
            .collect();
        assert_eq!(run(&mut b, &frames, 0), vec![]);
    }

    #[test]
    fn non_speech_and_silence_are_ignored_and_no_reply_means_no_decision() {
        let mut b = BargeIn::new(BargeInConfig::default());
        assert_eq!(
            run(&mut b, &vec![(0.1, PLAY * 10.0, PLAY); 100], 0),
            vec![],
            "loud noise, not speech"
        );
        assert_eq!(
            run(&mut b, &vec![(0.9, 1e-9, 0.0); 100], 100),
            vec![],
            "below the floor"
        );
        let mut b = BargeIn::new(BargeInConfig::default());
        assert!((0..100).all(|i| b.push(i * 16, 0.9, 1.0, 0.0, false).is_none()));
    }

    /// Played energy that changes from frame to frame like speech: -40 to -15 dBFS.
    fn speech_like_played(n: usize) -> Vec<f32> {
        let mut seed = 7u32;
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let db = -40.0 + 25.0 * f32::from((seed >> 16) as u16) / 65_535.0;
                db_to_power(db)
            })
            .collect()
    }

    #[test]
    fn an_echo_late_by_half_a_frame_is_learned() {
        // 7.5 frames (120 ms): each microphone frame holds the second half of one played frame
        // and the first half of the next, at -10 dB.
        let played = speech_like_played(300);
        let frames: Vec<(f32, f32, f32)> = (0..300)
            .map(|i| {
                let echo = if i >= 8 {
                    (played[i - 7] + played[i - 8]) / 2.0 * 0.1
                } else {
                    0.0
                };
                (0.95, echo, played[i])
            })
            .collect();
        let mut b = BargeIn::new(BargeInConfig::default());
        assert_eq!(run(&mut b, &frames, 0), vec![]);
        let (delay_ms, coupling) = b.echo_estimate().expect("an estimate");
        assert_eq!(delay_ms, 7 * 16);
        assert!((-10.0..-4.0).contains(&coupling), "{coupling} dB");
    }

    #[test]
    fn digitally_silent_microphone_frames_do_not_spoil_the_estimate() {
        // Synthetic audio has exact zeros in its pauses; a frame the echo's edge just misses is
        // silent while the played frame at the echo delay was not.
        let played = speech_like_played(300);
        let frames: Vec<(f32, f32, f32)> = (0..300)
            .map(|i| {
                let echo = if i >= 8 && i % 12 != 0 {
                    played[i - 8] * 0.1
                } else {
                    0.0
                };
                (0.95, echo, played[i])
            })
            .collect();
        let mut b = BargeIn::new(BargeInConfig::default());
        assert_eq!(run(&mut b, &frames, 0), vec![]);
        assert_eq!(b.echo_estimate().map(|e| e.0), Some(8 * 16));
    }

    #[test]
    fn echo_delayed_within_the_window_is_still_recognised() {
        let mut b = BargeIn::new(BargeInConfig::default());
        // Playback bursts; the microphone hears them 320 ms (20 frames) later at full coupling.
        let played: Vec<f32> = (0..400)
            .map(|i| if (i / 25) % 2 == 0 { PLAY } else { 0.0 })
            .collect();
        let frames: Vec<(f32, f32, f32)> = (0..400)
            .map(|i| (0.95, if i >= 20 { played[i - 20] } else { 0.0 }, played[i]))
            .collect();
        assert_eq!(run(&mut b, &frames, 0), vec![]);
        assert_eq!(
            b.echo_estimate().map(|e| e.0),
            Some(320),
            "the delay is found"
        );
    }
}
