//! The synchronous core of the watcher: every known rollout file with its reader, its passive
//! session and its checkpoint, and the counters of what was skipped.
//!
//! [`RolloutIndex`] does no waiting of its own: [`crate::rollout_watcher::RolloutWatcher`] drives
//! it from file-system events, sweeps and a clock; benchmarks and tests drive it directly.
//!
//! Delivery order per file and poll: updates are handed to the caller first, then the checkpoint
//! (reader offset + unfinished line + session state) is saved. A crash in between therefore
//! repeats the updates of one poll at most; a store that commits checkpoints in the same
//! transaction as the updates (the server's SQLite writer) makes it exactly once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::passive_session::{
    EndReason, GitFacts, PassiveConfig, PassiveSession, SessionUpdate, SessionView, resolve_git,
};
use crate::rollout_line::{EventMsg, ResponseItem, RolloutLine, parse_line};
use crate::rollout_reader::{ReadItem, ReaderConfig, ReaderState, ResetReason, RolloutReader};

/// What is persisted per rollout file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// Reader offset, unfinished line and file identity.
    pub reader: ReaderState,
    /// The passive session built so far (None before `session_meta`, or when skipped).
    pub session: Option<PassiveSession>,
    /// Thread id of a file whose thread is driven by the server itself (never a passive session).
    #[serde(default)]
    pub skipped_thread: Option<String>,
}

/// Persistence of [`FileCheckpoint`]s, keyed by file path. The server implements it on SQLite;
/// [`JsonFileStore`] and [`MemoryStore`] are provided.
pub trait OffsetStore: Send {
    /// Every stored checkpoint (called once, at start).
    fn load_all(&mut self) -> Result<Vec<(PathBuf, FileCheckpoint)>>;
    /// Records the checkpoint of `path` (may be buffered until [`Self::flush`]).
    fn save(&mut self, path: &Path, checkpoint: &FileCheckpoint) -> Result<()>;
    /// Forgets `path` (the file is gone).
    fn remove(&mut self, path: &Path) -> Result<()>;
    /// Makes buffered saves durable. Called after each batch of work.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// An in-memory store (tests, benchmarks, or a server that persists elsewhere).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    /// The checkpoints.
    pub map: BTreeMap<PathBuf, FileCheckpoint>,
}

impl OffsetStore for MemoryStore {
    fn load_all(&mut self) -> Result<Vec<(PathBuf, FileCheckpoint)>> {
        Ok(self
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn save(&mut self, path: &Path, checkpoint: &FileCheckpoint) -> Result<()> {
        self.map.insert(path.to_path_buf(), checkpoint.clone());
        Ok(())
    }
    fn remove(&mut self, path: &Path) -> Result<()> {
        self.map.remove(path);
        Ok(())
    }
}

/// A JSON file of checkpoints, rewritten atomically (temp file + rename) on flush.
#[derive(Debug)]
pub struct JsonFileStore {
    path: PathBuf,
    map: BTreeMap<PathBuf, FileCheckpoint>,
    dirty: bool,
}

impl JsonFileStore {
    /// Opens (or starts) the store at `path`. A corrupt file is reported as an error, not
    /// silently replaced.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let map = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Checkpoint {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(Error::Io {
                    path,
                    op: "read",
                    source,
                });
            }
        };
        Ok(Self {
            path,
            map,
            dirty: false,
        })
    }
}

impl OffsetStore for JsonFileStore {
    fn load_all(&mut self) -> Result<Vec<(PathBuf, FileCheckpoint)>> {
        Ok(self
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn save(&mut self, path: &Path, checkpoint: &FileCheckpoint) -> Result<()> {
        self.map.insert(path.to_path_buf(), checkpoint.clone());
        self.dirty = true;
        Ok(())
    }
    fn remove(&mut self, path: &Path) -> Result<()> {
        self.dirty |= self.map.remove(path).is_some();
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&self.map).map_err(|source| Error::Checkpoint {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &bytes)?;
        self.dirty = false;
        Ok(())
    }
}

/// Writes `bytes` to `path` through a synced temp file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |op, source| Error::Io {
        path: path.to_path_buf(),
        op,
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("create_dir", e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
    f.write_all(bytes).map_err(|e| io("write", e))?;
    f.sync_all().map_err(|e| io("fsync", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
    Ok(())
}

/// Decides whether a thread is driven by the server itself (no passive session for it).
pub type SkipFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A skip predicate that never skips.
pub fn skip_none() -> SkipFn {
    Arc::new(|_| false)
}

/// Tuning of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    /// Reader tuning.
    pub reader: ReaderConfig,
    /// Session tuning.
    pub passive: PassiveConfig,
    /// Run `git` for each new cwd (cached per cwd).
    pub resolve_git: bool,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            reader: ReaderConfig::default(),
            passive: PassiveConfig::default(),
            resolve_git: true,
        }
    }
}

/// What the index reports besides session updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WatcherEvent {
    /// A session update to apply.
    Update {
        /// The update.
        update: SessionUpdate,
    },
    /// The server now drives a thread that had a passive session: drop the passive view.
    Detached {
        /// The thread.
        thread_id: String,
    },
    /// A file was truncated or replaced and is read again from the start.
    FileReset {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: ResetReason,
    },
    /// A file could not be read (it is retried on the next event or sweep).
    FileError {
        /// The file.
        path: PathBuf,
        /// The error.
        message: String,
    },
    /// How far a sweep is: `done` of `total` files processed (every file's events come before
    /// the progress that counts it). Sent at the start of a sweep (`done` 0) and after each file.
    SweepProgress {
        /// Files processed.
        done: usize,
        /// Files in this sweep.
        total: usize,
    },
}

