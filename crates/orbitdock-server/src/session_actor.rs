//! One actor per session: it owns the session's state, takes commands on a bounded channel with
//! oneshot replies, and turns agent events into persisted, revisioned deltas.
//!
//! Why an actor: everything that changes a session (a user's command, an agent notification, an
//! approval answer) is applied by one task in arrival order, so there are no locks around session
//! state and revisions are trivially monotonic. Each change is sent to the persistence writer
//! together with its pre-serialised deltas; the writer publishes them after commit ("persist,
//! then publish").
//!
//! Sessions whose events do not come from `codex app-server` (passive sessions discovered from
//! rollout files or Claude hooks) use the same actor through [`SessionHandle::ingest`] with
//! provider-neutral [`SessionEvent`]s; only the direct-session commands (send, approve, ...) need
//! a connector.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use codex_client::app_server::{ServerNotification, ServerRequestParams, TurnStatus};
use orbitdock_protocol::{
    ApprovalDecision, ApprovalKind, ApprovalResolution, ConfigPatch, ItemBody, ItemStatus,
    ListDelta, PendingApproval, Plan, PlanStep, Question, RateLimitWindow, RateLimits,
    SendMessageRequest, SendMessageResponse, ServerMessage, SessionDelta, SessionState,
    SessionStatus, SessionSummary, TextStream, TokenUsage, TranscriptItem, TurnInfo,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::codex_items::convert_item;
use crate::connector::{
    ApprovalReply, Connector, IncomingRequest, ThreadConfig, approval_result,
    is_active_writer_conflict,
};
use crate::error::{Error, Result};
use crate::hub::{Published, SessionHub};
use crate::store::{Command, PersistOp, Publication, SessionExtra, Store};

/// Items kept in memory per session for snapshots (older ones are paged from SQLite).
pub const RECENT_ITEMS: usize = 200;
/// Capacity of an actor's mailbox.
const MAILBOX: usize = 4_096;
/// A passive Codex session is taken over only after this long without activity, so a
/// terminal still writing its thread is not raced.
pub const TAKEOVER_QUIET_MS: i64 = 2_000;
/// How long a command may wait for room in a full mailbox before we answer "busy".
const MAILBOX_WAIT: Duration = Duration::from_secs(2);

/// Current time, Unix ms.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Provider-neutral events, for sessions fed by something other than app-server (passive
/// discovery) and for tests.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// An item was added or changed (keyed by `(turn_id, item_id)`).
    Item {
        /// Turn.
        turn_id: Option<String>,
        /// Item id.
        item_id: String,
        /// Status.
        status: ItemStatus,
        /// Body.
        body: ItemBody,
    },
    /// Streamed text.
    ItemText {
        /// Turn.
        turn_id: Option<String>,
        /// Item id.
        item_id: String,
        /// Field.
        stream: TextStream,
        /// Text.
        delta: String,
    },
    /// A turn started.
    TurnStarted {
        /// Its id.
        turn_id: String,
    },
    /// A turn ended.
    TurnEnded {
        /// Its id.
        turn_id: String,
        /// `completed` | `interrupted` | `failed`.
        status: String,
        /// Error, for failed turns.
        error: Option<String>,
    },
    /// New token usage.
    TokenUsage(TokenUsage),
    /// New plan.
    Plan(Plan),
    /// New diff.
    Diff(String),
    /// New name.
    Renamed(Option<String>),
    /// Model changed.
    Model(String),
    /// Explicit status (passive sessions, whose status is inferred by their source).
    Status(SessionStatus),
    /// A notice in the transcript.
    Notice(String),
}

/// Commands from the API.
#[derive(Debug)]
enum Cmd {
    Snapshot(oneshot::Sender<(SessionState, Vec<TranscriptItem>)>),
    Start {
        prompt: Option<String>,
        reply: oneshot::Sender<Result<SessionState>>,
    },
    Send(
        SendMessageRequest,
        oneshot::Sender<Result<SendMessageResponse>>,
    ),
    Interrupt(oneshot::Sender<Result<()>>),
    End(oneshot::Sender<Result<SessionState>>),
    Resume(oneshot::Sender<Result<SessionState>>),
    /// Passive Codex session -> direct (engineer I, rollout discovery).
    Takeover(oneshot::Sender<Result<SessionState>>),
    Rename(String, oneshot::Sender<Result<SessionState>>),
    Config(ConfigPatch, oneshot::Sender<Result<SessionState>>),
    Approve {
        request_id: String,
        decision: ApprovalDecision,
        answers: Option<BTreeMap<String, Vec<String>>>,
        reply: oneshot::Sender<Result<()>>,
    },
    Ingest(Vec<SessionEvent>, Option<oneshot::Sender<()>>),
    /// Like `Ingest`, replying once persisted and published (hook requests read their result).
    IngestCommitted(Vec<SessionEvent>, oneshot::Sender<()>),
}

/// Agent-side input routed by the demultiplexer.
#[derive(Debug)]
pub(crate) enum AgentInput {
    Notification(Box<ServerNotification>),
    Request(Box<IncomingRequest>),
    Gone(String),
    RateLimits(RateLimits),
}

#[derive(Debug)]
enum Msg {
    Cmd(Cmd),
    Agent(AgentInput),
}

/// Things every actor shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub connector: Arc<dyn Connector>,
    pub threads: parking_lot::RwLock<HashMap<String, String>>,
}

/// Handle to a session actor; cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    id: String,
    tx: mpsc::Sender<Msg>,
    hub: Arc<SessionHub>,
}

impl SessionHandle {
    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session's fan-out hub.
    pub fn hub(&self) -> &Arc<SessionHub> {
        &self.hub
    }

