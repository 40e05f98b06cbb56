//! Dev-only helpers shared by every crate's integration tests.
//!
//! Our tests drive the REAL pinned Codex CLI, so the only thing we fake is the network edge we do
//! not own: the model provider. This crate provides
//!
//! * [`FakeResponses`]: a loopback HTTP server speaking the subset of the OpenAI Responses API that
//!   Codex 0.169 consumes (`POST /v1/responses` as SSE, `GET /v1/models`). Tests script replies
//!   with [`ScriptedResponse`] and assert on [`RecordedRequest`]s — exactly what Codex sent. It
//!   runs on its own thread and Tokio runtime so sync tests and every async test flavour can use
//!   it without sharing a runtime (a `current_thread` test runtime blocked in `wait` would
//!   otherwise starve the server).
//! * [`CodexHomeBuilder`] / [`TempCodexHome`]: an isolated, offline `CODEX_HOME` plus a fresh
//!   git-initialised work dir, and a [`std::process::Command`] for the pinned binary with an
//!   environment that cannot leak to a real provider.
//! * [`codex_bin`] / [`workspace_root`]: where the pinned CLI lives.
//! * [`cargo_example`]: the binary of a workspace example (helper processes tests spawn).
//! * [`rollout_corpus`]: rollout files shaped like Codex's, generated in bulk for benchmarks.
//! * [`script_from_args`]: the script file of the fake servers run as processes by tests that
//!   are not Rust (`examples/fake_anthropic_server.rs`, `examples/fake_responses_server.rs`).
//! * [`fake_push`]: a loopback Web Push service and a browser's keys and decryption.
//! * [`sshd::Sshd`]: an `sshd` of the test's own on loopback, for SSH-reached hosts.
//!
//! ```no_run
//! use std::time::Duration;
//! use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse};
//!
//! let fake = FakeResponses::start();
//! fake.enqueue(ScriptedResponse::new().exec_command("echo hi", "call_1"));
//! fake.enqueue(ScriptedResponse::new().text("done"));
//! let home = CodexHomeBuilder::new(&fake.base_url())
//!     .approval_policy("never")
//!     .sandbox_mode("workspace-write")
//!     .build();
//! let out = home
//!     .command(&["exec", "--json", "--skip-git-repo-check", "say hi"])
//!     .output()
//!     .expect("run codex");
//! assert!(out.status.success());
//! let requests = fake.wait_for_responses_requests(2, Duration::from_secs(30));
//! assert!(requests[1].function_call_output("call_1").unwrap().contains("hi"));
//! ```
//!
//! Everything here panics on misuse or timeouts with a message that says what happened: it is
//! test code, and a clear panic is the most useful failure a test can produce.

mod claude_home;
mod codex_home;
pub mod fake_anthropic;
pub mod fake_push;
mod fake_responses;
pub mod gguf;
mod hub_ws;
mod local_user;
pub mod rollout_corpus;
mod script_file;
pub mod sshd;
mod tally;

pub use claude_home::{CLAUDE_SCRUBBED_ENV, ClaudeHome, claude_bin};
pub use codex_home::{
    CodexHomeBuilder, ESCALATION_CALL_ID, ESCALATION_JUSTIFICATION, SCRUBBED_ENV, TempCodexHome,
    default_parent_dir, escalation_home, rollout_files, wait_for_path, write_legacy_rollout,
};
pub use fake_responses::{FakeResponses, RecordedRequest, ScriptedResponse};
pub use hub_ws::hub_ws_request;
pub use local_user::second_local_user;
pub use script_file::script_from_args;

use std::path::PathBuf;

/// The Codex CLI version the whole project is pinned to (installed by `scripts/setup.sh`).
pub const PINNED_CODEX_VERSION: &str = "0.169.0";

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The npm platform package and the target triple of the vendored binary for this platform.
fn platform_package() -> (&'static str, &'static str) {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
        ("linux", "aarch64") => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
        ("macos", "x86_64") => ("codex-darwin-x64", "x86_64-apple-darwin"),
        ("macos", "aarch64") => ("codex-darwin-arm64", "aarch64-apple-darwin"),
        (os, arch) => panic!("test-support: no pinned Codex binary known for {os}/{arch}"),
    }
}

/// The pinned Codex binary: `$CODEX_BIN` if set, else the install under `<root>/tools/codex`.
///
/// Panics with a hint to run `scripts/setup.sh` when the binary is missing.
pub fn codex_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CODEX_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "CODEX_BIN={} does not exist; unset it or run scripts/setup.sh",
            bin.display()
        );
        return bin;
    }
    let (package, triple) = platform_package();
    let bin = workspace_root()
        .join("tools/codex/node_modules/@openai")
        .join(package)
        .join("vendor")
        .join(triple)
        .join("bin/codex");
    assert!(
        bin.is_file(),
        "pinned Codex CLI {PINNED_CODEX_VERSION} not found at {}: run scripts/setup.sh",
        bin.display()
    );
    bin
}

/// The newest published Codex CLI the project checks compatibility against (installed beside the
/// pinned one by `scripts/setup.sh`).
pub const NEWEST_CODEX_VERSION: &str = "0.171.0";

/// The newest Codex binary: `$CODEX_BIN_NEWEST` if set, else the install under
/// `<root>/tools/codex-<NEWEST_CODEX_VERSION>`.
///
/// Panics with a hint to run `scripts/setup.sh` when the binary is missing.
pub fn codex_bin_newest() -> PathBuf {
    if let Some(bin) = std::env::var_os("CODEX_BIN_NEWEST").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "CODEX_BIN_NEWEST={} does not exist; unset it or run scripts/setup.sh",
            bin.display()
        );
        return bin;
    }
    let (package, triple) = platform_package();
    let bin = workspace_root()
        .join(format!(
            "tools/codex-{NEWEST_CODEX_VERSION}/node_modules/@openai"
        ))
        .join(package)
        .join("vendor")
        .join(triple)
        .join("bin/codex");
    assert!(
        bin.is_file(),
        "newest Codex CLI {NEWEST_CODEX_VERSION} not found at {}: run scripts/setup.sh",
        bin.display()
    );
    bin
}

/// Every Codex version the compatibility tests cover: (version, binary), pinned first.
pub fn codex_matrix() -> Vec<(&'static str, PathBuf)> {
    vec![
        (PINNED_CODEX_VERSION, codex_bin()),
        (NEWEST_CODEX_VERSION, codex_bin_newest()),
    ]
}

/// The binary of example `name` of workspace package `package`, built for the profile the
/// running test was built with (`target/<profile>/examples/<name>`). A full `cargo test` /
/// `cargo nextest run` builds examples already; when a narrower run did not (`--test X`), it is
/// built here once with `cargo build -p <package> --example <name>`.
///
/// Panics with cargo's output when the build fails.
pub fn cargo_example(package: &str, name: &str) -> PathBuf {
    use std::sync::{Mutex, OnceLock};
    static BUILD: OnceLock<Mutex<()>> = OnceLock::new();
    // Tests live in target/<profile>/deps/; examples next to it.
    let exe = std::env::current_exe().expect("test-support: the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test-support: a test binary lives in target/<profile>/deps")
        .to_path_buf();
    let bin = profile_dir.join("examples").join(name);
    let _guard = BUILD
        .get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if bin.is_file() {
        return bin;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", package, "--example", name]);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("test-support: running cargo to build example {name}: {e}"));
    assert!(
        out.status.success() && bin.is_file(),
        "test-support: building example {name} of {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}
