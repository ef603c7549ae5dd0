//! Limits that hold against a hostile visitor, in local workerd: session slots that follow live
//! sockets exactly, sockets that never start closed, turns counted only when they carry audio
//! or text, one client's share below the tenant's, and a flood on one socket refused before it
//! reaches the tenant's object. Each test fails on the edge of before these limits (checked
//! against commit d18017b).

use std::time::Duration;

use aura_emulator::Emulator;
use aura_tests::{
    Incoming, SessionClient, TestTenant, WranglerDev, emulator_replying, input_frame, requests_to,
    script,
};
use serde_json::{Value, json};

fn tenant(dev: &WranglerDev, emu: &Emulator, id: &str, limits: Value) -> TestTenant {
    let mut settings = aura_admin::settings_for(id, &[&dev.url("")], &emu.base_url(), "Brief.");
    settings["limits"] = limits;
    dev.tenant_with(id, settings)
}

/// The first JSON message within 10 s.
fn first(c: &mut SessionClient) -> Value {
    match c.next(Duration::from_secs(10)) {
        Some(Incoming::Json(v)) => v,
        other => panic!("{other:?}"),
    }
}

fn start(c: &mut SessionClient) -> Value {
    c.send_json(json!({"type": "session.start", "protocol": 1, "input_sample_rate": 16000}));
    first(c)
}

fn active_sessions(dev: &WranglerDev, id: &str) -> u64 {
    dev.admin().usage(id).unwrap()["active_sessions"]
        .as_u64()
        .unwrap()
}

/// A typed turn's outcome: `response.done`'s status, or the limit that refused it.
fn typed(c: &mut SessionClient, text: &str) -> String {
    c.send_json(json!({"type": "input.text", "text": text}));
    for _ in 0..200 {
        match c.next(Duration::from_secs(20)) {
            Some(Incoming::Json(v)) if v["type"] == "response.done" => {
                return v["status"].as_str().unwrap().to_string();
            }
            Some(Incoming::Json(v)) if v["type"] == "rate_limited" => {
                return v["limit"].as_str().unwrap().to_string();
            }
            Some(_) => {}
            None => break,
        }
    }
    panic!("no answer to a typed turn")
}

/// Seen before: a reconnect's replaced socket released the live socket's slot, so one visitor
/// could hold 10 answering sessions on a limit of 2 with `active_sessions: 0`.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn session_slots_follow_live_sockets_through_reconnects() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let t = tenant(
        &dev,
        &emu,
        "slots",
        json!({"concurrent_sessions": 2, "sessions_per_client": 2}),
    );
    let mut a = t.connect_from("198.51.100.1", "");
    let ready = start(&mut a);
    assert_eq!(ready["type"], "session.ready", "{ready}");
    let mut b = t.connect_from("198.51.100.2", "");
    assert_eq!(start(&mut b)["type"], "session.ready");
    assert_eq!(active_sessions(&dev, "slots"), 2);

    let id = ready["session_id"].as_str().unwrap().to_string();
    let mut token = ready["token"].as_str().unwrap().to_string();
    let mut newer = Vec::new();
    for i in 0..4 {
        // A reconnect takes over its conversation's slot; the socket it replaces is closed.
        let mut again = t.connect_from("198.51.100.1", &format!("&session={id}&token={token}"));
        again.send_json(
            json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": token}),
        );
        let resumed = first(&mut again);
        assert_eq!(resumed["type"], "session.ready", "{resumed}");
        // Each resume hands out the token the next one must use.
        token = resumed["token"].as_str().unwrap().to_string();
        assert_eq!(a.closed_by_server(Duration::from_secs(5)), Some(1000));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(active_sessions(&dev, "slots"), 2, "round {i}");
        // The tenant stays full: a newcomer is told to wait, however often the first reconnects.
        let mut c = t.connect_from(&format!("198.51.100.{}", 10 + i), "");
        let v = first(&mut c);
        assert_eq!(
            (v["type"].as_str(), v["limit"].as_str()),
            (Some("rate_limited"), Some("concurrent_sessions")),
            "round {i}: {v}"
        );
        newer.push(c);
        a = again;
    }
    assert_eq!(typed(&mut a, "Still there?"), "completed");
    // Closing frees exactly the closed socket's slot.
    a.close();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(active_sessions(&dev, "slots"), 1);
    let mut d = t.connect_from("198.51.100.30", "");
    assert_eq!(start(&mut d)["type"], "session.ready");
    b.close();
    d.close();
}

