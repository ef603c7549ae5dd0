//! The voice session Durable Object: one conversation, its WebSocket (hibernation API) and its
//! history (SQLite). A thin adapter: protocol decisions come from [`crate::session`], text
//! handling from [`crate::chat_stream`], [`crate::sentence`], [`crate::heard`] and
//! [`crate::conversation`]; this file only moves bytes between them, the socket and the
//! providers.

use std::cell::RefCell;

use aura_protocol::{
    AudioFrame, ErrorCode, FrameFlags, FrameHeader, FrameKind, ResponseStatus, ServerMessage,
    SessionReady, TurnMetrics,
};
use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::{self, Either};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::JsCast;
use worker::{
    AbortController, AbortSignal, Date, Delay, DurableObject, Env, Fetch, Headers, Method, Request,
    RequestInit, Response, Result, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
    console_log, durable_object,
};

use crate::chat_stream::{ChatEvent, ChatStream};
use crate::conversation::{Message, Role, build_context};
use crate::entry::{CONVERSATION_HEADER, call, signer, tenant_stub};
use crate::heard::{SpokenChunk, heard};
use crate::key_vault::{MasterKeys, aad, usable_keys};
use crate::llm_router::{
    Failure, Next, Request as RouteRequest, Route, Router as LlmRouter, RouterConfig,
};
use crate::provider_config::{ProviderConfig, ProviderEndpoint};
use crate::runtime::now_ms;
use crate::sentence::{CutterConfig, SentenceCutter, speakable};
use crate::session::{Action, Session};
use crate::session_token::Claims;
use crate::stt_stream::{self, LiveUtterance};
use crate::tenant::SttApi;
use crate::tenant::TenantId;
use crate::tenant_object::TENANT_HEADER;
use crate::tenant_rpc::{ReleaseRequest, TurnAnswer, TurnRequest, UsageReport};
use crate::tool_calls::{ToolCall, ToolCallAssembler};
use crate::tool_runner;

/// Reply audio rate: OpenAI-style `pcm` is 24 kHz s16le mono.
const TTS_RATE: u32 = 24_000;
/// Samples per 20 ms reply frame.
const FRAME_SAMPLES: usize = 480;
/// How long a disconnected conversation can be resumed.
const RESUME_WINDOW_S: u32 = 120;
/// LLM steps with tool calls in one turn, at most; then the model must answer.
const TOOL_STEPS_MAX: usize = 4;
/// A tool slower than this gets a short spoken filler.
const FILLER_AFTER_MS: u64 = 800;
const FILLER: &str = "One moment, let me check.";

/// How long a session token is valid. A fresh one is sent (`session.token`) at a turn once the
/// current one is past half its life, so a long conversation can always resume.
const TOKEN_TTL_S: u64 = 15 * 60;

#[derive(Serialize, Deserialize)]
struct Attachment {
    started: bool,
}

struct ActiveReply {
    id: u32,
    /// Aborts the reply's TTS requests.
    abort: Option<AbortController>,
    /// Aborts the LLM attempt in flight (each attempt has its own, so a first-token timeout
    /// ends only that attempt).
    llm_abort: Option<AbortController>,
    /// Set by `response.cancel`: how much of the reply the user heard.
    cancelled_at_ms: Option<u32>,
}

#[durable_object]
pub struct VoiceSession {
    state: State,
    env: Env,
    session: RefCell<Option<Session>>,
    active: RefCell<Option<ActiveReply>>,
    /// LLM routing state (circuit breakers) for this conversation.
    router: RefCell<Option<LlmRouter>>,
    /// The turn asked for when the user started speaking.
    granted: RefCell<Option<Grant>>,
    /// The open utterance's streaming STT, if the tenant's STT is a live one.
    live: RefCell<Option<LiveUtterance>>,
    /// Set by the `end_conversation` tool: the reason, to send once the reply is done.
    ending: RefCell<Option<String>>,
}

