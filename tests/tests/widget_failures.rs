//! What a visitor sees when something fails, through the widget in headless Chromium (keyboard
//! only): a provider that is down, a limit. (A refused microphone and a network drop run in
//! every engine: every_engine.rs.)

use aura_emulator::Emulator;
use aura_tests::{WranglerDev, drive_widget, requests_to, script, widget_states};
use serde_json::json;

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn a_provider_that_is_down_falls_back_or_says_so_clearly() {
    let primary = Emulator::start(0).unwrap();
    let fallback = Emulator::start(0).unwrap();
    script(
        &primary,
        json!({"endpoint": "chat", "default": {"fault": {"kind": "status", "code": 503}}}),
    );
    script(
        &fallback,
        json!({"endpoint": "chat", "default": {"reply": "The fallback answers."}}),
    );
    let dev = WranglerDev::start();

    // With a fallback route the visitor does not notice.
    let settings = dev.two_route_settings(&primary.base_url(), &fallback.base_url());
    let with_fallback = dev.tenant_with("with-fallback", settings);
    let result = drive_widget(
        "type",
        &dev.url(&format!("/?key={}", with_fallback.key)),
        &["Hello?"],
    );
    assert_eq!(result["reply"], "The fallback answers.", "{result}");
    assert_eq!(result["errors"], json!([]), "{result}");

    // Without one, a clear message, and the widget stays usable.
    let alone = dev.tenant("alone", &primary.base_url(), &[]);
    let result = drive_widget(
        "type",
        &dev.url(&format!("/?key={}", alone.key)),
        &["Hello?"],
    );
    assert_eq!(result["errors"][0]["code"], "provider_error", "{result}");
    let last = widget_states(&result).last().cloned().unwrap();
    assert!(
        last.starts_with("error: the language model could not answer"),
        "the state says what failed: {last}"
    );
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn a_limit_reached_shows_when_to_try_again() {
    let emu = Emulator::start(0).unwrap();
    let dev = WranglerDev::start();
    let mut settings = aura_admin::settings_for("t", &[&dev.url("")], &emu.base_url(), "Be brief.");
    settings["limits"] = json!({"turns_per_minute": 0});
    let tenant = dev.tenant_with("no-turns", settings);
    let result = drive_widget(
        "type",
        &dev.url(&format!("/?key={}", tenant.key)),
        &["Hello?"],
    );
    assert_eq!(result["errors"][0]["code"], "rate_limited", "{result}");
    let last = widget_states(&result).last().cloned().unwrap();
    assert_eq!(last, "busy: try again in 60 s", "{result}");
    assert!(
        requests_to(&emu, "chat").is_empty(),
        "no provider was called"
    );
}
