//! Codex rollout files -> passive Codex sessions in the registry.
//!
//! A [`codex_rollout::RolloutWatcher`] tails `CODEX_HOME/sessions` on its own thread; its sink
//! forwards every [`WatcherEvent`] into a bounded channel (the watcher thread blocks when the
//! server is behind, so nothing is dropped), and one task applies them to the [`Registry`] in
//! order:
//!
//! * `Created` -> a passive Codex session (thread id, cwd, model, display name or slug, status,
//!   usage). If the registry already knows the thread as a passive session (Codex hooks reported
//!   it first, or a restart whose checkpoint file was lost), that session is reused: one session
//!   per thread (the registry's passive-session lock makes "find or create" atomic across
//!   sources).
//! * `Changed` / `ItemAppended` / `Ended` -> the same [`SessionEvent`]s direct sessions use, so
//!   passive sessions publish the same protocol messages (first prompt comes from the first user
//!   item, exactly as for direct sessions).
//!
//! Threads the server drives itself are skipped by the watcher's predicate, which asks whether
//! the thread belongs to a *direct* session: passive sessions register their thread id too, so
//! "is the thread known" would detach the very sessions this module created. Updates are checked
//! again when applied (a direct session may have claimed the thread in between).
//!
//! Item ids are derived from the rollout line (timestamp, kind, content; a command's call id),
//! so a file read again from the start — replaced by `codex migrate-rollouts --apply`, or a lost
//! checkpoint — updates the items it produced before instead of adding copies.
//!
//! Checkpoints (byte offset + unfinished last line + session state per file) live in the
//! server's database and commit in the same transaction as the items of the poll that reached
//! them (see [`super::checkpoints`]): a crash, even `kill -9` mid-poll, neither loses nor
//! repeats a line, so it neither loses nor duplicates items. The events of a poll are therefore
//! gathered until its checkpoint arrives and handed to the session in one piece.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use codex_rollout::{
    FileCheckpoint, IndexConfig, PassiveConfig, RolloutWatcher, SessionPatch, SessionUpdate,
    SessionView, TranscriptEntry, TranscriptItem, UsageView, WatcherConfig, WatcherEvent,
};
use orbitdock_protocol::{ItemBody, ItemStatus, Origin, Provider, SessionStatus, TokenUsage};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::checkpoints::{self, Feed, SqliteOffsetStore};
use crate::error::{Error, Result};
use crate::registry::{NewSession, PassiveOwner, Registry};
use crate::session::{SessionEvent, SessionHandle};
use crate::store::{CheckpointSource, Command};

/// File name of the rollout checkpoints inside the data dir in earlier builds (imported into
/// the database on the first start, then removed).
pub const STATE_FILE: &str = "codex-rollout-state.json";

/// How to discover Codex sessions.
#[derive(Debug, Clone)]
pub struct CodexDiscoveryConfig {
    /// Normally `CODEX_HOME/sessions`.
    pub sessions_dir: PathBuf,
    /// Checkpoint file of earlier builds, imported once (normally
    /// `DATA_DIR/codex-rollout-state.json`).
    pub state_file: PathBuf,
    /// A passive session with no new line for this long is ended (default 120 s).
    pub idle_timeout: Duration,
    /// Debounce of file events (default 150 ms).
    pub debounce: Duration,
}

impl CodexDiscoveryConfig {
    /// Defaults for a `CODEX_HOME` and data dir.
    pub fn new(codex_home: &std::path::Path, data_dir: &std::path::Path) -> Self {
        Self {
            sessions_dir: codex_home.join("sessions"),
            state_file: data_dir.join(STATE_FILE),
            idle_timeout: PassiveConfig::default().inactivity_timeout,
            debounce: Duration::from_millis(150),
        }
    }
}

/// A running discovery: the watcher thread and the task applying its events.
#[derive(Debug)]
pub struct CodexDiscovery {
    watcher: Option<RolloutWatcher>,
    apply: Option<JoinHandle<()>>,
}

