//! A spoken turn's input: the utterance's grant asked for at its start, its audio to a live
//! STT stream, and at its end the transcript (batch or live) that starts the reply.

use super::*;

/// Largest speech-to-text answer read (30 s of speech is well under 1 KiB of text).
const TRANSCRIPT_MAX_BYTES: usize = 64 * 1024;
use crate::providers::config::ProviderEndpoint;
use crate::providers::stt_fallback::{BATCH_TIMEOUT_MS, SttError, fallback_event};
use crate::providers::whisper;
use crate::session::turn_end::EndOfTurn;

/// The length of a 16 kHz mono s16le WAV's audio, ms (after its 44-byte header).
pub(super) fn wav_ms(wav: &[u8]) -> u64 {
    (wav.len().saturating_sub(44) / 32) as u64
}

impl VoiceSession {
    /// The start of an utterance (its first audio, `pcm`): the turn is asked for while the
    /// user speaks, and a live STT stream opened if the tenant's STT is one.
    pub(super) async fn on_utterance_start(
        &self,
        ws: &WebSocket,
        stream_id: u32,
        pcm: &[u8],
    ) -> Result<()> {
        self.end_live_stt();
        let (grant, answer) = oneshot::channel();
        *self.granted.borrow_mut() = Some(PendingGrant { stream_id, answer });
        // Audio that arrives while the turn is granted is kept, in case the STT is a
        // streaming one.
        let mut live = LiveUtterance::new(stream_id);
        live.audio(pcm);
        *self.live.borrow_mut() = Some(live);
        // Ask for the turn while the user speaks, so the answer does not wait for it.
        let Some(config) = self.grant(ws).await? else {
            let _ = grant.send(None);
            self.end_live_stt();
            return Ok(());
        };
        if config.stt_api != SttApi::Deepgram {
            self.end_live_stt();
            let _ = grant.send(Some(config));
            return Ok(());
        }
        let language = self.store.get(Meta::Language)?;
        let mut config = config;
        let mut connected = stt_stream::connect(&config.stt, language.as_deref()).await;
        if let Err(error) = connected
            && let Some(reason) = error.fallback_reason()
            && let Some(next) = config.with_stt_fallback()
        {
            console_log!("{}", fallback_event(reason));
            config = next;
            if config.stt_api != SttApi::Deepgram {
                // A batch second route: the utterance's WAV goes to it at the end of speech.
                self.end_live_stt();
                let _ = grant.send(Some(config));
                return Ok(());
            }
            connected = stt_stream::connect(&config.stt, language.as_deref()).await;
        }
        match connected {
            Ok(socket) => {
                let _ = grant.send(Some(config));
                stt_stream::pump(&self.live, socket, ws, stream_id).await;
            }
            Err(error) => {
                *self.live.borrow_mut() = None;
                let _ = grant.send(None);
                let failure = error.failure();
                send_error(ws, failure.code, &failure.message)?;
            }
        }
        Ok(())
    }

    /// Audio of the open utterance, for a live STT stream.
    pub(super) fn on_utterance_audio(&self, stream_id: u32, pcm: &[u8]) {
        if let Some(u) = self
            .live
            .borrow_mut()
            .as_mut()
            .filter(|u| u.stream_id == stream_id)
        {
            u.audio(pcm);
        }
    }

    /// The end of an utterance: its transcript, then its turn.
    pub(super) async fn on_utterance_end(
        &self,
        ws: &WebSocket,
        stream_id: u32,
        wav: Vec<u8>,
    ) -> Result<()> {
        let eos = now_ms();
        let Some(config) = self.utterance_grant(ws, stream_id).await? else {
            return Ok(());
        };
        self.answer_utterance(ws, &config, stream_id, wav, eos, None)
            .await
    }

    /// The turn of utterance `stream_id`: asked for when its speech started, so the answer is
    /// awaited if it is still on its way (a very short utterance), and asked for now only if
    /// there is none (the object woke from hibernation mid-utterance). `None`: refused (the
    /// client was told).
    pub(super) async fn utterance_grant(
        &self,
        ws: &WebSocket,
        stream_id: u32,
    ) -> Result<Option<ProviderConfig>> {
        let pending = self
            .granted
            .borrow_mut()
            .take_if(|g| g.stream_id == stream_id);
        let early = match pending {
            Some(g) => {
                let wait = Delay::from(std::time::Duration::from_millis(5_000));
                match future::select(g.answer, wait).await {
                    Either::Left((Ok(answer), _)) => Some(answer),
                    _ => None,
                }
            }
            None => None,
        };
        match early {
            Some(answer) => Ok(answer),
            None => self.grant(ws).await,
        }
    }

    /// Transcribes the whole utterance now (`eos`: its end of speech) and answers it; `end`
    /// says how its end was decided (v2).
    pub(super) async fn answer_utterance(
        &self,
        ws: &WebSocket,
        config: &ProviderConfig,
        stream_id: u32,
        wav: Vec<u8>,
        eos: u64,
        end: Option<EndOfTurn>,
    ) -> Result<()> {
        // 16-bit mono at 16 kHz after the 44-byte WAV header.
        let speech_ms = wav_ms(&wav);
        let transcript = self.transcript_of(config, stream_id, wav, false).await;
        match transcript {
            Ok(text) => {
                let eos_to_transcript = now_ms().saturating_sub(eos) as u32;
                let input = UserTurn {
                    text,
                    stream_id: Some(stream_id),
                    eos,
                    eos_to_transcript_ms: Some(eos_to_transcript),
                    speech_ms,
                };
                self.answer_transcript(ws, config, input, end).await
            }
            Err(failure) => {
                self.report_turn_usage(config, speech_ms, 0).await;
                send_error(ws, failure.code, &failure.message)
            }
        }
    }

