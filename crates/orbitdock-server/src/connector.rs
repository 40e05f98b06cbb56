//! The seam between session actors and the agent process.
//!
//! [`Connector`] is what a session actor needs from "Codex": open/resume/fork a thread, start and
//! interrupt turns, rename, list models. Events flow the other way as [`ConnectorEvent`]s on one
//! channel, which the registry's demultiplexer routes to session actors by thread id.
//!
//! [`AppServerConnector`] is the real implementation: ONE long-lived `codex app-server` per
//! `CODEX_HOME`, shared by every session (Codex allows one writer per thread, so two processes on
//! one home would fight). It is started lazily, and restarted lazily after a crash: each start
//! bumps [`Connector::generation`], which tells actors that their threads are no longer loaded
//! and must be resumed before the next turn.
//!
//! Benchmarks implement the trait themselves to inject events without a model or a CLI.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use codex_client::app_server::requests::{
    ModelList, ModelListParams, ThreadFork, ThreadForkParams, ThreadResume, ThreadResumeParams,
    ThreadSetName, ThreadSetNameParams, ThreadStart, ThreadStartParams, TurnInterrupt,
    TurnInterruptParams, TurnStart, TurnStartParams,
};
use codex_client::app_server::{
    AppServer, AppServerBuilder, AppServerEvent, AskForApproval, Responder, SandboxMode,
    SandboxPolicy, ServerNotification, ServerRequestParams, UserInput,
};
use orbitdock_protocol::ModelInfo;
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

use crate::error::{Error, Result};

/// Answers one server->client request (an approval, a question). Stored with the pending
/// approval until the user decides; never called by the server on its own for approvals.
#[async_trait]
pub trait ApprovalReply: Send + Sync + fmt::Debug {
    /// Sends the JSON-RPC `result`.
    async fn reply(&self, result: Value) -> Result<()>;
    /// Sends a JSON-RPC error (for requests we do not support).
    async fn reply_error(&self, code: i64, message: &str) -> Result<()>;
}

#[async_trait]
impl ApprovalReply for Responder {
    async fn reply(&self, result: Value) -> Result<()> {
        self.respond(result).await.map_err(Error::from)
    }
    async fn reply_error(&self, code: i64, message: &str) -> Result<()> {
        self.respond_error(code, message.to_owned())
            .await
            .map_err(Error::from)
    }
}

/// A server->client request, ready for a session actor.
#[derive(Debug)]
pub struct IncomingRequest {
    /// The JSON-RPC id, stringified.
    pub request_id: String,
    /// The method.
    pub method: String,
    /// Typed params.
    pub params: ServerRequestParams,
    /// Raw params.
    pub raw_params: Value,
    /// The thread it concerns.
    pub thread_id: Option<String>,
    /// How to answer.
    pub reply: Arc<dyn ApprovalReply>,
}

/// Something the agent process said.
#[derive(Debug)]
pub enum ConnectorEvent {
    /// A notification.
    Notification(ServerNotification),
    /// A request (approval, question, tool call).
    Request(IncomingRequest),
    /// The agent process went away (crash or shutdown); its threads are unloaded.
    Exited {
        /// Exit status and stderr tail, for the transcript.
        detail: String,
    },
}

/// Thread / turn settings, as OrbitDock names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadConfig {
    /// Working directory.
    pub cwd: String,
    /// Model.
    pub model: Option<String>,
    /// Reasoning effort.
    pub effort: Option<String>,
    /// `untrusted` | `on-request` | `never`.
    pub approval_policy: Option<String>,
    /// `read-only` | `workspace-write` | `danger-full-access`.
    pub sandbox_mode: Option<String>,
}

/// A thread the agent has loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenedThread {
    /// Its id.
    pub thread_id: String,
    /// The model the agent resolved.
    pub model: Option<String>,
    /// The effort the agent resolved.
    pub effort: Option<String>,
    /// The thread's name, when it has one.
    pub name: Option<String>,
}

/// What a session actor needs from the agent.
#[async_trait]
pub trait Connector: Send + Sync + fmt::Debug + 'static {
    /// Bumped on every (re)start of the agent process; threads opened under an older
    /// generation must be resumed.
    fn generation(&self) -> u64;
    /// Starts a new thread.
    async fn start_thread(&self, cfg: &ThreadConfig) -> Result<OpenedThread>;
    /// Loads an existing thread (after a restart).
    async fn resume_thread(&self, thread_id: &str, cfg: &ThreadConfig) -> Result<OpenedThread>;
    /// Forks a thread into a new one.
    async fn fork_thread(&self, thread_id: &str, cfg: &ThreadConfig) -> Result<OpenedThread>;
    /// Starts a turn with these settings; returns the turn id.
    async fn start_turn(&self, thread_id: &str, text: &str, cfg: &ThreadConfig) -> Result<String>;
    /// Interrupts a turn.
    async fn interrupt_turn(&self, thread_id: &str, turn_id: &str) -> Result<()>;
    /// Names a thread.
    async fn set_thread_name(&self, thread_id: &str, name: &str) -> Result<()>;
    /// Lists models.
    async fn list_models(&self) -> Result<Vec<ModelInfo>>;
    /// Stops the agent process.
    async fn shutdown(&self);
    /// The agent process id, when one runs (diagnostics and crash tests).
    fn agent_pid(&self) -> Option<u32> {
        None
    }
}

