//! Typed parsing of one rollout line: `{timestamp, type, payload}` (0.169 adds `ordinal`).
//!
//! Only what a session view needs is typed; everything else is tolerated. Unknown line types,
//! unknown `event_msg` types, unknown `response_item` types and unknown turn-item types are kept
//! as raw JSON (`Other` variants) rather than rejected, because Codex adds types in most
//! releases. Fields are `Option`/defaulted wherever an older or newer Codex may omit them; no
//! struct denies unknown fields. A line that is not JSON, or lacks `type`/`payload`, is a
//! [`LineError`]: the caller counts and logs it (with file and offset) and moves on.
//!
//! Shapes were checked against rollouts written by the pinned Codex 0.169.0 (see
//! `tests/real_codex.rs`) and the legacy `event_msg` names of earlier releases (`user_message`,
//! `agent_message`, `exec_command_end`, `patch_apply_end`, ...), which 0.169 replaced by
//! `item_completed` carrying a typed turn item.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// Raw JSON kept as written (unknown types). Compared by its text.
#[derive(Debug, Clone)]
pub struct RawJson(pub Box<RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// A line that could not be parsed as a rollout line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not a JSON object with `type` and `payload`.
    #[error("not a rollout line: {0}")]
    Envelope(String),
    /// The payload of a known type did not have the expected shape.
    #[error("bad {kind} payload: {message}")]
    Payload {
        /// The line type (or `event_msg/<event type>`).
        kind: String,
        /// The serde message.
        message: String,
    },
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine {
    /// The line's `timestamp` (RFC 3339), when present.
    pub timestamp: Option<String>,
    /// The line's `ordinal` (0.169+), when present.
    pub ordinal: Option<u64>,
    /// The typed content.
    pub line: RolloutLine,
}

/// The content of a rollout line, by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutLine {
    /// First line of a rollout.
    SessionMeta(Box<SessionMeta>),
    /// Settings of a turn.
    TurnContext(TurnContext),
    /// An event.
    EventMsg(EventMsg),
    /// A raw Responses API item.
    ResponseItem(ResponseItem),
    /// History replaced by a compaction summary.
    Compacted(Compacted),
    /// 0.169+: a snapshot or diff of the environment the model sees; kept raw, not parsed.
    WorldState,
    /// 0.169+: per-response token usage.
    TokenUsageRecord(TokenUsageRecord),
    /// A line type this crate does not know; the payload is kept raw.
    Other {
        /// The `type` value.
        kind: String,
        /// The payload as it was.
        payload: RawJson,
    },
}

impl RolloutLine {
    /// The line's `type` string.
    pub fn kind(&self) -> &str {
        match self {
            Self::SessionMeta(_) => "session_meta",
            Self::TurnContext(_) => "turn_context",
            Self::EventMsg(_) => "event_msg",
            Self::ResponseItem(_) => "response_item",
            Self::Compacted(_) => "compacted",
            Self::WorldState => "world_state",
            Self::TokenUsageRecord(_) => "token_usage_record",
            Self::Other { kind, .. } => kind,
        }
    }
}

/// Git facts recorded by Codex in `session_meta.git`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    /// HEAD commit.
    #[serde(default)]
    pub commit_hash: Option<String>,
    /// Current branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// `origin` URL.
    #[serde(default)]
    pub repository_url: Option<String>,
}

/// `session_meta` payload (the large `base_instructions` is skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMeta {
    /// The thread id.
    pub id: String,
    /// 0.169+: same as `id` for a root thread.
    #[serde(default)]
    pub session_id: Option<String>,
    /// When the thread started.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// `codex_cli_rs`, `codex_exec`, `codex_vscode`, app-server client names...
    #[serde(default)]
    pub originator: Option<String>,
    /// Codex version that wrote the file.
    #[serde(default)]
    pub cli_version: Option<String>,
    /// `cli`, `exec`, `vscode`, `mcp`, or an object for sub-agents.
    #[serde(default)]
    pub source: Option<Value>,
    /// Provider id (`openai`, `local`, ...).
    #[serde(default)]
    pub model_provider: Option<String>,
    /// Git facts, when the cwd is a repository.
    #[serde(default)]
    pub git: Option<GitInfo>,
}

