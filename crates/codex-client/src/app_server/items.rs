//! v2 `ThreadItem`: the units a turn is made of (`type`-tagged on the wire).
//!
//! `item/started` and `item/completed` carry one of these; `item/completed` is authoritative.
//! Kinds this client does not type (and any future kind) arrive as [`ThreadItem::Unknown`] with
//! the raw JSON, so the caller can still persist and show them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::thread::UserInput;

/// One item of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ThreadItem {
    /// The user's input.
    #[serde(rename_all = "camelCase")]
    UserMessage {
        id: String,
        #[serde(default)]
        content: Vec<UserInput>,
    },
    /// Text from the agent (complete text in `item/completed`; deltas stream separately).
    #[serde(rename_all = "camelCase")]
    AgentMessage {
        id: String,
        #[serde(default)]
        text: String,
        #[serde(default)]
        phase: Option<Value>,
    },
    /// Reasoning summary parts and raw reasoning content.
    #[serde(rename_all = "camelCase")]
    Reasoning {
        id: String,
        #[serde(default)]
        summary: Vec<String>,
        #[serde(default)]
        content: Vec<String>,
    },
    /// A shell command the agent ran (or asked to run).
    #[serde(rename_all = "camelCase")]
    CommandExecution {
        id: String,
        #[serde(default)]
        command: String,
        #[serde(default)]
        cwd: String,
        #[serde(default)]
        process_id: Option<String>,
        status: CommandExecutionStatus,
        #[serde(default)]
        command_actions: Vec<Value>,
        #[serde(default)]
        aggregated_output: Option<String>,
        #[serde(default)]
        exit_code: Option<i32>,
        #[serde(default)]
        duration_ms: Option<i64>,
    },
    /// A patch the agent applied (or asked to apply).
    #[serde(rename_all = "camelCase")]
    FileChange {
        id: String,
        #[serde(default)]
        changes: Vec<FileUpdateChange>,
        status: PatchApplyStatus,
    },
    /// A call to an MCP server tool.
    #[serde(rename_all = "camelCase")]
    McpToolCall {
        id: String,
        #[serde(default)]
        server: String,
        #[serde(default)]
        tool: String,
        status: ToolCallStatus,
        #[serde(default)]
        arguments: Value,
        #[serde(default)]
        result: Option<Value>,
        #[serde(default)]
        error: Option<Value>,
        #[serde(default)]
        duration_ms: Option<i64>,
    },
    /// A call to a client-provided (dynamic) tool.
    #[serde(rename_all = "camelCase")]
    DynamicToolCall {
        id: String,
        #[serde(default)]
        namespace: Option<String>,
        #[serde(default)]
        tool: String,
        #[serde(default)]
        arguments: Value,
        status: ToolCallStatus,
        #[serde(default)]
        content_items: Option<Vec<Value>>,
        #[serde(default)]
        success: Option<bool>,
        #[serde(default)]
        duration_ms: Option<i64>,
    },
    /// A web search.
    #[serde(rename_all = "camelCase")]
    WebSearch {
        id: String,
        #[serde(default)]
        query: String,
        #[serde(default)]
        action: Option<Value>,
    },
    /// A plan the agent wrote.
    #[serde(rename_all = "camelCase")]
    Plan {
        id: String,
        #[serde(default)]
        text: String,
    },
    /// The agent looked at an image.
    #[serde(rename_all = "camelCase")]
    ImageView {
        id: String,
        #[serde(default)]
        path: String,
    },
    /// A review started.
    #[serde(rename_all = "camelCase")]
    EnteredReviewMode {
        id: String,
        #[serde(default)]
        review: String,
    },
    /// A review finished.
    #[serde(rename_all = "camelCase")]
    ExitedReviewMode {
        id: String,
        #[serde(default)]
        review: String,
    },
    /// The context was compacted.
    #[serde(rename_all = "camelCase")]
    ContextCompaction { id: String },
    /// An item kind this client does not type; the raw JSON is kept.
    #[serde(untagged)]
    Unknown(Value),
}

impl ThreadItem {
    /// The item id, when it has one (unknown items are searched for an `id` string).
    pub fn id(&self) -> Option<&str> {
        match self {
            ThreadItem::UserMessage { id, .. }
            | ThreadItem::AgentMessage { id, .. }
            | ThreadItem::Reasoning { id, .. }
            | ThreadItem::CommandExecution { id, .. }
            | ThreadItem::FileChange { id, .. }
            | ThreadItem::McpToolCall { id, .. }
            | ThreadItem::DynamicToolCall { id, .. }
            | ThreadItem::WebSearch { id, .. }
            | ThreadItem::Plan { id, .. }
            | ThreadItem::ImageView { id, .. }
            | ThreadItem::EnteredReviewMode { id, .. }
            | ThreadItem::ExitedReviewMode { id, .. }
            | ThreadItem::ContextCompaction { id } => Some(id),
            ThreadItem::Unknown(v) => v.get("id").and_then(Value::as_str),
        }
    }

    /// The wire `type` tag of this item.
    pub fn kind(&self) -> &str {
        match self {
            ThreadItem::UserMessage { .. } => "userMessage",
            ThreadItem::AgentMessage { .. } => "agentMessage",
            ThreadItem::Reasoning { .. } => "reasoning",
            ThreadItem::CommandExecution { .. } => "commandExecution",
            ThreadItem::FileChange { .. } => "fileChange",
            ThreadItem::McpToolCall { .. } => "mcpToolCall",
            ThreadItem::DynamicToolCall { .. } => "dynamicToolCall",
            ThreadItem::WebSearch { .. } => "webSearch",
            ThreadItem::Plan { .. } => "plan",
            ThreadItem::ImageView { .. } => "imageView",
            ThreadItem::EnteredReviewMode { .. } => "enteredReviewMode",
            ThreadItem::ExitedReviewMode { .. } => "exitedReviewMode",
            ThreadItem::ContextCompaction { .. } => "contextCompaction",
            ThreadItem::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }
}

/// Status of a command execution item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandExecutionStatus {
    InProgress,
    Completed,
    Failed,
    /// The user declined the approval request; the command did not run.
    Declined,
    #[serde(untagged)]
    Unknown(String),
}

/// Status of a file-change item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PatchApplyStatus {
    InProgress,
    Completed,
    Failed,
    Declined,
    #[serde(untagged)]
    Unknown(String),
}

/// Status of an MCP or dynamic tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolCallStatus {
    InProgress,
    Completed,
    Failed,
    #[serde(untagged)]
    Unknown(String),
}

/// One file of a file-change item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileUpdateChange {
    pub path: String,
    /// `{"type": "add"|"delete"|"update", "move_path"?}`, kept raw.
    #[serde(default)]
    pub kind: Value,
    /// Unified diff.
    #[serde(default)]
    pub diff: String,
}
