//! The hub's live links to its Codex hosts: one [`AppServerConnector`] per configured host
//! (see [`crate::hosts`] for the registry file), kept connected by a keeper task, with each
//! link's state published to every WebSocket client (`host_changed` / `host_removed`).
//!
//! Who reconnects what: once a link has been open, codex-client's remote client reconnects by
//! itself (with backoff) and re-subscribes the threads it had loaded (`thread/resume`); the
//! connector turns its drop and return into "host unreachable" / "reachable" for the host's
//! sessions. The keeper only covers what that client cannot: the first connection (a host that is
//! down when the hub starts or when it is added), and a fresh connection after the client gave
//! up. A host that refused our token is not retried on its own (the same token cannot start
//! working); testing the host (`POST /api/hosts/{name}/test`) tries again.
//!
//! Hosts are added and removed at run time (REST or `orbitdock hosts`): the connector map is
//! shared with the registry's [`crate::registry::Connectors`], so a session finds its host's
//! connector from the moment it is added. Tokens stay in `DATA_DIR/hosts/` and inside the
//! endpoint; nothing here prints or serves them.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use codex_client::app_server::ReconnectPolicy;
use orbitdock_protocol::{
    AddHostRequest, HostInfo, HostKind, HostState, HostTestResponse, ModelInfo, ServerMessage,
};
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connector::codex::{AppServerConnector, LinkStatus, RemoteTarget};
use crate::connector::{Connector, OpenedThread, Router, ThreadConfig};
use crate::error::{Error, Result};
use crate::hosts::{HostEntry, HostUrl, Hosts, NewHost};
use crate::registry::Registry;

/// Host change messages buffered per WebSocket client.
const CHANGES_CAPACITY: usize = 256;
/// How often the registry file is checked for hosts added or removed by another process.
const FILE_CHECK: Duration = Duration::from_secs(2);

/// How the links behave (tests shorten the waits).
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Per-request timeout on a host's app-server.
    pub request_timeout: Duration,
    /// Bound on opening one link.
    pub connect_timeout: Duration,
    /// Reconnection after a drop (the client's), and the keeper's retry delays.
    pub reconnect: ReconnectPolicy,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            reconnect: ReconnectPolicy::default(),
        }
    }
}

struct Live {
    entry: HostEntry,
    connector: Arc<AppServerConnector>,
    kick: Arc<Notify>,
    keeper: JoinHandle<()>,
}

/// The links to every configured host.
pub struct HostLinks {
    hosts: Hosts,
    router: Router,
    settings: LinkSettings,
    registry: Weak<Registry>,
    live: Mutex<HashMap<String, Live>>,
    /// Serialised `host_changed` / `host_removed` frames.
    changes: broadcast::Sender<Utf8Bytes>,
    /// Held by add, remove and reload: the file watcher and a REST call editing at once must
    /// not open the same host twice or close one the other just opened.
    edits: tokio::sync::Mutex<()>,
    stop: CancellationToken,
}

impl std::fmt::Debug for HostLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostLinks")
            .field(
                "hosts",
                &self.live.lock().keys().cloned().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn kind_of(entry: &HostEntry) -> HostKind {
    match HostUrl::parse(&entry.url) {
        Ok(HostUrl::Ssh { .. }) => HostKind::Ssh,
        Ok(HostUrl::WebSocket { .. }) => HostKind::Ws,
        Ok(HostUrl::Unix(_)) => HostKind::Unix,
        Err(_) => HostKind::Unknown,
    }
}

fn frame(msg: &ServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(msg).unwrap_or_else(|_| "{}".into()))
}

impl HostLinks {
    /// Links for the hosts registered under `hosts`, delivering their sessions' events through
    /// `router` into `registry`. Call [`HostLinks::start`] to connect them.
    pub fn new(
        hosts: Hosts,
        registry: &Arc<Registry>,
        router: Router,
        settings: LinkSettings,
    ) -> Arc<Self> {
        Arc::new(HostLinks {
            hosts,
            router,
            settings,
            registry: Arc::downgrade(registry),
            live: Mutex::new(HashMap::new()),
            changes: broadcast::channel(CHANGES_CAPACITY).0,
            edits: tokio::sync::Mutex::new(()),
            stop: CancellationToken::new(),
        })
    }

