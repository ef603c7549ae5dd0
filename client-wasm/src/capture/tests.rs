use super::*;
use aura_protocol::AudioFrame;

const CTX: u32 = 48_000;

/// Speech from espeak-ng (Debian's package, installed by scripts/bootstrap.sh), at 48 kHz.
fn speak(text: &str) -> Vec<f32> {
    let dir = std::env::temp_dir().join(format!("aura-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.wav", text.len()));
    let status = std::process::Command::new("espeak-ng")
        .args(["-w", path.to_str().unwrap(), text])
        .status()
        .expect("espeak-ng is needed for these tests: scripts/bootstrap.sh --test installs it");
    assert!(status.success());
    let clip = crate::clip::read_wav(&path).unwrap();
    let mut rs = StreamResampler::new(clip.rate, CTX, Filter::Speech).unwrap();
    let mut out = Vec::new();
    rs.process(&clip.samples, |b| out.extend_from_slice(b));
    rs.flush(|b| out.extend_from_slice(b));
    out
}

fn silence(ms: u32) -> Vec<f32> {
    vec![0.0; (ms * CTX / 1000) as usize]
}

fn gain(x: &[f32], g: f32) -> Vec<f32> {
    x.iter().map(|s| s * g).collect()
}

#[derive(Debug, Default)]
struct Seen {
    started: Vec<(usize, u32)>,
    stopped: Vec<(usize, u32, u32)>,
    frames: Vec<Vec<u8>>,
    barge: Vec<(usize, BargeInEvent)>,
    /// (quantum start, stream, frames, silence_ms)
    paused: Vec<(usize, u32, u32, u32)>,
    resumed: Vec<(usize, u32)>,
}

impl Seen {
    fn record(&mut self, at: usize, e: CaptureEvent<'_>) {
        match e {
            CaptureEvent::SpeechStarted { stream_id } => self.started.push((at, stream_id)),
            CaptureEvent::SpeechStopped { stream_id, frames } => {
                self.stopped.push((at, stream_id, frames))
            }
            CaptureEvent::SpeechPaused {
                stream_id,
                frames,
                silence_ms,
            } => self.paused.push((at, stream_id, frames, silence_ms)),
            CaptureEvent::SpeechResumed { stream_id } => self.resumed.push((at, stream_id)),
            CaptureEvent::Frame(b) => self.frames.push(b.to_vec()),
            CaptureEvent::BargeIn(b) => self.barge.push((at, b)),
        }
    }
}

/// Runs mic (and what was played alongside it) through the pipeline in 128-sample quanta.
fn run(capture: &mut Capture, mic: &[f32], played: Option<&[f32]>) -> Seen {
    let mut seen = Seen::default();
    for (q, block) in mic.chunks(128).enumerate() {
        let out = played
            .map(|p| &p[(q * 128).min(p.len())..((q + 1) * 128).min(p.len())])
            .unwrap_or(&[]);
        let at = q * 128;
        capture.process(block, out, played.is_some(), |e| seen.record(at, e));
    }
    seen
}

#[test]
fn a_click_that_the_vad_scores_as_speech_opens_no_turn() {
    // A 5 ms pulse (the browser test's marker): earshot gives it 0.54-0.58 for one frame,
    // a frame or two after it. Without the impulse check the first-frame start would open
    // a turn on it; at several positions within a frame.
    for shift in [0, 192, 384, 576] {
        // Over a faint noise floor (-80 dBFS), as a real microphone has.
        let mut mic: Vec<f32> = (0..48_000)
            .map(|i| 1e-4 * ((i * 7_919 % 1_009) as f32 / 504.5 - 1.0))
            .collect();
        let at = 24_000 + shift;
        mic[at..at + 240].fill(0.9);
        let mut capture =
            Capture::new(CTX, TurnConfig::default(), BargeInConfig::default()).unwrap();
        let seen = run(&mut capture, &mic, None);
        assert!(seen.started.is_empty(), "shift {shift}: {:?}", seen.started);
    }
}

