//! The edge worker running in local workerd, and the demo page in headless Chromium.

use aura_emulator::Emulator;
use aura_tests::{WranglerDev, chromium_dump_dom, drive_widget};
use serde_json::json;

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn edge_serves_health_demo_page_and_client_wasm() {
    let dev = WranglerDev::start();

    let (status, ctype, body) = dev.get("/health").unwrap();
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["protocol"], aura_protocol::PROTOCOL_VERSION);

    let (status, ctype, body) = dev.get("/").unwrap();
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(body.contains("Mill Lane Bakery"));

    let (status, ctype, _) = dev.get("/pkg/aura_client_bg.wasm").unwrap();
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/wasm");

    // Unknown API paths and wrong methods are the Worker's own errors, not assets.
    assert_eq!(dev.get("/v1/nothing").unwrap().0, 404);
    assert_eq!(dev.status_of("POST", "/health"), 405);
}

#[test]
#[ignore = "needs the built worker, wrangler and chromium: run by `make test`"]
fn demo_page_with_debug_loads_the_client_wasm_and_agrees_with_the_edge_on_the_protocol() {
    let dev = WranglerDev::start();
    // The developer box is behind ?debug (a visitor's page load fetches no WebAssembly: see
    // the_demo_page_loads_no_webassembly_before_the_widget_opens).
    let dom = chromium_dump_dom(&dev.url("/?debug"), 10_000);
    assert!(
        dom.contains(&format!(
            "compatible: both speak protocol {}",
            aura_protocol::PROTOCOL_VERSION
        )),
        "the page did not report a compatible client and edge; DOM:\n{dom}\nwrangler:\n{}",
        dev.log()
    );
    assert!(
        dom.contains(&format!(
            "loaded, protocol {}",
            aura_protocol::PROTOCOL_VERSION
        )),
        "{dom}"
    );
}

/// Browsers ask for an icon; without one the demo page logged a 404 for /favicon.ico.
#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn the_demo_page_declares_an_icon_that_is_served() {
    let dev = WranglerDev::start();
    let (status, _, page) = dev.get("/").unwrap();
    assert_eq!(status, 200);
    let icon = page
        .split("<link ")
        .find(|l| l.contains(r#"rel="icon""#))
        .and_then(|l| l.split(r#"href=""#).nth(1))
        .and_then(|h| h.split('"').next())
        .expect("a <link rel=\"icon\"> with an href");
    let (status, ctype, body) = dev.get(icon).unwrap();
    assert_eq!(status, 200, "{icon}");
    assert!(ctype.starts_with("image/svg+xml"), "{icon}: {ctype}");
    assert!(body.starts_with("<svg"), "{icon}");
}

#[test]
#[ignore = "needs the built client and worker, node packages and chromium: run by `make test`"]
fn the_demo_page_loads_no_webassembly_before_the_widget_opens() {
    let emu = Emulator::start(0).unwrap();
    let dev = WranglerDev::start();
    let tenant = dev.tenant("demo-load", &emu.base_url(), &[]);
    let result = drive_widget(
        "type",
        &dev.url(&format!("/?key={}", tenant.key)),
        &["Hello?"],
    );
    assert_eq!(result["errors"], json!([]), "{result}");
    let before: Vec<&str> = result["requestsBeforeOpen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(before.iter().any(|r| r.ends_with("/aura.js")), "{before:?}");
    assert!(
        !before
            .iter()
            .any(|r| r.contains("/pkg/") || r.contains("demo.js?") || r.ends_with("/demo.js")),
        "nothing of the client before the widget opens: {before:?}"
    );
    let after = result["requests"].as_array().unwrap();
    assert!(
        after
            .iter()
            .any(|r| r.as_str().unwrap().ends_with("/pkg/aura_client_bg.wasm")),
        "the widget loads the WebAssembly once opened: {after:?}"
    );
    assert_eq!(
        result["failed"],
        json!([]),
        "every request the page made was answered"
    );
    let text = result["pageText"].as_str().unwrap();
    assert!(text.contains("Mill Lane Bakery"), "{text}");
    assert!(
        !text.contains("What the local system reports"),
        "the developer box is behind ?debug: {text}"
    );
}
