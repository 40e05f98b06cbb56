//! Typed client->server requests: one marker type per method, implementing [`Request`].
//!
//! `AppServer::call::<ThreadStart>(params)` sends `thread/start` with `params` and decodes the
//! result as `ThreadStartResponse`. The `request_types!` table at the bottom is the single source
//! of truth for the methods we call: it generates the [`Request`] impls and [`REQUESTS`], which the
//! drift test checks against the schema the pinned binary generates.
//!
//! Params structs derive `Default` and skip `None` fields, so callers write
//! `ThreadStartParams { cwd: Some(dir), ..Default::default() }` and only what they set is sent.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::thread::{
    AskForApproval, RateLimitSnapshot, ReviewTarget, SandboxMode, SandboxPolicy, Thread, Turn,
    UserInput,
};

/// A typed JSON-RPC request: the method name and its params/result types come from one place.
pub trait Request {
    /// Wire method name, e.g. `thread/start`.
    const METHOD: &'static str;
    /// Per-method timeout used by `AppServer::call` instead of the client's default, if any.
    const DEFAULT_TIMEOUT: Option<Duration> = None;
    /// Params, serialised as the JSON-RPC `params`.
    type Params: Serialize + Send + Sync;
    /// Result, decoded from the JSON-RPC `result`.
    type Response: DeserializeOwned + Send;
}

/// An empty result (`{}` on the wire); any fields that appear later are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyResponse {}

// ---------------------------------------------------------------------------------------------
// initialize

/// `clientInfo` of `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub version: String,
}

/// Capabilities declared in `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeCapabilities {
    /// Opt into experimental methods and fields.
    pub experimental_api: bool,
    /// Opt into `attestation/generate` requests.
    pub request_attestation: bool,
    /// Notification methods this connection does not want.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_out_notification_methods: Option<Vec<String>>,
}

/// Params of `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    pub client_info: ClientInfo,
    pub capabilities: Option<InitializeCapabilities>,
}

/// Result of `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResponse {
    #[serde(default)]
    pub user_agent: String,
    /// The server's resolved `$CODEX_HOME`.
    #[serde(default)]
    pub codex_home: String,
    #[serde(default)]
    pub platform_family: String,
    #[serde(default)]
    pub platform_os: String,
}

// ---------------------------------------------------------------------------------------------
// threads

/// Params of `thread/start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadStartParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<AskForApproval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    /// `config.toml` overrides as dotted keys -> JSON values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_instructions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub developer_instructions: Option<String>,
    /// Do not persist the thread on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

/// Result of `thread/start`, `thread/fork` (and, with extra cursors, `thread/resume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadStartResponse {
    pub thread: Thread,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub model_provider: String,
    #[serde(default)]
    pub cwd: String,
    #[serde(default)]
    pub approval_policy: Option<AskForApproval>,
    #[serde(default)]
    pub sandbox: Option<SandboxPolicy>,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
}

/// Params of `thread/resume` (resume by id; overrides apply to the resumed thread).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadResumeParams {
    pub thread_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<AskForApproval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub developer_instructions: Option<String>,
    /// Return metadata only, without `thread.turns`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_turns: Option<bool>,
}

/// Result of `thread/resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadResumeResponse {
    pub thread: Thread,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub model_provider: String,
    #[serde(default)]
    pub cwd: String,
    #[serde(default)]
    pub approval_policy: Option<AskForApproval>,
    #[serde(default)]
    pub sandbox: Option<SandboxPolicy>,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    #[serde(default)]
    pub turns_backwards_cursor: Option<String>,
    #[serde(default)]
    pub items_backwards_cursor: Option<String>,
}

/// Params of `thread/fork`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadForkParams {
    pub thread_id: String,
    /// Fork through this turn (inclusive); later turns are omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_turn_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<AskForApproval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub developer_instructions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_turns: Option<bool>,
}

/// Params of `thread/read`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadReadParams {
    pub thread_id: String,
    /// Include turns and their items from the rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_turns: Option<bool>,
}

/// Result of `thread/read` and `thread/unarchive`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadResponse {
    pub thread: Thread,
}

