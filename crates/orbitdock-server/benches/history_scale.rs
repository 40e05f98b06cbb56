//! A heavy user's history: a generated corpus of Codex rollouts (Codex's own format, from
//! `test_support::rollout_corpus`) imported through the real path (rollout watcher -> registry
//! -> session actors -> the single writer, search index included) by a real server, measured
//! while it imports and after:
//!
//! * first list page while importing (goal < 1 s from server start), against the same server
//!   start on an empty history (baseline);
//! * import throughput (sessions/s, items/s), against reading and parsing the same rollouts
//!   alone (codex-rollout's index, checkpoints and events dropped: the floor of any import);
//! * a list page (`?limit=50`, goal < 50 ms), against the unpaged list every client got before
//!   (baseline);
//! * search p99 (goal < 100 ms) through `GET /api/search`, against a `LIKE` scan of the same
//!   items (baseline);
//! * peak RSS while importing (goal < 300 MB; the process's high-water mark, corpus generation
//!   included), against the same server started on an empty history.
//!
//! `cargo bench -p orbitdock-server --bench history_scale` with `BENCH_SESSIONS` (default 2000),
//! `BENCH_TURNS` (default 10; 3 items per turn) and `BENCH_PAD` (bytes of filler in the large
//! fields, default 600). The full goal, 50,000 sessions / 5,000,000 items, is
//! `BENCH_SESSIONS=50000 BENCH_TURNS=34 BENCH_PAD=150` (about 4 GB of rollouts and 3 GB of
//! database; set `TMPDIR` to a disk with room); the size run is printed with the figures.
//! Figures measured at that size, with the exact commands and the machine, are in
//! `docs/history-scale.md`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use orbitdock_protocol::{SearchResponse, SessionsResponse};
use orbitdock_server::{DiscoveryOptions, RunningServer, ServerConfig};

const TOKEN: &str = "bench-token";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's resident set high-water mark and current size, in MB.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn start(data: &Path, home: &Path) -> Result<RunningServer> {
    Ok(orbitdock_server::start_with(
        ServerConfig {
            data_dir: data.to_owned(),
            codex_home: home.to_owned(),
            codex_bin: test_support::codex_bin(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: TOKEN.into(),
            codex_env: Vec::new(),
            claude: None,
            output_limits: Default::default(),
        },
        DiscoveryOptions {
            watch_codex: true,
            passive_idle: Duration::from_secs(24 * 3600),
            ..DiscoveryOptions::default()
        },
    )
    .await?)
}

