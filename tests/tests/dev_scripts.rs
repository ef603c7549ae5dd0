//! `make dev`'s shell helpers, run with bash on the host (no build needed, so not ignored).

use std::process::Command;

use aura_tests::{Scratch, root};

/// `dev_secret_vars` keeps every value verbatim after the first `=` (base64's trailing `=`
/// and `==` included, as dev.sh writes them: `IFS='=' read` dropped a single trailing `=`) and
/// the last line without a newline, and skips the names `.dev.vars` sets.
#[test]
fn dev_secrets_keep_base64_padding_and_let_dev_vars_win() {
    let dir = Scratch::new("dev-secrets");
    let secrets = dir.0.join("aura-dev-secrets");
    let overrides = dir.0.join(".dev.vars");
    std::fs::write(
        &secrets,
        "SESSION_SIGNING_KEY=MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=\n\
         MASTER_KEYS=1:ERERERERERERERERERERERERERERERERERERERERERE=\n\
         TWO_KEYS=1:ERERERERERERERERERERERERERERERERERERERERERE=,2:IiI=\n\
         PADDED=YQ==\n\
         ADMIN_TOKEN=adm_x=y\n\
         LAST_NO_NEWLINE=ab=",
    )
    .unwrap();
    std::fs::write(&overrides, "ADMIN_TOKEN=from-dev-vars\n").unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"set -euo pipefail; source "$1"; vars=(); dev_secret_vars "$2" "$3"; printf '%s\n' "${vars[@]}""#)
        .arg("bash")
        .arg(root().join("scripts/dev-secrets.sh"))
        .arg(&secrets)
        .arg(&overrides)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        [
            "--var",
            "SESSION_SIGNING_KEY:MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=",
            "--var",
            "MASTER_KEYS:1:ERERERERERERERERERERERERERERERERERERERERERE=",
            "--var",
            "TWO_KEYS:1:ERERERERERERERERERERERERERERERERERERERERERE=,2:IiI=",
            "--var",
            "PADDED:YQ==",
            "--var",
            "LAST_NO_NEWLINE:ab=",
        ]
    );
}
