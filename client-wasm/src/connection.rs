//! The browser's session connection, sans-IO: opening the WebSocket, starting or resuming the
//! session, and reconnecting with exponential backoff after a drop, resuming the same
//! conversation. The main-thread adapter (`wasm.rs`) executes the [`Command`]s it returns and
//! feeds it the socket's events and the clock.

use aura_protocol::{
    ClientMessage, ErrorCode, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, ServerMessage, SessionResume,
    SessionStart,
};

/// Reconnect timing. Defaults: 250 ms, doubling to at most 8 s, with up to 20% jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial_ms: u32,
    pub max_ms: u32,
    /// Fraction of the delay added at random, so many clients do not reconnect in step.
    pub jitter: f32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_ms: 250,
            max_ms: 8_000,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before reconnect attempt `attempt` (1-based), given a random number in [0, 1).
    pub fn delay_ms(&self, attempt: u32, random: f32) -> u32 {
        let base = (u64::from(self.initial_ms) << attempt.saturating_sub(1).min(16))
            .min(u64::from(self.max_ms)) as f32;
        (base * (1.0 + self.jitter * random.clamp(0.0, 1.0))) as u32
    }
}

/// What the adapter must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a WebSocket to this URL (closing any old one).
    Open(String),
    /// Send this text message.
    Send(String),
    /// Call `on_timer` at (or after) this time, in ms.
    WakeAt(u64),
    /// Tell the page.
    Emit(Event),
}

/// What the page hears about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The session is ready; `resumed` when it continues an earlier connection's conversation.
    /// `end_of_turn_fallback_ms` (v2): the edge ends spoken turns (`turn.committed`) and the
    /// client only after this silence; `None` (v1): the client's silence ends them.
    Ready {
        session_id: String,
        resumed: bool,
        end_of_turn_fallback_ms: Option<u32>,
    },
    /// The connection dropped; reconnecting in `in_ms`.
    Reconnecting { attempt: u32, in_ms: u32 },
    /// A message from the server for the page (captions, replies, errors, limits).
    Message(ServerMessage),
    /// The session was refused for good (e.g. unauthorized); no more reconnects.
    Failed { code: ErrorCode, message: String },
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Idle,
    Connecting,
    /// Open; `session.start` or `session.resume` sent.
    Handshake {
        resuming: bool,
    },
    Ready,
    Waiting {
        until_ms: u64,
    },
    Closed,
}

/// The connection state machine.
#[derive(Debug, Clone)]
pub struct Connection {
    url: String,
    backoff: Backoff,
    state: State,
    session: Option<(String, String)>,
    attempt: u32,
    language: Option<String>,
    voice: Option<String>,
    /// The protocol version asked for in `session.start` and `session.resume`.
    protocol: u32,
    /// How long the server keeps a dropped conversation resumable (from `session.ready`).
    resume_window_ms: u64,
    /// When the current run of failed attempts began (the first drop after ready).
    dropped_at_ms: Option<u64>,
    /// The server's `retry_after_ms` from a `rate_limited` refusal of this connection: the
    /// next attempt waits at least this long.
    retry_after_ms: Option<u32>,
    /// Attempts in a row that never opened (a refused upgrade looks like this to a browser:
    /// a wrong key or origin, or no network).
    unopened: u32,
}

/// Attempts in a row to start a conversation that never open before the client gives up and
/// says so (about 16 s with the default backoff). Resuming keeps trying within its window.
pub const START_ATTEMPTS_MAX: u32 = 6;

impl Connection {
    /// A connection to the session endpoint at `url` (e.g. `wss://example.com/v1/session`).
    pub fn new(url: impl Into<String>, backoff: Backoff) -> Self {
        Self {
            url: url.into(),
            backoff,
            state: State::Idle,
            session: None,
            attempt: 0,
            language: None,
            voice: None,
            protocol: PROTOCOL_VERSION,
            resume_window_ms: 0,
            dropped_at_ms: None,
            retry_after_ms: None,
            unopened: 0,
        }
    }

    /// The user's language, sent with `session.start`.
    pub fn set_language(&mut self, language: Option<String>) {
        self.language = language;
    }

    /// The reply voice the page asks for, sent with `session.start`.
    pub fn set_voice(&mut self, voice: Option<String>) {
        self.voice = voice;
    }

