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
mod tests;
