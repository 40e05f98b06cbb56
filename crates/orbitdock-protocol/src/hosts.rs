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

/// The name filters use for the machine the hub runs on. A session there has
/// [`crate::SessionSummary::host`] `None`; no configured host may take this name.
pub const LOCAL_HOST: &str = "local";

/// How the hub reaches a host's Codex app-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HostKind {
    /// `ssh://[user@]host[:port]`: `ssh HOST codex app-server`, JSON lines over the SSH channel.
    #[default]
    Ssh,
    /// `ws://host:port`: Codex's own WebSocket listener, with a capability token.
    Ws,
    /// `unix:///path`: an app-server socket on the hub's machine (another `CODEX_HOME`).
    Unix,
    /// A kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// Whether the hub can reach a host now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// The link is up and initialised: sessions there work.
    Connected,
    /// The link is being opened (first connection, or again after a drop); sessions there are
    /// `host_unreachable` until it is up.
    #[default]
    Reconnecting,
    /// The last attempt failed; the hub keeps retrying with backoff unless the failure cannot
    /// heal by itself (a refused token): `last_error` says which.
    Unreachable,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// A configured Codex host (`GET /api/hosts`, and the `host_changed` WebSocket message). Its
/// token, if any, is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HostInfo {
    /// The name sessions use (`SessionSummary::host`, `CreateSessionRequest::host`).
    pub name: String,
    /// `ssh://…`, `ws://…` or `unix://…` (never a token).
    pub url: String,
    /// How it is reached.
    pub kind: HostKind,
    /// Whether it is reachable now.
    pub state: HostState,
    /// The Codex version its app-server reported, once it answered.
    pub codex_version: Option<String>,
    /// Why the last connection failed or dropped (one readable sentence), when it did.
    pub last_error: Option<String>,
    /// Sessions of this hub on this host that are not ended.
    pub sessions: u64,
}

/// `GET /api/hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HostsResponse {
    /// Every configured host, in the order they were added. The hub's own machine is not
    /// listed: it is the default (sessions with no `host`).
    pub hosts: Vec<HostInfo>,
}

/// `POST /api/hosts`: register a host and connect to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AddHostRequest {
    /// Letters, digits, `-`, `_` and `.` (at most 64; not `local`).
    pub name: String,
    /// `ssh://[user@]host[:port]`, `ws://host:port` or `unix:///path`.
    pub url: String,
    /// The capability token of a `ws://` host (what its `--ws-token-file` holds). Stored 0600 on
    /// the hub's machine; never sent back.
    pub token: Option<String>,
    /// Send the token over plain `ws://` to an address that is not loopback (refused
    /// otherwise; prefer `ssh://` or a private network).
    pub allow_insecure_ws: bool,
    /// The `codex` command on an `ssh://` host (default `codex` on its PATH).
    pub remote_codex: Option<String>,
    /// Extra `ssh -o` options for an `ssh://` host.
    pub ssh_options: Vec<String>,
}

/// `POST /api/hosts/{name}/test`: one fresh connection to the host, separate from the hub's own
/// link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HostTestResponse {
    /// The host answered `initialize`.
    pub ok: bool,
    /// Its Codex version, when it answered.
    pub codex_version: Option<String>,
    /// Its `CODEX_HOME`, when it answered.
    pub codex_home: Option<String>,
    /// Why it did not (one readable sentence).
    pub error: Option<String>,
}
