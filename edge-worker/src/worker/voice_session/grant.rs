//! Turns are granted by the tenant's object: asking for one (keys opened in memory), and
//! reporting a turn's usage.

use super::*;
/// The turn of an utterance, asked for when its speech started. The answer is the turn's
/// configuration, or `None` if it was refused (the client was told); a dropped sender means
/// it must be asked for again.
pub(super) struct PendingGrant {
    pub(super) stream_id: u32,
    pub(super) answer: oneshot::Receiver<Option<ProviderConfig>>,
}

impl VoiceSession {
    /// Asks the tenant's object for a turn. Granted: the turn's provider configuration, keys
    /// opened in memory. Otherwise the client is told why (`rate_limited`, or an error) and
    /// there is no turn.
    pub(super) async fn grant(&self, ws: &WebSocket) -> Result<Option<ProviderConfig>> {
        // This connection's own limit first: a flood on one socket never reaches the tenant.
        if let Err(l) = self.connection_turns.borrow_mut().admit(now_ms()) {
            send(ws, &ServerMessage::from(l))?;
            return Ok(None);
        }
        let tenant = self.tenant()?;
        let answer: TurnAnswer = call(
            &tenant_stub(&self.env, &tenant)?,
            &tenant,
            "/turn",
            &self.connection_ref(ws)?,
        )
        .await?;
        let (settings, slots, reservation) = match answer {
            TurnAnswer::Granted {
                settings,
                keys,
                reservation,
            } => (settings, keys, reservation),
            TurnAnswer::Limited(l) => {
                send(ws, &ServerMessage::from(l))?;
                return Ok(None);
            }
            // Disabled, revoked, origin removed, or replaced: the session ends here.
            TurnAnswer::Refused { message } => {
                send_error(ws, ErrorCode::Unauthorized, &message)?;
                let _ = ws.close(Some(1008), Some("not available"));
                return Ok(None);
            }
        };
        self.store
            .set(Meta::RetentionDays, &settings.retention_days.to_string())?;
        let master = match self.env.secret("MASTER_KEYS") {
            Ok(spec) => MasterKeys::parse(&spec.to_string()).ok(),
            Err(_) => None,
        };
        let now = now_ms();
        let mut broken: Option<String> = None;
        let config = ProviderConfig::from_tenant(&settings, |slot| {
            let Some(sealed) = slots.get(slot) else {
                return Vec::new();
            };
            let bound = aad(tenant.as_str(), slot, &settings.key_binding(slot));
            match master.as_ref().map(|m| usable_keys(m, sealed, &bound, now)) {
                Some(Ok(keys)) => keys,
                _ => {
                    broken = Some(slot.to_string());
                    Vec::new()
                }
            }
        });
        if let Some(slot) = broken {
            // Logged without any key material: which slot failed is enough to act on.
            console_log!(
                "{}",
                json!({"event": "provider_key_unreadable", "tenant": tenant.as_str(), "slot": slot})
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
        config.reservation = reservation;
        // The page's voice, if it asked for one at the start.
        if let Some(voice) = self.store.get(Meta::Voice)?.filter(|v| !v.is_empty()) {
            config.tts_voice = voice;
        }
        Ok(Some(config))
    }

    /// Reports usage to the tenant's object (not the turn's last report).
    pub(super) async fn report_usage(&self, audio_ms: u64, llm_tokens: u64) {
        self.send_usage(UsageReport {
            audio_ms,
            llm_tokens,
            speculative_tokens: 0,
            discarded_replies: 0,
            reservation: None,
        })
        .await
    }

    /// Reports a turn's last usage, which releases its grant's hold on the quotas.
    pub(super) async fn report_turn_usage(
        &self,
        config: &ProviderConfig,
        audio_ms: u64,
        llm_tokens: u64,
    ) {
        self.send_usage(UsageReport {
            audio_ms,
            llm_tokens,
            speculative_tokens: 0,
            discarded_replies: 0,
            reservation: config.reservation.clone(),
        })
        .await
    }

    /// Reports a speculative reply dropped unheard, which spent `llm_tokens`.
    pub(super) async fn report_speculation(&self, llm_tokens: u64) {
        self.send_usage(UsageReport {
            audio_ms: 0,
            llm_tokens,
            speculative_tokens: llm_tokens,
            discarded_replies: 1,
            reservation: None,
        })
        .await
    }

    async fn send_usage(&self, report: UsageReport) {
        let Ok(tenant) = self.tenant() else { return };
        if let Ok(stub) = tenant_stub(&self.env, &tenant) {
            let _: Result<serde_json::Value> = call(&stub, &tenant, "/usage", &report).await;
        }
    }
}
