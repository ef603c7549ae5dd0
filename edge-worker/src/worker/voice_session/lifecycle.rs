//! A conversation's start and resumption on a socket, and its session tokens.

use super::*;
use crate::session::resume::{self, Opening, Refusal, Verdict};
use crate::session::token::TokenError;
use crate::tenant::rpc::TakeOverAnswer;
use slot::UNAVAILABLE;

/// How this socket was admitted.
fn opening(ws: &WebSocket) -> Opening {
    if attachment(ws).resume {
        Opening::Resume
    } else {
        Opening::New
    }
}

/// A refused start or resume: the session does not change, and the client is told why.
fn refuse(ws: &WebSocket, refusal: Refusal) -> Result<()> {
    match refusal {
        Refusal::Unauthorized => send_error(
            ws,
            ErrorCode::Unauthorized,
            "unknown session or wrong token",
        ),
        Refusal::Expired => send_error(
            ws,
            ErrorCode::SessionExpired,
            "the resume window has passed; start a new session",
        ),
    }
}

impl VoiceSession {
    /// `session.start`: a new conversation on this object, on a connection admitted for one.
    pub(super) fn on_start(&self, ws: &WebSocket, start: &SessionStart) -> Result<()> {
        if let Verdict::Refuse(refusal) = resume::on_start(opening(ws)) {
            return refuse(ws, refusal);
        }
        if let Some(language) = &start.language {
            self.store.set(Meta::Language, language)?;
        }
        if let Some(voice) = &start.voice {
            self.store.set(Meta::Voice, voice)?;
        }
        // A new conversation on this object starts empty.
        self.store.clear_history()?;
        let token = self.sign_token(&self.tenant()?)?;
        self.store.set(Meta::LastSeenMs, &now_ms().to_string())?;
        self.store
            .set(Meta::LiveConnection, &attachment(ws).connection)?;
        self.mark_started(ws, start.protocol)?;
        self.ready(ws, token, false)
    }

    /// `session.resume`: the same conversation on a new socket, with its latest token. Only
    /// then is the conversation's lease handed to this connection and the socket it replaces
    /// closed ([`crate::session::resume`]).
    pub(super) async fn on_resume(&self, ws: &WebSocket, r: &SessionResume) -> Result<()> {
        let tenant = self.tenant()?;
        let conversation = self.conversation()?;
        let token = match signer(&self.env) {
            Some(s) => s.verify_for(&r.token, tenant.as_str(), &conversation, now_ms() / 1000),
            None => Err(TokenError::BadSignature),
        };
        let facts = resume::Conversation {
            id: &conversation,
            latest_generation: self.store.get_u64(Meta::TokenGeneration)?,
            last_seen_ms: self.store.get_u64(Meta::LastSeenMs)?,
            resume_window_ms: u64::from(RESUME_WINDOW_S) * 1000,
            takeover_in_flight: self.takeover_in_flight.get(),
        };
        match resume::on_resume(&facts, &r.session_id, token, now_ms()) {
            Verdict::TakeOver => {}
            Verdict::Refuse(refusal) => return refuse(ws, refusal),
            Verdict::Start => return Ok(()),
        }
        self.takeover_in_flight.set(true);
        let answer: Result<TakeOverAnswer> = call(
            &tenant_stub(&self.env, &tenant)?,
            &tenant,
            "/takeover",
            &self.connection_ref(ws)?,
        )
        .await;
        self.takeover_in_flight.set(false);
        match answer? {
            TakeOverAnswer::Held => {}
            TakeOverAnswer::Limited(l) => {
                send(ws, &ServerMessage::from(l))?;
                let _ = ws.close(Some(1013), Some("rate limited"));
                return Ok(());
            }
            TakeOverAnswer::Refused => {
                send_error(ws, ErrorCode::Unauthorized, UNAVAILABLE)?;
                let _ = ws.close(Some(1008), Some("not available"));
                return Ok(());
            }
        }
        // The lease is this connection's: the replaced socket's reply and utterance stop, and
        // it is closed (its close then frees nothing).
        let connection = attachment(ws).connection;
        self.cancel(None, 0);
        self.end_turn_end();
        self.end_live_stt();
        self.store.set(Meta::LiveConnection, &connection)?;
        for old in self.state.get_websockets() {
            if attachment(&old).connection != connection {
                let _ = old.close(Some(1000), Some("replaced by a newer connection"));
            }
        }
        self.store.set(Meta::LastSeenMs, &now_ms().to_string())?;
        self.mark_started(ws, r.protocol)?;
        let committed = self
            .store
            .get(Meta::CommittedStream)?
            .and_then(|id| id.parse().ok());
        if let Some(s) = self.sessions.borrow_mut().get_mut(&connection) {
            s.mark_resumed(committed);
        }
        let token = self.sign_token(&tenant)?;
        self.ready(ws, token, true)
    }

    /// A new signed session token for this conversation.
    pub(super) fn sign_token(&self, tenant: &TenantId) -> Result<String> {
        let signer = signer(&self.env)
            .ok_or_else(|| worker::Error::RustError("SESSION_SIGNING_KEY missing".into()))?;
        let expires_at_s = now_ms() / 1000 + TOKEN_TTL_S;
        let generation = self.store.get_u64(Meta::TokenGeneration)? + 1;
        self.store
            .set(Meta::TokenExpiresS, &expires_at_s.to_string())?;
        self.store
            .set(Meta::TokenGeneration, &generation.to_string())?;
        Ok(signer.sign(&Claims {
            tenant: tenant.as_str().to_string(),
            conversation: self.conversation()?,
            expires_at_s,
            generation,
        }))
    }

    /// The conversation ended: no token of it resumes any more.
    pub(super) fn revoke_tokens(&self) -> Result<()> {
        let generation = self.store.get_u64(Meta::TokenGeneration)? + 1;
        self.store
            .set(Meta::TokenGeneration, &generation.to_string())
    }

    /// Sends a fresh token when the current one is past half its life.
    pub(super) fn refresh_token(&self, ws: &WebSocket, tenant: &TenantId) -> Result<()> {
        let expires = self.store.get_u64(Meta::TokenExpiresS)?;
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

    /// The session started on this socket, speaking `protocol`.
    pub(super) fn mark_started(&self, ws: &WebSocket, protocol: u32) -> Result<()> {
        if let Some(s) = self
            .sessions
            .borrow_mut()
            .get_mut(&attachment(ws).connection)
        {
            s.mark_started();
        }
        ws.serialize_attachment(Attachment {
            started: true,
            protocol,
            ..attachment(ws)
        })
    }

    /// `session.ready` in the version the client speaks: a v2 one says the edge decides the
    /// end of its turns.
    pub(super) fn ready(&self, ws: &WebSocket, token: String, resumed: bool) -> Result<()> {
        let protocol = attachment(ws).protocol.max(1);
        send(
            ws,
            &ServerMessage::SessionReady(SessionReady {
                protocol,
                session_id: self.conversation()?,
                token,
                resumed,
                input_sample_rate: aura_protocol::limits::INPUT_SAMPLE_RATE,
                output_sample_rate: TTS_RATE,
                resume_window_s: RESUME_WINDOW_S,
                end_of_turn_fallback_ms: (protocol >= 2).then_some(END_OF_TURN_FALLBACK_MS),
            }),
        )
    }
}
