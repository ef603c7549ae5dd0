//! (v2) The end of a spoken turn decided at the edge: the adapter of
//! [`crate::session::turn_end`]. The first pause of an utterance starts its driver, which
//! transcribes at each pause, runs the speculative reply the machine asks for, and at the
//! commit sends `turn.committed` and lets that reply go out (or starts one). Later pauses,
//! speech again and the client's fallback stop only update the machine and wake the driver.

use futures::stream::{FuturesUnordered, StreamExt};
use futures::{FutureExt, future::LocalBoxFuture};

use super::utterance::wav_ms;
use super::*;
use crate::session::end_of_turn::{self, Eagerness};
use crate::session::turn_end::{EndOfTurn, Step, TurnEnd, Verdict};

/// The open utterance's end of turn.
pub(super) struct OpenTurnEnd {
    stream_id: u32,
    machine: TurnEnd,
    /// The audio so far at the latest pause (or all of it, at the client's stop).
    wav: Vec<u8>,
    /// When the latest transcript came.
    transcript_at: u64,
    /// Audio transcribed at the pauses, ms: billed once, at the end.
    stt_ms: u64,
    /// Wakes the driver when the machine changed outside it; dropped when the client left.
    wake: mpsc::UnboundedSender<()>,
}

/// What woke the driver.
enum Woken {
    /// The machine changed (a pause, speech again, the client's stop).
    News,
    /// The client left.
    Left,
    /// The commit's time came.
    Due,
    Done(Done),
}

/// Waits for the next thing the driver must handle: news, the commit's time (`due`), or a
/// piece of `work` that ended. Once the client has left (`gone`), the ended channel is not
/// polled again: it would be ready at once, for ever, and the loop would never yield.
async fn next_woken(
    due: Option<u64>,
    work: &mut FuturesUnordered<LocalBoxFuture<'_, Done>>,
    wake: &mut mpsc::UnboundedReceiver<()>,
    gone: bool,
) -> Woken {
    let timer = match due {
        Some(at) => Delay::from(std::time::Duration::from_millis(
            at.saturating_sub(now_ms()),
        ))
        .left_future(),
        None => future::pending().right_future(),
    };
    let next_work = async {
        match work.next().await {
            Some(done) => done,
            None => future::pending().await,
        }
    };
    let woken = async {
        if gone {
            future::pending().await
        } else {
            wake.next().await
        }
    };
    futures::pin_mut!(timer, next_work, woken);
    match future::select(future::select(woken, timer), next_work).await {
        Either::Left((Either::Left((Some(()), _)), _)) => Woken::News,
        Either::Left((Either::Left((None, _)), _)) => Woken::Left,
        Either::Left((Either::Right(_), _)) => Woken::Due,
        Either::Right((done, _)) => Woken::Done(done),
    }
}

/// Work of the driver that ended.
enum Done {
    Transcribed {
        pause: u32,
        result: std::result::Result<String, ProviderFailure>,
        audio_ms: u64,
    },
    Replied(Result<Option<reply::Discarded>>),
}

impl VoiceSession {
    /// `input.speech_paused`: the first pause of an utterance starts its driver (which this
    /// call then runs until the turn is answered); a later one tells it.
    pub(super) async fn on_paused(
        &self,
        ws: &WebSocket,
        stream_id: u32,
        wav: Vec<u8>,
        silence_ms: u32,
    ) -> Result<()> {
        let now = now_ms();
        let wake = {
            let mut slot = self.turn_end.borrow_mut();
            match slot.as_mut().filter(|o| o.stream_id == stream_id) {
                Some(open) => {
                    open.machine.paused(now, silence_ms);
                    open.wav = wav;
                    let _ = open.wake.unbounded_send(());
                    None
                }
                None => {
                    let (tx, rx) = mpsc::unbounded();
                    let mut machine = TurnEnd::new(end_of_turn::cap_ms(Eagerness::default()));
                    machine.paused(now, silence_ms);
                    *slot = Some(OpenTurnEnd {
                        stream_id,
                        machine,
                        wav,
                        transcript_at: now,
                        stt_ms: 0,
                        wake: tx,
                    });
                    Some(rx)
                }
            }
        };
        match wake {
            Some(wake) => self.drive_turn_end(ws, stream_id, wake).await,
            None => Ok(()),
        }
    }

    /// `input.speech_resumed`, or the client's `input.speech_stopped` (with all the audio)
    /// for an utterance whose end the edge is deciding. If it has no driver, the audio comes
    /// back, for the v1 path (no copy of it is made).
    pub(super) fn on_turn_end_news(
        &self,
        stream_id: u32,
        stopped: Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        let mut slot = self.turn_end.borrow_mut();
        let Some(open) = slot.as_mut().filter(|o| o.stream_id == stream_id) else {
            return stopped;
        };
        match stopped {
            Some(wav) => {
                open.wav = wav;
                open.machine.stopped(now_ms());
            }
            None => open.machine.resumed(),
        }
        let _ = open.wake.unbounded_send(());
        None
    }

