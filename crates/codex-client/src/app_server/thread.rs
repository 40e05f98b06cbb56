//! Shared v2 wire types: threads, turns, user input, policies, token usage.
//!
//! Field names mirror the pinned app-server's JSON exactly (camelCase; a few enums are
//! kebab-case or snake_case on the wire, as upstream has them). Everything we do not strictly
//! need is `#[serde(default)]` so that a field Codex drops or adds does not break decoding; enums
//! carry an `Unknown` fallback that keeps the raw value.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Codex thread (a conversation, persisted as a rollout file unless ephemeral).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    /// Thread id (UUIDv7).
    pub id: String,
    /// Session id shared by threads of the same session tree.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Source thread id when this thread was forked.
    #[serde(default)]
    pub forked_from_id: Option<String>,
    /// Parent thread when this is a sub-agent thread.
    #[serde(default)]
    pub parent_thread_id: Option<String>,
    /// Usually the first user message.
    #[serde(default)]
    pub preview: String,
    /// Whether the thread is not materialised on disk.
    #[serde(default)]
    pub ephemeral: bool,
    /// Model provider id (e.g. `openai`, or a custom provider).
    #[serde(default)]
    pub model_provider: String,
    /// Configured model, when known.
    #[serde(default)]
    pub model: Option<String>,
    /// Configured reasoning effort, when known.
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds.
    #[serde(default)]
    pub updated_at: i64,
    /// Runtime status.
    #[serde(default)]
    pub status: Option<ThreadStatus>,
    /// Rollout path on disk (marked unstable upstream).
    #[serde(default)]
    pub path: Option<String>,
    /// Working directory captured for the thread.
    #[serde(default)]
    pub cwd: String,
    /// Version of the CLI that created the thread.
    #[serde(default)]
    pub cli_version: String,
    /// Origin (CLI, VS Code, exec, app-server, sub-agent ...), kept raw: its shape varies.
    #[serde(default)]
    pub source: Value,
    /// Git metadata captured at creation.
    #[serde(default)]
    pub git_info: Option<Value>,
    /// User-facing title.
    #[serde(default)]
    pub name: Option<String>,
    /// Only populated by `thread/resume`, `thread/fork` and `thread/read{includeTurns}`.
    #[serde(default)]
    pub turns: Vec<Turn>,
}

/// Runtime status of a thread (`type`-tagged on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ThreadStatus {
    NotLoaded,
    Idle,
    SystemError,
    #[serde(rename_all = "camelCase")]
    Active {
        #[serde(default)]
        active_flags: Vec<ThreadActiveFlag>,
    },
    /// A status this client does not know; the raw JSON is kept.
    #[serde(untagged)]
    Unknown(Value),
}

/// Why an active thread is waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ThreadActiveFlag {
    WaitingOnApproval,
    WaitingOnUserInput,
    #[serde(untagged)]
    Unknown(String),
}

/// One turn: a user input and everything the agent did in response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    /// Turn id (UUIDv7).
    pub id: String,
    /// Items included in this payload (often empty in notifications; see `itemsView`).
    #[serde(default)]
    pub items: Vec<super::items::ThreadItem>,
    /// Lifecycle status.
    pub status: TurnStatus,
    /// Error of a failed or interrupted turn.
    #[serde(default)]
    pub error: Option<TurnError>,
    /// Unix seconds.
    #[serde(default)]
    pub started_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// Duration in milliseconds, when known.
    #[serde(default)]
    pub duration_ms: Option<i64>,
}

/// Turn lifecycle status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TurnStatus {
    Completed,
    Interrupted,
    Failed,
    InProgress,
    #[serde(untagged)]
    Unknown(String),
}

/// Error attached to a failed turn or to an `error` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnError {
    /// Human-readable message.
    pub message: String,
    /// Structured classification (`"badRequest"`, `{"httpConnectionFailed": {...}}`, ...), raw.
    #[serde(default)]
    pub codex_error_info: Option<Value>,
    /// Extra details, when any.
    #[serde(default)]
    pub additional_details: Option<String>,
}

