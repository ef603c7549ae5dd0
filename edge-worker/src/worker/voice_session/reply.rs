//! A reply: the turn core run by [`crate::worker::turn_io`], then the history, the usage and
//! `response.done`; a typed turn; the user's interruption of a reply in flight or finished.

use super::*;
use crate::session::turn_end::EndOfTurn;
/// The last completed reply's stored message and spoken chunks, for a late interruption.
#[derive(Serialize, Deserialize)]
pub(super) struct LastReply {
    pub(super) response_id: u32,
    pub(super) seq: f64,
    pub(super) chunks: Vec<SpokenChunk>,
}

/// A turn's input: the user's words and, for a spoken turn, its timing.
pub(super) struct UserTurn {
    pub(super) text: String,
    pub(super) stream_id: Option<u32>,
    /// End of speech (or when the typed text arrived), Unix ms.
    pub(super) eos: u64,
    pub(super) eos_to_transcript_ms: Option<u32>,
    /// The user's speech sent to STT, ms (0 for typed input).
    pub(super) speech_ms: u64,
}

/// How a reply is run.
pub(super) enum ReplyMode {
    /// Answered now; `end` says how its spoken turn's end was decided (v2).
    Now(Option<EndOfTurn>),
    /// Started on a pause, before its turn is committed: held (nothing sent, no webhook)
    /// until [`Control::Commit`], or dropped unheard on [`Control::Discard`], sent on this
    /// channel (made by the caller, so a commit that comes before the reply has started is
    /// not lost).
    Speculative(
        mpsc::UnboundedSender<Control>,
        mpsc::UnboundedReceiver<Control>,
    ),
}

/// A speculative reply dropped unheard, and the LLM tokens it spent.
pub(super) struct Discarded {
    pub(super) llm_tokens: u64,
}

impl VoiceSession {
    /// `input.text`: a typed turn.
    pub(super) async fn on_text(&self, ws: &WebSocket, text: String) -> Result<()> {
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
        self.reply(ws, &config, input, ReplyMode::Now(None))
            .await
            .map(|_| ())
    }

    /// `response.cancel`: the reply in flight stops, or a finished one is cut to what was heard.
    pub(super) fn on_cancel(&self, response_id: u32, played_ms: u32) -> Result<()> {
        let in_flight = self
            .active
            .borrow()
            .as_ref()
            .is_some_and(|r| r.response_id == Some(response_id));
        if in_flight {
            self.cancel(Some(response_id), played_ms);
        } else {
            self.cut_finished_reply(response_id, played_ms)?;
        }
        Ok(())
    }

    /// The user interrupted a reply that was already sent in full: its stored text becomes
    /// what was heard of it (nothing if none was).
    pub(super) fn cut_finished_reply(&self, response_id: u32, played_ms: u32) -> Result<()> {
        let Some(last) = self
            .store
            .get(Meta::LastReply)?
            .and_then(|v| serde_json::from_str::<LastReply>(&v).ok())
            .filter(|l| l.response_id == response_id)
        else {
            return Ok(()); // an older reply, or one with nothing stored
        };
        let text = heard(&last.chunks, played_ms).text;
        self.store.rewrite(last.seq, &text)?;
        self.store.set(Meta::LastReply, "")?;
        console_log!(
            "{}",
            json!({"event": "reply_cut", "response_id": response_id, "played_ms": played_ms})
        );
        Ok(())
    }

    /// Tells the reply in flight that the user interrupted it (any reply if `response_id` is
    /// `None`, when the client left).
    pub(super) fn cancel(&self, response_id: Option<u32>, played_ms: u32) {
        if let Some(reply) = self
            .active
            .borrow()
            .as_ref()
            .filter(|r| response_id.is_none_or(|id| Some(id) == r.response_id))
        {
            let control = match response_id {
                Some(_) => Control::Cancel { played_ms },
                None => Control::Gone,
            };
            let _ = reply.control.unbounded_send(control);
        }
    }

    /// One reply at a time: this turn becomes the one in flight, and the turn it replaces is
    /// told it is superseded (it ends as interrupted, keeping what it sent) and awaited, so
    /// replies never interleave. `None` if this turn was itself superseded (or the client
    /// left) while it waited: it never starts.
    async fn supersede(
        &self,
        control: mpsc::UnboundedSender<Control>,
        finished: oneshot::Receiver<()>,
    ) -> Option<u64> {
        let seq = self.turns.get() + 1;
        self.turns.set(seq);
        let mine = ActiveReply {
            seq,
            response_id: None,
            control,
            finished: Some(finished),
        };
        let previous = self.active.borrow_mut().replace(mine);
        if let Some(mut previous) = previous {
            let _ = previous.control.unbounded_send(Control::Superseded);
            if let Some(ended) = previous.finished.take() {
                let _ = ended.await;
            }
        }
        let still_mine = self.active.borrow().as_ref().is_some_and(|a| a.seq == seq);
        if !still_mine {
            console_log!("{}", json!({"event": "turn_superseded_before_start"}));
            return None;
        }
        Some(seq)
    }

