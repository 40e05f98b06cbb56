//! Claude Code transcripts -> the items of passive Claude sessions.
//!
//! Hook payloads say what happens (status, the tool running) but carry no answers, no
//! reasoning and no diffs; the transcript they name (`transcript_path`,
//! `<config dir>/projects/<cwd slug>/<session id>.jsonl`) has everything. One task tails every
//! transcript a hook named:
//!
//! * Reading is incremental with the same guarantees as rollouts, by the same reader
//!   ([`codex_rollout::RolloutReader`]: an append-only JSONL file, nothing Codex-specific): an
//!   unfinished last line waits for its newline, a truncated or rewritten file is read again
//!   from the start (items keep their ids, so that updates rather than copies them), and lines
//!   that are not UTF-8, too long or not JSON are counted in the checkpoint, logged and skipped.
//! * Lines become events through the Claude connector's own translation
//!   ([`Translator::transcript_line`]): prompts, answers, thinking, Bash as command items,
//!   Edit/Write as diffs, other tools as tool calls with their results. Each tool call counts
//!   in the summary (tool count, last tool; a rewritten file read again counts only the calls
//!   beyond those it already counted) and each line's `gitBranch` names the branch.
//! * A hook event polls its transcript at once; Claude may append the lines a hook is about a
//!   moment after the hook ran, so a transcript touched in the last [`ACTIVE_FOR`] is also
//!   polled every [`POLL_INTERVAL`].
//! * The checkpoint (reader state, tool calls still waiting for their result, counters) is
//!   committed in the same transaction as the items of the lines before it (see
//!   [`super::checkpoints`]); at start every known transcript is polled once, so what a
//!   terminal wrote while the server was down shows up.
//! * A session OrbitDock took over is driven directly (its connector reports the same
//!   conversation): its transcript is forgotten.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use codex_rollout::{ReadItem, ReaderConfig, ReaderState, RolloutReader};
use orbitdock_protocol::Origin;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::checkpoints;
use crate::connector::claude::translate::Translator;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::session::SessionEvent;
use crate::store::{CheckpointSource, Command};

/// How often recently active transcripts are polled besides the polls hooks trigger.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long after its last hook or new line a transcript keeps being polled.
pub const ACTIVE_FOR: Duration = Duration::from_secs(120);
/// Bytes read per poll step; each step commits its items with its checkpoint, so a long
/// transcript read for the first time never sits in memory whole.
const STEP_BYTES: u64 = 4 * 1024 * 1024;
/// Hook notifications waiting for the task (a full queue is caught up by the periodic poll).
const QUEUE: usize = 1024;

/// Lines that could not be used, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BadLines {
    /// Not JSON.
    pub malformed: u64,
    /// Not UTF-8.
    pub invalid_utf8: u64,
    /// Over the reader's line cap.
    pub too_long: u64,
}

/// What is committed per transcript, with the items read up to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranscriptCheckpoint {
    /// The OrbitDock session the transcript feeds.
    pub session_id: String,
    /// Offset, unfinished last line and file identity.
    pub reader: ReaderState,
    /// Tool calls read whose result has not been read yet: id -> (name, input).
    pub open_tools: BTreeMap<String, (String, Value)>,
    /// The branch last reported.
    pub git_branch: Option<String>,
    /// Lines skipped so far.
    pub bad_lines: BadLines,
    /// Tool calls read since the reader last started from the beginning of the file.
    pub tools_seen: u64,
    /// Tool calls counted in the summary: a file read again from the start (rewritten) counts
    /// only the calls beyond these.
    pub tools_counted: u64,
}

/// Handle to the transcript task.
#[derive(Debug, Clone)]
pub struct ClaudeTranscripts {
    tx: mpsc::Sender<(PathBuf, String)>,
}

impl ClaudeTranscripts {
    /// Starts the task from the committed checkpoints; it stops with `stop`.
    pub async fn start(registry: &Arc<Registry>, stop: CancellationToken) -> Result<Self> {
        let known: Vec<(PathBuf, TranscriptCheckpoint)> =
            checkpoints::load(registry.store(), CheckpointSource::ClaudeTranscript).await?;
        let now = Instant::now();
        let tails = known
            .into_iter()
            .map(|(path, cp)| {
                let tail = Tail::restore(&path, cp, now);
                (path, tail)
            })
            .collect();
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(Arc::downgrade(registry), rx, stop, tails));
        Ok(Self { tx })
    }

    /// A hook of `session_id` named `path`: poll it now and keep polling it for a while.
    pub fn touch(&self, path: PathBuf, session_id: String) {
        if self.tx.try_send((path, session_id)).is_err() {
            tracing::debug!("transcript queue full or stopped; the periodic poll catches up");
        }
    }
}

