//! Quick soak of the Responses endpoint (the long, timed variant is `benches/soak_responses.rs`):
//!
//! 1. 100 concurrent streams with a queue that fits them all: 100 complete, 0 errors, 0 429s.
//! 2. Accounting of 429s: with the engine slot held by a long stream and `--max-queue 10`, a
//!    burst of 50 gets exactly 10 admitted (they complete once the slot frees) and exactly 40
//!    refused with 429 `server_busy`, matching the server's own busy counter.
//!
//! Asserts counts only; times to first token are printed, never asserted.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use codexpc::sse_client::SseDecoder;
use futures::StreamExt as _;
use serde_json::json;

use crate::soak_driver::{Counts, burst, counts, http_client, metric, quantile};
use crate::support::{Serve, ServeOptions, final_answer, write_script};

const TIMEOUT: Duration = Duration::from_secs(120);

fn script(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let mut lines = vec![json!({
        "match": "blocker",
        "completion": final_answer(2_000),
        "token_delay_ms": 20,
    })];
    lines.extend((0..300).map(|_| json!({"completion": final_answer(8)})));
    write_script(dir, "soak.jsonl", &lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_streams_complete_and_429s_are_exactly_the_overflow() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let script = script(dir.path())?;
    let client = http_client(TIMEOUT);

    // 1. Everything fits in the queue.
    let mut opts = ServeOptions::new(&script);
    opts.max_queue = Some(99);
    let server = Serve::start(&opts)?;
    let records = burst(&client, &server.base_url, 100, "hello", None).await;
    let c = counts(&records);
    let errors: Vec<_> = records
        .iter()
        .filter(|r| matches!(r.outcome, crate::soak_driver::Outcome::Error(_)))
        .take(5)
        .collect();
    ensure!(
        c == Counts {
            completed: 100,
            busy: 0,
            errors: 0
        },
        "{c:?}; first errors: {errors:?}; stderr: {}",
        server.stderr()
    );
    ensure!(
        metric(&client, &server.base_url, "codexpc_busy_rejections_total").await == Some(0),
        "busy counter"
    );
    println!(
        "soak quick: 100 concurrent streams, max_queue 99: {} completed, {} errors, {} 429s; ttft p50 {:?} p99 {:?}",
        c.completed,
        c.errors,
        c.busy,
        quantile(&records, 0.5).unwrap_or_default(),
        quantile(&records, 0.99).unwrap_or_default()
    );
    println!(
        "soak quick: server RSS after the burst {} KiB",
        server.rss_kib().unwrap_or(0)
    );
    drop(server);

    // 2. The slot is held; the queue takes 10 of a burst of 50.
    let (queue, burst_size) = (10usize, 50usize);
    opts.max_queue = Some(queue);
    let server = Serve::start(&opts)?;
    let blocker = client
        .post(format!("{}/v1/responses", server.base_url))
        .json(&json!({"stream": true, "input": "blocker"}))
        .send()
        .await?;
    ensure!(blocker.status() == 200, "{}", blocker.status());
    let mut blocker_body = blocker.bytes_stream();
    let mut decoder = SseDecoder::new();
    tokio::time::timeout(TIMEOUT, async {
        while let Some(chunk) = blocker_body.next().await {
            if decoder
                .push(&chunk?)
                .iter()
                .any(|m| m.event == "response.output_text.delta")
            {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("the blocker ended before streaming")
    })
    .await
    .context("the blocker never streamed")??;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let base = server.base_url.clone();
    let burst_client = client.clone();
    let burst_task =
        tokio::spawn(
            async move { burst(&burst_client, &base, burst_size, "hello", Some(tx)).await },
        );
    let mut statuses = Vec::new();
    while statuses.len() < burst_size {
        let (_, status) = tokio::time::timeout(TIMEOUT, rx.recv())
            .await
            .context("a burst request got no status")?
            .context("status channel closed early")?;
        statuses.push(status);
    }
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    ensure!(
        (admitted, refused) == (queue, burst_size - queue),
        "while the slot was held: {admitted} admitted, {refused} refused (statuses {statuses:?})"
    );
    // Free the slot: the queued streams run to completion.
    drop(blocker_body);
    let records = tokio::time::timeout(TIMEOUT, burst_task)
        .await
        .context("queued streams did not finish")??;
    let c = counts(&records);
    ensure!(
        c == Counts {
            completed: queue,
            busy: burst_size - queue,
            errors: 0
        },
        "{c:?}: {records:?}"
    );
    let busy_metric = metric(&client, &server.base_url, "codexpc_busy_rejections_total").await;
    ensure!(
        busy_metric == Some((burst_size - queue) as u64),
        "server counted {busy_metric:?} rejections"
    );
    println!(
        "soak quick: burst of {burst_size} with the slot held and max_queue {queue}: {} admitted and completed, {} refused with 429 (server counter {:?}), {} errors",
        c.completed, c.busy, busy_metric, c.errors
    );
    Ok(())
}
