//! SQLite persistence: ONE writer thread that batches, and reads on separate connections.
//!
//! Why this shape: SQLite allows one writer at a time; funnelling every write through one thread
//! makes ordering trivial (FIFO = the order actors produced changes) and lets us batch many small
//! writes into one transaction, which is what makes streaming agents cheap to persist. The writer
//! takes up to [`BATCH_MAX`] queued commands at once; it never waits for more than what is
//! already queued (so a lone change is committed immediately, well inside the 100 ms a UI can wait
//! before a change must be durable), and under load batches fill up by themselves.
//!
//! "Persist, then publish": a command carries the changes to publish; the writer publishes them
//! to the hubs only after the transaction holding them committed. Reads (transcript pages, the
//! start-up list) use their own connections in WAL mode and never block the writer.
//!
//! No SQL lives outside this module.

pub mod channels;
pub mod devices;
pub mod maintenance;
pub mod push;
pub mod schema;
pub mod search;
pub mod search_cjk;
pub mod targets;

use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use orbitdock_protocol::{
    ApprovalDecision, ApprovalRecord, ApprovalResolution, ListDelta, PendingApproval, Plan,
    RateLimits, SessionSummary, TranscriptItem, TurnInfo, TurnStatus,
};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::hub::{ListHub, Published, SessionHub};

/// Most commands committed in one transaction.
pub const BATCH_MAX: usize = 50;
/// Capacity of the writer's queue (commands); producers wait when it is full.
const QUEUE_CAPACITY: usize = 4_096;

/// Session state that is not in the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionExtra {
    /// Latest plan.
    pub plan: Option<Plan>,
    /// Latest aggregated diff.
    pub diff: Option<String>,
    /// Latest rate limits.
    pub rate_limits: Option<RateLimits>,
    /// The running turn (cleared when it ends; stale after a crash and fixed on load).
    pub current_turn: Option<TurnInfo>,
    /// Next item `seq` to assign minus one.
    pub last_seq: u64,
    /// Number of items.
    pub item_count: u64,
    /// Last approval version handed out.
    pub approval_version: u64,
    /// Where the agent keeps this session when it is not the connector's own place (the config
    /// dir of the terminal a passive Claude session runs in), for takeover.
    pub agent_home: Option<String>,
    /// Bytes of command output stored for this session (against its retention budget).
    pub output_bytes: u64,
}

/// One write.
#[derive(Debug, Clone)]
pub enum PersistOp {
    /// Insert or replace the session row.
    UpsertSession {
        /// Summary.
        summary: Box<SessionSummary>,
        /// The rest.
        extra: Box<SessionExtra>,
    },
    /// Insert or replace an item (by `seq`).
    UpsertItem {
        /// Session.
        session_id: String,
        /// Item.
        item: Box<TranscriptItem>,
    },
    /// Insert or replace a turn.
    UpsertTurn {
        /// Session.
        session_id: String,
        /// Turn id.
        turn_id: String,
        /// How it stands.
        status: TurnStatus,
        /// Start (Unix ms).
        started_at: i64,
        /// End (Unix ms).
        ended_at: Option<i64>,
        /// Error of a failed turn.
        error: Option<String>,
    },
    /// Drop a session's transcript (items, and the turns not in `keep_turns`) before it is
    /// rebuilt from the agent's history; the rebuilt items follow as upserts in the same batch.
    ResetTranscript {
        /// Session.
        session_id: String,
        /// Turns the agent still has.
        keep_turns: Vec<String>,
    },
    /// Record a new pending approval.
    InsertApproval {
        /// Session.
        session_id: String,
        /// The approval.
        approval: Box<PendingApproval>,
    },
    /// Record how an approval ended.
    ResolveApproval {
        /// Session.
        session_id: String,
        /// Its version.
        version: u64,
        /// How.
        resolution: ApprovalResolution,
        /// The user's decision.
        decision: Option<ApprovalDecision>,
        /// When.
        resolved_at: i64,
    },
    /// Remove a session with its items, turns and approvals.
    DeleteSession {
        /// Session.
        session_id: String,
    },
    /// A change to the Web Push subscriptions.
    Push(push::PushOp),
    /// A change to the other notification channels.
    Channel(channels::ChannelOp),
    /// A change to the pairing codes or paired devices.
    Devices(devices::DeviceOp),
    /// Retention and pruning (see [`crate::maintenance`]).
    Maintenance(maintenance::MaintenanceOp),
    /// Record where a passive source stopped reading a file. Queued in the same command as the
    /// items read up to there, so both commit in one transaction: a crash keeps both or neither.
    SaveCheckpoint {
        /// Which reader (see [`CheckpointSource`]).
        source: CheckpointSource,
        /// The file.
        path: String,
        /// The reader's checkpoint, JSON.
        checkpoint: String,
    },
    /// Forget a file's checkpoint (the file is gone).
    RemoveCheckpoint {
        /// Which reader.
        source: CheckpointSource,
        /// The file.
        path: String,
    },
}

