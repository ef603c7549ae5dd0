//! The edge worker running in local workerd, and the demo page in headless Chromium.

use aura_tests::{WranglerDev, chromium_dump_dom};

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn edge_serves_health_demo_page_and_client_wasm() {
    let dev = WranglerDev::start();

    let (status, ctype, body) = dev.get("/health").unwrap();
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["protocol"], 1);

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
fn demo_page_loads_the_client_wasm_and_agrees_with_the_edge_on_the_protocol() {
    let dev = WranglerDev::start();
    let dom = chromium_dump_dom(&dev.url("/"), 10_000);
    assert!(
        dom.contains("compatible: both speak protocol 1"),
        "the page did not report a compatible client and edge; DOM:\n{dom}\nwrangler:\n{}",
        dev.log()
    );
    assert!(dom.contains("loaded, protocol 1"), "{dom}");
}
