//! PermissionRequest decisions: what the hook prints for Codex, and the wire shape of the
//! OrbitDock endpoint the hook asks.
//!
//! ## What Codex 0.169 does with the hook's stdout (checked with the real TUI)
//! * `{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}`
//!   — the command runs with no prompt.
//! * `... "decision":{"behavior":"deny","message":"M"}` — the command does not run; the TUI shows
//!   "Blocked by hook / M" and the model receives `exec_command failed: ... Rejected("M")`.
//! * Nothing on stdout (exit 0) — the TUI's own approval prompt appears, as if there were no hook.
//! * The hook outlives its `timeout` — Codex kills it, shows "Hook failed / hook timed out after
//!   Ns" and then its own prompt. So the runner gives up (silently) before the timeout.
//! * While the hook runs the TUI shows "Running hook" and no prompt: the terminal user cannot
//!   answer until the hook returns; Esc interrupts the turn, kills the hook and fires Interrupt.
//!
//! ## The OrbitDock endpoint (`POST /api/hooks/codex/permission`, bearer token)
//! Request body: [`PermissionAsk`] — the payload exactly as Codex sent it, plus how long the hook
//! will wait. The server holds the request open until a person decides in the UI/REST, the wait
//! runs out, or the hook's connection closes (Codex killed it: the turn was interrupted — the
//! card must be withdrawn then). Answer: 200 with [`PermissionAnswer`]. `none` (with a
//! [`PermissionAnswer::reason`]) means "let the terminal prompt take over": the session is not
//! watched, the thread is one the hub drives itself (its app-server client receives the approval
//! request right after the hook: app-server threads run user hooks too), nobody decided in time.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The route the runner asks for a decision on.
pub const PERMISSION_ROUTE: &str = "/api/hooks/codex/permission";

/// The message sent with a deny when the person gave none (Codex shows it and passes it to the
/// model; an empty message would tell the model nothing).
pub const DEFAULT_DENY_MESSAGE: &str = "Declined in OrbitDock.";

/// Body of the runner's request to [`PERMISSION_ROUTE`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PermissionAsk {
    /// How long the hook waits for an answer (ms); the server answers `none` by then at the
    /// latest (the hook gives up silently anyway).
    pub wait_ms: u64,
    /// The PermissionRequest payload exactly as Codex wrote it on stdin (parse it with
    /// [`crate::HookPayload::parse`]).
    pub payload: Box<RawValue>,
}

/// What the server decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerDecision {
    /// Run the command.
    Allow,
    /// Do not run it.
    Deny,
    /// No decision: the terminal prompt takes over.
    None,
    /// A value this runner does not know: treated as [`ServerDecision::None`].
    Unknown(String),
}

impl ServerDecision {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::None => "none",
            Self::Unknown(s) => s,
        }
    }
}

impl Serialize for ServerDecision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ServerDecision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "allow" => Self::Allow,
            "deny" => Self::Deny,
            "none" => Self::None,
            _ => Self::Unknown(s),
        })
    }
}

/// Why the server answered `none` (informational; the runner prints nothing in every case).
pub mod reason {
    /// Nobody is watching the session in OrbitDock.
    pub const NOT_WATCHED: &str = "not_watched";
    /// The thread is driven by the hub itself through app-server: the approval comes to the hub
    /// as an app-server request right after the hook returns.
    pub const DIRECT_THREAD: &str = "direct_thread";
    /// Nobody decided within the wait.
    pub const TIMEOUT: &str = "timeout";
    /// The server is shutting down.
    pub const SHUTTING_DOWN: &str = "shutting_down";
}

/// The server's answer: `{"decision":"allow"|"deny"|"none","message":...,"reason":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionAnswer {
    /// The decision.
    pub decision: ServerDecision,
    /// Deny: shown in the terminal and given to the model. Allow: ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `none`: why (see [`reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PermissionAnswer {
    /// An allow.
    pub fn allow() -> Self {
        Self {
            decision: ServerDecision::Allow,
            message: None,
            reason: None,
        }
    }

    /// A deny with the message shown to the terminal user and the model.
    pub fn deny(message: impl Into<String>) -> Self {
        Self {
            decision: ServerDecision::Deny,
            message: Some(message.into()),
            reason: None,
        }
    }

    /// No decision, with the reason.
    pub fn none(reason: impl Into<String>) -> Self {
        Self {
            decision: ServerDecision::None,
            message: None,
            reason: Some(reason.into()),
        }
    }

    /// The hook output for this answer; `None` when the hook must print nothing.
    pub fn hook_output(&self) -> Option<PermissionRequestOutput> {
        match self.decision {
            ServerDecision::Allow => Some(PermissionRequestOutput::allow()),
            ServerDecision::Deny => Some(PermissionRequestOutput::deny(
                self.message
                    .as_deref()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or(DEFAULT_DENY_MESSAGE),
            )),
            ServerDecision::None | ServerDecision::Unknown(_) => None,
        }
    }
}

/// What a PermissionRequest hook prints:
/// `{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{...}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionRequestOutput {
    /// The event-specific part.
    pub hook_specific_output: PermissionHookOutput,
}

/// `hookSpecificOutput` of a PermissionRequest hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionHookOutput {
    /// Always `PermissionRequest`.
    pub hook_event_name: String,
    /// The decision.
    pub decision: PermissionDecision,
}

/// `{"behavior":"allow"|"deny","message":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionDecision {
    /// Allow or deny.
    pub behavior: Behavior,
    /// Deny: the reason shown and given to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `behavior` of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// Run it.
    Allow,
    /// Don't.
    Deny,
}

impl PermissionRequestOutput {
    /// Allow.
    pub fn allow() -> Self {
        Self::new(Behavior::Allow, None)
    }

    /// Deny with a message.
    pub fn deny(message: &str) -> Self {
        Self::new(Behavior::Deny, Some(message.to_owned()))
    }

    fn new(behavior: Behavior, message: Option<String>) -> Self {
        Self {
            hook_specific_output: PermissionHookOutput {
                hook_event_name: "PermissionRequest".to_owned(),
                decision: PermissionDecision { behavior, message },
            },
        }
    }

    /// The JSON line the hook prints.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_what_codex_reads() {
        assert_eq!(
            PermissionRequestOutput::allow().to_json(),
            r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}"#
        );
        assert_eq!(
            PermissionAnswer::deny("no").hook_output().map(|o| o.to_json()),
            Some(
                r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"no"}}}"#
                    .to_owned()
            )
        );
    }

    #[test]
    fn answers_parse_with_unknowns() {
        let a: PermissionAnswer =
            serde_json::from_str(r#"{"decision":"later","extra":1}"#).expect("parses");
        assert_eq!(a.decision, ServerDecision::Unknown("later".into()));
        assert_eq!(a.hook_output(), None);
        let d: PermissionAnswer =
            serde_json::from_str(r#"{"decision":"deny","message":"  "}"#).expect("parses");
        assert_eq!(
            d.hook_output(),
            Some(PermissionRequestOutput::deny(DEFAULT_DENY_MESSAGE))
        );
    }
}
