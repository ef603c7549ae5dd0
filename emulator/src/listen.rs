//! Deepgram-style live transcription over WebSocket (`GET /v1/listen`), the wire format of
//! `wss://api.deepgram.com/v1/listen`: binary frames of linear16 audio in; JSON `Results`
//! messages out (interim ones while audio arrives, `is_final` segments, and after the client's
//! `{"type":"Finalize"}` a final one with `from_finalize: true`); `{"type":"CloseStream"}` ends
//! the stream with a `Metadata` message.
//!
//! The transcript is the scripted `reply` of the `listen` endpoint. While audio arrives, every
//! `chunk_ms` of audio (default 400) brings one more word in an interim result, and every third
//! result closes a segment (`is_final: true`, as Deepgram's endpointing does), so clients must
//! join segments. `first_byte_ms` is the time from `Finalize` to the final result. Faults:
//! `status` refuses the upgrade, `hang` never answers, `disconnect_after` closes the socket after
//! that many results, `malformed_after` sends a non-JSON message after that many.
//!
//! Modes: `vad_events` adds Deepgram's `SpeechStarted` (at the first audio) and `UtteranceEnd`
//! (after the final result), whose `channel` is an array; `close_net0001` answers `Finalize`
//! with the close frame Deepgram sends when no audio arrived in time (1011, `NET-0001`);
//! `close_data0000` closes at the first audio as for undecodable audio (1008, `DATA-0000`);
//! `silent_finalize` sends the last words as an ordinary final segment and never answers
//! `Finalize` itself.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::script::{Behaviour, Endpoint, Fault, Mode};
use crate::state::{Shared, Tracker, error_response, sleep_ms};

#[derive(Debug, Deserialize)]
pub(crate) struct ListenQuery {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    sample_rate: Option<u32>,
    #[serde(default)]
    channels: Option<u32>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    interim_results: Option<bool>,
}

pub(crate) async fn listen(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListenQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let summary = json!({"model": q.model, "encoding": q.encoding, "sample_rate": q.sample_rate, "channels": q.channels, "language": q.language, "audio_ms": 0, "finalized": false});
    let mut tracker = shared.record(Endpoint::Listen, &headers, summary.clone());
    if shared.refuses_key(&headers) {
        tracker.complete();
        return error_response(401, None, "Invalid credentials.");
    }
    if q.encoding.as_deref() != Some("linear16") || q.channels.unwrap_or(1) != 1 {
        tracker.complete();
        return error_response(
            400,
            None,
            "the emulator takes encoding=linear16, one channel",
        );
    }
    let behaviour = shared.next_behaviour(Endpoint::Listen);
    if let Some(Fault::Status {
        code,
        retry_after_s,
    }) = behaviour.fault
    {
        tracker.complete();
        return error_response(code, retry_after_s, "emulated failure");
    }
    let rate = q.sample_rate.unwrap_or(16_000).max(1);
    let interim = q.interim_results.unwrap_or(false);
    upgrade.on_upgrade(move |socket| async move {
        let stream = Stream {
            offline: shared.offline,
            audio: Vec::new(),
            socket,
            tracker,
            behaviour,
            rate,
            interim,
            audio_bytes: 0,
            results_sent: 0,
            words_final: 0,
            words_shown: 0,
            summary,
        };
        stream.run().await;
    })
}

struct Stream {
    /// Transcribe with pocketsphinx at `Finalize` when no script gives the transcript.
    offline: bool,
    /// The audio so far (kept only for the offline engine).
    audio: Vec<u8>,
    socket: WebSocket,
    tracker: Tracker,
    behaviour: Behaviour,
    rate: u32,
    interim: bool,
    audio_bytes: usize,
    results_sent: usize,
    /// Words already sent in closed (`is_final`) segments.
    words_final: usize,
    /// Words shown so far (closed segments plus the open one).
    words_shown: usize,
    summary: Value,
}

enum Next {
    Continue,
    Stop,
}

impl Stream {
    fn audio_ms(&self) -> u64 {
        self.audio_bytes as u64 * 1000 / (2 * u64::from(self.rate))
    }

    fn words(&self) -> Vec<String> {
        let text = self.behaviour.reply.clone().unwrap_or_else(|| {
            format!(
                "(emulated live transcript of {:.1} seconds of audio)",
                self.audio_ms() as f64 / 1000.0
            )
        });
        text.split_whitespace().map(str::to_string).collect()
    }

    fn update_record(&self, finalized: bool) {
        let mut body = self.summary.clone();
        body["audio_ms"] = self.audio_ms().into();
        body["finalized"] = finalized.into();
        self.tracker.set_body(body);
    }

