//! The turn's state machine: LLM steps (planned by the router, falling back before the first
//! token), the tools the model calls between steps (a spoken filler when one is slow), the
//! reply text cut into chunks for [`Speech`], interruption at any point, and the outcome.

use std::collections::VecDeque;

use aura_protocol::{ErrorCode, ResponseStatus, ServerMessage, TurnMetrics};
use serde_json::{Value, json};

use super::ProviderFailure;
pub use super::io::{Command, Event};

mod held;
mod llm;
mod tools;
use super::config::{FILLER, TurnConfig};
use super::speech::Speech;
use crate::providers::openai_chat::ChatStream;
use crate::providers::router::{Failure, Plan, Router};
use crate::providers::tool_calls::{ToolCall, ToolCallAssembler};
use crate::session::conversation::Message;
use crate::session::heard::{SpokenChunk, heard};
use crate::session::sentence::SentenceCutter;

/// A turn's input: the user's words and, for a spoken turn, its timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnInput {
    pub response_id: u32,
    pub text: String,
    pub stream_id: Option<u32>,
    /// End of speech (or when the typed text arrived), ms.
    pub eos_ms: u64,
    pub eos_to_transcript_ms: Option<u32>,
    /// The user's speech sent to STT, ms (0 for typed input).
    pub speech_ms: u64,
    /// The context: system prompt, kept history, the user's turn.
    pub context: Vec<Message>,
}

/// How the turn ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    pub status: ResponseStatus,
    /// The assistant's text to store: all of it, or what was heard of an interrupted reply.
    pub stored: String,
    /// The spoken chunks, for a later interruption of a completed reply.
    pub chunks: Vec<SpokenChunk>,
    pub metrics: TurnMetrics,
    /// Audio billed: the user's speech and the reply's audio, ms.
    pub audio_ms: u64,
    /// Tokens as the provider counted them, or about four characters each if it did not say.
    pub llm_tokens: u64,
    /// The assistant ended the conversation, with this reason.
    pub ending: Option<String>,
    /// A speculative turn dropped before its commit: nothing of it was sent or is stored
    /// (its tokens were spent all the same).
    pub discarded: bool,
}

/// One LLM attempt.
#[derive(Debug)]
struct Attempt {
    id: u32,
    route: usize,
    started_ms: u64,
    /// The last sign of life before the first token (the request, or a reasoning delta): a
    /// provider busy reasoning is not a provider that sends nothing.
    alive_at: u64,
    first_token_ms: Option<u32>,
    /// Tools were offered in its request.
    offered_tools: bool,
    parser: ChatStream,
    cutter: SentenceCutter,
    calls: ToolCallAssembler,
    text: String,
}

/// Running the calls of one step, one at a time.
#[derive(Debug)]
struct ToolRun {
    calls: Vec<ToolCall>,
    next: usize,
    started_ms: u64,
    /// When the filler is due, while a webhook runs.
    filler_at: Option<u64>,
}

#[derive(Debug)]
enum Phase {
    Asking(Box<Attempt>),
    Tools(ToolRun),
    /// No more LLM work: the turn ends when speech is idle.
    Done,
}

/// One reply, from the user's words to the last frame.
#[derive(Debug)]
pub struct Turn {
    input: TurnInput,
    config: TurnConfig,
    router: Router,
    messages: Vec<Value>,
    step: usize,
    plan: Plan,
    plan_pos: usize,
    attempts: u32,
    phase: Phase,
    text: String,
    first_token_ms: Option<u32>,
    usage: Option<(u32, u32)>,
    provider: Option<String>,
    model: Option<String>,
    fallbacks: u32,
    error: Option<ProviderFailure>,
    filler_said: bool,
    /// The context was already cut once for a route that found it too long.
    context_cut: bool,
    speech: Speech,
    cancelled: Option<u32>,
    ending: Option<String>,
    out: VecDeque<Command>,
    /// A speculative turn's commands that wait for the commit ([`held`]).
    held: Option<VecDeque<Command>>,
    discarded: bool,
    outcome: Option<TurnOutcome>,
}

impl Turn {
    /// Starts the turn at `now`. `router` keeps its breakers from earlier turns and follows
    /// this turn's routes; take it back with [`Turn::into_router`].
    pub fn start(input: TurnInput, config: TurnConfig, router: Router, now: u64) -> Self {
        Self::begin(input, config, router, now, false)
    }