/// The passive readers whose checkpoints live in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckpointSource {
    /// Codex rollout files (`CODEX_HOME/sessions/**.jsonl`).
    CodexRollout,
    /// Claude Code transcripts (a hook payload's `transcript_path`).
    ClaudeTranscript,
}

impl CheckpointSource {
    /// The value of the `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointSource::CodexRollout => "codex_rollout",
            CheckpointSource::ClaudeTranscript => "claude_transcript",
        }
    }
}

/// Something to publish after commit.
#[derive(Debug)]
pub enum Publication {
    /// A session delta (already serialised).
    Session {
        /// Session id (to persist the revision).
        session_id: String,
        /// Its hub.
        hub: Arc<SessionHub>,
        /// The frame.
        published: Arc<Published>,
    },
    /// A list change.
    List(Box<ListDelta>),
}

/// One command for the writer: writes, then publications, then an optional acknowledgement.
#[derive(Debug, Default)]
pub struct Command {
    /// Writes, in order.
    pub ops: Vec<PersistOp>,
    /// Published after commit, in order.
    pub publish: Vec<Publication>,
    /// Told the outcome after commit and publication.
    pub done: Option<oneshot::Sender<std::result::Result<(), String>>>,
    /// Decremented once this command's changes are published: how a session actor knows that
    /// nothing of its own is still on its way through the writer (see `session::actor`).
    pub in_flight: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

/// What [`Store::close_interrupted_work`] closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClosedWork {
    /// Approvals resolved as `agent_gone`.
    pub approvals: usize,
    /// Turns closed as `interrupted`.
    pub turns: usize,
    /// Items marked `interrupted`.
    pub items: usize,
}

/// A page of items as stored.
#[derive(Debug, Clone, Default)]
pub struct StoredItems {
    /// In `seq` order.
    pub items: Vec<TranscriptItem>,
    /// More beyond the page.
    pub has_more: bool,
}

/// A session as loaded at start-up.
#[derive(Debug, Clone)]
pub struct StoredSession {
    /// Summary (revision from the column).
    pub summary: SessionSummary,
    /// The rest.
    pub extra: SessionExtra,
}

/// Handle to the store: cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    path: PathBuf,
    tx: mpsc::Sender<Command>,
    readers: Mutex<Vec<Connection>>,
    pending_writer: Mutex<Option<(Connection, mpsc::Receiver<Command>)>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Set by [`Store::stop_writer`]: the writer exits after the batch it is on.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// Why the last write failed or the database is gone; `None` when writes succeed.
    degraded: Arc<Mutex<Option<String>>>,
    /// How much command output is kept (applied by the session actors before they store).
    output_limits: Mutex<crate::retention::OutputLimits>,
}

/// Creates the database file readable by its owner only, and tightens an existing one (and its
/// WAL and shared-memory files) to 0600. SQLite creates `-wal` and `-shm` with the database
/// file's mode, so a private database keeps them private; without this the umask (usually
/// 0644) would let every local user read every transcript.
fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Ok(())
}

