//! OrbitDock's wire types: the JSON bodies of the REST API and the messages of the `/ws`
//! WebSocket, shared by the server, the CLI, tests and (as documented in this crate's README) the
//! web UI.
//!
//! Why a crate of its own, holding serde types only: the wire format is a contract between
//! processes written by different people (a Rust server, a browser UI, scripts). Keeping it free of
//! tokio, SQL and business logic means it can be read in one sitting, and a change to it is visibly
//! a change to the contract.
//!
//! Conventions (see `README.md` next to this file for the full REST + WebSocket description):
//! * JSON is `snake_case`; tagged enums use `"type"` as the tag (`"kind"` where nested inside a
//!   message that already has a `"type"`).
//! * Unknown fields are ignored everywhere (never `deny_unknown_fields`): old clients keep working
//!   when the server adds fields. Enums that may grow have an `unknown` fallback variant.
//! * Times are Unix milliseconds (`i64`), so JavaScript can use them directly.
//! * Every transcript item carries a server-assigned `seq` (monotonic per session, never reused);
//!   every session change carries a `revision` (monotonic per session); the session list has its
//!   own monotonic `revision`.

mod string_enum;

pub mod around;
pub mod hosts;
pub mod list;
pub mod notify;
pub mod pairing;

pub use around::*;
pub use hosts::*;
pub use list::*;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

string_enum! {
    /// When the agent asks before acting. Wire values are the agent's own (`untrusted`,
    /// `on-failure`, `on-request`, `never`); newer ones arrive as `Unknown` and round-trip.
    pub enum ApprovalPolicy {
        /// Ask before anything that is not known to be safe.
        Untrusted = "untrusted",
        /// Ask only when a sandboxed command fails (older agents).
        OnFailure = "on-failure",
        /// The model decides when to ask.
        OnRequest = "on-request",
        /// Never ask (escalations are refused).
        Never = "never",
    }
}

string_enum! {
    /// How far the agent's commands may reach.
    pub enum SandboxMode {
        /// Read files only.
        ReadOnly = "read-only",
        /// Write inside the workspace.
        WorkspaceWrite = "workspace-write",
        /// No sandbox.
        DangerFullAccess = "danger-full-access",
    }
}

string_enum! {
    /// Claude Code's permission mode: which tool uses it asks about. Wire values are the CLI's
    /// own (`--permission-mode`); newer ones arrive as `Unknown` and round-trip.
    pub enum PermissionMode {
        /// Ask before tools that are not known to be safe.
        Default = "default",
        /// Edits inside the working directory run without asking; commands still ask.
        AcceptEdits = "acceptEdits",
        /// Plan only: nothing that changes files runs.
        Plan = "plan",
        /// Never ask: tool uses that would need a permission are refused.
        DontAsk = "dontAsk",
    }
}

string_enum! {
    /// How a turn ended (or that it still runs).
    pub enum TurnStatus {
        /// Still running.
        InProgress = "in_progress",
        /// Finished normally.
        Completed = "completed",
        /// Stopped by the user, or cut short because the agent or the server went away.
        Interrupted = "interrupted",
        /// Failed (see the error).
        Failed = "failed",
    }
}

string_enum! {
    /// Progress of one plan step.
    #[derive(Default)]
    pub enum PlanStepStatus {
        /// Not started.
        #[default]
        Pending = "pending",
        /// Being worked on.
        InProgress = "in_progress",
        /// Done.
        Completed = "completed",
    }
}

string_enum! {
    /// Through what an action reached the server when a person did not take it in a client
    /// directly. Sent as the [`VIA_HEADER`] request header; recorded on the transcript notice
    /// ([`ItemBody::Notice`]) the server writes for the action.
    pub enum ActionVia {
        /// An agent, through `orbitdock mcp` (the MCP bridge).
        Mcp = "mcp",
        /// A button of a push notification (a one-use approval token).
        Notification = "notification",
    }
}

/// Request header naming what an action came through (an [`ActionVia`] value). Absent: a
/// person in a client. Unknown values are recorded verbatim.
pub const VIA_HEADER: &str = "x-orbitdock-via";

/// Which agent runs the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// OpenAI Codex (driven through `codex app-server`, or discovered from rollout files).
    #[default]
    Codex,
    /// Claude Code (driven through its stream-json protocol, or discovered through hooks).
    Claude,
    /// A provider this client does not know.
    #[serde(other)]
    Unknown,
}

/// How OrbitDock knows the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Started and driven by this server (it can send, approve, interrupt).
    #[default]
    Direct,
    /// Observed only (started elsewhere; events come from rollout files or hooks).
    Passive,
    /// An origin this client does not know.
    #[serde(other)]
    Unknown,
}

/// What the session is doing, as a user would ask "does it need me?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// A turn is running.
    Working,
    /// Idle, waiting for the user's next message.
    #[default]
    Waiting,
    /// A command / file-change / permission approval is pending.
    NeedsApproval,
    /// The agent asked a question (user input request / elicitation).
    NeedsAnswer,
    /// Ended (by the user, or the agent process is gone). Can be resumed.
    Ended,
    /// Its start failed (no agent thread exists); [`SessionSummary::failure`] says why in one
    /// sentence. Resuming retries the start; deleting removes it.
    Failed,
    /// Its host (a Codex app-server on another machine) cannot be reached now. Not ended: the
    /// hub reconnects, resumes the thread and the session goes back to `waiting` by itself.
    HostUnreachable,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// Token counters of a session (cumulative over the thread), plus the last turn's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenUsage {
    /// Input tokens (including cached ones).
    pub input_tokens: u64,
    /// Output tokens (including reasoning ones).
    pub output_tokens: u64,
    /// Input tokens served from the prompt cache.
    pub cached_input_tokens: u64,
    /// Output tokens spent on reasoning.
    pub reasoning_output_tokens: u64,
    /// Total tokens as reported by the agent.
    pub total_tokens: u64,
    /// The model's context window, when known.
    pub context_window: Option<u64>,
    /// Input tokens of the last model call: how full the context window is now.
    pub last_input_tokens: u64,
}

/// One rate-limit window (e.g. the 5-hour or the weekly window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RateLimitWindow {
    /// Percentage of the window used (0-100).
    pub used_percent: f64,
    /// Length of the window in minutes.
    pub window_minutes: Option<u64>,
    /// When the window resets (Unix seconds, as the agent reports it).
    pub resets_at: Option<i64>,
}

