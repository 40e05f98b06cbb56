//! Harmony streaming-parse throughput: codexpc's `parse::HarmonyStreamParser` vs the raw
//! `openai_harmony::StreamableParser` it wraps, on the same token streams, in one run.
//!
//! Two streams, both as a model would sample them after `<|start|>assistant`:
//! * content-heavy: one long final-channel message (prose with multi-byte characters);
//! * header-heavy: hundreds of short messages — analysis, commentary preambles and
//!   `functions.*` calls — so channel headers and message boundaries dominate.
//!
//! Baseline: the raw parser in non-strict mode, reading `last_content_delta()` after every token
//! (what any streaming consumer must do). Ours: `push(token)` producing the output events the
//! service streams. Prints tokens/s for both and the ratio ours/raw. `--quick` (or
//! `CODEXPC_BENCH_QUICK=1`) measures for less time.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use codexpc::harmony::{Harmony, harmony};
use codexpc::parse::HarmonyStreamParser;
use openai_harmony::chat::Role;
use openai_harmony::{ParseOptions, StreamableParser};

fn main() -> Result<()> {
    let budget = if common::quick() {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(3)
    };
    let h = harmony()?;
    let streams = [
        ("content-heavy", content_heavy(h)),
        ("header-heavy", header_heavy(h)),
    ];
    println!("harmony_parse: each measurement runs for >= {budget:?}, median of 5 batches");
    for (name, tokens) in &streams {
        let raw = measure(budget, tokens, || raw_parse(h, tokens))?;
        let ours = measure(budget, tokens, || ours_parse(h, tokens))?;
        println!(
            "{name:<14} ({:>6} tokens): raw StreamableParser {:>10.0} tok/s | codexpc parse {:>10.0} tok/s | ratio ours/raw = {:.3}",
            tokens.len(),
            raw,
            ours,
            ours / raw
        );
    }
    Ok(())
}

/// Median tokens/s over 5 batches, each repeating `f` for at least budget/5.
fn measure(budget: Duration, tokens: &[u32], mut f: impl FnMut() -> Result<usize>) -> Result<f64> {
    // Warm up (and check it works) once.
    let events = f()?;
    anyhow::ensure!(events > 0, "the parse produced no output");
    let mut rates = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut n = 0usize;
        while started.elapsed() < budget / 5 {
            std::hint::black_box(f()?);
            n += tokens.len();
        }
        rates.push(n as f64 / started.elapsed().as_secs_f64());
    }
    Ok(common::median(&rates))
}

fn raw_parse(h: &Harmony, tokens: &[u32]) -> Result<usize> {
    let mut p = StreamableParser::new_with_options(
        h.encoding().clone(),
        Some(Role::Assistant),
        ParseOptions { strict: false },
    )
    .map_err(|e| anyhow!("{e:#}"))?;
    let mut bytes = 0usize;
    for &t in tokens {
        p.process(t).map_err(|e| anyhow!("{e:#}"))?;
        if let Some(d) = p.last_content_delta().map_err(|e| anyhow!("{e:#}"))? {
            bytes += d.len();
        }
    }
    Ok(bytes + p.messages().len())
}

fn ours_parse(h: &'static Harmony, tokens: &[u32]) -> Result<usize> {
    let mut p = HarmonyStreamParser::new(h)?;
    let mut out = Vec::with_capacity(4);
    let mut events = 0usize;
    for &t in tokens {
        p.push(t, &mut out)?;
        events += out.len();
        out.clear();
    }
    p.finish(&mut out)?;
    Ok(events + out.len())
}

fn content_heavy(h: &Harmony) -> Vec<u32> {
    let sentences = [
        "The parser reads one token at a time and forwards every complete character.",
        " Naïve café owners in Zürich serve crème brûlée — délicieux!",
        " 東京の天気は晴れです。コードは正しく動きます。",
        " Streaming matters: the first delta should reach the user immediately.",
        " Emoji split across tokens must not be garbled: 🦀🚀✨.",
    ];
    let mut text = String::from("<|channel|>final<|message|>");
    for i in 0..400 {
        text.push_str(sentences[i % sentences.len()]);
    }
    text.push_str("<|return|>");
    h.encode_with_special_tokens(&text)
}

fn header_heavy(h: &Harmony) -> Vec<u32> {
    let mut text = String::new();
    for i in 0..300 {
        if i > 0 {
            text.push_str("<|start|>assistant");
        }
        match i % 3 {
            0 => text.push_str("<|channel|>analysis<|message|>Check the file.<|end|>"),
            1 => text.push_str("<|channel|>commentary<|message|>Running it.<|end|>"),
            _ => text.push_str(
                "<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>{\"cmd\":\"ls\"}<|call|>",
            ),
        }
    }
    text.push_str("<|start|>assistant<|channel|>final<|message|>Done.<|return|>");
    h.encode_with_special_tokens(&text)
}