/// One piece of user input for `turn/start` / `turn/steer` (`type`-tagged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum UserInput {
    /// Plain text. `text_elements` is snake_case on the wire, as upstream has it.
    Text {
        text: String,
        #[serde(default)]
        text_elements: Vec<Value>,
    },
    /// An image by URL.
    Image { url: String },
    /// An image on the local filesystem.
    LocalImage { path: String },
    /// A skill reference.
    Skill { name: String, path: String },
    /// A mention (file, symbol) reference.
    Mention { name: String, path: String },
    /// An input kind this client does not know; the raw JSON is kept.
    #[serde(untagged)]
    Unknown(Value),
}

impl UserInput {
    /// A plain text input.
    pub fn text(text: impl Into<String>) -> Self {
        UserInput::Text {
            text: text.into(),
            text_elements: Vec::new(),
        }
    }
}

/// When Codex asks before acting (`approvalPolicy`). Kebab-case strings on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AskForApproval {
    /// Ask for anything not known to be safe.
    Untrusted,
    /// The model decides when to ask.
    OnRequest,
    /// Never ask (failures go back to the model).
    Never,
    /// Fine-grained switches: `{"granular": {...}}`, kept raw.
    Granular(Value),
    /// A policy this client does not know.
    #[serde(untagged)]
    Unknown(Value),
}

/// Sandbox mode for `thread/start` & co. Kebab-case strings on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
    #[serde(untagged)]
    Unknown(String),
}

/// Full sandbox policy (per-turn override in `turn/start`, reported by `thread/start`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SandboxPolicy {
    DangerFullAccess,
    #[serde(rename_all = "camelCase")]
    ReadOnly {
        #[serde(default)]
        network_access: bool,
    },
    #[serde(rename_all = "camelCase")]
    ExternalSandbox {
        #[serde(default)]
        network_access: Value,
    },
    #[serde(rename_all = "camelCase")]
    WorkspaceWrite {
        #[serde(default)]
        writable_roots: Vec<String>,
        #[serde(default)]
        network_access: bool,
        #[serde(default)]
        exclude_tmpdir_env_var: bool,
        #[serde(default)]
        exclude_slash_tmp: bool,
    },
    #[serde(untagged)]
    Unknown(Value),
}

/// Token usage figures (`TokenUsageBreakdown` upstream).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsageBreakdown {
    #[serde(default)]
    pub total_tokens: i64,
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub cached_input_tokens: i64,
    #[serde(default)]
    pub cache_write_input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub reasoning_output_tokens: i64,
}

/// Cumulative (`total`) and last-request (`last`) usage of a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadTokenUsage {
    pub total: TokenUsageBreakdown,
    pub last: TokenUsageBreakdown,
    #[serde(default)]
    pub model_context_window: Option<i64>,
}

/// What `review/start` reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ReviewTarget {
    /// Staged, unstaged and untracked changes.
    UncommittedChanges,
    /// Changes between the current branch and `branch`.
    BaseBranch { branch: String },
    /// One commit.
    Commit {
        sha: String,
        #[serde(default)]
        title: Option<String>,
    },
    /// Free-form instructions.
    Custom { instructions: String },
    #[serde(untagged)]
    Unknown(Value),
}

/// A rate-limit snapshot (`RateLimitSnapshot`); the nested windows are kept raw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSnapshot {
    #[serde(default)]
    pub limit_id: Option<String>,
    #[serde(default)]
    pub limit_name: Option<String>,
    #[serde(default)]
    pub primary: Option<RateLimitWindow>,
    #[serde(default)]
    pub secondary: Option<RateLimitWindow>,
    #[serde(default)]
    pub credits: Option<Value>,
    #[serde(default)]
    pub plan_type: Option<Value>,
}

/// One rate-limit window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitWindow {
    #[serde(default)]
    pub used_percent: i64,
    #[serde(default)]
    pub window_duration_mins: Option<i64>,
    #[serde(default)]
    pub resets_at: Option<i64>,
}
