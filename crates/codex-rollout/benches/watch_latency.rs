//! Watcher latency: from appending a line to a rollout file to the sink receiving the session
//! update it produces (the watcher half of issue 6's "append -> WebSocket delta, p99 < 300 ms
//! including the 150 ms debounce"; the server's delta fan-out is measured by its own benchmark).
//!
//! Baseline, in the same run: a bare `notify` watcher on the same kind of file, timing append ->
//! raw file-system event. The difference is the debounce plus reading, parsing and the state
//! machine.
//!
//! `cargo bench -p codex-rollout --bench watch_latency` (env `BENCH_APPENDS`, default 200).

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use codex_rollout::{
    MemoryStore, RolloutWatcher, SessionUpdate, TranscriptItem, WatcherConfig, WatcherEvent,
    skip_none,
};
use notify::{RecursiveMode, Watcher};

fn append(path: &std::path::Path, line: &str) -> anyhow::Result<()> {
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
        serde_json::json!({
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

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let gap = Duration::from_millis(30);

    // Baseline: raw notify latency.
    let dir = tempfile::tempdir()?;
    let raw_file = dir.path().join("raw.jsonl");
    append(&raw_file, "{}\n")?;
    let (tx, rx) = mpsc::channel();
    let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
        if r.is_ok() {
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
    drop(w);

    // The watcher: append -> ItemAppended for that prompt.
    let dir2 = tempfile::tempdir()?;
    let file = dir2.path().join("rollout-lat.jsonl");
    let (tx, rx) = mpsc::channel();
    let mut config = WatcherConfig::new(dir2.path());
    config.index.resolve_git = false;
    let watcher = RolloutWatcher::start(
        config,
        Box::new(MemoryStore::default()),
        skip_none(),
        Box::new(move |ev| {
            if let WatcherEvent::Update {
                update:
                    SessionUpdate::ItemAppended {
                        entry:
                            codex_rollout::TranscriptEntry {
                                item: TranscriptItem::User { text },
                                ..
                            },
                        ..
                    },
            } = ev
            {
                let _ = tx.send((text, Instant::now()));
            }
        }),
    )?;
    append(
        &file,
        &format!(
            "{}\n",
            serde_json::json!({"timestamp": chrono::Utc::now().to_rfc3339(), "type": "session_meta",
                "payload": {"id": "lat-1", "cwd": "/tmp"}})
        ),
    )?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        append(&file, &user_line(i))?;
        let want = format!("prompt {i}");
        loop {
            let (text, at) = rx.recv_timeout(Duration::from_secs(5))?;
            if text == want {
                lat.push(at.saturating_duration_since(t));
                break;
            }
        }
        std::thread::sleep(gap);
    }
    watcher.stop();

    let (r50, r99) = (pct(&mut raw, 0.5), pct(&mut raw, 0.99));
    let (l50, l99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!("{n} appends, {gap:?} apart");
    println!("baseline notify event:   p50 {r50:?}  p99 {r99:?}");
    println!("watcher update (150 ms debounce): p50 {l50:?}  p99 {l99:?}");
    println!(
        "ratio p99 watcher/notify: {:.1}",
        l99.as_secs_f64() / r99.as_secs_f64().max(1e-9)
    );
    println!(
        "goal p99 < 300 ms (watcher half): {}",
        if l99 < Duration::from_millis(300) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
