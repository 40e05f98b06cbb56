//! The shared Codex runtime's lifecycle with real processes: the real `orbitdock serve` binary
//! running the REAL pinned `codex app-server --listen unix://…` it supervises, against the
//! loopback model.
//!
//! - A hub killed with SIGKILL leaves no listener behind (checked in `/proc`, with a deadline).
//! - A listener left by an earlier hub (one that could not take it down: no parent-death
//!   signal) is ended at the next start; a process the pid file names that is not a listener on
//!   this socket is left alone.
//! - A listener killed with SIGKILL is noticed by its sessions within seconds (the runtime's
//!   exit is in their transcripts, a turn in flight ends failed), the hub starts a new one on
//!   its own, and the next turn resumes the same thread in it.
//!
//! Prints the measured notice and restart latencies.

#![allow(clippy::unwrap_used)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use orbitdock_protocol::{ItemBody, ItemsPage, SessionDelta, SessionState, TurnStatus};
use serde_json::json;
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};

use crate::common::{Rest, Ws, eventually, is_turn_ended, kill9, serve, target_bin};

/// How long a dead listener may take to be noticed, and a killed hub's listener to die: seconds,
/// not the tens of seconds a keep-alive timeout would take.
const PROMPTLY: Duration = Duration::from_secs(10);

fn shared() -> Vec<OsString> {
    vec!["--shared-runtime".into()]
}

pub(crate) fn socket_of(data: &Path) -> PathBuf {
    data.join("runtime").join("codex-app-server.sock")
}

/// Live (not zombie) processes whose command line listens on `socket`, with their parents,
/// read from `/proc` independently of the server's own bookkeeping.
pub(crate) fn listeners(socket: &Path) -> Vec<(u32, u32)> {
    let listen = format!("unix://{}", socket.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if !argv
            .windows(2)
            .any(|w| w[0] == b"--listen" && w[1] == listen.as_bytes())
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let mut fields = stat[stat.rfind(')').unwrap_or(0) + 1..].split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state != "Z" && state != "X" {
            out.push((pid, ppid));
        }
    }
    out
}

pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat[stat.rfind(')').unwrap_or(0) + 1..]
            .split_whitespace()
            .next()
            .unwrap_or("Z");
        state != "Z" && state != "X"
    })
}

