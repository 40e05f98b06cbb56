//! Concurrent Responses streams against a running codexpc: the shared driver of the soak test
//! (`tests/reliability/soak.rs`) and the soak benchmark (`benches/soak_responses.rs`).
//!
//! Each stream is one `POST /v1/responses` with `stream: true`; it records the HTTP status as
//! soon as the head arrives, the time to the first `response.output_text.delta`, and how the
//! stream ended. A 429 is expected only when the queue is full; anything else that is not a
//! completed stream counts as an error.

use std::time::{Duration, Instant};

use codexpc::sse_client::SseDecoder;
use futures::StreamExt as _;
use serde_json::json;
use tokio::sync::mpsc;

/// How one stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// 429 with the `server_busy` JSON error.
    Busy,
    Error(String),
}

/// One stream's record.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub status: u16,
    pub ttft: Option<Duration>,
    pub outcome: Outcome,
}

/// Status heads as they arrive (index, status), for callers that act before streams end.
pub type StatusTx = mpsc::UnboundedSender<(usize, u16)>;

/// Run one stream to its end.
pub async fn one_stream(
    client: &reqwest::Client,
    base: &str,
    index: usize,
    input: &str,
    statuses: Option<StatusTx>,
) -> StreamRecord {
    let started = Instant::now();
    let mut record = StreamRecord {
        status: 0,
        ttft: None,
        outcome: Outcome::Error("not sent".into()),
    };
    let resp = match client
        .post(format!("{base}/v1/responses"))
        .json(&json!({"model": "gpt-oss", "stream": true, "input": input}))
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            record.outcome = Outcome::Error(format!("request failed: {e}"));
            return record;
        }
    };
    record.status = resp.status().as_u16();
    if let Some(tx) = &statuses {
        let _ = tx.send((index, record.status));
    }
    if record.status == 429 {
        record.outcome = match resp.json::<serde_json::Value>().await {
            Ok(v) if v["error"]["code"] == "server_busy" => Outcome::Busy,
            Ok(v) => Outcome::Error(format!("429 without server_busy: {v}")),
            Err(e) => Outcome::Error(format!("429 with an unreadable body: {e}")),
        };
        return record;
    }
    if record.status != 200 {
        let body = resp.text().await.unwrap_or_default();
        record.outcome = Outcome::Error(format!("status {}: {body:.200}", record.status));
        return record;
    }
    let mut body = resp.bytes_stream();
    let mut decoder = SseDecoder::new();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                record.outcome = Outcome::Error(format!("stream broke: {e}"));
                return record;
            }
        };
        for msg in decoder.push(&chunk) {
            match msg.event.as_str() {
                "response.output_text.delta" if record.ttft.is_none() => {
                    record.ttft = Some(started.elapsed());
                }
                "response.completed" => {
                    record.outcome = if record.ttft.is_some() {
                        Outcome::Completed
                    } else {
                        Outcome::Error("completed without any text delta".into())
                    };
                    return record;
                }
                "response.failed" => {
                    record.outcome = Outcome::Error(format!("response.failed: {}", msg.data));
                    return record;
                }
                _ => {}
            }
        }
    }
    record.outcome = Outcome::Error("stream ended without response.completed".into());
    record
}

/// `n` streams at once; returns their records in index order.
pub async fn burst(
    client: &reqwest::Client,
    base: &str,
    n: usize,
    input: &str,
    statuses: Option<StatusTx>,
) -> Vec<StreamRecord> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            let base = base.to_owned();
            let input = input.to_owned();
            let statuses = statuses.clone();
            tokio::spawn(async move { one_stream(&client, &base, i, &input, statuses).await })
        })
        .collect();
    drop(statuses);
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| StreamRecord {
            status: 0,
            ttft: None,
            outcome: Outcome::Error(format!("task failed: {e}")),
        }));
    }
    out
}

/// A client with a connection per concurrent stream (no pool limit) and a bound on each request.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("reqwest client")
}

/// Counts of a burst.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub completed: usize,
    pub busy: usize,
    pub errors: usize,
}

pub fn counts(records: &[StreamRecord]) -> Counts {
    let mut c = Counts::default();
    for r in records {
        match r.outcome {
            Outcome::Completed => c.completed += 1,
            Outcome::Busy => c.busy += 1,
            Outcome::Error(_) => c.errors += 1,
        }
    }
    c
}

/// The `q` quantile (0..=1) of the times to first token, nearest rank.
pub fn quantile(records: &[StreamRecord], q: f64) -> Option<Duration> {
    let mut t: Vec<Duration> = records.iter().filter_map(|r| r.ttft).collect();
    if t.is_empty() {
        return None;
    }
    t.sort();
    let rank = ((q * t.len() as f64).ceil() as usize).clamp(1, t.len());
    Some(t[rank - 1])
}

/// A counter from the Prometheus text of `/metrics`.
pub async fn metric(client: &reqwest::Client, base: &str, name: &str) -> Option<u64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
