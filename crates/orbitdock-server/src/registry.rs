//! The session registry: every session the server knows, restored at start-up from one indexed
//! query, with actors spawned lazily (a server with 10k stored sessions starts in milliseconds and
//! only pays for the sessions someone looks at). The reverse holds too: an ended passive session
//! nobody watches gives its actor back (`Registry::release_if_idle`) once what it read is
//! queued for the writer, so importing a long history keeps no actor, hub or recent items per
//! session in memory; its next event or viewer loads it again from the database.
//!
//! It also owns the demultiplexer: the one task that reads the connectors' (already neutral)
//! events and routes them to session actors by `(connector, thread id)`. Routing never waits on
//! one session for long: a session whose mailbox stays full is reported and its event dropped
//! with a notice, so one stuck session cannot hold up the others.
//!
//! Sessions of any provider and origin live here. Direct Codex sessions are created by
//! [`Registry::create`]; other sources (rollout discovery, Claude hooks) create sessions with
//! [`Registry::create_session`] and feed them through [`SessionHandle::ingest`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use orbitdock_protocol::{
    ApprovalRecord, CreateSessionRequest, ForkRequest, ItemsPage, ListDelta, ModelInfo, Origin,
    Provider, RateLimits, ReviewDelivery, ReviewRequest, ReviewTarget, SessionState, SessionStatus,
    SessionSummary,
};
use parking_lot::Mutex;
use tokio::sync::{OnceCell, mpsc};
use tokio::task::JoinHandle;

use crate::connector::{CLAUDE, CODEX, Connector, ConnectorEvent, ConnectorKey, ThreadConfig};
use crate::error::{Error, Result};
use crate::hub::{ListHub, SessionHub};
use crate::session::actor::{self, ActorInit, Shared};
use crate::session::handle::Msg;
use crate::session::thread_routes::{self, ThreadRoutes};
use crate::session::{RECENT_ITEMS, SessionEvent, SessionHandle, now_ms, restore};
use crate::store::{Command, PersistOp, Publication, SessionExtra, Store};

/// The agents sessions run on, by key. A provider's sessions use the connector registered for
/// it; the first connector (Codex's) serves any provider without one of its own. A session with
/// a `host` runs on that host's Codex connector; hosts come and go at run time (see
/// [`crate::host_links`]), so they sit behind a lock shared by every clone of this set.
#[derive(Debug, Clone)]
pub struct Connectors {
    default: Arc<dyn Connector>,
    by_key: HashMap<ConnectorKey, Arc<dyn Connector>>,
    hosts: Arc<parking_lot::RwLock<HostConnectors>>,
}

/// Host name -> that host's Codex connector.
type HostConnectors = HashMap<Arc<str>, Arc<dyn Connector>>;

impl Connectors {
    /// A set holding `default` (the Codex connector in a real server).
    pub fn new(default: Arc<dyn Connector>) -> Self {
        let mut by_key = HashMap::new();
        by_key.insert(default.key(), default.clone());
        Connectors {
            default,
            by_key,
            hosts: Default::default(),
        }
    }

    /// Adds (or replaces) a connector under its key.
    pub fn with(mut self, connector: Arc<dyn Connector>) -> Self {
        self.by_key.insert(connector.key(), connector);
        self
    }

    /// The connector of a key.
    pub fn get(&self, key: &ConnectorKey) -> Option<Arc<dyn Connector>> {
        match key {
            ConnectorKey::Host(name) => self.hosts.read().get(name).cloned(),
            ConnectorKey::Builtin(_) => self.by_key.get(key).cloned(),
        }
    }

    /// Makes `connector` the one of host `name` (replacing an earlier one).
    pub fn set_host(&self, name: &str, connector: Arc<dyn Connector>) {
        self.hosts.write().insert(Arc::from(name), connector);
    }

    /// Forgets host `name`'s connector, returning it.
    pub fn remove_host(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.hosts.write().remove(name)
    }

    /// The default connector.
    pub fn default_connector(&self) -> &Arc<dyn Connector> {
        &self.default
    }

    /// The key of the connector a session's agent runs on (known even when that host is not
    /// configured any more).
    pub fn key_for(&self, s: &SessionSummary) -> ConnectorKey {
        match (&s.host, s.provider) {
            (Some(h), _) => ConnectorKey::host(h),
            (None, provider) => self.for_provider(provider).key(),
        }
    }

