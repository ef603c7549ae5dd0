//! Abuse resistance in local workerd (issue 14): the production URL policy refuses internal
//! hosts through the admin API, a webhook's redirect is not followed, and origins are https
//! under the tenant's own domain, matched as host names only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_emulator::Emulator;
use aura_tests::{
    Incoming, SessionClient, TestTenant, WranglerDev, emulator_replying, requests_to, script,
    upgrade_status,
};
use serde_json::{Value, json};

/// The status of an admin call (200 when it succeeded), with the error's text.
fn status(r: Result<Value, aura_admin::AdminError>) -> (u16, String) {
    match r {
        Ok(_) => (200, String::new()),
        Err(aura_admin::AdminError::Status(s, text)) => (s, text),
        Err(e) => panic!("{e}"),
    }
}

/// An edge with the production URL policy (`AURA_DEV` unset is production; `0` overrides the
/// harness's default `1`).
fn production_edge() -> WranglerDev {
    WranglerDev::start_with_vars(&[("AURA_DEV", "0".to_string())])
}

fn hook(url: &str) -> Value {
    json!([{"name": "lookup", "description": "Looks things up.",
            "parameters": {"type": "object"}, "webhook_url": url, "timeout_ms": 3000}])
}

/// Every spelling of an internal host from the SSRF probe of issue 14 and the brief's list.
const INTERNAL: [&str; 33] = [
    "https://169.254.169.254",
    "https://169.254.169.254/latest/meta-data",
    "https://10.0.0.1",
    "https://172.16.0.1",
    "https://172.31.255.254",
    "https://192.168.1.1",
    "https://100.64.0.1",
    "https://0.0.0.0",
    "https://127.0.0.1",
    "https://127.1",
    "https://2130706433",
    "https://0x7f.1",
    "https://017700000001",
    "https://[::1]",
    "https://[::ffff:127.0.0.1]",
    "https://[::ffff:7f00:1]",
    "https://[::ffff:169.254.169.254]",
    "https://[fe80::1]",
    "https://[fc00::1]",
    "https://[fd00::1]",
    "https://localhost",
    "https://localhost.",
    "https://app.localhost",
    "https://metadata.google.internal",
    "https://metadata.google.internal.",
    "https://kubernetes.default.svc",
    "https://api.default.svc.cluster.local",
    "https://printer.local",
    "https://metadata",
    "https://10.0.0.1.nip.io",
    "http://127.0.0.1:8790",
    "http://localhost:8790",
    "http://169.254.169.254",
];

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn the_production_admin_api_refuses_internal_provider_and_webhook_urls() {
    let dev = production_edge();
    let admin = dev.admin();
    let settings =
        aura_admin::settings_for("x", &["https://x.example"], "https://api.openai.com", "Hi.");
    let mut with_tool = settings.clone();
    with_tool["tools"] = hook("https://hooks.x.example/aura");
    assert_eq!(status(admin.put_tenant("x-tenant", &with_tool)).0, 200);
    let mut refused = 0;
    for url in INTERNAL {
        let mut variants = Vec::new();
        for (field, pointer) in [
            ("llm.base_url", "/llm/0/base_url"),
            ("stt.base_url", "/stt/base_url"),
            ("tts.base_url", "/tts/base_url"),
        ] {
            let mut s = settings.clone();
            *s.pointer_mut(pointer).unwrap() = json!(url);
            variants.push((field, s));
        }
        let mut s = settings.clone();
        s["tools"] = hook(url);
        variants.push(("tools.webhook_url", s));
        for (field, body) in variants {
            let (code, text) = status(admin.put_tenant("x-tenant", &body));
            assert_eq!(code, 400, "{url} as {field}: {text}");
            assert!(text.contains(field), "{url} as {field}: {text}");
            refused += 1;
        }
    }
    // Nothing of it was stored: the tenant keeps its public providers and webhook.
    let shown = admin.get_tenant("x-tenant").unwrap();
    let shown = shown.get("settings").unwrap_or(&shown);
    assert_eq!(
        shown["llm"][0]["base_url"], "https://api.openai.com",
        "{shown}"
    );
    assert_eq!(
        shown["tools"][0]["webhook_url"],
        "https://hooks.x.example/aura"
    );
    // Public hosts still pass, names and addresses.
    for url in [
        "https://api.x.ai",
        "https://api.groq.com/openai",
        "https://8.8.8.8",
        "https://[2606:4700:4700::1111]",
    ] {
        let mut s = with_tool.clone();
        s["llm"][0]["base_url"] = json!(url);
        s["tools"] = hook(&format!("{url}/hook"));
        assert_eq!(
            status(admin.put_tenant("x-tenant", &s)),
            (200, String::new()),
            "{url}"
        );
    }
    println!("production edge: {refused} internal provider and webhook URLs refused");
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn the_local_development_edge_allows_this_machine_and_nothing_else_internal() {
    let dev = WranglerDev::start();
    let admin = dev.admin();
    for url in ["http://127.0.0.1:9", "http://localhost:9", "https://127.1"] {
        let mut s = aura_admin::settings_for("x", &["https://x.example"], url, "Hi.");
        s["tools"] = hook(&format!("{url}/hook"));
        assert_eq!(status(admin.put_tenant("dev-tenant", &s)).0, 200, "{url}");
    }
    for url in [
        "https://169.254.169.254",
        "http://10.0.0.1",
        "https://192.168.1.1",
        "https://[fd00::1]",
        "https://metadata.google.internal",
    ] {
        let s = aura_admin::settings_for("x", &["https://x.example"], url, "Hi.");
        assert_eq!(status(admin.put_tenant("dev-tenant", &s)).0, 400, "{url}");
        let mut s =
            aura_admin::settings_for("x", &["https://x.example"], "http://127.0.0.1:9", "Hi.");
        s["tools"] = hook(url);
        assert_eq!(status(admin.put_tenant("dev-tenant", &s)).0, 400, "{url}");
    }
}

/// One request a [`Server`] received.
#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    /// Header lines, as sent.
    headers: Vec<String>,
}

