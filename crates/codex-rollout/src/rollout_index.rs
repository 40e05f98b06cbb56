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
//!
//! Memory: a heavy user's history is tens of thousands of files, nearly all of them finished
//! sessions that will never change. A file read to its end whose session has ended (or whose
//! thread the server drives) is *parked*: its checkpoint is kept as deflated JSON (well under a
//! kilobyte) with the file's length, mtime, device and inode, instead of a reader and a session
//! (kilobytes of strings and recent item keys each). A poll of a parked file that stat shows
//! unchanged does nothing; a change unparks it and the reader takes over from the checkpoint
//! exactly as before (appends are read from the offset, truncations and replacements reset).
//! Checkpoints restored at start are parked too and verified by a real read on their first poll.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::passive_session::{
    EndReason, GitFacts, PassiveConfig, PassiveSession, SessionUpdate, SessionView, resolve_git,
};
use crate::rollout_line::{EventMsg, ResponseItem, RolloutLine, parse_line};
use crate::rollout_reader::{
    ReadItem, ReaderConfig, ReaderState, ResetReason, RolloutReader, dev_ino,
};

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

/// A file being read: its reader and session in memory.
#[derive(Debug)]
struct OpenFile {
    reader: RolloutReader,
    session: Option<PassiveSession>,
    skipped_thread: Option<String>,
}

/// A file read to its end whose session has ended (or whose thread the server drives): nothing
/// in it can change until the file does. A long history is almost entirely such files, and an
/// [`OpenFile`] costs kilobytes (its session's strings, recent item keys, a path per reader), so
/// it is kept as its checkpoint, deflated JSON, plus what tells whether the file changed.
#[derive(Debug)]
struct ParkedFile {
    /// The file as it was when parked; `None` for a checkpoint restored at start, which is
    /// checked by reading (the reader verifies identity and length) on its first poll.
    stat: Option<FileStat>,
    /// The thread of the parked session, so a thread the server starts driving is still
    /// detached on the next poll even though the file did not change.
    thread_id: Option<Box<str>>,
    /// The [`FileCheckpoint`], JSON deflated.
    checkpoint: Box<[u8]>,
}

/// What tells that a file changed: an append, a truncation or a replacement changes one, and so
/// does a rewrite in place unless it keeps the length and lands within the file system's
/// timestamp granularity of the last read (Codex only appends to its rollouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStat {
    len: u64,
    mtime_ns: i128,
    dev: u64,
    ino: u64,
}

impl FileStat {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime_ns = match meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        let (dev, ino) = dev_ino(&meta);
        Some(Self {
            len: meta.len(),
            mtime_ns,
            dev,
            ino,
        })
    }
}

#[derive(Debug)]
enum FileEntry {
    Open(Box<OpenFile>),
    Parked(ParkedFile),
}

impl OpenFile {
    fn from_checkpoint(path: &Path, cp: FileCheckpoint, config: ReaderConfig) -> Self {
        Self {
            reader: RolloutReader::with_state(path, cp.reader, config),
            session: cp.session,
            skipped_thread: cp.skipped_thread,
        }
    }

    fn checkpoint(&self) -> FileCheckpoint {
        FileCheckpoint {
            reader: self.reader.state().clone(),
            session: self.session.clone(),
            skipped_thread: self.skipped_thread.clone(),
        }
    }

    /// Whether nothing but a change of the file can change this entry: no unfinished line, and
    /// either an ended session or a thread the server drives.
    fn at_rest(&self) -> bool {
        let state = self.reader.state();
        state.pending.is_empty()
            && !state.skipping
            && match &self.session {
                Some(s) => s.view().status == crate::passive_session::SessionStatus::Ended,
                None => self.skipped_thread.is_some(),
            }
    }
}

impl ParkedFile {
    /// Parks a checkpoint. `None` if it cannot be encoded (then the file stays open).
    fn new(cp: &FileCheckpoint, stat: Option<FileStat>) -> Option<Self> {
        let json = serde_json::to_vec(cp).ok()?;
        Some(Self {
            stat,
            thread_id: cp.session.as_ref().map(|s| Box::from(s.thread_id())),
            checkpoint: miniz_oxide::deflate::compress_to_vec(&json, 1).into_boxed_slice(),
        })
    }

