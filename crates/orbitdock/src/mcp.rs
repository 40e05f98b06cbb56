//! `orbitdock mcp`: the hub's sessions as an MCP server on stdio, so an agent (a lead Codex or
//! Claude session) can see and drive the sessions a person sees in the UI.
//!
//! Shape, and why:
//! - A thin adapter over `orbitdock-client`: every tool is one or two REST calls of the running
//!   server, found through the data dir on every call (`server.json` + `token`), so the bridge
//!   keeps working when the server restarts on another port and says "no running server" when
//!   there is none, instead of failing to start inside the agent.
//! - Every request carries `X-OrbitDock-Via: mcp`; the server records each action taken with it
//!   in the session's transcript ("An agent via MCP: sent the message ..."), so a person sees
//!   which actions an agent took.
//! - Read-only unless started with `--allow-actions`: the action tools stay listed (an agent
//!   learns they exist and why it may not use them) but refuse with a tool error naming the flag.
//!   Actions only go to direct sessions; passive ones (observed from rollout files or hooks) are
//!   read-only and the error says so.
//! - Failures the agent can act on (unknown id, wrong state, refused action) are tool results
//!   with `isError` and a sentence saying what to do, not JSON-RPC errors, which MCP clients
//!   show opaquely.
//! - Each session's transcript is a resource (`orbitdock://sessions/{id}/transcript`);
//!   `resources/subscribe` follows the session on the server's WebSocket and sends
//!   `notifications/resources/updated` whenever a new transcript item lands.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use orbitdock_client::{Client, Error as ClientError, ItemsQuery, ServerMessage, WsClient};
use orbitdock_protocol::{
    ActionVia, ApprovalDecision, ApprovalPolicy, ApprovalRequestBody, CreateSessionRequest,
    ForkRequest, Origin, ReviewDelivery, ReviewRequest, ReviewTarget, SandboxMode,
    SendMessageRequest, SessionDelta, SessionState, SessionSummary,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, ResourceUpdatedNotificationParam,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::token;

/// The tools that change something; refused unless the bridge runs with `--allow-actions`.
pub const ACTION_TOOLS: &[&str] = &[
    "send_message",
    "steer",
    "interrupt_turn",
    "approve",
    "create_session",
    "compact",
    "fork",
    "review",
];

/// Items `get_session` returns when not told otherwise, and at most.
const DEFAULT_ITEMS: usize = 20;
const MAX_ITEMS: usize = 200;
/// Sessions `list_sessions` returns when not told otherwise.
const DEFAULT_SESSIONS: usize = 50;
/// Items a transcript resource holds (the most recent ones).
const RESOURCE_ITEMS: usize = 100;
const URI_PREFIX: &str = "orbitdock://sessions/";
const URI_SUFFIX: &str = "/transcript";

/// The transcript resource of a session.
pub fn transcript_uri(session_id: &str) -> String {
    format!("{URI_PREFIX}{session_id}{URI_SUFFIX}")
}

fn session_of_uri(uri: &str) -> Option<&str> {
    uri.strip_prefix(URI_PREFIX)?
        .strip_suffix(URI_SUFFIX)
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// A tool failure the agent reads: a sentence, plus a stable code in the structured content.
struct ToolError {
    code: &'static str,
    message: String,
}

impl ToolError {
    fn new(code: &'static str, message: impl Into<String>) -> ToolError {
        ToolError {
            code,
            message: message.into(),
        }
    }

    fn into_result(self) -> CallToolResult {
        let mut r = CallToolResult::error(vec![ContentBlock::text(self.message.clone())]);
        r.structured_content = Some(json!({"error": {"code": self.code, "message": self.message}}));
        r
    }
}

type ToolResult = Result<CallToolResult, ErrorData>;

/// Structured content plus a short text (and the JSON, for clients that only pass text on).
fn done(summary: impl Into<String>, value: Value) -> ToolResult {
    let mut r = CallToolResult::success(vec![
        ContentBlock::text(summary.into()),
        ContentBlock::text(value.to_string()),
    ]);
    r.structured_content = Some(value);
    Ok(r)
}

fn failed(e: ToolError) -> ToolResult {
    Ok(e.into_result())
}

/// The bridge: one per stdio connection.
#[derive(Clone)]
pub struct Bridge {
    data_dir: PathBuf,
    allow_actions: bool,
    /// Resource URI -> the task following that session.
    watches: Arc<parking_lot::Mutex<HashMap<String, JoinHandle<()>>>>,
    /// The general tools plus the thread operations (two `#[tool_router]` blocks).
    tool_router: ToolRouter<Self>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // The last clone stops the watch tasks: nothing outlives the connection.
        if Arc::strong_count(&self.watches) == 1 {
            for (_, task) in self.watches.lock().drain() {
                task.abort();
            }
        }
    }
}

/// Parses a value of one of the agent's string enums (`ApprovalPolicy`, `SandboxMode`),
/// refusing values this build does not know with the list of those it does.
macro_rules! parse_known {
    ($ty:ty, $field:literal, $value:expr) => {
        $value
            .map(|v| {
                let parsed = <$ty>::parse(v.trim());
                if parsed.is_known() {
                    Ok(parsed)
                } else {
                    Err(ToolError::new(
                        "bad_request",
                        format!(
                            "unknown {} {:?}; use one of: {}",
                            $field,
                            parsed.as_str(),
                            <$ty>::KNOWN
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            })
            .transpose()
    };
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default)]
struct ListSessionsArgs {
    /// Only sessions of this agent: `codex` or `claude`.
    provider: Option<String>,
    /// Only sessions in this state: `working`, `waiting`, `needs_approval`, `needs_answer`,
    /// `ended`.
    status: Option<String>,
    /// Only `direct` sessions (driven by the hub; actions allowed) or `passive` ones (observed).
    origin: Option<String>,
    /// Case-insensitive text that must appear in the id, name, first prompt, working directory
    /// or model.
    text: Option<String>,
    /// Only sessions the bridge can act on (direct ones).
    controllable_only: bool,
    /// Include archived sessions (hidden by default).
    include_archived: bool,
    /// At most this many sessions, most recently updated first (default 50).
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct GetSessionArgs {
    /// The session id (from `list_sessions`).
    session_id: String,
    /// How many transcript items to return, the most recent ones (default 20, max 200).
    #[serde(default)]
    items: Option<usize>,
    /// Page back: return the items just before this `seq` (use `next_before_seq` of the
    /// previous answer).
    #[serde(default)]
    before_seq: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SendArgs {
    /// The session id (a direct session).
    session_id: String,
    /// The message. While a turn runs it is added to that turn (steer); otherwise it starts a
    /// new turn.
    message: String,
    /// Settings for this turn and the next ones.
    #[serde(flatten)]
    settings: Settings,
}

/// Model and permission settings of a session; each applies from the next turn on.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default)]
struct Settings {
    /// Model (the agent's default when never set).
    model: Option<String>,
    /// Reasoning effort (`minimal`, `low`, `medium`, `high`).
    effort: Option<String>,
    /// Approval policy (`untrusted`, `on-request`, `never`).
    approval_policy: Option<String>,
    /// Sandbox (`read-only`, `workspace-write`, `danger-full-access`).
    sandbox_mode: Option<String>,
}

impl Settings {
    /// The typed settings, refusing unknown policies and sandboxes.
    #[allow(clippy::type_complexity)]
    fn parse(
        self,
    ) -> Result<
        (
            Option<String>,
            Option<String>,
            Option<ApprovalPolicy>,
            Option<SandboxMode>,
        ),
        ToolError,
    > {
        Ok((
            self.model.filter(|m| !m.trim().is_empty()),
            self.effort.filter(|e| !e.trim().is_empty()),
            parse_known!(ApprovalPolicy, "approval_policy", self.approval_policy)?,
            parse_known!(SandboxMode, "sandbox_mode", self.sandbox_mode)?,
        ))
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SteerArgs {
    /// The session id (a direct session with a running turn).
    session_id: String,
    /// The message to add to the running turn.
    message: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct SessionArgs {
    /// The session id.
    session_id: String,
}

/// A decision on a pending approval.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Decision {
    /// Allow this once (for questions: submit the answers).
    Accept,
    /// Allow this and similar requests for the rest of the session.
    AcceptForSession,
    /// Refuse; the agent continues without it.
    Decline,
    /// Refuse and stop the turn.
    Cancel,
}

impl From<Decision> for ApprovalDecision {
    fn from(d: Decision) -> ApprovalDecision {
        match d {
            Decision::Accept => ApprovalDecision::Accept,
            Decision::AcceptForSession => ApprovalDecision::AcceptForSession,
            Decision::Decline => ApprovalDecision::Decline,
            Decision::Cancel => ApprovalDecision::Cancel,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ApproveArgs {
    /// The session id.
    session_id: String,
    /// The pending request's id (`pending_approvals[].request_id` of `get_session`).
    request_id: String,
    /// What to decide.
    decision: Decision,
    /// Answers to a question request: question id -> chosen answers.
    #[serde(default)]
    answers: Option<BTreeMap<String, Vec<String>>>,
    /// Shortcut for a request with a single question: its answer.
    #[serde(default)]
    answer: Option<String>,
    /// With decline or cancel: what to tell the agent (Claude passes it to its model).
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct CreateArgs {
    /// Working directory (absolute, existing).
    cwd: String,
    /// First message to send right away.
    #[serde(default)]
    prompt: Option<String>,
    /// A name for the session.
    #[serde(default)]
    name: Option<String>,
    /// The agent's model provider (e.g. `codexpc` for the local model); the agent's default
    /// when absent.
    #[serde(default)]
    model_provider: Option<String>,
    /// Model and permissions.
    #[serde(flatten)]
    settings: Settings,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ForkArgs {
    /// The session to fork (a direct session).
    session_id: String,
    /// Fork through this turn (inclusive; later turns are not copied). The whole thread when
    /// absent. Turn ids are the `turn_id` of `get_session`'s items.
    #[serde(default)]
    through_turn_id: Option<String>,
    /// A name for the fork.
    #[serde(default)]
    name: Option<String>,
    /// Model override for the fork.
    #[serde(default)]
    model: Option<String>,
    /// Approval policy override (`untrusted`, `on-request`, `never`).
    #[serde(default)]
    approval_policy: Option<String>,
    /// Sandbox override (`read-only`, `workspace-write`, `danger-full-access`).
    #[serde(default)]
    sandbox_mode: Option<String>,
}

/// What a review looks at.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum ReviewKind {
    /// The working tree: staged, unstaged and untracked changes.
    UncommittedChanges,
    /// The current branch against `branch`.
    BaseBranch,
    /// One commit, `sha`.
    Commit,
    /// Free-form `instructions`.
    Custom,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ReviewArgs {
    /// The session that reviews (a direct session, idle).
    session_id: String,
    /// What to review.
    target: ReviewKind,
    /// With `base_branch`: the branch to compare against.
    #[serde(default)]
    branch: Option<String>,
    /// With `commit`: the commit's sha.
    #[serde(default)]
    sha: Option<String>,
    /// With `commit`: a label for it (e.g. its subject).
    #[serde(default)]
    title: Option<String>,
    /// With `custom`: what to review and how.
    #[serde(default)]
    instructions: Option<String>,
    /// `inline` (default: a turn of this session) or `detached` (a new session forked from
    /// this one, leaving this one's thread untouched).
    #[serde(default)]
    delivery: Option<String>,
}

impl ReviewArgs {
    /// The server's request, refusing a target without the field it needs.
    fn request(self) -> Result<ReviewRequest, ToolError> {
        fn needed(value: Option<String>, field: &str, target: &str) -> Result<String, ToolError> {
            value
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    ToolError::new("bad_request", format!("target {target} needs `{field}`"))
                })
        }
        let target = match self.target {
            ReviewKind::UncommittedChanges => ReviewTarget::UncommittedChanges,
            ReviewKind::BaseBranch => ReviewTarget::BaseBranch {
                branch: needed(self.branch, "branch", "base_branch")?,
            },
            ReviewKind::Commit => ReviewTarget::Commit {
                sha: needed(self.sha, "sha", "commit")?,
                title: self.title.filter(|t| !t.trim().is_empty()),
            },
            ReviewKind::Custom => ReviewTarget::Custom {
                instructions: needed(self.instructions, "instructions", "custom")?,
            },
        };
        let delivery = parse_known!(ReviewDelivery, "delivery", self.delivery)?;
        Ok(ReviewRequest { target, delivery })
    }
}

/// The list row an agent needs (ids, who, what state, whether it may act on it).
fn row(s: &SessionSummary) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "first_prompt": s.first_prompt,
        "provider": s.provider,
        "origin": s.origin,
        "status": s.status,
        "controllable": s.origin == Origin::Direct,
        "cwd": s.cwd,
        "model": s.model,
        "model_provider": s.model_provider,
        "effort": s.effort,
        "pending_approval_count": s.pending_approval_count,
        "archived": s.archived,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

fn matches(s: &SessionSummary, a: &ListSessionsArgs) -> bool {
    let eq = |want: &Option<String>, have: String| {
        want.as_deref()
            .is_none_or(|w| w.trim().eq_ignore_ascii_case(&have))
    };
    if !a.include_archived && s.archived {
        return false;
    }
    if a.controllable_only && s.origin != Origin::Direct {
        return false;
    }
    if !eq(&a.provider, token(&s.provider))
        || !eq(&a.status, token(&s.status))
        || !eq(&a.origin, token(&s.origin))
    {
        return false;
    }
    match a.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => true,
        Some(t) => {
            let t = t.to_lowercase();
            [
                Some(&s.id),
                s.name.as_ref(),
                s.first_prompt.as_ref(),
                Some(&s.cwd),
                s.model.as_ref(),
            ]
            .into_iter()
            .flatten()
            .any(|f| f.to_lowercase().contains(&t))
        }
    }
}

/// Checks a filter value against the known ones, so a typo is an error rather than an empty list.
fn check_filter(field: &str, value: &Option<String>, known: &[&str]) -> Result<(), ToolError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !known.iter().any(|k| k.eq_ignore_ascii_case(v)) => Err(ToolError::new(
            "bad_request",
            format!("unknown {field} {v:?}; use one of: {}", known.join(", ")),
        )),
        _ => Ok(()),
    }
}

impl Bridge {
    /// A bridge to the server of `data_dir`; actions refused unless `allow_actions`.
    pub fn new(data_dir: PathBuf, allow_actions: bool) -> Bridge {
        Bridge {
            data_dir,
            allow_actions,
            watches: Arc::default(),
            tool_router: Self::tool_router() + Self::thread_tools_router(),
        }
    }

    /// A client of the server running now (re-discovered each time: it may have restarted).
    fn client(&self) -> Result<Client, ToolError> {
        Client::discover(&self.data_dir)
            .map(|c| c.with_via(ActionVia::Mcp))
            .map_err(|e| ToolError::new("no_server", e.to_string()))
    }

    fn allowed(&self, tool: &str) -> Result<(), ToolError> {
        if self.allow_actions {
            return Ok(());
        }
        Err(ToolError::new(
            "read_only",
            format!(
                "{tool} is not allowed: this OrbitDock MCP bridge is read-only. Actions \
                 ({}) need the bridge started with `orbitdock mcp --allow-actions` (install it \
                 with `orbitdock mcp install codex --allow-actions`).",
                ACTION_TOOLS.join(", ")
            ),
        ))
    }

    /// The session, or an error naming the id when the server does not know it.
    async fn session(&self, c: &Client, id: &str) -> Result<SessionState, ToolError> {
        c.get_session(id).await.map_err(|e| api_error(e, id))
    }

    /// A session actions may go to: allowed by this bridge, known, and direct.
    async fn controllable(
        &self,
        tool: &str,
        id: &str,
    ) -> Result<(Client, SessionState), ToolError> {
        self.allowed(tool)?;
        let c = self.client()?;
        let s = self.session(&c, id).await?;
        if s.summary.origin != Origin::Direct {
            return Err(ToolError::new(
                "not_controllable",
                format!(
                    "session {id} is {} (observed only, e.g. started in a terminal): OrbitDock \
                     cannot act on it, it is read-only here. Only direct sessions (origin \
                     \"direct\" in list_sessions) take actions.",
                    token(&s.summary.origin)
                ),
            ));
        }
        Ok((c, s))
    }
}

/// Refuses (`conflict`) when the session runs no turn; `purpose` ends the sentence.
fn running_turn(s: &SessionState, purpose: &str) -> Result<(), ToolError> {
    if s.current_turn.is_some() {
        return Ok(());
    }
    Err(ToolError::new(
        "conflict",
        format!(
            "session {} has no running turn {purpose} (status {})",
            s.summary.id,
            token(&s.summary.status)
        ),
    ))
}

/// A server refusal in words an agent can act on.
fn api_error(e: ClientError, session_id: &str) -> ToolError {
    match e.code() {
        Some("not_found") => ToolError::new(
            "not_found",
            format!(
                "no session with id {session_id:?} (or no such request in it); list_sessions \
                 shows the ids: {e}"
            ),
        ),
        Some("conflict") => ToolError::new(
            "conflict",
            format!("refused in the session's current state: {e}"),
        ),
        Some("bad_request") => ToolError::new("bad_request", e.to_string()),
        _ if e.status().is_none() => ToolError::new("no_server", e.to_string()),
        _ => ToolError::new("server_error", e.to_string()),
    }
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return failed(e),
        }
    };
}

#[tool_router]
impl Bridge {
    #[tool(
        description = "Check that the OrbitDock hub is reachable: its URL, version, how many sessions it has, and whether this bridge may take actions.",
        annotations(read_only_hint = true)
    )]
    async fn check_connection(&self) -> ToolResult {
        let c = tri!(self.client());
        let health = tri!(
            c.health()
                .await
                .map_err(|e| ToolError::new("no_server", e.to_string()))
        );
        let list = tri!(c.list_sessions().await.map_err(|e| api_error(e, "")));
        let direct = list
            .sessions
            .iter()
            .filter(|s| s.origin == Origin::Direct)
            .count();
        let v = json!({
            "ok": health.ok,
            "url": c.base_url().as_str(),
            "version": health.version,
            "sessions": list.sessions.len(),
            "direct_sessions": direct,
            "actions_allowed": self.allow_actions,
        });
        done(
            format!(
                "Connected to OrbitDock {} at {}: {} sessions ({direct} direct); actions {}.",
                health.version,
                c.base_url(),
                list.sessions.len(),
                if self.allow_actions {
                    "allowed"
                } else {
                    "not allowed (read-only bridge)"
                }
            ),
            v,
        )
    }

    #[tool(
        description = "List the hub's sessions, most recently updated first, with filters. `controllable: true` marks direct sessions, the only ones actions go to.",
        annotations(read_only_hint = true)
    )]
    async fn list_sessions(&self, Parameters(a): Parameters<ListSessionsArgs>) -> ToolResult {
        tri!(check_filter("provider", &a.provider, &["codex", "claude"]));
        tri!(check_filter(
            "status",
            &a.status,
            &[
                "working",
                "waiting",
                "needs_approval",
                "needs_answer",
                "ended"
            ]
        ));
        tri!(check_filter("origin", &a.origin, &["direct", "passive"]));
        let c = tri!(self.client());
        let list = tri!(c.list_sessions().await.map_err(|e| api_error(e, "")));
        let limit = a.limit.unwrap_or(DEFAULT_SESSIONS).max(1);
        let all: Vec<&SessionSummary> = list.sessions.iter().filter(|s| matches(s, &a)).collect();
        let rows: Vec<Value> = all.iter().take(limit).map(|s| row(s)).collect();
        let text = if rows.is_empty() {
            "No sessions match.".to_owned()
        } else {
            let mut t = format!("{} of {} matching sessions:", rows.len(), all.len());
            for s in all.iter().take(limit) {
                let name = s
                    .name
                    .as_deref()
                    .or(s.first_prompt.as_deref())
                    .unwrap_or(&s.cwd);
                t.push_str(&format!(
                    "\n- {} [{} {} {}] {}",
                    s.id,
                    token(&s.provider),
                    token(&s.origin),
                    token(&s.status),
                    name.lines().next().unwrap_or_default()
                ));
            }
            t
        };
        done(
            text,
            json!({"sessions": rows, "total": all.len(), "truncated": all.len() > limit}),
        )
    }

    #[tool(
        description = "One session: its state, pending approvals and questions (with their request ids), the running turn, and its most recent transcript items (page back with before_seq).",
        annotations(read_only_hint = true)
    )]
    async fn get_session(&self, Parameters(a): Parameters<GetSessionArgs>) -> ToolResult {
        let c = tri!(self.client());
        let s = tri!(self.session(&c, &a.session_id).await);
        let limit = a.items.unwrap_or(DEFAULT_ITEMS).min(MAX_ITEMS);
        let before = a.before_seq.unwrap_or(s.last_seq + 1);
        let page = tri!(
            c.items(
                &a.session_id,
                ItemsQuery {
                    before: Some(before),
                    limit: Some(limit.max(1)),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| api_error(e, &a.session_id))
        );
        let items = if limit == 0 { Vec::new() } else { page.items };
        let next_before = if page.has_more {
            items.first().map(|i| i.seq)
        } else {
            None
        };
        let summary = &s.summary;
        let text = format!(
            "Session {} ({} {}, {}): {} pending approval(s), {} item(s) returned{}.",
            summary.id,
            token(&summary.provider),
            token(&summary.origin),
            token(&summary.status),
            s.pending_approvals.len(),
            items.len(),
            if next_before.is_some() {
                ", older ones exist"
            } else {
                ""
            }
        );
        done(
            text,
            json!({
                "session": row(summary),
                "pending_approvals": s.pending_approvals,
                "current_turn": s.current_turn,
                "plan": s.plan,
                "token_usage": summary.token_usage,
                "last_seq": s.last_seq,
                "item_count": s.item_count,
                "items": items,
                "has_more": page.has_more,
                "next_before_seq": next_before,
            }),
        )
    }

    #[tool(
        description = "Send a message to a direct session: starts a turn (or joins the running one), with optional overrides that apply from this turn on. Returns the turn id.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn send_message(&self, Parameters(a): Parameters<SendArgs>) -> ToolResult {
        let (c, _) = tri!(self.controllable("send_message", &a.session_id).await);
        if a.message.trim().is_empty() {
            return failed(ToolError::new("bad_request", "message is empty"));
        }
        let (model, effort, approval_policy, sandbox_mode) = tri!(a.settings.parse());
        let req = SendMessageRequest {
            text: a.message,
            model,
            effort,
            approval_policy,
            sandbox_mode,
            ..Default::default()
        };
        let r = tri!(
            c.send_message(&a.session_id, &req)
                .await
                .map_err(|e| api_error(e, &a.session_id))
        );
        done(
            format!(
                "Sent to session {} (turn {}).",
                a.session_id,
                r.turn_id.as_deref().unwrap_or("-")
            ),
            json!({"session_id": r.session_id, "turn_id": r.turn_id}),
        )
    }

    #[tool(
        description = "Add a message to the turn a direct session is running right now (fails when no turn runs: use send_message then).",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn steer(&self, Parameters(a): Parameters<SteerArgs>) -> ToolResult {
        let (c, s) = tri!(self.controllable("steer", &a.session_id).await);
        tri!(running_turn(&s, "to steer; use send_message to start one"));
        if a.message.trim().is_empty() {
            return failed(ToolError::new("bad_request", "message is empty"));
        }
        let r = tri!(
            c.send_text(&a.session_id, &a.message)
                .await
                .map_err(|e| api_error(e, &a.session_id))
        );
        done(
            format!("Steered session {}.", a.session_id),
            json!({"session_id": r.session_id, "turn_id": r.turn_id}),
        )
    }

    #[tool(
        description = "Interrupt the turn a direct session is running.",
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    async fn interrupt_turn(&self, Parameters(a): Parameters<SessionArgs>) -> ToolResult {
        let (c, s) = tri!(self.controllable("interrupt_turn", &a.session_id).await);
        tri!(running_turn(&s, "to interrupt"));
        tri!(
            c.interrupt(&a.session_id)
                .await
                .map_err(|e| api_error(e, &a.session_id))
        );
        done(
            format!("Interrupted the turn of session {}.", a.session_id),
            json!({"ok": true}),
        )
    }

    #[tool(
        description = "Answer a pending approval or question of a direct session: accept, accept_for_session, decline or cancel; questions take `answers` (or `answer` for a single question).",
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    async fn approve(&self, Parameters(a): Parameters<ApproveArgs>) -> ToolResult {
        let (c, s) = tri!(self.controllable("approve", &a.session_id).await);
        let Some(pending) = s
            .pending_approvals
            .iter()
            .find(|p| p.request_id == a.request_id)
        else {
            let ids: Vec<&str> = s
                .pending_approvals
                .iter()
                .map(|p| p.request_id.as_str())
                .collect();
            return failed(ToolError::new(
                "not_found",
                format!(
                    "session {} has no pending request {:?} (pending: {})",
                    a.session_id,
                    a.request_id,
                    if ids.is_empty() {
                        "none".to_owned()
                    } else {
                        ids.join(", ")
                    }
                ),
            ));
        };
        let answers = match (a.answers, a.answer) {
            (Some(map), _) => Some(map),
            (None, Some(one)) => {
                let questions = pending.questions.as_deref().unwrap_or_default();
                match questions {
                    [q] => Some(BTreeMap::from([(q.id.clone(), vec![one])])),
                    _ => {
                        return failed(ToolError::new(
                            "bad_request",
                            format!(
                                "`answer` is for a request with exactly one question; this one has {}: pass `answers` keyed by question id ({})",
                                questions.len(),
                                questions
                                    .iter()
                                    .map(|q| q.id.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
            }
            (None, None) => None,
        };
        let body = ApprovalRequestBody {
            decision: a.decision.into(),
            answers,
            message: a.message.filter(|m| !m.trim().is_empty()),
        };
        tri!(
            c.answer_approval(&a.session_id, &a.request_id, &body)
                .await
                .map_err(|e| api_error(e, &a.session_id))
        );
        done(
            format!(
                "Answered request {} of session {} ({}).",
                a.request_id,
                a.session_id,
                token(&body.decision)
            ),
            json!({"ok": true, "decision": body.decision}),
        )
    }

    #[tool(
        description = "Create a direct session in a working directory, optionally sending its first prompt.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn create_session(&self, Parameters(a): Parameters<CreateArgs>) -> ToolResult {
        tri!(self.allowed("create_session"));
        let c = tri!(self.client());
        let (model, effort, approval_policy, sandbox_mode) = tri!(a.settings.parse());
        let req = CreateSessionRequest {
            cwd: a.cwd,
            model,
            effort,
            approval_policy,
            sandbox_mode,
            prompt: a.prompt,
            name: a.name,
            model_provider: a.model_provider.filter(|p| !p.trim().is_empty()),
            ..Default::default()
        };
        let s = tri!(c.create_session(&req).await.map_err(|e| api_error(e, "")));
        done(
            format!("Created session {}.", s.summary.id),
            json!({"session": row(&s.summary)}),
        )
    }

    #[tool(
        description = "Compact a direct session's thread history (the agent summarises earlier turns to free context).",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn compact(&self, Parameters(a): Parameters<SessionArgs>) -> ToolResult {
        let (c, _) = tri!(self.controllable("compact", &a.session_id).await);
        let s = tri!(
            c.compact(&a.session_id)
                .await
                .map_err(|e| api_error(e, &a.session_id))
        );
        done(
            format!("Compaction of session {} started.", a.session_id),
            json!({"session": row(&s.summary)}),
        )
    }
}

#[tool_router(router = thread_tools_router)]
impl Bridge {
    #[tool(
        description = "Fork a direct session: a new direct session continuing a copy of its thread (the whole thread, or through `through_turn_id`), optionally with model/approval/sandbox overrides. New messages go to the fork only. Returns the fork.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn fork(&self, Parameters(a): Parameters<ForkArgs>) -> ToolResult {
        let (c, _) = tri!(self.controllable("fork", &a.session_id).await);
        let approval_policy = tri!(parse_known!(
            ApprovalPolicy,
            "approval_policy",
            a.approval_policy
        ));
        let sandbox_mode = tri!(parse_known!(SandboxMode, "sandbox_mode", a.sandbox_mode));
        let req = ForkRequest {
            through_turn_id: a.through_turn_id.filter(|t| !t.trim().is_empty()),
            name: a.name.filter(|n| !n.trim().is_empty()),
            model: a.model.filter(|m| !m.trim().is_empty()),
            approval_policy,
            sandbox_mode,
        };
        let s = tri!(
            c.fork(&a.session_id, &req)
                .await
                .map_err(|e| api_error(e, &a.session_id))
        );
        done(
            format!("Forked session {} into {}.", a.session_id, s.summary.id),
            json!({"session": row(&s.summary), "forked_from": a.session_id}),
        )
    }

    #[tool(
        description = "Start a code review in a direct session: of uncommitted changes, the branch against a base branch, one commit, or custom instructions; inline (a turn of this session) or detached (a new session). Findings land in the reviewing session's transcript.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn review(&self, Parameters(a): Parameters<ReviewArgs>) -> ToolResult {
        let (c, _) = tri!(self.controllable("review", &a.session_id).await);
        let id = a.session_id.clone();
        let req = tri!(a.request());
        let s = tri!(c.review(&id, &req).await.map_err(|e| api_error(e, &id)));
        let reviewer = s.summary.id.clone();
        done(
            if reviewer == id {
                format!("Review started in session {id}.")
            } else {
                format!("Review started in the new session {reviewer} (detached from {id}).")
            },
            json!({"session": row(&s.summary), "detached": reviewer != id}),
        )
    }
}

/// A JSON-RPC error for resource requests (they have no tool-error channel).
fn resource_error(e: ToolError) -> ErrorData {
    match e.code {
        "not_found" | "bad_request" => ErrorData::invalid_params(e.message, None),
        _ => ErrorData::internal_error(e.message, None),
    }
}

fn uri_session(uri: &str) -> Result<String, ErrorData> {
    session_of_uri(uri).map(str::to_owned).ok_or_else(|| {
        ErrorData::invalid_params(
            format!("unknown resource {uri:?}: expected {URI_PREFIX}ID{URI_SUFFIX}"),
            None,
        )
    })
}

/// Subscribes to one session on the server's WebSocket and waits for its snapshot, so every
/// item after the answer is seen; answers the stream and the session's last `seq`.
async fn follow(client: &Client, session_id: &str) -> Result<(WsClient, u64), ToolError> {
    let lost = |e: ClientError| ToolError::new("no_server", format!("following the session: {e}"));
    let mut ws = client.ws().await.map_err(lost)?;
    ws.subscribe_session(session_id, None).await.map_err(lost)?;
    let snapshot = ws
        .wait_for("the session snapshot", |m| {
            matches!(m, ServerMessage::SessionSnapshot { session_id: s, .. } if s == session_id)
                || matches!(m, ServerMessage::Error { session_id: Some(s), .. } if s == session_id)
        })
        .await
        .map_err(lost)?;
    match snapshot {
        ServerMessage::SessionSnapshot { state, .. } => Ok((ws, state.last_seq)),
        ServerMessage::Error { code, message, .. } => Err(ToolError::new(
            if code == "not_found" {
                "not_found"
            } else {
                "server_error"
            },
            message,
        )),
        _ => Err(ToolError::new(
            "server_error",
            "unexpected answer to subscribe_session",
        )),
    }
}

/// Tells the MCP client each time a new transcript item of the followed session lands (an
/// update of a known item, e.g. streamed text, is not news).
async fn watch(
    mut ws: WsClient,
    session_id: String,
    mut last_seq: u64,
    uri: String,
    peer: rmcp::Peer<RoleServer>,
) {
    loop {
        let msg = match ws.recv().await {
            Ok(m) => m,
            // The wait is bounded; a quiet session is not an error.
            Err(ClientError::Timeout { .. }) => continue,
            Err(e) => {
                tracing::info!(session = %session_id, error = %e, "session stream ended");
                return;
            }
        };
        let seq = match msg {
            ServerMessage::SessionDelta {
                session_id: s,
                delta: SessionDelta::Item { item },
                ..
            } if s == session_id => item.seq,
            // A replayed snapshot (after a gap) moves the mark without announcing old items.
            ServerMessage::SessionSnapshot {
                session_id: s,
                state,
                ..
            } if s == session_id && state.last_seq > last_seq => state.last_seq,
            _ => continue,
        };
        if seq <= last_seq {
            continue;
        }
        last_seq = seq;
        if let Err(e) = peer
            .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri.clone()))
            .await
        {
            tracing::info!(error = %e, "the MCP client went away");
            return;
        }
    }
}

#[tool_handler(router = self.tool_router)]
#[allow(deprecated)] // resources/subscribe: what clients on the initialize handshake use
impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new("orbitdock", env!("CARGO_PKG_VERSION")))
        .with_instructions(format!(
            "OrbitDock hub bridge: list_sessions / get_session to see the hub's agent sessions; \
             send_message, steer, interrupt_turn, approve, create_session, compact, fork, review \
             to act on direct sessions{}. Each session's transcript is the resource \
             {URI_PREFIX}ID{URI_SUFFIX} (subscribe for new items).",
            if self.allow_actions {
                ""
            } else {
                " (refused: this bridge is read-only)"
            }
        ))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let c = self.client().map_err(resource_error)?;
        let list = c
            .list_sessions()
            .await
            .map_err(|e| resource_error(api_error(e, "")))?;
        let resources = list
            .sessions
            .iter()
            .filter(|s| !s.archived)
            .map(|s| {
                let name = s
                    .name
                    .clone()
                    .or(s.first_prompt.clone())
                    .unwrap_or_else(|| s.cwd.clone());
                Resource::new(transcript_uri(&s.id), format!("session {}", s.id))
                    .with_title(name.lines().next().unwrap_or_default().to_owned())
                    .with_description(format!(
                        "Transcript of the {} {} session ({})",
                        token(&s.origin),
                        token(&s.provider),
                        token(&s.status)
                    ))
                    .with_mime_type("application/json")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(
                format!("{URI_PREFIX}{{session_id}}{URI_SUFFIX}"),
                "session transcript",
            )
            .with_description("A session's state and its most recent transcript items")
            .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let id = uri_session(&request.uri)?;
        let c = self.client().map_err(resource_error)?;
        let s = self.session(&c, &id).await.map_err(resource_error)?;
        let page = c
            .items(
                &id,
                ItemsQuery {
                    before: Some(s.last_seq + 1),
                    limit: Some(RESOURCE_ITEMS),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| resource_error(api_error(e, &id)))?;
        let body = json!({
            "session": row(&s.summary),
            "pending_approvals": s.pending_approvals,
            "last_seq": s.last_seq,
            "items": page.items,
            "has_more": page.has_more,
        });
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(body.to_string(), request.uri)
                .with_mime_type("application/json"),
        ])
        .into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = uri_session(&request.uri)?;
        let c = self.client().map_err(resource_error)?;
        // Refuse unknown sessions now rather than watching nothing.
        self.session(&c, &id).await.map_err(resource_error)?;
        let (ws, last_seq) = follow(&c, &id).await.map_err(resource_error)?;
        let task = tokio::spawn(watch(ws, id, last_seq, request.uri.clone(), context.peer));
        if let Some(old) = self.watches.lock().insert(request.uri, task) {
            old.abort();
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Some(task) = self.watches.lock().remove(&request.uri) {
            task.abort();
        }
        Ok(())
    }
}

