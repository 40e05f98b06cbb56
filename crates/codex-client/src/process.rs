//! Child-process plumbing shared by `exec` and `app_server`.
//!
//! Codex spawns shells, and those shells spawn whatever the model asked for (`sleep 100 & wait`,
//! dev servers, ...). Killing only the `codex` pid would orphan all of that, so every child we
//! start runs in its OWN process group (`process_group(0)`: its pgid is its pid), and every kill
//! targets the whole group: SIGTERM first, SIGKILL after a grace period. This happens on explicit
//! cancellation and, as a safety net, when the [`GroupChild`] is dropped.
//!
//! stderr is always piped and drained by a task into `tracing` (target `codex_client::stderr`),
//! keeping only a bounded tail ([`STDERR_TAIL_BYTES`]) that errors carry. Draining matters: a
//! child that fills an undrained stderr pipe blocks forever.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// How much of a child's stderr is kept for error messages.
pub const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// Default time between SIGTERM and SIGKILL.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_millis(500);

/// How long `wait` waits for stderr to reach EOF after the child exited. Grandchildren that
/// inherited stderr can keep the pipe open indefinitely; we must not hang on them.
const STDERR_EOF_GRACE: Duration = Duration::from_millis(500);

/// A bounded, shared tail of a child's stderr.
#[derive(Debug, Clone, Default)]
pub struct StderrTail {
    inner: Arc<Mutex<VecDeque<u8>>>,
}

impl StderrTail {
    /// Appends bytes, dropping the oldest ones beyond [`STDERR_TAIL_BYTES`].
    pub fn push(&self, bytes: &[u8]) {
        let mut buf = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        buf.extend(bytes);
        let excess = buf.len().saturating_sub(STDERR_TAIL_BYTES);
        buf.drain(..excess);
    }

