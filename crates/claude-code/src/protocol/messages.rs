//! The lines the CLI writes on stdout (one JSON object per line), by `type`.
//!
//! Observed for one turn (2.1.332, `--verbose --include-partial-messages`): `system/init` (at
//! the start of EVERY turn, i.e. when a user message is taken — never at start-up), `system/status`
//! (`requesting`), `stream_event`s, one `assistant` message PER CONTENT BLOCK (all sharing the
//! API message id), `user` messages carrying `tool_result`s (with a structured
//! `tool_use_result`), `control_request`s for permissions, and a final `result`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::{ContentBlock, ToolResultBlock, ToolUseBlock, UserContent};
use super::control::{
    ControlCancelRequest, ControlRequestEnvelope, ControlResponseEnvelope, PermissionMode,
};
use super::open_enum;
use super::stream::StreamEvent;
use super::tool_results::FileChange;

/// `system/init`: the session's facts, repeated at the start of every turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemInit {
    #[serde(default)]
    pub cwd: String,
    pub session_id: String,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub mcp_servers: Vec<Value>,
    #[serde(default)]
    pub model: String,
    #[serde(rename = "permissionMode", default)]
    pub permission_mode: Option<PermissionMode>,
    #[serde(default)]
    pub slash_commands: Vec<String>,
    /// Where the API key comes from (`ANTHROPIC_API_KEY`, `none`, ...).
    #[serde(rename = "apiKeySource", default)]
    pub api_key_source: Option<String>,
    #[serde(default)]
    pub claude_code_version: Option<String>,
    #[serde(default)]
    pub output_style: Option<String>,
    #[serde(default)]
    pub agents: Vec<String>,
}

/// `system/status`: `status` is `requesting` while a model request is in flight, `null`
/// otherwise; carries `permissionMode` after a mode change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(rename = "permissionMode", default)]
    pub permission_mode: Option<PermissionMode>,
    #[serde(default)]
    pub session_id: Option<String>,
}

open_enum! {
    /// A `type: "system"` message, by `subtype`. Other subtypes seen or present in the CLI:
    /// `thinking_tokens`, `api_retry`, `compact_boundary`, `task_*`, hook events, ...
    pub enum SystemMessage tagged "subtype" {
        Init(SystemInit) = "init",
        Status(SystemStatus) = "status",
    }
}

/// Token usage as the API reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
}

/// The `message` of an assistant line (an Anthropic API message, one block at a time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiMessage {
    /// The API message id; blocks of one response share it.
    #[serde(default)]
    pub id: String,
    /// `<synthetic>` for messages the CLI made up (API errors).
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// `type: "assistant"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    pub message: ApiMessage,
    /// Set when a sub-agent (Task tool) produced this message.
    #[serde(default)]
    pub parent_tool_use_id: Option<String>,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub uuid: Option<String>,
    /// For a synthetic API-error message: `server_error`, `authentication_failed`, ...
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub is_api_error_message: bool,
    #[serde(default)]
    pub api_error_status: Option<u16>,
    /// The block was cut short by an interrupt.
    #[serde(default)]
    pub aborted: bool,
}

impl AssistantMessage {
    /// The text blocks joined.
    pub fn text(&self) -> String {
        self.message
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("")
    }

    /// The tool calls in this message.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUseBlock> {
        self.message.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(t),
            _ => None,
        })
    }
}

/// The `message` of a user line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserPayload {
    #[serde(default)]
    pub content: UserContent,
}

/// `type: "user"`: tool results, interruption markers (`[Request interrupted by user]`),
/// replays of host messages, local command output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessage {
    #[serde(default)]
    pub message: UserPayload,
    #[serde(default)]
    pub parent_tool_use_id: Option<String>,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub uuid: Option<String>,
    /// The tool's structured result (Bash: `stdout`/`stderr`/`interrupted`; Edit/Write: see
    /// [`FileChange`]); a plain string (`"Error: ..."`) when the tool did not run.
    #[serde(default)]
    pub tool_use_result: Option<Value>,
    /// An echo of something the host sent or ran (e.g. `set_model`'s confirmation).
    #[serde(rename = "isReplay", default)]
    pub is_replay: bool,
}

impl UserMessage {
    /// The tool results in this message.
    pub fn tool_results(&self) -> Vec<ToolResultBlock> {
        match &self.message.content {
            UserContent::Blocks(blocks) => blocks
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolResult(r) => Some(r.clone()),
                    _ => None,
                })
                .collect(),
            UserContent::Text(_) => Vec::new(),
        }
    }

    /// The file change an Edit / Write / MultiEdit made, from `tool_use_result`.
    pub fn file_change(&self) -> Option<FileChange> {
        self.tool_use_result
            .as_ref()
            .and_then(FileChange::from_tool_use_result)
    }
}

/// `type: "stream_event"` (with `--include-partial-messages`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamEventMessage {
    pub event: StreamEvent,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub parent_tool_use_id: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
}

/// A tool use the permission layer refused during the turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionDenial {
    pub tool_name: String,
    #[serde(default)]
    pub tool_use_id: String,
    #[serde(default)]
    pub tool_input: Value,
}

