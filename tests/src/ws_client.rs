//! A WebSocket client of `/v1/session`, as a browser would be.

use super::*;

/// What a session client receives.
#[derive(Debug, Clone)]
pub enum Incoming {
    Json(serde_json::Value),
    Binary(Vec<u8>),
}

impl Incoming {
    /// The `type` of a JSON message.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Json(v) => v["type"].as_str(),
            Self::Binary(_) => None,
        }
    }
}

/// A WebSocket client of `/v1/session`, as a browser would be.
pub struct SessionClient {
    ws: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    /// The code of the server's close frame, once one arrived.
    close_code: Option<u16>,
}

impl SessionClient {
    /// Connects to `url` with this `Origin` header, as a browser page there would. A refused
    /// upgrade gives its HTTP status.
    pub fn open(url: &str, origin: &str) -> Result<Self, u16> {
        Self::open_from(url, origin, None)
    }

    /// [`Self::open`] as the client at `address` (the `CF-Connecting-IP` that Cloudflare would
    /// set; the local runtime keeps one a request brings).
    pub fn open_from(url: &str, origin: &str, address: Option<&str>) -> Result<Self, u16> {
        use tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().expect("a WebSocket URL");
        if !origin.is_empty() {
            req.headers_mut()
                .insert("origin", origin.parse().expect("an origin header"));
        }
        if let Some(a) = address {
            req.headers_mut()
                .insert("cf-connecting-ip", a.parse().expect("an address"));
        }
        let ws = match tungstenite::connect(req) {
            Ok((ws, _)) => ws,
            Err(tungstenite::Error::Http(resp)) => return Err(resp.status().as_u16()),
            Err(e) => panic!("cannot connect to {url}: {e}"),
        };
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
        }
        Ok(Self {
            ws,
            close_code: None,
        })
    }

    /// Waits up to `limit` for the server to close the socket; its close code, if it did.
    pub fn closed_by_server(&mut self, limit: Duration) -> Option<u16> {
        let deadline = Instant::now() + limit;
        while self.close_code.is_none() && Instant::now() < deadline {
            let _ = self.next(Duration::from_millis(200));
        }
        self.close_code
    }

    /// Waits up to `limit` for the server to end the connection: its close code, 1006 if the
    /// connection dropped without one (a reset mid-frame), `None` if it is still open.
    pub fn ended_by_server(&mut self, limit: Duration) -> Option<u16> {
        let deadline = Instant::now() + limit;
        while self.close_code.is_none() && Instant::now() < deadline {
            if let Read::Closed | Read::Failed(_) = self.read_one() {
                return Some(1006);
            }
        }
        self.close_code
    }

    pub fn send_json(&mut self, v: serde_json::Value) {
        self.ws
            .send(tungstenite::Message::text(v.to_string()))
            .unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(tungstenite::Message::text(text)).unwrap();
    }

    /// A text frame of these bytes as they are, valid UTF-8 or not (a browser's are always
    /// valid; a hostile client's need not be). Whether it could be written (a server that
    /// closes mid-frame makes the rest fail).
    pub fn send_raw_text(&mut self, bytes: Vec<u8>) -> bool {
        use tungstenite::protocol::frame::Frame;
        use tungstenite::protocol::frame::coding::{Data, OpCode};
        let frame = Frame::message(bytes, OpCode::Data(Data::Text), true);
        self.ws.send(tungstenite::Message::Frame(frame)).is_ok()
    }

    pub fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(tungstenite::Message::binary(bytes)).unwrap();
    }

    /// The next message within `limit`, if any.
    pub fn next(&mut self, limit: Duration) -> Option<Incoming> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            // Wait no longer than asked: the socket's read timeout follows the deadline.
            let left = deadline.saturating_duration_since(Instant::now());
            if let tungstenite::stream::MaybeTlsStream::Plain(s) = self.ws.get_ref() {
                let _ = s.set_read_timeout(Some(
                    left.clamp(Duration::from_millis(1), Duration::from_millis(200)),
                ));
            }
            match self.read_one() {
                Read::Text(t) => return Some(Incoming::Json(serde_json::from_str(&t).unwrap())),
                Read::Binary(b) => return Some(Incoming::Binary(b)),
                Read::Nothing => {}
                Read::Closed => return None,
                Read::Failed(e) => panic!("the session socket failed: {e}"),
            }
        }
        None
    }

    /// One read of the socket: a message, nothing yet (a timeout, a control frame; a close
    /// frame's code is kept), the end of the connection, or a failure (a reset mid-frame).
    fn read_one(&mut self) -> Read {
        match self.ws.read() {
            Ok(tungstenite::Message::Text(t)) => Read::Text(t.as_str().to_string()),
            Ok(tungstenite::Message::Binary(b)) => Read::Binary(b.to_vec()),
            Ok(tungstenite::Message::Close(frame)) => {
                self.close_code = Some(frame.map_or(1005, |f| u16::from(f.code)));
                Read::Nothing
            }
            Ok(_) => Read::Nothing,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Read::Nothing
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Read::Closed
            }
            Err(e) => Read::Failed(e),
        }
    }

    /// Messages up to and including the first JSON message of type `kind` (within `limit`).
    pub fn until(&mut self, kind: &str, limit: Duration) -> Vec<Incoming> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Some(m) = self.next(Duration::from_millis(200)) {
                let done = m.kind() == Some(kind);
                seen.push(m);
                if done {
                    return seen;
                }
            }
        }
        panic!("no `{kind}` within {limit:?}; received: {seen:?}");
    }

    /// Starts a session (protocol v1: the client's silence ends its turns) and returns its
    /// `session.ready`.
    pub fn start(&mut self) -> serde_json::Value {
        self.start_speaking(1)
    }

    /// Starts a session speaking protocol `version` and returns its `session.ready`.
    pub fn start_speaking(&mut self, version: u32) -> serde_json::Value {
        self.send_json(
            serde_json::json!({"type": "session.start", "protocol": version, "input_sample_rate": 16000}),
        );
        match self.until("session.ready", Duration::from_secs(10)).pop() {
            Some(Incoming::Json(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.next(Duration::from_millis(300));
    }
}

/// One typed turn of `text` on a fresh session of `tenant`; returns (caption text,
/// `response.done`, errors).
pub fn typed_turn(
    tenant: &TestTenant,
    text: &str,
) -> (String, serde_json::Value, Vec<serde_json::Value>) {
    let mut client = tenant.connect("");
    client.start();
    client.send_json(serde_json::json!({"type": "input.text", "text": text}));
    let messages = client.until("response.done", Duration::from_secs(20));
    client.close();
    let mut caption = String::new();
    let mut errors = Vec::new();
    let mut done = serde_json::Value::Null;
    for m in messages {
        if let Incoming::Json(v) = m {
            match v["type"].as_str() {
                Some("response.text_delta") => caption.push_str(v["delta"].as_str().unwrap()),
                Some("error") => errors.push(v),
                Some("response.done") => done = v,
                _ => {}
            }
        }
    }
    (caption, done, errors)
}

/// Speech (a tone) on `stream_id`: frames `seqs` of 20 ms each.
pub fn send_speech(client: &mut SessionClient, stream_id: u32, seqs: std::ops::Range<u32>) {
    let tone: Vec<i16> = (0..320)
        .map(|i| ((i as f32 * 0.3).sin() * 8_000.0) as i16)
        .collect();
    for seq in seqs {
        client.send_binary(input_frame(stream_id, seq, &tone));
    }
}

/// An input audio frame of the protocol: `samples` of 16 kHz mono on `stream_id`.
pub fn input_frame(stream_id: u32, seq: u32, samples: &[i16]) -> Vec<u8> {
    let header = aura_protocol::FrameHeader::input(stream_id, seq, samples.len() as u16);
    let mut out = Vec::new();
    aura_protocol::AudioFrame::encode(&header, samples, &mut out).expect("a valid frame");
    out
}

/// The status of an upgrade to `url` from `origin` (101 if it was accepted).
pub fn upgrade_status(url: &str, origin: &str) -> u16 {
    match SessionClient::open(url, origin) {
        Ok(c) => {
            c.close();
            101
        }
        Err(status) => status,
    }
}

/// What one read of a session socket gave ([`SessionClient`]'s `read_one`).
enum Read {
    Text(String),
    Binary(Vec<u8>),
    Nothing,
    Closed,
    Failed(tungstenite::Error),
}
