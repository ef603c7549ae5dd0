//! Headless browsers: pages loaded and driven (the widget, test pages with a file as microphone),
//! and the static server for them. [`visit`] and [`visit_page`] run in any [`Engine`] over plain
//! WebDriver (tests/browser/visit.mjs); [`drive_widget`] and [`run_page`] are Chromium only
//! (Playwright over the DevTools protocol: init scripts, WebSocket frames, requests).

use super::*;

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

/// The widget states a [`drive_widget`] report went through, in order.
pub fn widget_states(result: &serde_json::Value) -> Vec<String> {
    result["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// A browser engine a visitor may use, driven over W3C WebDriver by tests/browser/engine.mjs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Debian's Chromium, through chromedriver.
    Chromium,
    /// Firefox ESR, through geckodriver (crates.io), with a PulseAudio sound server.
    Firefox,
    /// WebKitGTK's MiniBrowser, through WebKitWebDriver, on an Xvfb display.
    WebKit,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
            Engine::WebKit => "webkit",
        }
    }
}

fn node_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("node")
        .current_dir(root())
        .arg(script)
        .args(args)
        .env("TMPDIR", root().join(".tmp"))
        .output()
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} {} failed:\n{stderr}",
        args.join(" ")
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON from {script} ({e}):\n{stderr}"))
}

/// Runs `tests/browser/visit.mjs ENGINE MODE URL ARGS...` (the widget driven by keyboard in
/// `engine`) and returns its JSON report.
pub fn visit(engine: Engine, mode: &str, url: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec![engine.name(), mode, url];
    all.extend_from_slice(args);
    node_json("tests/browser/visit.mjs", &all)
}

/// Opens a test page in `engine` with `wav` (48 kHz mono) as the microphone and returns the
/// page's `window.__result`.
pub fn visit_page(engine: Engine, url: &str, wav: &Path, timeout_ms: u32) -> serde_json::Value {
    let timeout = timeout_ms.to_string();
    node_json(
        "tests/browser/visit.mjs",
        &[engine.name(), "page", url, wav.to_str().unwrap(), &timeout],
    )
}

/// Makes `#[test]`s of `fn NAME(engine: Engine)`, one per engine: `NAME::chromium`,
/// `NAME::firefox`, `NAME::webkit`.
#[macro_export]
macro_rules! in_every_engine {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            #[ignore = "needs the built client and worker, node packages and the browsers: run by `make test`"]
            fn chromium() { super::$name($crate::Engine::Chromium) }
            #[test]
            #[ignore = "needs the built client and worker, node packages and the browsers: run by `make test`"]
            fn firefox() { super::$name($crate::Engine::Firefox) }
            #[test]
            #[ignore = "needs the built client and worker, node packages and the browsers: run by `make test`"]
            fn webkit() { super::$name($crate::Engine::WebKit) }
        }
    )*};
}

/// The test pages (at `/test/`) and the widget's files (at `/`) on one local server: what the
/// end-to-end pages load.
pub fn test_pages() -> StaticServer {
    StaticServer::start(vec![
        ("/test/", root().join("tests/pages")),
        ("/", root().join("www")),
    ])
}

/// The URL of `tests/pages/e2e.html` on `pages` with `query` (`run_ms=9000&...`) and the session
/// URL `ws`.
pub fn e2e_page(pages: &StaticServer, query: &str, ws: &str) -> String {
    pages.url(&format!("/test/e2e.html?{query}&ws={}", query_value(ws)))
}

/// `value` percent-encoded for a URL query (every byte but RFC 3986's unreserved ones).
pub fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// When the e2e page's probe heard the reply start sounding (`changes` entries that turned
/// loud), in ms of the page's audio clock (48 kHz frames / 48).
pub fn sounding_ms(result: &serde_json::Value) -> Vec<f64> {
    result["changes"]
        .as_array()
        .map(|changes| {
            changes
                .iter()
                .filter(|c| c[1] == 1)
                .filter_map(|c| c[0].as_f64())
                .map(|frame| frame / 48.0)
                .collect()
        })
        .unwrap_or_default()
}
