//! Silero VAD v6's 16 kHz weights in Aura's compact file, decoded to f32.
//!
//! The file is written by `scripts/silero-weights.py` from the pinned PyPI wheel: `b"ASV6"`, one
//! encoding byte (1 = f32, 2 = f16, 3 = int8 with one f32 scale per output row), three zero
//! bytes, then the tensors in [`Weights`]' field order, little-endian. Biases are always f32.
//! The STFT basis is not stored: it is a Hann-windowed DFT ([`super::stft`] computes it).

/// Why a weights file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("not a Silero v6 weights file (bad magic)")]
    BadMagic,
    #[error("unknown weight encoding {0}")]
    UnknownEncoding(u8),
    #[error("the weights file is {got} bytes, expected {expected}")]
    WrongLength { got: usize, expected: usize },
    #[error("the weights file holds a value that is not finite")]
    NotFinite,
}

impl WeightsError {
    /// A stable code for logs and the page.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadMagic => "silero_bad_magic",
            Self::UnknownEncoding(_) => "silero_unknown_encoding",
            Self::WrongLength { .. } => "silero_wrong_length",
            Self::NotFinite => "silero_not_finite",
        }
    }
}

/// How the weight matrices are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    F32,
    F16,
    Int8,
}

/// A 1-D convolution with kernel 3 and padding 1: `weight[out][in][k]`.
#[derive(Debug, Clone)]
pub struct Conv {
    pub inputs: usize,
    pub outputs: usize,
    pub stride: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Every parameter of the network (the STFT basis excepted).
#[derive(Debug, Clone)]
pub struct Weights {
    pub encoding: Encoding,
    pub encoder: [Conv; 4],
    /// LSTM cell, PyTorch gate order (input, forget, cell, output): for each of the 512 gate
    /// rows, 128 input weights then 128 hidden weights (the two matrices side by side).
    pub lstm: Vec<f32>,
    /// `bias_ih + bias_hh`, 512.
    pub lstm_bias: Vec<f32>,
    /// The decoder's 1x1 convolution over the 128 hidden values, and its bias.
    pub head: Vec<f32>,
    pub head_bias: f32,
}

/// (inputs, outputs, stride) of the four encoder convolutions.
const ENCODER: [(usize, usize, usize); 4] =
    [(129, 128, 1), (128, 64, 2), (64, 64, 2), (64, 128, 1)];
pub const HIDDEN: usize = 128;
const GATES: usize = 4 * HIDDEN;

impl Weights {
    /// Decodes a weights file; any damage is an error, never a panic.
    pub fn parse(bytes: &[u8]) -> Result<Self, WeightsError> {
        if bytes.len() < 8 || &bytes[..4] != b"ASV6" || bytes[5..8] != [0, 0, 0] {
            return Err(WeightsError::BadMagic);
        }
        let encoding = match bytes[4] {
            1 => Encoding::F32,
            2 => Encoding::F16,
            3 => Encoding::Int8,
            other => return Err(WeightsError::UnknownEncoding(other)),
        };
        let expected = 8 + Self::body_len(encoding);
        if bytes.len() != expected {
            return Err(WeightsError::WrongLength {
                got: bytes.len(),
                expected,
            });
        }
        let mut r = Reader {
            bytes: &bytes[8..],
            encoding,
        };
        let encoder = ENCODER.map(|(inputs, outputs, stride)| Conv {
            inputs,
            outputs,
            stride,
            weight: r.matrix(outputs, inputs * 3),
            bias: r.f32s(outputs),
        });
        let w_ih = r.matrix(GATES, HIDDEN);
        let w_hh = r.matrix(GATES, HIDDEN);
        let b_ih = r.f32s(GATES);
        let b_hh = r.f32s(GATES);
        let head = r.matrix(1, HIDDEN);
        let head_bias = r.f32s(1)[0];
        let mut lstm = Vec::with_capacity(GATES * 2 * HIDDEN);
        for row in 0..GATES {
            lstm.extend_from_slice(&w_ih[row * HIDDEN..(row + 1) * HIDDEN]);
            lstm.extend_from_slice(&w_hh[row * HIDDEN..(row + 1) * HIDDEN]);
        }
        let lstm_bias = b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect();
        let weights = Self {
            encoding,
            encoder,
            lstm,
            lstm_bias,
            head,
            head_bias,
        };
        if weights.all_finite() {
            Ok(weights)
        } else {
            Err(WeightsError::NotFinite)
        }
    }