/// `turn_context` payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnContext {
    /// Turn id (newer releases).
    #[serde(default)]
    pub turn_id: Option<String>,
    /// Working directory of the turn.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Model of the turn.
    #[serde(default)]
    pub model: Option<String>,
    /// Approval policy (`never`, `on-request`, ...).
    #[serde(default)]
    pub approval_policy: Option<String>,
    /// Sandbox policy object.
    #[serde(default)]
    pub sandbox_policy: Option<Value>,
    /// Reasoning effort, when set.
    #[serde(default)]
    pub effort: Option<String>,
}

/// Token figures as Codex records them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Of which served from cache.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Of which reasoning.
    #[serde(default)]
    pub reasoning_output_tokens: u64,
    /// Total.
    #[serde(default)]
    pub total_tokens: u64,
}

/// `token_count.info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Cumulative over the thread.
    #[serde(default)]
    pub total_token_usage: TokenUsage,
    /// The last model response.
    #[serde(default)]
    pub last_token_usage: TokenUsage,
    /// Context window of the model.
    #[serde(default)]
    pub model_context_window: Option<u64>,
}

/// `token_usage_record` payload (0.169+).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsageRecord {
    /// Turn id.
    #[serde(default)]
    pub turn_id: Option<String>,
    /// This response.
    #[serde(default)]
    pub usage: TokenUsage,
    /// Cumulative over the thread.
    #[serde(default)]
    pub thread_token_usage: Option<TokenUsage>,
}

/// `compacted` payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compacted {
    /// The summary that replaced the history.
    #[serde(default)]
    pub message: String,
}

/// An `event_msg` payload, by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum EventMsg {
    /// A turn started (`task_started`; `turn_started` in some releases).
    TaskStarted {
        /// Turn id.
        turn_id: Option<String>,
        /// Context window.
        model_context_window: Option<u64>,
    },
    /// A turn completed (`task_complete`; `turn_complete`).
    TaskComplete {
        /// Turn id.
        turn_id: Option<String>,
        /// Final agent message.
        last_agent_message: Option<String>,
        /// Duration.
        duration_ms: Option<u64>,
    },
    /// A turn was interrupted (`turn_aborted`).
    TurnAborted {
        /// Turn id.
        turn_id: Option<String>,
        /// Why.
        reason: Option<String>,
    },
    /// Token usage and rate limits.
    TokenCount {
        /// Usage, absent before the first response.
        info: Option<TokenInfo>,
        /// Rate-limit snapshot, kept as JSON.
        rate_limits: Option<Value>,
    },
    /// Legacy: the user's message.
    UserMessage {
        /// Text.
        message: String,
    },
    /// Legacy: the agent's message.
    AgentMessage {
        /// Text.
        message: String,
    },
    /// Legacy: reasoning text.
    AgentReasoning {
        /// Text.
        text: String,
    },
    /// Legacy: a command started.
    ExecCommandBegin {
        /// Call id.
        call_id: Option<String>,
        /// argv.
        command: Vec<String>,
    },
    /// Legacy: a command finished.
    ExecCommandEnd {
        /// Call id.
        call_id: Option<String>,
        /// argv (newer legacy releases repeat it).
        command: Vec<String>,
        /// Exit code.
        exit_code: Option<i64>,
        /// Combined output.
        aggregated_output: Option<String>,
    },
    /// Legacy: a patch is being applied.
    PatchApplyBegin {
        /// Call id.
        call_id: Option<String>,
        /// Paths changed.
        changes: Vec<FileChangeEntry>,
    },
    /// Legacy: a patch finished.
    PatchApplyEnd {
        /// Call id.
        call_id: Option<String>,
        /// Success.
        success: Option<bool>,
    },
    /// A typed turn item completed (0.16x+; replaces the legacy events).
    ItemCompleted {
        /// Turn id.
        turn_id: Option<String>,
        /// The item.
        item: TurnItem,
    },
    /// Thread settings (model, cwd, policies) applied; kept as JSON.
    ThreadSettingsApplied {
        /// The `thread_settings` object.
        settings: Value,
    },
    /// The thread was renamed.
    ThreadNameUpdated {
        /// New name.
        name: Option<String>,
    },
    /// An error reported to the user.
    Error {
        /// Message.
        message: String,
    },
    /// Context was compacted.
    ContextCompacted,
    /// Any other event; kept raw.
    Other {
        /// The event `type`.
        kind: String,
        /// The payload as it was.
        raw: RawJson,
    },
}

