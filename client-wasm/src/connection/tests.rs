//! Tests of [`super`] (connection.rs).

use super::*;

fn ready(id: &str, token: &str, resumed: bool) -> String {
    format!(
        r#"{{"type":"session.ready","protocol":1,"session_id":"{id}","token":"{token}","resumed":{resumed},"input_sample_rate":16000,"output_sample_rate":24000,"resume_window_s":120}}"#
    )
}

fn sent(cmds: &[Command]) -> Vec<serde_json::Value> {
    cmds.iter()
        .filter_map(|c| {
            if let Command::Send(t) = c {
                Some(serde_json::from_str(t).unwrap())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn connect_start_ready() {
    let mut c = Connection::new("ws://127.0.0.1:8787/v1/session", Backoff::default());
    assert_eq!(
        c.connect(),
        vec![Command::Open("ws://127.0.0.1:8787/v1/session".into())]
    );
    let start = sent(&c.on_open());
    assert_eq!(start[0]["type"], "session.start");
    assert_eq!(start[0]["input_sample_rate"], 16_000);
    let events = c.on_text(&ready("abc", "tok", false));
    assert_eq!(
        events,
        vec![Command::Emit(Event::Ready {
            session_id: "abc".into(),
            resumed: false,
            end_of_turn_fallback_ms: None
        })]
    );
    assert!(c.is_ready());
}

#[test]
fn the_client_speaks_v2_unless_asked_for_v1_and_reports_who_ends_turns() {
    let mut c = Connection::new("ws://h/v1/session", Backoff::default());
    c.connect();
    assert_eq!(sent(&c.on_open())[0]["protocol"], 2);
    let v2 = r#"{"type":"session.ready","protocol":2,"session_id":"abc","token":"tok","resumed":false,"input_sample_rate":16000,"output_sample_rate":24000,"resume_window_s":120,"end_of_turn_fallback_ms":4000}"#;
    assert_eq!(
        c.on_text(v2),
        vec![Command::Emit(Event::Ready {
            session_id: "abc".into(),
            resumed: false,
            end_of_turn_fallback_ms: Some(4_000)
        })]
    );

    // The old way: v1 in the start and in every resume.
    let mut c = Connection::new("ws://h/v1/session", Backoff::default());
    c.set_protocol(1);
    c.connect();
    assert_eq!(sent(&c.on_open())[0]["protocol"], 1);
    c.on_text(&ready("abc", "tok", false));
    c.on_close(0, 0.0);
    c.on_timer(10_000);
    let resume = sent(&c.on_open());
    assert_eq!(
        (&resume[0]["type"], &resume[0]["protocol"]),
        (&"session.resume".into(), &1.into())
    );
    // Versions this build does not speak are clamped.
    c.set_protocol(0);
    assert_eq!(c.protocol, MIN_PROTOCOL_VERSION);
    c.set_protocol(9);
    assert_eq!(c.protocol, PROTOCOL_VERSION);
}

#[test]
fn a_drop_reconnects_with_backoff_and_resumes_the_same_session() {
    let mut c = Connection::new(
        "ws://h/v1/session",
        Backoff {
            jitter: 0.0,
            ..Backoff::default()
        },
    );
    c.connect();
    c.on_open();
    c.on_text(&ready("abc", "tok", false));
    let cmds = c.on_close(1_000, 0.5);
    assert_eq!(
        cmds,
        vec![
            Command::Emit(Event::Reconnecting {
                attempt: 1,
                in_ms: 250
            }),
            Command::WakeAt(1_250)
        ]
    );
    assert_eq!(c.on_timer(1_100), vec![Command::WakeAt(1_250)], "too early");
    assert_eq!(
        c.on_timer(1_250),
        vec![Command::Open("ws://h/v1/session?session=abc".into())]
    );
    let resume = sent(&c.on_open());
    assert_eq!(
        resume[0],
        serde_json::json!({"type":"session.resume","protocol":aura_protocol::PROTOCOL_VERSION,"session_id":"abc","token":"tok"})
    );
    // Fails again before ready: the delay doubles.
    assert_eq!(
        c.on_close(2_000, 0.0)[0],
        Command::Emit(Event::Reconnecting {
            attempt: 2,
            in_ms: 500
        })
    );
    c.on_timer(2_500);
    c.on_open();
    assert_eq!(
        c.on_text(&ready("abc", "tok", true)),
        vec![Command::Emit(Event::Ready {
            session_id: "abc".into(),
            resumed: true,
            end_of_turn_fallback_ms: None
        })]
    );
    // Ready again: the next drop starts from the first delay.
    assert_eq!(
        c.on_close(9_000, 0.0)[0],
        Command::Emit(Event::Reconnecting {
            attempt: 1,
            in_ms: 250
        })
    );
}

#[test]
fn an_expired_session_starts_a_new_one() {
    let mut c = Connection::new("ws://h/v1/session", Backoff::default());
    c.connect();
    c.on_open();
    c.on_text(&ready("abc", "tok", false));
    c.on_close(0, 0.0);
    c.on_timer(10_000);
    c.on_open();
    let cmds =
        c.on_text(r#"{"type":"error","code":"session_expired","message":"m","retryable":false}"#);
    assert_eq!(cmds, vec![Command::Open("ws://h/v1/session".into())]);
    assert_eq!(sent(&c.on_open())[0]["type"], "session.start");
}

#[test]
fn backoff_is_capped_and_jittered() {
    let b = Backoff::default();
    assert_eq!(b.delay_ms(1, 0.0), 250);
    assert_eq!(b.delay_ms(6, 0.0), 8_000);
    assert_eq!(b.delay_ms(60, 0.0), 8_000);
    assert_eq!(b.delay_ms(1, 0.999), 299);
}

#[test]
fn refused_for_good_means_no_reconnect_and_other_messages_pass_through() {
    let mut c = Connection::new("ws://h/v1/session", Backoff::default());
    c.connect();
    c.on_open();
    let cmds = c
        .on_text(r#"{"type":"error","code":"unauthorized","message":"bad key","retryable":false}"#);
    assert!(matches!(
        &cmds[0],
        Command::Emit(Event::Failed {
            code: ErrorCode::Unauthorized,
            ..
        })
    ));
    assert_eq!(c.on_close(0, 0.0), vec![]);

    let mut c = Connection::new("ws://h/v1/session", Backoff::default());
    c.connect();
    c.on_open();
    c.on_text(&ready("x", "t", false));
    let cmds = c.on_text(r#"{"type":"transcript.final","stream_id":1,"text":"hi"}"#);
    assert!(matches!(
        &cmds[0],
        Command::Emit(Event::Message(ServerMessage::TranscriptFinal { .. }))
    ));
    assert_eq!(c.on_text("not json at all"), vec![], "ignored, not fatal");
    c.close();
    assert_eq!(c.on_close(0, 0.0), vec![]);
}

#[test]
fn a_refreshed_token_is_the_one_resumed_with_and_only_the_key_and_session_are_in_the_url() {
    let mut c = Connection::new(
        "ws://h/v1/session?key=pk_demo_00",
        Backoff {
            jitter: 0.0,
            ..Backoff::default()
        },
    );
    c.connect();
    c.on_open();
    c.on_text(&ready("abc", "tok", false));
    let refreshed = r#"{"type":"session.token","token":"v1.new+/=","expires_in_s":900}"#;
    assert!(c.on_text(refreshed).is_empty(), "not an app event");
    c.on_close(1_000, 0.0);
    assert_eq!(
        c.on_timer(1_250),
        vec![Command::Open(
            "ws://h/v1/session?key=pk_demo_00&session=abc".into()
        )]
    );
    assert_eq!(sent(&c.on_open())[0]["token"], "v1.new+/=");
}

#[test]
fn past_the_resume_window_a_new_conversation_starts() {
    let mut c = Connection::new(
        "ws://h/v1/session",
        Backoff {
            jitter: 0.0,
            ..Backoff::default()
        },
    );
    c.connect();
    c.on_open();
    c.on_text(&ready("abc", "tok", false));
    // The network is down for longer than the 120 s window: attempts keep failing.
    let mut now = 1_000;
    c.on_close(now, 0.0);
    while now < 1_000 + 120_000 {
        now += 8_000;
        c.on_timer(now);
        c.on_close(now, 0.0);
    }
    now += 8_000;
    assert_eq!(
        c.on_timer(now),
        vec![Command::Open("ws://h/v1/session".into())]
    );
    assert_eq!(
        sent(&c.on_open())[0]["type"],
        "session.start",
        "a new conversation, not a resume the server would refuse"
    );
}

#[test]
fn a_rate_limited_connection_retries_no_sooner_than_the_server_said() {
    let mut c = Connection::new(
        "ws://h/v1/session",
        Backoff {
            jitter: 0.0,
            ..Backoff::default()
        },
    );
    c.connect();
    c.on_open();
    let limited = r#"{"type":"rate_limited","retry_after_ms":10000,"limit":"concurrent_sessions"}"#;
    assert!(matches!(
        c.on_text(limited).as_slice(),
        [Command::Emit(Event::Message(
            ServerMessage::RateLimited { .. }
        ))]
    ));
    assert_eq!(
        c.on_close(1_000, 0.0),
        vec![
            Command::Emit(Event::Reconnecting {
                attempt: 1,
                in_ms: 10_000
            }),
            Command::WakeAt(11_000)
        ]
    );
    // The next plain drop is back to the usual backoff.
    c.on_timer(11_000);
    c.on_open();
    assert_eq!(
        c.on_close(12_000, 0.0)[0],
        Command::Emit(Event::Reconnecting {
            attempt: 2,
            in_ms: 500
        })
    );
}

#[test]
fn an_ended_conversation_is_not_reconnected() {
    let mut c = Connection::new("ws://h/v1/session", Backoff::default());
    c.connect();
    c.on_open();
    c.on_text(&ready("abc", "tok", false));
    let cmds = c.on_text(r#"{"type":"session.end","reason":"goodbye"}"#);
    assert!(matches!(
        cmds.as_slice(),
        [Command::Emit(Event::Message(
            ServerMessage::SessionEnd { .. }
        ))]
    ));
    assert_eq!(c.on_close(1_000, 0.5), vec![], "no reconnect");
    assert_eq!(c.session_id(), None);
}

#[test]
fn a_start_that_never_opens_gives_up_with_a_message_but_a_resume_keeps_trying() {
    let mut c = Connection::new("ws://h/v1/session?key=pk_revoked", Backoff::default());
    c.connect();
    let mut now = 0;
    let mut last = Vec::new();
    for _ in 0..START_ATTEMPTS_MAX {
        last = c.on_close(now, 0.5);
        now += 10_000;
        c.on_timer(now);
    }
    assert!(
        matches!(
            last.as_slice(),
            [Command::Emit(Event::Failed {
                code: ErrorCode::Unauthorized,
                ..
            })]
        ),
        "{last:?}"
    );
    assert_eq!(c.on_timer(now + 60_000), vec![], "no more attempts");

    // With a conversation to resume, drops are retried (within the resume window).
    let mut c = Connection::new("ws://h/v1/session", Backoff::default());
    c.connect();
    c.on_open();
    c.on_text(&ready("abc", "tok", false));
    let mut now = 1_000;
    for _ in 0..START_ATTEMPTS_MAX + 2 {
        let cmds = c.on_close(now, 0.5);
        assert!(
            matches!(
                cmds.first(),
                Some(Command::Emit(Event::Reconnecting { .. }))
            ),
            "{cmds:?}"
        );
        now += 9_000;
        c.on_timer(now);
    }
}
