//! Scripting the provider emulator and reading what it received.

/// Queues emulator behaviours given as JSON (the `POST /_emulator/script` body).
pub fn script(emu: &aura_emulator::Emulator, script: serde_json::Value) {
    emu.script(serde_json::from_value(script).expect("a valid emulator script"));
}

/// The requests the emulator received at one endpoint ("chat", "speech", "transcriptions").
pub fn requests_to(emu: &aura_emulator::Emulator, endpoint: &str) -> Vec<serde_json::Value> {
    let endpoint = serde_json::from_value(serde_json::Value::String(endpoint.into()))
        .expect("an endpoint name");
    emu.requests_to(endpoint)
}

/// Waits (up to 5 s) until the emulator has received a request at `endpoint`.
pub fn await_request(emu: &aura_emulator::Emulator, endpoint: &str) {
    let started = std::time::Instant::now();
    while requests_to(emu, endpoint).is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "no {endpoint} request within 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A provider emulator whose LLM answers `reply` to every turn.
pub fn emulator_replying(reply: &str) -> aura_emulator::Emulator {
    let emu = aura_emulator::Emulator::start(0).unwrap();
    script(
        &emu,
        serde_json::json!({"endpoint": "chat", "default": {"reply": reply}}),
    );
    emu
}

/// A provider emulator that hears `heard` in every utterance (batch STT) and answers `reply`
/// to every turn.
pub fn emulator_answering(heard: &str, reply: &str) -> aura_emulator::Emulator {
    let emu = aura_emulator::Emulator::start(0).unwrap();
    script(
        &emu,
        serde_json::json!({"endpoint": "transcriptions", "default": {"reply": heard}}),
    );
    script(
        &emu,
        serde_json::json!({"endpoint": "chat", "default": {"reply": reply}}),
    );
    emu
}