/// A path touched by a file change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChangeEntry {
    /// Path.
    pub path: String,
    /// `add`, `delete`, `update`.
    pub kind: String,
}

/// A typed turn item (`event_msg/item_completed.item`), by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnItem {
    /// The user's message.
    UserMessage {
        /// Concatenated text inputs.
        text: String,
    },
    /// The agent's message.
    AgentMessage {
        /// Concatenated text.
        text: String,
    },
    /// Reasoning (summary, else raw content).
    Reasoning {
        /// Text.
        text: String,
    },
    /// A plan.
    Plan {
        /// Text.
        text: String,
    },
    /// A shell command.
    CommandExecution {
        /// Item id (the call id).
        id: String,
        /// argv.
        command: Vec<String>,
        /// `completed`, `failed`, `declined`, ...
        status: Option<String>,
        /// Exit code.
        exit_code: Option<i64>,
        /// Combined output.
        aggregated_output: Option<String>,
    },
    /// A file change (apply_patch).
    FileChange {
        /// Item id.
        id: String,
        /// Paths and kinds.
        changes: Vec<FileChangeEntry>,
        /// Status.
        status: Option<String>,
    },
    /// An MCP tool call.
    McpToolCall {
        /// Item id.
        id: String,
        /// Server.
        server: String,
        /// Tool.
        tool: String,
        /// Status.
        status: Option<String>,
    },
    /// A web search.
    WebSearch {
        /// Query.
        query: String,
    },
    /// Any other item; kept raw.
    Other {
        /// The item `type`.
        kind: String,
        /// The item as it was.
        raw: RawJson,
    },
}

/// A `response_item` payload, by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseItem {
    /// A message (`developer`, `user`, `assistant`).
    Message {
        /// Role.
        role: String,
        /// Concatenated text parts.
        text: String,
    },
    /// A function call by the model.
    FunctionCall {
        /// Tool name.
        name: String,
        /// Arguments (a JSON string).
        arguments: String,
        /// Call id.
        call_id: String,
    },
    /// Output of a function call.
    FunctionCallOutput {
        /// Call id.
        call_id: String,
        /// Output text (structured content flattened to its text parts).
        output: String,
    },
    /// A free-form tool call (`custom_tool_call`, e.g. apply_patch).
    CustomToolCall {
        /// Tool name.
        name: String,
        /// Input text.
        input: String,
        /// Call id.
        call_id: String,
    },
    /// Output of a custom tool call.
    CustomToolCallOutput {
        /// Call id.
        call_id: String,
        /// Output.
        output: String,
    },
    /// A `local_shell_call` (older models).
    LocalShellCall {
        /// Call id.
        call_id: Option<String>,
    },
    /// A `web_search_call`.
    WebSearchCall,
    /// Reasoning.
    Reasoning {
        /// Summary text parts joined.
        text: String,
    },
    /// Any other item; kept raw.
    Other {
        /// The item `type`.
        kind: String,
        /// The item as it was.
        raw: RawJson,
    },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    ordinal: Option<u64>,
    #[serde(rename = "type")]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Deserialize)]
struct Tagged<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// Parses one line of a rollout file.
pub fn parse_line(text: &str) -> Result<ParsedLine, LineError> {
    let env: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| LineError::Envelope(e.to_string()))?;
    let payload = env.payload;
    let line = match env.kind.as_ref() {
        "session_meta" => RolloutLine::SessionMeta(Box::new(typed("session_meta", payload)?)),
        "turn_context" => RolloutLine::TurnContext(typed("turn_context", payload)?),
        "event_msg" => RolloutLine::EventMsg(parse_event(payload)?),
        "response_item" => RolloutLine::ResponseItem(parse_response_item(payload)?),
        "compacted" => RolloutLine::Compacted(typed("compacted", payload)?),
        "world_state" => RolloutLine::WorldState,
        "token_usage_record" => {
            RolloutLine::TokenUsageRecord(typed("token_usage_record", payload)?)
        }
        other => RolloutLine::Other {
            kind: other.to_owned(),
            payload: RawJson(payload.to_owned()),
        },
    };
    Ok(ParsedLine {
        timestamp: env.timestamp,
        ordinal: env.ordinal,
        line,
    })
}

fn typed<T: serde::de::DeserializeOwned>(kind: &str, raw: &RawValue) -> Result<T, LineError> {
    serde_json::from_str(raw.get()).map_err(|e| LineError::Payload {
        kind: kind.to_owned(),
        message: e.to_string(),
    })
}

