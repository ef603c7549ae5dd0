//! Performs a [`Turn`]'s commands in the Workers runtime and feeds back what happened: the
//! LLM and TTS requests as streams of [`Event`]s, the tool in flight as a future, the user's
//! interruption from the session's control channel, and the turn's own deadline as a timer.
//! No decision is made here. wasm32 only.

use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either, LocalBoxFuture};
use futures::stream::{self, LocalBoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use worker::{AbortController, Date, Delay, Response, WebSocket, console_log};

use crate::providers::config::{LlmRouteConfig, ProviderConfig};
use crate::providers::tts;
use crate::session::turn::builtins;
use crate::session::turn::{Command, Event, Turn};
use crate::worker::provider_http::{self, SendError};
use crate::worker::runtime::now_ms;
use crate::worker::tool_runner;

/// What the session tells a turn in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Control {
    /// `response.cancel`: the user heard `played_ms` of the reply.
    Cancel { played_ms: u32 },
    /// The client's socket closed.
    Gone,
    /// A newer turn replaces this one: it ends now, keeping what it sent as heard.
    Superseded,
    /// (v2) The user's turn is committed: a speculative reply goes out.
    Commit,
    /// (v2) The user went on speaking: a speculative reply is dropped unheard.
    Discard,
}

/// Which request a stream of events belongs to.
#[derive(Clone, Copy)]
enum Source {
    Llm(u32),
    Tts(u32),
}

impl Source {
    fn status(self, status: u16, retry_after_ms: Option<u64>) -> Event {
        match self {
            Self::Llm(attempt) => Event::LlmStatus {
                attempt,
                status,
                retry_after_ms,
            },
            Self::Tts(chunk) => Event::TtsStatus { chunk, status },
        }
    }
    fn bytes(self, bytes: Vec<u8>) -> Event {
        match self {
            Self::Llm(attempt) => Event::LlmBytes { attempt, bytes },
            Self::Tts(chunk) => Event::TtsBytes { chunk, bytes },
        }
    }
    fn ended(self) -> Event {
        match self {
            Self::Llm(attempt) => Event::LlmEnded { attempt },
            Self::Tts(chunk) => Event::TtsEnded { chunk },
        }
    }
    fn broken(self) -> Event {
        match self {
            Self::Llm(attempt) => Event::LlmBroken { attempt },
            Self::Tts(chunk) => Event::TtsBroken { chunk },
        }
    }
}

/// Most of a refusal's body read for its code.
const REFUSAL_MAX: usize = 8 * 1024;

/// A streamed answer as events: its status, its body's reads, its end.
fn answer_events(
    sent: impl std::future::Future<Output = Result<Response, SendError>> + 'static,
    source: Source,
) -> LocalBoxStream<'static, Event> {
    stream::once(sent)
        .flat_map(move |sent| -> LocalBoxStream<'static, Event> {
            let mut resp = match sent {
                Ok(r) => r,
                Err(_) => return stream::once(future::ready(source.broken())).boxed_local(),
            };
            let status = resp.status_code();
            let retry_after_ms = provider_http::retry_after_ms(&resp);
            if let (Source::Llm(attempt), false) = (source, status == 200) {
                // An LLM refusal's body may say how a retry can mend it.
                return stream::once(async move {
                    let body =
                        crate::worker::capped_body::read_prefix(&mut resp, REFUSAL_MAX).await;
                    Event::LlmRefused {
                        attempt,
                        status,
                        retry_after_ms,
                        body,
                    }
                })
                .boxed_local();
            }
            if let (Source::Tts(chunk), false) = (source, status == 200) {
                // A TTS refusal's body says why (its code goes to the log and the error).
                return stream::once(async move {
                    let body = resp.bytes().await.unwrap_or_default();
                    let code = tts::refusal_code(&body[..body.len().min(REFUSAL_MAX)]);
                    Event::TtsRefused {
                        chunk,
                        status,
                        code,
                    }
                })
                .boxed_local();
            }
            let head = stream::once(future::ready(source.status(status, retry_after_ms)));
            if status != 200 {
                return head.boxed_local();
            }
            match resp.stream() {
                Ok(body) => head
                    .chain(body.map(move |read| match read {
                        Ok(bytes) => source.bytes(bytes),
                        Err(_) => source.broken(),
                    }))
                    .chain(stream::once(future::ready(source.ended())))
                    .boxed_local(),
                Err(_) => head
                    .chain(stream::once(future::ready(source.broken())))
                    .boxed_local(),
            }
        })
        .boxed_local()
}

