//! The Codex connector: ONE long-lived `codex app-server` per `CODEX_HOME`, shared by every
//! session (Codex allows one writer per thread, so two processes on one home would fight).
//!
//! It is started lazily, and restarted lazily after a crash: each start bumps
//! [`Connector::generation`], which tells actors that their threads are no longer loaded and
//! must be resumed before the next turn. Everything the app-server says is translated by
//! [`translate`] before it leaves this module: Codex types stop here.
//!
//! Where that app-server runs is the [`CodexRuntime`]: a private stdio child (only the hub can
//! reach it), or a shared runtime: `codex app-server --listen unix://SOCKET` supervised by the
//! hub, which the hub joins as a client over the socket like everyone else. The shared runtime
//! is what lets a person continue a hub session in the terminal (`codex --remote unix://SOCKET
//! resume THREAD`, see [`Connector::terminal_attach`]): both clients then talk to the same
//! process, which holds the thread once, so there is no second writer to conflict with. We
//! supervise our own listener rather than Codex's managed daemon (`codex app-server daemon`)
//! because the daemon runs a self-updating copy of the CLI instead of the pinned binary,
//! outlives the hub and leaves its updater behind (see `codex_client::app_server::remote`, where
//! each of those claims has a test). The socket lives in a 0700 directory; Codex makes the
//! socket itself 0600. How that listener ends with the hub, and how its crash is reported and
//! repaired, is [`shared_runtime`]'s business.
//!
//! The same connector drives a Codex host (an app-server on another machine, or under another
//! `CODEX_HOME`): [`AppServerConnector::for_host`] joins the host's endpoint (SSH command, `ws://`
//! with a capability token, Unix socket) with a client that reconnects by itself and
//! re-subscribes its loaded threads. A host's link drop is not an agent exit: its sessions are
//! told the host is unreachable, and reachable again once the client has resumed their threads,
//! and [`AppServerConnector::link_status`] follows the link for the host list.