async fn get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    base: &str,
    path: &str,
) -> Result<T> {
    let r = http
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("{path}: HTTP {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// From `start` to the first answered `GET /api/sessions?limit=50`: (time, rows listed).
async fn first_page(data: &Path, home: &Path) -> Result<(Duration, usize, RunningServer)> {
    let t0 = Instant::now();
    let server = start(data, home).await?;
    let http = reqwest::Client::new();
    let page: SessionsResponse = get(&http, &server.base_url(), "/api/sessions?limit=50").await?;
    Ok((t0.elapsed(), page.sessions.len(), server))
}

/// Checkpoints dropped (the baseline reads each file once).
struct NoCheckpoints;

impl codex_rollout::OffsetStore for NoCheckpoints {
    fn load_all(
        &mut self,
    ) -> codex_rollout::Result<Vec<(std::path::PathBuf, codex_rollout::FileCheckpoint)>> {
        Ok(Vec::new())
    }
    fn save(&mut self, _: &Path, _: &codex_rollout::FileCheckpoint) -> codex_rollout::Result<()> {
        Ok(())
    }
    fn remove(&mut self, _: &Path) -> codex_rollout::Result<()> {
        Ok(())
    }
}

/// Reading and parsing every rollout alone, the way the watcher does, with checkpoints kept in
/// memory and the events dropped: the floor under any import of this corpus.
fn parse_only(home: &Path) -> Result<Duration> {
    let t = Instant::now();
    let mut index = codex_rollout::RolloutIndex::new(
        codex_rollout::IndexConfig::default(),
        Box::new(NoCheckpoints),
        Arc::new(|_: &str| false),
    )
    .context("opening the index")?;
    let mut events = 0u64;
    index.sweep(
        &home.join("sessions"),
        codex_rollout::passive_session::now_ms(),
        &mut |_| events += 1,
    );
    std::hint::black_box(events);
    Ok(t.elapsed())
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn timed<F, Fut>(n: usize, mut f: F) -> Result<Vec<Duration>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await?;
        out.push(t.elapsed());
    }
    Ok(out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "meets goal" } else { "MISSES goal" }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let n = env_num("BENCH_SESSIONS", 2_000);
    let turns = env_num("BENCH_TURNS", 10);
    let pad = env_num("BENCH_PAD", 600);
    let http = reqwest::Client::new();

    // Baseline start: an empty history.
    let empty_data = tempfile::tempdir()?;
    let empty_home = tempfile::tempdir()?;
    let (empty_first, _, s) = first_page(empty_data.path(), empty_home.path()).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, empty_rss) = rss_mb();
    s.shutdown().await;

    let home = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let t = Instant::now();
    let bytes = test_support::rollout_corpus::write_history(home.path(), n, turns, pad)?;
    println!(
        "corpus: {n} sessions x {turns} turns, {:.0} MB of rollouts written in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    // Peak RSS while importing: sampled, and the kernel's high-water mark.
    let importing = Arc::new(AtomicBool::new(true));
    let sampler = {
        let importing = importing.clone();
        std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while importing.load(Ordering::SeqCst) {
                peak = peak.max(rss_mb().1);
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let t_import = Instant::now();
    let (first, listed, server) = first_page(data.path(), home.path()).await?;
    let base = server.base_url();
    let hub = server.registry.list_hub().clone();
    let store = server.registry.store().clone();
    // Done: every session listed and the item count stable (every line applied).
    let mut last_items = 0;
    let items = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if t_import.elapsed() > Duration::from_secs(3600) {
            bail!("the import did not finish within an hour");
        }
        if hub.len() < n {
            continue;
        }
        store.flush().await?;
        let count: i64 = store
            .read(|c| {
                c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))
                    .map_err(|e| orbitdock_server::Error::db("counting items", e))
            })
            .await?;
        if count == last_items && count > 0 {
            break count as usize;
        }
        last_items = count;
    };
    // The last half second only confirmed the count.
    let import_time = t_import.elapsed() - Duration::from_millis(500);
    importing.store(false, Ordering::SeqCst);
    let sampled_peak = sampler.join().unwrap_or(0.0);
    let (hwm, _) = rss_mb();
    // After the high-water mark: the baseline's index is not the server's memory.
    let parse_time = parse_only(home.path())?;

    // List page vs the unpaged list (the old answer).
    let mut paged = timed(200, |i| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let q = match i % 4 {
                0 => "/api/sessions?limit=50",
                1 => "/api/sessions?limit=50&provider=codex&origin=passive",
                2 => "/api/sessions?limit=50&cwd=/home/user/project-7",
                _ => "/api/sessions?limit=50&sort=created",
            };
            let _: SessionsResponse = get(&http, &base, q).await?;
            Ok(())
        }
    })
    .await?;
    let mut whole = timed(10, |_| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let _: SessionsResponse = get(&http, &base, "/api/sessions").await?;
            Ok(())
        }
    })
    .await?;

    // Search vs a LIKE scan of the items.
    let words = [
        "failing",
        "module17",
        "assertion",
        "wrong field",
        "cargo test",
        "ünïcødé",
        "修正",
    ];
    let mut search = timed(200, |i| {
        let http = http.clone();
        let base = base.clone();
        // A third are one session's module id; the rest cycle through every word of the set
        // (`i - i / 3 - 1` counts the word queries before this one).
        let q = if i % 3 == 0 {
            format!("module{}", (i * 7919) % n)
        } else {
            words[(i - i / 3 - 1) % words.len()].to_owned()
        };
        async move {
            let path = format!("/api/search?q={}&limit=50", q.replace(' ', "%20"));
            let r: SearchResponse = get(&http, &base, &path)
                .await
                .with_context(|| format!("searching {q}"))?;
            // Every query of the set matches: a fast empty answer would measure nothing.
            anyhow::ensure!(!r.hits.is_empty(), "no hit for {q}");
            Ok(())
        }
    })
    .await?;
    // Queries outside the goal's set, reported on their own: two common words that are never
    // in the same item (FTS5 walks both doclists to find no document with both), a prefix of
    // 50,000 indexed terms (`module0`..: FTS5's own prefix merge), and a two-letter prefix.
    let hard = ["failing assertion", "modul", "fi"];
    let mut hard_times: Vec<(&str, Vec<Duration>)> = Vec::new();
    for q in hard {
        let http = http.clone();
        let base = base.clone();
        let times = timed(20, move |_| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let path = format!("/api/search?q={}&limit=50", q.replace(' ', "%20"));
                let _: SearchResponse = get(&http, &base, &path)
                    .await
                    .with_context(|| format!("searching {q}"))?;
                Ok(())
            }
        })
        .await?;
        hard_times.push((q, times));
    }
    let mut like = timed(5, |i| {
        let store = store.clone();
        let word = format!("%module{}%", (i * 7919) % n);
        async move {
            store
                .read(move |c| {
                    let mut st = c
                        .prepare("SELECT session_id, seq FROM items WHERE body LIKE ?1 LIMIT 50")
                        .map_err(|e| orbitdock_server::Error::db("like", e))?;
                    let rows = st
                        .query_map([word], |r| r.get::<_, String>(0))
                        .map_err(|e| orbitdock_server::Error::db("like", e))?;
                    Ok(rows.count())
                })
                .await?;
            Ok(())
        }
    })
    .await?;

    let sessions_per_s = n as f64 / import_time.as_secs_f64();
    let items_per_s = items as f64 / import_time.as_secs_f64();
    let live_actors = server.registry.live_actors();
    println!(
        "size: {n} sessions, {items} items imported through the rollout watcher (goal size 50,000 / 5,000,000)"
    );
    println!(
        "first list page while importing: {:.0} ms ({listed} rows listed by then); goal < 1000 ms: {}; baseline empty history {:.0} ms, ratio {:.2}x",
        ms(first),
        verdict(first < Duration::from_secs(1)),
        ms(empty_first),
        first.as_secs_f64() / empty_first.as_secs_f64().max(1e-9)
    );
    println!(
        "import: {:.1} s, {sessions_per_s:.0} sessions/s, {items_per_s:.0} items/s, {:.0} MB of rollouts/s; baseline reading + parsing alone {:.1} s, ratio {:.2}x; {live_actors} session actors left in memory",
        import_time.as_secs_f64(),
        bytes as f64 / 1e6 / import_time.as_secs_f64(),
        parse_time.as_secs_f64(),
        import_time.as_secs_f64() / parse_time.as_secs_f64().max(1e-9)
    );
    let p50 = pct(&mut paged, 0.5);
    let p99 = pct(&mut paged, 0.99);
    let whole50 = pct(&mut whole, 0.5);
    println!(
        "list page (limit 50, filters): p50 {:.2} ms, p99 {:.2} ms; goal < 50 ms: {}; baseline unpaged list p50 {:.1} ms, ratio {:.3}x",
        ms(p50),
        ms(p99),
        verdict(p99 < Duration::from_millis(50)),
        ms(whole50),
        p50.as_secs_f64() / whole50.as_secs_f64().max(1e-9)
    );
    let s50 = pct(&mut search, 0.5);
    let s99 = pct(&mut search, 0.99);
    let like50 = pct(&mut like, 0.5);
    println!(
        "search: p50 {:.2} ms, p99 {:.2} ms; goal p99 < 100 ms: {}; baseline LIKE scan p50 {:.1} ms, ratio {:.3}x",
        ms(s50),
        ms(s99),
        verdict(s99 < Duration::from_millis(100)),
        ms(like50),
        s50.as_secs_f64() / like50.as_secs_f64().max(1e-9)
    );
    for (q, mut times) in hard_times {
        println!(
            "search outside the goal's set, {q:?}: p50 {:.2} ms, p99 {:.2} ms",
            ms(pct(&mut times, 0.5)),
            ms(pct(&mut times, 0.99))
        );
    }
    let peak = hwm.max(sampled_peak);
    println!(
        "peak RSS while importing: {peak:.0} MB (whole bench process); goal < 300 MB: {}, ratio to goal {:.2}x; baseline empty history {empty_rss:.0} MB, ratio {:.2}x",
        verdict(peak < 300.0),
        peak / 300.0,
        peak / empty_rss.max(1e-9)
    );
    server.shutdown().await;
    if std::env::var_os("BENCH_KEEP_DATA").is_some() {
        // For looking at the database afterwards (its queries, a migration's time).
        println!("data dir kept: {}", data.keep().display());
    }
    Ok(())
}