    fn body_len(encoding: Encoding) -> usize {
        let matrix = |rows: usize, cols: usize| match encoding {
            Encoding::F32 => rows * cols * 4,
            Encoding::F16 => rows * cols * 2,
            Encoding::Int8 => rows * 4 + rows * cols,
        };
        let convs: usize = ENCODER
            .iter()
            .map(|&(i, o, _)| matrix(o, i * 3) + o * 4)
            .sum();
        convs + 2 * matrix(GATES, HIDDEN) + 2 * GATES * 4 + matrix(1, HIDDEN) + 4
    }

    fn all_finite(&self) -> bool {
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        self.encoder
            .iter()
            .all(|c| finite(&c.weight) && finite(&c.bias))
            && finite(&self.lstm)
            && finite(&self.lstm_bias)
            && finite(&self.head)
            && self.head_bias.is_finite()
    }
}

/// Reads tensors in order; the length was checked up front, so reads cannot run past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    encoding: Encoding,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head
    }

    fn f32s(&mut self, n: usize) -> Vec<f32> {
        self.take(n * 4)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn matrix(&mut self, rows: usize, cols: usize) -> Vec<f32> {
        match self.encoding {
            Encoding::F32 => self.f32s(rows * cols),
            Encoding::F16 => self
                .take(rows * cols * 2)
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Encoding::Int8 => {
                let scales = self.f32s(rows);
                let q = self.take(rows * cols);
                q.iter()
                    .enumerate()
                    .map(|(i, &v)| f32::from(v as i8) * scales[i / cols])
                    .collect()
            }
        }
    }
}

/// A file of the right shape whose every value is `value`, in f32 (for tests).
#[cfg(test)]
pub(crate) fn uniform_file(value: f32) -> Vec<u8> {
    let mut bytes = b"ASV6\x01\0\0\0".to_vec();
    let n = Weights::body_len(Encoding::F32) / 4;
    for _ in 0..n {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_file_decodes_with_the_biases_summed() {
        let w = Weights::parse(&uniform_file(0.25)).unwrap();
        assert_eq!(w.encoding, Encoding::F32);
        assert_eq!(w.encoder[0].weight.len(), 128 * 129 * 3);
        assert_eq!(w.encoder[3].bias.len(), 128);
        assert_eq!(w.lstm.len(), 512 * 256);
        assert!(w.lstm_bias.iter().all(|&b| b == 0.5));
        assert_eq!(w.head_bias, 0.25);
    }

    #[test]
    fn damaged_files_are_typed_errors() {
        let good = uniform_file(0.1);
        assert_eq!(Weights::parse(b"").unwrap_err(), WeightsError::BadMagic);
        assert_eq!(
            Weights::parse(b"ONNX\x01\0\0\0").unwrap_err().code(),
            "silero_bad_magic"
        );
        let mut unknown = good.clone();
        unknown[4] = 9;
        assert_eq!(
            Weights::parse(&unknown).unwrap_err(),
            WeightsError::UnknownEncoding(9)
        );
        let short = &good[..good.len() - 1];
        assert!(matches!(
            Weights::parse(short),
            Err(WeightsError::WrongLength { .. })
        ));
        let mut nan = good.clone();
        nan[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(Weights::parse(&nan).unwrap_err(), WeightsError::NotFinite);
        // Right length for int8 under an f16 header: refused, not misread.
        let mut relabelled = good;
        relabelled[4] = 2;
        assert!(matches!(
            Weights::parse(&relabelled),
            Err(WeightsError::WrongLength { .. })
        ));
    }
}
