//! Cancel latency over the session socket: time from writing `cancel` to reading the session's
//! terminal `error{code:"cancelled"}`, while the session is streaming (scripted engine, one token
//! per millisecond). Baseline in the same run: a `health` round trip on the same connection, the
//! floor any socket reply can reach. Prints p50/p99 of both and their ratio. Seed target: p99 <
//! 100 ms; goal < 10 ms.
//!
//! Run: `cargo bench -p codexpc --bench cancel_socket` (CODEXPC_BENCH_ROUNDS, default 200).

use std::sync::Arc;
use std::time::{Duration, Instant};

use codexpc::client::Client;
use codexpc::daemon::{Daemon, DaemonConfig, bind_socket};
use codexpc::engine::scripted::{ScriptLine, ScriptedEngine};
use codexpc::render::RenderConfig;
use codexpc::service::{Service, ServiceConfig};
use codexpc::tools::{ToolExecutor, ToolRegistry, ToolsConfig};
use serde_json::{Value, json};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("CODEXPC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let long = format!(
        "<|channel|>final<|message|>{}<|return|>",
        "word ".repeat(2000)
    );
    let lines = (0..rounds)
        .map(|_| ScriptLine {
            completion: long.clone(),
            match_text: None,
            token_delay_ms: Some(1),
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("bench.sock");
    let engine = ScriptedEngine::from_lines("bench", lines)?;
    let service = Arc::new(Service::new(Arc::new(engine), ServiceConfig::default())?);
    let daemon = Daemon::new(
        service,
        ToolExecutor::new(ToolRegistry::builtin(), ToolsConfig::default()),
        RenderConfig::default(),
        DaemonConfig::new(socket.clone()),
    );
    let listener = bind_socket(&socket).await?;
    tokio::spawn(daemon.run(listener, std::future::pending()));
    let mut c = Client::connect(&socket, Duration::from_secs(30)).await?;

    let mut cancel = Vec::with_capacity(rounds);
    let mut health = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // Baseline: one request/reply on the same socket.
        let t = Instant::now();
        c.health().await?;
        health.push(t.elapsed());

        let id = c
            .create(json!({"input": [{"type": "message", "role": "user", "content": "stream"}]}))
            .await?;
        loop {
            let m = c.recv_for(&id).await?;
            if m["type"] == "output_text.delta" {
                break;
            }
            anyhow::ensure!(m["type"] != "completed" && m["type"] != "error", "{m}");
        }
        let t = Instant::now();
        c.cancel(&id).await?;
        let end: Value = loop {
            let m = c.recv_for(&id).await?;
            if m["type"] == "error" || m["type"] == "completed" {
                break m;
            }
        };
        cancel.push(t.elapsed());
        anyhow::ensure!(end["code"] == "cancelled", "session ended with {end}");
    }
    cancel.sort();
    health.sort();
    let (c50, c99) = (pct(&cancel, 0.5), pct(&cancel, 0.99));
    let (h50, h99) = (pct(&health, 0.5), pct(&health, 0.99));
    println!("cancel_socket: {rounds} rounds, scripted engine at 1 token/ms");
    println!(
        "  cancel -> terminal error : p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        ms(c50),
        ms(c99),
        ms(*cancel.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "  health round trip (base): p50 {:.3} ms  p99 {:.3} ms",
        ms(h50),
        ms(h99)
    );
    println!(
        "  ratio cancel/health     : p50 {:.1}x  p99 {:.1}x",
        ms(c50) / ms(h50).max(1e-6),
        ms(c99) / ms(h99).max(1e-6)
    );
    println!(
        "  seed target p99 < 100 ms: {}   goal p99 < 10 ms: {}",
        if c99 < Duration::from_millis(100) {
            "met"
        } else {
            "NOT met"
        },
        if c99 < Duration::from_millis(10) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