/// Seen before: 20 upgraded sockets that never sent `session.start` held every slot for good.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_socket_that_never_starts_is_closed_and_frees_its_slot() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let t = tenant(&dev, &emu, "silent", json!({"concurrent_sessions": 1}));
    let mut silent = t.connect_from("198.51.100.1", "");
    let mut other = t.connect_from("198.51.100.2", "");
    assert_eq!(first(&mut other)["limit"], "concurrent_sessions");
    // Closed with 1008 (policy) a few seconds after its upgrade, and its slot is free.
    assert_eq!(silent.closed_by_server(Duration::from_secs(12)), Some(1008));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(active_sessions(&dev, "silent"), 0);
    let mut next = t.connect_from("198.51.100.2", "");
    assert_eq!(start(&mut next)["type"], "session.ready");
    // A started socket is not closed by that deadline.
    assert_eq!(next.closed_by_server(Duration::from_secs(7)), None);
    assert_eq!(typed(&mut next, "Hello?"), "completed");
    next.close();
}

/// Seen before: 12 `input.speech_started` with no audio used up the tenant's turns.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn speech_without_audio_is_not_a_turn_and_a_flood_stays_on_its_socket() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let t = tenant(
        &dev,
        &emu,
        "flood",
        json!({"turns_per_minute": 200, "turns_per_minute_per_client": 200}),
    );
    let mut c = t.connect_from("198.51.100.1", "");
    assert_eq!(start(&mut c)["type"], "session.ready");
    for stream in 1..=30 {
        c.send_json(json!({"type": "input.speech_started", "stream_id": stream}));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(dev.admin().usage("flood").unwrap()["today"]["turns"], 0);
    assert_eq!(typed(&mut c, "Are you open?"), "completed");

    // Utterances that carry audio are turns; past the connection's own limit (20 a minute)
    // they are refused on the socket, and the tenant's object counts no more of them.
    let mut limited = 0;
    for stream in 100..160u32 {
        c.send_json(json!({"type": "input.speech_started", "stream_id": stream}));
        c.send_binary(input_frame(stream, 0, &[300; 320]));
    }
    while let Some(m) = c.next(Duration::from_secs(3)) {
        if let Incoming::Json(v) = m
            && v["type"] == "rate_limited"
        {
            assert_eq!(v["limit"], "turns_per_minute_per_connection", "{v}");
            limited += 1;
        }
    }
    let turns = dev.admin().usage("flood").unwrap()["today"]["turns"]
        .as_u64()
        .unwrap();
    assert_eq!(
        (turns, limited),
        (20, 41),
        "1 typed turn + 19 utterances granted"
    );
    c.close();
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn one_client_takes_only_its_share_of_sessions_and_turns() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    // A quarter each by default: 1 session of 4, 2 turns a minute of 8.
    let t = tenant(
        &dev,
        &emu,
        "share",
        json!({"concurrent_sessions": 4, "turns_per_minute": 8}),
    );
    let mut a = t.connect_from("198.51.100.1", "");
    assert_eq!(start(&mut a)["type"], "session.ready");
    let mut a2 = t.connect_from("198.51.100.1", "");
    let v = first(&mut a2);
    assert_eq!(v["limit"], "sessions_per_client", "{v}");
    assert!(v["retry_after_ms"].as_u64() > Some(0));
    let mut b = t.connect_from("198.51.100.2", "");
    assert_eq!(start(&mut b)["type"], "session.ready");

    assert_eq!(typed(&mut a, "One?"), "completed");
    assert_eq!(typed(&mut a, "Two?"), "completed");
    assert_eq!(typed(&mut a, "Three?"), "turns_per_minute_per_client");
    assert_eq!(
        typed(&mut b, "Mine?"),
        "completed",
        "another client still has turns"
    );
    a.close();
    b.close();
}

