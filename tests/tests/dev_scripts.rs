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

/// The local engines' wire formats (multipart, WAV, Piper phoneme ids, OpenAI chat chunks) pass
/// their host tests: Python's unittest and Node's test runner, no engine or model needed.
#[test]
fn local_engine_wire_formats_pass_their_host_tests() {
    let speech = Command::new("python3")
        .args(["-m", "unittest", "-q", "test_wire"])
        .current_dir(root().join("engines/speech"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    assert!(
        speech.status.success(),
        "{}",
        String::from_utf8_lossy(&speech.stderr)
    );
    let llm = Command::new("node")
        .args(["--test", "engines/llm/openai.test.mjs"])
        .current_dir(root())
        .output()
        .expect("node runs");
    let out = String::from_utf8_lossy(&llm.stdout);
    assert!(llm.status.success(), "{out}");
    assert!(
        out.contains("# fail 0") && !out.contains("# pass 0"),
        "{out}"
    );
}

/// `AURA_ENGINES` is `local` or `emulator`; anything else stops `make dev` at once with a
/// message, before it installs or builds anything.
#[test]
fn dev_refuses_an_unknown_engines_setting() {
    let out = Command::new("bash")
        .arg(root().join("scripts/dev.sh"))
        .env("AURA_ENGINES", "cloud")
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("AURA_ENGINES is local (the default) or emulator, not cloud"),
        "{stderr}"
    );
    assert!(!stderr.contains("[bootstrap]"), "{stderr}");
}
