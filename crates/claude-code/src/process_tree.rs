//! Remembering a process tree so it can be killed after its root is gone.
//!
//! Claude Code runs each Bash tool command in its own process group, and when the CLI exits by
//! itself (stdin closed during a turn) it does NOT stop a command that is still running: the
//! command is reparented to init and lives on (observed with 2.1.332). Killing the CLI's own
//! group cannot reach it, and once it is orphaned the tree no longer leads to it. So a graceful
//! shutdown snapshots the tree while the CLI is alive — and keeps refreshing the snapshot while
//! waiting for it to exit — then signals every remembered process and process group that is
//! still alive. Each process is remembered with its start time, so a pid reused in between is
//! never signalled.
//!
//! Linux only (`/proc`); elsewhere snapshots are empty and only the CLI's group is signalled by
//! the shared child plumbing.

use std::collections::{BTreeMap, BTreeSet};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proc {
    pid: u32,
    ppid: u32,
    pgrp: u32,
    /// Start time in clock ticks since boot: with the pid, a process's identity.
    start: u64,
    live: bool,
}

fn proc_table() -> Vec<Proc> {
    let mut out = Vec::new();
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
        if let Some(p) = read_stat(pid) {
            out.push(p);
        }
    }
    out
}

fn read_stat(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    // stime cutime cstime priority nice num_threads itrealvalue starttime ..."; comm may hold
    // spaces and parentheses, so split after the LAST ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        live: state != "Z" && state != "X",
    })
}

/// The processes below a root (and the groups they lead), remembered across the root's exit.
#[derive(Debug, Default, Clone)]
pub(crate) struct TreeSnapshot {
    /// pid -> start time.
    procs: BTreeMap<u32, u64>,
    /// Process groups of the remembered processes (other than ours).
    pgids: BTreeSet<u32>,
}

impl TreeSnapshot {
    /// Adds every live descendant of `root` (not `root` itself) to the snapshot.
    pub(crate) fn capture(&mut self, root: u32) {
        let table = proc_table();
        let own_group = u32::try_from(nix::unistd::getpgrp().as_raw()).unwrap_or(0);
        let mut frontier = vec![root];
        let mut seen = BTreeSet::from([root]);
        while let Some(parent) = frontier.pop() {
            for p in table.iter().filter(|p| p.ppid == parent && p.live) {
                if seen.insert(p.pid) {
                    frontier.push(p.pid);
                    self.procs.insert(p.pid, p.start);
                    // Never our own group, nor init's.
                    if p.pgrp > 1 && p.pgrp != own_group {
                        self.pgids.insert(p.pgrp);
                    }
                }
            }
        }
    }

    /// The remembered processes that are still the same, live processes.
    fn alive(&self) -> Vec<u32> {
        self.procs
            .iter()
            .filter(|(pid, start)| read_stat(**pid).is_some_and(|p| p.live && p.start == **start))
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// Signals every remembered group that still has a remembered live member, and every
    /// remembered live process. Returns how many processes were still alive.
    pub(crate) fn signal(&self, signal: Signal) -> usize {
        let alive = self.alive();
        let live_groups: BTreeSet<u32> = alive
            .iter()
            .filter_map(|pid| read_stat(*pid).map(|p| p.pgrp))
            .filter(|g| self.pgids.contains(g))
            .collect();
        for g in live_groups {
            if let Ok(g) = i32::try_from(g) {
                let _ = killpg(Pid::from_raw(g), signal);
            }
        }
        for pid in &alive {
            if let Ok(p) = i32::try_from(*pid) {
                let _ = kill(Pid::from_raw(p), signal);
            }
        }
        alive.len()
    }

    /// SIGTERM, a grace period, then SIGKILL for whatever is left.
    pub(crate) async fn kill(&self, grace: std::time::Duration) {
        if self.signal(Signal::SIGTERM) == 0 {
            return;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline && !self.alive().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let left = self.signal(Signal::SIGKILL);
        if left > 0 {
            tracing::debug!(left, "SIGKILLed processes the CLI left behind");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    #[tokio::test]
    async fn orphans_in_their_own_groups_are_killed_after_the_root_exits() {
        // The root starts a grandchild in its own session (as the CLI's Bash tool does), then
        // exits, orphaning it.
        let mut root = Command::new("sh")
            .args(["-c", "setsid sleep 300 & echo $! ; sleep 0.5"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let root_pid = root.id();
        let mut snapshot = TreeSnapshot::default();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while snapshot.alive().len() < 2 {
            assert!(std::time::Instant::now() < deadline, "tree never formed");
            snapshot.capture(root_pid);
            std::thread::sleep(Duration::from_millis(10));
        }
        root.wait().expect("root exits");
        let orphan = *snapshot
            .procs
            .keys()
            .find(|pid| read_stat(**pid).is_some_and(|p| p.ppid != root_pid && p.live))
            .expect("an orphan survived the root");
        snapshot.kill(Duration::from_millis(200)).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while read_stat(orphan).is_some_and(|p| p.live) {
            assert!(std::time::Instant::now() < deadline, "orphan survived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
