//! The session core's one input vocabulary: provider-neutral [`SessionEvent`]s and
//! [`ApprovalRequest`]s.
//!
//! Every source of session changes speaks it: the Codex app-server connector (after
//! `connector::codex::translate`), the Claude Code connector (after `connector::claude::translate`),
//! the rollout watcher and the Claude hooks for passive sessions,
//! tests. The actor never sees an agent's wire types, so adding an agent means writing one
//! translation, not touching the actor.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use orbitdock_protocol::{
    ActionVia, ApprovalDecision, ApprovalKind, FileChange, ItemBody, ItemStatus, Plan, Question,
    RateLimits, SessionStatus, TextStream, TokenUsage, TurnStatus,
};
use serde_json::Value;

use crate::error::Result;

/// One change to a session, as any agent or observer reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// An item was added or changed (keyed by `(turn_id, item_id)`; an update of a known item
    /// keeps its `seq`).
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
    /// Streamed text appended to an item (created on the fly when the text comes first).
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
        /// How.
        status: TurnStatus,
        /// Error, for failed turns.
        error: Option<String>,
    },
    /// New cumulative token usage.
    TokenUsage(TokenUsage),
    /// New plan.
    Plan(Plan),
    /// New aggregated diff.
    Diff(String),
    /// New name (`None` clears it).
    Renamed(Option<String>),
    /// Model changed.
    Model(String),
    /// The session's running cost in USD, as the agent reports it.
    Cost(f64),
    /// Where the agent keeps this session's state (e.g. the config dir of the terminal that
    /// ran it), for resuming it somewhere other than the connector's own place.
    AgentHome(String),
    /// The agent called a tool (counted in the summary; passive sources that see each call
    /// exactly once).
    ToolUsed(String),
    /// The git branch of the working directory, as the agent reports it.
    GitBranch(String),
    /// Explicit status (passive sessions, whose status their source infers).
    Status(SessionStatus),
    /// When the source says the session was last active (Unix ms): a source with its own clock
    /// (a rollout line's timestamp) sets the session's last activity, instead of the time the
    /// change was read, so a history imported today keeps its own order.
    ActivityAt(i64),
    /// A notice from OrbitDock in the transcript.
    Notice(String),
    /// A record of an action taken through something other than a person's client (see
    /// [`ActionVia`]): a transcript notice carrying `via`, so people see who did what.
    ActionRecord {
        /// What was done.
        message: String,
        /// What it came through.
        via: ActionVia,
    },
    /// New rate limits of the account this session runs on.
    RateLimits(RateLimits),
    /// The agent withdrew a pending request (answered elsewhere, or no longer needed).
    ApprovalWithdrawn {
        /// The request id.
        request_id: String,
    },
    /// The agent unloaded the thread (it must be resumed before the next turn).
    Detached,
}

/// The user's answer to an approval, as the session core hands it to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalAnswer {
    /// The decision.
    pub decision: ApprovalDecision,
    /// Answers to questions / elicitation fields: id -> values.
    pub answers: Option<BTreeMap<String, Vec<String>>>,
    /// What to tell the agent with a refusal (agents that pass it to the model).
    pub message: Option<String>,
}

/// Sends the answer to one agent request. Each agent's connector implements it with its own
/// typed responder; the core stores it with the pending approval until a person decides, and
/// never calls it on its own except to refuse (cancel) when the session ends.
#[async_trait]
pub trait ApprovalReply: Send + Sync + fmt::Debug {
    /// Answers with the user's decision.
    async fn answer(&self, answer: &ApprovalAnswer) -> Result<()>;
    /// Refuses a request the session cannot handle (JSON-RPC error or the agent's equivalent).
    async fn refuse(&self, message: &str) -> Result<()>;
}

/// An agent request waiting for a person: a command or file-change approval, a permission
/// request, questions, an MCP elicitation.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    /// The agent's request id (unique within the session while pending).
    pub request_id: String,
    /// What it asks about.
    pub kind: ApprovalKind,
    /// The transcript item it concerns.
    pub item_id: Option<String>,
    /// The turn it belongs to (its end withdraws the request).
    pub turn_id: Option<String>,
    /// The command, for command approvals.
    pub command: Option<String>,
    /// The working directory.
    pub cwd: Option<String>,
    /// Why the agent asks.
    pub reason: Option<String>,
    /// File changes; `None` for a file-change approval means "those of the item" (the core fills
    /// them in from the transcript).
    pub changes: Option<Vec<FileChange>>,
    /// The questions, for question requests and elicitations.
    pub questions: Option<Vec<Question>>,
    /// The first question's (or the elicitation's) text.
    pub question: Option<String>,
    /// The raw request, for clients that render a kind themselves.
    pub raw: Value,
    /// How to answer it.
    pub reply: Arc<dyn ApprovalReply>,
}

impl ApprovalRequest {
    /// A request of `kind` with only the essentials set.
    pub fn new(
        request_id: impl Into<String>,
        kind: ApprovalKind,
        reply: Arc<dyn ApprovalReply>,
    ) -> Self {
        ApprovalRequest {
            request_id: request_id.into(),
            kind,
            item_id: None,
            turn_id: None,
            command: None,
            cwd: None,
            reason: None,
            changes: None,
            questions: None,
            question: None,
            raw: Value::Null,
            reply,
        }
    }
}
