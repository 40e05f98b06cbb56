//! The Claude Code connector: ONE `claude -p` stream-json process per session (the CLI has no
//! multi-session server mode), driven through the `claude-code` crate.
//!
//! How the neutral [`Connector`] calls map onto the CLI:
//!
//! * start a thread: spawn with `--session-id <new uuid>`, so the thread id is known before
//!   the first turn (the CLI only reports its id in `system/init`, at the start of a turn);
//! * resume: reuse the live process, or spawn with `--resume <id>` — after a hub restart, after
//!   the process died, and to take over a session a terminal ran (then with that terminal's
//!   config dir, where its transcript lives);
//! * start a turn: write a user message; the turn id is ours (the CLI has none), and the
//!   `result` line ends it. Model and permission-mode changes are sent first as `set_model` /
//!   `set_permission_mode` control requests;
//! * steer: refused — the CLI queues a message sent during a turn and runs it as a turn of its
//!   own, so the core waits for the turn's end and starts a new one;
//! * interrupt: the `interrupt` control request; rename: `rename_session`;
//! * release (session ended or archived): graceful shutdown of that process tree.
//!
//! Each process has a pump task that translates its lines with [`translate::Translator`] and
//! routes them as [`ConnectorEvent`]s keyed by the Claude session id. Permission requests become
//! approvals answered only by a person ([`translate::ClaudeReply`]). A process that exits on its
//! own ends its running turn as failed and detaches its session (the next message resumes it);
//! other sessions are unaffected, so [`Connector::generation`] never changes.
//!
//! Claude types stop here: nothing outside this module sees a `claude_code` type.

pub mod translate;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use claude_code::AccountState;
use claude_code::protocol::control::PermissionMode as ClaudeMode;
use claude_code::{ClaudeSession, SessionBuilder, SessionEvent as ClaudeEvent};
use orbitdock_protocol::{AgentInfo, ModelInfo, PermissionMode, Provider, TurnStatus};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::mpsc;

use super::{CLAUDE, Connector, ConnectorEvent, OpenedThread, Router, ThreadConfig};
use crate::error::{Error, Result};
use crate::session::SessionEvent;
use translate::{Translator, claude_err};

/// How to start Claude Code processes.
#[derive(Debug, Clone)]
pub struct ClaudeConfig {
    /// The `claude` executable.
    pub claude_bin: PathBuf,
    /// `CLAUDE_CONFIG_DIR` for the sessions the hub starts; `None` = the CLI's default
    /// (`~/.claude`), so they share the person's login and can be resumed from a terminal.
    pub config_dir: Option<PathBuf>,
    /// `HOME` for the child, when not inherited.
    pub home: Option<PathBuf>,
    /// Extra environment for every child.
    pub env: Vec<(String, String)>,
    /// Inherited variables to remove from every child.
    pub env_remove: Vec<String>,
    /// Timeout of control requests (interrupt, set_model, ...).
    pub request_timeout: Duration,
}

impl ClaudeConfig {
    /// Defaults for `claude_bin`: inherited environment, the CLI's default config dir.
    pub fn new(claude_bin: impl Into<PathBuf>) -> Self {
        ClaudeConfig {
            claude_bin: claude_bin.into(),
            config_dir: None,
            home: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// One live CLI process.
struct Live {
    session: ClaudeSession,
    translator: Arc<Mutex<Translator>>,
    cwd: String,
    model: Mutex<Option<String>>,
    mode: Mutex<Option<PermissionMode>>,
    /// Stopped on purpose: its exit is not news.
    released: AtomicBool,
}

/// The Claude Code connector (see the module docs).
pub struct ClaudeConnector {
    config: ClaudeConfig,
    router: Router,
    live: Mutex<HashMap<String, Arc<Live>>>,
    /// One spawn at a time per connector: two calls resuming the same thread must not start
    /// two processes writing one transcript.
    spawning: tokio::sync::Mutex<()>,
    /// The CLI's version, probed once.
    version: tokio::sync::OnceCell<std::result::Result<String, String>>,
}

impl fmt::Debug for ClaudeConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaudeConnector")
            .field("claude_bin", &self.config.claude_bin)
            .field("config_dir", &self.config.config_dir)
            .field("sessions", &self.live.lock().len())
            .finish()
    }
}

/// The model aliases the CLI accepts for `--model` (it resolves them to the newest model of
/// each family).
const MODEL_ALIASES: &[(&str, &str)] = &[
    ("sonnet", "Sonnet (latest)"),
    ("opus", "Opus (latest)"),
    ("haiku", "Haiku (latest)"),
];

impl ClaudeConnector {
    /// A connector delivering events through `router`. Nothing is spawned until first use.
    pub fn new(config: ClaudeConfig, router: Router) -> Arc<Self> {
        Arc::new(ClaudeConnector {
            config,
            router,
            live: Mutex::new(HashMap::new()),
            spawning: tokio::sync::Mutex::new(()),
            version: tokio::sync::OnceCell::new(),
        })
    }

