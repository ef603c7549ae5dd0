//! The voice session Durable Object: one conversation, its WebSocket (hibernation API) and its
//! history (SQLite). An adapter: protocol decisions come from [`crate::session`], every decision
//! of a reply from the turn core ([`crate::turn`]), whose commands [`crate::turn_io`] performs;
//! this file asks the tenant's object for turns, transcribes, and keeps the history.

use std::cell::RefCell;

use aura_protocol::{ErrorCode, ResponseStatus, ServerMessage, SessionReady};
use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{
    Delay, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, console_log, durable_object,
};

use crate::conversation::{Message, Role, build_context};
use crate::entry::{CONVERSATION_HEADER, call, signer, tenant_stub};
use crate::heard::{SpokenChunk, heard};
use crate::key_vault::{MasterKeys, aad, usable_keys};
use crate::llm_router::{Router as LlmRouter, RouterConfig};
use crate::provider_config::ProviderConfig;
use crate::provider_http::{self, Auth, SendError};
use crate::runtime::now_ms;
use crate::session::{Action, Session};
use crate::session_token::Claims;
use crate::stt_stream::{self, LiveUtterance};
use crate::tenant::SttApi;
use crate::tenant::TenantId;
use crate::tenant_object::TENANT_HEADER;
use crate::tenant_rpc::{ReleaseRequest, TurnAnswer, TurnRequest, UsageReport};
use crate::turn::config::TTS_RATE;
use crate::turn::{ProviderFailure, Turn, TurnConfig, TurnInput};
use crate::turn_io::{Control, TurnIo};

/// How long a disconnected conversation can be resumed.
const RESUME_WINDOW_S: u32 = 120;
/// How long a session token is valid. A fresh one is sent (`session.token`) at a turn once the
/// current one is past half its life, so a long conversation can always resume.
const TOKEN_TTL_S: u64 = 15 * 60;

#[derive(Serialize, Deserialize)]
struct Attachment {
    started: bool,
}

