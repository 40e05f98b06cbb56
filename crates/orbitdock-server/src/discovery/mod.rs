//! Sessions started outside OrbitDock: Claude Code sessions reported through hooks
//! ([`claude`]). Codex rollout discovery (crate `codex-rollout`) is not wired in yet.

pub mod claude;
