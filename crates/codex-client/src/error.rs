//! The crate's single error type.
//!
//! Every variant carries enough context (the path, the method, the exit status and the tail of the
//! child's stderr) that a caller can show it to a human without re-deriving what happened.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Everything that can go wrong while resolving, configuring or driving the Codex CLI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `codex` binary could not be found (the error names every place searched), its
    /// `--version` gave no usable answer, it is not the version asked for, or its npm install
    /// failed.
    #[error(transparent)]
    Binary(#[from] cli_locate::Failure),

    /// A filesystem operation failed.
    #[error("I/O error on {path:?}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A child process could not be started.
    #[error("could not spawn {program:?}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A child process exited unsuccessfully (or was killed by a signal: `status` is `None`).
    #[error("codex exited with status {status:?}; stderr tail:\n{stderr_tail}")]
    Exited {
        status: Option<i32>,
        stderr_tail: String,
    },

    /// A `codex exec` turn failed (`turn.failed`); carries the exit status and stderr tail.
    #[error("codex turn failed: {message} (exit status {status:?}); stderr tail:\n{stderr_tail}")]
    TurnFailed {
        message: String,
        status: Option<i32>,
        stderr_tail: String,
    },

    /// No event arrived for `after`; the child has been killed.
    #[error("no event from codex for {after:?}; killed it. stderr tail:\n{stderr_tail}")]
    IdleTimeout {
        after: Duration,
        stderr_tail: String,
    },

    /// The run was cancelled by the caller; the process group has been killed.
    #[error("the run was cancelled")]
    Cancelled,

    /// A line from the child could not be decoded.
    #[error("could not decode line from codex ({source}): {line}")]
    Decode {
        line: String,
        #[source]
        source: serde_json::Error,
    },

    /// The caller asked for something the pinned CLI does not support (e.g. `-C` with `exec resume`).
    #[error("invalid invocation: {0}")]
    InvalidInvocation(String),

    /// A TOML config file could not be parsed or has an unexpected shape.
    #[error("config error in {path:?}: {message}")]
    Config { path: PathBuf, message: String },

    /// A CLI sub-command (login, features, mcp, ...) produced output we could not interpret.
    #[error("unexpected output from `codex {command}`: {message}")]
    UnexpectedOutput { command: String, message: String },

    /// The detected `codex` binary lacks a sub-command, flag, feature or app-server method the
    /// caller asked for (see `capabilities`); nothing was run.
    #[error("codex {version} ({binary:?}) does not support {what}")]
    Unsupported {
        version: String,
        binary: PathBuf,
        what: String,
    },

    /// A JSON-RPC request timed out.
    #[error("request {method} timed out after {after:?}")]
    Timeout { method: String, after: Duration },

    /// A JSON-RPC request returned an error.
    #[error("request {method} failed with {code}: {message}")]
    Rpc {
        method: String,
        code: i64,
        message: String,
        /// Boxed: `Value` is large (with serde_json's `preserve_order`), and every `Result` of
        /// the crate pays for the largest variant.
        data: Option<Box<Value>>,
    },

    /// A server->client request (approval, question) was answered a second time.
    #[error("server request {method} (id {id}) was already answered")]
    AlreadyAnswered { method: String, id: String },

    /// The connection to a child process is closed (it exited, or was shut down).
    #[error("connection to codex closed: {reason}")]
    Closed { reason: String },

    /// An app-server endpoint (Unix socket, WebSocket, command) could not be reached or did not
    /// complete the WebSocket upgrade.
    #[error("cannot connect to app-server at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },

    /// The app-server refused our credentials at the WebSocket upgrade (HTTP `status`, usually
    /// 401, with the server's explanation in `message`). Retrying with the same token is futile.
    #[error("app-server at {endpoint} refused the connection (HTTP {status}): {message}")]
    Unauthorized {
        endpoint: String,
        status: u16,
        message: String,
    },

    /// The session index (its SQLite database) failed or refused a query.
    #[error("session index {path:?}: {message}")]
    Index { path: PathBuf, message: String },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for an [`Error::Io`] on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