fn open_conn(path: &Path, write: bool) -> Result<Connection> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| Error::db(format!("opening {}", path.display()), e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| Error::db("setting busy timeout", e))?;
    // Searching tokenizes the query on it (readers) and indexing stages terms (the writer).
    search::prepare_connection(&conn)?;
    if write {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| Error::db("enabling WAL", e))?;
        // WAL + NORMAL: durable across application crashes; a power loss may lose the last
        // transactions but never corrupts the database.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| Error::db("setting synchronous", e))?;
    }
    Ok(conn)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Opens (creating and migrating) the database at `path`. Reads work at once; writes queue
    /// until [`Store::start_writer`] starts the writer thread (which needs the list hub, built
    /// from what this store reads).
    ///
    /// What the previous process left running is closed by `session::restore`, through
    /// [`Store::close_interrupted_work`], before the writer starts.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::io(dir, e))?;
        }
        make_private(path)?;
        let mut conn = open_conn(path, true)?;
        schema::migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        Ok(Store {
            inner: Arc::new(StoreInner {
                path: path.to_owned(),
                tx,
                readers: Mutex::new(Vec::new()),
                pending_writer: Mutex::new(Some((conn, rx))),
                writer: Mutex::new(None),
                stopping: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                degraded: Arc::new(Mutex::new(None)),
                output_limits: Mutex::new(Default::default()),
            }),
        })
    }

    /// Starts the writer thread; list changes are published to `list` after commit.
    pub fn start_writer(&self, list: Arc<ListHub>) {
        if let Some((conn, rx)) = self.inner.pending_writer.lock().take() {
            let w = Writer {
                stopping: self.inner.stopping.clone(),
                degraded: self.inner.degraded.clone(),
                identity: file_identity(&self.inner.path),
                path: self.inner.path.clone(),
            };
            let handle = std::thread::Builder::new()
                .name("orbitdock-writer".into())
                .spawn(move || writer_loop(conn, rx, list, w));
            match handle {
                Ok(h) => *self.inner.writer.lock() = Some(h),
                Err(e) => tracing::error!(error = %e, "could not spawn the persistence writer"),
            }
        }
    }

    /// Closes what died with the previous process: pending approvals become `agent_gone`, turns
    /// still `in_progress` become `interrupted`, and so do their items still `in_progress`.
    /// Must run before [`Store::start_writer`] (it writes on the writer's connection).
    pub fn close_interrupted_work(&self) -> Result<ClosedWork> {
        let mut guard = self.inner.pending_writer.lock();
        let Some((conn, _)) = guard.as_mut() else {
            return Err(Error::Closed(
                "recovery must run before the writer starts".into(),
            ));
        };
        let now = now_ms();
        let tx = conn
            .transaction()
            .map_err(|e| Error::db("beginning recovery", e))?;
        let approvals = tx
            .execute(
                "UPDATE approvals SET resolution = 'agent_gone', resolved_at = ?1 WHERE resolution IS NULL",
                params![now],
            )
            .map_err(|e| Error::db("resolving stale approvals", e))?;
        let mut items = 0;
        let stale_turns: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare("SELECT session_id, turn_id FROM turns WHERE status = 'in_progress'")
                .map_err(|e| Error::db("listing stale turns", e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| Error::db("listing stale turns", e))?;
            rows.collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::db("reading stale turns", e))?
        };
        for (session_id, turn_id) in &stale_turns {
            // Scans one session's items (primary key prefix), never the whole table.
            items += tx
                .execute(
                    "UPDATE items SET body = json_set(body, '$.status', 'interrupted'), updated_at = ?3
                     WHERE session_id = ?1 AND turn_id = ?2
                       AND json_extract(body, '$.status') = 'in_progress'",
                    params![session_id, turn_id, now],
                )
                .map_err(|e| Error::db("closing items of stale turns", e))?;
        }
        let turns = tx
            .execute(
                "UPDATE turns SET status = 'interrupted', ended_at = ?1 WHERE status = 'in_progress'",
                params![now],
            )
            .map_err(|e| Error::db("closing stale turns", e))?;
        tx.commit()
            .map_err(|e| Error::db("committing recovery", e))?;
        Ok(ClosedWork {
            approvals,
            turns,
            items,
        })
    }

    /// Commits everything queued so far, then stops the writer thread and waits for it (its
    /// connection closes, checkpointing the WAL). Later submissions fail with `Closed`.
    pub async fn stop_writer(&self) {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the writer; it commits this batch and sees `stopping`.
        let _ = self.flush().await;
        let handle = self.inner.writer.lock().take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Sets how much command output is stored from now on (see [`crate::retention`]).
    pub fn set_output_limits(&self, limits: crate::retention::OutputLimits) {
        *self.inner.output_limits.lock() = limits;
    }

    /// How much command output is stored.
    pub fn output_limits(&self) -> crate::retention::OutputLimits {
        *self.inner.output_limits.lock()
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Why persistence is failing (disk full, read-only, the database file removed), or `None`
    /// when the last write succeeded. Shown by `/health`; cleared by the next successful write.
    pub fn degraded(&self) -> Option<String> {
        self.inner.degraded.lock().clone()
    }

    /// Queues a command; waits while the queue is full (backpressure).
    pub async fn submit(&self, cmd: Command) -> Result<()> {
        self.inner
            .tx
            .send(cmd)
            .await
            .map_err(|_| Error::Closed("persistence writer".into()))
    }

    /// Queues a command and waits until it is committed and published.
    pub async fn submit_and_wait(&self, mut cmd: Command) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        cmd.done = Some(tx);
        self.submit(cmd).await?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Persist(e)),
            Err(_) => Err(Error::Closed("persistence writer".into())),
        }
    }

    /// Queues a command from a blocking context (benchmarks, tools).
    pub fn blocking_submit(&self, cmd: Command) -> Result<()> {
        self.inner
            .tx
            .blocking_send(cmd)
            .map_err(|_| Error::Closed("persistence writer".into()))
    }

    /// Waits for everything queued so far to be committed (a barrier).
    pub async fn flush(&self) -> Result<()> {
        self.submit_and_wait(Command::default()).await
    }

    /// Runs `f` on a read connection (blocking; call from `spawn_blocking` or [`Store::read`]).
    pub fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.inner.readers.lock().pop() {
            Some(c) => c,
            None => open_conn(&self.inner.path, false)?,
        };
        let out = f(&conn);
        let mut pool = self.inner.readers.lock();
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    /// Runs `f` on a read connection on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.with_reader(f))
            .await
            .map_err(|e| Error::Closed(format!("read task: {e}")))?
    }

    /// Every session, most recently updated first (one indexed query).
    pub fn load_sessions(&self) -> Result<Vec<StoredSession>> {
        self.with_reader(|c| {
            let mut stmt = c
                .prepare("SELECT summary, extra, revision FROM sessions ORDER BY updated_at DESC")
                .map_err(|e| Error::db("preparing session list", e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(|e| Error::db("listing sessions", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (summary, extra, revision) =
                    row.map_err(|e| Error::db("reading session", e))?;
                match decode_session(&summary, &extra, revision) {
                    Ok(s) => out.push(s),
                    // A row we cannot decode is logged raw and skipped, never fatal.
                    Err(e) => {
                        tracing::error!(error = %e, raw = %summary, "undecodable session row")
                    }
                }
            }
            Ok(out)
        })
    }

    /// One session.
    pub fn load_session(&self, id: &str) -> Result<Option<StoredSession>> {
        self.with_reader(|c| {
            let row = c
                .query_row(
                    "SELECT summary, extra, revision FROM sessions WHERE id = ?1",
                    params![id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| Error::db("loading session", e))?;
            match row {
                None => Ok(None),
                Some((s, e, r)) => decode_session(&s, &e, r).map(Some),
            }
        })
    }

    /// Items with `seq > after`, ascending, at most `limit`.
    pub fn items_after(&self, session_id: &str, after: u64, limit: usize) -> Result<StoredItems> {
        self.with_reader(|c| {
            query_items(
                c,
                "SELECT body FROM items WHERE session_id = ?1 AND seq > ?2 ORDER BY seq ASC LIMIT ?3",
                session_id,
                after,
                limit,
                false,
            )
        })
    }

    /// The `limit` items just before `before`, ascending.
    pub fn items_before(&self, session_id: &str, before: u64, limit: usize) -> Result<StoredItems> {
        self.with_reader(|c| {
            query_items(
                c,
                "SELECT body FROM items WHERE session_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
                session_id,
                before,
                limit,
                true,
            )
        })
    }

    /// One item, by `seq`.
    pub fn item(&self, session_id: &str, seq: u64) -> Result<Option<TranscriptItem>> {
        self.with_reader(|c| {
            let body: Option<String> = c
                .query_row(
                    "SELECT body FROM items WHERE session_id = ?1 AND seq = ?2",
                    params![session_id, seq as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| Error::db("reading an item", e))?;
            body.map(|b| {
                serde_json::from_str(&b).map_err(|e| Error::Decode {
                    what: format!("item {seq} of session {session_id}"),
                    source: e,
                })
            })
            .transpose()
        })
    }

    /// Every checkpoint of `source`: (path, checkpoint JSON), by path.
    pub fn load_checkpoints(&self, source: CheckpointSource) -> Result<Vec<(String, String)>> {
        self.with_reader(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT path, checkpoint FROM source_checkpoints WHERE source = ?1 ORDER BY path",
                )
                .map_err(|e| Error::db("preparing checkpoint list", e))?;
            let rows = stmt
                .query_map(params![source.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(|e| Error::db("listing checkpoints", e))?;
            rows.collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::db("reading checkpoints", e))
        })
    }

    /// Approval history of a session, oldest first.
    pub fn approval_history(&self, session_id: &str) -> Result<Vec<ApprovalRecord>> {
        self.with_reader(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT approval, resolution, decision, resolved_at FROM approvals
                     WHERE session_id = ?1 AND resolution IS NOT NULL ORDER BY version",
                )
                .map_err(|e| Error::db("preparing approval history", e))?;
            let rows = stmt
                .query_map(params![session_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                })
                .map_err(|e| Error::db("reading approval history", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (approval, resolution, decision, resolved_at) =
                    row.map_err(|e| Error::db("reading approval", e))?;
                let approval: PendingApproval = match serde_json::from_str(&approval) {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::error!(error = %e, raw = %approval, "undecodable approval row");
                        continue;
                    }
                };
                out.push(ApprovalRecord {
                    approval,
                    resolution: from_token(&resolution).unwrap_or(ApprovalResolution::Unknown),
                    decision: decision.as_deref().and_then(from_token),
                    resolved_at: resolved_at.unwrap_or_default(),
                });
            }
            Ok(out)
        })
    }
}

fn decode_session(summary: &str, extra: &str, revision: i64) -> Result<StoredSession> {
    let mut summary: SessionSummary = serde_json::from_str(summary).map_err(|e| Error::Decode {
        what: "session summary".into(),
        source: e,
    })?;
    let extra: SessionExtra = serde_json::from_str(extra).unwrap_or_else(|e| {
        tracing::error!(error = %e, raw = %extra, "undecodable session extra; using defaults");
        SessionExtra::default()
    });
    summary.revision = summary.revision.max(revision as u64);
    Ok(StoredSession { summary, extra })
}

fn query_items(
    c: &Connection,
    sql: &str,
    session_id: &str,
    bound: u64,
    limit: usize,
    reverse: bool,
) -> Result<StoredItems> {
    let mut stmt = c
        .prepare_cached(sql)
        .map_err(|e| Error::db("preparing item page", e))?;
    let rows = stmt
        .query_map(params![session_id, bound as i64, (limit + 1) as i64], |r| {
            r.get::<_, String>(0)
        })
        .map_err(|e| Error::db("reading items", e))?;
    let mut items = Vec::with_capacity(limit.min(1024));
    let mut count = 0;
    let mut has_more = false;
    for row in rows {
        let body = row.map_err(|e| Error::db("reading item", e))?;
        count += 1;
        if count > limit {
            has_more = true;
            break;
        }
        match serde_json::from_str::<TranscriptItem>(&body) {
            Ok(item) => items.push(item),
            Err(e) => tracing::error!(error = %e, raw = %body, "undecodable item row"),
        }
    }
    if reverse {
        items.reverse();
    }
    Ok(StoredItems { items, has_more })
}

/// The snake_case token of a serde unit enum value.
pub(crate) fn token<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn from_token<T: for<'de> Deserialize<'de>>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// What the writer thread shares with the [`Store`] handle.
struct Writer {
    stopping: Arc<std::sync::atomic::AtomicBool>,
    degraded: Arc<Mutex<Option<String>>>,
    /// (device, inode) of the database file when the writer started.
    identity: Option<(u64, u64)>,
    path: PathBuf,
}

/// How long a batch that fails for an environmental reason (disk full, read-only file system,
/// I/O error) is retried before it is given up. Meanwhile nothing is published and producers
/// wait on the bounded queue, so an operator who frees space loses nothing.
const RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(30);

fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether a failed batch may succeed later without anything changing in the batch itself.
fn is_environmental(e: &Error) -> bool {
    use rusqlite::ErrorCode as C;
    match e {
        Error::Db { source, .. } => matches!(
            source.sqlite_error_code(),
            Some(
                C::DiskFull
                    | C::ReadOnly
                    | C::SystemIoFailure
                    | C::CannotOpen
                    | C::DatabaseBusy
                    | C::DatabaseLocked
                    | C::OutOfMemory
            )
        ),
        _ => false,
    }
}

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Command>,
    list: Arc<ListHub>,
    w: Writer,
) {
    let mut batch: Vec<Command> = Vec::with_capacity(BATCH_MAX);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut outcome = commit_batch(&mut conn, &batch);
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(50);
        while let Err(e) = &outcome {
            let stopping = w.stopping.load(std::sync::atomic::Ordering::SeqCst);
            if !is_environmental(e) || stopping || started.elapsed() > RETRY_FOR {
                break;
            }
            *w.degraded.lock() = Some(format!("cannot save changes: {e}"));
            tracing::warn!(error = %e, commands = batch.len(), "persistence batch failed; retrying");
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_secs(1));
            outcome = commit_batch(&mut conn, &batch);
        }
        match &outcome {
            Err(e) => {
                // Given up: the in-memory state stays authoritative for this run; report
                // loudly, stay degraded, and carry on.
                tracing::error!(error = %e, commands = batch.len(), "persistence batch failed");
                *w.degraded.lock() = Some(format!(
                    "{} changes could not be saved and are kept in memory only: {e}",
                    batch.len()
                ));
            }
            Ok(()) => {
                // A database file removed (data dir deleted) or replaced under us still takes
                // writes through the open descriptor, into a file nobody will ever open again.
                let now = file_identity(&w.path);
                if now.is_none() || now != w.identity {
                    *w.degraded.lock() = Some(format!(
                        "the database {} was removed or replaced while running; changes are kept in memory only until a restart",
                        w.path.display()
                    ));
                } else if w.degraded.lock().take().is_some() {
                    tracing::info!("persistence recovered");
                }
            }
        }
        for cmd in batch.drain(..) {
            for p in cmd.publish {
                match p {
                    Publication::Session { hub, published, .. } => hub.publish(published),
                    Publication::List(delta) => list.publish(*delta),
                }
            }
            if let Some(n) = cmd.in_flight {
                n.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
            if let Some(done) = cmd.done {
                let _ = done.send(outcome.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            }
        }
        if w.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
    }
    tracing::debug!("persistence writer stopped");
}

