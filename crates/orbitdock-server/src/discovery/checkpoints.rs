//! Where passive readers stopped, kept in SQLite next to the items they produced.
//!
//! A reader's checkpoint (byte offset, unfinished last line, file identity, and the state built
//! from the lines so far) is only true together with the items those lines became. Kept in a
//! separate file, a crash between writing one and the other re-adds items (checkpoint behind
//! the items) or loses them (checkpoint ahead); deleting the file re-adds everything. So the
//! checkpoint travels as a [`PersistOp::SaveCheckpoint`] in the SAME writer command as the
//! items read up to it (see [`crate::session::SessionHandle::ingest_with_ops`]): the single
//! writer commits both in one transaction, and a restart resumes exactly after the last
//! committed item.
//!
//! For Codex rollouts the watcher thread calls [`OffsetStore::save`] right after handing out
//! the events of a poll; [`SqliteOffsetStore`] turns that call into a [`Feed::Checkpoint`] on
//! the same channel as the events, so the task applying them knows where a poll ends and
//! attaches the checkpoint to that poll's items.
//!
//! Earlier builds kept rollout checkpoints in `DATA_DIR/codex-rollout-state.json`;
//! [`import_json_checkpoints`] moves them into the database on the first start and removes the
//! file once they are committed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use codex_rollout::{FileCheckpoint, JsonFileStore, OffsetStore, WatcherEvent};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::store::{CheckpointSource, Command, PersistOp, Store};

/// What the rollout watcher thread sends to the task applying its work, in order.
#[derive(Debug)]
pub(crate) enum Feed {
    /// An event to apply.
    Event(WatcherEvent),
    /// The events before this one bring `path` up to `checkpoint` (`None`: the file is gone).
    Checkpoint {
        /// The rollout file.
        path: PathBuf,
        /// Its new checkpoint.
        checkpoint: Option<Box<FileCheckpoint>>,
    },
}

/// Rollout checkpoints in the server's database: loaded once at start, saved through the
/// apply task (see the module docs).
#[derive(Debug)]
pub(crate) struct SqliteOffsetStore {
    initial: Vec<(PathBuf, FileCheckpoint)>,
    tx: mpsc::Sender<Feed>,
}

impl SqliteOffsetStore {
    /// A store starting from the committed checkpoints, sending saves into `tx`.
    pub(crate) fn new(initial: Vec<(PathBuf, FileCheckpoint)>, tx: mpsc::Sender<Feed>) -> Self {
        Self { initial, tx }
    }

    fn send(&self, feed: Feed) -> codex_rollout::Result<()> {
        // The watcher thread is not a runtime thread: blocking here is back-pressure.
        self.tx
            .blocking_send(feed)
            .map_err(|_| codex_rollout::Error::Stopped)
    }
}

impl OffsetStore for SqliteOffsetStore {
    fn load_all(&mut self) -> codex_rollout::Result<Vec<(PathBuf, FileCheckpoint)>> {
        Ok(std::mem::take(&mut self.initial))
    }

    fn save(&mut self, path: &Path, checkpoint: &FileCheckpoint) -> codex_rollout::Result<()> {
        self.send(Feed::Checkpoint {
            path: path.to_path_buf(),
            checkpoint: Some(Box::new(checkpoint.clone())),
        })
    }

    fn remove(&mut self, path: &Path) -> codex_rollout::Result<()> {
        self.send(Feed::Checkpoint {
            path: path.to_path_buf(),
            checkpoint: None,
        })
    }
}

/// The op recording (or forgetting) a checkpoint of `source` for `path`.
pub(crate) fn checkpoint_op<T: serde::Serialize>(
    source: CheckpointSource,
    path: &Path,
    checkpoint: Option<&T>,
) -> Result<PersistOp> {
    let path = path.to_string_lossy().into_owned();
    Ok(match checkpoint {
        Some(cp) => PersistOp::SaveCheckpoint {
            source,
            path,
            checkpoint: serde_json::to_string(cp).map_err(|e| Error::Decode {
                what: format!("{} checkpoint", source.as_str()),
                source: e,
            })?,
        },
        None => PersistOp::RemoveCheckpoint { source, path },
    })
}

/// The committed checkpoints of `source`. A row that does not decode is logged and left out:
/// its file is read again from the start, whose items keep their ids (an update, not a copy).
pub(crate) async fn load<T>(store: &Store, source: CheckpointSource) -> Result<Vec<(PathBuf, T)>>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    let rows = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.load_checkpoints(source))
            .await
            .map_err(|e| Error::Closed(format!("checkpoint load task: {e}")))??
    };
    let mut out = Vec::with_capacity(rows.len());
    for (path, json) in rows {
        match serde_json::from_str::<T>(&json) {
            Ok(cp) => out.push((PathBuf::from(path), cp)),
            Err(e) => tracing::warn!(
                source = source.as_str(), path = %path, error = %e,
                "undecodable checkpoint; the file is read again from the start"
            ),
        }
    }
    Ok(out)
}

/// Moves the checkpoints of a JSON checkpoint file (earlier builds) into the database, then
/// removes the file. Entries for files the database already knows are left out: the database
/// is newer (a crash after the import committed but before the file was removed). An
/// unreadable file is renamed aside with a warning; its rollouts are read from the start.
/// Returns how many checkpoints were imported.
pub(crate) async fn import_json_checkpoints(store: &Store, file: &Path) -> Result<usize> {
    if !file.exists() {
        return Ok(0);
    }
    let entries = match JsonFileStore::open(file).and_then(|mut s| s.load_all()) {
        Ok(e) => e,
        Err(e) => {
            let aside = file.with_extension("json.unreadable");
            tracing::warn!(file = %file.display(), error = %e, aside = %aside.display(),
                "cannot read the old rollout checkpoint file; moved aside, rollouts are read from the start");
            if let Err(e) = std::fs::rename(file, &aside) {
                tracing::warn!(file = %file.display(), error = %e, "cannot move the old rollout checkpoint file aside");
            }
            return Ok(0);
        }
    };
    let known: HashSet<PathBuf> = load::<serde_json::Value>(store, CheckpointSource::CodexRollout)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let mut ops = Vec::new();
    for (path, cp) in &entries {
        if !known.contains(path) {
            ops.push(checkpoint_op(
                CheckpointSource::CodexRollout,
                path,
                Some(cp),
            )?);
        }
    }
    let imported = ops.len();
    if !ops.is_empty() {
        store
            .submit_and_wait(Command {
                ops,
                ..Command::default()
            })
            .await?;
    }
    // Imported entries lose to the database's on a later start, so a file that stays is
    // harmless; not worth refusing to watch over.
    if let Err(e) = std::fs::remove_file(file) {
        tracing::warn!(file = %file.display(), error = %e, "cannot remove the imported rollout checkpoint file");
    }
    tracing::info!(file = %file.display(), imported, "rollout checkpoints moved into the database");
    Ok(imported)
}
