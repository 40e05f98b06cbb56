//! Disk and resource faults under a running hub:
//!
//! * the data dir's disk fills up mid-turn (a small tmpfs mounted as the data dir; needs root
//!   and `mount`, skipped with the reason printed otherwise): `/health` reports the degraded
//!   state with SQLite's reason, nothing crashes, reads keep working, and once space is freed
//!   the held-back changes are saved and published: after a restart every item is there once,
//!   whole, and the database passes `integrity_check`;
//! * the data dir is read-only at start: a clear error naming the file, not a panic;
//! * the data dir turns read-only under a running server: Linux refuses to remount a file
//!   system read-only while a file on it is open for writing (the database is), so the
//!   database, its WAL and the directory are made immutable instead (`chattr +i` on ext4, which
//!   refuses every write through descriptors already open, as a read-only remount would):
//!   `/health` reports the degraded state, nothing crashes, nothing partial is saved or
//!   published, and once writes work again every held-back change is saved and published;
//! * the data dir is deleted under a running server: `/health` says so, live updates keep
//!   flowing, and a restart starts a fresh database;
//! * file descriptors run out at the accept loop (the real `orbitdock serve` with a low
//!   `RLIMIT_NOFILE`, held by idle connections): the server stays up and answers the waiting
//!   request as soon as descriptors are free again.

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use orbitdock_protocol::{
    Health, ItemBody, ItemStatus, ItemsPage, SendMessageResponse, TurnStatus,
};
use serde_json::json;
use test_support::{CodexHomeBuilder, FakeResponses};

use crate::common::{
    Scripted, ServeOptions, Ws, eventually, is_turn_ended, message_event, serve_with, target_bin,
    text_event, turn_end_event,
};

/// A tmpfs mounted on a temp dir; unmounted on drop.
struct Tmpfs {
    dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// `Err(reason)` when this machine cannot mount one (not root, no `mount`, no privilege).
    fn mount(size_kib: u64) -> std::result::Result<Tmpfs, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root: cannot mount a small file system".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_kib}k,mode=0700"))
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount not available: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir: Some(dir) })
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    fn remount(&self, opts: &str) -> Result<()> {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(self.path())
            .output()?;
        ensure!(
            out.status.success(),
            "remount {opts}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = Command::new("umount").arg("-l").arg(d.path()).status();
        }
    }
}

/// Fills the file system holding `dir` with one file; returns its path.
fn fill(dir: &Path) -> Result<std::path::PathBuf> {
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p)?;
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
            Err(e) => return Err(e.into()),
        }
    }
    // Whatever sub-chunk space is left, byte by byte in larger steps.
    for n in [4096usize, 512, 1] {
        let small = vec![0u8; n];
        while f.write(&small).map(|w| w > 0).unwrap_or(false) {}
    }
    let _ = f.sync_all();
    Ok(p)
}

async fn health(s: &Scripted) -> Result<Health> {
    s.rest.get("/health").await
}

/// A session with a client following it and a turn running: (session id, thread id, client,
/// turn id).
async fn session_mid_turn(s: &Scripted) -> Result<(String, String, Ws, String)> {
    let (id, thread) = s.create().await?;
    let mut ws = s.ws().await?;
    ws.subscribe(&id, None).await?;
    let r: SendMessageResponse = s
        .rest
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "hi"}),
        )
        .await?;
    Ok((id, thread, ws, r.turn_id.context("no turn started")?))
}

/// The item is in the page exactly once, as an agent message with exactly `text`.
fn once_and_whole(page: &ItemsPage, item_id: &str, text: &str) -> Result<()> {
    let matching: Vec<_> = page.items.iter().filter(|it| it.id == item_id).collect();
    ensure!(matching.len() == 1, "{item_id}: {} copies", matching.len());
    match &matching[0].body {
        ItemBody::AgentMessage { text: t } if t == text => Ok(()),
        other => bail!("{item_id} is partial: {other:.80?}"),
    }
}

/// Items left `in_progress` (a UI would show them streaming forever).
fn stale(page: &ItemsPage) -> usize {
    page.items
        .iter()
        .filter(|it| it.status == ItemStatus::InProgress)
        .count()
}