/// Runs the bridge on stdin/stdout until the client closes it.
pub async fn serve_stdio(data_dir: PathBuf, allow_actions: bool) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let service = Bridge::new(data_dir, allow_actions)
        .serve(rmcp::transport::stdio())
        .await?;
    service.waiting().await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transcript_uris_round_trip_and_reject_others() {
        let uri = transcript_uri("abc-1");
        assert_eq!(uri, "orbitdock://sessions/abc-1/transcript");
        assert_eq!(session_of_uri(&uri), Some("abc-1"));
        for bad in [
            "orbitdock://sessions//transcript",
            "orbitdock://sessions/a/b/transcript",
            "file:///etc/passwd",
            "orbitdock://sessions/a",
        ] {
            assert_eq!(session_of_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn filters_match_fields_case_insensitively() {
        let s = SessionSummary {
            id: "s1".into(),
            name: Some("Fix The Build".into()),
            cwd: "/w/app".into(),
            origin: Origin::Passive,
            ..Default::default()
        };
        let a = |f: fn(&mut ListSessionsArgs)| {
            let mut a = ListSessionsArgs::default();
            f(&mut a);
            matches(&s, &a)
        };
        assert!(a(|_| {}));
        assert!(a(|a| a.text = Some("the build".into())));
        assert!(a(|a| a.text = Some("/W/APP".into())));
        assert!(!a(|a| a.text = Some("deploy".into())));
        assert!(a(|a| a.origin = Some("Passive".into())));
        assert!(!a(|a| a.controllable_only = true));
        assert!(!a(|a| a.provider = Some("claude".into())));
        assert!(check_filter("origin", &Some("sideways".into()), &["direct", "passive"]).is_err());
    }
}
