//! Tests of [`super`] and [`super::audio`], with bodies built from each provider's
//! documentation.

use super::audio::{AudioError, SpeechAudio, playable_rate};
use super::*;

fn route(api: TtsApi, format: TtsFormat, sample_rate: Option<u32>) -> TtsRoute {
    let settings = TtsSettings {
        api,
        base_url: "https://example.invalid".into(),
        model: "m-1".into(),
        format,
        sample_rate,
        voice: None,
    };
    TtsRoute::from_settings(&settings, "v 1")
}

#[test]
fn each_api_gets_its_own_path_key_header_and_body() {
    let r = route(TtsApi::Openai, TtsFormat::Pcm, None).request("Hi.");
    assert_eq!(
        (r.path.as_str(), r.key),
        ("v1/audio/speech", KeyHeader::Bearer)
    );
    assert_eq!(r.body["response_format"], "pcm");
    assert_eq!(r.body["input"], "Hi.");
    let r = route(TtsApi::Openai, TtsFormat::Wav, None).request("Hi.");
    assert_eq!(r.body["response_format"], "wav");

    let r = route(TtsApi::Elevenlabs, TtsFormat::Pcm, Some(16_000)).request("Hi.");
    assert_eq!(
        r.path,
        "v1/text-to-speech/v+1/stream?output_format=pcm_16000"
    );
    assert_eq!(r.key, KeyHeader::Named("xi-api-key"));
    assert_eq!(r.body, json!({"text": "Hi.", "model_id": "m-1"}));

    let r = route(TtsApi::Deepgram, TtsFormat::Pcm, None).request("Hi.");
    assert_eq!(
        r.path,
        "v1/speak?model=m-1&encoding=linear16&container=none&sample_rate=24000"
    );
    assert_eq!((r.key, r.body), (KeyHeader::Token, json!({"text": "Hi."})));

    let r = route(TtsApi::Cartesia, TtsFormat::Pcm, Some(44_100)).request("Hi.");
    assert_eq!(r.path, "tts/bytes");
    assert_eq!(r.key, KeyHeader::Named("x-api-key"));
    assert_eq!(
        r.headers,
        vec![("cartesia-version", CARTESIA_VERSION.to_string())]
    );
    assert_eq!(r.body["transcript"], "Hi.");
    assert_eq!(r.body["voice"], json!({"mode": "id", "id": "v 1"}));
    assert_eq!(
        r.body["output_format"],
        json!({"container": "raw", "encoding": "pcm_s16le", "sample_rate": 44_100})
    );
}

