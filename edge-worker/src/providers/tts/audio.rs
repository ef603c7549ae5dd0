//! A TTS answer's audio as 16-bit mono samples at a rate the client plays: raw s16le at the
//! rate the request asked for, or a WAV stream whose header says its rate (read as it arrives).
//! A rate the protocol does not allow for reply audio, or one that differs from the rate the
//! reply already plays at (a fallback route's), is converted by the streaming resampler the
//! client uses for playback.

use aura_protocol::limits::{OUTPUT_SAMPLE_RATES, is_output_rate};
use aura_resample::{Filter, StreamResampler};

/// Longest WAV header read before the samples (RIFF, `fmt `, and any `LIST` or `fact` chunk).
const WAV_HEADER_MAX: usize = 4_096;

/// Why an answer's audio cannot be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    #[error("the WAV header is malformed")]
    BadWav,
    #[error("the WAV audio is not 16-bit PCM")]
    NotPcm16,
    #[error("the WAV audio has {0} channels (1 or 2 are played)")]
    Channels(u16),
    #[error("the audio's rate {0} Hz cannot be converted")]
    Rate(u32),
}

/// Where the samples' format is known from.
#[derive(Debug)]
enum Source {
    /// Raw s16le mono at this rate.
    Raw,
    /// A WAV stream: the header is still being read.
    WavHeader,
    /// A WAV stream's samples, with this many interleaved channels.
    WavData { channels: u16 },
}

/// One answer's audio, decoded as it arrives.
#[derive(Debug)]
pub struct SpeechAudio {
    source: Source,
    /// Bytes not yet decoded: the header, or a sample (frame) split across reads.
    held: Vec<u8>,
    rate_in: Option<u32>,
    /// The rate the reply already plays at, if an earlier chunk fixed it.
    reply_rate: Option<u32>,
    converter: Option<StreamResampler>,
    /// Leading converted samples still to drop (the resampler's delay).
    skip: usize,
    scratch: Vec<f32>,
}

/// The rate a source at `rate` is played at: itself when the protocol allows it, else the next
/// allowed rate above (48 kHz at most).
pub fn playable_rate(rate: u32) -> u32 {
    if is_output_rate(rate) {
        return rate;
    }
    OUTPUT_SAMPLE_RATES
        .iter()
        .copied()
        .find(|&r| r >= rate)
        .unwrap_or(48_000)
}

impl SpeechAudio {
    /// Audio at `source_rate` (`None`: a WAV stream), for a reply playing at `reply_rate` once
    /// its first chunk has set it.
    pub fn new(source_rate: Option<u32>, reply_rate: Option<u32>) -> Self {
        Self {
            source: match source_rate {
                Some(_) => Source::Raw,
                None => Source::WavHeader,
            },
            held: Vec::new(),
            rate_in: source_rate,
            reply_rate,
            converter: None,
            skip: 0,
            scratch: Vec::new(),
        }
    }

    /// The rate of the samples given out, once known.
    pub fn rate_out(&self) -> Option<u32> {
        self.rate_in
            .map(|r| self.reply_rate.unwrap_or_else(|| playable_rate(r)))
    }