/// The account's rate limits, as last reported by the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RateLimits {
    /// The primary (short) window.
    pub primary: Option<RateLimitWindow>,
    /// The secondary (long) window.
    pub secondary: Option<RateLimitWindow>,
    /// The plan, when reported (e.g. "plus", "pro").
    pub plan_type: Option<String>,
    /// When OrbitDock received this (Unix ms).
    pub updated_at: i64,
}

/// The row of the session list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SessionSummary {
    /// OrbitDock's session id (a UUID).
    pub id: String,
    /// Which agent.
    pub provider: Provider,
    /// Driven here or observed.
    pub origin: Origin,
    /// The user's name for it (`None` until renamed).
    pub name: Option<String>,
    /// The first user prompt (a fallback display name).
    pub first_prompt: Option<String>,
    /// Working directory of the agent.
    pub cwd: String,
    /// Model in use (as last configured or reported).
    pub model: Option<String>,
    /// Reasoning effort for the next turn, when set.
    pub effort: Option<String>,
    /// Approval policy for the next turn.
    pub approval_policy: Option<ApprovalPolicy>,
    /// Sandbox mode for the next turn.
    pub sandbox_mode: Option<SandboxMode>,
    /// Claude Code's permission mode (Claude sessions only).
    pub permission_mode: Option<PermissionMode>,
    /// Current status.
    pub status: SessionStatus,
    /// The agent's thread id (Codex thread id / Claude session id), when known.
    pub thread_id: Option<String>,
    /// Number of approvals / questions waiting for the user.
    pub pending_approval_count: u32,
    /// Token usage.
    pub token_usage: TokenUsage,
    /// The session's cost in USD so far, when the agent reports it (Claude).
    pub cost_usd: Option<f64>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
    /// The session's current revision (see [`SessionDelta`]).
    pub revision: u64,
    /// Archived: hidden from the default session list (clients offer "show archived"); the
    /// agent's thread is archived too. Archiving does not end a session.
    pub archived: bool,
    /// The agent's model provider the session runs on (Codex's provider id, e.g. `codexpc` for
    /// the local model); `None` is the agent's default (the OpenAI account).
    pub model_provider: Option<String>,
    /// Why the session's start failed (one readable sentence), while its status is `failed`.
    pub failure: Option<String>,
    /// The session this one was forked from (its transcript up to the fork point is this
    /// session's start), when it is a fork.
    pub forked_from: Option<String>,
    /// Tool calls the agent made so far, where the source reports them (passive Claude
    /// sessions, from their transcript or hooks); 0 otherwise.
    pub tool_count: u64,
    /// The tool the agent called last, where `tool_count` is tracked.
    pub last_tool: Option<String>,
    /// The git branch of the working directory, as the agent last reported it.
    pub git_branch: Option<String>,
    /// The Codex host the session's agent runs on (a [`HostInfo::name`]); `None` is the hub's
    /// own machine (filters call it [`LOCAL_HOST`]). The same thread id on two hosts is two
    /// sessions.
    pub host: Option<String>,
}

/// One step of the agent's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PlanStep {
    /// What the step is.
    pub step: String,
    /// Its progress.
    pub status: PlanStepStatus,
}

/// The agent's current plan (from `update_plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Plan {
    /// The turn that produced it.
    pub turn_id: Option<String>,
    /// Optional explanation the agent gave.
    pub explanation: Option<String>,
    /// The steps, in order.
    pub steps: Vec<PlanStep>,
}

/// What kind of change a file change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FileChangeKind {
    /// A new file.
    Add,
    /// A deleted file.
    Delete,
    /// A modified (possibly moved) file.
    #[default]
    Update,
    /// A kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// One file of a file change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FileChange {
    /// Path of the file.
    pub path: String,
    /// Add / delete / update.
    pub kind: FileChangeKind,
    /// New path when the update is a move.
    pub move_path: Option<String>,
    /// Unified diff of this file.
    pub diff: String,
}

/// Lifecycle of a transcript item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Still streaming / running.
    InProgress,
    /// Finished successfully (or, for messages, simply complete).
    #[default]
    Completed,
    /// Finished with a failure (non-zero exit, patch failed, tool error).
    Failed,
    /// Not run because the user declined it.
    Declined,
    /// Cut short: its turn ended (interrupt, failure, the agent or the server went away) before
    /// the agent finished it. Its text is what had streamed until then.
    Interrupted,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// One entry of a session's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptItem {
    /// Server-assigned position in the session's transcript (monotonic, never reused). An item
    /// keeps its `seq` when it is updated.
    pub seq: u64,
    /// The agent's item id (unique within its turn), or an OrbitDock id for server notices.
    pub id: String,
    /// The turn it belongs to, when known.
    #[serde(default)]
    pub turn_id: Option<String>,
    /// Lifecycle.
    #[serde(default)]
    pub status: ItemStatus,
    /// First seen (Unix ms).
    #[serde(default)]
    pub created_at: i64,
    /// Last changed (Unix ms).
    #[serde(default)]
    pub updated_at: i64,
    /// What the item is; flattened, so the JSON has a `"type"` field next to `seq`.
    #[serde(flatten)]
    pub body: ItemBody,
}

