//! A conversation's start and resumption on a socket, and its session tokens.

use super::*;
impl VoiceSession {
    /// `session.start`: a new conversation on this object.
    pub(super) fn on_start(&self, ws: &WebSocket, start: &SessionStart) -> Result<()> {
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
        self.mark_started(ws, start.protocol)?;
        self.ready(ws, token, false)
    }

    /// `session.resume`: the same conversation on a new socket, with its latest token.
    pub(super) fn on_resume(&self, ws: &WebSocket, r: &SessionResume) -> Result<()> {
        let tenant = self.tenant()?;
        let conversation = self.conversation()?;
        let last_seen = self.store.get_u64(Meta::LastSeenMs)?;
        // Only the latest token resumes: an older one (refreshed, resumed with since, or one
        // that ended with the conversation) does not.
        let latest = self.store.get_u64(Meta::TokenGeneration)?;
        let valid = r.session_id == conversation
            && signer(&self.env).is_some_and(|s| {
                s.verify_for(&r.token, tenant.as_str(), &conversation, now_ms() / 1000)
                    .is_ok_and(|claims| claims.generation == latest)
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
        self.store.set(Meta::LastSeenMs, &now_ms().to_string())?;
        self.mark_started(ws, r.protocol)?;
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
        if let Some(s) = self.session.borrow_mut().as_mut() {
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