    /// The client left: the driver drops what it started.
    pub(super) fn end_turn_end(&self) {
        self.turn_end.borrow_mut().take();
    }

    fn turn_end_steps(&self, stream_id: u32) -> Vec<Step> {
        let mut slot = self.turn_end.borrow_mut();
        let Some(open) = slot.as_mut().filter(|o| o.stream_id == stream_id) else {
            return Vec::new();
        };
        std::iter::from_fn(|| open.machine.poll_step()).collect()
    }

    fn with_turn_end<T>(&self, stream_id: u32, f: impl FnOnce(&mut OpenTurnEnd) -> T) -> Option<T> {
        let mut slot = self.turn_end.borrow_mut();
        slot.as_mut().filter(|o| o.stream_id == stream_id).map(f)
    }

    /// Runs utterance `stream_id`'s end of turn until its reply is over.
    async fn drive_turn_end(
        &self,
        ws: &WebSocket,
        stream_id: u32,
        mut wake: mpsc::UnboundedReceiver<()>,
    ) -> Result<()> {
        let Some(config) = self.utterance_grant(ws, stream_id).await? else {
            // Refused (the client was told): the utterance gets no reply; ending it now
            // spares the client its fallback wait.
            self.end_turn_end();
            return self.send_committed(ws, stream_id).map(|_| ());
        };
        let eagerness = config.turn_eagerness;
        self.with_turn_end(stream_id, |o| {
            o.machine.set_cap(end_of_turn::cap_ms(eagerness))
        });
        let language = self.store.get(Meta::Language)?;
        let mut work: FuturesUnordered<LocalBoxFuture<'_, Done>> = FuturesUnordered::new();
        // The speculative reply's control channel.
        let mut speculation: Option<mpsc::UnboundedSender<Control>> = None;
        let mut gone = false;
        loop {
            if !gone {
                for step in self.turn_end_steps(stream_id) {
                    self.perform_turn_end(
                        ws,
                        &config,
                        stream_id,
                        step,
                        &mut work,
                        &mut speculation,
                    )?;
                }
            }
            let committed = self
                .with_turn_end(stream_id, |o| o.machine.is_committed())
                .unwrap_or(true);
            if (committed || gone) && work.is_empty() {
                break;
            }
            let due = self
                .with_turn_end(stream_id, |o| o.machine.poll_timeout())
                .flatten();
            match next_woken(due, &mut work, &mut wake, gone).await {
                Woken::News => {}
                Woken::Left => {
                    // The client left: what was started is dropped, never committed.
                    gone = true;
                    if let Some(s) = speculation.take() {
                        let _ = s.unbounded_send(Control::Gone);
                    }
                }
                Woken::Due => {
                    self.with_turn_end(stream_id, |o| o.machine.handle_timeout(now_ms()));
                }
                Woken::Done(done) => {
                    self.turn_end_done(stream_id, done, eagerness, language.as_deref())
                        .await?
                }
            }
        }
        let stt_ms = self
            .turn_end
            .borrow_mut()
            .take_if(|o| o.stream_id == stream_id)
            .map_or(0, |o| o.stt_ms);
        if stt_ms > 0 {
            self.report_usage(stt_ms, 0).await;
        }
        Ok(())
    }

