//! Where a Claude Code stream-json line or permission request becomes OrbitDock's neutral
//! [`SessionEvent`]s and [`ApprovalRequest`]s — the ONLY place that does it.
//!
//! The CLI reports a turn as (see the `claude-code` crate's README): `system/init`, per model
//! response `stream_event`s wrapping the API's SSE events, one `assistant` line per content
//! block (written right after the block's last delta), `user` lines carrying `tool_result`s with
//! a structured `tool_use_result`, and a final `result`. [`Translator`] keeps the little state
//! needed to turn that into items:
//!
//! * item ids: a streamed block is `<api message id>:<block index>`, so its deltas and its
//!   authoritative `assistant` line land on the same item; a tool call is its `tool_use` id, so
//!   its result (and the permission request about it) land on the call's item;
//! * the tool calls of the turn (name + input), to render results: Bash output as a command
//!   item, Edit/Write/MultiEdit as file changes with unified diffs (also aggregated as the
//!   turn's diff), TodoWrite as the plan, anything else as a generic tool call with its input
//!   and result;
//! * the session's usage, summed over turns (`result.usage` is the turn's), and its cost
//!   (`result.total_cost_usd` is already the session's running total).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use claude_code::PermissionRequest;
use claude_code::protocol::content::{ContentBlock, ToolResultBlock, ToolUseBlock, UserContent};
use claude_code::protocol::messages::{
    AssistantMessage, ResultMessage, SystemMessage, Usage, UserMessage, UserPayload,
};
use claude_code::protocol::stream::{ContentBlockStart, Delta, StreamEvent};
use claude_code::protocol::tool_results::{FileChange as ClaudeFileChange, FileChangeKind};
use claude_code::protocol::{OutputMessage, tool_results};
use orbitdock_protocol::{
    ApprovalDecision, ApprovalKind, FileChange, FileChangeKind as Kind, ItemBody, ItemStatus, Plan,
    PlanStep, PlanStepStatus, TextStream, TokenUsage, TurnStatus,
};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::session::{ApprovalAnswer, ApprovalReply, ApprovalRequest, SessionEvent};

/// What the model sees when a person declines without saying why.
pub const DEFAULT_DENIAL: &str = "The user declined this tool use.";

/// Tools whose calls change files (rendered as diffs).
fn is_file_tool(name: &str) -> bool {
    matches!(name, "Edit" | "MultiEdit" | "Write" | "NotebookEdit")
}

/// Per-session translation state (one per CLI process).
#[derive(Debug, Default)]
pub struct Translator {
    /// The turn the next lines belong to (set by the connector when it sends a message).
    pub turn_id: Option<String>,
    /// The API message id of the response being streamed.
    message_id: Option<String>,
    /// Index of the block being streamed.
    open_block: Option<u32>,
    /// Blocks of a response that arrived as `assistant` lines, by API message id (for
    /// responses that were not streamed).
    blocks_seen: HashMap<String, u32>,
    /// Tool calls of this process: id -> (name, input).
    tools: HashMap<String, (String, Value)>,
    /// File diffs of the current turn, aggregated.
    turn_diffs: Vec<String>,
    /// Usage summed over turns.
    usage: TokenUsage,
    /// The model last reported.
    model: Option<String>,
    /// The working directory last reported.
    cwd: Option<String>,
}

impl Translator {
    /// A translator for a session whose usage so far is `usage` (a resumed session goes on
    /// counting).
    pub fn new(usage: TokenUsage) -> Self {
        Translator {
            usage,
            ..Default::default()
        }
    }

    fn turn(&self) -> Option<String> {
        self.turn_id.clone()
    }

    /// Marks the start of a turn.
    pub fn begin_turn(&mut self, turn_id: String) {
        self.turn_id = Some(turn_id);
        self.turn_diffs.clear();
    }