impl DurableObject for VoiceSession {
    fn new(state: State, env: Env) -> Self {
        // Also after hibernation: the object is rebuilt when its socket wakes it.
        console_log!("{}", json!({"event": "session_object_start"}));
        Self {
            state,
            env,
            session: RefCell::new(None),
            active: RefCell::new(None),
            router: RefCell::new(None),
            granted: RefCell::new(None),
            live: RefCell::new(None),
            ending: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Response::error("expected a WebSocket upgrade", 426);
        }
        self.ensure_schema()?;
        // Whose conversation this is: set by the Worker after admission, the same on every
        // connection (the object's name is derived from both).
        let tenant = req.headers().get(TENANT_HEADER)?.unwrap_or_default();
        let conversation = req.headers().get(CONVERSATION_HEADER)?.unwrap_or_default();
        if tenant.is_empty() || conversation.is_empty() {
            return Response::error("not admitted", 403);
        }
        match (self.meta("tenant")?, self.meta("conversation")?) {
            (None, None) => {
                self.set_meta("tenant", &tenant)?;
                self.set_meta("conversation", &conversation)?;
            }
            (Some(t), Some(c)) if t == tenant && c == conversation => {}
            _ => return Response::error("not admitted", 403),
        }
        // One live connection per conversation: a reconnect replaces the old socket.
        for old in self.state.get_websockets() {
            let _ = old.close(Some(1000), Some("replaced by a newer connection"));
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server
            .serialize_attachment(Attachment { started: false })?;
        *self.session.borrow_mut() = Some(Session::new());
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let actions = {
            let mut slot = self.session.borrow_mut();
            let session = slot.get_or_insert_with(|| {
                // Woken from hibernation: the attachment says whether the session had started.
                let started = ws
                    .deserialize_attachment::<Attachment>()
                    .ok()
                    .flatten()
                    .is_some_and(|a| a.started);
                Session::restored(started)
            });
            match &message {
                WebSocketIncomingMessage::String(text) => session.on_text(text),
                WebSocketIncomingMessage::Binary(bytes) => session.on_binary(bytes),
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
        // Close our side too, or workerd reports a hung worker; stop any reply in flight.
        let _ = ws.close(Some(1000), Some("closed"));
        self.cancel(None, 0);
        self.end_live_stt();
        self.release().await;
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.cancel(None, 0);
        self.end_live_stt();
        self.release().await;
        Ok(())
    }
}

fn send(ws: &WebSocket, msg: &ServerMessage) -> Result<()> {
    ws.send_with_str(msg.to_json())
}

fn send_error(ws: &WebSocket, code: ErrorCode, message: &str) -> Result<()> {
    send(ws, &ServerMessage::error(code, message))
}

/// The last completed reply's stored message and spoken chunks, for a late interruption.
#[derive(Serialize, Deserialize)]
struct LastReply {
    response_id: u32,
    seq: f64,
    chunks: Vec<SpokenChunk>,
}

/// One LLM request of a turn: the messages so far, and whether tools are offered.
struct LlmStep<'a> {
    messages: &'a [serde_json::Value],
    offer_tools: bool,
}

/// The turn of an utterance, asked for at its start.
enum Grant {
    /// Asked for; the answer is on its way.
    Pending(u32),
    /// The answer: the turn's configuration, or `None` if it was refused (the client was told).
    Done(u32, Option<ProviderConfig>),
}

/// A turn's input: the user's words and, for a spoken turn, its timing.
struct TurnInput {
    text: String,
    stream_id: Option<u32>,
    /// End of speech (or when the typed text arrived), Unix ms.
    eos: u64,
    eos_to_transcript_ms: Option<u32>,
    /// The user's speech sent to STT, ms (0 for typed input).
    speech_ms: u64,
}

/// What the LLM side of a turn reports back.
#[derive(Default)]
struct LlmResult {
    text: String,
    first_token_ms: Option<u32>,
    usage: Option<(u32, u32)>,
    provider: Option<String>,
    model: Option<String>,
    fallbacks: u32,
    /// The error to show the user, if no route could answer.
    error: Option<(ErrorCode, String)>,
    /// The tools the model called instead of (or after) answering.
    tool_calls: Vec<ToolCall>,
}

/// How one LLM attempt went.
#[derive(Default)]
struct Attempt {
    text: String,
    first_token_ms: Option<u32>,
    usage: Option<(u32, u32)>,
    failure: Option<Failure>,
    tool_calls: Vec<ToolCall>,
}

/// What a turn's audio pipeline reports back.
#[derive(Default)]
struct Spoken {
    chunks: Vec<SpokenChunk>,
    tts_first_byte_ms: Option<u32>,
    first_audio_at: Option<u64>,
    failed: Option<String>,
    /// Audio frames sent: the END frame takes the next sequence number.
    frames_sent: u32,
}

impl VoiceSession {
    fn tenant(&self) -> Result<TenantId> {
        self.meta("tenant")?
            .and_then(|t| TenantId::parse(&t).ok())
            .ok_or_else(|| worker::Error::RustError("conversation without tenant".into()))
    }

    fn conversation(&self) -> Result<String> {
        self.meta("conversation")?
            .ok_or_else(|| worker::Error::RustError("conversation without id".into()))
    }

    /// Asks the tenant's object for a turn. Granted: the turn's provider configuration, keys
    /// opened in memory. Otherwise the client is told why (`rate_limited`, or an error) and
    /// there is no turn.
    async fn grant(&self, ws: &WebSocket) -> Result<Option<ProviderConfig>> {
        let tenant = self.tenant()?;
        let answer: TurnAnswer = call(
            &tenant_stub(&self.env, &tenant)?,
            &tenant,
            "/turn",
            &TurnRequest {
                conversation: self.conversation()?,
            },
        )
        .await?;
        let (settings, slots) = match answer {
            TurnAnswer::Granted { settings, keys } => (settings, keys),
            TurnAnswer::Limited(l) => {
                send(
                    ws,
                    &ServerMessage::RateLimited {
                        retry_after_ms: l.retry_after_ms,
                        limit: l.limit,
                    },
                )?;
                return Ok(None);
            }
            TurnAnswer::Refused { message } => {
                send_error(ws, ErrorCode::Unauthorized, &message)?;
                return Ok(None);
            }
        };
        let master = match self.env.secret("MASTER_KEYS") {
            Ok(spec) => MasterKeys::parse(&spec.to_string()).ok(),
            Err(_) => None,
        };
        let now = now_ms();
        let mut broken = false;
        let config = ProviderConfig::from_tenant(&settings, |slot| {
            let Some(sealed) = slots.get(slot) else {
                return Vec::new();
            };
            match master
                .as_ref()
                .map(|m| usable_keys(m, sealed, &aad(tenant.as_str(), slot), now))
            {
                Some(Ok(keys)) => keys,
                _ => {
                    broken = true;
                    Vec::new()
                }
            }
        });
        if broken {
            // Logged without any key material: which slot failed is enough to act on.
            console_log!(
                "{}",
                json!({"event": "provider_key_unreadable", "tenant": tenant.as_str()})
            );
            send_error(
                ws,
                ErrorCode::Internal,
                "this assistant's provider keys cannot be read",
            )?;
            return Ok(None);
        }
        self.refresh_token(ws, &tenant)?;
        let mut config = config;
        // The page's voice, if it asked for one at the start.
        if let Some(voice) = self.meta("voice")?.filter(|v| !v.is_empty()) {
            config.tts_voice = voice;
        }
        Ok(Some(config))
    }

    /// Reports a finished turn's usage to the tenant's object.
    async fn report_usage(&self, audio_ms: u64, llm_tokens: u64) {
        let Ok(tenant) = self.tenant() else { return };
        if let Ok(stub) = tenant_stub(&self.env, &tenant) {
            let _: Result<serde_json::Value> = call(
                &stub,
                &tenant,
                "/usage",
                &UsageReport {
                    audio_ms,
                    llm_tokens,
                },
            )
            .await;
        }
    }

    /// Frees the conversation's session slot (the socket closed).
    async fn release(&self) {
        let (Ok(tenant), Ok(conversation)) = (self.tenant(), self.conversation()) else {
            return;
        };
        if let Ok(stub) = tenant_stub(&self.env, &tenant) {
            let _: Result<serde_json::Value> =
                call(&stub, &tenant, "/release", &ReleaseRequest { conversation }).await;
        }
    }

    /// A new signed session token for this conversation.
    fn sign_token(&self, tenant: &TenantId) -> Result<String> {
        let signer = signer(&self.env)
            .ok_or_else(|| worker::Error::RustError("SESSION_SIGNING_KEY missing".into()))?;
        let expires_at_s = now_ms() / 1000 + TOKEN_TTL_S;
        self.set_meta("token_expires_s", &expires_at_s.to_string())?;
        Ok(signer.sign(&Claims {
            tenant: tenant.as_str().to_string(),
            conversation: self.conversation()?,
            expires_at_s,
        }))
    }

    /// Sends a fresh token when the current one is past half its life.
    fn refresh_token(&self, ws: &WebSocket, tenant: &TenantId) -> Result<()> {
        let expires: u64 = self
            .meta("token_expires_s")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if expires.saturating_sub(now_ms() / 1000) < TOKEN_TTL_S / 2 {
            let token = self.sign_token(tenant)?;
            send(
                ws,
                &ServerMessage::SessionToken {
                    token,
                    expires_in_s: TOKEN_TTL_S as u32,
                },
            )?;
        }
        Ok(())
    }

    fn ensure_schema(&self) -> Result<()> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT NOT NULL, content TEXT NOT NULL, at_ms INTEGER NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec(
                "SELECT value FROM meta WHERE key = ?",
                Some(vec![key.into()]),
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.value))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            Some(vec![key.into(), value.into()]),
        )?;
        Ok(())
    }

    fn history(&self) -> Result<Vec<Message>> {
        #[derive(Deserialize)]
        struct Row {
            role: String,
            content: String,
        }
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec("SELECT role, content FROM messages ORDER BY seq", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Role::parse(&r.role).map(|role| Message {
                    role,
                    content: r.content,
                })
            })
            .collect())
    }

    fn remember(&self, role: Role, content: &str) -> Result<()> {
        self.state.storage().sql().exec(
            "INSERT INTO messages (role, content, at_ms) VALUES (?, ?, ?)",
            Some(vec![
                role.as_str().into(),
                content.into(),
                (now_ms() as f64).into(),
            ]),
        )?;
        self.set_meta("last_seen_ms", &now_ms().to_string())
    }

    fn mark_started(&self, ws: &WebSocket) -> Result<()> {
        if let Some(s) = self.session.borrow_mut().as_mut() {
            s.mark_started();
        }
        ws.serialize_attachment(Attachment { started: true })
    }

    fn ready(&self, ws: &WebSocket, token: String, resumed: bool) -> Result<()> {
        send(
            ws,
            &ServerMessage::SessionReady(SessionReady {
                protocol: aura_protocol::PROTOCOL_VERSION,
                session_id: self.conversation()?,
                token,
                resumed,
                input_sample_rate: aura_protocol::limits::INPUT_SAMPLE_RATE,
                output_sample_rate: TTS_RATE,
                resume_window_s: RESUME_WINDOW_S,
            }),
        )
    }

    async fn run(&self, ws: &WebSocket, action: Action) -> Result<()> {
        match action {
            Action::Send(msg) => send(ws, &msg),
            Action::Start(start) => {
                if let Some(language) = &start.language {
                    self.set_meta("language", language)?;
                }
                if let Some(voice) = &start.voice {
                    self.set_meta("voice", voice)?;
                }
                // A new conversation on this object starts empty.
                self.state
                    .storage()
                    .sql()
                    .exec("DELETE FROM messages", None)?;
                let token = self.sign_token(&self.tenant()?)?;
                self.set_meta("last_seen_ms", &now_ms().to_string())?;
                self.mark_started(ws)?;
                self.ready(ws, token, false)
            }
            Action::Resume(r) => {
                let tenant = self.tenant()?;
                let conversation = self.conversation()?;
                let last_seen: u64 = self
                    .meta("last_seen_ms")?
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let valid = r.session_id == conversation
                    && signer(&self.env).is_some_and(|s| {
                        s.verify_for(&r.token, tenant.as_str(), &conversation, now_ms() / 1000)
                            .is_ok()
                    });
                if !valid {
                    return send_error(
                        ws,
                        ErrorCode::Unauthorized,
                        "unknown session or wrong token",
                    );
                }
                if now_ms().saturating_sub(last_seen) > u64::from(RESUME_WINDOW_S) * 1000 {
                    return send_error(
                        ws,
                        ErrorCode::SessionExpired,
                        "the resume window has passed; start a new session",
                    );
                }
                self.set_meta("last_seen_ms", &now_ms().to_string())?;
                self.mark_started(ws)?;
                let token = self.sign_token(&tenant)?;
                self.ready(ws, token, true)
            }
            Action::Respond { text } => {
                let Some(config) = self.grant(ws).await? else {
                    return Ok(());
                };
                let input = TurnInput {
                    text,
                    stream_id: None,
                    eos: now_ms(),
                    eos_to_transcript_ms: None,
                    speech_ms: 0,
                };
                self.turn(ws, &config, input).await
            }
            Action::Transcribe {
                stream_id,
                wav,
                frames_expected,
                frames_received,
            } => {
                let eos = now_ms();
                if frames_expected != frames_received {
                    console_log!(
                        "{}",
                        json!({"event": "audio_loss", "stream_id": stream_id, "frames_expected": frames_expected, "frames_received": frames_received})
                    );
                }
                // The turn was asked for when the speech started: wait for that answer if it is
                // still on its way (a very short utterance); ask now only if there is none
                // (the object woke from hibernation mid-utterance).
                let deadline = now_ms() + 5_000;
                let early = loop {
                    let pending = matches!(
                        &*self.granted.borrow(),
                        Some(Grant::Pending(id)) if *id == stream_id
                    );
                    if !pending || now_ms() > deadline {
                        break match self.granted.borrow_mut().take() {
                            Some(Grant::Done(id, config)) if id == stream_id => Some(config),
                            _ => None,
                        };
                    }
                    Delay::from(std::time::Duration::from_millis(2)).await;
                };
                let config = match early {
                    Some(Some(c)) => c,
                    Some(None) => return Ok(()), // refused at the start of speech
                    None => match self.grant(ws).await? {
                        Some(c) => c,
                        None => return Ok(()),
                    },
                };
                // 16-bit mono at 16 kHz after the 44-byte WAV header.
                let speech_ms = (wav.len().saturating_sub(44) / 32) as u64;
                let transcript = match config.stt_api {
                    SttApi::Deepgram => stt_stream::finish(&self.live, stream_id).await,
                    SttApi::Openai => self.transcribe(&config, wav).await,
                };
                match transcript {
                    Ok(text) => {
                        let eos_to_transcript = (now_ms() - eos) as u32;
                        send(
                            ws,
                            &ServerMessage::TranscriptFinal {
                                stream_id,
                                text: text.clone(),
                            },
                        )?;
                        if text.trim().is_empty() {
                            self.report_usage(speech_ms, 0).await;
                            return Ok(());
                        }
                        let input = TurnInput {
                            text,
                            stream_id: Some(stream_id),
                            eos,
                            eos_to_transcript_ms: Some(eos_to_transcript),
                            speech_ms,
                        };
                        self.turn(ws, &config, input).await
                    }
                    Err((code, message)) => {
                        self.report_usage(speech_ms, 0).await;
                        send_error(ws, code, &message)
                    }
                }
            }
            Action::UtteranceStarted { stream_id } => {
                self.end_live_stt();
                *self.granted.borrow_mut() = Some(Grant::Pending(stream_id));
                // Audio that arrives while the turn is granted is kept, in case the STT is a
                // streaming one.
                *self.live.borrow_mut() = Some(LiveUtterance::new(stream_id));
                // Ask for the turn while the user speaks, so the answer does not wait for it.
                let Some(config) = self.grant(ws).await? else {
                    *self.granted.borrow_mut() = Some(Grant::Done(stream_id, None));
                    self.end_live_stt();
                    return Ok(());
                };
                let live = config.stt_api == SttApi::Deepgram;
                let stt = config.stt.clone();
                *self.granted.borrow_mut() = Some(Grant::Done(stream_id, Some(config)));
                if !live {
                    self.end_live_stt();
                } else {
                    let language = self.meta("language")?;
                    match stt_stream::connect(&stt, language.as_deref()).await {
                        Ok(socket) => stt_stream::pump(&self.live, socket, ws, stream_id).await,
                        Err((code, message)) => {
                            *self.live.borrow_mut() = None;
                            *self.granted.borrow_mut() = Some(Grant::Done(stream_id, None));
                            send_error(ws, code, &message)?;
                        }
                    }
                }
                Ok(())
            }
            Action::UtteranceAudio { stream_id, pcm } => {
                if let Some(u) = self
                    .live
                    .borrow_mut()
                    .as_mut()
                    .filter(|u| u.stream_id == stream_id)
                {
                    u.audio(&pcm);
                }
                Ok(())
            }
            Action::Cancel {
                response_id,
                played_ms,
            } => {
                let in_flight = self
                    .active
                    .borrow()
                    .as_ref()
                    .is_some_and(|r| r.id == response_id);
                if in_flight {
                    self.cancel(Some(response_id), played_ms);
                } else {
                    self.cut_finished_reply(response_id, played_ms)?;
                }
                Ok(())
            }
        }
    }

    fn last_message_seq(&self) -> Result<f64> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
        }
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec("SELECT seq FROM messages ORDER BY seq DESC LIMIT 1", None)?
            .to_array()?;
        Ok(rows.first().map_or(0.0, |r| r.seq))
    }

    /// The user interrupted a reply that was already sent in full: its stored text becomes
    /// what was heard of it (nothing if none was).
    fn cut_finished_reply(&self, response_id: u32, played_ms: u32) -> Result<()> {
        let Some(last) = self
            .meta("last_reply")?
            .and_then(|v| serde_json::from_str::<LastReply>(&v).ok())
            .filter(|l| l.response_id == response_id)
        else {
            return Ok(()); // an older reply, or one with nothing stored
        };
        let text = heard(&last.chunks, played_ms).text;
        let sql = self.state.storage().sql();
        if text.trim().is_empty() {
            sql.exec(
                "DELETE FROM messages WHERE seq = ?",
                Some(vec![last.seq.into()]),
            )?;
        } else {
            sql.exec(
                "UPDATE messages SET content = ? WHERE seq = ?",
                Some(vec![text.as_str().into(), last.seq.into()]),
            )?;
        }
        self.set_meta("last_reply", "")?;
        console_log!(
            "{}",
            json!({"event": "reply_cut", "response_id": response_id, "played_ms": played_ms})
        );
        Ok(())
    }

    /// Runs a built-in tool.
    fn builtin(
        &self,
        ws: &WebSocket,
        config: &ProviderConfig,
        call: &ToolCall,
    ) -> tool_runner::ToolOutcome {
        let args: serde_json::Value = serde_json::from_str(if call.arguments.trim().is_empty() {
            "{}"
        } else {
            &call.arguments
        })
        .unwrap_or(serde_json::Value::Null);
        let reason = args["reason"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(500)
            .collect::<String>();
        let ok = |content: serde_json::Value| tool_runner::ToolOutcome {
            content: content.to_string(),
            outcome: "ok",
        };
        match call.name.as_str() {
            "current_time" => match local_time(&config.time_zone) {
                Some(now) => ok(json!({"now": now, "time_zone": config.time_zone})),
                None => ok(
                    json!({"now_utc": Date::now().to_string(), "note": "the business's time zone is not known"}),
                ),
            },
            "transfer_to_human" => {
                let _ = send(ws, &ServerMessage::Handoff { reason });
                ok(
                    json!({"ok": true, "note": "the page was asked to connect the user with a person"}),
                )
            }
            "end_conversation" => {
                *self.ending.borrow_mut() = Some(reason);
                ok(json!({"ok": true, "note": "the conversation ends after this reply"}))
            }
            _ => tool_runner::ToolOutcome {
                content: json!({"error": "there is no tool by that name"}).to_string(),
                outcome: "unknown_tool",
            },
        }
    }

    /// Closes the open utterance's streaming STT, if any.
    fn end_live_stt(&self) {
        if let Some(mut u) = self.live.borrow_mut().take() {
            u.close();
        }
    }

    /// Aborts the reply in flight (all of it if `response_id` is `None`).
    fn cancel(&self, response_id: Option<u32>, played_ms: u32) {
        let mut active = self.active.borrow_mut();
        if let Some(reply) = active
            .as_mut()
            .filter(|r| response_id.is_none_or(|id| id == r.id))
        {
            reply.cancelled_at_ms = Some(played_ms);
            if let Some(controller) = reply.abort.take() {
                controller.abort();
            }
            if let Some(controller) = reply.llm_abort.take() {
                controller.abort();
            }
        }
    }

    /// Aborts the LLM attempt in flight, leaving the reply (and its TTS) going.
    fn abort_llm_attempt(&self) {
        let controller = self
            .active
            .borrow_mut()
            .as_mut()
            .and_then(|r| r.llm_abort.take());
        if let Some(c) = controller {
            c.abort();
        }
    }

    fn cancelled(&self, id: u32) -> Option<u32> {
        self.active
            .borrow()
            .as_ref()
            .filter(|r| r.id == id)
            .and_then(|r| r.cancelled_at_ms)
    }

    async fn transcribe(
        &self,
        config: &ProviderConfig,
        wav: Vec<u8>,
    ) -> std::result::Result<String, (ErrorCode, String)> {
        let fail = |what: &str| {
            (
                ErrorCode::ProviderError,
                format!("speech-to-text failed: {what}"),
            )
        };
        let mut keys = config.stt.keys();
        let mut resp = loop {
            let key = keys.next();
            let form = web_sys::FormData::new().map_err(|_| fail("form"))?;
            form.append_with_str("model", &config.stt.model)
                .map_err(|_| fail("form"))?;
            let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(wav.as_slice()));
            let options = web_sys::BlobPropertyBag::new();
            options.set_type("audio/wav");
            let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
                .map_err(|_| fail("audio"))?;
            form.append_with_blob_and_filename("file", &blob, "utterance.wav")
                .map_err(|_| fail("form"))?;
            let mut init = RequestInit::new();
            init.with_method(Method::Post).with_body(Some(form.into()));
            let headers = Headers::new();
            if let Some(key) = key {
                headers
                    .set("authorization", &format!("Bearer {key}"))
                    .map_err(|_| fail("headers"))?;
            }
            init.with_headers(headers);
            let req = Request::new_with_init(&config.stt.url("v1/audio/transcriptions"), &init)
                .map_err(|_| fail("request"))?;
            let resp = Fetch::Request(req).send().await.map_err(|_| {
                (
                    ErrorCode::ProviderError,
                    "speech-to-text unreachable".into(),
                )
            })?;
            if !(refused_key(resp.status_code()) && keys.len() > 0) {
                break resp;
            }
        };
        if resp.status_code() != 200 {
            let code = if resp.status_code() == 429 {
                ErrorCode::ProviderTimeout
            } else {
                ErrorCode::ProviderError
            };
            return Err((
                code,
                format!("speech-to-text answered HTTP {}", resp.status_code()),
            ));
        }
        #[derive(Deserialize)]
        struct Transcript {
            text: String,
        }
        let t: Transcript = resp.json().await.map_err(|_| fail("unreadable answer"))?;
        Ok(t.text)
    }

    /// POSTs JSON to a provider with its key, abortable. If the provider refuses the key
    /// (401/403) and a rotated-out key is still in its grace period, tries that one.
    async fn post_json(
        endpoint: &ProviderEndpoint,
        path: &str,
        body: &serde_json::Value,
        signal: &AbortSignal,
    ) -> Result<Response> {
        let mut keys = endpoint.keys();
        loop {
            let headers = Headers::new();
            headers.set("content-type", "application/json")?;
            if let Some(key) = keys.next() {
                headers.set("authorization", &format!("Bearer {key}"))?;
            }
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_headers(headers)
                .with_body(Some(body.to_string().into()));
            let req = Request::new_with_init(&endpoint.url(path), &init)?;
            let resp = Fetch::Request(req).send_with_signal(signal).await?;
            if !(refused_key(resp.status_code()) && keys.len() > 0) {
                return Ok(resp);
            }
        }
    }

    /// One reply: LLM -> sentence chunks -> TTS (pipelined) -> captions and audio frames.
    async fn turn(&self, ws: &WebSocket, config: &ProviderConfig, input: TurnInput) -> Result<()> {
        let TurnInput {
            text: user_text,
            stream_id,
            eos,
            eos_to_transcript_ms,
            speech_ms,
        } = input;
        // Reply ids must keep increasing across hibernation and reconnects: the client treats a
        // reply id at or below one it has finished as stale audio. So the counter is stored.
        let id = self
            .meta("last_response_id")?
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        self.set_meta("last_response_id", &id.to_string())?;
        let controller = AbortController::default();
        let signal = controller.signal();
        *self.active.borrow_mut() = Some(ActiveReply {
            id,
            abort: Some(controller),
            llm_abort: None,
            cancelled_at_ms: None,
        });
        send(
            ws,
            &ServerMessage::ResponseStarted {
                response_id: id,
                stream_id,
            },
        )?;

        let context = build_context(
            &config.system_prompt,
            &self.history()?,
            &user_text,
            config.context_budget_tokens,
        );
        self.remember(Role::User, &user_text)?;
        let mut metrics = TurnMetrics {
            eos_to_transcript_ms,
            ..TurnMetrics::default()
        };
        let (tx, rx) = mpsc::unbounded::<String>();
        let text_side = self.converse(ws, id, config, &user_text, &context, tx);
        let audio_side = self.speak(ws, id, config, &signal, rx);
        let (llm, spoken) = future::join(text_side, audio_side).await;

        metrics.provider = llm.provider;
        metrics.model = llm.model;
        metrics.fallbacks = llm.fallbacks;
        metrics.llm_first_token_ms = llm.first_token_ms;
        metrics.tts_first_byte_ms = spoken.tts_first_byte_ms;
        metrics.eos_to_first_audio_ms = spoken.first_audio_at.map(|t| (t - eos) as u32);
        if let Some((p, c)) = llm.usage {
            metrics.prompt_tokens = Some(p);
            metrics.completion_tokens = Some(c);
        }
        let full_text = llm.text;
        let reply_audio_ms: u64 = spoken.chunks.iter().map(|c| u64::from(c.audio_ms)).sum();
        // Tokens as the provider counted them, or about four characters each if it did not say.
        let llm_tokens = llm.usage.map_or(
            (context.iter().map(|m| m.content.len()).sum::<usize>() + full_text.len()) as u64 / 4,
            |(p, c)| u64::from(p) + u64::from(c),
        );
        let failure = llm
            .error
            .or(spoken.failed.map(|m| (ErrorCode::ProviderError, m)));
        let (status, stored) = match self.cancelled(id) {
            Some(played_ms) => (
                ResponseStatus::Interrupted,
                heard(&spoken.chunks, played_ms).text,
            ),
            None => match failure {
                Some((code, message)) => {
                    send_error(ws, code, &message)?;
                    (ResponseStatus::Failed, full_text)
                }
                None => {
                    // The last frame of the reply, so the client knows it is complete.
                    let end = FrameHeader {
                        kind: FrameKind::Output,
                        flags: FrameFlags::END,
                        stream_id: id,
                        seq: spoken.frames_sent,
                        sample_rate: TTS_RATE,
                        sample_count: 0,
                    };
                    let mut bytes = Vec::new();
                    if AudioFrame::encode(&end, &[], &mut bytes).is_ok() {
                        ws.send_with_bytes(&bytes)?;
                    }
                    (ResponseStatus::Completed, full_text)
                }
            },
        };
        if !stored.trim().is_empty() {
            self.remember(Role::Assistant, &stored)?;
            // A reply is usually sent faster than it plays: the user may interrupt it after
            // it is done here. Keep what is needed to cut its stored text then.
            if status == ResponseStatus::Completed {
                let last = LastReply {
                    response_id: id,
                    seq: self.last_message_seq()?,
                    chunks: spoken.chunks.clone(),
                };
                self.set_meta("last_reply", &serde_json::to_string(&last)?)?;
            }
        }
        *self.active.borrow_mut() = None;
        self.report_usage(speech_ms + reply_audio_ms, llm_tokens)
            .await;
        console_log!(
            "{}",
            json!({"event": "turn", "response_id": id, "status": format!("{status:?}").to_lowercase(), "metrics": &metrics})
        );
        send(
            ws,
            &ServerMessage::ResponseDone {
                response_id: id,
                status,
                metrics,
            },
        )?;
        // The assistant ended the conversation: say so after the reply, then close.
        if let Some(reason) = self.ending.borrow_mut().take() {
            send(ws, &ServerMessage::SessionEnd { reason })?;
            let _ = ws.close(Some(1000), Some("conversation ended"));
        }
        Ok(())
    }

    /// Gets the reply from the LLM routes in the router's order, falling back before the first
    /// token, and logs every routing decision with its reason.
    async fn answer(
        &self,
        ws: &WebSocket,
        id: u32,
        config: &ProviderConfig,
        user_text: &str,
        step: LlmStep<'_>,
        tx: mpsc::UnboundedSender<String>,
    ) -> LlmResult {
        let messages = step.messages;
        let routes: Vec<Route> = config
            .llm
            .iter()
            .map(|(e, tier)| Route {
                provider: host_of(&e.base_url),
                model: e.model.clone(),
                tier: *tier,
            })
            .collect();
        let plan = {
            let mut slot = self.router.borrow_mut();
            let router = slot.get_or_insert_with(|| {
                LlmRouter::new(
                    RouterConfig {
                        smart: config.smart_routing,
                        first_token_timeout_ms: config.first_token_timeout_ms,
                        ..RouterConfig::default()
                    },
                    routes.clone(),
                )
            });
            router.plan(
                &RouteRequest {
                    user_text,
                    tools_available: false,
                },
                now_ms(),
            )
        };
        let order: Vec<&str> = plan
            .order
            .iter()
            .map(|&i| routes[i].provider.as_str())
            .collect();
        console_log!(
            "{}",
            json!({"event": "route", "response_id": id, "order": order, "reason": plan.reason})
        );
        let mut result = LlmResult::default();
        for (k, &route) in plan.order.iter().enumerate() {
            let endpoint = &config.llm[route].0;
            result.provider = Some(routes[route].provider.clone());
            result.model = Some(endpoint.model.clone());
            let mut body = json!({
                "model": endpoint.model, "stream": true, "stream_options": {"include_usage": true}, "messages": messages,
            });
            let offered: Vec<serde_json::Value> = config
                .tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                .chain(config.builtin_tools.iter().filter_map(|n| crate::tools::builtin_definition(n)))
                .collect();
            if !offered.is_empty() && step.offer_tools {
                body["tools"] = offered.into();
            }
            let attempt = self.attempt(ws, id, endpoint, route, &body, &tx).await;
            result.text = attempt.text;
            result.first_token_ms = attempt.first_token_ms;
            result.usage = attempt.usage;
            result.tool_calls = attempt.tool_calls;
            let Some(failure) = attempt.failure else {
                return result;
            };
            let tokens_sent = result.first_token_ms.is_some();
            let next = match self.router.borrow_mut().as_mut() {
                Some(router) => {
                    router.failed(route, failure, tokens_sent, &plan.order[k + 1..], now_ms())
                }
                None => Next::GiveUp {
                    reason: "no router".into(),
                },
            };
            match next {
                Next::FallBack { reason, .. } => {
                    console_log!(
                        "{}",
                        json!({"event": "route_fallback", "response_id": id, "reason": reason})
                    );
                    result.fallbacks += 1;
                }
                Next::GiveUp { reason } => {
                    console_log!(
                        "{}",
                        json!({"event": "route_give_up", "response_id": id, "reason": reason})
                    );
                    let code = if failure == Failure::FirstTokenTimeout {
                        ErrorCode::ProviderTimeout
                    } else {
                        ErrorCode::ProviderError
                    };
                    result.error = Some((
                        code,
                        format!("the language model could not answer: {reason}"),
                    ));
                    return result;
                }
            }
        }
        result
    }

    /// One LLM attempt: streams the reply, captions to the client and chunks to the TTS side.
    async fn attempt(
        &self,
        ws: &WebSocket,
        id: u32,
        endpoint: &ProviderEndpoint,
        route: usize,
        body: &serde_json::Value,
        tx: &mpsc::UnboundedSender<String>,
    ) -> Attempt {
        let start = now_ms();
        let timeout_ms = self
            .router
            .borrow()
            .as_ref()
            .map_or(2_500, |r| r.config().first_token_timeout_ms);
        let mut out = Attempt::default();
        let controller = AbortController::default();
        let signal = controller.signal();
        if let Some(reply) = self.active.borrow_mut().as_mut() {
            reply.llm_abort = Some(controller);
        }
        let failed = |mut out: Attempt, failure: Failure| {
            out.failure = Some(failure);
            out
        };
        // The first-token deadline covers the request itself: a provider that never sends its
        // headers is as late as one that never sends a token.
        let deadline = start + u64::from(timeout_ms);
        let left = || std::time::Duration::from_millis(deadline.saturating_sub(now_ms()));
        let request = std::pin::pin!(Self::post_json(
            endpoint,
            "v1/chat/completions",
            body,
            &signal
        ));
        let sent = match future::select(request, Delay::from(left())).await {
            Either::Left((sent, _)) => sent,
            Either::Right(_) => {
                self.abort_llm_attempt();
                return failed(out, Failure::FirstTokenTimeout);
            }
        };
        let mut resp = match sent {
            Ok(r) => r,
            Err(_) if self.cancelled(id).is_some() => return out,
            Err(_) => return failed(out, Failure::Disconnect),
        };
        if resp.status_code() != 200 {
            let retry_after_ms = resp
                .headers()
                .get("retry-after")
                .ok()
                .flatten()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| s * 1000);
            return failed(
                out,
                Failure::Status {
                    code: resp.status_code(),
                    retry_after_ms,
                },
            );
        }
        let Ok(mut stream) = resp.stream() else {
            return failed(out, Failure::Malformed);
        };
        let mut parser = ChatStream::new();
        let mut cutter = SentenceCutter::new(CutterConfig::default());
        let mut calls = ToolCallAssembler::new();
        loop {
            let next = if out.first_token_ms.is_none() {
                let wait = Delay::from(left());
                match future::select(stream.next(), wait).await {
                    Either::Left((item, _)) => item,
                    Either::Right(_) => {
                        // Give up on this attempt only: the next route may answer.
                        self.abort_llm_attempt();
                        return failed(out, Failure::FirstTokenTimeout);
                    }
                }
            } else {
                stream.next().await
            };
            let Some(read) = next else { break };
            let Ok(bytes) = read else {
                return if self.cancelled(id).is_some() {
                    out
                } else {
                    failed(out, Failure::Disconnect)
                };
            };
            let mut deltas = Vec::new();
            let mut usage = None;
            let mut called = false;
            let parsed = parser.push(&bytes, |event| match event {
                ChatEvent::Text(t) => deltas.push(t),
                ChatEvent::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => {
                    called = true;
                    calls.push(index, id, name, &arguments);
                }
                ChatEvent::Usage {
                    prompt_tokens,
                    completion_tokens,
                } => usage = Some((prompt_tokens, completion_tokens)),
                _ => {}
            });
            if usage.is_some() {
                out.usage = usage;
            }
            // A tool call is the model's answer too: it meets the first-token deadline.
            if called && out.first_token_ms.is_none() {
                out.first_token_ms = Some((now_ms() - start) as u32);
                if let Some(router) = self.router.borrow_mut().as_mut() {
                    router.succeeded(route);
                }
            }
            for delta in deltas {
                if self.cancelled(id).is_some() {
                    return out;
                }
                if out.first_token_ms.is_none() {
                    out.first_token_ms = Some((now_ms() - start) as u32);
                    if let Some(router) = self.router.borrow_mut().as_mut() {
                        router.succeeded(route);
                    }
                }
                out.text.push_str(&delta);
                let _ = send(
                    ws,
                    &ServerMessage::ResponseTextDelta {
                        response_id: id,
                        delta: delta.clone(),
                    },
                );
                cutter.push(&delta, |chunk| {
                    let _ = tx.unbounded_send(chunk);
                });
            }
            if parsed.is_err() {
                return failed(out, Failure::Malformed);
            }
        }
        if parser.finish().is_err() {
            return failed(out, Failure::Disconnect);
        }
        cutter.finish(|chunk| {
            let _ = tx.unbounded_send(chunk);
        });
        if !calls.is_empty() {
            match calls.finish() {
                Ok(c) => out.tool_calls = c,
                Err(_) => return failed(out, Failure::Malformed),
            }
        }
        out
    }

    /// The LLM side of a turn: answers, running the tools the model calls between steps (at
    /// most [`TOOL_STEPS_MAX`]), with a spoken filler when a tool is slow.
    async fn converse(
        &self,
        ws: &WebSocket,
        id: u32,
        config: &ProviderConfig,
        user_text: &str,
        context: &[Message],
        tx: mpsc::UnboundedSender<String>,
    ) -> LlmResult {
        let mut messages: Vec<serde_json::Value> = context
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let conversation = self.conversation().unwrap_or_default();
        let mut total = LlmResult::default();
        let mut filler_said = false;
        for step in 0..=TOOL_STEPS_MAX {
            let r = self
                .answer(
                    ws,
                    id,
                    config,
                    user_text,
                    LlmStep {
                        messages: &messages,
                        // The last step offers no tools: the model must answer in words.
                        offer_tools: step < TOOL_STEPS_MAX,
                    },
                    tx.clone(),
                )
                .await;
            if step == 0 {
                total.first_token_ms = r.first_token_ms;
            }
            total.provider = r.provider.clone().or(total.provider);
            total.model = r.model.clone().or(total.model);
            total.fallbacks += r.fallbacks;
            if let Some((p, c)) = r.usage {
                let (tp, tc) = total.usage.unwrap_or((0, 0));
                total.usage = Some((tp + p, tc + c));
            }
            total.text.push_str(&r.text);
            if r.error.is_some() {
                total.error = r.error;
                break;
            }
            if r.tool_calls.is_empty() || self.cancelled(id).is_some() {
                break;
            }
            if step == TOOL_STEPS_MAX {
                console_log!(
                    "{}",
                    json!({"event": "tool_steps_exhausted", "response_id": id})
                );
                break;
            }
            let calls: Vec<serde_json::Value> = r
                .tool_calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
            let content = if r.text.is_empty() {
                serde_json::Value::Null
            } else {
                r.text.clone().into()
            };
            messages.push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
            for call in &r.tool_calls {
                let started = now_ms();
                if config.builtin_tools.contains(&call.name) {
                    let outcome = self.builtin(ws, config, call);
                    console_log!(
                        "{}",
                        json!({"event": "tool_call", "response_id": id, "tool": call.name, "outcome": outcome.outcome, "ms": now_ms() - started})
                    );
                    messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": outcome.content}));
                    continue;
                }
                let run = std::pin::pin!(tool_runner::run(
                    &config.tools,
                    config.webhook_secret.as_deref(),
                    call,
                    &conversation,
                    || self.cancelled(id).is_some(),
                ));
                let slow = Delay::from(std::time::Duration::from_millis(FILLER_AFTER_MS));
                let outcome = match future::select(run, slow).await {
                    Either::Left((outcome, _)) => outcome,
                    Either::Right((_, run)) => {
                        if !filler_said && self.cancelled(id).is_none() {
                            filler_said = true;
                            let filler = if total.text.is_empty() {
                                FILLER.to_string()
                            } else {
                                format!(" {FILLER}")
                            };
                            let _ = send(
                                ws,
                                &ServerMessage::ResponseTextDelta {
                                    response_id: id,
                                    delta: filler.clone(),
                                },
                            );
                            let _ = tx.unbounded_send(FILLER.to_string());
                            total.text.push_str(&filler);
                        }
                        run.await
                    }
                };
                console_log!(
                    "{}",
                    json!({"event": "tool_call", "response_id": id, "tool": call.name, "outcome": outcome.outcome, "ms": now_ms() - started})
                );
                messages.push(
                    json!({"role": "tool", "tool_call_id": call.id, "content": outcome.content}),
                );
            }
            if self.cancelled(id).is_some() {
                break;
            }
            // The next step's words follow what was said so far: keep a space between.
            if !total.text.is_empty() && !total.text.ends_with(char::is_whitespace) {
                let _ = send(
                    ws,
                    &ServerMessage::ResponseTextDelta {
                        response_id: id,
                        delta: " ".into(),
                    },
                );
                total.text.push(' ');
            }
        }
        total
    }

    /// Synthesises chunks in order as they arrive (the next is requested as soon as the previous
    /// one's audio has been received, while the client is still playing it) and streams the
    /// audio as 20 ms frames.
    async fn speak(
        &self,
        ws: &WebSocket,
        id: u32,
        config: &ProviderConfig,
        signal: &AbortSignal,
        mut rx: mpsc::UnboundedReceiver<String>,
    ) -> Spoken {
        let mut spoken = Spoken::default();
        let mut seq = 0u32;
        while let Some(chunk) = rx.next().await {
            if self.cancelled(id).is_some() || spoken.failed.is_some() {
                continue; // drain: the text side finishes on its own
            }
            let say = speakable(&chunk);
            if say.is_empty() {
                continue;
            }
            let body = json!({"model": config.tts.model, "voice": config.tts_voice, "input": say, "response_format": "pcm"});
            let start = now_ms();
            let mut resp =
                match Self::post_json(&config.tts, "v1/audio/speech", &body, signal).await {
                    Ok(r) if r.status_code() == 200 => r,
                    Ok(r) => {
                        spoken.failed =
                            Some(format!("text-to-speech answered HTTP {}", r.status_code()));
                        continue;
                    }
                    Err(_) => {
                        if self.cancelled(id).is_none() {
                            spoken.failed = Some("text-to-speech is unreachable".into());
                        }
                        continue;
                    }
                };
            let Ok(mut audio) = resp.stream() else {
                spoken.failed = Some("text-to-speech sent no body".into());
                continue;
            };
            let mut pending: Vec<u8> = Vec::with_capacity(FRAME_SAMPLES * 2);
            let mut samples_total = 0usize;
            let mut complete = true;
            while let Some(read) = audio.next().await {
                if self.cancelled(id).is_some() {
                    complete = false;
                    break;
                }
                let Ok(bytes) = read else {
                    complete = false;
                    if self.cancelled(id).is_none() {
                        spoken.failed = Some("text-to-speech stream broke off".into());
                    }
                    break;
                };
                spoken
                    .tts_first_byte_ms
                    .get_or_insert((now_ms() - start) as u32);
                pending.extend_from_slice(&bytes);
                while pending.len() >= FRAME_SAMPLES * 2 {
                    if self.cancelled(id).is_some() {
                        complete = false;
                        break;
                    }
                    let frame: Vec<u8> = pending.drain(..FRAME_SAMPLES * 2).collect();
                    if self.send_audio(ws, id, &mut seq, &frame).is_err() {
                        spoken.failed = Some("the client went away".into());
                        complete = false;
                        break;
                    }
                    // Only audio actually sent counts: it is all the client can have played.
                    samples_total += FRAME_SAMPLES;
                    spoken.first_audio_at.get_or_insert(now_ms());
                }
            }
            if pending.len() >= 2 && self.cancelled(id).is_none() {
                let even = pending.len() / 2 * 2;
                if self.send_audio(ws, id, &mut seq, &pending[..even]).is_ok() {
                    samples_total += even / 2;
                }
            }
            spoken.chunks.push(SpokenChunk {
                text: chunk,
                audio_ms: (samples_total as u64 * 1000 / u64::from(TTS_RATE)) as u32,
                complete: complete && self.cancelled(id).is_none(),
            });
        }
        spoken.chunks.retain(|c| c.audio_ms > 0);
        spoken.frames_sent = seq;
        spoken
    }

    fn send_audio(&self, ws: &WebSocket, id: u32, seq: &mut u32, pcm: &[u8]) -> Result<()> {
        if self.cancelled(id).is_some() {
            return Ok(());
        }
        let samples: Vec<i16> = pcm
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let header = FrameHeader {
            kind: FrameKind::Output,
            flags: FrameFlags::NONE,
            stream_id: id,
            seq: *seq,
            sample_rate: TTS_RATE,
            sample_count: samples.len() as u16,
        };
        let mut bytes = Vec::with_capacity(aura_protocol::HEADER_LEN + pcm.len());
        AudioFrame::encode(&header, &samples, &mut bytes)
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        *seq += 1;
        ws.send_with_bytes(&bytes)
    }
}

