//! The Codex connector: ONE long-lived `codex app-server` per `CODEX_HOME`, shared by every
//! session (Codex allows one writer per thread, so two processes on one home would fight).
//!
//! It is started lazily, and restarted lazily after a crash: each start bumps
//! [`Connector::generation`], which tells actors that their threads are no longer loaded and
//! must be resumed before the next turn. Everything the app-server says is translated by
//! [`translate`] before it leaves this module: Codex types stop here.

mod around;
pub mod items;
pub mod translate;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use codex_client::app_server::requests::{
    ModelList, ModelListParams, ThreadArchive, ThreadCompactStart, ThreadFork, ThreadForkParams,
    ThreadIdParams, ThreadResume, ThreadResumeParams, ThreadSetName, ThreadSetNameParams,
    ThreadStart, ThreadStartParams, ThreadUnarchive, TurnInterrupt, TurnInterruptParams, TurnStart,
    TurnStartParams, TurnSteer, TurnSteerParams,
};
use codex_client::app_server::{
    AppServer, AppServerBuilder, AppServerEvent, AskForApproval, SandboxMode as CodexSandbox,
    SandboxPolicy, UserInput,
};
use orbitdock_protocol::{
    AgentThread, AgentThreadsQuery, ApprovalPolicy, McpServerInfo, ModelInfo, SandboxMode,
    SkillsResponse, ThreadGoal, UsageResponse,
};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

use super::{
    CODEX, Connector, ConnectorEvent, ExecChunk, ExecSpec, ImportedThread, OpenedThread, Router,
    ThreadConfig,
};
use crate::error::{Error, Result};
use crate::session::SessionEvent;
use translate::Translated;

/// The thread a start, resume or fork answered with: their response types differ but share
/// these fields.
macro_rules! opened {
    ($r:expr) => {
        OpenedThread {
            thread_id: $r.thread.id,
            model: Some($r.model),
            effort: $r.reasoning_effort,
            name: $r.thread.name,
        }
    };
}

fn approval_policy(p: &Option<ApprovalPolicy>) -> Option<AskForApproval> {
    p.as_ref().map(|p| match p {
        ApprovalPolicy::Untrusted => AskForApproval::Untrusted,
        ApprovalPolicy::OnRequest => AskForApproval::OnRequest,
        ApprovalPolicy::Never => AskForApproval::Never,
        other => AskForApproval::Unknown(Value::String(other.as_str().to_owned())),
    })
}

fn sandbox_mode(s: &Option<SandboxMode>) -> Option<CodexSandbox> {
    s.as_ref().map(|s| match s {
        SandboxMode::ReadOnly => CodexSandbox::ReadOnly,
        SandboxMode::WorkspaceWrite => CodexSandbox::WorkspaceWrite,
        SandboxMode::DangerFullAccess => CodexSandbox::DangerFullAccess,
        SandboxMode::Unknown(other) => CodexSandbox::Unknown(other.clone()),
    })
}

fn sandbox_policy(s: &Option<SandboxMode>) -> Option<SandboxPolicy> {
    s.as_ref().map(|s| match s {
        SandboxMode::ReadOnly => SandboxPolicy::ReadOnly {
            network_access: false,
        },
        SandboxMode::DangerFullAccess => SandboxPolicy::DangerFullAccess,
        _ => SandboxPolicy::WorkspaceWrite {
            writable_roots: Vec::new(),
            network_access: false,
            exclude_tmpdir_env_var: false,
            exclude_slash_tmp: false,
        },
    })
}

/// How to start the app-server.
#[derive(Debug, Clone)]
pub struct AppServerConfig {
    /// The `codex` binary.
    pub codex_bin: PathBuf,
    /// Its `CODEX_HOME`.
    pub codex_home: PathBuf,
    /// Extra environment for the child.
    pub env: Vec<(String, String)>,
    /// Default request timeout.
    pub request_timeout: Duration,
}

/// The real connector: one shared `codex app-server` process, (re)started on demand.
pub struct AppServerConnector {
    config: AppServerConfig,
    current: Mutex<Option<AppServer>>,
    generation: AtomicU64,
    pid: AtomicU32,
    router: Router,
    exec_outputs: around::ExecOutputs,
}