    /// Connects every registered host (in the background: a host that is down does not hold up
    /// the hub).
    pub fn start(self: &Arc<Self>) -> Result<()> {
        tokio::spawn(watch_file(Arc::downgrade(self), self.stop.child_token()));
        for entry in self.hosts.list()? {
            if let Err(e) = self.open(entry.clone()) {
                // One bad entry (its token file gone) must not keep the others away.
                tracing::warn!(host = %entry.name, error = %e, "cannot open host");
            }
        }
        Ok(())
    }

    /// The registry file.
    pub fn registry_file(&self) -> &Hosts {
        &self.hosts
    }

    /// Frames of host changes, for a WebSocket client.
    pub fn subscribe(&self) -> broadcast::Receiver<Utf8Bytes> {
        self.changes.subscribe()
    }

    fn open(self: &Arc<Self>, entry: HostEntry) -> Result<()> {
        let endpoint = self.hosts.endpoint(&entry)?;
        let connector = AppServerConnector::for_host(
            RemoteTarget {
                name: entry.name.clone(),
                endpoint,
                allow_insecure_ws: entry.allow_insecure_ws,
                reconnect: self.settings.reconnect.clone(),
                connect_timeout: self.settings.connect_timeout,
            },
            self.settings.request_timeout,
            self.router.clone(),
        );
        if let Some(reg) = self.registry.upgrade() {
            reg.connectors()
                .set_host(&entry.name, connector.clone() as Arc<dyn Connector>);
        }
        let kick = Arc::new(Notify::new());
        let keeper = tokio::spawn(keep(
            Arc::downgrade(self),
            entry.name.clone(),
            connector.clone(),
            kick.clone(),
            self.stop.child_token(),
        ));
        let old = self.live.lock().insert(
            entry.name.clone(),
            Live {
                entry,
                connector,
                kick,
                keeper,
            },
        );
        if let Some(old) = old {
            old.keeper.abort();
            tokio::spawn(async move { old.connector.shutdown().await });
        }
        Ok(())
    }

    fn info(&self, entry: &HostEntry, link: &LinkStatus) -> HostInfo {
        HostInfo {
            name: entry.name.clone(),
            url: entry.url.clone(),
            kind: kind_of(entry),
            state: link.state,
            codex_version: link.codex_version.clone(),
            last_error: link.last_error.clone(),
            sessions: self
                .registry
                .upgrade()
                .map_or(0, |r| r.host_session_count(&entry.name)),
        }
    }

    /// Every host with its state, in the order they were added.
    pub fn list(&self) -> Result<Vec<HostInfo>> {
        let entries = self.hosts.list()?;
        let live = self.live.lock();
        Ok(entries
            .iter()
            .map(|e| {
                let link = live
                    .get(&e.name)
                    .map(|l| l.connector.link_status().borrow().clone())
                    .unwrap_or_else(|| LinkStatus {
                        state: HostState::Unreachable,
                        last_error: Some("the hub has no link to this host".into()),
                        ..Default::default()
                    });
                self.info(e, &link)
            })
            .collect())
    }

    /// One host with its state.
    pub fn get(&self, name: &str) -> Result<HostInfo> {
        self.list()?
            .into_iter()
            .find(|h| h.name == name)
            .ok_or_else(|| Error::BadRequest(format!("no host named {name:?}")))
    }

    /// Registers a host (its token written 0600 to a file of the data dir) and connects to it;
    /// answers once the first attempt settled, so the caller sees whether it worked.
    pub async fn add(self: &Arc<Self>, req: AddHostRequest) -> Result<HostInfo> {
        if req.name == orbitdock_protocol::LOCAL_HOST {
            return Err(Error::BadRequest(format!(
                "{:?} names the hub's own machine; choose another name",
                req.name
            )));
        }
        let token = req
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let edit = self.edits.lock().await;
        let entry = self.hosts.add_with_token(
            &NewHost {
                name: req.name.trim().to_owned(),
                url: req.url.trim().to_owned(),
                token_file: None,
                allow_insecure_ws: req.allow_insecure_ws,
                remote_codex: req.remote_codex.filter(|c| !c.trim().is_empty()),
                ssh_options: req.ssh_options,
            },
            token,
        )?;
        self.open(entry.clone())?;
        // The first attempt can take up to the connect timeout: other edits need not wait.
        drop(edit);
        self.settle(&entry.name).await;
        let info = self.get(&entry.name)?;
        let _ = self
            .changes
            .send(frame(&ServerMessage::HostChanged { host: info.clone() }));
        Ok(info)
    }