    /// The connector a session's agent runs on. A session whose host was removed gets one that
    /// refuses every call with the reason.
    pub fn for_summary(&self, s: &SessionSummary) -> Arc<dyn Connector> {
        match &s.host {
            Some(h) => self
                .hosts
                .read()
                .get(h.as_str())
                .cloned()
                .unwrap_or_else(|| crate::host_links::MissingHost::connector(h)),
            None => self.for_provider(s.provider).clone(),
        }
    }

    /// The connector sessions of `provider` run on (the default one when the provider has
    /// none of its own).
    pub fn for_provider(&self, provider: Provider) -> &Arc<dyn Connector> {
        let key = match provider {
            Provider::Claude => CLAUDE,
            _ => CODEX,
        };
        self.by_key.get(&key).unwrap_or(&self.default)
    }

    fn all(&self) -> Vec<Arc<dyn Connector>> {
        let mut all: Vec<_> = self.by_key.values().cloned().collect();
        all.extend(self.hosts.read().values().cloned());
        all
    }
}

/// Most items one page may hold.
pub const MAX_PAGE: usize = 1_000;

/// A session to create (any provider / origin).
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// Provider.
    pub provider: Provider,
    /// Origin.
    pub origin: Origin,
    /// Working directory.
    pub cwd: String,
    /// Agent thread id (Codex thread id / Claude session id), when known.
    pub thread_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Effort.
    pub effort: Option<String>,
    /// Approval policy.
    pub approval_policy: Option<orbitdock_protocol::ApprovalPolicy>,
    /// Sandbox mode.
    pub sandbox_mode: Option<orbitdock_protocol::SandboxMode>,
    /// Permission mode (Claude).
    pub permission_mode: Option<orbitdock_protocol::PermissionMode>,
    /// The agent's model provider (`None`: the agent's default).
    pub model_provider: Option<String>,
    /// Initial status.
    pub status: SessionStatus,
    /// Creation time (Unix ms); now when 0.
    pub created_at: i64,
    /// Last activity (Unix ms); now when 0 (discovery passes the source's own time).
    pub updated_at: i64,
    /// The session it was forked from.
    pub forked_from: Option<String>,
    /// The Codex host it runs on (`None`: this machine).
    pub host: Option<String>,
}

/// All sessions.
#[derive(Debug)]
pub struct Registry {
    shared: Arc<Shared>,
    list: Arc<ListHub>,
    sessions: Mutex<HashMap<String, Arc<OnceCell<SessionHandle>>>>,
    rate_limits: Mutex<Option<RateLimits>>,
    models: tokio::sync::Mutex<Option<Vec<ModelInfo>>>,
    commands: Arc<crate::around::RunningCommands>,
    /// Serialises "find or create the passive session of a thread" across its sources (rollout
    /// watcher, Codex hooks), so two of them seeing a new thread at once make one session.
    passive_lock: tokio::sync::Mutex<()>,
    codex_hooks: crate::discovery::codex_hooks::CodexHooks,
    /// How far the import of the history on disk is.
    import: crate::import_progress::ImportProgress,
    /// The task tailing the transcripts Claude hooks name, once started.
    claude_transcripts: std::sync::OnceLock<crate::discovery::claude_transcript::ClaudeTranscripts>,
    /// The local model provider, when the server runs one.
    local_model: std::sync::OnceLock<Arc<crate::local_model::LocalModel>>,
    /// The links to the configured Codex hosts, once started.
    host_links: std::sync::OnceLock<Arc<crate::host_links::HostLinks>>,
    /// Threads whose sessions were pruned (the history import skips them).
    pruned: crate::maintenance::PrunedThreads,
}

/// Who owns a thread a passive source reports on.
#[derive(Debug)]
pub enum PassiveOwner {
    /// A passive session of the source's provider (found or just created).
    Passive(SessionHandle),
    /// A direct session (the hub drives the thread) or another provider's session: the source
    /// must not touch it.
    Other,
}