fn tag_of<'a>(kind: &str, raw: &'a RawValue) -> Result<String, LineError> {
    let t: Tagged<'a> = serde_json::from_str(raw.get()).map_err(|e| LineError::Payload {
        kind: kind.to_owned(),
        message: e.to_string(),
    })?;
    Ok(t.kind.map(|k| k.into_owned()).unwrap_or_default())
}

#[derive(Deserialize)]
struct TurnIdOnly {
    #[serde(default)]
    turn_id: Option<String>,
    #[serde(default)]
    model_context_window: Option<u64>,
}

#[derive(Deserialize)]
struct TaskCompleteRaw {
    #[serde(default)]
    turn_id: Option<String>,
    #[serde(default)]
    last_agent_message: Option<String>,
    #[serde(default)]
    duration_ms: Option<u64>,
}

#[derive(Deserialize)]
struct TurnAbortedRaw {
    #[serde(default)]
    turn_id: Option<String>,
    #[serde(default)]
    reason: Option<Value>,
}

#[derive(Deserialize)]
struct TokenCountRaw {
    #[serde(default)]
    info: Option<TokenInfo>,
    #[serde(default)]
    rate_limits: Option<Value>,
}

#[derive(Deserialize)]
struct MessageRaw {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct TextRaw {
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct ExecRaw {
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    command: Option<Value>,
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    aggregated_output: Option<String>,
}

#[derive(Deserialize)]
struct PatchRaw {
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    changes: Option<Value>,
    #[serde(default)]
    success: Option<bool>,
}

#[derive(Deserialize)]
struct ItemCompletedRaw<'a> {
    #[serde(default)]
    turn_id: Option<String>,
    #[serde(borrow)]
    item: &'a RawValue,
}

#[derive(Deserialize)]
struct SettingsRaw {
    #[serde(default)]
    thread_settings: Value,
}

#[derive(Deserialize)]
struct NameRaw {
    #[serde(default)]
    thread_name: Option<String>,
}

/// Parses an `event_msg` payload.
pub fn parse_event(raw: &RawValue) -> Result<EventMsg, LineError> {
    let kind = tag_of("event_msg", raw)?;
    let k = format!("event_msg/{kind}");
    Ok(match kind.as_str() {
        "task_started" | "turn_started" => {
            let r: TurnIdOnly = typed(&k, raw)?;
            EventMsg::TaskStarted {
                turn_id: r.turn_id,
                model_context_window: r.model_context_window,
            }
        }
        "task_complete" | "turn_complete" => {
            let r: TaskCompleteRaw = typed(&k, raw)?;
            EventMsg::TaskComplete {
                turn_id: r.turn_id,
                last_agent_message: r.last_agent_message,
                duration_ms: r.duration_ms,
            }
        }
        "turn_aborted" => {
            let r: TurnAbortedRaw = typed(&k, raw)?;
            EventMsg::TurnAborted {
                turn_id: r.turn_id,
                reason: r.reason.map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                }),
            }
        }
        "token_count" => {
            let r: TokenCountRaw = typed(&k, raw)?;
            EventMsg::TokenCount {
                info: r.info,
                rate_limits: r.rate_limits,
            }
        }
        "user_message" => EventMsg::UserMessage {
            message: typed::<MessageRaw>(&k, raw)?.message,
        },
        "agent_message" => EventMsg::AgentMessage {
            message: typed::<MessageRaw>(&k, raw)?.message,
        },
        "agent_reasoning" => EventMsg::AgentReasoning {
            text: typed::<TextRaw>(&k, raw)?.text,
        },
        "exec_command_begin" => {
            let r: ExecRaw = typed(&k, raw)?;
            EventMsg::ExecCommandBegin {
                call_id: r.call_id,
                command: argv(r.command),
            }
        }
        "exec_command_end" => {
            let r: ExecRaw = typed(&k, raw)?;
            EventMsg::ExecCommandEnd {
                call_id: r.call_id,
                command: argv(r.command),
                exit_code: r.exit_code,
                aggregated_output: r.aggregated_output,
            }
        }
        "patch_apply_begin" => {
            let r: PatchRaw = typed(&k, raw)?;
            EventMsg::PatchApplyBegin {
                call_id: r.call_id,
                changes: changes(r.changes),
            }
        }
        "patch_apply_end" => {
            let r: PatchRaw = typed(&k, raw)?;
            EventMsg::PatchApplyEnd {
                call_id: r.call_id,
                success: r.success,
            }
        }
        "item_completed" => {
            let r: ItemCompletedRaw<'_> = typed_borrowed(&k, raw)?;
            EventMsg::ItemCompleted {
                turn_id: r.turn_id,
                item: parse_turn_item(r.item)?,
            }
        }
        "thread_settings_applied" => EventMsg::ThreadSettingsApplied {
            settings: typed::<SettingsRaw>(&k, raw)?.thread_settings,
        },
        "thread_name_updated" => EventMsg::ThreadNameUpdated {
            name: typed::<NameRaw>(&k, raw)?.thread_name,
        },
        "error" => EventMsg::Error {
            message: typed::<MessageRaw>(&k, raw)?.message,
        },
        "context_compacted" => EventMsg::ContextCompacted,
        _ => EventMsg::Other {
            kind,
            raw: RawJson(raw.to_owned()),
        },
    })
}

