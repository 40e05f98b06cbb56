//! The shared runtime's lifecycle: `codex app-server --listen unix://SOCKET`, supervised by the
//! hub, which joins it as a client over the socket like the terminal's `codex --remote` does.
//!
//! - **It ends with the hub.** A stdio child ends when the hub dies (its stdin closes); a
//!   listener reads nothing from the hub, so it is spawned with a parent-death signal (Linux,
//!   `codex_client::parent_death`) and recorded in a pid file; before each start, a listener a
//!   previous hub left on the socket is ended ([`runtime_pidfile`]).
//! - **Its crash is seen at once.** The hub's link to it is a socket: the listener's death
//!   closes it, the event pump reports the close here, and every session on the runtime gets
//!   the runtime's exit (status, last stderr lines) in its transcript, with its turn failed and
//!   its approvals closed, exactly as after a stdio child's exit. The link does not reconnect
//!   by itself ([`ReconnectPolicy::never`]): a restart is a new generation, which is what makes
//!   sessions resume their threads (`thread/resume`) before their next turn.
//! - **It comes back without being asked.** Unlike the private child (restarted on next use),
//!   a terminal may be attached to the socket, so the hub restarts the listener on its own,
//!   with a backoff that doubles while the runtime keeps dying young (a broken config must not
//!   spin) and resets once a runtime has stayed up.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use codex_client::app_server::{
    AppServer, AppServerEvent, Listen, ListenerBuilder, ReconnectPolicy, RemoteBuilder,
};
use tokio::sync::{mpsc, oneshot};

use super::{AppServerConnector, runtime_pidfile};
use crate::connector::{Connector, ConnectorEvent};
use crate::error::{Error, Result};

/// First restart delay after a crash, and its ceiling while crashes repeat.
const FIRST_RESTART_DELAY: Duration = Duration::from_millis(250);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);
/// A runtime that stayed up this long is healthy: its crash restarts after the first delay.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// How long the exit status of a listener whose link closed is waited for (it is usually
/// there within milliseconds: the link closes because the process died).
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(1);

/// Crash bookkeeping for the restart backoff.
#[derive(Debug)]
pub(super) struct Supervision {
    started: Option<Instant>,
    next_delay: Duration,
}

impl Default for Supervision {
    fn default() -> Self {
        Supervision {
            started: None,
            next_delay: FIRST_RESTART_DELAY,
        }
    }
}

impl Supervision {
    /// The delay before restarting after a crash now, doubling the next one unless the runtime
    /// that crashed had been up for [`STABLE_AFTER`].
    fn after_crash(&mut self) -> Duration {
        if self.started.is_some_and(|t| t.elapsed() >= STABLE_AFTER) {
            self.next_delay = FIRST_RESTART_DELAY;
        }
        let delay = self.next_delay;
        self.next_delay = (delay * 2).min(MAX_RESTART_DELAY);
        delay
    }

    /// A failed restart attempt: back off further.
    fn after_failed_start(&mut self) -> Duration {
        let delay = self.next_delay;
        self.next_delay = (delay * 2).min(MAX_RESTART_DELAY);
        delay
    }
}

