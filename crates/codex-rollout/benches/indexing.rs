//! Initial indexing throughput over a generated corpus of rollout files.
//!
//! Goal (issue 6): >= 100 MB/s and < 10 s for 10k files. Baseline, measured in the same run on
//! the same (page-cached) bytes: a raw sequential `read` of every file into a 256 KiB buffer.
//! The ratio says how much of the raw read speed parsing and session building keep.
//!
//! `cargo bench -p codex-rollout --bench indexing` (env `BENCH_FILES`, default 10000;
//! `BENCH_TURNS`, default 4 turns per file).

mod corpus;

use std::io::{BufWriter, Read};
use std::time::Instant;

use codex_rollout::{IndexConfig, MemoryStore, RolloutIndex, WatcherEvent, skip_none};

fn main() -> anyhow::Result<()> {
    let files: usize = std::env::var("BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let turns: usize = std::env::var("BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("sessions");
    let pad = corpus::pad(12_000);
    let t = Instant::now();
    let mut total = 0u64;
    let mut paths = Vec::with_capacity(files);
    for i in 0..files {
        let day = root.join(format!("2026/11/{:02}", 1 + i % 28));
        std::fs::create_dir_all(&day)?;
        let id = format!("01a20095-0000-7000-8000-{i:012}");
        let p = day.join(format!("rollout-2026-11-22T00-00-00-{id}.jsonl"));
        let mut w = BufWriter::new(std::fs::File::create(&p)?);
        // A handful of project directories, as on a real machine.
        total += corpus::write_thread(
            &mut w,
            &id,
            &format!("/home/u/project-{}", i % 7),
            turns,
            &pad,
        )?;
        std::io::Write::flush(&mut w)?;
        paths.push(p);
    }
    let mb = total as f64 / 1e6;
    println!(
        "corpus: {files} files, {mb:.1} MB, generated in {:.2?}",
        t.elapsed()
    );

    // Baseline: raw sequential read of the same bytes (after one warm-up pass, so both sides
    // read from the page cache).
    let raw = |paths: &[std::path::PathBuf]| -> anyhow::Result<(u64, f64)> {
        let t = Instant::now();
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        for p in paths {
            let mut f = std::fs::File::open(p)?;
            loop {
                let k = f.read(&mut buf)?;
                if k == 0 {
                    break;
                }
                n += k as u64;
            }
        }
        Ok((n, t.elapsed().as_secs_f64()))
    };
    raw(&paths)?;
    let (raw_bytes, raw_secs) = raw(&paths)?;
    assert_eq!(raw_bytes, total);

    // Index: parse every line, build every passive session (git resolution off: the cwds do not
    // exist; with it on it is one `git` run per distinct cwd).
    let config = IndexConfig {
        resolve_git: false,
        ..IndexConfig::default()
    };
    let mut index = RolloutIndex::new(config, Box::new(MemoryStore::default()), skip_none())?;
    let t = Instant::now();
    let mut updates = 0u64;
    let mut created = 0u64;
    index.sweep(&root, codex_rollout::passive_session::now_ms(), &mut |e| {
        updates += 1;
        if matches!(
            e,
            WatcherEvent::Update {
                update: codex_rollout::SessionUpdate::Created { .. }
            }
        ) {
            created += 1;
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let stats = index.stats().clone();
    assert_eq!(stats.bytes, total, "every byte indexed");
    assert_eq!(created, files as u64, "one session per file");
    assert_eq!(stats.malformed, 0);

    let raw_mbs = mb / raw_secs;
    let idx_mbs = mb / secs;
    println!("baseline raw read: {raw_mbs:8.1} MB/s ({raw_secs:.3} s)");
    println!(
        "initial index:     {idx_mbs:8.1} MB/s ({secs:.3} s, {} lines, {updates} updates, {created} sessions)",
        stats.lines
    );
    println!("ratio index/raw:   {:.3}", idx_mbs / raw_mbs);
    println!(
        "goal >= 100 MB/s: {}; goal < 10 s for {files} files: {}",
        if idx_mbs >= 100.0 { "met" } else { "NOT met" },
        if secs < 10.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