/// Params of `thread/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadListParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `created_at` | `updated_at` | `recency_at` | ... (snake_case on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<String>,
    /// `asc` | `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_direction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_providers: Option<Vec<String>>,
    /// `cli`, `vscode`, `exec`, `appServer`, ...; omitted = interactive sources only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_kinds: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    /// One path or several (`string | string[]` on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_term: Option<String>,
}

/// Result of `thread/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadListResponse {
    pub data: Vec<Thread>,
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub backwards_cursor: Option<String>,
}

/// Params of methods that take only a thread id (`thread/archive`, `thread/unarchive`,
/// `thread/compact/start`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadIdParams {
    pub thread_id: String,
}

/// Params of `thread/name/set`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadSetNameParams {
    pub thread_id: String,
    pub name: String,
}

/// Params of `thread/revert` (0.169's name for rollback): drop `beforeTurnId` and every later
/// turn from the persisted history. Local file changes are NOT reverted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadRevertParams {
    pub thread_id: String,
    pub before_turn_id: String,
}

/// Result of `thread/revert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadRevertResponse {
    pub thread: Thread,
    #[serde(default)]
    pub turns_backwards_cursor: Option<String>,
    #[serde(default)]
    pub items_backwards_cursor: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// turns

/// Params of `turn/start`. The overrides apply to this turn and subsequent ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnStartParams {
    pub thread_id: String,
    pub input: Vec<UserInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<AskForApproval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_policy: Option<SandboxPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Reasoning effort (`low`, `medium`, `high`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// Reasoning summary mode (`auto`, `concise`, `detailed`, `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// JSON Schema constraining the final assistant message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_user_message_id: Option<String>,
}

impl TurnStartParams {
    /// A turn with one text input and no overrides.
    pub fn text(thread_id: impl Into<String>, text: impl Into<String>) -> Self {
        TurnStartParams {
            thread_id: thread_id.into(),
            input: vec![UserInput::text(text)],
            ..Default::default()
        }
    }
}

/// Result of `turn/start`: the new turn (status `inProgress`; events follow as notifications).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnStartResponse {
    pub turn: Turn,
}

/// Params of `turn/steer`: add input to the active turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnSteerParams {
    pub thread_id: String,
    pub input: Vec<UserInput>,
    /// Must match the active turn, else the request fails.
    pub expected_turn_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_user_message_id: Option<String>,
}

/// Result of `turn/steer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnSteerResponse {
    pub turn_id: String,
}

/// Params of `turn/interrupt`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnInterruptParams {
    pub thread_id: String,
    pub turn_id: String,
}

/// Params of `review/start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewStartParams {
    pub thread_id: String,
    pub target: ReviewTarget,
    /// Only `inline` on 0.169.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

/// Result of `review/start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewStartResponse {
    pub turn: Turn,
    #[serde(default)]
    pub review_thread_id: String,
}

// ---------------------------------------------------------------------------------------------
// models, MCP, config, account

/// Params of `model/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelListParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_hidden: Option<bool>,
}

/// One model of `model/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub supported_reasoning_efforts: Vec<Value>,
    #[serde(default)]
    pub default_reasoning_effort: Option<String>,
    #[serde(default)]
    pub is_default: bool,
}

/// Result of `model/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelListResponse {
    pub data: Vec<Model>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Params of `mcpServerStatus/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpServerStatusListParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// One MCP server of `mcpServerStatus/list`; tools and resources are kept raw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpServerStatus {
    pub name: String,
    #[serde(default)]
    pub runtime_status: Option<Value>,
    #[serde(default)]
    pub tools: BTreeMap<String, Value>,
    #[serde(default)]
    pub tools_error: Option<String>,
    #[serde(default)]
    pub resources: Vec<Value>,
    #[serde(default)]
    pub auth_status: Option<Value>,
}

/// Result of `mcpServerStatus/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpServerStatusListResponse {
    pub data: Vec<McpServerStatus>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Params of `config/read`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigReadParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_layers: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// Result of `config/read`: the effective config, kept raw (it mirrors `config.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigReadResponse {
    pub config: Value,
    #[serde(default)]
    pub origins: Value,
    #[serde(default)]
    pub layers: Option<Value>,
}

/// Params of `account/read`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountReadParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<bool>,
}

/// Result of `account/read`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountReadResponse {
    /// `{"type": "apiKey"|"chatgpt"|...}`, kept raw; `None` when logged out.
    #[serde(default)]
    pub account: Option<Value>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub requires_openai_auth: bool,
}

