//! Server->client requests (approvals, questions, tool calls) and the [`Responder`] that answers
//! them.
//!
//! These are surfaced to the caller as `AppServerEvent::Request` and are NEVER answered by this
//! crate on the caller's behalf: a human (or an explicit policy in the caller) decides. The
//! responder is cheap to clone and can be stored (e.g. in an approval queue) and used later from
//! any task; the first answer wins and a second one is an [`Error::AlreadyAnswered`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::transport::WriterMsg;
use crate::{Error, Result};

/// A JSON-RPC id: the server uses integers, the protocol allows strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Integer(i64),
    String(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Integer(i) => write!(f, "{i}"),
            RequestId::String(s) => f.write_str(s),
        }
    }
}

/// `item/commandExecution/requestApproval`.
///
/// Observed on 0.169: policy `untrusted` asks before any command that is not known to be safe;
/// under `on-request` a sandboxed command runs without asking and only a model-requested
/// escalation (`sandbox_permissions: "require_escalated"`) asks, with the model's justification in
/// `reason`. Such requests also carry an experimental `availableDecisions` list (not in the
/// stable schema, so read it from [`ServerRequest::raw_params`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandExecutionApprovalParams {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    /// Kind of action under review (`command` on older servers), kept raw.
    #[serde(default)]
    pub kind: Option<Value>,
    /// Distinct callback id for sub-command / stdin approvals; `None` for plain commands.
    #[serde(default)]
    pub approval_id: Option<String>,
    /// The command to run.
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    /// Why the agent asks (e.g. it needs network access, or to write outside the workspace).
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub command_actions: Option<Vec<Value>>,
    /// An exec-policy amendment that would allow similar commands without asking.
    #[serde(default)]
    pub proposed_execpolicy_amendment: Option<Value>,
    #[serde(default)]
    pub started_at_ms: Option<i64>,
}

/// `item/fileChange/requestApproval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChangeApprovalParams {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// A root the agent wants write access to for the rest of the session.
    #[serde(default)]
    pub grant_root: Option<String>,
    #[serde(default)]
    pub started_at_ms: Option<i64>,
}

/// One question of `item/tool/requestUserInput`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInputQuestion {
    pub id: String,
    #[serde(default)]
    pub header: String,
    #[serde(default)]
    pub question: String,
    #[serde(default)]
    pub is_other: bool,
    #[serde(default)]
    pub is_secret: bool,
    #[serde(default)]
    pub options: Option<Vec<Value>>,
}

/// `item/tool/requestUserInput`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolRequestUserInputParams {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    pub questions: Vec<UserInputQuestion>,
    #[serde(default)]
    pub is_blocking: bool,
}

/// `item/permissions/requestApproval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsApprovalParams {
    pub thread_id: String,
    pub turn_id: String,
    pub item_id: String,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The requested permission profile, kept raw.
    #[serde(default)]
    pub permissions: Value,
}

/// `mcpServer/elicitation/request` (form or URL mode; mode-specific fields kept raw in the
/// request's `raw_params`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpElicitationParams {
    pub thread_id: String,
    #[serde(default)]
    pub turn_id: Option<String>,
    pub server_name: String,
    /// `form` | `openai/form` | `openaiForm` | `url`.
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub requested_schema: Option<Value>,
    #[serde(default)]
    pub url: Option<String>,
}

/// `item/tool/call`: the model called a client-provided (dynamic) tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallParams {
    pub thread_id: String,
    pub turn_id: String,
    pub call_id: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub tool: String,
    #[serde(default)]
    pub arguments: Value,
}

/// One typed server request, as listed in [`SERVER_REQUESTS`].
#[derive(Debug, Clone, Copy)]
pub struct ServerRequestSpec {
    /// Wire method name.
    pub method: &'static str,
    /// The params type's name in the generated schema.
    pub params_schema: &'static str,
    /// Wire names of the fields our params type reads.
    pub params_fields: super::wire_fields::FieldsFn,
}

