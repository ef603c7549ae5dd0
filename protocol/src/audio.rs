//! Binary audio frames: a fixed 20-byte little-endian header, then PCM s16le mono.
//!
//! ```text
//! offset size field
//!      0    1 version       1
//!      1    1 kind          1 = input audio (client -> edge), 2 = output audio (edge -> client)
//!      2    2 flags         bit 0 = last frame of its stream; other bits must be 0
//!      4    4 stream_id     utterance id (input) or response id (output)
//!      8    4 seq           0 for the first frame of a stream, then +1 per frame
//!     12    4 sample_rate   Hz: 16000 for input; one of limits::OUTPUT_SAMPLE_RATES for output
//!     16    2 sample_count  number of samples in the payload
//!     18    2 reserved      must be 0
//!     20  2*n pcm           sample_count samples, s16le
//! ```

use crate::limits::{
    INPUT_SAMPLE_RATE, MAX_BINARY_MESSAGE_BYTES, MAX_FRAME_MS, MAX_FRAME_SAMPLES, is_output_rate,
};

/// Bytes before the PCM payload.
pub const HEADER_LEN: usize = 20;

const FRAME_VERSION: u8 = 1;

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Microphone audio, client to edge, always 16 kHz.
    Input = 1,
    /// Reply audio, edge to client, at the TTS rate.
    Output = 2,
}

/// Frame flags. Only [`FrameFlags::END`] is defined in v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FrameFlags(u16);

impl FrameFlags {
    pub const NONE: Self = Self(0);
    /// The last frame of its stream; may carry no samples.
    pub const END: Self = Self(1);
    const KNOWN: u16 = 1;

    pub fn bits(self) -> u16 {
        self.0
    }
    pub fn is_end(self) -> bool {
        self.0 & Self::END.0 != 0
    }
}

/// The header of one audio frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    pub kind: FrameKind,
    pub flags: FrameFlags,
    pub stream_id: u32,
    pub seq: u32,
    pub sample_rate: u32,
    pub sample_count: u16,
}

impl FrameHeader {
    /// The header of a microphone frame of `sample_count` samples (16 kHz).
    pub fn input(stream_id: u32, seq: u32, sample_count: u16) -> Self {
        Self {
            kind: FrameKind::Input,
            flags: FrameFlags::NONE,
            stream_id,
            seq,
            sample_rate: INPUT_SAMPLE_RATE,
            sample_count,
        }
    }

    /// The header of a reply frame of `sample_count` samples at `sample_rate`.
    pub fn output(stream_id: u32, seq: u32, sample_rate: u32, sample_count: u16) -> Self {
        Self {
            kind: FrameKind::Output,
            flags: FrameFlags::NONE,
            stream_id,
            seq,
            sample_rate,
            sample_count,
        }
    }

    /// The same header marked as the last frame of its stream.
    pub fn ending(self) -> Self {
        Self {
            flags: FrameFlags::END,
            ..self
        }
    }

    /// Duration of the frame's audio in whole milliseconds, rounded down.
    pub fn duration_ms(&self) -> u32 {
        (u64::from(self.sample_count) * 1000 / u64::from(self.sample_rate.max(1))) as u32
    }

    /// Checks every rule of v1 that the header alone decides.
    pub fn validate(&self) -> Result<(), FrameError> {
        let rate_ok = match self.kind {
            FrameKind::Input => self.sample_rate == INPUT_SAMPLE_RATE,
            FrameKind::Output => is_output_rate(self.sample_rate),
        };
        if !rate_ok {
            return Err(FrameError::WrongSampleRate {
                kind: self.kind,
                rate: self.sample_rate,
            });
        }
        let samples = u64::from(self.sample_count);
        if samples > MAX_FRAME_SAMPLES as u64
            || samples * 1000 > u64::from(MAX_FRAME_MS) * u64::from(self.sample_rate)
        {
            return Err(FrameError::TooLong {
                samples: self.sample_count,
                rate: self.sample_rate,
            });
        }
        if self.sample_count == 0 && !self.flags.is_end() {
            return Err(FrameError::Empty);
        }
        Ok(())
    }
}