impl CodexDiscovery {
    /// Starts watching from the checkpoints in the database (importing an old checkpoint file
    /// first). Fails only if the checkpoints cannot be read or the watch cannot be created; the
    /// caller decides whether that is fatal.
    pub async fn start(registry: &Arc<Registry>, config: CodexDiscoveryConfig) -> Result<Self> {
        let store = registry.store().clone();
        checkpoints::import_json_checkpoints(&store, &config.state_file).await?;
        let initial: Vec<(PathBuf, FileCheckpoint)> =
            checkpoints::load(&store, CheckpointSource::CodexRollout).await?;
        let weak = Arc::downgrade(registry);
        let skip_reg = weak.clone();
        // Threads the server drives, and those whose sessions the user pruned.
        let skip: codex_rollout::SkipFn = Arc::new(move |thread_id: &str| {
            is_direct(&skip_reg, thread_id) || is_pruned(&skip_reg, thread_id)
        });
        let (tx, mut rx) = mpsc::channel::<Feed>(1024);
        let offsets = SqliteOffsetStore::new(initial, tx.clone());
        let sink: codex_rollout::EventSink = Box::new(move |ev| {
            // The watcher thread is not a runtime thread: blocking here is back-pressure.
            if tx.blocking_send(Feed::Event(ev)).is_err() {
                tracing::debug!("rollout event after the server stopped; dropped");
            }
        });
        let mut wc = WatcherConfig::new(&config.sessions_dir);
        wc.debounce = config.debounce;
        wc.index = IndexConfig {
            passive: PassiveConfig {
                inactivity_timeout: config.idle_timeout,
                ..PassiveConfig::default()
            },
            ..IndexConfig::default()
        };
        let watcher = RolloutWatcher::start(wc, Box::new(offsets), skip, sink)
            .map_err(|e| Error::Persist(format!("rollout watcher: {e}")))?;
        let apply = tokio::spawn(async move {
            let mut poll = Poll::default();
            while let Some(feed) = rx.recv().await {
                let Some(reg) = weak.upgrade() else { break };
                let res = match feed {
                    Feed::Event(ev) => poll.add(&reg, ev).await,
                    Feed::Checkpoint { path, checkpoint } => {
                        poll.commit(&reg, &path, checkpoint.as_deref()).await
                    }
                };
                if let Err(e) = res {
                    tracing::warn!(error = %e, "cannot apply a rollout event");
                }
            }
        });
        Ok(Self {
            watcher: Some(watcher),
            apply: Some(apply),
        })
    }

    /// Stops the watcher (flushing checkpoints) and waits for the pending events to be applied.
    pub async fn shutdown(mut self) {
        if let Some(w) = self.watcher.take() {
            let _ = tokio::task::spawn_blocking(move || w.stop()).await;
        }
        if let Some(mut a) = self.apply.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut a)
                .await
                .is_err()
        {
            a.abort();
        }
    }
}

impl Drop for CodexDiscovery {
    fn drop(&mut self) {
        if let Some(a) = self.apply.take() {
            a.abort();
        }
    }
}

/// Whether the server drives this thread itself (a direct session owns it).
fn is_direct(registry: &Weak<Registry>, thread_id: &str) -> bool {
    let Some(reg) = registry.upgrade() else {
        return false;
    };
    reg.session_for_thread(thread_id)
        .and_then(|id| reg.list_hub().get(&id))
        .is_some_and(|s| s.origin == Origin::Direct)
}

/// Whether the user pruned this thread's session (see [`crate::maintenance`]).
fn is_pruned(registry: &Weak<Registry>, thread_id: &str) -> bool {
    registry.upgrade().is_some_and(|reg| {
        let key = reg.connectors().for_provider(Provider::Codex).key();
        reg.pruned().contains(&key.to_string(), thread_id)
    })
}

