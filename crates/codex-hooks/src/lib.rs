//! Codex CLI sessions seen through Codex's hooks, and terminal approvals answered from OrbitDock.
//!
//! Codex 0.169 runs command hooks (feature `hooks`, on by default) with one JSON object on stdin
//! and reads an optional JSON answer from stdout. OrbitDock's command (`orbitdock hook codex`)
//! must never slow Codex down or break it, must not lose an event while the server is down, and
//! may answer a PermissionRequest when a person decided in the hub. So:
//!
//! * [`hook_payload`] — typed payloads for every 0.169 event, tolerant of unknown fields and
//!   events; thread/sub-agent/turn/cwd/rollout extraction.
//! * [`permission`] — the PermissionRequest decision Codex reads, and the wire shape of the
//!   OrbitDock endpoint the runner asks (`POST /api/hooks/codex/permission`).
//! * [`hooks_file`] — install/uninstall/status of our hooks in `hooks.json` or `[hooks]` in
//!   `config.toml` without touching (or un-trusting) anyone else's; atomic, comment-preserving.
//! * [`trust`] — Codex only runs trusted hooks; trust is recorded in `config.toml` through
//!   app-server `hooks/list` + `config/batchWrite`, exactly as the TUI records it.
//! * [`runner`] — the hook process: forward within 50 ms or spool (events), or hold a
//!   PermissionRequest open until a person decides, the wait runs out or the server says no one
//!   is watching (then print nothing, so the terminal prompt takes over).
//!
//! The runner has no async runtime and no HTTP client library: the hook process is short-lived,
//! so it speaks HTTP/1.1 over a loopback `TcpStream` with deadlines ([`http`]). Only [`trust`]
//! (used by the installer, not by the hook) is async, because it drives `codex app-server`.
//! Verified facts about the pinned Codex are in the crate README.

pub mod error;
pub mod hook_payload;
pub mod hooks_file;
pub mod http;
pub mod permission;
pub mod runner;
pub mod trust;

pub use error::{Error, Result};
pub use hook_payload::{HookEvent, HookPayload, PayloadError};
pub use hooks_file::{
    Change, FileStatus, FoundHook, HooksFormat, file_status, hook_command, install, is_our_command,
    uninstall,
};
pub use permission::{PERMISSION_ROUTE, PermissionAnswer, PermissionAsk, ServerDecision};
pub use runner::{EVENT_ROUTE, Outcome, PermissionOutcome, RunnerConfig, SPOOL_FILE, run_hook};
pub use trust::{HookTrust, MANUAL_TRUST_STEPS, TrustReport, trust_our_hooks, trust_status};
