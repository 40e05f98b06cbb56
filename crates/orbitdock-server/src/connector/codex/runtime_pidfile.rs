//! The shared runtime's pid file, and the clean-up of a listener a previous hub left behind.
//!
//! The listener (`codex app-server --listen unix://SOCKET`) reads nothing from the hub, so a
//! hub killed with SIGKILL does not end it by closing a pipe, as it does a stdio child. On
//! Linux the kernel ends it (a parent-death signal, see `codex_client::parent_death`); on other
//! systems, and for a listener started by an older hub, a survivor keeps serving the socket and
//! holding its threads. So the hub records the listener in `SOCKET.pid` (0600, next to the
//! socket in the 0700 runtime directory) and, before starting one, ends any listener still
//! serving that socket that is not its own child.
//!
//! A pid alone is not trusted (pids are reused): a process is only ended when its command line
//! is `… app-server … --listen unix://SOCKET` for exactly this socket. A listener whose parent
//! is the live hub recorded in the pid file belongs to another `orbitdock serve` on the same data
//! dir; that one is refused, not killed. On Linux, processes serving the socket are also found
//! by scanning `/proc`, which covers a hub killed between spawning the listener and writing the
//! file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How long a stale listener gets to exit after SIGTERM (it removes its socket then) before
/// SIGKILL; and how long after SIGKILL before giving up.
const TERM_GRACE: Duration = Duration::from_secs(3);
const KILL_GRACE: Duration = Duration::from_secs(2);

/// What the pid file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// The listener (its own process-group leader).
    pid: u32,
    /// The hub that started it.
    hub_pid: u32,
    /// The socket it serves.
    socket: PathBuf,
}

/// `SOCKET.pid` beside the socket.
pub fn path_for(socket: &Path) -> PathBuf {
    socket.with_extension("pid")
}

/// Records `pid` as this hub's listener on `socket`.
pub fn write(socket: &Path, pid: u32) -> Result<()> {
    let record = Record {
        pid,
        hub_pid: std::process::id(),
        socket: socket.to_owned(),
    };
    let text = serde_json::to_string(&record).map_err(|source| Error::Decode {
        what: "the runtime pid record".into(),
        source,
    })?;
    crate::data_dir::write_private(&path_for(socket), &text)
}

/// Forgets the listener (after it was stopped).
pub fn remove(socket: &Path) {
    let path = path_for(socket);
    if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove the runtime pid file");
    }
}

fn read(socket: &Path) -> Option<Record> {
    let path = path_for(socket);
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str(&text) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable runtime pid file; ignored");
            None
        }
    }
}

/// A live (not zombie) process as far as the clean-up cares.
#[derive(Debug, Clone)]
struct ProcessInfo {
    ppid: u32,
    argv: Vec<String>,
}

/// Whether `argv` is a Codex app-server listening on exactly `socket`.
fn serves(argv: &[String], socket: &Path) -> bool {
    let listen = format!("unix://{}", socket.display());
    argv.iter().any(|a| a == "app-server")
        && argv
            .windows(2)
            .any(|w| w[0] == "--listen" && w[1] == listen)
}

#[cfg(target_os = "linux")]
fn process_info(pid: u32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, split after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = fields.next()?.parse().ok()?;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcessInfo { ppid, argv })
}

