//! How far the first import of a history on disk is (rollout files today), for
//! `GET /api/status` and the UI's progress line.
//!
//! The rollout watcher sweeps `CODEX_HOME/sessions` newest first and reports after each file;
//! those reports travel through the same ordered channel as the file's events, so when one is
//! recorded here everything before it was handed to its session. The server answers from the
//! first second meanwhile: the import runs on the watcher's thread and the writer's queue, and
//! lists and searches read what is committed so far. Checkpoints commit with the items they
//! cover, so a restart mid-import resumes where it stopped and imports nothing twice.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use orbitdock_protocol::ImportStatus;

/// Progress of the first sweep (later sweeps only catch up and are not reported).
#[derive(Debug, Default)]
pub struct ImportProgress {
    started: AtomicBool,
    complete: AtomicBool,
    done: AtomicUsize,
    total: AtomicUsize,
}

impl ImportProgress {
    /// Records a sweep's report.
    pub fn record(&self, done: usize, total: usize) {
        if self.complete.load(Ordering::SeqCst) {
            return;
        }
        self.started.store(true, Ordering::SeqCst);
        self.total.store(total, Ordering::SeqCst);
        self.done.store(done, Ordering::SeqCst);
        if done >= total {
            self.complete.store(true, Ordering::SeqCst);
        }
    }

    /// The status as served.
    pub fn status(&self) -> ImportStatus {
        let done = self.done.load(Ordering::SeqCst);
        let total = self.total.load(Ordering::SeqCst);
        let complete = self.complete.load(Ordering::SeqCst);
        ImportStatus {
            started: self.started.load(Ordering::SeqCst),
            complete,
            files_done: done as u64,
            files_total: total as u64,
            percent: if complete || total == 0 {
                if self.started.load(Ordering::SeqCst) {
                    100.0
                } else {
                    0.0
                }
            } else {
                (done as f64 * 100.0 / total as f64).min(100.0)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_100_and_stays_there() {
        let p = ImportProgress::default();
        assert!(!p.status().started);
        p.record(0, 4);
        p.record(1, 4);
        assert_eq!(p.status().percent, 25.0);
        assert!(!p.status().complete);
        p.record(4, 4);
        assert!(p.status().complete);
        // A later catch-up sweep does not send it back.
        p.record(0, 5);
        assert_eq!(p.status().percent, 100.0);
    }
}