/// One transcript being tailed.
struct Tail {
    session_id: String,
    reader: RolloutReader,
    translator: Translator,
    git_branch: Option<String>,
    bad_lines: BadLines,
    tools_seen: u64,
    tools_counted: u64,
    active_until: Instant,
}

fn reader_config() -> ReaderConfig {
    ReaderConfig {
        max_bytes_per_poll: Some(STEP_BYTES),
        ..ReaderConfig::default()
    }
}

impl Tail {
    fn new(path: &std::path::Path, session_id: String, now: Instant) -> Self {
        Self::restore(
            path,
            TranscriptCheckpoint {
                session_id,
                ..TranscriptCheckpoint::default()
            },
            now,
        )
    }

    fn restore(path: &std::path::Path, cp: TranscriptCheckpoint, now: Instant) -> Self {
        let mut translator = Translator::default();
        translator.restore_open_tools(cp.open_tools);
        Self {
            session_id: cp.session_id,
            reader: RolloutReader::with_state(path, cp.reader, reader_config()),
            translator,
            git_branch: cp.git_branch,
            bad_lines: cp.bad_lines,
            tools_seen: cp.tools_seen,
            tools_counted: cp.tools_counted,
            active_until: now,
        }
    }

    fn checkpoint(&self) -> TranscriptCheckpoint {
        TranscriptCheckpoint {
            session_id: self.session_id.clone(),
            reader: self.reader.state().clone(),
            open_tools: self.translator.open_tools(),
            git_branch: self.git_branch.clone(),
            bad_lines: self.bad_lines.clone(),
            tools_seen: self.tools_seen,
            tools_counted: self.tools_counted,
        }
    }
}

/// What one read step found, owned (the reader lends its lines).
enum Read {
    Reset,
    Line { offset: u64, text: String },
    InvalidUtf8 { offset: u64 },
    TooLong { offset: u64 },
}

async fn run(
    registry: Weak<Registry>,
    mut rx: mpsc::Receiver<(PathBuf, String)>,
    stop: CancellationToken,
    mut tails: HashMap<PathBuf, Tail>,
) {
    // What terminals wrote while the server was down.
    let known: Vec<PathBuf> = tails.keys().cloned().collect();
    for path in known {
        poll_logged(&registry, &mut tails, path).await;
    }
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            msg = rx.recv() => {
                let Some((path, session_id)) = msg else { break };
                let now = Instant::now();
                let tail = tails
                    .entry(path.clone())
                    .or_insert_with(|| Tail::new(&path, session_id.clone(), now));
                if tail.session_id != session_id {
                    // Another session now writes at this path (a new session given the same
                    // id): start over for it.
                    *tail = Tail::new(&path, session_id, now);
                }
                tail.active_until = now + ACTIVE_FOR;
                poll_logged(&registry, &mut tails, path).await;
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let active: Vec<PathBuf> = tails
                    .iter()
                    .filter(|(_, t)| t.active_until > now)
                    .map(|(p, _)| p.clone())
                    .collect();
                for path in active {
                    poll_logged(&registry, &mut tails, path).await;
                }
            }
        }
    }
}

async fn poll_logged(registry: &Weak<Registry>, tails: &mut HashMap<PathBuf, Tail>, path: PathBuf) {
    let Some(reg) = registry.upgrade() else {
        return;
    };
    if let Err(e) = poll(&reg, tails, &path).await {
        tracing::warn!(path = %path.display(), error = %e, "cannot read a Claude transcript; retried on the next poll");
    }
}