    fn checkpoint(&self) -> Result<FileCheckpoint> {
        let corrupt = |what: String| Error::Parked(what);
        let json = miniz_oxide::inflate::decompress_to_vec(&self.checkpoint)
            .map_err(|e| corrupt(format!("inflate: {e:?}")))?;
        serde_json::from_slice(&json).map_err(|e| corrupt(format!("decode: {e}")))
    }
}

impl FileEntry {
    /// The entry for a checkpoint: parked when at rest.
    fn restore(path: &Path, cp: FileCheckpoint, config: ReaderConfig) -> Self {
        let open = OpenFile::from_checkpoint(path, cp, config);
        Self::Open(Box::new(open)).rested(None)
    }

    /// Parks an open entry at rest (with the file's current stat), else returns it unchanged.
    fn rested(self, stat: Option<FileStat>) -> Self {
        match self {
            Self::Open(open) if open.at_rest() => {
                // Only when the stat matches what was read: a line appended between the read
                // and the stat keeps the file open, to be read on the next event.
                if stat.is_some_and(|s| s.len != open.reader.state().offset) {
                    return Self::Open(open);
                }
                match ParkedFile::new(&open.checkpoint(), stat) {
                    Some(p) => Self::Parked(p),
                    None => Self::Open(open),
                }
            }
            other => other,
        }
    }

    /// [`Self::rested`] in place.
    fn rest(&mut self, stat: Option<FileStat>) {
        let placeholder = Self::Parked(ParkedFile {
            stat: None,
            thread_id: None,
            checkpoint: Box::default(),
        });
        let entry = std::mem::replace(self, placeholder);
        *self = entry.rested(stat);
    }

    /// The open form, unparking (decoding the checkpoint) if needed.
    fn open(&mut self, path: &Path, config: ReaderConfig) -> Result<&mut OpenFile> {
        if let Self::Parked(p) = self {
            let cp = p.checkpoint()?;
            *self = Self::Open(Box::new(OpenFile::from_checkpoint(path, cp, config)));
        }
        match self {
            Self::Open(o) => Ok(o),
            Self::Parked(_) => unreachable!("unparked just above"),
        }
    }

    /// The session's view (decoded for a parked file).
    fn view(&self) -> Option<SessionView> {
        match self {
            Self::Open(o) => o.session.as_ref().map(|s| s.view().clone()),
            Self::Parked(p) => p
                .checkpoint()
                .ok()
                .and_then(|cp| cp.session)
                .map(|s| s.view().clone()),
        }
    }
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
            let entry = FileEntry::restore(&path, cp, config.reader);
            files.insert(path, entry);
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
    pub fn session(&self, thread_id: &str) -> Option<SessionView> {
        self.files
            .values()
            .filter_map(FileEntry::view)
            .find(|v| v.thread_id == thread_id)
    }

    /// Views of every passive session.
    pub fn sessions(&self) -> Vec<SessionView> {
        let mut v: Vec<SessionView> = self.files.values().filter_map(FileEntry::view).collect();
        v.sort_by(|a, b| a.thread_id.cmp(&b.thread_id));
        v
    }