/// Whether an agent error means "another process is writing this thread".
pub fn is_active_writer_conflict(e: &Error) -> bool {
    e.to_string().to_lowercase().contains("active writer")
}

fn approval_policy(p: &Option<String>) -> Option<AskForApproval> {
    p.as_deref().map(|p| match p {
        "untrusted" => AskForApproval::Untrusted,
        "on-request" => AskForApproval::OnRequest,
        "never" => AskForApproval::Never,
        other => AskForApproval::Unknown(Value::String(other.to_owned())),
    })
}

fn sandbox_mode(s: &Option<String>) -> Option<SandboxMode> {
    s.as_deref().map(|s| match s {
        "read-only" => SandboxMode::ReadOnly,
        "workspace-write" => SandboxMode::WorkspaceWrite,
        "danger-full-access" => SandboxMode::DangerFullAccess,
        other => SandboxMode::Unknown(other.to_owned()),
    })
}

fn sandbox_policy(s: &Option<String>) -> Option<SandboxPolicy> {
    s.as_deref().map(|s| match s {
        "read-only" => SandboxPolicy::ReadOnly {
            network_access: false,
        },
        "danger-full-access" => SandboxPolicy::DangerFullAccess,
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
    events: mpsc::Sender<ConnectorEvent>,
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
    /// A connector delivering events to `events`. Nothing is spawned until first use.
    pub fn new(config: AppServerConfig, events: mpsc::Sender<ConnectorEvent>) -> Arc<Self> {
        Arc::new(AppServerConnector {
            config,
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            events,
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
        let (server, mut rx) = builder.spawn().await?;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.pid.store(server.pid().unwrap_or(0), Ordering::SeqCst);
        tracing::info!(
            generation,
            pid = server.pid(),
            home = %self.config.codex_home.display(),
            "codex app-server started"
        );
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let out = match ev {
                    AppServerEvent::Notification(n) => ConnectorEvent::Notification(n),
                    AppServerEvent::Request(r) => ConnectorEvent::Request(IncomingRequest {
                        request_id: r.id.to_string(),
                        method: r.method.clone(),
                        thread_id: r.thread_id().map(str::to_owned),
                        params: r.params.clone(),
                        raw_params: r.raw_params.clone(),
                        reply: Arc::new(r.responder()),
                    }),
                    AppServerEvent::Malformed { line, error } => {
                        tracing::warn!(%error, raw = %line, "undecodable app-server line");
                        continue;
                    }
                    AppServerEvent::Exited {
                        status,
                        stderr_tail,
                    } => {
                        let tail: String = stderr_tail
                            .lines()
                            .rev()
                            .take(5)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect::<Vec<_>>()
                            .join("\n");
                        tracing::warn!(?status, generation, stderr = %tail, "codex app-server exited");
                        ConnectorEvent::Exited {
                            detail: format!("exit status {status:?}; {tail}"),
                        }
                    }
                    other => {
                        tracing::debug!(?other, "unhandled app-server event");
                        continue;
                    }
                };
                if events.send(out).await.is_err() {
                    break;
                }
            }
        });
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
        Ok(OpenedThread {
            thread_id: r.thread.id,
            model: Some(r.model),
            effort: r.reasoning_effort,
            name: r.thread.name,
        })
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
        Ok(OpenedThread {
            thread_id: r.thread.id,
            model: Some(r.model),
            effort: r.reasoning_effort,
            name: r.thread.name,
        })
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
        Ok(OpenedThread {
            thread_id: r.thread.id,
            model: Some(r.model),
            effort: r.reasoning_effort,
            name: r.thread.name,
        })
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
    Error::Agent {
        operation: operation.to_owned(),
        message: e.to_string(),
    }
}

/// Builds the `result` answering an approval-like request, per its kind.
pub fn approval_result(
    kind: orbitdock_protocol::ApprovalKind,
    decision: orbitdock_protocol::ApprovalDecision,
    answers: Option<&BTreeMap<String, Vec<String>>>,
    raw_params: &Value,
) -> Value {
    use orbitdock_protocol::ApprovalDecision as D;
    use orbitdock_protocol::ApprovalKind as K;
    use serde_json::json;
    let wire = match decision {
        D::Accept => "accept",
        D::AcceptForSession => "acceptForSession",
        D::Decline => "decline",
        D::Cancel => "cancel",
    };
    match kind {
        K::Command | K::FileChange | K::Unknown => json!({ "decision": wire }),
        K::Question => {
            let mut map = serde_json::Map::new();
            if matches!(decision, D::Accept | D::AcceptForSession) {
                for (id, a) in answers.into_iter().flatten() {
                    map.insert(id.clone(), json!({ "answers": a }));
                }
            }
            json!({ "answers": map })
        }
        K::Permissions => match decision {
            D::Accept | D::AcceptForSession => json!({
                "permissions": raw_params.get("permissions").cloned().unwrap_or_else(|| json!({})),
                "scope": if decision == D::AcceptForSession { "session" } else { "turn" },
            }),
            _ => json!({ "permissions": {}, "scope": "turn" }),
        },
        K::Elicitation => {
            let action = match decision {
                D::Accept | D::AcceptForSession => "accept",
                D::Decline => "decline",
                D::Cancel => "cancel",
            };
            let content = if action == "accept" {
                answers.map(|a| json!(a)).unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            json!({ "action": action, "content": content, "_meta": null })
        }
    }
}