/// Creates the shared runtime's socket directory readable by the owner only, and tightens an
/// existing one: whoever can enter it can drive every thread of the `CODEX_HOME`.
fn private_socket_dir(dir: &Path) -> Result<()> {
    crate::ensure_private_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

impl AppServerConnector {
    /// Starts the shared runtime's listener (replacing ours if its link dropped, ending one a
    /// previous hub left behind) and joins it.
    pub(super) async fn spawn_shared(
        &self,
        socket: &Path,
    ) -> Result<(AppServer, mpsc::Receiver<AppServerEvent>, Option<u32>)> {
        let mut slot = self.listener.lock().await;
        if let Some(mut old) = slot.take() {
            let _ = old.stop().await;
        }
        if let Some(dir) = socket.parent() {
            private_socket_dir(dir)?;
        }
        runtime_pidfile::end_stale(socket).await?;
        let mut listener = ListenerBuilder::new(
            &self.config.codex_bin,
            &self.config.codex_home,
            Listen::Unix(socket.to_owned()),
        )
        .envs(self.child_env())
        .end_with_parent(true)
        .spawn()
        .await?;
        if let Some(pid) = listener.pid()
            && let Err(e) = runtime_pidfile::write(socket, pid)
        {
            // Still usable; only the clean-up after a crash of this hub on a system without a
            // parent-death signal is lost.
            tracing::warn!(error = %e, "could not record the shared runtime's pid");
        }
        let joined = RemoteBuilder::new(listener.endpoint())
            .client_info("orbitdock", env!("CARGO_PKG_VERSION"))
            .request_timeout(self.config.request_timeout)
            .experimental_api(true)
            .event_capacity(4096)
            .reconnect(ReconnectPolicy::never())
            .connect()
            .await;
        match joined {
            Ok((server, rx)) => {
                let pid = listener.pid();
                *slot = Some(listener);
                self.supervision.lock().started = Some(Instant::now());
                Ok((server, rx, pid))
            }
            Err(e) => {
                let _ = listener.kill().await;
                runtime_pidfile::remove(socket);
                Err(e.into())
            }
        }
    }

    /// Ends, in the background, a listener a previous hub left on `socket`: it may be running a
    /// turn nobody watches, and should not wait for this hub's first use of Codex to stop.
    /// Holding the listener slot orders it before any start of our own.
    pub(super) fn end_stale_soon(&self, socket: &Path) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let me = self.me.clone();
        let socket = socket.to_owned();
        runtime.spawn(async move {
            let Some(this) = me.upgrade() else { return };
            let _slot = this.listener.lock().await;
            if let Err(e) = runtime_pidfile::end_stale(&socket).await {
                tracing::warn!(error = %e, "shared codex runtime clean-up");
            }
        });
    }

    /// Stops the listener at shutdown, and forgets it.
    pub(super) async fn stop_shared(&self) {
        if let Some(mut l) = self.listener.lock().await.take()
            && let Err(e) = l.stop().await
        {
            tracing::debug!(error = %e, "app-server listener stop");
        }
        if let super::CodexRuntime::SharedSocket { socket } = &self.runtime {
            runtime_pidfile::remove(socket);
        }
    }

    /// What the sessions are told when the link to the listener closed: its exit status and
    /// last stderr lines when it died, else the link's reason.
    async fn runtime_exit_detail(&self, reason: &str) -> String {
        let mut slot = self.listener.lock().await;
        let Some(listener) = slot.as_mut() else {
            return reason.to_owned();
        };
        let pid = listener
            .pid()
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        match tokio::time::timeout(EXIT_STATUS_WAIT, listener.wait()).await {
            Ok(Ok(status)) => {
                let tail = super::super::stderr_tail_lines(listener.stderr_tail().trim(), 3);
                let tail = if tail.is_empty() {
                    String::new()
                } else {
                    format!("; {tail}")
                };
                format!("the shared Codex runtime{pid} ended: {status}{tail}")
            }
            _ => format!("the connection to the shared Codex runtime{pid} closed: {reason}"),
        }
    }

    /// [`AppServerConnector::server`] behind a named `Send` future: the watcher it spawns
    /// awaits it in turn, and the compiler cannot prove such a cycle `Send` by inference.
    fn restart(&self) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>> {
        Box::pin(async move { self.server().await.map(|_| ()) })
    }

    /// Waits for the close of generation `generation`'s link, reports it to the sessions, and
    /// restarts the runtime with backoff (unless the hub is stopping, or someone else already
    /// restarted it on demand).
    pub(super) async fn watch_shared(
        me: Weak<AppServerConnector>,
        generation: u64,
        closed: oneshot::Receiver<String>,
    ) {
        let Ok(reason) = closed.await else { return };
        let Some(this) = me.upgrade() else { return };
        let detail = this.runtime_exit_detail(&reason).await;
        tracing::warn!(generation, %detail, "shared codex runtime lost");
        // A session that already moved to a newer runtime must not be told this one died.
        if this.generation() == generation {
            this.router
                .route(ConnectorEvent::Exited {
                    connector: this.key.clone(),
                    detail,
                })
                .await;
        }
        if this.stopping.load(Ordering::SeqCst) {
            return;
        }
        let mut delay = this.supervision.lock().after_crash();
        drop(this);
        loop {
            tokio::time::sleep(delay).await;
            let Some(this) = me.upgrade() else { return };
            if this.stopping.load(Ordering::SeqCst) || this.generation() != generation {
                return;
            }
            match this.restart().await {
                Ok(_) => {
                    tracing::info!(
                        generation = this.generation(),
                        "shared codex runtime restarted"
                    );
                    return;
                }
                Err(e) => {
                    delay = this.supervision.lock().after_failed_start();
                    tracing::warn!(error = %e, retry_in = ?delay, "shared codex runtime did not restart");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_while_the_runtime_dies_young_and_reset_once_it_stayed_up() {
        let mut s = Supervision {
            started: Some(Instant::now()),
            ..Default::default()
        };
        let delays: Vec<Duration> = (0..10).map(|_| s.after_crash()).collect();
        assert_eq!(delays[0], FIRST_RESTART_DELAY);
        assert_eq!(delays[1], FIRST_RESTART_DELAY * 2);
        assert_eq!(delays[2], FIRST_RESTART_DELAY * 4);
        assert_eq!(delays[9], MAX_RESTART_DELAY);
        assert_eq!(s.after_failed_start(), MAX_RESTART_DELAY);
        s.started = Instant::now().checked_sub(STABLE_AFTER);
        assert_eq!(s.after_crash(), FIRST_RESTART_DELAY);
    }
}
