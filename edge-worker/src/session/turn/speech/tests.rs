//! Tests of [`super`].

use super::*;
use crate::providers::tts::TtsRoute;
use crate::tenant::settings::{TtsApi, TtsFormat};

fn frames(out: &VecDeque<Command>) -> Vec<(u32, u32, usize)> {
    out.iter()
        .filter_map(|c| match c {
            Command::SendFrame(b) => {
                let f = AudioFrame::decode(b).unwrap();
                Some((f.header.seq, f.header.sample_rate, f.pcm_bytes().len()))
            }
            _ => None,
        })
        .collect()
}

fn openai(format: TtsFormat) -> TtsRoute {
    TtsRoute {
        api: TtsApi::Openai,
        format,
        model: "tts-1".into(),
        voice: "alloy".into(),
        source_rate: (format == TtsFormat::Pcm).then_some(24_000),
    }
}

fn cartesia(rate: u32) -> TtsRoute {
    TtsRoute {
        api: TtsApi::Cartesia,
        format: TtsFormat::Pcm,
        model: "sonic-2".into(),
        voice: "voice-id".into(),
        source_rate: Some(rate),
    }
}

/// A speech over `routes`, and the request maker its poll takes.
fn speech(routes: &[TtsRoute]) -> (Speech, impl Fn(usize, &str) -> Option<TtsRequest> + '_) {
    let s = Speech::new(3, routes.iter().map(|r| r.source_rate).collect());
    (s, move |route: usize, text: &str| {
        routes.get(route).map(|r| r.request(text))
    })
}

fn started(out: &mut VecDeque<Command>) -> Option<(u32, usize, TtsRequest)> {
    out.iter().find_map(|c| match c {
        Command::StartTts {
            chunk,
            route,
            request,
        } => Some((*chunk, *route, request.clone())),
        _ => None,
    })
}

#[test]
fn chunks_are_synthesised_in_order_one_at_a_time_and_framed_every_20_ms() {
    let routes = [openai(TtsFormat::Pcm)];
    let (mut s, request) = speech(&routes);
    let mut out = VecDeque::new();
    s.push("Hello there.".into());
    s.push(" ".into()); // nothing to say: skipped
    s.push("Bye.".into());
    s.poll(0, &request, &mut out);
    assert!(matches!(
        out.pop_front(),
        Some(Command::StartTts {
            chunk: 0,
            route: 0,
            ..
        })
    ));
    assert!(out.is_empty(), "one synthesis at a time");
    s.on_status(0, 200, &mut out);
    s.on_audio(0, &[0; 1500], 40, &mut out);
    s.on_audio(0, &[0; 500], 45, &mut out);
    s.on_end(0, 46, &mut out);
    assert_eq!(
        frames(&out),
        vec![(0, 24_000, 960), (1, 24_000, 960), (2, 24_000, 80)]
    );
    assert_eq!(s.first_byte_ms, Some(40));
    out.clear();
    s.poll(50, &request, &mut out);
    let (chunk, _, req) = started(&mut out).unwrap();
    assert_eq!((chunk, req.body["input"].as_str()), (1, Some("Bye.")));
    s.on_status(1, 200, &mut out);
    s.on_audio(1, &[0; 961], 60, &mut out); // an odd byte is dropped at the end
    s.on_end(1, 61, &mut out);
    assert!(s.is_idle());
    let spoken = s.spoken();
    assert_eq!(spoken.len(), 2);
    assert_eq!(spoken[0].audio_ms, 41, "1 000 samples at 24 kHz");
    assert!(spoken.iter().all(|c| c.complete));
    assert_eq!(s.frames_sent(), 4);
}

#[test]
fn a_failure_drops_the_rest_and_a_cut_keeps_what_was_sent() {
    let routes = [openai(TtsFormat::Pcm)];
    let (mut s, request) = speech(&routes);
    let mut out = VecDeque::new();
    s.push("One.".into());
    s.push("Two.".into());
    s.poll(0, &request, &mut out);
    s.on_refused(0, 401, Some("invalid_api_key"), &mut out);
    assert_eq!(
        s.failure(),
        Some("text-to-speech answered HTTP 401 (invalid_api_key)")
    );
    assert!(s.is_idle(), "the queued chunk is dropped");
    let (mut s, request) = speech(&routes);
    s.push("One sentence.".into());
    s.poll(0, &request, &mut out);
    s.on_status(0, 200, &mut out);
    s.on_audio(0, &[0; 960 * 5], 10, &mut out);
    s.cut();
    let spoken = s.spoken();
    assert_eq!((spoken[0].audio_ms, spoken[0].complete), (100, false));
    // Events of a chunk no longer in flight are ignored.
    s.on_audio(0, &[0; 960], 20, &mut out);
    s.on_end(0, 21, &mut out);
    assert_eq!(s.spoken().len(), 1);
}