/// The I/O of one turn.
pub(crate) struct TurnIo<'a> {
    ws: &'a WebSocket,
    config: &'a ProviderConfig,
    conversation: &'a str,
    streams: SelectAll<LocalBoxStream<'static, Event>>,
    llm_aborts: Vec<(u32, AbortController)>,
    tts_abort: Option<AbortController>,
    tool: Option<LocalBoxFuture<'a, Event>>,
    tool_cancel: Option<oneshot::Sender<()>>,
    tool_cancelled: bool,
}

impl<'a> TurnIo<'a> {
    pub(crate) fn new(
        ws: &'a WebSocket,
        config: &'a ProviderConfig,
        conversation: &'a str,
    ) -> Self {
        Self {
            ws,
            config,
            conversation,
            streams: SelectAll::new(),
            llm_aborts: Vec::new(),
            tts_abort: None,
            tool: None,
            tool_cancel: None,
            tool_cancelled: false,
        }
    }

    /// Runs `turn` to its end.
    pub(crate) async fn drive(
        &mut self,
        turn: &mut Turn,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) {
        loop {
            while let Some(command) = turn.poll_command() {
                self.perform(command);
            }
            if turn.outcome().is_some() {
                break;
            }
            let timer = match turn.poll_timeout() {
                Some(at) => {
                    Delay::from(Duration::from_millis(at.saturating_sub(now_ms()))).left_future()
                }
                None => future::pending().right_future(),
            };
            let io = self.next_event();
            let outside = control.next();
            match future::select(std::pin::pin!(io), future::select(outside, timer)).await {
                Either::Left((event, _)) => turn.handle(event, now_ms()),
                Either::Right((Either::Left((Some(Control::Cancel { played_ms }), _)), _)) => {
                    turn.handle(Event::Cancel { played_ms }, now_ms())
                }
                Either::Right((Either::Left((Some(Control::Superseded), _)), _)) => turn.handle(
                    Event::Cancel {
                        played_ms: u32::MAX,
                    },
                    now_ms(),
                ),
                Either::Right((Either::Left((Some(Control::Gone) | None, _)), _)) => {
                    turn.handle(Event::ClientGone, now_ms())
                }
                Either::Right((Either::Left((Some(Control::Commit), _)), _)) => {
                    turn.commit(now_ms())
                }
                Either::Right((Either::Left((Some(Control::Discard), _)), _)) => {
                    turn.discard(now_ms())
                }
                Either::Right((Either::Right(_), _)) => turn.handle_timeout(now_ms()),
            }
        }
        // A cancelled tool aborts its webhook request before the turn is left.
        if self.tool_cancelled
            && let Some(tool) = self.tool.take()
        {
            tool.await;
        }
    }

    /// The next event of a request or of the tool in flight (never, if there is none).
    async fn next_event(&mut self) -> Event {
        let requests = async {
            if self.streams.is_empty() {
                future::pending::<Event>().await
            } else {
                match self.streams.next().await {
                    Some(e) => e,
                    None => future::pending().await,
                }
            }
        };
        match self.tool.as_mut() {
            None => requests.await,
            Some(tool) => match future::select(std::pin::pin!(requests), tool).await {
                Either::Left((e, _)) => e,
                Either::Right((e, _)) => {
                    self.tool = None;
                    e
                }
            },
        }
    }