/// The current date and time in `time_zone` (IANA), through the runtime's Intl; `None` if the
/// zone is unknown to it.
fn local_time(time_zone: &str) -> Option<String> {
    let global = js_sys::global();
    let intl = js_sys::Reflect::get(&global, &"Intl".into()).ok()?;
    let ctor: js_sys::Function = js_sys::Reflect::get(&intl, &"DateTimeFormat".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"timeZone".into(), &time_zone.into()).ok()?;
    js_sys::Reflect::set(&options, &"dateStyle".into(), &"full".into()).ok()?;
    js_sys::Reflect::set(&options, &"timeStyle".into(), &"short".into()).ok()?;
    let args = js_sys::Array::of2(&"en-US".into(), &options);
    let format = js_sys::Reflect::construct(&ctor, &args).ok()?;
    let method: js_sys::Function = js_sys::Reflect::get(&format, &"format".into())
        .ok()?
        .dyn_into()
        .ok()?;
    method
        .call1(&format, &js_sys::Date::new_0())
        .ok()?
        .as_string()
}

/// Whether a provider's status means it refused the API key.
fn refused_key(status: u16) -> bool {
    status == 401 || status == 403
}

/// The host of a base URL, for metrics (never a key or a path).
fn host_of(base_url: &str) -> String {
    base_url
        .split("://")
        .nth(1)
        .unwrap_or(base_url)
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .to_string()
}
