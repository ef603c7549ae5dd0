//! Function calling in local workerd: the emulator streams scripted tool calls, a local webhook
//! server (this file) answers them and checks their signatures, and the conversation goes on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_edge::tenant::webhook_signature;
use aura_emulator::Emulator;
use aura_tests::{Incoming, WranglerDev, requests_to, script};
use serde_json::{Value, json};

/// One call the webhook server received.
#[derive(Debug, Clone)]
struct Received {
    body: Value,
    signature_ok: bool,
    /// The caller hung up before the answer (an aborted call).
    closed_early: Arc<Mutex<Option<bool>>>,
}

/// The answer body of a tool whose webhook streams without end.
const ENDLESS: &str = "<endless>";

/// A tenant's tool server on 127.0.0.1: answers by tool name with (delay ms, status, body).
struct WebhookServer {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookServer {
    fn start(secret: &'static str, answers: Vec<(&'static str, u64, u16, &'static str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                let answers = answers.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let (mut length, mut signature) = (0usize, String::new());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if lower.starts_with("aura-signature:") {
                            signature = line["aura-signature:".len()..].trim().to_string();
                        }
                    }
                    let mut body = vec![0u8; length];
                    reader.read_exact(&mut body).unwrap();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    let signature_ok =
                        webhook_signature::verify(secret.as_bytes(), &signature, &body, now)
                            .is_ok();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let tool = body["tool"].as_str().unwrap_or("").to_string();
                    let closed_early = Arc::new(Mutex::new(None));
                    log.lock().unwrap().push(Received {
                        body,
                        signature_ok,
                        closed_early: Arc::clone(&closed_early),
                    });
                    let (_, delay, status, answer) = answers
                        .iter()
                        .find(|a| a.0 == tool)
                        .copied()
                        .unwrap_or(("", 0, 404, "{}"));
                    std::thread::sleep(Duration::from_millis(delay));
                    // Before answering: has the caller closed the connection?
                    let mut probe = [0u8; 1];
                    stream
                        .set_read_timeout(Some(Duration::from_millis(20)))
                        .unwrap();
                    let gone = matches!((&stream).read(&mut probe), Ok(0));
                    *closed_early.lock().unwrap() = Some(gone);
                    let mut out = stream;
                    if answer == ENDLESS {
                        // An answer that never ends: blank JSON padding, chunk after chunk.
                        let _ = write!(
                            out,
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                        );
                        let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
                        let until = std::time::Instant::now() + Duration::from_secs(10);
                        while std::time::Instant::now() < until
                            && out.write_all(chunk.as_bytes()).is_ok()
                        {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        return;
                    }
                    let _ = write!(
                        out,
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        Self { port, received }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/aura/tools", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn tool(name: &str, url: &str, parameters: Value) -> Value {
    json!({"name": name, "description": format!("The {name} tool."), "parameters": parameters, "webhook_url": url, "timeout_ms": 3000})
}

fn order_schema() -> Value {
    json!({"type": "object", "properties": {"order": {"type": "integer"}}, "required": ["order"]})
}

/// One typed turn; returns (caption text, errors, response.done).
fn typed_turn(client: &mut aura_tests::SessionClient, text: &str) -> (String, Vec<Value>, Value) {
    client.send_json(json!({"type": "input.text", "text": text}));
    let mut caption = String::new();
    let mut errors = Vec::new();
    let mut done = Value::Null;
    for m in client.until("response.done", Duration::from_secs(30)) {
        if let Incoming::Json(v) = m {
            match v["type"].as_str() {
                Some("response.text_delta") => caption.push_str(v["delta"].as_str().unwrap()),
                Some("error") => errors.push(v),
                Some("response.done") => done = v,
                _ => {}
            }
        }
    }
    (caption, errors, done)
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_tool_call_reaches_the_signed_webhook_and_its_result_feeds_the_answer() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"tool_calls": [{"name": "check_order", "arguments": "{\"order\": 42}"}]},
            {"reply": "Your order 42 ships tomorrow."}
        ]}),
    );
    let hooks = WebhookServer::start(
        "sk-tools-webhook",
        vec![("check_order", 0, 200, r#"{"status":"ships tomorrow"}"#)],
    );
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("t", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["tools"] = json!([tool("check_order", &hooks.url(), order_schema())]);
    let tenant = dev.tenant_with("tools", settings);
    let mut client = tenant.connect("");
    client.start();
    let (caption, errors, done) = typed_turn(&mut client, "Where is my order 42?");
    assert_eq!(errors, Vec::<Value>::new());
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(caption, "Your order 42 ships tomorrow.");

    let calls = hooks.received();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].signature_ok,
        "the signature verifies with the tenant's secret"
    );
    assert_eq!(calls[0].body["tool"], "check_order");
    assert_eq!(calls[0].body["arguments"], json!({"order": 42}));

    let chats = requests_to(&emu, "chat");
    assert_eq!(chats.len(), 2);
    assert_eq!(
        chats[0]["body"]["tools"][0]["function"]["name"], "check_order",
        "tools offered"
    );
    let messages = chats[1]["body"]["messages"].as_array().unwrap();
    let n = messages.len();
    assert_eq!(messages[n - 2]["role"], "assistant");
    assert_eq!(
        messages[n - 2]["tool_calls"][0]["function"]["name"],
        "check_order"
    );
    assert_eq!(messages[n - 1]["role"], "tool");
    assert_eq!(
        messages[n - 1]["tool_call_id"],
        messages[n - 2]["tool_calls"][0]["id"]
    );
    assert_eq!(messages[n - 1]["content"], r#"{"status":"ships tomorrow"}"#);
    let log = dev.log();
    assert!(
        log.contains(r#""event":"tool_call""#) && log.contains(r#""outcome":"ok""#),
        "{log}"
    );
    assert!(
        !log.contains("sk-tools-webhook") && !log.contains("ships tomorrow"),
        "no secret or result in the log"
    );
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn several_calls_a_slow_one_with_filler_and_every_failure_reach_the_llm_as_results() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"tool_calls": [
                {"name": "slow_lookup", "arguments": "{\"order\": 1}"},
                {"name": "broken", "arguments": "{\"order\": 2}"},
                {"name": "no_such_tool", "arguments": "{}"},
                {"name": "slow_lookup", "arguments": "{\"order\": \"one\"}"},
                {"name": "bad_json", "arguments": "{\"order\": 3}"},
                {"name": "endless", "arguments": "{\"order\": 4}"}
            ]},
            {"reply": "Here is what I found."}
        ]}),
    );
    let hooks = WebhookServer::start(
        "sk-tools2-webhook",
        vec![
            ("slow_lookup", 1_200, 200, r#"{"found":true}"#),
            ("broken", 0, 500, r#"{"oops":1}"#),
            ("bad_json", 0, 200, "not json"),
            ("endless", 0, 200, ENDLESS),
        ],
    );
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("t", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["tools"] = json!([
        tool("slow_lookup", &hooks.url(), order_schema()),
        tool("broken", &hooks.url(), order_schema()),
        tool("bad_json", &hooks.url(), order_schema()),
        tool("endless", &hooks.url(), order_schema()),
    ]);
    let tenant = dev.tenant_with("tools2", settings);
    let mut client = tenant.connect("");
    client.start();
    let (caption, errors, done) = typed_turn(&mut client, "Check my orders.");
    assert_eq!(
        errors,
        Vec::<Value>::new(),
        "tool failures are not the user's errors"
    );
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        caption, "One moment, let me check. Here is what I found.",
        "the filler was said while the slow tool ran"
    );
    let spoken: Vec<String> = requests_to(&emu, "speech")
        .iter()
        .map(|r| r["body"]["input"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        spoken.first().map(String::as_str),
        Some("One moment, let me check.")
    );

    let chats = requests_to(&emu, "chat");
    let results: Vec<(String, String)> = chats[1]["body"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let content: Vec<&str> = results.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(content.len(), 6, "{content:?}");
    assert_eq!(content[0], r#"{"found":true}"#);
    assert_eq!(content[1], r#"{"error":"the tool answered HTTP 500"}"#);
    assert_eq!(content[2], r#"{"error":"there is no tool by that name"}"#);
    assert!(
        content[3].contains("do not match the tool's schema") && content[3].contains("/order"),
        "{}",
        content[3]
    );
    assert!(!content[3].contains("one"), "values are not quoted");
    assert_eq!(content[4], r#"{"error":"the tool's answer is not JSON"}"#);
    // Read as it streams and cut off at the cap (#14 item 14): before, the whole body was
    // awaited, and this call ran into its timeout.
    assert_eq!(content[5], r#"{"error":"the tool's answer is too long"}"#);
    // The webhooks were called only for valid calls of known tools, each signed.
    let calls = hooks.received();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(calls.iter().all(|c| c.signature_ok));
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn an_interruption_cancels_a_cancellable_tool_call_and_the_conversation_goes_on() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"tool_calls": [{"name": "slow_lookup", "arguments": "{\"order\": 7}"}]},
            {"reply": "Sure, what else?"}
        ]}),
    );
    let hooks = WebhookServer::start(
        "sk-tools3-webhook",
        vec![("slow_lookup", 2_500, 200, r#"{"found":true}"#)],
    );
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("t", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["tools"] = json!([tool("slow_lookup", &hooks.url(), order_schema())]);
    let tenant = dev.tenant_with("tools3", settings);
    let mut client = tenant.connect("");
    client.start();
    client.send_json(json!({"type": "input.text", "text": "Find order 7."}));
    let started = client.until("response.started", Duration::from_secs(10));
    let Some(Incoming::Json(v)) = started.last() else {
        panic!()
    };
    let response_id = v["response_id"].as_u64().unwrap();
    // The user interrupts while the tool runs (after the filler).
    std::thread::sleep(Duration::from_millis(1_200));
    let cancelled_at = std::time::Instant::now();
    client.send_json(
        json!({"type": "response.cancel", "response_id": response_id, "played_ms": 300}),
    );
    let done = client.until("response.done", Duration::from_secs(10));
    let waited = cancelled_at.elapsed();
    let Some(Incoming::Json(done)) = done.last() else {
        panic!()
    };
    assert_eq!(done["status"], "interrupted", "{done}");
    assert!(
        waited < Duration::from_millis(800),
        "the turn ended {waited:?} after the cancel, not after the tool"
    );
    std::thread::sleep(Duration::from_millis(1_600));
    let calls = hooks.received();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        *calls[0].closed_early.lock().unwrap(),
        Some(true),
        "the webhook request was aborted"
    );
    assert_eq!(
        requests_to(&emu, "chat").len(),
        1,
        "no second LLM step after the interruption"
    );
    // The conversation goes on.
    let (caption, errors, done) = typed_turn(&mut client, "Never mind.");
    assert_eq!(
        (caption.as_str(), errors.len(), done["status"].as_str()),
        ("Sure, what else?", 0, Some("completed"))
    );
    client.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn built_in_tools_tell_the_time_hand_off_to_a_person_and_end_the_conversation() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"tool_calls": [{"name": "current_time", "arguments": ""}]},
            {"reply": "It is opening time."},
            {"tool_calls": [{"name": "transfer_to_human", "arguments": "{\"reason\": \"wants a person\"}"}]},
            {"reply": "A colleague will take over."},
            {"tool_calls": [{"name": "end_conversation", "arguments": "{\"reason\": \"goodbye\"}"}]},
            {"reply": "Goodbye!"}
        ]}),
    );
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("t", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["builtin_tools"] = json!(["current_time", "transfer_to_human", "end_conversation"]);
    settings["time_zone"] = json!("Europe/London");
    let tenant = dev.tenant_with("builtins", settings);
    let mut client = tenant.connect("");
    let ready = client.start();

    let (caption, errors, _) = typed_turn(&mut client, "What time is it?");
    assert_eq!((caption.as_str(), errors.len()), ("It is opening time.", 0));
    let chats = requests_to(&emu, "chat");
    let offered: Vec<&str> = chats[0]["body"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        offered,
        ["current_time", "transfer_to_human", "end_conversation"]
    );
    let result: Value = serde_json::from_str(
        chats[1]["body"]["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(result["time_zone"], "Europe/London", "{result}");
    let now = result["now"].as_str().unwrap();
    assert!(
        [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday"
        ]
        .iter()
        .any(|d| now.contains(d)),
        "a local date and time: {now}"
    );

    client.send_json(json!({"type": "input.text", "text": "Can I talk to a person?"}));
    let messages = client.until("response.done", Duration::from_secs(20));
    let handoff = messages
        .iter()
        .find_map(|m| match m {
            Incoming::Json(v) if v["type"] == "handoff" => Some(v.clone()),
            _ => None,
        })
        .expect("the page is told to hand off");
    assert_eq!(handoff["reason"], "wants a person");

    client.send_json(json!({"type": "input.text", "text": "Bye."}));
    let end = client.until("session.end", Duration::from_secs(20));
    let kinds: Vec<&str> = end.iter().filter_map(|m| m.kind()).collect();
    let done_at = kinds
        .iter()
        .position(|k| *k == "response.done")
        .expect("the reply finished first");
    assert_eq!(kinds.last(), Some(&"session.end"));
    assert!(done_at < kinds.len() - 1);
    let Some(Incoming::Json(v)) = end.last() else {
        panic!()
    };
    assert_eq!(v["reason"], "goodbye");
    assert!(
        client.next(Duration::from_secs(2)).is_none(),
        "the edge closed the socket"
    );
    // An ended conversation resumes with no token, its latest included (#14 item 8).
    let (id, token) = (
        ready["session_id"].as_str().unwrap(),
        ready["token"].as_str().unwrap(),
    );
    let mut after = tenant.resume(id, token);
    after.send_json(
        json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": token}),
    );
    let refused = after.until("error", Duration::from_secs(5));
    assert!(
        matches!(refused.last(), Some(Incoming::Json(v)) if v["code"] == "unauthorized"),
        "an ended conversation resumed: {refused:?}"
    );
    after.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_tool_that_times_out_is_an_error_result_and_a_looping_model_must_answer_after_four_steps() {
    let emu = Emulator::start(0).unwrap();
    let loop_step = json!({"tool_calls": [{"name": "current_time", "arguments": ""}]});
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"tool_calls": [{"name": "stuck", "arguments": "{\"order\": 1}"}]},
            {"reply": "That system is slow today."},
            loop_step, loop_step, loop_step, loop_step,
            {"reply": "Done after four."}
        ]}),
    );
    let hooks = WebhookServer::start(
        "sk-tools4-webhook",
        vec![("stuck", 1_500, 200, r#"{"late":true}"#)],
    );
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("t", &[&dev.url("")], &emu.base_url(), "Be brief.");
    let mut stuck = tool("stuck", &hooks.url(), order_schema());
    stuck["timeout_ms"] = json!(300);
    settings["tools"] = json!([stuck]);
    settings["builtin_tools"] = json!(["current_time"]);
    let tenant = dev.tenant_with("tools4", settings);
    let mut client = tenant.connect("");
    client.start();

    let (caption, errors, done) = typed_turn(&mut client, "Check order 1.");
    assert_eq!(
        (caption.as_str(), errors.len()),
        ("That system is slow today.", 0),
        "{done}"
    );
    let chats = requests_to(&emu, "chat");
    let last = chats[1]["body"]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["content"],
        r#"{"error":"the tool did not answer in time"}"#
    );

    let (caption, errors, _) = typed_turn(&mut client, "What time is it, really?");
    assert_eq!((caption.as_str(), errors.len()), ("Done after four.", 0));
    let chats = requests_to(&emu, "chat");
    assert_eq!(chats.len(), 2 + 5, "four tool steps, then an answer");
    assert!(chats[2..6].iter().all(|c| c["body"]["tools"].is_array()));
    assert!(
        chats[6]["body"]["tools"].is_null(),
        "the last step offers no tools"
    );
    client.close();
}

