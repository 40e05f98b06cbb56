//! Codex hook input: one JSON object on the hook command's stdin.
//!
//! Shapes recorded from the pinned Codex 0.169 (exec, the TUI and app-server threads; see the
//! crate README for one real payload per event). Every event carries `session_id` (the ROOT
//! thread id, also for sub-agent events), `cwd`, `hook_event_name` and, except in rare cases,
//! `transcript_path` (the rollout file). Turn-scoped events add `turn_id`; most add `model` and
//! `permission_mode`. Sub-agent activity is reported under the parent's `session_id` with the
//! sub-agent's thread id in `agent_id`. Codex adds fields and events between releases, so nothing
//! here rejects unknown fields, and an unknown `hook_event_name` parses as
//! [`HookEvent::Unknown`] with every field kept.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The hook events of Codex 0.169 (and any other, kept as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookEvent {
    /// A thread starts or resumes (`source`: startup, resume, clear, compact).
    SessionStart,
    /// A prompt was submitted (`prompt`, `turn_id`); sub-agents' first prompts too (`agent_id`).
    UserPromptSubmit,
    /// Before a tool runs (`tool_name`: `Bash`, `apply_patch`, `spawn_agent`, MCP tools...;
    /// `tool_input`, `tool_use_id`).
    PreToolUse,
    /// Codex is about to ask for approval of a shell or network action (`tool_name`, `tool_input`
    /// with `command` and the model's justification as `description`; no `tool_use_id`). The
    /// hook may decide; see [`crate::permission`].
    PermissionRequest,
    /// After a tool ran (`tool_response`: a string for `Bash`).
    PostToolUse,
    /// Before compaction (`trigger`: manual, auto).
    PreCompact,
    /// After compaction (`trigger`).
    PostCompact,
    /// The turn ended (`last_assistant_message`, `stop_hook_active`).
    Stop,
    /// The thread's process is ending (`reason`). Codex clamps this hook's timeout to 3 s.
    SessionEnd,
    /// A sub-agent thread started (`agent_id`, `agent_type`; `transcript_path` is the
    /// sub-agent's rollout).
    SubagentStart,
    /// A sub-agent finished its turn (`agent_id`, `agent_transcript_path`,
    /// `last_assistant_message`).
    SubagentStop,
    /// The user interrupted the turn. Codex clamps this hook's timeout to 3 s.
    Interrupt,
    /// Before each model request (not installed by us: one process per sampling request).
    PreModelRequest,
    /// After each model request (`status`, `error`, `token_usage`; not installed by us).
    PostModelRequest,
    /// An event this crate does not know.
    Unknown(String),
}

impl HookEvent {
    /// Every event 0.169 knows.
    pub const KNOWN: [HookEvent; 14] = [
        HookEvent::SessionStart,
        HookEvent::UserPromptSubmit,
        HookEvent::PreToolUse,
        HookEvent::PermissionRequest,
        HookEvent::PostToolUse,
        HookEvent::PreCompact,
        HookEvent::PostCompact,
        HookEvent::Stop,
        HookEvent::SessionEnd,
        HookEvent::SubagentStart,
        HookEvent::SubagentStop,
        HookEvent::Interrupt,
        HookEvent::PreModelRequest,
        HookEvent::PostModelRequest,
    ];

    /// The events `orbitdock hooks install codex` registers: everything that changes what a
    /// session shows. The per-model-request pair is left out: it would spawn a process for every
    /// sampling request and says nothing the others do not.
    pub const INSTALLED: [HookEvent; 12] = [
        HookEvent::SessionStart,
        HookEvent::UserPromptSubmit,
        HookEvent::PreToolUse,
        HookEvent::PermissionRequest,
        HookEvent::PostToolUse,
        HookEvent::PreCompact,
        HookEvent::PostCompact,
        HookEvent::Stop,
        HookEvent::SessionEnd,
        HookEvent::SubagentStart,
        HookEvent::SubagentStop,
        HookEvent::Interrupt,
    ];

    /// The name in hooks files and in `hook_event_name` (PascalCase).
    pub fn as_str(&self) -> &str {
        match self {
            Self::SessionStart => "SessionStart",
            Self::UserPromptSubmit => "UserPromptSubmit",
            Self::PreToolUse => "PreToolUse",
            Self::PermissionRequest => "PermissionRequest",
            Self::PostToolUse => "PostToolUse",
            Self::PreCompact => "PreCompact",
            Self::PostCompact => "PostCompact",
            Self::Stop => "Stop",
            Self::SessionEnd => "SessionEnd",
            Self::SubagentStart => "SubagentStart",
            Self::SubagentStop => "SubagentStop",
            Self::Interrupt => "Interrupt",
            Self::PreModelRequest => "PreModelRequest",
            Self::PostModelRequest => "PostModelRequest",
            Self::Unknown(s) => s,
        }
    }

