//! The tool calls of a step, one at a time: built-ins decided here (the clock read by the
//! runtime), webhooks run by the I/O side with a filler when one is slow; every result goes
//! back to the model, and the next step follows.

use serde_json::json;

use super::{Command, Phase, Turn};
use crate::session::turn::builtins::{self, ToolResult};
use crate::session::turn::config::FILLER_AFTER_MS;
use aura_protocol::ServerMessage;

impl Turn {
    /// Runs the step's next call, or, when all are done, the next step.
    pub(super) fn run_next_tool(&mut self, now: u64) {
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

    pub(super) fn record_tool(&mut self, index: usize, result: ToolResult, now: u64) {
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

    pub(super) fn tool_finished(&mut self, index: usize, result: ToolResult, now: u64) {
        let Phase::Tools(run) = &self.phase else {
            return;
        };
        if run.next != index {
            return;
        }
        self.record_tool(index, result, now);
        self.run_next_tool(now);
    }
}
