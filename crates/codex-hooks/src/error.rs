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
    /// A hooks file (hooks.json or config.toml) could not be understood; it is left unchanged.
    #[error("hooks file {path}: {message}")]
    HooksFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Talking to `codex app-server` (for `hooks/list` / trust) failed.
    #[error("codex app-server ({what}): {source}")]
    AppServer {
        /// Which step.
        what: &'static str,
        /// The client error.
        #[source]
        source: codex_client::Error,
    },
    /// Codex did not report a hook we installed, or did not take the trust we wrote.
    #[error("hook trust: {0}")]
    Trust(String),
}

impl Error {
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    pub(crate) fn file(path: &Path, message: impl Into<String>) -> Self {
        Self::HooksFile {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

impl From<claude_hooks::settings_file::WriteError> for Error {
    fn from(e: claude_hooks::settings_file::WriteError) -> Self {
        Self::Io {
            path: e.path,
            op: e.op,
            source: e.source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
