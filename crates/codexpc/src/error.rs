//! The crate's one error type. Every variant carries the context needed to act on it (a path, a
//! line number, a limit); [`crate::responses`] maps them to HTTP statuses in one place.

use std::path::PathBuf;

/// Errors from codexpc's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file (vocab cache, script, config, prompt dump).
    #[error("{context}: {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The o200k vocabulary rebuilt from `tiktoken-rs` does not have the expected checksum.
    #[error("o200k vocabulary at {path} has SHA-256 {actual}, expected {expected}")]
    VocabChecksum {
        path: PathBuf,
        expected: &'static str,
        actual: String,
    },

    /// `openai-harmony` failed to load the encoding (its errors are `anyhow`).
    #[error("loading the Harmony gpt-oss encoding: {0}")]
    HarmonyLoad(String),

    /// Rendering a conversation into Harmony tokens failed.
    #[error("rendering the Harmony prompt: {0}")]
    Render(String),

    /// The request is well-formed JSON but cannot be served (maps to HTTP 400).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A scripted-engine file is malformed.
    #[error("script {path}:{line}: {message}")]
    Script {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// The scripted engine has no unused line whose `match` occurs in the request.
    #[error(
        "script {path}: no unused line matches this request ({used} of {total} lines used; last input: {last_input:?})"
    )]
    ScriptExhausted {
        path: PathBuf,
        used: usize,
        total: usize,
        last_input: String,
    },

    /// The request queue in front of the engine is full (maps to HTTP 429).
    #[error(
        "server busy: {waiting} generation(s) already queued (max_queue = {max_queue}); retry later"
    )]
    Busy { waiting: usize, max_queue: usize },

    /// Loading a model file failed.
    #[error("loading model {path}: {message}")]
    ModelLoad { path: PathBuf, message: String },

    /// The model's special-token ids differ from Harmony's.
    #[error(
        "model {path}: special token {token} has id {model_id:?} in the model but {harmony_id} in Harmony; this is not a gpt-oss (Harmony) model"
    )]
    SpecialTokenMismatch {
        path: PathBuf,
        token: &'static str,
        model_id: Option<u32>,
        harmony_id: u32,
    },

    /// The engine failed while generating.
    #[error("engine {engine}: {message}")]
    Engine {
        engine: &'static str,
        message: String,
    },

    /// The prompt does not fit the engine's context.
    #[error("prompt of {prompt_tokens} tokens does not fit the context of {context_size} tokens")]
    PromptTooLong {
        prompt_tokens: usize,
        context_size: usize,
    },

    /// The model produced output the Harmony parser could not recover from.
    #[error("malformed model output: {0}")]
    MalformedOutput(String),

    /// Reading or editing a Codex config file.
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },

    /// The session-protocol client: the daemon closed the connection, sent something that is
    /// not a protocol message, or did not answer in time (see [`crate::client`]).
    #[error("codexpc socket {path}: {message}")]
    Socket { path: PathBuf, message: String },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