/// Why a binary message is not a valid audio frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort(usize),
    #[error("binary message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("frame version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("unknown frame flags {0:#06x}")]
    UnknownFlags(u16),
    #[error("reserved header bytes are not zero")]
    ReservedNotZero,
    #[error("{rate} Hz is not an allowed sample rate for {kind:?} audio")]
    WrongSampleRate { kind: FrameKind, rate: u32 },
    #[error("{samples} samples at {rate} Hz exceed the {MAX_FRAME_MS} ms frame limit")]
    TooLong { samples: u16, rate: u32 },
    #[error("frame has no samples and is not the end of its stream")]
    Empty,
    #[error("header declares {declared} payload bytes but {actual} follow")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("frame is {got:?} audio where {expected:?} audio was expected")]
    WrongDirection { expected: FrameKind, got: FrameKind },
}

impl FrameError {
    /// The code to send back in an `error` message.
    pub fn code(&self) -> crate::ErrorCode {
        use crate::ErrorCode;
        match self {
            Self::TooLarge { .. } => ErrorCode::MessageTooLarge,
            Self::WrongSampleRate { .. } => ErrorCode::WrongSampleRate,
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            _ => ErrorCode::BadFrame,
        }
    }
}

/// One decoded audio frame, borrowing its payload from the message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFrame<'a> {
    pub header: FrameHeader,
    pcm: &'a [u8],
}

impl<'a> AudioFrame<'a> {
    /// Decodes and validates one binary message. Total: any bytes give a frame or an error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, FrameError> {
        if bytes.len() > MAX_BINARY_MESSAGE_BYTES {
            return Err(FrameError::TooLarge {
                len: bytes.len(),
                max: MAX_BINARY_MESSAGE_BYTES,
            });
        }
        let Some((head, pcm)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(FrameError::TooShort(bytes.len()));
        };
        let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        if head[0] != FRAME_VERSION {
            return Err(FrameError::UnsupportedVersion(head[0]));
        }
        let kind = match head[1] {
            1 => FrameKind::Input,
            2 => FrameKind::Output,
            other => return Err(FrameError::UnknownKind(other)),
        };
        let flags = u16_at(2);
        if flags & !FrameFlags::KNOWN != 0 {
            return Err(FrameError::UnknownFlags(flags));
        }
        if u16_at(18) != 0 {
            return Err(FrameError::ReservedNotZero);
        }
        let header = FrameHeader {
            kind,
            flags: FrameFlags(flags),
            stream_id: u32_at(4),
            seq: u32_at(8),
            sample_rate: u32_at(12),
            sample_count: u16_at(16),
        };
        header.validate()?;
        let declared = usize::from(header.sample_count) * 2;
        if pcm.len() != declared {
            return Err(FrameError::LengthMismatch {
                declared,
                actual: pcm.len(),
            });
        }
        Ok(Self { header, pcm })
    }

    /// Decodes a frame that must travel in the `expected` direction.
    pub fn decode_kind(bytes: &'a [u8], expected: FrameKind) -> Result<Self, FrameError> {
        let frame = Self::decode(bytes)?;
        if frame.header.kind != expected {
            return Err(FrameError::WrongDirection {
                expected,
                got: frame.header.kind,
            });
        }
        Ok(frame)
    }

    /// The raw s16le payload.
    pub fn pcm_bytes(&self) -> &'a [u8] {
        self.pcm
    }

    /// The samples, in order.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = i16> + 'a {
        self.pcm
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
    }

    /// Appends the encoded frame for `header` and `samples` to `out`, after validating both.
    /// `header.sample_count` must equal `samples.len()`.
    pub fn encode(
        header: &FrameHeader,
        samples: &[i16],
        out: &mut Vec<u8>,
    ) -> Result<(), FrameError> {
        encode_header(header, samples.len() * 2, out)?;
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        Ok(())
    }

    /// Appends the encoded frame for `header` and its s16le payload `pcm` (as a provider sends
    /// it: no copy through samples) to `out`, after validating both.
    pub fn encode_pcm(
        header: &FrameHeader,
        pcm: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), FrameError> {
        encode_header(header, pcm.len(), out)?;
        out.extend_from_slice(pcm);
        Ok(())
    }

    /// The frame for `header` and `pcm`, as a new message.
    pub fn to_bytes(header: &FrameHeader, pcm: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(HEADER_LEN + pcm.len());
        Self::encode_pcm(header, pcm, &mut out)?;
        Ok(out)
    }

    /// Splits frames written back to back into one buffer, decoding each in order, with its
    /// bytes. A torn or invalid frame is the last item, as its error.
    pub fn split(
        frames: &'a [u8],
    ) -> impl Iterator<Item = Result<(Self, &'a [u8]), FrameError>> + 'a {
        let mut rest = frames;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let len = match rest.get(16..18) {
                Some(n) => {
                    (HEADER_LEN + usize::from(u16::from_le_bytes([n[0], n[1]])) * 2).min(rest.len())
                }
                None => rest.len(),
            };
            let (frame, tail) = rest.split_at(len);
            let decoded = Self::decode(frame).map(|f| (f, frame));
            rest = if decoded.is_ok() { tail } else { &[] };
            Some(decoded)
        })
    }
}

