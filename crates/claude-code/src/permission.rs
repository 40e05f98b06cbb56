//! CLI -> host control requests and the [`Responder`] that answers them.
//!
//! They reach the caller as [`crate::SessionEvent::PermissionRequest`] (a `can_use_tool`) or
//! [`crate::SessionEvent::ControlRequest`] (anything else), and are NEVER answered by this crate
//! on the caller's behalf — with one exception that is a refusal, never an acceptance: when the
//! caller dropped the event receiver, nobody can ever answer, so the transport answers with an
//! error instead of leaving the CLI waiting forever.
//!
//! The responder is cheap to clone and can be stored (in an approval queue) and used later from
//! any task. The first answer wins; a second is [`Error::AlreadyAnswered`]. When the CLI withdrew
//! the request (`control_cancel_request`, e.g. after an interrupt) an answer is
//! [`Error::RequestCancelled`] and nothing is sent (the CLI would ignore it).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::protocol::control::{
    self, CanUseToolRequest, IncomingControlRequest, PermissionDecision, PermissionDestination,
    PermissionUpdate,
};
use crate::session::WriterMsg;
use crate::{Error, Result};

const PENDING: u8 = 0;
const ANSWERED: u8 = 1;
const CANCELLED: u8 = 2;

/// Answers one CLI -> host control request. Clone it freely; only the first answer is sent.
#[derive(Clone)]
pub struct Responder {
    inner: Arc<ResponderInner>,
}

