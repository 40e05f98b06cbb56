//! Peak memory while tailing a 1 GB rollout file.
//!
//! Goal (issue 6): < 50 MB. The file is generated in a temp dir (deleted afterwards) by
//! appending 64 MiB steps; after each step the index polls the file, as the watcher does on
//! each change. Printed: RSS and peak RSS (VmHWM) before reading (the baseline: binary, libs,
//! allocator), peak after, and the difference attributable to tailing. A naive reader that
//! loads the file would peak at more than the file size.
//!
//! `cargo bench -p codex-rollout --bench tail_memory` (env `BENCH_MB`, default 1024).

mod corpus;

use std::io::{BufWriter, Write};
use std::time::Instant;

use codex_rollout::{IndexConfig, MemoryStore, RolloutIndex, skip_none};

fn main() -> anyhow::Result<()> {
    let target_mb: u64 = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let target = target_mb * 1024 * 1024;
    let step = 64 * 1024 * 1024;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("rollout-big.jsonl");
    let pad = corpus::pad(6_000);

    let base_rss = corpus::vm_rss_kib();
    let base_hwm = corpus::vm_hwm_kib();
    println!(
        "baseline before reading: RSS {:.1} MB, peak {:.1} MB",
        base_rss as f64 / 1024.0,
        base_hwm as f64 / 1024.0
    );

    let config = IndexConfig {
        resolve_git: false,
        ..IndexConfig::default()
    };
    let mut index = RolloutIndex::new(config, Box::new(MemoryStore::default()), skip_none())?;
    let mut w = BufWriter::with_capacity(
        64 * 1024,
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?,
    );
    let mut written = 0u64;
    let mut next_poll = step;
    let mut updates = 0u64;
    let mut read_secs = 0.0;
    let mut first = true;
    let mut turn_block = 0usize;
    while written < target {
        // One thread: session_meta once, then turns appended forever.
        let id = "01a20095-1111-7000-8000-000000000001";
        if first {
            written += corpus::write_thread(&mut w, id, "/home/u/big", 0, &pad)?;
            first = false;
        }
        // Turn blocks without a new session_meta (strip the two header lines).
        let mut buf = Vec::new();
        corpus::write_thread(&mut buf, id, "/home/u/big", 50, &pad)?;
        let body_start = buf
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(1)
            .map(|(i, _)| i + 1)
            .unwrap_or(0);
        w.write_all(&buf[body_start..])?;
        written += (buf.len() - body_start) as u64;
        turn_block += 1;
        if written >= next_poll || written >= target {
            w.flush()?;
            let t = Instant::now();
            index.process_file(&path, codex_rollout::passive_session::now_ms(), &mut |_| {
                updates += 1
            });
            read_secs += t.elapsed().as_secs_f64();
            next_poll += step;
        }
    }
    drop(w);
    let stats = index.stats().clone();
    let hwm = corpus::vm_hwm_kib();
    let gb = stats.bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    println!(
        "tailed {:.2} GiB in {} blocks ({} lines, {updates} updates) reading for {read_secs:.2} s ({:.0} MB/s)",
        gb,
        turn_block,
        stats.lines,
        stats.bytes as f64 / 1e6 / read_secs
    );
    assert_eq!(stats.malformed, 0);
    let view = index.sessions().pop();
    if let Some(v) = view {
        println!(
            "session: prompts {}, tools {}",
            v.prompt_count, v.tool_count
        );
    }
    println!("peak RSS after tailing: {:.1} MB", hwm as f64 / 1024.0);
    println!(
        "peak growth over baseline: {:.1} MB",
        (hwm.saturating_sub(base_hwm)) as f64 / 1024.0
    );
    println!(
        "ratio peak/file size: {:.4}",
        (hwm as f64 * 1024.0) / stats.bytes as f64
    );
    println!(
        "goal < 50 MB peak: {}",
        if hwm < 50 * 1024 { "met" } else { "NOT met" }
    );
    drop(dir);
    Ok(())
}
