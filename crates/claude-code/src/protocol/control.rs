//! Control requests, both ways, as verified against the pinned CLI (2.1.332).
//!
//! Envelope (either direction):
//! `{"type":"control_request","request_id":ID,"request":{"subtype":S, ...}}`, answered by
//! `{"type":"control_response","response":{"subtype":"success","request_id":ID,"response":{...}}}`
//! or `{"type":"control_response","response":{"subtype":"error","request_id":ID,"error":MSG,
//! "error_code":CODE}}`. The CLI withdraws one of its own requests with
//! `{"type":"control_cancel_request","request_id":ID}` (seen after an `interrupt` while a
//! permission prompt was open; a late answer is then ignored).
//!
//! Host -> CLI subtypes typed here ([`ControlRequest`] impls): `initialize`, `interrupt`,
//! `set_permission_mode`, `set_model`. An unknown subtype is answered with an error whose
//! `error_code` is `unsupported_request`.
//!
//! CLI -> host: `can_use_tool` (with `--permission-prompt-tool stdio`), answered with a
//! [`PermissionDecision`]. Other subtypes (hook callbacks, SDK MCP messages) only come when the
//! host registered such things in `initialize`; they surface as
//! [`IncomingControlRequest::Unknown`].

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{open_enum, open_string_enum};

open_string_enum! {
    /// A permission mode (`--permission-mode`, `set_permission_mode`, `system/init`).
    ///
    /// `set_permission_mode` accepts exactly these six; anything else is answered with
    /// `error_code: "invalid_mode"`. `bypassPermissions` is refused (`bypass_not_launched`)
    /// unless the CLI was started with `--dangerously-skip-permissions`, which it refuses as
    /// root. The CLI flag also accepts `manual`, reported back as `default`.
    pub enum PermissionMode {
        /// Ask for anything not allowed by a rule.
        Default = "default",
        /// File edits in the working directories run without asking.
        AcceptEdits = "acceptEdits",
        /// Read-only planning; no edits or commands.
        Plan = "plan",
        /// Everything runs without asking.
        BypassPermissions = "bypassPermissions",
        /// Anything not pre-allowed is denied without asking.
        DontAsk = "dontAsk",
        /// A classifier decides.
        Auto = "auto",
    }
}

open_string_enum! {
    /// Where a permission update is stored.
    pub enum PermissionDestination {
        /// `~/.claude/settings.json` (or the config dir's).
        UserSettings = "userSettings",
        /// `<cwd>/.claude/settings.json`.
        ProjectSettings = "projectSettings",
        /// `<cwd>/.claude/settings.local.json`.
        LocalSettings = "localSettings",
        /// This process only; nothing is written to disk.
        Session = "session",
        /// As if given on the command line.
        CliArg = "cliArg",
    }
}

/// One permission rule: a tool and an optional pattern (`Bash` + `git status:*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRule {
    #[serde(rename = "toolName")]
    pub tool_name: String,
    #[serde(
        rename = "ruleContent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rule_content: Option<String>,
}

/// `addRules` / `replaceRules` / `removeRules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesUpdate {
    pub rules: Vec<PermissionRule>,
    /// `allow`, `deny` or `ask`.
    pub behavior: String,
    pub destination: PermissionDestination,
}

/// `setMode`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetModeUpdate {
    pub mode: PermissionMode,
    pub destination: PermissionDestination,
}

/// `addDirectories` / `removeDirectories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoriesUpdate {
    pub directories: Vec<String>,
    pub destination: PermissionDestination,
}

open_enum! {
    /// A change to the permission context: what `can_use_tool` suggests in
    /// `permission_suggestions`, and what an allow decision may carry in `updatedPermissions`.
    pub enum PermissionUpdate tagged "type" {
        AddRules(RulesUpdate) = "addRules",
        ReplaceRules(RulesUpdate) = "replaceRules",
        RemoveRules(RulesUpdate) = "removeRules",
        SetMode(SetModeUpdate) = "setMode",
        AddDirectories(DirectoriesUpdate) = "addDirectories",
        RemoveDirectories(DirectoriesUpdate) = "removeDirectories",
    }
}