    async fn run(mut self) {
        if matches!(self.behaviour.fault, Some(Fault::Hang)) {
            // Take audio, never answer; when the client gives up, the tracker records it.
            while let Some(Ok(msg)) = self.socket.recv().await {
                if let Message::Binary(b) = msg {
                    self.audio_bytes += b.len();
                    self.update_record(false);
                }
            }
            return;
        }
        while let Some(Ok(msg)) = self.socket.recv().await {
            let next = match msg {
                Message::Binary(b) => {
                    if self.offline && self.behaviour.reply.is_none() {
                        self.audio.extend_from_slice(&b);
                    }
                    self.audio(b.len()).await
                }
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("Finalize") => self.finalize().await,
                        Some("CloseStream") => {
                            self.close_stream().await;
                            Next::Stop
                        }
                        _ => Next::Continue, // KeepAlive and anything else
                    }
                }
                Message::Close(_) => Next::Stop,
                _ => Next::Continue,
            };
            if matches!(next, Next::Stop) {
                return;
            }
        }
    }

    /// Audio arrived: one more word per `chunk_ms` of audio, in an interim result.
    async fn audio(&mut self, bytes: usize) -> Next {
        if self.audio_bytes == 0 {
            match self.behaviour.mode {
                Some(Mode::CloseData0000) => return self.close_with(1008, "DATA-0000").await,
                Some(Mode::VadEvents) => {
                    let started =
                        json!({"type": "SpeechStarted", "channel": [0, 1], "timestamp": 0.0});
                    if let Next::Stop = self.send_raw(started).await {
                        return Next::Stop;
                    }
                }
                _ => {}
            }
        }
        let before = self.audio_ms();
        self.audio_bytes += bytes;
        self.update_record(false);
        let step = if self.behaviour.chunk_ms == 0 {
            400
        } else {
            self.behaviour.chunk_ms
        };
        if self.audio_ms() / step == before / step
            || !self.interim
            || (self.offline && self.behaviour.reply.is_none())
        {
            return Next::Continue;
        }
        let words = self.words();
        // Keep the last word for the finalize: a live result lags the audio.
        if self.words_shown + 1 >= words.len() {
            return Next::Continue;
        }
        self.words_shown += 1;
        let close_segment = (self.results_sent + 1).is_multiple_of(3);
        let text = words[self.words_final..self.words_shown].join(" ");
        let result = self.result(&text, close_segment, false, false);
        if close_segment {
            self.words_final = self.words_shown;
        }
        self.send(result).await
    }

    /// `Finalize`: after `first_byte_ms`, the rest of the transcript as a final result.
    async fn finalize(&mut self) -> Next {
        sleep_ms(self.behaviour.first_byte_ms).await;
        if self.behaviour.mode == Some(Mode::CloseNet0001) {
            return self.close_with(1011, "NET-0001").await;
        }
        if self.offline && self.behaviour.reply.is_none() {
            let wav = crate::offline::wav_16k(&std::mem::take(&mut self.audio));
            let heard = tokio::task::spawn_blocking(move || crate::offline::transcribe(&wav))
                .await
                .ok()
                .flatten();
            // Only what pocketsphinx heard since the last segment: the rest was already sent.
            self.behaviour.reply = heard;
            self.words_final = 0;
            self.words_shown = 0;
        }
        let words = self.words();
        let text = words[self.words_final.min(words.len())..].join(" ");
        self.words_final = words.len();
        self.words_shown = words.len();
        self.update_record(true);
        let from_finalize = self.behaviour.mode != Some(Mode::SilentFinalize);
        let result = self.result(&text, true, true, from_finalize);
        let next = self.send(result).await;
        if self.behaviour.mode == Some(Mode::VadEvents) && matches!(next, Next::Continue) {
            let end = json!({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": self.audio_ms() as f64 / 1000.0});
            return self.send_raw(end).await;
        }
        next
    }

    /// Closes the socket with a Deepgram error close frame.
    async fn close_with(&mut self, code: u16, reason: &'static str) -> Next {
        let _ = self
            .socket
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
        self.tracker.complete();
        Next::Stop
    }

    /// Sends a message that is not a result (no faults apply).
    async fn send_raw(&mut self, message: Value) -> Next {
        if self
            .socket
            .send(Message::Text(message.to_string().into()))
            .await
            .is_err()
        {
            return Next::Stop;
        }
        self.tracker.sent_chunk();
        Next::Continue
    }

    async fn close_stream(&mut self) {
        let metadata = json!({"type": "Metadata", "transaction_key": "deprecated", "request_id": format!("emulated-{}", self.results_sent), "created": "1970-01-01T00:00:00.000Z", "duration": self.audio_ms() as f64 / 1000.0, "channels": 1});
        let _ = self
            .socket
            .send(Message::Text(metadata.to_string().into()))
            .await;
        let _ = self.socket.send(Message::Close(None)).await;
        self.tracker.complete();
    }

    fn result(&self, text: &str, is_final: bool, speech_final: bool, from_finalize: bool) -> Value {
        let duration = self.audio_ms() as f64 / 1000.0;
        json!({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": duration,
            "start": 0.0,
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.98, "words": []}]},
            "metadata": {"request_id": "emulated", "model_info": {"name": "emulator", "version": "1", "arch": "none"}, "model_uuid": "emulator"},
        })
    }

    async fn send(&mut self, result: Value) -> Next {
        match self.behaviour.fault {
            Some(Fault::DisconnectAfter { chunks }) if self.results_sent >= chunks => {
                // Drop the connection without a close frame.
                return Next::Stop;
            }
            Some(Fault::MalformedAfter { chunks }) if self.results_sent >= chunks => {
                let _ = self
                    .socket
                    .send(Message::Text("{\"type\": \"Resul".into()))
                    .await;
                self.results_sent += 1;
                return Next::Continue;
            }
            _ => {}
        }
        if self
            .socket
            .send(Message::Text(result.to_string().into()))
            .await
            .is_err()
        {
            return Next::Stop;
        }
        self.results_sent += 1;
        self.tracker.sent_chunk();
        Next::Continue
    }
}
