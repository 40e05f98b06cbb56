//! Prefill on turn 2 of a Codex-shaped conversation, with and without KV-cache reuse.
//!
//! Turn 1 is a request shaped like the ones Codex sends: long instructions, a developer message
//! with permissions, a user message with the environment context, function tools with JSON
//! schemas, and the user's prompt. Turn 2 is the same conversation plus what the first
//! response and Codex add: the model's reasoning, an `exec_command` call, its output, and a new
//! user message. Both are rendered by codexpc's own `render` module (the path the HTTP endpoint
//! uses), then served by the llama engine on the tiny gpt-oss GGUF:
//!
//! * with reuse: turn 1, then turn 2 on the same engine (longest-common-prefix KV reuse);
//! * without: turn 2 on an emptied cache (what an engine without reuse does every turn).
//!
//! Prints the tokens prefilled and the wall time of turn 2 (prefill + one sampled token) for
//! both, and the ratios. `--quick` (or `CODEXPC_BENCH_QUICK=1`) runs fewer rounds.

mod common;

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::Result;
use codexpc::engine::llama::{LlamaConfig, LlamaEngine};
use codexpc::engine::{CancelFlag, Engine, GenerateRequest, GenerationStats, Sampling};
use codexpc::harmony::harmony;
use codexpc::render::render_request;
use codexpc::responses::types::ResponsesRequest;
use test_support::gguf::{TinyVariant, tiny_gguf_path};

fn main() -> Result<()> {
    let rounds = if common::quick() { 3 } else { 9 };
    let engine = LlamaEngine::load(
        &tiny_gguf_path(TinyVariant::IdsOnly),
        LlamaConfig {
            threads: Some(common::threads()),
            show_progress: false,
            ..LlamaConfig::default()
        },
    )?;
    let h = harmony()?;
    let (turn1, turn2) = common::codex_conversation(
        "project",
        0,
        "Find why `cargo test -p parser` fails on the empty-input case and fix it.",
    );
    let t1 = render_request(
        h,
        &serde_json::from_value::<ResponsesRequest>(turn1)?,
        &common::render_config(),
    )?
    .tokens;
    let t2 = render_request(
        h,
        &serde_json::from_value::<ResponsesRequest>(turn2)?,
        &common::render_config(),
    )?
    .tokens;
    let shared = t1.iter().zip(&t2).take_while(|(a, b)| a == b).count();
    println!(
        "kv_reuse: turn 1 = {} tokens, turn 2 = {} tokens ({} shared with turn 1), n_ctx {}, \
         (n_batch, n_ubatch) = {:?}, {rounds} rounds",
        t1.len(),
        t2.len(),
        shared,
        engine.info().context_size,
        engine.batch_sizes()
    );

    let mut with_reuse = Vec::new();
    let mut without = Vec::new();
    let mut stats_with = GenerationStats::default();
    let mut stats_without = GenerationStats::default();
    for _ in 0..rounds {
        // With reuse: turn 1 fills the cache, turn 2 extends it.
        engine.clear_cache();
        one_token(&engine, &t1)?;
        let started = Instant::now();
        stats_with = one_token(&engine, &t2)?;
        with_reuse.push(started.elapsed().as_secs_f64() * 1e3);

        // Without: turn 2 from an empty cache.
        engine.clear_cache();
        let started = Instant::now();
        stats_without = one_token(&engine, &t2)?;
        without.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let (w, wo) = (common::median(&with_reuse), common::median(&without));
    println!(
        "turn 2 with KV reuse   : prefilled {:>5} tokens (cached {:>5}), {w:>8.2} ms (median)",
        stats_with.prefilled_tokens, stats_with.cached_tokens
    );
    println!(
        "turn 2 without reuse   : prefilled {:>5} tokens (cached {:>5}), {wo:>8.2} ms (median)",
        stats_without.prefilled_tokens, stats_without.cached_tokens
    );
    println!(
        "ratio prefill tokens with/without = {:.3}  ({:.1}x fewer); time with/without = {:.3} ({:.1}x faster)",
        stats_with.prefilled_tokens as f64 / stats_without.prefilled_tokens as f64,
        stats_without.prefilled_tokens as f64 / stats_with.prefilled_tokens.max(1) as f64,
        w / wo,
        wo / w
    );
    Ok(())
}

/// Serve `prompt` and sample one token, greedy.
fn one_token(engine: &LlamaEngine, prompt: &[u32]) -> Result<GenerationStats> {
    let req = GenerateRequest {
        prompt,
        sampling: Sampling {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            max_tokens: Some(1),
        },
        stop_tokens: &[],
        match_text: None,
    };
    let g = engine.generate(&req, &CancelFlag::new(), &mut |_| ControlFlow::Continue(()))?;
    Ok(g.stats)
}