impl PermissionUpdate {
    /// The same update stored at `destination` instead (unknown updates get their
    /// `destination` field replaced in the raw JSON).
    pub fn with_destination(self, destination: PermissionDestination) -> Self {
        match self {
            PermissionUpdate::AddRules(u) => {
                PermissionUpdate::AddRules(RulesUpdate { destination, ..u })
            }
            PermissionUpdate::ReplaceRules(u) => {
                PermissionUpdate::ReplaceRules(RulesUpdate { destination, ..u })
            }
            PermissionUpdate::RemoveRules(u) => {
                PermissionUpdate::RemoveRules(RulesUpdate { destination, ..u })
            }
            PermissionUpdate::SetMode(u) => {
                PermissionUpdate::SetMode(SetModeUpdate { destination, ..u })
            }
            PermissionUpdate::AddDirectories(u) => {
                PermissionUpdate::AddDirectories(DirectoriesUpdate { destination, ..u })
            }
            PermissionUpdate::RemoveDirectories(u) => {
                PermissionUpdate::RemoveDirectories(DirectoriesUpdate { destination, ..u })
            }
            PermissionUpdate::Unknown(mut v) => {
                if let Some(o) = v.as_object_mut() {
                    o.insert("destination".into(), json!(destination.as_str()));
                }
                PermissionUpdate::Unknown(v)
            }
        }
    }
}

/// `can_use_tool`: the CLI asks whether a tool may run. Observed fields (2.1.332):
/// `tool_name`, `display_name`, `input`, `description`, `permission_suggestions`, `tool_use_id`,
/// and depending on the case `blocked_path` (a write outside the allowed directories) or
/// `decision_reason` + `decision_reason_type` ("This command requires approval", `other`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanUseToolRequest {
    pub tool_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub permission_suggestions: Vec<PermissionUpdate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_reason_type: Option<String>,
    /// The `tool_use` block this is about (matches the assistant message's block id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// Set when a sub-agent asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

open_enum! {
    /// The `request` of a CLI -> host `control_request`.
    pub enum IncomingControlRequest tagged "subtype" {
        /// May this tool run? Answer with a [`PermissionDecision`]. Boxed: it is much larger
        /// than the raw fallback.
        CanUseTool(Box<CanUseToolRequest>) = "can_use_tool",
    }
}

/// The host's answer to `can_use_tool` (the `response` of a success `control_response`).
///
/// Verified wire shapes: `{"behavior":"allow"}` (with or without `updatedInput`; the CLI runs
/// the original input when it is absent), `{"behavior":"allow","updatedPermissions":[...]}`
/// (applied before the tool runs; with destination `session` nothing is written to disk), and
/// `{"behavior":"deny","message":M}` (the tool does not run; the model receives a
/// `tool_result` with `is_error: true` and content `M`). `"interrupt": true` on a deny also
/// stops the turn.
#[derive(Debug, Clone, PartialEq)]
pub enum PermissionDecision {
    Allow {
        /// Run with this input instead (None: the CLI runs the original input).
        updated_input: Option<Value>,
        /// Permission changes to apply first (e.g. a session-scoped allow rule).
        updated_permissions: Vec<PermissionUpdate>,
    },
    Deny {
        /// Shown to the model as the tool's (error) result.
        message: String,
        /// Also abort the turn.
        interrupt: bool,
    },
}

impl PermissionDecision {
    /// The `response` object sent to the CLI.
    pub fn to_wire(&self) -> Value {
        match self {
            PermissionDecision::Allow {
                updated_input,
                updated_permissions,
            } => {
                let mut v = json!({ "behavior": "allow" });
                if let Some(input) = updated_input {
                    v["updatedInput"] = input.clone();
                }
                if !updated_permissions.is_empty() {
                    v["updatedPermissions"] = json!(updated_permissions);
                }
                v
            }
            PermissionDecision::Deny { message, interrupt } => {
                let mut v = json!({ "behavior": "deny", "message": message });
                if *interrupt {
                    v["interrupt"] = json!(true);
                }
                v
            }
        }
    }
}

/// A host -> CLI control request with a typed response.
pub trait ControlRequest: Serialize {
    /// The `subtype`.
    const SUBTYPE: &'static str;
    /// What a success response's `response` object decodes into.
    type Response: DeserializeOwned;
    /// A timeout for this subtype when the session's default does not fit.
    const DEFAULT_TIMEOUT: Option<Duration> = None;
}

/// `initialize`: the CLI answers with its commands, models, account and current mode. Optional
/// (the CLI works without it) but cheap, and its answer is the only place that reports the
/// account and the model list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Initialize {}

