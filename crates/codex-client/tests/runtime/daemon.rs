//! The claims of the "supervise `--listen unix://` vs the managed daemon" comparison in
//! `codex_client::app_server::remote`, each checked against the pinned binary.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use codex_client::app_server::{CommandEndpoint, Endpoint};
use serde_json::Value;
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};

use super::common::{Client, WAIT, socket_path, unix_listener};

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

/// Pids of live processes whose command line contains `needle`.
fn processes_matching(needle: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .filter(|pid| {
            // Zombies are gone for our purposes.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    !s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(false)
        })
        .collect()
}

/// (pid, state, command) of the processes in process group `pgid`.
fn processes_in_group(pgid: u32) -> Vec<(String, String, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .collect::<Vec<_>>();
            // Fields after the command: state ppid pgrp ...
            (after.get(2)?.parse::<u32>().ok()? == pgid).then(|| {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                (
                    pid.to_string(),
                    after[0].to_owned(),
                    String::from_utf8_lossy(&cmd).replace('\0', " "),
                )
            })
        })
        .collect()
}

fn group_alive(pgid: u32) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else {
        return false;
    };
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_ok()
}

/// `codex app-server proxy --sock PATH` as another user (nobody): must be refused.
fn connect_as_nobody(path: &Path) -> Result<String> {
    let out = Command::new(test_support::codex_bin())
        .args(["app-server", "proxy", "--sock"])
        .arg(path)
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("CODEX_HOME", "/nonexistent")
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .output()?;
    assert!(!out.status.success(), "nobody must not get through");
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn home_for(fake: &FakeResponses) -> TempCodexHome {
    CodexHomeBuilder::new(&fake.base_url()).build()
}

#[tokio::test]
async fn a_supervised_unix_listener_is_private_and_leaves_nothing_behind() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("private"));
    let home = home_for(&fake);
    let path = socket_path(&home, "private.sock");
    let mut server = unix_listener(&home, &path).await?;

    // PATH is a symlink to a 0600 socket in a 0700 per-user directory.
    let meta = std::fs::symlink_metadata(&path)?;
    assert!(meta.file_type().is_symlink(), "{meta:?}");
    let target = std::fs::read_link(&path)?;
    let target_meta = std::fs::metadata(&target)?;
    use std::os::unix::fs::FileTypeExt;
    assert!(target_meta.file_type().is_socket());
    assert_eq!(mode(&target)?, 0o600, "{}", target.display());
    let dir = target.parent().context("socket dir")?;
    assert_eq!(mode(dir)?, 0o700, "{}", dir.display());
    assert_eq!(target_meta.uid(), nix::unistd::geteuid().as_raw());
    assert!(
        target.as_os_str().len() < 108,
        "short enough for sun_path: {}",
        target.display()
    );

    // Only the same uid gets in (root can switch users to check; others cannot).
    if nix::unistd::geteuid().is_root() {
        let stderr = connect_as_nobody(&path)?;
        assert!(stderr.contains("Permission denied"), "{stderr}");
    }

    // The owner does.
    let mut client = Client::new(
        codex_client::app_server::RemoteBuilder::new(server.endpoint())
            .request_timeout(WAIT)
            .connect()
            .await?,
    );
    let thread = client.start_thread(&home).await?;
    assert_eq!(client.run_turn(&thread, "hi").await?.agent_text, "private");
    client.server.shutdown().await?;

    // A graceful stop removes the symlink and the socket, and nothing of the group is left.
    let pgid = server.pid().context("pid")?;
    server.stop().await?;
    assert!(std::fs::symlink_metadata(&path).is_err(), "symlink removed");
    assert!(
        std::fs::symlink_metadata(&target).is_err(),
        "socket removed"
    );
    // SIGKILLed members may take a moment to be reaped (by init): poll with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while group_alive(pgid) {
        assert!(
            std::time::Instant::now() < deadline,
            "a process of the listener's group is left: {:?}",
            processes_in_group(pgid)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

fn daemon(home: &TempCodexHome, args: &[&str]) -> Result<(i32, Value)> {
    let mut all = vec!["app-server", "daemon"];
    all.extend_from_slice(args);
    let out = home.command(&all).stderr(Stdio::piped()).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or(Value::Null);
    Ok((out.status.code().unwrap_or(-1), json))
}

/// Kills (by pid) processes this test caused, whatever happens to the assertions.
struct Reap(Vec<String>);

impl Drop for Reap {
    fn drop(&mut self) {
        for needle in &self.0 {
            for pid in processes_matching(needle) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

#[tokio::test]
async fn the_managed_daemon_runs_a_copy_outlives_its_starter_and_leaves_its_updater() -> Result<()>
{
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("from the daemon"));
    let home = home_for(&fake);
    let home_str = home.path().display().to_string();
    let _reap = Reap(vec![home_str.clone()]);

    // Not running yet: `version` exits 1.
    let (code, _) = daemon(&home, &["version"])?;
    assert_eq!(code, 1);

    let (code, started) = daemon(&home, &["start"])?;
    assert_eq!(code, 0, "{started}");
    assert_eq!(started["status"], "started", "{started}");
    let managed = started["managedCodexPath"]
        .as_str()
        .context("managedCodexPath")?;
    assert!(
        managed.starts_with(&format!("{home_str}/packages/app-server-daemon/")),
        "runs a copy installed into CODEX_HOME: {managed}"
    );
    let socket = home
        .path()
        .join("app-server-control/app-server-control.sock");
    assert_eq!(started["socketPath"], socket.display().to_string());
    assert_eq!(mode(&home.path().join("app-server-control"))?, 0o700);
    let target = std::fs::read_link(&socket)?;
    assert_eq!(mode(&target)?, 0o600);

    // `start` has returned, yet the server runs: re-parented, in a session of its own, with
    // analytics on by default.
    let pid = started["pid"].as_i64().context("pid")?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("--listen unix://"), "{cmdline}");
    assert!(cmdline.contains("--analytics-default-enabled"), "{cmdline}");
    assert!(cmdline.contains("--managed-daemon"), "{cmdline}");
    let pid = i32::try_from(pid)?;
    let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(pid)))?;
    assert_ne!(sid, nix::unistd::getsid(None)?, "own session");

    // Clients reach it on the control socket, directly or through `proxy` without --sock.
    let mut client = Client::new(
        codex_client::app_server::RemoteBuilder::new(Endpoint::unix(&socket))
            .request_timeout(WAIT)
            .connect()
            .await?,
    );
    let thread = client.start_thread(&home).await?;
    assert_eq!(
        client.run_turn(&thread, "hi").await?.agent_text,
        "from the daemon"
    );
    client.server.shutdown().await?;
    let proxy = CommandEndpoint::codex_proxy(test_support::codex_bin(), None).envs(home.env());
    let proxied = codex_client::app_server::RemoteBuilder::new(Endpoint::Command(proxy))
        .connect()
        .await?;
    assert_eq!(proxied.0.initialize_response().codex_home, home_str);
    proxied.0.shutdown().await?;

    let (code, version) = daemon(&home, &["version"])?;
    assert_eq!(code, 0);
    assert_eq!(version["status"], "running", "{version}");

    // `stop` stops the server but not the updater.
    let (code, stopped) = daemon(&home, &["stop"])?;
    assert_eq!(code, 0);
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    let deadline = std::time::Instant::now() + WAIT;
    while processes_matching(&format!("{home_str}/packages")).contains(&pid) {
        if std::time::Instant::now() > deadline {
            bail!("daemon {pid} still running after stop");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let left = processes_matching("pid-update-loop")
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&home_str))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(left, 1, "the updater outlives `daemon stop`");
    Ok(())
}
