//! Cancel latency: a client drops a streaming response mid-generation; how long until the
//! engine's generation returns? p50/p99 over N runs, in one run of this program.
//!
//! The engine is the llama engine on the tiny "final-channel loop" GGUF (it streams a valid
//! final-channel message forever, so a generation only ends when something stops it), wrapped
//! in a decorator that records the instant `generate` returns and why. Each run streams from
//! codexpc's HTTP app on 127.0.0.1:0 until 16 text deltas arrived, then drops the response
//! (closing the connection); latency = engine return - drop. The disconnect reaches the engine
//! as the response's cancel flag or as the service's event channel closing (its sink then says
//! stop); whichever comes first ends the generation, and both count.
//!
//! Baseline, same run: the engine alone, cancelled through its `CancelFlag` from another thread
//! (the floor the HTTP path adds disconnect detection to).
//!
//! Seed target: p99 < 100 ms; goal: p99 < 10 ms. `--quick` (or `CODEXPC_BENCH_QUICK=1`) runs
//! fewer iterations.

mod common;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use codexpc::engine::llama::{LlamaConfig, LlamaEngine};
use codexpc::engine::{
    CancelFlag, Engine, EngineInfo, GenerateRequest, Generation, Sampling, StopReason,
};
use codexpc::harmony::harmony;
use codexpc::render::render_request;
use codexpc::responses::types::ResponsesRequest;
use serde_json::json;
use test_support::gguf::{TinyVariant, tiny_gguf_path};

/// Records when each generation returned and how it stopped.
struct Timed {
    inner: Arc<LlamaEngine>,
    returned: mpsc::SyncSender<(Instant, Option<StopReason>)>,
}

impl Engine for Timed {
    fn info(&self) -> EngineInfo {
        self.inner.info()
    }

    fn generate(
        &self,
        req: &GenerateRequest<'_>,
        cancel: &CancelFlag,
        sink: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) -> codexpc::Result<Generation> {
        let result = self.inner.generate(req, cancel, sink);
        let _ = self
            .returned
            .try_send((Instant::now(), result.as_ref().ok().map(|g| g.stop)));
        result
    }
}

fn main() -> Result<()> {
    let runs = if common::quick() { 20 } else { 200 };
    let engine = Arc::new(LlamaEngine::load(
        &tiny_gguf_path(TinyVariant::FinalChannelLoop),
        LlamaConfig {
            threads: Some(common::threads()),
            show_progress: false,
            ..LlamaConfig::default()
        },
    )?);
    let (tx, rx) = mpsc::sync_channel(16);
    let server = common::Server::start(Arc::new(Timed {
        inner: engine.clone(),
        returned: tx,
    }))?;
    let client = reqwest::Client::new();
    // No max_output_tokens: the loop model would run to the end of the context.
    let body = json!({
        "model": "tiny-gpt-oss",
        "input": "Keep talking until I leave.",
        "stream": true,
        "temperature": 0,
    });
    println!("cancel_latency: {runs} runs per path, drop/cancel after 16 text deltas");

    // HTTP path.
    let mut http = Vec::with_capacity(runs);
    for i in 0..runs {
        let (outcome, dropped_at) =
            server
                .runtime
                .block_on(common::stream(&client, &server.base, &body, Some(16)))?;
        if outcome.text_deltas < 16 {
            bail!(
                "run {i}: stream ended after {} deltas ({:?})",
                outcome.text_deltas,
                outcome.failed
            );
        }
        let (returned_at, stop) = rx.recv_timeout(Duration::from_secs(30))?;
        // The disconnect reaches the engine either as the response's cancel flag (Cancelled) or
        // as the service's event channel closing, which makes its sink say stop (Sink).
        if !matches!(stop, Some(StopReason::Cancelled | StopReason::Sink)) {
            bail!("run {i}: generation ended with {stop:?}, not by the client's disconnect");
        }
        http.push(
            returned_at
                .saturating_duration_since(dropped_at)
                .as_secs_f64()
                * 1e3,
        );
    }

    // Engine-only baseline, same prompt tokens.
    let request: ResponsesRequest = serde_json::from_value(body)?;
    let prompt = render_request(harmony()?, &request, &common::render_config())?.tokens;
    let mut direct = Vec::with_capacity(runs);
    for i in 0..runs {
        let cancel = CancelFlag::new();
        let (seen_tx, seen_rx) = mpsc::sync_channel::<()>(1);
        let worker = {
            let engine = engine.clone();
            let cancel = cancel.clone();
            let prompt = prompt.clone();
            std::thread::spawn(move || {
                let req = GenerateRequest {
                    prompt: &prompt,
                    sampling: Sampling {
                        temperature: 0.0,
                        top_p: 1.0,
                        seed: 0,
                        max_tokens: None,
                    },
                    stop_tokens: &[200_002, 200_012],
                    match_text: None,
                };
                let mut n = 0;
                let g = engine.generate(&req, &cancel, &mut |_| {
                    n += 1;
                    if n == 16 {
                        let _ = seen_tx.try_send(());
                    }
                    ControlFlow::Continue(())
                });
                (Instant::now(), g.map(|g| g.stop))
            })
        };
        seen_rx.recv_timeout(Duration::from_secs(30))?;
        let cancelled_at = Instant::now();
        cancel.cancel();
        let (returned_at, stop) = worker
            .join()
            .map_err(|_| anyhow::anyhow!("worker panicked"))?;
        if stop? != StopReason::Cancelled {
            bail!("engine run {i} did not end by cancel");
        }
        direct.push(
            returned_at
                .saturating_duration_since(cancelled_at)
                .as_secs_f64()
                * 1e3,
        );
    }

    let report = |name: &str, v: &[f64]| {
        println!(
            "{name:<30} p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
            common::percentile(v, 50.0),
            common::percentile(v, 99.0),
            common::percentile(v, 100.0)
        );
    };
    report("engine CancelFlag (baseline)", &direct);
    report("HTTP client disconnect", &http);
    let p99 = common::percentile(&http, 99.0);
    println!(
        "HTTP p99 / baseline p99 = {:.1}; seed target p99 < 100 ms: {}; goal p99 < 10 ms: {}",
        p99 / common::percentile(&direct, 99.0).max(1e-6),
        if p99 < 100.0 { "met" } else { "NOT met" },
        if p99 < 10.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