    /// Translates one line from the CLI.
    pub fn message(&mut self, m: OutputMessage) -> Vec<SessionEvent> {
        match m {
            OutputMessage::System(SystemMessage::Init(init)) => {
                self.cwd = Some(init.cwd.clone()).filter(|c| !c.is_empty());
                if !init.model.is_empty() && self.model.as_deref() != Some(init.model.as_str()) {
                    self.model = Some(init.model.clone());
                    return vec![SessionEvent::Model(init.model)];
                }
                Vec::new()
            }
            OutputMessage::StreamEvent(e) => {
                // Sub-agent (Task tool) streams are not the session's own messages.
                if e.parent_tool_use_id.is_some() {
                    return Vec::new();
                }
                self.stream_event(e.event)
            }
            OutputMessage::Assistant(a) => self.assistant(a),
            OutputMessage::User(u) => self.user(u),
            OutputMessage::Result(r) => self.result(r),
            _ => Vec::new(),
        }
    }

    fn block_item_id(&self, message_id: &str, index: u32) -> String {
        format!("{message_id}:{index}")
    }

    fn stream_event(&mut self, e: StreamEvent) -> Vec<SessionEvent> {
        match e {
            StreamEvent::MessageStart(s) => {
                self.message_id = s
                    .message
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.open_block = None;
                Vec::new()
            }
            StreamEvent::ContentBlockStart(ContentBlockStart { index, .. }) => {
                self.open_block = Some(index);
                Vec::new()
            }
            StreamEvent::ContentBlockDelta(d) => {
                let Some(msg) = self.message_id.clone() else {
                    return Vec::new();
                };
                let (stream, text) = match d.delta {
                    Delta::Text(t) => (TextStream::Text, t.text),
                    Delta::Thinking(t) => (TextStream::Reasoning, t.thinking),
                    // Tool input fragments and signatures: the complete block follows.
                    _ => return Vec::new(),
                };
                vec![SessionEvent::ItemText {
                    turn_id: self.turn(),
                    item_id: self.block_item_id(&msg, d.index),
                    stream,
                    delta: text,
                }]
            }
            StreamEvent::ContentBlockStop(_) => {
                self.open_block = None;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn assistant(&mut self, a: AssistantMessage) -> Vec<SessionEvent> {
        if a.parent_tool_use_id.is_some() {
            return Vec::new();
        }
        if a.is_api_error_message {
            let message = match (a.text(), a.error.as_deref()) {
                (t, _) if !t.is_empty() => t,
                (_, Some(e)) => format!("API error: {e}"),
                _ => "API error".to_owned(),
            };
            return vec![SessionEvent::Item {
                turn_id: self.turn(),
                item_id: format!("error-{}", uuid::Uuid::new_v4()),
                status: ItemStatus::Completed,
                body: ItemBody::Error { message },
            }];
        }
        let msg_id = a.message.id.clone();
        let mut out = Vec::new();
        for block in a.message.content {
            // The block streamed last is the one this line completes; without streaming, count
            // the blocks of the response.
            let index = match (self.open_block, self.message_id.as_deref()) {
                (Some(i), Some(m)) if m == msg_id => i,
                _ => {
                    let n = self.blocks_seen.entry(msg_id.clone()).or_insert(0);
                    *n += 1;
                    *n - 1
                }
            };
            let item_id = self.block_item_id(&msg_id, index);
            out.extend(self.block(item_id, block));
        }
        out
    }

    /// The events of one content block of an assistant message.
    fn block(&mut self, item_id: String, block: ContentBlock) -> Vec<SessionEvent> {
        match block {
            ContentBlock::Text(t) => vec![SessionEvent::Item {
                turn_id: self.turn(),
                item_id,
                status: ItemStatus::Completed,
                body: ItemBody::AgentMessage { text: t.text },
            }],
            ContentBlock::Thinking(t) => vec![SessionEvent::Item {
                turn_id: self.turn(),
                item_id,
                status: ItemStatus::Completed,
                body: ItemBody::Reasoning {
                    summary: String::new(),
                    text: t.thinking,
                },
            }],
            ContentBlock::ToolUse(t) => self.tool_use(t),
            _ => Vec::new(),
        }
    }

    /// Translates one line of a Claude Code transcript (`<config dir>/projects/<cwd slug>/
    /// <session id>.jsonl`, the hooks' `transcript_path`). Its `user` and `assistant` lines
    /// carry the same API messages as the stream-json output, in an envelope of their own
    /// (camelCase: `toolUseResult`, `isSidechain`, `isMeta`, `isApiErrorMessage`,
    /// `apiBlockIndex`, `uuid`, `cwd`), plus the person's own prompts, which stream-json does
    /// not echo. Other line types (attachments, prompt snapshots, bookkeeping) are not part of
    /// the conversation and yield nothing.
    ///
    /// Item ids do not depend on what was read before: a prompt is its line's `uuid`, a block
    /// `<api message id>:<apiBlockIndex>` (the id the streamed session uses), a tool call its
    /// `tool_use` id. A transcript read again from the start (rewritten, or its checkpoint
    /// lost) therefore updates its items instead of copying them. Each tool call also yields
    /// [`SessionEvent::ToolUsed`]; a result forgets its call (see [`Self::open_tools`]).
    pub fn transcript_line(&mut self, line: &Value) -> Vec<SessionEvent> {
        let flag = |k: &str| line.get(k).and_then(Value::as_bool).unwrap_or(false);
        // Sub-agent (Task tool) conversations and the CLI's own notes to the model.
        if flag("isSidechain") || flag("isMeta") {
            return Vec::new();
        }
        if let Some(cwd) = line
            .get("cwd")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            self.cwd = Some(cwd.to_owned());
        }
        let uuid = line
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match line.get("type").and_then(Value::as_str) {
            Some("user") => self.transcript_user(line, uuid),
            Some("assistant") if flag("isApiErrorMessage") => {
                let text = serde_json::from_value::<AssistantMessage>(line.clone())
                    .map(|a| a.text())
                    .unwrap_or_default();
                vec![SessionEvent::Item {
                    turn_id: self.turn(),
                    item_id: uuid,
                    status: ItemStatus::Completed,
                    body: ItemBody::Error {
                        message: if text.is_empty() {
                            "API error".to_owned()
                        } else {
                            text
                        },
                    },
                }]
            }
            Some("assistant") => self.transcript_assistant(line, &uuid),
            _ => Vec::new(),
        }
    }

    fn transcript_user(&mut self, line: &Value, uuid: String) -> Vec<SessionEvent> {
        let Some(payload) = line
            .get("message")
            .and_then(|m| serde_json::from_value::<UserPayload>(m.clone()).ok())
        else {
            return Vec::new();
        };
        let prompt = match &payload.content {
            UserContent::Text(t) => Some(t.clone()),
            UserContent::Blocks(blocks)
                if !blocks
                    .iter()
                    .any(|b| matches!(b, ContentBlock::ToolResult(_))) =>
            {
                Some(payload.content.text())
            }
            UserContent::Blocks(_) => None,
        };
        if let Some(text) = prompt {
            // Slash-command bookkeeping and interruption markers are not prompts.
            let t = text.trim_start();
            if uuid.is_empty()
                || t.is_empty()
                || t.starts_with("<command-")
                || t.starts_with("<local-command-")
                || t.starts_with("[Request interrupted")
            {
                return Vec::new();
            }
            return vec![SessionEvent::Item {
                turn_id: self.turn(),
                item_id: uuid,
                status: ItemStatus::Completed,
                body: ItemBody::UserMessage { text },
            }];
        }
        let u = UserMessage {
            message: payload,
            parent_tool_use_id: None,
            session_id: String::new(),
            uuid: Some(uuid),
            tool_use_result: line.get("toolUseResult").cloned(),
            is_replay: false,
        };
        let answered: Vec<String> = u
            .tool_results()
            .into_iter()
            .map(|r| r.tool_use_id)
            .collect();
        let out = self.user(u);
        for id in answered {
            self.tools.remove(&id);
        }
        out
    }

    fn transcript_assistant(&mut self, line: &Value, uuid: &str) -> Vec<SessionEvent> {
        let Ok(a) = serde_json::from_value::<AssistantMessage>(line.clone()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let model = a.message.model.clone();
        if !model.is_empty() && model != "<synthetic>" && self.model.as_deref() != Some(&model) {
            self.model = Some(model.clone());
            out.push(SessionEvent::Model(model));
        }
        let first = line
            .get("apiBlockIndex")
            .and_then(Value::as_u64)
            .filter(|_| !a.message.id.is_empty());
        for (i, block) in a.message.content.into_iter().enumerate() {
            let item_id = match first {
                Some(f) => self.block_item_id(&a.message.id, f as u32 + i as u32),
                None => format!("{uuid}:{i}"),
            };
            if let ContentBlock::ToolUse(t) = &block {
                out.push(SessionEvent::ToolUsed(t.name.clone()));
            }
            out.extend(self.block(item_id, block));
        }
        out
    }

    /// Tool calls whose result has not been read yet: id -> (name, input). A transcript
    /// reader keeps them with its checkpoint, so a result read after a restart still finds its
    /// call (and renders as a command or a diff rather than a bare result).
    pub fn open_tools(&self) -> BTreeMap<String, (String, Value)> {
        self.tools
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Restores [`Self::open_tools`] saved with a checkpoint.
    pub fn restore_open_tools(&mut self, tools: BTreeMap<String, (String, Value)>) {
        self.tools.extend(tools);
    }

    fn tool_use(&mut self, t: ToolUseBlock) -> Vec<SessionEvent> {
        self.tools
            .insert(t.id.clone(), (t.name.clone(), t.input.clone()));
        if t.name == "TodoWrite" {
            return vec![SessionEvent::Plan(todo_plan(self.turn(), &t.input))];
        }
        let body = self.tool_body(&t.name, &t.input, None);
        vec![SessionEvent::Item {
            turn_id: self.turn(),
            item_id: t.id,
            status: ItemStatus::InProgress,
            body,
        }]
    }

    /// The item body of a tool call, before (`result` None) or after it ran.
    fn tool_body(&self, name: &str, input: &Value, result: Option<&ToolOutcome>) -> ItemBody {
        let str_field = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_owned);
        match name {
            "Bash" => ItemBody::CommandExecution {
                command: str_field("command").unwrap_or_default(),
                cwd: self.cwd.clone(),
                output: result.map(|r| r.text.clone()).unwrap_or_default(),
                exit_code: result.and_then(|r| r.exit_code),
                duration_ms: None,
                output_omitted: None,
            },
            n if is_file_tool(n) => {
                let change = match result.and_then(|r| r.file_change.as_ref()) {
                    Some(c) => file_change(c),
                    None => FileChange {
                        path: str_field("file_path")
                            .or_else(|| str_field("notebook_path"))
                            .unwrap_or_default(),
                        kind: if n == "Write" {
                            Kind::Add
                        } else {
                            Kind::Update
                        },
                        move_path: None,
                        diff: tool_results::proposed_diff(n, input).unwrap_or_default(),
                    },
                };
                ItemBody::FileChange {
                    changes: vec![change],
                }
            }
            n => {
                let (server, tool) = match n.strip_prefix("mcp__").and_then(|r| r.split_once("__"))
                {
                    Some((server, tool)) => (server.to_owned(), tool.to_owned()),
                    None => ("claude".to_owned(), n.to_owned()),
                };
                ItemBody::McpToolCall {
                    server,
                    tool,
                    arguments: input.clone(),
                    result: result
                        .filter(|r| !r.is_error)
                        .map(|r| Value::String(r.text.clone())),
                    error: result.filter(|r| r.is_error).map(|r| r.text.clone()),
                }
            }
        }
    }

    fn user(&mut self, u: UserMessage) -> Vec<SessionEvent> {
        if u.parent_tool_use_id.is_some() || u.is_replay {
            return Vec::new();
        }
        let results = u.tool_results();
        if results.is_empty() {
            return Vec::new();
        }
        let change = u.file_change();
        let mut out = Vec::new();
        for r in results {
            let Some((name, input)) = self.tools.get(&r.tool_use_id).cloned() else {
                continue;
            };
            if name == "TodoWrite" {
                continue;
            }
            let outcome = ToolOutcome::new(&r, u.tool_use_result.as_ref(), change.clone());
            if let Some(c) = &outcome.file_change {
                self.turn_diffs.push(c.unified_diff());
            }
            let body = self.tool_body(&name, &input, Some(&outcome));
            out.push(SessionEvent::Item {
                turn_id: self.turn(),
                item_id: r.tool_use_id.clone(),
                status: if outcome.is_error {
                    ItemStatus::Failed
                } else {
                    ItemStatus::Completed
                },
                body,
            });
            if outcome.file_change.is_some() {
                out.push(SessionEvent::Diff(self.turn_diffs.join("")));
            }
        }
        out
    }

    fn result(&mut self, r: ResultMessage) -> Vec<SessionEvent> {
        let mut out = Vec::new();
        if let Some(u) = &r.usage {
            add_usage(&mut self.usage, u);
            out.push(SessionEvent::TokenUsage(self.usage.clone()));
        }
        if let Some(cost) = r.total_cost_usd {
            out.push(SessionEvent::Cost(cost));
        }
        let interrupted = r
            .terminal_reason
            .as_deref()
            .is_some_and(|t| t.starts_with("aborted"));
        let status = if interrupted {
            TurnStatus::Interrupted
        } else if r.is_error {
            TurnStatus::Failed
        } else {
            TurnStatus::Completed
        };
        let error = (status == TurnStatus::Failed).then(|| {
            r.result
                .clone()
                .or_else(|| r.errors.first().cloned())
                .unwrap_or_else(|| format!("the turn ended with {}", r.subtype))
        });
        if let Some(turn_id) = self.turn_id.take() {
            out.push(SessionEvent::TurnEnded {
                turn_id,
                status,
                error,
            });
        }
        out
    }
}

/// What a tool produced, from its `tool_result` and structured `tool_use_result`.
struct ToolOutcome {
    text: String,
    is_error: bool,
    exit_code: Option<i32>,
    file_change: Option<ClaudeFileChange>,
}

impl ToolOutcome {
    fn new(
        r: &ToolResultBlock,
        structured: Option<&Value>,
        change: Option<ClaudeFileChange>,
    ) -> Self {
        // Bash reports stdout and stderr apart; the tool_result text merges them the same way
        // the model saw them, which is what a person should see too.
        let text = match structured {
            Some(v @ Value::Object(_)) if v.get("stdout").is_some() => {
                let out = v.get("stdout").and_then(Value::as_str).unwrap_or_default();
                let err = v.get("stderr").and_then(Value::as_str).unwrap_or_default();
                match (out.is_empty(), err.is_empty()) {
                    (_, true) => out.to_owned(),
                    (true, false) => err.to_owned(),
                    (false, false) => format!("{out}\n{err}"),
                }
            }
            _ => r.text(),
        };
        ToolOutcome {
            text,
            is_error: r.is_error,
            exit_code: r.is_error.then_some(1).or(Some(0)),
            file_change: change.filter(|_| !r.is_error),
        }
    }
}

fn file_change(c: &ClaudeFileChange) -> FileChange {
    FileChange {
        path: c.path.clone(),
        kind: match c.kind {
            FileChangeKind::Create => Kind::Add,
            FileChangeKind::Overwrite | FileChangeKind::Edit => Kind::Update,
        },
        move_path: None,
        diff: c.unified_diff(),
    }
}

fn add_usage(total: &mut TokenUsage, u: &Usage) {
    let input = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    total.input_tokens += input;
    total.cached_input_tokens += u.cache_read_input_tokens;
    total.output_tokens += u.output_tokens;
    total.total_tokens = total.input_tokens + total.output_tokens;
    total.last_input_tokens = input;
}

/// TodoWrite's `todos` (`content`, `status`, `activeForm`) as the plan.
fn todo_plan(turn_id: Option<String>, input: &Value) -> Plan {
    let steps = input
        .get("todos")
        .and_then(Value::as_array)
        .map(|todos| {
            todos
                .iter()
                .map(|t| PlanStep {
                    step: t
                        .get("content")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    status: match t.get("status").and_then(Value::as_str) {
                        Some("pending") => PlanStepStatus::Pending,
                        Some("in_progress") => PlanStepStatus::InProgress,
                        Some("completed") => PlanStepStatus::Completed,
                        Some(other) => PlanStepStatus::Unknown(other.to_owned()),
                        None => PlanStepStatus::Pending,
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    Plan {
        turn_id,
        explanation: None,
        steps,
    }
}

/// A `can_use_tool` request as an approval a person answers.
pub fn permission(p: PermissionRequest, turn_id: Option<String>, cwd: &str) -> ApprovalRequest {
    let tool = p.tool_name().to_owned();
    let input = p.input().clone();
    let kind = match tool.as_str() {
        "Bash" => ApprovalKind::Command,
        t if is_file_tool(t) => ApprovalKind::FileChange,
        _ => ApprovalKind::Permissions,
    };
    let raw = serde_json::to_value(&p.request).unwrap_or(Value::Null);
    let req = &p.request;
    let reason = req
        .decision_reason
        .clone()
        .or_else(|| req.description.clone())
        .or_else(|| {
            req.blocked_path
                .as_ref()
                .map(|b| format!("writes {b}, outside the allowed directories"))
        })
        .unwrap_or_else(|| format!("Claude wants to use {tool}"));
    let item_id = req.tool_use_id.clone();
    let mut a = ApprovalRequest::new(p.request_id().to_owned(), kind, Arc::new(ClaudeReply(p)));
    a.item_id = item_id;
    a.turn_id = turn_id;
    a.cwd = Some(cwd.to_owned());
    a.reason = Some(reason);
    a.raw = raw;
    match kind {
        ApprovalKind::Command => {
            a.command = input
                .get("command")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        ApprovalKind::FileChange => {
            let path = input
                .get("file_path")
                .or_else(|| input.get("notebook_path"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            a.changes = Some(vec![FileChange {
                path,
                kind: if tool == "Write" {
                    Kind::Add
                } else {
                    Kind::Update
                },
                move_path: None,
                diff: tool_results::proposed_diff(&tool, &input).unwrap_or_default(),
            }]);
        }
        _ => {
            a.question = Some(format!("Allow Claude to use {tool}?"));
        }
    }
    a
}

/// Answers one `can_use_tool` request. Allow once runs the input as proposed; allow for the
/// session also applies the CLI's own suggested rules, scoped to this process; decline refuses
/// with the person's message (the model reads it as the tool's result); cancel refuses and
/// stops the turn.
#[derive(Debug)]
pub struct ClaudeReply(PermissionRequest);

#[async_trait]
impl ApprovalReply for ClaudeReply {
    async fn answer(&self, answer: &ApprovalAnswer) -> Result<()> {
        let message = answer
            .message
            .clone()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DENIAL.to_owned());
        let sent = match answer.decision {
            ApprovalDecision::Accept => self.0.allow().await,
            ApprovalDecision::AcceptForSession => self.0.allow_for_session().await,
            ApprovalDecision::Decline => self.0.deny(message).await,
            ApprovalDecision::Cancel => self.0.deny_and_interrupt(message).await,
        };
        sent.map_err(|e| claude_err("answer permission request", e))
    }

    async fn refuse(&self, message: &str) -> Result<()> {
        self.0
            .responder()
            .respond_error(message)
            .await
            .map_err(|e| claude_err("refuse permission request", e))
    }
}

/// A claude-code error as the core's agent error.
pub fn claude_err(operation: &str, e: claude_code::Error) -> Error {
    Error::Agent {
        operation: operation.to_owned(),
        message: e.to_string(),
        code: None,
        data: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use claude_code::protocol::decode_line;
    use serde_json::json;

    fn feed(t: &mut Translator, line: Value) -> Vec<SessionEvent> {
        t.message(decode_line(&line.to_string()).unwrap())
    }

    /// A transcript line's envelope around `fields`, as Claude Code 2.1 writes it.
    fn transcript(fields: Value) -> Value {
        let mut v = json!({
            "parentUuid": null, "isSidechain": false, "userType": "external",
            "cwd": "/w", "sessionId": "s-1", "version": "2.1.332", "gitBranch": "main",
            "timestamp": "2026-11-27T19:55:14.179Z",
        });
        for (k, x) in fields.as_object().cloned().unwrap_or_default() {
            v[k] = x;
        }
        v
    }

    #[test]
    fn transcript_lines_become_items_with_ids_independent_of_what_was_read_before() {
        let mut t = Translator::default();
        let prompt = transcript(json!({"type": "user", "uuid": "u-1",
            "message": {"role": "user", "content": "run it ✓"}}));
        assert_eq!(
            t.transcript_line(&prompt),
            vec![SessionEvent::Item {
                turn_id: None,
                item_id: "u-1".into(),
                status: ItemStatus::Completed,
                body: ItemBody::UserMessage {
                    text: "run it ✓".into()
                },
            }]
        );
        // Not part of the conversation: sub-agents, the CLI's notes, interruption markers,
        // bookkeeping lines.
        for skipped in [
            transcript(json!({"type": "user", "uuid": "u-2", "isSidechain": true,
                "message": {"role": "user", "content": "sub-agent prompt"}})),
            transcript(json!({"type": "user", "uuid": "u-3", "isMeta": true,
                "message": {"role": "user", "content": "<local-command-caveat>x"}})),
            transcript(json!({"type": "user", "uuid": "u-4",
                "message": {"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user]"}]}})),
            transcript(
                json!({"type": "attachment", "uuid": "a-1", "attachment": {"type": "session_context"}}),
            ),
            json!({"type": "last-prompt", "lastPrompt": "run it", "sessionId": "s-1"}),
        ] {
            assert_eq!(t.transcript_line(&skipped), Vec::new(), "{skipped}");
        }
        // One block per line; the id is the API message id and the block's index.
        let call = transcript(
            json!({"type": "assistant", "uuid": "x-1", "apiBlockIndex": 1,
            "message": {"id": "msg_1", "model": "claude-sonnet-5-5", "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash",
                    "input": {"command": "echo hi"}}]}}),
        );
        let ev = t.transcript_line(&call);
        assert_eq!(ev[0], SessionEvent::Model("claude-sonnet-5-5".into()));
        assert_eq!(ev[1], SessionEvent::ToolUsed("Bash".into()));
        assert!(
            matches!(&ev[2], SessionEvent::Item { item_id, status: ItemStatus::InProgress,
                body: ItemBody::CommandExecution { command, cwd, .. }, .. }
                if item_id == "toolu_1" && command == "echo hi" && cwd.as_deref() == Some("/w")),
            "{ev:?}"
        );
        assert_eq!(t.open_tools().len(), 1);
        // A restart: the call comes back from the checkpoint, the result still renders.
        let mut t2 = Translator::default();
        t2.restore_open_tools(t.open_tools());
        let result = transcript(json!({"type": "user", "uuid": "r-1",
            "message": {"role": "user", "content": [{"type": "tool_result",
                "tool_use_id": "toolu_1", "content": "hi", "is_error": false}]},
            "toolUseResult": {"stdout": "hi", "stderr": "", "interrupted": false}}));
        let ev = t2.transcript_line(&result);
        assert!(
            matches!(&ev[..], [SessionEvent::Item { item_id, status: ItemStatus::Completed,
                body: ItemBody::CommandExecution { output, exit_code: Some(0), .. }, .. }]
                if item_id == "toolu_1" && output == "hi"),
            "{ev:?}"
        );
        assert!(t2.open_tools().is_empty(), "a result forgets its call");
        // Without `apiBlockIndex` the line's own id keeps blocks apart.
        let text = transcript(json!({"type": "assistant", "uuid": "x-2",
            "message": {"id": "msg_2", "model": "claude-sonnet-5-5", "role": "assistant",
                "content": [{"type": "text", "text": "done"}]}}));
        assert!(
            matches!(&t2.transcript_line(&text)[..], [_, SessionEvent::Item { item_id, .. }]
                if item_id == "x-2:0"),
        );
        let error = transcript(
            json!({"type": "assistant", "uuid": "e-1", "isApiErrorMessage": true,
            "message": {"id": "", "model": "<synthetic>", "role": "assistant",
                "content": [{"type": "text", "text": "API Error: 500"}]}}),
        );
        assert_eq!(
            t2.transcript_line(&error),
            vec![SessionEvent::Item {
                turn_id: None,
                item_id: "e-1".into(),
                status: ItemStatus::Completed,
                body: ItemBody::Error {
                    message: "API Error: 500".into()
                },
            }]
        );
    }

    #[test]
    fn streamed_text_and_its_block_share_one_item() {
        let mut t = Translator::default();
        t.begin_turn("turn-1".into());
        let stream =
            |event: Value| json!({"type": "stream_event", "event": event, "session_id": "s"});
        feed(
            &mut t,
            stream(json!({"type": "message_start", "message": {"id": "msg_1"}})),
        );
        feed(
            &mut t,
            stream(
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
        );
        let ev = feed(
            &mut t,
            stream(
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "he"}}),
            ),
        );
        assert_eq!(
            ev,
            vec![SessionEvent::ItemText {
                turn_id: Some("turn-1".into()),
                item_id: "msg_1:0".into(),
                stream: TextStream::Text,
                delta: "he".into()
            }]
        );
        let ev = feed(
            &mut t,
            json!({"type": "assistant", "session_id": "s", "message": {"id": "msg_1", "content": [{"type": "text", "text": "hello"}]}}),
        );
        assert_eq!(
            ev,
            vec![SessionEvent::Item {
                turn_id: Some("turn-1".into()),
                item_id: "msg_1:0".into(),
                status: ItemStatus::Completed,
                body: ItemBody::AgentMessage {
                    text: "hello".into()
                }
            }]
        );
    }

    #[test]
    fn bash_results_edits_and_todos_are_typed() {
        let mut t = Translator::default();
        t.begin_turn("u".into());
        feed(
            &mut t,
            json!({"type": "assistant", "session_id": "s", "message": {"id": "m", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "echo hi"}}]}}),
        );
        let ev = feed(
            &mut t,
            json!({"type": "user", "session_id": "s", "message": {"content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "hi", "is_error": false}]},
                "tool_use_result": {"stdout": "hi", "stderr": "", "interrupted": false}}),
        );
        let [
            SessionEvent::Item {
                body:
                    ItemBody::CommandExecution {
                        command, output, ..
                    },
                status,
                ..
            },
        ] = ev.as_slice()
        else {
            panic!("{ev:?}")
        };
        assert_eq!((command.as_str(), output.as_str()), ("echo hi", "hi"));
        assert_eq!(*status, ItemStatus::Completed);

        feed(
            &mut t,
            json!({"type": "assistant", "session_id": "s", "message": {"id": "m2", "content": [
                {"type": "tool_use", "id": "toolu_2", "name": "Edit", "input": {"file_path": "/w/a.txt", "old_string": "beta", "new_string": "BETA"}}]}}),
        );
        let ev = feed(
            &mut t,
            json!({"type": "user", "session_id": "s", "message": {"content": [
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "ok"}]},
                "tool_use_result": {"filePath": "/w/a.txt", "oldString": "beta", "newString": "BETA", "originalFile": "alpha\nbeta\n",
                  "structuredPatch": [{"oldStart": 1, "oldLines": 2, "newStart": 1, "newLines": 2, "lines": [" alpha", "-beta", "+BETA"]}]}}),
        );
        let SessionEvent::Item {
            body: ItemBody::FileChange { changes },
            ..
        } = &ev[0]
        else {
            panic!("{ev:?}")
        };
        assert!(
            changes[0].diff.contains("-beta\n+BETA"),
            "{}",
            changes[0].diff
        );
        assert!(matches!(&ev[1], SessionEvent::Diff(d) if d.contains("+BETA")));

        let ev = feed(
            &mut t,
            json!({"type": "assistant", "session_id": "s", "message": {"id": "m3", "content": [
                {"type": "tool_use", "id": "toolu_3", "name": "TodoWrite", "input": {"todos": [
                    {"content": "a", "status": "completed", "activeForm": "A"},
                    {"content": "b", "status": "in_progress", "activeForm": "B"}]}}]}}),
        );
        let [SessionEvent::Plan(p)] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        assert_eq!(p.steps[1].status, PlanStepStatus::InProgress);
    }

    #[test]
    fn results_end_the_turn_with_usage_and_cost() {
        let mut t = Translator::new(TokenUsage {
            input_tokens: 100,
            output_tokens: 10,
            total_tokens: 110,
            ..Default::default()
        });
        t.begin_turn("u".into());
        let ev = feed(
            &mut t,
            json!({"type": "result", "subtype": "error_during_execution", "is_error": true, "session_id": "s",
                   "terminal_reason": "aborted_streaming", "total_cost_usd": 0.5,
                   "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 3}}),
        );
        let SessionEvent::TokenUsage(u) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cached_input_tokens),
            (108, 12, 3)
        );
        assert_eq!(ev[1], SessionEvent::Cost(0.5));
        assert_eq!(
            ev[2],
            SessionEvent::TurnEnded {
                turn_id: "u".into(),
                status: TurnStatus::Interrupted,
                error: None
            }
        );
    }
}
