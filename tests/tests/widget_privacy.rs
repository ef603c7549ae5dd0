//! Privacy and control, as a visitor uses the widget (issue 19, item 3), in headless Chromium by
//! keyboard (tests/browser/widget.mjs `steps`): closing the panel while listening releases the
//! microphone and nothing is said after; the microphone button turns off again; "Mute" says what
//! it does; the assistant's voice can be muted; "End" clears the captions. The page's audio output
//! is measured by an analyser on every connection to the speakers (`loud`: the times, in ms, when
//! the output's peak was above 0.01).

use aura_emulator::Emulator;
use aura_tests::{
    Scratch, WranglerDev, drive_widget, emulator_answering, emulator_replying, microphone_wav,
    requests_to,
};
use serde_json::{Value, json};

fn steps(dev: &WranglerDev, key: &str, wav: &str, steps: &[&str]) -> Value {
    let steps = serde_json::to_string(steps).unwrap();
    drive_widget(
        "steps",
        &dev.url(&format!("/?key={key}")),
        &[wav, steps.as_str()],
    )
}

fn loud(result: &Value) -> Vec<f64> {
    result["loud"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect()
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn closing_the_panel_while_listening_releases_the_microphone_and_nothing_is_said_after() {
    let emu = emulator_answering(
        "do you have rye bread today",
        "Yes, rye is baked every morning, and seeded rye on Saturdays.",
    );
    let dev = WranglerDev::start();
    let tenant = dev.tenant("close-listening", &emu.base_url(), &[]);
    let scratch = Scratch::new("widget-close");
    let wav = scratch.0.join("mic.wav");
    microphone_wav(&wav, "Do you have rye bread today?", 2.0, 10.0);
    // Microphone on, the visitor asks, and closes the panel (Escape) while the reply is coming.
    let result = steps(
        &dev,
        &tenant.key,
        wav.to_str().unwrap(),
        &[
            "now:ready",
            "key:Shift+Tab",
            "key:Enter",
            "wait:listening: hearing you",
            "wait:thinking",
            "key:Escape",
            "mark:closed",
            "sleep:6000",
            "snap:after",
        ],
    );
    assert_eq!(result["errors"], json!([]), "{result}");
    let after = &result["snaps"]["after"];
    assert_eq!(after["panelHidden"], true, "{result}");
    assert_eq!(after["mic"]["aria-pressed"], "false", "{result}");
    let tracks = after["micTracks"].as_array().unwrap();
    assert!(
        !tracks.is_empty() && tracks.iter().all(|t| t == "ended"),
        "the microphone is released: {result}"
    );
    // The reply was made (and its captions arrived), but nothing was heard after the close.
    assert_eq!(requests_to(&emu, "chat").len(), 1, "{result}");
    let closed = result["marks"]["closed"].as_f64().unwrap();
    let late: Vec<f64> = loud(&result)
        .into_iter()
        .filter(|t| *t > closed + 60.0)
        .collect();
    assert!(
        late.is_empty(),
        "audible after the close at {closed}: {late:?}"
    );
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn the_microphone_button_turns_off_again_and_mute_says_what_it_does() {
    let emu = Emulator::start(0).unwrap();
    let dev = WranglerDev::start();
    let tenant = dev.tenant("mic-toggle", &emu.base_url(), &[]);
    let scratch = Scratch::new("widget-toggle");
    let wav = scratch.0.join("mic.wav");
    microphone_wav(&wav, "Hello there.", 7.0, 9.0);
    let result = steps(
        &dev,
        &tenant.key,
        wav.to_str().unwrap(),
        &[
            "now:ready",
            "key:Shift+Tab", // the microphone button
            "key:Enter",
            "now:listening",
            "snap:on",
            "key:Tab", // "Mute", shown while listening
            "key:Enter",
            "now:muted",
            "snap:muted",
            "key:Shift+Tab",
            "key:Enter", // the microphone button again: off
            "now:ready",
            "snap:off",
        ],
    );
    assert_eq!(result["errors"], json!([]), "{result}");
    let snaps = &result["snaps"];
    assert_eq!(snaps["on"]["mic"]["aria-pressed"], "true", "{result}");
    assert_eq!(snaps["on"]["micTracks"], json!(["live"]), "{result}");
    assert_eq!(
        snaps["on"]["mute"]["aria-label"], "Mute the microphone",
        "{result}"
    );
    assert_eq!(snaps["muted"]["mute"]["text"], "Unmute", "{result}");
    assert_eq!(
        snaps["muted"]["mute"]["aria-label"], "Unmute the microphone",
        "the accessible name follows the state: {result}"
    );
    assert_eq!(snaps["off"]["mic"]["aria-pressed"], "false", "{result}");
    assert_eq!(
        snaps["off"]["micTracks"],
        json!(["ended"]),
        "the microphone is released: {result}"
    );
    assert!(snaps["off"]["mute"].get("hidden").is_some(), "{result}");
    assert!(requests_to(&emu, "transcriptions").is_empty(), "{result}");
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn the_assistants_voice_can_be_muted_and_end_clears_the_captions() {
    let emu = emulator_replying("We open at seven on weekdays.");
    let dev = WranglerDev::start();
    let tenant = dev.tenant("voice-mute", &emu.base_url(), &[]);
    let result = steps(
        &dev,
        &tenant.key,
        "-",
        &[
            "now:ready",
            "type:When do you open?",
            "key:Enter",
            "replies:1",
            "now:ready",
            "mark:muting",
            // From the text box: the microphone, the close button, the voice button.
            "key:Shift+Tab",
            "key:Shift+Tab",
            "key:Shift+Tab",
            "key:Enter",
            "snap:voice",
            "key:Tab",
            "key:Tab",
            "key:Tab",
            "type:And on Sundays?",
            "key:Enter",
            "replies:2",
            "now:ready",
            "mark:second",
            "snap:answered",
            "key:Tab", // Send
            "key:Tab", // End
            "key:Enter",
            "now:idle",
            "snap:ended",
        ],
    );
    assert_eq!(result["errors"], json!([]), "{result}");
    let snaps = &result["snaps"];
    assert_eq!(
        snaps["voice"]["voice"]["aria-label"], "Mute the assistant's voice",
        "{result}"
    );
    assert_eq!(snaps["voice"]["voice"]["aria-pressed"], "true", "{result}");
    let muting = result["marks"]["muting"].as_f64().unwrap();
    let second = result["marks"]["second"].as_f64().unwrap();
    let loud = loud(&result);
    assert!(
        loud.iter().any(|t| *t < muting),
        "the first reply was heard: {result}"
    );
    let heard: Vec<&f64> = loud
        .iter()
        .filter(|t| **t > muting + 60.0 && **t <= second)
        .collect();
    assert!(heard.is_empty(), "the muted reply was heard: {heard:?}");
    assert_eq!(requests_to(&emu, "chat").len(), 2, "{result}");
    assert!(
        snaps["answered"]["captions"].as_u64().unwrap() >= 5,
        "{result}"
    );
    assert_eq!(
        snaps["ended"]["captions"], 0,
        "End clears the captions: {result}"
    );
}
