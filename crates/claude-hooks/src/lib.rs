//! Claude Code sessions, seen through Claude Code's hooks and routed through the OrbitDock server.
//!
//! Claude Code runs a command for each hook event with one JSON object on stdin. OrbitDock's
//! command (`orbitdock hook claude`) must never slow Claude down or break it, and must not lose
//! an event when the server is down — the server is the single writer of session state. So:
//!
//! * [`hook_payload`] — typed payloads for every documented event, tolerant of unknown fields
//!   and events (Claude adds both).
//! * [`settings_install`] — merge our hook entries into `settings.json` without touching anyone
//!   else's (idempotent install, uninstall removes only ours, atomic write through
//!   [`settings_file`], which `codex-hooks` shares).
//! * [`spool`] — an fsync'd, `flock`ed append-only JSONL file for payloads the server could not
//!   take; the server drains it and truncates only after persisting; a torn line is never lost.
//! * [`forward`] — the hook client: stdin (bounded) -> POST to the server within 50 ms -> else
//!   spool; nothing on stdout, exit 0 always.
//!
//! No async runtime and no HTTP client library: the hook process is short-lived and must be fast
//! to start, so it speaks HTTP/1.1 over a loopback `TcpStream` with deadlines.

pub mod error;
pub mod forward;
pub mod hook_payload;
pub mod settings_file;
pub mod settings_install;
pub mod spool;

pub use error::{Error, Result};
pub use forward::{DEFAULT_BUDGET, Delivery, HOOK_ROUTE, forward, run_hook};
pub use hook_payload::{HookEvent, HookPayload, PayloadError};
pub use settings_install::{hook_command, install, installed_events, uninstall};
pub use spool::{DrainOutcome, Spool, SpooledLine};