/// A slash command the CLI offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlashCommand {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "argumentHint", default)]
    pub argument_hint: String,
}

/// A model the CLI offers (`initialize.models`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// What to pass to `--model` / `set_model` (`default`, `sonnet`, ...).
    pub value: String,
    #[serde(rename = "resolvedModel", default)]
    pub resolved_model: Option<String>,
    #[serde(rename = "displayName", default)]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
}

/// `initialize.account`: how the CLI authenticates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// `none`, or where a login token comes from.
    #[serde(rename = "tokenSource", default)]
    pub token_source: Option<String>,
    /// `ANTHROPIC_API_KEY`, `none`, ...
    #[serde(rename = "apiKeySource", default)]
    pub api_key_source: Option<String>,
    /// `firstParty`, `bedrock`, `vertex`, ...
    #[serde(rename = "apiProvider", default)]
    pub api_provider: Option<String>,
}

/// The `initialize` response (the fields a host needs; the rest is ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitializeResponse {
    #[serde(default)]
    pub commands: Vec<SlashCommand>,
    #[serde(default)]
    pub models: Vec<ModelInfo>,
    #[serde(default)]
    pub account: Option<AccountInfo>,
    #[serde(default)]
    pub current_permission_mode: Option<PermissionMode>,
    #[serde(default)]
    pub claude_code_version: Option<String>,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub output_style: Option<String>,
}

impl ControlRequest for Initialize {
    const SUBTYPE: &'static str = "initialize";
    type Response = InitializeResponse;
}

/// `interrupt`: abort the running turn. Answered at once with `{"still_queued": []}`; the turn
/// then ends with a `result` whose `subtype` is `error_during_execution` (`terminal_reason`
/// `aborted_streaming` mid-stream), an open permission prompt is withdrawn with
/// `control_cancel_request`, and the session stays usable for the next message.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interrupt {}

/// The `interrupt` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InterruptResponse {
    /// User messages that were queued behind the interrupted turn and are still queued.
    #[serde(default)]
    pub still_queued: Vec<Value>,
}

impl ControlRequest for Interrupt {
    const SUBTYPE: &'static str = "interrupt";
    type Response = InterruptResponse;
}

/// `set_permission_mode`: answered `{"mode": ...}`, followed by a `system/status` message
/// carrying the new `permissionMode`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetPermissionMode {
    pub mode: PermissionMode,
}

/// The `set_permission_mode` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetPermissionModeResponse {
    pub mode: PermissionMode,
}

impl ControlRequest for SetPermissionMode {
    const SUBTYPE: &'static str = "set_permission_mode";
    type Response = SetPermissionModeResponse;
}

/// `set_model`: `model` absent or `"default"` resets to the default model. Answered with the
/// resolved model (`{"model":"claude-..."}`). The CLI validates a new model with a one-token
/// NON-streaming `POST /v1/messages` (`max_tokens: 1`, text "Hi") before answering, and echoes a
/// `user` message with `isReplay: true` (`<local-command-stdout>Set model to ...`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SetModel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// The `set_model` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetModelResponse {
    pub model: String,
}

impl ControlRequest for SetModel {
    const SUBTYPE: &'static str = "set_model";
    type Response = SetModelResponse;
    /// The validation request goes to the model API first.
    const DEFAULT_TIMEOUT: Option<Duration> = Some(Duration::from_secs(60));
}

/// `{"type":"control_request",...}` as the CLI writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRequestEnvelope {
    pub request_id: String,
    pub request: IncomingControlRequest,
}

/// The inner `response` of a `control_response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResponse {
    /// `success` or `error`.
    pub subtype: String,
    pub request_id: String,
    /// The payload of a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// The message of an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The machine-readable code of an error (`invalid_mode`, `unsupported_request`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl ControlResponse {
    /// Whether this is a success.
    pub fn is_success(&self) -> bool {
        self.subtype == "success"
    }
}

/// `{"type":"control_response","response":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResponseEnvelope {
    pub response: ControlResponse,
}

/// `{"type":"control_cancel_request","request_id":...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlCancelRequest {
    pub request_id: String,
}

/// The line that sends a host -> CLI control request.
pub fn request_line(request_id: &str, subtype: &str, fields: Value) -> Value {
    let mut request = match fields {
        Value::Object(map) => Value::Object(map),
        _ => json!({}),
    };
    request["subtype"] = json!(subtype);
    json!({ "type": "control_request", "request_id": request_id, "request": request })
}

