//! The crate's single error type.
//!
//! Every variant carries enough context (the path, the control subtype, the exit status and the
//! tail of the child's stderr) that a caller can show it to a human without re-deriving what
//! happened.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while resolving or driving the Claude Code CLI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `claude` binary could not be found (the error names every place searched), its
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

    /// The shared child-process plumbing failed (waiting on or killing the child).
    #[error("child process error: {0}")]
    Child(#[source] codex_client::Error),

    /// A CLI command exited unsuccessfully (`status` is `None` when killed by a signal).
    #[error("claude exited with status {status:?}; stderr tail:\n{stderr_tail}")]
    Exited {
        status: Option<i32>,
        stderr_tail: String,
    },

    /// A CLI sub-command produced output we could not interpret.
    #[error("unexpected output from `claude {command}`: {message}")]
    UnexpectedOutput { command: String, message: String },

    /// A host->CLI control request got no answer in time.
    #[error("control request {subtype} timed out after {after:?}")]
    Timeout { subtype: String, after: Duration },

    /// The CLI answered a control request with `subtype: "error"`.
    #[error("control request {subtype} failed ({}): {message}", code.as_deref().unwrap_or("no code"))]
    Control {
        subtype: String,
        message: String,
        /// The CLI's `error_code` (`invalid_mode`, `unsupported_request`, ...), when it sent one.
        code: Option<String>,
    },

    /// A CLI->host control request (a permission prompt) was answered a second time.
    #[error("control request {subtype} (id {request_id}) was already answered")]
    AlreadyAnswered { subtype: String, request_id: String },

    /// The CLI withdrew the request (`control_cancel_request`, e.g. after an interrupt) before
    /// it was answered; nothing was sent.
    #[error("control request {subtype} (id {request_id}) was cancelled by the CLI")]
    RequestCancelled { subtype: String, request_id: String },

    /// A line from the CLI or a control response could not be decoded into the expected type.
    #[error("could not decode {what} ({source}): {raw}")]
    Decode {
        what: String,
        raw: String,
        #[source]
        source: serde_json::Error,
    },

    /// The caller asked for something that cannot be expressed (e.g. a message that does not
    /// serialise).
    #[error("invalid invocation: {0}")]
    InvalidInvocation(String),

    /// The connection to the CLI is closed (it exited, or was shut down).
    #[error("connection to claude closed: {reason}")]
    Closed { reason: String },
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

impl From<codex_client::Error> for Error {
    fn from(e: codex_client::Error) -> Self {
        match e {
            codex_client::Error::Spawn { program, source } => Error::Spawn { program, source },
            codex_client::Error::Io { path, source } => Error::Io { path, source },
            other => Error::Child(other),
        }
    }
}