/// Opening sessions over and over from one address is refused by the Workers rate-limiting
/// binding (60 a minute) before the tenant's object is asked; other addresses are not. The
/// binding counts in fixed windows of a minute, so the first refusal comes after 60 to 120
/// opens (a window may turn over during the run), and it must come.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn one_client_cannot_open_sessions_without_end() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let t = tenant(&dev, &emu, "opens", json!({}));
    let began = std::time::Instant::now();
    let mut first_refused = None;
    for i in 0..130 {
        let mut c = t.connect_from("198.51.100.7", "");
        let v = start(&mut c);
        c.close();
        if v["type"] == "rate_limited" {
            assert_eq!(v["limit"], "session_opens_per_client", "{v}");
            first_refused = Some(i);
            break;
        }
    }
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "the opens took over a minute"
    );
    let first = first_refused.expect("130 opens in under a minute, none refused");
    assert!(
        (60..=120).contains(&first),
        "first refused after {first} opens"
    );
    let mut other = t.connect_from("198.51.100.8", "");
    assert_eq!(start(&mut other)["type"], "session.ready");
    other.close();
}

/// Seen before: audio faster than real time was accepted and billed. Ten seconds of audio
/// sent at once: about two seconds (the margin) reach speech-to-text, one `audio_too_fast`
/// says why. (A connection's first utterance may come at once: a client re-sends the one a
/// drop cut; so this is the second.)
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn audio_faster_than_real_time_is_not_transcribed_or_billed() {
    let emu = emulator_replying("Yes.");
    script(
        &emu,
        json!({"endpoint": "transcriptions", "default": {"reply": "hello"}}),
    );
    let dev = WranglerDev::start();
    let t = tenant(&dev, &emu, "fast", json!({}));
    let mut c = t.connect("");
    assert_eq!(start(&mut c)["type"], "session.ready");
    c.send_json(json!({"type": "input.speech_started", "stream_id": 1}));
    for seq in 0..25 {
        c.send_binary(input_frame(1, seq, &[300; 320]));
    }
    c.send_json(json!({"type": "input.speech_stopped", "stream_id": 1, "frames": 25}));
    c.until("response.done", Duration::from_secs(20));
    c.send_json(json!({"type": "input.speech_started", "stream_id": 2}));
    for seq in 0..500 {
        c.send_binary(input_frame(2, seq, &[300; 320]));
    }
    c.send_json(json!({"type": "input.speech_stopped", "stream_id": 2, "frames": 500}));
    let seen = c.until("response.done", Duration::from_secs(20));
    let too_fast = seen
        .iter()
        .filter(|m| matches!(m, Incoming::Json(v) if v["code"] == "audio_too_fast"))
        .count();
    assert_eq!(too_fast, 1);
    let heard = requests_to(&emu, "transcriptions")[1]["body"]["duration_ms"]
        .as_u64()
        .unwrap();
    assert!(
        (2_000..=3_000).contains(&heard),
        "{heard} ms of 10 000 transcribed"
    );
    c.close();
}

/// Seen before: turns running at once each passed the daily token check on the same
/// remainder, so together they spent far past the quota. A granted turn now holds a share of
/// the quota until it reports: a second turn on another conversation is refused while the
/// first runs, and granted once the first has reported what it really spent.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn turns_running_at_once_reserve_the_daily_quota_before_they_spend_it() {
    let emu = Emulator::start(0).unwrap();
    script(
        &emu,
        json!({"endpoint": "chat", "queue": [{"reply": "Slowly.", "first_byte_ms": 2500}], "default": {"reply": "Yes."}}),
    );
    let dev = WranglerDev::start();
    let t = tenant(
        &dev,
        &emu,
        "reserve",
        json!({"llm_tokens_per_day": 1_000, "turns_per_minute": 20, "concurrent_sessions": 4,
               "sessions_per_client": 4, "turns_per_minute_per_client": 20}),
    );
    let mut a = t.connect("");
    start(&mut a);
    a.send_json(json!({"type": "input.text", "text": "Take your time."}));
    // The first turn is running (its reply comes in 2.5 s) and holds the day's tokens.
    aura_tests::await_request(&emu, "chat");
    let mut b = t.connect("");
    start(&mut b);
    assert_eq!(typed(&mut b, "Me too?"), "llm_tokens_per_day");
    // Done, it reported its few tokens and released the rest: the next turn is granted.
    a.until("response.done", Duration::from_secs(10));
    assert_eq!(typed(&mut b, "Now?"), "completed");
    let today = &dev.admin().usage("reserve").unwrap()["today"];
    assert!(today["llm_tokens"].as_u64().unwrap() < 1_000, "{today}");
    a.close();
    b.close();
}

