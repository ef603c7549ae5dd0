//! What an admin changes holds against live sessions and stolen tokens (#14 items 4 and 6):
//! a stored provider key follows its provider's origin (whoever holds the admin token can point
//! a slot's `base_url` at their own server, but the key sealed for the old origin is not sent
//! there; seen before: the canary key arrived there as `Bearer`), and a revoked publishable
//! key or a removed origin ends the sessions opened with it at their next turn (seen before:
//! they went on being answered). Both tests fail on d18017b.

use std::time::Duration;

use aura_emulator::Emulator;
use aura_tests::{
    Incoming, SessionClient, WranglerDev, emulator_replying, requests_to, script, typed_turn,
};
use serde_json::{Value, json};

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_provider_key_is_not_sent_to_a_host_it_was_not_set_for() {
    let provider = emulator_replying("Yes.");
    let elsewhere = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let mut settings =
        aura_admin::settings_for("bound", &[&dev.url("")], &provider.base_url(), "Brief.");
    let t = dev.tenant_with("bound", settings.clone());
    let (_, done, _) = typed_turn(&t, "Hello?");
    assert_eq!(done["status"], "completed", "{done}");
    let canary = "Bearer sk-bound-llm0";
    assert_eq!(requests_to(&provider, "chat")[0]["authorization"], canary);

    // The admin token points the route elsewhere: the key sealed for the old origin goes.
    settings["llm"][0]["base_url"] = json!(elsewhere.base_url());
    let answer = dev.admin().put_tenant("bound", &settings).unwrap();
    let _ = typed_turn(&t, "Hello again?");
    let seen = requests_to(&elsewhere, "chat");
    assert!(
        seen.iter().all(|r| r["authorization"] != canary),
        "the old key reached the new host: {seen:?}"
    );
    assert_eq!(answer["provider_keys_cleared"], json!(["llm0"]), "{answer}");
    let slots = dev.admin().get_tenant("bound").unwrap()["provider_keys"].clone();
    assert!(
        slots
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["slot"] != "llm0"),
        "{slots}"
    );

    // Set again for the new origin, it is used there.
    dev.admin()
        .set_provider_key("bound", "llm0", "sk-new-host", 0)
        .unwrap();
    let (_, done, _) = typed_turn(&t, "And now?");
    assert_eq!(done["status"], "completed", "{done}");
    let last = requests_to(&elsewhere, "chat").pop().unwrap();
    assert_eq!(last["authorization"], "Bearer sk-new-host");
    // Unchanged slots keep their keys.
    assert_eq!(
        requests_to(&provider, "speech").last().unwrap()["authorization"],
        "Bearer sk-bound-tts"
    );
}

/// A typed turn refused because the session may no longer be served: the error, and the
/// socket closed with 1008.
fn refused_turn(c: &mut SessionClient) -> Value {
    c.send_json(json!({"type": "input.text", "text": "Still there?"}));
    let error = loop {
        match c.next(Duration::from_secs(10)) {
            Some(Incoming::Json(v)) if v["type"] == "error" => break v,
            Some(Incoming::Json(v)) if v["type"] == "response.done" => {
                panic!("answered after the change: {v}")
            }
            Some(_) => {}
            None => panic!("no answer"),
        }
    };
    assert_eq!(c.closed_by_server(Duration::from_secs(5)), Some(1008));
    error
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_revoked_key_or_a_removed_origin_ends_the_live_sessions_it_opened() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let admin = dev.admin();
    let settings = aura_admin::settings_for("revoke", &[&dev.url("")], &emu.base_url(), "Brief.");
    let t = dev.tenant_with("revoke", settings.clone());
    let mut live = t.connect("");
    live.start();
    live.send_json(json!({"type": "input.text", "text": "Hello?"}));
    live.until("response.done", Duration::from_secs(20));
    admin.revoke_publishable_key("revoke", &t.key).unwrap();
    assert_eq!(refused_turn(&mut live)["code"], "unauthorized");

    // An origin removed from the allowlist: its sessions end the same way.
    let t2 = dev.tenant_with(
        "origins",
        aura_admin::settings_for("origins", &[&dev.url("")], &emu.base_url(), "Brief."),
    );
    let mut live = t2.connect("");
    live.start();
    let mut narrowed = settings;
    narrowed["name"] = json!("origins");
    narrowed["allowed_origins"] = json!(["https://elsewhere.example"]);
    admin.put_tenant("origins", &narrowed).unwrap();
    assert_eq!(refused_turn(&mut live)["code"], "unauthorized");
    let chats = requests_to(&emu, "chat").len();
    assert_eq!(chats, 1, "no provider was asked after the change");
}