    fn begin(
        input: TurnInput,
        config: TurnConfig,
        mut router: Router,
        now: u64,
        speculative: bool,
    ) -> Self {
        router.follow(config.router, config.routes.clone());
        let messages = input
            .context
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let speech = Speech::new(
            input.response_id,
            config.tts.iter().map(|r| r.source_rate).collect(),
        );
        let mut turn = Self {
            config,
            router,
            messages,
            step: 0,
            plan: Plan {
                order: Vec::new(),
                reason: String::new(),
            },
            plan_pos: 0,
            attempts: 0,
            phase: Phase::Done,
            text: String::new(),
            first_token_ms: None,
            usage: None,
            provider: None,
            model: None,
            fallbacks: 0,
            error: None,
            filler_said: false,
            context_cut: false,
            speech,
            cancelled: None,
            ending: None,
            out: VecDeque::new(),
            held: speculative.then(VecDeque::new),
            discarded: false,
            outcome: None,
            input,
        };
        turn.out
            .push_back(Command::Send(ServerMessage::ResponseStarted {
                response_id: turn.input.response_id,
                stream_id: turn.input.stream_id,
            }));
        turn.begin_step(now);
        turn.settle(now);
        turn
    }

    pub fn response_id(&self) -> u32 {
        self.input.response_id
    }

    /// The next command to perform (of a speculative turn, only those that may run before the
    /// commit: see [`held`]).
    pub fn poll_command(&mut self) -> Option<Command> {
        loop {
            let command = self.out.pop_front()?;
            match self.held.as_mut() {
                Some(queue) if held::waits_for_commit(&command) => queue.push_back(command),
                _ => return Some(command),
            }
        }
    }