/// Params of `account/rateLimits/read` (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRateLimitsReadParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_reset_credit_details: Option<bool>,
}

/// Result of `account/rateLimits/read`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRateLimitsReadResponse {
    pub rate_limits: RateLimitSnapshot,
    #[serde(default)]
    pub rate_limits_by_limit_id: Option<BTreeMap<String, RateLimitSnapshot>>,
    #[serde(default)]
    pub account_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// the method table

/// One typed request, as listed in [`REQUESTS`].
#[derive(Debug, Clone, Copy)]
pub struct RequestSpec {
    /// Wire method name.
    pub method: &'static str,
    /// The params type's name in the generated schema.
    pub params_schema: &'static str,
    /// The result type's name in the generated schema.
    pub response_schema: &'static str,
    /// Wire names of the fields our params type can send.
    pub params_fields: super::wire_fields::FieldsFn,
    /// Wire names of the fields our response type reads.
    pub response_fields: super::wire_fields::FieldsFn,
}

macro_rules! request_types {
    ($(
        $(#[$doc:meta])*
        $name:ident => $method:literal, $params:ty as $pschema:literal, $response:ty as $rschema:literal
        $(, timeout = $timeout:expr)?;
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $name {}
            impl Request for $name {
                const METHOD: &'static str = $method;
                $(const DEFAULT_TIMEOUT: Option<Duration> = Some($timeout);)?
                type Params = $params;
                type Response = $response;
            }
        )*
        /// Every typed request: the source of truth for the drift check.
        pub const REQUESTS: &[RequestSpec] = &[$(
            RequestSpec {
                method: $method,
                params_schema: $pschema,
                response_schema: $rschema,
                params_fields: || super::wire_fields::struct_fields::<$params>(),
                response_fields: || super::wire_fields::struct_fields::<$response>(),
            },
        )*];
    };
}

request_types! {
    /// `initialize` (done by `AppServerBuilder::spawn`; exposed for completeness).
    Initialize => "initialize", InitializeParams as "InitializeParams", InitializeResponse as "InitializeResponse";
    /// `thread/start`: create a thread.
    ThreadStart => "thread/start", ThreadStartParams as "ThreadStartParams", ThreadStartResponse as "ThreadStartResponse";
    /// `thread/resume`: load a persisted thread (or rejoin a running one).
    ThreadResume => "thread/resume", ThreadResumeParams as "ThreadResumeParams", ThreadResumeResponse as "ThreadResumeResponse";
    /// `thread/fork`: copy a thread into a new one.
    ThreadFork => "thread/fork", ThreadForkParams as "ThreadForkParams", ThreadStartResponse as "ThreadForkResponse";
    /// `thread/read`: thread metadata (and optionally turns).
    ThreadRead => "thread/read", ThreadReadParams as "ThreadReadParams", ThreadResponse as "ThreadReadResponse";
    /// `thread/list`: page through persisted threads.
    ThreadList => "thread/list", ThreadListParams as "ThreadListParams", ThreadListResponse as "ThreadListResponse";
    /// `thread/archive`.
    ThreadArchive => "thread/archive", ThreadIdParams as "ThreadArchiveParams", EmptyResponse as "ThreadArchiveResponse";
    /// `thread/unarchive`.
    ThreadUnarchive => "thread/unarchive", ThreadIdParams as "ThreadUnarchiveParams", ThreadResponse as "ThreadUnarchiveResponse";
    /// `thread/name/set`.
    ThreadSetName => "thread/name/set", ThreadSetNameParams as "ThreadSetNameParams", EmptyResponse as "ThreadSetNameResponse";
    /// `thread/compact/start`: compaction runs as a turn; watch `thread/compacted`.
    ThreadCompactStart => "thread/compact/start", ThreadIdParams as "ThreadCompactStartParams", EmptyResponse as "ThreadCompactStartResponse";
    /// `thread/revert`: 0.169's rollback (see [`ThreadRollback`]).
    ThreadRevert => "thread/revert", ThreadRevertParams as "ThreadRevertParams", ThreadRevertResponse as "ThreadRevertResponse";
    /// `turn/start`: returns at once; progress arrives as notifications.
    TurnStart => "turn/start", TurnStartParams as "TurnStartParams", TurnStartResponse as "TurnStartResponse";
    /// `turn/steer`: add input to the active turn.
    TurnSteer => "turn/steer", TurnSteerParams as "TurnSteerParams", TurnSteerResponse as "TurnSteerResponse";
    /// `turn/interrupt`. Upstream can hang on this, so it has a short default timeout.
    TurnInterrupt => "turn/interrupt", TurnInterruptParams as "TurnInterruptParams", EmptyResponse as "TurnInterruptResponse",
        timeout = Duration::from_secs(10);
    /// `review/start`.
    ReviewStart => "review/start", ReviewStartParams as "ReviewStartParams", ReviewStartResponse as "ReviewStartResponse";
    /// `model/list`.
    ModelList => "model/list", ModelListParams as "ModelListParams", ModelListResponse as "ModelListResponse";
    /// `mcpServerStatus/list`.
    McpServerStatusList => "mcpServerStatus/list", McpServerStatusListParams as "ListMcpServerStatusParams", McpServerStatusListResponse as "ListMcpServerStatusResponse";
    /// `config/read`: the effective configuration.
    ConfigRead => "config/read", ConfigReadParams as "ConfigReadParams", ConfigReadResponse as "ConfigReadResponse";
    /// `account/read`.
    AccountRead => "account/read", AccountReadParams as "GetAccountParams", AccountReadResponse as "GetAccountResponse";
    /// `account/rateLimits/read`.
    AccountRateLimitsRead => "account/rateLimits/read", AccountRateLimitsReadParams as "GetAccountRateLimitsParams", AccountRateLimitsReadResponse as "GetAccountRateLimitsResponse";
    /// `thread/turns/list`: a page of a thread's turns (paginated and legacy threads).
    ThreadTurnsList => "thread/turns/list", ThreadTurnsListParams as "ThreadTurnsListParams", ThreadTurnsListResponse as "ThreadTurnsListResponse";
    /// `thread/items/list`: a page of a thread's items (paginated threads only on 0.169).
    ThreadItemsList => "thread/items/list", ThreadItemsListParams as "ThreadItemsListParams", ThreadItemsListResponse as "ThreadItemsListResponse";
    /// `hooks/list`: the hooks Codex would run, with trust status and content hash.
    HooksList => "hooks/list", HooksListParams as "HooksListParams", HooksListResponse as "HooksListResponse";
    /// `config/batchWrite`: edit the user's config.toml (what the TUI uses to record hook trust).
    ConfigBatchWrite => "config/batchWrite", ConfigBatchWriteParams as "ConfigBatchWriteParams", ConfigBatchWriteResponse as "ConfigWriteResponse";
    /// `account/login/start`: API-key login, or start a ChatGPT (browser or device-code) login.
    AccountLoginStart => "account/login/start", AccountLoginStartParams as "LoginAccountParams", AccountLoginStartResponse as "LoginAccountResponse";
    /// `account/login/cancel`: abandon a pending ChatGPT login.
    AccountLoginCancel => "account/login/cancel", AccountLoginCancelParams as "CancelLoginAccountParams", AccountLoginCancelResponse as "CancelLoginAccountResponse";
    /// `account/logout` (no params).
    AccountLogout => "account/logout", () as "null", EmptyResponse as "LogoutAccountResponse";
    /// `account/usage/read`: token usage of the ChatGPT account (or of one thread).
    AccountUsageRead => "account/usage/read", AccountUsageReadParams as "GetAccountTokenUsageParams", AccountUsageReadResponse as "GetAccountTokenUsageResponse";
    /// `thread/delete`: remove a thread from the agent's store for good.
    ThreadDelete => "thread/delete", ThreadIdParams as "ThreadDeleteParams", EmptyResponse as "ThreadDeleteResponse";
    /// `skills/list`: the skills the agent would load for some working directories.
    SkillsList => "skills/list", SkillsListParams as "SkillsListParams", SkillsListResponse as "SkillsListResponse";
    /// `config/value/write`: set one key of the user's config.toml.
    ConfigValueWrite => "config/value/write", ConfigValueWriteParams as "ConfigValueWriteParams", ConfigBatchWriteResponse as "ConfigWriteResponse";
    /// `command/exec`: run one command outside any thread; answers when it exits. Commands may
    /// run long, so the caller's own timeout applies (no default).
    CommandExec => "command/exec", CommandExecParams as "CommandExecParams", CommandExecResponse as "CommandExecResponse",
        timeout = Duration::from_secs(24 * 3600);
    /// `command/exec/write`: stdin bytes for a running `command/exec`.
    CommandExecWrite => "command/exec/write", CommandExecWriteParams as "CommandExecWriteParams", EmptyResponse as "CommandExecWriteResponse";
    /// `command/exec/terminate`: stop a running `command/exec`.
    CommandExecTerminate => "command/exec/terminate", CommandExecProcessParams as "CommandExecTerminateParams", EmptyResponse as "CommandExecTerminateResponse";
    /// `command/exec/resize`: new PTY size of a running `command/exec` in tty mode.
    CommandExecResize => "command/exec/resize", CommandExecResizeParams as "CommandExecResizeParams", EmptyResponse as "CommandExecResizeResponse";
    /// `thread/goal/get`.
    ThreadGoalGet => "thread/goal/get", ThreadIdParams as "ThreadGoalGetParams", ThreadGoalGetResponse as "ThreadGoalGetResponse";
    /// `thread/goal/set`.
    ThreadGoalSet => "thread/goal/set", ThreadGoalSetParams as "ThreadGoalSetParams", ThreadGoalSetResponse as "ThreadGoalSetResponse";
    /// `thread/goal/clear`.
    ThreadGoalClear => "thread/goal/clear", ThreadIdParams as "ThreadGoalClearParams", ThreadGoalClearResponse as "ThreadGoalClearResponse";
}

/// The name the product seeds use for history rollback; 0.169 calls it `thread/revert`.
pub type ThreadRollback = ThreadRevert;

// ---------------------------------------------------------------------------------------------
// thread history pages, hooks, config writes

/// Params of `thread/turns/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadTurnsListParams {
    pub thread_id: String,
    /// Cursor from a previous page's `nextCursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `asc` | `desc` (the default: newest first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_direction: Option<String>,
    /// `notLoaded` | `summary` (the default: user and final agent message) | `full`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_view: Option<String>,
}