    /// From the PascalCase name.
    pub fn parse(s: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|e| e.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Self::Unknown(s.to_owned()))
    }

    /// The snake_case name Codex uses in hook keys (`<file>:pre_tool_use:0:0`).
    pub fn snake_name(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.as_str().chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The camelCase name app-server uses (`hooks/list` `eventName`, `hook/started`).
    pub fn camel_name(&self) -> String {
        let s = self.as_str();
        let mut chars = s.chars();
        match chars.next() {
            Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
            None => String::new(),
        }
    }

    /// Seconds at most that Codex 0.169 lets this event's hooks run (it clamps larger
    /// configured timeouts and warns), if it caps them at all.
    pub fn codex_timeout_cap_secs(&self) -> Option<u64> {
        matches!(self, Self::SessionEnd | Self::Interrupt).then_some(3)
    }
}

impl std::fmt::Display for HookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

/// One hook input. Common fields are typed; per-event fields are typed where 0.169 sends them
/// and optional; everything else lands in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookPayload {
    /// The root thread's id (Codex calls it the session). Sub-agent events carry the parent's.
    pub session_id: String,
    /// The event.
    pub hook_event_name: HookEvent,
    /// Working directory of the thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The rollout file (`CODEX_HOME/sessions/.../rollout-...-<thread id>.jsonl`). For
    /// SubagentStart it is the sub-agent's rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_path: Option<String>,
    /// The turn, for turn-scoped events (not SessionStart/SessionEnd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    /// The model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `default` (approvals on request), `bypassPermissions` (exec: approval policy never), ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// SessionStart: startup, resume, clear, compact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// UserPromptSubmit: the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Pre/PostToolUse, PermissionRequest: the tool (`Bash` for shell commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Pre/PostToolUse, PermissionRequest: its input (`{"command": ...}` for `Bash`;
    /// PermissionRequest adds the model's justification as `description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_input: Option<Value>,
    /// PostToolUse: the result (a string for `Bash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_response: Option<Value>,
    /// Pre/PostToolUse: the model's call id (PermissionRequest has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// Stop/SubagentStop: a Stop hook is already continuing the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_hook_active: Option<bool>,
    /// Stop/SubagentStop: the final agent message of the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assistant_message: Option<String>,
    /// Pre/PostCompact: manual or auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// SessionEnd: why (`other` for exec's exit and the TUI's quit on 0.169).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Sub-agent events: the sub-agent's thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Sub-agent events: `default`, or the configured agent role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// SubagentStop: the sub-agent's rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_transcript_path: Option<String>,
    /// PostModelRequest: `completed`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// PostModelRequest: the error, if the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// PostModelRequest: `{input_tokens, cached_input_tokens, cache_write_input_tokens,
    /// output_tokens, reasoning_output_tokens, total_tokens}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<Value>,
    /// Everything else, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a payload was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Codex hook payload: {0}")]
pub struct PayloadError(pub String);

impl HookPayload {
    /// Parses a payload. Requires a JSON object with `session_id` and `hook_event_name`.
    pub fn parse(bytes: &[u8]) -> Result<Self, PayloadError> {
        serde_json::from_slice(bytes).map_err(|e| PayloadError(e.to_string()))
    }

    /// The thread the hub shows this event under: the root thread (`session_id`).
    pub fn thread_id(&self) -> &str {
        &self.session_id
    }

    /// The sub-agent thread this event is about, if any (`agent_id`).
    pub fn sub_agent_thread_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    /// The thread whose activity this is: the sub-agent's for sub-agent events, else the root.
    pub fn acting_thread_id(&self) -> &str {
        self.agent_id.as_deref().unwrap_or(&self.session_id)
    }

    /// The root thread's rollout file. SubagentStart's `transcript_path` is the sub-agent's
    /// file, so none is returned for it.
    pub fn root_transcript_path(&self) -> Option<&str> {
        match self.hook_event_name {
            HookEvent::SubagentStart => None,
            _ => self.transcript_path.as_deref(),
        }
    }

    /// The shell command of a `Bash` tool event (`tool_input.command`).
    pub fn command(&self) -> Option<&str> {
        self.tool_input.as_ref()?.get("command")?.as_str()
    }

    /// PermissionRequest: the model's justification (`tool_input.description`).
    pub fn justification(&self) -> Option<&str> {
        self.tool_input.as_ref()?.get("description")?.as_str()
    }
}

/// Reads only `hook_event_name` from a payload (for routing even when the rest is odd).
pub fn event_name_of(bytes: &[u8]) -> Option<HookEvent> {
    #[derive(Deserialize)]
    struct Probe {
        hook_event_name: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes)
        .ok()?
        .hook_event_name
        .map(|s| HookEvent::parse(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_every_casing() {
        assert_eq!(HookEvent::PreToolUse.snake_name(), "pre_tool_use");
        assert_eq!(
            HookEvent::PermissionRequest.camel_name(),
            "permissionRequest"
        );
        assert_eq!(HookEvent::SubagentStop.snake_name(), "subagent_stop");
        assert_eq!(HookEvent::parse("Nope"), HookEvent::Unknown("Nope".into()));
        for e in HookEvent::KNOWN {
            assert_eq!(HookEvent::parse(e.as_str()), e);
        }
    }
}