    /// The tail as (lossy) UTF-8.
    pub fn snapshot(&self) -> String {
        let buf = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b) = buf.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A child process running in its own process group, with stderr drained.
#[derive(Debug)]
pub struct GroupChild {
    child: Option<Child>,
    pid: Option<u32>,
    program: PathBuf,
    stderr_tail: StderrTail,
    stderr_task: Option<JoinHandle<()>>,
    kill_grace: Duration,
    status: Option<ExitStatus>,
}

impl GroupChild {
    /// Spawns `cmd` in a new process group. stderr is always piped and drained; stdin and stdout
    /// are whatever the caller configured on `cmd` (default: inherited — set them!). `label`
    /// names the child in the tracing output.
    pub fn spawn(mut cmd: Command, label: &str) -> Result<Self> {
        let program = PathBuf::from(cmd.as_std().get_program());
        cmd.process_group(0)
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: program.clone(),
            source,
        })?;
        let pid = child.id();
        let stderr_tail = StderrTail::default();
        let stderr_task = child.stderr.take().map(|stderr| {
            tokio::spawn(drain_stderr(
                stderr,
                stderr_tail.clone(),
                label.to_owned(),
                pid,
            ))
        });
        tracing::debug!(
            label,
            ?pid,
            ?program,
            "spawned child in its own process group"
        );
        Ok(GroupChild {
            child: Some(child),
            pid,
            program,
            stderr_tail,
            stderr_task,
            kill_grace: DEFAULT_KILL_GRACE,
            status: None,
        })
    }

    /// Sets the SIGTERM -> SIGKILL grace period.
    pub fn set_kill_grace(&mut self, grace: Duration) {
        self.kill_grace = grace;
    }

    /// The child's pid, which is also its process-group id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The program that was spawned.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }

    /// Takes the child's stdin (if it was piped).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.as_mut().and_then(|c| c.stdin.take())
    }

    /// Takes the child's stdout (if it was piped).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    /// A handle on the stderr tail (stays valid after the child is gone).
    pub fn stderr_tail(&self) -> StderrTail {
        self.stderr_tail.clone()
    }

    /// The exit status, if the child has already been reaped.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Waits for the child to exit, then (briefly) for stderr to reach EOF so the tail is
    /// complete. Idempotent.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let child = self.child.as_mut().ok_or_else(|| Error::Closed {
            reason: "child already released".into(),
        })?;
        let status = child
            .wait()
            .await
            .map_err(|source| Error::io(self.program.clone(), source))?;
        self.status = Some(status);
        self.finish_stderr().await;
        Ok(status)
    }

    /// Kills the whole process group: SIGTERM, then SIGKILL after the grace period (whether or not
    /// the leader already exited: its grandchildren may not have). Reaps the leader.
    ///
    /// Codex runs commands on a PTY, i.e. in their own session and process group, so signalling
    /// our child's group alone would orphan them. The process tree under the child is therefore
    /// snapshotted BEFORE any signal (afterwards orphans are reparented and untraceable), and
    /// every process and process group found there is signalled too.
    pub async fn kill_group(&mut self) -> Result<ExitStatus> {
        let Some(pgid) = self.pid else {
            return self.wait().await;
        };
        let mut targets = KillSet::of_tree(pgid);
        targets.signal(Signal::SIGTERM);
        let deadline = Instant::now() + self.kill_grace;
        if let Some(child) = self.child.as_mut()
            && self.status.is_none()
            && let Ok(Ok(status)) = tokio::time::timeout(self.kill_grace, child.wait()).await
        {
            self.status = Some(status);
        }
        // The leader is gone (or ignored SIGTERM); give the rest what is left of the grace
        // period, then SIGKILL whoever remains (including anything spawned meanwhile).
        while Instant::now() < deadline && targets.any_alive() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        targets.refresh();
        targets.signal(Signal::SIGKILL);
        let status = self.wait().await?;
        Ok(status)
    }

    async fn finish_stderr(&mut self) {
        if let Some(task) = self.stderr_task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(STDERR_EOF_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        if let Some(task) = self.stderr_task.take() {
            task.abort();
        }
        let Some(pgid) = self.pid else { return };
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Even if the leader was reaped, grandchildren may still be around.
        let mut targets = KillSet::of_tree(pgid);
        targets.signal(Signal::SIGTERM);
        let grace = self.kill_grace;
        let reaped = self.status.is_some();
        // Drop cannot await: finish the SIGTERM -> SIGKILL sequence on a short-lived thread.
        let spawned = std::thread::Builder::new()
            .name("codex-client-reaper".into())
            .spawn(move || {
                let deadline = Instant::now() + grace;
                let mut leader_done = reaped;
                while Instant::now() < deadline {
                    if !leader_done {
                        leader_done = matches!(child.try_wait(), Ok(Some(_)));
                    }
                    if leader_done && !targets.any_alive() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                targets.refresh();
                targets.signal(Signal::SIGKILL);
                if !leader_done {
                    // Reap the leader so it does not linger as a zombie.
                    for _ in 0..50 {
                        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no reaper thread; sending SIGKILL at once");
            KillSet::of_tree(pgid).signal(Signal::SIGKILL);
        }
    }
}

/// Kills the process tree rooted at `leader` (its group, its descendants and their groups):
/// SIGTERM, then SIGKILL to whatever is left after `grace`. Does not reap `leader`; for
/// children not spawned through [`GroupChild`] (e.g. on a pseudo-terminal).
pub(crate) async fn kill_tree(leader: u32, grace: Duration) {
    let mut targets = KillSet::of_tree(leader);
    targets.signal(Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && targets.any_alive() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    targets.refresh();
    targets.signal(Signal::SIGKILL);
}

/// The processes and process groups to signal when killing a child: its own group plus every
/// process below it in the process tree and those processes' groups.
#[derive(Debug, Clone, Default)]
struct KillSet {
    pgids: std::collections::BTreeSet<u32>,
    pids: std::collections::BTreeSet<u32>,
}

impl KillSet {
    fn of_tree(leader: u32) -> Self {
        let mut set = KillSet::default();
        set.pgids.insert(leader);
        set.pids.insert(leader);
        set.refresh();
        set
    }

    /// Adds the descendants of every known pid (processes spawned since the last snapshot).
    fn refresh(&mut self) {
        let table = proc_table();
        let own_group = u32::try_from(nix::unistd::getpgrp().as_raw()).unwrap_or(0);
        let mut frontier: Vec<u32> = self.pids.iter().copied().collect();
        while let Some(parent) = frontier.pop() {
            for p in table.iter().filter(|p| p.ppid == parent) {
                if self.pids.insert(p.pid) {
                    frontier.push(p.pid);
                }
                // Never signal our own group (or the kernel's / init's).
                if p.pgrp > 1 && p.pgrp != own_group {
                    self.pgids.insert(p.pgrp);
                }
            }
        }
    }

    fn signal(&self, signal: Signal) {
        for &g in &self.pgids {
            if let Ok(g) = i32::try_from(g) {
                signal_group(Pid::from_raw(g), signal);
            }
        }
        for &p in &self.pids {
            if let Ok(p) = i32::try_from(p) {
                match nix::sys::signal::kill(Pid::from_raw(p), signal) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => tracing::debug!(pid = p, ?signal, error = %e, "kill failed"),
                }
            }
        }
    }

    fn any_alive(&self) -> bool {
        proc_table()
            .iter()
            .any(|p| p.live && (self.pids.contains(&p.pid) || self.pgids.contains(&p.pgrp)))
    }
}

#[derive(Debug, Clone, Copy)]
struct ProcEntry {
    pid: u32,
    ppid: u32,
    pgrp: u32,
    /// Not a zombie.
    live: bool,
}

/// Every process on the machine (Linux: `/proc`; elsewhere empty, so only groups are signalled).
fn proc_table() -> Vec<ProcEntry> {
    let mut out = Vec::new();
    if !cfg!(target_os = "linux") {
        return out;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Format: "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses,
        // so split after the LAST ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let pgrp = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        out.push(ProcEntry {
            pid,
            ppid,
            pgrp,
            live: state != "Z" && state != "X",
        });
    }
    out
}

fn signal_group(pgid: Pid, signal: Signal) {
    match killpg(pgid, signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => tracing::warn!(%pgid, ?signal, error = %e, "killpg failed"),
    }
}

/// Pids of the non-zombie processes whose process group is `pgid` (Linux: scans `/proc`).
///
/// Zombies are excluded on purpose: an orphaned zombie waiting for its reaper is dead.
#[cfg(target_os = "linux")]
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    proc_table()
        .into_iter()
        .filter(|p| p.live && p.pgrp == pgid)
        .map(|p| p.pid)
        .collect()
}

/// Pids of the processes in group `pgid` (non-Linux: only whether the group exists is known).
#[cfg(not(target_os = "linux"))]
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    match i32::try_from(pgid) {
        Ok(p) if killpg(Pid::from_raw(p), None).is_ok() => vec![pgid],
        _ => Vec::new(),
    }
}