    /// When [`Turn::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.outcome.is_some() {
            return None;
        }
        match &self.phase {
            Phase::Asking(a) if a.first_token_ms.is_none() => {
                Some(a.alive_at + u64::from(self.config.router.first_token_timeout_ms))
            }
            Phase::Tools(run) if !self.filler_said && self.held.is_none() => run.filler_at,
            _ => None,
        }
    }

    /// The outcome, once the turn is over (a speculative one's only once it was committed or
    /// discarded).
    pub fn outcome(&self) -> Option<&TurnOutcome> {
        self.outcome.as_ref().filter(|_| self.held.is_none())
    }

    /// The router, with what this turn taught its breakers.
    pub fn into_router(self) -> Router {
        self.router
    }

    pub fn handle_timeout(&mut self, now: u64) {
        if self.outcome.is_some() {
            return;
        }
        match &mut self.phase {
            Phase::Asking(a)
                if a.first_token_ms.is_none()
                    && now >= a.alive_at + u64::from(self.config.router.first_token_timeout_ms) =>
            {
                self.attempt_failed(Failure::FirstTokenTimeout, now);
            }
            Phase::Tools(run)
                if run.filler_at.is_some_and(|t| now >= t)
                    && !self.filler_said
                    && self.held.is_none() =>
            {
                run.filler_at = None;
                self.filler_said = true;
                let delta = if self.text.is_empty() {
                    FILLER.to_string()
                } else {
                    format!(" {FILLER}")
                };
                self.say(&delta);
                self.speech.push(FILLER.to_string());
            }
            _ => {}
        }
        self.settle(now);
    }

    pub fn handle(&mut self, event: Event, now: u64) {
        if self.outcome.is_some() && self.held.is_none() {
            return;
        }
        if self.held.is_some() && matches!(event, Event::Cancel { .. } | Event::ClientGone) {
            // Nothing of it was heard: a speculative turn superseded or left is dropped.
            return self.discard(now);
        }
        if self.outcome.is_some() {
            return;
        }
        match event {
            Event::LlmStatus {
                attempt,
                status,
                retry_after_ms,
            } if self.is_attempt(attempt) && status != 200 => {
                let failure = Failure::Status {
                    code: status,
                    retry_after_ms,
                };
                self.attempt_failed(failure, now);
            }
            Event::LlmRefused {
                attempt,
                status,
                retry_after_ms,
                body,
            } if self.is_attempt(attempt) => self.llm_refused(status, retry_after_ms, &body, now),
            Event::LlmBytes { attempt, bytes } if self.is_attempt(attempt) => {
                self.llm_bytes(&bytes, now)
            }
            Event::LlmEnded { attempt } if self.is_attempt(attempt) => self.llm_ended(now),
            Event::LlmBroken { attempt } if self.is_attempt(attempt) => {
                self.attempt_failed(Failure::Disconnect, now)
            }
            Event::TtsStatus { chunk, status } => {
                self.speech.on_status(chunk, status, &mut self.out)
            }
            Event::TtsRefused {
                chunk,
                status,
                code,
            } => self
                .speech
                .on_refused(chunk, status, code.as_deref(), &mut self.out),
            Event::TtsBytes { chunk, bytes } => {
                self.speech.on_audio(chunk, &bytes, now, &mut self.out)
            }
            Event::TtsEnded { chunk } => self.speech.on_end(chunk, now, &mut self.out),
            Event::TtsBroken { chunk } => self.speech.on_broken(chunk, &mut self.out),
            Event::ToolFinished { index, result } => self.tool_finished(index, result, now),
            Event::Cancel { played_ms } => self.cancel(Some(played_ms)),
            Event::ClientGone => {
                self.speech.client_gone();
                self.cancel(None);
            }
            _ => {} // an abandoned attempt's late events
        }
        self.settle(now);
    }

    fn is_attempt(&self, id: u32) -> bool {
        matches!(&self.phase, Phase::Asking(a) if a.id == id)
    }

    fn say(&mut self, delta: &str) {
        self.text.push_str(delta);
        self.out
            .push_back(Command::Send(ServerMessage::ResponseTextDelta {
                response_id: self.input.response_id,
                delta: delta.to_string(),
            }));
    }

    fn log(&mut self, record: Value) {
        self.out.push_back(Command::Log(record));
    }

    /// The user interrupted (or the client left): everything in flight stops now.
    fn cancel(&mut self, played_ms: Option<u32>) {
        self.cancelled = Some(played_ms.unwrap_or(0));
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Asking(a) => {
                self.text.push_str(&a.text);
                self.out.push_back(Command::AbortLlm { attempt: a.id });
            }
            Phase::Tools(_) => self.out.push_back(Command::AbortTools),
            Phase::Done => {}
        }
        if self.speech.in_flight() {
            self.out.push_back(Command::AbortTts);
        }
        self.speech.cut();
    }

    /// Starts what can start, and ends the turn when nothing is left to do.
    fn settle(&mut self, now: u64) {
        if self.outcome.is_some() {
            return;
        }
        let config = &self.config;
        self.speech.poll(
            now,
            |route, say| config.speech_request(route, say),
            &mut self.out,
        );
        if matches!(self.phase, Phase::Done) && self.speech.is_idle() {
            self.finish();
        }
    }

    fn finish(&mut self) {
        let chunks = self.speech.spoken();
        let failure = self.error.clone().or_else(|| {
            self.speech
                .failure()
                .map(|m| ProviderFailure::new(ErrorCode::ProviderError, m))
        });
        let (status, stored) = match (self.cancelled, failure) {
            _ if self.discarded => (ResponseStatus::Interrupted, String::new()),
            (Some(played_ms), _) => (ResponseStatus::Interrupted, heard(&chunks, played_ms).text),
            (None, Some(f)) => {
                self.out
                    .push_back(Command::Send(ServerMessage::error(f.code, f.message)));
                (ResponseStatus::Failed, self.text.clone())
            }
            (None, None) => {
                let end = self.speech.end_frame();
                self.out.push_back(end);
                (ResponseStatus::Completed, self.text.clone())
            }
        };
        let reply_audio_ms: u64 = chunks.iter().map(|c| u64::from(c.audio_ms)).sum();
        let context_chars: usize = self.input.context.iter().map(|m| m.content.len()).sum();
        let llm_tokens = self
            .usage
            .map_or((context_chars + self.text.len()) as u64 / 4, |(p, c)| {
                u64::from(p) + u64::from(c)
            });
        let metrics = TurnMetrics {
            eos_to_transcript_ms: self.input.eos_to_transcript_ms,
            llm_first_token_ms: self.first_token_ms,
            tts_first_byte_ms: self.speech.first_byte_ms,
            eos_to_first_audio_ms: self
                .speech
                .first_audio_at
                .map(|t| t.saturating_sub(self.input.eos_ms) as u32),
            provider: self.provider.clone(),
            model: self.model.clone(),
            fallbacks: self.fallbacks,
            prompt_tokens: self.usage.map(|u| u.0),
            completion_tokens: self.usage.map(|u| u.1),
            ..TurnMetrics::default()
        };
        self.outcome = Some(TurnOutcome {
            status,
            stored,
            chunks,
            metrics,
            audio_ms: self.input.speech_ms + reply_audio_ms,
            llm_tokens,
            ending: self.ending.take(),
            discarded: self.discarded,
        });
    }
}

impl TurnOutcome {
    /// The `response.done` message for reply `response_id`.
    pub fn done_message(&self, response_id: u32) -> ServerMessage {
        ServerMessage::ResponseDone {
            response_id,
            status: self.status,
            metrics: self.metrics.clone(),
        }
    }
}
