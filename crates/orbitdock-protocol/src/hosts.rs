//! Bodies for running sessions somewhere other than the hub's private agent process: joining a
//! session's live thread from a terminal.

use serde::{Deserialize, Serialize};

/// `POST /api/sessions/{id}/attach`: how a terminal joins the session's live thread. The hub
/// has loaded the thread in its shared Codex runtime before answering, so the terminal and the
/// hub are two clients of one app-server on one thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AttachInfo {
    /// The session.
    pub session_id: String,
    /// The Codex thread to resume.
    pub thread_id: String,
    /// `unix://PATH` for `codex --remote`.
    pub remote: String,
    /// The `CODEX_HOME` the runtime uses.
    pub codex_home: String,
    /// The `codex` binary the runtime runs (the terminal should run the same version).
    pub codex_bin: String,
    /// The session's working directory.
    pub cwd: String,
}