    /// One reply: the turn core decides, [`TurnIo`] performs; then the history, the usage
    /// and `response.done`. A speculative one that was dropped returns what it spent.
    pub(super) async fn reply(
        &self,
        ws: &WebSocket,
        config: &ProviderConfig,
        input: UserTurn,
        mode: ReplyMode,
    ) -> Result<Option<Discarded>> {
        let UserTurn {
            text: user_text,
            stream_id,
            eos,
            eos_to_transcript_ms,
            speech_ms,
        } = input;
        let (end, (control, mut controls)) = match mode {
            ReplyMode::Now(end) => (Some(end), mpsc::unbounded()),
            ReplyMode::Speculative(tx, rx) => (None, (tx, rx)),
        };
        let speculative = end.is_none();
        let (_finished, finished) = oneshot::channel::<()>();
        let Some(seq) = self.supersede(control, finished).await else {
            return Ok(None);
        };
        let id = self.next_response_id()?;
        let context = build_context(
            &config.system_prompt,
            &self.store.history()?,
            &user_text,
            config.context_budget_tokens,
        );
        if !speculative {
            self.store.remember(Role::User, &user_text, now_ms())?;
        }
        if let Some(active) = self.active.borrow_mut().as_mut().filter(|a| a.seq == seq) {
            active.response_id = Some(id);
        }
        let router = self
            .router
            .borrow_mut()
            .take()
            .unwrap_or_else(|| LlmRouter::new(RouterConfig::default(), Vec::new()));
        let input = TurnInput {
            response_id: id,
            text: user_text.clone(),
            stream_id,
            eos_ms: eos,
            eos_to_transcript_ms,
            speech_ms,
            context,
        };
        let turn_config = TurnConfig::from_providers(config);
        let mut turn = if speculative {
            Turn::start_speculative(input, turn_config, router, now_ms())
        } else {
            Turn::start(input, turn_config, router, now_ms())
        };
        let conversation = self.conversation()?;
        TurnIo::new(ws, config, &conversation)
            .drive(&mut turn, &mut controls)
            .await;
        let Some(mut outcome) = turn.outcome().cloned() else {
            return Ok(None);
        };
        *self.router.borrow_mut() = Some(turn.into_router());
        {
            let mut active = self.active.borrow_mut();
            if active.as_ref().is_some_and(|a| a.seq == seq) {
                *active = None;
            }
        }
        if outcome.discarded {
            return Ok(Some(self.discarded(id, &outcome).await));
        }
        let end = match end {
            Some(end) => end,
            None => {
                self.store.remember(Role::User, &user_text, now_ms())?;
                self.committed_end.borrow_mut().take()
            }
        };
        if let Some(end) = &end {
            end.apply(&mut outcome.metrics);
        }
        self.finish_reply(ws, config, id, &outcome)
            .await
            .map(|_| None)
    }

    /// Reply ids must keep increasing across hibernation and reconnects: the client treats a
    /// reply id at or below one it has finished as stale audio. So the counter is stored.
    fn next_response_id(&self) -> Result<u32> {
        let id = u32::try_from(self.store.get_u64(Meta::LastResponseId)?).unwrap_or(0) + 1;
        self.store.set(Meta::LastResponseId, &id.to_string())?;
        Ok(id)
    }

    /// A speculative reply dropped unheard: what it spent is reported and logged.
    async fn discarded(&self, id: u32, outcome: &TurnOutcome) -> Discarded {
        self.report_speculation(outcome.llm_tokens).await;
        console_log!(
            "{}",
            json!({"event": "speculation_discarded", "response_id": id, "llm_tokens": outcome.llm_tokens})
        );
        Discarded {
            llm_tokens: outcome.llm_tokens,
        }
    }

    /// A reply that was heard (or failed): its history, usage, log and `response.done`, and
    /// the end of the conversation if the assistant ended it.
    async fn finish_reply(
        &self,
        ws: &WebSocket,
        config: &ProviderConfig,
        id: u32,
        outcome: &TurnOutcome,
    ) -> Result<()> {
        self.store_reply(id, outcome)?;
        self.report_turn_usage(config, outcome.audio_ms, outcome.llm_tokens)
            .await;
        console_log!(
            "{}",
            json!({"event": "turn", "response_id": id, "status": format!("{:?}", outcome.status).to_lowercase(), "metrics": &outcome.metrics})
        );
        send(ws, &outcome.done_message(id))?;
        // The assistant ended the conversation: say so after the reply, then close.
        if let Some(reason) = outcome.ending.clone() {
            self.revoke_tokens()?;
            send(ws, &ServerMessage::SessionEnd { reason })?;
            let _ = ws.close(Some(1000), Some("conversation ended"));
        }
        Ok(())
    }

    /// Keeps the reply's text in the history (what was heard of it), and for a completed one
    /// what is needed to cut it if the user interrupts it after it was sent: a reply is usually
    /// sent faster than it plays.
    fn store_reply(&self, id: u32, outcome: &TurnOutcome) -> Result<()> {
        if outcome.stored.trim().is_empty() {
            return Ok(());
        }
        self.store
            .remember(Role::Assistant, &outcome.stored, now_ms())?;
        if outcome.status == ResponseStatus::Completed {
            let last = LastReply {
                response_id: id,
                seq: self.store.last_message_seq()?,
                chunks: outcome.chunks.clone(),
            };
            self.store
                .set(Meta::LastReply, &serde_json::to_string(&last)?)?;
        }
        Ok(())
    }
}
