//! The streaming STT adapter of a voice session: opens the provider's live socket when the user
//! starts speaking, forwards the utterance's audio as it arrives (buffering what comes before the
//! socket is open), shows interim results to the client as `transcript.partial`, and at the end
//! of speech asks for the final result. The wire format is [`crate::providers::deepgram`].

use std::cell::RefCell;
use std::time::Duration;

use aura_protocol::{ErrorCode, ServerMessage};
use futures::StreamExt;
use futures::channel::oneshot;
use futures::future;
use worker::{Delay, Method, WebSocket, WebsocketEvent};

use crate::providers::config::ProviderEndpoint;
use crate::providers::deepgram::{
    CLOSE_STREAM, FINALIZE, LiveEvent, LiveSttError, LiveTranscript, Settled, listen_url, parse,
};
use crate::providers::stt_fallback::SttError;
use crate::session::turn::ProviderFailure;
use crate::worker::provider_http::{self, Auth, SendError};
use crate::worker::runtime::now_ms;

/// Audio kept while the socket opens: 30 s of 16 kHz s16le at most.
const PENDING_MAX: usize = 30 * 16_000 * 2;
/// Time allowed from `Finalize` (or from the end of speech, if the socket is still opening)
/// to the final result.
pub(crate) const FINAL_TIMEOUT_MS: u64 = 3_000;

/// One utterance's live transcription.
pub(crate) struct LiveUtterance {
    pub stream_id: u32,
    socket: Option<WebSocket>,
    pending: Vec<u8>,
    transcript: LiveTranscript,
    failed: Option<ProviderFailure>,
    /// When `Finalize` was sent.
    finalize_at: Option<u64>,
    /// Woken at every message, failure or close, while the end of speech waits.
    waiter: Option<oneshot::Sender<()>>,
}

impl LiveUtterance {
    pub(crate) fn new(stream_id: u32) -> Self {
        Self {
            stream_id,
            socket: None,
            pending: Vec::new(),
            transcript: LiveTranscript::default(),
            failed: None,
            finalize_at: None,
            waiter: None,
        }
    }

    /// Audio of the utterance: sent now, or kept until the socket is open.
    pub(crate) fn audio(&mut self, pcm: &[u8]) {
        let broke = match &self.socket {
            Some(s) => s.send_with_bytes(pcm).is_err(),
            None => {
                if self.pending.len() + pcm.len() <= PENDING_MAX {
                    self.pending.extend_from_slice(pcm);
                }
                false
            }
        };
        if broke {
            self.fail(
                ErrorCode::ProviderError,
                "the speech-to-text stream broke off",
            );
        }
    }

    fn fail(&mut self, code: ErrorCode, message: &str) {
        self.failed
            .get_or_insert(ProviderFailure::new(code, message));
        self.wake();
    }

    /// Something changed: the end of speech, if it waits, looks again.
    fn wake(&mut self) {
        if let Some(w) = self.waiter.take() {
            let _ = w.send(());
        }
    }

    /// Closes the provider socket (end of the utterance or of the session).
    pub(crate) fn close(&mut self) {
        if let Some(s) = self.socket.take() {
            let _ = s.send_with_str(CLOSE_STREAM);
            let _ = s.close(Some(1000), Some("done"));
        }
    }
}

/// Opens the provider's live socket (`Authorization: Token KEY`; a rotated-out key in its
/// grace period is tried if the provider refuses the current one).
pub(crate) async fn connect(
    endpoint: &ProviderEndpoint,
    language: Option<&str>,
) -> Result<WebSocket, SttError> {
    let url = listen_url(&endpoint.base_url, &endpoint.model, language)
        .map_err(|_: LiveSttError| SttError::Request)?;
    // fetch() takes http(s) URLs; the Upgrade header makes it a WebSocket.
    let url = url
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    let resp = provider_http::send(
        endpoint,
        Auth::Token,
        Method::Get,
        &url,
        &[("upgrade", "websocket")],
        || None,
        None,
    )
    .await
    .map_err(|e| match e {
        SendError::Request => SttError::Request,
        SendError::Unreachable => SttError::Unreachable,
    })?;
    let status = resp.status_code();
    if status != 101 {
        return Err(SttError::Status(status));
    }
    let socket = resp.websocket().ok_or(SttError::Unusable("no WebSocket"))?;
    socket
        .accept()
        .map_err(|_| SttError::Unusable("could not accept the socket"))?;
    Ok(socket)
}