/// Result of `thread/turns/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadTurnsListResponse {
    pub data: Vec<Turn>,
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub backwards_cursor: Option<String>,
}

/// Params of `thread/items/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadItemsListParams {
    pub thread_id: String,
    /// Only this turn's items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    /// A previous page's `nextCursor` (a string on the wire, opaque), or an item anchor object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `asc` (the default) | `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_direction: Option<String>,
}

/// One entry of `thread/items/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadItemEntry {
    pub turn_id: String,
    pub item: super::items::ThreadItem,
    #[serde(default)]
    pub started_at_ms: Option<i64>,
    #[serde(default)]
    pub completed_at_ms: Option<i64>,
}

/// Result of `thread/items/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadItemsListResponse {
    pub data: Vec<ThreadItemEntry>,
    /// Opaque; 0.169 sends a JSON string holding an object. Pass it back as given.
    #[serde(default)]
    pub next_cursor: Option<Value>,
    #[serde(default)]
    pub backwards_cursor: Option<Value>,
}

/// Params of `hooks/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HooksListParams {
    /// Working directories whose hooks to list (project `.codex/` hooks included); empty = the
    /// session cwd.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwds: Vec<String>,
    /// A loaded thread's hooks instead (omit `cwds` then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

/// Result of `hooks/list`: one entry per cwd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HooksListResponse {
    pub data: Vec<HooksListEntry>,
}