/// SQLite's `integrity_check` of the database in `data`.
fn integrity(data: &Path) -> Result<String> {
    let db = orbitdock_server::data_dir::db_path(data);
    Ok(rusqlite::Connection::open(db)?.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
}

fn big_text(tag: &str) -> String {
    // Larger than the WAL left from start-up, so saving it needs new blocks on the disk.
    format!("{tag}:{}", "0123456789abcdef".repeat(32 * 1024))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_degrades_clearly_and_loses_nothing_once_space_is_back() -> Result<()> {
    let fs = match Tmpfs::mount(6 * 1024) {
        Ok(fs) => fs,
        Err(reason) => {
            println!("SKIPPED disk-full check: {reason}");
            return Ok(());
        }
    };
    // The server's data dir is the mount itself.
    let data = tempfile::Builder::new().tempdir_in(fs.path())?;
    let mut s = Scripted::start_in(data).await?;
    let (id, thread) = s.create().await?;
    let r: SendMessageResponse = s
        .rest
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "fill it"}),
        )
        .await?;
    let turn = r.turn_id.unwrap();
    ensure!(health(&s).await?.degraded.is_none());

    let filler = fill(fs.path())?;
    let full_at = Instant::now();
    let texts: Vec<String> = (0..3).map(|i| big_text(&format!("item{i}"))).collect();
    for (i, t) in texts.iter().enumerate() {
        s.agent
            .emit(&thread, vec![message_event(&turn, &format!("big-{i}"), t)])
            .await;
    }
    let reason = eventually("the degraded state", || async {
        Ok(health(&s).await?.degraded)
    })
    .await?;
    let seen_after = full_at.elapsed();
    // Reads keep working while writes wait.
    let list: orbitdock_protocol::SessionsResponse = s.rest.get("/api/sessions").await?;
    ensure!(list.sessions.iter().any(|x| x.id == id));

    std::fs::remove_file(&filler)?;
    let freed_at = Instant::now();
    eventually("recovery", || async {
        Ok(health(&s).await?.degraded.is_none().then_some(()))
    })
    .await?;
    let recovered_after = freed_at.elapsed();
    s.agent
        .emit(&thread, vec![turn_end_event(&turn, TurnStatus::Completed)])
        .await;
    eventually("the turn to end", || async {
        let st = s.state(&id).await?;
        Ok(st.current_turn.is_none().then_some(()))
    })
    .await?;

    s.restart().await?;
    let page: ItemsPage = s
        .rest
        .get(&format!("/api/sessions/{id}/items?after=0&limit=1000"))
        .await?;
    for (i, t) in texts.iter().enumerate() {
        once_and_whole(&page, &format!("big-{i}"), t)?;
    }
    let found = texts.len();
    let stale = stale(&page);
    let integrity = integrity(s.data.path())?;
    println!(
        "disk full: degraded within {seen_after:.1?} ({reason}); recovered {recovered_after:.1?} after space was freed; after restart {found}/{} items whole and once, {stale} in progress, integrity_check {integrity}",
        texts.len()
    );
    ensure!(stale == 0 && integrity == "ok");
    ensure!(
        reason.to_lowercase().contains("full"),
        "the reason should name the full disk: {reason}"
    );
    s.shutdown().await;
    drop(fs);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_data_dir_is_a_clear_start_error() -> Result<()> {
    let fs = match Tmpfs::mount(2 * 1024) {
        Ok(fs) => fs,
        Err(reason) => {
            println!("SKIPPED read-only check: {reason}");
            return Ok(());
        }
    };
    // A database from an earlier run (made elsewhere, so nothing on the small file system is
    // open when it turns read-only), then the file system turns read-only.
    let s = Scripted::start().await?;
    s.create().await?;
    let earlier = s.data.path().to_owned();
    let dir = fs.path().join("data");
    std::fs::create_dir(&dir)?;
    let Scripted { server, data, .. } = s;
    server.unwrap().shutdown().await;
    for e in std::fs::read_dir(&earlier)? {
        let e = e?;
        if e.file_name()
            .to_string_lossy()
            .starts_with("orbitdock.sqlite")
        {
            std::fs::copy(e.path(), dir.join(e.file_name()))?;
        }
    }
    fs.remount("ro")?;
    let (agent, rx) = orbitdock_server::testing::ScriptedConnector::new();
    let started = orbitdock_server::start_with_connector(
        orbitdock_server::ServerConfig {
            data_dir: dir.clone(),
            codex_home: dir.join("home"),
            codex_bin: "codex".into(),
            bind: "127.0.0.1:0".parse()?,
            token: crate::common::TOKEN.into(),
            codex_env: Vec::new(),
            claude: None,
            output_limits: Default::default(),
        },
        agent,
        rx,
    )
    .await;
    fs.remount("rw")?;
    let err = match started {
        Ok(server) => {
            server.shutdown().await;
            bail!("a server started on a read-only data dir");
        }
        Err(e) => e.to_string(),
    };
    println!("read-only data dir: start refused with: {err}");
    ensure!(
        err.contains("orbitdock.sqlite") && err.to_lowercase().contains("read-only"),
        "{err}"
    );
    drop(data);
    drop(fs);
    Ok(())
}