/// Runs one utterance's stream on `socket`: sends the audio kept so far, then reads results
/// until the stream ends, showing partial transcripts to `client`.
pub(crate) async fn pump(
    slot: &RefCell<Option<LiveUtterance>>,
    socket: WebSocket,
    client: &WebSocket,
    stream_id: u32,
) {
    let Ok(mut events) = socket.events() else {
        if let Some(u) = slot.borrow_mut().as_mut() {
            u.fail(
                ErrorCode::ProviderError,
                "the speech-to-text stream did not start",
            );
        }
        return;
    };
    {
        let mut guard = slot.borrow_mut();
        let Some(u) = guard.as_mut().filter(|u| u.stream_id == stream_id) else {
            // The utterance was dropped while the socket opened.
            let _ = socket.close(Some(1000), Some("not needed"));
            return;
        };
        let pending = std::mem::take(&mut u.pending);
        if !pending.is_empty() && socket.send_with_bytes(&pending).is_err() {
            u.fail(
                ErrorCode::ProviderError,
                "the speech-to-text stream broke off",
            );
        }
        u.socket = Some(socket.clone());
    }
    while let Some(event) = events.next().await {
        let mut guard = slot.borrow_mut();
        let Some(u) = guard.as_mut().filter(|u| u.stream_id == stream_id) else {
            return;
        };
        match event {
            Ok(WebsocketEvent::Message(m)) => {
                let Some(text) = m.text() else { continue };
                match parse(&text) {
                    Ok(LiveEvent::Metadata) => break,
                    Ok(ev) => {
                        let partial = u.transcript.push(ev);
                        u.wake();
                        if let Some(partial) = partial {
                            let msg = ServerMessage::TranscriptPartial {
                                stream_id,
                                text: partial,
                            };
                            let _ = client.send_with_str(msg.to_json());
                        }
                    }
                    Err(LiveSttError::Provider) => {
                        u.fail(ErrorCode::ProviderError, "speech-to-text reported an error")
                    }
                    Err(_) => u.fail(
                        ErrorCode::ProviderError,
                        "speech-to-text sent a message that is not a result",
                    ),
                }
            }
            Ok(WebsocketEvent::Close(_)) | Err(_) => break,
        }
    }
    if let Some(u) = slot
        .borrow_mut()
        .as_mut()
        .filter(|u| u.stream_id == stream_id)
        && !u.transcript.is_finalized()
    {
        u.fail(
            ErrorCode::ProviderError,
            "the speech-to-text stream closed early",
        );
        u.socket = None;
    }
}

/// At the end of speech: sends `Finalize` and waits for the utterance's text as
/// [`LiveTranscript::settle`] decides (never only for the answer to `Finalize`, which Deepgram
/// does not guarantee), woken by each message; at most [`FINAL_TIMEOUT_MS`] if the socket never
/// opened. At a pause (`keep_open`) the stream stays open for the rest of the utterance, whose
/// next text includes this one.
pub(crate) async fn finish(
    slot: &RefCell<Option<LiveUtterance>>,
    stream_id: u32,
    keep_open: bool,
) -> Result<String, ProviderFailure> {
    let ended_at = now_ms();
    loop {
        let woken = {
            let mut guard = slot.borrow_mut();
            let Some(u) = guard.as_mut().filter(|u| u.stream_id == stream_id) else {
                return Err(ProviderFailure::new(
                    ErrorCode::Internal,
                    "the utterance's stream is gone",
                ));
            };
            if let Some(failure) = u.failed.clone() {
                u.close();
                *guard = None;
                return Err(failure);
            }
            if u.finalize_at.is_none()
                && let Some(s) = &u.socket
            {
                u.finalize_at = Some(now_ms());
                if s.send_with_str(FINALIZE).is_err() {
                    u.fail(
                        ErrorCode::ProviderError,
                        "the speech-to-text stream broke off",
                    );
                    continue;
                }
            }
            let until = match u.finalize_at {
                Some(at) => match u.transcript.settle(at, now_ms()) {
                    Settled::Text(text) => {
                        if keep_open {
                            u.finalize_at = None;
                            u.transcript.reopen();
                        } else {
                            u.close();
                            *guard = None;
                        }
                        return Ok(text);
                    }
                    Settled::WaitUntil(t) => t,
                    Settled::NoAnswer => {
                        u.close();
                        *guard = None;
                        return Err(ProviderFailure::new(
                            ErrorCode::ProviderTimeout,
                            "speech-to-text did not finish in time",
                        ));
                    }
                },
                // The socket is still opening.
                None => ended_at + FINAL_TIMEOUT_MS,
            };
            if u.finalize_at.is_none() && now_ms() >= until {
                u.close();
                *guard = None;
                return Err(ProviderFailure::new(
                    ErrorCode::ProviderTimeout,
                    "speech-to-text did not finish in time",
                ));
            }
            let (tx, rx) = oneshot::channel();
            u.waiter = Some(tx);
            (rx, until)
        };
        let (rx, until) = woken;
        let wait = Delay::from(Duration::from_millis(until.saturating_sub(now_ms()).max(1)));
        let _ = future::select(rx, wait).await;
    }
}
