//! Harness for tests that run the real system locally: `wrangler dev` (workerd) serving the built
//! worker and `www/`, and Debian's headless Chromium.
//!
//! These tests need the artifacts of `scripts/build.sh` and the npm packages, so they are
//! `#[ignore]`d in a plain `cargo test`; `make test` builds first and runs them with `--ignored`.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory under the repository's ignored `.tmp/`, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir =
            root()
                .join(".tmp")
                .join(format!("{name}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The secrets every test edge runs with (test values, not used anywhere else).
pub const TEST_SIGNING_KEY: &str = "test-session-signing-key-0123456789abcdef";
/// Master key version 1: 32 bytes of 0x11.
pub const TEST_MASTER_KEY_V1: &str = "1:ERERERERERERERERERERERERERERERERERERERERERE=";
/// Master key version 2: 32 bytes of 0x22.
pub const TEST_MASTER_KEY_V2: &str = "2:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=";
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// `wrangler dev` running the built worker on a free port, in its own process group.
/// Dropping it kills the group (wrangler, its two workerd processes and esbuild).
pub struct WranglerDev {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
    _state: Scratch,
}

impl WranglerDev {
    /// Starts wrangler dev and waits until `/health` answers (at most 60 s).
    pub fn start() -> Self {
        Self::start_with_vars(&[])
    }

    /// Starts wrangler dev with vars overridden (`--var NAME:VALUE`), e.g. provider URLs.
    pub fn start_with_vars(vars: &[(&str, String)]) -> Self {
        Self::start_in(Scratch::new("wrangler-state"), vars)
    }

    /// Starts wrangler dev on the storage in `state` (kept by the returned value, so a test can
    /// stop an edge and start another on the same storage: a restart). `vars` override the
    /// test secrets and `AURA_DEV=1`.
    pub fn start_in(state: Scratch, vars: &[(&str, String)]) -> Self {
        let root = root();
        let defaults = [
            ("SESSION_SIGNING_KEY", TEST_SIGNING_KEY.to_string()),
            ("MASTER_KEYS", TEST_MASTER_KEY_V1.to_string()),
            ("ADMIN_TOKEN", TEST_ADMIN_TOKEN.to_string()),
            ("AURA_DEV", "1".to_string()),
        ];
        let vars: Vec<(&str, String)> = defaults
            .into_iter()
            .filter(|(k, _)| !vars.iter().any(|(v, _)| v == k))
            .chain(vars.iter().cloned())
            .collect();
        for artifact in [
            "edge-worker/build/index.js",
            "www/pkg/aura_client.js",
            "node_modules/.bin/wrangler",
        ] {
            assert!(
                root.join(artifact).exists(),
                "{artifact} is missing: run `make test` (or scripts/bootstrap.sh and scripts/build.sh) first"
            );
        }
        let port = free_port();
        let mut child = Command::new(root.join("node_modules/.bin/wrangler"))
            .current_dir(&root)
            .args([
                "dev",
                "--ip",
                "127.0.0.1",
                // `log` level: the Worker's console.log lines (metrics, routing) are captured,
                // so tests can read them.
                "--log-level",
                "log",
                "--show-interactive-dev-session=false",
            ])
            .args([
                "--port",
                &port.to_string(),
                "--inspector-port",
                &free_port().to_string(),
            ])
            .arg("--persist-to")
            .arg(&state.0)
            .args(
                vars.iter()
                    .flat_map(|(k, v)| ["--var".to_string(), format!("{k}:{v}")]),
            )
            .env("SKIP_WORKER_BUILD", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_SEND_ERROR_REPORTS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("XDG_CONFIG_HOME", root.join(".config"))
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("wrangler starts");
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let dev = Self {
            child,
            port,
            log,
            _state: state,
        };
        dev.wait_ready(Duration::from_secs(60));
        dev
    }

    fn wait_ready(&self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.get("/health").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "wrangler dev did not answer /health within {limit:?}; its output:\n{}",
            self.log()
        );
    }

    /// Stops the edge and hands back its storage, for a restart with [`Self::start_in`].
    pub fn stop(mut self) -> Scratch {
        self.kill();
        let state = std::mem::replace(&mut self._state, Scratch(PathBuf::new()));
        std::mem::forget(self);
        state
    }

    /// The admin API client, with the test admin token.
    pub fn admin(&self) -> aura_admin::AdminClient {
        aura_admin::AdminClient::new(&self.url(""), TEST_ADMIN_TOKEN)
    }

    /// Creates tenant `id` with every provider at `provider_url`, pages allowed from the edge's
    /// own origin and `origins`, each provider slot holding its own key `sk-{id}-{slot}`, and
    /// one publishable key.
    pub fn tenant(&self, id: &str, provider_url: &str, origins: &[&str]) -> TestTenant {
        let own = self.url("");
        let mut all = vec![own.as_str()];
        all.extend_from_slice(origins);
        let settings = aura_admin::settings_for(
            &format!("Tenant {id}"),
            &all,
            provider_url,
            "You are a helpful voice assistant.",
        );
        self.tenant_with(id, settings)
    }

    /// Creates tenant `id` with these settings, a key `sk-{id}-{slot}` in every slot (the
    /// webhook secret `sk-{id}-webhook` too, with tools), and one publishable key. Its origin for connections is the edge's own.
    pub fn tenant_with(&self, id: &str, settings: serde_json::Value) -> TestTenant {
        let admin = self.admin();
        admin.put_tenant(id, &settings).expect("tenant created");
        let routes = settings["llm"].as_array().map_or(0, Vec::len);
        let has_tools = settings["tools"].as_array().is_some_and(|t| !t.is_empty());
        let slots = ["stt".to_string(), "tts".to_string()]
            .into_iter()
            .chain((0..routes).map(|i| format!("llm{i}")))
            .chain(has_tools.then(|| "webhook".to_string()));
        for slot in slots {
            admin
                .set_provider_key(id, &slot, &format!("sk-{id}-{slot}"), 0)
                .expect("provider key set");
        }
        TestTenant {
            id: id.to_string(),
            key: admin.add_publishable_key(id).expect("publishable key"),
            origin: self.url(""),
            port: self.port,
        }
    }

    fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }

    /// Everything wrangler printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A GET that returns (status, content type, body as text, lossy for binary) for any status.
    pub fn get(&self, path: &str) -> Result<(u16, String, String), ureq::Error> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut resp = agent.get(&self.url(path)).call()?;
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = String::from_utf8_lossy(&resp.body_mut().read_to_vec()?).into_owned();
        Ok((status, ctype, body))
    }

    /// A request with any method; returns the status.
    pub fn status_of(&self, method: &str, path: &str) -> u16 {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .build()
            .into();
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .body(())
            .unwrap();
        agent.run(req).map(|r| r.status().as_u16()).unwrap_or(0)
    }
}