    /// Process ids of the live CLI processes, by Claude session id (diagnostics and tests).
    pub fn pids(&self) -> HashMap<String, u32> {
        self.live
            .lock()
            .iter()
            .filter(|(_, l)| !l.session.has_exited())
            .filter_map(|(id, l)| l.session.pid().map(|p| (id.clone(), p)))
            .collect()
    }

    fn running(&self, thread_id: &str) -> Option<Arc<Live>> {
        self.live
            .lock()
            .get(thread_id)
            .filter(|l| !l.session.has_exited())
            .cloned()
    }

    fn builder(&self, cfg: &ThreadConfig) -> SessionBuilder {
        let c = &self.config;
        let mut b = SessionBuilder::new(&c.claude_bin)
            .cwd(&cfg.cwd)
            .request_timeout(c.request_timeout);
        // A taken-over terminal session lives in the terminal's config dir.
        match (&cfg.agent_home, &c.config_dir) {
            (Some(home), _) => b = b.config_dir(home),
            (None, Some(dir)) => b = b.config_dir(dir),
            (None, None) => {}
        }
        if let Some(h) = &c.home {
            b = b.home(h);
        }
        for k in &c.env_remove {
            b = b.env_remove(OsString::from(k));
        }
        for (k, v) in &c.env {
            b = b.env(k, v);
        }
        if let Some(m) = cfg.model.as_deref().filter(|m| !m.is_empty()) {
            b = b.model(m);
        }
        if let Some(m) = &cfg.permission_mode {
            b = b.permission_mode(ClaudeMode::from(m.as_str()));
        }
        b
    }

    /// Spawns a process for `thread_id` (`resume`: continue it; else: a new session with that
    /// id) and starts its pump.
    async fn spawn(&self, thread_id: &str, resume: bool, cfg: &ThreadConfig) -> Result<Arc<Live>> {
        let _one = self.spawning.lock().await;
        if let Some(l) = self.running(thread_id) {
            return Ok(l);
        }
        let b = self.builder(cfg);
        let b = if resume {
            b.resume(thread_id)
        } else {
            b.session_id(thread_id)
        };
        let what = if resume { "claude --resume" } else { "claude" };
        let (session, rx) = b.spawn().await.map_err(|e| claude_err(what, e))?;
        tracing::info!(thread = %thread_id, pid = ?session.pid(), resume, "claude started");
        let live = Arc::new(Live {
            session,
            translator: Arc::new(Mutex::new(Translator::new(cfg.usage.clone()))),
            cwd: cfg.cwd.clone(),
            model: Mutex::new(cfg.model.clone().filter(|m| !m.is_empty())),
            mode: Mutex::new(cfg.permission_mode.clone()),
            released: AtomicBool::new(false),
        });
        self.live.lock().insert(thread_id.to_owned(), live.clone());
        tokio::spawn(pump(
            rx,
            self.router.clone(),
            thread_id.to_owned(),
            live.clone(),
        ));
        Ok(live)
    }

    fn opened(thread_id: String, cfg: &ThreadConfig) -> OpenedThread {
        OpenedThread {
            thread_id,
            model: cfg.model.clone(),
            effort: None,
            name: None,
        }
    }

    /// Brings the process's model and permission mode in line with `cfg`.
    async fn configure(&self, live: &Live, cfg: &ThreadConfig) -> Result<()> {
        let want_model = cfg.model.clone().filter(|m| !m.is_empty());
        if let Some(m) = &want_model
            && live.model.lock().as_ref() != Some(m)
        {
            live.session
                .set_model(Some(m))
                .await
                .map_err(|e| claude_err("set_model", e))?;
            *live.model.lock() = Some(m.clone());
        }
        if let Some(mode) = &cfg.permission_mode
            && live.mode.lock().as_ref() != Some(mode)
        {
            live.session
                .set_permission_mode(ClaudeMode::from(mode.as_str()))
                .await
                .map_err(|e| claude_err("set_permission_mode", e))?;
            *live.mode.lock() = Some(mode.clone());
        }
        Ok(())
    }

