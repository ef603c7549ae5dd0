//! Whole turns driven against fake providers in virtual time: every command the turn gives is
//! performed by [`Fake`], which schedules the providers' answers; the clock jumps from one
//! scheduled event (or the turn's own timeout) to the next.

mod refusals;
mod speculative;
mod turns;

use aura_protocol::{AudioFrame, ServerMessage};
use serde_json::{Value, json};

use super::builtins::ToolResult;
use super::config::TurnConfig;
use super::core::{Command, Event, Turn, TurnInput};
use crate::providers::router::{Route, Router, RouterConfig, Tier};
use crate::providers::tts::TtsRoute;
use crate::session::conversation::{Message, Role};
use crate::tenant::settings::{TtsApi, TtsFormat};

/// What one LLM attempt does.
#[derive(Clone)]
pub(super) enum Llm {
    /// Status 200 after `first_ms`, then one delta every 20 ms, then `finish_reason` and,
    /// if `done`, `[DONE]`; the body ends.
    Reply {
        first_ms: u64,
        deltas: Vec<&'static str>,
        done: bool,
    },
    /// One tool call, then `finish_reason: tool_calls`.
    Call {
        name: &'static str,
        arguments: &'static str,
    },
    /// Reasoning deltas every 300 ms for `reasoning_ms`, then a reply.
    Reasoning {
        reasoning_ms: u64,
        reply: &'static str,
    },
    /// An error status.
    Status(u16),
    /// An error status with this body.
    Refused(u16, &'static str),
    /// No answer at all.
    Hang,
}

pub(super) fn sse(v: Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

pub(super) fn delta(text: &str) -> Vec<u8> {
    sse(json!({"choices": [{"index": 0, "delta": {"content": text}}]}))
}

pub(super) fn finish(reason: &str) -> Vec<u8> {
    sse(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
}

#[derive(Default)]
pub(super) struct Fake {
    pub(super) now: u64,
    pub(super) seq: u64,
    pub(super) llm: Vec<Llm>,
    /// How long a webhook takes.
    pub(super) tool_ms: u64,
    /// Scheduled events: (when, order, event).
    pub(super) pending: Vec<(u64, u64, Event)>,
    /// The user interrupts at this time, after hearing this much.
    pub(super) cancel_at: Option<(u64, u32)>,
    pub(super) sent: Vec<ServerMessage>,
    pub(super) frames: Vec<Vec<u8>>,
    pub(super) logs: Vec<Value>,
    pub(super) llm_requests: Vec<(usize, Value)>,
    pub(super) aborted_llm: Vec<u32>,
    pub(super) tts_inputs: Vec<String>,
    pub(super) tts_aborted: bool,
    pub(super) tools_run: Vec<String>,
    pub(super) tools_aborted: bool,
}

impl Fake {
    pub(super) fn at(&mut self, after: u64, event: Event) {
        self.seq += 1;
        self.pending.push((self.now + after, self.seq, event));
    }

    pub(super) fn perform(&mut self, command: Command) {
        match command {
            Command::Send(m) => self.sent.push(m),
            Command::SendFrame(f) => self.frames.push(f),
            Command::Log(l) => self.logs.push(l),
            Command::StartLlm {
                attempt,
                route,
                body,
            } => {
                self.llm_requests.push((route, body));
                let script = if self.llm.is_empty() {
                    Llm::Hang
                } else {
                    self.llm.remove(0)
                };
                self.script_llm(attempt, script);
            }
            Command::AbortLlm { attempt } => {
                self.aborted_llm.push(attempt);
                self.pending.retain(|(_, _, e)| {
                    !matches!(e,
                    Event::LlmStatus { attempt: a, .. } | Event::LlmBytes { attempt: a, .. }
                    | Event::LlmEnded { attempt: a } if *a == attempt)
                });
            }
            Command::StartTts { chunk, request, .. } => {
                let input = request.body["input"].as_str().unwrap().to_string();
                // 65 ms of 24 kHz audio per character, in two reads.
                let bytes = input.chars().count() * 65 * 24 * 2;
                self.tts_inputs.push(input);
                self.at(150, Event::TtsStatus { chunk, status: 200 });
                self.at(
                    150,
                    Event::TtsBytes {
                        chunk,
                        bytes: vec![0; bytes / 2],
                    },
                );
                self.at(
                    160,
                    Event::TtsBytes {
                        chunk,
                        bytes: vec![0; bytes - bytes / 2],
                    },
                );
                self.at(170, Event::TtsEnded { chunk });
            }
            Command::AbortTts => {
                self.tts_aborted = true;
                self.pending.retain(|(_, _, e)| {
                    !matches!(
                        e,
                        Event::TtsStatus { .. } | Event::TtsBytes { .. } | Event::TtsEnded { .. }
                    )
                });
            }
            Command::RunTool {
                index,
                call,
                builtin,
            } => {
                self.tools_run.push(call.name.clone());
                let result = ToolResult::ok(json!({"status": "shipped"}));
                self.at(
                    if builtin { 0 } else { self.tool_ms },
                    Event::ToolFinished { index, result },
                );
            }
            Command::AbortTools => {
                self.tools_aborted = true;
                self.pending
                    .retain(|(_, _, e)| !matches!(e, Event::ToolFinished { .. }));
            }
        }
    }

    /// The last bytes of an attempt's body at `after` ms, and its end.
    pub(super) fn end_body(&mut self, attempt: u32, after: u64, bytes: Vec<u8>) {
        self.at(after, Event::LlmBytes { attempt, bytes });
        self.at(after, Event::LlmEnded { attempt });
    }

    pub(super) fn script_llm(&mut self, attempt: u32, script: Llm) {
        match script {
            Llm::Reply {
                first_ms,
                deltas,
                done,
            } => {
                self.at(
                    first_ms,
                    Event::LlmStatus {
                        attempt,
                        status: 200,
                        retry_after_ms: None,
                    },
                );
                let mut t = first_ms;
                for d in &deltas {
                    self.at(
                        t,
                        Event::LlmBytes {
                            attempt,
                            bytes: delta(d),
                        },
                    );
                    t += 20;
                }
                let mut tail = finish("stop");
                if done {
                    tail.extend_from_slice(b"data: [DONE]\n\n");
                }
                self.end_body(attempt, t, tail);
            }
            Llm::Call { name, arguments } => {
                self.at(
                    100,
                    Event::LlmStatus {
                        attempt,
                        status: 200,
                        retry_after_ms: None,
                    },
                );
                let call = sse(json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]}}]}));
                self.at(
                    100,
                    Event::LlmBytes {
                        attempt,
                        bytes: call,
                    },
                );
                let mut tail = finish("tool_calls");
                tail.extend_from_slice(b"data: [DONE]\n\n");
                self.at(
                    110,
                    Event::LlmBytes {
                        attempt,
                        bytes: tail,
                    },
                );
                self.at(110, Event::LlmEnded { attempt });
            }
            Llm::Reasoning {
                reasoning_ms,
                reply,
            } => {
                let ok = Event::LlmStatus {
                    attempt,
                    status: 200,
                    retry_after_ms: None,
                };
                self.at(100, ok);
                let thinking = sse(
                    json!({"choices": [{"index": 0, "delta": {"reasoning_content": "Hmm, "}}]}),
                );
                let mut t = 100;
                while t < reasoning_ms {
                    let bytes = thinking.clone();
                    self.at(t, Event::LlmBytes { attempt, bytes });
                    t += 300;
                }
                let mut tail = delta(reply);
                tail.extend(finish("stop"));
                tail.extend_from_slice(b"data: [DONE]\n\n");
                self.end_body(attempt, t, tail);
            }
            Llm::Status(status) => {
                self.at(
                    50,
                    Event::LlmStatus {
                        attempt,
                        status,
                        retry_after_ms: None,
                    },
                );
                self.at(50, Event::LlmEnded { attempt });
            }
            Llm::Refused(status, body) => self.at(
                50,
                Event::LlmRefused {
                    attempt,
                    status,
                    retry_after_ms: None,
                    body: body.as_bytes().to_vec(),
                },
            ),
            Llm::Hang => {}
        }
    }

    /// Runs `turn` to its end; panics if it would wait forever.
    pub(super) fn run(&mut self, turn: &mut Turn) {
        for _ in 0..100_000 {
            while let Some(c) = turn.poll_command() {
                self.perform(c);
            }
            if turn.outcome().is_some() {
                return;
            }
            if let Some((at, played)) = self.cancel_at.filter(|(at, _)| {
                self.pending.iter().all(|p| p.0 >= *at)
                    && turn.poll_timeout().is_none_or(|t| t >= *at)
            }) {
                self.cancel_at = None;
                self.now = at;
                turn.handle(Event::Cancel { played_ms: played }, at);
                continue;
            }
            let next = self
                .pending
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| (p.0, p.1))
                .map(|(i, p)| (i, p.0));
            let timeout = turn.poll_timeout();
            match next {
                Some((i, at)) if timeout.is_none_or(|t| at <= t) => {
                    let (at, _, event) = self.pending.remove(i);
                    self.now = self.now.max(at);
                    turn.handle(event, self.now);
                }
                _ => {
                    let t = timeout.expect("the turn waits for nothing: it would hang");
                    self.now = self.now.max(t);
                    turn.handle_timeout(self.now);
                }
            }
        }
        panic!("the turn did not end");
    }

    /// Runs `turn` until `until` ms, or until it waits for nothing more (a speculative turn
    /// waits for its commit): events and timeouts due by then are handled.
    pub(super) fn run_until(&mut self, turn: &mut Turn, until: u64) {
        loop {
            while let Some(c) = turn.poll_command() {
                self.perform(c);
            }
            let next = self
                .pending
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| (p.0, p.1))
                .map(|(i, p)| (i, p.0));
            let timeout = turn.poll_timeout();
            match next {
                Some((i, at)) if at <= until && timeout.is_none_or(|t| at <= t) => {
                    let (at, _, event) = self.pending.remove(i);
                    self.now = self.now.max(at);
                    turn.handle(event, self.now);
                }
                _ => match timeout.filter(|t| *t <= until) {
                    Some(t) => {
                        self.now = self.now.max(t);
                        turn.handle_timeout(self.now);
                    }
                    None => {
                        self.now = self.now.max(until);
                        return;
                    }
                },
            }
        }
    }

    pub(super) fn captions(&self) -> String {
        self.sent
            .iter()
            .filter_map(|m| match m {
                ServerMessage::ResponseTextDelta { delta, .. } => Some(delta.as_str()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn errors(&self) -> Vec<String> {
        self.sent
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Error { code, .. } => Some(format!("{code:?}")),
                _ => None,
            })
            .collect()
    }

    /// (seq, samples, end) of each frame sent.
    pub(super) fn frame_list(&self) -> Vec<(u32, usize, bool)> {
        self.frames
            .iter()
            .map(|b| {
                let f = AudioFrame::decode(b).unwrap();
                (
                    f.header.seq,
                    f.pcm_bytes().len() / 2,
                    f.header.flags.is_end(),
                )
            })
            .collect()
    }
}

pub(super) fn route(provider: &str, tier: Tier) -> Route {
    Route {
        name: provider.into(),
        provider: provider.into(),
        model: format!("{provider}-model"),
        tier,
        reasoning_effort: None,
        context_tokens: None,
    }
}

pub(super) fn config(routes: Vec<Route>) -> TurnConfig {
    TurnConfig {
        routes,
        router: RouterConfig {
            smart: false,
            ..RouterConfig::default()
        },
        offered_tools: Vec::new(),
        builtins: Vec::new(),
        tts: vec![TtsRoute {
            api: TtsApi::Openai,
            format: TtsFormat::Pcm,
            model: "tts-1".into(),
            voice: "alloy".into(),
            source_rate: Some(24_000),
        }],
    }
}

pub(super) fn with_tools(mut c: TurnConfig) -> TurnConfig {
    c.offered_tools = vec![
        json!({"type": "function", "function": {"name": "check_order", "parameters": {"type": "object"}}}),
    ];
    c
}

pub(super) fn input(text: &str, stream_id: Option<u32>) -> TurnInput {
    TurnInput {
        response_id: 7,
        text: text.into(),
        stream_id,
        eos_ms: 0,
        eos_to_transcript_ms: stream_id.map(|_| 200),
        speech_ms: if stream_id.is_some() { 1_500 } else { 0 },
        context: vec![
            Message {
                role: Role::System,
                content: "Be brief.".into(),
            },
            Message {
                role: Role::User,
                content: text.into(),
            },
        ],
    }
}

/// Providers for "Where is my order?": the model calls `check_order`, whose webhook takes
/// 1.5 s (long enough for the filler), then answers "It has shipped.".
pub(super) fn slow_order_check() -> Fake {
    Fake {
        llm: vec![
            Llm::Call {
                name: "check_order",
                arguments: r#"{"id": 1}"#,
            },
            reply(vec!["It has shipped."]),
        ],
        tool_ms: 1_500,
        ..Fake::default()
    }
}

pub(super) fn reply(deltas: Vec<&'static str>) -> Llm {
    Llm::Reply {
        first_ms: 350,
        deltas,
        done: true,
    }
}

/// A turn started at 0 with a router that has seen nothing.
pub(super) fn start(input: TurnInput, config: TurnConfig) -> Turn {
    Turn::start(
        input,
        config,
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    )
}

pub(super) fn one_route() -> Vec<Route> {
    vec![route("openai", Tier::Strong)]
}
