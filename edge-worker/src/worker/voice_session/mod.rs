//! The voice session Durable Object: one conversation, its WebSocket (hibernation API) and its
//! history (SQLite). An adapter: protocol decisions come from [`crate::session::protocol`], every decision
//! of a reply from the turn core ([`crate::session::turn`]), whose commands [`crate::worker::turn_io`] performs;
//! this file asks the tenant's object for turns, transcribes, and keeps the history.

use std::cell::RefCell;
use std::collections::BTreeMap;

use aura_protocol::{ErrorCode, ResponseStatus, ServerMessage, SessionReady};
use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{
    Delay, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, console_log, durable_object,
};

use crate::providers::config::ProviderConfig;
use crate::providers::router::{Router as LlmRouter, RouterConfig};
use crate::session::connection_turns::ConnectionTurns;
use crate::session::conversation::{Role, build_context};
use crate::session::heard::{SpokenChunk, heard};
use crate::session::protocol::{Action, Session};
use crate::session::token::Claims;
use crate::session::turn::config::TTS_RATE;
use crate::session::turn::{ProviderFailure, Turn, TurnConfig, TurnInput, TurnOutcome};
use crate::tenant::key_vault::{MasterKeys, aad, usable_keys};
use crate::tenant::rpc::{ReleaseRequest, TurnAnswer, UsageReport};
use crate::tenant::settings::SttApi;
use crate::tenant::settings::TenantId;
use crate::worker::entry::{
    CLIENT_HEADER, CONNECTION_HEADER, CONVERSATION_HEADER, KEY_HEADER, RESUME_HEADER, call, signer,
    tenant_stub,
};
use crate::worker::provider_http::{self, Auth, SendError};
use crate::worker::runtime::now_ms;
use crate::worker::stt_stream::{self, LiveUtterance};
use crate::worker::tenant_object::TENANT_HEADER;
use crate::worker::turn_io::{Control, TurnIo};
use aura_protocol::{SessionResume, SessionStart};

mod grant;
mod lifecycle;
mod pauses;
mod reply;
mod slot;
mod store;
mod utterance;

use grant::PendingGrant;
use reply::{ReplyMode, UserTurn};
use slot::{Attachment, attachment};
use store::{ConversationStore, Meta};

/// How long a disconnected conversation can be resumed.
const RESUME_WINDOW_S: u32 = 120;
/// (v2) The silence after which the client ends a turn on its own when the edge has not
/// committed it: above every eagerness's hard cap, so it fires only when the edge is silent.
const END_OF_TURN_FALLBACK_MS: u32 = 4_000;
/// How long a session token is valid. A fresh one is sent (`session.token`) at a turn once the
/// current one is past half its life, so a long conversation can always resume.
const TOKEN_TTL_S: u64 = 15 * 60;

/// The turn in flight (one at a time): its reply id once it has one, the channel that tells it
/// of an interruption, and the signal that it has ended (for the turn that supersedes it).
struct ActiveReply {
    /// Which turn this is, among this object's turns.
    seq: u64,
    response_id: Option<u32>,
    control: mpsc::UnboundedSender<Control>,
    finished: Option<oneshot::Receiver<()>>,
}

