//! Whole turns driven against fake providers in virtual time: every command the turn gives is
//! performed by [`Fake`], which schedules the providers' answers; the clock jumps from one
//! scheduled event (or the turn's own timeout) to the next.

use aura_protocol::{AudioFrame, ResponseStatus, ServerMessage};
use serde_json::{Value, json};

use super::builtins::ToolResult;
use super::config::{FILLER, TurnConfig};
use super::core::{Command, Event, Turn, TurnInput};
use crate::conversation::{Message, Role};
use crate::llm_router::{Route, Router, RouterConfig, Tier};

/// What one LLM attempt does.
#[derive(Clone)]
enum Llm {
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
    /// No answer at all.
    Hang,
}

fn sse(v: Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

fn delta(text: &str) -> Vec<u8> {
    sse(json!({"choices": [{"index": 0, "delta": {"content": text}}]}))
}

fn finish(reason: &str) -> Vec<u8> {
    sse(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
}

#[derive(Default)]
struct Fake {
    now: u64,
    seq: u64,
    llm: Vec<Llm>,
    /// How long a webhook takes.
    tool_ms: u64,
    /// Scheduled events: (when, order, event).
    pending: Vec<(u64, u64, Event)>,
    /// The user interrupts at this time, after hearing this much.
    cancel_at: Option<(u64, u32)>,
    sent: Vec<ServerMessage>,
    frames: Vec<Vec<u8>>,
    logs: Vec<Value>,
    llm_requests: Vec<(usize, Value)>,
    aborted_llm: Vec<u32>,
    tts_inputs: Vec<String>,
    tts_aborted: bool,
    tools_run: Vec<String>,
    tools_aborted: bool,
}

impl Fake {
    fn at(&mut self, after: u64, event: Event) {
        self.seq += 1;
        self.pending.push((self.now + after, self.seq, event));
    }

    fn perform(&mut self, command: Command) {
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
            Command::StartTts { chunk, body } => {
                let input = body["input"].as_str().unwrap().to_string();
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

    fn script_llm(&mut self, attempt: u32, script: Llm) {
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
                self.at(
                    t,
                    Event::LlmBytes {
                        attempt,
                        bytes: tail,
                    },
                );
                self.at(t, Event::LlmEnded { attempt });
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
                self.at(
                    t,
                    Event::LlmBytes {
                        attempt,
                        bytes: tail,
                    },
                );
                self.at(t, Event::LlmEnded { attempt });
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
            Llm::Hang => {}
        }
    }

    /// Runs `turn` to its end; panics if it would wait forever.
    fn run(&mut self, turn: &mut Turn) {
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

    fn captions(&self) -> String {
        self.sent
            .iter()
            .filter_map(|m| match m {
                ServerMessage::ResponseTextDelta { delta, .. } => Some(delta.as_str()),
                _ => None,
            })
            .collect()
    }

    fn errors(&self) -> Vec<String> {
        self.sent
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Error { code, .. } => Some(format!("{code:?}")),
                _ => None,
            })
            .collect()
    }

    /// (seq, samples, end) of each frame sent.
    fn frame_list(&self) -> Vec<(u32, usize, bool)> {
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

fn route(provider: &str, tier: Tier) -> Route {
    Route {
        provider: provider.into(),
        model: format!("{provider}-model"),
        tier,
    }
}

fn config(routes: Vec<Route>) -> TurnConfig {
    TurnConfig {
        routes,
        router: RouterConfig {
            smart: false,
            ..RouterConfig::default()
        },
        offered_tools: Vec::new(),
        builtins: Vec::new(),
        tts_model: "tts-1".into(),
        tts_voice: "alloy".into(),
        tts_rate: 24_000,
    }
}

fn with_tools(mut c: TurnConfig) -> TurnConfig {
    c.offered_tools = vec![
        json!({"type": "function", "function": {"name": "check_order", "parameters": {"type": "object"}}}),
    ];
    c
}

fn input(text: &str, stream_id: Option<u32>) -> TurnInput {
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

fn reply(deltas: Vec<&'static str>) -> Llm {
    Llm::Reply {
        first_ms: 350,
        deltas,
        done: true,
    }
}

fn one_route() -> Vec<Route> {
    vec![route("openai", Tier::Strong)]
}

#[test]
fn a_spoken_turn_streams_captions_and_frames_and_ends_with_the_end_frame() {
    let mut fake = Fake {
        llm: vec![reply(vec!["We open ", "at nine. ", "See you ", "soon."])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("When do you open?", Some(3)),
        config(one_route()),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap().clone();
    assert_eq!(outcome.status, ResponseStatus::Completed);
    assert_eq!(outcome.stored, "We open at nine. See you soon.");
    assert_eq!(fake.captions(), outcome.stored);
    assert_eq!(
        fake.sent[0],
        ServerMessage::ResponseStarted {
            response_id: 7,
            stream_id: Some(3)
        }
    );
    assert_eq!(fake.tts_inputs, ["We open at nine.", "See you soon."]);
    let frames = fake.frame_list();
    let (last, body) = frames.split_last().unwrap();
    assert_eq!(
        *last,
        (body.len() as u32, 0, true),
        "END takes the next seq and carries nothing"
    );
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, f)| f.0 == i as u32 && f.1 <= 480 && !f.2)
    );
    let m = &outcome.metrics;
    assert_eq!(
        (m.eos_to_transcript_ms, m.llm_first_token_ms),
        (Some(200), Some(350))
    );
    assert_eq!(m.tts_first_byte_ms, Some(150));
    assert!(m.eos_to_first_audio_ms.is_some_and(|t| t >= 350 + 150));
    assert_eq!(m.provider.as_deref(), Some("openai"));
    let reply_ms: u64 = outcome.chunks.iter().map(|c| u64::from(c.audio_ms)).sum();
    assert_eq!(
        outcome.audio_ms,
        1_500 + reply_ms,
        "speech and reply audio are billed"
    );
    assert!(
        outcome.llm_tokens > 0,
        "estimated when the provider reports no usage"
    );
    assert!(fake.errors().is_empty());
}

#[test]
fn a_typed_turn_bills_only_the_reply_audio_and_reports_usage_when_given() {
    let mut fake = Fake {
        llm: vec![reply(vec!["Hello."])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Hi", None),
        config(one_route()),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    // The provider's usage arrives with the last chunk.
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(
        fake.sent[0],
        ServerMessage::ResponseStarted {
            response_id: 7,
            stream_id: None
        }
    );
    assert_eq!(
        outcome.audio_ms,
        outcome
            .chunks
            .iter()
            .map(|c| u64::from(c.audio_ms))
            .sum::<u64>()
    );
    assert_eq!(outcome.metrics.eos_to_transcript_ms, None);
    assert_eq!(
        outcome.done_message(7),
        ServerMessage::ResponseDone {
            response_id: 7,
            status: ResponseStatus::Completed,
            metrics: outcome.metrics.clone()
        }
    );
}

#[test]
fn fallback_before_the_first_token_on_an_error_and_on_a_silent_provider() {
    for first in [Llm::Status(503), Llm::Hang] {
        let mut c = config(vec![
            route("primary", Tier::Strong),
            route("fallback", Tier::Strong),
        ]);
        c.router.first_token_timeout_ms = 400;
        let mut fake = Fake {
            llm: vec![first, reply(vec!["From the fallback."])],
            ..Fake::default()
        };
        let mut turn = Turn::start(
            input("When?", None),
            c,
            Router::new(RouterConfig::default(), Vec::new()),
            0,
        );
        fake.run(&mut turn);
        let outcome = turn.outcome().unwrap();
        assert_eq!(outcome.status, ResponseStatus::Completed);
        assert_eq!(fake.captions(), "From the fallback.");
        assert_eq!(outcome.metrics.fallbacks, 1);
        assert_eq!(outcome.metrics.provider.as_deref(), Some("fallback"));
        assert_eq!(
            fake.llm_requests.iter().map(|r| r.0).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(fake.aborted_llm, [1], "the failed attempt is abandoned");
        assert!(fake.logs.iter().any(|l| l["event"] == "route_fallback"));
    }
}

#[test]
fn the_first_token_timeout_is_the_tenants_and_no_route_left_is_a_retryable_error() {
    let mut c = config(one_route());
    c.router.first_token_timeout_ms = 400;
    let mut fake = Fake {
        llm: vec![Llm::Hang],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("When?", None),
        c,
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    assert_eq!(
        fake.now, 400,
        "given up at the tenant's 400 ms, not a default"
    );
    assert_eq!(turn.outcome().unwrap().status, ResponseStatus::Failed);
    assert_eq!(fake.errors(), ["ProviderTimeout"]);
    assert!(
        fake.frame_list().is_empty(),
        "no END frame for a failed reply"
    );
}

#[test]
fn a_tool_call_runs_after_a_spoken_filler_when_slow_and_its_result_reaches_the_model() {
    let mut fake = Fake {
        llm: vec![
            Llm::Call {
                name: "check_order",
                arguments: r#"{"id": 1}"#,
            },
            reply(vec!["It has shipped."]),
        ],
        tool_ms: 1_500,
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Where is my order?", None),
        with_tools(config(one_route())),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Completed);
    assert_eq!(fake.tools_run, ["check_order"]);
    assert_eq!(fake.captions(), format!("{FILLER} It has shipped."));
    assert_eq!(fake.tts_inputs, [FILLER, "It has shipped."]);
    let second = &fake.llm_requests[1].1["messages"];
    let n = second.as_array().unwrap().len();
    assert_eq!(
        second[n - 2]["tool_calls"][0]["function"]["name"],
        "check_order"
    );
    assert_eq!(second[n - 1]["role"], "tool");
    assert_eq!(second[n - 1]["content"], r#"{"status":"shipped"}"#);
    assert!(
        fake.llm_requests[0].1["tools"].is_array(),
        "tools are offered"
    );
    assert!(
        fake.logs
            .iter()
            .any(|l| l["event"] == "tool_call" && l["ms"] == 1_500)
    );
}

#[test]
fn a_fast_tool_gets_no_filler() {
    let mut fake = Fake {
        llm: vec![
            Llm::Call {
                name: "check_order",
                arguments: "{}",
            },
            reply(vec!["Shipped."]),
        ],
        tool_ms: 200,
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Order?", None),
        with_tools(config(one_route())),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    assert_eq!(fake.captions(), "Shipped.");
}

#[test]
fn an_interruption_mid_sentence_stops_everything_and_keeps_only_what_was_heard() {
    let mut fake = Fake {
        llm: vec![reply(vec![
            "We open at nine on weekdays. ",
            "On Sundays we open at ten ",
            "and close at four.",
        ])],
        // The first chunk (28 characters, 1.8 s of audio) has been sent and half of the second
        // is: the user heard 2.2 s.
        cancel_at: Some((675, 2_200)),
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("When do you open?", Some(1)),
        config(one_route()),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Interrupted);
    assert!(
        outcome.stored.starts_with("We open at nine on weekdays."),
        "{}",
        outcome.stored
    );
    assert!(
        !outcome.stored.contains("four"),
        "never spoken: {}",
        outcome.stored
    );
    assert!(fake.tts_aborted, "the synthesis in flight is aborted");
    assert!(
        fake.frame_list().iter().all(|f| !f.2),
        "no END frame for an interrupted reply"
    );
    assert!(fake.errors().is_empty());
}

#[test]
fn a_cancel_during_a_tool_call_aborts_it_and_asks_the_model_nothing_more() {
    let mut fake = Fake {
        llm: vec![
            Llm::Call {
                name: "check_order",
                arguments: "{}",
            },
            reply(vec!["Never."]),
        ],
        tool_ms: 5_000,
        cancel_at: Some((1_000, 0)),
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Order?", None),
        with_tools(config(one_route())),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    assert_eq!(
        fake.now, 1_000,
        "the turn ends at the interruption, not when the tool would"
    );
    assert!(fake.tools_aborted);
    assert_eq!(fake.llm_requests.len(), 1);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Interrupted);
    assert_eq!(
        fake.captions(),
        FILLER,
        "the filler was said at 800 ms; nothing after"
    );
}

#[test]
fn tools_make_the_router_put_the_strong_tier_first() {
    let routes = vec![route("fast", Tier::Fast), route("strong", Tier::Strong)];
    let mut c = with_tools(config(routes));
    c.router.smart = true;
    let mut fake = Fake {
        llm: vec![reply(vec!["Let me see."])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Can you check my order?", None),
        c.clone(),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    assert_eq!(
        fake.llm_requests[0].0, 1,
        "strong first: {:?}",
        fake.logs[0]
    );
    assert!(
        fake.logs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("may need tools")
    );
    // The same words with no tools: small talk, fast first.
    c.offered_tools.clear();
    let mut fake = Fake {
        llm: vec![reply(vec!["Sure."])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Can you check my order?", None),
        c,
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    assert_eq!(fake.llm_requests[0].0, 0);
}

#[test]
fn the_router_follows_routes_that_shrink_between_turns() {
    let three = vec![
        route("a", Tier::Strong),
        route("b", Tier::Strong),
        route("c", Tier::Strong),
    ];
    let mut fake = Fake {
        llm: vec![Llm::Status(500), Llm::Status(500), reply(vec!["From c."])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Hi", None),
        config(three),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    assert_eq!(fake.captions(), "From c.");
    // The admin leaves only `c`: the next turn's plan indexes the one route it has.
    let router = turn.into_router();
    let mut fake = Fake {
        llm: vec![reply(vec!["Still c."])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Hi", None),
        config(vec![route("c", Tier::Strong)]),
        router,
        10,
    );
    fake.run(&mut turn);
    assert_eq!(fake.llm_requests[0].0, 0);
    assert_eq!(fake.captions(), "Still c.");
}

#[test]
fn a_failure_after_text_was_sent_keeps_the_text_and_fails_without_fallback() {
    let c = config(vec![
        route("primary", Tier::Strong),
        route("fallback", Tier::Strong),
    ]);
    let mut fake = Fake {
        llm: vec![reply(vec!["We open ", "at"])],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("When?", None),
        c,
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    while let Some(c) = turn.poll_command() {
        fake.perform(c);
    }
    // Cut the body after the second delta: drop the finish and the end, break the stream.
    fake.pending
        .retain(|(_, _, e)| !matches!(e, Event::LlmEnded { .. }));
    let last = fake.pending.iter().map(|p| p.1).max().unwrap();
    fake.pending.retain(|p| p.1 != last);
    fake.at(500, Event::LlmBroken { attempt: 1 });
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.status, ResponseStatus::Failed);
    assert_eq!(outcome.stored, "We open at");
    assert_eq!(
        fake.llm_requests.len(),
        1,
        "no fallback after text was sent"
    );
    assert_eq!(fake.errors(), ["ProviderError"]);
}

#[test]
fn a_stream_that_ends_without_done_after_its_finish_reason_is_a_normal_end() {
    let mut fake = Fake {
        llm: vec![Llm::Reply {
            first_ms: 100,
            deltas: vec!["Open at nine. ", "Bye now."],
            done: false,
        }],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("When?", None),
        config(one_route()),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    let outcome = turn.outcome().unwrap();
    assert_eq!(
        outcome.status,
        ResponseStatus::Completed,
        "{:?}",
        fake.errors()
    );
    assert_eq!(
        fake.tts_inputs.last().map(String::as_str),
        Some("Bye now."),
        "the last sentence is spoken"
    );
}

#[test]
fn built_ins_hand_off_and_end_the_conversation_without_a_webhook() {
    let mut c = config(one_route());
    c.builtins = vec![
        "transfer_to_human".into(),
        "end_conversation".into(),
        "current_time".into(),
    ];
    c.offered_tools = vec![json!({})];
    let mut fake = Fake {
        llm: vec![
            Llm::Call {
                name: "transfer_to_human",
                arguments: r#"{"reason": "asked for a person"}"#,
            },
            Llm::Call {
                name: "current_time",
                arguments: "{}",
            },
            Llm::Call {
                name: "end_conversation",
                arguments: r#"{"reason": "goodbye"}"#,
            },
            reply(vec!["Goodbye."]),
        ],
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("A person please, then bye", None),
        c,
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    assert!(fake.sent.contains(&ServerMessage::Handoff {
        reason: "asked for a person".into()
    }));
    assert_eq!(
        fake.tools_run,
        ["current_time"],
        "only the clock goes to the runtime"
    );
    let outcome = turn.outcome().unwrap();
    assert_eq!(outcome.ending.as_deref(), Some("goodbye"));
    assert_eq!(outcome.status, ResponseStatus::Completed);
}

#[test]
fn the_step_after_the_last_tool_step_offers_no_tools() {
    let calls = (0..5).map(|_| Llm::Call {
        name: "check_order",
        arguments: "{}",
    });
    let mut fake = Fake {
        llm: calls.chain([reply(vec!["Done."])]).collect(),
        tool_ms: 10,
        ..Fake::default()
    };
    let mut turn = Turn::start(
        input("Loop", None),
        with_tools(config(one_route())),
        Router::new(RouterConfig::default(), Vec::new()),
        0,
    );
    fake.run(&mut turn);
    assert_eq!(
        fake.llm_requests.len(),
        5,
        "four tool steps, then a step without tools"
    );
    assert!(fake.llm_requests[4].1.get("tools").is_none());
    assert_eq!(fake.tools_run.len(), 4);
    assert!(
        fake.logs
            .iter()
            .any(|l| l["event"] == "tool_steps_exhausted")
    );
}

#[test]
fn a_provider_busy_reasoning_is_alive_and_its_reasoning_is_never_said() {
    let mut c = config(vec![
        route("thinker", Tier::Strong),
        route("fallback", Tier::Strong),
    ]);
    c.router.first_token_timeout_ms = 400;
    let mut fake = Fake {
        llm: vec![
            Llm::Reasoning {
                reasoning_ms: 2_000,
                reply: "Nine.",
            },
            reply(vec!["Never."]),
        ],
        ..Fake::default()
    };
    let router = Router::new(RouterConfig::default(), Vec::new());
    let mut turn = Turn::start(input("When?", None), c, router, 0);
    fake.run(&mut turn);
    assert_eq!(
        fake.captions(),
        "Nine.",
        "2 s of reasoning, 300 ms apart, is not a timeout"
    );
    assert_eq!(fake.llm_requests.len(), 1);
    assert_eq!(fake.tts_inputs, ["Nine."]);
    assert_eq!(turn.outcome().unwrap().metrics.fallbacks, 0);
    // A provider that goes quiet while reasoning still times out.
    let mut c = config(vec![route("thinker", Tier::Strong)]);
    c.router.first_token_timeout_ms = 400;
    let mut fake = Fake {
        llm: vec![Llm::Reasoning {
            reasoning_ms: 150,
            reply: "x",
        }],
        ..Fake::default()
    };
    fake.llm[0] = Llm::Reasoning {
        reasoning_ms: 150,
        reply: "x",
    };
    let router = Router::new(RouterConfig::default(), Vec::new());
    let mut turn = Turn::start(input("When?", None), c, router, 0);
    while let Some(cmd) = turn.poll_command() {
        fake.perform(cmd);
    }
    // Keep the reasoning, drop the answer: silence after 100 ms.
    fake.pending.retain(|(at, _, _)| *at <= 100);
    fake.run(&mut turn);
    assert_eq!(fake.now, 500, "400 ms after the last sign of life");
    assert_eq!(fake.errors(), ["ProviderTimeout"]);
}
