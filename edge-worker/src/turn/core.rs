//! The turn's state machine: LLM steps (planned by the router, falling back before the first
//! token), the tools the model calls between steps (a spoken filler when one is slow), the
//! reply text cut into chunks for [`Speech`], interruption at any point, and the outcome.

use std::collections::VecDeque;

use aura_protocol::{ErrorCode, ResponseStatus, ServerMessage, TurnMetrics};
use serde_json::{Value, json};

use super::ProviderFailure;
use super::builtins::{self, ToolResult};
use super::config::{FILLER, FILLER_AFTER_MS, TOOL_STEPS_MAX, TurnConfig};
use super::speech::Speech;
use crate::chat_stream::{ChatEvent, ChatStream};
use crate::conversation::Message;
use crate::heard::{SpokenChunk, heard};
use crate::llm_router::{Failure, Next, Plan, Request as RouteRequest, Router};
use crate::sentence::{CutterConfig, SentenceCutter};
use crate::tool_calls::{ToolCall, ToolCallAssembler};

/// What the turn asks the I/O side to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A message to the client.
    Send(ServerMessage),
    /// An audio frame to the client.
    SendFrame(Vec<u8>),
    /// A log record (no key, no transcript).
    Log(Value),
    /// POST `body` to route `route`'s `v1/chat/completions`, streaming; report as `attempt`.
    StartLlm {
        attempt: u32,
        route: usize,
        body: Value,
    },
    /// Abandon attempt `attempt` (abort its request).
    AbortLlm { attempt: u32 },
    /// POST `body` to the TTS `v1/audio/speech`, streaming; report as `chunk`.
    StartTts { chunk: u32, body: Value },
    /// Abort every TTS request of the turn.
    AbortTts,
    /// Run tool call `index` of the step: a built-in that reads the clock, or a webhook.
    RunTool {
        index: usize,
        call: ToolCall,
        builtin: bool,
    },
    /// Abort the tool in flight, if it allows it.
    AbortTools,
}

/// What happened, as the I/O side saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The LLM answered with its status (and `retry-after`, in ms).
    LlmStatus {
        attempt: u32,
        status: u16,
        retry_after_ms: Option<u64>,
    },
    LlmBytes {
        attempt: u32,
        bytes: Vec<u8>,
    },
    /// The body ended.
    LlmEnded {
        attempt: u32,
    },
    /// The request could not be sent, or the body broke off.
    LlmBroken {
        attempt: u32,
    },
    TtsStatus {
        chunk: u32,
        status: u16,
    },
    TtsBytes {
        chunk: u32,
        bytes: Vec<u8>,
    },
    TtsEnded {
        chunk: u32,
    },
    TtsBroken {
        chunk: u32,
    },
    ToolFinished {
        index: usize,
        result: ToolResult,
    },
    /// The user interrupted after hearing `played_ms` of the reply.
    Cancel {
        played_ms: u32,
    },
    /// The client's socket is gone.
    ClientGone,
}

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
    speech: Speech,
    cancelled: Option<u32>,
    ending: Option<String>,
    out: VecDeque<Command>,
    outcome: Option<TurnOutcome>,
}

