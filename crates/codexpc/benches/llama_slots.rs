//! Concurrent sequences in the llama engine, measured against baselines in the same run.
//!
//! 1. **Aggregate decode throughput**: 4 concurrent streams vs 1 stream on the same engine and
//!    GGUF (test-support's tiny gpt-oss, "final-channel loop" variant, so every stream really
//!    decodes its full budget), greedy, each stream with its own prompt. The 4 streams share
//!    one batch per step (continuous batching); the 1-stream figure is the engine alone.
//! 2. **Turn-2 prefill with 4 interleaved conversations**: four Codex-shaped conversations in
//!    four projects (same instructions and tools, each its own AGENTS.md, environment and task)
//!    each send turn 1, then each sends turn 2, in that interleaved order, as four Codex
//!    sessions on one daemon do. Served by an engine with 4
//!    slots and by one with a single cache (what the engine was before slots): the tokens
//!    prefilled and the wall time of the four turn-2 requests (prefill + one token).
//!
//! Prints the figures and the ratios; `--quick` (or `CODEXPC_BENCH_QUICK=1`) runs a shorter
//! version. llama.cpp threads: `CODEXPC_BENCH_THREADS` (default 1, see `common::threads`).

mod common;

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{Result, ensure};
use codexpc::engine::llama::{LlamaConfig, LlamaEngine};
use codexpc::engine::{CancelFlag, Engine, GenerateRequest, Sampling};
use codexpc::harmony::harmony;
use codexpc::render::render_request;
use codexpc::responses::types::ResponsesRequest;
use serde_json::Value;
use test_support::gguf::{TinyVariant, tiny_gguf_path};

fn load(variant: TinyVariant, slots: u32) -> Result<LlamaEngine> {
    Ok(LlamaEngine::load(
        &tiny_gguf_path(variant),
        LlamaConfig {
            threads: Some(common::threads()),
            slots: Some(slots),
            show_progress: false,
            ..LlamaConfig::default()
        },
    )?)
}

fn render(body: &Value) -> Result<Vec<u32>> {
    let request: ResponsesRequest = serde_json::from_value(body.clone())?;
    Ok(render_request(harmony()?, &request, &common::render_config())?.tokens)
}

fn greedy(max: usize) -> Sampling {
    Sampling {
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
        max_tokens: Some(max as u32),
    }
}

