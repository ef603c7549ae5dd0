//! A speculative turn: a reply started on a pause, before the user's turn is committed. It
//! runs everything that has no effect the user could notice (the LLM, TTS, built-ins that
//! only read) and holds back, in order, whatever they would: every message and audio frame
//! to the client, and webhooks (tool calls with side effects; the filler phrase, which only
//! follows a slow webhook, waits with them). [`Turn::commit`] releases what was held, as if
//! the turn had been started at the commit with its work already done; [`Turn::discard`]
//! drops the turn unheard, its requests aborted.

use super::{Command, Phase, Turn, TurnInput};
use crate::providers::router::Router;
use crate::session::turn::config::{FILLER_AFTER_MS, TurnConfig};

/// Whether `command` waits for the commit in a speculative turn.
pub(super) fn waits_for_commit(command: &Command) -> bool {
    matches!(
        command,
        Command::Send(_) | Command::SendFrame(_) | Command::RunTool { builtin: false, .. }
    )
}

impl Turn {
    /// Starts a speculative turn at `now`: like [`Turn::start`], but nothing reaches the
    /// client and no webhook runs before [`Turn::commit`].
    pub fn start_speculative(
        input: TurnInput,
        config: TurnConfig,
        router: Router,
        now: u64,
    ) -> Self {
        Self::begin(input, config, router, now, true)
    }

    /// Whether this is a speculative turn not yet committed or discarded.
    pub fn is_speculative(&self) -> bool {
        self.held.is_some()
    }

    /// The user's turn is committed: what was held goes out now, in order, and the turn goes
    /// on as any other. Its first audio counts from now (it was not sent before).
    pub fn commit(&mut self, now: u64) {
        let Some(mut released) = self.held.take() else {
            return;
        };
        released.extend(self.out.drain(..));
        self.out = released;
        if let Some(first) = self.speech.first_audio_at.as_mut() {
            *first = (*first).max(now);
        }
        if let Phase::Tools(run) = &mut self.phase
            && run.filler_at.is_some()
        {
            // The webhook held back starts now; so does the wait before its filler.
            run.started_ms = now;
            run.filler_at = (!self.filler_said).then_some(now + FILLER_AFTER_MS);
        }
        if let Some(outcome) = self.outcome.as_mut() {
            outcome.metrics.eos_to_first_audio_ms = self
                .speech
                .first_audio_at
                .map(|t| t.saturating_sub(self.input.eos_ms) as u32);
        }
    }

    /// The user went on speaking (or the turn was superseded, or the client left) before the
    /// commit: the turn ends now, unheard. Its LLM, TTS and tool are aborted; nothing it held
    /// is sent, and its outcome says `discarded` (with the tokens it spent).
    pub fn discard(&mut self, now: u64) {
        if self.held.is_none() {
            return;
        }
        self.discarded = true;
        if self.outcome.is_none() {
            self.cancel(None);
        }
        self.held = None;
        self.out.retain(|c| !waits_for_commit(c));
        self.settle(now);
        if let Some(outcome) = self.outcome.as_mut() {
            // Finished before it was dropped: still nothing of it is kept.
            outcome.discarded = true;
            outcome.status = aura_protocol::ResponseStatus::Interrupted;
            outcome.stored.clear();
            outcome.chunks.clear();
        }
    }
}