impl fmt::Debug for AppServerConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppServerConnector")
            .field("codex_bin", &self.config.codex_bin)
            .field("codex_home", &self.config.codex_home)
            .field("generation", &self.generation())
            .finish()
    }
}

impl AppServerConnector {
    /// A connector delivering events through `router`. Nothing is spawned until first use.
    pub fn new(config: AppServerConfig, router: Router) -> Arc<Self> {
        Arc::new(AppServerConnector {
            config,
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            router,
            exec_outputs: Default::default(),
        })
    }

    /// The live app-server, spawning one when there is none (or the last one died).
    async fn server(&self) -> Result<AppServer> {
        let mut cur = self.current.lock().await;
        if let Some(s) = cur.as_ref()
            && !s.has_exited()
        {
            return Ok(s.clone());
        }
        let mut builder = AppServerBuilder::new(&self.config.codex_bin, &self.config.codex_home)
            .client_info("orbitdock", env!("CARGO_PKG_VERSION"))
            .request_timeout(self.config.request_timeout)
            .event_capacity(4096);
        for (k, v) in &self.config.env {
            builder = builder.env(k, v);
        }
        let (server, rx) = builder.spawn().await?;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.pid.store(server.pid().unwrap_or(0), Ordering::SeqCst);
        tracing::info!(
            generation,
            pid = server.pid(),
            home = %self.config.codex_home.display(),
            "codex app-server started"
        );
        tokio::spawn(pump(
            rx,
            self.router.clone(),
            self.exec_outputs.clone(),
            generation,
        ));
        *cur = Some(server.clone());
        Ok(server)
    }
}

#[async_trait]
impl Connector for AppServerConnector {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    async fn start_thread(&self, cfg: &ThreadConfig) -> Result<OpenedThread> {
        let s = self.server().await?;
        let r = s
            .call::<ThreadStart>(ThreadStartParams {
                model: cfg.model.clone(),
                cwd: Some(cfg.cwd.clone()),
                approval_policy: approval_policy(&cfg.approval_policy),
                sandbox: sandbox_mode(&cfg.sandbox_mode),
                service_name: Some("orbitdock".into()),
                ..Default::default()
            })
            .await
            .map_err(|e| agent_err("thread/start", e))?;
        Ok(opened!(r))
    }

    async fn resume_thread(&self, thread_id: &str, cfg: &ThreadConfig) -> Result<OpenedThread> {
        let s = self.server().await?;
        let r = s
            .call::<ThreadResume>(ThreadResumeParams {
                thread_id: thread_id.to_owned(),
                model: cfg.model.clone(),
                cwd: Some(cfg.cwd.clone()),
                approval_policy: approval_policy(&cfg.approval_policy),
                sandbox: sandbox_mode(&cfg.sandbox_mode),
                exclude_turns: Some(true),
                ..Default::default()
            })
            .await
            .map_err(|e| agent_err("thread/resume", e))?;
        Ok(opened!(r))
    }

    async fn fork_thread(&self, thread_id: &str, cfg: &ThreadConfig) -> Result<OpenedThread> {
        let s = self.server().await?;
        let r = s
            .call::<ThreadFork>(ThreadForkParams {
                thread_id: thread_id.to_owned(),
                model: cfg.model.clone(),
                cwd: Some(cfg.cwd.clone()),
                approval_policy: approval_policy(&cfg.approval_policy),
                sandbox: sandbox_mode(&cfg.sandbox_mode),
                exclude_turns: Some(true),
                ..Default::default()
            })
            .await
            .map_err(|e| agent_err("thread/fork", e))?;
        Ok(opened!(r))
    }