/// The reply in flight: its id, and the channel that tells its turn of an interruption.
struct ActiveReply {
    id: u32,
    control: mpsc::UnboundedSender<Control>,
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
    granted: RefCell<Option<PendingGrant>>,
    /// The open utterance's streaming STT, if the tenant's STT is a live one.
    live: RefCell<Option<LiveUtterance>>,
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

/// The turn of an utterance, asked for when its speech started. The answer is the turn's
/// configuration, or `None` if it was refused (the client was told); a dropped sender means
/// it must be asked for again.
struct PendingGrant {
    stream_id: u32,
    answer: oneshot::Receiver<Option<ProviderConfig>>,
}

/// A turn's input: the user's words and, for a spoken turn, its timing.
struct UserTurn {
    text: String,
    stream_id: Option<u32>,
    /// End of speech (or when the typed text arrived), Unix ms.
    eos: u64,
    eos_to_transcript_ms: Option<u32>,
    /// The user's speech sent to STT, ms (0 for typed input).
    speech_ms: u64,
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
                let input = UserTurn {
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
                let pending = self
                    .granted
                    .borrow_mut()
                    .take_if(|g| g.stream_id == stream_id);
                let early = match pending {
                    Some(g) => {
                        let wait = Delay::from(std::time::Duration::from_millis(5_000));
                        match future::select(g.answer, wait).await {
                            Either::Left((Ok(answer), _)) => Some(answer),
                            _ => None,
                        }
                    }
                    None => None,
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
                    SttApi::Deepgram => stt_stream::finish(&self.live, stream_id)
                        .await
                        .map_err(|(code, message)| ProviderFailure::new(code, message)),
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
                        let input = UserTurn {
                            text,
                            stream_id: Some(stream_id),
                            eos,
                            eos_to_transcript_ms: Some(eos_to_transcript),
                            speech_ms,
                        };
                        self.turn(ws, &config, input).await
                    }
                    Err(failure) => {
                        self.report_usage(speech_ms, 0).await;
                        send_error(ws, failure.code, &failure.message)
                    }
                }
            }
            Action::UtteranceStarted { stream_id } => {
                self.end_live_stt();
                let (grant, answer) = oneshot::channel();
                *self.granted.borrow_mut() = Some(PendingGrant { stream_id, answer });
                // Audio that arrives while the turn is granted is kept, in case the STT is a
                // streaming one.
                *self.live.borrow_mut() = Some(LiveUtterance::new(stream_id));
                // Ask for the turn while the user speaks, so the answer does not wait for it.
                let Some(config) = self.grant(ws).await? else {
                    let _ = grant.send(None);
                    self.end_live_stt();
                    return Ok(());
                };
                if config.stt_api != SttApi::Deepgram {
                    self.end_live_stt();
                    let _ = grant.send(Some(config));
                    return Ok(());
                }
                let language = self.meta("language")?;
                match stt_stream::connect(&config.stt, language.as_deref()).await {
                    Ok(socket) => {
                        let _ = grant.send(Some(config));
                        stt_stream::pump(&self.live, socket, ws, stream_id).await;
                    }
                    Err((code, message)) => {
                        *self.live.borrow_mut() = None;
                        let _ = grant.send(None);
                        send_error(ws, code, &message)?;
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

    /// Closes the open utterance's streaming STT, if any.
    fn end_live_stt(&self) {
        if let Some(mut u) = self.live.borrow_mut().take() {
            u.close();
        }
    }

    /// Tells the reply in flight that the user interrupted it (any reply if `response_id` is
    /// `None`, when the client left).
    fn cancel(&self, response_id: Option<u32>, played_ms: u32) {
        if let Some(reply) = self
            .active
            .borrow()
            .as_ref()
            .filter(|r| response_id.is_none_or(|id| id == r.id))
        {
            let control = match response_id {
                Some(_) => Control::Cancel { played_ms },
                None => Control::Gone,
            };
            let _ = reply.control.unbounded_send(control);
        }
    }

    async fn transcribe(
        &self,
        config: &ProviderConfig,
        wav: Vec<u8>,
    ) -> std::result::Result<String, ProviderFailure> {
        let fail = |what: &str| {
            ProviderFailure::new(
                ErrorCode::ProviderError,
                format!("speech-to-text failed: {what}"),
            )
        };
        let form = || -> Option<wasm_bindgen::JsValue> {
            let form = web_sys::FormData::new().ok()?;
            form.append_with_str("model", &config.stt.model).ok()?;
            let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(wav.as_slice()));
            let options = web_sys::BlobPropertyBag::new();
            options.set_type("audio/wav");
            let blob =
                web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
            form.append_with_blob_and_filename("file", &blob, "utterance.wav")
                .ok()?;
            Some(form.into())
        };
        let url = config.stt.url("v1/audio/transcriptions");
        let mut resp = provider_http::send(
            &config.stt,
            Auth::Bearer,
            Method::Post,
            &url,
            &[],
            form,
            None,
        )
        .await
        .map_err(|e| match e {
            SendError::Request => fail("request"),
            SendError::Unreachable => {
                ProviderFailure::new(ErrorCode::ProviderError, "speech-to-text unreachable")
            }
        })?;
        if resp.status_code() != 200 {
            return Err(ProviderFailure::from_status(
                "speech-to-text",
                resp.status_code(),
            ));
        }
        #[derive(Deserialize)]
        struct Transcript {
            text: String,
        }
        let t: Transcript = resp.json().await.map_err(|_| fail("unreadable answer"))?;
        Ok(t.text)
    }

    /// One reply: the turn core decides, [`TurnIo`] performs; then the history, the usage
    /// and `response.done`.
    async fn turn(&self, ws: &WebSocket, config: &ProviderConfig, input: UserTurn) -> Result<()> {
        let UserTurn {
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
        let context = build_context(
            &config.system_prompt,
            &self.history()?,
            &user_text,
            config.context_budget_tokens,
        );
        self.remember(Role::User, &user_text)?;
        let (control, mut controls) = mpsc::unbounded();
        *self.active.borrow_mut() = Some(ActiveReply { id, control });
        let router = self
            .router
            .borrow_mut()
            .take()
            .unwrap_or_else(|| LlmRouter::new(RouterConfig::default(), Vec::new()));
        let input = TurnInput {
            response_id: id,
            text: user_text,
            stream_id,
            eos_ms: eos,
            eos_to_transcript_ms,
            speech_ms,
            context,
        };
        let mut turn = Turn::start(input, TurnConfig::from_providers(config), router, now_ms());
        let conversation = self.conversation()?;
        TurnIo::new(ws, config, &conversation)
            .drive(&mut turn, &mut controls)
            .await;
        let Some(outcome) = turn.outcome().cloned() else {
            return Ok(());
        };
        *self.router.borrow_mut() = Some(turn.into_router());
        if !outcome.stored.trim().is_empty() {
            self.remember(Role::Assistant, &outcome.stored)?;
            // A reply is usually sent faster than it plays: the user may interrupt it after
            // it is done here. Keep what is needed to cut its stored text then.
            if outcome.status == ResponseStatus::Completed {
                let last = LastReply {
                    response_id: id,
                    seq: self.last_message_seq()?,
                    chunks: outcome.chunks.clone(),
                };
                self.set_meta("last_reply", &serde_json::to_string(&last)?)?;
            }
        }
        {
            let mut active = self.active.borrow_mut();
            if active.as_ref().is_some_and(|a| a.id == id) {
                *active = None;
            }
        }
        self.report_usage(outcome.audio_ms, outcome.llm_tokens)
            .await;
        console_log!(
            "{}",
            json!({"event": "turn", "response_id": id, "status": format!("{:?}", outcome.status).to_lowercase(), "metrics": &outcome.metrics})
        );
        send(ws, &outcome.done_message(id))?;
        // The assistant ended the conversation: say so after the reply, then close.
        if let Some(reason) = outcome.ending {
            send(ws, &ServerMessage::SessionEnd { reason })?;
            let _ = ws.close(Some(1000), Some("conversation ended"));
        }
        Ok(())
    }
}