/// Validates `header` against a payload of `payload_bytes` and appends the header's bytes.
fn encode_header(
    header: &FrameHeader,
    payload_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    header.validate()?;
    if payload_bytes != usize::from(header.sample_count) * 2 {
        return Err(FrameError::LengthMismatch {
            declared: usize::from(header.sample_count) * 2,
            actual: payload_bytes,
        });
    }
    out.reserve(HEADER_LEN + payload_bytes);
    out.push(FRAME_VERSION);
    out.push(header.kind as u8);
    out.extend_from_slice(&header.flags.bits().to_le_bytes());
    out.extend_from_slice(&header.stream_id.to_le_bytes());
    out.extend_from_slice(&header.seq.to_le_bytes());
    out.extend_from_slice(&header.sample_rate.to_le_bytes());
    out.extend_from_slice(&header.sample_count.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_from_pcm_bytes_equal_frames_from_samples() {
        let samples = [1i16, -2, 300, i16::MIN, i16::MAX];
        let pcm: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let header = FrameHeader::output(7, 3, 24_000, 5);
        let mut from_samples = Vec::new();
        AudioFrame::encode(&header, &samples, &mut from_samples).unwrap();
        assert_eq!(AudioFrame::to_bytes(&header, &pcm).unwrap(), from_samples);
        let decoded = AudioFrame::decode(&from_samples).unwrap();
        assert_eq!(decoded.header, header);
        assert_eq!(decoded.pcm_bytes(), pcm.as_slice());
        // An odd byte count or a count that disagrees with the header is refused.
        assert!(matches!(
            AudioFrame::to_bytes(&header, &pcm[..9]),
            Err(FrameError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn constructors_make_valid_headers_and_the_end_frame_may_be_empty() {
        let input = FrameHeader::input(1, 0, 320);
        assert_eq!(
            (input.kind, input.sample_rate),
            (FrameKind::Input, INPUT_SAMPLE_RATE)
        );
        assert!(input.validate().is_ok());
        let end = FrameHeader::output(9, 41, 24_000, 0).ending();
        assert!(end.flags.is_end() && end.validate().is_ok());
        assert!(FrameHeader::output(9, 41, 24_000, 0).validate().is_err());
    }

    #[test]
    fn split_walks_concatenated_frames_and_stops_at_a_torn_one() {
        let mut buf = Vec::new();
        for seq in 0..3u32 {
            let pcm = vec![seq as u8; 4];
            AudioFrame::encode_pcm(&FrameHeader::input(5, seq, 2), &pcm, &mut buf).unwrap();
        }
        let frames: Vec<_> = AudioFrame::split(&buf).map(Result::unwrap).collect();
        let seqs: Vec<u32> = frames.iter().map(|(f, _)| f.header.seq).collect();
        assert_eq!(seqs, [0, 1, 2]);
        // Each item carries its frame's own bytes.
        assert_eq!(
            frames.iter().map(|(_, b)| b.len()).sum::<usize>(),
            buf.len()
        );
        assert_eq!(AudioFrame::decode(frames[1].1).unwrap().header.seq, 1);
        let torn = &buf[..buf.len() - 1];
        let items: Vec<_> = AudioFrame::split(torn).collect();
        assert_eq!(items.len(), 3);
        assert!(matches!(items[2], Err(FrameError::LengthMismatch { .. })));
        let short: Vec<_> = AudioFrame::split(&buf[..7]).collect();
        assert!(matches!(short[..], [Err(FrameError::TooShort(7))]));
        assert_eq!(AudioFrame::split(&[]).count(), 0);
    }
}