/// The payload of a transcript item, tagged by `"type"`.
/// What a shortened command output left out (see `ItemBody::CommandExecution::output_omitted`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OmittedOutput {
    /// How many bytes at the start of `output` are the start of the real output; the rest of
    /// `output` is its end.
    pub head_bytes: u64,
    /// Bytes left out between the two.
    pub omitted_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemBody {
    /// A message the user sent.
    UserMessage {
        /// Its text.
        text: String,
    },
    /// A message from the agent (streamed through `text` deltas).
    AgentMessage {
        /// Its text (markdown).
        text: String,
    },
    /// The agent's reasoning (summary and/or raw text).
    Reasoning {
        /// Reasoning summary parts joined.
        #[serde(default)]
        summary: String,
        /// Raw reasoning text, when the model exposes it.
        #[serde(default)]
        text: String,
    },
    /// A shell command the agent ran (or asked to run).
    CommandExecution {
        /// The command line.
        command: String,
        /// Its working directory.
        #[serde(default)]
        cwd: Option<String>,
        /// stdout+stderr as aggregated so far.
        #[serde(default)]
        output: String,
        /// Exit code, once finished.
        #[serde(default)]
        exit_code: Option<i32>,
        /// Duration, once finished.
        #[serde(default)]
        duration_ms: Option<u64>,
        /// Set when `output` is not all of it: the server keeps the start and the end of a long
        /// output and leaves out the middle (its retention limits); the whole output is read
        /// back from the agent's own record through `GET /api/sessions/{id}/items/{seq}/output`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_omitted: Option<OmittedOutput>,
    },
    /// Files the agent changed (or asked to change).
    FileChange {
        /// The files with their unified diffs.
        changes: Vec<FileChange>,
    },
    /// A call to an MCP server's tool.
    McpToolCall {
        /// Server name.
        server: String,
        /// Tool name.
        tool: String,
        /// Arguments as sent.
        #[serde(default)]
        arguments: Value,
        /// Result, when it succeeded.
        #[serde(default)]
        result: Option<Value>,
        /// Error message, when it failed.
        #[serde(default)]
        error: Option<String>,
    },
    /// A web search.
    WebSearch {
        /// The query.
        #[serde(default)]
        query: String,
    },
    /// A plan the agent wrote as an item (plan mode).
    Plan {
        /// The plan text.
        text: String,
    },
    /// The agent compacted the thread's history: earlier turns were replaced by a summary in
    /// what the model sees from now on (the transcript here keeps them). In progress while the
    /// summary is being written.
    ContextCompaction {
        /// Input tokens of the context just before compaction (the session's last request),
        /// when known: what the compaction freed up, against the next figure.
        #[serde(default)]
        context_tokens_before: Option<u64>,
    },
    /// The agent entered (`entered: true`) or left review mode. Leaving carries the review's
    /// findings as markdown.
    ReviewMode {
        /// Entering or leaving.
        entered: bool,
        /// What is reviewed (entering) or the findings (leaving).
        #[serde(default)]
        review: String,
    },
    /// An error reported by the agent (e.g. a failed turn or a stream error).
    Error {
        /// What went wrong.
        message: String,
    },
    /// A notice from OrbitDock itself (e.g. "resumed after app-server restart", "forked because
    /// another process is writing this thread").
    Notice {
        /// The notice.
        message: String,
        /// Set when the notice records an action taken by a program on someone's behalf
        /// (e.g. `mcp`: an agent acting through the MCP bridge), so clients can show who did
        /// it. Absent for OrbitDock's own notices and in items stored before it existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<ActionVia>,
    },
    /// One of the thread's MCP servers changed its startup state (starting, ready, failed).
    McpServerStatus {
        /// The server's configured name.
        server: String,
        /// Its new state.
        state: McpStartupState,
        /// Why it failed.
        #[serde(default)]
        error: Option<String>,
    },
    /// The thread's goal was set, changed or cleared.
    Goal {
        /// The goal (`None`: it was cleared).
        #[serde(default)]
        goal: Option<ThreadGoal>,
    },
    /// An agent item OrbitDock does not model; the raw payload is kept.
    Other {
        /// The agent's item type (e.g. `imageView`).
        original_type: String,
        /// The raw item as the agent sent it.
        raw: Value,
    },
    /// An item type this client does not know (deserialisation fallback).
    #[serde(other)]
    Unknown,
}

/// What a pending approval asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// Run a command.
    Command,
    /// Apply file changes.
    FileChange,
    /// Grant extra permissions.
    Permissions,
    /// Answer questions (`request_user_input`).
    Question,
    /// An MCP server asks for input (elicitation).
    Elicitation,
    /// A kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// One question of a question request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Question {
    /// Id to use as the key in `answers`.
    pub id: String,
    /// Short header.
    pub header: String,
    /// The question.
    pub question: String,
    /// Suggested answers (labels).
    pub options: Vec<String>,
    /// Whether the answer is secret (render a password field).
    pub is_secret: bool,
}

/// An approval (or question) waiting for the user. Keyed by `(session_id, request_id)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// The agent's request id (stringified), unique within the session while pending.
    pub request_id: String,
    /// What it asks about.
    pub kind: ApprovalKind,
    /// Monotonic per session: increases with every approval request, so a client can tell a new
    /// request from a re-sent one.
    pub version: u64,
    /// The transcript item it concerns, when any.
    #[serde(default)]
    pub item_id: Option<String>,
    /// The turn it belongs to.
    #[serde(default)]
    pub turn_id: Option<String>,
    /// The command, for command approvals.
    #[serde(default)]
    pub command: Option<String>,
    /// The command's working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Why the agent asks (e.g. "needs network access").
    #[serde(default)]
    pub reason: Option<String>,
    /// The file changes with diffs, for file-change approvals.
    #[serde(default)]
    pub changes: Option<Vec<FileChange>>,
    /// The first question's text, for questions.
    #[serde(default)]
    pub question: Option<String>,
    /// All questions, for questions.
    #[serde(default)]
    pub questions: Option<Vec<Question>>,
    /// The raw request parameters, for kinds a client wants to render itself.
    #[serde(default)]
    pub raw: Value,
    /// When it arrived (Unix ms).
    #[serde(default)]
    pub created_at: i64,
}

/// The user's answer to an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Allow this once.
    Accept,
    /// Allow this and similar requests for the rest of the session.
    AcceptForSession,
    /// Refuse; the agent continues without it.
    Decline,
    /// Refuse and stop the turn.
    Cancel,
}

/// How a pending approval ended (approval history).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalResolution {
    /// The user decided.
    Decided,
    /// The agent withdrew it (`serverRequest/resolved` without our answer).
    Withdrawn,
    /// Its turn ended (completed / interrupted) before an answer.
    TurnEnded,
    /// The agent process went away.
    AgentGone,
    /// A resolution this client does not know.
    #[serde(other)]
    Unknown,
}

/// A past approval (history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The request as it was pending.
    pub approval: PendingApproval,
    /// How it ended.
    pub resolution: ApprovalResolution,
    /// The user's decision, when they decided.
    #[serde(default)]
    pub decision: Option<ApprovalDecision>,
    /// When it ended (Unix ms).
    pub resolved_at: i64,
}

/// The current turn, while one runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TurnInfo {
    /// The agent's turn id.
    pub id: String,
    /// Started (Unix ms).
    pub started_at: i64,
}

