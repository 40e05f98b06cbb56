//! Soak of the Responses endpoint: rounds of 100 concurrent streams against a real
//! `codexpc serve --script` (scripted engine, loopback only), against a baseline of single
//! streams measured in the same run.
//!
//! Prints per round: completed, errors, 429s, time-to-first-token p50/p99 and the server's RSS;
//! then the totals, the p50 ratio concurrent/baseline and whether RSS plateaued. Exits non-zero
//! when any stream failed (a correctness failure, not a timing one).
//!
//! Short by default (3 rounds). Longer: `CODEXPC_SOAK_ROUNDS=200` and/or `CODEXPC_SOAK_SECS=600`
//! (whichever ends first), or `--long` (200 rounds, 10 minutes at most):
//!
//!     cargo bench -p codexpc --bench soak_responses
//!     CODEXPC_SOAK_ROUNDS=50 cargo bench -p codexpc --bench soak_responses
//!     cargo bench -p codexpc --bench soak_responses -- --long

#[allow(dead_code)]
#[path = "../tests/reliability/soak_driver.rs"]
mod soak_driver;
#[allow(dead_code)]
#[path = "../tests/reliability/support.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use soak_driver::{Outcome, StreamRecord, burst, counts, http_client, one_stream, quantile};
use support::{Serve, ServeOptions, final_answer, write_script};

const STREAMS: usize = 100;
const BASELINE_STREAMS: usize = 20;

fn env_num(var: &str) -> Option<u64> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

fn ms(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let long = std::env::args().any(|a| a == "--long");
    let rounds = env_num("CODEXPC_SOAK_ROUNDS").unwrap_or(if long { 200 } else { 3 }) as usize;
    let max_time =
        Duration::from_secs(env_num("CODEXPC_SOAK_SECS").unwrap_or(if long { 600 } else { 300 }));
    codexpc::harmony::init()?;
    let dir = tempfile::tempdir()?;
    let lines: Vec<serde_json::Value> = (0..BASELINE_STREAMS + rounds * STREAMS)
        .map(|_| json!({"completion": final_answer(20)}))
        .collect();
    let script = write_script(dir.path(), "soak.jsonl", &lines)?;
    let mut opts = ServeOptions::new(&script);
    // Every stream of a round fits in the queue: a 429 here is a failure.
    opts.max_queue = Some(STREAMS - 1);
    let server = Serve::start(&opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = http_client(Duration::from_secs(300));

    println!(
        "soak_responses: {rounds} rounds of {STREAMS} concurrent streams (max {max_time:?}), scripted engine, 20-word replies"
    );
    let baseline: Vec<StreamRecord> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..BASELINE_STREAMS {
            out.push(one_stream(&client, &server.base_url, i, "hello", None).await);
        }
        out
    });
    let base_p50 = quantile(&baseline, 0.5);
    println!(
        "baseline (one stream at a time, {BASELINE_STREAMS}): ttft p50 {:.2} ms p99 {:.2} ms, errors {}",
        ms(base_p50),
        ms(quantile(&baseline, 0.99)),
        counts(&baseline).errors
    );

    let started = Instant::now();
    let mut all: Vec<StreamRecord> = Vec::new();
    let mut rss = Vec::new();
    let mut first_errors: Vec<String> = Vec::new();
    for round in 1..=rounds {
        if started.elapsed() > max_time {
            println!("time limit reached after {} rounds", round - 1);
            break;
        }
        let t = Instant::now();
        let records = rt.block_on(burst(&client, &server.base_url, STREAMS, "hello", None));
        let c = counts(&records);
        let kib = server.rss_kib().unwrap_or(0);
        rss.push(kib);
        println!(
            "round {round}: {} completed, {} errors, {} 429s in {:.0} ms; ttft p50 {:.1} ms p99 {:.1} ms; server RSS {} KiB",
            c.completed,
            c.errors,
            c.busy,
            t.elapsed().as_secs_f64() * 1000.0,
            ms(quantile(&records, 0.5)),
            ms(quantile(&records, 0.99)),
            kib
        );
        first_errors.extend(
            records
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Error(e) => Some(e.clone()),
                    _ => None,
                })
                .take(3),
        );
        all.extend(records);
    }
    let c = counts(&all);
    let p50 = quantile(&all, 0.5);
    println!(
        "total: {} streams, {} completed, {} errors, {} 429s; ttft p50 {:.1} ms p99 {:.1} ms; p50 ratio concurrent/baseline {:.1}x",
        all.len(),
        c.completed,
        c.errors,
        c.busy,
        ms(p50),
        ms(quantile(&all, 0.99)),
        ms(p50) / ms(base_p50)
    );
    if let (Some(first), Some(last)) = (rss.first(), rss.last()) {
        let max = rss.iter().max().copied().unwrap_or(0);
        println!("server RSS: first round {first} KiB, last {last} KiB, max {max} KiB");
    }
    if c.errors > 0 || c.busy > 0 {
        eprintln!(
            "FAILED: {} errors, {} 429s; first: {first_errors:?}",
            c.errors, c.busy
        );
        eprintln!("server stderr: {}", server.stderr());
        std::process::exit(1);
    }
    Ok(())
}
