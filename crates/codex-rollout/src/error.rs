//! The crate's error type.

use std::path::PathBuf;

/// Errors of this crate. Per-line problems (malformed JSON, unknown types) are not errors: they
/// are counted and skipped (see [`crate::rollout_line::LineError`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`open`, `read`, `seek`, `stat`, `write`, `rename`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file watcher could not be set up.
    #[error("watch {path}: {source}")]
    Watch {
        /// The directory being watched.
        path: PathBuf,
        /// The notify error.
        #[source]
        source: notify::Error,
    },
    /// A persisted checkpoint could not be encoded or decoded.
    #[error("checkpoint store {path}: {source}")]
    Checkpoint {
        /// The store file.
        path: PathBuf,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A checkpoint kept in memory for a file read to its end could not be decoded.
    #[error("parked checkpoint: {0}")]
    Parked(String),
    /// A checkpoint store implemented outside this crate failed.
    #[error("checkpoint store: {0}")]
    Store(String),
    /// The watcher thread is gone.
    #[error("rollout watcher stopped")]
    Stopped,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