    /// Decodes `bytes`, appending playable samples to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<i16>) -> Result<(), AudioError> {
        self.held.extend_from_slice(bytes);
        if let Source::WavHeader = self.source {
            match parse_wav_header(&self.held)? {
                None if self.held.len() > WAV_HEADER_MAX => return Err(AudioError::BadWav),
                None => return Ok(()),
                Some(h) => {
                    self.held.drain(..h.data_at);
                    self.rate_in = Some(h.rate);
                    self.source = Source::WavData {
                        channels: h.channels,
                    };
                }
            }
        }
        self.start_converter()?;
        let channels = match self.source {
            Source::WavData { channels } => usize::from(channels),
            _ => 1,
        };
        let frame = 2 * channels;
        let whole = self.held.len() / frame * frame;
        let samples: Vec<i16> = self.held[..whole]
            .chunks_exact(frame)
            .map(|f| {
                let sum: i32 = f
                    .chunks_exact(2)
                    .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
                    .sum();
                (sum / channels as i32) as i16
            })
            .collect();
        self.held.drain(..whole);
        self.emit(&samples, out);
        Ok(())
    }

    /// The answer ended: what the converter still holds is given out (a trailing odd byte is
    /// dropped).
    pub fn finish(&mut self, out: &mut Vec<i16>) {
        let Some(rs) = self.converter.as_mut() else {
            return;
        };
        let skip = &mut self.skip;
        rs.flush(|block| push_converted(block, skip, out));
    }

    fn start_converter(&mut self) -> Result<(), AudioError> {
        let (Some(rate_in), Some(rate_out)) = (self.rate_in, self.rate_out()) else {
            return Ok(());
        };
        if self.converter.is_none() && rate_in != rate_out {
            let rs = StreamResampler::new(rate_in, rate_out, Filter::Playback)
                .map_err(|_| AudioError::Rate(rate_in))?;
            self.skip = rs.output_delay();
            self.converter = Some(rs);
        }
        Ok(())
    }

    fn emit(&mut self, samples: &[i16], out: &mut Vec<i16>) {
        let Some(rs) = self.converter.as_mut() else {
            out.extend_from_slice(samples);
            return;
        };
        self.scratch.clear();
        self.scratch
            .extend(samples.iter().map(|&s| f32::from(s) / 32_768.0));
        let skip = &mut self.skip;
        rs.process(&self.scratch, |block| push_converted(block, skip, out));
    }
}

fn push_converted(block: &[f32], skip: &mut usize, out: &mut Vec<i16>) {
    let dropped = (*skip).min(block.len());
    *skip -= dropped;
    out.extend(
        block[dropped..]
            .iter()
            .map(|&x| (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16),
    );
}

/// What a WAV header says, and where its samples start.
#[derive(Debug, PartialEq, Eq)]
struct WavHeader {
    rate: u32,
    channels: u16,
    data_at: usize,
}

/// Reads a RIFF/WAVE header up to its `data` chunk: `None` until all of it has arrived. The
/// `data` chunk's size is not trusted (streamed WAV gives 0 or 0xFFFFFFFF): the samples run to
/// the end of the body.
fn parse_wav_header(b: &[u8]) -> Result<Option<WavHeader>, AudioError> {
    if b.len() < 12 {
        return Ok(None);
    }
    if &b[..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(AudioError::BadWav);
    }
    let mut at = 12;
    let mut format: Option<(u32, u16)> = None;
    while b.len() >= at + 8 {
        let id = &b[at..at + 4];
        let size = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        let body = at + 8;
        if id == b"data" {
            let (rate, channels) = format.ok_or(AudioError::BadWav)?;
            return Ok(Some(WavHeader {
                rate,
                channels,
                data_at: body,
            }));
        }
        if size > WAV_HEADER_MAX {
            return Err(AudioError::BadWav);
        }
        if b.len() < body + size {
            return Ok(None);
        }
        if id == b"fmt " {
            format = Some(read_fmt(&b[body..body + size])?);
        }
        at = body + size + (size & 1);
    }
    Ok(None)
}

/// The rate and channels of a `fmt ` chunk of 16-bit PCM (plain or extensible).
fn read_fmt(f: &[u8]) -> Result<(u32, u16), AudioError> {
    if f.len() < 16 {
        return Err(AudioError::BadWav);
    }
    let tag = u16::from_le_bytes([f[0], f[1]]);
    let channels = u16::from_le_bytes([f[2], f[3]]);
    let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
    let bits = u16::from_le_bytes([f[14], f[15]]);
    // 1: PCM; 0xFFFE: WAVE_FORMAT_EXTENSIBLE, whose sub-format's first two bytes say PCM.
    let pcm = tag == 1 || (tag == 0xFFFE && f.len() >= 26 && f[24..26] == [1, 0]);
    if !pcm || bits != 16 {
        return Err(AudioError::NotPcm16);
    }
    if !(1..=2).contains(&channels) {
        return Err(AudioError::Channels(channels));
    }
    if rate == 0 {
        return Err(AudioError::BadWav);
    }
    Ok((rate, channels))
}
