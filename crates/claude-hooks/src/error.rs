//! The crate's error type.

use std::path::{Path, PathBuf};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Claude's settings file could not be understood (it is then left unchanged).
    #[error("settings {path}: {message}")]
    Settings {
        /// The settings file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The spool refused a payload.
    #[error("spool {path}: {message}")]
    Spool {
        /// The spool file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

impl From<crate::settings_file::WriteError> for Error {
    fn from(e: crate::settings_file::WriteError) -> Self {
        Self::Io {
            path: e.path,
            op: e.op,
            source: e.source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