mod around;
pub mod items;
mod runtime_pidfile;
mod shared_runtime;
pub mod translate;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use codex_client::app_server::requests::{
    Account, AccountLoginStart, AccountLoginStartParams, AccountLogout, AccountRead,
    AccountReadParams, ConfigBatchWrite, ConfigBatchWriteParams, ConfigEdit, ModelList,
    ModelListParams, ReviewStart, ReviewStartParams, ThreadArchive, ThreadCompactStart, ThreadFork,
    ThreadForkParams, ThreadIdParams, ThreadResume, ThreadResumeParams, ThreadRevert,
    ThreadRevertParams, ThreadSetName, ThreadSetNameParams, ThreadStart, ThreadStartParams,
    ThreadTurnsList, ThreadTurnsListParams, ThreadUnarchive, TurnInterrupt, TurnInterruptParams,
    TurnStart, TurnStartParams, TurnStartResponse, TurnSteer, TurnSteerParams,
};
use codex_client::app_server::thread::ReviewTarget as CodexReviewTarget;
use codex_client::app_server::{
    AppServer, AppServerBuilder, AppServerEvent, AppServerListener, AskForApproval, Endpoint,
    ReconnectPolicy, RemoteBuilder, SandboxMode as CodexSandbox, SandboxPolicy, UserInput,
};
use orbitdock_protocol::HostState;
use orbitdock_protocol::{
    AccountStatus, AgentThread, AgentThreadsQuery, ApprovalPolicy, LoginMethod, LoginRequest,
    LoginResponse, McpServerInfo, ModelInfo, ReviewTarget, SandboxMode, SkillsResponse, ThreadGoal,
    UsageResponse,
};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use super::{
    CODEX, Connector, ConnectorEvent, ConnectorKey, ExecChunk, ExecSpec, HistoryTurn,
    ImportedThread, OpenedThread, ProviderEntry, Router, TerminalAttach, ThreadConfig,
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

/// The first Codex release whose app-server has `thread/revert` (older ones spoke
/// `thread/rollback`) and `thread/fork`'s `lastTurnId`; checked against its generated schema.
const HISTORY_EDITS_SINCE: (u64, u64, u64) = (0, 169, 0);

/// Longest history read in one go (pages of [`HISTORY_PAGE`] turns).
const HISTORY_MAX_TURNS: usize = 10_000;
const HISTORY_PAGE: u32 = 100;

/// The Codex version an app-server reports in `initialize`: its user agent starts with
/// `originator/VERSION`.
fn reported_version(user_agent: &str) -> Option<(u64, u64, u64)> {
    let first = user_agent.split_whitespace().next()?;
    let version = first.rsplit_once('/')?.1;
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Refuses `what` on an app-server older than [`HISTORY_EDITS_SINCE`]. An unparsable user
/// agent is let through: the call itself then says whether the method exists.
fn require_history_edits(s: &AppServer, what: &str) -> Result<()> {
    let ua = &s.initialize_response().user_agent;
    match reported_version(ua) {
        Some(v) if v < HISTORY_EDITS_SINCE => Err(Error::BadRequest(format!(
            "{what} needs Codex {}.{}.{} or newer; the app-server reports {ua:?}",
            HISTORY_EDITS_SINCE.0, HISTORY_EDITS_SINCE.1, HISTORY_EDITS_SINCE.2
        ))),
        _ => Ok(()),
    }
}

fn review_target(t: &ReviewTarget) -> Result<CodexReviewTarget> {
    Ok(match t {
        ReviewTarget::UncommittedChanges => CodexReviewTarget::UncommittedChanges,
        ReviewTarget::BaseBranch { branch } => CodexReviewTarget::BaseBranch {
            branch: branch.clone(),
        },
        ReviewTarget::Commit { sha, title } => CodexReviewTarget::Commit {
            sha: sha.clone(),
            title: title.clone(),
        },
        ReviewTarget::Custom { instructions } => CodexReviewTarget::Custom {
            instructions: instructions.clone(),
        },
        ReviewTarget::Unknown => {
            return Err(Error::BadRequest("unknown review target".into()));
        }
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

/// Where the connector's app-server runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CodexRuntime {
    /// A stdio child only the hub talks to.
    #[default]
    Private,
    /// `codex app-server --listen unix://SOCKET`, supervised by the hub and shared with other
    /// clients (the terminal's `codex --remote`). SOCKET's directory is created 0700.
    SharedSocket {
        /// The socket path clients connect to (Codex makes it a symlink to a short-path
        /// socket, because `sun_path` is ~108 bytes).
        socket: PathBuf,
    },
}

/// A Codex host's app-server, as the connector reaches it.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    /// The host's name (its sessions' `host`).
    pub name: String,
    /// How to reach its app-server (a token inside is never printed).
    pub endpoint: Endpoint,
    /// Send a token over plain `ws://` to a non-loopback address (the user said so).
    pub allow_insecure_ws: bool,
    /// How a dropped link is reopened.
    pub reconnect: ReconnectPolicy,
    /// Bound on opening one link (connect + upgrade + `initialize`).
    pub connect_timeout: Duration,
}

/// What a host's link is doing (see [`AppServerConnector::link_status`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatus {
    /// Connected, reconnecting or unreachable.
    pub state: HostState,
    /// The Codex version the host reported.
    pub codex_version: Option<String>,
    /// Why the last attempt failed or the link dropped.
    pub last_error: Option<String>,
    /// No client is reconnecting: the next use (or the host's keeper) must connect afresh.
    pub closed: bool,
    /// The host refused our credentials: retrying with the same token cannot work.
    pub refused: bool,
}

/// The real connector: one shared `codex app-server` process, (re)started on demand.
pub struct AppServerConnector {
    key: ConnectorKey,
    config: AppServerConfig,
    runtime: CodexRuntime,
    /// Set for a host's connector: where its app-server is.
    remote: Option<RemoteTarget>,
    /// A host's link, as the host list shows it.
    link: watch::Sender<LinkStatus>,
    /// The supervised listener of a [`CodexRuntime::SharedSocket`].
    listener: Mutex<Option<AppServerListener>>,
    current: Mutex<Option<AppServer>>,
    generation: AtomicU64,
    pid: AtomicU32,
    router: Router,
    exec_outputs: around::ExecOutputs,
    /// This connector, for the tasks it spawns (they must not keep it alive).
    me: Weak<AppServerConnector>,
    /// Set by [`Connector::shutdown`]: nothing is (re)started afterwards.
    stopping: AtomicBool,
    /// The shared runtime's restart backoff.
    supervision: parking_lot::Mutex<shared_runtime::Supervision>,
}

impl fmt::Debug for AppServerConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppServerConnector")
            .field("key", &self.key)
            .field("codex_bin", &self.config.codex_bin)
            .field("codex_home", &self.config.codex_home)
            .field("generation", &self.generation())
            .finish()
    }
}

