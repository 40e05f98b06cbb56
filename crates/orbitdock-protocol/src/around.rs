//! Bodies of the surfaces around a thread: MCP server status, the agent's own thread list and
//! import, the agent's config, one-off commands, account usage, skills and thread goals.
//!
//! They mirror what a person needs to see, not the agent's wire types: an MCP server is a name,
//! a state, a tool count, an auth state and an error; the agent's richer payloads (tool schemas,
//! resource lists, the whole config tree) are kept as raw JSON only where a client shows them
//! verbatim (the config view).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{RateLimits, SandboxMode};

crate::string_enum! {
    /// Startup progress of one MCP server of a thread.
    pub enum McpStartupState {
        /// Being launched / initialised.
        Starting = "starting",
        /// Connected; its tools are available.
        Ready = "ready",
        /// Could not start (see the error).
        Failed = "failed",
        /// Startup was cancelled.
        Cancelled = "cancelled",
    }
}

crate::string_enum! {
    /// Connection state of an MCP server as the agent reports it on request.
    pub enum McpConnectionState {
        /// Configured but not started.
        NotStarted = "not_started",
        /// Starting.
        Starting = "starting",
        /// Connected.
        Connected = "connected",
        /// Needs the user to log in to it.
        AuthenticationRequired = "authentication_required",
        /// Failed.
        Failed = "failed",
        /// Cancelled.
        Cancelled = "cancelled",
        /// Disabled in the config.
        Disabled = "disabled",
    }
}

crate::string_enum! {
    /// How an MCP server authenticates.
    pub enum McpAuthState {
        /// Not known.
        Undetermined = "unknown",
        /// The server does not support authentication.
        Unsupported = "unsupported",
        /// Supports OAuth but nobody logged in.
        NotLoggedIn = "not_logged_in",
        /// A bearer token is configured.
        BearerToken = "bearer_token",
        /// Logged in with OAuth.
        OAuth = "oauth",
    }
}

/// One MCP server of a session's agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct McpServerInfo {
    /// Its configured name.
    pub name: String,
    /// Connection state (`None`: the agent did not say, e.g. no thread loaded yet).
    pub state: Option<McpConnectionState>,
    /// Auth state.
    pub auth: McpAuthState,
    /// How many tools it offers.
    pub tool_count: u32,
    /// The tools' names, sorted.
    pub tools: Vec<String>,
    /// Why it failed or why its tools could not be listed.
    pub error: Option<String>,
}

impl Default for McpServerInfo {
    fn default() -> Self {
        McpServerInfo {
            name: String::new(),
            state: None,
            auth: McpAuthState::Undetermined,
            tool_count: 0,
            tools: Vec::new(),
            error: None,
        }
    }
}

/// `GET /api/sessions/{id}/mcp-servers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct McpServersResponse {
    /// The servers, in the agent's order.
    pub servers: Vec<McpServerInfo>,
}

/// One thread the agent knows (`GET /api/codex/threads`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentThread {
    /// The agent's thread id.
    pub thread_id: String,
    /// Its name, when it has one.
    pub name: Option<String>,
    /// The start of its first message.
    pub preview: String,
    /// Its working directory.
    pub cwd: String,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last updated (Unix ms).
    pub updated_at: i64,
    /// The hub session already bound to it, if any.
    pub session_id: Option<String>,
}

/// `GET /api/codex/threads?search=&cursor=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentThreadsResponse {
    /// One page, newest first.
    pub threads: Vec<AgentThread>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// Query of the agent's thread list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentThreadsQuery {
    /// Substring of the thread title.
    pub search: Option<String>,
    /// A previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// `POST /api/codex/threads/import`: make a hub session of a thread the agent knows, with its
/// history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ImportThreadRequest {
    /// The agent's thread id.
    pub thread_id: String,
}

/// `GET /api/codex/config`: the agent's effective configuration for its `CODEX_HOME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentConfigResponse {
    /// The effective config, as the agent reports it (mirrors its `config.toml`).
    pub config: Value,
}

/// `POST /api/codex/config`: set one value of the agent's user config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ConfigValueWrite {
    /// Dotted key path, e.g. `model` or `mcp_servers.docs.enabled`.
    pub key_path: String,
    /// The new value (JSON; `null` removes the key).
    pub value: Value,
}

/// `POST /api/sessions/{id}/commands`: run one command outside any turn, in the session's
/// working directory under its sandbox; its output streams into the transcript as a command card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunCommandRequest {
    /// argv (non-empty).
    pub command: Vec<String>,
    /// Sandbox for this command; the session's when absent.
    pub sandbox_mode: Option<SandboxMode>,
    /// Timeout in milliseconds (the agent's default when absent).
    pub timeout_ms: Option<u64>,
}

/// Answer of [`RunCommandRequest`]: the command runs on; follow its transcript item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunCommandResponse {
    /// The run's id (also the transcript item's id).
    pub command_id: String,
}

/// `POST /api/sessions/{id}/commands/{command_id}/stdin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CommandStdin {
    /// Text to write.
    pub text: String,
    /// Close stdin afterwards.
    pub close: bool,
}

/// One day of account token usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UsageDay {
    /// The day (`YYYY-MM-DD`).
    pub date: String,
    /// Tokens used.
    pub tokens: u64,
}

/// `GET /api/codex/usage`: the account's rate limits and token usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UsageResponse {
    /// Current rate-limit windows (`None`: the account has none, e.g. an API key).
    pub rate_limits: Option<RateLimits>,
    /// Why rate limits could not be read.
    pub rate_limits_error: Option<String>,
    /// Lifetime tokens.
    pub lifetime_tokens: Option<u64>,
    /// Peak tokens in one day.
    pub peak_daily_tokens: Option<u64>,
    /// Daily usage, oldest first.
    pub days: Vec<UsageDay>,
    /// Why usage could not be read (e.g. not logged in with ChatGPT).
    pub usage_error: Option<String>,
}

/// One skill the agent can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SkillInfo {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its `SKILL.md`.
    pub path: String,
    /// `user` | `repo` | `system` | `admin` (the agent's word).
    pub scope: String,
    /// Enabled in the config.
    pub enabled: bool,
}

/// `GET /api/sessions/{id}/skills`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SkillsResponse {
    /// The skills.
    pub skills: Vec<SkillInfo>,
    /// Skills that failed to load: path and message.
    pub errors: Vec<String>,
}

/// A thread's goal (what the agent keeps working towards across turns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ThreadGoal {
    /// The objective.
    pub objective: String,
    /// `active`, `paused`, `blocked`, `complete`, ... (the agent's word).
    pub status: String,
    /// Tokens spent on it.
    pub tokens_used: u64,
    /// Budget, if any.
    pub token_budget: Option<u64>,
}

/// `GET|POST /api/sessions/{id}/goal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GoalResponse {
    /// The goal (`None`: none set).
    pub goal: Option<ThreadGoal>,
    /// Whether the agent supports goals at all.
    pub supported: bool,
}

/// `POST /api/sessions/{id}/goal`: set (or, with an empty objective, clear) the goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SetGoalRequest {
    /// The objective; empty clears the goal.
    pub objective: String,
}
