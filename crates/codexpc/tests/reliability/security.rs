//! File modes and local-user isolation of what codexpc creates, with the real binary:
//!
//! * the session socket is 0600 and a socket directory codexpc creates is 0700 (explicit
//!   `--socket` and the default data-dir location);
//! * a second local user (created here with `useradd` when running as root; skipped with a
//!   printed reason otherwise) cannot talk to the socket, even when the directory is open to
//!   them: connecting is refused with "Permission denied".

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use codexpc::client::Client;
use serde_json::json;

use crate::support::{Serve, ServeOptions, final_answer, write_script};

fn mode(p: &Path) -> Result<u32> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("stat {}", p.display()))?
        .permissions()
        .mode()
        & 0o777)
}

fn script(dir: &Path) -> Result<std::path::PathBuf> {
    write_script(dir, "s.jsonl", &[json!({"completion": final_answer(2)})])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_and_its_new_directories_are_private() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let script = script(dir.path())?;
    // An explicit socket path whose directories do not exist yet.
    let socket = dir.path().join("a").join("b").join("codexpc.sock");
    let mut opts = ServeOptions::new(&script);
    opts.socket = Some(socket.clone());
    let server = Serve::start(&opts)?;
    ensure!(mode(&socket)? == 0o600, "socket mode {:o}", mode(&socket)?);
    for d in [dir.path().join("a"), dir.path().join("a").join("b")] {
        ensure!(mode(&d)? == 0o700, "{} mode {:o}", d.display(), mode(&d)?);
    }
    drop(server);

    // The default location: under the data dir, created by codexpc.
    let data = dir.path().join("data");
    let mut opts = ServeOptions::new(&script);
    opts.socket = None;
    let mut cmd_env = vec![("XDG_DATA_HOME".to_owned(), data.display().to_string())];
    cmd_env.push(("XDG_RUNTIME_DIR".to_owned(), String::new()));
    opts.env = cmd_env;
    let default_socket = data.join("codexpc").join("codexpc.sock");
    let server = Serve::start(&ServeOptions {
        socket: Some(default_socket.clone()),
        ..opts
    })?;
    ensure!(mode(&default_socket)? == 0o600);
    ensure!(
        mode(&data.join("codexpc"))? == 0o700,
        "data dir mode {:o}",
        mode(&data.join("codexpc"))?
    );
    drop(server);
    println!(
        "file modes: socket 0600, socket directories created by codexpc 0700 (explicit path and data dir)"
    );
    Ok(())
}

const PROBE_USER: &str = "codexpc-probe";

/// The uid of the probe user, creating it if needed; `Err` with the reason when we cannot.
fn probe_user() -> Result<u32, String> {
    test_support::second_local_user(PROBE_USER).map(|(uid, _)| uid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_local_user_cannot_use_the_socket() -> Result<()> {
    let uid = match probe_user() {
        Ok(uid) => uid,
        Err(reason) => {
            println!("SKIPPED second-user socket check: {reason}");
            return Ok(());
        }
    };
    let dir = tempfile::tempdir()?;
    let script = script(dir.path())?;
    // A directory the other user may enter, so only the socket's own mode protects it; and a
    // copy of the binary they can execute (the build dir may not be reachable for them).
    let open = dir.path().join("open");
    std::fs::create_dir(&open)?;
    for d in [dir.path(), open.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    let bin = open.join("codexpc");
    std::fs::copy(env!("CARGO_BIN_EXE_codexpc"), &bin)?;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
    // Their own cache dir, so the only thing in their way is the socket.
    let cache = open.join("cache");
    std::fs::create_dir(&cache)?;
    nix::unistd::chown(&cache, Some(nix::unistd::Uid::from_raw(uid)), None)?;
    let socket = open.join("codexpc.sock");
    let mut opts = ServeOptions::new(&script);
    opts.socket = Some(socket.clone());
    let server = Serve::start(&opts)?;
    // The owner gets in.
    Client::connect(&socket, Duration::from_secs(10))
        .await?
        .health()
        .await?;
    // The other user does not: `codexpc health` run as them.
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("runuser")
            .args(["-u", PROBE_USER, "--"])
            .arg(&bin)
            .args(["health", "--timeout-secs", "5", "--socket"])
            .arg(&socket)
            .env("CODEXPC_CACHE_DIR", &cache)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .context("the second user's client hung")??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success(),
        "user {uid} reached the socket: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    ensure!(
        stderr.contains("socket") && stderr.contains("ermission denied"),
        "refused for another reason: {stderr}"
    );
    // And the daemon is unaffected.
    Client::connect(&socket, Duration::from_secs(10))
        .await?
        .health()
        .await?;
    drop(server);
    println!(
        "second local user (uid {uid}): connecting to the 0600 socket refused: {}",
        stderr.lines().last().unwrap_or_default()
    );
    Ok(())
}
