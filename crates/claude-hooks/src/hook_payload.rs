//! Claude Code hook input: one JSON object on the hook command's stdin.
//!
//! Shaped after Claude Code's hooks reference (code.claude.com/docs/en/hooks, "common input
//! fields" and the per-event inputs): every event carries `session_id`, `transcript_path`,
//! `cwd`, `hook_event_name` and usually `permission_mode`; events add their own fields. Claude
//! Code adds fields and events over time, so nothing here rejects unknown fields, and an unknown
//! `hook_event_name` parses as [`HookEvent::Other`] with the whole object kept in `extra`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The hook event names Claude Code documents (and any other, kept as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookEvent {
    /// A session starts or resumes (`source`: startup, resume, clear, compact).
    SessionStart,
    /// The user submitted a prompt (`prompt`).
    UserPromptSubmit,
    /// Before a tool runs (`tool_name`, `tool_input`, `tool_use_id`).
    PreToolUse,
    /// After a tool ran (`tool_name`, `tool_input`, `tool_response`, `tool_use_id`).
    PostToolUse,
    /// Claude needs attention: a permission prompt or idle input (`message`).
    Notification,
    /// The main agent finished its turn (`stop_hook_active`).
    Stop,
    /// A sub-agent finished (`stop_hook_active`).
    SubagentStop,
    /// Before compaction (`trigger`: manual, auto; `custom_instructions`).
    PreCompact,
    /// The session ended (`reason`: clear, logout, prompt_input_exit, other).
    SessionEnd,
    /// An event this crate does not know.
    Other(String),
}

impl HookEvent {
    /// The nine events `orbitdock hooks install claude` registers.
    pub const ALL: [HookEvent; 9] = [
        HookEvent::SessionStart,
        HookEvent::UserPromptSubmit,
        HookEvent::PreToolUse,
        HookEvent::PostToolUse,
        HookEvent::Notification,
        HookEvent::Stop,
        HookEvent::SubagentStop,
        HookEvent::PreCompact,
        HookEvent::SessionEnd,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::SessionStart => "SessionStart",
            Self::UserPromptSubmit => "UserPromptSubmit",
            Self::PreToolUse => "PreToolUse",
            Self::PostToolUse => "PostToolUse",
            Self::Notification => "Notification",
            Self::Stop => "Stop",
            Self::SubagentStop => "SubagentStop",
            Self::PreCompact => "PreCompact",
            Self::SessionEnd => "SessionEnd",
            Self::Other(s) => s,
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .iter()
            .find(|e| e.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Self::Other(s.to_owned()))
    }

    /// Whether Claude matches this event's hooks against a tool name (`matcher`).
    pub fn has_tool_matcher(&self) -> bool {
        matches!(self, Self::PreToolUse | Self::PostToolUse)
    }
}

impl Serialize for HookEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HookEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// One hook input. Common fields are typed; per-event fields are typed where Claude documents
/// them and optional; everything else lands in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookPayload {
    /// Claude Code's session id.
    pub session_id: String,
    /// The event.
    pub hook_event_name: HookEvent,
    /// The session's transcript JSONL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_path: Option<String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// `default`, `plan`, `acceptEdits`, `bypassPermissions`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// UserPromptSubmit: the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Pre/PostToolUse: the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Pre/PostToolUse: its input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_input: Option<Value>,
    /// PostToolUse: its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_response: Option<Value>,
    /// Pre/PostToolUse: the tool call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// Notification: the text shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Notification (newer releases): `permission_prompt`, `idle_prompt`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<String>,
    /// SessionStart: startup, resume, clear, compact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// SessionStart (newer releases): the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Value>,
    /// SessionEnd: clear, logout, prompt_input_exit, other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// PreCompact: manual or auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// PreCompact: the `/compact` instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_instructions: Option<String>,
    /// Stop/SubagentStop: a Stop hook is already continuing the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_hook_active: Option<bool>,
    /// Everything else, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a payload was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Claude hook payload: {0}")]
pub struct PayloadError(pub String);

impl HookPayload {
    /// Parses a payload. Requires a JSON object with `session_id` and `hook_event_name`.
    pub fn parse(bytes: &[u8]) -> Result<Self, PayloadError> {
        serde_json::from_slice(bytes).map_err(|e| PayloadError(e.to_string()))
    }

    /// The model name, whether Claude sent a string or `{id, display_name}`.
    pub fn model_name(&self) -> Option<String> {
        match &self.model {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o
                .get("id")
                .or_else(|| o.get("display_name"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        }
    }
}
