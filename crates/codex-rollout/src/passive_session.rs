//! The state machine turning one rollout's lines into a passive session view.
//!
//! A "passive" session is one Codex runs on its own (a terminal `codex`, `codex exec`, an IDE):
//! we only read its rollout. [`PassiveSession::apply`] folds parsed lines into a
//! [`SessionView`] and returns the [`SessionUpdate`]s a server applies to its registry — the
//! same facts a direct session reports (status, model, usage, prompts, tools, transcript items).
//!
//! Which lines count, and why:
//! * Prompts come from user-message *events* (`item_completed/UserMessage` on 0.16x+, the legacy
//!   `user_message` event before), never from `response_item` user messages, which also carry
//!   harness context (`<environment_context>`, AGENTS.md) that the user did not type.
//! * Tool calls come from `response_item` calls (`function_call`, `custom_tool_call`,
//!   `local_shell_call`, `web_search_call`): every Codex release records them the same way.
//! * Transcript items come from typed turn items or legacy events. A release that wrote both for
//!   the same thing would duplicate them, so recent item keys (turn + kind + text or call id) are
//!   remembered and repeats dropped.
//! * Status: `task_started`/a prompt -> working; `task_complete`/`turn_aborted` -> waiting; no line
//!   for [`PassiveConfig::inactivity_timeout`] -> ended (a later line revives the session).
//!
//! The whole machine is `serde`, so the watcher checkpoints it with the reader offsets: after a
//! restart counts continue where they were instead of being rebuilt or doubled.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rollout_line::{
    EventMsg, FileChangeEntry, ParsedLine, ResponseItem, RolloutLine, SessionMeta, TokenInfo,
    TokenUsage, TurnItem,
};
use crate::rollout_reader::fnv1a64;

/// Tuning of passive sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassiveConfig {
    /// A session with no new line for this long is ended (default 120 s).
    pub inactivity_timeout: Duration,
    /// Longest command output kept in a transcript item (default 16 KiB; the rest is cut).
    pub max_output_bytes: usize,
}

impl Default for PassiveConfig {
    fn default() -> Self {
        Self {
            inactivity_timeout: Duration::from_secs(120),
            max_output_bytes: 16 * 1024,
        }
    }
}

/// Lifecycle status of a passive session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// A turn is running.
    Working,
    /// Between turns: waiting for the user.
    Waiting,
    /// No activity for the inactivity timeout.
    Ended,
}

/// Token usage of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageView {
    /// Cumulative over the thread.
    pub total: TokenUsage,
    /// The last model response.
    pub last: TokenUsage,
    /// The model's context window, when known.
    pub context_window: Option<u64>,
}

/// Git facts of the session's cwd.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitFacts {
    /// Current branch (None when detached or not a repository).
    pub branch: Option<String>,
    /// Repository top-level directory.
    pub root: Option<String>,
    /// Repository name: the top-level directory's file name.
    pub repo: Option<String>,
}

/// Resolves git facts for `cwd` by running `git` (no `git2` dependency). Returns empty facts
/// when `cwd` is not in a repository or git is missing.
pub fn resolve_git(cwd: &Path) -> GitFacts {
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(cwd)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .env("GIT_OPTIONAL_LOCKS", "0")
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (!s.is_empty()).then_some(s)
    };
    let root = run(&["rev-parse", "--show-toplevel"]);
    if root.is_none() {
        return GitFacts::default();
    }
    let branch = run(&["symbolic-ref", "--short", "-q", "HEAD"]);
    let repo = root.as_deref().and_then(|r| {
        Path::new(r)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    });
    GitFacts { branch, root, repo }
}