/// Counters of what was read and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStats {
    /// Files known.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Lines read (good and bad).
    pub lines: u64,
    /// Lines that were not valid rollout JSON.
    pub malformed: u64,
    /// Lines that were not UTF-8.
    pub invalid_utf8: u64,
    /// Lines over the size cap.
    pub too_long: u64,
    /// Lines before any `session_meta` (no session to apply them to).
    pub orphan_lines: u64,
    /// Unknown line types, by type.
    pub unknown_line_types: BTreeMap<String, u64>,
    /// Unknown `event_msg` types, by type.
    pub unknown_event_types: BTreeMap<String, u64>,
    /// Unknown `response_item` types, by type.
    pub unknown_item_types: BTreeMap<String, u64>,
    /// Truncations/replacements.
    pub resets: u64,
    /// Read errors.
    pub io_errors: u64,
}

#[derive(Debug)]
struct FileEntry {
    reader: RolloutReader,
    session: Option<PassiveSession>,
    skipped_thread: Option<String>,
}

/// All rollout files under a sessions directory. See the module docs.
pub struct RolloutIndex {
    config: IndexConfig,
    files: HashMap<PathBuf, FileEntry>,
    git_cache: HashMap<String, GitFacts>,
    store: Box<dyn OffsetStore>,
    skip: SkipFn,
    stats: IndexStats,
    warned: HashSet<String>,
}