    fn perform_turn_end<'a>(
        &'a self,
        ws: &'a WebSocket,
        config: &'a ProviderConfig,
        stream_id: u32,
        step: Step,
        work: &mut FuturesUnordered<LocalBoxFuture<'a, Done>>,
        speculation: &mut Option<mpsc::UnboundedSender<Control>>,
    ) -> Result<()> {
        match step {
            Step::Transcribe { pause } => {
                let wav = self
                    .with_turn_end(stream_id, |o| std::mem::take(&mut o.wav))
                    .unwrap_or_default();
                let audio_ms = wav_ms(&wav);
                work.push(
                    async move {
                        let result = self.transcript_of(config, stream_id, wav, true).await;
                        Done::Transcribed {
                            pause,
                            result,
                            audio_ms,
                        }
                    }
                    .boxed_local(),
                );
            }
            Step::Speculate {
                text,
                speech_end_ms: eos,
                ..
            } => {
                let input = UserTurn {
                    text,
                    stream_id: Some(stream_id),
                    eos,
                    eos_to_transcript_ms: Some(now_ms().saturating_sub(eos) as u32),
                    speech_ms: 0, // billed as transcribed at the pauses
                };
                let (tx, rx) = mpsc::unbounded();
                *speculation = Some(tx.clone());
                work.push(
                    self.reply(ws, config, input, ReplyMode::Speculative(tx, rx))
                        .map(Done::Replied)
                        .boxed_local(),
                );
            }
            Step::Discard { .. } => {
                if let Some(s) = speculation.take() {
                    let _ = s.unbounded_send(Control::Discard);
                }
            }
            Step::Commit {
                text,
                end,
                speech_end_ms,
            } => {
                let eos = speech_end_ms.unwrap_or_else(now_ms);
                let reply = self.commit_turn(ws, config, stream_id, text, end, eos, speculation)?;
                if let Some(reply) = reply {
                    work.push(reply.map(|r| Done::Replied(r.map(|_| None))).boxed_local());
                }
            }
        }
        Ok(())
    }

    /// The commit: `turn.committed`, then the speculative reply goes out (after its
    /// transcript), or the reply to start now is returned: on the pause's transcript, or on
    /// one of all the audio.
    #[allow(clippy::too_many_arguments)]
    fn commit_turn<'a>(
        &'a self,
        ws: &'a WebSocket,
        config: &'a ProviderConfig,
        stream_id: u32,
        text: Option<String>,
        end: EndOfTurn,
        eos: u64,
        speculation: &mut Option<mpsc::UnboundedSender<Control>>,
    ) -> Result<Option<LocalBoxFuture<'a, Result<()>>>> {
        let all = self.send_committed(ws, stream_id)?;
        if end.speculative {
            let text = text.unwrap_or_default();
            send(ws, &ServerMessage::TranscriptFinal { stream_id, text })?;
            *self.committed_end.borrow_mut() = Some(end);
            if let Some(s) = speculation.take() {
                let _ = s.unbounded_send(Control::Commit);
            }
            return Ok(None);
        }
        Ok(Some(match text {
            Some(text) => {
                let at = self
                    .with_turn_end(stream_id, |o| o.transcript_at)
                    .unwrap_or(eos);
                let input = UserTurn {
                    text,
                    stream_id: Some(stream_id),
                    eos,
                    eos_to_transcript_ms: Some(at.saturating_sub(eos) as u32),
                    speech_ms: 0,
                };
                self.answer_transcript(ws, config, input, Some(end))
                    .boxed_local()
            }
            None => self
                .answer_utterance(ws, config, stream_id, all, eos, Some(end))
                .boxed_local(),
        }))
    }

    /// Sends `turn.committed` and closes the utterance; returns all of its audio.
    fn send_committed(&self, ws: &WebSocket, stream_id: u32) -> Result<Vec<u8>> {
        let closed = self
            .sessions
            .borrow_mut()
            .get_mut(&attachment(ws).connection)
            .and_then(|s| s.commit(stream_id));
        let all = match closed {
            Some(wav) => wav,
            // The client's stop closed it already, with all the audio.
            None => self
                .with_turn_end(stream_id, |o| std::mem::take(&mut o.wav))
                .unwrap_or_default(),
        };
        self.store
            .set(Meta::CommittedStream, &stream_id.to_string())?;
        send(ws, &ServerMessage::TurnCommitted { stream_id })?;
        Ok(all)
    }

    async fn turn_end_done(
        &self,
        stream_id: u32,
        done: Done,
        eagerness: Eagerness,
        language: Option<&str>,
    ) -> Result<()> {
        match done {
            Done::Transcribed {
                pause,
                result,
                audio_ms,
            } => {
                let read = match result {
                    Ok(text) => {
                        let wait = end_of_turn::decide(eagerness, Some(&text), language);
                        // What the rules read, never the words.
                        console_log!(
                            "{}",
                            json!({"event": "end_of_turn_read", "stream_id": stream_id, "reason": wait.reason.as_str(), "cue": wait.cue.map(|c| c.as_str()), "wait_ms": wait.wait_ms})
                        );
                        Some((text.clone(), Verdict::from_wait(wait, &text)))
                    }
                    Err(failure) => {
                        console_log!(
                            "{}",
                            json!({"event": "pause_transcript_failed", "code": failure.code})
                        );
                        None
                    }
                };
                let now = now_ms();
                self.with_turn_end(stream_id, |o| {
                    o.stt_ms += audio_ms;
                    o.transcript_at = now;
                    o.machine.transcribed(pause, read, now);
                });
            }
            Done::Replied(result) => {
                if let Some(discarded) = result? {
                    self.with_turn_end(stream_id, |o| o.machine.spent(discarded.llm_tokens));
                }
            }
        }
        Ok(())
    }
}