    /// Sends the final transcript and answers it (an empty one gets no reply; its speech is
    /// billed).
    pub(super) async fn answer_transcript(
        &self,
        ws: &WebSocket,
        config: &ProviderConfig,
        input: UserTurn,
        end: Option<EndOfTurn>,
    ) -> Result<()> {
        send(
            ws,
            &ServerMessage::TranscriptFinal {
                stream_id: input.stream_id.unwrap_or_default(),
                text: input.text.clone(),
            },
        )?;
        if input.text.trim().is_empty() {
            self.report_turn_usage(config, input.speech_ms, 0).await;
            return Ok(());
        }
        self.reply(ws, config, input, ReplyMode::Now(end))
            .await
            .map(|_| ())
    }

    /// The text of utterance `stream_id`: a batch STT of `wav`, or the live stream's
    /// finalized text (kept open for more audio if `keep_open`, at a pause). Whisper's
    /// hallucinations on silence are dropped (an empty text).
    pub(super) async fn transcript_of(
        &self,
        config: &ProviderConfig,
        stream_id: u32,
        wav: Vec<u8>,
        keep_open: bool,
    ) -> std::result::Result<String, ProviderFailure> {
        let speech_ms = wav_ms(&wav);
        match config.stt_api {
            SttApi::Deepgram => stt_stream::finish(&self.live, stream_id, keep_open).await,
            SttApi::Openai => {
                let language = self.store.get(Meta::Language).ok().flatten();
                let prompt_of = |tenant: &Option<String>| {
                    whisper::prompt(tenant.as_deref(), language.as_deref())
                };
                let mut prompt = prompt_of(&config.stt_prompt);
                let mut result = self.transcribe(&config.stt, prompt.as_deref(), &wav).await;
                if let Err(error) = result
                    && let Some(reason) = error.fallback_reason()
                    && let Some((next, SttApi::Openai)) = &config.stt_fallback
                {
                    console_log!("{}", fallback_event(reason));
                    prompt = prompt_of(&config.stt_fallback_prompt);
                    result = self.transcribe(next, prompt.as_deref(), &wav).await;
                }
                result.map_err(SttError::failure).map(|text| {
                    match whisper::dropped(&text, speech_ms, prompt.as_deref()) {
                        Some(reason) => {
                            worker::console_log!(
                                "{}",
                                serde_json::json!({"event": "transcript_dropped", "reason": reason})
                            );
                            String::new()
                        }
                        None => text,
                    }
                })
            }
        }
    }

    /// One batch transcription of `wav` by `stt` with `prompt`, aborted after
    /// [`BATCH_TIMEOUT_MS`].
    pub(super) async fn transcribe(
        &self,
        stt: &ProviderEndpoint,
        prompt: Option<&str>,
        wav: &[u8],
    ) -> std::result::Result<String, SttError> {
        let language = self.store.get(Meta::Language).ok().flatten();
        let form = || -> Option<wasm_bindgen::JsValue> {
            let form = web_sys::FormData::new().ok()?;
            form.append_with_str("model", &stt.model).ok()?;
            if let Some(code) = language.as_deref().and_then(whisper::language_code) {
                form.append_with_str("language", &code).ok()?;
            }
            if let Some(prompt) = prompt {
                form.append_with_str("prompt", prompt).ok()?;
            }
            let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(wav));
            let options = web_sys::BlobPropertyBag::new();
            options.set_type("audio/wav");
            let blob =
                web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
            form.append_with_blob_and_filename("file", &blob, "utterance.wav")
                .ok()?;
            Some(form.into())
        };
        let url = stt.url("v1/audio/transcriptions");
        let abort = worker::AbortController::default();
        let signal = abort.signal();
        let sent = provider_http::send(
            stt,
            Auth::Bearer,
            Method::Post,
            &url,
            &[],
            form,
            Some(&signal),
        );
        let timeout = Delay::from(std::time::Duration::from_millis(BATCH_TIMEOUT_MS));
        futures::pin_mut!(sent);
        let mut resp = match future::select(sent, timeout).await {
            Either::Left((Ok(resp), _)) => resp,
            Either::Left((Err(SendError::Request), _)) => return Err(SttError::Request),
            Either::Left((Err(SendError::Unreachable), _)) => return Err(SttError::Unreachable),
            Either::Right(_) => {
                abort.abort();
                return Err(SttError::Timeout);
            }
        };
        if resp.status_code() != 200 {
            return Err(SttError::Status(resp.status_code()));
        }
        #[derive(Deserialize)]
        struct Transcript {
            text: String,
        }
        // Streamed up to a cap: an answer that goes on (or never ends) is cut off there.
        let body = crate::worker::capped_body::read_capped(&mut resp, TRANSCRIPT_MAX_BYTES)
            .await
            .map_err(|_| SttError::Unusable("answer too long or unreadable"))?;
        let t: Transcript =
            serde_json::from_slice(&body).map_err(|_| SttError::Unusable("unreadable answer"))?;
        Ok(t.text)
    }

    /// Closes the open utterance's streaming STT, if any.
    pub(super) fn end_live_stt(&self) {
        if let Some(mut u) = self.live.borrow_mut().take() {
            u.close();
        }
    }
}
