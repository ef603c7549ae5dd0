//! Word error rate: the words of a transcript as the scorer compares them, and their edit
//! distance (chain_wer, and the chain's check in end_to_end.rs).

/// Lower case words without punctuation; Whisper's "Mr." is the transcripts' "mister".
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['-', '—'], " ")
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| match w.as_str() {
            "mr" => "mister".into(),
            // The cards clips' numbers, which Whisper writes as digits.
            n if n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit()) => {
                const NAMES: [&str; 11] = [
                    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                    "ten",
                ];
                n.parse::<usize>()
                    .ok()
                    .and_then(|v| NAMES.get(v))
                    .map_or(w.clone(), |name| (*name).to_string())
            }
            _ => w,
        })
        .collect()
}

/// Word-level edit distance (substitutions + deletions + insertions).
pub fn edits(reference: &[String], hypothesis: &[String]) -> usize {
    let mut row: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let substitution = diagonal + usize::from(r != h);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[hypothesis.len()]
}

/// 16-bit mono 16 kHz WAV bytes of `samples`.
pub fn wav_16k(samples: &[i16]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}