/// The hooks seen from one cwd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HooksListEntry {
    pub cwd: String,
    #[serde(default)]
    pub hooks: Vec<HookMetadata>,
    /// E.g. "clamping SessionEnd hook timeout to 3s in ...", "loading hooks from both ...".
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `{message, path}` per hooks file that could not be loaded.
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// One configured hook handler as Codex sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookMetadata {
    /// `<source file>:<event_snake>:<group index>:<handler index>`: the `[hooks.state]` key.
    pub key: String,
    /// camelCase event name (`preToolUse`, ...).
    pub event_name: String,
    /// `command` | `mcpTool` | `prompt` | `agent`.
    pub handler_type: String,
    /// Command handlers: the command.
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub matcher: Option<String>,
    /// Effective timeout (default 600; clamped for some events).
    pub timeout_sec: u64,
    pub source_path: String,
    /// `user` | `project` | `system` | `plugin` | ...
    pub source: String,
    pub enabled: bool,
    pub is_managed: bool,
    /// `sha256:<hex>` of the hook's definition: what `[hooks.state."<key>"] trusted_hash`
    /// must equal for the hook to be trusted.
    pub current_hash: String,
    pub trust_status: HookTrustStatus,
}

/// Trust of a hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HookTrustStatus {
    /// Managed by an administrator: always runs.
    Managed,
    /// Never trusted: does not run (silently) unless `--dangerously-bypass-hook-trust`.
    Untrusted,
    /// Runs.
    Trusted,
    /// Trusted once, changed since: does not run until trusted again.
    Modified,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// One edit of `config/batchWrite`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEdit {
    /// Dotted path, e.g. `hooks.state` (keys containing dots must go inside `value`).
    pub key_path: String,
    /// `replace` | `upsert` (merge tables).
    pub merge_strategy: String,
    pub value: Value,
}