/// `ps` elsewhere. It prints the command line space-joined, so a socket path with spaces is
/// never matched: such a survivor is left alone (and the new listener replaces its socket).
#[cfg(not(target_os = "linux"))]
fn process_info(pid: u32) -> Option<ProcessInfo> {
    let out = std::process::Command::new("ps")
        .args(["-ww", "-o", "stat=,ppid=,command=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut parts = line.splitn(3, char::is_whitespace);
    let state = parts.next()?;
    if state.starts_with('Z') {
        return None;
    }
    let ppid = parts.next()?.trim().parse().ok()?;
    let argv = parts
        .next()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Some(ProcessInfo { ppid, argv })
}

/// Every process serving `socket` (Linux: a `/proc` scan).
#[cfg(target_os = "linux")]
fn scan(socket: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| process_info(*pid).is_some_and(|p| serves(&p.argv, socket)))
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn scan(_socket: &Path) -> Vec<u32> {
    Vec::new()
}

fn alive(pid: u32) -> bool {
    process_info(pid).is_some()
}

fn signal(pid: u32, sig: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    // The listener leads its own process group: its shells and tools go with it.
    let _ = killpg(Pid::from_raw(raw), sig);
    let _ = kill(Pid::from_raw(raw), sig);
}

async fn gone_within(pid: u32, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if !alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Ends every listener on `socket` that is not a child of this process: the one the pid file
/// names (after checking it really serves this socket) and, on Linux, any other found in
/// `/proc`. Returns the pids it ended. Refuses (and kills nothing) when the recorded hub is
/// alive and still the listener's parent: another hub runs on this data dir.
pub async fn end_stale(socket: &Path) -> Result<Vec<u32>> {
    let me = std::process::id();
    let record = read(socket);
    let mut candidates = scan(socket);
    if let Some(r) = &record
        && !candidates.contains(&r.pid)
    {
        candidates.push(r.pid);
    }
    let mut ended = Vec::new();
    for pid in candidates {
        if pid == me {
            continue;
        }
        let Some(info) = process_info(pid) else {
            continue;
        };
        if !serves(&info.argv, socket) {
            tracing::debug!(
                pid,
                "the recorded runtime pid is now another program; left alone"
            );
            continue;
        }
        if info.ppid == me {
            continue;
        }
        if let Some(r) = &record
            && r.pid == pid
            && r.hub_pid != me
            && info.ppid == r.hub_pid
        {
            return Err(Error::Conflict(format!(
                "another OrbitDock server (pid {}) runs the shared Codex runtime on {}; stop it first",
                r.hub_pid,
                socket.display()
            )));
        }
        tracing::warn!(pid, parent = info.ppid, socket = %socket.display(),
            "ending a shared Codex runtime left behind by a previous server");
        signal(pid, Signal::SIGTERM);
        if !gone_within(pid, TERM_GRACE).await {
            signal(pid, Signal::SIGKILL);
            if !gone_within(pid, KILL_GRACE).await {
                return Err(Error::Conflict(format!(
                    "a stale Codex runtime (pid {pid}) on {} does not exit",
                    socket.display()
                )));
            }
        }
        ended.push(pid);
    }
    if record.is_some() {
        remove(socket);
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn only_a_listener_on_exactly_this_socket_counts() {
        let socket = Path::new("/d/runtime/codex-app-server.sock");
        assert!(serves(
            &argv("/x/codex app-server --listen unix:///d/runtime/codex-app-server.sock"),
            socket
        ));
        assert!(serves(
            &argv("codex app-server -c a=b --listen unix:///d/runtime/codex-app-server.sock"),
            socket
        ));
        assert!(!serves(
            &argv("codex app-server --listen unix:///e/runtime/codex-app-server.sock"),
            socket
        ));
        assert!(!serves(
            &argv("codex app-server --listen unix:///d/runtime/codex-app-server.sock.x"),
            socket
        ));
        assert!(!serves(
            &argv("codex --remote unix:///d/runtime/codex-app-server.sock"),
            socket
        ));
        assert!(!serves(&argv("sleep 100"), socket));
    }

    #[test]
    fn the_record_round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let socket = dir.path().join("codex-app-server.sock");
        write(&socket, 4242).unwrap_or_else(|e| panic!("{e}"));
        let r = read(&socket).unwrap_or_else(|| panic!("no record"));
        assert_eq!(
            r,
            Record {
                pid: 4242,
                hub_pid: std::process::id(),
                socket: socket.clone()
            }
        );
        let mode = std::fs::metadata(path_for(&socket))
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        remove(&socket);
        assert!(read(&socket).is_none());
    }
}
