//! Re-issuing the publishable keys the edge refuses (#14 items 13's migration): keys of before
//! the tag (`pk_TENANT_` and 32 hex digits) and keys tagged under a replaced
//! `PUBLISHABLE_KEY_SECRET` are refused by the Worker; `POST .../publishable-keys/reissue`
//! replaces each with a new key and keeps the ones it accepts. Before, the route answered 404
//! and each key had to be added and revoked by hand.

use std::path::Path;
use std::process::Command;

use aura_tests::{WranglerDev, emulator_replying, upgrade_status};
use serde_json::json;

/// The tenant object's database file that holds `tenant` (its write-ahead log may hold it
/// instead, so either counts).
fn tenant_database(state: &Path, tenant: &str) -> String {
    let dir = state.join("v3/do/aura-edge-TenantObject");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read(p).is_ok_and(|b| b.windows(tenant.len()).any(|w| w == tenant.as_bytes()))
        })
        .map(|p| p.display().to_string().trim_end_matches("-wal").to_string())
        .collect();
    found.dedup();
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

#[test]
#[ignore = "needs the built worker, wrangler and sqlite3: run by `make test`"]
fn keys_the_edge_refuses_are_reissued_and_the_new_ones_work() {
    let emu = emulator_replying("Yes.");
    let state = aura_tests::Scratch::new("key-reissue");
    let dir = state.0.clone();
    let dev = WranglerDev::start_in(state, &[]);
    let id = "rowan-keys";
    let t = dev.tenant(id, &emu.base_url(), &[]);
    let state = dev.stop();
    // A key of before the tag, as an older edge stored it.
    let untagged = format!("pk_{id}_{}", "5a".repeat(16));
    let inserted = Command::new("sqlite3")
        .args([
            &tenant_database(&dir, id),
            &format!("INSERT INTO publishable_keys (key, created_ms) VALUES ('{untagged}', 0)"),
        ])
        .status()
        .expect("the sqlite3 command (apt install sqlite3)");
    assert!(inserted.success());
    // The secret is replaced: the key it tagged is refused now too.
    let other = "another-publishable-key-secret-0123456789ab".to_string();
    let dev = WranglerDev::start_in(state, &[("PUBLISHABLE_KEY_SECRET", other)]);
    let admin = dev.admin();
    let url = |key: &str| format!("ws://127.0.0.1:{}/v1/session?key={key}", dev.port);
    for old in [&t.key, &untagged] {
        assert_eq!(upgrade_status(&url(old), &t.origin), 401, "{old}");
    }
    let kept = admin.add_publishable_key(id).unwrap();

    let answer = admin.reissue_publishable_keys(id).unwrap();
    let reissued = answer["reissued"].as_array().unwrap();
    let olds: Vec<&str> = reissued
        .iter()
        .map(|r| r["old"].as_str().unwrap())
        .collect();
    // Oldest first: the untagged one was stored as created at 0.
    assert_eq!(olds, [untagged.as_str(), t.key.as_str()], "{answer}");
    let news: Vec<String> = reissued
        .iter()
        .map(|r| r["new"].as_str().unwrap().to_string())
        .collect();
    let keys = admin.get_tenant(id).unwrap()["publishable_keys"].clone();
    assert_eq!(
        keys,
        json!([kept, news[0], news[1]]),
        "old keys gone, the live one kept"
    );
    for key in news.iter().chain([&kept]) {
        let mut client = aura_tests::SessionClient::open(&url(key), &t.origin).unwrap();
        assert_eq!(client.start()["type"], "session.ready", "{key}");
        client.close();
    }
    for old in [&t.key, &untagged] {
        assert_eq!(upgrade_status(&url(old), &t.origin), 401, "{old}");
    }
    assert_eq!(
        admin.reissue_publishable_keys(id).unwrap(),
        json!({"reissued": []}),
        "nothing left to reissue"
    );
}