/// Applies one batch in one transaction. Session rows written several times in a batch are
/// written once (the last version wins).
pub(crate) fn commit_batch(conn: &mut Connection, batch: &[Command]) -> Result<()> {
    let mut last_session_write: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut revisions: HashMap<&str, u64> = HashMap::new();
    for (ci, cmd) in batch.iter().enumerate() {
        for (oi, op) in cmd.ops.iter().enumerate() {
            if let PersistOp::UpsertSession { summary, .. } = op {
                last_session_write.insert(summary.id.as_str(), (ci, oi));
            }
        }
        for p in &cmd.publish {
            if let Publication::Session {
                session_id,
                published,
                ..
            } = p
            {
                let r = revisions.entry(session_id.as_str()).or_default();
                *r = (*r).max(published.revision);
            }
        }
    }
    let tx = conn
        .transaction()
        .map_err(|e| Error::db("beginning batch", e))?;
    {
        let mut up_session = tx
            .prepare_cached(
                "INSERT INTO sessions (id, thread_id, provider, origin, status, updated_at, revision, summary, extra)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(id) DO UPDATE SET thread_id = ?2, provider = ?3, origin = ?4, status = ?5,
                   updated_at = ?6, revision = max(revision, ?7), summary = ?8, extra = ?9",
            )
            .map_err(|e| Error::db("preparing session upsert", e))?;
        let mut up_item = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO items (session_id, seq, item_id, turn_id, type, updated_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(|e| Error::db("preparing item upsert", e))?;
        let mut up_turn = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO turns (session_id, turn_id, status, started_at, ended_at, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(|e| Error::db("preparing turn upsert", e))?;
        let mut ins_approval = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO approvals (session_id, version, request_id, kind, approval, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(|e| Error::db("preparing approval insert", e))?;
        let mut res_approval = tx
            .prepare_cached(
                "UPDATE approvals SET resolution = ?3, decision = ?4, resolved_at = ?5
                 WHERE session_id = ?1 AND version = ?2",
            )
            .map_err(|e| Error::db("preparing approval resolution", e))?;
        let mut up_revision = tx
            .prepare_cached("UPDATE sessions SET revision = max(revision, ?2) WHERE id = ?1")
            .map_err(|e| Error::db("preparing revision update", e))?;
        let mut up_checkpoint = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO source_checkpoints (source, path, checkpoint, updated_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(|e| Error::db("preparing checkpoint upsert", e))?;
        let now = now_ms();

        for (ci, cmd) in batch.iter().enumerate() {
            for (oi, op) in cmd.ops.iter().enumerate() {
                match op {
                    PersistOp::UpsertSession { summary, extra } => {
                        if last_session_write.get(summary.id.as_str()) != Some(&(ci, oi)) {
                            continue;
                        }
                        let sj = json(summary.as_ref())?;
                        let ej = json(extra.as_ref())?;
                        up_session
                            .execute(params![
                                summary.id,
                                summary.thread_id,
                                token(&summary.provider),
                                token(&summary.origin),
                                token(&summary.status),
                                summary.updated_at,
                                summary.revision as i64,
                                sj,
                                ej
                            ])
                            .map_err(|e| Error::db("upserting session", e))?;
                        search::put_session(&tx, summary)?;
                    }
                    PersistOp::UpsertItem { session_id, item } => {
                        let body = json(item.as_ref())?;
                        let kind = serde_json::to_value(&item.body)
                            .ok()
                            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
                            .unwrap_or_default();
                        up_item
                            .execute(params![
                                session_id,
                                item.seq as i64,
                                item.id,
                                item.turn_id,
                                kind,
                                item.updated_at,
                                body
                            ])
                            .map_err(|e| Error::db("upserting item", e))?;
                        // seq 0 is the session's own search document; items count from 1.
                        if item.seq > 0 {
                            search::put(&tx, session_id, item.seq, &search::item_text(&item.body))?;
                        }
                    }
                    PersistOp::ResetTranscript {
                        session_id,
                        keep_turns,
                    } => {
                        tx.execute("DELETE FROM items WHERE session_id = ?1", [session_id])
                            .map_err(|e| Error::db("dropping the transcript", e))?;
                        search::remove_session(&tx, session_id, false)?;
                        let keep =
                            serde_json::to_string(keep_turns).map_err(|e| Error::Decode {
                                what: "kept turn ids".into(),
                                source: e,
                            })?;
                        tx.execute(
                            "DELETE FROM turns WHERE session_id = ?1
                             AND turn_id NOT IN (SELECT value FROM json_each(?2))",
                            params![session_id, keep],
                        )
                        .map_err(|e| Error::db("dropping reverted turns", e))?;
                    }
                    PersistOp::UpsertTurn {
                        session_id,
                        turn_id,
                        status,
                        started_at,
                        ended_at,
                        error,
                    } => {
                        up_turn
                            .execute(params![
                                session_id,
                                turn_id,
                                status.as_str(),
                                started_at,
                                ended_at,
                                error
                            ])
                            .map_err(|e| Error::db("upserting turn", e))?;
                    }
                    PersistOp::InsertApproval {
                        session_id,
                        approval,
                    } => {
                        let aj = json(approval.as_ref())?;
                        ins_approval
                            .execute(params![
                                session_id,
                                approval.version as i64,
                                approval.request_id,
                                token(&approval.kind),
                                aj,
                                approval.created_at
                            ])
                            .map_err(|e| Error::db("inserting approval", e))?;
                    }
                    PersistOp::ResolveApproval {
                        session_id,
                        version,
                        resolution,
                        decision,
                        resolved_at,
                    } => {
                        res_approval
                            .execute(params![
                                session_id,
                                *version as i64,
                                token(resolution),
                                decision.as_ref().map(token),
                                resolved_at
                            ])
                            .map_err(|e| Error::db("resolving approval", e))?;
                    }
                    PersistOp::DeleteSession { session_id } => {
                        search::remove_session(&tx, session_id, true)?;
                        for table in ["items", "turns", "approvals"] {
                            tx.execute(
                                &format!("DELETE FROM {table} WHERE session_id = ?1"),
                                params![session_id],
                            )
                            .map_err(|e| Error::db(format!("deleting {table}"), e))?;
                        }
                        tx.execute("DELETE FROM sessions WHERE id = ?1", params![session_id])
                            .map_err(|e| Error::db("deleting session", e))?;
                    }
                    PersistOp::Push(op) => push::apply(&tx, op)?,
                    PersistOp::Channel(op) => channels::apply(&tx, op)?,
                    PersistOp::Devices(op) => devices::apply(&tx, op)?,
                    PersistOp::Maintenance(op) => maintenance::apply(&tx, op)?,
                    PersistOp::SaveCheckpoint {
                        source,
                        path,
                        checkpoint,
                    } => {
                        up_checkpoint
                            .execute(params![source.as_str(), path, checkpoint, now])
                            .map_err(|e| Error::db("saving checkpoint", e))?;
                    }
                    PersistOp::RemoveCheckpoint { source, path } => {
                        tx.execute(
                            "DELETE FROM source_checkpoints WHERE source = ?1 AND path = ?2",
                            params![source.as_str(), path],
                        )
                        .map_err(|e| Error::db("removing checkpoint", e))?;
                    }
                }
            }
        }
        for (id, rev) in revisions {
            up_revision
                .execute(params![id, rev as i64])
                .map_err(|e| Error::db("updating revision", e))?;
        }
    }
    search::flush_vocab(&tx)?;
    tx.commit().map_err(|e| Error::db("committing batch", e))
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Decode {
        what: "value to store".into(),
        source: e,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use orbitdock_protocol::ItemBody;

    fn item(seq: u64, text: &str) -> TranscriptItem {
        TranscriptItem {
            seq,
            id: format!("i{seq}"),
            turn_id: Some("t".into()),
            status: Default::default(),
            created_at: 1,
            updated_at: 1,
            body: ItemBody::AgentMessage { text: text.into() },
        }
    }

    #[tokio::test]
    async fn persists_then_publishes_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let list = ListHub::new(Vec::new(), 0);
        store.start_writer(list.clone());
        let summary = SessionSummary {
            id: "s1".into(),
            revision: 1,
            ..Default::default()
        };
        let mut ops = vec![PersistOp::UpsertSession {
            summary: Box::new(summary.clone()),
            extra: Box::default(),
        }];
        for i in 1..=5 {
            ops.push(PersistOp::UpsertItem {
                session_id: "s1".into(),
                item: Box::new(item(i, "v1")),
            });
        }
        // Upsert by seq replaces.
        ops.push(PersistOp::UpsertItem {
            session_id: "s1".into(),
            item: Box::new(item(3, "v2")),
        });
        store
            .submit_and_wait(Command {
                ops,
                publish: vec![Publication::List(Box::new(ListDelta::Upsert {
                    summary: summary.clone(),
                }))],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(list.snapshot().1, vec![summary.clone()]);
        let page = store.items_after("s1", 1, 2).unwrap();
        assert_eq!(
            page.items.iter().map(|i| i.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(page.has_more);
        assert_eq!(page.items[1], item(3, "v2"));
        let page = store.items_before("s1", 3, 10).unwrap();
        assert_eq!(
            page.items.iter().map(|i| i.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(!page.has_more);
        let loaded = store.load_sessions().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].summary, summary);
    }

    #[tokio::test]
    async fn reopening_resolves_stale_approvals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let store = Store::open(&path).unwrap();
            store.start_writer(ListHub::new(Vec::new(), 0));
            let approval = PendingApproval {
                request_id: "7".into(),
                kind: orbitdock_protocol::ApprovalKind::Command,
                version: 1,
                item_id: None,
                turn_id: None,
                command: Some("ls".into()),
                cwd: None,
                reason: None,
                changes: None,
                question: None,
                questions: None,
                raw: serde_json::Value::Null,
                created_at: 5,
            };
            store
                .submit_and_wait(Command {
                    ops: vec![PersistOp::InsertApproval {
                        session_id: "s".into(),
                        approval: Box::new(approval),
                    }],
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(store.approval_history("s").unwrap().is_empty());
        }
        let store = Store::open(&path).unwrap();
        let closed = store.close_interrupted_work().unwrap();
        assert_eq!(closed.approvals, 1);
        let h = store.approval_history("s").unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].resolution, ApprovalResolution::AgentGone);
        assert_eq!(h[0].approval.command.as_deref(), Some("ls"));
    }

    #[tokio::test]
    async fn recovery_closes_turns_and_items_that_died_with_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let store = Store::open(&path).unwrap();
            store.start_writer(ListHub::new(Vec::new(), 0));
            let mut open = item(1, "half");
            open.status = orbitdock_protocol::ItemStatus::InProgress;
            let mut other = item(2, "done");
            other.turn_id = Some("older".into());
            store
                .submit_and_wait(Command {
                    ops: vec![
                        PersistOp::UpsertItem {
                            session_id: "s".into(),
                            item: Box::new(open),
                        },
                        PersistOp::UpsertItem {
                            session_id: "s".into(),
                            item: Box::new(other),
                        },
                        PersistOp::UpsertTurn {
                            session_id: "s".into(),
                            turn_id: "t".into(),
                            status: TurnStatus::InProgress,
                            started_at: 1,
                            ended_at: None,
                            error: None,
                        },
                    ],
                    ..Default::default()
                })
                .await
                .unwrap();
            // The process dies here (no turn end was ever written).
        }
        let store = Store::open(&path).unwrap();
        let closed = store.close_interrupted_work().unwrap();
        assert_eq!(
            closed,
            ClosedWork {
                approvals: 0,
                turns: 1,
                items: 1
            }
        );
        let items = store.items_after("s", 0, 10).unwrap().items;
        assert_eq!(items[0].status, orbitdock_protocol::ItemStatus::Interrupted);
        assert_eq!(
            items[0].body,
            ItemBody::AgentMessage {
                text: "half".into()
            }
        );
        assert_eq!(items[1].status, orbitdock_protocol::ItemStatus::Completed);
        // Idempotent: a second start finds nothing to close.
        assert_eq!(
            store.close_interrupted_work().unwrap(),
            ClosedWork::default()
        );
    }

    #[test]
    fn undecodable_rows_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = Store::open(&path).unwrap();
        {
            let c = open_conn(&path, true).unwrap();
            c.execute(
                "INSERT INTO sessions (id, provider, origin, status, updated_at, summary, extra)
                 VALUES ('bad', 'codex', 'direct', 'waiting', 1, '{not json', '{}')",
                [],
            )
            .unwrap();
            c.execute(
                "INSERT INTO items (session_id, seq, item_id, type, updated_at, body)
                 VALUES ('bad', 1, 'x', 't', 1, 'garbage')",
                [],
            )
            .unwrap();
        }
        assert!(store.load_sessions().unwrap().is_empty());
        assert!(store.items_after("bad", 0, 10).unwrap().items.is_empty());
    }
}