struct ResponderInner {
    request_id: String,
    subtype: String,
    state: AtomicU8,
    writer: mpsc::Sender<WriterMsg>,
    /// Becomes true when the CLI process is gone.
    exited: watch::Receiver<bool>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("request_id", &self.inner.request_id)
            .field("subtype", &self.inner.subtype)
            .field("answered", &self.is_answered())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Responder {
    pub(crate) fn new(
        request_id: String,
        subtype: String,
        writer: mpsc::Sender<WriterMsg>,
        exited: watch::Receiver<bool>,
    ) -> Self {
        Responder {
            inner: Arc::new(ResponderInner {
                request_id,
                subtype,
                state: AtomicU8::new(PENDING),
                writer,
                exited,
            }),
        }
    }

    /// The CLI's id for the request.
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    /// The request's subtype (`can_use_tool`, ...).
    pub fn subtype(&self) -> &str {
        &self.inner.subtype
    }

    /// Whether an answer has been sent (or attempted).
    pub fn is_answered(&self) -> bool {
        self.inner.state.load(Ordering::SeqCst) == ANSWERED
    }

    /// Whether the CLI withdrew the request before it was answered.
    pub fn is_cancelled(&self) -> bool {
        self.inner.state.load(Ordering::SeqCst) == CANCELLED
    }

    /// Marks the request withdrawn; false if it was already answered.
    pub(crate) fn cancel(&self) -> bool {
        self.inner
            .state
            .compare_exchange(PENDING, CANCELLED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Answers with success and this `response` object.
    pub async fn respond_success(&self, response: Value) -> Result<()> {
        self.send(control::success_line(&self.inner.request_id, response))
            .await
    }

    /// Answers with an error (e.g. "this host does not support that request").
    pub async fn respond_error(&self, message: &str) -> Result<()> {
        self.send(control::error_line(&self.inner.request_id, message))
            .await
    }

    async fn send(&self, line: Value) -> Result<()> {
        match self.inner.state.compare_exchange(
            PENDING,
            ANSWERED,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => {}
            Err(CANCELLED) => {
                return Err(Error::RequestCancelled {
                    subtype: self.inner.subtype.clone(),
                    request_id: self.inner.request_id.clone(),
                });
            }
            Err(_) => {
                return Err(Error::AlreadyAnswered {
                    subtype: self.inner.subtype.clone(),
                    request_id: self.inner.request_id.clone(),
                });
            }
        }
        let gone = || Error::Closed {
            reason: format!(
                "claude is gone; could not answer {} (id {})",
                self.inner.subtype, self.inner.request_id
            ),
        };
        if *self.inner.exited.borrow() {
            return Err(gone());
        }
        self.inner
            .writer
            .send(WriterMsg::Line(line.to_string()))
            .await
            .map_err(|_| gone())
    }
}

/// A `can_use_tool` request: the CLI waits (the turn is paused) until it is answered.
#[derive(Debug, Clone)]
pub struct PermissionRequest {
    /// What the CLI asked.
    pub request: CanUseToolRequest,
    responder: Responder,
}

impl PermissionRequest {
    pub(crate) fn new(request: CanUseToolRequest, responder: Responder) -> Self {
        PermissionRequest { request, responder }
    }

    /// The CLI's id for this request.
    pub fn request_id(&self) -> &str {
        self.responder.request_id()
    }

    /// The tool that wants to run (`Bash`, `Edit`, `Write`, `mcp__server__tool`, ...).
    pub fn tool_name(&self) -> &str {
        &self.request.tool_name
    }

    /// The tool's input as the model produced it.
    pub fn input(&self) -> &Value {
        &self.request.input
    }

    /// A storable handle that answers this request.
    pub fn responder(&self) -> Responder {
        self.responder.clone()
    }

    /// Sends a decision.
    pub async fn decide(&self, decision: PermissionDecision) -> Result<()> {
        self.responder.respond_success(decision.to_wire()).await
    }

    /// Allow this once, with the input as proposed.
    pub async fn allow(&self) -> Result<()> {
        self.decide(PermissionDecision::Allow {
            updated_input: None,
            updated_permissions: Vec::new(),
        })
        .await
    }

    /// Allow this once, with an edited input.
    pub async fn allow_with_input(&self, input: Value) -> Result<()> {
        self.decide(PermissionDecision::Allow {
            updated_input: Some(input),
            updated_permissions: Vec::new(),
        })
        .await
    }

    /// Allow, and apply these permission updates first.
    pub async fn allow_with_permissions(&self, updates: Vec<PermissionUpdate>) -> Result<()> {
        self.decide(PermissionDecision::Allow {
            updated_input: None,
            updated_permissions: updates,
        })
        .await
    }

    /// Allow, and don't ask again for the same thing in this process: the CLI's own
    /// suggestions ([`Self::session_updates`]) stored with destination `session`, so nothing
    /// is written to any settings file.
    pub async fn allow_for_session(&self) -> Result<()> {
        self.allow_with_permissions(self.session_updates()).await
    }

    /// What [`Self::allow_for_session`] sends: the suggested rule and directory grants, with
    /// destination `session`. A suggested mode change (`setMode acceptEdits`, which allows ALL
    /// edits) is used only when it is the only suggestion, as for `Edit`/`Write` prompts, where
    /// it is what "allow edits for this session" means in the CLI's own UI.
    pub fn session_updates(&self) -> Vec<PermissionUpdate> {
        let suggestions = &self.request.permission_suggestions;
        let grants: Vec<PermissionUpdate> = suggestions
            .iter()
            .filter(|u| {
                matches!(
                    u,
                    PermissionUpdate::AddRules(_) | PermissionUpdate::AddDirectories(_)
                )
            })
            .cloned()
            .collect();
        let chosen = if grants.is_empty() {
            suggestions
                .iter()
                .filter(|u| matches!(u, PermissionUpdate::SetMode(_)))
                .cloned()
                .collect()
        } else {
            grants
        };
        chosen
            .into_iter()
            .map(|u| u.with_destination(PermissionDestination::Session))
            .collect()
    }

    /// Refuse; the model sees `message` as the tool's error result and the turn goes on.
    pub async fn deny(&self, message: impl Into<String>) -> Result<()> {
        self.decide(PermissionDecision::Deny {
            message: message.into(),
            interrupt: false,
        })
        .await
    }

    /// Refuse and stop the turn.
    pub async fn deny_and_interrupt(&self, message: impl Into<String>) -> Result<()> {
        self.decide(PermissionDecision::Deny {
            message: message.into(),
            interrupt: true,
        })
        .await
    }
}

/// A CLI -> host control request other than `can_use_tool` (raw), with its responder.
#[derive(Debug, Clone)]
pub struct HostRequest {
    pub request_id: String,
    pub request: IncomingControlRequest,
    responder: Responder,
}

impl HostRequest {
    pub(crate) fn new(
        request_id: String,
        request: IncomingControlRequest,
        responder: Responder,
    ) -> Self {
        HostRequest {
            request_id,
            request,
            responder,
        }
    }

    /// A storable handle that answers this request.
    pub fn responder(&self) -> Responder {
        self.responder.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(suggestions: Value) -> (PermissionRequest, mpsc::Receiver<WriterMsg>) {
        let (tx, rx) = mpsc::channel(4);
        // A watch receiver still reads the last value after its sender is dropped, which is
        // all `send` looks at.
        let (_exited_tx, exited) = watch::channel(false);
        let responder = Responder::new("req-1".into(), "can_use_tool".into(), tx, exited);
        let req: CanUseToolRequest = serde_json::from_value(json!({
            "tool_name": "Bash", "input": {"command": "touch x"},
            "permission_suggestions": suggestions,
        }))
        .expect("request");
        (PermissionRequest::new(req, responder), rx)
    }

    async fn sent(rx: &mut mpsc::Receiver<WriterMsg>) -> Value {
        match rx.recv().await {
            Some(WriterMsg::Line(l)) => serde_json::from_str(&l).expect("json line"),
            other => panic!("expected a line, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn first_answer_wins_and_is_sent_once() {
        let (req, mut rx) = request(json!([]));
        let clone = req.clone();
        req.allow().await.expect("first answer");
        let err = clone.deny("late").await.expect_err("second answer");
        assert!(matches!(err, Error::AlreadyAnswered { .. }), "{err}");
        assert_eq!(
            sent(&mut rx).await,
            json!({"type": "control_response", "response": {
                "subtype": "success", "request_id": "req-1", "response": {"behavior": "allow"}}})
        );
        assert!(rx.try_recv().is_err(), "only one answer is sent");
    }

    #[tokio::test]
    async fn a_cancelled_request_sends_nothing() {
        let (req, mut rx) = request(json!([]));
        assert!(req.responder().cancel());
        let err = req.allow().await.expect_err("cancelled");
        assert!(matches!(err, Error::RequestCancelled { .. }), "{err}");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn session_updates_prefer_rules_and_directories_and_never_persist() {
        let (req, _rx) = request(json!([
            {"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "touch x"}],
             "behavior": "allow", "destination": "localSettings"},
            {"type": "addDirectories", "directories": ["/w"], "destination": "session"},
            {"type": "setMode", "mode": "acceptEdits", "destination": "session"}
        ]));
        let updates = serde_json::to_value(req.session_updates()).expect("encode");
        assert_eq!(
            updates,
            json!([
                {"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "touch x"}],
                 "behavior": "allow", "destination": "session"},
                {"type": "addDirectories", "directories": ["/w"], "destination": "session"}
            ])
        );
        let (edit, _rx) = request(json!([
            {"type": "setMode", "mode": "acceptEdits", "destination": "session"}
        ]));
        assert_eq!(
            serde_json::to_value(edit.session_updates()).expect("encode"),
            json!([{"type": "setMode", "mode": "acceptEdits", "destination": "session"}])
        );
    }
}