macro_rules! server_request_types {
    ($( $(#[$doc:meta])* $variant:ident => $method:literal, $ty:ty as $schema:literal; )*) => {
        /// Typed params of a server->client request.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ServerRequestParams {
            $( $(#[$doc])* $variant($ty), )*
            /// A method this client does not type (or params that failed to decode); raw.
            Unknown(Value),
        }

        impl ServerRequestParams {
            /// Decode `params` for `method`; never fails (falls back to `Unknown`).
            pub fn decode(method: &str, params: Value) -> Self {
                match method {
                    $(
                        $method => match <$ty as Deserialize>::deserialize(&params) {
                            Ok(p) => ServerRequestParams::$variant(p),
                            Err(e) => {
                                tracing::warn!(method, error = %e, %params,
                                    "app-server request params did not decode; surfaced as Unknown");
                                ServerRequestParams::Unknown(params)
                            }
                        },
                    )*
                    _ => ServerRequestParams::Unknown(params),
                }
            }
        }

        /// Every typed server request: the source of truth for the drift check.
        pub const SERVER_REQUESTS: &[ServerRequestSpec] = &[$(
            ServerRequestSpec {
                method: $method,
                params_schema: $schema,
                params_fields: || super::wire_fields::struct_fields::<$ty>(),
            },
        )*];
    };
}

server_request_types! {
    /// Run a shell command? Answer with [`Responder::respond_command_approval`].
    CommandExecutionApproval => "item/commandExecution/requestApproval", CommandExecutionApprovalParams as "CommandExecutionRequestApprovalParams";
    /// Apply a patch? Answer with [`Responder::respond_file_change_approval`].
    FileChangeApproval => "item/fileChange/requestApproval", FileChangeApprovalParams as "FileChangeRequestApprovalParams";
    /// Questions for the user. Answer with [`Responder::respond_user_input`].
    ToolRequestUserInput => "item/tool/requestUserInput", ToolRequestUserInputParams as "ToolRequestUserInputParams";
    /// Grant extra permissions? Answer with [`Responder::respond`] (`{permissions, scope}`).
    PermissionsApproval => "item/permissions/requestApproval", PermissionsApprovalParams as "PermissionsRequestApprovalParams";
    /// An MCP server asks the user something. Answer `{action, content, _meta}`.
    McpElicitation => "mcpServer/elicitation/request", McpElicitationParams as "McpServerElicitationRequestParams";
    /// A dynamic tool call. Answer `{contentItems, success}`.
    ToolCall => "item/tool/call", ToolCallParams as "DynamicToolCallParams";
}

/// Decision for a command approval (`CommandExecutionApprovalDecision` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandApprovalDecision {
    /// Run it, this once.
    Accept,
    /// Run it, and similar commands for the rest of the session.
    AcceptForSession,
    /// Run it and add this exec-policy amendment (`{"execpolicy_amendment": ...}`).
    AcceptWithExecpolicyAmendment(Value),
    /// Apply a network-policy amendment (`{"network_policy_amendment": ...}`).
    ApplyNetworkPolicyAmendment(Value),
    /// Do not run it; the model is told and the turn continues.
    Decline,
    /// Do not run it and stop the turn.
    Cancel,
}

/// Decision for a file-change approval (`FileChangeApprovalDecision` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FileChangeApprovalDecision {
    Accept,
    AcceptForSession,
    Decline,
    Cancel,
}

/// A server->client request waiting for an answer.
#[derive(Debug, Clone)]
pub struct ServerRequest {
    /// The server's id for this request (echoed in `serverRequest/resolved`).
    pub id: RequestId,
    /// Wire method name.
    pub method: String,
    /// Typed params (or `Unknown`).
    pub params: ServerRequestParams,
    /// The params exactly as received.
    pub raw_params: Value,
    responder: Responder,
}

impl ServerRequest {
    pub(crate) fn new(id: RequestId, method: String, params: Value, responder: Responder) -> Self {
        ServerRequest {
            id,
            params: ServerRequestParams::decode(&method, params.clone()),
            method,
            raw_params: params,
            responder,
        }
    }

    /// A storable, cloneable handle that answers this request.
    pub fn responder(&self) -> Responder {
        self.responder.clone()
    }

    /// The thread this request belongs to, when its params name one.
    pub fn thread_id(&self) -> Option<&str> {
        self.raw_params.get("threadId").and_then(Value::as_str)
    }
}

/// Answers one server->client request. Clone it freely; only the first answer is sent.
#[derive(Clone)]
pub struct Responder {
    inner: Arc<ResponderInner>,
}

struct ResponderInner {
    id: RequestId,
    method: String,
    answered: AtomicBool,
    writer: mpsc::Sender<WriterMsg>,
    /// Becomes true when the app-server process is gone.
    exited: watch::Receiver<bool>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("id", &self.inner.id)
            .field("method", &self.inner.method)
            .field("answered", &self.is_answered())
            .finish()
    }
}

impl Responder {
    pub(crate) fn new(
        id: RequestId,
        method: String,
        writer: mpsc::Sender<WriterMsg>,
        exited: watch::Receiver<bool>,
    ) -> Self {
        Responder {
            inner: Arc::new(ResponderInner {
                id,
                method,
                answered: AtomicBool::new(false),
                writer,
                exited,
            }),
        }
    }

    /// The id of the request this answers.
    pub fn request_id(&self) -> &RequestId {
        &self.inner.id
    }

    /// The method of the request this answers.
    pub fn method(&self) -> &str {
        &self.inner.method
    }