/// The current view of a passive session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// Codex thread id.
    pub thread_id: String,
    /// The rollout file.
    pub rollout_path: PathBuf,
    /// A name set in Codex (`thread_name_updated`), if any.
    pub name: Option<String>,
    /// A deterministic human-readable name derived from the thread id.
    pub slug: String,
    /// Working directory.
    pub cwd: Option<String>,
    /// Model of the latest turn.
    pub model: Option<String>,
    /// Provider id.
    pub model_provider: Option<String>,
    /// Codex version.
    pub cli_version: Option<String>,
    /// Who started it (`codex_exec`, `codex_cli_rs`, ...).
    pub originator: Option<String>,
    /// `exec`, `cli`, `vscode`, ... (sub-agents: the JSON of the source object).
    pub source: Option<String>,
    /// Git facts.
    pub git: GitFacts,
    /// Status.
    pub status: SessionStatus,
    /// When the thread started (RFC 3339).
    pub started_at: Option<String>,
    /// Time of the latest line (RFC 3339).
    pub last_activity_at: Option<String>,
    /// Tool calls made by the model.
    pub tool_count: u64,
    /// Name of the latest tool call.
    pub last_tool: Option<String>,
    /// When it was made.
    pub last_tool_at: Option<String>,
    /// User prompts.
    pub prompt_count: u64,
    /// The first user prompt.
    pub first_prompt: Option<String>,
    /// The latest agent message.
    pub last_agent_message: Option<String>,
    /// Token usage.
    pub usage: Option<UsageView>,
    /// Latest rate-limit snapshot, as Codex wrote it.
    pub rate_limits: Option<Value>,
    /// The running (or last) turn.
    pub current_turn_id: Option<String>,
}

impl SessionView {
    /// `name` when set, else `slug`.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.slug)
    }

    /// Applies a patch (what a consumer of [`SessionUpdate::Changed`] does).
    pub fn apply_patch(&mut self, p: &SessionPatch) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        fn set_opt<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
        set(&mut self.status, &p.status);
        set_opt(&mut self.name, &p.name);
        set_opt(&mut self.cwd, &p.cwd);
        set_opt(&mut self.model, &p.model);
        set(&mut self.tool_count, &p.tool_count);
        set_opt(&mut self.last_tool, &p.last_tool);
        set_opt(&mut self.last_tool_at, &p.last_tool_at);
        set(&mut self.prompt_count, &p.prompt_count);
        set_opt(&mut self.first_prompt, &p.first_prompt);
        set_opt(&mut self.last_agent_message, &p.last_agent_message);
        set_opt(&mut self.usage, &p.usage);
        set_opt(&mut self.rate_limits, &p.rate_limits);
        set_opt(&mut self.last_activity_at, &p.last_activity_at);
        set_opt(&mut self.current_turn_id, &p.current_turn_id);
    }
}

/// Fields that changed; `None` = unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionPatch {
    /// New status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionStatus>,
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New cwd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// New model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// New tool count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_count: Option<u64>,
    /// New last tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tool: Option<String>,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tool_at: Option<String>,
    /// New prompt count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_count: Option<u64>,
    /// The first prompt (set once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_prompt: Option<String>,
    /// Latest agent message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_agent_message: Option<String>,
    /// New usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageView>,
    /// New rate limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<Value>,
    /// Latest activity time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<String>,
    /// Current turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_turn_id: Option<String>,
}

impl SessionPatch {
    /// True when nothing changed except, possibly, the activity time.
    pub fn is_only_activity(&self) -> bool {
        Self {
            last_activity_at: None,
            ..self.clone()
        } == Self::default()
    }
}

/// A transcript item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TranscriptItem {
    /// The user's message.
    User {
        /// Text.
        text: String,
    },
    /// The agent's message.
    Agent {
        /// Text.
        text: String,
    },
    /// Reasoning.
    Reasoning {
        /// Text.
        text: String,
    },
    /// A plan.
    Plan {
        /// Text.
        text: String,
    },
    /// A command execution.
    Command {
        /// Call id.
        call_id: Option<String>,
        /// The command line (argv joined with spaces; a `bash -lc X` wrapper shown as `X`).
        command: String,
        /// Status (`completed`, `failed`, `declined`).
        status: Option<String>,
        /// Exit code.
        exit_code: Option<i64>,
        /// Output, cut to `max_output_bytes`.
        output: Option<String>,
    },
    /// A file change.
    FileChange {
        /// Call id.
        call_id: Option<String>,
        /// Paths.
        changes: Vec<FileChangeEntry>,
        /// Status / success.
        status: Option<String>,
    },
    /// Another tool call (MCP, view_image, ...).
    ToolCall {
        /// Call id.
        call_id: Option<String>,
        /// Tool name (`server/tool` for MCP).
        name: String,
        /// Arguments / input.
        arguments: Option<String>,
    },
    /// Context compacted.
    Compacted {
        /// Summary.
        summary: String,
    },
    /// An error shown to the user.
    Error {
        /// Message.
        message: String,
    },
}

