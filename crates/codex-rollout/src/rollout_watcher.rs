//! Watches `CODEX_HOME/sessions` and drives a [`RolloutIndex`] on its own thread.
//!
//! * `notify` watches the directory recursively. Events are debounced per file: a file is read
//!   [`WatcherConfig::debounce`] (150 ms) after the *first* event of a burst, so a busy file is
//!   read at least every 150 ms instead of being starved by a trailing debounce.
//! * A catch-up sweep walks the tree every [`WatcherConfig::sweep_interval`]: file-system events
//!   can be dropped (inotify queue overflow, files created in a new directory before its watch
//!   was added, network file systems), the sweep makes that a delay rather than a loss. The first
//!   sweep at start is the initial index.
//! * A directory that does not exist yet (a fresh `CODEX_HOME`) is retried on each sweep.
//! * Every second (or [`WatcherConfig::tick_interval`]) inactive sessions are ended.
//! * Events go to a caller-supplied sink; a failing file is reported and retried, never fatal.
//!
//! The thread runs no async runtime, so the crate does not tie the server to one; the sink is a
//! plain callback (the server forwards into its actor's channel).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::error::{Error, Result};
use crate::passive_session::now_ms;
use crate::rollout_index::{
    IndexConfig, IndexStats, OffsetStore, RolloutIndex, SkipFn, WatcherEvent,
};

/// Tuning of a [`RolloutWatcher`].
#[derive(Debug, Clone)]
pub struct WatcherConfig {
    /// The directory to watch, normally `CODEX_HOME/sessions`.
    pub sessions_dir: PathBuf,
    /// Delay from the first event of a burst to reading the file (default 150 ms).
    pub debounce: Duration,
    /// Period of the catch-up sweep (default 10 s).
    pub sweep_interval: Duration,
    /// Period of the inactivity check (default 1 s).
    pub tick_interval: Duration,
    /// Index tuning.
    pub index: IndexConfig,
}

impl WatcherConfig {
    /// Defaults for `sessions_dir`.
    pub fn new(sessions_dir: impl Into<PathBuf>) -> Self {
        Self {
            sessions_dir: sessions_dir.into(),
            debounce: Duration::from_millis(150),
            sweep_interval: Duration::from_secs(10),
            tick_interval: Duration::from_secs(1),
            index: IndexConfig::default(),
        }
    }
}

/// Receives watcher events, on the watcher thread.
pub type EventSink = Box<dyn FnMut(WatcherEvent) + Send>;

enum Msg {
    Fs(notify::Result<notify::Event>),
    Sweep(Option<mpsc::Sender<IndexStats>>),
    Stop,
}

/// A running watcher; dropping it stops the thread.
#[derive(Debug)]
pub struct RolloutWatcher {
    tx: mpsc::Sender<Msg>,
    join: Option<JoinHandle<()>>,
}

impl RolloutWatcher {
    /// Starts watching. Checkpoints are restored from `store` before the initial sweep.
    pub fn start(
        config: WatcherConfig,
        store: Box<dyn OffsetStore>,
        skip: SkipFn,
        sink: EventSink,
    ) -> Result<Self> {
        let index = RolloutIndex::new(config.index, store, skip)?;
        let (tx, rx) = mpsc::channel();
        let fs_tx = tx.clone();
        let watcher = notify::recommended_watcher(move |res| {
            let _ = fs_tx.send(Msg::Fs(res));
        })
        .map_err(|source| Error::Watch {
            path: config.sessions_dir.clone(),
            source,
        })?;
        let join = std::thread::Builder::new()
            .name("rollout-watcher".into())
            .spawn(move || run(config, index, watcher, rx, sink))
            .map_err(|source| Error::Io {
                path: PathBuf::from("<thread>"),
                op: "spawn",
                source,
            })?;
        Ok(Self {
            tx,
            join: Some(join),
        })
    }

    /// Runs a sweep now and returns the counters after it (bounded by `timeout`).
    pub fn sweep_now(&self, timeout: Duration) -> Result<IndexStats> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Msg::Sweep(Some(tx)))
            .map_err(|_| Error::Stopped)?;
        rx.recv_timeout(timeout).map_err(|_| Error::Stopped)
    }

    /// Stops the thread and waits for it (checkpoints are flushed first).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for RolloutWatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    config: WatcherConfig,
    mut index: RolloutIndex,
    mut watcher: notify::RecommendedWatcher,
    rx: mpsc::Receiver<Msg>,
    mut sink: EventSink,
) {
    let root = config.sessions_dir.clone();
    let mut watching = attach(&mut watcher, &root);
    index.sweep(&root, now_ms(), &mut sink);
    index.tick(now_ms(), &mut sink);
    flush(&mut index);

    let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
    let mut next_sweep = Instant::now() + config.sweep_interval;
    let mut next_tick = Instant::now() + config.tick_interval;
    loop {
        let now = Instant::now();
        let next_due = pending.values().min().copied();
        let wake = [Some(next_sweep), Some(next_tick), next_due]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_tick);
        let msg = rx.recv_timeout(wake.saturating_duration_since(now));
        match msg {
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            // inotify reports opens (our own reads among them): reacting to those would re-read
            // every file we just read, forever. Only changes matter.
            Ok(Msg::Fs(Ok(ev))) if matches!(ev.kind, notify::EventKind::Access(_)) => {}
            Ok(Msg::Fs(Ok(ev))) => {
                let due = Instant::now() + config.debounce;
                for p in ev.paths {
                    if p.extension().is_some_and(|x| x == "jsonl") {
                        pending.entry(p).or_insert(due);
                    } else if p.is_dir() {
                        // A new day directory: files created in it before the recursive watch
                        // reached it produce no event, so look inside now.
                        let mut found = Vec::new();
                        crate::rollout_index::collect_jsonl(&p, &mut found);
                        for f in found {
                            pending.entry(f).or_insert(due);
                        }
                    }
                }
            }
            Ok(Msg::Fs(Err(e))) => {
                // Typically an inotify queue overflow: the sweep catches up.
                tracing::warn!(error = %e, "file watch error; sweeping");
                next_sweep = Instant::now();
            }
            Ok(Msg::Sweep(reply)) => {
                if !watching {
                    watching = attach(&mut watcher, &root);
                }
                index.sweep(&root, now_ms(), &mut sink);
                flush(&mut index);
                if let Some(reply) = reply {
                    let _ = reply.send(index.stats().clone());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        let due: Vec<PathBuf> = pending
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for p in due {
            pending.remove(&p);
            index.process_file(&p, now_ms(), &mut sink);
        }
        if now >= next_sweep {
            if !watching {
                watching = attach(&mut watcher, &root);
            }
            index.sweep(&root, now_ms(), &mut sink);
            next_sweep = now + config.sweep_interval;
        }
        if now >= next_tick {
            index.tick(now_ms(), &mut sink);
            next_tick = now + config.tick_interval;
        }
        flush(&mut index);
    }
    if let Err(e) = index.flush() {
        tracing::warn!(error = %e, "cannot flush rollout checkpoints");
    }
}

fn attach(watcher: &mut notify::RecommendedWatcher, root: &Path) -> bool {
    if !root.is_dir() {
        return false;
    }
    match watcher.watch(root, RecursiveMode::Recursive) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(path = %root.display(), error = %e, "cannot watch sessions directory; relying on sweeps");
            false
        }
    }
}

/// Checkpoints are saved after their events went to the sink; make them durable.
fn flush(index: &mut RolloutIndex) {
    if let Err(e) = index.flush() {
        tracing::warn!(error = %e, "cannot flush rollout checkpoints");
    }
}
