//! Shared app-server runtimes, the TUI in a pseudo-terminal, orchestration and the session
//! index — all against the REAL pinned Codex CLI and the loopback model (test-support's
//! `FakeResponses`). One test binary, one module per area.

mod common;
mod daemon;
mod orchestrate;
mod sessions;
mod transports;
mod tui;