impl AppServerConnector {
    /// A connector delivering events through `router`. Nothing is spawned until first use.
    pub fn new(config: AppServerConfig, router: Router) -> Arc<Self> {
        Self::with_runtime(config, CodexRuntime::Private, router)
    }

    /// A connector whose app-server runs as `runtime` says.
    pub fn with_runtime(
        config: AppServerConfig,
        runtime: CodexRuntime,
        router: Router,
    ) -> Arc<Self> {
        Self::build(CODEX, config, runtime, None, LinkStatus::default(), router)
    }

    fn build(
        key: ConnectorKey,
        config: AppServerConfig,
        runtime: CodexRuntime,
        remote: Option<RemoteTarget>,
        link: LinkStatus,
        router: Router,
    ) -> Arc<Self> {
        let connector = Arc::new_cyclic(|me| AppServerConnector {
            key,
            config,
            runtime,
            remote,
            link: watch::channel(link).0,
            listener: Mutex::new(None),
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            router,
            exec_outputs: Default::default(),
            me: me.clone(),
            stopping: AtomicBool::new(false),
            supervision: Default::default(),
        });
        if let CodexRuntime::SharedSocket { socket } = &connector.runtime {
            connector.end_stale_soon(socket);
        }
        connector
    }

    /// A connector for a Codex host's app-server. Nothing connects until first use (or
    /// [`AppServerConnector::connect`]).
    pub fn for_host(target: RemoteTarget, request_timeout: Duration, router: Router) -> Arc<Self> {
        let config = AppServerConfig {
            codex_bin: PathBuf::from("codex"),
            codex_home: PathBuf::new(),
            env: Vec::new(),
            request_timeout,
        };
        let link = LinkStatus {
            state: HostState::Reconnecting,
            closed: true,
            ..Default::default()
        };
        Self::build(
            ConnectorKey::host(&target.name),
            config,
            CodexRuntime::Private,
            Some(target),
            link,
            router,
        )
    }

    /// Follows a host's link (a local connector's never changes).
    pub fn link_status(&self) -> watch::Receiver<LinkStatus> {
        self.link.subscribe()
    }

    /// Opens the link now when none is open (a host's keeper calls this; calls made by
    /// sessions connect on first use the same way).
    pub async fn connect(&self) -> Result<()> {
        self.server().await.map(|_| ())
    }

