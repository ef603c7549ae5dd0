//! The main-thread session client for the browser: runs [`crate::connection::Connection`] over
//! a real WebSocket and timers (web-sys), and builds every message the page sends from the
//! protocol crate. Thin: all decisions are in `connection`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use aura_protocol::{ClientMessage, ServerMessage};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::connection::{Backoff, Command, Connection, Event};
use crate::records::{Record, records};
use crate::resend::{Outgoing, UtteranceResend};

/// A socket event handler.
type Handler = Closure<dyn FnMut(JsValue)>;

struct Inner {
    conn: RefCell<Connection>,
    socket: RefCell<Option<WebSocket>>,
    /// `(kind, json)`: "ready", "reconnecting", "message", "failed".
    on_event: js_sys::Function,
    /// `(ArrayBuffer)`: a binary reply frame, for the worklet.
    on_audio: js_sys::Function,
    /// The socket's handlers, kept alive while it is open.
    handlers: RefCell<Vec<Handler>>,
    /// The open utterance, sent again when a session becomes ready after a drop.
    resend: RefCell<UtteranceResend>,
}

/// A voice session connection, for the page's JavaScript.
#[wasm_bindgen]
pub struct SessionClient {
    inner: Rc<Inner>,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn exec(inner: &Rc<Inner>, commands: Vec<Command>) {
    for command in commands {
        match command {
            Command::Open(url) => open(inner, &url),
            Command::Send(text) => {
                if let Some(ws) = inner.socket.borrow().as_ref() {
                    let _ = ws.send_with_str(&text);
                }
            }
            Command::WakeAt(at) => {
                let weak = Rc::downgrade(inner);
                let wake = Closure::once_into_js(move || {
                    if let Some(inner) = weak.upgrade() {
                        let cmds = inner.conn.borrow_mut().on_timer(now_ms());
                        exec(&inner, cmds);
                    }
                });
                if let Some(window) = web_sys::window() {
                    let delay = at.saturating_sub(now_ms()).min(i32::MAX as u64) as i32;
                    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                        wake.unchecked_ref(),
                        delay,
                    );
                }
            }
            Command::Emit(event) => emit(inner, event),
        }
    }
}

fn emit(inner: &Inner, event: Event) {
    match &event {
        Event::Ready { .. } => resend_open_utterance(inner),
        Event::Message(ServerMessage::TurnCommitted { stream_id }) => {
            inner.resend.borrow_mut().committed(*stream_id)
        }
        _ => {}
    }
    let (kind, payload) = match event {
        Event::Ready {
            session_id,
            resumed,
            end_of_turn_fallback_ms,
        } => (
            "ready",
            serde_json::json!({
                "session_id": session_id,
                "resumed": resumed,
                "end_of_turn_fallback_ms": end_of_turn_fallback_ms,
            })
            .to_string(),
        ),
        Event::Reconnecting { attempt, in_ms } => (
            "reconnecting",
            serde_json::json!({"attempt": attempt, "in_ms": in_ms}).to_string(),
        ),
        Event::Message(msg) => ("message", msg.to_json()),
        Event::Failed { code, message } => (
            "failed",
            serde_json::json!({"code": code, "message": message}).to_string(),
        ),
    };
    let _ = inner
        .on_event
        .call2(&JsValue::NULL, &kind.into(), &payload.into());
}

/// A session is ready: the utterance a drop cut (or spoken before it was ready) goes first.
fn resend_open_utterance(inner: &Inner) {
    let Some(ws) = inner.socket.borrow().clone() else {
        return;
    };
    for out in inner.resend.borrow_mut().on_ready() {
        let _ = match out {
            Outgoing::Text(msg) => ws.send_with_str(&msg.to_json()),
            Outgoing::Frame(bytes) => ws.send_with_u8_array(&bytes),
        };
    }
}