    /// Forgets a host: closes its link, deletes its token. Its sessions stay (listed, with
    /// their transcripts) and show the host unreachable.
    pub async fn remove(&self, name: &str) -> Result<HostInfo> {
        let _edit = self.edits.lock().await;
        let info = self.get(name)?;
        self.hosts.remove(name)?;
        self.close(name).await;
        Ok(info)
    }

    /// Closes the link of a host that is no longer registered; its sessions show the host
    /// unreachable, and browsers are told it is gone.
    async fn close(&self, name: &str) {
        let live = self.live.lock().remove(name);
        if let Some(reg) = self.registry.upgrade() {
            reg.connectors().remove_host(name);
        }
        if let Some(live) = live {
            live.keeper.abort();
            live.connector.shutdown().await;
            self.router
                .route(crate::connector::ConnectorEvent::HostUnreachable {
                    connector: live.connector.key(),
                    detail: "the host was removed from this hub".into(),
                })
                .await;
        }
        let _ = self.changes.send(frame(&ServerMessage::HostRemoved {
            name: name.to_owned(),
        }));
    }

    /// Picks up hosts added or removed by another process (`orbitdock hosts add` while the hub
    /// runs): opens new entries, reopens changed ones, closes gone ones.
    pub async fn reload(self: &Arc<Self>) -> Result<()> {
        let _edit = self.edits.lock().await;
        let entries = self.hosts.list()?;
        let (gone, changed): (Vec<String>, Vec<HostEntry>) = {
            let live = self.live.lock();
            let gone = live
                .keys()
                .filter(|n| !entries.iter().any(|e| &e.name == *n))
                .cloned()
                .collect();
            let changed = entries
                .iter()
                .filter(|e| live.get(&e.name).is_none_or(|l| l.entry != **e))
                .cloned()
                .collect();
            (gone, changed)
        };
        for name in gone {
            self.close(&name).await;
        }
        for entry in changed {
            let name = entry.name.clone();
            // One bad entry (its token file gone) must not keep the others away.
            if let Err(e) = self.open(entry) {
                tracing::warn!(host = %name, error = %e, "cannot open host");
            }
        }
        Ok(())
    }

    /// A fresh connection to the host, separate from the hub's link (which is also nudged to
    /// try again now, e.g. after the host's token was fixed on its side).
    pub async fn test(&self, name: &str) -> Result<HostTestResponse> {
        let entry = self.hosts.get(name)?;
        if let Some(l) = self.live.lock().get(name) {
            l.kick.notify_one();
        }
        Ok(
            match self
                .hosts
                .probe(&entry, self.settings.connect_timeout)
                .await
            {
                Ok(p) => HostTestResponse {
                    ok: true,
                    codex_version: p.codex_version,
                    codex_home: Some(p.codex_home),
                    error: None,
                },
                Err(e) => HostTestResponse {
                    ok: false,
                    error: Some(crate::session::lifecycle::failure_sentence(&e)),
                    ..Default::default()
                },
            },
        )
    }

    /// Waits (bounded) until a host's first connection attempt settled.
    async fn settle(&self, name: &str) {
        let Some(mut rx) = self
            .live
            .lock()
            .get(name)
            .map(|l| l.connector.link_status())
        else {
            return;
        };
        let bound = self.settings.connect_timeout + Duration::from_secs(1);
        let _ = tokio::time::timeout(
            bound,
            rx.wait_for(|l| l.state == HostState::Connected || l.last_error.is_some()),
        )
        .await;
    }

    /// Stops every keeper and closes every link.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let all: Vec<Live> = self.live.lock().drain().map(|(_, l)| l).collect();
        for l in all {
            l.keeper.abort();
            l.connector.shutdown().await;
        }
    }

    fn publish(&self, name: &str, link: &LinkStatus) {
        let entry = match self.live.lock().get(name) {
            Some(l) => l.entry.clone(),
            None => return,
        };
        let host = self.info(&entry, link);
        // Nobody listening is fine.
        let _ = self
            .changes
            .send(frame(&ServerMessage::HostChanged { host }));
    }
}

