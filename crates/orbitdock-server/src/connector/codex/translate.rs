//! Where a Codex app-server notification or server request becomes OrbitDock's neutral
//! [`SessionEvent`]s and [`ApprovalRequest`]s — the ONLY place that does it.
//!
//! * [`notification`] maps each `ServerNotification` to the events of one thread (items and
//!   their streamed text, turn start/end, usage, plan, diff, name, errors, withdrawn requests),
//!   to account-wide rate limits, or to nothing (notifications the hub does not use).
//! * [`request`] maps each server->client request to an [`ApprovalRequest`] whose reply handle
//!   ([`CodexReply`]) answers through codex-client's typed responders. Requests the hub cannot
//!   serve (dynamic tool calls, kinds it does not know) are refused at once so Codex never waits
//!   on us; nothing is ever accepted on a person's behalf.
//!
//! Item bodies are converted by [`super::items`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use codex_client::app_server::server_requests::{
    CommandApprovalDecision, FileChangeApprovalDecision,
};
use codex_client::app_server::{
    Responder, ServerNotification, ServerRequest, ServerRequestParams, TurnStatus as CodexTurn,
};
use orbitdock_protocol::{
    ApprovalDecision, ApprovalKind, ItemBody, ItemStatus, McpStartupState, Plan, PlanStep,
    PlanStepStatus, Question, RateLimitWindow, RateLimits, TextStream, TokenUsage, TurnStatus,
};
use serde_json::{Value, json};

use super::items::convert_item;
use crate::error::{Error, Result};
use crate::session::{ApprovalAnswer, ApprovalReply, ApprovalRequest, SessionEvent, now_ms};

/// What one notification means to the hub.
#[derive(Debug, PartialEq)]
pub enum Translated {
    /// Events of one thread.
    Thread {
        /// The thread.
        thread_id: String,
        /// Its events, in order.
        events: Vec<SessionEvent>,
    },
    /// Account-wide rate limits.
    RateLimits(RateLimits),
    /// Nothing the hub uses (logged at debug level by the caller).
    Ignored,
}

