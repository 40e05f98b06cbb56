//! What the hub does around a session's thread, beyond turns: delete a session (and its agent
//! thread), show the agent's MCP servers, browse and import the threads the agent has stored,
//! read and edit the agent's config, run one-off commands, show account usage, list skills and
//! set the thread's goal.
//!
//! These are registry-level operations (they create or remove sessions, or talk to a connector
//! without a turn), reached through [`crate::actions::dispatch`] like every other action.
//! One-off commands stream into the session's transcript as a command card: the same item,
//! persistence and live deltas as the agent's own commands, without a new delta kind.

use std::collections::HashMap;
use std::time::Instant;

use orbitdock_protocol::{
    AgentConfigResponse, AgentThreadsQuery, AgentThreadsResponse, GoalResponse,
    ImportThreadRequest, ItemBody, ItemStatus, ListDelta, McpServersResponse, Origin, Provider,
    RunCommandRequest, RunCommandResponse, SandboxMode, SessionState, SessionStatus,
    SkillsResponse, TextStream, UsageResponse,
};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::connector::{ExecChunk, ExecSpec};
use crate::error::{Error, Result};
use crate::registry::{NewSession, Registry};
use crate::session::SessionEvent;
use crate::store::{Command, PersistOp, Publication};

/// One-off commands running now: command id -> session id (follow-ups must name both).
#[derive(Debug, Default)]
pub struct RunningCommands(Mutex<HashMap<String, String>>);

/// How much of a one-off command's output its card keeps (the tail), like the agent's own.
const MAX_COMMAND_OUTPUT: usize = 1 << 20;

fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Registry {
    /// Deletes a session: its agent thread first (so nothing is lost if the agent refuses), then
    /// the hub's record, items and approvals. Refused while a turn runs.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let h = self.get(id).await?;
        let st = h.state().await?;
        if st.current_turn.is_some() {
            return Err(Error::Conflict(
                "a turn is running; interrupt it before deleting the session".into(),
            ));
        }
        if let Some(thread) = &st.summary.thread_id
            && st.summary.provider == Provider::Codex
        {
            let connector = self.connectors().for_summary(&st.summary);
            if let Err(e) = connector.delete_thread(thread).await {
                // A thread the agent no longer has (deleted elsewhere, never written) is gone
                // already; anything else keeps the session so the user can retry.
                let gone = e.to_string().to_ascii_lowercase();
                if !(gone.contains("not found") || gone.contains("no thread")) {
                    return Err(e);
                }
            }
        }
        self.forget(id, &st).await
    }

    /// Stops a session's actor and removes it from routing, the list and the store.
    async fn forget(&self, id: &str, st: &SessionState) -> Result<()> {
        if let Ok(h) = self.get(id).await {
            h.shutdown().await;
        }
        self.remove_handle(id, st.summary.thread_id.as_deref(), &st.summary);
        self.store()
            .submit_and_wait(Command {
                ops: vec![PersistOp::DeleteSession {
                    session_id: id.to_owned(),
                }],
                publish: vec![Publication::List(Box::new(ListDelta::Removed {
                    id: id.to_owned(),
                }))],
                ..Default::default()
            })
            .await
    }

    /// The MCP servers of a session's agent (as its thread sees them, once it has one).
    pub async fn mcp_servers(&self, id: &str) -> Result<McpServersResponse> {
        let st = self.get(id).await?.state().await?;
        let connector = self.connectors().for_summary(&st.summary);
        // The thread's own view only while it is loaded; otherwise the config's servers.
        let thread = st.summary.thread_id.as_deref().filter(|_| st.attached);
        Ok(McpServersResponse {
            servers: connector.mcp_servers(thread).await?,
        })
    }

    /// A page of the threads the agent has stored, each marked with the session bound to it.
    pub async fn agent_threads(&self, q: &AgentThreadsQuery) -> Result<AgentThreadsResponse> {
        let (mut threads, next_cursor) = self.connector().list_threads(q).await?;
        for t in &mut threads {
            t.session_id = self.session_for_thread(&t.thread_id);
        }
        Ok(AgentThreadsResponse {
            threads,
            next_cursor,
        })
    }

    /// Makes a session of a stored agent thread, with its history; the session bound to it
    /// already, when there is one. The thread is resumed by the first message sent.
    pub async fn import_thread(&self, req: &ImportThreadRequest) -> Result<SessionState> {
        let thread_id = req.thread_id.trim();
        if thread_id.is_empty() {
            return Err(Error::BadRequest("thread_id is required".into()));
        }
        if let Some(sid) = self.session_for_thread(thread_id) {
            return self.get(&sid).await?.state().await;
        }
        let t = self.connector().read_thread(thread_id).await?;
        let name = t.thread.name.clone().or_else(|| {
            t.thread
                .preview
                .lines()
                .next()
                .map(|l| l.chars().take(80).collect::<String>())
                .filter(|l| !l.trim().is_empty())
        });
        let h = self
            .create_session(NewSession {
                provider: Provider::Codex,
                origin: Origin::Direct,
                cwd: t.thread.cwd.clone(),
                thread_id: Some(t.thread.thread_id.clone()),
                name,
                model: t.model.clone(),
                effort: t.effort.clone(),
                status: SessionStatus::Waiting,
                created_at: t.thread.created_at,
                updated_at: t.thread.updated_at,
                ..Default::default()
            })
            .await?;
        h.ingest_committed(t.events).await?;
        h.state().await
    }

    /// The agent's effective config.
    pub async fn agent_config(&self) -> Result<AgentConfigResponse> {
        Ok(AgentConfigResponse {
            config: self.connector().read_config(None).await?,
        })
    }

    /// Sets one key of the agent's user config; answers with the new effective config.
    pub async fn write_agent_config(
        &self,
        key_path: &str,
        value: Value,
    ) -> Result<AgentConfigResponse> {
        self.connector().write_config(key_path, value).await?;
        self.agent_config().await
    }

    /// Account rate limits and token usage.
    pub async fn usage(&self) -> Result<UsageResponse> {
        self.connector().usage().await
    }

    /// The skills a session's agent would load in its directory.
    pub async fn skills(&self, id: &str) -> Result<SkillsResponse> {
        let st = self.get(id).await?.state().await?;
        self.connectors()
            .for_summary(&st.summary)
            .skills(&st.summary.cwd)
            .await
    }

    /// The session thread's goal. `supported: false` when the agent does not know goals.
    pub async fn goal(&self, id: &str, set: Option<&str>) -> Result<GoalResponse> {
        let st = self.get(id).await?.state().await?;
        let Some(thread) = st.summary.thread_id.clone() else {
            return Err(Error::Conflict(
                "the session has no agent thread yet; send a message first".into(),
            ));
        };
        let connector = self.connectors().for_summary(&st.summary);
        let r = match set {
            None => connector.goal(&thread).await,
            Some(objective) => connector.set_goal(&thread, Some(objective)).await,
        };
        match r {
            Ok(goal) => Ok(GoalResponse {
                goal,
                supported: true,
            }),
            // JSON-RPC "method not found": an agent version without goals.
            Err(Error::Agent {
                code: Some(-32601), ..
            }) => Ok(GoalResponse {
                goal: None,
                supported: false,
            }),
            Err(e) => Err(e),
        }
    }

    /// Starts a one-off command in the session's directory under its sandbox (read-only when
    /// the session has none); its output streams into the transcript as a command card.
    pub async fn run_command(
        &self,
        id: &str,
        req: RunCommandRequest,
    ) -> Result<RunCommandResponse> {
        if req.command.is_empty() || req.command[0].trim().is_empty() {
            return Err(Error::BadRequest("command is empty".into()));
        }
        let h = self.get(id).await?;
        let st = h.state().await?;
        if st.summary.origin == Origin::Passive {
            return Err(Error::Conflict(
                "this session is observed only (passive); take it over first".into(),
            ));
        }
        let connector = self.connectors().for_summary(&st.summary);
        let command_id = format!("cmd-{}", uuid::Uuid::new_v4());
        let command = shell_words(&req.command);
        let cwd = st.summary.cwd.clone();
        h.ingest_committed(vec![SessionEvent::Item {
            turn_id: None,
            item_id: command_id.clone(),
            status: ItemStatus::InProgress,
            body: ItemBody::CommandExecution {
                command: command.clone(),
                cwd: Some(cwd.clone()),
                output: String::new(),
                exit_code: None,
                duration_ms: None,
                output_omitted: None,
            },
        }])
        .await?;
        self.commands()
            .0
            .lock()
            .insert(command_id.clone(), id.to_owned());
        let spec = ExecSpec {
            id: command_id.clone(),
            argv: req.command,
            cwd: cwd.clone(),
            sandbox_mode: req
                .sandbox_mode
                .or(st.summary.sandbox_mode)
                .or(Some(SandboxMode::ReadOnly)),
            timeout_ms: req.timeout_ms,
        };
        let (tx, mut rx) = mpsc::channel::<ExecChunk>(256);
        let started = Instant::now();
        let run = tokio::spawn(async move { connector.exec_command(spec, tx).await });
        let handle = h.clone();
        let item_id = command_id.clone();
        let running = self.commands_arc();
        tokio::spawn(async move {
            let mut output = String::new();
            while let Some(chunk) = rx.recv().await {
                output.push_str(&chunk.text);
                if output.len() > MAX_COMMAND_OUTPUT {
                    let cut = output.len() - MAX_COMMAND_OUTPUT;
                    let cut = (cut..output.len())
                        .find(|i| output.is_char_boundary(*i))
                        .unwrap_or(output.len());
                    output.drain(..cut);
                }
                if let Err(e) = handle
                    .ingest(vec![SessionEvent::ItemText {
                        turn_id: None,
                        item_id: item_id.clone(),
                        stream: TextStream::Output,
                        delta: chunk.text,
                    }])
                    .await
                {
                    tracing::debug!(error = %e, "command output not delivered");
                }
            }
            let result = match run.await {
                Ok(r) => r,
                Err(e) => Err(Error::Closed(format!("command task: {e}"))),
            };
            let (status, exit_code) = match &result {
                Ok(0) => (ItemStatus::Completed, Some(0)),
                Ok(code) => (ItemStatus::Failed, Some(*code)),
                Err(e) => {
                    output.push_str(&format!("\n[could not run: {e}]"));
                    (ItemStatus::Failed, None)
                }
            };
            running.0.lock().remove(&item_id);
            let _ = handle
                .ingest_committed(vec![SessionEvent::Item {
                    turn_id: None,
                    item_id,
                    status,
                    body: ItemBody::CommandExecution {
                        command,
                        cwd: Some(cwd),
                        output,
                        exit_code,
                        duration_ms: Some(
                            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        ),
                        output_omitted: None,
                    },
                }])
                .await;
        });
        Ok(RunCommandResponse { command_id })
    }

    fn running_command(&self, session_id: &str, command_id: &str) -> Result<()> {
        match self.commands().0.lock().get(command_id) {
            Some(s) if s == session_id => Ok(()),
            _ => Err(Error::BadRequest(format!(
                "no running command {command_id} in this session"
            ))),
        }
    }

    /// Stops a running one-off command.
    pub async fn terminate_command(&self, id: &str, command_id: &str) -> Result<()> {
        self.running_command(id, command_id)?;
        self.connector().terminate_command(command_id).await
    }

    /// Writes to a running one-off command's stdin.
    pub async fn command_stdin(
        &self,
        id: &str,
        command_id: &str,
        text: &str,
        close: bool,
    ) -> Result<()> {
        self.running_command(id, command_id)?;
        self.connector()
            .write_command_stdin(command_id, text, close)
            .await
    }
}
