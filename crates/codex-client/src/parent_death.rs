//! Children that end when this process dies, even by SIGKILL.
//!
//! A stdio app-server ends with us on its own: our death closes its stdin. A listening one
//! (`codex app-server --listen …`) reads nothing from us, so after a `kill -9` of its parent it
//! would be re-parented to init and keep serving the socket, holding its threads, forever. On
//! Linux the kernel can end it for us: `prctl(PR_SET_PDEATHSIG, SIGKILL)`, set in the forked
//! child before `exec`.
//!
//! The kernel's notion of "parent" there is the **thread** that forked, not the process: a
//! child forked from a tokio worker that later retires (e.g. after `block_in_place`) or from a
//! `spawn_blocking` thread that idles out would be killed while we are alive. So the fork
//! happens on one thread that lives as long as the process ([`spawn`]), inside the caller's
//! tokio runtime context so the child is reaped by that runtime as usual.
//!
//! Elsewhere (macOS has no parent-death signal) the child is spawned normally; whoever
//! supervises it must clean up a survivor at its next start (the hub keeps a pid file for that).
//! The race where we die between `fork` and `prctl` is closed by checking the parent pid after
//! the `prctl`: if it is no longer us, the child fails to start instead of running unowned.

use tokio::process::Command;

use crate::process::GroupChild;
use crate::{Error, Result};

/// Whether [`spawn`] can make the kernel kill the child when we die.
pub const SUPPORTED: bool = cfg!(target_os = "linux");

/// Spawns `cmd` as a [`GroupChild`] that the kernel SIGKILLs when this process dies (Linux; see
/// the module docs for other systems). Must be called within a tokio runtime.
pub async fn spawn(cmd: Command, label: &str) -> Result<GroupChild> {
    let owned = label.to_owned();
    tied(cmd, label, move |cmd| GroupChild::spawn(cmd, &owned)).await
}

/// [`spawn`] for a caller that manages the child itself (its own stdio, its own stop): a plain
/// tokio `Child` that the kernel SIGKILLs when this process dies (Linux; elsewhere a plain
/// spawn). Must be called within a tokio runtime.
pub async fn spawn_child(cmd: Command, label: &str) -> Result<tokio::process::Child> {
    tied(cmd, label, |mut cmd| {
        let program = std::path::PathBuf::from(cmd.as_std().get_program());
        cmd.spawn()
            .map_err(|source| Error::Spawn { program, source })
    })
    .await
}

async fn tied<T: Send + 'static>(
    cmd: Command,
    label: &str,
    start: impl FnOnce(Command) -> Result<T> + Send + 'static,
) -> Result<T> {
    #[cfg(target_os = "linux")]
    {
        linux::tied(cmd, label, start).await
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = label;
        start(cmd)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::Mutex;
    use std::sync::OnceLock;
    use std::sync::mpsc as std_mpsc;

    use nix::sys::signal::Signal;

    use super::*;

    type Job = Box<dyn FnOnce() + Send>;

    /// The process-lifetime thread every tied child is forked from.
    fn forker() -> Option<std_mpsc::Sender<Job>> {
        static FORKER: OnceLock<Option<Mutex<std_mpsc::Sender<Job>>>> = OnceLock::new();
        FORKER
            .get_or_init(|| {
                let (tx, rx) = std_mpsc::channel::<Job>();
                let started = std::thread::Builder::new()
                    .name("codex-client-forker".into())
                    .spawn(move || {
                        // Never returns while the process runs: the sender lives in a static.
                        while let Ok(job) = rx.recv() {
                            job();
                        }
                    });
                match started {
                    Ok(_) => Some(Mutex::new(tx)),
                    Err(e) => {
                        tracing::warn!(error = %e, "no forker thread; children are not tied to this process");
                        None
                    }
                }
            })
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    pub(super) async fn tied<T: Send + 'static>(
        mut cmd: Command,
        label: &str,
        start: impl FnOnce(Command) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let parent = nix::unistd::getpid();
        // SAFETY: the closure runs in the forked child before exec. It calls only prctl(2),
        // getppid(2) (both async-signal-safe) and builds an io::Error from an errno, which does
        // not allocate; it takes no locks and touches no state shared with other threads.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                if nix::unistd::getppid() != parent {
                    // We died between fork and prctl: the signal will never come.
                    return Err(std::io::Error::from(nix::errno::Errno::ESRCH));
                }
                Ok(())
            });
        }
        let Some(forker) = forker() else {
            return start(cmd);
        };
        let runtime = tokio::runtime::Handle::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _in_runtime = runtime.enter();
            let _ = tx.send(start(cmd));
        });
        forker.send(job).map_err(|_| Error::Closed {
            reason: format!("{label}: the forker thread is gone"),
        })?;
        rx.await.map_err(|_| Error::Closed {
            reason: format!("{label}: the forker thread dropped the spawn"),
        })?
    }
}
