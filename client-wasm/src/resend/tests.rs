//! Tests of [`super`] (resend.rs).

use super::*;
use aura_protocol::FrameHeader;

fn frame(stream_id: u32, seq: u32) -> Vec<u8> {
    let samples = [seq as i16; 320];
    let mut out = Vec::new();
    AudioFrame::encode(&FrameHeader::input(stream_id, seq, 320), &samples, &mut out).unwrap();
    out
}

fn started(stream_id: u32) -> Record<'static> {
    Record::Event(EngineEvent::SpeechStarted { stream_id })
}

fn seqs(out: &[Outgoing]) -> Vec<u32> {
    out.iter()
        .filter_map(|o| match o {
            Outgoing::Frame(bytes) => Some(AudioFrame::decode(bytes).unwrap().header.seq),
            Outgoing::Text(_) => None,
        })
        .collect()
}

/// A drop mid-utterance: the next ready session hears the utterance's start and every frame,
/// those sent before the drop and those made while no socket was open, in order.
#[test]
fn an_utterance_cut_by_a_drop_is_sent_again_whole_in_order() {
    let mut r = UtteranceResend::new();
    r.record(&started(4), true);
    let frames: Vec<_> = (0..5).map(|seq| frame(4, seq)).collect();
    for (i, f) in frames.iter().enumerate() {
        r.record(&Record::Frame(f), i < 2);
    }
    let out = r.on_ready();
    assert_eq!(
        out[0],
        Outgoing::Text(ClientMessage::SpeechStarted { stream_id: 4 })
    );
    assert_eq!(seqs(&out), [0, 1, 2, 3, 4]);
    assert_eq!(out.len(), 6, "no pause or stop was reported");
    // Still open: the user may still be speaking; a second drop sends it again.
    r.record(&Record::Frame(&frame(4, 5)), true);
    assert_eq!(seqs(&r.on_ready()), [0, 1, 2, 3, 4, 5]);
}

/// A pause or a stop reported while cut off follows the frames; after a resent stop the
/// utterance is gone.
#[test]
fn a_pause_or_stop_reported_while_cut_off_follows_the_frames() {
    let mut r = UtteranceResend::new();
    r.record(&started(2), true);
    r.record(&Record::Frame(&frame(2, 0)), true);
    r.record(&Record::Frame(&frame(2, 1)), false);
    let pause = EngineEvent::SpeechPaused {
        stream_id: 2,
        frames: 2,
        silence_ms: 160,
    };
    r.record(&Record::Event(pause), false);
    assert_eq!(
        r.on_ready().last(),
        Some(&Outgoing::Text(ClientMessage::SpeechPaused {
            stream_id: 2,
            frames: 2,
            silence_ms: 160
        }))
    );
    // Speech came back: no pause any more.
    r.record(
        &Record::Event(EngineEvent::SpeechResumed { stream_id: 2 }),
        false,
    );
    r.record(&Record::Frame(&frame(2, 2)), false);
    let stop = EngineEvent::SpeechStopped {
        stream_id: 2,
        frames: 3,
    };
    r.record(&Record::Event(stop), false);
    let out = r.on_ready();
    assert_eq!(seqs(&out), [0, 1, 2]);
    assert_eq!(
        out.last(),
        Some(&Outgoing::Text(ClientMessage::SpeechStopped {
            stream_id: 2,
            frames: 3
        }))
    );
    assert_eq!(r.on_ready(), [], "a stopped utterance is sent once");
}

/// What the edge heard whole is not kept: a commit, or the client's stop sent on a ready
/// connection. Frames of another stream and frames past the 30 s cap are not kept.
#[test]
fn what_the_edge_heard_whole_is_not_sent_again() {
    let mut r = UtteranceResend::new();
    assert_eq!(r.on_ready(), [], "nothing open");
    r.record(&started(1), true);
    r.record(&Record::Frame(&frame(1, 0)), true);
    r.committed(9);
    assert_eq!(seqs(&r.on_ready()), [0], "another stream's commit");
    r.committed(1);
    assert_eq!(r.on_ready(), []);

    r.record(&started(2), true);
    r.record(&Record::Frame(&frame(2, 0)), true);
    let stop = EngineEvent::SpeechStopped {
        stream_id: 2,
        frames: 1,
    };
    r.record(&Record::Event(stop), true);
    assert_eq!(r.on_ready(), []);

    r.record(&started(3), true);
    r.record(&Record::Frame(&frame(8, 0)), true);
    r.record(&Record::Frame(&[1, 2, 3]), true);
    let cap = (RESEND_MAX_SAMPLES / 320) as u32;
    for seq in 0..cap + 10 {
        r.record(&Record::Frame(&frame(3, seq)), false);
    }
    let kept = seqs(&r.on_ready());
    assert_eq!(kept.len() as u32, cap, "30 s kept");
    assert_eq!(kept.last(), Some(&(cap - 1)));
}
