//! The CLI surface beyond `exec` and `app-server`, against the REAL pinned Codex CLI (and the
//! newest release where versions are compared): auth (API key, device code, app-server
//! `account/*`), MCP (add/list/get/remove, OAuth login, token materialisation), the other
//! sub-commands, capability detection and guards, the update advisory and the compatibility
//! report. The only fakes are loopback stand-ins for internet services (`fake_cloud`) and the
//! model provider (`test_support::FakeResponses`).

mod advisory;
mod auth;
mod capabilities;
mod commands;
mod compat;
mod fake_cloud;
mod mcp;

use std::path::PathBuf;

use codex_client::{CodexBinary, CodexHome, CodexVersion};

/// The pinned binary (version known, no probe).
pub fn binary() -> CodexBinary {
    CodexBinary::with_version(test_support::codex_bin(), CodexVersion::pinned())
}

/// A fresh, empty `CODEX_HOME` (outside the system temp dir, where Codex warns about its PATH
/// helpers) and the temp dir that owns it.
pub fn empty_home() -> (tempfile::TempDir, CodexHome) {
    let parent = test_support::default_parent_dir();
    std::fs::create_dir_all(&parent).expect("parent dir");
    let tmp = tempfile::Builder::new()
        .prefix("cli-surface-")
        .tempdir_in(parent)
        .expect("tempdir");
    let home = CodexHome::new(tmp.path().join("codex"));
    home.create().expect("create home");
    (tmp, home)
}

/// A loopback port nothing listens on: as an `HTTPS_PROXY` it makes every internet request of
/// the child fail at once, without leaving the machine.
pub fn dead_proxy() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Environment that keeps a child's internet traffic on a dead loopback proxy.
pub fn offline_env() -> Vec<(&'static str, String)> {
    let proxy = dead_proxy();
    vec![
        ("HTTPS_PROXY", proxy.clone()),
        ("HTTP_PROXY", proxy.clone()),
        ("ALL_PROXY", proxy),
        ("NO_PROXY", "127.0.0.1,localhost,::1".into()),
        ("OPENAI_API_KEY", String::new()),
        ("RUST_LOG", "error".into()),
    ]
}

/// Mode bits of a file.
pub fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Where the compatibility tests keep their capability cache (shared between runs).
pub fn caps_cache_dir() -> PathBuf {
    test_support::default_parent_dir()
        .parent()
        .map(|p| p.join("codex-capabilities"))
        .unwrap_or_else(|| test_support::default_parent_dir().join("codex-capabilities"))
}