/// Params of `config/batchWrite`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigBatchWriteParams {
    pub edits: Vec<ConfigEdit>,
    /// Another config file than the user's `config.toml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    /// Fail if the file changed since this version (from `config/read`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload_user_config: Option<bool>,
}

/// Result of `config/batchWrite` (and `config/value/write`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigBatchWriteResponse {
    /// `ok` | `okOverridden`.
    pub status: String,
    /// `sha256:...` of the file written.
    pub version: String,
    pub file_path: String,
    #[serde(default)]
    pub overridden_metadata: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// account: login, logout, usage

/// The kind of an `account/login/start` (the `type` tag of `LoginAccountParams` and of its
/// response).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LoginKind {
    /// An OpenAI API key (stored by Codex; the login completes at once).
    #[default]
    ApiKey,
    /// ChatGPT in a browser: the response carries `authUrl`; a local callback completes it.
    Chatgpt,
    /// ChatGPT device code: the response carries `verificationUrl` and `userCode`.
    ChatgptDeviceCode,
    /// Externally managed ChatGPT tokens (unstable upstream).
    ChatgptAuthTokens,
    /// Amazon Bedrock (unstable upstream).
    AmazonBedrock,
    /// A kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// Params of `account/login/start`. Upstream is a union tagged by `type`; this flat struct
/// sends only the fields of the chosen kind. Build it with [`AccountLoginStartParams::api_key`],
/// [`AccountLoginStartParams::chatgpt`] or [`AccountLoginStartParams::device_code`]. `Debug`
/// never shows the key.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountLoginStartParams {
    #[serde(rename = "type")]
    pub kind: LoginKind,
    /// `apiKey` logins: the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// `chatgpt` logins: `codex` | `chatgpt` branding of the login page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_brand: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codex_streamlined_login: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_hosted_login_success_page: Option<bool>,
}

impl AccountLoginStartParams {
    /// Log in with an API key.
    pub fn api_key(key: &crate::auth::Secret) -> Self {
        AccountLoginStartParams {
            kind: LoginKind::ApiKey,
            api_key: Some(key.expose().to_owned()),
            ..Default::default()
        }
    }

    /// Start a browser ChatGPT login.
    pub fn chatgpt() -> Self {
        AccountLoginStartParams {
            kind: LoginKind::Chatgpt,
            ..Default::default()
        }
    }

    /// Start a ChatGPT device-code login.
    pub fn device_code() -> Self {
        AccountLoginStartParams {
            kind: LoginKind::ChatgptDeviceCode,
            ..Default::default()
        }
    }
}

impl std::fmt::Debug for AccountLoginStartParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountLoginStartParams")
            .field("kind", &self.kind)
            .field(
                "api_key",
                &self.api_key.as_deref().map(crate::auth::redacted),
            )
            .field("app_brand", &self.app_brand)
            .field("codex_streamlined_login", &self.codex_streamlined_login)
            .field(
                "use_hosted_login_success_page",
                &self.use_hosted_login_success_page,
            )
            .finish()
    }
}