/// The passive session observing `thread_id`, if any (never a direct one).
async fn passive_handle(registry: &Registry, thread_id: &str) -> Result<Option<SessionHandle>> {
    let Some(id) = registry.session_for_thread(thread_id) else {
        return Ok(None);
    };
    match registry.list_hub().get(&id) {
        Some(s) if s.origin == Origin::Passive && s.provider == Provider::Codex => {
            Ok(Some(registry.get(&id).await?))
        }
        _ => Ok(None),
    }
}

/// The events of one poll of one file, waiting for the poll's checkpoint: grouped by session
/// in arrival order.
#[derive(Default)]
struct Poll {
    groups: Vec<(SessionHandle, Vec<SessionEvent>)>,
}

impl Poll {
    /// Applies what needs no session (logs) and gathers session events.
    async fn add(&mut self, registry: &Registry, ev: WatcherEvent) -> Result<()> {
        match ev {
            WatcherEvent::Update { update } => {
                if let Some((handle, events)) = resolve_update(registry, update).await? {
                    match self.groups.last_mut() {
                        Some((h, evs)) if h.id() == handle.id() => evs.extend(events),
                        _ => self.groups.push((handle, events)),
                    }
                }
                Ok(())
            }
            WatcherEvent::Detached { thread_id } => {
                tracing::debug!(thread = %thread_id, "rollout thread now driven directly");
                Ok(())
            }
            WatcherEvent::FileReset { path, reason } => {
                tracing::info!(path = %path.display(), ?reason, "rollout file read again from the start");
                Ok(())
            }
            WatcherEvent::FileError { path, message } => {
                tracing::warn!(path = %path.display(), error = %message, "cannot read rollout file; retried later");
                Ok(())
            }
            WatcherEvent::SweepProgress { done, total } => {
                registry.import_progress().record(done, total);
                Ok(())
            }
        }
    }

    /// Hands the gathered events to their sessions, the checkpoint riding with the last group
    /// (or alone when the poll produced no session events), so it commits with them.
    async fn commit(
        &mut self,
        registry: &Registry,
        path: &std::path::Path,
        checkpoint: Option<&FileCheckpoint>,
    ) -> Result<()> {
        let op = checkpoints::checkpoint_op(CheckpointSource::CodexRollout, path, checkpoint)?;
        let mut groups = std::mem::take(&mut self.groups);
        let last = groups.pop();
        let mut touched = Vec::with_capacity(groups.len() + 1);
        for (h, events) in groups {
            let ended = ends(&events);
            h.ingest(events).await?;
            touched.push((h, ended));
        }
        match last {
            Some((h, events)) => {
                let ended = ends(&events);
                h.ingest_with_ops(events, vec![op]).await?;
                touched.push((h, ended));
            }
            None => {
                registry
                    .store()
                    .submit(Command {
                        ops: vec![op],
                        ..Command::default()
                    })
                    .await?;
            }
        }
        // A session that has ended (every old one of a history being imported: the sweep ends
        // them as it reads them) would otherwise keep an actor, its hub and its recent items
        // in memory; the next event or viewer loads it again from the database. A live session
        // keeps its actor while its source (the rollout, Codex's hooks) is still writing to it.
        for (h, ended) in touched {
            if ended {
                registry.release_if_idle(h.id()).await?;
            }
        }
        Ok(())
    }
}

/// Whether the last status among `events` is "ended".
fn ends(events: &[SessionEvent]) -> bool {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            SessionEvent::Status(s) => Some(*s == SessionStatus::Ended),
            _ => None,
        })
        .unwrap_or(false)
}