impl Turn {
    /// Starts the turn at `now`. `router` keeps its breakers from earlier turns and follows
    /// this turn's routes; take it back with [`Turn::into_router`].
    pub fn start(input: TurnInput, config: TurnConfig, mut router: Router, now: u64) -> Self {
        router.follow(config.router, config.routes.clone());
        let messages = input
            .context
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let speech = Speech::new(input.response_id, config.tts_rate);
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
            speech,
            cancelled: None,
            ending: None,
            out: VecDeque::new(),
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

    /// The next command to perform.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
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
            Phase::Tools(run) if !self.filler_said => run.filler_at,
            _ => None,
        }
    }

    /// The outcome, once the turn is over.
    pub fn outcome(&self) -> Option<&TurnOutcome> {
        self.outcome.as_ref()
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
            Phase::Tools(run) if run.filler_at.is_some_and(|t| now >= t) && !self.filler_said => {
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
            Event::LlmBytes { attempt, bytes } if self.is_attempt(attempt) => {
                self.llm_bytes(&bytes, now)
            }
            Event::LlmEnded { attempt } if self.is_attempt(attempt) => self.llm_ended(now),
            Event::LlmBroken { attempt } if self.is_attempt(attempt) => {
                self.attempt_failed(Failure::Disconnect, now)
            }
            Event::TtsStatus { chunk, status } => self.speech.on_status(chunk, status),
            Event::TtsBytes { chunk, bytes } => {
                self.speech.on_audio(chunk, &bytes, now, &mut self.out)
            }
            Event::TtsEnded { chunk } => self.speech.on_end(chunk, &mut self.out),
            Event::TtsBroken { chunk } => self.speech.on_broken(chunk),
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

    /// Plans a step's routes and starts its first attempt.
    fn begin_step(&mut self, now: u64) {
        self.plan = self.router.plan(
            &RouteRequest {
                user_text: &self.input.text,
                tools_available: self.config.tools_available(),
            },
            now,
        );
        let order: Vec<&str> = self
            .plan
            .order
            .iter()
            .filter_map(|&i| self.config.routes.get(i).map(|r| r.provider.as_str()))
            .collect();
        let record = json!({"event": "route", "response_id": self.input.response_id, "order": order, "reason": self.plan.reason});
        self.log(record);
        self.plan_pos = 0;
        self.start_attempt(now);
    }

    fn start_attempt(&mut self, now: u64) {
        let Some(&route) = self.plan.order.get(self.plan_pos) else {
            self.error = Some(ProviderFailure::new(
                ErrorCode::ProviderError,
                "the language model could not answer: no provider is configured",
            ));
            self.phase = Phase::Done;
            return;
        };
        self.attempts += 1;
        let id = self.attempts;
        self.provider = Some(self.config.routes[route].provider.clone());
        self.model = Some(self.config.routes[route].model.clone());
        let body = self
            .config
            .chat_body(route, &self.messages, self.step < TOOL_STEPS_MAX);
        self.out.push_back(Command::StartLlm {
            attempt: id,
            route,
            body,
        });
        self.phase = Phase::Asking(Box::new(Attempt {
            id,
            route,
            started_ms: now,
            alive_at: now,
            first_token_ms: None,
            parser: ChatStream::new(),
            cutter: SentenceCutter::new(CutterConfig::default()),
            calls: ToolCallAssembler::new(),
            text: String::new(),
        }));
    }

    fn llm_bytes(&mut self, bytes: &[u8], now: u64) {
        let Phase::Asking(a) = &mut self.phase else {
            return;
        };
        let mut deltas = Vec::new();
        let mut called = false;
        let mut reasoning = false;
        let mut usage = None;
        let parsed = a.parser.push(bytes, |event| match event {
            ChatEvent::Text(t) => deltas.push(t),
            ChatEvent::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                called = true;
                a.calls.push(index, id, name, &arguments);
            }
            ChatEvent::Usage {
                prompt_tokens,
                completion_tokens,
            } => {
                usage = Some((prompt_tokens, completion_tokens));
            }
            ChatEvent::Reasoning(_) => reasoning = true,
            _ => {}
        });
        if reasoning {
            a.alive_at = now;
        }
        if let Some((p, c)) = usage {
            let (tp, tc) = self.usage.unwrap_or((0, 0));
            self.usage = Some((tp + p, tc + c));
        }
        // A tool call is the model's answer too: it meets the first-token deadline.
        if (called || !deltas.is_empty()) && a.first_token_ms.is_none() {
            a.first_token_ms = Some(now.saturating_sub(a.started_ms) as u32);
            self.router.succeeded(a.route);
        }
        let mut chunks = Vec::new();
        for delta in &deltas {
            a.text.push_str(delta);
            a.cutter.push(delta, |c| chunks.push(c));
        }
        for delta in deltas {
            self.out
                .push_back(Command::Send(ServerMessage::ResponseTextDelta {
                    response_id: self.input.response_id,
                    delta,
                }));
        }
        chunks.into_iter().for_each(|c| self.speech.push(c));
        if parsed.is_err() {
            self.attempt_failed(Failure::Malformed, now);
        }
    }

    fn llm_ended(&mut self, now: u64) {
        let Phase::Asking(a) = &mut self.phase else {
            return;
        };
        if a.parser.finish().is_err() {
            return self.attempt_failed(Failure::Disconnect, now);
        }
        let mut chunks = Vec::new();
        a.cutter.finish(|c| chunks.push(c));
        chunks.into_iter().for_each(|c| self.speech.push(c));
        let calls = if a.calls.is_empty() {
            Ok(Vec::new())
        } else {
            std::mem::take(&mut a.calls).finish()
        };
        let Ok(calls) = calls else {
            return self.attempt_failed(Failure::Malformed, now);
        };
        let Phase::Asking(a) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return;
        };
        if self.step == 0 {
            self.first_token_ms = a.first_token_ms;
        }
        self.text.push_str(&a.text);
        if calls.is_empty() {
            return;
        }
        if self.step == TOOL_STEPS_MAX {
            let record =
                json!({"event": "tool_steps_exhausted", "response_id": self.input.response_id});
            return self.log(record);
        }
        let listed: Vec<Value> = calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        let content = if a.text.is_empty() {
            Value::Null
        } else {
            a.text.clone().into()
        };
        self.messages
            .push(json!({"role": "assistant", "content": content, "tool_calls": listed}));
        self.phase = Phase::Tools(ToolRun {
            calls,
            next: 0,
            started_ms: now,
            filler_at: None,
        });
        self.run_next_tool(now);
    }

    /// The attempt in flight failed: fall back to the plan's next route before the first
    /// token, or give up.
    fn attempt_failed(&mut self, failure: Failure, now: u64) {
        let Phase::Asking(a) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return;
        };
        self.out.push_back(Command::AbortLlm { attempt: a.id });
        let remaining = self
            .plan
            .order
            .get(self.plan_pos + 1..)
            .unwrap_or(&[])
            .to_vec();
        let tokens_sent = a.first_token_ms.is_some();
        let id = self.input.response_id;
        match self
            .router
            .failed(a.route, failure, tokens_sent, &remaining, now)
        {
            Next::FallBack { reason, .. } => {
                self.log(json!({"event": "route_fallback", "response_id": id, "reason": reason}));
                self.fallbacks += 1;
                self.plan_pos += 1;
                self.start_attempt(now);
            }
            Next::GiveUp { reason } => {
                self.log(json!({"event": "route_give_up", "response_id": id, "reason": reason}));
                if self.step == 0 {
                    self.first_token_ms = a.first_token_ms;
                }
                self.text.push_str(&a.text);
                let code = if failure == Failure::FirstTokenTimeout {
                    ErrorCode::ProviderTimeout
                } else {
                    ErrorCode::ProviderError
                };
                self.error = Some(ProviderFailure::new(
                    code,
                    format!("the language model could not answer: {reason}"),
                ));
            }
        }
    }

    /// Runs the step's next call, or, when all are done, the next step.
    fn run_next_tool(&mut self, now: u64) {
        loop {
            let Phase::Tools(run) = &mut self.phase else {
                return;
            };
            let Some(call) = run.calls.get(run.next).cloned() else {
                break;
            };
            let index = run.next;
            run.started_ms = now;
            if !self.config.builtins.contains(&call.name) {
                run.filler_at = (!self.filler_said).then_some(now + FILLER_AFTER_MS);
                self.out.push_back(Command::RunTool {
                    index,
                    call,
                    builtin: false,
                });
                return;
            }
            let result = match call.name.as_str() {
                "current_time" => {
                    self.out.push_back(Command::RunTool {
                        index,
                        call,
                        builtin: true,
                    });
                    return;
                }
                "transfer_to_human" => {
                    let reason = builtins::reason(&call.arguments);
                    self.out
                        .push_back(Command::Send(ServerMessage::Handoff { reason }));
                    builtins::handed_off()
                }
                "end_conversation" => {
                    self.ending = Some(builtins::reason(&call.arguments));
                    builtins::ending()
                }
                _ => ToolResult::unknown(),
            };
            self.record_tool(index, result, now);
        }
        // Every call of the step has its result: the next step follows what was said so far.
        if !self.text.is_empty() && !self.text.ends_with(char::is_whitespace) {
            self.say(" ");
        }
        self.step += 1;
        self.begin_step(now);
    }

    fn record_tool(&mut self, index: usize, result: ToolResult, now: u64) {
        let Phase::Tools(run) = &mut self.phase else {
            return;
        };
        let name = run.calls[index].name.clone();
        let call_id = run.calls[index].id.clone();
        let ms = now.saturating_sub(run.started_ms);
        run.next = index + 1;
        run.filler_at = None;
        let id = self.input.response_id;
        self.log(json!({"event": "tool_call", "response_id": id, "tool": name, "outcome": result.outcome, "ms": ms}));
        self.messages
            .push(json!({"role": "tool", "tool_call_id": call_id, "content": result.content}));
    }

    fn tool_finished(&mut self, index: usize, result: ToolResult, now: u64) {
        let Phase::Tools(run) = &self.phase else {
            return;
        };
        if run.next != index {
            return;
        }
        self.record_tool(index, result, now);
        self.run_next_tool(now);
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
        self.speech
            .poll(now, |say| config.speech_body(say), &mut self.out);
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
        };
        self.outcome = Some(TurnOutcome {
            status,
            stored,
            chunks,
            metrics,
            audio_ms: self.input.speech_ms + reply_audio_ms,
            llm_tokens,
            ending: self.ending.take(),
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