    fn live_or_err(&self, thread_id: &str) -> Result<Arc<Live>> {
        self.running(thread_id).ok_or_else(|| Error::Agent {
            operation: "claude".into(),
            message: format!("no Claude Code process runs session {thread_id}"),
            code: None,
            data: None,
        })
    }
}

#[async_trait]
impl Connector for ClaudeConnector {
    fn record_path(&self, thread_id: &str, agent_home: Option<&str>) -> Option<PathBuf> {
        // The session's own config dir, else the hub's, else the CLI's default (`~/.claude`).
        let dir = agent_home
            .map(PathBuf::from)
            .or_else(|| self.config.config_dir.clone())
            .or_else(|| {
                let home = self
                    .config
                    .home
                    .clone()
                    .or_else(|| std::env::var_os("HOME").map(PathBuf::from))?;
                Some(home.join(".claude"))
            })?;
        crate::full_output::find_claude_transcript(&dir, thread_id)
    }

    fn key(&self) -> super::ConnectorKey {
        CLAUDE
    }

    fn generation(&self) -> u64 {
        // Processes are per session: one dying detaches only its own session (see `pump`).
        1
    }

    async fn start_thread(&self, cfg: &ThreadConfig) -> Result<OpenedThread> {
        let id = uuid::Uuid::new_v4().to_string();
        self.spawn(&id, false, cfg).await?;
        Ok(Self::opened(id, cfg))
    }

    async fn resume_thread(&self, thread_id: &str, cfg: &ThreadConfig) -> Result<OpenedThread> {
        self.spawn(thread_id, true, cfg).await?;
        Ok(Self::opened(thread_id.to_owned(), cfg))
    }

    async fn fork_thread(
        &self,
        _thread_id: &str,
        _through_turn: Option<&str>,
        _cfg: &ThreadConfig,
    ) -> Result<OpenedThread> {
        // The core forks when another process holds a thread (the CLI has no such lock) or a
        // person asks for a fork (offered for Codex sessions only).
        Err(Error::Conflict(
            "forking is not supported for Claude sessions".into(),
        ))
    }

    async fn start_turn(&self, thread_id: &str, text: &str, cfg: &ThreadConfig) -> Result<String> {
        let live = self.live_or_err(thread_id)?;
        self.configure(&live, cfg).await?;
        let turn_id = format!("turn-{}", uuid::Uuid::new_v4());
        live.translator.lock().begin_turn(turn_id.clone());
        // Delivered before the message is written, so everything the turn produces follows it.
        self.router
            .route(ConnectorEvent::Thread {
                connector: CLAUDE,
                thread_id: thread_id.to_owned(),
                events: vec![
                    SessionEvent::TurnStarted {
                        turn_id: turn_id.clone(),
                    },
                    // The CLI does not echo the person's message; the transcript needs it.
                    SessionEvent::Item {
                        turn_id: Some(turn_id.clone()),
                        item_id: format!("user-{}", uuid::Uuid::new_v4()),
                        status: orbitdock_protocol::ItemStatus::Completed,
                        body: orbitdock_protocol::ItemBody::UserMessage {
                            text: text.to_owned(),
                        },
                    },
                ],
            })
            .await;
        live.session
            .send_user_text(text)
            .await
            .map_err(|e| claude_err("send message", e))?;
        Ok(turn_id)
    }

    async fn steer_turn(&self, _thread_id: &str, _turn_id: &str, _text: &str) -> Result<String> {
        Err(Error::Conflict(
            "Claude Code takes the next message once its turn has ended".into(),
        ))
    }

    async fn interrupt_turn(&self, thread_id: &str, _turn_id: &str) -> Result<()> {
        let live = self.live_or_err(thread_id)?;
        live.session
            .interrupt()
            .await
            .map(|_| ())
            .map_err(|e| claude_err("interrupt", e))
    }

    async fn compact_thread(&self, _thread_id: &str) -> Result<()> {
        Err(Error::BadRequest(
            "compacting is not supported for Claude sessions yet".into(),
        ))
    }

    async fn set_thread_archived(&self, thread_id: &str, archived: bool) -> Result<()> {
        // Claude keeps no archive flag; an archived session needs no process.
        if archived {
            self.release_thread(thread_id).await?;
        }
        Ok(())
    }

    async fn set_thread_name(&self, thread_id: &str, name: &str) -> Result<()> {
        let live = self.live_or_err(thread_id)?;
        live.session
            .control_raw(
                "rename_session",
                json!({"title": name, "source": "host"}),
                self.config.request_timeout,
            )
            .await
            .map(|_| ())
            .map_err(|e| claude_err("rename_session", e))
    }

    async fn list_models(&self) -> Result<Vec<ModelInfo>> {
        Ok(MODEL_ALIASES
            .iter()
            .map(|(id, name)| ModelInfo {
                id: (*id).to_owned(),
                display_name: (*name).to_owned(),
                description: String::new(),
                efforts: Vec::new(),
                default_effort: None,
                is_default: *id == "sonnet",
            })
            .collect())
    }

