//! `aura-vad`: the browser's resampler, VAD and turn detector, run on a WAV file on the host.
//!
//! ```text
//! aura-vad [--vad combined|silero|earshot] [--weights FILE] probs FILE.wav
//!     one line per 16 ms VAD frame: start_ms end_ms probability
//! aura-vad [--vad ...] [--weights FILE] segments FILE.wav
//!     one JSON object per utterance: {"start_ms":..,"end_ms":..}
//! ```
//! `--vad combined` (the default) is what the worklet runs once Silero's weights are loaded:
//! Silero v6 (decided every 32 ms, held for the 16 ms frame between; earshot for the first
//! frame) fused with earshot in log-odds ([`aura_client::vad::Blend::Fused`]); `silero` Silero
//! alone; `earshot` the built-in model alone. `--weights` defaults to
//! the int8 file that `scripts/bootstrap.sh` writes to target/silero-vad/ (the one the worklet
//! loads).
//! Any sample rate and channel count. A bad file, a file shorter than one 16 ms frame, or
//! unusable weights give a one-line error and exit status 1; wrong usage gives exit status 2.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use std::process::ExitCode;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cli) = Cli::parse(&args) else {
        eprintln!(
            "usage: aura-vad [--vad combined|silero|earshot] [--weights FILE] probs|segments FILE.wav"
        );
        return ExitCode::from(2);
    };
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("aura-vad: {message}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
struct Cli<'a> {
    command: &'a str,
    path: &'a std::path::Path,
    blend: Option<aura_client::vad::Blend>,
    weights: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl<'a> Cli<'a> {
    fn parse(args: &'a [String]) -> Option<Self> {
        use aura_client::vad::Blend;
        let mut blend = Some(Blend::Fused);
        let mut weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/silero-vad/silero-v6-int8.bin");
        let mut rest = args;
        loop {
            match rest {
                [flag, value, tail @ ..] if flag == "--vad" => {
                    blend = match value.as_str() {
                        "silero" => Some(Blend::Silero),
                        "combined" => Some(Blend::Fused),
                        "earshot" => None,
                        _ => return None,
                    };
                    rest = tail;
                }
                [flag, value, tail @ ..] if flag == "--weights" => {
                    weights = value.into();
                    rest = tail;
                }
                [c, p] if c == "probs" || c == "segments" => {
                    return Some(Self {
                        command: c,
                        path: std::path::Path::new(p),
                        blend,
                        weights,
                    });
                }
                _ => return None,
            }
        }
    }

    /// Runs the command; the error is the message to print.
    fn run(&self) -> Result<(), String> {
        use std::io::Write;

        use aura_client::clip;
        use aura_client::silero::{Silero, weights::Weights};
        use aura_client::turn::TurnConfig;
        use aura_client::vad::{VAD_FRAME_MS, Vad};

        let path = self.path;
        let samples = clip::read_wav(path)
            .and_then(|c| {
                clip::to_16k(&c).map_err(|source| clip::ClipError::Rate {
                    path: path.display().to_string(),
                    source,
                })
            })
            .and_then(|s| clip::at_least_one_frame(path, s))
            .map_err(|e| e.to_string())?;
        let mut vad = Vad::new();
        if let Some(blend) = self.blend {
            let bytes = std::fs::read(&self.weights).map_err(|e| {
                format!(
                    "cannot read the Silero weights {}: {e} (scripts/bootstrap.sh writes them)",
                    self.weights.display()
                )
            })?;
            let weights = Weights::parse(&bytes)
                .map_err(|e| format!("{}: {e} ({})", self.weights.display(), e.code()))?;
            vad.set_network(Silero::new(weights), blend);
        }
        let scores = clip::scores_with(&mut vad, &samples);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let written = if self.command == "probs" {
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
            Ok(()) => Ok(()),
            // A closed pipe (`| head`) is not an error worth a message.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(format!("cannot write output: {e}")),
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