    /// The live app-server, spawning one when there is none (or the last one died).
    async fn server(&self) -> Result<AppServer> {
        let mut cur = self.current.lock().await;
        if let Some(s) = cur.as_ref()
            && !s.has_exited()
        {
            return Ok(s.clone());
        }
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Error::Closed("the Codex app-server".into()));
        }
        let (server, rx, pid) = match (&self.remote, &self.runtime) {
            (Some(target), _) => self.connect_host(target).await?,
            (None, CodexRuntime::Private) => {
                let mut builder =
                    AppServerBuilder::new(&self.config.codex_bin, &self.config.codex_home)
                        .client_info("orbitdock", env!("CARGO_PKG_VERSION"))
                        .request_timeout(self.config.request_timeout)
                        // Collaboration modes (plan mode, where the agent asks questions) are
                        // experimental in the app-server's API: without the opt-in, turn/start
                        // ignores them.
                        .experimental_api(true)
                        .event_capacity(4096);
                for (k, v) in self.child_env() {
                    builder = builder.env(k, v);
                }
                let (server, rx) = builder.spawn().await?;
                let pid = server.pid();
                (server, rx, pid)
            }
            (None, CodexRuntime::SharedSocket { socket }) => self.spawn_shared(socket).await?,
        };
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.pid.store(pid.unwrap_or(0), Ordering::SeqCst);
        tracing::info!(
            generation,
            pid,
            home = %self.config.codex_home.display(),
            runtime = ?self.runtime,
            "codex app-server started"
        );
        let retire = self.exec_outputs.new_pump();
        // The shared runtime's close is reported (and repaired) by its watcher; a stdio
        // child's exit by the pump itself.
        let closed = match &self.runtime {
            CodexRuntime::Private => None,
            CodexRuntime::SharedSocket { .. } => {
                let (tx, rx) = oneshot::channel();
                tokio::spawn(Self::watch_shared(self.me.clone(), generation, rx));
                Some(tx)
            }
        };
        tokio::spawn(pump(
            rx,
            retire,
            Pump {
                key: self.key.clone(),
                router: self.router.clone(),
                exec_outputs: self.exec_outputs.clone(),
                generation,
                link: self.remote.as_ref().map(|_| self.link.clone()),
            },
            closed,
        ));
        *cur = Some(server.clone());
        Ok(server)
    }

    /// Joins a host's app-server. A failure is told to the host's sessions (they are
    /// unreachable) and shown in the link status; a success after a failure brings them back.
    async fn connect_host(
        &self,
        target: &RemoteTarget,
    ) -> Result<(AppServer, mpsc::Receiver<AppServerEvent>, Option<u32>)> {
        let was_down = self.link.borrow().last_error.is_some();
        let joined = RemoteBuilder::new(target.endpoint.clone())
            .client_info("orbitdock", env!("CARGO_PKG_VERSION"))
            .request_timeout(self.config.request_timeout)
            .experimental_api(true)
            .event_capacity(4096)
            .reconnect(target.reconnect.clone())
            .allow_insecure_remote(target.allow_insecure_ws)
            .connect_timeout(target.connect_timeout)
            .initialize_timeout(target.connect_timeout)
            .connect()
            .await;
        match joined {
            Ok((server, rx)) => {
                let version = crate::hosts::codex_version(&server.initialize_response().user_agent);
                self.link.send_replace(LinkStatus {
                    state: HostState::Connected,
                    codex_version: version,
                    ..Default::default()
                });
                tracing::info!(host = %target.name, endpoint = %target.endpoint.describe(), "host connected");
                // Also on the first connection: sessions restored after a hub restart start
                // out unreachable and wait for this (sessions that were never down ignore it).
                self.router
                    .route(ConnectorEvent::HostReachable {
                        connector: self.key.clone(),
                        not_resumed: Vec::new(),
                    })
                    .await;
                Ok((server, rx, None))
            }
            Err(e) => {
                let refused = matches!(e, codex_client::Error::Unauthorized { .. });
                let why = host_failure(&e);
                tracing::warn!(host = %target.name, error = %why, "cannot reach host");
                self.link.send_modify(|l| {
                    l.state = HostState::Unreachable;
                    l.last_error = Some(why.clone());
                    l.closed = true;
                    l.refused = refused;
                });
                // Sessions hear it once per outage, not on every retry of the keeper.
                if !was_down {
                    self.router
                        .route(ConnectorEvent::HostUnreachable {
                            connector: self.key.clone(),
                            detail: why.clone(),
                        })
                        .await;
                }
                Err(Error::Conflict(format!(
                    "the host {} is unreachable: {why}",
                    target.name
                )))
            }
        }
    }

    /// The app-server's environment: the configured variables, and no Rust backtraces (a
    /// failing Codex must say one readable thing, not print a stack trace that would end up in
    /// a person's transcript; an inherited RUST_BACKTRACE is overridden).
    fn child_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("RUST_BACKTRACE".to_owned(), "0".to_owned()),
            ("RUST_LIB_BACKTRACE".to_owned(), "0".to_owned()),
        ];
        env.extend(self.config.env.iter().cloned());
        env
    }
}

