//! Issue 6: latency from appending a line to a Codex rollout file to the WebSocket delta a
//! subscribed client receives for it (goal p99 < 300 ms, including the watcher's 150 ms
//! debounce). End to end through the real server: watcher thread -> registry -> session actor
//! -> SQLite commit -> hub -> WebSocket.
//!
//! Baseline, in the same run: a bare `notify` watcher timing append -> raw file-system event.
//!
//! `cargo bench -p orbitdock-server --bench watch_ws_latency` (env `BENCH_APPENDS`, default 200).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use notify::{RecursiveMode, Watcher};
use orbitdock_server::{DiscoveryOptions, ServerConfig};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const THREAD: &str = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001";

fn append(path: &std::path::Path, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line.as_bytes())?;
    Ok(())
}

fn user_line(i: usize) -> String {
    format!(
        "{}\n",
        json!({
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "type": "event_msg",
            "payload": {"type": "user_message", "message": format!("prompt {i}")},
        })
    )
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn baseline(n: usize, gap: Duration) -> Result<Vec<Duration>> {
    let dir = tempfile::tempdir()?;
    let raw_file = dir.path().join("raw.jsonl");
    append(&raw_file, "{}\n")?;
    let (tx, rx) = std_mpsc::channel();
    let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
        if r.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = tx.send(Instant::now());
        }
    })?;
    w.watch(dir.path(), RecursiveMode::Recursive)?;
    let mut raw = Vec::with_capacity(n);
    for i in 0..n {
        while rx.try_recv().is_ok() {}
        let t = Instant::now();
        append(&raw_file, &user_line(i))?;
        let got = rx.recv_timeout(Duration::from_secs(5))?;
        raw.push(got.saturating_duration_since(t));
        std::thread::sleep(gap); // pacing between samples, not synchronisation
    }
    Ok(raw)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let n: usize = std::env::var("BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let gap = Duration::from_millis(30);
    let mut raw = tokio::task::spawn_blocking(move || baseline(n, gap)).await??;

    let data = tempfile::tempdir()?;
    let home = tempfile::tempdir()?;
    let day = home.path().join("sessions/2026/11/22");
    std::fs::create_dir_all(&day)?;
    let file = day.join(format!("rollout-2026-11-22T00-00-00-{THREAD}.jsonl"));
    let server = orbitdock_server::start_with(
        ServerConfig {
            data_dir: data.path().to_owned(),
            codex_home: home.path().to_owned(),
            codex_bin: test_support::codex_bin(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: "bench".into(),
            codex_env: Vec::new(),
            claude: None,
        },
        DiscoveryOptions {
            watch_codex: true,
            passive_idle: Duration::from_secs(3600),
        },
    )
    .await?;
    append(
        &file,
        &format!(
            "{}\n",
            json!({"timestamp": chrono::Utc::now().to_rfc3339(), "type": "session_meta",
                "payload": {"id": THREAD, "cwd": home.path(), "cli_version": "0.169.0"}})
        ),
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let id = loop {
        if let Some(id) = server.registry.session_for_thread(THREAD) {
            break id;
        }
        if Instant::now() > deadline {
            bail!("the passive session never appeared");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let url = format!("ws://{}/ws?token=bench", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ws.send(Message::Text(
        json!({"type": "subscribe_session", "session_id": id})
            .to_string()
            .into(),
    ))
    .await?;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await?
            .context("ws closed")??;
        if m.to_text().unwrap_or_default().contains("session_snapshot") {
            break;
        }
    }

    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        append(&file, &user_line(i))?;
        let want = format!("\"prompt {i}\"");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .with_context(|| format!("no delta for prompt {i}"))?
                .context("ws closed")??;
            let text = m.to_text().unwrap_or_default();
            if text.contains("session_delta") && text.contains(&want) {
                lat.push(t.elapsed());
                break;
            }
        }
        tokio::time::sleep(gap).await; // pacing between samples, not synchronisation
    }
    server.shutdown().await;

    let (r50, r99) = (pct(&mut raw, 0.5), pct(&mut raw, 0.99));
    let (l50, l99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!("{n} appends, {gap:?} apart");
    println!("baseline append -> raw notify event:        p50 {r50:?}  p99 {r99:?}");
    println!("append -> WebSocket delta (150 ms debounce): p50 {l50:?}  p99 {l99:?}");
    println!(
        "ratio p99 ws/notify: {:.1}",
        l99.as_secs_f64() / r99.as_secs_f64().max(1e-9)
    );
    println!(
        "goal p99 < 300 ms: {}",
        if l99 < Duration::from_millis(300) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
