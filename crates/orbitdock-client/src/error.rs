//! The client's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to an OrbitDock server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `server.json` (or an unreadable one) in the data dir: no server is running there.
    #[error(
        "no running server found in {} (start one with `orbitdock serve --data-dir {}`): {reason}",
        dir.display(),
        dir.display()
    )]
    NoServer {
        /// The data dir.
        dir: PathBuf,
        /// Why `server.json` could not be used.
        reason: String,
    },
    /// The token file is missing, unreadable or empty.
    #[error("cannot read the API token {}: {reason}", path.display())]
    Token {
        /// The token file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A base URL that is not an `http(s)://` URL.
    #[error("invalid server URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The request did not get an answer (connection refused, reset, timed out, ...).
    #[error("{method} {url}: {source}")]
    Request {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused or failed with its JSON error body.
    #[error("server answered {status}: {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable code (`not_found`, `conflict`, `unauthorized`, ...).
        code: String,
        /// The server's message.
        message: String,
    },
    /// A 4xx/5xx without our JSON error body (e.g. a 405 from the router, or not our server).
    #[error("server answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The body (truncated).
        body: String,
    },
    /// A success answer that is not the JSON the route promises.
    #[error("unexpected answer to {what}: {source}; body: {body}")]
    Decode {
        /// The call.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
        /// The body (truncated).
        body: String,
    },
    /// A WebSocket failure (handshake refused, connection lost, ...).
    #[error("WebSocket: {0}")]
    Ws(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// The WebSocket closed while we waited.
    #[error("WebSocket closed while waiting for {0}")]
    Closed(String),
    /// A frame that is not a `ServerMessage`.
    #[error("undecodable WebSocket frame: {source}; frame: {frame}")]
    Frame {
        /// The serde error.
        #[source]
        source: serde_json::Error,
        /// The frame (truncated).
        frame: String,
    },
    /// Nothing matching arrived in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long.
        after: Duration,
    },
    /// The server answered a WebSocket request with an `error` message.
    #[error("server refused {what}: {code}: {message}")]
    Refused {
        /// The request.
        what: String,
        /// The stable code.
        code: String,
        /// The server's message.
        message: String,
    },
}

impl Error {
    /// The server's stable error code, for [`Error::Api`] and [`Error::Refused`].
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } | Error::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, for answers the server gave.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Bodies and frames in errors are cut here so an error message stays readable.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 2_000;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}
