//! `aura-emulator [--port P] [--offline-engines]`: runs the provider emulator on 127.0.0.1 until
//! interrupted. Prints `aura-emulator listening on http://127.0.0.1:P` once it accepts
//! connections. With `--offline-engines`, unscripted speech is synthesised by espeak-ng and
//! transcribed by pocketsphinx (Debian packages), so a local demo listens and speaks for real.

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let offline = match args.iter().position(|a| a == "--offline-engines") {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let port = match args.as_slice() {
        [] => 0,
        [flag, p] if flag == "--port" => match p.parse() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("aura-emulator: --port takes a number");
                return std::process::ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: aura-emulator [--port P] [--offline-engines]");
            return std::process::ExitCode::from(2);
        }
    };
    let emulator = match aura_emulator::Emulator::start_with(port, offline) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("aura-emulator: cannot listen on 127.0.0.1:{port}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    if offline && !emulator.offline_engines() {
        eprintln!(
            "aura-emulator: espeak-ng or pocketsphinx_continuous is missing: synthetic audio and placeholder transcripts instead"
        );
    }
    println!(
        "aura-emulator listening on {}{}",
        emulator.base_url(),
        if emulator.offline_engines() {
            " (speech: espeak-ng, pocketsphinx)"
        } else {
            ""
        }
    );
    loop {
        std::thread::park();
    }
}