fn open(inner: &Rc<Inner>, url: &str) {
    if let Some(old) = inner.socket.borrow_mut().take() {
        old.set_onopen(None);
        old.set_onmessage(None);
        old.set_onclose(None);
        let _ = old.close();
    }
    inner.handlers.borrow_mut().clear();
    let ws = match WebSocket::new(url) {
        Ok(ws) => ws,
        Err(_) => {
            let cmds = inner
                .conn
                .borrow_mut()
                .on_close(now_ms(), js_sys::Math::random() as f32);
            exec(inner, cmds);
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let handler = |inner: &Rc<Inner>, f: fn(&Rc<Inner>, JsValue)| {
        let weak: Weak<Inner> = Rc::downgrade(inner);
        Handler::new(move |e: JsValue| {
            if let Some(inner) = weak.upgrade() {
                f(&inner, e);
            }
        })
    };
    let onopen = handler(inner, |inner, _| {
        let cmds = inner.conn.borrow_mut().on_open();
        exec(inner, cmds);
    });
    let onmessage = handler(inner, |inner, e| {
        let Ok(e) = e.dyn_into::<MessageEvent>() else {
            return;
        };
        let data = e.data();
        if let Some(text) = data.as_string() {
            let cmds = inner.conn.borrow_mut().on_text(&text);
            exec(inner, cmds);
        } else if data.is_instance_of::<js_sys::ArrayBuffer>() {
            let _ = inner.on_audio.call1(&JsValue::NULL, &data);
        }
    });
    let onclose = handler(inner, |inner, e| {
        let _ = e.dyn_into::<CloseEvent>();
        let cmds = inner
            .conn
            .borrow_mut()
            .on_close(now_ms(), js_sys::Math::random() as f32);
        exec(inner, cmds);
    });
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    *inner.handlers.borrow_mut() = vec![onopen, onmessage, onclose];
    *inner.socket.borrow_mut() = Some(ws);
}

#[wasm_bindgen]
impl SessionClient {
    /// A client for the session endpoint `url` (`wss://host/v1/session`). `on_event(kind, json)`
    /// hears "ready", "reconnecting", "message" (any server message) and "failed";
    /// `on_audio(ArrayBuffer)` receives reply audio frames for the worklet.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: String,
        on_event: js_sys::Function,
        on_audio: js_sys::Function,
    ) -> SessionClient {
        let inner = Rc::new(Inner {
            conn: RefCell::new(Connection::new(url, Backoff::default())),
            socket: RefCell::new(None),
            on_event,
            on_audio,
            handlers: RefCell::new(Vec::new()),
            resend: RefCell::new(UtteranceResend::new()),
        });
        SessionClient { inner }
    }

    /// The user's language and the reply voice, sent when a conversation starts. `language`
    /// (the page's `data-language` or `navigator.language`) is sent if it is a BCP 47 tag, else
    /// `page_language` (the page's `<html lang>`) if it is one, else `en`
    /// ([`crate::language::choose_language`]).
    #[wasm_bindgen(js_name = setPreferences)]
    pub fn set_preferences(
        &self,
        language: Option<String>,
        voice: Option<String>,
        page_language: Option<String>,
    ) {
        let mut conn = self.inner.conn.borrow_mut();
        conn.set_language(Some(crate::language::choose_language([
            language.as_deref(),
            page_language.as_deref(),
        ])));
        conn.set_voice(voice.filter(|v| !v.is_empty()));
    }

    /// The protocol version to speak (call before `connect`): 2 by default (the edge ends
    /// spoken turns), 1 for the old turn-taking (the client's silence ends every turn).
    #[wasm_bindgen(js_name = setProtocol)]
    pub fn set_protocol(&self, version: u32) {
        self.inner.conn.borrow_mut().set_protocol(version);
    }

    /// Connects (and keeps reconnecting after drops until `close`).
    pub fn connect(&self) {
        let cmds = self.inner.conn.borrow_mut().connect();
        exec(&self.inner, cmds);
    }

    #[wasm_bindgen(getter)]
    pub fn ready(&self) -> bool {
        self.inner.conn.borrow().is_ready()
    }

    fn send(&self, msg: ClientMessage) -> bool {
        if !self.ready() {
            return false;
        }
        exec(&self.inner, vec![Command::Send(msg.to_json())]);
        true
    }

    /// Sends a typed turn. False if not connected (or the text is empty or too long).
    #[wasm_bindgen(js_name = sendText)]
    pub fn send_text(&self, text: String) -> bool {
        let msg = ClientMessage::InputText { text };
        msg.validate().is_ok() && self.send(msg)
    }

    /// Acts on the worklet's records (`AudioEngine.takeRecords`), in their order: each event
    /// becomes its protocol message (`input.speech_started`, `input.speech_paused`,
    /// `response.cancel`, ...) and the page's `on_event` ("speech", "barge_in",
    /// "reply_played"); each frame is sent as one binary message. Returns the frames sent. A
    /// malformed record ends the batch: the engine writes whole records.
    #[wasm_bindgen(js_name = dispatchRecords)]
    pub fn dispatch_records(&self, bytes: &[u8]) -> u32 {
        let mut sent = 0;
        for record in records(bytes).map_while(Result::ok) {
            let ready = self.ready();
            self.inner.resend.borrow_mut().record(&record, ready);
            match record {
                Record::Frame(frame) => sent += u32::from(self.send_frame(frame)),
                Record::Event(event) => {
                    if let Some(msg) = event.message() {
                        self.send(msg);
                    }
                    let (kind, data) = event.page_event();
                    let _ = self.inner.on_event.call2(
                        &JsValue::NULL,
                        &kind.into(),
                        &data.to_string().into(),
                    );
                }
            }
        }
        sent
    }

    fn send_frame(&self, frame: &[u8]) -> bool {
        let socket = self.inner.socket.borrow();
        match (socket.as_ref(), self.ready()) {
            (Some(ws), true) => ws.send_with_u8_array(frame).is_ok(),
            _ => false,
        }
    }

    /// Ends the conversation: closes the socket, no more reconnects.
    pub fn close(&self) {
        self.inner.conn.borrow_mut().close();
        if let Some(ws) = self.inner.socket.borrow_mut().take() {
            ws.set_onclose(None);
            let _ = ws.close();
        }
        self.inner.handlers.borrow_mut().clear();
    }
}
