//! Sessions started outside OrbitDock: Claude Code sessions reported through hooks
//! ([`claude`]) and Codex sessions discovered from their rollout files ([`codex`]).

pub mod claude;
pub mod codex;