impl Registry {
    /// Opens the store at `db`, restores every session (see [`restore`]) and starts the
    /// persistence writer.
    pub async fn open(db: &Path, connectors: Connectors) -> Result<Arc<Registry>> {
        let store = Store::open(db)?;
        let s2 = store.clone();
        let recovered = tokio::task::spawn_blocking(move || restore::recover(&s2))
            .await
            .map_err(|e| Error::Closed(format!("load task: {e}")))??;
        let mut summaries = Vec::with_capacity(recovered.sessions.len());
        let mut threads = HashMap::new();
        for s in recovered.sessions {
            if let Some(t) = &s.summary.thread_id {
                let key = connectors.key_for(&s.summary);
                threads.insert((key, t.clone()), s.summary.id.clone());
            }
            summaries.push(s.summary);
        }
        // List revisions restart from the start-up time in microseconds: monotonic across
        // restarts and never equal to a revision a client kept from an earlier run.
        let start_revision = chrono::Utc::now().timestamp_micros().max(0) as u64;
        let s2 = store.clone();
        let pruned = tokio::task::spawn_blocking(move || s2.pruned_threads())
            .await
            .map_err(|e| Error::Closed(format!("load task: {e}")))??;
        let list = ListHub::new(summaries, start_revision);
        store.start_writer(list.clone());
        if !recovered.fixups.is_empty() {
            store
                .submit_and_wait(Command {
                    ops: recovered.fixups,
                    ..Default::default()
                })
                .await?;
        }
        Ok(Arc::new(Registry {
            shared: Arc::new(Shared {
                store,
                connectors,
                threads: ThreadRoutes::new(threads),
                notices: tokio::sync::broadcast::channel(crate::notify::NOTICE_CAPACITY).0,
            }),
            list,
            sessions: Mutex::new(HashMap::new()),
            rate_limits: Mutex::new(None),
            models: tokio::sync::Mutex::new(None),
            commands: Default::default(),
            passive_lock: tokio::sync::Mutex::new(()),
            codex_hooks: Default::default(),
            import: Default::default(),
            claude_transcripts: std::sync::OnceLock::new(),
            local_model: std::sync::OnceLock::new(),
            host_links: std::sync::OnceLock::new(),
            pruned: crate::maintenance::PrunedThreads::new(pruned),
        }))
    }

    /// One-off commands running now.
    pub(crate) fn commands(&self) -> &crate::around::RunningCommands {
        &self.commands
    }

    pub(crate) fn commands_arc(&self) -> Arc<crate::around::RunningCommands> {
        self.commands.clone()
    }

    /// Drops a session's actor and thread routing (its record is deleted by the caller).
    pub(crate) fn remove_handle(&self, id: &str, thread_id: Option<&str>, s: &SessionSummary) {
        self.sessions.lock().remove(id);
        if let Some(t) = thread_id {
            let key = self.shared.connectors.key_for(s);
            self.shared.threads.unbind(key, t);
        }
    }

    /// Makes `local` the server's local model provider (once; later calls are ignored).
    pub fn set_local_model(&self, local: Arc<crate::local_model::LocalModel>) {
        let _ = self.local_model.set(local);
    }

    /// Installs the host links (once; later calls are ignored).
    pub fn set_host_links(&self, links: Arc<crate::host_links::HostLinks>) {
        let _ = self.host_links.set(links);
    }

    /// The links to the configured Codex hosts, when the server runs them.
    pub fn host_links(&self) -> Option<&Arc<crate::host_links::HostLinks>> {
        self.host_links.get()
    }

    /// The local model provider, when the server runs one.
    pub fn local_model(&self) -> Option<&Arc<crate::local_model::LocalModel>> {
        self.local_model.get()
    }

    /// The store (for read-only queries by other modules).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The default (Codex) connector.
    pub fn connector(&self) -> Arc<dyn Connector> {
        self.shared.connectors.default_connector().clone()
    }

    /// Every connector.
    pub fn connectors(&self) -> &Connectors {
        &self.shared.connectors
    }

    /// The task tailing Claude transcripts, when the server runs one (hook payloads without
    /// it render their own items).
    pub fn claude_transcripts(
        &self,
    ) -> Option<&crate::discovery::claude_transcript::ClaudeTranscripts> {
        self.claude_transcripts.get()
    }

    /// Installs the transcript task (once).
    pub fn set_claude_transcripts(
        &self,
        t: crate::discovery::claude_transcript::ClaudeTranscripts,
    ) {
        let _ = self.claude_transcripts.set(t);
    }

    /// How far the import of the history on disk is.
    pub fn import_progress(&self) -> &crate::import_progress::ImportProgress {
        &self.import
    }

    /// State of the Codex hook routes.
    pub fn codex_hooks(&self) -> &crate::discovery::codex_hooks::CodexHooks {
        &self.codex_hooks
    }

    /// The passive session observing `new.thread_id` for `new.provider`, created from `new` when
    /// no session knows the thread yet. Sources of passive sessions call this instead of
    /// [`Registry::create_session`] so that they never create two sessions for one thread.
    pub async fn passive_for_thread(&self, new: NewSession) -> Result<PassiveOwner> {
        let Some(thread_id) = new.thread_id.clone() else {
            return Err(Error::BadRequest(
                "a passive session needs a thread id".into(),
            ));
        };
        let _one_at_a_time = self.passive_lock.lock().await;
        let provider = new.provider;
        let key = self.shared.connectors.for_provider(provider).key();
        match self.session_for(&key, &thread_id) {
            Some(id) => match self.list.get(&id) {
                Some(s) if s.origin == Origin::Passive && s.provider == provider => {
                    Ok(PassiveOwner::Passive(self.get(&id).await?))
                }
                _ => Ok(PassiveOwner::Other),
            },
            None => Ok(PassiveOwner::Passive(self.create_session(new).await?)),
        }
    }