    async fn cmd<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        match tokio::time::timeout(MAILBOX_WAIT, self.tx.send(Msg::Cmd(make(tx)))).await {
            Err(_) => return Err(Error::Busy(format!("session {} mailbox is full", self.id))),
            Ok(Err(_)) => return Err(Error::Closed(format!("session {}", self.id))),
            Ok(Ok(())) => {}
        }
        rx.await
            .map_err(|_| Error::Closed(format!("session {}", self.id)))
    }

    pub(crate) async fn agent(&self, input: AgentInput) -> Result<()> {
        self.tx
            .send(Msg::Agent(input))
            .await
            .map_err(|_| Error::Closed(format!("session {}", self.id)))
    }

    /// Full state plus the last items, consistent with each other (at `state.summary.revision`).
    pub async fn snapshot(&self) -> Result<(SessionState, Vec<TranscriptItem>)> {
        self.cmd(Cmd::Snapshot).await
    }

    /// Full state.
    pub async fn state(&self) -> Result<SessionState> {
        Ok(self.snapshot().await?.0)
    }

    pub(crate) async fn start(&self, prompt: Option<String>) -> Result<SessionState> {
        self.cmd(|reply| Cmd::Start { prompt, reply }).await?
    }

    /// Sends a user message (starting a turn).
    pub async fn send(&self, req: SendMessageRequest) -> Result<SendMessageResponse> {
        self.cmd(|r| Cmd::Send(req, r)).await?
    }

    /// Interrupts the running turn.
    pub async fn interrupt(&self) -> Result<()> {
        self.cmd(Cmd::Interrupt).await?
    }

    /// Ends the session.
    pub async fn end(&self) -> Result<SessionState> {
        self.cmd(Cmd::End).await?
    }

    /// Resumes an ended or detached session.
    pub async fn resume(&self) -> Result<SessionState> {
        self.cmd(Cmd::Resume).await?
    }

    /// Takes over an idle passive Codex session: resumes its thread through app-server and
    /// makes it direct. A [`Error::Conflict`] says why it cannot (not passive Codex, working,
    /// or active within the last [`TAKEOVER_QUIET_MS`]).
    pub async fn takeover(&self) -> Result<SessionState> {
        self.cmd(Cmd::Takeover).await?
    }

    /// Renames.
    pub async fn rename(&self, name: String) -> Result<SessionState> {
        self.cmd(|r| Cmd::Rename(name, r)).await?
    }

    /// Changes config for the next turns.
    pub async fn configure(&self, patch: ConfigPatch) -> Result<SessionState> {
        self.cmd(|r| Cmd::Config(patch, r)).await?
    }

    /// Answers an approval.
    pub async fn approve(
        &self,
        request_id: String,
        decision: ApprovalDecision,
        answers: Option<BTreeMap<String, Vec<String>>>,
    ) -> Result<()> {
        self.cmd(|reply| Cmd::Approve {
            request_id,
            decision,
            answers,
            reply,
        })
        .await?
    }

    /// Applies provider-neutral events (passive sessions); returns once they are queued for
    /// persistence.
    pub async fn ingest(&self, events: Vec<SessionEvent>) -> Result<()> {
        self.cmd(|r| Cmd::Ingest(events, Some(r))).await
    }

    /// Applies provider-neutral events; returns once they are persisted and published (so a
    /// caller reading the list next sees them).
    pub async fn ingest_committed(&self, events: Vec<SessionEvent>) -> Result<()> {
        self.cmd(|r| Cmd::IngestCommitted(events, r)).await
    }
}

#[derive(Debug)]
struct PendingEntry {
    approval: PendingApproval,
    reply: Option<Arc<dyn ApprovalReply>>,
}

/// The state an actor starts from.
#[derive(Debug)]
pub(crate) struct ActorInit {
    pub summary: SessionSummary,
    pub extra: SessionExtra,
    pub recent: Vec<TranscriptItem>,
}

struct Actor {
    shared: Arc<Shared>,
    hub: Arc<SessionHub>,
    summary: SessionSummary,
    extra: SessionExtra,
    pending: Vec<PendingEntry>,
    /// (turn id, item id) -> seq, for upserts and deltas.
    item_seqs: HashMap<(String, String), u64>,
    recent: VecDeque<TranscriptItem>,
    /// The connector generation our thread is loaded in.
    attached_generation: Option<u64>,
    // Accumulated change, flushed by `commit`.
    ops: Vec<PersistOp>,
    publish: Vec<Publication>,
    summary_dirty: bool,
    row_dirty: bool,
}

/// Spawns an actor.
pub(crate) fn spawn(shared: Arc<Shared>, init: ActorInit, hub: Arc<SessionHub>) -> SessionHandle {
    let (tx, rx) = mpsc::channel(MAILBOX);
    let id = init.summary.id.clone();
    let mut item_seqs = HashMap::new();
    for it in &init.recent {
        item_seqs.insert(
            (it.turn_id.clone().unwrap_or_default(), it.id.clone()),
            it.seq,
        );
    }
    let actor = Actor {
        shared,
        hub: hub.clone(),
        summary: init.summary,
        extra: init.extra,
        pending: Vec::new(),
        item_seqs,
        recent: init.recent.into_iter().collect(),
        attached_generation: None,
        ops: Vec::new(),
        publish: Vec::new(),
        summary_dirty: false,
        row_dirty: false,
    };
    tokio::spawn(actor.run(rx));
    SessionHandle { id, tx, hub }
}