impl std::fmt::Debug for RolloutIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutIndex")
            .field("files", &self.files.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl RolloutIndex {
    /// An index restoring every checkpoint of `store`.
    pub fn new(config: IndexConfig, mut store: Box<dyn OffsetStore>, skip: SkipFn) -> Result<Self> {
        let mut files = HashMap::new();
        for (path, cp) in store.load_all()? {
            let reader = RolloutReader::with_state(&path, cp.reader, config.reader);
            files.insert(
                path,
                FileEntry {
                    reader,
                    session: cp.session,
                    skipped_thread: cp.skipped_thread,
                },
            );
        }
        let stats = IndexStats {
            files: files.len() as u64,
            ..IndexStats::default()
        };
        Ok(Self {
            config,
            files,
            git_cache: HashMap::new(),
            store,
            skip,
            stats,
            warned: HashSet::new(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> &IndexStats {
        &self.stats
    }

    /// The view of a passive session.
    pub fn session(&self, thread_id: &str) -> Option<&SessionView> {
        self.files
            .values()
            .filter_map(|f| f.session.as_ref())
            .map(PassiveSession::view)
            .find(|v| v.thread_id == thread_id)
    }

    /// Views of every passive session.
    pub fn sessions(&self) -> Vec<SessionView> {
        let mut v: Vec<SessionView> = self
            .files
            .values()
            .filter_map(|f| f.session.as_ref())
            .map(|s| s.view().clone())
            .collect();
        v.sort_by(|a, b| a.thread_id.cmp(&b.thread_id));
        v
    }

    /// Makes pending checkpoint saves durable.
    pub fn flush(&mut self) -> Result<()> {
        self.store.flush()
    }

    /// Reads whatever is new in `path`, appending events to `out`. A vanished file ends its
    /// session and is forgotten. Errors are reported as [`WatcherEvent::FileError`] too.
    pub fn process_file(&mut self, path: &Path, now_ms: i64, out: &mut impl FnMut(WatcherEvent)) {
        self.process_file_with(path, now_ms, false, out);
    }

    /// [`Self::process_file`]; with `end_inactive`, a session whose last line is older than the
    /// inactivity timeout is ended in the same poll (and checkpoint) as its lines, instead of
    /// by the next [`Self::tick`]: a sweep over a long history then hands each old session over
    /// once, finished, rather than once to import and once more to end.
    fn process_file_with(
        &mut self,
        path: &Path,
        now_ms: i64,
        end_inactive: bool,
        out: &mut impl FnMut(WatcherEvent),
    ) {
        if let Err(e) = self.process_file_inner(path, now_ms, end_inactive, out) {
            self.stats.io_errors += 1;
            tracing::warn!(path = %path.display(), error = %e, "cannot read rollout file");
            out(WatcherEvent::FileError {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    }

    fn process_file_inner(
        &mut self,
        path: &Path,
        now_ms: i64,
        end_inactive: bool,
        out: &mut impl FnMut(WatcherEvent),
    ) -> Result<()> {
        if !path.exists() {
            if let Some(entry) = self.files.remove(path) {
                self.stats.files = self.files.len() as u64;
                if let Some(mut s) = entry.session
                    && s.view().status != crate::passive_session::SessionStatus::Ended
                {
                    // Force the end now: the file was archived or deleted.
                    let _ = s.tick(
                        &PassiveConfig {
                            inactivity_timeout: std::time::Duration::ZERO,
                            ..self.config.passive
                        },
                        i64::MAX,
                    );
                    out(WatcherEvent::Update {
                        update: SessionUpdate::Ended {
                            thread_id: s.thread_id().to_owned(),
                            reason: EndReason::Inactivity,
                        },
                    });
                }
                self.store.remove(path)?;
            }
            return Ok(());
        }
        let config = self.config;
        if !self.files.contains_key(path) {
            self.files.insert(
                path.to_path_buf(),
                FileEntry {
                    reader: RolloutReader::new(path, config.reader),
                    session: None,
                    skipped_thread: None,
                },
            );
            self.stats.files = self.files.len() as u64;
        }
        let Some(entry) = self.files.get_mut(path) else {
            return Ok(());
        };
        let before = entry.reader.state().clone();
        let stats = &mut self.stats;
        let warned = &mut self.warned;
        let git_cache = &mut self.git_cache;
        let skip = &self.skip;
        let FileEntry {
            reader,
            session,
            skipped_thread,
        } = entry;
        // The server may have started driving this thread since the session was created.
        let mut detached = false;
        if let Some(s) = session.as_ref()
            && skip(s.thread_id())
        {
            let id = s.thread_id().to_owned();
            *session = None;
            *skipped_thread = Some(id.clone());
            out(WatcherEvent::Detached { thread_id: id });
            detached = true;
        }
        let mut updates: Vec<SessionUpdate> = Vec::new();
        let mut reset_seen = false;
        let result = loop {
            let outcome = reader.poll(|item| {
                let (offset, text) = match item {
                    ReadItem::Line { offset, text, .. } => (offset, text),
                    ReadItem::Reset { reason } => {
                        // Reported before any line of the new content; the session is rebuilt
                        // from it (a `Created` for the thread follows).
                        stats.resets += 1;
                        reset_seen = true;
                        out(WatcherEvent::FileReset {
                            path: path.to_path_buf(),
                            reason,
                        });
                        *session = None;
                        *skipped_thread = None;
                        return;
                    }
                    ReadItem::InvalidUtf8 { offset, .. } => {
                        stats.invalid_utf8 += 1;
                        tracing::warn!(path = %path.display(), offset, "rollout line is not UTF-8; skipped");
                        return;
                    }
                    ReadItem::TooLong { offset, seen, max } => {
                        stats.too_long += 1;
                        tracing::warn!(path = %path.display(), offset, seen, max, "rollout line over the size cap; skipped");
                        return;
                    }
                };
                let parsed = match parse_line(text) {
                    Ok(p) => p,
                    Err(e) => {
                        stats.malformed += 1;
                        tracing::warn!(path = %path.display(), offset, error = %e, "malformed rollout line; skipped");
                        return;
                    }
                };
                count_unknown(stats, warned, &parsed.line);
                if let RolloutLine::SessionMeta(meta) = &parsed.line
                    && session.is_none() && skipped_thread.is_none() {
                        if skip(&meta.id) {
                            *skipped_thread = Some(meta.id.clone());
                            return;
                        }
                        let git = match (&meta.cwd, config.resolve_git) {
                            (Some(cwd), true) => git_cache
                                .entry(cwd.clone())
                                .or_insert_with(|| resolve_git(Path::new(cwd)))
                                .clone(),
                            _ => GitFacts::default(),
                        };
                        let (s, created) = PassiveSession::from_meta(
                            meta,
                            parsed.timestamp.as_deref(),
                            path,
                            git,
                            now_ms,
                        );
                        *session = Some(s);
                        out(WatcherEvent::Update { update: created });
                        return;
                    }
                match session {
                    Some(s) => {
                        s.apply(&parsed, &config.passive, now_ms, &mut updates);
                        // Stream: memory stays bounded however much a poll reads.
                        for update in updates.drain(..) {
                            out(WatcherEvent::Update { update });
                        }
                    }
                    None if skipped_thread.is_some() => {}
                    None => stats.orphan_lines += 1,
                }
            });
            match outcome {
                Ok(o) => {
                    stats.bytes += o.bytes_read;
                    stats.lines += o.lines;
                    if !o.more {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let mut ended = false;
        if end_inactive
            && let Some(s) = session.as_mut()
            && let Some(update) = s.tick(&config.passive, now_ms)
        {
            out(WatcherEvent::Update { update });
            ended = true;
        }
        let after = reader.state().clone();
        if after != before || reset_seen || detached || ended {
            let cp = FileCheckpoint {
                reader: after,
                session: session.clone(),
                skipped_thread: skipped_thread.clone(),
            };
            self.store.save(path, &cp)?;
        }
        result
    }

    /// Walks `root` for `*.jsonl` files and processes each (the initial index and the catch-up
    /// sweep). Files known to the index but gone from disk are processed too (ending them).
    pub fn sweep(&mut self, root: &Path, now_ms: i64, out: &mut impl FnMut(WatcherEvent)) {
        let mut found = Vec::new();
        collect_jsonl(root, &mut found);
        // Newest first: Codex names rollouts `YYYY/MM/DD/rollout-<time>-<id>.jsonl`, so reverse
        // path order is reverse time order, and a first start on a long history lists the
        // sessions a user most likely wants first.
        found.sort_by(|a, b| b.cmp(a));
        let seen: HashSet<&PathBuf> = found.iter().collect();
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| p.starts_with(root) && !seen.contains(p))
            .cloned()
            .collect();
        let total = found.len() + gone.len();
        out(WatcherEvent::SweepProgress { done: 0, total });
        for (i, p) in found.iter().chain(gone.iter()).enumerate() {
            self.process_file_with(p, now_ms, true, out);
            out(WatcherEvent::SweepProgress { done: i + 1, total });
        }
    }

    /// Ends sessions inactive for the configured timeout.
    pub fn tick(&mut self, now_ms: i64, out: &mut impl FnMut(WatcherEvent)) {
        let cfg = self.config.passive;
        let mut changed = Vec::new();
        for (path, f) in &mut self.files {
            if let Some(s) = &mut f.session
                && let Some(update) = s.tick(&cfg, now_ms)
            {
                out(WatcherEvent::Update { update });
                changed.push(path.clone());
            }
        }
        for path in changed {
            if let Some(f) = self.files.get(&path) {
                let cp = FileCheckpoint {
                    reader: f.reader.state().clone(),
                    session: f.session.clone(),
                    skipped_thread: f.skipped_thread.clone(),
                };
                if let Err(e) = self.store.save(&path, &cp) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot save checkpoint");
                }
            }
        }
    }
}

fn count_unknown(stats: &mut IndexStats, warned: &mut HashSet<String>, line: &RolloutLine) {
    let (map, kind) = match line {
        RolloutLine::Other { kind, .. } => (&mut stats.unknown_line_types, kind.as_str()),
        RolloutLine::EventMsg(EventMsg::Other { kind, .. }) => {
            (&mut stats.unknown_event_types, kind.as_str())
        }
        RolloutLine::ResponseItem(ResponseItem::Other { kind, .. }) => {
            (&mut stats.unknown_item_types, kind.as_str())
        }
        _ => return,
    };
    *map.entry(kind.to_owned()).or_default() += 1;
    let key = format!("{}/{kind}", line.kind());
    if !warned.contains(&key) {
        tracing::info!(kind = %key, "unknown rollout type; counted and skipped (logged once)");
        warned.insert(key);
    }
}

/// Recursively collects `*.jsonl` files (symlinks not followed).
pub fn collect_jsonl(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        if ft.is_dir() {
            collect_jsonl(&p, out);
        } else if ft.is_file() && p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}
