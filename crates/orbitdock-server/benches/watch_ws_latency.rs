//! Issue 6: latency from appending a line to a Codex rollout file to the WebSocket delta a
//! subscribed client receives for it (goal p99 < 300 ms, including the watcher's 150 ms
//! debounce). End to end through the real server: watcher thread -> registry -> session actor
//! -> SQLite commit -> hub -> WebSocket.
//!
//! Baseline, in the same run: a bare `notify` watcher timing append -> raw file-system event.
//!
//! `cargo bench -p orbitdock-server --bench watch_ws_latency` (env `BENCH_APPENDS`, default 200).

#[path = "support/mod.rs"]
mod support;

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use notify::{RecursiveMode, Watcher};

use support::{append, delta_with, pct, user_line, watched_thread};

const THREAD: &str = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001";

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
        append(&raw_file, &user_line(&format!("prompt {i}")))?;
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

    let mut w = watched_thread(THREAD, "bench").await?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let text = format!("prompt {i}");
        let t = Instant::now();
        append(&w.rollout, &user_line(&text))?;
        lat.push(delta_with(&mut w.ws, &format!("\"{text}\"")).await? - t);
        tokio::time::sleep(gap).await; // pacing between samples, not synchronisation
    }
    w.server.shutdown().await;

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