/// Files and directories made immutable (`chattr +i`); made mutable again on drop, so a failed
/// test still leaves a temp dir that can be removed.
struct Immutable {
    paths: Vec<std::path::PathBuf>,
}

impl Immutable {
    /// `Err(reason)` when this machine cannot (not root, no `chattr`, a file system without
    /// the flag).
    fn set(paths: &[std::path::PathBuf]) -> std::result::Result<Immutable, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root: cannot set the immutable flag".into());
        }
        let mut set = Immutable { paths: Vec::new() };
        for p in paths {
            let out = Command::new("chattr")
                .arg("+i")
                .arg(p)
                .output()
                .map_err(|e| format!("chattr not available: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "chattr +i {}: {}",
                    p.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            set.paths.push(p.clone());
        }
        Ok(set)
    }

    fn clear(&mut self) -> Result<()> {
        for p in self.paths.drain(..) {
            let st = Command::new("chattr").arg("-i").arg(&p).status()?;
            ensure!(st.success(), "chattr -i {}", p.display());
        }
        Ok(())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = self.clear();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_turned_read_only_under_a_running_server_degrades_and_recovers() -> Result<()> {
    let mut s = Scripted::start().await?;
    let (id, thread, mut ws, turn) = session_mid_turn(&s).await?;
    ensure!(health(&s).await?.degraded.is_none());
    let db = orbitdock_server::data_dir::db_path(s.data.path());
    let wal = std::path::PathBuf::from(format!("{}-wal", db.display()));
    // The shared-memory index (`-shm`) stays writable: SQLite maps it, and a write fault on an
    // immutable mapping is a SIGBUS, which no real read-only file system produces.
    let mut ro = match Immutable::set(&[db, wal, s.data.path().to_owned()]) {
        Ok(ro) => ro,
        Err(reason) => {
            println!("SKIPPED read-only-at-runtime check: {reason}");
            s.shutdown().await;
            return Ok(());
        }
    };
    let ro_at = Instant::now();
    // A streamed item and a whole one, then the end of the turn, all while writes fail.
    let streamed = ["streamed ", "while ", "read-only"];
    for d in streamed {
        s.agent
            .emit(&thread, vec![text_event(&turn, "ro-streamed", d)])
            .await;
    }
    let whole = big_text("ro-whole");
    s.agent
        .emit(
            &thread,
            vec![
                message_event(&turn, "ro-streamed", &streamed.concat()),
                message_event(&turn, "ro-whole", &whole),
                turn_end_event(&turn, TurnStatus::Completed),
            ],
        )
        .await;
    let reason = eventually("the degraded state", || async {
        Ok(health(&s).await?.degraded)
    })
    .await?;
    let seen_after = ro_at.elapsed();
    // Reads keep working while writes fail.
    let list: orbitdock_protocol::SessionsResponse = s.rest.get("/api/sessions").await?;
    ensure!(list.sessions.iter().any(|x| x.id == id));
    ensure!(s.state(&id).await?.summary.id == id);

    ro.clear()?;
    let writable_at = Instant::now();
    eventually("recovery", || async {
        Ok(health(&s).await?.degraded.is_none().then_some(()))
    })
    .await?;
    let recovered_after = writable_at.elapsed();
    // The held-back changes are published once saved: the client sees the end of the turn.
    ws.wait_delta("the end of the turn", &id, is_turn_ended)
        .await?;

    s.restart().await?;
    let page: ItemsPage = s
        .rest
        .get(&format!("/api/sessions/{id}/items?after=0&limit=1000"))
        .await?;
    once_and_whole(&page, "ro-streamed", &streamed.concat())?;
    once_and_whole(&page, "ro-whole", &whole)?;
    let stale = stale(&page);
    let running = s.state(&id).await?.current_turn.is_some();
    let integrity = integrity(s.data.path())?;
    println!(
        "read-only at runtime: degraded within {seen_after:.1?} ({reason}); recovered {recovered_after:.1?} after writes worked again; after restart 2/2 items whole and once, {stale} in progress, turn still running: {running}, integrity_check {integrity}"
    );
    ensure!(stale == 0 && integrity == "ok" && !running);
    ensure!(
        reason.contains("cannot save changes"),
        "the reason should say changes cannot be saved: {reason}"
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_deleted_under_a_running_server() -> Result<()> {
    let mut s = Scripted::start().await?;
    let (id, thread, mut ws, turn) = session_mid_turn(&s).await?;
    std::fs::remove_dir_all(s.data.path())?;
    s.agent
        .emit(
            &thread,
            vec![
                text_event(&turn, "after-rm", "still streaming"),
                turn_end_event(&turn, TurnStatus::Completed),
            ],
        )
        .await;
    ws.wait_delta("the item after the removal", &id, |d| {
        matches!(d, orbitdock_protocol::SessionDelta::ItemText { item_id, .. } if item_id == "after-rm")
    })
    .await?;
    let reason = eventually("the degraded state", || async {
        Ok(health(&s).await?.degraded)
    })
    .await?;
    let st = s.state(&id).await?;
    ensure!(st.summary.id == id);
    // A restart on the same (now missing) path starts over with an empty database.
    s.restart().await?;
    let list: orbitdock_protocol::SessionsResponse = s.rest.get("/api/sessions").await?;
    println!(
        "data dir deleted: the live session kept streaming; /health: {reason}; restart: a fresh database with {} sessions",
        list.sessions.len()
    );
    ensure!(reason.contains("removed"), "{reason}");
    ensure!(list.sessions.is_empty());
    ensure!(health(&s).await?.degraded.is_none());
    s.shutdown().await;
    Ok(())
}

/// `GET /health` on a fresh connection; `None` when no answer comes within `wait`.
fn health_within(addr: &str, wait: Duration) -> Result<Option<String>> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(wait))?;
    write!(
        c,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    match c.read_to_string(&mut out) {
        Ok(_) if !out.is_empty() => Ok(Some(out)),
        Ok(_) => Ok(None),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_at_the_accept_loop() -> Result<()> {
    const LIMIT: u64 = 96;
    let bin = target_bin("orbitdock")?;
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let data = tempfile::tempdir()?;
    let mut s = serve_with(
        &bin,
        data.path(),
        &home,
        &ServeOptions {
            max_open_files: Some(LIMIT),
            ..Default::default()
        },
    )?;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Idle connections, each holding one of the server's descriptors, until a new request
    // goes unanswered (accept fails with EMFILE and the loop backs off).
    let mut held = Vec::new();
    let mut exhausted = false;
    while held.len() < 4 * LIMIT as usize {
        for _ in 0..8 {
            let mut c = TcpStream::connect(&addr)?;
            // A request line without the end of the headers: the server waits for the rest.
            c.write_all(b"GET /health HTTP/1.1\r\n")?;
            held.push(c);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if health_within(&addr, Duration::from_secs(2))?.is_none() {
            exhausted = true;
            break;
        }
    }
    ensure!(
        exhausted,
        "{} idle connections did not exhaust {LIMIT} descriptors",
        held.len()
    );
    ensure!(
        s.child.try_wait()?.is_none(),
        "the server died when descriptors ran out"
    );
    // A request waiting in the listen backlog, answered once descriptors are free.
    let waiting_addr = addr.clone();
    let waiting = std::thread::spawn(move || health_within(&waiting_addr, Duration::from_secs(30)));
    let n_held = held.len();
    let freed = Instant::now();
    drop(held);
    let answer = waiting
        .join()
        .map_err(|_| anyhow::anyhow!("probe thread panicked"))??
        .context("the waiting request was never answered")?;
    let recovered_after = freed.elapsed();
    ensure!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    ensure!(s.child.try_wait()?.is_none(), "the server died");
    let h: Health = s.rest().get("/health").await?;
    ensure!(h.ok);
    println!(
        "fd exhaustion: RLIMIT_NOFILE {LIMIT}, {n_held} idle connections exhausted the accept loop; the server stayed up and answered the waiting request {recovered_after:.1?} after they closed"
    );
    s.terminate();
    Ok(())
}