/// Result of `account/login/start` (flattened like the params).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountLoginStartResponse {
    #[serde(rename = "type")]
    pub kind: LoginKind,
    /// ChatGPT logins: the id `account/login/completed` and `account/login/cancel` refer to.
    #[serde(default)]
    pub login_id: Option<String>,
    /// Browser logins: the URL to open.
    #[serde(default)]
    pub auth_url: Option<String>,
    /// Device-code logins: the code to enter.
    #[serde(default)]
    pub user_code: Option<String>,
    /// Device-code logins: where to enter it.
    #[serde(default)]
    pub verification_url: Option<String>,
}

impl AccountLoginStartResponse {
    /// The device code to show, for device-code logins.
    pub fn device_code(&self) -> Option<crate::auth::DeviceCode> {
        Some(crate::auth::DeviceCode {
            verification_url: self.verification_url.clone()?,
            user_code: self.user_code.clone()?,
        })
    }
}

/// Params of `account/login/cancel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountLoginCancelParams {
    pub login_id: String,
}

/// Result of `account/login/cancel`: `canceled` | `notFound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountLoginCancelResponse {
    pub status: String,
}

/// Params of `account/usage/read`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountUsageReadParams {
    /// Usage of this thread instead of the whole account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

/// Account-wide token usage summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountTokenUsageSummary {
    #[serde(default)]
    pub lifetime_tokens: Option<i64>,
    #[serde(default)]
    pub peak_daily_tokens: Option<i64>,
    #[serde(default)]
    pub current_streak_days: Option<i64>,
    #[serde(default)]
    pub longest_streak_days: Option<i64>,
    #[serde(default)]
    pub longest_running_turn_sec: Option<i64>,
}

/// One day of usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountTokenUsageDailyBucket {
    pub start_date: String,
    pub tokens: i64,
}

/// Result of `account/usage/read`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountUsageReadResponse {
    #[serde(default)]
    pub summary: AccountTokenUsageSummary,
    #[serde(default)]
    pub daily_usage_buckets: Option<Vec<AccountTokenUsageDailyBucket>>,
    /// Per-thread estimate (when a thread was asked for), kept raw.
    #[serde(default)]
    pub thread_usage: Option<Value>,
}

/// The account `account/read` reports, typed (see [`AccountReadResponse::account_info`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Account {
    /// Logged in with an API key.
    ApiKey,
    /// Logged in with ChatGPT.
    Chatgpt {
        #[serde(default)]
        email: Option<String>,
        /// `free`, `plus`, `pro`, `team`, ... (kept as a string: the list grows).
        #[serde(default)]
        plan_type: Option<String>,
        #[serde(default)]
        workspace_name: Option<String>,
    },
    /// Amazon Bedrock credentials.
    AmazonBedrock {
        #[serde(default)]
        uses_codex_managed_credentials: bool,
    },
    /// Google Cloud Vertex AI with external credentials.
    Gcp,
    /// An account kind this client does not know.
    #[serde(other)]
    Unknown,
}

impl AccountReadResponse {
    /// The account, typed; `None` when logged out.
    pub fn account_info(&self) -> Option<Account> {
        let raw = self.account.as_ref().filter(|v| !v.is_null())?;
        Some(serde_json::from_value(raw.clone()).unwrap_or(Account::Unknown))
    }
}