/// One transcript entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// Line timestamp.
    pub timestamp: Option<String>,
    /// Turn id, when known.
    pub turn_id: Option<String>,
    /// The item.
    pub item: TranscriptItem,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No line for the inactivity timeout.
    Inactivity,
}

/// What a server applies to its registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionUpdate {
    /// A new passive session.
    Created {
        /// Its view.
        view: Box<SessionView>,
    },
    /// Some fields changed.
    Changed {
        /// The thread.
        thread_id: String,
        /// What changed.
        patch: Box<SessionPatch>,
    },
    /// A transcript item.
    ItemAppended {
        /// The thread.
        thread_id: String,
        /// The entry.
        entry: TranscriptEntry,
    },
    /// The session ended.
    Ended {
        /// The thread.
        thread_id: String,
        /// Why.
        reason: EndReason,
    },
}

impl SessionUpdate {
    /// The thread the update is about.
    pub fn thread_id(&self) -> &str {
        match self {
            Self::Created { view } => &view.thread_id,
            Self::Changed { thread_id, .. }
            | Self::ItemAppended { thread_id, .. }
            | Self::Ended { thread_id, .. } => thread_id,
        }
    }
}

const RECENT_KEYS: usize = 64;

/// The per-rollout state machine. Serializable for checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassiveSession {
    view: SessionView,
    /// Epoch milliseconds of the latest line (or of its observation when it had no timestamp).
    last_activity_ms: i64,
    /// Keys of recent transcript items, to drop a legacy event repeating a typed item.
    recent: VecDeque<u64>,
}