/// A local HTTP server that answers every request with `status` and `extra` header lines
/// (e.g. `location: ...`) and records what it received.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(status: u16, extra: Arc<Mutex<Vec<String>>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                let extra = Arc::clone(&extra);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let (mut length, mut headers) = (0usize, Vec::new());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        headers.push(line.trim_end().to_string());
                    }
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    log.lock().unwrap().push(Seen {
                        request_line: request_line.trim_end().to_string(),
                        headers,
                    });
                    let answer = r#"{"stolen":true}"#;
                    let extra: String = extra
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|h| format!("{h}\r\n"))
                        .collect();
                    let mut out = stream;
                    let _ = write!(
                        out,
                        "HTTP/1.1 {status} X\r\n{extra}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        Self { port, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_webhook_redirect_is_an_error_and_its_target_receives_nothing() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"tool_calls": [
                {"name": "found", "arguments": "{}"},
                {"name": "temporary", "arguments": "{}"}
            ]},
            {"reply": "I could not look that up."}
        ]}),
    );
    // Where the redirects point: it must never be called.
    let target = Server::start(200, Arc::new(Mutex::new(Vec::new())));
    let location =
        |path: &str| Arc::new(Mutex::new(vec![format!("location: {}", target.url(path))]));
    let found = Server::start(302, location("/steal-302"));
    let temporary = Server::start(307, location("/steal-307"));
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("t", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["tools"] = json!([
        {"name": "found", "description": "Answers 302.", "parameters": {"type": "object"},
         "webhook_url": found.url("/aura/tools"), "timeout_ms": 3000},
        {"name": "temporary", "description": "Answers 307.", "parameters": {"type": "object"},
         "webhook_url": temporary.url("/aura/tools"), "timeout_ms": 3000},
    ]);
    let tenant = dev.tenant_with("redirects", settings);
    let mut client = tenant.connect("");
    client.start();
    client.send_json(json!({"type": "input.text", "text": "Look it up."}));
    let mut done = Value::Null;
    for m in client.until("response.done", Duration::from_secs(30)) {
        if let Incoming::Json(v) = m
            && v["type"] == "response.done"
        {
            done = v;
        }
    }
    assert_eq!(done["status"], "completed", "{done}");
    // Give a followed redirect time to arrive, were it followed.
    std::thread::sleep(Duration::from_millis(300));

    // Each webhook was called once, signed; the redirect target got nothing.
    for (name, server) in [("302", &found), ("307", &temporary)] {
        let seen = server.seen();
        assert_eq!(seen.len(), 1, "{name}: {seen:?}");
        assert!(
            seen[0].request_line.starts_with("POST /aura/tools "),
            "{name}: {seen:?}"
        );
        assert!(
            seen[0]
                .headers
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with("aura-signature:")),
            "{name}: the call is signed"
        );
    }
    let stolen = target.seen();
    assert!(
        stolen.is_empty(),
        "the redirect was followed (the signature went along): {stolen:?}"
    );

    // Both calls reached the LLM as errors, not as the target's answer.
    let chats = requests_to(&emu, "chat");
    assert_eq!(chats.len(), 2, "{chats:?}");
    let results: Vec<String> = chats[1]["body"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    for r in &results {
        let v: Value = serde_json::from_str(r).unwrap();
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains("redirect")),
            "{r}"
        );
        assert!(!r.contains("stolen"), "{r}");
    }
    let log = dev.log();
    assert_eq!(log.matches(r#""outcome":"redirect""#).count(), 2, "{log}");
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn production_origins_are_https_under_the_tenants_domain_and_match_host_names_only() {
    let dev = production_edge();
    let admin = dev.admin();
    let with_origins =
        |origins: &[&str]| aura_admin::settings_for("x", origins, "https://api.openai.com", "Hi.");
    for bad in [
        "https://*.com",
        "https://*.co.uk",
        "https://*.github.io",
        "https://*.workers.dev",
        "https://*.pages.dev",
        "https://*.vercel.app",
        "https://*.netlify.app",
        "https://*.localhost",
        "http://shop-b.example",
        "http://*.shop-b.example",
        "http://127.0.0.1:8787",
        "http://localhost:3000",
    ] {
        let (code, text) = status(admin.put_tenant("shop-b", &with_origins(&[bad])));
        assert_eq!(code, 400, "{bad}: {text}");
        assert!(text.contains("allowed_origins"), "{bad}: {text}");
    }
    assert_eq!(
        status(admin.put_tenant(
            "shop-b",
            &with_origins(&["https://*.shop-b.example", "https://shop-b.github.io"])
        ))
        .0,
        200
    );
    let key = admin.add_publishable_key("shop-b").unwrap();
    let url = format!("ws://127.0.0.1:{}/v1/session?key={key}", dev.port);
    for (origin, expected) in [
        ("https://a.shop-b.example", 101),
        ("https://a-1.b.shop-b.example", 101),
        ("https://shop-b.github.io", 101),
        ("https://a b.shop-b.example", 403),
        ("https://*.shop-b.example", 403),
        ("https://a_b.shop-b.example", 403),
        ("https://a..shop-b.example", 403),
        ("https://shop-b.example", 403),
        ("https://evil.github.io", 403),
        ("http://a.shop-b.example", 403),
    ] {
        assert_eq!(upgrade_status(&url, origin), expected, "{origin:?}");
    }
}

/// The messages of one typed turn, up to `response.done` or an error.
fn typed_turn(client: &mut SessionClient, text: &str) -> Vec<Value> {
    client.send_json(json!({"type": "input.text", "text": text}));
    let mut out = Vec::new();
    while let Some(m) = client.next(Duration::from_secs(20)) {
        if let Incoming::Json(v) = m {
            let end = v["type"] == "response.done" || v["type"] == "error";
            out.push(v);
            if end {
                break;
            }
        }
    }
    out
}

/// A record stored while loopback providers were allowed (a dev edge) is not fetched once the
/// edge runs with the production policy: each grant checks the URLs again.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_stored_record_with_a_now_refused_provider_url_is_not_fetched() {
    let emu = emulator_replying("Fresh bread daily.");
    let dev = WranglerDev::start();
    let settings =
        aura_admin::settings_for("t", &["https://a.example"], &emu.base_url(), "Be brief.");
    let t = TestTenant {
        origin: "https://a.example".into(),
        ..dev.tenant_with("stored", settings)
    };
    let mut c = t.connect("");
    c.start();
    let turn = typed_turn(&mut c, "Hello?");
    assert_eq!(turn.last().unwrap()["status"], "completed", "{turn:?}");
    c.close();
    let chats_before = requests_to(&emu, "chat").len();
    assert_eq!(chats_before, 1);

    // The same storage under the production policy.
    let state = dev.stop();
    let dev = WranglerDev::start_in(state, &[("AURA_DEV", "0".to_string())]);
    let t = TestTenant {
        port: dev.port,
        ..t
    };
    let mut c = t.connect("");
    c.start();
    let turn = typed_turn(&mut c, "Hello again?");
    let last = turn.last().unwrap();
    assert_eq!(last["type"], "error", "{turn:?}");
    assert_eq!(last["code"], "unauthorized", "{turn:?}");
    c.close();
    assert_eq!(
        requests_to(&emu, "chat").len(),
        chats_before,
        "the refused provider was fetched"
    );
    let log = dev.log();
    assert!(log.contains(r#""reason":"url_policy""#), "{log}");
    assert!(!log.contains(&emu.base_url()), "the log names no URL");
}

/// Ten typed questions sent without waiting used to be answered all at once, their text and
/// audio interleaved and the quotas overshot. One reply at a time: each new turn supersedes the
/// reply in flight, which ends as interrupted before the next starts.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn typed_turns_sent_at_once_get_one_reply_at_a_time() {
    let emu = Emulator::start(0).unwrap();
    // Slow replies: each would still be streaming when the next question arrives.
    script(
        &emu,
        json!({"endpoint": "chat", "default": {"reply": "One two three four five six seven eight.", "first_byte_ms": 200, "chunk_ms": 60}}),
    );
    let dev = WranglerDev::start();
    let tenant = dev.tenant("one-at-a-time", &emu.base_url(), &[]);
    let mut client = tenant.connect("");
    client.start();
    for i in 0..5 {
        client.send_json(json!({"type": "input.text", "text": format!("Question {i}?")}));
    }
    // Replies end one after another until one completes: the answer to the last question.
    let mut messages = Vec::new();
    loop {
        let batch = client.until("response.done", Duration::from_secs(30));
        let completed =
            matches!(batch.last(), Some(Incoming::Json(v)) if v["status"] == "completed");
        messages.extend(batch);
        if completed {
            break;
        }
    }
    client.close();
    let mut open: Option<u64> = None;
    let mut statuses = Vec::new();
    for m in &messages {
        let Incoming::Json(v) = m else {
            if let Incoming::Binary(b) = m {
                let frame = aura_protocol::AudioFrame::decode(b).unwrap();
                assert_eq!(
                    Some(u64::from(frame.header.stream_id)),
                    open,
                    "audio of one reply at a time"
                );
            }
            continue;
        };
        match v["type"].as_str() {
            Some("response.started") => {
                assert_eq!(
                    open, None,
                    "a reply started while another was in flight: {v}"
                );
                open = v["response_id"].as_u64();
            }
            Some("response.text_delta") => {
                assert_eq!(
                    v["response_id"].as_u64(),
                    open,
                    "text of one reply at a time"
                );
            }
            Some("response.done") => {
                assert_eq!(v["response_id"].as_u64(), open);
                statuses.push(v["status"].as_str().unwrap().to_string());
                open = None;
            }
            _ => {}
        }
    }
    // The first reply was superseded; questions superseded before their turn started get
    // none (and cost no LLM request); the last is answered.
    assert!(statuses.len() >= 2, "{statuses:?}");
    assert_eq!(statuses[0], "interrupted", "{statuses:?}");
    assert!(
        statuses[..statuses.len() - 1]
            .iter()
            .all(|s| s == "interrupted"),
        "{statuses:?}"
    );
    let last_question = requests_to(&emu, "chat")
        .last()
        .map(|r| r["body"]["messages"].as_array().unwrap().last().unwrap()["content"].clone());
    assert_eq!(last_question, Some(json!("Question 4?")));
    assert!(
        requests_to(&emu, "chat").len() <= statuses.len(),
        "at most one LLM request per reply, none for the superseded questions"
    );
}