/// Translates one app-server notification.
pub fn notification(n: ServerNotification) -> Translated {
    use ServerNotification as N;
    let thread =
        |thread_id: String, events: Vec<SessionEvent>| Translated::Thread { thread_id, events };
    let text = |thread_id: String, turn_id: String, item_id: String, stream, delta: String| {
        thread(
            thread_id,
            vec![SessionEvent::ItemText {
                turn_id: Some(turn_id),
                item_id,
                stream,
                delta,
            }],
        )
    };
    match n {
        N::TurnStarted(t) => thread(
            t.thread_id,
            vec![SessionEvent::TurnStarted { turn_id: t.turn.id }],
        ),
        N::TurnCompleted(t) => thread(
            t.thread_id,
            vec![SessionEvent::TurnEnded {
                turn_id: t.turn.id,
                status: turn_status(&t.turn.status),
                error: t.turn.error.map(|e| e.message),
            }],
        ),
        N::ItemStarted(i) => {
            let (item_id, status, body) = convert_item(&i.item, false);
            thread(
                i.thread_id,
                vec![SessionEvent::Item {
                    turn_id: Some(i.turn_id),
                    item_id,
                    status,
                    body,
                }],
            )
        }
        N::ItemCompleted(i) => {
            // Authoritative: replaces what streamed (the core keeps streamed text the final
            // item leaves empty).
            let (item_id, status, body) = convert_item(&i.item, true);
            thread(
                i.thread_id,
                vec![SessionEvent::Item {
                    turn_id: Some(i.turn_id),
                    item_id,
                    status,
                    body,
                }],
            )
        }
        N::AgentMessageDelta(d) => {
            text(d.thread_id, d.turn_id, d.item_id, TextStream::Text, d.delta)
        }
        N::PlanDelta(d) => text(d.thread_id, d.turn_id, d.item_id, TextStream::Text, d.delta),
        N::CommandExecutionOutputDelta(d) => text(
            d.thread_id,
            d.turn_id,
            d.item_id,
            TextStream::Output,
            d.delta,
        ),
        N::ReasoningTextDelta(d) => text(
            d.thread_id,
            d.turn_id,
            d.item_id,
            TextStream::Reasoning,
            d.delta,
        ),
        N::ReasoningSummaryTextDelta(d) => text(
            d.thread_id,
            d.turn_id,
            d.item_id,
            TextStream::ReasoningSummary,
            d.delta,
        ),
        N::TurnDiffUpdated(d) => thread(d.thread_id, vec![SessionEvent::Diff(d.diff)]),
        N::TurnPlanUpdated(p) => thread(
            p.thread_id,
            vec![SessionEvent::Plan(Plan {
                turn_id: Some(p.turn_id),
                explanation: p.explanation,
                steps: p
                    .plan
                    .into_iter()
                    .map(|s| PlanStep {
                        step: s.step,
                        status: plan_step_status(&s.status),
                    })
                    .collect(),
            })],
        ),
        N::ThreadTokenUsageUpdated(u) => {
            let t = u.token_usage;
            thread(
                u.thread_id,
                vec![SessionEvent::TokenUsage(TokenUsage {
                    input_tokens: t.total.input_tokens.max(0) as u64,
                    output_tokens: t.total.output_tokens.max(0) as u64,
                    cached_input_tokens: t.total.cached_input_tokens.max(0) as u64,
                    reasoning_output_tokens: t.total.reasoning_output_tokens.max(0) as u64,
                    total_tokens: t.total.total_tokens.max(0) as u64,
                    context_window: t.model_context_window.map(|c| c.max(0) as u64),
                    last_input_tokens: t.last.input_tokens.max(0) as u64,
                })],
            )
        }
        N::ThreadNameUpdated(n) => thread(n.thread_id, vec![SessionEvent::Renamed(n.thread_name)]),
        N::Error(e) => {
            let message = if e.will_retry {
                format!("{} (retrying)", e.error.message)
            } else {
                e.error.message
            };
            thread(
                e.thread_id,
                vec![SessionEvent::Item {
                    turn_id: Some(e.turn_id).filter(|t| !t.is_empty()),
                    item_id: format!("error-{}", uuid::Uuid::new_v4()),
                    status: ItemStatus::Completed,
                    body: ItemBody::Error { message },
                }],
            )
        }
        N::ServerRequestResolved(r) => thread(
            r.thread_id,
            vec![SessionEvent::ApprovalWithdrawn {
                request_id: r.request_id.to_string(),
            }],
        ),
        N::ThreadClosed(c) => thread(c.thread_id, vec![SessionEvent::Detached]),
        N::AccountRateLimitsUpdated(r) => Translated::RateLimits(rate_limits(&r.rate_limits)),
        N::McpServerStartupStatus(m) => {
            // `starting` is transient (the session's MCP pill shows it); the outcome is what
            // belongs in the transcript.
            let state = McpStartupState::parse(&m.status);
            match (m.thread_id, state) {
                (Some(thread_id), state) if state != McpStartupState::Starting => thread(
                    thread_id,
                    vec![SessionEvent::Item {
                        turn_id: None,
                        item_id: format!("mcp-{}-{}", m.name, uuid::Uuid::new_v4()),
                        status: ItemStatus::Completed,
                        body: ItemBody::McpServerStatus {
                            server: m.name,
                            state,
                            error: m.error,
                        },
                    }],
                ),
                _ => Translated::Ignored,
            }
        }
        N::ThreadGoalUpdated(g) => thread(
            g.thread_id,
            vec![SessionEvent::Item {
                turn_id: g.turn_id,
                item_id: format!("goal-{}", uuid::Uuid::new_v4()),
                status: ItemStatus::Completed,
                body: ItemBody::Goal {
                    goal: Some(super::around::goal(g.goal)),
                },
            }],
        ),
        N::ThreadGoalCleared(g) => thread(
            g.thread_id,
            vec![SessionEvent::Item {
                turn_id: None,
                item_id: format!("goal-{}", uuid::Uuid::new_v4()),
                status: ItemStatus::Completed,
                body: ItemBody::Goal { goal: None },
            }],
        ),
        N::Warning(w) => {
            tracing::info!(warning = %w.message, "codex warning");
            Translated::Ignored
        }
        _ => Translated::Ignored,
    }
}

