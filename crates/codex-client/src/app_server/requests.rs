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
}

/// The name the product seeds use for history rollback; 0.169 calls it `thread/revert`.
pub type ThreadRollback = ThreadRevert;