/// (v2) A reply started on a pause may not call a webhook before the turn is committed: the
/// model's call waits, and runs once the commit comes.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_speculative_reply_calls_no_webhook_before_the_commit() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "transcriptions", "queue": [{"reply": "where is my order forty two", "first_byte_ms": 30}]}),
    );
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [
            {"tool_calls": [{"name": "check_order", "arguments": "{\"order\": 42}"}]},
            {"reply": "It ships tomorrow."}
        ]}),
    );
    let hooks = WebhookServer::start(
        "sk-tools5-webhook",
        vec![("check_order", 0, 200, r#"{"status":"ships tomorrow"}"#)],
    );
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("t", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["tools"] = json!([tool("check_order", &hooks.url(), order_schema())]);
    let tenant = dev.tenant_with("tools5", settings);
    let mut client = tenant.connect("");
    client.start_speaking(2);
    client.send_json(json!({"type": "input.speech_started", "stream_id": 1}));
    aura_tests::send_speech(&mut client, 1, 0..40);
    client.send_json(
        json!({"type": "input.speech_paused", "stream_id": 1, "frames": 40, "silence_ms": 200}),
    );
    // The model asks for the tool at once; the turn is not committed yet.
    aura_tests::await_request(&emu, "chat");
    // The transcript reads unpunctuated: the commit waits ~600 ms more.
    std::thread::sleep(Duration::from_millis(200));
    let before: Vec<Incoming> =
        std::iter::from_fn(|| client.next(Duration::from_millis(20))).collect();
    assert!(
        before.iter().all(|m| m.kind() != Some("turn.committed")),
        "committed too soon for this test: {before:?}"
    );
    assert!(hooks.received().is_empty(), "no webhook before the commit");
    let messages = client.until("response.done", Duration::from_secs(20));
    let caption: String = messages
        .iter()
        .filter_map(|m| match m {
            Incoming::Json(v) if v["type"] == "response.text_delta" => {
                v["delta"].as_str().map(str::to_string)
            }
            _ => None,
        })
        .collect();
    assert_eq!(caption, "It ships tomorrow.");
    assert_eq!(hooks.received().len(), 1, "the call ran after the commit");
    client.close();
}