#[test]
fn refusals_give_their_code_and_never_their_message() {
    let cases: [(&str, Option<&str>); 8] = [
        (
            r#"{"error":{"message":"Incorrect API key provided: sk-ab***","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            Some("invalid_api_key"),
        ),
        (
            r#"{"error":{"message":"x","type":"server_error","code":null}}"#,
            Some("server_error"),
        ),
        (
            r#"{"detail":{"status":"quota_exceeded","message":"This request exceeds your quota."}}"#,
            Some("quota_exceeded"),
        ),
        (
            r#"{"detail":[{"loc":["body","text"],"msg":"field required","type":"value_error.missing"}]}"#,
            Some("value_error.missing"),
        ),
        (
            r#"{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.","request_id":"r-1"}"#,
            Some("INVALID_AUTH"),
        ),
        (
            r#"{"error_code":"concurrency_limited","title":"Too many concurrent requests","message":"m","request_id":"r"}"#,
            Some("concurrency_limited"),
        ),
        (r#"{"error_code":"has spaces and is a sentence"}"#, None),
        ("Unauthorized: bad key", None),
    ];
    for (body, code) in cases {
        assert_eq!(refusal_code(body.as_bytes()).as_deref(), code, "{body}");
    }
}

fn wav(rate: u32, channels: u16, samples: &[i16], extra_chunk: bool) -> Vec<u8> {
    let mut b = b"RIFF\xff\xff\xff\xffWAVE".to_vec();
    if extra_chunk {
        b.extend_from_slice(b"LIST\x03\0\0\0abc\0"); // an odd size, padded
    }
    b.extend_from_slice(b"fmt \x10\0\0\0");
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    b.extend_from_slice(&(2 * channels).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data\xff\xff\xff\xff");
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

#[test]
fn raw_pcm_at_a_played_rate_passes_through_even_split_mid_sample() {
    let mut a = SpeechAudio::new(Some(24_000), None);
    let mut out = Vec::new();
    a.push(&[1, 0, 2], &mut out).unwrap();
    a.push(&[0, 0xff, 0xff], &mut out).unwrap();
    a.finish(&mut out);
    assert_eq!(out, vec![1, 2, -1]);
    assert_eq!(a.rate_out(), Some(24_000));
}

#[test]
fn a_wav_stream_is_read_for_its_rate_byte_by_byte() {
    let samples: Vec<i16> = (0..480).map(|i| (i * 50) as i16).collect();
    let body = wav(48_000, 1, &samples, true);
    let mut a = SpeechAudio::new(None, None);
    let mut out = Vec::new();
    assert_eq!(a.rate_out(), None);
    for b in &body {
        a.push(std::slice::from_ref(b), &mut out).unwrap();
    }
    assert_eq!(a.rate_out(), Some(48_000), "Groq's WAV rate");
    assert_eq!(out, samples);
}

#[test]
fn stereo_wav_is_mixed_down_and_other_formats_are_refused() {
    let mut a = SpeechAudio::new(None, None);
    let mut out = Vec::new();
    a.push(&wav(24_000, 2, &[100, 300, -50, -150], false), &mut out)
        .unwrap();
    assert_eq!(out, vec![200, -100]);
    let mut float = wav(24_000, 1, &[], false);
    float[20] = 3; // WAVE_FORMAT_IEEE_FLOAT
    assert_eq!(
        SpeechAudio::new(None, None).push(&float, &mut out),
        Err(AudioError::NotPcm16)
    );
    assert_eq!(
        SpeechAudio::new(None, None).push(b"ID3\x04\0\0\0\0\0\0\0\0mp3", &mut out),
        Err(AudioError::BadWav),
        "an MP3 where WAV was asked for"
    );
    let mut six = wav(24_000, 6, &[], false);
    six.truncate(44);
    assert_eq!(
        SpeechAudio::new(None, None).push(&six, &mut out),
        Err(AudioError::Channels(6))
    );
}

/// 100 ms of a 440 Hz tone at `rate`.
fn tone(rate: u32) -> Vec<i16> {
    (0..rate / 10)
        .map(|n| {
            let t = f64::from(n) / f64::from(rate);
            (8_000.0 * (std::f64::consts::TAU * 440.0 * t).sin()) as i16
        })
        .collect()
}

#[test]
fn rates_the_client_does_not_play_are_converted_with_their_length_kept() {
    assert_eq!(playable_rate(8_000), 16_000);
    assert_eq!(playable_rate(32_000), 44_100);
    assert_eq!(playable_rate(22_050), 22_050);
    assert_eq!(playable_rate(96_000), 48_000);
    for (from, to) in [(8_000, 16_000), (32_000, 44_100)] {
        let mut a = SpeechAudio::new(Some(from), None);
        let mut out = Vec::new();
        for part in tone(from).chunks(333) {
            let bytes: Vec<u8> = part.iter().flat_map(|s| s.to_le_bytes()).collect();
            a.push(&bytes, &mut out).unwrap();
        }
        a.finish(&mut out);
        assert_eq!(a.rate_out(), Some(to));
        let want = (to / 10) as i64;
        assert!(
            (out.len() as i64 - want).abs() <= 2,
            "{from} -> {to}: {} samples, want {want}",
            out.len()
        );
        // The tone survives: its level is kept (RMS of 8 000 / sqrt 2 = 5 657, within 5%).
        let mid = &out[out.len() / 4..out.len() * 3 / 4];
        let rms =
            (mid.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / mid.len() as f64).sqrt();
        assert!((rms - 5_657.0).abs() < 283.0, "{from} -> {to}: rms {rms}");
    }
}

#[test]
fn a_later_chunk_is_converted_to_the_rate_the_reply_already_plays_at() {
    let mut a = SpeechAudio::new(Some(16_000), Some(24_000));
    let mut out = Vec::new();
    let bytes: Vec<u8> = tone(16_000).iter().flat_map(|s| s.to_le_bytes()).collect();
    a.push(&bytes, &mut out).unwrap();
    a.finish(&mut out);
    assert_eq!(a.rate_out(), Some(24_000));
    assert!((out.len() as i64 - 2_400).abs() <= 2, "{}", out.len());
}
