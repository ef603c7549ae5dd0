//! Cuts 16 kHz microphone audio into 20 ms protocol input frames.
//!
//! Audio arrives in blocks of any size (128-sample render quanta after resampling are not a
//! multiple of 320); the framer keeps the remainder and emits each complete frame as the
//! encoded bytes of one binary WebSocket message. No allocation after construction.

use aura_protocol::limits::{INPUT_FRAME_MS, INPUT_SAMPLE_RATE};
use aura_protocol::{AudioFrame, FrameFlags, FrameHeader, HEADER_LEN};

/// Samples in one 20 ms input frame at 16 kHz.
pub const FRAME_SAMPLES: usize = (INPUT_SAMPLE_RATE * INPUT_FRAME_MS / 1000) as usize;

/// Frames one utterance (one `stream_id`) of 16 kHz audio.
#[derive(Debug)]
pub struct Framer {
    stream_id: u32,
    seq: u32,
    pending: [i16; FRAME_SAMPLES],
    filled: usize,
    out: Vec<u8>,
}

impl Framer {
    /// A framer for utterance `stream_id`, starting at sequence number 0.
    pub fn new(stream_id: u32) -> Self {
        Self {
            stream_id,
            seq: 0,
            pending: [0; FRAME_SAMPLES],
            filled: 0,
            out: Vec::with_capacity(HEADER_LEN + 2 * FRAME_SAMPLES),
        }
    }

    /// Starts a new utterance: drops any partial frame and restarts the sequence at 0.
    pub fn restart(&mut self, stream_id: u32) {
        self.stream_id = stream_id;
        self.seq = 0;
        self.filled = 0;
    }

    /// Frames emitted so far for the current utterance.
    pub fn frames_sent(&self) -> u32 {
        self.seq
    }

    /// Adds samples in [-1, 1] (values beyond are clipped; NaN becomes 0) and calls `emit` with
    /// the bytes of every frame completed.
    pub fn push(&mut self, samples: &[f32], mut emit: impl FnMut(&[u8])) {
        for &s in samples {
            self.pending[self.filled] = to_i16(s);
            self.filled += 1;
            if self.filled == FRAME_SAMPLES {
                self.flush(FrameFlags::NONE, &mut emit);
            }
        }
    }

    /// Ends the utterance: emits the partial frame, if any, with the END flag (or an empty END
    /// frame). The next `push` continues the same stream with the following `seq`.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        self.flush(FrameFlags::END, &mut emit);
    }

    fn flush(&mut self, flags: FrameFlags, emit: &mut impl FnMut(&[u8])) {
        let header = FrameHeader {
            flags,
            ..FrameHeader::input(self.stream_id, self.seq, self.filled as u16)
        };
        self.out.clear();
        // The header is valid by construction: 16 kHz input, at most 20 ms, END when empty.
        if AudioFrame::encode(&header, &self.pending[..self.filled], &mut self.out).is_ok() {
            emit(&self.out);
            self.seq = self.seq.wrapping_add(1);
        }
        self.filled = 0;
    }
}

fn to_i16(s: f32) -> i16 {
    // `as` saturates and maps NaN to 0.
    (s * 32767.0).round() as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use aura_protocol::FrameKind;

    fn collect(framer: &mut Framer, samples: &[f32]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        framer.push(samples, |b| frames.push(b.to_vec()));
        frames
    }

    #[test]
    fn render_quanta_become_exact_20ms_frames_in_order() {
        let mut framer = Framer::new(9);
        let ramp: Vec<f32> = (0..1000).map(|i| i as f32 / 32767.0).collect();
        let mut frames = Vec::new();
        for quantum in ramp.chunks(128) {
            frames.extend(collect(&mut framer, quantum));
        }
        assert_eq!(
            frames.len(),
            3,
            "1000 samples hold three whole 320-sample frames"
        );
        let mut expected = 0i16;
        for (i, bytes) in frames.iter().enumerate() {
            let f = AudioFrame::decode_kind(bytes, FrameKind::Input).unwrap();
            assert_eq!((f.header.stream_id, f.header.seq), (9, i as u32));
            assert_eq!(f.header.duration_ms(), 20);
            for s in f.samples() {
                assert_eq!(s, expected, "no sample lost, repeated or reordered");
                expected += 1;
            }
        }
        let mut tail = Vec::new();
        framer.finish(|b| tail.push(b.to_vec()));
        let f = AudioFrame::decode(&tail[0]).unwrap();
        assert!(f.header.flags.is_end());
        assert_eq!((f.header.seq, f.header.sample_count), (3, 40));
        assert_eq!(framer.frames_sent(), 4);
    }

    #[test]
    fn out_of_range_and_nan_samples_are_clipped_not_wrapped() {
        let mut framer = Framer::new(1);
        let mut input = vec![0.0f32; FRAME_SAMPLES];
        input[..4].copy_from_slice(&[2.0, -2.0, f32::NAN, -1.0]);
        let frames = collect(&mut framer, &input);
        let f = AudioFrame::decode(&frames[0]).unwrap();
        let s: Vec<i16> = f.samples().take(4).collect();
        assert_eq!(s, vec![32767, -32768, 0, -32767]);
    }

    #[test]
    fn finish_with_nothing_pending_sends_an_empty_end_frame() {
        let mut framer = Framer::new(2);
        let mut out = Vec::new();
        framer.finish(|b| out.push(b.to_vec()));
        assert_eq!(out[0].len(), HEADER_LEN);
        assert!(AudioFrame::decode(&out[0]).unwrap().header.flags.is_end());
    }

    #[test]
    fn restart_begins_a_new_stream_at_seq_zero() {
        let mut framer = Framer::new(1);
        framer.push(&[0.1; 500], |_| {});
        framer.restart(2);
        let frames = collect(&mut framer, &[0.1; FRAME_SAMPLES]);
        let f = AudioFrame::decode(&frames[0]).unwrap();
        assert_eq!((f.header.stream_id, f.header.seq), (2, 0));
    }
}