fn typed_borrowed<'a, T: Deserialize<'a>>(kind: &str, raw: &'a RawValue) -> Result<T, LineError> {
    serde_json::from_str(raw.get()).map_err(|e| LineError::Payload {
        kind: kind.to_owned(),
        message: e.to_string(),
    })
}

/// argv from a JSON array of strings, or a single command string.
fn argv(v: Option<Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|x| match x {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s],
        _ => Vec::new(),
    }
}

/// File changes from a `{path: {type|kind...}}` map or a `[{path, kind}]` list.
fn changes(v: Option<Value>) -> Vec<FileChangeEntry> {
    fn kind_of(c: &Value) -> String {
        if let Some(s) = c.as_str() {
            return s.to_owned();
        }
        for key in ["type", "kind"] {
            match c.get(key) {
                Some(Value::String(s)) => return s.clone(),
                Some(Value::Object(o)) => {
                    if let Some(Value::String(s)) = o.get("type") {
                        return s.clone();
                    }
                }
                _ => {}
            }
        }
        // `{"add": {...}}` style.
        c.as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_else(|| "update".to_owned())
    }
    let mut out = match v {
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(path, c)| FileChangeEntry {
                kind: kind_of(&c),
                path,
            })
            .collect(),
        Some(Value::Array(list)) => list
            .into_iter()
            .filter_map(|c| {
                let path = c.get("path")?.as_str()?.to_owned();
                Some(FileChangeEntry {
                    kind: kind_of(&c),
                    path,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    out.sort_by(|a: &FileChangeEntry, b| a.path.cmp(&b.path));
    out
}

/// Text of content parts: strings, or objects with `text` (skipping images and the like).
fn join_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let texts: Vec<String> = parts
                .iter()
                .filter_map(|p| match p {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("text").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                })
                .collect();
            texts.join("")
        }
        _ => String::new(),
    }
}

fn str_field(o: &Value, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Parses an `item_completed.item` turn item.
pub fn parse_turn_item(raw: &RawValue) -> Result<TurnItem, LineError> {
    let kind = tag_of("turn_item", raw)?;
    let known = matches!(
        kind.as_str(),
        "UserMessage"
            | "AgentMessage"
            | "Reasoning"
            | "Plan"
            | "CommandExecution"
            | "FileChange"
            | "McpToolCall"
            | "WebSearch"
    );
    if !known {
        return Ok(TurnItem::Other {
            kind,
            raw: RawJson(raw.to_owned()),
        });
    }
    let v: Value = typed(&format!("turn_item/{kind}"), raw)?;
    let id = str_field(&v, "id").unwrap_or_default();
    Ok(match kind.as_str() {
        "UserMessage" => TurnItem::UserMessage {
            text: v.get("content").map(join_text).unwrap_or_default(),
        },
        "AgentMessage" => TurnItem::AgentMessage {
            text: v.get("content").map(join_text).unwrap_or_default(),
        },
        "Reasoning" => {
            let mut text = v.get("summary_text").map(join_text).unwrap_or_default();
            if text.is_empty() {
                text = v.get("raw_content").map(join_text).unwrap_or_default();
            }
            TurnItem::Reasoning { text }
        }
        "Plan" => TurnItem::Plan {
            text: str_field(&v, "text").unwrap_or_default(),
        },
        "CommandExecution" => TurnItem::CommandExecution {
            id,
            command: argv(v.get("command").cloned()),
            status: str_field(&v, "status"),
            exit_code: v.get("exit_code").and_then(Value::as_i64),
            aggregated_output: str_field(&v, "aggregated_output"),
        },
        "FileChange" => TurnItem::FileChange {
            id,
            changes: changes(v.get("changes").cloned()),
            status: str_field(&v, "status"),
        },
        "McpToolCall" => TurnItem::McpToolCall {
            id,
            server: str_field(&v, "server").unwrap_or_default(),
            tool: str_field(&v, "tool").unwrap_or_default(),
            status: str_field(&v, "status"),
        },
        _ => TurnItem::WebSearch {
            query: str_field(&v, "query").unwrap_or_default(),
        },
    })
}

#[derive(Deserialize)]
struct MessageItemRaw {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
struct CallRaw {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    output: Option<Value>,
}

#[derive(Deserialize)]
struct ReasoningRaw {
    #[serde(default)]
    summary: Value,
}

/// Parses a `response_item` payload. Large payloads that are not needed (encrypted reasoning,
/// function outputs of unknown shape) are reduced to their text.
pub fn parse_response_item(raw: &RawValue) -> Result<ResponseItem, LineError> {
    let kind = tag_of("response_item", raw)?;
    let k = format!("response_item/{kind}");
    Ok(match kind.as_str() {
        "message" => {
            let m: MessageItemRaw = typed(&k, raw)?;
            ResponseItem::Message {
                role: m.role,
                text: join_text(&m.content),
            }
        }
        "function_call" => {
            let c: CallRaw = typed(&k, raw)?;
            ResponseItem::FunctionCall {
                name: c.name,
                arguments: match c.arguments {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                },
                call_id: c.call_id.unwrap_or_default(),
            }
        }
        "function_call_output" => {
            let c: CallRaw = typed(&k, raw)?;
            ResponseItem::FunctionCallOutput {
                call_id: c.call_id.unwrap_or_default(),
                output: output_text(c.output),
            }
        }
        "custom_tool_call" => {
            let c: CallRaw = typed(&k, raw)?;
            ResponseItem::CustomToolCall {
                name: c.name,
                input: c.input.unwrap_or_default(),
                call_id: c.call_id.unwrap_or_default(),
            }
        }
        "custom_tool_call_output" => {
            let c: CallRaw = typed(&k, raw)?;
            ResponseItem::CustomToolCallOutput {
                call_id: c.call_id.unwrap_or_default(),
                output: output_text(c.output),
            }
        }
        "local_shell_call" => {
            let c: CallRaw = typed(&k, raw)?;
            ResponseItem::LocalShellCall { call_id: c.call_id }
        }
        "web_search_call" => ResponseItem::WebSearchCall,
        "reasoning" => {
            let r: ReasoningRaw = typed(&k, raw)?;
            ResponseItem::Reasoning {
                text: join_text(&r.summary),
            }
        }
        _ => ResponseItem::Other {
            kind,
            raw: RawJson(raw.to_owned()),
        },
    })
}

fn output_text(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(Value::Object(o)) => match o.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => join_text(other),
            None => Value::Object(o).to_string(),
        },
        Some(other @ Value::Array(_)) => join_text(&other),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_meta_of_0_169_parses() {
        let l = r#"{"timestamp":"2026-11-22T00:09:08.252Z","ordinal":0,"type":"session_meta","payload":{"account_scoped":true,"session_id":"t1","id":"t1","timestamp":"2026-11-22T00:09:08.193Z","cwd":"/w","originator":"codex_exec","cli_version":"0.169.0","source":"exec","model_provider":"local","base_instructions":{"text":"long"},"git":{"commit_hash":"abc","branch":"main"}}}"#;
        let p = parse_line(l).expect("parse");
        assert_eq!(p.ordinal, Some(0));
        assert_eq!(p.timestamp.as_deref(), Some("2026-11-22T00:09:08.252Z"));
        let RolloutLine::SessionMeta(m) = p.line else {
            panic!("{p:?}")
        };
        assert_eq!(
            *m,
            SessionMeta {
                id: "t1".into(),
                session_id: Some("t1".into()),
                timestamp: Some("2026-11-22T00:09:08.193Z".into()),
                cwd: Some("/w".into()),
                originator: Some("codex_exec".into()),
                cli_version: Some("0.169.0".into()),
                source: Some(Value::String("exec".into())),
                model_provider: Some("local".into()),
                git: Some(GitInfo {
                    commit_hash: Some("abc".into()),
                    branch: Some("main".into()),
                    repository_url: None
                }),
            }
        );
    }

    #[test]
    fn item_completed_command_execution_parses() {
        let l = r#"{"timestamp":"t","type":"event_msg","payload":{"type":"item_completed","thread_id":"x","turn_id":"u","item":{"type":"CommandExecution","id":"call_1","process_id":"1","command":["/bin/bash","-lc","echo hi"],"cwd":"file:///w","parsed_cmd":[],"source":"unified_exec_startup","status":"completed","aggregated_output":"hi\n","exit_code":0}}}"#;
        let p = parse_line(l).expect("parse");
        assert_eq!(
            p.line,
            RolloutLine::EventMsg(EventMsg::ItemCompleted {
                turn_id: Some("u".into()),
                item: TurnItem::CommandExecution {
                    id: "call_1".into(),
                    command: vec!["/bin/bash".into(), "-lc".into(), "echo hi".into()],
                    status: Some("completed".into()),
                    exit_code: Some(0),
                    aggregated_output: Some("hi\n".into()),
                }
            })
        );
    }

    #[test]
    fn unknown_types_are_kept_raw_and_malformed_lines_are_errors() {
        let p = parse_line(r#"{"type":"brand_new","payload":{"x":1}}"#).expect("parse");
        match p.line {
            RolloutLine::Other { kind, payload } => {
                assert_eq!(kind, "brand_new");
                assert_eq!(payload.get(), r#"{"x":1}"#);
            }
            other => panic!("{other:?}"),
        }
        let p = parse_line(r#"{"type":"event_msg","payload":{"type":"shiny","a":[1]}}"#)
            .expect("parse");
        assert!(
            matches!(&p.line, RolloutLine::EventMsg(EventMsg::Other { kind, .. }) if kind == "shiny"),
            "{p:?}"
        );
        let p = parse_line(r#"{"type":"response_item","payload":{"type":"ghost_call"}}"#)
            .expect("parse");
        assert!(
            matches!(&p.line, RolloutLine::ResponseItem(ResponseItem::Other { kind, .. }) if kind == "ghost_call")
        );
        assert!(matches!(
            parse_line("{not json"),
            Err(LineError::Envelope(_))
        ));
        assert!(matches!(
            parse_line(r#"{"type":"x"}"#),
            Err(LineError::Envelope(_))
        ));
        assert!(matches!(
            parse_line(r#"{"type":"session_meta","payload":{"cwd":"/no-id"}}"#),
            Err(LineError::Payload { .. })
        ));
    }

    #[test]
    fn legacy_events_and_response_items_parse() {
        let p = parse_line(
            r#"{"type":"event_msg","payload":{"type":"user_message","message":"hi","images":[]}}"#,
        )
        .expect("p");
        assert_eq!(
            p.line,
            RolloutLine::EventMsg(EventMsg::UserMessage {
                message: "hi".into()
            })
        );
        let p = parse_line(r#"{"type":"event_msg","payload":{"type":"patch_apply_begin","call_id":"c","changes":{"/a.txt":{"add":{"content":"x"}}}}}"#).expect("p");
        assert_eq!(
            p.line,
            RolloutLine::EventMsg(EventMsg::PatchApplyBegin {
                call_id: Some("c".into()),
                changes: vec![FileChangeEntry {
                    path: "/a.txt".into(),
                    kind: "add".into()
                }]
            })
        );
        let p = parse_line(r#"{"type":"response_item","payload":{"type":"function_call_output","call_id":"c","output":{"content":"ok","success":true}}}"#).expect("p");
        assert_eq!(
            p.line,
            RolloutLine::ResponseItem(ResponseItem::FunctionCallOutput {
                call_id: "c".into(),
                output: "ok".into()
            })
        );
        let p = parse_line(r#"{"type":"response_item","payload":{"type":"custom_tool_call","name":"apply_patch","input":"*** Begin Patch","call_id":"c2","status":"completed"}}"#).expect("p");
        assert!(
            matches!(p.line, RolloutLine::ResponseItem(ResponseItem::CustomToolCall { ref name, .. }) if name == "apply_patch")
        );
    }
}