/// Reads what is new in `path` and hands it to its session, step by step.
async fn poll(
    registry: &Registry,
    tails: &mut HashMap<PathBuf, Tail>,
    path: &PathBuf,
) -> Result<()> {
    let Some(tail) = tails.get_mut(path) else {
        return Ok(());
    };
    let passive = registry
        .list_hub()
        .get(&tail.session_id)
        .is_some_and(|s| s.origin == Origin::Passive);
    if !passive {
        // Deleted, or taken over: the connector reports this conversation now.
        tails.remove(path);
        let op = checkpoints::checkpoint_op::<TranscriptCheckpoint>(
            CheckpointSource::ClaudeTranscript,
            path,
            None,
        )?;
        return registry
            .store()
            .submit(Command {
                ops: vec![op],
                ..Command::default()
            })
            .await;
    }
    // Only once there is something to hand over: a restart polls every known transcript, and
    // most have nothing new (their sessions need no actor for that).
    let mut handle = None;
    loop {
        let mut reader = std::mem::replace(
            &mut tail.reader,
            RolloutReader::new(path.clone(), reader_config()),
        );
        let (reader, outcome, read) = tokio::task::spawn_blocking(move || {
            let mut read = Vec::new();
            let outcome = reader.poll(|item| {
                read.push(match item {
                    ReadItem::Reset { .. } => Read::Reset,
                    ReadItem::Line { offset, text, .. } => Read::Line {
                        offset,
                        text: text.to_owned(),
                    },
                    ReadItem::InvalidUtf8 { offset, .. } => Read::InvalidUtf8 { offset },
                    ReadItem::TooLong { offset, .. } => Read::TooLong { offset },
                })
            });
            (reader, outcome, read)
        })
        .await
        .map_err(|e| Error::Closed(format!("transcript read task: {e}")))?;
        tail.reader = reader;
        let outcome = match outcome {
            Ok(o) => o,
            // Claude creates the file with the session's first line, possibly after the first
            // hook: nothing to read yet.
            Err(codex_rollout::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(());
            }
            Err(e) => return Err(Error::Persist(format!("reading the transcript: {e}"))),
        };
        if outcome.bytes_read == 0 && outcome.reset.is_none() {
            return Ok(());
        }
        tail.active_until = Instant::now() + ACTIVE_FOR;
        let mut events = Vec::new();
        for r in read {
            match r {
                Read::Reset => {
                    tracing::info!(path = %path.display(), "Claude transcript rewritten; reading it again from the start");
                    tail.translator = Translator::default();
                    tail.tools_seen = 0;
                }
                Read::Line { offset, text } => match serde_json::from_str::<Value>(&text) {
                    Ok(line) => {
                        if let Some(b) = line
                            .get("gitBranch")
                            .and_then(Value::as_str)
                            // What Claude records outside a branch (detached, or no commit yet).
                            .filter(|b| !b.is_empty() && *b != "HEAD")
                            && tail.git_branch.as_deref() != Some(b)
                        {
                            tail.git_branch = Some(b.to_owned());
                            events.push(SessionEvent::GitBranch(b.to_owned()));
                        }
                        for ev in tail.translator.transcript_line(&line) {
                            if let SessionEvent::ToolUsed(_) = ev {
                                tail.tools_seen += 1;
                                if tail.tools_seen <= tail.tools_counted {
                                    continue;
                                }
                                tail.tools_counted = tail.tools_seen;
                            }
                            events.push(ev);
                        }
                    }
                    Err(e) => {
                        tail.bad_lines.malformed += 1;
                        tracing::warn!(path = %path.display(), offset, error = %e, "malformed Claude transcript line; skipped");
                    }
                },
                Read::InvalidUtf8 { offset } => {
                    tail.bad_lines.invalid_utf8 += 1;
                    tracing::warn!(path = %path.display(), offset, "Claude transcript line is not UTF-8; skipped");
                }
                Read::TooLong { offset } => {
                    tail.bad_lines.too_long += 1;
                    tracing::warn!(path = %path.display(), offset, "Claude transcript line over the size cap; skipped");
                }
            }
        }
        let op = checkpoints::checkpoint_op(
            CheckpointSource::ClaudeTranscript,
            path,
            Some(&tail.checkpoint()),
        )?;
        let h = match handle.take() {
            Some(h) => h,
            None => registry.get(&tail.session_id).await?,
        };
        h.ingest_with_ops(events, vec![op]).await?;
        handle = Some(h);
        if !outcome.more {
            return Ok(());
        }
    }
}