    /// Speaks protocol `version` (clamped to the versions this build speaks) from the next
    /// `session.start`: 1 keeps the v1 turn-taking (the client's silence ends every turn).
    pub fn set_protocol(&mut self, version: u32) {
        self.protocol = version.clamp(MIN_PROTOCOL_VERSION, PROTOCOL_VERSION);
    }

    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// The session to resume after a drop, if one was established.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.0.as_str())
    }

    /// Starts connecting.
    pub fn connect(&mut self) -> Vec<Command> {
        self.state = State::Connecting;
        vec![Command::Open(self.url_for_attempt())]
    }

    /// The URL names the conversation to resume but never carries its token: URLs end up in
    /// logs and histories. The token goes in the first message, `session.resume`.
    fn url_for_attempt(&self) -> String {
        match &self.session {
            Some((id, _token)) => format!(
                "{}{}session={}",
                self.url,
                if self.url.contains('?') { '&' } else { '?' },
                query_escape(id),
            ),
            None => self.url.clone(),
        }
    }

    /// The socket opened: start a new session or resume the last one.
    pub fn on_open(&mut self) -> Vec<Command> {
        self.unopened = 0;
        let (msg, resuming) = match &self.session {
            Some((session_id, token)) => (
                ClientMessage::SessionResume(SessionResume {
                    protocol: self.protocol,
                    session_id: session_id.clone(),
                    token: token.clone(),
                }),
                true,
            ),
            None => (
                ClientMessage::SessionStart(SessionStart {
                    protocol: self.protocol,
                    input_sample_rate: aura_protocol::limits::INPUT_SAMPLE_RATE,
                    output_sample_rate: Some(24_000),
                    language: self.language.clone(),
                    voice: self.voice.clone(),
                }),
                false,
            ),
        };
        self.state = State::Handshake { resuming };
        vec![Command::Send(msg.to_json())]
    }

    /// A text message arrived.
    pub fn on_text(&mut self, text: &str) -> Vec<Command> {
        let Ok(msg) = ServerMessage::parse(text) else {
            return Vec::new(); // a message this version does not know is ignored
        };
        match (&self.state, msg) {
            (State::Handshake { resuming }, ServerMessage::SessionReady(ready)) => {
                let resumed = ready.resumed && *resuming;
                self.session = Some((ready.session_id.clone(), ready.token.clone()));
                self.state = State::Ready;
                self.attempt = 0;
                self.resume_window_ms = u64::from(ready.resume_window_s) * 1000;
                self.dropped_at_ms = None;
                vec![Command::Emit(Event::Ready {
                    session_id: ready.session_id,
                    resumed,
                    end_of_turn_fallback_ms: ready.end_of_turn_fallback_ms,
                })]
            }
            (
                State::Handshake { resuming: true },
                ServerMessage::Error {
                    code: ErrorCode::SessionExpired | ErrorCode::Unauthorized,
                    ..
                },
            ) => {
                // The old conversation cannot be resumed: start a new one on a fresh connection.
                self.session = None;
                self.connect()
            }
            (
                State::Handshake { resuming: false },
                ServerMessage::Error {
                    code: code @ (ErrorCode::Unauthorized | ErrorCode::UnsupportedVersion),
                    message,
                    ..
                },
            ) => {
                self.state = State::Closed;
                vec![Command::Emit(Event::Failed { code, message })]
            }
            (
                State::Handshake { .. },
                ServerMessage::RateLimited {
                    retry_after_ms,
                    limit,
                },
            ) => {
                // Refused at admission (too many sessions): the server closes the socket; the
                // next attempt waits as long as it said.
                self.retry_after_ms = Some(retry_after_ms);
                vec![Command::Emit(Event::Message(ServerMessage::RateLimited {
                    retry_after_ms,
                    limit,
                }))]
            }
            (_, msg @ ServerMessage::SessionEnd { .. }) => {
                // The assistant ended the conversation: no reconnect after the socket closes.
                self.state = State::Closed;
                self.session = None;
                vec![Command::Emit(Event::Message(msg))]
            }
            (_, ServerMessage::SessionToken { token, .. }) => {
                // A fresh token for the same conversation: resumes use it from now on.
                if let Some(session) = self.session.as_mut() {
                    session.1 = token;
                }
                Vec::new()
            }
            (_, msg) => vec![Command::Emit(Event::Message(msg))],
        }
    }

    /// The socket closed or failed at `now_ms`: schedule a reconnect (`random` in [0, 1) for
    /// jitter). Nothing after `close`.
    pub fn on_close(&mut self, now_ms: u64, random: f32) -> Vec<Command> {
        if matches!(self.state, State::Closed | State::Idle) {
            return Vec::new();
        }
        if self.state == State::Connecting {
            self.unopened += 1;
            if self.session.is_none() && self.unopened >= START_ATTEMPTS_MAX {
                self.state = State::Closed;
                return vec![Command::Emit(Event::Failed {
                    code: ErrorCode::Unauthorized,
                    message: "cannot connect to the assistant: check the key, this page's origin and the network".into(),
                })];
            }
        }
        self.attempt += 1;
        self.dropped_at_ms.get_or_insert(now_ms);
        let in_ms = self
            .backoff
            .delay_ms(self.attempt, random)
            .max(self.retry_after_ms.take().unwrap_or(0));
        self.state = State::Waiting {
            until_ms: now_ms + u64::from(in_ms),
        };
        vec![
            Command::Emit(Event::Reconnecting {
                attempt: self.attempt,
                in_ms,
            }),
            Command::WakeAt(now_ms + u64::from(in_ms)),
        ]
    }

    /// A timer fired at `now_ms`.
    pub fn on_timer(&mut self, now_ms: u64) -> Vec<Command> {
        match self.state {
            State::Waiting { until_ms } if now_ms >= until_ms => {
                // Past the resume window the server would refuse the resume (a refused upgrade
                // is invisible to a browser): start a new conversation instead.
                let dropped = self.dropped_at_ms.unwrap_or(now_ms);
                if now_ms.saturating_sub(dropped) > self.resume_window_ms {
                    self.session = None;
                }
                self.connect()
            }
            State::Waiting { until_ms } => vec![Command::WakeAt(until_ms)],
            _ => Vec::new(),
        }
    }

    /// The user ended the conversation: no more reconnects.
    pub fn close(&mut self) {
        self.state = State::Closed;
    }
}

/// Percent-encodes everything but unreserved URL characters.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
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
        let cmds = c.on_text(
            r#"{"type":"error","code":"session_expired","message":"m","retryable":false}"#,
        );
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
        let cmds = c.on_text(
            r#"{"type":"error","code":"unauthorized","message":"bad key","retryable":false}"#,
        );
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
        let limited =
            r#"{"type":"rate_limited","retry_after_ms":10000,"limit":"concurrent_sessions"}"#;
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
}
