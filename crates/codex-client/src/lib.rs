//! `codex-client`: a typed Rust library over the real OpenAI Codex CLI (pinned to
//! [`binary::PINNED_VERSION`]).
//!
//! Why a wrapper over the CLI rather than a reimplementation: Codex's behaviour (tools, sandbox,
//! rollout files, auth) lives in the binary, and the binary's wire formats (`exec --json` JSONL,
//! the `app-server` JSON-RPC protocol) are what the rest of our system must agree with. So this
//! crate owns the boundary and nothing else:
//!
//! - [`binary`]: find the `codex` binary (explicit path > `$CODEX_BIN` > a project-managed pinned
//!   npm install > `$PATH`), probe its version, install the pinned version.
//! - [`home`]: the `CODEX_HOME` layout, app-scoped homes, safe creation, copying auth state.
//! - [`exec`]: `codex exec --json` as a builder and a typed event stream, with cancellation that
//!   kills the whole process group and an idle timeout.
//! - [`app_server`]: a JSON-RPC client for `codex app-server` (typed requests with timeouts,
//!   typed notifications, approvals surfaced with a responder and never auto-answered).
//! - [`config`], [`auth`], [`features`], [`mcp`], [`notify`]: editing `config.toml` without losing
//!   user content, and the small CLI sub-commands around it.
//! - [`commands`]: the other sub-commands (`apply`, `sandbox`, `review`, `archive`/`unarchive`/
//!   `delete`, `resume`/`fork`, `doctor`, `queue`) as typed builders with captured output;
//!   [`auth`] also runs the device-code login and [`mcp`] the OAuth login as typed event streams.
//! - [`capabilities`]: what a given binary supports (sub-commands, flags, features, app-server
//!   methods), detected once per version and cached; builders refuse what it lacks, naming the
//!   version, and app-server callers pick renamed methods with `method_for`.
//! - [`advisory`]: the newest published release (npm registry or a host URL) compared with the
//!   installed and pinned versions; advice only, never an install.
//! - [`tui`]: the interactive `codex` TUI on a pseudo-terminal (parsed screen, keys, resize,
//!   resume/fork, `--remote` to a shared app-server), for tests and terminal hand-off.
//! - [`sessions`]: find a thread's rollout by thread id (for cross-process resume).
//! - [`session_index`]: a persistent SQLite/FTS5 index of every thread in a `CODEX_HOME` (and
//!   `history.jsonl`), kept up to date incrementally, for listing and searching past sessions by
//!   cwd, time, model and text.
//! - [`process`]: the child-process plumbing (own process group, group kill on cancel and drop,
//!   stderr drained into `tracing` with a bounded tail) shared by `exec` and `app_server`.
//!
//! Foreign input is never trusted: unknown event and item types become `Unknown(Value)` variants,
//! and a line that is not JSON becomes an error event carrying the raw line, never a panic.

pub mod advisory;
pub mod app_server;
pub mod auth;
pub mod binary;
pub mod capabilities;
pub mod commands;
pub mod config;
pub mod error;
pub mod exec;
pub mod features;
pub mod home;
pub mod mcp;
pub mod notify;
pub mod parent_death;
pub mod process;
pub mod session_index;
pub mod sessions;
pub mod tui;

pub use binary::{BinaryResolver, CodexBinary, CodexVersion, PINNED_VERSION};
pub use error::{Error, Result};
pub use exec::{
    ExecBuilder, ExecOutcome, ExecRun, ThreadEvent, ThreadItem, ThreadItemDetails, Usage,
};
pub use home::CodexHome;