    async fn start_turn(&self, thread_id: &str, text: &str, cfg: &ThreadConfig) -> Result<String> {
        let s = self.server().await?;
        let r = s
            .call::<TurnStart>(TurnStartParams {
                thread_id: thread_id.to_owned(),
                input: vec![UserInput::text(text)],
                model: cfg.model.clone(),
                effort: cfg.effort.clone(),
                approval_policy: approval_policy(&cfg.approval_policy),
                sandbox_policy: sandbox_policy(&cfg.sandbox_mode),
                ..Default::default()
            })
            .await
            .map_err(|e| agent_err("turn/start", e))?;
        Ok(r.turn.id)
    }

    async fn steer_turn(&self, thread_id: &str, turn_id: &str, text: &str) -> Result<String> {
        let s = self.server().await?;
        let r = s
            .call::<TurnSteer>(TurnSteerParams {
                thread_id: thread_id.to_owned(),
                input: vec![UserInput::text(text)],
                expected_turn_id: turn_id.to_owned(),
                client_user_message_id: None,
            })
            .await
            .map_err(|e| agent_err("turn/steer", e))?;
        Ok(r.turn_id)
    }

    async fn compact_thread(&self, thread_id: &str) -> Result<()> {
        let s = self.server().await?;
        s.call::<ThreadCompactStart>(ThreadIdParams {
            thread_id: thread_id.to_owned(),
        })
        .await
        .map_err(|e| agent_err("thread/compact/start", e))?;
        Ok(())
    }

    async fn set_thread_archived(&self, thread_id: &str, archived: bool) -> Result<()> {
        let s = self.server().await?;
        let params = ThreadIdParams {
            thread_id: thread_id.to_owned(),
        };
        if archived {
            s.call::<ThreadArchive>(params)
                .await
                .map_err(|e| agent_err("thread/archive", e))?;
        } else {
            s.call::<ThreadUnarchive>(params)
                .await
                .map_err(|e| agent_err("thread/unarchive", e))?;
        }
        Ok(())
    }

    async fn interrupt_turn(&self, thread_id: &str, turn_id: &str) -> Result<()> {
        let s = self.server().await?;
        s.call::<TurnInterrupt>(TurnInterruptParams {
            thread_id: thread_id.to_owned(),
            turn_id: turn_id.to_owned(),
        })
        .await
        .map_err(|e| agent_err("turn/interrupt", e))?;
        Ok(())
    }

    async fn set_thread_name(&self, thread_id: &str, name: &str) -> Result<()> {
        let s = self.server().await?;
        s.call::<ThreadSetName>(ThreadSetNameParams {
            thread_id: thread_id.to_owned(),
            name: name.to_owned(),
        })
        .await
        .map_err(|e| agent_err("thread/name/set", e))?;
        Ok(())
    }

    async fn list_models(&self) -> Result<Vec<ModelInfo>> {
        let s = self.server().await?;
        let r = s
            .call::<ModelList>(ModelListParams::default())
            .await
            .map_err(|e| agent_err("model/list", e))?;
        Ok(r.data
            .into_iter()
            .filter(|m| !m.hidden)
            .map(|m| ModelInfo {
                efforts: m
                    .supported_reasoning_efforts
                    .iter()
                    .filter_map(|e| {
                        e.get("reasoningEffort")
                            .and_then(Value::as_str)
                            .or_else(|| e.as_str())
                            .map(str::to_owned)
                    })
                    .collect(),
                id: m.model,
                display_name: m.display_name,
                description: m.description,
                default_effort: m.default_reasoning_effort,
                is_default: m.is_default,
            })
            .collect())
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<()> {
        around::delete_thread(&self.server().await?, thread_id).await
    }

    async fn mcp_servers(&self, thread_id: Option<&str>) -> Result<Vec<McpServerInfo>> {
        around::mcp_servers(&self.server().await?, thread_id).await
    }

    async fn list_threads(
        &self,
        query: &AgentThreadsQuery,
    ) -> Result<(Vec<AgentThread>, Option<String>)> {
        around::list_threads(&self.server().await?, query).await
    }

    async fn read_thread(&self, thread_id: &str) -> Result<ImportedThread> {
        around::read_thread(&self.server().await?, thread_id).await
    }

    async fn read_config(&self, cwd: Option<&str>) -> Result<Value> {
        around::read_config(&self.server().await?, cwd).await
    }

    async fn write_config(&self, key_path: &str, value: Value) -> Result<()> {
        around::write_config(&self.server().await?, key_path, value).await
    }

    async fn exec_command(&self, spec: ExecSpec, output: mpsc::Sender<ExecChunk>) -> Result<i32> {
        around::exec_command(&self.server().await?, &self.exec_outputs, spec, output).await
    }

    async fn write_command_stdin(&self, id: &str, text: &str, close: bool) -> Result<()> {
        around::write_command_stdin(&self.server().await?, id, text, close).await
    }

    async fn terminate_command(&self, id: &str) -> Result<()> {
        around::terminate_command(&self.server().await?, id).await
    }

    async fn usage(&self) -> Result<UsageResponse> {
        around::usage(&self.server().await?).await
    }

    async fn skills(&self, cwd: &str) -> Result<SkillsResponse> {
        around::skills(&self.server().await?, cwd).await
    }

    async fn goal(&self, thread_id: &str) -> Result<Option<ThreadGoal>> {
        around::get_goal(&self.server().await?, thread_id).await
    }

    async fn set_goal(
        &self,
        thread_id: &str,
        objective: Option<&str>,
    ) -> Result<Option<ThreadGoal>> {
        around::set_goal(&self.server().await?, thread_id, objective).await
    }

    fn agent_pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }

    async fn shutdown(&self) {
        if let Some(s) = self.current.lock().await.take()
            && let Err(e) = s.shutdown().await
        {
            tracing::debug!(error = %e, "app-server shutdown");
        }
    }
}

fn agent_err(operation: &str, e: codex_client::Error) -> Error {
    Error::agent(operation, e)
}

/// Forwards one app-server's events, translated, until it exits.
async fn pump(
    mut rx: mpsc::Receiver<AppServerEvent>,
    router: Router,
    exec_outputs: around::ExecOutputs,
    generation: u64,
) {
    while let Some(ev) = rx.recv().await {
        let out = match ev {
            AppServerEvent::Notification(
                codex_client::app_server::ServerNotification::CommandExecOutputDelta(d),
            ) => {
                around::route_exec_output(&exec_outputs, &d.process_id, d.stream, &d.delta_base64);
                continue;
            }
            AppServerEvent::Notification(n) => {
                let method = n.method().to_owned();
                match translate::notification(n) {
                    Translated::Thread { thread_id, events } => ConnectorEvent::Thread {
                        connector: CODEX,
                        thread_id,
                        events,
                    },
                    Translated::RateLimits(rate_limits) => ConnectorEvent::RateLimits {
                        connector: CODEX,
                        rate_limits,
                    },
                    Translated::Ignored => {
                        tracing::debug!(%method, "notification not used");
                        continue;
                    }
                }
            }
            AppServerEvent::Request(r) => match translate::request(r).await {
                Ok((thread_id, request)) => ConnectorEvent::Approval {
                    connector: CODEX,
                    thread_id,
                    request: Box::new(request),
                },
                Err(unsupported) => match unsupported.thread_id {
                    Some(thread_id) => ConnectorEvent::Thread {
                        connector: CODEX,
                        thread_id,
                        events: vec![SessionEvent::Notice(format!(
                            "The agent sent a request OrbitDock does not support ({}); it was refused.",
                            unsupported.method
                        ))],
                    },
                    None => continue,
                },
            },
            AppServerEvent::Malformed { line, error } => {
                tracing::warn!(%error, raw = %line, "undecodable app-server line");
                continue;
            }
            AppServerEvent::Exited {
                status,
                stderr_tail,
            } => {
                let tail: Vec<&str> = stderr_tail.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                let tail = tail.join("\n");
                tracing::warn!(?status, generation, stderr = %tail, "codex app-server exited");
                ConnectorEvent::Exited {
                    connector: CODEX,
                    detail: format!("exit status {status:?}; {tail}"),
                }
            }
            other => {
                tracing::debug!(?other, "unhandled app-server event");
                continue;
            }
        };
        router.route(out).await;
    }
}
