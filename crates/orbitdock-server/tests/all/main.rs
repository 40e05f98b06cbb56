//! The server's integration tests, in one binary (one link instead of one per file).
//!
//! Modules that start the REAL pinned Codex app-server are named `e2e_*`, `passive_codex` and
//! `claude_hooks`; `.config/nextest.toml` retries only those (real external processes can race),
//! never the fast in-process tests (`core`, `connector_seam`).

mod claude_hooks;
mod common;
mod connector_seam;
mod core;
mod e2e_approvals;
mod e2e_interrupt_persist;
mod e2e_lifecycle;
mod e2e_restart;
mod e2e_shutdown;
mod e2e_thread_ops;
mod passive_codex;
mod thread_ops;
