//! The LLM steps of a turn: each step's routes planned by the router, the attempts in order
//! with fallback before the first token, and the streamed reply parsed into captions, chunks
//! for speech and tool calls.

use serde_json::{Value, json};

use super::{Attempt, Command, Phase, ToolRun, Turn};
use crate::providers::llm_refusal::{self, LlmRefusal};
use crate::providers::openai_chat::{ChatEvent, ChatStream};
use crate::providers::router::{Failure, Next, Request as RouteRequest};
use crate::providers::tool_calls::ToolCallAssembler;
use crate::session::sentence::{CutterConfig, SentenceCutter};
use crate::session::turn::ProviderFailure;
use crate::session::turn::config::TOOL_STEPS_MAX;
use aura_protocol::{ErrorCode, ServerMessage};

impl Turn {
    /// Plans a step's routes and starts its first attempt.
    pub(super) fn begin_step(&mut self, now: u64) {
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

    pub(super) fn start_attempt(&mut self, now: u64) {
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
        self.provider = Some(self.config.routes[route].name.clone());
        self.model = Some(self.config.routes[route].model.clone());
        let offer_tools = self.step < TOOL_STEPS_MAX
            && self.config.tools_available()
            && self.router.takes_tools(route);
        let body = self.config.chat_body(route, &self.messages, offer_tools);
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
            offered_tools: offer_tools,
            parser: ChatStream::new(),
            cutter: SentenceCutter::new(CutterConfig::default()),
            calls: ToolCallAssembler::new(),
            text: String::new(),
        }));
    }

    pub(super) fn llm_bytes(&mut self, bytes: &[u8], now: u64) {
        let Phase::Asking(a) = &mut self.phase else {
            return;
        };
        let mut deltas = Vec::new();
        let mut called = false;
        let mut reasoning = false;
        let mut usage = None;
        let mut reasoning_tokens = None;
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
            ChatEvent::ReasoningTokens { tokens, apart } => {
                reasoning_tokens = Some((tokens, apart))
            }
            _ => {}
        });
        if reasoning {
            a.alive_at = now;
        }
        if let Some((p, mut c)) = usage {
            if let Some((tokens, apart)) = reasoning_tokens {
                let host = self
                    .config
                    .routes
                    .get(a.route)
                    .map_or("", |r| r.provider.as_str());
                c = crate::providers::reasoning::billed_completion(host, c, tokens, apart);
            }
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

    pub(super) fn llm_ended(&mut self, now: u64) {
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

    /// The attempt in flight was refused: asked again on the same route when the refusal says
    /// how to mend it (without tools, or with fewer earlier turns, once), else a failure.
    pub(super) fn llm_refused(
        &mut self,
        status: u16,
        retry_after_ms: Option<u64>,
        body: &[u8],
        now: u64,
    ) {
        let Phase::Asking(a) = &self.phase else {
            return;
        };
        let (id, route, offered_tools) = (a.id, a.route, a.offered_tools);
        let provider = self.config.routes.get(route).map(|r| r.provider.clone());
        let refusal = llm_refusal::classify(status, body);
        if refusal == LlmRefusal::RegionRefused {
            let response_id = self.input.response_id;
            self.log(json!({"event": llm_refusal::REGION_REFUSED_CODE, "response_id": response_id, "provider": provider, "code": llm_refusal::REGION_REFUSED_CODE}));
            return self.attempt_failed(Failure::RegionRefused, now);
        }
        let retry = match refusal {
            LlmRefusal::ToolsUnsupported if offered_tools => {
                self.router.refuses_tools(route);
                Some("the provider takes no tools (llama.cpp without --jinja): asked without tools")
            }
            LlmRefusal::ContextOverflow
                if !self.context_cut && llm_refusal::drop_earlier_turns(&mut self.messages) =>
            {
                self.context_cut = true;
                Some("the context is longer than the model's: asked again without earlier turns")
            }
            _ => None,
        };
        let Some(reason) = retry else {
            let failure = Failure::Status {
                code: status,
                retry_after_ms,
            };
            return self.attempt_failed(failure, now);
        };
        let response_id = self.input.response_id;
        self.log(json!({"event": "route_retry", "response_id": response_id, "provider": provider, "reason": reason}));
        self.out.push_back(Command::AbortLlm { attempt: id });
        self.phase = Phase::Done;
        self.start_attempt(now);
    }

    /// The attempt in flight failed: fall back to the plan's next route before the first
    /// token, or give up.
    pub(super) fn attempt_failed(&mut self, failure: Failure, now: u64) {
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
                let host = &self.config.routes[a.route].provider;
                self.log(json!({"event": "route_fallback", "response_id": id, "provider": host, "reason": reason}));
                self.fallbacks += 1;
                self.plan_pos += 1;
                self.start_attempt(now);
            }
            Next::GiveUp { reason } => {
                let host = &self.config.routes[a.route].provider;
                self.log(json!({"event": "route_give_up", "response_id": id, "provider": host, "reason": reason}));
                if self.step == 0 {
                    self.first_token_ms = a.first_token_ms;
                }
                self.text.push_str(&a.text);
                let code = match failure {
                    Failure::FirstTokenTimeout => ErrorCode::ProviderTimeout,
                    Failure::RegionRefused => ErrorCode::ProviderRegionRefused,
                    _ => ErrorCode::ProviderError,
                };
                self.error = Some(ProviderFailure::new(
                    code,
                    format!("the language model could not answer: {reason}"),
                ));
            }
        }
    }
}
