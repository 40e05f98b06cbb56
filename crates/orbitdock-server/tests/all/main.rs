//! The server's integration tests, in one binary (one link instead of one per file).
//!
//! Modules that start the REAL pinned Codex app-server are `e2e_*`, `passive_codex`,
//! `claude_hooks`, `claude_transcript`, `crash_loop`, `checkpoint_crash` and `shared_runtime`; `.config/nextest.toml` retries only tests that drive real
//! external processes, never the fast in-process ones (`core`, `connector_seam`).

mod access;
mod bad_input;
mod checkpoint_crash;
mod claude_hooks;
mod claude_transcript;
mod common;
mod connector_seam;
mod core;
mod crash_loop;
mod e2e_account;
mod e2e_approvals;
mod e2e_around;
mod e2e_claude;
mod e2e_history_ops;
mod e2e_hosts;
mod e2e_interrupt_persist;
mod e2e_lifecycle;
mod e2e_local_model;
mod e2e_push;
mod e2e_restart;
mod e2e_retention;
mod e2e_shutdown;
mod e2e_thread_ops;
mod faults;
mod list_search;
mod maintenance;
mod pairing;
mod passive_codex;
mod remote_access;
mod security;
mod shared_runtime;
mod soak;
mod thread_ops;
