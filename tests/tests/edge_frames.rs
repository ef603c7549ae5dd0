//! Text frames a browser never sends (#14 item 12): bytes that are not UTF-8, and messages
//! far over the protocol's 16 KiB. Workers' runtime reads a whole message and decodes a text
//! one (invalid bytes become U+FFFD) before the Worker sees it, and closes a connection whose
//! message is over its own limit (32 MiB) itself; the Worker has no setting to lower that or to
//! refuse text frames earlier (`docs/security.md`). What the edge does once a message reaches
//! it: a raw U+FFFD (what invalid bytes decode to; clients write the character as `\ufffd`)
//! closes the socket with 1007 and a typed error; a message over 16 KiB is refused with
//! `message_too_large`, the session going on; none of them asks a provider anything.
//! Before, the invalid bytes were answered as text (a chat request with U+FFFD in it).

use std::time::Duration;

use aura_tests::{Incoming, SessionClient, WranglerDev, emulator_replying, requests_to};

fn error_code(client: &mut SessionClient) -> String {
    let seen = client.until("error", Duration::from_secs(5));
    match seen.last() {
        Some(Incoming::Json(v)) if v["type"] == "error" => v["code"].as_str().unwrap().to_string(),
        other => panic!("no error: {other:?} in {seen:?}"),
    }
}

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn frames_no_browser_sends_are_refused_before_any_provider_is_asked() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let t = dev.tenant("frames", &emu.base_url(), &[]);

    // Not UTF-8: a typed error, then the socket is closed with 1007.
    let mut client = t.connect("");
    client.start();
    let mut bad = br#"{"type":"input.text","text":"hi "#.to_vec();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(br#""}"#);
    assert!(client.send_raw_text(bad));
    assert_eq!(error_code(&mut client), "bad_message");
    assert_eq!(client.ended_by_server(Duration::from_secs(5)), Some(1007));

    // Over 16 KiB (2 MiB here): refused, and the session goes on.
    let mut client = t.connect("");
    client.start();
    let big = format!(
        r#"{{"type":"input.text","text":"{}"}}"#,
        "a".repeat(2 << 20)
    );
    assert!(client.send_raw_text(big.into_bytes()));
    assert_eq!(error_code(&mut client), "message_too_large");

    // Over the runtime's own limit (33 MiB): the runtime ends the connection.
    let mut huge = t.connect("");
    huge.start();
    let text = format!(
        r#"{{"type":"input.text","text":"{}"}}"#,
        "a".repeat(33 << 20)
    );
    let written = huge.send_raw_text(text.into_bytes());
    let ended = huge.ended_by_server(Duration::from_secs(10));
    eprintln!("33 MiB: written {written}, ended {ended:?}");
    assert!(matches!(ended, Some(1009 | 1006)), "{ended:?}");
    assert!(requests_to(&emu, "chat").is_empty(), "a provider was asked");

    // The character itself, escaped as clients write it, is text like any other.
    client.send_text(r#"{"type":"input.text","text":"Is \ufffd a letter?"}"#);
    client.until("response.done", Duration::from_secs(20));
    let chats = requests_to(&emu, "chat");
    assert_eq!(chats.len(), 1, "{chats:?}");
}
