//! Decode throughput: codexpc vs a bare `llama-cpp-2` loop, measured in one run.
//!
//! The model is test-support's tiny gpt-oss GGUF in its "final-channel loop" variant: real
//! llama.cpp `gpt-oss` compute per token, with weights shaped so greedy decoding writes a valid
//! Harmony final-channel message forever (so every layer above the engine does its real work:
//! parsing, SSE framing, HTTP). Same GGUF, same context/batch/thread settings, same prompt
//! tokens everywhere; each run starts from an empty KV cache of a context created once (the
//! bare loop and the engine alike), after one uncounted warm-up run.
//!
//! * `bare`: `LlamaBatch` + `decode` + greedy `LlamaSampler`, nothing else — the ceiling.
//! * `engine`: `LlamaEngine::generate` with a sink that only counts.
//! * `http`: `POST /v1/responses` (stream: true) to codexpc's axum app on 127.0.0.1:0, reading
//!   the SSE stream to `response.completed`; tokens = its `usage.output_tokens`, time measured
//!   by the client from sending the request to the completed event.
//!
//! Prints tokens/s (median of the rounds) and the ratios; the goal is http/bare >= 0.97.
//! `--quick` (or `CODEXPC_BENCH_QUICK=1`) runs a shorter version.

mod common;

use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use codexpc::engine::llama::{LlamaConfig, LlamaEngine, backend};
use codexpc::engine::{CancelFlag, Engine, GenerateRequest, Sampling};
use codexpc::harmony::harmony;
use codexpc::render::render_request;
use codexpc::responses::types::ResponsesRequest;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde_json::json;
use test_support::gguf::{TinyVariant, final_loop_tokens, tiny_gguf_path};

struct Settings {
    n_ctx: u32,
    n_batch: u32,
    n_ubatch: u32,
    threads: usize,
}

fn main() -> Result<()> {
    let (tokens, rounds) = if common::quick() { (200, 5) } else { (500, 15) };
    let path = tiny_gguf_path(TinyVariant::FinalChannelLoop);
    let threads = common::threads();

    let engine = Arc::new(LlamaEngine::load(
        &path,
        LlamaConfig {
            threads: Some(threads),
            // One sequence, like the bare loop's context: the comparison is about the layers
            // above llama.cpp, not about the KV layout.
            slots: Some(1),
            show_progress: false,
            ..LlamaConfig::default()
        },
    )?);
    let (n_batch, n_ubatch) = engine.batch_sizes();
    let settings = Settings {
        n_ctx: engine.info().context_size as u32,
        n_batch,
        n_ubatch,
        threads,
    };
    // The request every path serves; bare and engine get exactly the tokens the HTTP path renders.
    let body = json!({
        "model": "tiny-gpt-oss",
        "instructions": "You are a helpful assistant. Answer briefly.",
        "input": "Say hello and keep talking.",
        "stream": true,
        "temperature": 0,
        "max_output_tokens": tokens,
    });
    let request: ResponsesRequest = serde_json::from_value(body.clone())?;
    let prompt = render_request(harmony()?, &request, &common::render_config())?.tokens;
    anyhow::ensure!(
        prompt.len() + tokens + 8 < settings.n_ctx as usize,
        "context too small"
    );

    let model = LlamaModel::load_from_file(backend()?, &path, &LlamaModelParams::default())
        .context("bare loop: loading the model")?;
    let (prefix, cycle) = final_loop_tokens();

    println!(
        "llama_http_throughput: {tokens} tokens x {rounds} rounds, prompt {} tokens, n_ctx {} \
         n_batch {} n_ubatch {} threads {}",
        prompt.len(),
        settings.n_ctx,
        settings.n_batch,
        settings.n_ubatch,
        settings.threads
    );

    let server = common::Server::start(engine.clone())?;
    let client = reqwest::Client::new();
    let mut ctx = bare_context(&model, &settings)?;
    let req = GenerateRequest {
        prompt: &prompt,
        sampling: Sampling {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            max_tokens: Some(tokens as u32),
        },
        stop_tokens: &[200_002, 200_012],
        match_text: None,
    };

    // One measurement of path `which` (0 bare, 1 engine, 2 http): tokens/s.
    let mut measure = |which: usize, n: usize| -> Result<f64> {
        match which {
            0 => {
                let (tps, out) = bare_loop(&mut ctx, &settings, &prompt, n)?;
                check_stream(&out, &prefix, &cycle)?;
                Ok(tps)
            }
            1 => {
                engine.clear_cache();
                let started = Instant::now();
                let mut count = 0usize;
                let req = GenerateRequest {
                    sampling: Sampling {
                        max_tokens: Some(n as u32),
                        ..req.sampling.clone()
                    },
                    ..req.clone()
                };
                engine.generate(&req, &CancelFlag::new(), &mut |_| {
                    count += 1;
                    ControlFlow::Continue(())
                })?;
                if count != n {
                    bail!("engine generated {count} tokens, expected {n}");
                }
                Ok(count as f64 / started.elapsed().as_secs_f64())
            }
            _ => {
                engine.clear_cache();
                let mut body = body.clone();
                body["max_output_tokens"] = json!(n);
                let (outcome, _) =
                    server
                        .runtime
                        .block_on(common::stream(&client, &server.base, &body, None))?;
                let produced = outcome.output_tokens.unwrap_or(0) as usize;
                if !outcome.completed || produced != n || outcome.text_deltas + prefix.len() < n {
                    bail!(
                        "HTTP run: completed={} output_tokens={produced} deltas={} failed={:?}",
                        outcome.completed,
                        outcome.text_deltas,
                        outcome.failed
                    );
                }
                Ok(produced as f64 / outcome.elapsed.as_secs_f64())
            }
        }
    };

    // Warm-up (page in the model, start the server's threads); not counted.
    for which in 0..3 {
        measure(which, 32)?;
    }
    // Rounds run the three paths back to back, in an order rotated each round, so slow drift
    // in machine load hits every path alike; per-round ratios pair runs made seconds apart.
    let mut rates = [Vec::new(), Vec::new(), Vec::new()];
    let mut engine_ratio = Vec::new();
    let mut http_ratio = Vec::new();
    for round in 0..rounds {
        let mut r = [0.0f64; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            r[which] = measure(which, tokens)?;
        }
        for (which, rate) in r.iter().enumerate() {
            rates[which].push(*rate);
        }
        engine_ratio.push(r[1] / r[0]);
        http_ratio.push(r[2] / r[0]);
        println!(
            "  round {round}: bare {:.0} tok/s, engine {:.0} tok/s, http {:.0} tok/s",
            r[0], r[1], r[2]
        );
    }

    let [b, d, h] = [0, 1, 2].map(|i| common::median(&rates[i]));
    println!("bare llama-cpp-2 loop : {b:>8.0} tokens/s (median)");
    println!(
        "LlamaEngine::generate : {d:>8.0} tokens/s (median)  ratio engine/bare = {:.3} (median of per-round ratios)",
        common::median(&engine_ratio)
    );
    println!(
        "codexpc HTTP (SSE)    : {h:>8.0} tokens/s (median)  ratio http/bare = {:.3} (median of per-round ratios; goal >= 0.97)",
        common::median(&http_ratio)
    );
    Ok(())
}

