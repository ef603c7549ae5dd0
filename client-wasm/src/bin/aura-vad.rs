//! `aura-vad`: the browser's resampler, VAD and turn detector, run on a WAV file on the host.
//!
//! ```text
//! aura-vad probs FILE.wav      one line per 16 ms VAD frame: start_ms end_ms probability
//! aura-vad segments FILE.wav   one JSON object per utterance: {"start_ms":..,"end_ms":..}
//! ```
//! Any sample rate and channel count. A bad file gives a one-line error and exit status 1;
//! wrong usage gives exit status 2.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use std::io::Write;
    use std::process::ExitCode;

    use aura_client::clip;
    use aura_client::turn::TurnConfig;
    use aura_client::vad::VAD_FRAME_MS;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, path) = match args.as_slice() {
        [c, p] if c == "probs" || c == "segments" => (c.as_str(), std::path::Path::new(p)),
        _ => {
            eprintln!("usage: aura-vad probs FILE.wav | aura-vad segments FILE.wav");
            return ExitCode::from(2);
        }
    };
    let samples = match clip::read_wav(path).and_then(|c| {
        clip::to_16k(&c).map_err(|source| clip::ClipError::Rate {
            path: path.display().to_string(),
            source,
        })
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("aura-vad: {e}");
            return ExitCode::from(1);
        }
    };
    let scores = clip::scores(&samples);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if command == "probs" {
        scores.iter().enumerate().try_for_each(|(i, s)| {
            let start = i as u64 * u64::from(VAD_FRAME_MS);
            let p = s.probability;
            writeln!(out, "{start} {} {p:.4}", start + u64::from(VAD_FRAME_MS))
        })
    } else {
        clip::utterances(&scores, TurnConfig::default())
            .iter()
            .try_for_each(|u| {
                writeln!(
                    out,
                    r#"{{"start_ms":{},"end_ms":{}}}"#,
                    u.start_ms, u.end_ms
                )
            })
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aura-vad: cannot write output: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