    /// How many files are parked: read to their end with their session ended (or driven by the
    /// server), kept compact until they change.
    pub fn parked_files(&self) -> usize {
        self.files
            .values()
            .filter(|f| matches!(f, FileEntry::Parked(_)))
            .count()
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
            if let Some(mut entry) = self.files.remove(path) {
                self.stats.files = self.files.len() as u64;
                // A parked session has ended already: nothing to end.
                let session = match &mut entry {
                    FileEntry::Open(o) => o.session.take(),
                    FileEntry::Parked(_) => None,
                };
                if let Some(mut s) = session
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
                FileEntry::Open(Box::new(OpenFile {
                    reader: RolloutReader::new(path, config.reader),
                    session: None,
                    skipped_thread: None,
                })),
            );
            self.stats.files = self.files.len() as u64;
        }
        let Some(slot) = self.files.get_mut(path) else {
            return Ok(());
        };
        if let FileEntry::Parked(p) = &*slot
            && let Some(stat) = p.stat
            && FileStat::of(path) == Some(stat)
            && !p.thread_id.as_deref().is_some_and(|t| (self.skip)(t))
        {
            // Unchanged since it was read to the end, and still not driven by the server.
            return Ok(());
        }
        let entry = slot.open(path, config.reader)?;
        let before = entry.reader.state().clone();
        let stats = &mut self.stats;
        let warned = &mut self.warned;
        let git_cache = &mut self.git_cache;
        let skip = &self.skip;
        let OpenFile {
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
        if result.is_ok()
            && let Some(slot) = self.files.get_mut(path)
        {
            slot.rest(FileStat::of(path));
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
            // A parked file's session has ended: no tick can change it.
            if let FileEntry::Open(f) = f
                && let Some(s) = &mut f.session
                && let Some(update) = s.tick(&cfg, now_ms)
            {
                out(WatcherEvent::Update { update });
                changed.push(path.clone());
            }
        }
        for path in changed {
            if let Some(FileEntry::Open(f)) = self.files.get(&path) {
                let cp = f.checkpoint();
                if let Err(e) = self.store.save(&path, &cp) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot save checkpoint");
                }
            }
            // Ended now: park it.
            if let Some(slot) = self.files.get_mut(&path) {
                slot.rest(FileStat::of(&path));
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::passive_session::TranscriptItem;

    /// Long after every line written here: a sweep ends (and parks) every session it reads.
    const LATER_MS: i64 = 4_000_000_000_000;

    fn meta(id: &str) -> String {
        format!(
            "{{\"timestamp\":\"2026-01-01T00:00:00Z\",\"type\":\"session_meta\",\"payload\":{{\"id\":\"{id}\",\"cwd\":\"/nonexistent\",\"cli_version\":\"0.169.0\"}}}}\n"
        )
    }

    fn user(text: &str) -> String {
        format!(
            "{{\"timestamp\":\"2026-01-01T00:00:01Z\",\"type\":\"event_msg\",\"payload\":{{\"type\":\"user_message\",\"message\":\"{text}\"}}}}\n"
        )
    }

    fn append(path: &Path, data: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open");
        f.write_all(data.as_bytes()).expect("write");
    }

    /// A directory with one rollout of thread `id`: its meta line and prompts "one" and "two".
    fn two_prompts(id: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join(format!("rollout-{id}.jsonl"));
        append(&f, &format!("{}{}{}", meta(id), user("one"), user("two")));
        (dir, f)
    }

    fn index(store: Box<dyn OffsetStore>, skip: SkipFn) -> RolloutIndex {
        let config = IndexConfig {
            resolve_git: false,
            ..IndexConfig::default()
        };
        RolloutIndex::new(config, store, skip).expect("index")
    }

    fn sweep(index: &mut RolloutIndex, root: &Path) -> Vec<WatcherEvent> {
        let mut out = Vec::new();
        index.sweep(root, LATER_MS, &mut |e| out.push(e));
        out.retain(|e| !matches!(e, WatcherEvent::SweepProgress { .. }));
        out
    }

    fn process(index: &mut RolloutIndex, path: &Path) -> Vec<WatcherEvent> {
        let mut out = Vec::new();
        index.process_file(path, LATER_MS, &mut |e| out.push(e));
        out
    }

    fn user_texts(events: &[WatcherEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                WatcherEvent::Update {
                    update: SessionUpdate::ItemAppended { entry, .. },
                } => match &entry.item {
                    TranscriptItem::User { text } => Some(text.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    fn ended(events: &[WatcherEvent]) -> usize {
        events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    WatcherEvent::Update {
                        update: SessionUpdate::Ended { .. }
                    }
                )
            })
            .count()
    }

    #[test]
    fn a_parked_file_picks_up_appends_with_its_session_state() {
        let (dir, f) = two_prompts("t-a");
        let mut idx = index(Box::new(MemoryStore::default()), skip_none());

        let first = sweep(&mut idx, dir.path());
        assert_eq!(user_texts(&first), ["one", "two"]);
        assert_eq!(ended(&first), 1);
        assert_eq!(idx.parked_files(), 1, "an ended, fully read file is parked");

        // Unchanged: nothing read, nothing reported, still parked.
        assert!(process(&mut idx, &f).is_empty());
        assert!(sweep(&mut idx, dir.path()).is_empty());
        assert_eq!(idx.parked_files(), 1);

        // Appended (a resumed thread): read from where it stopped, counts carried on.
        append(&f, &user("three"));
        let more = process(&mut idx, &f);
        assert_eq!(user_texts(&more), ["three"]);
        let view = idx.session("t-a").expect("session");
        assert_eq!(view.prompt_count, 3);
        assert_eq!(view.first_prompt.as_deref(), Some("one"));
        // Its last line is old: the next tick ends it again, and it is parked again.
        let mut out = Vec::new();
        idx.tick(LATER_MS, &mut |e| out.push(e));
        assert_eq!(ended(&out), 1);
        assert_eq!(idx.parked_files(), 1);
        assert_eq!(idx.sessions().len(), 1);
    }

    #[test]
    fn a_truncated_parked_file_is_read_again() {
        let (dir, f) = two_prompts("t-b");
        let mut idx = index(Box::new(MemoryStore::default()), skip_none());
        sweep(&mut idx, dir.path());
        assert_eq!(idx.parked_files(), 1);

        std::fs::write(&f, format!("{}{}", meta("t-b"), user("three"))).expect("rewrite");
        let events = process(&mut idx, &f);
        assert!(
            events.iter().any(|e| matches!(
                e,
                WatcherEvent::FileReset {
                    reason: ResetReason::Truncated,
                    ..
                }
            )),
            "{events:?}"
        );
        assert_eq!(user_texts(&events), ["three"]);
        let view = idx.session("t-b").expect("session");
        assert_eq!(view.prompt_count, 1);
        assert_eq!(view.first_prompt.as_deref(), Some("three"));
    }

    #[test]
    fn a_restart_restores_parked_files_without_reading_them_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sessions = dir.path().join("sessions");
        std::fs::create_dir_all(&sessions).expect("mkdir");
        let store_path = dir.path().join("state.json");
        let f = sessions.join("rollout-c.jsonl");
        append(
            &f,
            &format!("{}{}{}", meta("t-c"), user("one"), user("two")),
        );
        {
            let store = JsonFileStore::open(&store_path).expect("store");
            let mut idx = index(Box::new(store), skip_none());
            assert_eq!(user_texts(&sweep(&mut idx, &sessions)), ["one", "two"]);
            idx.flush().expect("flush");
        }

        let store = JsonFileStore::open(&store_path).expect("store");
        let mut idx = index(Box::new(store), skip_none());
        assert_eq!(idx.parked_files(), 1, "restored at rest, so parked");
        let again = sweep(&mut idx, &sessions);
        assert!(
            !again
                .iter()
                .any(|e| matches!(e, WatcherEvent::Update { .. })),
            "nothing imported twice: {again:?}"
        );
        assert_eq!(idx.parked_files(), 1);

        append(&f, &user("three"));
        let more = process(&mut idx, &f);
        assert_eq!(user_texts(&more), ["three"]);
        assert_eq!(idx.session("t-c").expect("session").prompt_count, 3);
    }

    #[test]
    fn a_parked_thread_the_server_starts_driving_is_detached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("rollout-d.jsonl");
        append(&f, &format!("{}{}", meta("t-d"), user("one")));
        let driven = Arc::new(AtomicBool::new(false));
        let skip: SkipFn = {
            let driven = driven.clone();
            Arc::new(move |t: &str| t == "t-d" && driven.load(Ordering::SeqCst))
        };
        let mut idx = index(Box::new(MemoryStore::default()), skip);
        sweep(&mut idx, dir.path());
        assert_eq!(idx.parked_files(), 1);

        driven.store(true, Ordering::SeqCst);
        let events = process(&mut idx, &f);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, WatcherEvent::Detached { thread_id } if thread_id == "t-d")),
            "{events:?}"
        );
        assert!(idx.sessions().is_empty());
        // A driven thread's file is at rest too.
        assert_eq!(idx.parked_files(), 1);
        assert!(process(&mut idx, &f).is_empty());
    }
}
