//! Every example in docs/protocol.md parses as it says, so the document cannot drift from the code.

use aura_protocol::{AudioFrame, ClientMessage, ServerMessage};

const DOC: &str = include_str!("../../docs/protocol.md");

/// (info string, body) of every fenced block in the document.
fn blocks() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            out.push((info.trim(), body.join("\n")));
        }
    }
    out
}

fn json_eq(a: &str, b: &str) -> bool {
    let a: serde_json::Value = serde_json::from_str(a).expect("example is JSON");
    let b: serde_json::Value = serde_json::from_str(b).expect("re-serialised message is JSON");
    a == b
}

#[test]
fn every_example_parses_as_marked_and_round_trips() {
    let blocks = blocks();
    let mut counts = [0usize; 4];
    for (info, body) in &blocks {
        match *info {
            "json client" => {
                let msg = ClientMessage::parse(body)
                    .unwrap_or_else(|e| panic!("client example {body} does not parse: {e}"));
                assert!(
                    json_eq(body, &msg.to_json()),
                    "client example {body} does not round-trip"
                );
                counts[0] += 1;
            }
            "json server" => {
                let msg = ServerMessage::parse(body)
                    .unwrap_or_else(|e| panic!("server example {body} does not parse: {e}"));
                assert!(
                    json_eq(body, &msg.to_json()),
                    "server example {body} does not round-trip"
                );
                counts[1] += 1;
            }
            "json invalid" => {
                assert!(
                    ClientMessage::parse(body).is_err(),
                    "invalid example {body} was accepted"
                );
                counts[2] += 1;
            }
            "hex frame" => {
                let bytes = hex(body);
                let frame = AudioFrame::decode(&bytes)
                    .unwrap_or_else(|e| panic!("frame example {body} does not decode: {e}"));
                let samples: Vec<i16> = frame.samples().collect();
                let mut again = Vec::new();
                AudioFrame::encode(&frame.header, &samples, &mut again).unwrap();
                assert_eq!(again, bytes, "frame example {body} does not round-trip");
                counts[3] += 1;
            }
            other => panic!("fenced block with unmarked kind `{other}` in docs/protocol.md"),
        }
    }
    // Every client and server message type is shown at least once.
    assert!(counts[0] >= 7, "client examples: {}", counts[0]);
    assert!(counts[1] >= 9, "server examples: {}", counts[1]);
    assert!(counts[2] >= 3 && counts[3] >= 2, "{counts:?}");
}

#[test]
fn every_message_type_has_an_example() {
    let shown: Vec<String> = blocks()
        .iter()
        .filter(|(info, _)| info.starts_with("json client") || info.starts_with("json server"))
        .map(|(_, body)| {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            v["type"].as_str().unwrap().to_string()
        })
        .collect();
    for ty in [
        "session.start",
        "session.resume",
        "input.speech_started",
        "input.speech_stopped",
        "input.text",
        "response.cancel",
        "ping",
        "session.ready",
        "session.token",
        "transcript.partial",
        "transcript.final",
        "response.started",
        "response.text_delta",
        "response.done",
        "error",
        "rate_limited",
        "pong",
        "handoff",
        "session.end",
    ] {
        assert!(
            shown.iter().any(|s| s == ty),
            "docs/protocol.md has no example of `{ty}`"
        );
    }
}

#[test]
fn example_frame_fields_are_as_documented() {
    let bytes = hex("01 01 0000 07000000 00000000 803e0000 0200 0000 0100 feff");
    let frame = AudioFrame::decode(&bytes).unwrap();
    assert_eq!(frame.header.stream_id, 7);
    assert_eq!(frame.header.sample_rate, 16_000);
    assert_eq!(frame.samples().collect::<Vec<_>>(), vec![1, -2]);
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}