/// The line that answers a CLI -> host control request with success.
pub fn success_line(request_id: &str, response: Value) -> Value {
    json!({
        "type": "control_response",
        "response": { "subtype": "success", "request_id": request_id, "response": response },
    })
}

/// The line that answers a CLI -> host control request with an error.
pub fn error_line(request_id: &str, message: &str) -> Value {
    json!({
        "type": "control_response",
        "response": { "subtype": "error", "request_id": request_id, "error": message },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_use_tool_as_the_cli_sends_it_decodes() {
        let req: IncomingControlRequest = serde_json::from_value(json!({
            "subtype": "can_use_tool", "tool_name": "Bash", "display_name": "Bash",
            "input": {"command": "touch made.txt", "description": "a"}, "description": "a",
            "permission_suggestions": [
                {"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "touch made.txt"}],
                 "behavior": "allow", "destination": "localSettings"},
                {"type": "addDirectories", "directories": ["/w"], "destination": "session"},
                {"type": "setMode", "mode": "acceptEdits", "destination": "session"},
                {"type": "grantTelepathy", "destination": "session"}
            ],
            "blocked_path": "/w/made.txt", "tool_use_id": "toolu_1"
        }))
        .expect("decode");
        let IncomingControlRequest::CanUseTool(req) = req else {
            panic!("expected can_use_tool, got {req:?}");
        };
        assert_eq!(req.tool_name, "Bash");
        assert_eq!(req.input["command"], "touch made.txt");
        assert_eq!(req.permission_suggestions.len(), 4);
        assert!(matches!(
            &req.permission_suggestions[0],
            PermissionUpdate::AddRules(u) if u.destination == PermissionDestination::LocalSettings
                && u.rules[0].rule_content.as_deref() == Some("touch made.txt")
        ));
        assert!(matches!(
            &req.permission_suggestions[2],
            PermissionUpdate::SetMode(u) if u.mode == PermissionMode::AcceptEdits
        ));
        assert!(matches!(
            &req.permission_suggestions[3],
            PermissionUpdate::Unknown(_)
        ));
        assert_eq!(req.tool_use_id.as_deref(), Some("toolu_1"));
    }

    #[test]
    fn decisions_serialise_as_the_cli_accepts_them() {
        let rule = PermissionUpdate::AddRules(RulesUpdate {
            rules: vec![PermissionRule {
                tool_name: "Bash".into(),
                rule_content: Some("ls".into()),
            }],
            behavior: "allow".into(),
            destination: PermissionDestination::LocalSettings,
        })
        .with_destination(PermissionDestination::Session);
        let allow = PermissionDecision::Allow {
            updated_input: None,
            updated_permissions: vec![rule],
        };
        assert_eq!(
            allow.to_wire(),
            json!({"behavior": "allow", "updatedPermissions": [
                {"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "ls"}],
                 "behavior": "allow", "destination": "session"}
            ]})
        );
        let deny = PermissionDecision::Deny {
            message: "no".into(),
            interrupt: false,
        };
        assert_eq!(deny.to_wire(), json!({"behavior": "deny", "message": "no"}));
    }

    #[test]
    fn modes_round_trip_including_unknown_ones() {
        let m: PermissionMode = serde_json::from_value(json!("acceptEdits")).expect("mode");
        assert_eq!(m, PermissionMode::AcceptEdits);
        let m: PermissionMode = serde_json::from_value(json!("yolo")).expect("unknown mode");
        assert_eq!(m, PermissionMode::Unknown("yolo".into()));
        assert_eq!(serde_json::to_value(&m).expect("encode"), json!("yolo"));
    }

    #[test]
    fn request_lines_have_the_envelope() {
        let line = request_line(
            "r1",
            SetPermissionMode::SUBTYPE,
            serde_json::to_value(SetPermissionMode {
                mode: PermissionMode::Plan,
            })
            .expect("encode"),
        );
        assert_eq!(
            line,
            json!({"type": "control_request", "request_id": "r1",
                   "request": {"subtype": "set_permission_mode", "mode": "plan"}})
        );
        assert_eq!(
            request_line("r2", Interrupt::SUBTYPE, json!({})),
            json!({"type": "control_request", "request_id": "r2", "request": {"subtype": "interrupt"}})
        );
    }
}
