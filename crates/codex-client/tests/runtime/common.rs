//! Helpers for driving an [`AppServer`] client in these tests.

use std::time::Duration;

use anyhow::{Result, bail};
use codex_client::app_server::requests::{
    ThreadStart, ThreadStartParams, TurnStart, TurnStartParams,
};
use codex_client::app_server::{
    AppServer, AppServerEvent, AppServerListener, AskForApproval, Listen, ListenerBuilder,
    SandboxMode, ServerNotification, ThreadItem, TurnStatus,
};
use test_support::TempCodexHome;
use tokio::sync::mpsc::Receiver;

/// Upper bound for any single wait on Codex (first start of the binary can be slow on CI).
pub const WAIT: Duration = Duration::from_secs(60);

/// One client and its event stream, with a log of what it saw for failure messages.
pub struct Client {
    pub server: AppServer,
    pub events: Receiver<AppServerEvent>,
    pub log: Vec<String>,
}

pub fn describe(ev: &AppServerEvent) -> String {
    match ev {
        AppServerEvent::Notification(ServerNotification::Unknown { method, .. }) => {
            format!("unknown {method}")
        }
        AppServerEvent::Notification(n) => format!("notification {}", n.method()),
        AppServerEvent::Request(r) => format!("request {} id={}", r.method, r.id),
        other => format!("{other:?}"),
    }
}

/// What one turn produced, as seen by one client.
#[derive(Debug)]
pub struct TurnSeen {
    pub turn_id: String,
    pub status: TurnStatus,
    pub agent_text: String,
}

impl Client {
    pub fn new((server, events): (AppServer, Receiver<AppServerEvent>)) -> Self {
        Client {
            server,
            events,
            log: Vec::new(),
        }
    }

    /// Wait (bounded) for the first event `pick` accepts; every event is logged.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&AppServerEvent) -> Option<T>,
    ) -> Result<T> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => bail!(
                    "event stream ended while waiting for {what}; saw:\n{}",
                    self.log.join("\n")
                ),
                Err(_) => bail!(
                    "timed out waiting for {what}; saw:\n{}",
                    self.log.join("\n")
                ),
            };
            self.log.push(describe(&ev));
            if let Some(t) = pick(&ev) {
                return Ok(t);
            }
            if matches!(
                ev,
                AppServerEvent::Exited { .. } | AppServerEvent::Closed { .. }
            ) {
                bail!(
                    "client closed while waiting for {what}; saw:\n{}",
                    self.log.join("\n")
                );
            }
        }
    }

    /// Wait for `turn/completed` of `thread_id`, collecting the agent's message text on the way.
    pub async fn wait_turn(&mut self, thread_id: &str) -> Result<TurnSeen> {
        let mut text = String::new();
        let thread = thread_id.to_owned();
        let (turn_id, status) = self
            .wait_for("turn/completed", |ev| match ev {
                AppServerEvent::Notification(ServerNotification::ItemCompleted(i))
                    if i.thread_id == thread =>
                {
                    if let ThreadItem::AgentMessage { text: t, .. } = &i.item {
                        text.push_str(t);
                    }
                    None
                }
                AppServerEvent::Notification(ServerNotification::TurnCompleted(t))
                    if t.thread_id == thread =>
                {
                    Some((t.turn.id.clone(), t.turn.status.clone()))
                }
                _ => None,
            })
            .await?;
        Ok(TurnSeen {
            turn_id,
            status,
            agent_text: text,
        })
    }

    /// `thread/start` in the home's work dir, approvals `never`, no sandbox (bubblewrap is not
    /// what these tests are about).
    pub async fn start_thread(&self, home: &TempCodexHome) -> Result<String> {
        Ok(self
            .server
            .call::<ThreadStart>(ThreadStartParams {
                cwd: Some(home.workdir().display().to_string()),
                approval_policy: Some(AskForApproval::Never),
                sandbox: Some(SandboxMode::DangerFullAccess),
                ..Default::default()
            })
            .await?
            .thread
            .id)
    }

    /// Start a turn and wait for it to complete.
    pub async fn run_turn(&mut self, thread_id: &str, text: &str) -> Result<TurnSeen> {
        self.server
            .call::<TurnStart>(TurnStartParams::text(thread_id, text))
            .await?;
        self.wait_turn(thread_id).await
    }
}

/// A Unix socket path for a listener of `home` (a long path is fine: Codex symlinks it).
pub fn socket_path(home: &TempCodexHome, name: &str) -> std::path::PathBuf {
    home.path().parent().unwrap_or(home.path()).join(name)
}

/// `codex app-server --listen unix://PATH` for `home`.
pub async fn unix_listener(
    home: &TempCodexHome,
    path: &std::path::Path,
) -> Result<AppServerListener> {
    Ok(listener(home, Listen::Unix(path.to_owned()))
        .spawn()
        .await?)
}

pub fn listener(home: &TempCodexHome, listen: Listen) -> ListenerBuilder {
    ListenerBuilder::new(test_support::codex_bin(), home.path(), listen)
        .envs(home.env())
        .current_dir(home.workdir())
        .ready_timeout(WAIT)
}
