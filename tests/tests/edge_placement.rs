//! A tenant's placement of its conversations' Durable Objects (issue 16 item 5): a location
//! hint and the `eu` jurisdiction. Local workerd ignores hints and throws on
//! `namespace.jurisdiction()` ("Jurisdiction restrictions are not implemented in workerd"), so
//! what is tested is what it allows: the settings are accepted, stored and refused when unknown;
//! a conversation's object is created through the hinted `getByName` without error, answers,
//! and is found again by the admin's deletion; the jurisdiction is skipped in local development
//! only, and the log says so.

use std::time::Duration;

use aura_tests::{WranglerDev, emulator_replying};
use serde_json::json;

#[test]
#[ignore = "needs the built worker and wrangler: run by `make test`"]
fn a_placed_tenants_conversations_open_answer_and_are_deleted() {
    let emu = emulator_replying("Yes.");
    let dev = WranglerDev::start();
    let admin = dev.admin();
    let mut settings =
        aura_admin::settings_for("placed", &[&dev.url("")], &emu.base_url(), "Brief.");
    settings["location_hint"] = json!("mars");
    assert!(admin.put_tenant("placed", &settings).is_err(), "not a hint");
    settings["location_hint"] = json!("weur");
    settings["jurisdiction"] = json!("us");
    assert!(
        admin.put_tenant("placed", &settings).is_err(),
        "not a jurisdiction"
    );
    settings["jurisdiction"] = json!("eu");
    let tenant = dev.tenant_with("placed", settings);
    let stored = admin.get_tenant("placed").unwrap();
    assert_eq!(stored["settings"]["location_hint"], "weur", "{stored}");
    assert_eq!(stored["settings"]["jurisdiction"], "eu", "{stored}");

    let mut client = tenant.connect("");
    let ready = client.start();
    client.send_json(json!({"type": "input.text", "text": "Are you open?"}));
    let messages = client.until("response.done", Duration::from_secs(20));
    assert!(
        messages.iter().any(|m| matches!(m, aura_tests::Incoming::Json(v) if v["type"] == "response.done" && v["status"] == "completed")),
        "{messages:?}"
    );
    let id = ready["session_id"].as_str().unwrap();
    assert_eq!(
        admin.delete_conversation("placed", id).unwrap()["deleted"],
        true,
        "the deletion reaches the same (placed) object"
    );
    assert_eq!(client.closed_by_server(Duration::from_secs(5)), Some(1000));
    assert!(
        dev.log()
            .contains(r#""event":"jurisdiction_ignored","jurisdiction":"eu""#),
        "local workerd has no jurisdictions, and the dev log says it was not applied"
    );

    // A hint alone, without a jurisdiction.
    let mut hinted = aura_admin::settings_for("hinted", &[&dev.url("")], &emu.base_url(), "Brief.");
    hinted["location_hint"] = json!("apac");
    let tenant = dev.tenant_with("hinted", hinted);
    let (text, done, errors) = aura_tests::typed_turn(&tenant, "Are you open?");
    assert_eq!(
        (text.as_str(), errors.len()),
        ("Yes.", 0),
        "{done} {errors:?}"
    );
}