/// The passive session an update is for (created on its first sight) with the events it stands
/// for; `None` when a direct session drives the thread or the thread is unknown.
async fn resolve_update(
    registry: &Registry,
    update: SessionUpdate,
) -> Result<Option<(SessionHandle, Vec<SessionEvent>)>> {
    let thread_id = update.thread_id().to_owned();
    let handle = match &update {
        SessionUpdate::Created { view } => {
            let known = registry.session_for_thread(&thread_id).is_some();
            let owner = registry
                .passive_for_thread(NewSession {
                    provider: Provider::Codex,
                    origin: Origin::Passive,
                    cwd: view.cwd.clone().unwrap_or_default(),
                    thread_id: Some(thread_id.clone()),
                    name: Some(view.display_name().to_owned()),
                    model: view.model.clone(),
                    status: status_of(view.status),
                    created_at: view
                        .started_at
                        .as_deref()
                        .and_then(codex_rollout::passive_session::parse_ts_ms)
                        .unwrap_or(0),
                    updated_at: view
                        .last_activity_at
                        .as_deref()
                        .and_then(codex_rollout::passive_session::parse_ts_ms)
                        .unwrap_or(0),
                    ..NewSession::default()
                })
                .await?;
            match owner {
                PassiveOwner::Passive(h) => {
                    // Hooks may have made the session first; they know no display name.
                    let unnamed = registry
                        .list_hub()
                        .get(h.id())
                        .is_some_and(|s| s.name.is_none());
                    if known && unnamed {
                        h.ingest(vec![SessionEvent::Renamed(Some(
                            view.display_name().to_owned(),
                        ))])
                        .await?;
                    }
                    h
                }
                // A direct session drives it: never a duplicate.
                PassiveOwner::Other => return Ok(None),
            }
        }
        _ => match passive_handle(registry, &thread_id).await? {
            Some(h) => h,
            None => {
                tracing::debug!(thread = %thread_id, "rollout update for an unknown or direct thread; ignored");
                return Ok(None);
            }
        },
    };
    Ok(Some((handle, events_for(update))))
}

fn status_of(s: codex_rollout::SessionStatus) -> SessionStatus {
    match s {
        codex_rollout::SessionStatus::Working => SessionStatus::Working,
        codex_rollout::SessionStatus::Waiting => SessionStatus::Waiting,
        codex_rollout::SessionStatus::Ended => SessionStatus::Ended,
    }
}

fn usage_of(u: &UsageView) -> TokenUsage {
    TokenUsage {
        input_tokens: u.total.input_tokens,
        output_tokens: u.total.output_tokens,
        cached_input_tokens: u.total.cached_input_tokens,
        reasoning_output_tokens: u.total.reasoning_output_tokens,
        total_tokens: u.total.total_tokens,
        context_window: u.context_window,
        last_input_tokens: u.last.input_tokens,
    }
}

/// The rollout's own time of a line, as a session's last activity.
fn activity_at(ts: Option<&str>) -> Option<SessionEvent> {
    ts.and_then(codex_rollout::passive_session::parse_ts_ms)
        .map(SessionEvent::ActivityAt)
}

fn view_events(view: &SessionView) -> Vec<SessionEvent> {
    let mut v = vec![SessionEvent::Status(status_of(view.status))];
    if let Some(m) = &view.model {
        v.push(SessionEvent::Model(m.clone()));
    }
    if let Some(u) = &view.usage {
        v.push(SessionEvent::TokenUsage(usage_of(u)));
    }
    v.extend(activity_at(view.last_activity_at.as_deref()));
    v
}

fn patch_events(p: &SessionPatch) -> Vec<SessionEvent> {
    let mut v = Vec::new();
    if let Some(m) = &p.model {
        v.push(SessionEvent::Model(m.clone()));
    }
    if let Some(n) = &p.name {
        v.push(SessionEvent::Renamed(Some(n.clone())));
    }
    if let Some(u) = &p.usage {
        v.push(SessionEvent::TokenUsage(usage_of(u)));
    }
    if let Some(s) = p.status {
        v.push(SessionEvent::Status(status_of(s)));
    }
    v.extend(activity_at(p.last_activity_at.as_deref()));
    v
}