/// Run `prompts` concurrently, `tokens` each; returns aggregate tokens/s.
fn concurrent(engine: &LlamaEngine, prompts: &[Vec<u32>], tokens: usize) -> Result<f64> {
    engine.clear_cache();
    let started = Instant::now();
    let produced: Vec<Result<usize>> = std::thread::scope(|s| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| {
                s.spawn(move || -> Result<usize> {
                    let req = GenerateRequest {
                        prompt: p,
                        sampling: greedy(tokens),
                        stop_tokens: &[],
                        match_text: None,
                    };
                    let mut n = 0usize;
                    engine.generate(&req, &CancelFlag::new(), &mut |_| {
                        n += 1;
                        ControlFlow::Continue(())
                    })?;
                    Ok(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("stream panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = 0;
    for n in produced {
        let n = n?;
        ensure!(
            n == tokens,
            "a stream produced {n} tokens, expected {tokens}"
        );
        total += n;
    }
    Ok(total as f64 / elapsed)
}

/// Turn 1 of every conversation, then turn 2 of every conversation; returns (tokens prefilled,
/// milliseconds) of the turn-2 requests.
fn interleaved(engine: &LlamaEngine, turns: &[(Vec<u32>, Vec<u32>)]) -> Result<(usize, f64)> {
    engine.clear_cache();
    let one = |prompt: &[u32]| -> Result<usize> {
        let req = GenerateRequest {
            prompt,
            sampling: greedy(1),
            stop_tokens: &[],
            match_text: None,
        };
        let g = engine.generate(&req, &CancelFlag::new(), &mut |_| ControlFlow::Continue(()))?;
        Ok(g.stats.prefilled_tokens)
    };
    for (t1, _) in turns {
        one(t1)?;
    }
    let started = Instant::now();
    let mut prefilled = 0;
    for (_, t2) in turns {
        prefilled += one(t2)?;
    }
    Ok((prefilled, started.elapsed().as_secs_f64() * 1e3))
}

fn main() -> Result<()> {
    let quick = common::quick();
    let (tokens, rounds) = if quick { (128, 3) } else { (384, 7) };

    // 1. Aggregate throughput, 4 streams vs 1.
    let engine = load(TinyVariant::FinalChannelLoop, 4)?;
    let tasks = [
        "Say hello and keep talking.",
        "Describe the weather in Oslo.",
        "List three prime numbers and explain them.",
        "Write a limerick about Rust.",
    ];
    let prompts: Vec<Vec<u32>> = tasks
        .iter()
        .map(|t| {
            render(
                &serde_json::json!({"model": "m", "input": t, "instructions": "Answer briefly."}),
            )
        })
        .collect::<Result<_>>()?;
    println!(
        "llama_slots: {tokens} tokens per stream x {rounds} rounds, prompts of {:?} tokens, slots 4, \
         (n_batch, n_ubatch) {:?}, threads {}",
        prompts.iter().map(Vec::len).collect::<Vec<_>>(),
        engine.batch_sizes(),
        common::threads()
    );
    concurrent(&engine, &prompts[..1], 16)?;
    concurrent(&engine, &prompts, 16)?;
    let (mut one, mut four, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate the order so drift in machine load hits both alike.
        let (a, b) = if round % 2 == 0 {
            let a = concurrent(&engine, &prompts[..1], tokens)?;
            (a, concurrent(&engine, &prompts, tokens)?)
        } else {
            let b = concurrent(&engine, &prompts, tokens)?;
            (concurrent(&engine, &prompts[..1], tokens)?, b)
        };
        println!("  round {round}: 1 stream {a:.0} tok/s, 4 streams {b:.0} tok/s aggregate");
        one.push(a);
        four.push(b);
        ratio.push(b / a);
    }
    println!(
        "aggregate decode: 1 stream {:.0} tok/s, 4 concurrent streams {:.0} tok/s (medians); \
         ratio 4/1 = {:.2} (median of per-round ratios; goal >= 2)",
        common::median(&one),
        common::median(&four),
        common::median(&ratio)
    );
    drop(engine);

    // 2. Turn-2 prefill, 4 interleaved conversations: slots vs one cache.
    let turns: Vec<(Vec<u32>, Vec<u32>)> = [
        (
            "parser",
            "Find why `cargo test -p parser` fails on the empty-input case and fix it.",
        ),
        (
            "cli",
            "Add a --json flag to the CLI and document it in the README.",
        ),
        (
            "net",
            "The release build warns about an unused import in src/net.rs; clean it up.",
        ),
        (
            "config",
            "Rename the `Config::load_or_default` function to `Config::load` everywhere.",
        ),
    ]
    .iter()
    .map(|(project, task)| {
        // Four sessions in four projects: same instructions and tools, own AGENTS.md.
        let (t1, t2) = common::codex_conversation(project, 24, task);
        Ok((render(&t1)?, render(&t2)?))
    })
    .collect::<Result<_>>()?;
    let slots = load(TinyVariant::IdsOnly, 4)?;
    let single = load(TinyVariant::IdsOnly, 1)?;
    let total: usize = turns.iter().map(|(_, t2)| t2.len()).sum();
    println!(
        "turn 2 of 4 interleaved Codex-shaped conversations: turn-1 prompts {:?}, turn-2 prompts {:?} tokens",
        turns.iter().map(|t| t.0.len()).collect::<Vec<_>>(),
        turns.iter().map(|t| t.1.len()).collect::<Vec<_>>()
    );
    let (mut ts, mut t1, mut ps, mut p1, mut ratio) = (Vec::new(), Vec::new(), 0, 0, Vec::new());
    for _ in 0..rounds.min(5) {
        let (p_slots, ms_slots) = interleaved(&slots, &turns)?;
        let (p_single, ms_single) = interleaved(&single, &turns)?;
        ts.push(ms_slots);
        t1.push(ms_single);
        ratio.push(ms_single / ms_slots);
        (ps, p1) = (p_slots, p_single);
    }
    println!(
        "  4 slots     : prefilled {ps:>6} of {total} tokens, {:>8.1} ms (median)",
        common::median(&ts)
    );
    println!(
        "  single cache: prefilled {p1:>6} of {total} tokens, {:>8.1} ms (median)",
        common::median(&t1)
    );
    println!(
        "turn-2 prefill: {:.1}x fewer tokens, {:.2}x faster with slots (median of per-round time ratios)",
        p1 as f64 / ps.max(1) as f64,
        common::median(&ratio)
    );
    Ok(())
}
