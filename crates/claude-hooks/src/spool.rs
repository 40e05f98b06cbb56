//! An append-only JSONL spool for hook payloads the server could not take (down or slow).
//!
//! * [`Spool::append`] takes an exclusive `flock` on the spool file, writes one line and
//!   `fsync`s before unlocking, so concurrent hook processes never interleave bytes and an
//!   acknowledged append survives a crash. If the file does not end in a newline (a writer was
//!   killed mid-line), a newline is written first: the torn fragment becomes its own line, which
//!   the drain reports as malformed instead of gluing it to the next payload.
//! * [`Spool::drain`] takes the same lock, hands every complete line to the server's callback
//!   and truncates only after the callback confirmed persistence (returned `Ok`). A last line
//!   without its newline is kept in the file for the next drain, never lost. Memory is bounded by
//!   the spool size cap ([`MAX_SPOOL_BYTES`]); appends beyond it are refused with an error.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// Largest spool file accepted (64 MiB): a server down for days must not fill the disk.
pub const MAX_SPOOL_BYTES: u64 = 64 * 1024 * 1024;

/// The spool file name inside the data dir.
pub const SPOOL_FILE: &str = "claude-hooks.spool.jsonl";

/// One complete spooled line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledLine {
    /// Byte offset in the spool at drain time.
    pub offset: u64,
    /// The line (no newline). Not necessarily valid JSON: a torn fragment of a killed writer
    /// is handed over too, for the server to count and log.
    pub text: String,
}

/// The spool file of a data dir.
#[derive(Debug, Clone)]
pub struct Spool {
    path: PathBuf,
}

/// What a drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrainOutcome {
    /// Complete lines handed over and removed.
    pub lines: usize,
    /// Bytes of an unfinished last line kept for the next drain.
    pub kept_tail_bytes: usize,
}

impl Spool {
    /// The spool in `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(SPOOL_FILE),
        }
    }

    /// A spool at an explicit path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_locked(&self) -> Result<Flock<File>> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create_dir", e))?;
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, "open", e))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::io(&self.path, "flock", std::io::Error::from(errno)))
    }

    /// Appends one payload as a line (newlines inside `payload` are not allowed: compact JSON).
    pub fn append(&self, payload: &[u8]) -> Result<()> {
        if payload.contains(&b'\n') {
            return Err(Error::Spool {
                path: self.path.clone(),
                message: "payload contains a newline; spool compact JSON".into(),
            });
        }
        let mut f = self.open_locked()?;
        let len = f
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(&self.path, "seek", e))?;
        if len + payload.len() as u64 + 2 > MAX_SPOOL_BYTES {
            return Err(Error::Spool {
                path: self.path.clone(),
                message: format!("spool full ({len} bytes); payload dropped"),
            });
        }
        let mut buf = Vec::with_capacity(payload.len() + 2);
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))
                .and_then(|_| f.read_exact(&mut last))
                .map_err(|e| Error::io(&self.path, "read", e))?;
            if last[0] != b'\n' {
                buf.push(b'\n'); // terminate a torn line of a killed writer
            }
            f.seek(SeekFrom::End(0))
                .map_err(|e| Error::io(&self.path, "seek", e))?;
        }
        buf.extend_from_slice(payload);
        buf.push(b'\n');
        f.write_all(&buf)
            .map_err(|e| Error::io(&self.path, "write", e))?;
        f.sync_data()
            .map_err(|e| Error::io(&self.path, "fsync", e))?;
        Ok(())
    }

    /// Hands every complete line to `persist`; when it returns `Ok`, those lines are removed
    /// (an unfinished last line stays). When it returns `Err`, the spool is left untouched.
    pub fn drain<E>(
        &self,
        persist: impl FnOnce(Vec<SpooledLine>) -> std::result::Result<(), E>,
    ) -> Result<std::result::Result<DrainOutcome, E>> {
        if !self.path.exists() {
            return Ok(Ok(DrainOutcome::default()));
        }
        let mut f = self.open_locked()?;
        let mut data = Vec::new();
        f.seek(SeekFrom::Start(0))
            .and_then(|_| (&mut *f).take(MAX_SPOOL_BYTES).read_to_end(&mut data))
            .map_err(|e| Error::io(&self.path, "read", e))?;
        let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut lines = Vec::new();
        let mut offset = 0usize;
        for raw in data[..complete].split(|b| *b == b'\n') {
            if offset >= complete {
                break;
            }
            let start = offset;
            offset += raw.len() + 1;
            if raw.is_empty() {
                continue;
            }
            lines.push(SpooledLine {
                offset: start as u64,
                text: String::from_utf8_lossy(raw).into_owned(),
            });
        }
        let n = lines.len();
        if n == 0 {
            return Ok(Ok(DrainOutcome {
                lines: 0,
                kept_tail_bytes: data.len() - complete,
            }));
        }
        if let Err(e) = persist(lines) {
            return Ok(Err(e));
        }
        // Keep the unfinished tail; rewrite in place under the lock.
        let tail = data[complete..].to_vec();
        f.set_len(0)
            .map_err(|e| Error::io(&self.path, "truncate", e))?;
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&tail))
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(&self.path, "write", e))?;
        Ok(Ok(DrainOutcome {
            lines: n,
            kept_tail_bytes: tail.len(),
        }))
    }
}
