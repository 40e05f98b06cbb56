//! Shared pieces of codexpc's benchmark programs: the `--quick` knob, statistics, a real
//! codexpc HTTP server on 127.0.0.1:0 over a given engine, and a streaming SSE client.
#![allow(dead_code)] // each bench uses a subset

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codexpc::engine::Engine;
use codexpc::render::RenderConfig;
use codexpc::responses::{AppState, app};
use codexpc::service::{Service, ServiceConfig};
use futures::StreamExt;
use serde_json::Value;

/// Fixed conversation date so every path renders byte-identical prompts.
pub const DATE: &str = "2026-11-22";

/// `--quick` on the command line or `CODEXPC_BENCH_QUICK=1`: a shorter run.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("CODEXPC_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// llama.cpp threads for every path: `CODEXPC_BENCH_THREADS`, default 1. One thread keeps the
/// figures stable on a shared 2-core machine, where llama.cpp's spinning thread barrier makes
/// multi-threaded decode very sensitive to other load; the comparison uses the same value on
/// every path.
pub fn threads() -> usize {
    std::env::var("CODEXPC_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

pub fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

/// Nearest-rank percentile.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

pub fn render_config() -> RenderConfig {
    RenderConfig {
        conversation_date: Some(DATE.to_string()),
    }
}

/// codexpc's Responses app served on 127.0.0.1:0 by a dedicated runtime.
pub struct Server {
    pub base: String,
    pub runtime: tokio::runtime::Runtime,
    pub service: Arc<Service>,
}

impl Server {
    pub fn start(engine: Arc<dyn Engine>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let service = Arc::new(Service::new(engine, ServiceConfig::default())?);
        let mut state = AppState::new(service.clone());
        state.render = render_config();
        let router = app(state);
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("bench server stopped: {e}");
            }
        });
        Ok(Self {
            base: format!("http://{addr}"),
            runtime,
            service,
        })
    }
}

/// What one streamed response produced.
#[derive(Debug, Default)]
pub struct StreamOutcome {
    pub text_deltas: usize,
    pub text: String,
    /// `usage.output_tokens` of `response.completed`.
    pub output_tokens: Option<u64>,
    pub completed: bool,
    pub failed: Option<String>,
    pub elapsed: Duration,
}

/// POST `body` (stream: true) and read SSE events until `response.completed`/`failed`, or,
/// with `stop_after_deltas`, until that many text deltas arrived — then the response (and its
/// connection) is dropped, which is how a client "goes away". Returns the instant of the drop.
pub async fn stream(
    client: &reqwest::Client,
    base: &str,
    body: &Value,
    stop_after_deltas: Option<usize>,
) -> Result<(StreamOutcome, Instant)> {
    let started = Instant::now();
    let resp = client
        .post(format!("{base}/v1/responses"))
        .json(body)
        .send()
        .await
        .context("POST /v1/responses")?;
    if !resp.status().is_success() {
        let status = resp.status();
        bail!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
    }
    let mut out = StreamOutcome::default();
    let mut buf = String::new();
    let mut body_stream = resp.bytes_stream();
    while let Some(chunk) = body_stream.next().await {
        buf.push_str(std::str::from_utf8(&chunk?).context("SSE is UTF-8")?);
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut name = "";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            match name {
                "response.output_text.delta" => {
                    out.text_deltas += 1;
                    let v: Value = serde_json::from_str(&data)?;
                    out.text.push_str(v["delta"].as_str().unwrap_or_default());
                    if stop_after_deltas.is_some_and(|n| out.text_deltas >= n) {
                        out.elapsed = started.elapsed();
                        drop(body_stream);
                        return Ok((out, Instant::now()));
                    }
                }
                "response.completed" => {
                    let v: Value = serde_json::from_str(&data)?;
                    out.output_tokens = v["response"]["usage"]["output_tokens"].as_u64();
                    out.completed = true;
                }
                "response.failed" => {
                    out.failed = Some(data.clone());
                }
                _ => {}
            }
        }
        if out.completed || out.failed.is_some() {
            break;
        }
    }
    out.elapsed = started.elapsed();
    Ok((out, Instant::now()))
}