/// The session events an update stands for.
pub fn events_for(update: SessionUpdate) -> Vec<SessionEvent> {
    match update {
        SessionUpdate::Created { view } => view_events(&view),
        SessionUpdate::Changed { patch, .. } => patch_events(&patch),
        SessionUpdate::ItemAppended { entry, .. } => vec![item_event(entry)],
        SessionUpdate::Ended { .. } => vec![SessionEvent::Status(SessionStatus::Ended)],
    }
}

/// An item id that is the same every time the same rollout line is read: a file read again
/// from the start (Codex's `migrate-rollouts` replaces each file with a new inode; a lost
/// checkpoint) then updates the items it produced before instead of adding copies. Lines keep
/// their timestamp through a migration (only `ordinal` is added), so timestamp, kind and
/// content identify an item; FNV-1a because it is stable across builds, unlike std's hasher.
fn stable_item_id(timestamp: Option<&str>, item: &TranscriptItem) -> String {
    let Some(ts) = timestamp else {
        return format!("rollout-{}", uuid::Uuid::new_v4());
    };
    let content = serde_json::to_string(item).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ts.bytes().chain([0u8]).chain(content.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("rollout-{h:016x}")
}

fn item_event(entry: TranscriptEntry) -> SessionEvent {
    let id = stable_item_id(entry.timestamp.as_deref(), &entry.item);
    let TranscriptEntry { turn_id, item, .. } = entry;
    let fresh = || id.clone();
    let (item_id, status, body) = match item {
        TranscriptItem::User { text } => (
            fresh(),
            ItemStatus::Completed,
            ItemBody::UserMessage { text },
        ),
        TranscriptItem::Agent { text } => (
            fresh(),
            ItemStatus::Completed,
            ItemBody::AgentMessage { text },
        ),
        TranscriptItem::Reasoning { text } => (
            fresh(),
            ItemStatus::Completed,
            ItemBody::Reasoning {
                summary: text,
                text: String::new(),
            },
        ),
        TranscriptItem::Plan { text } => (fresh(), ItemStatus::Completed, ItemBody::Plan { text }),
        TranscriptItem::Command {
            call_id,
            command,
            status,
            exit_code,
            output,
        } => {
            let (output, output_omitted) =
                crate::retention::imported_output(output.unwrap_or_default());
            (
                call_id.unwrap_or_else(fresh),
                item_status(status.as_deref()),
                ItemBody::CommandExecution {
                    command,
                    cwd: None,
                    output,
                    exit_code: exit_code.and_then(|c| i32::try_from(c).ok()),
                    duration_ms: None,
                    output_omitted,
                },
            )
        }
        TranscriptItem::FileChange {
            call_id,
            changes,
            status,
        } => (
            call_id.unwrap_or_else(fresh),
            item_status(status.as_deref()),
            ItemBody::Other {
                original_type: "codex:file_change".into(),
                raw: json!({ "changes": changes, "status": status }),
            },
        ),
        TranscriptItem::ToolCall {
            call_id,
            name,
            arguments,
        } => (
            call_id.unwrap_or_else(fresh),
            ItemStatus::Completed,
            ItemBody::Other {
                original_type: format!("codex:tool:{name}"),
                raw: json!({ "name": name, "arguments": arguments }),
            },
        ),
        TranscriptItem::Compacted { summary } => (
            fresh(),
            ItemStatus::Completed,
            ItemBody::Notice {
                message: format!("Context compacted: {summary}"),
                via: None,
            },
        ),
        TranscriptItem::Error { message } => {
            (fresh(), ItemStatus::Failed, ItemBody::Error { message })
        }
    };
    SessionEvent::Item {
        turn_id,
        item_id,
        status,
        body,
    }
}

fn item_status(s: Option<&str>) -> ItemStatus {
    match s {
        Some("failed") => ItemStatus::Failed,
        Some("declined") => ItemStatus::Declined,
        Some("in_progress") => ItemStatus::InProgress,
        _ => ItemStatus::Completed,
    }
}
