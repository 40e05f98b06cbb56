//! The Codex surfaces around a thread: MCP server status, the stored-thread list and import,
//! config read/write, one-off commands (`command/exec` with streamed output), account usage,
//! skills and thread goals — each translated here into the protocol's neutral bodies, so Codex
//! types stop in this module like everywhere else in the connector.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use codex_client::app_server::AppServer;
use codex_client::app_server::requests::{
    AccountRateLimitsRead, AccountRateLimitsReadParams, AccountUsageRead, AccountUsageReadParams,
    CommandExec, CommandExecParams, CommandExecProcessParams, CommandExecTerminate,
    CommandExecWrite, CommandExecWriteParams, ConfigRead, ConfigReadParams, ConfigValueWrite,
    ConfigValueWriteParams, McpServerStatusList, McpServerStatusListParams, SkillsList,
    SkillsListParams, ThreadDelete, ThreadGoal as CodexGoal, ThreadGoalClear, ThreadGoalGet,
    ThreadGoalSet, ThreadGoalSetParams, ThreadIdParams, ThreadList, ThreadListParams, ThreadRead,
    ThreadReadParams,
};
use codex_client::app_server::thread::Thread;
use orbitdock_protocol::{
    AgentThread, AgentThreadsQuery, McpAuthState, McpConnectionState, McpServerInfo, SkillInfo,
    SkillsResponse, ThreadGoal, UsageDay, UsageResponse,
};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::{agent_err, sandbox_policy};
use crate::connector::{ExecChunk, ExecSpec, ImportedThread};
use crate::error::{Error, Result};
use crate::session::SessionEvent;

/// Where the output of each running `command/exec` goes, by the process id we chose.
///
/// A run's route must outlive its `command/exec` answer: the app-server sends the last
/// output deltas just before the answer, and while the answer resolves the call at once, those
/// deltas are still queued for the event pump. So the route is retired by the pump itself
/// ([`ExecRoutes::retire`]), after it has delivered everything queued before the answer.
#[derive(Debug, Default)]
pub(super) struct ExecRoutes {
    outputs: Mutex<HashMap<String, mpsc::Sender<ExecChunk>>>,
    /// The current event pump's retire queue (one per app-server generation).
    pump: Mutex<Option<mpsc::UnboundedSender<Retire>>>,
}

pub(super) type ExecOutputs = Arc<ExecRoutes>;

/// A request to the event pump to drop a finished run's route, answered once done.
#[derive(Debug)]
pub(super) struct Retire {
    id: String,
    done: oneshot::Sender<()>,
}

impl ExecRoutes {
    /// The retire queue for a new app-server generation's pump.
    pub(super) fn new_pump(&self) -> mpsc::UnboundedReceiver<Retire> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.pump.lock() = Some(tx);
        rx
    }

    /// Handles one retire request in the pump, after the events queued before it.
    pub(super) fn retired(&self, r: Retire) {
        self.outputs.lock().remove(&r.id);
        let _ = r.done.send(());
    }

    /// Drops a finished run's route once the pump has delivered its queued output. Without a
    /// pump (the app-server is gone, so nothing more can arrive) the route is dropped at once.
    async fn retire(&self, id: &str) {
        let pump = self.pump.lock().clone();
        if let Some(pump) = pump {
            let (done, delivered) = oneshot::channel();
            if pump
                .send(Retire {
                    id: id.to_owned(),
                    done,
                })
                .is_ok()
                && tokio::time::timeout(std::time::Duration::from_secs(10), delivered)
                    .await
                    .is_ok_and(|r| r.is_ok())
            {
                return;
            }
        }
        self.outputs.lock().remove(id);
    }
}