async fn drain_stderr(mut stderr: ChildStderr, tail: StderrTail, label: String, pid: Option<u32>) {
    let mut buf = vec![0u8; 4096];
    let mut line = Vec::new();
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        tail.push(chunk);
        for &b in chunk {
            if b == b'\n' {
                log_line(&label, pid, &line);
                line.clear();
            } else if line.len() < 4096 {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        log_line(&label, pid, &line);
    }
}

fn log_line(label: &str, pid: Option<u32>, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    tracing::debug!(target: "codex_client::stderr", label, ?pid, "{}", text.trim_end());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_is_bounded_and_keeps_the_newest_bytes() {
        let tail = StderrTail::default();
        tail.push(&vec![b'a'; STDERR_TAIL_BYTES]);
        tail.push(b"the end");
        let s = tail.snapshot();
        assert_eq!(s.len(), STDERR_TAIL_BYTES);
        assert!(s.ends_with("the end"));
    }

    #[tokio::test]
    async fn kill_group_takes_grandchildren_with_it() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 100 & sleep 100 & echo started >&2; wait"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut child = GroupChild::spawn(cmd, "test").expect("spawn sh");
        let pgid = child.pid().expect("pid");
        // Poll (bounded) until both sleeps exist.
        let deadline = Instant::now() + Duration::from_secs(5);
        while live_group_members(pgid).len() < 3
            || !child.stderr_tail().snapshot().contains("started")
        {
            assert!(Instant::now() < deadline, "sleeps never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        let status = child.kill_group().await.expect("kill");
        assert!(!status.success());
        assert_eq!(live_group_members(pgid), Vec::<u32>::new());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(child.stderr_tail().snapshot().contains("started"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn kill_reaches_descendants_in_other_sessions() {
        // Like Codex's PTY commands: the grandchild runs in its own session and process group.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "setsid sleep 100 & wait"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut child = GroupChild::spawn(cmd, "test").expect("spawn sh");
        let leader = child.pid().expect("pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        let grandchild = loop {
            let found = proc_table()
                .into_iter()
                .find(|p| p.ppid == leader && p.pgrp != leader);
            if let Some(p) = found {
                break p;
            }
            assert!(Instant::now() < deadline, "setsid sleep never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        child.kill_group().await.expect("kill");
        let deadline = Instant::now() + Duration::from_secs(1);
        while proc_table()
            .iter()
            .any(|p| p.pid == grandchild.pid && p.live)
        {
            assert!(
                Instant::now() < deadline,
                "the other-session grandchild survived"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn sigterm_ignoring_child_is_sigkilled_after_grace() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "trap '' TERM; echo ready >&2; while :; do sleep 0.05; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
        let mut child = GroupChild::spawn(cmd, "test").expect("spawn sh");
        child.set_kill_grace(Duration::from_millis(200));
        let pgid = child.pid().expect("pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !child.stderr_tail().snapshot().contains("ready") {
            assert!(Instant::now() < deadline, "child never got ready");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = child.kill_group().await.expect("kill");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(live_group_members(pgid).is_empty());
    }

    #[tokio::test]
    async fn drop_kills_the_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 100 & wait"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let child = GroupChild::spawn(cmd, "test").expect("spawn sh");
        let pgid = child.pid().expect("pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while live_group_members(pgid).len() < 2 {
            assert!(Instant::now() < deadline, "sleep never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(child);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !live_group_members(pgid).is_empty() {
            assert!(
                Instant::now() < deadline,
                "group survived drop: {:?}",
                live_group_members(pgid)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn spawn_error_names_the_program() {
        let cmd = Command::new("/nonexistent/codex");
        let err = GroupChild::spawn(cmd, "test").expect_err("must fail");
        assert!(matches!(err, Error::Spawn { ref program, .. } if program.ends_with("codex")));
    }
}
