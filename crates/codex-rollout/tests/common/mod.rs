//! Shared helpers: run the real pinned Codex, apply watcher events to a model of a server's
//! session registry, wait for conditions with a timeout.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codex_rollout::{SessionUpdate, SessionView, TranscriptEntry, WatcherEvent};
use serde_json::Value;

pub const EXEC_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs a `codex` command to completion (stdin null), bounded by a timeout; returns the JSONL
/// events from stdout. The child is killed on timeout.
pub fn run_codex(mut cmd: Command) -> Result<Vec<Value>> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().context("spawn codex")?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        let _ = tx.send((true, s));
    });
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        let _ = tx2.send((false, s));
    });
    let deadline = Instant::now() + EXEC_TIMEOUT;
    let (mut out, mut err) = (None, None);
    while out.is_none() || err.is_none() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((true, s)) => out = Some(s),
            Ok((false, s)) => err = Some(s),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("codex did not finish within {EXEC_TIMEOUT:?}");
            }
        }
    }
    let status = child.wait().context("wait codex")?;
    let out = out.unwrap_or_default();
    if !status.success() {
        bail!(
            "codex failed: {status}\nstdout: {out}\nstderr: {}",
            err.unwrap_or_default()
        );
    }
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect()
}

/// The `thread_id` of a `codex exec --json` run.
pub fn thread_id(events: &[Value]) -> Result<String> {
    events
        .iter()
        .find(|e| e["type"] == "thread.started")
        .and_then(|e| e["thread_id"].as_str())
        .map(str::to_owned)
        .context("no thread.started event")
}

/// The only rollout file under `home/sessions`.
pub fn single_rollout(home: &Path) -> Result<PathBuf> {
    let mut files = Vec::new();
    codex_rollout::rollout_index::collect_jsonl(&home.join("sessions"), &mut files);
    match files.as_slice() {
        [one] => Ok(one.clone()),
        other => bail!("expected one rollout file, found {other:?}"),
    }
}

/// What a server would hold after applying watcher events.
#[derive(Debug, Default)]
pub struct Registry {
    pub sessions: BTreeMap<String, SessionView>,
    pub items: BTreeMap<String, Vec<TranscriptEntry>>,
    pub created: usize,
    pub ended: usize,
    pub detached: Vec<String>,
    pub resets: usize,
    pub errors: Vec<String>,
}

impl Registry {
    pub fn apply(&mut self, ev: WatcherEvent) {
        match ev {
            WatcherEvent::Update { update } => match update {
                SessionUpdate::Created { view } => {
                    self.created += 1;
                    self.items.insert(view.thread_id.clone(), Vec::new());
                    self.sessions.insert(view.thread_id.clone(), *view);
                }
                SessionUpdate::Changed { thread_id, patch } => {
                    if let Some(v) = self.sessions.get_mut(&thread_id) {
                        v.apply_patch(&patch);
                    } else {
                        self.errors.push(format!("patch for unknown {thread_id}"));
                    }
                }
                SessionUpdate::ItemAppended { thread_id, entry } => {
                    self.items.entry(thread_id).or_default().push(entry);
                }
                SessionUpdate::Ended { thread_id, .. } => {
                    self.ended += 1;
                    if let Some(v) = self.sessions.get_mut(&thread_id) {
                        v.status = codex_rollout::SessionStatus::Ended;
                    }
                }
            },
            WatcherEvent::Detached { thread_id } => {
                self.sessions.remove(&thread_id);
                self.detached.push(thread_id);
            }
            WatcherEvent::FileReset { .. } => self.resets += 1,
            WatcherEvent::SweepProgress { .. } => {}
            WatcherEvent::FileError { path, message } => {
                self.errors.push(format!("{}: {message}", path.display()));
            }
        }
    }

    /// Applies events from `rx` until `cond` holds; panics with the registry on timeout.
    pub fn wait_until(
        &mut self,
        rx: &mpsc::Receiver<WatcherEvent>,
        timeout: Duration,
        what: &str,
        cond: impl Fn(&Registry) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !cond(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(ev) => self.apply(ev),
                Err(_) => {
                    panic!("timed out after {timeout:?} waiting for {what}; registry: {self:#?}")
                }
            }
        }
    }
}