/// `type: "result"`: the end of a turn.
///
/// `is_error` is authoritative: an API error ends with `subtype: "success"` AND
/// `is_error: true` (plus `api_error_status`, `terminal_reason: "api_error"`); an interrupt ends
/// with `subtype: "error_during_execution"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultMessage {
    /// `success`, `error_during_execution`, `error_max_turns`, ...
    pub subtype: String,
    #[serde(default)]
    pub is_error: bool,
    #[serde(default)]
    pub session_id: String,
    /// The final text (success) or the error text.
    #[serde(default)]
    pub result: Option<String>,
    /// The session's running total in USD (it carries on across `--resume`), not this turn's.
    #[serde(default)]
    pub total_cost_usd: Option<f64>,
    /// This turn's usage (summed over its model requests).
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Per-model usage and cost (`modelUsage`), raw.
    #[serde(rename = "modelUsage", default)]
    pub model_usage: Option<Value>,
    #[serde(default)]
    pub num_turns: Option<u32>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub duration_api_ms: Option<u64>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// `completed`, `aborted_streaming`, `api_error`, ...
    #[serde(default)]
    pub terminal_reason: Option<String>,
    #[serde(default)]
    pub permission_denials: Vec<PermissionDenial>,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub api_error_status: Option<u16>,
    #[serde(default)]
    pub uuid: Option<String>,
}

open_enum! {
    /// One line from the CLI.
    ///
    /// The session transport consumes the control envelopes itself (responses go to pending
    /// calls — a late one, after its call timed out, is logged and dropped —, requests become
    /// [`crate::PermissionRequest`]s / [`crate::HostRequest`]s, cancels become
    /// `RequestCancelled`), so `SessionEvent::Message` never carries them.
    pub enum OutputMessage tagged "type" {
        System(SystemMessage) = "system",
        Assistant(AssistantMessage) = "assistant",
        User(UserMessage) = "user",
        StreamEvent(StreamEventMessage) = "stream_event",
        Result(ResultMessage) = "result",
        ControlRequest(ControlRequestEnvelope) = "control_request",
        ControlResponse(ControlResponseEnvelope) = "control_response",
        ControlCancelRequest(ControlCancelRequest) = "control_cancel_request",
    }
}

impl OutputMessage {
    /// The session id the line carries, if any.
    pub fn session_id(&self) -> Option<&str> {
        let id = match self {
            OutputMessage::System(SystemMessage::Init(i)) => Some(i.session_id.as_str()),
            OutputMessage::System(SystemMessage::Status(s)) => s.session_id.as_deref(),
            OutputMessage::Assistant(m) => Some(m.session_id.as_str()),
            OutputMessage::User(m) => Some(m.session_id.as_str()),
            OutputMessage::StreamEvent(m) => Some(m.session_id.as_str()),
            OutputMessage::Result(m) => Some(m.session_id.as_str()),
            OutputMessage::System(SystemMessage::Unknown(v)) | OutputMessage::Unknown(v) => {
                v.get("session_id").and_then(Value::as_str)
            }
            _ => None,
        };
        id.filter(|s| !s.is_empty())
    }
}

/// The line that sends a user message: `{"type":"user","message":{"role":"user","content":...}}`
/// (`content` a string or a list of content blocks). While a turn runs, the CLI queues it.
pub fn user_message_line(content: &UserContent) -> Value {
    serde_json::json!({
        "type": "user",
        "message": { "role": "user", "content": content },
        "parent_tool_use_id": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode_line;
    use serde_json::json;

    #[test]
    fn recorded_lines_decode_into_typed_messages() {
        let init = decode_line(r#"{"type":"system","subtype":"init","cwd":"/w","session_id":"s1","tools":["Bash"],"mcp_servers":[],"model":"claude-opus-5-5","permissionMode":"default","apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.332","future":1}"#).expect("init");
        let OutputMessage::System(SystemMessage::Init(init)) = &init else {
            panic!("{init:?}")
        };
        assert_eq!(init.session_id, "s1");
        assert_eq!(init.permission_mode, Some(PermissionMode::Default));

        let a = decode_line(r#"{"type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"echo hi"}}],"stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}},"parent_tool_use_id":null,"session_id":"s1","uuid":"u"}"#).expect("assistant");
        let OutputMessage::Assistant(a) = &a else {
            panic!("{a:?}")
        };
        assert_eq!(a.tool_uses().next().map(|t| t.name.as_str()), Some("Bash"));

        let u = decode_line(r#"{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_1","type":"tool_result","content":"done","is_error":false}]},"parent_tool_use_id":null,"session_id":"s1","tool_use_result":{"stdout":"done","stderr":"","interrupted":false}}"#).expect("user");
        let OutputMessage::User(u) = &u else {
            panic!("{u:?}")
        };
        assert_eq!(u.tool_results()[0].text(), "done");
        assert_eq!(u.file_change(), None);

        let r = decode_line(r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"session_id":"s1","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0},"terminal_reason":"api_error","permission_denials":[{"tool_name":"Bash","tool_use_id":"t","tool_input":{}}]}"#).expect("result");
        let OutputMessage::Result(r) = &r else {
            panic!("{r:?}")
        };
        assert!(r.is_error);
        assert_eq!(r.api_error_status, Some(500));
        assert_eq!(r.permission_denials[0].tool_name, "Bash");

        let c = decode_line(r#"{"type":"control_cancel_request","request_id":"abc"}"#).expect("c");
        assert!(matches!(c, OutputMessage::ControlCancelRequest(ref c) if c.request_id == "abc"));

        let unknown =
            decode_line(r#"{"type":"prompt_suggestion","suggestion":"x","session_id":"s1"}"#)
                .expect("unknown");
        assert_eq!(unknown.tag(), Some("prompt_suggestion"));
        assert_eq!(unknown.session_id(), Some("s1"));
        assert!(decode_line("[1,2]").is_err());
        assert!(decode_line("not json").is_err());
    }

    #[test]
    fn user_message_lines_have_the_wire_shape() {
        assert_eq!(
            user_message_line(&UserContent::Text("hi".into())),
            json!({"type": "user", "message": {"role": "user", "content": "hi"}, "parent_tool_use_id": null})
        );
    }
}