/// Full state of one session (`GET /api/sessions/{id}` and WS snapshots).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SessionState {
    /// The list row (id, status, usage, ...), flattened into this object.
    #[serde(flatten)]
    pub summary: SessionSummary,
    /// Approvals / questions waiting for the user, oldest first.
    pub pending_approvals: Vec<PendingApproval>,
    /// The running turn, if any.
    pub current_turn: Option<TurnInfo>,
    /// The latest plan.
    pub plan: Option<Plan>,
    /// The latest aggregated unified diff of the current/last turn.
    pub diff: Option<String>,
    /// Account rate limits as last reported.
    pub rate_limits: Option<RateLimits>,
    /// Highest transcript `seq` so far (0 when empty).
    pub last_seq: u64,
    /// Number of transcript items.
    pub item_count: u64,
    /// Whether the agent-side connection is live (false after a restart until resumed).
    pub attached: bool,
}

/// Which text field of an item a streaming delta appends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextStream {
    /// `agent_message.text` / `plan.text`.
    Text,
    /// `command_execution.output`.
    Output,
    /// `reasoning.text`.
    Reasoning,
    /// `reasoning.summary`.
    ReasoningSummary,
    /// A stream this client does not know (ignore the delta).
    #[serde(other)]
    Unknown,
}

/// One change to a session, tagged by `"kind"`. Applied in `revision` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // wire types: boxing would only complicate construction
pub enum SessionDelta {
    /// An item was added or replaced (authoritative: replace the item with the same `seq`).
    Item {
        /// The full item.
        item: TranscriptItem,
    },
    /// Text streamed into an in-progress item (append `delta` to the field named by `stream`).
    ItemText {
        /// The item's `seq`.
        seq: u64,
        /// The item's id.
        item_id: String,
        /// Which field.
        stream: TextStream,
        /// The text to append.
        delta: String,
    },
    /// The summary changed (status, name, usage, config, ...): replace it.
    Summary {
        /// The new summary.
        summary: SessionSummary,
    },
    /// A turn started.
    TurnStarted {
        /// The turn.
        turn: TurnInfo,
    },
    /// A turn ended.
    TurnEnded {
        /// Its id.
        turn_id: String,
        /// How it ended.
        status: TurnStatus,
        /// Error message for failed turns.
        #[serde(default)]
        error: Option<String>,
    },
    /// An approval or question is waiting.
    ApprovalRequested {
        /// It.
        approval: PendingApproval,
    },
    /// An approval is no longer pending.
    ApprovalResolved {
        /// Its request id.
        request_id: String,
        /// Its version.
        version: u64,
        /// How it ended.
        resolution: ApprovalResolution,
        /// The decision, when decided.
        #[serde(default)]
        decision: Option<ApprovalDecision>,
    },
    /// The plan changed.
    Plan {
        /// The new plan.
        plan: Plan,
    },
    /// The aggregated diff changed.
    Diff {
        /// The new unified diff.
        diff: String,
    },
    /// Rate limits changed.
    RateLimits {
        /// The new figures.
        rate_limits: RateLimits,
    },
    /// The transcript was rebuilt from the agent's own history (after a revert): drop every
    /// item held; the rebuilt items follow as `item` deltas (with new, higher `seq`s), older
    /// ones page in over REST as usual.
    TranscriptReset {
        /// The session's highest `seq` before the rebuilt items.
        last_seq: u64,
    },
    /// Whether the agent connection is live changed.
    Attached {
        /// Live or not.
        attached: bool,
    },
    /// A delta kind this client does not know (ignore it, keep the revision).
    #[serde(other)]
    Unknown,
}

/// A change of the session list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // wire types: boxing would only complicate construction
pub enum ListDelta {
    /// A session was added or its summary changed.
    Upsert {
        /// The full summary.
        summary: SessionSummary,
    },
    /// A session was removed from the list.
    Removed {
        /// Its id.
        id: String,
    },
    /// A delta kind this client does not know.
    #[serde(other)]
    Unknown,
}

// ---------------------------------------------------------------------------------------------
// REST bodies
// ---------------------------------------------------------------------------------------------

/// `POST /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CreateSessionRequest {
    /// Which agent runs it (Codex when absent).
    pub provider: Option<Provider>,
    /// Working directory (absolute; must exist).
    pub cwd: String,
    /// Model; the agent's default when absent.
    pub model: Option<String>,
    /// Reasoning effort.
    pub effort: Option<String>,
    /// Approval policy.
    pub approval_policy: Option<ApprovalPolicy>,
    /// Sandbox mode (Codex).
    pub sandbox_mode: Option<SandboxMode>,
    /// Permission mode (Claude).
    pub permission_mode: Option<PermissionMode>,
    /// First message to send right away.
    pub prompt: Option<String>,
    /// Name to give it.
    pub name: Option<String>,
    /// The agent's model provider (see `GET /api/providers`); the agent's default when absent.
    pub model_provider: Option<String>,
    /// The Codex host to run it on (a name of `GET /api/hosts`); the hub's own machine when
    /// absent or [`LOCAL_HOST`].
    pub host: Option<String>,
}

/// `POST /api/sessions/{id}/messages`. Overrides apply to this turn and stick for later ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SendMessageRequest {
    /// The message.
    pub text: String,
    /// Model override.
    pub model: Option<String>,
    /// Effort override.
    pub effort: Option<String>,
    /// Approval policy override.
    pub approval_policy: Option<ApprovalPolicy>,
    /// Sandbox mode override.
    pub sandbox_mode: Option<SandboxMode>,
    /// Collaboration mode of this turn (`plan`: the agent plans and may ask questions before
    /// acting); the agent's default when absent. Not sticky.
    pub collaboration_mode: Option<CollaborationMode>,
}

string_enum! {
    /// How the agent collaborates during a turn.
    pub enum CollaborationMode {
        /// Plan first; the agent may ask the user questions (answered as `question` approvals).
        Plan = "plan",
        /// The agent's normal mode.
        Default = "default",
    }
}

/// `POST /api/sessions/{id}/messages` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SendMessageResponse {
    /// The session.
    pub session_id: String,
    /// The turn the message started.
    pub turn_id: Option<String>,
    /// The `seq` of the user-message item.
    pub seq: Option<u64>,
}

