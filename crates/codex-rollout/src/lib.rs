//! Discovering Codex sessions started outside OrbitDock, by reading their rollout files.
//!
//! Codex appends every thread to `CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl`,
//! one `{timestamp, type, payload}` JSON object per line. This crate turns those files into
//! "passive" session views a server can show next to the sessions it drives itself:
//!
//! * [`rollout_reader`] — an incremental reader per file whose persisted state is the byte offset
//!   *and* the unfinished last line, so a restart neither loses nor repeats a line; it streams in
//!   bounded chunks, decodes only complete lines (multibyte characters split across reads
//!   survive), caps line length, and detects truncated or replaced files.
//! * [`rollout_line`] — typed parsing of the lines that matter, tolerant of the many types Codex
//!   adds between releases (kept raw, counted, logged once).
//! * [`passive_session`] — a serializable per-file state machine producing [`SessionUpdate`]s:
//!   created / changed fields / transcript item appended / ended after inactivity.
//! * [`rollout_index`] — all files with their checkpoints behind the [`OffsetStore`] trait (the
//!   server keeps them in SQLite), plus counters of what was skipped; finished files are kept
//!   compact ("parked") until they change, so memory does not grow by kilobytes per session.
//! * [`rollout_watcher`] — `notify` + 150 ms debounce + periodic catch-up sweep on a thread.
//!
//! Why a separate crate: it has no dependency on the server, so it is tested and benchmarked
//! against the real Codex binary on its own, and the server only maps [`SessionUpdate`]s to its
//! protocol. Threads the server drives itself are excluded with a skip predicate, never by
//! guessing from file contents, so a direct session cannot be duplicated by the watcher.

pub mod error;
pub mod passive_session;
pub mod rollout_index;
pub mod rollout_line;
pub mod rollout_reader;
pub mod rollout_watcher;

pub use error::{Error, Result};
pub use passive_session::{
    EndReason, GitFacts, PassiveConfig, PassiveSession, SessionPatch, SessionStatus, SessionUpdate,
    SessionView, TranscriptEntry, TranscriptItem, UsageView, slug_for,
};
pub use rollout_index::{
    FileCheckpoint, IndexConfig, IndexStats, JsonFileStore, MemoryStore, OffsetStore, RolloutIndex,
    SkipFn, WatcherEvent, skip_none,
};
pub use rollout_line::{LineError, ParsedLine, RolloutLine, parse_line};
pub use rollout_reader::{
    PollOutcome, ReadItem, ReaderConfig, ReaderState, ResetReason, RolloutReader,
};
pub use rollout_watcher::{EventSink, RolloutWatcher, WatcherConfig};