/// Forwards one `command/exec/outputDelta` to its run (dropped when the run is gone).
pub(super) fn route_exec_output(
    outputs: &ExecOutputs,
    process_id: &str,
    stream: String,
    delta_base64: &str,
) {
    let Some(tx) = outputs.outputs.lock().get(process_id).cloned() else {
        return;
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(delta_base64)
        .unwrap_or_else(|e| format!("[undecodable output chunk: {e}]").into_bytes());
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // Never block the event pump on a slow run: a full queue drops the chunk with a marker.
    if tx.try_send(ExecChunk { stream, text }).is_err() {
        tracing::debug!(process_id, "command output queue full; chunk dropped");
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

fn wire_str(v: &Option<Value>) -> Option<String> {
    v.as_ref().and_then(Value::as_str).map(camel_to_snake)
}

pub(super) async fn mcp_servers(
    s: &AppServer,
    thread_id: Option<&str>,
) -> Result<Vec<McpServerInfo>> {
    let mut out = Vec::new();
    let mut cursor = None;
    // Bounded paging: a server listing thousands of MCP servers is not something to show.
    for _ in 0..20 {
        let r = s
            .call::<McpServerStatusList>(McpServerStatusListParams {
                cursor: cursor.take(),
                thread_id: thread_id.map(str::to_owned),
                ..Default::default()
            })
            .await
            .map_err(|e| agent_err("mcpServerStatus/list", e))?;
        for m in r.data {
            let mut tools: Vec<String> = m.tools.keys().cloned().collect();
            tools.sort();
            out.push(McpServerInfo {
                name: m.name,
                state: wire_str(&m.runtime_status).map(|s| McpConnectionState::parse(&s)),
                auth: wire_str(&m.auth_status)
                    .map(|s| {
                        // Codex says `oAuth`; the protocol spells it `oauth`.
                        McpAuthState::parse(if s == "o_auth" { "oauth" } else { &s })
                    })
                    .unwrap_or(McpAuthState::Undetermined),
                tool_count: u32::try_from(tools.len()).unwrap_or(u32::MAX),
                tools,
                error: m.tools_error,
            });
        }
        match r.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    Ok(out)
}

fn agent_thread(t: &Thread) -> AgentThread {
    AgentThread {
        thread_id: t.id.clone(),
        name: t.name.clone().filter(|n| !n.is_empty()),
        preview: t.preview.chars().take(300).collect(),
        cwd: t.cwd.clone(),
        created_at: t.created_at.saturating_mul(1000),
        updated_at: t.updated_at.saturating_mul(1000),
        session_id: None,
    }
}

pub(super) async fn list_threads(
    s: &AppServer,
    q: &AgentThreadsQuery,
) -> Result<(Vec<AgentThread>, Option<String>)> {
    let r = s
        .call::<ThreadList>(ThreadListParams {
            cursor: q.cursor.clone().filter(|c| !c.is_empty()),
            limit: Some(q.limit.unwrap_or(25).clamp(1, 100)),
            search_term: q.search.clone().filter(|t| !t.trim().is_empty()),
            sort_key: Some("updated_at".into()),
            // Threads people started (terminal, editor, `codex exec`, app-server clients like
            // this hub); sub-agent threads belong to their parents.
            source_kinds: Some(
                ["cli", "vscode", "exec", "appServer"]
                    .map(str::to_owned)
                    .to_vec(),
            ),
            ..Default::default()
        })
        .await
        .map_err(|e| agent_err("thread/list", e))?;
    Ok((
        r.data.iter().map(agent_thread).collect(),
        r.next_cursor.filter(|c| !c.is_empty()),
    ))
}

pub(super) async fn read_thread(s: &AppServer, thread_id: &str) -> Result<ImportedThread> {
    let r = s
        .call::<ThreadRead>(ThreadReadParams {
            thread_id: thread_id.to_owned(),
            include_turns: Some(true),
        })
        .await
        .map_err(|e| agent_err("thread/read", e))?;
    let mut events = Vec::new();
    for turn in &r.thread.turns {
        for item in &turn.items {
            let (item_id, status, body) = super::items::convert_item(item, true);
            events.push(SessionEvent::Item {
                turn_id: Some(turn.id.clone()),
                item_id,
                status,
                body,
            });
        }
    }
    Ok(ImportedThread {
        thread: agent_thread(&r.thread),
        model: r.thread.model.clone(),
        effort: r.thread.reasoning_effort.clone(),
        events,
    })
}

pub(super) async fn read_config(s: &AppServer, cwd: Option<&str>) -> Result<Value> {
    let r = s
        .call::<ConfigRead>(ConfigReadParams {
            include_layers: None,
            cwd: cwd.map(str::to_owned),
        })
        .await
        .map_err(|e| agent_err("config/read", e))?;
    Ok(r.config)
}

pub(super) async fn write_config(s: &AppServer, key_path: &str, value: Value) -> Result<()> {
    if key_path.trim().is_empty() {
        return Err(Error::BadRequest("key_path is empty".into()));
    }
    s.call::<ConfigValueWrite>(ConfigValueWriteParams {
        key_path: key_path.trim().to_owned(),
        value,
        merge_strategy: "replace".into(),
        file_path: None,
        expected_version: None,
    })
    .await
    .map_err(|e| agent_err("config/value/write", e))?;
    Ok(())
}

pub(super) async fn exec_command(
    s: &AppServer,
    outputs: &ExecOutputs,
    spec: ExecSpec,
    output: mpsc::Sender<ExecChunk>,
) -> Result<i32> {
    if spec.argv.is_empty() || spec.argv[0].trim().is_empty() {
        return Err(Error::BadRequest("command is empty".into()));
    }
    outputs
        .outputs
        .lock()
        .insert(spec.id.clone(), output.clone());
    let r = s
        .call_timeout::<CommandExec>(
            CommandExecParams {
                command: spec.argv,
                cwd: Some(spec.cwd),
                process_id: Some(spec.id.clone()),
                sandbox_policy: sandbox_policy(&spec.sandbox_mode),
                stream_stdout_stderr: true,
                stream_stdin: true,
                timeout_ms: spec.timeout_ms.and_then(|t| i64::try_from(t).ok()),
            },
            // The agent enforces the command's own timeout; this only bounds a lost answer.
            std::time::Duration::from_millis(
                spec.timeout_ms.unwrap_or(600_000).saturating_add(30_000),
            ),
        )
        .await;
    outputs.retire(&spec.id).await;
    let r = r.map_err(|e| agent_err("command/exec", e))?;
    // Streamed output is not repeated in the answer; whatever is there was not streamed.
    for (stream, text) in [("stdout", r.stdout), ("stderr", r.stderr)] {
        if !text.is_empty() {
            let _ = output
                .send(ExecChunk {
                    stream: stream.into(),
                    text,
                })
                .await;
        }
    }
    Ok(r.exit_code)
}

pub(super) async fn write_command_stdin(
    s: &AppServer,
    id: &str,
    text: &str,
    close: bool,
) -> Result<()> {
    s.call::<CommandExecWrite>(CommandExecWriteParams {
        process_id: id.to_owned(),
        delta_base64: (!text.is_empty())
            .then(|| base64::engine::general_purpose::STANDARD.encode(text.as_bytes())),
        close_stdin: close,
    })
    .await
    .map_err(|e| agent_err("command/exec/write", e))?;
    Ok(())
}

pub(super) async fn terminate_command(s: &AppServer, id: &str) -> Result<()> {
    s.call::<CommandExecTerminate>(CommandExecProcessParams {
        process_id: id.to_owned(),
    })
    .await
    .map_err(|e| agent_err("command/exec/terminate", e))?;
    Ok(())
}

pub(super) async fn usage(s: &AppServer) -> Result<UsageResponse> {
    let mut out = UsageResponse::default();
    // Each half fails on its own (an API-key account has no ChatGPT usage); show what there is.
    match s
        .call::<AccountRateLimitsRead>(AccountRateLimitsReadParams::default())
        .await
    {
        Ok(r) => out.rate_limits = Some(super::translate::rate_limits(&r.rate_limits)),
        Err(e) => out.rate_limits_error = Some(e.to_string()),
    }
    match s
        .call::<AccountUsageRead>(AccountUsageReadParams::default())
        .await
    {
        Ok(r) => {
            let pos = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
            out.lifetime_tokens = pos(r.summary.lifetime_tokens);
            out.peak_daily_tokens = pos(r.summary.peak_daily_tokens);
            out.days = r
                .daily_usage_buckets
                .unwrap_or_default()
                .into_iter()
                .map(|b| UsageDay {
                    date: b.start_date,
                    tokens: u64::try_from(b.tokens).unwrap_or(0),
                })
                .collect();
        }
        Err(e) => out.usage_error = Some(e.to_string()),
    }
    Ok(out)
}

pub(super) async fn skills(s: &AppServer, cwd: &str) -> Result<SkillsResponse> {
    let r = s
        .call::<SkillsList>(SkillsListParams {
            cwds: vec![cwd.to_owned()],
            force_reload: true,
        })
        .await
        .map_err(|e| agent_err("skills/list", e))?;
    let mut out = SkillsResponse::default();
    for entry in r.data {
        out.skills
            .extend(entry.skills.into_iter().map(|k| SkillInfo {
                name: k.name,
                description: k.description,
                path: k.path,
                scope: k.scope,
                enabled: k.enabled,
            }));
        out.errors.extend(
            entry
                .errors
                .into_iter()
                .map(|e| format!("{}: {}", e.path, e.message)),
        );
    }
    Ok(out)
}

pub(super) fn goal(g: CodexGoal) -> ThreadGoal {
    ThreadGoal {
        objective: g.objective,
        status: camel_to_snake(&g.status),
        tokens_used: u64::try_from(g.tokens_used).unwrap_or(0),
        token_budget: g.token_budget.and_then(|b| u64::try_from(b).ok()),
    }
}

pub(super) async fn get_goal(s: &AppServer, thread_id: &str) -> Result<Option<ThreadGoal>> {
    let r = s
        .call::<ThreadGoalGet>(ThreadIdParams {
            thread_id: thread_id.to_owned(),
        })
        .await
        .map_err(|e| agent_err("thread/goal/get", e))?;
    Ok(r.goal.map(goal))
}

pub(super) async fn set_goal(
    s: &AppServer,
    thread_id: &str,
    objective: Option<&str>,
) -> Result<Option<ThreadGoal>> {
    match objective.map(str::trim).filter(|o| !o.is_empty()) {
        Some(o) => {
            let r = s
                .call::<ThreadGoalSet>(ThreadGoalSetParams {
                    thread_id: thread_id.to_owned(),
                    objective: Some(o.to_owned()),
                    status: Some("active".into()),
                    token_budget: None,
                })
                .await
                .map_err(|e| agent_err("thread/goal/set", e))?;
            Ok(Some(goal(r.goal)))
        }
        None => {
            s.call::<ThreadGoalClear>(ThreadIdParams {
                thread_id: thread_id.to_owned(),
            })
            .await
            .map_err(|e| agent_err("thread/goal/clear", e))?;
            Ok(None)
        }
    }
}

pub(super) async fn delete_thread(s: &AppServer, thread_id: &str) -> Result<()> {
    s.call::<ThreadDelete>(ThreadIdParams {
        thread_id: thread_id.to_owned(),
    })
    .await
    .map_err(|e| agent_err("thread/delete", e))?;
    Ok(())
}