#[cfg(test)]
mod account_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn login_params_serialise_per_kind_and_debug_redacts_the_key() {
        let key = crate::auth::Secret::new("sk-test-123");
        let p = AccountLoginStartParams::api_key(&key);
        assert_eq!(
            serde_json::to_value(&p).expect("json"),
            json!({"type": "apiKey", "apiKey": "sk-test-123"})
        );
        let dbg = format!("{p:?}");
        assert!(
            !dbg.contains("sk-test-123") && dbg.contains("redacted"),
            "{dbg}"
        );
        assert_eq!(
            serde_json::to_value(AccountLoginStartParams::device_code()).expect("json"),
            json!({"type": "chatgptDeviceCode"})
        );
        let r: AccountLoginStartResponse = serde_json::from_value(json!({
            "type": "chatgptDeviceCode", "loginId": "l", "userCode": "AB-12",
            "verificationUrl": "https://x/codex/device", "new": 1
        }))
        .expect("decode");
        assert_eq!(
            r.device_code(),
            Some(crate::auth::DeviceCode {
                verification_url: "https://x/codex/device".into(),
                user_code: "AB-12".into()
            })
        );
        let r: AccountLoginStartResponse =
            serde_json::from_value(json!({"type": "somethingNew"})).expect("unknown kind");
        assert_eq!(r.kind, LoginKind::Unknown);
    }

    #[test]
    fn account_kinds_decode_with_an_unknown_fallback() {
        let read = |v: Value| AccountReadResponse {
            account: Some(v),
            user_id: None,
            requires_openai_auth: true,
        };
        assert_eq!(
            read(json!({"type": "apiKey"})).account_info(),
            Some(Account::ApiKey)
        );
        assert_eq!(
            read(json!({"type": "chatgpt", "email": "a@b", "planType": "pro"})).account_info(),
            Some(Account::Chatgpt {
                email: Some("a@b".into()),
                plan_type: Some("pro".into()),
                workspace_name: None
            })
        );
        assert_eq!(
            read(json!({"type": "quantum"})).account_info(),
            Some(Account::Unknown)
        );
        assert_eq!(read(Value::Null).account_info(), None);
    }
}

// ---------------------------------------------------------------------------------------------
// skills, single config values, one-off commands, thread goals

/// Params of `skills/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillsListParams {
    /// Working directories to scan (empty: the server's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cwds: Vec<String>,
    /// Re-scan instead of answering from the cache.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub force_reload: bool,
}

/// One skill of `skills/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillMetadata {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub path: String,
    /// `user` | `repo` | `system` | `admin`.
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub enabled: bool,
}

/// A skill that failed to load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillErrorInfo {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub message: String,
}

/// The skills of one working directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillsListEntry {
    #[serde(default)]
    pub cwd: String,
    #[serde(default)]
    pub skills: Vec<SkillMetadata>,
    #[serde(default)]
    pub errors: Vec<SkillErrorInfo>,
}

/// Result of `skills/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillsListResponse {
    pub data: Vec<SkillsListEntry>,
}

/// Params of `config/value/write`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigValueWriteParams {
    /// Dotted path, e.g. `model` or `mcp_servers.docs.enabled`.
    pub key_path: String,
    pub value: Value,
    /// `replace` | `upsert`.
    pub merge_strategy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<String>,
}

/// Params of `command/exec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecParams {
    /// argv (empty is rejected).
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Connection-scoped id chosen by the client; required for streaming and follow-ups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_policy: Option<SandboxPolicy>,
    /// Stream output as `command/exec/outputDelta` (then not repeated in the response).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream_stdout_stderr: bool,
    /// Accept `command/exec/write`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream_stdin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i64>,
}

/// Result of `command/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecResponse {
    pub exit_code: i32,
    /// Empty when streamed.
    #[serde(default)]
    pub stdout: String,
    /// Empty when streamed.
    #[serde(default)]
    pub stderr: String,
}

/// Params of `command/exec/write`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecWriteParams {
    pub process_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_base64: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub close_stdin: bool,
}

/// Params of `command/exec/terminate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecProcessParams {
    pub process_id: String,
}

/// PTY size in character cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecTerminalSize {
    pub rows: u16,
    pub cols: u16,
}

/// Params of `command/exec/resize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecResizeParams {
    pub process_id: String,
    pub size: CommandExecTerminalSize,
}

/// A thread's goal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadGoal {
    #[serde(default)]
    pub thread_id: String,
    pub objective: String,
    /// `active` | `paused` | `blocked` | `usageLimited` | `budgetLimited` | `complete`.
    pub status: String,
    #[serde(default)]
    pub tokens_used: i64,
    #[serde(default)]
    pub token_budget: Option<i64>,
    #[serde(default)]
    pub time_used_seconds: i64,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
}

/// Params of `thread/goal/set`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadGoalSetParams {
    pub thread_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<i64>,
}

/// Result of `thread/goal/set`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadGoalSetResponse {
    pub goal: ThreadGoal,
}

/// Result of `thread/goal/get`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadGoalGetResponse {
    #[serde(default)]
    pub goal: Option<ThreadGoal>,
}

/// Result of `thread/goal/clear`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadGoalClearResponse {
    #[serde(default)]
    pub cleared: bool,
}