/// `POST /api/sessions/{id}/revert`: drop turns from the thread's history (what the model sees
/// from now on, and the transcript). Files the dropped turns changed are NOT restored. Exactly
/// one of the fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RevertRequest {
    /// Drop this turn and every later one ("revert to before this message").
    pub before_turn_id: Option<String>,
    /// Drop every turn after this one ("everything after this answer").
    pub after_turn_id: Option<String>,
    /// Drop the last N turns.
    pub last_turns: Option<u32>,
}

/// `POST /api/sessions/{id}/fork`: a new session continuing a copy of this one's thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ForkRequest {
    /// Fork through this turn (inclusive; later turns are not copied). The whole thread when
    /// absent.
    pub through_turn_id: Option<String>,
    /// Name of the fork.
    pub name: Option<String>,
    /// Model override for the fork.
    pub model: Option<String>,
    /// Approval policy override for the fork.
    pub approval_policy: Option<ApprovalPolicy>,
    /// Sandbox mode override for the fork.
    pub sandbox_mode: Option<SandboxMode>,
}

/// What a review looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReviewTarget {
    /// The working tree: staged, unstaged and untracked changes.
    UncommittedChanges,
    /// The current branch against `branch`.
    BaseBranch {
        /// The base branch.
        branch: String,
    },
    /// One commit.
    Commit {
        /// Its sha.
        sha: String,
        /// A label (e.g. its subject).
        #[serde(default)]
        title: Option<String>,
    },
    /// Free-form review instructions.
    Custom {
        /// The instructions.
        instructions: String,
    },
    /// A target this build does not know.
    #[serde(other)]
    Unknown,
}

string_enum! {
    /// Where a review runs.
    pub enum ReviewDelivery {
        /// In the session itself, as a turn.
        Inline = "inline",
        /// In a new session forked from this one (the session's own thread stays untouched).
        Detached = "detached",
    }
}

/// `POST /api/sessions/{id}/review`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRequest {
    /// What to review.
    pub target: ReviewTarget,
    /// Where (inline when absent).
    #[serde(default)]
    pub delivery: Option<ReviewDelivery>,
}

/// `POST /api/sessions/{id}/name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RenameRequest {
    /// The new name (trimmed; empty clears it).
    pub name: String,
}

/// `PATCH /api/sessions/{id}/config`: applies from the next turn on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ConfigPatch {
    /// New approval policy.
    pub approval_policy: Option<ApprovalPolicy>,
    /// New sandbox mode.
    pub sandbox_mode: Option<SandboxMode>,
    /// New model.
    pub model: Option<String>,
    /// New effort.
    pub effort: Option<String>,
}

/// `POST /api/sessions/{id}/approvals/{request_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequestBody {
    /// The decision.
    pub decision: ApprovalDecision,
    /// Answers to questions: question id -> answers.
    #[serde(default)]
    pub answers: Option<BTreeMap<String, Vec<String>>>,
    /// With a refusal: what to tell the agent (Claude passes it to the model).
    #[serde(default)]
    pub message: Option<String>,
}

/// `GET /api/sessions/{id}/items/{seq}/output` answer: a command's whole output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FullOutputResponse {
    /// The item.
    pub seq: u64,
    /// Everything the command printed.
    pub output: String,
    /// The agent's record it was read from (`None`: the stored output was never shortened).
    pub source: Option<String>,
    /// Whether `output` is all the command printed. `false` when the agent's own record keeps
    /// only part of it (Codex shortens long outputs when it writes its rollout): `output` is
    /// then the most there is, and `note` says what is missing.
    pub complete: bool,
    /// Why `output` is not complete, in one sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /api/maintenance/prune` body: which of the hub's sessions to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PruneRequest {
    /// Sessions with no activity for this long: numbers with units, `30d`, `12h`, `2w`,
    /// `90m`, `45s`, `1d12h`.
    pub older_than: String,
    /// Only archived sessions.
    pub archived_only: bool,
    /// Count what would be deleted; delete nothing.
    pub dry_run: bool,
}

/// `POST /api/maintenance/prune` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PruneResponse {
    /// Nothing was deleted: the figures say what would be.
    pub dry_run: bool,
    /// Sessions deleted (ended or failed, old enough, archived when asked).
    pub sessions: u64,
    /// Their transcript items.
    pub items: u64,
    /// Bytes of their stored rows (sessions, items, approvals; their search documents come on
    /// top). Freed inside the database file, which keeps the space for reuse.
    pub freed_bytes: u64,
    /// Bytes free for reuse inside the database file afterwards (the file shrinks only on
    /// `VACUUM`).
    pub free_bytes_in_database: u64,
    /// Old enough but kept because they are live (working, waiting for a message, an approval
    /// or an answer, or their host is unreachable).
    pub skipped_live: u64,
    /// The sessions deleted (or that would be).
    pub session_ids: Vec<String>,
}

/// `GET /api/sessions/{id}/items` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ItemsPage {
    /// Items in `seq` order.
    pub items: Vec<TranscriptItem>,
    /// Whether more items exist beyond this page (in the paging direction).
    pub has_more: bool,
    /// The session's highest `seq` at the time of the query.
    pub last_seq: u64,
}

/// `GET /api/sessions/{id}/approvals/history` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ApprovalHistory {
    /// Newest last.
    pub approvals: Vec<ApprovalRecord>,
}

/// One model (`GET /api/models`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ModelInfo {
    /// Id to pass as `model`.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Supported reasoning efforts.
    pub efforts: Vec<String>,
    /// Default effort.
    pub default_effort: Option<String>,
    /// Whether it is the default model.
    pub is_default: bool,
}

/// `GET /api/models` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ModelsResponse {
    /// The models.
    pub models: Vec<ModelInfo>,
}

/// `GET /api/sessions` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SessionsResponse {
    /// Summaries, most recently updated first.
    pub sessions: Vec<SessionSummary>,
    /// The list revision (see `sessions_snapshot`).
    pub revision: u64,
    /// With `?limit=`: where the next page starts (absent on the last page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// With `?limit=`: how many sessions match the filters in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// `{"ok": true}` answer of actions without a richer result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OkResponse {
    /// Always true.
    pub ok: bool,
}

/// The body of every 4xx/5xx answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorInfo,
}

