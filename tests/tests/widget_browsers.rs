//! The widget is robust to what browsers report (issue 19, item 2), in headless Chromium made to
//! report it (init scripts in tests/browser/widget.mjs): a `navigator.language` that is not a
//! BCP 47 tag (WebKit says "C" under LANG=C), an AudioContext at a rate other than 48/44.1 kHz
//! (iOS forces its own), one that starts suspended, and one that can never be resumed.

use aura_tests::{
    Scratch, WranglerDev, drive_widget_in, emulator_answering, emulator_replying, microphone_wav,
    requests_to, widget_states,
};
use serde_json::json;

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn a_browser_language_that_is_not_a_tag_falls_back_and_a_typed_turn_is_answered() {
    let emu = emulator_replying("We open at seven.");
    let dev = WranglerDev::start();
    let tenant = dev.tenant("lang-c", &emu.base_url(), &[]);
    let result = drive_widget_in(
        "type",
        &dev.url(&format!("/?key={}", tenant.key)),
        &["When do you open?"],
        &[("AURA_NAVIGATOR_LANGUAGE", "C")],
    );
    assert_eq!(result["errors"], json!([]), "{result}");
    assert_eq!(result["reply"], "We open at seven.", "{result}");
    // The demo page says <html lang="en">: the client sent that instead of "C".
    assert_eq!(
        result["sessionStarts"].as_array().unwrap().len(),
        1,
        "{result}"
    );
    assert_eq!(result["sessionStarts"][0]["language"], "en", "{result}");
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn a_spoken_turn_works_with_the_audio_context_at_22050_hz() {
    let emu = emulator_answering(
        "do you have rye bread today",
        "Yes, rye is baked every morning.",
    );
    let dev = WranglerDev::start();
    let tenant = dev.tenant("rate-22050", &emu.base_url(), &[]);
    let scratch = Scratch::new("widget-22050");
    let wav = scratch.0.join("mic.wav");
    microphone_wav(&wav, "Do you have rye bread today?", 2.0, 8.0);
    let result = drive_widget_in(
        "talk",
        &dev.url(&format!("/?key={}", tenant.key)),
        &[wav.to_str().unwrap()],
        &[("AURA_SAMPLE_RATE", "22050")],
    );
    assert_eq!(result["errors"], json!([]), "{result}");
    assert_eq!(result["pageErrors"], json!([]), "{result}");
    let rates = result["audioRates"].as_array().unwrap();
    assert!(
        !rates.is_empty() && rates.iter().all(|r| r == 22050),
        "the AudioContext ran at 22050 Hz: {result}"
    );
    // Heard (the microphone resampled 22050 -> 16000 Hz), answered, and the reply played
    // (24000 -> 22050 Hz): the widget is back to listening only after the reply played.
    assert_eq!(
        result["transcript"], "do you have rye bread today",
        "{result}"
    );
    assert_eq!(
        result["reply"], "Yes, rye is baked every morning.",
        "{result}"
    );
    assert_eq!(
        widget_states(&result).last().unwrap(),
        "listening",
        "{result}"
    );
    assert_eq!(requests_to(&emu, "transcriptions").len(), 1);
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn an_audio_context_that_starts_suspended_is_resumed_by_the_visitors_gesture() {
    let emu = emulator_replying("Sound on.");
    let dev = WranglerDev::start();
    let tenant = dev.tenant("suspended", &emu.base_url(), &[]);
    let result = drive_widget_in(
        "type",
        &dev.url(&format!("/?key={}", tenant.key)),
        &["Can you hear me?"],
        &[("AURA_AUDIO", "suspended")],
    );
    assert_eq!(result["errors"], json!([]), "{result}");
    assert_eq!(result["reply"], "Sound on.", "{result}");
    // "ready" after "speaking" comes from the worklet's reply_played: the reply was played.
    assert_eq!(
        widget_states(&result),
        ["connecting", "ready", "thinking", "speaking", "ready"],
        "{result}"
    );
    assert_eq!(
        result["notice"], "",
        "no notice when the sound runs: {result}"
    );
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn sound_that_cannot_be_resumed_still_answers_in_text_and_says_why() {
    let emu = emulator_replying("Shown as text.");
    let dev = WranglerDev::start();
    let tenant = dev.tenant("blocked", &emu.base_url(), &[]);
    let result = drive_widget_in(
        "type",
        &dev.url(&format!("/?key={}", tenant.key)),
        &["Hello?"],
        &[("AURA_AUDIO", "blocked")],
    );
    assert_eq!(result["errors"], json!([]), "{result}");
    assert_eq!(result["reply"], "Shown as text.", "{result}");
    assert_eq!(widget_states(&result).last().unwrap(), "ready", "{result}");
    let notice = result["notice"].as_str().unwrap();
    assert!(
        notice.contains("holding back the sound") && notice.contains("replies show as text"),
        "a clear notice: {result}"
    );
}