/// One sentence on why a host could not be reached (never a token: errors carry the endpoint's
/// description, which has none).
fn host_failure(e: &codex_client::Error) -> String {
    match e {
        codex_client::Error::Unauthorized {
            status, message, ..
        } => format!(
            "the host refused our token (HTTP {status}: {}); check the token file given to `hosts add`",
            message.trim()
        ),
        other => other.to_string(),
    }
}

#[async_trait]
impl Connector for AppServerConnector {
    fn key(&self) -> ConnectorKey {
        self.key.clone()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    async fn start_thread(&self, cfg: &ThreadConfig) -> Result<OpenedThread> {
        let s = self.server().await?;
        // Without a login, Codex would accept the thread and then fail every model request
        // with retries ("Reconnecting... 5/5"): refuse the start with the reason instead.
        let account = read_account(&s, &self.config.codex_home).await?;
        let wants_openai = match cfg.model_provider.as_deref() {
            None => account.requires_openai_auth,
            Some(p) => p == OPENAI_PROVIDER,
        };
        if wants_openai && !account.logged_in {
            return Err(Error::Conflict(
                "nobody is logged in to OpenAI; log in (API key or ChatGPT) or choose the local model".into(),
            ));
        }
        let r = s
            .call::<ThreadStart>(ThreadStartParams {
                model_provider: cfg.model_provider.clone(),
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
                model_provider: cfg.model_provider.clone(),
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

    async fn fork_thread(
        &self,
        thread_id: &str,
        through_turn: Option<&str>,
        cfg: &ThreadConfig,
    ) -> Result<OpenedThread> {
        let s = self.server().await?;
        if through_turn.is_some() {
            require_history_edits(&s, "forking from a turn")?;
        }
        let r = s
            .call::<ThreadFork>(ThreadForkParams {
                thread_id: thread_id.to_owned(),
                last_turn_id: through_turn.map(str::to_owned),
                model_provider: cfg.model_provider.clone(),
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

    async fn thread_history(&self, thread_id: &str) -> Result<Vec<HistoryTurn>> {
        let s = self.server().await?;
        let mut turns = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .call::<ThreadTurnsList>(ThreadTurnsListParams {
                    thread_id: thread_id.to_owned(),
                    cursor: cursor.take(),
                    limit: Some(HISTORY_PAGE),
                    sort_direction: Some("asc".into()),
                    items_view: Some("full".into()),
                })
                .await
                .map_err(|e| agent_err("thread/turns/list", e))?;
            let done = page.data.is_empty() || page.next_cursor.is_none();
            turns.extend(page.data.into_iter().map(|t| {
                HistoryTurn {
                    items: t
                        .items
                        .iter()
                        .map(|i| items::convert_item(i, true))
                        .collect(),
                    turn_id: t.id,
                }
            }));
            if done || turns.len() >= HISTORY_MAX_TURNS {
                return Ok(turns);
            }
            cursor = page.next_cursor;
        }
    }

    async fn revert_thread(&self, thread_id: &str, before_turn: &str) -> Result<()> {
        let s = self.server().await?;
        require_history_edits(&s, "reverting turns")?;
        s.call::<ThreadRevert>(ThreadRevertParams {
            thread_id: thread_id.to_owned(),
            before_turn_id: before_turn.to_owned(),
        })
        .await
        .map_err(|e| agent_err("thread/revert", e))?;
        Ok(())
    }

    async fn start_review(&self, thread_id: &str, target: &ReviewTarget) -> Result<String> {
        let s = self.server().await?;
        let r = s
            .call::<ReviewStart>(ReviewStartParams {
                thread_id: thread_id.to_owned(),
                target: review_target(target)?,
                // The only delivery 0.169 accepts; a detached review is a review on a fork.
                delivery: Some("inline".into()),
            })
            .await
            .map_err(|e| agent_err("review/start", e))?;
        Ok(r.turn.id)
    }

    async fn start_turn(&self, thread_id: &str, text: &str, cfg: &ThreadConfig) -> Result<String> {
        let s = self.server().await?;
        let params = TurnStartParams {
            thread_id: thread_id.to_owned(),
            input: vec![UserInput::text(text)],
            model: cfg.model.clone(),
            effort: cfg.effort.clone(),
            approval_policy: approval_policy(&cfg.approval_policy),
            sandbox_policy: sandbox_policy(&cfg.sandbox_mode),
            ..Default::default()
        };
        let Some(mode) = &cfg.collaboration_mode else {
            let r = s
                .call::<TurnStart>(params)
                .await
                .map_err(|e| agent_err("turn/start", e))?;
            return Ok(r.turn.id);
        };
        // `collaborationMode` is an experimental field (absent from the stable schema our typed
        // params follow), so this one call is made raw. Its settings need the model by name.
        let Some(model) = cfg.model.clone() else {
            return Err(Error::BadRequest(
                "a collaboration mode needs the session's model; pick one first".into(),
            ));
        };
        let mut raw = serde_json::to_value(&params).map_err(|e| Error::Decode {
            what: "turn/start params".into(),
            source: e,
        })?;
        raw["collaborationMode"] = serde_json::json!({
            "mode": mode.as_str(),
            "settings": {
                "model": model,
                "reasoning_effort": cfg.effort,
                "developer_instructions": null,
            },
        });
        let answer = s
            .call_raw("turn/start", raw, self.config.request_timeout)
            .await
            .map_err(|e| agent_err("turn/start", e))?;
        let r: TurnStartResponse = serde_json::from_value(answer).map_err(|e| Error::Decode {
            what: "turn/start answer".into(),
            source: e,
        })?;
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

    fn record_path(&self, thread_id: &str, agent_home: Option<&str>) -> Option<PathBuf> {
        let home = agent_home.map_or_else(|| self.config.codex_home.clone(), PathBuf::from);
        crate::full_output::find_rollout(&home, thread_id)
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

    async fn read_account(&self) -> Result<AccountStatus> {
        let s = self.server().await?;
        read_account(&s, &self.config.codex_home).await
    }

    async fn login(&self, request: &LoginRequest) -> Result<LoginResponse> {
        let s = self.server().await?;
        let params = match &request.method {
            LoginMethod::ApiKey => {
                let key = request
                    .api_key
                    .as_deref()
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| Error::BadRequest("an API key is required".into()))?;
                AccountLoginStartParams::api_key(&codex_client::auth::Secret::new(key))
            }
            LoginMethod::DeviceCode => AccountLoginStartParams::device_code(),
            LoginMethod::Unknown(other) => {
                return Err(Error::BadRequest(format!(
                    "unknown login method {other:?} (api_key or device_code)"
                )));
            }
        };
        let started = s
            .call::<AccountLoginStart>(params)
            .await
            .map_err(|e| agent_err("account/login/start", e))?;
        Ok(LoginResponse {
            account: read_account(&s, &self.config.codex_home).await?,
            user_code: started.user_code,
            verification_url: started.verification_url,
        })
    }

    async fn logout(&self) -> Result<AccountStatus> {
        let s = self.server().await?;
        s.call::<AccountLogout>(())
            .await
            .map_err(|e| agent_err("account/logout", e))?;
        read_account(&s, &self.config.codex_home).await
    }

    async fn configure_provider(&self, entry: &ProviderEntry) -> Result<()> {
        let s = self.server().await?;
        // Through the app-server's own config writer (it edits config.toml keeping the user's
        // content, and reloads it for the threads started next).
        s.call::<ConfigBatchWrite>(ConfigBatchWriteParams {
            edits: vec![ConfigEdit {
                key_path: format!("model_providers.{}", entry.id),
                merge_strategy: "upsert".into(),
                value: serde_json::json!({
                    "name": entry.name,
                    "base_url": entry.base_url,
                    "wire_api": "responses",
                }),
            }],
            reload_user_config: Some(true),
            ..Default::default()
        })
        .await
        .map_err(|e| agent_err("config/batchWrite", e))?;
        Ok(())
    }

    async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(s) = self.current.lock().await.take()
            && let Err(e) = s.shutdown().await
        {
            tracing::debug!(error = %e, "app-server shutdown");
        }
        self.stop_shared().await;
    }

    fn terminal_attach(&self) -> Option<TerminalAttach> {
        match &self.runtime {
            CodexRuntime::Private => None,
            CodexRuntime::SharedSocket { socket } => Some(TerminalAttach {
                remote: format!("unix://{}", socket.display()),
                codex_home: self.config.codex_home.clone(),
                codex_bin: self.config.codex_bin.clone(),
            }),
        }
    }
}

/// Codex's built-in provider id of the OpenAI account.
pub const OPENAI_PROVIDER: &str = "openai";

/// `account/read`, in OrbitDock's terms. `codex_home` is the hub's own for its local
/// app-server; a host's connector has none configured (its CODEX_HOME is on the other machine),
/// so the one the host's app-server reported at `initialize` is named instead.
async fn read_account(s: &AppServer, codex_home: &std::path::Path) -> Result<AccountStatus> {
    let codex_home = if codex_home.as_os_str().is_empty() {
        s.initialize_response().codex_home.clone()
    } else {
        codex_home.display().to_string()
    };
    let r = s
        .call::<AccountRead>(AccountReadParams {
            refresh_token: Some(false),
        })
        .await
        .map_err(|e| agent_err("account/read", e))?;
    let mut out = AccountStatus {
        requires_openai_auth: r.requires_openai_auth,
        codex_home,
        ..Default::default()
    };
    if let Some(account) = r.account_info() {
        out.logged_in = true;
        out.kind = Some(
            match &account {
                Account::ApiKey => "api_key",
                Account::Chatgpt { .. } => "chatgpt",
                Account::AmazonBedrock { .. } => "amazon_bedrock",
                Account::Gcp => "gcp",
                Account::Unknown => "unknown",
            }
            .to_owned(),
        );
        if let Account::Chatgpt {
            email, plan_type, ..
        } = account
        {
            out.email = email;
            out.plan = plan_type;
        }
    }
    Ok(out)
}

fn agent_err(operation: &str, e: codex_client::Error) -> Error {
    Error::agent(operation, e)
}

/// Where a pump delivers, and what it tells about its link.
struct Pump {
    key: ConnectorKey,
    router: Router,
    exec_outputs: around::ExecOutputs,
    generation: u64,
    /// A host's link status (`None` for the local app-server, whose drops are exits).
    link: Option<watch::Sender<LinkStatus>>,
}

/// Forwards one app-server's events, translated, until it exits.
async fn pump(
    mut rx: mpsc::Receiver<AppServerEvent>,
    mut retire: mpsc::UnboundedReceiver<around::Retire>,
    p: Pump,
    mut closed: Option<oneshot::Sender<String>>,
) {
    let Pump {
        key,
        router,
        exec_outputs,
        generation,
        link,
    } = p;
    loop {
        // Events first: a retire request is handled only once every event queued before it
        // (a finished command's last output) has been delivered.
        let ev = tokio::select! {
            biased;
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => break,
            },
            Some(r) = retire.recv() => {
                exec_outputs.retired(r);
                continue;
            }
        };
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
                        connector: key.clone(),
                        thread_id,
                        events,
                    },
                    Translated::RateLimits(rate_limits) => ConnectorEvent::RateLimits {
                        connector: key.clone(),
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
                    connector: key.clone(),
                    thread_id,
                    request: Box::new(request),
                },
                Err(unsupported) => match unsupported.thread_id {
                    Some(thread_id) => ConnectorEvent::Thread {
                        connector: key.clone(),
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
                let tail = super::stderr_tail_lines(&stderr_tail, 5);
                tracing::warn!(?status, generation, stderr = %tail, "codex app-server exited");
                ConnectorEvent::Exited {
                    connector: key.clone(),
                    detail: format!("exit status {status:?}; {tail}"),
                }
            }
            AppServerEvent::Disconnected { reason, .. } => {
                let Some(link) = &link else {
                    // The shared runtime does not reconnect: `Closed` follows and reports it.
                    continue;
                };
                tracing::warn!(host = %key, %reason, "host link dropped; reconnecting");
                link.send_modify(|l| {
                    l.state = HostState::Reconnecting;
                    l.last_error = Some(reason.clone());
                });
                ConnectorEvent::HostUnreachable {
                    connector: key.clone(),
                    detail: reason,
                }
            }
            AppServerEvent::ReconnectFailed { attempt, error, .. } => {
                if let Some(link) = &link {
                    tracing::debug!(host = %key, attempt, %error, "host reconnection failed");
                    link.send_modify(|l| {
                        l.state = HostState::Unreachable;
                        l.last_error = Some(error);
                    });
                }
                continue;
            }
            AppServerEvent::Reconnected {
                resumed,
                not_resumed,
                ..
            } => {
                let Some(link) = &link else { continue };
                tracing::info!(host = %key, resumed = resumed.len(), not_resumed = not_resumed.len(), "host link back");
                link.send_modify(|l| {
                    l.state = HostState::Connected;
                    l.last_error = None;
                    l.refused = false;
                });
                ConnectorEvent::HostReachable {
                    connector: key.clone(),
                    not_resumed,
                }
            }
            AppServerEvent::Closed { reason } => match &link {
                // A host's client gave up (or was shut down): its keeper connects afresh.
                Some(link) => {
                    tracing::warn!(host = %key, %reason, "host link closed");
                    link.send_modify(|l| {
                        l.state = HostState::Unreachable;
                        l.last_error = Some(reason.clone());
                        l.closed = true;
                    });
                    ConnectorEvent::HostUnreachable {
                        connector: key.clone(),
                        detail: reason,
                    }
                }
                // The shared runtime's link: it does not reconnect, so `Closed` follows a drop.
                // Its watcher reports it (with the listener's exit) and restarts it.
                None => {
                    tracing::warn!(generation, %reason, "codex app-server connection closed");
                    if let Some(watcher) = closed.take() {
                        let _ = watcher.send(reason);
                        continue;
                    }
                    ConnectorEvent::Exited {
                        connector: key.clone(),
                        detail: reason,
                    }
                }
            },
            other => {
                tracing::debug!(?other, "unhandled app-server event");
                continue;
            }
        };
        router.route(out).await;
    }
}

#[cfg(test)]
mod tests {
    use super::reported_version;

    #[test]
    fn the_version_comes_from_the_user_agents_first_token() {
        assert_eq!(
            reported_version("orbitdock/0.169.0 (Ubuntu 24.4.0; x86_64) xterm (orbitdock; 0.1.0)"),
            Some((0, 169, 0))
        );
        assert_eq!(
            reported_version("codex_cli_rs/0.171.0-alpha.2"),
            Some((0, 171, 0))
        );
        assert_eq!(reported_version("fake/0"), None);
        assert_eq!(reported_version(""), None);
    }
}
