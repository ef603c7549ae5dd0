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
        let root = root();
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
        let state = Scratch::new("wrangler-state");
        let mut child = Command::new(root.join("node_modules/.bin/wrangler"))
            .current_dir(&root)
            .args([
                "dev",
                "--ip",
                "127.0.0.1",
                "--log-level",
                "warn",
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