/// Epoch milliseconds of an RFC 3339 timestamp.
pub fn parse_ts_ms(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl PassiveSession {
    /// A session from its `session_meta` line. `git` is resolved by the caller (cached per cwd).
    /// Returns the session and its `Created` update.
    pub fn from_meta(
        meta: &SessionMeta,
        line_ts: Option<&str>,
        rollout_path: &Path,
        git: GitFacts,
        now_ms: i64,
    ) -> (Self, SessionUpdate) {
        let mut git = git;
        if let Some(g) = &meta.git
            && git.branch.is_none()
        {
            git.branch.clone_from(&g.branch);
        }
        let source = meta.source.as_ref().map(|s| match s {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let ts = line_ts
            .map(str::to_owned)
            .or_else(|| meta.timestamp.clone());
        let view = SessionView {
            thread_id: meta.id.clone(),
            rollout_path: rollout_path.to_path_buf(),
            name: None,
            slug: slug_for(&meta.id),
            cwd: meta.cwd.clone(),
            model: None,
            model_provider: meta.model_provider.clone(),
            cli_version: meta.cli_version.clone(),
            originator: meta.originator.clone(),
            source,
            git,
            status: SessionStatus::Waiting,
            started_at: meta.timestamp.clone().or_else(|| ts.clone()),
            last_activity_at: ts.clone(),
            tool_count: 0,
            last_tool: None,
            last_tool_at: None,
            prompt_count: 0,
            first_prompt: None,
            last_agent_message: None,
            usage: None,
            rate_limits: None,
            current_turn_id: None,
        };
        let s = Self {
            last_activity_ms: ts.as_deref().and_then(parse_ts_ms).unwrap_or(now_ms),
            view,
            recent: VecDeque::new(),
        };
        let created = SessionUpdate::Created {
            view: Box::new(s.view.clone()),
        };
        (s, created)
    }

    /// The current view.
    pub fn view(&self) -> &SessionView {
        &self.view
    }

    /// The thread id.
    pub fn thread_id(&self) -> &str {
        &self.view.thread_id
    }

    /// Epoch ms of the latest activity.
    pub fn last_activity_ms(&self) -> i64 {
        self.last_activity_ms
    }

    /// Folds one line in, appending updates to `out`.
    pub fn apply(
        &mut self,
        line: &ParsedLine,
        config: &PassiveConfig,
        now_ms: i64,
        out: &mut Vec<SessionUpdate>,
    ) {
        let ts = line.timestamp.clone();
        let mut patch = SessionPatch::default();
        let mut items: Vec<TranscriptItem> = Vec::new();
        let mut turn_for_items = self.view.current_turn_id.clone();
        match &line.line {
            RolloutLine::SessionMeta(_) | RolloutLine::WorldState | RolloutLine::Other { .. } => {}
            RolloutLine::TurnContext(tc) => {
                if let Some(m) = &tc.model
                    && self.view.model.as_ref() != Some(m)
                {
                    patch.model = Some(m.clone());
                }
                if let Some(c) = &tc.cwd
                    && self.view.cwd.as_ref() != Some(c)
                {
                    patch.cwd = Some(c.clone());
                }
            }
            RolloutLine::TokenUsageRecord(_) => {}
            RolloutLine::Compacted(c) => items.push(TranscriptItem::Compacted {
                summary: c.message.clone(),
            }),
            RolloutLine::ResponseItem(item) => match item {
                ResponseItem::FunctionCall {
                    name,
                    arguments,
                    call_id,
                }
                | ResponseItem::CustomToolCall {
                    name,
                    input: arguments,
                    call_id,
                } => {
                    self.tool_call(name, ts.as_deref(), &mut patch);
                    if !COVERED_BY_ITEMS.contains(&name.as_str()) {
                        items.push(TranscriptItem::ToolCall {
                            call_id: Some(call_id.clone()),
                            name: name.clone(),
                            arguments: Some(cut(arguments, config.max_output_bytes)),
                        });
                    }
                }
                ResponseItem::LocalShellCall { .. } => {
                    self.tool_call("local_shell", ts.as_deref(), &mut patch);
                }
                ResponseItem::WebSearchCall => {
                    self.tool_call("web_search", ts.as_deref(), &mut patch);
                }
                _ => {}
            },
            RolloutLine::EventMsg(ev) => match ev {
                EventMsg::TaskStarted {
                    turn_id,
                    model_context_window,
                } => {
                    self.set_status(SessionStatus::Working, &mut patch);
                    if turn_id.is_some() && *turn_id != self.view.current_turn_id {
                        patch.current_turn_id.clone_from(turn_id);
                        self.view.current_turn_id.clone_from(turn_id);
                        turn_for_items.clone_from(turn_id);
                    }
                    if let Some(w) = model_context_window {
                        let mut u = self.view.usage.unwrap_or_default();
                        if u.context_window != Some(*w) {
                            u.context_window = Some(*w);
                            self.view.usage = Some(u);
                            patch.usage = Some(u);
                        }
                    }
                }
                EventMsg::TaskComplete {
                    last_agent_message, ..
                } => {
                    self.set_status(SessionStatus::Waiting, &mut patch);
                    if let Some(m) = last_agent_message
                        && self.view.last_agent_message.as_ref() != Some(m)
                    {
                        self.view.last_agent_message = Some(m.clone());
                        patch.last_agent_message = Some(m.clone());
                    }
                }
                EventMsg::TurnAborted { .. } => self.set_status(SessionStatus::Waiting, &mut patch),
                EventMsg::TokenCount { info, rate_limits } => {
                    if let Some(info) = info {
                        self.usage(info, &mut patch);
                    }
                    if let Some(r) = rate_limits
                        && !r.is_null()
                        && self.view.rate_limits.as_ref() != Some(r)
                    {
                        self.view.rate_limits = Some(r.clone());
                        patch.rate_limits = Some(r.clone());
                    }
                }
                EventMsg::UserMessage { message } => {
                    items.push(TranscriptItem::User {
                        text: message.clone(),
                    });
                }
                EventMsg::AgentMessage { message } => items.push(TranscriptItem::Agent {
                    text: message.clone(),
                }),
                EventMsg::AgentReasoning { text } => {
                    items.push(TranscriptItem::Reasoning { text: text.clone() });
                }
                EventMsg::ExecCommandBegin { .. } => {}
                EventMsg::ExecCommandEnd {
                    call_id,
                    command,
                    exit_code,
                    aggregated_output,
                } => items.push(TranscriptItem::Command {
                    call_id: call_id.clone(),
                    command: command_line(command),
                    status: Some(
                        if *exit_code == Some(0) {
                            "completed"
                        } else {
                            "failed"
                        }
                        .to_owned(),
                    ),
                    exit_code: *exit_code,
                    output: aggregated_output
                        .as_ref()
                        .map(|o| cut(o, config.max_output_bytes)),
                }),
                EventMsg::PatchApplyBegin { .. } => {}
                EventMsg::PatchApplyEnd { .. } => {}
                EventMsg::ItemCompleted { turn_id, item } => {
                    if turn_id.is_some() {
                        turn_for_items.clone_from(turn_id);
                    }
                    if let Some(i) = self.turn_item(item, config) {
                        items.push(i);
                    }
                }
                EventMsg::ThreadSettingsApplied { settings } => {
                    if let Some(m) = settings.get("model").and_then(Value::as_str)
                        && self.view.model.as_deref() != Some(m)
                    {
                        patch.model = Some(m.to_owned());
                    }
                }
                EventMsg::ThreadNameUpdated { name } => {
                    if name.is_some() && *name != self.view.name {
                        patch.name.clone_from(name);
                        self.view.name.clone_from(name);
                    }
                }
                EventMsg::Error { message } => items.push(TranscriptItem::Error {
                    message: message.clone(),
                }),
                EventMsg::ContextCompacted | EventMsg::Other { .. } => {}
            },
        }

        // Prompts: counted from transcript user items (typed or legacy), after de-duplication.
        let mut appended = Vec::new();
        for item in items {
            let key = item_key(turn_for_items.as_deref(), &item);
            if self.recent.contains(&key) {
                continue;
            }
            self.recent.push_back(key);
            if self.recent.len() > RECENT_KEYS {
                self.recent.pop_front();
            }
            match &item {
                TranscriptItem::User { text } => {
                    self.view.prompt_count += 1;
                    patch.prompt_count = Some(self.view.prompt_count);
                    if self.view.first_prompt.is_none() {
                        self.view.first_prompt = Some(text.clone());
                        patch.first_prompt = Some(text.clone());
                    }
                    self.set_status(SessionStatus::Working, &mut patch);
                }
                TranscriptItem::Agent { text }
                    if self.view.last_agent_message.as_ref() != Some(text) =>
                {
                    self.view.last_agent_message = Some(text.clone());
                    patch.last_agent_message = Some(text.clone());
                }
                _ => {}
            }
            appended.push(TranscriptEntry {
                timestamp: ts.clone(),
                turn_id: turn_for_items.clone(),
                item,
            });
        }

        // Any line is activity; a line after an end revives the session.
        let line_ms = ts.as_deref().and_then(parse_ts_ms).unwrap_or(now_ms);
        if line_ms >= self.last_activity_ms {
            self.last_activity_ms = line_ms;
            if ts.is_some() && ts != self.view.last_activity_at {
                self.view.last_activity_at.clone_from(&ts);
                patch.last_activity_at.clone_from(&ts);
            }
        }
        if self.view.status == SessionStatus::Ended
            && now_ms.saturating_sub(self.last_activity_ms)
                < config.inactivity_timeout.as_millis() as i64
        {
            self.set_status(SessionStatus::Waiting, &mut patch);
        }
        if let Some(m) = &patch.model {
            self.view.model = Some(m.clone());
        }
        if let Some(c) = &patch.cwd {
            self.view.cwd = Some(c.clone());
        }

        // Items first: a consumer seeing the new counts already has the items behind them.
        out.extend(
            appended
                .into_iter()
                .map(|entry| SessionUpdate::ItemAppended {
                    thread_id: self.view.thread_id.clone(),
                    entry,
                }),
        );
        if patch != SessionPatch::default() {
            out.push(SessionUpdate::Changed {
                thread_id: self.view.thread_id.clone(),
                patch: Box::new(patch),
            });
        }
    }

    /// Ends the session when it has been inactive for the timeout. Returns the `Ended` update.
    pub fn tick(&mut self, config: &PassiveConfig, now_ms: i64) -> Option<SessionUpdate> {
        if self.view.status == SessionStatus::Ended {
            return None;
        }
        if now_ms.saturating_sub(self.last_activity_ms)
            >= config.inactivity_timeout.as_millis() as i64
        {
            self.view.status = SessionStatus::Ended;
            return Some(SessionUpdate::Ended {
                thread_id: self.view.thread_id.clone(),
                reason: EndReason::Inactivity,
            });
        }
        None
    }

    fn set_status(&mut self, s: SessionStatus, patch: &mut SessionPatch) {
        if self.view.status != s {
            self.view.status = s;
            patch.status = Some(s);
        }
    }

    fn tool_call(&mut self, name: &str, ts: Option<&str>, patch: &mut SessionPatch) {
        self.view.tool_count += 1;
        patch.tool_count = Some(self.view.tool_count);
        self.view.last_tool = Some(name.to_owned());
        patch.last_tool = Some(name.to_owned());
        if let Some(ts) = ts {
            self.view.last_tool_at = Some(ts.to_owned());
            patch.last_tool_at = Some(ts.to_owned());
        }
    }

    fn usage(&mut self, info: &TokenInfo, patch: &mut SessionPatch) {
        let prev = self.view.usage.unwrap_or_default();
        let u = UsageView {
            total: info.total_token_usage,
            last: info.last_token_usage,
            context_window: info.model_context_window.or(prev.context_window),
        };
        if Some(u) != self.view.usage {
            self.view.usage = Some(u);
            patch.usage = Some(u);
        }
    }

    fn turn_item(&self, item: &TurnItem, config: &PassiveConfig) -> Option<TranscriptItem> {
        Some(match item {
            TurnItem::UserMessage { text } => TranscriptItem::User { text: text.clone() },
            TurnItem::AgentMessage { text } => TranscriptItem::Agent { text: text.clone() },
            TurnItem::Reasoning { text } => {
                if text.is_empty() {
                    return None;
                }
                TranscriptItem::Reasoning { text: text.clone() }
            }
            TurnItem::Plan { text } => TranscriptItem::Plan { text: text.clone() },
            TurnItem::CommandExecution {
                id,
                command,
                status,
                exit_code,
                aggregated_output,
            } => TranscriptItem::Command {
                call_id: Some(id.clone()),
                command: command_line(command),
                status: status.clone(),
                exit_code: *exit_code,
                output: aggregated_output
                    .as_ref()
                    .map(|o| cut(o, config.max_output_bytes)),
            },
            TurnItem::FileChange {
                id,
                changes,
                status,
            } => TranscriptItem::FileChange {
                call_id: Some(id.clone()),
                changes: changes.clone(),
                status: status.clone(),
            },
            TurnItem::McpToolCall {
                id, server, tool, ..
            } => TranscriptItem::ToolCall {
                call_id: Some(id.clone()),
                name: format!("{server}/{tool}"),
                arguments: None,
            },
            TurnItem::WebSearch { query } => TranscriptItem::ToolCall {
                call_id: None,
                name: "web_search".to_owned(),
                arguments: Some(query.clone()),
            },
            TurnItem::Other { .. } => return None,
        })
    }
}

/// Function names whose calls also appear as typed command/file-change items.
const COVERED_BY_ITEMS: &[&str] = &[
    "exec_command",
    "shell",
    "shell_command",
    "container.exec",
    "local_shell",
    "apply_patch",
    "write_stdin",
];

fn item_key(turn: Option<&str>, item: &TranscriptItem) -> u64 {
    let (kind, body): (&str, String) = match item {
        TranscriptItem::User { text } => ("user", text.clone()),
        TranscriptItem::Agent { text } => ("agent", text.clone()),
        TranscriptItem::Reasoning { text } => ("reasoning", text.clone()),
        TranscriptItem::Plan { text } => ("plan", text.clone()),
        TranscriptItem::Command {
            call_id, command, ..
        } => (
            "command",
            call_id.clone().unwrap_or_else(|| command.clone()),
        ),
        TranscriptItem::FileChange {
            call_id, changes, ..
        } => (
            "file",
            call_id.clone().unwrap_or_else(|| format!("{changes:?}")),
        ),
        TranscriptItem::ToolCall { call_id, name, .. } => {
            ("tool", call_id.clone().unwrap_or_else(|| name.clone()))
        }
        TranscriptItem::Compacted { summary } => ("compacted", summary.clone()),
        TranscriptItem::Error { message } => ("error", message.clone()),
    };
    let mut data = Vec::with_capacity(body.len() + 64);
    data.extend_from_slice(turn.unwrap_or("").as_bytes());
    data.push(0);
    data.extend_from_slice(kind.as_bytes());
    data.push(0);
    data.extend_from_slice(body.as_bytes());
    fnv1a64(&data)
}

/// `bash -lc "X"` -> `X`; else argv joined with spaces.
fn command_line(argv: &[String]) -> String {
    if argv.len() == 3
        && (argv[0].ends_with("bash") || argv[0].ends_with("sh") || argv[0].ends_with("zsh"))
        && (argv[1] == "-lc" || argv[1] == "-c")
    {
        return argv[2].clone();
    }
    argv.join(" ")
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &s[..end], s.len() - end)
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brisk", "calm", "clever", "cosmic", "crisp", "dapper", "eager", "fancy",
    "gentle", "golden", "happy", "hidden", "humble", "jolly", "keen", "lively", "lucky", "mellow",
    "merry", "misty", "nimble", "noble", "polite", "proud", "quiet", "rapid", "rosy", "rustic",
    "shiny", "silent", "silver", "sleek", "snowy", "solar", "spry", "steady", "sunny", "swift",
    "tidy", "tiny", "vivid", "warm", "wild", "wise", "witty", "zesty", "azure", "breezy", "cheery",
    "dusky", "fuzzy", "glossy", "hearty", "icy", "jaunty", "lunar", "mighty", "plucky", "quaint",
    "radiant", "sturdy", "velvet",
];

const NOUNS: &[&str] = &[
    "anchor", "badger", "beacon", "bison", "canyon", "cedar", "comet", "coral", "crane", "delta",
    "ember", "falcon", "fern", "fjord", "forest", "fox", "galaxy", "garden", "glacier", "harbor",
    "heron", "island", "lagoon", "lantern", "lark", "maple", "meadow", "meteor", "moss", "nebula",
    "oasis", "orchid", "otter", "panda", "pebble", "pine", "planet", "prairie", "quartz", "raven",
    "reef", "river", "robin", "sage", "sparrow", "spruce", "summit", "thistle", "tiger", "tundra",
    "valley", "walrus", "willow", "wren", "yak", "zephyr", "acorn", "basil", "cobalt", "dune",
    "finch", "grove", "hollow", "kite",
];

/// A deterministic `adjective-noun-noun` name for a thread id (stable across releases: FNV-1a
/// of the id picks the words).
pub fn slug_for(thread_id: &str) -> String {
    let h = fnv1a64(thread_id.as_bytes());
    let a = ADJECTIVES[(h % ADJECTIVES.len() as u64) as usize];
    let n1 = NOUNS[((h >> 16) % NOUNS.len() as u64) as usize];
    let n2 = NOUNS[((h >> 32) % NOUNS.len() as u64) as usize];
    format!("{a}-{n1}-{n2}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout_line::parse_line;

    fn run(lines: &[&str]) -> (PassiveSession, Vec<SessionUpdate>) {
        let cfg = PassiveConfig::default();
        let first = parse_line(lines[0]).expect("meta");
        let RolloutLine::SessionMeta(meta) = &first.line else {
            panic!("first line must be session_meta")
        };
        let now = parse_ts_ms("2026-01-01T00:00:10Z").expect("ts");
        let (mut s, created) = PassiveSession::from_meta(
            meta,
            first.timestamp.as_deref(),
            Path::new("/r.jsonl"),
            GitFacts::default(),
            now,
        );
        let mut out = vec![created];
        for l in &lines[1..] {
            s.apply(&parse_line(l).expect("line"), &cfg, now, &mut out);
        }
        (s, out)
    }

    const META: &str = r#"{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"t-1","cwd":"/w","originator":"codex_exec","cli_version":"0.169.0","model_provider":"local","git":{"branch":"main"}}}"#;

    #[test]
    fn legacy_and_typed_user_messages_are_counted_once() {
        let (s, _) = run(&[
            META,
            r#"{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"task_started","turn_id":"u1"}}"#,
            r#"{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"user_message","message":"fix it"}}"#,
            r#"{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"item_completed","turn_id":"u1","item":{"type":"UserMessage","id":"x","content":[{"type":"text","text":"fix it"}]}}}"#,
            r#"{"timestamp":"2026-01-01T00:00:02Z","type":"response_item","payload":{"type":"function_call","name":"exec_command","arguments":"{}","call_id":"c1"}}"#,
            r#"{"timestamp":"2026-01-01T00:00:03Z","type":"event_msg","payload":{"type":"task_complete","turn_id":"u1","last_agent_message":"done"}}"#,
        ]);
        let v = s.view();
        assert_eq!(v.prompt_count, 1);
        assert_eq!(v.first_prompt.as_deref(), Some("fix it"));
        assert_eq!(v.tool_count, 1);
        assert_eq!(v.last_tool.as_deref(), Some("exec_command"));
        assert_eq!(v.last_tool_at.as_deref(), Some("2026-01-01T00:00:02Z"));
        assert_eq!(v.status, SessionStatus::Waiting);
        assert_eq!(v.last_agent_message.as_deref(), Some("done"));
        assert_eq!(v.git.branch.as_deref(), Some("main"));
    }

    #[test]
    fn inactivity_ends_and_a_new_line_revives() {
        let (mut s, _) = run(&[META]);
        let cfg = PassiveConfig {
            inactivity_timeout: Duration::from_secs(5),
            ..PassiveConfig::default()
        };
        let t0 = parse_ts_ms("2026-01-01T00:00:00Z").expect("ts");
        assert_eq!(s.tick(&cfg, t0 + 4_000), None);
        assert_eq!(
            s.tick(&cfg, t0 + 5_000),
            Some(SessionUpdate::Ended {
                thread_id: "t-1".into(),
                reason: EndReason::Inactivity
            })
        );
        assert_eq!(s.tick(&cfg, t0 + 6_000), None, "ended once");
        let mut out = Vec::new();
        let l = parse_line(r#"{"timestamp":"2026-01-01T00:01:00Z","type":"event_msg","payload":{"type":"task_started","turn_id":"u2"}}"#).expect("p");
        s.apply(&l, &cfg, t0 + 60_500, &mut out);
        assert_eq!(s.view().status, SessionStatus::Working);
    }

    #[test]
    fn slug_is_deterministic_and_readable() {
        assert_eq!(slug_for("t-1"), slug_for("t-1"));
        assert_ne!(slug_for("t-1"), slug_for("t-2"));
        let s = slug_for("019a2c3e-aaaa-bbbb-cccc-000000000000");
        assert_eq!(s.split('-').count(), 3, "{s}");
        assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
    }

    #[test]
    fn checkpoint_round_trip_keeps_counts() {
        let (s, _) = run(&[
            META,
            r#"{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"user_message","message":"a"}}"#,
        ]);
        let json = serde_json::to_string(&s).expect("ser");
        let back: PassiveSession = serde_json::from_str(&json).expect("de");
        assert_eq!(back, s);
    }
}
