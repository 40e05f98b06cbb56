//! One test binary for the crate (link once): payload parsing, hooks-file install/uninstall, the
//! runner against a loopback stand-in of the OrbitDock server, and real pinned-Codex runs (exec
//! with our hooks and trust, the TUI in a pseudo-terminal for PermissionRequest, migrated homes).

mod common;

mod install;
mod migrate;
mod payloads;
mod permission_tui;
mod real_codex;
mod runner;