/// An error: a stable machine code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Stable code: `unauthorized`, `forbidden`, `not_found`, `bad_request`, `conflict`,
    /// `busy`, `agent_error`, `internal`, ...
    pub code: String,
    /// What happened, for humans.
    pub message: String,
}

/// One agent the server can start sessions with (Codex, Claude), and whether it is ready to
/// (`GET /api/agents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentInfo {
    /// Which agent.
    pub provider: Provider,
    /// Whether the server can start sessions with it (its CLI was found).
    pub available: bool,
    /// The CLI's version, when found.
    pub version: Option<String>,
    /// Whether credentials were found (`None`: the server cannot tell).
    pub credentials: Option<bool>,
    /// What was found (or what to do), for people.
    pub detail: String,
}

/// `GET /api/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AgentsResponse {
    /// Every agent the server knows.
    pub agents: Vec<AgentInfo>,
}

/// `GET /health` answer (no auth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Health {
    /// Always true when served.
    pub ok: bool,
    /// Server version.
    pub version: String,
    /// Why the server cannot save changes right now (disk full, read-only file system, data
    /// dir removed); absent when persistence works. Live updates keep flowing meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

/// A message from a WebSocket client. Every message may carry a `client_ref`, echoed in the
/// matching `ack` / `error` so a client can correlate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // wire types: boxing would only complicate construction
pub enum ClientMessage {
    /// Follow the session list: answered by `sessions_snapshot` (or, with `since_revision` still
    /// in the replay log, by exactly the missed `sessions_delta`s), then live deltas.
    SubscribeList {
        /// Last list revision the client has applied.
        #[serde(default)]
        since_revision: Option<u64>,
        /// Page size: with it, the answer is a `sessions_page` with the first `limit` rows
        /// matching `query`, and the deltas that follow are only those for rows in view (the
        /// pages sent so far, and rows entering them); without it, the whole list as before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        /// Filters and order of the paged view.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<ListQuery>,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// The next page of the paged list view (answered by a `sessions_page` with `append`).
    ListMore {
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Stop following the list.
    UnsubscribeList {
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Follow a session: `session_snapshot` (or the missed `session_delta`s), then live deltas.
    SubscribeSession {
        /// The session.
        session_id: String,
        /// Last session revision the client has applied.
        #[serde(default)]
        since_revision: Option<u64>,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Stop following a session.
    UnsubscribeSession {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Create a session (same fields as `POST /api/sessions`); acked with the new state.
    CreateSession {
        /// The request.
        #[serde(flatten)]
        request: CreateSessionRequest,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Send a message.
    SendMessage {
        /// The session.
        session_id: String,
        /// The message and overrides.
        #[serde(flatten)]
        request: SendMessageRequest,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Interrupt the running turn.
    Interrupt {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// End the session.
    EndSession {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Take over an idle passive session: the server resumes its thread and drives it from
    /// now on (`conflict` with the reason when it cannot: not idle, not takeable, ...).
    TakeoverSession {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Resume an ended / detached session.
    ResumeSession {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Rename.
    RenameSession {
        /// The session.
        session_id: String,
        /// The new name.
        name: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Change config for the next turns.
    UpdateConfig {
        /// The session.
        session_id: String,
        /// The change.
        #[serde(flatten)]
        patch: ConfigPatch,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Answer an approval or question.
    Approve {
        /// The session.
        session_id: String,
        /// The request.
        request_id: String,
        /// The decision.
        decision: ApprovalDecision,
        /// Answers to questions.
        #[serde(default)]
        answers: Option<BTreeMap<String, Vec<String>>>,
        /// With a refusal: what to tell the agent (Claude passes it to the model).
        #[serde(default)]
        message: Option<String>,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Archive (`archived: true`) or unarchive a session; acked with the new state.
    SetArchived {
        /// The session.
        session_id: String,
        /// The new value.
        archived: bool,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Compact the session's thread history (the agent summarises earlier turns); acked once
    /// the compaction has started. It runs as a turn: watch its item and its end.
    CompactSession {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Delete a session and its agent thread (no undo); acked with `{ok: true}`.
    DeleteSession {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// The MCP servers of a session's agent; acked with a `McpServersResponse`.
    ListMcpServers {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// The threads the agent knows; acked with an `AgentThreadsResponse`.
    ListAgentThreads {
        /// Search and paging.
        #[serde(flatten)]
        query: AgentThreadsQuery,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Drop turns from the thread's history; acked with the new state once the transcript is
    /// rebuilt (same fields as `POST /api/sessions/{id}/revert`).
    RevertSession {
        /// The session.
        session_id: String,
        /// What to drop.
        #[serde(flatten)]
        request: RevertRequest,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Import a thread the agent knows as a session with its history; acked with its state.
    ImportThread {
        /// The thread.
        #[serde(flatten)]
        request: ImportThreadRequest,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Fork a session; acked with the new session's state.
    ForkSession {
        /// The session.
        session_id: String,
        /// Where and how.
        #[serde(flatten)]
        request: ForkRequest,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// The agent's effective config; acked with an `AgentConfigResponse`.
    ReadAgentConfig {
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Set one value of the agent's config; acked with the new `AgentConfigResponse`.
    WriteAgentConfig {
        /// The change.
        #[serde(flatten)]
        write: ConfigValueWrite,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Run a one-off command in a session's directory and sandbox; acked with a
    /// `RunCommandResponse`, output streams into the transcript.
    RunCommand {
        /// The session.
        session_id: String,
        /// The command.
        #[serde(flatten)]
        request: RunCommandRequest,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Stop a running one-off command.
    TerminateCommand {
        /// The session.
        session_id: String,
        /// The run.
        command_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Write to a running one-off command's stdin.
    WriteCommandStdin {
        /// The session.
        session_id: String,
        /// The run.
        command_id: String,
        /// The text.
        #[serde(flatten)]
        stdin: CommandStdin,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Account rate limits and usage; acked with a `UsageResponse`.
    ReadUsage {
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// A session's skills; acked with a `SkillsResponse`.
    ListSkills {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Read a session's goal; acked with a `GoalResponse`.
    GetGoal {
        /// The session.
        session_id: String,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Set (or with an empty objective clear) a session's goal; acked with a `GoalResponse`.
    SetGoal {
        /// The session.
        session_id: String,
        /// The goal.
        #[serde(flatten)]
        request: SetGoalRequest,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Start a review; acked with the state of the session it runs in (a new one when detached).
    StartReview {
        /// The session.
        session_id: String,
        /// What and where.
        #[serde(flatten)]
        request: ReviewRequest,
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// Liveness check; answered by `pong`.
    Ping {
        /// Correlation.
        #[serde(default)]
        client_ref: Option<String>,
    },
}

/// A message from the server on the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // wire types: boxing would only complicate construction
pub enum ServerMessage {
    /// First message on every connection.
    Hello {
        /// Server version.
        version: String,
    },
    /// The whole session list at `revision`.
    SessionsSnapshot {
        /// List revision.
        revision: u64,
        /// Most recently updated first.
        sessions: Vec<SessionSummary>,
    },
    /// A page of the list view (`subscribe_list` with a `limit`, or `list_more`). Deltas of a
    /// paged view skip revisions of rows out of view: they arrive in order, but not one by one.
    SessionsPage {
        /// The page.
        #[serde(flatten)]
        page: SessionsPage,
        /// Rows to add after those already held (`list_more`); otherwise they replace them.
        #[serde(default)]
        append: bool,
    },
    /// One list change; `revision` is the previous one + 1.
    SessionsDelta {
        /// List revision after this change.
        revision: u64,
        /// The change.
        delta: ListDelta,
    },
    /// A session's full state at `revision`, with the tail of its transcript.
    SessionSnapshot {
        /// The session.
        session_id: String,
        /// Session revision.
        revision: u64,
        /// Its state.
        state: SessionState,
        /// The last items (up to 200) in `seq` order; older ones via
        /// `GET /api/sessions/{id}/items?before=SEQ`.
        items: Vec<TranscriptItem>,
    },
    /// One session change; `revision` is the previous one + 1.
    SessionDelta {
        /// The session.
        session_id: String,
        /// Session revision after this change.
        revision: u64,
        /// The change.
        delta: SessionDelta,
    },
    /// Success of a client request.
    Ack {
        /// The request's `client_ref`.
        #[serde(default)]
        client_ref: Option<String>,
        /// Its result (e.g. the new session's state for `create_session`).
        #[serde(default)]
        result: Value,
    },
    /// Failure of a client request, or an unreadable message.
    Error {
        /// The request's `client_ref`, when known.
        #[serde(default)]
        client_ref: Option<String>,
        /// The session concerned, when any.
        #[serde(default)]
        session_id: Option<String>,
        /// Stable code (as in [`ErrorInfo`]).
        code: String,
        /// What happened.
        message: String,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's `client_ref`.
        #[serde(default)]
        client_ref: Option<String>,
    },
    /// A Codex host was added or its state changed (sent to every connection).
    HostChanged {
        /// The host as `GET /api/hosts` would show it now.
        host: HostInfo,
    },
    /// A Codex host was removed (sent to every connection).
    HostRemoved {
        /// Its name.
        name: String,
    },
    /// A message type this client does not know.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transcript_item_is_flat_and_tagged() {
        let item = TranscriptItem {
            seq: 3,
            id: "call_1".into(),
            turn_id: Some("t1".into()),
            status: ItemStatus::Completed,
            created_at: 1,
            updated_at: 2,
            body: ItemBody::CommandExecution {
                command: "ls".into(),
                cwd: Some("/tmp".into()),
                output: "a\n".into(),
                exit_code: Some(0),
                duration_ms: Some(5),
                output_omitted: None,
            },
        };
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(
            v,
            json!({"seq":3,"id":"call_1","turn_id":"t1","status":"completed","created_at":1,
                   "updated_at":2,"type":"command_execution","command":"ls","cwd":"/tmp",
                   "output":"a\n","exit_code":0,"duration_ms":5})
        );
        let back: TranscriptItem = serde_json::from_value(v).unwrap();
        assert_eq!(back, item);
    }

    #[test]
    fn unknown_fields_and_variants_are_tolerated() {
        let item: TranscriptItem = serde_json::from_value(
            json!({"seq":1,"id":"x","type":"hologram","colour":"blue","extra":1}),
        )
        .unwrap();
        assert_eq!(item.body, ItemBody::Unknown);
        let msg: ServerMessage = serde_json::from_value(json!({"type":"brand_new","x":1})).unwrap();
        assert_eq!(msg, ServerMessage::Unknown);
        let s: SessionSummary =
            serde_json::from_value(json!({"id":"a","status":"dreaming","new_field":true})).unwrap();
        assert_eq!(s.status, SessionStatus::Unknown);
    }

    #[test]
    fn host_messages_and_their_fallbacks() {
        let m = ServerMessage::HostChanged {
            host: HostInfo {
                name: "box".into(),
                url: "ws://127.0.0.1:4500".into(),
                kind: HostKind::Ws,
                state: HostState::Unreachable,
                codex_version: Some("0.169.0".into()),
                last_error: Some("refused".into()),
                sessions: 2,
            },
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            json!({"type":"host_changed","host":{"name":"box","url":"ws://127.0.0.1:4500",
                   "kind":"ws","state":"unreachable","codex_version":"0.169.0",
                   "last_error":"refused","sessions":2}})
        );
        assert_eq!(serde_json::from_value::<ServerMessage>(v).unwrap(), m);
        let h: HostInfo =
            serde_json::from_value(json!({"name":"x","kind":"carrier_pigeon","state":"asleep"}))
                .unwrap();
        assert_eq!((h.kind, h.state), (HostKind::Unknown, HostState::Unknown));
        let s: SessionSummary =
            serde_json::from_value(json!({"id":"a","status":"host_unreachable","host":"box"}))
                .unwrap();
        assert_eq!(
            (s.status, s.host.as_deref()),
            (SessionStatus::HostUnreachable, Some("box"))
        );
    }

    #[test]
    fn client_messages_flatten_their_requests() {
        let m: ClientMessage = serde_json::from_value(json!({
            "type":"send_message","session_id":"s","text":"hi","model":"m","client_ref":"r1"
        }))
        .unwrap();
        assert_eq!(
            m,
            ClientMessage::SendMessage {
                session_id: "s".into(),
                request: SendMessageRequest {
                    text: "hi".into(),
                    model: Some("m".into()),
                    ..Default::default()
                },
                client_ref: Some("r1".into()),
            }
        );
        let m: ClientMessage =
            serde_json::from_value(json!({"type":"create_session","cwd":"/w","prompt":"go"}))
                .unwrap();
        assert!(
            matches!(m, ClientMessage::CreateSession { ref request, .. } if request.cwd == "/w")
        );
    }

    #[test]
    fn set_archived_and_the_archived_flag_on_the_wire() {
        let m: ClientMessage =
            serde_json::from_value(json!({"type":"set_archived","session_id":"s","archived":true}))
                .unwrap();
        assert_eq!(
            m,
            ClientMessage::SetArchived {
                session_id: "s".into(),
                archived: true,
                client_ref: None,
            }
        );
        // Rows stored before the flag existed read as not archived.
        let s: SessionSummary = serde_json::from_value(json!({"id": "a"})).unwrap();
        assert!(!s.archived);
    }

    #[test]
    fn deltas_are_tagged_by_kind() {
        let m = ServerMessage::SessionDelta {
            session_id: "s".into(),
            revision: 7,
            delta: SessionDelta::ItemText {
                seq: 2,
                item_id: "i".into(),
                stream: TextStream::Text,
                delta: "he".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"type":"session_delta","session_id":"s","revision":7,
                   "delta":{"kind":"item_text","seq":2,"item_id":"i","stream":"text","delta":"he"}})
        );
    }

    #[test]
    fn string_enums_keep_unknown_values_verbatim() {
        let s: SessionSummary = serde_json::from_value(json!({
            "id": "a", "approval_policy": "on-request", "sandbox_mode": "sandbox-of-tomorrow"
        }))
        .unwrap();
        assert_eq!(s.approval_policy, Some(ApprovalPolicy::OnRequest));
        assert_eq!(
            s.sandbox_mode,
            Some(SandboxMode::Unknown("sandbox-of-tomorrow".into()))
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["approval_policy"], "on-request");
        assert_eq!(v["sandbox_mode"], "sandbox-of-tomorrow");
        let d: SessionDelta = serde_json::from_value(
            json!({"kind": "turn_ended", "turn_id": "t", "status": "paused"}),
        )
        .unwrap();
        assert_eq!(
            d,
            SessionDelta::TurnEnded {
                turn_id: "t".into(),
                status: TurnStatus::Unknown("paused".into()),
                error: None
            }
        );
        assert_eq!(TurnStatus::parse("interrupted"), TurnStatus::Interrupted);
        assert_eq!(PlanStepStatus::default().as_str(), "pending");
        assert!(ApprovalPolicy::KNOWN.iter().all(|p| p.is_known()));
        // A non-string where a string enum belongs is a decode error, not a panic.
        assert!(serde_json::from_value::<TurnStatus>(json!(3)).is_err());
    }

    #[test]
    fn session_state_flattens_summary() {
        let st = SessionState {
            summary: SessionSummary {
                id: "s".into(),
                status: SessionStatus::NeedsApproval,
                ..Default::default()
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(v["id"], "s");
        assert_eq!(v["status"], "needs_approval");
        assert_eq!(v["pending_approvals"], json!([]));
        let back: SessionState = serde_json::from_value(v).unwrap();
        assert_eq!(back, st);
    }
}

/// `GET /api/account`: who the agent (Codex) is logged in as, read from the agent itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AccountStatus {
    /// Someone is logged in.
    pub logged_in: bool,
    /// How: `api_key`, `chatgpt`, or the agent's own word for a newer kind.
    pub kind: Option<String>,
    /// ChatGPT logins: the account's e-mail.
    pub email: Option<String>,
    /// ChatGPT logins: the plan (`plus`, `pro`, ...).
    pub plan: Option<String>,
    /// The agent's configured provider needs an OpenAI login (false when it runs on a local
    /// provider by default).
    pub requires_openai_auth: bool,
    /// The agent's home directory (where the login is stored).
    pub codex_home: String,
    /// Set when the account could not be read (the agent did not start, ...): one sentence.
    pub error: Option<String>,
}

string_enum! {
    /// How to log in.
    pub enum LoginMethod {
        /// An OpenAI API key (stored by the agent; done at once).
        ApiKey = "api_key",
        /// ChatGPT with a device code: the answer carries a code to enter at a URL; the login
        /// completes when the user has done so (poll `GET /api/account`).
        DeviceCode = "device_code",
    }
}

/// `POST /api/account/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The method.
    pub method: LoginMethod,
    /// `api_key` logins: the key.
    #[serde(default)]
    pub api_key: Option<String>,
}

/// `POST /api/account/login` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LoginResponse {
    /// The account after the call (logged in at once for API keys).
    pub account: AccountStatus,
    /// Device-code logins: the code to enter.
    pub user_code: Option<String>,
    /// Device-code logins: where to enter it.
    pub verification_url: Option<String>,
}

string_enum! {
    /// Whether a model provider can take sessions now.
    pub enum ProviderState {
        /// Ready.
        Up = "up",
        /// Being started.
        Starting = "starting",
        /// Not reachable (it crashed or was stopped; a supervised one is being restarted).
        Down = "down",
        /// Needs a login first (the OpenAI account).
        LoggedOut = "logged_out",
    }
}

/// One model provider sessions can run on (`GET /api/providers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderStatus {
    /// The agent's provider id: `openai` (the account) or `codexpc` (the local model).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Whether it can take sessions now.
    pub state: ProviderState,
    /// One sentence about the state (why it is down, who is logged in).
    #[serde(default)]
    pub detail: Option<String>,
    /// The model it serves, when it serves one model.
    #[serde(default)]
    pub model: Option<String>,
    /// Context size of one conversation, in tokens.
    #[serde(default)]
    pub context_size: Option<u64>,
    /// Recent generation speed (tokens per second over the last generating interval).
    #[serde(default)]
    pub tokens_per_second: Option<f64>,
    /// Generations running or queued now.
    #[serde(default)]
    pub busy: Option<u64>,
    /// Sessions of this server on this provider that are not ended.
    #[serde(default)]
    pub sessions: u64,
}

/// `GET /api/providers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProvidersResponse {
    /// Every provider, the account first.
    pub providers: Vec<ProviderStatus>,
}

/// `POST /api/providers/local`: serve this GGUF model as the local provider (the server starts
/// and supervises the local model daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalModelRequest {
    /// Absolute path of a gpt-oss GGUF file on the server's machine.
    pub model_path: String,
}