    /// Whether an answer has been sent (or attempted).
    pub fn is_answered(&self) -> bool {
        self.inner.answered.load(Ordering::SeqCst)
    }

    /// Answer with a raw JSON-RPC `result`.
    pub async fn respond(&self, result: Value) -> Result<()> {
        self.send(json!({"id": self.inner.id, "result": result}))
            .await
    }

    /// Answer with a JSON-RPC error (e.g. "this client does not support that request").
    pub async fn respond_error(&self, code: i64, message: impl Into<String>) -> Result<()> {
        self.send(json!({"id": self.inner.id, "error": {"code": code, "message": message.into()}}))
            .await
    }

    /// Answer a command approval.
    pub async fn respond_command_approval(&self, decision: CommandApprovalDecision) -> Result<()> {
        self.respond(json!({ "decision": decision })).await
    }

    /// Answer a file-change approval.
    pub async fn respond_file_change_approval(
        &self,
        decision: FileChangeApprovalDecision,
    ) -> Result<()> {
        self.respond(json!({ "decision": decision })).await
    }

    /// Answer `item/tool/requestUserInput`: question id -> chosen/typed answers.
    pub async fn respond_user_input(&self, answers: BTreeMap<String, Vec<String>>) -> Result<()> {
        let answers: BTreeMap<String, Value> = answers
            .into_iter()
            .map(|(id, a)| (id, json!({ "answers": a })))
            .collect();
        self.respond(json!({ "answers": answers })).await
    }

    async fn send(&self, message: Value) -> Result<()> {
        if self.inner.answered.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyAnswered {
                method: self.inner.method.clone(),
                id: self.inner.id.to_string(),
            });
        }
        let gone = || Error::Closed {
            reason: format!(
                "app-server is gone; could not answer {} (id {})",
                self.inner.method, self.inner.id
            ),
        };
        if *self.inner.exited.borrow() {
            return Err(gone());
        }
        self.inner
            .writer
            .send(WriterMsg::Line(message.to_string()))
            .await
            .map_err(|_| gone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_serialise_as_upstream_expects() {
        assert_eq!(
            serde_json::to_value(CommandApprovalDecision::AcceptForSession).ok(),
            Some(json!("acceptForSession"))
        );
        assert_eq!(
            serde_json::to_value(CommandApprovalDecision::AcceptWithExecpolicyAmendment(
                json!({"execpolicy_amendment": ["ls"]})
            ))
            .ok(),
            Some(json!({"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["ls"]}}))
        );
        assert_eq!(
            serde_json::to_value(FileChangeApprovalDecision::Decline).ok(),
            Some(json!("decline"))
        );
    }

    #[tokio::test]
    async fn answering_twice_is_an_error_and_sends_once() {
        let (tx, mut rx) = mpsc::channel(4);
        let (_exited_tx, exited) = watch::channel(false);
        let r = Responder::new(
            RequestId::Integer(7),
            "item/fileChange/requestApproval".into(),
            tx,
            exited,
        );
        let clone = r.clone();
        r.respond_file_change_approval(FileChangeApprovalDecision::Accept)
            .await
            .expect("first answer");
        let err = clone
            .respond_command_approval(CommandApprovalDecision::Decline)
            .await
            .expect_err("second answer must fail");
        assert!(matches!(err, Error::AlreadyAnswered { .. }), "{err}");
        let Some(WriterMsg::Line(line)) = rx.recv().await else {
            panic!("expected one line");
        };
        assert_eq!(
            serde_json::from_str::<Value>(&line).ok(),
            Some(json!({"id": 7, "result": {"decision": "accept"}}))
        );
        assert!(rx.try_recv().is_err(), "only one answer is sent");
    }

    #[tokio::test]
    async fn answering_after_the_process_exited_is_a_clear_error() {
        let (tx, _rx) = mpsc::channel(4);
        let (exited_tx, exited) = watch::channel(false);
        let r = Responder::new(RequestId::Integer(1), "item/tool/call".into(), tx, exited);
        exited_tx.send_replace(true);
        let err = r.respond(json!({})).await.expect_err("process gone");
        assert!(
            matches!(&err, Error::Closed { reason } if reason.contains("item/tool/call")),
            "{err}"
        );
    }

    #[test]
    fn params_decode_with_unknown_fallback() {
        let p = ServerRequestParams::decode(
            "item/commandExecution/requestApproval",
            json!({"threadId": "t", "turnId": "u", "itemId": "i", "command": "touch x", "new": true}),
        );
        let ServerRequestParams::CommandExecutionApproval(p) = p else {
            panic!("expected typed params, got {p:?}");
        };
        assert_eq!(p.command.as_deref(), Some("touch x"));
        let p = ServerRequestParams::decode("attestation/generate", json!({"x": 1}));
        assert_eq!(p, ServerRequestParams::Unknown(json!({"x": 1})));
    }
}