/// Seen before: "could not answer: 127.0.0.1:8890: HTTP 404" and the host in
/// `metrics.provider` reached the visitor. Users see the route's name (`llm0`); the host
/// stays in the Worker's log, for the operator.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn users_see_route_names_and_the_logs_keep_provider_hosts() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"fault": {"kind": "status", "code": 404}}], "default": {"reply": "Yes."}}),
    );
    let dev = WranglerDev::start();
    let settings = aura_admin::settings_for("names", &[&dev.url("")], &emu.base_url(), "Brief.");
    let t = dev.tenant_with("names", settings);
    let host = emu.base_url().trim_start_matches("http://").to_string();
    let (_, done, errors) = typed_turn(&t, "Hello?");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("llm0"), "{message}");
    assert!(
        !message.contains(&host) && !message.contains("127.0.0.1"),
        "{message}"
    );
    assert!(!done.to_string().contains(&host), "{done}");
    let (_, done, _) = typed_turn(&t, "Again?");
    assert_eq!(done["metrics"]["provider"], "llm0", "{done}");
    assert!(
        dev.log().contains(&host),
        "the operator's log names the host"
    );
}

/// #14 item 11: a site owner (or a visitor through them) can have a conversation deleted now;
/// `retention_days` bounds how long one is kept (deleted by the conversation's alarm: the
/// schedule is host-tested in `session::alarm`, as days cannot pass in a test).
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn an_admin_deletes_a_conversation_and_its_socket_and_tokens_go_with_it() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let admin = dev.admin();
    let mut settings =
        aura_admin::settings_for("forget", &[&dev.url("")], &emu.base_url(), "Brief.");
    settings["retention_days"] = json!(4_000);
    assert!(
        admin.put_tenant("forget", &settings).is_err(),
        "at most 3650 days"
    );
    settings["retention_days"] = json!(7);
    let t = dev.tenant_with("forget", settings);
    let mut c = t.connect("");
    let ready = c.start();
    c.send_json(json!({"type": "input.text", "text": "Remember my order?"}));
    c.until("response.done", Duration::from_secs(20));
    let (id, token) = (
        ready["session_id"].as_str().unwrap(),
        ready["token"].as_str().unwrap(),
    );
    assert_eq!(
        admin.delete_conversation("forget", id).unwrap()["deleted"],
        true
    );
    assert_eq!(c.closed_by_server(Duration::from_secs(5)), Some(1000));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(admin.usage("forget").unwrap()["active_sessions"], 0);
    // Deleted once: a second deletion finds nothing (before anything reopens the object).
    assert_eq!(
        admin.delete_conversation("forget", id).unwrap()["deleted"],
        false
    );
    // Its token resumes nothing: the conversation is gone.
    let mut again = t.resume(id, token);
    again.send_json(
        json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": token}),
    );
    let refused = again.until("error", Duration::from_secs(5));
    assert!(
        matches!(refused.last(), Some(Incoming::Json(v)) if v["code"] == "unauthorized"),
        "{refused:?}"
    );
    again.close();
    // The refused resume did not bring the conversation back, nor keep a session slot.
    assert_eq!(
        admin.delete_conversation("forget", id).unwrap()["deleted"],
        false,
        "a refused resume recreated the conversation"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(admin.usage("forget").unwrap()["active_sessions"], 0);
    assert!(admin.delete_conversation("forget", "not-an-id").is_err());
}

/// Seen before (#14 item 11): a tenant's conversations could be deleted only one by one, by
/// ids the site owner had to know. One request deletes them all: the open one's socket is
/// closed, none resumes, and each is gone from storage.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn an_admin_deletes_all_of_a_tenants_conversations_at_once() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let admin = dev.admin();
    let settings = aura_admin::settings_for("erase", &[&dev.url("")], &emu.base_url(), "Brief.");
    let t = dev.tenant_with("erase", settings);
    let mut sessions = Vec::new();
    let mut open = Vec::new();
    for i in 0..3 {
        let mut c = t.connect("");
        let ready = c.start();
        c.send_json(json!({"type": "input.text", "text": format!("My order number is {i}.")}));
        c.until("response.done", Duration::from_secs(20));
        sessions.push((
            ready["session_id"].as_str().unwrap().to_string(),
            ready["token"].as_str().unwrap().to_string(),
        ));
        if i < 2 {
            c.close();
        } else {
            open.push(c);
        }
    }
    let answer = admin.delete_conversations("erase").unwrap();
    assert_eq!(answer["conversations_marked"], 3, "{answer}");
    let mut live = open.pop().unwrap();
    assert_eq!(live.closed_by_server(Duration::from_secs(10)), Some(1000));
    std::thread::sleep(Duration::from_millis(500));
    for (id, token) in &sessions {
        let mut again = t.connect(&format!("&session={id}"));
        again.send_json(
            json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": token}),
        );
        let refused = again.until("error", Duration::from_secs(5));
        assert!(
            matches!(refused.last(), Some(Incoming::Json(v)) if v["code"] == "unauthorized"),
            "{id}: {refused:?}"
        );
        again.close();
        assert_eq!(
            admin.delete_conversation("erase", id).unwrap()["deleted"],
            false,
            "{id} was still stored"
        );
    }
    assert_eq!(admin.usage("erase").unwrap()["active_sessions"], 0);
    // Nothing is left to mark; a new conversation afterwards is not touched.
    assert_eq!(
        admin.delete_conversations("erase").unwrap()["conversations_marked"],
        0
    );
    let mut after = t.connect("");
    assert_eq!(after.start()["type"], "session.ready");
    after.close();
}
