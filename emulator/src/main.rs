//! `aura-emulator [--port P]`: runs the provider emulator on 127.0.0.1 until interrupted.
//! Prints `aura-emulator listening on http://127.0.0.1:P` once it accepts connections.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
            eprintln!("usage: aura-emulator [--port P]");
            return std::process::ExitCode::from(2);
        }
    };
    let emulator = match aura_emulator::Emulator::start(port) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("aura-emulator: cannot listen on 127.0.0.1:{port}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("aura-emulator listening on {}", emulator.base_url());
    loop {
        std::thread::park();
    }
}