    /// Subscribes to the sessions' notices (see [`crate::notify`]).
    pub fn notices(&self) -> tokio::sync::broadcast::Receiver<crate::notify::SessionNotice> {
        self.shared.notices.subscribe()
    }

    /// The list hub.
    pub fn list_hub(&self) -> &Arc<ListHub> {
        &self.list
    }

    /// The list at its revision, most recently updated first.
    pub fn list(&self) -> (u64, Vec<SessionSummary>) {
        self.list.snapshot()
    }

    /// The session driving or observing this Codex thread, if any.
    pub fn session_for_thread(&self, thread_id: &str) -> Option<String> {
        self.session_for(&CODEX, thread_id)
    }

    /// The session driving or observing this thread of a `provider` (its sessions are keyed by
    /// the connector they run on), if any.
    pub fn session_for_provider(&self, provider: Provider, thread_id: &str) -> Option<String> {
        self.session_for(
            &self.shared.connectors.for_provider(provider).key(),
            thread_id,
        )
    }

    /// The session driving or observing this thread of a connector, if any.
    pub fn session_for(&self, connector: &ConnectorKey, thread_id: &str) -> Option<String> {
        self.shared.threads.session(connector.clone(), thread_id)
    }

    /// Starts the task routing agent events to session actors.
    pub fn spawn_demux(self: &Arc<Self>, mut rx: mpsc::Receiver<ConnectorEvent>) -> JoinHandle<()> {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let Some(reg) = this.upgrade() else { break };
                reg.route(ev).await;
            }
        })
    }

    fn spawned(&self) -> Vec<SessionHandle> {
        self.sessions
            .lock()
            .values()
            .filter_map(|c| c.get().cloned())
            .collect()
    }

    /// Routes one agent event (public so benchmarks can inject at the connector seam).
    pub async fn route(&self, ev: ConnectorEvent) {
        match ev {
            ConnectorEvent::Thread {
                connector,
                thread_id,
                events,
            } => {
                // Events of a thread no session has bound yet are held for the session about
                // to bind it (see `ThreadRoutes`).
                let Some((sid, events)) = self
                    .shared
                    .threads
                    .route_or_hold(connector, &thread_id, events)
                else {
                    return;
                };
                self.deliver(
                    &sid,
                    Msg::Events {
                        events,
                        ack: None,
                        committed: false,
                        ops: Vec::new(),
                    },
                )
                .await;
            }
            ConnectorEvent::Approval {
                connector,
                thread_id,
                request,
            } => {
                let sid = thread_id
                    .as_deref()
                    .and_then(|t| self.session_for(&connector, t));
                match sid {
                    Some(sid) => self.deliver(&sid, Msg::Approval(request)).await,
                    None => {
                        tracing::warn!(%connector, thread = ?thread_id, request = %request.request_id,
                            "request for an unknown thread; refusing");
                        let _ = request
                            .reply
                            .refuse("OrbitDock has no session for this thread")
                            .await;
                    }
                }
            }
            ConnectorEvent::RateLimits {
                connector,
                rate_limits,
            } => {
                *self.rate_limits.lock() = Some(rate_limits.clone());
                for h in self.spawned() {
                    if self.key_of(h.id()).as_ref() != Some(&connector) {
                        continue;
                    }
                    let msg = Msg::Events {
                        events: vec![SessionEvent::RateLimits(rate_limits.clone())],
                        ack: None,
                        committed: false,
                        ops: Vec::new(),
                    };
                    if let Err(e) = h.deliver(msg).await {
                        tracing::warn!(session = %h.id(), error = %e, "could not deliver rate limits");
                    }
                }
            }
            ConnectorEvent::Exited { connector, detail } => {
                for h in self.spawned() {
                    if self.key_of(h.id()).as_ref() != Some(&connector) {
                        continue;
                    }
                    if let Err(e) = h.deliver(Msg::AgentGone(detail.clone())).await {
                        tracing::warn!(session = %h.id(), error = %e, "could not report the agent's exit");
                    }
                }
            }
            ConnectorEvent::HostUnreachable { connector, detail } => {
                self.host_reachability(&connector, Msg::HostUnreachable(detail))
                    .await;
            }
            ConnectorEvent::HostReachable {
                connector,
                not_resumed,
            } => {
                self.host_reachability(&connector, Msg::HostReachable(not_resumed))
                    .await;
            }
        }
    }

    /// Tells every live session of a host that it went away or came back. Every session of the
    /// host that is not ended is told, loaded or not: one marked unreachable before a restart
    /// must come back too.
    async fn host_reachability(&self, connector: &ConnectorKey, msg: Msg) {
        let Some(host) = connector.host_name() else {
            return;
        };
        let live = self.list.matching(|s| {
            s.host.as_deref() == Some(host)
                && !matches!(s.status, SessionStatus::Ended | SessionStatus::Failed)
        });
        for s in live {
            let msg = match &msg {
                Msg::HostUnreachable(d) => Msg::HostUnreachable(d.clone()),
                Msg::HostReachable(n) => Msg::HostReachable(n.clone()),
                _ => return,
            };
            self.deliver(&s.id, msg).await;
        }
    }

    /// Sessions of a host that are not ended.
    pub fn host_session_count(&self, host: &str) -> u64 {
        self.list
            .matching(|s| {
                s.host.as_deref() == Some(host)
                    && !matches!(s.status, SessionStatus::Ended | SessionStatus::Failed)
            })
            .len() as u64
    }

    fn key_of(&self, session_id: &str) -> Option<ConnectorKey> {
        self.list
            .get(session_id)
            .map(|s| self.shared.connectors.key_for(&s))
    }

    /// Delivers to a session's actor, loading it on first use. A session that cannot take the
    /// message within its mailbox wait loses it, loudly: one stuck session must not stall the
    /// routing of every other.
    async fn deliver(&self, sid: &str, msg: Msg) {
        let handle = match self.get(sid).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(session = %sid, error = %e, "could not load session");
                return;
            }
        };
        if let Err(e) = handle.deliver(msg).await {
            tracing::error!(session = %sid, error = %e, "agent event dropped");
        }
    }

    /// The actor of a session, spawning it (and loading its recent items) on first use.
    pub async fn get(&self, id: &str) -> Result<SessionHandle> {
        loop {
            let cell = self.cell(id)?;
            if let Some(h) = cell.get() {
                if !h.is_closed() {
                    return Ok(h.clone());
                }
                // Released (see `release_if_idle`) while we looked: load it again once the old
                // actor has queued its last changes.
                self.forget_cell(id, &cell);
                h.stopped().await;
                continue;
            }
            return self.spawn_cell(id, cell).await;
        }
    }

    fn forget_cell(&self, id: &str, cell: &Arc<OnceCell<SessionHandle>>) {
        let mut m = self.sessions.lock();
        if m.get(id).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            m.remove(id);
        }
    }

    /// Stops the actor of a session nobody is watching and that has nothing in flight (see
    /// `Cmd::Release`), so a long history read into the database does not keep an actor, a
    /// hub and recent items in memory per session. Answers whether it was stopped.
    pub(crate) async fn release_if_idle(&self, id: &str) -> Result<bool> {
        let cell = match self.sessions.lock().get(id) {
            Some(c) => c.clone(),
            None => return Ok(false),
        };
        let Some(h) = cell.get().cloned() else {
            return Ok(false);
        };
        if h.hub().subscriber_count() > 0 || !h.release().await? {
            return Ok(false);
        }
        h.stopped().await;
        self.forget_cell(id, &cell);
        Ok(true)
    }

    /// The actor of a session when one is in memory (never loads one).
    pub(crate) fn loaded(&self, id: &str) -> Option<SessionHandle> {
        let cell = self.sessions.lock().get(id).cloned()?;
        cell.get().cloned()
    }

    /// Threads whose sessions were pruned.
    pub fn pruned(&self) -> &crate::maintenance::PrunedThreads {
        &self.pruned
    }

    /// How many sessions have a live actor.
    pub fn live_actors(&self) -> usize {
        self.sessions.lock().len()
    }

    fn cell(&self, id: &str) -> Result<Arc<OnceCell<SessionHandle>>> {
        Ok({
            let mut m = self.sessions.lock();
            match m.get(id) {
                Some(c) => c.clone(),
                None => {
                    if self.list.get(id).is_none() {
                        return Err(Error::SessionNotFound(id.to_owned()));
                    }
                    m.entry(id.to_owned()).or_default().clone()
                }
            }
        })
    }

    async fn spawn_cell(
        &self,
        id: &str,
        cell: Arc<OnceCell<SessionHandle>>,
    ) -> Result<SessionHandle> {
        cell.get_or_try_init(|| async {
            // A released actor's last changes may still be queued: read after them.
            self.shared.store.flush().await?;
            let store = self.shared.store.clone();
            let sid = id.to_owned();
            let (stored, recent) = tokio::task::spawn_blocking(move || {
                let s = store.load_session(&sid)?;
                let recent = store.items_before(&sid, u64::MAX >> 1, RECENT_ITEMS)?;
                Ok::<_, Error>((s, recent.items))
            })
            .await
            .map_err(|e| Error::Closed(format!("load task: {e}")))??;
            let stored = stored.ok_or_else(|| Error::SessionNotFound(id.to_owned()))?;
            // The list holds the start-up fixups (restored status), the row may predate them.
            let mut summary = self.list.get(id).unwrap_or(stored.summary);
            // Streamed text may have been published past the last recorded revision before the
            // previous process died: continue well above it (clients resync by snapshot).
            summary.revision += actor::REVISION_GAP;
            let mut extra = stored.extra;
            extra.current_turn = None;
            let hub = SessionHub::new(summary.revision);
            Ok::<_, Error>(actor::spawn(
                self.shared.clone(),
                ActorInit {
                    summary,
                    extra,
                    recent,
                },
                hub,
            ))
        })
        .await
        .cloned()
    }

    /// Creates a session record (any provider/origin) and its actor. Returns once persisted
    /// and published in the list.
    pub async fn create_session(&self, new: NewSession) -> Result<SessionHandle> {
        let now = now_ms();
        let summary = SessionSummary {
            id: uuid::Uuid::new_v4().to_string(),
            provider: new.provider,
            origin: new.origin,
            name: new.name,
            first_prompt: None,
            cwd: new.cwd,
            model: new.model,
            effort: new.effort,
            approval_policy: new.approval_policy,
            sandbox_mode: new.sandbox_mode,
            permission_mode: new.permission_mode,
            cost_usd: None,
            status: new.status,
            thread_id: new.thread_id.clone(),
            pending_approval_count: 0,
            token_usage: Default::default(),
            archived: false,
            model_provider: new.model_provider,
            failure: None,
            forked_from: new.forked_from,
            tool_count: 0,
            last_tool: None,
            git_branch: None,
            host: new.host,
            created_at: if new.created_at > 0 {
                new.created_at
            } else {
                now
            },
            updated_at: if new.updated_at > 0 {
                new.updated_at
            } else {
                now
            },
            revision: 0,
        };
        let extra = SessionExtra::default();
        self.shared
            .store
            .submit_and_wait(Command {
                ops: vec![PersistOp::UpsertSession {
                    summary: Box::new(summary.clone()),
                    extra: Box::new(extra.clone()),
                }],
                publish: vec![Publication::List(Box::new(ListDelta::Upsert {
                    summary: summary.clone(),
                }))],
                ..Default::default()
            })
            .await?;
        let hub = SessionHub::new(0);
        let handle = actor::spawn(
            self.shared.clone(),
            ActorInit {
                summary: summary.clone(),
                extra,
                recent: Vec::new(),
            },
            hub,
        );
        self.sessions.lock().insert(
            summary.id.clone(),
            Arc::new(OnceCell::new_with(Some(handle.clone()))),
        );
        // Bound once the actor can take the thread's held events.
        if let Some(t) = &new.thread_id {
            let key = self.shared.connectors.key_for(&summary);
            self.shared.threads.bind(key, t, &summary.id, |held| {
                thread_routes::hand_over(&handle.tx, &summary.id, held)
            });
        }
        Ok(handle)
    }

    /// Creates a direct session of the requested provider (Codex when none is named): starts
    /// its thread and sends the prompt, if any.
    pub async fn create(&self, req: CreateSessionRequest) -> Result<SessionState> {
        let provider = req.provider.unwrap_or(Provider::Codex);
        match provider {
            Provider::Codex => {}
            Provider::Claude => {
                if self.shared.connectors.get(&CLAUDE).is_none() {
                    return Err(Error::BadRequest(
                        "Claude Code is not available on this server (its CLI was not found; run scripts/setup.sh or set CLAUDE_BIN)".into(),
                    ));
                }
            }
            Provider::Unknown => {
                return Err(Error::BadRequest(
                    "unknown provider; use \"codex\" or \"claude\"".into(),
                ));
            }
        }
        let host = req
            .host
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty() && h != orbitdock_protocol::LOCAL_HOST);
        if let Some(h) = &host {
            if provider != Provider::Codex {
                return Err(Error::BadRequest(
                    "only Codex sessions run on hosts; Claude runs on this machine".into(),
                ));
            }
            if self
                .shared
                .connectors
                .get(&crate::connector::ConnectorKey::host(h))
                .is_none()
            {
                return Err(Error::BadRequest(format!(
                    "no host named {h:?} (see GET /api/hosts)"
                )));
            }
        }
        let cwd = req.cwd.trim().to_owned();
        if cwd.is_empty() {
            return Err(Error::BadRequest("cwd is required".into()));
        }
        let path = Path::new(&cwd);
        // A host's directory is on the host: the agent there says whether it exists.
        if !path.is_absolute() || (host.is_none() && !path.is_dir()) {
            return Err(Error::BadRequest(format!(
                "cwd {cwd} is not an existing absolute directory"
            )));
        }
        let model_provider = req
            .model_provider
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        let mut model = req.model.filter(|m| !m.is_empty());
        if let Some(local) = self.local_model.get()
            && model_provider.as_deref() == Some(local.provider_id())
        {
            // The local daemon serves one model: name it, so the agent does not send (and size
            // its context for) its own default model.
            if model.is_none() {
                model = local.model_name();
            }
        }
        let handle = self
            .create_session(NewSession {
                provider,
                origin: Origin::Direct,
                model_provider,
                cwd,
                name: req.name.filter(|n| !n.trim().is_empty()),
                model,
                effort: req.effort.filter(|m| !m.is_empty()),
                approval_policy: req.approval_policy.filter(|m| !m.as_str().is_empty()),
                sandbox_mode: req.sandbox_mode.filter(|m| !m.as_str().is_empty()),
                permission_mode: req.permission_mode.filter(|m| !m.as_str().is_empty()),
                status: SessionStatus::Waiting,
                host,
                ..Default::default()
            })
            .await?;
        handle.start(req.prompt).await
    }

    /// Forks a Codex session: the agent copies its thread (through `through_turn_id`, when
    /// given) into a new one, which a new direct session adopts with the copied history. Later
    /// messages go to the fork only; the parent is untouched.
    pub async fn fork(&self, parent_id: &str, req: ForkRequest) -> Result<SessionState> {
        let parent = self.get(parent_id).await?.state().await?.summary;
        if parent.provider != Provider::Codex {
            return Err(Error::Conflict(
                "only Codex sessions can be forked by the agent".into(),
            ));
        }
        let Some(thread) = parent.thread_id.clone() else {
            return Err(Error::Conflict(
                "the session has no thread yet: nothing to fork".into(),
            ));
        };
        let through = req.through_turn_id.filter(|t| !t.trim().is_empty());
        let cfg = ThreadConfig {
            cwd: parent.cwd.clone(),
            model: req.model.filter(|m| !m.is_empty()).or(parent.model.clone()),
            effort: parent.effort.clone(),
            approval_policy: req
                .approval_policy
                .filter(|p| !p.as_str().is_empty())
                .or(parent.approval_policy.clone()),
            sandbox_mode: req
                .sandbox_mode
                .filter(|m| !m.as_str().is_empty())
                .or(parent.sandbox_mode.clone()),
            model_provider: parent.model_provider.clone(),
            collaboration_mode: None,
            ..Default::default()
        };
        let connector = self.shared.connectors.for_summary(&parent);
        let opened = actor::bounded(
            "thread/fork",
            connector.fork_thread(&thread, through.as_deref(), &cfg),
        )
        .await?;
        let generation = connector.generation();
        let history = actor::bounded(
            "thread/turns/list",
            connector.thread_history(&opened.thread_id),
        )
        .await?;
        let parent_name = parent
            .name
            .clone()
            .or(parent.first_prompt.clone())
            .unwrap_or_else(|| "session".into());
        let name = req
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| {
                format!(
                    "Fork of {}",
                    parent_name.chars().take(60).collect::<String>()
                )
            });
        let handle = self
            .create_session(NewSession {
                provider: Provider::Codex,
                origin: Origin::Direct,
                cwd: parent.cwd,
                thread_id: Some(opened.thread_id),
                name: Some(name),
                model: opened.model.or(cfg.model),
                effort: opened.effort.or(cfg.effort),
                approval_policy: cfg.approval_policy,
                sandbox_mode: cfg.sandbox_mode,
                status: SessionStatus::Waiting,
                model_provider: cfg.model_provider,
                forked_from: Some(parent.id),
                host: parent.host.clone(),
                ..Default::default()
            })
            .await?;
        handle.adopt(generation, history).await
    }

    /// Starts a review: inline in the session itself, or detached in a fork of it (so the
    /// session's own thread never sees the review). Answers the state of the session the review
    /// runs in and whether that session is new.
    pub async fn review(&self, id: &str, req: ReviewRequest) -> Result<(SessionState, bool)> {
        if req.target == ReviewTarget::Unknown {
            return Err(Error::BadRequest("unknown review target".into()));
        }
        match req.delivery.unwrap_or(ReviewDelivery::Inline) {
            ReviewDelivery::Inline => Ok((self.get(id).await?.review(req.target).await?, false)),
            ReviewDelivery::Detached => {
                let fork = self
                    .fork(
                        id,
                        ForkRequest {
                            name: Some(format!("Review: {}", review_label(&req.target))),
                            ..Default::default()
                        },
                    )
                    .await?;
                let child = self.get(&fork.summary.id).await?;
                Ok((child.review(req.target).await?, true))
            }
            ReviewDelivery::Unknown(d) => {
                Err(Error::BadRequest(format!("unknown review delivery {d:?}")))
            }
        }
    }

    /// A page of a session's transcript.
    pub async fn items(
        &self,
        id: &str,
        after: Option<u64>,
        before: Option<u64>,
        limit: Option<usize>,
    ) -> Result<ItemsPage> {
        if self.list.get(id).is_none() {
            return Err(Error::SessionNotFound(id.to_owned()));
        }
        let limit = limit.unwrap_or(200).clamp(1, MAX_PAGE);
        // Make sure what the actor has produced so far is in the database.
        self.shared.store.flush().await?;
        let store = self.shared.store.clone();
        let sid = id.to_owned();
        let page = tokio::task::spawn_blocking(move || match before {
            Some(b) => store.items_before(&sid, b, limit),
            None => store.items_after(&sid, after.unwrap_or(0), limit),
        })
        .await
        .map_err(|e| Error::Closed(format!("read task: {e}")))??;
        let last_seq = match self.get(id).await {
            Ok(h) => h.state().await.map(|s| s.last_seq).unwrap_or(0),
            Err(_) => 0,
        };
        Ok(ItemsPage {
            items: page.items,
            has_more: page.has_more,
            last_seq,
        })
    }

    /// Approval history of a session.
    pub async fn approval_history(&self, id: &str) -> Result<Vec<ApprovalRecord>> {
        if self.list.get(id).is_none() {
            return Err(Error::SessionNotFound(id.to_owned()));
        }
        self.shared.store.flush().await?;
        let sid = id.to_owned();
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || store.approval_history(&sid))
            .await
            .map_err(|e| Error::Closed(format!("read task: {e}")))?
    }

    /// Models the agent offers (cached after the first success).
    pub async fn models(&self) -> Result<Vec<ModelInfo>> {
        let mut cache = self.models.lock().await;
        if let Some(m) = cache.as_ref() {
            return Ok(m.clone());
        }
        let m =
            crate::session::actor::bounded("model/list", self.connector().list_models()).await?;
        *cache = Some(m.clone());
        Ok(m)
    }

    /// Latest account rate limits.
    pub fn rate_limits(&self) -> Option<RateLimits> {
        self.rate_limits.lock().clone()
    }

    /// Stops every session actor: each closes its running turn as interrupted (streamed text
    /// persisted) and records its pending approvals as gone, then exits.
    pub async fn stop_sessions(&self) {
        let handles = self.spawned();
        futures::future::join_all(handles.iter().map(|h| h.shutdown())).await;
        self.sessions.lock().clear();
    }

    /// Stops the sessions (if not done yet), flushes the store, stops the agents and the writer.
    pub async fn shutdown(&self) {
        self.stop_sessions().await;
        if let Err(e) = self.shared.store.flush().await {
            tracing::warn!(error = %e, "flush on shutdown");
        }
        if let Some(links) = self.host_links.get() {
            links.shutdown().await;
        }
        for c in self.shared.connectors.all() {
            c.shutdown().await;
        }
        self.shared.store.stop_writer().await;
    }
}

/// A short human label of a review target (names detached review sessions).
fn review_label(t: &ReviewTarget) -> String {
    match t {
        ReviewTarget::UncommittedChanges => "uncommitted changes".into(),
        ReviewTarget::BaseBranch { branch } => format!("changes against {branch}"),
        ReviewTarget::Commit { sha, title } => match title {
            Some(t) => format!("commit {} ({t})", sha.chars().take(10).collect::<String>()),
            None => format!("commit {}", sha.chars().take(10).collect::<String>()),
        },
        ReviewTarget::Custom { instructions } => instructions.chars().take(60).collect(),
        ReviewTarget::Unknown => "review".into(),
    }
}