fn turn_status(s: &CodexTurn) -> TurnStatus {
    match s {
        CodexTurn::Completed => TurnStatus::Completed,
        CodexTurn::Interrupted => TurnStatus::Interrupted,
        CodexTurn::Failed => TurnStatus::Failed,
        CodexTurn::InProgress => TurnStatus::InProgress,
        CodexTurn::Unknown(s) => TurnStatus::Unknown(s.clone()),
    }
}

/// Codex spells plan-step statuses in camelCase (`inProgress`); ours are snake_case.
fn plan_step_status(s: &str) -> PlanStepStatus {
    match s {
        "pending" => PlanStepStatus::Pending,
        "inProgress" | "in_progress" => PlanStepStatus::InProgress,
        "completed" => PlanStepStatus::Completed,
        other => PlanStepStatus::Unknown(other.to_owned()),
    }
}

/// Codex rate limits as ours.
pub fn rate_limits(r: &codex_client::app_server::thread::RateLimitSnapshot) -> RateLimits {
    let w = |w: &codex_client::app_server::thread::RateLimitWindow| RateLimitWindow {
        used_percent: w.used_percent as f64,
        window_minutes: w.window_duration_mins.map(|m| m.max(0) as u64),
        resets_at: w.resets_at,
    };
    RateLimits {
        primary: r.primary.as_ref().map(w),
        secondary: r.secondary.as_ref().map(w),
        plan_type: r.plan_type.as_ref().map(|p| match p {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        updated_at: now_ms(),
    }
}

/// A server request the hub cannot serve: refused at once, with a notice for the thread.
#[derive(Debug)]
pub struct Unsupported {
    /// The thread it concerned.
    pub thread_id: Option<String>,
    /// The method.
    pub method: String,
}

/// Translates one server->client request into an approval a person answers, or refuses it.
pub async fn request(
    r: ServerRequest,
) -> std::result::Result<(Option<String>, ApprovalRequest), Unsupported> {
    let thread_id = r.thread_id().map(str::to_owned);
    let kind = match &r.params {
        ServerRequestParams::CommandExecutionApproval(_) => ApprovalKind::Command,
        ServerRequestParams::FileChangeApproval(_) => ApprovalKind::FileChange,
        ServerRequestParams::ToolRequestUserInput(_) => ApprovalKind::Question,
        ServerRequestParams::PermissionsApproval(_) => ApprovalKind::Permissions,
        ServerRequestParams::McpElicitation(_) => ApprovalKind::Elicitation,
        other => {
            // Dynamic tool calls and request kinds we do not know: refusing is the safe answer
            // (nothing is accepted) and Codex never hangs waiting for us.
            tracing::warn!(method = %r.method, params = ?other, "unsupported server request; refusing");
            let responder = r.responder();
            if let Err(e) = responder
                .respond_error(-32601, format!("OrbitDock does not support {}", r.method))
                .await
            {
                tracing::warn!(error = %e, "could not refuse request");
            }
            return Err(Unsupported {
                thread_id,
                method: r.method,
            });
        }
    };
    let reply = Arc::new(CodexReply {
        responder: r.responder(),
        kind,
        raw: r.raw_params.clone(),
    });
    let mut a = ApprovalRequest::new(r.id.to_string(), kind, reply);
    a.raw = r.raw_params.clone();
    match &r.params {
        ServerRequestParams::CommandExecutionApproval(p) => {
            a.item_id = Some(p.item_id.clone());
            a.turn_id = Some(p.turn_id.clone());
            a.command = p.command.clone();
            a.cwd = p.cwd.clone();
            a.reason = p.reason.clone();
        }
        ServerRequestParams::FileChangeApproval(p) => {
            a.item_id = Some(p.item_id.clone());
            a.turn_id = Some(p.turn_id.clone());
            a.reason = p.reason.clone();
        }
        ServerRequestParams::ToolRequestUserInput(p) => {
            let questions: Vec<Question> = p
                .questions
                .iter()
                .map(|q| Question {
                    id: q.id.clone(),
                    header: q.header.clone(),
                    question: q.question.clone(),
                    options: q
                        .options
                        .iter()
                        .flatten()
                        .filter_map(|o| {
                            o.get("label")
                                .and_then(Value::as_str)
                                .or_else(|| o.as_str())
                                .map(str::to_owned)
                        })
                        .collect(),
                    is_secret: q.is_secret,
                })
                .collect();
            a.item_id = Some(p.item_id.clone());
            a.turn_id = Some(p.turn_id.clone());
            a.question = questions.first().map(|q| q.question.clone());
            a.questions = Some(questions);
        }
        ServerRequestParams::PermissionsApproval(p) => {
            a.item_id = Some(p.item_id.clone());
            a.turn_id = Some(p.turn_id.clone());
            a.cwd = p.cwd.clone();
            a.reason = p.reason.clone();
        }
        ServerRequestParams::McpElicitation(p) => {
            a.turn_id = p.turn_id.clone();
            a.question = Some(p.message.clone());
            a.reason = Some(elicitation_reason(&p.server_name, &r.raw_params));
            // One field per property of the requested form; none for a plain yes/no (Codex's
            // own "may this MCP tool run?" elicitation has an empty form).
            a.questions = Some(elicitation_questions(p.requested_schema.as_ref()));
        }
        _ => {}
    }
    Ok((thread_id, a))
}

/// Answers one Codex server request with the typed responder for its kind.
#[derive(Debug)]
pub struct CodexReply {
    responder: Responder,
    kind: ApprovalKind,
    raw: Value,
}

#[async_trait]
impl ApprovalReply for CodexReply {
    async fn answer(&self, answer: &ApprovalAnswer) -> Result<()> {
        use ApprovalDecision as D;
        let r = &self.responder;
        let sent = match self.kind {
            ApprovalKind::Command => {
                r.respond_command_approval(match answer.decision {
                    D::Accept => CommandApprovalDecision::Accept,
                    D::AcceptForSession => CommandApprovalDecision::AcceptForSession,
                    D::Decline => CommandApprovalDecision::Decline,
                    D::Cancel => CommandApprovalDecision::Cancel,
                })
                .await
            }
            ApprovalKind::FileChange => {
                r.respond_file_change_approval(match answer.decision {
                    D::Accept => FileChangeApprovalDecision::Accept,
                    D::AcceptForSession => FileChangeApprovalDecision::AcceptForSession,
                    D::Decline => FileChangeApprovalDecision::Decline,
                    D::Cancel => FileChangeApprovalDecision::Cancel,
                })
                .await
            }
            ApprovalKind::Question => {
                // Declining a question answers nothing: the model sees empty answers.
                let answers = match answer.decision {
                    D::Accept | D::AcceptForSession => answer.answers.clone().unwrap_or_default(),
                    D::Decline | D::Cancel => BTreeMap::new(),
                };
                r.respond_user_input(answers).await
            }
            ApprovalKind::Permissions => {
                // `PermissionsRequestApprovalResponse`: the granted subset and its scope; a
                // refusal grants nothing.
                let result = match answer.decision {
                    D::Accept | D::AcceptForSession => json!({
                        "permissions": self.raw.get("permissions").cloned().unwrap_or_else(|| json!({})),
                        "scope": if answer.decision == D::AcceptForSession { "session" } else { "turn" },
                    }),
                    D::Decline | D::Cancel => json!({ "permissions": {}, "scope": "turn" }),
                };
                r.respond(result).await
            }
            ApprovalKind::Elicitation => {
                // `McpServerElicitationRequestResponse`: content only when accepted.
                let (action, content) = match answer.decision {
                    D::Accept | D::AcceptForSession => (
                        "accept",
                        answer
                            .answers
                            .as_ref()
                            .map(|a| elicitation_content(a, self.raw.get("requestedSchema")))
                            .unwrap_or_else(|| json!({})),
                    ),
                    D::Decline => ("decline", Value::Null),
                    D::Cancel => ("cancel", Value::Null),
                };
                r.respond(json!({
                    "action": action,
                    "content": content,
                    "_meta": elicitation_meta(answer.decision, &self.raw),
                }))
                .await
            }
            ApprovalKind::Unknown => {
                r.respond_error(-32601, "OrbitDock cannot answer this request kind")
                    .await
            }
        };
        sent.map_err(|e| Error::agent("answer approval", e))
    }

    async fn refuse(&self, message: &str) -> Result<()> {
        self.responder
            .respond_error(-32601, message.to_owned())
            .await
            .map_err(|e| Error::agent("refuse request", e))
    }
}

/// `_meta` of an elicitation's answer: "for this session" becomes `{"persist": "session"}` when
/// the request offers it (Codex's tool-run approvals list `persist: ["session", "always"]`; with
/// it Codex stops asking for that tool in the thread). "always" (which makes Codex write an
/// approval into config.toml) is never sent: the hub approves no more than what was asked.
fn elicitation_meta(decision: ApprovalDecision, raw: &Value) -> Value {
    let offers_session = raw.pointer("/_meta/persist").is_some_and(|p| match p {
        Value::Array(a) => a.iter().any(|v| v == "session"),
        v => v == "session",
    });
    if decision == ApprovalDecision::AcceptForSession && offers_session {
        json!({ "persist": "session" })
    } else {
        Value::Null
    }
}

/// Who asks, for the card: the MCP server, and for Codex's tool-call approvals the tool.
fn elicitation_reason(server: &str, raw: &Value) -> String {
    let meta = raw.get("_meta");
    match (
        meta.and_then(|m| m.get("codex_approval_kind"))
            .and_then(Value::as_str),
        meta.and_then(|m| m.get("tool_name"))
            .and_then(Value::as_str),
    ) {
        (Some("mcp_tool_call"), Some(tool)) => {
            format!("MCP server {server} wants to run its tool {tool}")
        }
        _ => format!("MCP server {server}"),
    }
}

/// The form's fields as questions: id = property name, the text from its title/description,
/// options from an `enum` (or `oneOf` consts, or `true`/`false` for a boolean).
fn elicitation_questions(schema: Option<&Value>) -> Vec<Question> {
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| {
            let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
            let mut options: Vec<String> = p
                .get("enum")
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if options.is_empty() {
                options = p
                    .get("oneOf")
                    .and_then(Value::as_array)
                    .map(|e| {
                        e.iter()
                            .filter_map(|v| v.get("const").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
            }
            if options.is_empty() && p.get("type").and_then(Value::as_str) == Some("boolean") {
                options = vec!["true".into(), "false".into()];
            }
            Question {
                id: name.clone(),
                header: text("title").unwrap_or_else(|| name.clone()),
                question: text("description")
                    .or_else(|| text("title"))
                    .unwrap_or_else(|| name.clone()),
                options,
                is_secret: false,
            }
        })
        .collect()
}

/// Elicitation fields as an object, each value typed as the form's schema says (numbers and
/// booleans as such, so the MCP server's validation accepts them); several answers as arrays.
fn elicitation_content(answers: &BTreeMap<String, Vec<String>>, schema: Option<&Value>) -> Value {
    let kind = |k: &str| {
        schema
            .and_then(|s| s.get("properties"))
            .and_then(|p| p.get(k))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
    };
    let typed = |k: &str, v: &str| -> Value {
        let v = v.trim();
        match kind(k) {
            Some("integer") => v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(v)),
            Some("number") => v
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(v)),
            Some("boolean") => v
                .parse::<bool>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(v)),
            _ => json!(v),
        }
    };
    Value::Object(
        answers
            .iter()
            .map(|(k, v)| {
                let value = match v.as_slice() {
                    [one] => typed(k, one),
                    many => Value::Array(many.iter().map(|m| typed(k, m)).collect()),
                };
                (k.clone(), value)
            })
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn n(method: &str, params: Value) -> ServerNotification {
        ServerNotification::decode(method, params)
    }

    #[test]
    fn deltas_and_turn_ends_become_thread_events() {
        assert_eq!(
            notification(n(
                "item/agentMessage/delta",
                json!({"threadId": "t", "turnId": "u", "itemId": "i", "delta": "he"})
            )),
            Translated::Thread {
                thread_id: "t".into(),
                events: vec![SessionEvent::ItemText {
                    turn_id: Some("u".into()),
                    item_id: "i".into(),
                    stream: TextStream::Text,
                    delta: "he".into()
                }]
            }
        );
        let Translated::Thread { events, .. } = notification(n(
            "turn/completed",
            json!({"threadId": "t", "turn": {"id": "u", "status": "interrupted", "items": [], "error": null}}),
        )) else {
            panic!("not a thread event");
        };
        assert_eq!(
            events,
            vec![SessionEvent::TurnEnded {
                turn_id: "u".into(),
                status: TurnStatus::Interrupted,
                error: None
            }]
        );
    }

    #[test]
    fn plan_steps_are_typed() {
        let Translated::Thread { events, .. } = notification(n(
            "turn/plan/updated",
            json!({"threadId": "t", "turnId": "u", "explanation": null,
                   "plan": [{"step": "a", "status": "inProgress"}, {"step": "b", "status": "someday"}]}),
        )) else {
            panic!("not a thread event");
        };
        let [SessionEvent::Plan(p)] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(p.steps[0].status, PlanStepStatus::InProgress);
        assert_eq!(p.steps[1].status, PlanStepStatus::Unknown("someday".into()));
    }

    #[test]
    fn unused_notifications_are_ignored() {
        assert_eq!(
            notification(n("brand/newThing", json!({"threadId": "t"}))),
            Translated::Ignored
        );
    }

    #[test]
    fn elicitation_content_keeps_single_values_scalar() {
        let mut a = BTreeMap::new();
        a.insert("name".to_owned(), vec!["x".to_owned()]);
        a.insert("tags".to_owned(), vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            elicitation_content(&a, None),
            json!({"name": "x", "tags": ["a", "b"]})
        );
    }

    #[test]
    fn elicitation_forms_become_questions_and_typed_content() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string", "description": "The name to greet."},
            "age": {"type": "integer", "title": "Age"},
            "ratio": {"type": "number"},
            "ok": {"type": "boolean"},
            "color": {"type": "string", "enum": ["red", "blue"]},
        }, "required": ["name"]});
        let q = elicitation_questions(Some(&schema));
        let by = |id: &str| q.iter().find(|q| q.id == id).unwrap().clone();
        assert_eq!(by("name").question, "The name to greet.");
        assert_eq!(by("age").header, "Age");
        assert_eq!(by("color").options, ["red", "blue"]);
        assert_eq!(by("ok").options, ["true", "false"]);
        assert!(
            elicitation_questions(Some(&json!({"type": "object", "properties": {}}))).is_empty()
        );
        assert!(elicitation_questions(None).is_empty());
        let a: BTreeMap<String, Vec<String>> = [
            ("name", "Ada"),
            ("age", "36"),
            ("ratio", "0.5"),
            ("ok", "true"),
            ("color", "blue"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
        .collect();
        assert_eq!(
            elicitation_content(&a, Some(&schema)),
            json!({"name": "Ada", "age": 36, "ratio": 0.5, "ok": true, "color": "blue"})
        );
        // A value that does not fit its type is passed on as typed, for the server to judge.
        let bad = BTreeMap::from([("age".to_owned(), vec!["old".to_owned()])]);
        assert_eq!(
            elicitation_content(&bad, Some(&schema)),
            json!({"age": "old"})
        );
        assert_eq!(
            elicitation_reason(
                "elicit",
                &json!({"_meta": {"codex_approval_kind": "mcp_tool_call", "tool_name": "ask_name"}})
            ),
            "MCP server elicit wants to run its tool ask_name"
        );
        assert_eq!(
            elicitation_reason("elicit", &json!({"_meta": null})),
            "MCP server elicit"
        );
        let offered = json!({"_meta": {"persist": ["session", "always"]}});
        assert_eq!(
            elicitation_meta(ApprovalDecision::AcceptForSession, &offered),
            json!({"persist": "session"})
        );
        assert_eq!(
            elicitation_meta(ApprovalDecision::Accept, &offered),
            Value::Null
        );
        assert_eq!(
            elicitation_meta(ApprovalDecision::AcceptForSession, &json!({"_meta": null})),
            Value::Null
        );
    }
}