#[test]
fn a_wav_answer_plays_at_its_headers_rate() {
    let routes = [openai(TtsFormat::Wav)];
    let (mut s, request) = speech(&routes);
    let mut out = VecDeque::new();
    s.push("Hi.".into());
    s.poll(0, &request, &mut out);
    let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
    wav.extend_from_slice(&48_000u32.to_le_bytes());
    wav.extend_from_slice(&96_000u32.to_le_bytes());
    wav.extend_from_slice(b"\x02\0\x10\0data\0\0\0\0");
    out.clear();
    s.on_status(0, 200, &mut out);
    s.on_audio(0, &wav[..30], 5, &mut out);
    assert!(out.is_empty(), "the header is still arriving");
    s.on_audio(0, &wav[30..], 6, &mut out);
    s.on_audio(0, &[0; 1920 * 2], 7, &mut out);
    s.on_end(0, 8, &mut out);
    assert_eq!(frames(&out), vec![(0, 48_000, 1920), (1, 48_000, 1920)]);
    assert_eq!(s.spoken()[0].audio_ms, 40);
    assert!(
        matches!(s.end_frame(), Command::SendFrame(b) if AudioFrame::decode(&b).unwrap().header.sample_rate == 48_000)
    );
}

#[test]
fn a_route_that_fails_before_its_first_byte_hands_the_reply_to_the_next_at_the_same_rate() {
    let routes = [openai(TtsFormat::Pcm), cartesia(16_000)];
    let (mut s, request) = speech(&routes);
    let mut out = VecDeque::new();
    s.push("One.".into());
    s.push("Two.".into());
    s.poll(0, &request, &mut out);
    s.on_refused(0, 503, None, &mut out);
    assert!(s.failure().is_none());
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::Log(v) if v["event"] == "tts_fallback"))
    );
    out.clear();
    s.poll(10, &request, &mut out);
    let (chunk, route, req) = started(&mut out).unwrap();
    assert_eq!((chunk, route), (1, 1), "a new request id on the next route");
    assert_eq!(req.body["transcript"], "One.");
    // A late event of the failed request changes nothing.
    s.on_audio(0, &[0; 960], 11, &mut out);
    s.on_status(1, 200, &mut out);
    s.on_audio(1, &[0; 640 * 3], 12, &mut out);
    s.on_end(1, 13, &mut out);
    assert_eq!(
        frames(&out),
        vec![(0, 16_000, 640), (1, 16_000, 640), (2, 16_000, 640)],
        "the first audio sets the reply's rate"
    );
    out.clear();
    // The next chunk goes to the route that works.
    s.poll(20, &request, &mut out);
    assert!(matches!(started(&mut out), Some((2, 1, _))));
}

#[test]
fn a_failure_after_audio_or_on_the_last_route_fails_the_speech() {
    let routes = [cartesia(24_000), cartesia(24_000)];
    let (mut s, request) = speech(&routes);
    let mut out = VecDeque::new();
    s.push("One.".into());
    s.poll(0, &request, &mut out);
    s.on_status(0, 200, &mut out);
    s.on_audio(0, &[0; 960], 1, &mut out);
    s.on_broken(0, &mut out);
    assert_eq!(s.failure(), Some("text-to-speech stream broke off"));
    assert!(!s.spoken()[0].complete);

    let (mut s, request) = speech(&routes);
    s.push("One.".into());
    s.poll(0, &request, &mut out);
    s.on_broken(0, &mut out);
    s.poll(1, &request, &mut out);
    s.on_status(1, 200, &mut out);
    s.on_end(1, 2, &mut out);
    assert_eq!(
        s.failure(),
        Some("text-to-speech sent no audio"),
        "an empty 200 on the last route"
    );
}

#[test]
fn audio_that_cannot_be_played_aborts_the_request_and_falls_back() {
    let routes = [openai(TtsFormat::Wav), openai(TtsFormat::Pcm)];
    let (mut s, request) = speech(&routes);
    let mut out = VecDeque::new();
    s.push("One.".into());
    s.poll(0, &request, &mut out);
    s.on_status(0, 200, &mut out);
    out.clear();
    s.on_audio(0, b"ID3\x04\0\0\0\0\0\0\0\0", 1, &mut out);
    assert!(out.iter().any(|c| matches!(c, Command::AbortTts)));
    out.clear();
    s.poll(2, &request, &mut out);
    assert!(matches!(started(&mut out), Some((1, 1, _))));
}

#[test]
fn a_later_chunk_at_another_rate_is_converted_to_the_replys() {
    let routes = [openai(TtsFormat::Pcm), cartesia(16_000)];
    let (mut s, request) = speech(&routes);
    let mut out = VecDeque::new();
    s.push("One.".into());
    s.push("Two.".into());
    s.poll(0, &request, &mut out);
    s.on_status(0, 200, &mut out);
    s.on_audio(0, &[0; 960], 1, &mut out);
    s.on_end(0, 2, &mut out);
    s.poll(3, &request, &mut out);
    s.on_refused(1, 429, None, &mut out);
    s.poll(4, &request, &mut out);
    out.clear();
    s.on_status(2, 200, &mut out);
    s.on_audio(2, &[0; 3200], 5, &mut out); // 100 ms at 16 kHz
    s.on_end(2, 6, &mut out);
    let f = frames(&out);
    assert!(f.iter().all(|&(_, rate, _)| rate == 24_000), "{f:?}");
    let samples: usize = f.iter().map(|&(_, _, bytes)| bytes / 2).sum();
    assert!((samples as i64 - 2_400).abs() <= 2, "{samples}");
}