#[test]
fn a_monologue_cut_at_max_length_goes_on_without_sending_audio_twice() {
    let speech = speak(
        "We would like to book a table for six people on Friday evening, \
         somewhere quiet near the window, and one of us needs a high chair please.",
    );
    let mut mic = silence(500);
    mic.extend(gain(&speech, 0.5));
    mic.extend(silence(1_500));
    let turn = TurnConfig {
        max_utterance_ms: 1_200,
        ..TurnConfig::default()
    };
    let mut capture = Capture::new(CTX, turn, BargeInConfig::default()).unwrap();
    let seen = run(&mut capture, &mic, None);
    assert!(seen.started.len() >= 3, "{:?}", seen.started);
    let mut utterances: Vec<Vec<i16>> = Vec::new();
    for bytes in &seen.frames {
        let f = AudioFrame::decode(bytes).unwrap();
        if f.header.seq == 0 {
            utterances.push(Vec::new());
        }
        utterances.last_mut().unwrap().extend(f.samples());
    }
    assert_eq!(utterances.len(), seen.started.len());
    for pair in utterances.windows(2) {
        // The next utterance's first voiced 20 ms must not be in the one before.
        let (before, next) = (&pair[0], &pair[1]);
        let Some(probe) = next
            .windows(320)
            .find(|w| w.iter().map(|&s| i64::from(s).abs()).sum::<i64>() > 320 * 300)
        else {
            continue;
        };
        assert!(
            !before.windows(320).any(|w| w == probe),
            "audio sent twice across a max-length cut"
        );
    }
}

#[test]
fn a_spoken_turn_is_framed_whole_with_the_padding_before_it() {
    let speech = speak("What time do you open tomorrow morning?");
    let mut mic = silence(1_000);
    mic.extend(gain(&speech, 0.5));
    mic.extend(silence(1_500));
    let mut capture = Capture::new(CTX, TurnConfig::default(), BargeInConfig::default()).unwrap();
    let seen = run(&mut capture, &mic, None);

    assert_eq!(seen.started.len(), 1, "{:?}", seen.started);
    assert_eq!(seen.stopped.len(), 1, "{:?}", seen.stopped);
    assert_eq!(
        (seen.paused.len(), seen.resumed.len()),
        (0, 0),
        "the client ends its turns (v1): no pauses are reported"
    );
    let (_, stream, frames) = seen.stopped[0];
    assert_eq!(
        frames as usize,
        seen.frames.len(),
        "the frame count sent matches the frames"
    );
    let mut samples = 0usize;
    for (i, bytes) in seen.frames.iter().enumerate() {
        let f = AudioFrame::decode(bytes).unwrap();
        assert_eq!((f.header.stream_id, f.header.seq), (stream, i as u32));
        samples += f.samples().len();
    }
    // Speech (~2.5 s) + 300 ms padding + the end-of-turn silence that confirmed it.
    let secs = samples as f32 / 16_000.0;
    let speech_secs = speech.len() as f32 / CTX as f32;
    assert!(
        secs > speech_secs && secs < speech_secs + 1.5,
        "{secs} s framed for {speech_secs} s of speech"
    );
    // Detected within 200 ms of the speech starting at 1.0 s (plus resampler latency).
    let start_s = seen.started[0].0 as f32 / CTX as f32;
    assert!(
        (1.0..1.25).contains(&start_s),
        "speech start reported at {start_s} s"
    );
}

