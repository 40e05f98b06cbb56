//! A count that blocking threads and async tasks can both wait on.
//!
//! The loopback fakes count events a test must wait for (client disconnects of unfinished
//! streams); tests wait from plain threads and from Tokio tasks alike, so a bump wakes both a
//! `Condvar` and a `Notify`.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Debug, Default)]
pub(crate) struct Tally {
    count: Mutex<usize>,
    changed: Condvar,
    changed_async: tokio::sync::Notify,
}

impl Tally {
    pub(crate) fn get(&self) -> usize {
        *self.count.lock()
    }

    pub(crate) fn bump(&self) {
        let mut count = self.count.lock();
        *count += 1;
        self.changed.notify_all();
        drop(count);
        self.changed_async.notify_waiters();
    }

    /// Blocks until the count is at least `n`; panics after `timeout` with
    /// "`who`: waited … for `n` `what`, saw …".
    pub(crate) fn wait(&self, n: usize, timeout: Duration, who: &str, what: &str) {
        let deadline = Instant::now() + timeout;
        let mut count = self.count.lock();
        while *count < n {
            if self.changed.wait_until(&mut count, deadline).timed_out() && *count < n {
                panic!("{who}: waited {timeout:?} for {n} {what}, saw {}", *count);
            }
        }
    }

    /// Async form of [`Self::wait`]; its timeout runs on the caller's Tokio timer.
    pub(crate) async fn wait_async(&self, n: usize, timeout: Duration, who: &str, what: &str) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so a bump between the check and the await wakes us.
            let notified = self.changed_async.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.get() >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() && self.get() < n {
                panic!(
                    "{who}: waited {timeout:?} for {n} {what}, saw {}",
                    self.get()
                );
            }
        }
    }
}