    fn perform(&mut self, command: Command) {
        match command {
            Command::Send(msg) => {
                let _ = self.ws.send_with_str(msg.to_json());
            }
            Command::SendFrame(bytes) => {
                if self.ws.send_with_bytes(&bytes).is_err() {
                    self.streams
                        .push(stream::once(future::ready(Event::ClientGone)).boxed_local());
                }
            }
            Command::Log(record) => console_log!("{record}"),
            Command::StartLlm {
                attempt,
                route,
                body,
            } => {
                let Some(LlmRouteConfig { endpoint, .. }) = self.config.llm.get(route) else {
                    self.streams.push(
                        stream::once(future::ready(Event::LlmBroken { attempt })).boxed_local(),
                    );
                    return;
                };
                let controller = AbortController::default();
                let signal = controller.signal();
                self.llm_aborts.push((attempt, controller));
                let endpoint = endpoint.clone();
                let sent = async move {
                    provider_http::post_json(&endpoint, "v1/chat/completions", &body, Some(&signal))
                        .await
                };
                self.streams.push(answer_events(sent, Source::Llm(attempt)));
            }
            Command::AbortLlm { attempt } => {
                if let Some(i) = self.llm_aborts.iter().position(|(a, _)| *a == attempt) {
                    self.llm_aborts.swap_remove(i).1.abort();
                }
            }
            Command::StartTts {
                chunk,
                route,
                request,
            } => {
                let Some((endpoint, _)) = self.config.tts.get(route) else {
                    self.streams.push(
                        stream::once(future::ready(Event::TtsBroken { chunk })).boxed_local(),
                    );
                    return;
                };
                let controller = self.tts_abort.get_or_insert_with(AbortController::default);
                let signal = controller.signal();
                let endpoint = endpoint.clone();
                let sent = async move {
                    provider_http::send_tts(&endpoint, &request, Some(&signal)).await
                };
                self.streams.push(answer_events(sent, Source::Tts(chunk)));
            }
            Command::AbortTts => {
                if let Some(c) = self.tts_abort.take() {
                    c.abort();
                }
            }
            Command::RunTool {
                index,
                call,
                builtin,
            } => self.run_tool(index, call, builtin),
            Command::AbortTools => {
                if let Some(tx) = self.tool_cancel.take() {
                    self.tool_cancelled = tx.send(()).is_ok();
                }
            }
        }
    }

    /// Runs tool call `index`: the clock at once, or the webhook as the tool in flight.
    fn run_tool(
        &mut self,
        index: usize,
        call: crate::providers::tool_calls::ToolCall,
        builtin: bool,
    ) {
        if builtin {
            let local = local_time(&self.config.time_zone);
            let utc = Date::now().to_string();
            let result = builtins::current_time(local, &self.config.time_zone, &utc);
            self.tool = Some(future::ready(Event::ToolFinished { index, result }).boxed_local());
            return;
        }
        let (tx, rx) = oneshot::channel::<()>();
        self.tool_cancel = Some(tx);
        let config = self.config;
        let conversation = self.conversation;
        self.tool = Some(
            async move {
                // Only a sent cancel cancels: a dropped sender means the turn is gone.
                let cancelled = async move {
                    if rx.await.is_err() {
                        future::pending::<()>().await;
                    }
                };
                let o = tool_runner::run(
                    &config.tools,
                    config.webhook_secret.as_deref(),
                    &call,
                    conversation,
                    cancelled,
                )
                .await;
                Event::ToolFinished {
                    index,
                    result: builtins::ToolResult {
                        content: o.content,
                        outcome: o.outcome,
                    },
                }
            }
            .boxed_local(),
        );
    }
}

impl Drop for TurnIo<'_> {
    fn drop(&mut self) {
        // Nothing of the turn outlives it.
        for (_, c) in self.llm_aborts.drain(..) {
            c.abort();
        }
        if let Some(c) = self.tts_abort.take() {
            c.abort();
        }
    }
}

/// The current date and time in `time_zone` (IANA), through the runtime's Intl; `None` if the
/// zone is unknown to it.
fn local_time(time_zone: &str) -> Option<String> {
    use wasm_bindgen::JsCast;
    let global = js_sys::global();
    let intl = js_sys::Reflect::get(&global, &"Intl".into()).ok()?;
    let ctor: js_sys::Function = js_sys::Reflect::get(&intl, &"DateTimeFormat".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"timeZone".into(), &time_zone.into()).ok()?;
    js_sys::Reflect::set(&options, &"dateStyle".into(), &"full".into()).ok()?;
    js_sys::Reflect::set(&options, &"timeStyle".into(), &"short".into()).ok()?;
    let args = js_sys::Array::of2(&"en-US".into(), &options);
    let format = js_sys::Reflect::construct(&ctor, &args).ok()?;
    let method: js_sys::Function = js_sys::Reflect::get(&format, &"format".into())
        .ok()?
        .dyn_into()
        .ok()?;
    method
        .call1(&format, &js_sys::Date::new_0())
        .ok()?
        .as_string()
}