    async fn release_thread(&self, thread_id: &str) -> Result<bool> {
        let live = self.live.lock().remove(thread_id);
        if let Some(l) = live {
            l.released.store(true, Ordering::SeqCst);
            l.session
                .shutdown()
                .await
                .map_err(|e| claude_err("shutdown", e))?;
        }
        Ok(true)
    }

    async fn agent_info(&self) -> Option<AgentInfo> {
        let version = self
            .version
            .get_or_init(|| async {
                claude_code::binary::probe_version(&self.config.claude_bin)
                    .await
                    .map(|v| v.0.to_string())
                    .map_err(|e| e.to_string())
            })
            .await
            .clone();
        // The environment the CLI would get: ours, minus what the config removes, plus what it
        // adds (the config dir last, as the builder sets it).
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| !self.config.env_remove.contains(k))
            .collect();
        env.extend(self.config.env.iter().cloned());
        if let Some(h) = &self.config.home {
            env.push(("HOME".into(), h.to_string_lossy().into_owned()));
        }
        if let Some(d) = &self.config.config_dir {
            env.push(("CLAUDE_CONFIG_DIR".into(), d.to_string_lossy().into_owned()));
        }
        let account = AccountState::detect(env);
        Some(match version {
            Ok(v) => AgentInfo {
                provider: Provider::Claude,
                available: true,
                version: Some(v),
                credentials: Some(account.is_ready()),
                detail: account.summary(),
            },
            Err(e) => AgentInfo {
                provider: Provider::Claude,
                available: false,
                version: None,
                credentials: Some(account.is_ready()),
                detail: format!("Claude Code cannot run: {e}"),
            },
        })
    }

    async fn shutdown(&self) {
        let all: Vec<Arc<Live>> = self.live.lock().drain().map(|(_, l)| l).collect();
        futures::future::join_all(all.iter().map(|l| async move {
            l.released.store(true, Ordering::SeqCst);
            if let Err(e) = l.session.shutdown().await {
                tracing::debug!(error = %e, "claude shutdown");
            }
        }))
        .await;
    }
}

/// Forwards one process's events, translated, until it exits.
async fn pump(
    mut rx: mpsc::Receiver<ClaudeEvent>,
    router: Router,
    thread_id: String,
    live: Arc<Live>,
) {
    let thread = |events: Vec<SessionEvent>| ConnectorEvent::Thread {
        connector: CLAUDE,
        thread_id: thread_id.clone(),
        events,
    };
    while let Some(ev) = rx.recv().await {
        let out = match ev {
            ClaudeEvent::Message(m) => {
                let events = live.translator.lock().message(m);
                if events.is_empty() {
                    continue;
                }
                thread(events)
            }
            ClaudeEvent::PermissionRequest(p) => {
                let turn = live.translator.lock().turn_id.clone();
                ConnectorEvent::Approval {
                    connector: CLAUDE,
                    thread_id: Some(thread_id.clone()),
                    request: Box::new(translate::permission(p, turn, &live.cwd)),
                }
            }
            ClaudeEvent::RequestCancelled { request_id } => {
                thread(vec![SessionEvent::ApprovalWithdrawn { request_id }])
            }
            ClaudeEvent::ControlRequest(r) => {
                let subtype = r.request.tag().unwrap_or("unknown").to_owned();
                tracing::warn!(%subtype, "unsupported Claude control request; refusing");
                if let Err(e) = r
                    .responder()
                    .respond_error(&format!("OrbitDock does not support {subtype}"))
                    .await
                {
                    tracing::debug!(error = %e, "could not refuse control request");
                }
                thread(vec![SessionEvent::Notice(format!(
                    "Claude Code sent a request OrbitDock does not support ({subtype}); it was refused."
                ))])
            }
            ClaudeEvent::Malformed { line, error } => {
                tracing::warn!(%error, raw = %line, "undecodable claude line");
                continue;
            }
            ClaudeEvent::Exited {
                status,
                stderr_tail,
            } => {
                let released = live.released.load(Ordering::SeqCst);
                let mut events = Vec::new();
                if let Some(turn_id) = live.translator.lock().turn_id.take() {
                    events.push(SessionEvent::TurnEnded {
                        turn_id,
                        status: if released {
                            TurnStatus::Interrupted
                        } else {
                            TurnStatus::Failed
                        },
                        error: Some("Claude Code exited during this turn".into()),
                    });
                }
                if !released {
                    let tail = super::stderr_tail_lines(&stderr_tail, 5);
                    tracing::warn!(thread = %thread_id, ?status, stderr = %tail, "claude exited");
                    events.push(SessionEvent::Notice(format!(
                        "Claude Code exited (status {status:?}). Your next message resumes the session."
                    )));
                }
                events.push(SessionEvent::Detached);
                thread(events)
            }
            other => {
                tracing::debug!(?other, "unhandled claude event");
                continue;
            }
        };
        router.route(out).await;
    }
}