#[durable_object]
pub struct VoiceSession {
    state: State,
    env: Env,
    /// The history and the conversation's facts, in the object's SQLite.
    store: ConversationStore,
    /// Each open socket's protocol state, by its connection id: a resuming connection waits
    /// beside the live one until its `session.resume` takes the conversation over.
    sessions: RefCell<BTreeMap<String, Session>>,
    /// A connection's takeover is waiting for the tenant's object ([`crate::session::resume`]).
    takeover_in_flight: std::cell::Cell<bool>,
    active: RefCell<Option<ActiveReply>>,
    /// Turns started on this object, for [`ActiveReply::seq`].
    turns: std::cell::Cell<u64>,
    /// LLM routing state (circuit breakers) for this conversation.
    router: RefCell<Option<LlmRouter>>,
    /// The turn asked for when the user started speaking.
    granted: RefCell<Option<PendingGrant>>,
    /// The open utterance's streaming STT, if the tenant's STT is a live one.
    live: RefCell<Option<LiveUtterance>>,
    /// This conversation's turns in the last minute, over its connections (a reconnect does
    /// not reset them).
    connection_turns: RefCell<ConnectionTurns>,
    /// (v2) The open utterance's end of turn, while the edge decides it.
    turn_end: RefCell<Option<pauses::OpenTurnEnd>>,
    /// (v2) How the committed turn's end was decided, for its speculative reply's metrics.
    committed_end: RefCell<Option<crate::session::turn_end::EndOfTurn>>,
}

impl DurableObject for VoiceSession {
    fn new(state: State, env: Env) -> Self {
        // Also after hibernation: the object is rebuilt when its socket wakes it.
        console_log!("{}", json!({"event": "session_object_start"}));
        let store = ConversationStore::new(state.storage().sql());
        Self {
            state,
            env,
            store,
            sessions: RefCell::new(BTreeMap::new()),
            takeover_in_flight: std::cell::Cell::new(false),
            active: RefCell::new(None),
            turns: std::cell::Cell::new(0),
            router: RefCell::new(None),
            granted: RefCell::new(None),
            live: RefCell::new(None),
            connection_turns: RefCell::new(ConnectionTurns::default()),
            turn_end: RefCell::new(None),
            committed_end: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.method() == Method::Delete && req.path() == "/admin/conversation" {
            return self.on_admin_delete(&req).await;
        }
        if req.method() == Method::Get && req.path() == "/admin/identity" {
            return self.on_admin_identity();
        }
        let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Response::error("expected a WebSocket upgrade", 426);
        }
        // Whose conversation this is: set by the Worker after admission, the same on every
        // connection (the object's name is derived from both).
        let tenant = req.headers().get(TENANT_HEADER)?.unwrap_or_default();
        let conversation = req.headers().get(CONVERSATION_HEADER)?.unwrap_or_default();
        let connection = req.headers().get(CONNECTION_HEADER)?.unwrap_or_default();
        let client = req.headers().get(CLIENT_HEADER)?.unwrap_or_default();
        let publishable_key = req.headers().get(KEY_HEADER)?.unwrap_or_default();
        let origin = req.headers().get("origin")?.unwrap_or_default();
        if tenant.is_empty() || conversation.is_empty() || connection.is_empty() {
            return Response::error("not admitted", 403);
        }
        let resume = req.headers().get(RESUME_HEADER)?.as_deref() == Some("1");
        // A resume names a conversation id the client chose, its token not yet seen: one this
        // object never had (made up, or deleted) creates no storage.
        if resume && !self.store.exists()? {
            return self.refuse_gone_conversation();
        }
        self.store.ensure_schema()?;
        match (
            self.store.get(Meta::Tenant)?,
            self.store.get(Meta::Conversation)?,
        ) {
            // A resume of a conversation this object no longer has (deleted, or expired and
            // cleared): it is not recreated.
            (None, None) if resume => {
                return self.refuse_gone_conversation();
            }
            (None, None) => {
                self.store.set(Meta::Tenant, &tenant)?;
                self.store.set(Meta::Conversation, &conversation)?;
            }
            (Some(t), Some(c)) if t == tenant && c == conversation => {}
            _ => return Response::error("not admitted", 403),
        }
        // One live connection per conversation, but a reconnect replaces the live socket only
        // once its `session.resume` proves the latest token (`on_resume`): until then it holds
        // no lease and the live socket goes on.
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        let now = now_ms();
        pair.server.serialize_attachment(Attachment {
            started: false,
            accepted_ms: now,
            connection,
            client,
            publishable_key,
            origin,
            protocol: 0,
            resume,
        })?;
        self.wake_at(crate::session::alarm::after_accept(now))
            .await?;
        let connection = attachment(&pair.server).connection;
        self.sessions
            .borrow_mut()
            .insert(connection, Session::new());
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let actions = {
            let mut sessions = self.sessions.borrow_mut();
            let a = attachment(&ws);
            // Woken from hibernation: the attachment says whether the session had started.
            let session = sessions
                .entry(a.connection)
                .or_insert_with(|| Session::restored(a.started));
            match &message {
                WebSocketIncomingMessage::String(text) => session.on_text(text),
                WebSocketIncomingMessage::Binary(bytes) => session.on_binary(bytes, now_ms()),
            }
        };
        for action in actions {
            self.run(&ws, action).await?;
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // Close our side too, or workerd reports a hung worker.
        let _ = ws.close(Some(1000), Some("closed"));
        self.on_socket_gone(&ws).await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.on_socket_gone(&ws).await
    }

    async fn alarm(&self) -> Result<Response> {
        self.on_alarm().await?;
        Response::ok("")
    }
}

fn log_audio_loss(stream_id: u32, frames_expected: u32, frames_received: u32) {
    if frames_expected != frames_received {
        console_log!(
            "{}",
            json!({"event": "audio_loss", "stream_id": stream_id, "frames_expected": frames_expected, "frames_received": frames_received})
        );
    }
}

fn send(ws: &WebSocket, msg: &ServerMessage) -> Result<()> {
    ws.send_with_str(msg.to_json())
}

fn send_error(ws: &WebSocket, code: ErrorCode, message: &str) -> Result<()> {
    send(ws, &ServerMessage::error(code, message))
}

impl VoiceSession {
    fn tenant(&self) -> Result<TenantId> {
        Ok(self.store.identity()?.0)
    }