/// A client around the pipeline: it plays `reply` (pausing, resuming and stopping it as
/// barge-in says), and its microphone hears what was actually played, `echo_delay_ms` late
/// at `echo_gain`, plus `user` (starting at `user_at`, in context samples).
fn converse(
    reply: &[f32],
    echo_gain: f32,
    echo_delay_ms: u32,
    user: &[f32],
    user_at: usize,
) -> Seen {
    let mut capture = Capture::new(CTX, TurnConfig::default(), BargeInConfig::default()).unwrap();
    let delay = (echo_delay_ms * CTX / 1000) as usize;
    let total = reply.len().max(user_at + user.len()) + CTX as usize;
    let mut played_all: Vec<f32> = Vec::with_capacity(total);
    let (mut pos, mut paused, mut stopped) = (0usize, false, false);
    let mut seen = Seen::default();
    for q in 0..total / 128 {
        let at = q * 128;
        let mut played = [0.0f32; 128];
        if !paused && !stopped {
            for p in played.iter_mut() {
                *p = reply.get(pos).copied().unwrap_or(0.0);
                pos += 1;
            }
        }
        played_all.extend_from_slice(&played);
        let mic: Vec<f32> = (at..at + 128)
            .map(|t| {
                let echo = if t >= delay {
                    played_all.get(t - delay).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                let voice = if t >= user_at {
                    user.get(t - user_at).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                echo * echo_gain + voice
            })
            .collect();
        let active = !stopped && pos < reply.len();
        capture.process(&mic, &played, active, |e| {
            match e {
                CaptureEvent::BargeIn(BargeInEvent::Pause) => paused = true,
                CaptureEvent::BargeIn(BargeInEvent::Resume) => paused = false,
                CaptureEvent::BargeIn(BargeInEvent::Interrupt { .. }) => stopped = true,
                _ => {}
            }
            seen.record(at, e);
        });
    }
    seen
}

#[test]
fn our_own_reply_in_the_microphone_never_barges_in() {
    let reply = gain(
        &speak("Our bakery opens at seven in the morning, and on Sundays at eight."),
        0.5,
    );
    for (echo_gain, delay_ms) in [(0.5, 120), (1.0, 60), (0.2, 300)] {
        let seen = converse(&reply, echo_gain, delay_ms, &[], 0);
        assert_eq!(
            seen.barge,
            vec![],
            "echo at {echo_gain} after {delay_ms} ms barged in"
        );
        assert!(seen.started.is_empty());
    }
}

#[test]
fn the_user_talking_over_the_reply_pauses_it_fast_then_interrupts_and_opens_a_turn() {
    let reply = gain(
        &speak("Our bakery opens at seven in the morning, and on Sundays at eight."),
        0.5,
    );
    let user = gain(&speak("Wait, stop, I need something else please."), 0.5);
    let user_at = CTX as usize * 2;
    let seen = converse(&reply, 0.5, 120, &user, user_at);
    let pause = seen
        .barge
        .iter()
        .find(|(_, e)| *e == BargeInEvent::Pause)
        .unwrap_or_else(|| panic!("no pause: {:?} started {:?}", seen.barge, seen.started));
    let pause_delay_ms = (pause.0 as i64 - user_at as i64) * 1000 / i64::from(CTX);
    assert!(
        (0..=150).contains(&pause_delay_ms),
        "paused {pause_delay_ms} ms after the user began: {:?}",
        seen.barge
    );
    assert!(
        seen.barge
            .iter()
            .any(|(_, e)| matches!(e, BargeInEvent::Interrupt { .. })),
        "{:?}",
        seen.barge
    );
    assert_eq!(
        seen.started.len(),
        1,
        "the interruption opens the user's turn"
    );
    assert_eq!(seen.stopped.len(), 1, "and the turn ends");
    assert!(seen.frames.len() > 50, "{} frames", seen.frames.len());
}

fn edge_capture() -> Capture {
    let mut capture = Capture::new(CTX, TurnConfig::default(), BargeInConfig::default()).unwrap();
    capture.set_end_of_turn(EndOfTurn::Edge { fallback_ms: 4_000 });
    capture
}

/// Like `run`, and the edge commits the open utterance at context sample `commit_at`.
fn run_committing(capture: &mut Capture, mic: &[f32], commit_at: usize) -> (Seen, usize) {
    let mut seen = Seen::default();
    let mut frames_at_commit = None;
    for (q, block) in mic.chunks(128).enumerate() {
        let at = q * 128;
        if at >= commit_at && frames_at_commit.is_none() {
            frames_at_commit = Some(seen.frames.len());
            let stream = seen.started.last().expect("an utterance is open").1;
            capture.commit(stream, |e| seen.record(at, e));
        }
        capture.process(block, &[], false, |e| seen.record(at, e));
    }
    (seen, frames_at_commit.expect("the run reached the commit"))
}

/// The samples of each stream, by stream id, in order.
fn streams(frames: &[Vec<u8>]) -> Vec<(u32, Vec<i16>)> {
    let mut out: Vec<(u32, Vec<i16>)> = Vec::new();
    for bytes in frames {
        let f = AudioFrame::decode(bytes).unwrap();
        if out.last().map(|s| s.0) != Some(f.header.stream_id) {
            assert_eq!(f.header.seq, 0, "a stream starts at seq 0");
            out.push((f.header.stream_id, Vec::new()));
        }
        out.last_mut().unwrap().1.extend(f.samples());
    }
    out
}

#[test]
fn a_pause_then_speech_is_one_utterance_with_the_pause_reported_when_the_edge_decides() {
    let mut mic = silence(500);
    mic.extend(gain(&speak("I would like to order, um,"), 0.5));
    mic.extend(silence(900));
    mic.extend(gain(&speak("two loaves of rye bread."), 0.5));
    mic.extend(silence(1_500));
    let mut capture = edge_capture();
    let seen = run(&mut capture, &mic, None);
    assert_eq!(seen.started.len(), 1, "{:?}", seen.started);
    assert!(
        seen.stopped.is_empty(),
        "no fallback within 1.5 s: {seen:?}"
    );
    // The 900 ms pause (over v1's 600 ms) at least, and the silence at the end.
    assert!(seen.paused.len() >= 2, "{:?}", seen.paused);
    assert_eq!(seen.resumed.len(), seen.paused.len() - 1, "{seen:?}");
    for &(_, stream, frames, silence_ms) in &seen.paused {
        assert_eq!(stream, 1);
        assert!((160..176).contains(&silence_ms), "{silence_ms}");
        assert!(frames > 0 && frames as usize <= seen.frames.len());
    }
    // Every frame, pauses included, in one stream and in order.
    assert_eq!(streams(&seen.frames).len(), 1);
    assert!(capture.in_utterance());
}

#[test]
fn a_commit_ends_the_utterance_without_speech_stopped_or_more_frames() {
    let mut mic = silence(500);
    mic.extend(gain(&speak("What time do you open tomorrow?"), 0.5));
    let commit_at = mic.len() + (CTX as usize * 4) / 10;
    mic.extend(silence(6_000));
    let mut capture = edge_capture();
    let (seen, frames_at_commit) = run_committing(&mut capture, &mic, commit_at);
    assert_eq!(seen.started.len(), 1, "{:?}", seen.started);
    assert_eq!(seen.paused.len(), 1, "{:?}", seen.paused);
    assert!(seen.paused[0].0 < commit_at, "paused before the commit");
    assert!(seen.stopped.is_empty(), "{:?}", seen.stopped);
    assert_eq!(
        seen.frames.len(),
        frames_at_commit,
        "no frame after the commit"
    );
    assert!(!capture.in_utterance());
}

#[test]
fn with_no_commit_the_fallback_silence_ends_the_turn_with_speech_stopped() {
    let mut mic = silence(500);
    let speech = speak("What time do you open tomorrow?");
    mic.extend(gain(&speech, 0.5));
    let speech_end = mic.len();
    mic.extend(silence(4_600));
    let mut capture = edge_capture();
    let seen = run(&mut capture, &mic, None);
    assert_eq!(seen.stopped.len(), 1, "{seen:?}");
    let (at, stream, frames) = seen.stopped[0];
    assert_eq!((stream, frames as usize), (1, seen.frames.len()));
    let after_ms = (at - speech_end) * 1000 / CTX as usize;
    // espeak-ng's clip ends in ~300 ms of its own silence; v1 would stop at ~300 + 600.
    assert!(
        (3_500..4_400).contains(&after_ms),
        "stopped {after_ms} ms after the clip"
    );
}

#[test]
fn speech_at_the_moment_of_the_commit_is_a_new_utterance_with_its_onset() {
    let mut mic = silence(500);
    mic.extend(gain(&speak("I would like to order"), 0.5));
    mic.extend(silence(400));
    let second_at = mic.len();
    let second = gain(&speak("two loaves of rye bread please"), 0.5);
    mic.extend(&second);
    mic.extend(silence(1_000));
    // The edge committed on the pause; its message arrives 300 ms into the second part.
    let commit_at = second_at + (CTX as usize * 3) / 10;
    let mut capture = edge_capture();
    let (seen, frames_at_commit) = run_committing(&mut capture, &mic, commit_at);
    assert_eq!(seen.started.len(), 2, "{:?}", seen.started);
    assert_eq!(
        seen.started[1],
        (commit_at.div_ceil(128) * 128, 2),
        "opened at the commit"
    );
    assert!(seen.stopped.is_empty(), "{:?}", seen.stopped);
    let streams = streams(&seen.frames);
    assert_eq!(
        streams.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1, 2],
        "no frame of stream 1 after the commit"
    );
    assert_eq!(
        seen.frames[frames_at_commit..]
            .iter()
            .filter(|b| AudioFrame::decode(b).unwrap().header.stream_id == 1)
            .count(),
        0
    );
    // Stream 2 holds the second part from its onset (sent again: the edge dropped it
    // with the committed utterance), not only what followed the commit.
    let from_second_s = (mic.len() - second_at) as f32 / CTX as f32;
    let stream2_s = streams[1].1.len() as f32 / 16_000.0;
    assert!(
        stream2_s >= from_second_s - 0.05,
        "stream 2 has {stream2_s} s, the second part and after {from_second_s} s"
    );
    // And nothing of the first part: its audio before the pause is not in stream 2.
    let first = &streams[0].1;
    let first_speech_end = (second_at - CTX as usize * 4 / 10) / 3;
    let probe = first[..first_speech_end.min(first.len())]
        .windows(320)
        .rev()
        .find(|w| w.iter().map(|&s| i64::from(s).abs()).sum::<i64>() > 320 * 300)
        .expect("the first part has speech");
    assert!(!streams[1].1.windows(320).any(|w| w == probe));
}

#[test]
fn a_stale_commit_is_ignored() {
    let mut mic = silence(500);
    mic.extend(gain(&speak("What time do you open tomorrow?"), 0.5));
    let commit_at = mic.len() + CTX as usize / 10;
    mic.extend(silence(1_000));
    let mut capture = edge_capture();
    let mut seen = Seen::default();
    for (q, block) in mic.chunks(128).enumerate() {
        let at = q * 128;
        if at == commit_at / 128 * 128 {
            capture.commit(7, |e| seen.record(at, e));
        }
        capture.process(block, &[], false, |e| seen.record(at, e));
    }
    assert!(
        capture.in_utterance(),
        "a commit of stream 7 leaves stream 1 open"
    );
    assert_eq!(seen.started.len(), 1);
}