fn resume_message(id: &str, token: &str) -> Value {
    json!({"type": "session.resume", "protocol": 1, "session_id": id, "token": token})
}

/// Seen before (by reading, #14 item 8): admission took the conversation's lease over and the
/// object closed the live socket before any token's generation was checked, so the holder of an
/// older token (say, one sniffed from a URL) replaced the live socket, and its `session.start`
/// wiped the conversation; a resume needed the token in its URL.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn an_older_token_cannot_replace_the_live_socket_and_the_token_stays_out_of_the_url() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let t = tenant(
        &dev,
        &emu,
        "tokens",
        json!({"concurrent_sessions": 2, "sessions_per_client": 2}),
    );
    let mut a = t.connect_from("198.51.100.1", "");
    let ready = start(&mut a);
    let id = ready["session_id"].as_str().unwrap().to_string();
    let first_token = ready["token"].as_str().unwrap().to_string();
    assert_eq!(typed(&mut a, "Remember the blue door."), "completed");
    // The owner reconnects (the old way, token in the URL too): the newer socket takes over.
    let mut live = t.connect_from(
        "198.51.100.1",
        &format!("&session={id}&token={first_token}"),
    );
    live.send_json(resume_message(&id, &first_token));
    let resumed = first(&mut live);
    assert_eq!(resumed["resumed"], true, "{resumed}");
    let latest = resumed["token"].as_str().unwrap().to_string();
    assert_eq!(a.closed_by_server(Duration::from_secs(5)), Some(1000));

    // The first token, validly signed but no longer the latest, is admitted (its signature
    // checks out) but takes nothing: the live socket stays open, on its own lease.
    let mut stale = t.connect_from(
        "198.51.100.9",
        &format!("&session={id}&token={first_token}"),
    );
    assert_eq!(
        live.closed_by_server(Duration::from_secs(2)),
        None,
        "an older token's upgrade closed the live socket"
    );
    stale.send_json(resume_message(&id, &first_token));
    assert_eq!(first(&mut stale)["code"], "unauthorized");
    // Nor can it start afresh on the conversation (which would wipe its history).
    stale.send_json(json!({"type": "session.start", "protocol": 1, "input_sample_rate": 16000}));
    assert_eq!(first(&mut stale)["code"], "unauthorized");
    stale.close();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        live.closed_by_server(Duration::from_millis(500)),
        None,
        "the live socket was closed"
    );
    assert_eq!(active_sessions(&dev, "tokens"), 1);
    assert_eq!(typed(&mut live, "Which door?"), "completed");
    let chats = requests_to(&emu, "chat");
    let messages = &chats.last().unwrap()["body"]["messages"];
    assert_eq!(
        messages[1]["content"], "Remember the blue door.",
        "the history survived: {messages}"
    );
    live.close();

    // Today's client keeps the token out of the URL: it names the conversation only, and
    // `session.resume` carries the latest token.
    let mut next = t.connect_from("198.51.100.1", &format!("&session={id}"));
    next.send_json(resume_message(&id, &latest));
    let again = first(&mut next);
    assert_eq!(
        (again["type"].as_str(), again["resumed"].as_bool()),
        (Some("session.ready"), Some(true)),
        "{again}"
    );
    assert_eq!(typed(&mut next, "And now?"), "completed");
    next.close();
}