    fn conversation(&self) -> Result<String> {
        Ok(self.store.identity()?.1)
    }

    async fn run(&self, ws: &WebSocket, action: Action) -> Result<()> {
        match action {
            Action::Send(msg) => send(ws, &msg),
            Action::Log(record) => {
                console_log!("{record}");
                Ok(())
            }
            Action::Start(start) => self.on_start(ws, &start),
            Action::Resume(r) => self.on_resume(ws, &r).await,
            Action::Respond { text } => self.on_text(ws, text).await,
            Action::Transcribe {
                stream_id,
                wav,
                frames_expected,
                frames_received,
            } => {
                log_audio_loss(stream_id, frames_expected, frames_received);
                // (v2) The client's fallback: the edge's driver commits at once.
                match self.on_turn_end_news(stream_id, Some(wav)) {
                    None => Ok(()),
                    Some(wav) => self.on_utterance_end(ws, stream_id, wav).await,
                }
            }
            Action::Paused {
                stream_id,
                wav,
                silence_ms,
                frames_expected,
                frames_received,
            } => {
                log_audio_loss(stream_id, frames_expected, frames_received);
                // A v1 session's turns end by the client's silence alone.
                if attachment(ws).protocol < 2 {
                    return Ok(());
                }
                self.on_paused(ws, stream_id, wav, silence_ms).await
            }
            Action::Resumed { stream_id } => {
                self.on_turn_end_news(stream_id, None);
                Ok(())
            }
            Action::UtteranceStarted { stream_id, pcm } => {
                self.on_utterance_start(ws, stream_id, &pcm).await
            }
            Action::UtteranceAudio { stream_id, pcm } => {
                self.on_utterance_audio(stream_id, &pcm);
                Ok(())
            }
            Action::Cancel {
                response_id,
                played_ms,
            } => self.on_cancel(response_id, played_ms),
            Action::Close { code, reason } => {
                console_log!("{}", json!({"event": "socket_closed", "code": code}));
                let _ = ws.close(Some(code), Some(reason));
                self.release(ws).await;
                Ok(())
            }
        }
    }
}