fn thread_cfg(s: &SessionSummary) -> ThreadConfig {
    ThreadConfig {
        cwd: s.cwd.clone(),
        model: s.model.clone(),
        effort: s.effort.clone(),
        approval_policy: s.approval_policy.clone(),
        sandbox_mode: s.sandbox_mode.clone(),
    }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Cmd(c) => self.on_cmd(c).await,
                Msg::Agent(a) => self.on_agent(a).await,
            }
            self.commit(None).await;
        }
    }

    // ----- change tracking ---------------------------------------------------------------

    fn delta(&mut self, delta: SessionDelta) {
        self.summary.revision += 1;
        let revision = self.summary.revision;
        let published = Published::new(
            revision,
            &ServerMessage::SessionDelta {
                session_id: self.summary.id.clone(),
                revision,
                delta,
            },
        );
        self.publish.push(Publication::Session {
            session_id: self.summary.id.clone(),
            hub: self.hub.clone(),
            published,
        });
    }

    /// Sends everything accumulated to the writer; `done` is told after commit.
    async fn commit(&mut self, done: Option<oneshot::Sender<std::result::Result<(), String>>>) {
        if self.summary_dirty {
            self.summary_dirty = false;
            self.row_dirty = true;
            self.summary.updated_at = now_ms();
            self.summary.pending_approval_count = self.pending.len() as u32;
            let mut s = self.summary.clone();
            // The summary delta itself takes the next revision.
            s.revision += 1;
            self.delta(SessionDelta::Summary { summary: s });
            self.publish
                .push(Publication::List(Box::new(ListDelta::Upsert {
                    summary: self.summary.clone(),
                })));
        }
        if self.row_dirty {
            self.row_dirty = false;
            self.ops.push(PersistOp::UpsertSession {
                summary: Box::new(self.summary.clone()),
                extra: Box::new(self.extra.clone()),
            });
        }
        if self.ops.is_empty() && self.publish.is_empty() && done.is_none() {
            return;
        }
        let cmd = Command {
            ops: std::mem::take(&mut self.ops),
            publish: std::mem::take(&mut self.publish),
            done,
        };
        if let Err(e) = self.shared.store.submit(cmd).await {
            tracing::error!(session = %self.summary.id, error = %e, "could not queue persistence");
        }
    }

    /// Commits and waits until persisted and published.
    async fn commit_and_wait(&mut self) {
        let (tx, rx) = oneshot::channel();
        self.commit(Some(tx)).await;
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(session = %self.summary.id, error = %e, "persist failed"),
            Err(_) => tracing::error!(session = %self.summary.id, "writer gone"),
        }
    }

    fn set_status(&mut self) {
        let status = if self.summary.status == SessionStatus::Ended {
            SessionStatus::Ended
        } else if self.pending.iter().any(|p| {
            matches!(
                p.approval.kind,
                ApprovalKind::Question | ApprovalKind::Elicitation
            )
        }) {
            SessionStatus::NeedsAnswer
        } else if !self.pending.is_empty() {
            SessionStatus::NeedsApproval
        } else if self.extra.current_turn.is_some() {
            SessionStatus::Working
        } else {
            SessionStatus::Waiting
        };
        if status != self.summary.status
            || self.summary.pending_approval_count as usize != self.pending.len()
        {
            self.summary.status = status;
            self.summary_dirty = true;
        }
    }

    fn state(&self) -> SessionState {
        let mut summary = self.summary.clone();
        summary.pending_approval_count = self.pending.len() as u32;
        SessionState {
            summary,
            pending_approvals: self.pending.iter().map(|p| p.approval.clone()).collect(),
            current_turn: self.extra.current_turn.clone(),
            plan: self.extra.plan.clone(),
            diff: self.extra.diff.clone(),
            rate_limits: self.extra.rate_limits.clone(),
            last_seq: self.extra.last_seq,
            item_count: self.extra.item_count,
            attached: self.is_attached(),
        }
    }

    fn is_attached(&self) -> bool {
        self.attached_generation == Some(self.shared.connector.generation())
            && self.attached_generation.is_some()
    }

    // ----- items ----------------------------------------------------------------------------

    fn recent_mut(&mut self, seq: u64) -> Option<&mut TranscriptItem> {
        self.recent.iter_mut().rev().find(|i| i.seq == seq)
    }

    /// Inserts or replaces an item; returns its seq.
    fn upsert_item(
        &mut self,
        turn_id: Option<String>,
        item_id: String,
        status: ItemStatus,
        body: ItemBody,
    ) -> u64 {
        let key = (turn_id.clone().unwrap_or_default(), item_id.clone());
        let now = now_ms();
        let item = if let Some(&seq) = self.item_seqs.get(&key) {
            let existing = self.recent_mut(seq).cloned();
            let created_at = existing.as_ref().map(|e| e.created_at).unwrap_or(now);
            let body = merge_body(existing.map(|e| e.body), body);
            TranscriptItem {
                seq,
                id: item_id,
                turn_id,
                status,
                created_at,
                updated_at: now,
                body,
            }
        } else {
            self.extra.last_seq += 1;
            self.extra.item_count += 1;
            self.row_dirty = true;
            let seq = self.extra.last_seq;
            self.item_seqs.insert(key, seq);
            TranscriptItem {
                seq,
                id: item_id,
                turn_id,
                status,
                created_at: now,
                updated_at: now,
                body,
            }
        };
        if let ItemBody::UserMessage { text } = &item.body
            && self.summary.first_prompt.is_none()
            && !text.is_empty()
        {
            self.summary.first_prompt = Some(text.chars().take(500).collect());
            self.summary_dirty = true;
        }
        let seq = item.seq;
        match self.recent_mut(seq) {
            Some(slot) => *slot = item.clone(),
            None => {
                self.recent.push_back(item.clone());
                while self.recent.len() > RECENT_ITEMS {
                    if let Some(old) = self.recent.pop_front() {
                        self.item_seqs
                            .remove(&(old.turn_id.unwrap_or_default(), old.id));
                    }
                }
            }
        }
        self.ops.push(PersistOp::UpsertItem {
            session_id: self.summary.id.clone(),
            item: Box::new(item.clone()),
        });
        self.delta(SessionDelta::Item { item });
        seq
    }

    fn notice(&mut self, message: impl Into<String>) {
        let id = format!("orbitdock-{}", uuid::Uuid::new_v4());
        let turn = self.extra.current_turn.as_ref().map(|t| t.id.clone());
        self.upsert_item(
            turn,
            id,
            ItemStatus::Completed,
            ItemBody::Notice {
                message: message.into(),
            },
        );
    }

    fn item_text(
        &mut self,
        turn_id: Option<String>,
        item_id: String,
        stream: TextStream,
        delta: String,
    ) {
        let key = (turn_id.clone().unwrap_or_default(), item_id.clone());
        let seq = match self.item_seqs.get(&key) {
            Some(&s) => s,
            None => {
                // A delta before its item/started: create the item so the text has a home.
                let body = match stream {
                    TextStream::Output => ItemBody::CommandExecution {
                        command: String::new(),
                        cwd: None,
                        output: String::new(),
                        exit_code: None,
                        duration_ms: None,
                    },
                    TextStream::Reasoning | TextStream::ReasoningSummary => ItemBody::Reasoning {
                        summary: String::new(),
                        text: String::new(),
                    },
                    _ => ItemBody::AgentMessage {
                        text: String::new(),
                    },
                };
                self.upsert_item(
                    turn_id.clone(),
                    item_id.clone(),
                    ItemStatus::InProgress,
                    body,
                )
            }
        };
        if let Some(item) = self.recent_mut(seq) {
            append_text(&mut item.body, stream, &delta);
        }
        self.delta(SessionDelta::ItemText {
            seq,
            item_id,
            stream,
            delta,
        });
    }

    // ----- turns / approvals --------------------------------------------------------------

    fn turn_started(&mut self, turn_id: String) {
        if self.extra.current_turn.as_ref().map(|t| &t.id) == Some(&turn_id) {
            return;
        }
        let turn = TurnInfo {
            id: turn_id.clone(),
            started_at: now_ms(),
        };
        self.extra.current_turn = Some(turn.clone());
        self.row_dirty = true;
        self.ops.push(PersistOp::UpsertTurn {
            session_id: self.summary.id.clone(),
            turn_id,
            status: "in_progress".into(),
            started_at: turn.started_at,
            ended_at: None,
            error: None,
        });
        self.delta(SessionDelta::TurnStarted { turn });
        self.set_status();
    }

    fn turn_ended(&mut self, turn_id: String, status: String, error: Option<String>) {
        let started_at = match &self.extra.current_turn {
            Some(t) if t.id == turn_id => t.started_at,
            // A stale end (an older turn): record it, keep the current one.
            Some(_) => {
                tracing::debug!(session = %self.summary.id, %turn_id, "end of a turn that is not current");
                return;
            }
            None => now_ms(),
        };
        self.extra.current_turn = None;
        self.row_dirty = true;
        // Pending requests die at turn end.
        let stale: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| {
                p.approval.turn_id.as_deref() == Some(turn_id.as_str())
                    || p.approval.turn_id.is_none()
            })
            .map(|p| p.approval.version)
            .collect();
        for v in stale {
            self.resolve(v, ApprovalResolution::TurnEnded, None);
        }
        // Items the agent never completed (an interrupt, a failure) still hold streamed text that
        // so far lives only in memory: persist them as they are, so a restart shows the same
        // transcript. They stay `in_progress`; clients show such items of an ended turn as stopped.
        let open: Vec<TranscriptItem> = self
            .recent
            .iter()
            .filter(|i| {
                i.turn_id.as_deref() == Some(turn_id.as_str()) && i.status == ItemStatus::InProgress
            })
            .cloned()
            .collect();
        for item in open {
            self.upsert_item(item.turn_id, item.id, item.status, item.body);
        }
        if let Some(e) = &error {
            let id = format!("turn-error-{turn_id}");
            self.upsert_item(
                Some(turn_id.clone()),
                id,
                ItemStatus::Completed,
                ItemBody::Error { message: e.clone() },
            );
        }
        self.ops.push(PersistOp::UpsertTurn {
            session_id: self.summary.id.clone(),
            turn_id: turn_id.clone(),
            status: status.clone(),
            started_at,
            ended_at: Some(now_ms()),
            error: error.clone(),
        });
        self.delta(SessionDelta::TurnEnded {
            turn_id,
            status,
            error,
        });
        self.set_status();
    }

    /// Removes a pending approval and records how it ended.
    fn resolve(
        &mut self,
        version: u64,
        resolution: ApprovalResolution,
        decision: Option<ApprovalDecision>,
    ) {
        let Some(pos) = self
            .pending
            .iter()
            .position(|p| p.approval.version == version)
        else {
            return;
        };
        let entry = self.pending.remove(pos);
        self.ops.push(PersistOp::ResolveApproval {
            session_id: self.summary.id.clone(),
            version,
            resolution,
            decision,
            resolved_at: now_ms(),
        });
        self.delta(SessionDelta::ApprovalResolved {
            request_id: entry.approval.request_id,
            version,
            resolution,
            decision,
        });
        self.set_status();
    }

    fn find_changes(&self, item_id: &str) -> Option<Vec<orbitdock_protocol::FileChange>> {
        self.recent.iter().rev().find_map(|i| match &i.body {
            ItemBody::FileChange { changes } if i.id == item_id => Some(changes.clone()),
            _ => None,
        })
    }

    async fn on_request(&mut self, req: IncomingRequest) {
        let base = |kind| PendingApproval {
            request_id: req.request_id.clone(),
            kind,
            version: 0,
            item_id: None,
            turn_id: None,
            command: None,
            cwd: None,
            reason: None,
            changes: None,
            question: None,
            questions: None,
            raw: req.raw_params.clone(),
            created_at: now_ms(),
        };
        let approval = match &req.params {
            ServerRequestParams::CommandExecutionApproval(p) => PendingApproval {
                item_id: Some(p.item_id.clone()),
                turn_id: Some(p.turn_id.clone()),
                command: p.command.clone(),
                cwd: p.cwd.clone(),
                reason: p.reason.clone(),
                ..base(ApprovalKind::Command)
            },
            ServerRequestParams::FileChangeApproval(p) => PendingApproval {
                item_id: Some(p.item_id.clone()),
                turn_id: Some(p.turn_id.clone()),
                reason: p.reason.clone(),
                changes: Some(self.find_changes(&p.item_id).unwrap_or_default()),
                ..base(ApprovalKind::FileChange)
            },
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
                PendingApproval {
                    item_id: Some(p.item_id.clone()),
                    turn_id: Some(p.turn_id.clone()),
                    question: questions.first().map(|q| q.question.clone()),
                    questions: Some(questions),
                    ..base(ApprovalKind::Question)
                }
            }
            ServerRequestParams::PermissionsApproval(p) => PendingApproval {
                item_id: Some(p.item_id.clone()),
                turn_id: Some(p.turn_id.clone()),
                cwd: p.cwd.clone(),
                reason: p.reason.clone(),
                ..base(ApprovalKind::Permissions)
            },
            ServerRequestParams::McpElicitation(p) => PendingApproval {
                turn_id: p.turn_id.clone(),
                question: Some(p.message.clone()),
                reason: Some(format!("MCP server {}", p.server_name)),
                ..base(ApprovalKind::Elicitation)
            },
            other => {
                // Dynamic tool calls and request kinds we do not know: refuse explicitly so the
                // agent never hangs on us (refusing is the safe answer; nothing is accepted).
                tracing::warn!(session = %self.summary.id, method = %req.method, params = ?other,
                    "unsupported server request; answering with an error");
                if let Err(e) = req
                    .reply
                    .reply_error(
                        -32601,
                        &format!("OrbitDock does not support {}", req.method),
                    )
                    .await
                {
                    tracing::warn!(error = %e, "could not refuse request");
                }
                self.notice(format!(
                    "The agent sent a request OrbitDock does not support ({}); it was refused.",
                    req.method
                ));
                return;
            }
        };
        // A re-sent request with the same id replaces the old one (keeps its version).
        if let Some(existing) = self
            .pending
            .iter_mut()
            .find(|p| p.approval.request_id == approval.request_id)
        {
            existing.reply = Some(req.reply);
            return;
        }
        self.extra.approval_version += 1;
        self.row_dirty = true;
        let approval = PendingApproval {
            version: self.extra.approval_version,
            ..approval
        };
        self.ops.push(PersistOp::InsertApproval {
            session_id: self.summary.id.clone(),
            approval: Box::new(approval.clone()),
        });
        self.delta(SessionDelta::ApprovalRequested {
            approval: approval.clone(),
        });
        self.pending.push(PendingEntry {
            approval,
            reply: Some(req.reply),
        });
        self.set_status();
    }

    // ----- agent events ---------------------------------------------------------------------

    async fn on_agent(&mut self, input: AgentInput) {
        match input {
            AgentInput::Notification(n) => self.on_notification(*n),
            AgentInput::Request(r) => self.on_request(*r).await,
            AgentInput::RateLimits(r) => {
                self.extra.rate_limits = Some(r.clone());
                self.row_dirty = true;
                self.delta(SessionDelta::RateLimits { rate_limits: r });
            }
            AgentInput::Gone(detail) => {
                if self.attached_generation.is_none() {
                    return;
                }
                self.attached_generation = None;
                let versions: Vec<u64> = self.pending.iter().map(|p| p.approval.version).collect();
                for v in versions {
                    self.resolve(v, ApprovalResolution::AgentGone, None);
                }
                if let Some(turn) = self.extra.current_turn.clone() {
                    self.turn_ended(
                        turn.id,
                        "failed".into(),
                        Some("the Codex app-server exited during this turn".into()),
                    );
                }
                self.notice(format!(
                    "The Codex app-server exited ({detail}). The thread will be resumed with your next message."
                ));
                self.delta(SessionDelta::Attached { attached: false });
                self.set_status();
            }
        }
    }

    fn on_notification(&mut self, n: ServerNotification) {
        use ServerNotification as N;
        match n {
            N::TurnStarted(t) => self.turn_started(t.turn.id),
            N::TurnCompleted(t) => {
                let status = match &t.turn.status {
                    TurnStatus::Completed => "completed".to_owned(),
                    TurnStatus::Interrupted => "interrupted".to_owned(),
                    TurnStatus::Failed => "failed".to_owned(),
                    TurnStatus::InProgress => "in_progress".to_owned(),
                    TurnStatus::Unknown(s) => s.clone(),
                };
                let error = t.turn.error.as_ref().map(|e| e.message.clone());
                self.turn_ended(t.turn.id, status, error);
            }
            N::ItemStarted(i) => {
                let (id, status, body) = convert_item(&i.item, false);
                self.upsert_item(Some(i.turn_id), id, status, body);
            }
            N::ItemCompleted(i) => {
                // Authoritative.
                let (id, status, body) = convert_item(&i.item, true);
                self.upsert_item(Some(i.turn_id), id, status, body);
            }
            N::AgentMessageDelta(d) => {
                self.item_text(Some(d.turn_id), d.item_id, TextStream::Text, d.delta)
            }
            N::PlanDelta(d) => {
                self.item_text(Some(d.turn_id), d.item_id, TextStream::Text, d.delta)
            }
            N::CommandExecutionOutputDelta(d) => {
                self.item_text(Some(d.turn_id), d.item_id, TextStream::Output, d.delta)
            }
            N::ReasoningTextDelta(d) => {
                self.item_text(Some(d.turn_id), d.item_id, TextStream::Reasoning, d.delta)
            }
            N::ReasoningSummaryTextDelta(d) => self.item_text(
                Some(d.turn_id),
                d.item_id,
                TextStream::ReasoningSummary,
                d.delta,
            ),
            N::FileChangeOutputDelta(_) => {}
            N::TurnDiffUpdated(d) => {
                self.extra.diff = Some(d.diff.clone());
                self.row_dirty = true;
                self.delta(SessionDelta::Diff { diff: d.diff });
            }
            N::TurnPlanUpdated(p) => {
                let plan = Plan {
                    turn_id: Some(p.turn_id),
                    explanation: p.explanation,
                    steps: p
                        .plan
                        .into_iter()
                        .map(|s| PlanStep {
                            step: s.step,
                            status: camel_to_snake(&s.status),
                        })
                        .collect(),
                };
                self.extra.plan = Some(plan.clone());
                self.row_dirty = true;
                self.delta(SessionDelta::Plan { plan });
            }
            N::ThreadTokenUsageUpdated(u) => {
                let t = u.token_usage;
                self.summary.token_usage = TokenUsage {
                    input_tokens: t.total.input_tokens.max(0) as u64,
                    output_tokens: t.total.output_tokens.max(0) as u64,
                    cached_input_tokens: t.total.cached_input_tokens.max(0) as u64,
                    reasoning_output_tokens: t.total.reasoning_output_tokens.max(0) as u64,
                    total_tokens: t.total.total_tokens.max(0) as u64,
                    context_window: t.model_context_window.map(|c| c.max(0) as u64),
                    last_input_tokens: t.last.input_tokens.max(0) as u64,
                };
                self.summary_dirty = true;
            }
            N::ThreadNameUpdated(n) => {
                if self.summary.name != n.thread_name {
                    self.summary.name = n.thread_name;
                    self.summary_dirty = true;
                }
            }
            N::Error(e) => {
                let msg = if e.will_retry {
                    format!("{} (retrying)", e.error.message)
                } else {
                    e.error.message
                };
                let turn = Some(e.turn_id).filter(|t| !t.is_empty());
                let id = format!("error-{}", uuid::Uuid::new_v4());
                self.upsert_item(
                    turn,
                    id,
                    ItemStatus::Completed,
                    ItemBody::Error { message: msg },
                );
            }
            N::Warning(w) => {
                tracing::info!(session = %self.summary.id, warning = %w.message, "agent warning");
            }
            N::ServerRequestResolved(r) => {
                let rid = r.request_id.to_string();
                if let Some(v) = self
                    .pending
                    .iter()
                    .find(|p| p.approval.request_id == rid)
                    .map(|p| p.approval.version)
                {
                    self.resolve(v, ApprovalResolution::Withdrawn, None);
                }
            }
            N::ThreadClosed(_) => {
                self.attached_generation = None;
                self.delta(SessionDelta::Attached { attached: false });
            }
            other => {
                tracing::debug!(session = %self.summary.id, method = other.method(), "notification not used");
            }
        }
    }

    // ----- commands ---------------------------------------------------------------------

    async fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Snapshot(reply) => {
                let _ = reply.send((self.state(), self.recent.iter().cloned().collect()));
            }
            Cmd::Start { prompt, reply } => {
                let r = self.start(prompt).await;
                self.commit_and_wait().await;
                let _ = reply.send(r.map(|_| self.state()));
            }
            Cmd::Send(req, reply) => {
                let r = self.send(req).await;
                self.commit_and_wait().await;
                let _ = reply.send(r);
            }
            Cmd::Interrupt(reply) => {
                let r = self.interrupt().await;
                let _ = reply.send(r);
            }
            Cmd::End(reply) => {
                self.end().await;
                self.commit_and_wait().await;
                let _ = reply.send(Ok(self.state()));
            }
            Cmd::Resume(reply) => {
                let r = self.resume().await;
                self.commit_and_wait().await;
                let _ = reply.send(r.map(|_| self.state()));
            }
            Cmd::Takeover(reply) => {
                let r = self.takeover().await;
                self.commit_and_wait().await;
                let _ = reply.send(r.map(|_| self.state()));
            }
            Cmd::Rename(name, reply) => {
                let name = name.trim().to_owned();
                let name = Some(name).filter(|n| !n.is_empty());
                if self.summary.name != name {
                    self.summary.name = name.clone();
                    self.summary_dirty = true;
                }
                if let (Some(thread), Some(name), true) =
                    (self.summary.thread_id.clone(), name, self.is_attached())
                    && let Err(e) = self.shared.connector.set_thread_name(&thread, &name).await
                {
                    tracing::warn!(session = %self.summary.id, error = %e, "thread/name/set failed");
                }
                self.commit_and_wait().await;
                let _ = reply.send(Ok(self.state()));
            }
            Cmd::Config(patch, reply) => {
                self.apply_config(
                    patch.model,
                    patch.effort,
                    patch.approval_policy,
                    patch.sandbox_mode,
                );
                self.commit_and_wait().await;
                let _ = reply.send(Ok(self.state()));
            }
            Cmd::Approve {
                request_id,
                decision,
                answers,
                reply,
            } => {
                let r = self.approve(&request_id, decision, answers).await;
                self.commit_and_wait().await;
                let _ = reply.send(r);
            }
            Cmd::Ingest(events, reply) => {
                for e in events {
                    self.ingest(e);
                }
                if let Some(r) = reply {
                    let _ = r.send(());
                }
            }
            Cmd::IngestCommitted(events, reply) => {
                for e in events {
                    self.ingest(e);
                }
                self.commit_and_wait().await;
                let _ = reply.send(());
            }
        }
    }

    fn apply_config(
        &mut self,
        model: Option<String>,
        effort: Option<String>,
        approval_policy: Option<String>,
        sandbox_mode: Option<String>,
    ) {
        let s = &mut self.summary;
        let mut changed = false;
        for (slot, v) in [
            (&mut s.model, model),
            (&mut s.effort, effort),
            (&mut s.approval_policy, approval_policy),
            (&mut s.sandbox_mode, sandbox_mode),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty())
                && slot.as_deref() != Some(v.as_str())
            {
                *slot = Some(v);
                changed = true;
            }
        }
        if changed {
            self.summary_dirty = true;
        }
    }

    async fn start(&mut self, prompt: Option<String>) -> Result<()> {
        let cfg = thread_cfg(&self.summary);
        match self.shared.connector.start_thread(&cfg).await {
            Ok(t) => {
                self.attached_generation = Some(self.shared.connector.generation());
                self.bind_thread(t.thread_id);
                if let Some(m) = t.model
                    && self.summary.model.is_none()
                {
                    self.summary.model = Some(m);
                }
                self.summary_dirty = true;
                self.delta(SessionDelta::Attached { attached: true });
            }
            Err(e) => {
                self.notice(format!("Could not start a Codex thread: {e}"));
                self.summary.status = SessionStatus::Ended;
                self.summary_dirty = true;
                return Err(e);
            }
        }
        if let Some(p) = prompt.filter(|p| !p.trim().is_empty()) {
            self.send(SendMessageRequest {
                text: p,
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }

    fn bind_thread(&mut self, thread_id: String) {
        let mut threads = self.shared.threads.write();
        if let Some(old) = &self.summary.thread_id
            && *old != thread_id
        {
            threads.remove(old);
        }
        threads.insert(thread_id.clone(), self.summary.id.clone());
        drop(threads);
        self.summary.thread_id = Some(thread_id);
        self.summary_dirty = true;
    }

    /// Makes sure our thread is loaded in the current agent process.
    async fn ensure_attached(&mut self) -> Result<String> {
        let Some(thread_id) = self.summary.thread_id.clone() else {
            let cfg = thread_cfg(&self.summary);
            let t = self.shared.connector.start_thread(&cfg).await?;
            self.attached_generation = Some(self.shared.connector.generation());
            self.bind_thread(t.thread_id.clone());
            self.delta(SessionDelta::Attached { attached: true });
            return Ok(t.thread_id);
        };
        if self.is_attached() {
            return Ok(thread_id);
        }
        let cfg = thread_cfg(&self.summary);
        match self.shared.connector.resume_thread(&thread_id, &cfg).await {
            Ok(t) => {
                self.attached_generation = Some(self.shared.connector.generation());
                if t.thread_id != thread_id {
                    self.bind_thread(t.thread_id.clone());
                }
                self.notice("Resumed the Codex thread.");
                self.delta(SessionDelta::Attached { attached: true });
                Ok(t.thread_id)
            }
            Err(e) if is_active_writer_conflict(&e) => {
                // Never two writers on one thread: continue in a fork and say so.
                let t = self.shared.connector.fork_thread(&thread_id, &cfg).await?;
                self.attached_generation = Some(self.shared.connector.generation());
                self.bind_thread(t.thread_id.clone());
                self.notice(format!(
                    "Another process is writing thread {thread_id}; continuing in a fork ({}).",
                    t.thread_id
                ));
                self.delta(SessionDelta::Attached { attached: true });
                Ok(t.thread_id)
            }
            Err(e) => Err(e),
        }
    }

    async fn send(&mut self, req: SendMessageRequest) -> Result<SendMessageResponse> {
        if req.text.trim().is_empty() {
            return Err(Error::BadRequest("message text is empty".into()));
        }
        if self.summary.origin == orbitdock_protocol::Origin::Passive {
            return Err(Error::Conflict(
                "this session is observed only (passive); take it over first".into(),
            ));
        }
        if self.extra.current_turn.is_some() {
            return Err(Error::Conflict(
                "a turn is running; wait for it or interrupt it first".into(),
            ));
        }
        self.apply_config(req.model, req.effort, req.approval_policy, req.sandbox_mode);
        if self.summary.status == SessionStatus::Ended {
            self.summary.status = SessionStatus::Waiting;
            self.summary_dirty = true;
        }
        let thread_id = self.ensure_attached().await?;
        let cfg = thread_cfg(&self.summary);
        let turn_id = self
            .shared
            .connector
            .start_turn(&thread_id, &req.text, &cfg)
            .await?;
        if self.summary.first_prompt.is_none() {
            self.summary.first_prompt = Some(req.text.chars().take(500).collect());
            self.summary_dirty = true;
        }
        self.turn_started(turn_id.clone());
        Ok(SendMessageResponse {
            session_id: self.summary.id.clone(),
            turn_id: Some(turn_id),
            seq: None,
        })
    }

    async fn interrupt(&mut self) -> Result<()> {
        let Some(turn) = self.extra.current_turn.clone() else {
            return Err(Error::Conflict("no turn is running".into()));
        };
        let Some(thread) = self.summary.thread_id.clone() else {
            return Err(Error::Conflict("the session has no thread".into()));
        };
        if !self.is_attached() {
            // The agent lost the turn already; just close it here.
            self.turn_ended(turn.id, "interrupted".into(), None);
            return Ok(());
        }
        self.shared
            .connector
            .interrupt_turn(&thread, &turn.id)
            .await
    }

    async fn end(&mut self) {
        if let (Some(turn), Some(thread), true) = (
            self.extra.current_turn.clone(),
            self.summary.thread_id.clone(),
            self.is_attached(),
        ) && let Err(e) = self
            .shared
            .connector
            .interrupt_turn(&thread, &turn.id)
            .await
        {
            tracing::warn!(session = %self.summary.id, error = %e, "interrupt on end failed");
        }
        // Pending requests are cancelled (refused), never accepted.
        type Answerable = (u64, ApprovalKind, Option<Arc<dyn ApprovalReply>>, Value);
        let pending: Vec<Answerable> = self
            .pending
            .iter()
            .map(|p| {
                (
                    p.approval.version,
                    p.approval.kind,
                    p.reply.clone(),
                    p.approval.raw.clone(),
                )
            })
            .collect();
        for (v, kind, reply, raw) in pending {
            if let Some(r) = reply {
                let _ = r
                    .reply(approval_result(kind, ApprovalDecision::Cancel, None, &raw))
                    .await;
            }
            self.resolve(
                v,
                ApprovalResolution::TurnEnded,
                Some(ApprovalDecision::Cancel),
            );
        }
        if let Some(turn) = self.extra.current_turn.clone() {
            self.turn_ended(turn.id, "interrupted".into(), None);
        }
        self.summary.status = SessionStatus::Ended;
        self.summary_dirty = true;
    }

    async fn resume(&mut self) -> Result<()> {
        if self.summary.status == SessionStatus::Ended {
            self.summary.status = SessionStatus::Waiting;
            self.summary_dirty = true;
        }
        if self.summary.origin == orbitdock_protocol::Origin::Direct {
            self.ensure_attached().await?;
        }
        self.set_status();
        Ok(())
    }

    // --- takeover of passive Codex sessions (engineer I) ---
    async fn takeover(&mut self) -> Result<()> {
        use orbitdock_protocol::{Origin, Provider};
        if self.summary.origin != Origin::Passive {
            return Err(Error::Conflict(
                "this session is already driven by OrbitDock".into(),
            ));
        }
        if self.summary.provider != Provider::Codex {
            return Err(Error::Conflict(format!(
                "only passive Codex sessions can be taken over (this one is {:?})",
                self.summary.provider
            )));
        }
        if self.summary.thread_id.is_none() {
            return Err(Error::Conflict(
                "this passive session has no Codex thread id yet".into(),
            ));
        }
        if matches!(
            self.summary.status,
            SessionStatus::Working | SessionStatus::NeedsApproval | SessionStatus::NeedsAnswer
        ) {
            return Err(Error::Conflict(format!(
                "the Codex session is still {:?}; take it over once it is idle",
                self.summary.status
            )));
        }
        let quiet = now_ms() - self.summary.updated_at;
        if quiet < TAKEOVER_QUIET_MS {
            return Err(Error::Conflict(format!(
                "the Codex session was active {quiet} ms ago; take it over after {TAKEOVER_QUIET_MS} ms without activity"
            )));
        }
        self.summary.origin = Origin::Direct;
        if self.summary.status == SessionStatus::Ended {
            self.summary.status = SessionStatus::Waiting;
        }
        self.summary_dirty = true;
        if let Err(e) = self.ensure_attached().await {
            self.summary.origin = Origin::Passive;
            return Err(e);
        }
        self.notice("Taken over: OrbitDock now drives this Codex thread.");
        self.set_status();
        Ok(())
    }
    // --- end takeover ---

    async fn approve(
        &mut self,
        request_id: &str,
        decision: ApprovalDecision,
        answers: Option<BTreeMap<String, Vec<String>>>,
    ) -> Result<()> {
        let Some(entry) = self
            .pending
            .iter()
            .find(|p| p.approval.request_id == request_id)
        else {
            return Err(Error::ApprovalNotFound {
                session_id: self.summary.id.clone(),
                request_id: request_id.to_owned(),
            });
        };
        let version = entry.approval.version;
        let result = approval_result(
            entry.approval.kind,
            decision,
            answers.as_ref(),
            &entry.approval.raw,
        );
        let reply = entry.reply.clone();
        match reply {
            Some(r) => {
                if let Err(e) = r.reply(result).await {
                    // The agent is gone or already moved on: the approval is dead either way.
                    self.resolve(version, ApprovalResolution::AgentGone, None);
                    return Err(e);
                }
            }
            None => {
                self.resolve(version, ApprovalResolution::AgentGone, None);
                return Err(Error::Conflict("the agent that asked is gone".into()));
            }
        }
        self.resolve(version, ApprovalResolution::Decided, Some(decision));
        Ok(())
    }

    fn ingest(&mut self, e: SessionEvent) {
        match e {
            SessionEvent::Item {
                turn_id,
                item_id,
                status,
                body,
            } => {
                self.upsert_item(turn_id, item_id, status, body);
            }
            SessionEvent::ItemText {
                turn_id,
                item_id,
                stream,
                delta,
            } => self.item_text(turn_id, item_id, stream, delta),
            SessionEvent::TurnStarted { turn_id } => self.turn_started(turn_id),
            SessionEvent::TurnEnded {
                turn_id,
                status,
                error,
            } => self.turn_ended(turn_id, status, error),
            SessionEvent::TokenUsage(u) => {
                self.summary.token_usage = u;
                self.summary_dirty = true;
            }
            SessionEvent::Plan(p) => {
                self.extra.plan = Some(p.clone());
                self.row_dirty = true;
                self.delta(SessionDelta::Plan { plan: p });
            }
            SessionEvent::Diff(d) => {
                self.extra.diff = Some(d.clone());
                self.row_dirty = true;
                self.delta(SessionDelta::Diff { diff: d });
            }
            SessionEvent::Renamed(n) => {
                self.summary.name = n;
                self.summary_dirty = true;
            }
            SessionEvent::Model(m) => {
                self.summary.model = Some(m);
                self.summary_dirty = true;
            }
            SessionEvent::Status(s) => {
                if self.summary.status != s {
                    self.summary.status = s;
                    self.summary_dirty = true;
                }
            }
            SessionEvent::Notice(m) => self.notice(m),
        }
    }
}

/// Merges an update into an existing body: streamed text is kept when the update carries none
/// (an `item/started` after deltas, or a completion without aggregated output).
fn merge_body(existing: Option<ItemBody>, new: ItemBody) -> ItemBody {
    match (existing, new) {
        (Some(ItemBody::AgentMessage { text: old }), ItemBody::AgentMessage { text })
            if text.is_empty() =>
        {
            ItemBody::AgentMessage { text: old }
        }
        (
            Some(ItemBody::CommandExecution { output: old, .. }),
            ItemBody::CommandExecution {
                command,
                cwd,
                output,
                exit_code,
                duration_ms,
            },
        ) if output.is_empty() => ItemBody::CommandExecution {
            command,
            cwd,
            output: old,
            exit_code,
            duration_ms,
        },
        (
            Some(ItemBody::Reasoning {
                summary: os,
                text: ot,
            }),
            ItemBody::Reasoning { summary, text },
        ) => ItemBody::Reasoning {
            summary: if summary.is_empty() { os } else { summary },
            text: if text.is_empty() { ot } else { text },
        },
        (_, new) => new,
    }
}

fn append_text(body: &mut ItemBody, stream: TextStream, delta: &str) {
    match (body, stream) {
        (ItemBody::AgentMessage { text }, TextStream::Text)
        | (ItemBody::Plan { text }, TextStream::Text)
        | (ItemBody::Reasoning { text, .. }, TextStream::Reasoning)
        | (ItemBody::Reasoning { summary: text, .. }, TextStream::ReasoningSummary)
        | (ItemBody::CommandExecution { output: text, .. }, TextStream::Output) => {
            text.push_str(delta)
        }
        _ => {}
    }
}

fn camel_to_snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Converts Codex rate limits.
pub(crate) fn rate_limits(r: &codex_client::app_server::thread::RateLimitSnapshot) -> RateLimits {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_streamed_text() {
        let merged = merge_body(
            Some(ItemBody::AgentMessage {
                text: "hello".into(),
            }),
            ItemBody::AgentMessage {
                text: String::new(),
            },
        );
        assert_eq!(
            merged,
            ItemBody::AgentMessage {
                text: "hello".into()
            }
        );
        let mut b = ItemBody::CommandExecution {
            command: "ls".into(),
            cwd: None,
            output: "a".into(),
            exit_code: None,
            duration_ms: None,
        };
        append_text(&mut b, TextStream::Output, "b");
        assert!(matches!(b, ItemBody::CommandExecution { ref output, .. } if output == "ab"));
        assert_eq!(camel_to_snake("inProgress"), "in_progress");
    }
}