impl Drop for WranglerDev {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tenant made by [`WranglerDev::tenant`]: its publishable key and the origin it connects from.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub id: String,
    pub key: String,
    pub origin: String,
    pub port: u16,
}

impl TestTenant {
    /// `ws://127.0.0.1:PORT/v1/session?key=KEY`.
    pub fn session_url(&self) -> String {
        format!("ws://127.0.0.1:{}/v1/session?key={}", self.port, self.key)
    }

    /// Connects from the tenant's origin; `extra` is appended to the query (`&session=...`).
    pub fn connect(&self, extra: &str) -> SessionClient {
        SessionClient::open(&format!("{}{extra}", self.session_url()), &self.origin)
            .unwrap_or_else(|status| panic!("upgrade refused with HTTP {status}"))
    }

    /// Connects to resume a conversation with its token.
    pub fn resume(&self, session_id: &str, token: &str) -> SessionClient {
        self.connect(&format!("&session={session_id}&token={token}"))
    }
}

/// Loads `url` in headless Chromium, lets the page run for `budget_ms` of virtual time, and
/// returns the resulting DOM.
pub fn chromium_dump_dom(url: &str, budget_ms: u32) -> String {
    let profile = Scratch::new("chromium-profile");
    let out = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg("--dump-dom")
        .arg(url)
        .env("TMPDIR", &profile.0)
        .output()
        .expect("/usr/bin/chromium runs (scripts/bootstrap.sh --browser installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A static file server on a free port for test pages: each request path is looked up under
/// the first `(prefix, dir)` whose prefix it starts with. GET only; `..` is refused.
pub struct StaticServer {
    pub port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl StaticServer {
    pub fn start(routes: Vec<(&'static str, PathBuf)>) -> Self {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let routes = routes.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 16_384 {
                        if stream.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head);
                    let target = head.split_whitespace().nth(1).unwrap_or("/");
                    let path = target.split('?').next().unwrap_or("/");
                    let file = routes
                        .iter()
                        .find(|(prefix, _)| path.starts_with(prefix))
                        .filter(|_| head.starts_with("GET ") && !path.contains(".."))
                        .map(|(prefix, dir)| dir.join(&path[prefix.len()..]));
                    let response = match file.and_then(|f| std::fs::read(&f).ok().map(|b| (f, b))) {
                        Some((f, body)) => {
                            let ctype = match f.extension().and_then(|e| e.to_str()) {
                                Some("html") => "text/html; charset=utf-8",
                                Some("js" | "mjs") => "text/javascript",
                                Some("wasm") => "application/wasm",
                                Some("css") => "text/css",
                                _ => "application/octet-stream",
                            };
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(&body);
                            r
                        }
                        None => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
                    };
                    let _ = stream.write_all(&response);
                });
            }
        });
        Self { port, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Runs `tests/browser/run-page.mjs`: opens `url` in headless Chromium with `wav` as the
/// microphone and returns the page's `window.__result`.
pub fn run_page(url: &str, wav: &Path, timeout_ms: u32) -> serde_json::Value {
    let out = Command::new("node")
        .current_dir(root())
        .arg("tests/browser/run-page.mjs")
        .arg(url)
        .arg(wav)
        .arg(timeout_ms.to_string())
        .env("TMPDIR", root().join(".tmp"))
        .output()
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the page run failed:\n{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON from the page ({e}):\n{stderr}"))
}

/// A TCP proxy on a free port in front of `target_port`, whose connections can all be cut at
/// once, as a network drop would: a new connection that starts with `GET /__cut` cuts every
/// other connection and is answered `200`. Later connections go through again.
pub struct CuttableProxy {
    pub port: u16,
    cuts: Arc<std::sync::atomic::AtomicUsize>,
}

impl CuttableProxy {
    pub fn start(target_port: u16) -> Self {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let cuts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&cuts);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mut first = [0u8; 10];
                let n = client.peek(&mut first).unwrap_or(0);
                if &first[..n] == b"GET /__cut" {
                    for s in live.lock().unwrap().drain(..) {
                        let _ = s.shutdown(std::net::Shutdown::Both);
                    }
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut c = client;
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\naccess-control-allow-origin: *\r\nconnection: close\r\n\r\n");
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                {
                    let mut l = live.lock().unwrap();
                    l.push(client.try_clone().unwrap());
                    l.push(upstream.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Self { port, cuts }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How many times the connections were cut.
    pub fn cuts(&self) -> usize {
        self.cuts.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Runs `tests/browser/widget.mjs MODE URL ARGS...` (the widget driven by keyboard in headless
/// Chromium) and returns its JSON report.
pub fn drive_widget(mode: &str, url: &str, args: &[&str]) -> serde_json::Value {
    drive_widget_in(mode, url, args, &[])
}

/// [`drive_widget`] in a browser that reports other things: `env` sets `AURA_NAVIGATOR_LANGUAGE`,
/// `AURA_SAMPLE_RATE` or `AURA_AUDIO` (see tests/browser/widget.mjs).
pub fn drive_widget_in(
    mode: &str,
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> serde_json::Value {
    let mut cmd = Command::new("node");
    cmd.current_dir(root())
        .args(["tests/browser/widget.mjs", mode, url])
        .args(args)
        .envs(env.iter().copied())
        .env("TMPDIR", root().join(".tmp"));
    let out = cmd.output().expect("node runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the widget run failed:\n{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON from the widget run ({e}):\n{stderr}"))
}

/// What a session client receives.
#[derive(Debug, Clone)]
pub enum Incoming {
    Json(serde_json::Value),
    Binary(Vec<u8>),
}

impl Incoming {
    /// The `type` of a JSON message.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Json(v) => v["type"].as_str(),
            Self::Binary(_) => None,
        }
    }
}

/// A WebSocket client of `/v1/session`, as a browser would be.
pub struct SessionClient {
    ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
}

impl SessionClient {
    /// Connects to `url` with this `Origin` header, as a browser page there would. A refused
    /// upgrade gives its HTTP status.
    pub fn open(url: &str, origin: &str) -> Result<Self, u16> {
        use tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().expect("a WebSocket URL");
        if !origin.is_empty() {
            req.headers_mut()
                .insert("origin", origin.parse().expect("an origin header"));
        }
        let ws = match tungstenite::connect(req) {
            Ok((ws, _)) => ws,
            Err(tungstenite::Error::Http(resp)) => return Err(resp.status().as_u16()),
            Err(e) => panic!("cannot connect to {url}: {e}"),
        };
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
        }
        Ok(Self { ws })
    }

    pub fn send_json(&mut self, v: serde_json::Value) {
        self.ws
            .send(tungstenite::Message::text(v.to_string()))
            .unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(tungstenite::Message::text(text)).unwrap();
    }

    pub fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(tungstenite::Message::binary(bytes)).unwrap();
    }

    /// The next message within `limit`, if any.
    pub fn next(&mut self, limit: Duration) -> Option<Incoming> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            // Wait no longer than asked: the socket's read timeout follows the deadline.
            let left = deadline.saturating_duration_since(Instant::now());
            if let tungstenite::stream::MaybeTlsStream::Plain(s) = self.ws.get_ref() {
                let _ = s.set_read_timeout(Some(
                    left.clamp(Duration::from_millis(1), Duration::from_millis(200)),
                ));
            }
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    return Some(Incoming::Json(serde_json::from_str(t.as_str()).unwrap()));
                }
                Ok(tungstenite::Message::Binary(b)) => return Some(Incoming::Binary(b.to_vec())),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return None;
                }
                Err(e) => panic!("the session socket failed: {e}"),
            }
        }
        None
    }

    /// Messages up to and including the first JSON message of type `kind` (within `limit`).
    pub fn until(&mut self, kind: &str, limit: Duration) -> Vec<Incoming> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Some(m) = self.next(Duration::from_millis(200)) {
                let done = m.kind() == Some(kind);
                seen.push(m);
                if done {
                    return seen;
                }
            }
        }
        panic!("no `{kind}` within {limit:?}; received: {seen:?}");
    }

    /// Starts a session and returns its `session.ready`.
    pub fn start(&mut self) -> serde_json::Value {
        self.send_json(
            serde_json::json!({"type": "session.start", "protocol": 1, "input_sample_rate": 16000}),
        );
        match self.until("session.ready", Duration::from_secs(10)).pop() {
            Some(Incoming::Json(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.next(Duration::from_millis(300));
    }
}

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

/// A microphone recording made at test time: a click marker at `MARKER_S`, then `text` spoken by
/// espeak-ng from `speech_s`, then silence to `total_s`, as a 48 kHz mono WAV at `path`.
pub struct MicrophoneWav {
    /// The first sample above -34 dBFS after the speech starts, in ms after the marker.
    pub onset_after_marker_ms: f32,
    /// The length of the spoken audio, in ms.
    pub speech_ms: u32,
}

/// When the marker click sounds in a [`MicrophoneWav`], in seconds.
pub const MARKER_S: f32 = 1.0;

pub fn microphone_wav(path: &Path, text: &str, speech_s: f32, total_s: f32) -> MicrophoneWav {
    let speech = espeak_48k(path, text);
    let mut audio = marked_silence(total_s);
    let at = (speech_s * MIC_RATE as f32) as usize;
    for (i, s) in speech.iter().enumerate() {
        if let Some(a) = audio.get_mut(at + i) {
            *a = s * 0.7;
        }
    }
    let marker = (MARKER_S * MIC_RATE as f32) as usize;
    let onset = at + audio[at..].iter().position(|s| s.abs() > 0.02).unwrap();
    write_wav_48k(path, &audio);
    MicrophoneWav {
        onset_after_marker_ms: (onset - marker) as f32 * 1000.0 / MIC_RATE as f32,
        speech_ms: (speech.len() as u64 * 1000 / u64::from(MIC_RATE)) as u32,
    }
}

const MIC_RATE: u32 = 48_000;

/// `text` spoken by espeak-ng, at 48 kHz (resampled with the client's resampler).
fn espeak_48k(path: &Path, text: &str) -> Vec<f32> {
    let spoken = path.with_extension("espeak.wav");
    let ok = Command::new("espeak-ng")
        .args(["-w", spoken.to_str().unwrap(), text])
        .status()
        .expect("espeak-ng (scripts/bootstrap.sh installs it)");
    assert!(ok.success());
    let clip = aura_client::clip::read_wav(&spoken).unwrap();
    let mut rs = aura_client::resample::StreamResampler::new(
        clip.rate,
        MIC_RATE,
        aura_client::resample::Filter::Speech,
    )
    .unwrap();
    let mut speech = Vec::new();
    rs.process(&clip.samples, |b| speech.extend_from_slice(b));
    let delay = rs.output_delay();
    rs.flush(|b| speech.extend_from_slice(b));
    speech.split_off(delay)
}

/// `total_s` of silence at 48 kHz with the marker click at `MARKER_S`.
fn marked_silence(total_s: f32) -> Vec<f32> {
    let mut audio = vec![0.0f32; (total_s * MIC_RATE as f32) as usize];
    let marker = (MARKER_S * MIC_RATE as f32) as usize;
    audio[marker..marker + 240]
        .iter_mut()
        .for_each(|s| *s = 0.9);
    audio
}

fn write_wav_48k(path: &Path, audio: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: MIC_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in audio {
        w.write_sample((s.clamp(-1.0, 1.0) * 32_767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// One utterance of [`microphone_turns_wav`]: where its speech starts and ends (first and last
/// sample above -34 dBFS), in ms after the marker.
#[derive(Debug, Clone, Copy)]
pub struct MicrophoneTurn {
    pub onset_after_marker_ms: f64,
    pub end_after_marker_ms: f64,
}

/// Like [`microphone_wav`], with `text` spoken at each of `starts_s`.
pub fn microphone_turns_wav(
    path: &Path,
    text: &str,
    starts_s: &[f32],
    total_s: f32,
) -> Vec<MicrophoneTurn> {
    let speech = espeak_48k(path, text);
    let first = speech.iter().position(|s| (s * 0.7).abs() > 0.02).unwrap();
    let last = speech.iter().rposition(|s| (s * 0.7).abs() > 0.02).unwrap();
    let mut audio = marked_silence(total_s);
    let marker_ms = f64::from(MARKER_S) * 1000.0;
    let ms = |samples: usize| samples as f64 * 1000.0 / f64::from(MIC_RATE);
    let turns = starts_s
        .iter()
        .map(|&start| {
            let at = (start * MIC_RATE as f32) as usize;
            for (i, s) in speech.iter().enumerate() {
                if let Some(a) = audio.get_mut(at + i) {
                    *a = s * 0.7;
                }
            }
            MicrophoneTurn {
                onset_after_marker_ms: ms(at + first) - marker_ms,
                end_after_marker_ms: ms(at + last) - marker_ms,
            }
        })
        .collect();
    write_wav_48k(path, &audio);
    turns
}
