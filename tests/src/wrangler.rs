//! `wrangler dev` (workerd) running the built worker, and test tenants made through its admin API.

use super::*;

/// `wrangler dev` running the built worker on a free port, in its own process group.
/// Dropping it kills the group (wrangler, its two workerd processes and esbuild).
pub struct WranglerDev {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
    started_at: std::time::SystemTime,
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
        Self::start_in_with(state, vars, false)
    }

    /// [`Self::start_in`], and with `devtools` wrangler's DevTools inspector proxy too. Without
    /// it (the default) wrangler runs as in a VS Code debug terminal (`VSCODE_INSPECTOR_OPTIONS`,
    /// the only switch its CLI has): its InspectorProxyWorker enables the runtime's `Network`
    /// domain, so every subrequest chunk becomes an inspector event it forwards to node as a new
    /// HTTP request and keeps in a buffer while no DevTools is attached; with 100 sessions in a
    /// turn that was ~8 MiB of workerd memory per session and ~10 000 sockets, none of it the
    /// Worker's (see `docs/edge.md`, memory). The Worker's console lines come either way.
    pub fn start_in_with(state: Scratch, vars: &[(&str, String)], devtools: bool) -> Self {
        let root = root();
        let defaults = [
            ("SESSION_SIGNING_KEY", TEST_SIGNING_KEY.to_string()),
            ("PUBLISHABLE_KEY_SECRET", TEST_KEY_SECRET.to_string()),
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
        // A free port can be taken by another test's edge before this one binds it: then
        // wrangler says so and this edge starts again on other ports.
        let mut state = state;
        for _ in 0..3 {
            let mut dev = Self::spawn(state, &vars, devtools);
            match dev.wait_ready(Duration::from_secs(60)) {
                Readiness::Ready => return dev,
                Readiness::PortTaken => {
                    dev.kill();
                    state = std::mem::replace(&mut dev._state, Scratch(PathBuf::new()));
                    std::mem::forget(dev);
                }
                Readiness::TimedOut => panic!(
                    "wrangler dev did not answer /health within 60 s; its output:\n{}",
                    dev.log()
                ),
            }
        }
        panic!("wrangler dev found no free port in 3 attempts");
    }

    fn spawn(state: Scratch, vars: &[(&str, String)], devtools: bool) -> Self {
        let root = root();
        let started_at = std::time::SystemTime::now();
        let port = free_port();
        // wrangler's debug log goes nowhere (scripts/env.sh does the same for `make dev`).
        let debug_log = root.join(".tmp/wrangler-debug.log");
        if std::fs::symlink_metadata(&debug_log).is_err() {
            let _ = std::fs::create_dir_all(root.join(".tmp"));
            let _ = std::os::unix::fs::symlink("/dev/null", &debug_log);
        }
        let mut command = Command::new(root.join("node_modules/.bin/wrangler"));
        if devtools {
            command.env_remove("VSCODE_INSPECTOR_OPTIONS");
        } else {
            command.env("VSCODE_INSPECTOR_OPTIONS", "{}");
        }
        let mut child = command
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
            .env("WRANGLER_LOG_PATH", &debug_log)
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
        Self {
            child,
            port,
            log,
            started_at,
            _state: state,
        }
    }

    /// Ready once this wrangler has said so on its own port, after the second build it runs at
    /// start (wrangler.toml; a request in between can reach a server being torn down and be
    /// answered 404), and `/health` is this edge's: a readiness check that took any answer on
    /// the port could hear another process that held it.
    fn wait_ready(&mut self, limit: Duration) -> Readiness {
        let start = Instant::now();
        let ready_line = format!("Ready on http://127.0.0.1:{}", self.port);
        let mut first_ready: Option<Instant> = None;
        while start.elapsed() < limit {
            let log = self.log();
            if log.contains("Address already in use") {
                return Readiness::PortTaken;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return Readiness::TimedOut;
            }
            let ready_at = log.rfind(&ready_line);
            let restart_at = log.rfind("restarting build");
            let current = ready_at.is_some_and(|r| restart_at.is_none_or(|b| b < r));
            if current {
                let since = *first_ready.get_or_insert_with(Instant::now);
                // The second build comes within moments of the first server; if this wrangler
                // never runs it, the first server is the one.
                let settled = restart_at.is_some() || since.elapsed() >= Duration::from_secs(3);
                let ours = self.get("/health").is_ok_and(|(status, _, body)| {
                    status == 200 && body.contains("\"service\":\"aura-edge\"")
                });
                if settled && ours {
                    return Readiness::Ready;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Readiness::TimedOut
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

    /// Settings ("Be brief.", pages from the edge's own origin) whose STT and TTS are at
    /// `first`, with two LLM routes (`gpt-4o-mini` at `first`, then at `second`) tried in that
    /// order (`smart_routing: false`): the fallback tests' tenant.
    pub fn two_route_settings(&self, first: &str, second: &str) -> serde_json::Value {
        let mut settings = aura_admin::settings_for("t", &[&self.url("")], first, "Be brief.");
        settings["llm"] = serde_json::json!([
            {"base_url": first, "model": "gpt-4o-mini"},
            {"base_url": second, "model": "gpt-4o-mini"},
        ]);
        settings["smart_routing"] = serde_json::json!(false);
        settings
    }

    /// Creates tenant `id` with these settings, a key `sk-{id}-{slot}` in every slot (the
    /// webhook secret `sk-{id}-webhook` too, with tools), and one publishable key. Its origin for connections is the edge's own.
    pub fn tenant_with(&self, id: &str, settings: serde_json::Value) -> TestTenant {
        let admin = self.admin();
        admin.put_tenant(id, &settings).expect("tenant created");
        let routes = settings["llm"].as_array().map_or(0, Vec::len);
        let has_tools = settings["tools"].as_array().is_some_and(|t| !t.is_empty());
        let tts_fallback = settings["tts_fallback"].is_object();
        let stt_fallback = settings["stt_fallback"].is_object();
        let slots = ["stt".to_string(), "tts".to_string()]
            .into_iter()
            .chain(stt_fallback.then(|| "stt1".to_string()))
            .chain(tts_fallback.then(|| "tts1".to_string()))
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

    /// When this wrangler was started.
    pub fn started_at(&self) -> std::time::SystemTime {
        self.started_at
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

/// How a start of `wrangler dev` went.
enum Readiness {
    Ready,
    /// Its port (or inspector port) was taken before it bound it.
    PortTaken,
    /// It exited, or did not answer in time.
    TimedOut,
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

    /// Connects as the client at `address` (its `CF-Connecting-IP`); refused: the status.
    pub fn connect_from(&self, address: &str, extra: &str) -> SessionClient {
        SessionClient::open_from(
            &format!("{}{extra}", self.session_url()),
            &self.origin,
            Some(address),
        )
        .unwrap_or_else(|status| panic!("upgrade refused with HTTP {status}"))
    }

    /// Connects to resume a conversation with its token.
    pub fn resume(&self, session_id: &str, token: &str) -> SessionClient {
        self.connect(&format!("&session={session_id}&token={token}"))
    }
}
