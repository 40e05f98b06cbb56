//! The crate's one error type. HTTP/WebSocket mapping lives in [`Error::code`] and
//! [`Error::http_status`] so every transport reports the same error the same way.

use std::path::PathBuf;

/// Everything that can go wrong in the server library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("database error while {context}: {source}")]
    Db {
        /// What we were doing.
        context: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file or socket operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path (or address) concerned.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A stored or received payload could not be decoded.
    #[error("could not decode {what}: {source}")]
    Decode {
        /// What it was.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// No such session.
    #[error("no session {0}")]
    SessionNotFound(String),
    /// No such pending approval.
    #[error(
        "no pending approval {request_id} in session {session_id} (unknown or already resolved)"
    )]
    ApprovalNotFound {
        /// The session.
        session_id: String,
        /// The request.
        request_id: String,
    },
    /// The request is invalid.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request conflicts with the session's state (e.g. no running turn to interrupt).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A bounded queue is full; try again later.
    #[error("busy: {0}")]
    Busy(String),
    /// The agent (Codex app-server) refused or failed. A JSON-RPC error keeps its code and
    /// data so callers can tell errors apart without matching on prose.
    #[error("agent error during {operation}: {message}")]
    Agent {
        /// What we asked.
        operation: String,
        /// What it said.
        message: String,
        /// The JSON-RPC error code, when the agent answered with one.
        code: Option<i64>,
        /// The JSON-RPC error data, when any (boxed: `Value` is large with serde_json's
        /// `preserve_order`, and every `Result` of the crate pays for the largest variant).
        data: Option<Box<serde_json::Value>>,
    },
    /// An agent call or a queued command did not finish in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long.
        after: std::time::Duration,
    },
    /// A component shut down (the writer thread, a session actor).
    #[error("{0} has shut down")]
    Closed(String),
    /// The persistence writer reported an error for our batch.
    #[error("persistence failed: {0}")]
    Persist(String),
    /// A certificate or key could not be read, generated or used.
    #[error("TLS: {what}: {reason}")]
    Tls {
        /// The file or step concerned.
        what: String,
        /// What went wrong.
        reason: String,
    },
    /// What was asked for existed once but its source no longer has it (a command's full
    /// output whose rollout file was deleted).
    #[error("{0}")]
    Gone(String),
    /// No such item in a session's transcript.
    #[error("session {session} has no item {seq}")]
    ItemNotFound {
        /// The session.
        session: String,
        /// The item's seq.
        seq: u64,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps a rusqlite error with what we were doing.
    pub fn db(context: impl Into<String>, source: rusqlite::Error) -> Self {
        Error::Db {
            context: context.into(),
            source,
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The stable machine code used in JSON error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Error::SessionNotFound(_)
            | Error::ApprovalNotFound { .. }
            | Error::ItemNotFound { .. } => "not_found",
            Error::BadRequest(_) | Error::Decode { .. } => "bad_request",
            Error::Conflict(_) => "conflict",
            Error::Gone(_) => "gone",
            Error::Busy(_) => "busy",
            Error::Agent { .. } => "agent_error",
            Error::Timeout { .. } => "timeout",
            // Saving failed for a reason outside the request (disk full, read-only): a
            // temporary refusal the client may retry, not a server bug.
            Error::Persist(_) => "storage_unavailable",
            Error::Db { .. } | Error::Io { .. } | Error::Closed(_) | Error::Tls { .. } => {
                "internal"
            }
        }
    }

    /// The HTTP status for this error.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self.code() {
            "not_found" => S::NOT_FOUND,
            "bad_request" => S::BAD_REQUEST,
            "conflict" => S::CONFLICT,
            "gone" => S::GONE,
            "busy" | "storage_unavailable" => S::SERVICE_UNAVAILABLE,
            "agent_error" => S::BAD_GATEWAY,
            "timeout" => S::GATEWAY_TIMEOUT,
            _ => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl Error {
    /// An agent failure during `operation`, keeping a JSON-RPC error's code and data.
    pub fn agent(operation: impl Into<String>, e: codex_client::Error) -> Self {
        let (code, data) = match &e {
            codex_client::Error::Rpc { code, data, .. } => (Some(*code), data.clone()),
            _ => (None, None),
        };
        Error::Agent {
            operation: operation.into(),
            message: e.to_string(),
            code,
            data,
        }
    }

    /// Whether the agent refused because another process is writing the thread. Codex answers
    /// `thread/resume` with JSON-RPC code -32600 ("invalid request") and a message naming the
    /// active writer; the code alone is too generic, so both are checked.
    pub fn is_active_writer_conflict(&self) -> bool {
        matches!(self, Error::Agent { code: Some(-32600), message, .. }
            if message.to_ascii_lowercase().contains("active writer"))
    }
}

impl From<codex_client::Error> for Error {
    fn from(e: codex_client::Error) -> Self {
        Error::agent("app-server", e)
    }
}