/// Polls `f` until it holds, at most `limit`; returns how long it took.
pub(crate) async fn within(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> bool,
) -> Result<Duration> {
    let t0 = Instant::now();
    loop {
        if f() {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > limit {
            bail!("not within {limit:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn items(r: &Rest, id: &str) -> Result<ItemsPage> {
    r.get(&format!("/api/sessions/{id}/items?after=0&limit=1000"))
        .await
}

async fn create(r: &Rest, home: &TempCodexHome) -> Result<String> {
    let st: SessionState = r
        .post(
            "/api/sessions",
            &json!({"cwd": home.workdir(), "approval_policy": "never", "sandbox_mode": "read-only"}),
        )
        .await?;
    Ok(st.summary.id)
}

/// Sends `text` and waits for the agent's `reply` in the transcript.
async fn turn(r: &Rest, id: &str, text: &str, reply: &str) -> Result<()> {
    let _: serde_json::Value = r
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({ "text": text }),
        )
        .await?;
    eventually(&format!("the reply {reply:?}"), || async {
        let page = items(r, id).await?;
        Ok(page
            .items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::AgentMessage { text, .. } if text == reply))
            .then_some(()))
    })
    .await
}

/// The model request of the turn sent as `text` carried `earlier` (the thread's history): the
/// turn continued the same thread.
fn continues_thread(fake: &FakeResponses, text: &str, earlier: &str) -> Result<()> {
    let request = fake
        .responses_requests()
        .into_iter()
        .find(|q| q.last_user_text().as_deref() == Some(text))
        .with_context(|| format!("the request of the turn {text:?}"))?;
    ensure!(
        serde_json::to_string(request.input())?.contains(earlier),
        "the turn {text:?} did not carry {earlier:?}: a new thread?"
    );
    Ok(())
}

fn home_for(fake: &FakeResponses) -> TempCodexHome {
    CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("read-only")
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_with_sigkill_takes_its_shared_runtime_with_it() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("before the kill"));
    fake.enqueue(ScriptedResponse::new().text("after the restart"));
    let home = home_for(&fake);
    let data = tempfile::tempdir()?;
    let socket = socket_of(data.path());
    let bin = target_bin("orbitdock")?;

    let mut s = serve(&bin, data.path(), &home, &shared())?;
    let r = s.rest();
    let id = create(&r, &home).await?;
    turn(&r, &id, "first", "before the kill").await?;
    let running = listeners(&socket);
    ensure!(
        running.len() == 1 && running[0].1 == s.child.id(),
        "one listener, the hub's child: {running:?} (hub {})",
        s.child.id()
    );
    let listener = running[0].0;

    // SIGKILL to the hub's process group; the listener leads its own group, so only the
    // parent-death signal can take it down.
    kill9(&mut s);
    let took = within(PROMPTLY, "the listener to end with its hub", || {
        !alive(listener) && listeners(&socket).is_empty()
    })
    .await?;
    println!("shared runtime: listener gone {took:?} after its hub was killed");

    // The next hub on the data dir starts its own runtime and resumes the thread in it.
    let s = serve(&bin, data.path(), &home, &shared())?;
    let r = s.rest();
    turn(&r, &id, "second", "after the restart").await?;
    let running = listeners(&socket);
    ensure!(
        running.len() == 1 && running[0].1 == s.child.id(),
        "{running:?}"
    );
    continues_thread(&fake, "second", "before the kill")?;
    drop(s);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_left_behind_is_ended_at_the_next_start_and_a_reused_pid_is_not() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("on the new runtime"));
    let home = home_for(&fake);
    let data = tempfile::tempdir()?;
    let socket = socket_of(data.path());
    let runtime_dir = socket.parent().context("runtime dir")?;
    std::fs::create_dir_all(runtime_dir)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(runtime_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // What a hub with no parent-death signal leaves after a crash: the real listener on the
    // socket, owned by nobody the new hub knows.
    let mut orphan = std::process::Command::new(test_support::codex_bin())
        .arg("app-server")
        .arg("--listen")
        .arg(format!("unix://{}", socket.display()))
        .envs(home.env())
        .env("CODEX_HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let orphan_pid = orphan.id();
    within(Duration::from_secs(30), "the orphan to listen", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    })
    .await?;
    // Its pid file names a pid now used by an unrelated program.
    let mut decoy = std::process::Command::new("sleep")
        .arg("300")
        .stdin(Stdio::null())
        .spawn()?;
    std::fs::write(
        runtime_dir.join("codex-app-server.pid"),
        json!({"pid": decoy.id(), "hub_pid": 1, "socket": socket}).to_string(),
    )?;

    let bin = target_bin("orbitdock")?;
    let s = serve(&bin, data.path(), &home, &shared())?;
    let r = s.rest();
    let id = create(&r, &home).await?;
    // The orphan is a child of this test: it is ended (SIGTERM: it exits cleanly) and reaped
    // here, within the deadline.
    let orphan_status =
        tokio::time::timeout(PROMPTLY, tokio::task::spawn_blocking(move || orphan.wait()))
            .await
            .context("the orphan was not ended")???;
    println!("shared runtime: the orphaned listener ended with {orphan_status}");
    turn(&r, &id, "hello", "on the new runtime").await?;
    let running = listeners(&socket);
    ensure!(
        running.len() == 1 && running[0].0 != orphan_pid && running[0].1 == s.child.id(),
        "only the hub's own listener: {running:?}"
    );
    ensure!(
        decoy.try_wait()?.is_none(),
        "the unrelated process was killed"
    );
    let _ = decoy.kill();
    let _ = decoy.wait();
    drop(s);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runtime_is_noticed_at_once_restarted_and_its_threads_resumed() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("idle answer"));
    // The busy session's turn streams slowly, so the kill lands mid-turn.
    let slow: Vec<String> = (0..40).map(|i| format!("w{i} ")).collect();
    let slow: Vec<&str> = slow.iter().map(String::as_str).collect();
    fake.enqueue(
        ScriptedResponse::new()
            .text_deltas(&slow)
            .delay_between_events(Duration::from_millis(100)),
    );
    let home = home_for(&fake);
    let data = tempfile::tempdir()?;
    let socket = socket_of(data.path());
    let bin = target_bin("orbitdock")?;
    let s = serve(&bin, data.path(), &home, &shared())?;
    let r = s.rest();

    let idle = create(&r, &home).await?;
    turn(&r, &idle, "one", "idle answer").await?;
    let busy = create(&r, &home).await?;
    let mut ws = Ws::connect_with_token(&s.base, &s.token).await?;
    ws.subscribe(&busy, None).await?;
    let _: serde_json::Value = r
        .post(
            &format!("/api/sessions/{busy}/messages"),
            &json!({"text": "stream slowly"}),
        )
        .await?;
    eventually("the busy turn to stream", || async {
        let page = items(&r, &busy).await?;
        Ok(page
            .items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::AgentMessage { text, .. } if text.contains("w3 ")))
            .then_some(()))
    })
    .await?;

    let running = listeners(&socket);
    ensure!(running.len() == 1, "{running:?}");
    let old = running[0].0;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(old)?),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let killed = Instant::now();

    // Both sessions are told, with the runtime's exit, within seconds.
    for id in [&idle, &busy] {
        let notice = loop {
            let page = items(&r, id).await?;
            let found = page.items.iter().find_map(|i| match &i.body {
                ItemBody::Notice { message, .. } if message.contains("shared Codex runtime") => {
                    Some(message.clone())
                }
                _ => None,
            });
            if let Some(m) = found {
                break m;
            }
            if killed.elapsed() > PROMPTLY {
                bail!("session {id} was not told within {PROMPTLY:?}: {page:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        ensure!(
            notice.contains(&format!("pid {old}")) && notice.contains("SIGKILL"),
            "{notice}"
        );
    }
    let noticed = killed.elapsed();
    // The turn in flight ended, failed.
    match ws
        .wait_delta("the busy turn's end", &busy, is_turn_ended)
        .await?
    {
        SessionDelta::TurnEnded { status, .. } => {
            ensure!(status == TurnStatus::Failed, "{status:?}")
        }
        other => bail!("{other:?}"),
    }
    ws.close().await;

    // The hub starts a new runtime by itself (a terminal may be attached to the socket).
    let restarted = within(PROMPTLY, "a new listener", || {
        listeners(&socket)
            .iter()
            .any(|(pid, ppid)| *pid != old && *ppid == s.child.id())
    })
    .await?;
    println!(
        "shared runtime: killed listener noticed by both sessions after {noticed:?}, restarted after {:?}",
        killed.elapsed().min(restarted + noticed)
    );

    // The next turn resumes the same thread in the new runtime.
    fake.enqueue(ScriptedResponse::new().text("after the crash"));
    turn(&r, &idle, "two", "after the crash").await?;
    continues_thread(&fake, "two", "idle answer")?;
    let running = listeners(&socket);
    ensure!(running.len() == 1 && running[0].0 != old, "{running:?}");
    drop(s);
    Ok(())
}
