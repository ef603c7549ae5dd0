//! Harness for tests that run the real system locally: `wrangler dev` (workerd) serving the built
//! worker and `www/`, and Debian's headless Chromium.
//!
//! These tests need the artifacts of `scripts/build.sh` and the npm packages, so they are
//! `#[ignore]`d in a plain `cargo test`; `make test` builds first and runs them with `--ignored`.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory under the repository's ignored `.tmp/`, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir =
            root()
                .join(".tmp")
                .join(format!("{name}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The secrets every test edge runs with (test values, not used anywhere else).
pub const TEST_SIGNING_KEY: &str = "test-session-signing-key-0123456789abcdef";
/// The secret that tags publishable keys (`tenant/key_tag.rs`).
pub const TEST_KEY_SECRET: &str = "test-publishable-key-secret-0123456789abcdef";
/// Master key version 1: 32 bytes of 0x11.
pub const TEST_MASTER_KEY_V1: &str = "1:ERERERERERERERERERERERERERERERERERERERERERE=";
/// Master key version 2: 32 bytes of 0x22.
pub const TEST_MASTER_KEY_V2: &str = "2:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=";
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token-0123456789";

mod browser;
mod emulator;
mod engines;
mod microphone;
mod phrases;
mod proxy;
mod stt_recorder;
mod wer;
mod wrangler;
mod ws_client;

pub use browser::*;
pub use emulator::*;
pub use engines::*;
pub use microphone::*;
pub use phrases::*;
pub use proxy::*;
pub use stt_recorder::*;
pub use wer::*;
pub use wrangler::*;
pub use ws_client::*;