/// Follows `hosts.json`: `orbitdock hosts add|remove` (another process) edits it while the hub
/// runs, and the hub should connect to a new host without a restart. Polled, because it is one
/// small file and a missed change costs at most [`FILE_CHECK`].
async fn watch_file(links: Weak<HostLinks>, stop: CancellationToken) {
    let modified = |l: &HostLinks| {
        std::fs::metadata(l.hosts.file())
            .and_then(|m| m.modified())
            .ok()
    };
    let mut seen = links.upgrade().and_then(|l| modified(&l));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(FILE_CHECK) => {}
        }
        let Some(l) = links.upgrade() else { return };
        let now = modified(&l);
        if now != seen {
            seen = now;
            if let Err(e) = l.reload().await {
                tracing::warn!(error = %e, "cannot re-read the hosts registry");
            }
        }
    }
}

/// Keeps one host connected: publishes each change of its link, connects when no client is
/// (re)connecting, retries failures with backoff, and waits for a nudge after a refused token.
async fn keep(
    links: Weak<HostLinks>,
    name: String,
    connector: Arc<AppServerConnector>,
    kick: Arc<Notify>,
    stop: CancellationToken,
) {
    let mut status = connector.link_status();
    let policy = links
        .upgrade()
        .map(|l| l.settings.reconnect.clone())
        .unwrap_or_default();
    let mut backoff = policy.initial_backoff;
    let mut last_published: Option<LinkStatus> = None;
    let mut nudged = false;
    loop {
        let now = status.borrow_and_update().clone();
        if last_published.as_ref() != Some(&now) {
            match links.upgrade() {
                Some(l) => l.publish(&name, &now),
                None => return,
            }
            last_published = Some(now.clone());
        }
        if now.closed && (!now.refused || nudged) {
            nudged = false;
            let connected = tokio::select! {
                _ = stop.cancelled() => return,
                r = connector.connect() => r.is_ok(),
            };
            if connected {
                backoff = policy.initial_backoff;
            } else {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                    _ = kick.notified() => nudged = true,
                }
                backoff = (backoff * 2).min(policy.max_backoff);
            }
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = kick.notified() => nudged = true,
        }
    }
}

/// The connector of a host that is no longer configured: every call says so. Its sessions stay
/// listed (their transcripts are the hub's) and work again if a host of that name is added.
#[derive(Debug)]
pub struct MissingHost {
    name: String,
}

impl MissingHost {
    /// The stand-in for host `name`.
    pub fn connector(name: &str) -> Arc<dyn Connector> {
        Arc::new(MissingHost {
            name: name.to_owned(),
        })
    }

    fn refuse(&self) -> Error {
        Error::Conflict(format!(
            "the host {:?} is not configured on this hub (add it again with `orbitdock hosts add` or POST /api/hosts)",
            self.name
        ))
    }
}

#[async_trait]
impl Connector for MissingHost {
    fn key(&self) -> crate::connector::ConnectorKey {
        crate::connector::ConnectorKey::host(&self.name)
    }
    fn generation(&self) -> u64 {
        0
    }
    async fn start_thread(&self, _cfg: &ThreadConfig) -> Result<OpenedThread> {
        Err(self.refuse())
    }
    async fn resume_thread(&self, _thread_id: &str, _cfg: &ThreadConfig) -> Result<OpenedThread> {
        Err(self.refuse())
    }
    async fn fork_thread(
        &self,
        _thread_id: &str,
        _through_turn: Option<&str>,
        _cfg: &ThreadConfig,
    ) -> Result<OpenedThread> {
        Err(self.refuse())
    }
    async fn start_turn(&self, _t: &str, _text: &str, _cfg: &ThreadConfig) -> Result<String> {
        Err(self.refuse())
    }
    async fn steer_turn(&self, _t: &str, _turn: &str, _text: &str) -> Result<String> {
        Err(self.refuse())
    }
    async fn interrupt_turn(&self, _t: &str, _turn: &str) -> Result<()> {
        Err(self.refuse())
    }
    async fn compact_thread(&self, _t: &str) -> Result<()> {
        Err(self.refuse())
    }
    async fn set_thread_archived(&self, _t: &str, _archived: bool) -> Result<()> {
        Err(self.refuse())
    }
    async fn set_thread_name(&self, _t: &str, _name: &str) -> Result<()> {
        Err(self.refuse())
    }
    async fn list_models(&self) -> Result<Vec<ModelInfo>> {
        Err(self.refuse())
    }
    async fn shutdown(&self) {}
}