fn bare_context<'m>(model: &'m LlamaModel, s: &Settings) -> Result<LlamaContext<'m>> {
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(s.n_ctx))
        .with_n_batch(s.n_batch)
        .with_n_ubatch(s.n_ubatch)
        .with_n_threads(s.threads as i32)
        .with_n_threads_batch(s.threads as i32)
        .with_swa_full(true);
    Ok(model.new_context(backend()?, params)?)
}

/// Prefill + greedy decode of `n` tokens on a bare llama-cpp-2 context whose KV cache is
/// emptied first (like the engine's `clear_cache`); returns tokens/s and the tokens.
fn bare_loop(
    ctx: &mut LlamaContext<'_>,
    s: &Settings,
    prompt: &[u32],
    n: usize,
) -> Result<(f64, Vec<u32>)> {
    ctx.clear_kv_cache();
    let mut batch = LlamaBatch::new(s.n_batch as usize, 1);
    let mut sampler = LlamaSampler::greedy();
    let mut out = Vec::with_capacity(n);

    let started = Instant::now();
    let mut pos = 0i32;
    for chunk in prompt.chunks(s.n_batch as usize) {
        batch.clear();
        for &t in chunk {
            pos += 1;
            batch.add(
                LlamaToken(t as i32),
                pos - 1,
                &[0],
                pos as usize == prompt.len(),
            )?;
        }
        ctx.decode(&mut batch)?;
    }
    let mut idx = batch.n_tokens() - 1;
    while out.len() < n {
        let t = sampler.sample(ctx, idx);
        out.push(t.0 as u32);
        if out.len() == n {
            break;
        }
        batch.clear();
        batch.add(t, pos, &[0], true)?;
        pos += 1;
        ctx.decode(&mut batch)?;
        idx = 0;
    }
    Ok((n as f64 / started.elapsed().as_secs_f64(), out))
}

/// The loop model must produce `<|channel|>final<|message|>` then the text cycle.
fn check_stream(out: &[u32], prefix: &[u32], cycle: &[u32]) -> Result<()> {
    let expected: Vec<u32> = prefix
        .iter()
        .copied()
        .chain(cycle.iter().copied().cycle())
        .take(out.len())
        .collect();
    if out != expected.as_slice() {
        bail!(
            "the loop model did not produce its chain: {:?}...",
            &out[..out.len().min(12)]
        );
    }
    Ok(())
}
