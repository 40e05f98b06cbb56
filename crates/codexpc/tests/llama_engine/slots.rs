//! Concurrent sequences in the llama engine: slot choice by longest common prefix (with the KV
//! copy of a shared prefix), lock-step decoding of concurrent streams, chunked prefill that does
//! not starve a decoding stream, and cancel isolation checked token for token against a run
//! alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use super::*;

fn load_slots(slots: u32) -> LlamaEngine {
    LlamaEngine::load(
        &tiny_gguf_path(TinyVariant::IdsOnly),
        LlamaConfig {
            slots: Some(slots),
            ..config()
        },
    )
    .expect("tiny model loads")
}

/// A conversation's turn-1 prompt: a system header shared by every conversation (as Codex's
/// system and developer messages are), then the conversation's own messages.
fn conversation(shared: &[u32], own: usize, salt: u32) -> Vec<u32> {
    let mut p = shared.to_vec();
    p.extend(prompt(own, salt));
    p
}

/// Turn 2 as a client renders it: turn 1, part of what the model answered, a new user message.
fn next_turn(turn1: &[u32], answer: &[u32], salt: u32) -> Vec<u32> {
    let mut p = turn1.to_vec();
    p.extend(&answer[..answer.len() / 2]);
    p.extend(prompt(30, salt));
    p
}

#[test]
fn slots_are_reported_and_the_context_is_per_slot() {
    let engine = load_slots(3);
    assert_eq!(engine.slots(), 3);
    assert_eq!(
        engine.info().context_size,
        4096,
        "each slot has the full context"
    );
    let slots = engine.slot_info();
    assert_eq!(slots.len(), 3);
    assert!(slots.iter().all(|s| !s.busy && s.cached_tokens == 0));
    let (g, _) = run(&engine, &prompt(3000, 40), greedy(2), &[]);
    assert_eq!(g.stats.prompt_tokens, 3000, "a long prompt fits one slot");
    let cached: Vec<usize> = engine.slot_info().iter().map(|s| s.cached_tokens).collect();
    assert_eq!(
        cached.iter().filter(|&&c| c == 3001).count(),
        1,
        "{cached:?}"
    );
}

#[test]
fn four_interleaved_conversations_each_reuse_their_previous_prompt() {
    let shared = prompt(120, 50);
    let turn1: Vec<Vec<u32>> = (0..4)
        .map(|i| conversation(&shared, 60 + 10 * i, 60 + i as u32))
        .collect();

    let engine = load_slots(4);
    let mut answers = Vec::new();
    for (i, p) in turn1.iter().enumerate() {
        let (g, out) = run(&engine, p, greedy(8), &[]);
        // A new conversation lands on an empty slot seeded with the shared header.
        let header = turn1[0].iter().zip(p).take_while(|(x, y)| x == y).count();
        let expected = if i == 0 { 0 } else { header };
        assert!(header >= shared.len());
        assert_eq!(g.stats.cached_tokens, expected, "conversation {i}");
        answers.push(out);
    }
    let turn2: Vec<Vec<u32>> = (0..4)
        .map(|i| next_turn(&turn1[i], &answers[i], 70 + i as u32))
        .collect();
    let mut outputs = Vec::new();
    for (i, p) in turn2.iter().enumerate() {
        let (g, out) = run(&engine, p, greedy(8), &[]);
        assert!(
            g.stats.cached_tokens >= turn1[i].len(),
            "conversation {i}: cached {} < previous prompt {}",
            g.stats.cached_tokens,
            turn1[i].len()
        );
        assert_eq!(g.stats.prefilled_tokens, p.len() - g.stats.cached_tokens);
        outputs.push(out);
    }

    // Reuse, including the copied header, is invisible in the output: a fresh engine
    // prefilling everything agrees token for token.
    let fresh = load_slots(1);
    for (i, p) in turn2.iter().enumerate() {
        let (_, out) = run(&fresh, p, greedy(8), &[]);
        assert_eq!(out, outputs[i], "conversation {i}");
    }

    // The baseline: one cache for all four conversations keeps only the shared header.
    let single = load_slots(1);
    for p in &turn1 {
        run(&single, p, greedy(8), &[]);
    }
    let cached: Vec<usize> = turn2
        .iter()
        .map(|p| run(&single, p, greedy(8), &[]).0.stats.cached_tokens)
        .collect();
    assert!(
        cached.iter().all(|&c| c < 2 * shared.len()),
        "a single cache cannot hold four conversations: {cached:?}"
    );
}

/// Run `prompt` on its own thread, recording when each token arrived.
fn timed_run(
    engine: &LlamaEngine,
    prompt: &[u32],
    sampling: Sampling,
    cancel: &CancelFlag,
    start: &Barrier,
) -> (Generation, Vec<(u32, Instant)>) {
    let mut out = Vec::new();
    let req = GenerateRequest {
        prompt,
        sampling,
        stop_tokens: &[],
        match_text: None,
    };
    start.wait();
    let g = engine
        .generate(&req, cancel, &mut |t| {
            out.push((t, Instant::now()));
            ControlFlow::Continue(())
        })
        .unwrap();
    (g, out)
}

#[test]
fn concurrent_streams_advance_together() {
    let engine = load_slots(2);
    let (a, b) = (prompt(40, 80), prompt(50, 81));
    let start = Barrier::new(2);
    let ((ga, ta), (gb, tb)) = thread::scope(|s| {
        let ha = s.spawn(|| timed_run(&engine, &a, greedy(120), &CancelFlag::new(), &start));
        let hb = s.spawn(|| timed_run(&engine, &b, greedy(120), &CancelFlag::new(), &start));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_eq!(
        (ga.stats.generated_tokens, gb.stats.generated_tokens),
        (120, 120)
    );
    // Neither ran after the other: each started before the other finished...
    assert!(ta[0].1 < tb[119].1 && tb[0].1 < ta[119].1);
    // ...and their tokens interleave all along (one token each per decode step).
    let mut merged: Vec<(Instant, char)> = ta
        .iter()
        .map(|t| (t.1, 'a'))
        .chain(tb.iter().map(|t| (t.1, 'b')))
        .collect();
    merged.sort();
    let switches = merged.windows(2).filter(|w| w[0].1 != w[1].1).count();
    assert!(
        switches >= 40,
        "only {switches} switches between the streams"
    );
}

#[test]
fn a_long_prefill_does_not_starve_a_decoding_stream() {
    let engine = LlamaEngine::load(
        &tiny_gguf_path(TinyVariant::IdsOnly),
        LlamaConfig {
            slots: Some(2),
            n_batch: Some(64),
            n_ubatch: Some(64),
            ..config()
        },
    )
    .unwrap();
    let short = prompt(20, 90);
    let long = prompt(3000, 91);
    let produced = AtomicUsize::new(0);
    let (decoding, (gl, long_started, long_tokens)) = thread::scope(|s| {
        let hd = s.spawn(|| {
            let mut out = Vec::new();
            let req = GenerateRequest {
                prompt: &short,
                sampling: greedy(400),
                stop_tokens: &[],
                match_text: None,
            };
            engine
                .generate(&req, &CancelFlag::new(), &mut |_| {
                    out.push(Instant::now());
                    produced.fetch_add(1, Ordering::Release);
                    ControlFlow::Continue(())
                })
                .unwrap();
            out
        });
        let hl = s.spawn(|| {
            // Start the long prompt once the short stream is decoding.
            let deadline = Instant::now() + Duration::from_secs(60);
            while produced.load(Ordering::Acquire) < 5 {
                assert!(Instant::now() < deadline, "the short stream never started");
                thread::yield_now();
            }
            let t0 = Instant::now();
            let (g, tokens) = timed_run(
                &engine,
                &long,
                greedy(1),
                &CancelFlag::new(),
                &Barrier::new(1),
            );
            (g, t0, tokens)
        });
        (hd.join().unwrap(), hl.join().unwrap())
    });
    assert_eq!(gl.stats.prefilled_tokens, 3000);
    let first_long = long_tokens[0].1;
    let during = decoding
        .iter()
        .filter(|at| **at > long_started && **at < first_long)
        .count();
    // 3000 tokens in chunks of at most 63 (one batch row goes to the decoding stream) is at
    // least 48 steps, each of which also decodes a token of the short stream.
    assert!(
        during >= 20,
        "the decoding stream got only {during} tokens during a 3000-token prefill"
    );
}

#[test]
fn cancelling_one_sequence_leaves_the_other_exactly_as_it_would_be_alone() {
    let (a, b) = (prompt(60, 100), prompt(45, 101));
    let alone = load_slots(2);
    let (g_alone, expected) = run(&alone, &b, greedy(90), &[]);
    assert_eq!(g_alone.stats.generated_tokens, 90);

    let engine = Arc::new(load_slots(2));
    let cancel_a = CancelFlag::new();
    let start = Barrier::new(2);
    let ((ga, ta), (gb, tb)) = thread::scope(|s| {
        let ha = s.spawn(|| {
            // No budget: without the cancel this would run until the context is full.
            let mut out = Vec::new();
            let req = GenerateRequest {
                prompt: &a,
                sampling: Sampling {
                    max_tokens: None,
                    ..greedy(0)
                },
                stop_tokens: &[],
                match_text: None,
            };
            start.wait();
            let g = engine
                .generate(&req, &cancel_a, &mut |t| {
                    out.push(t);
                    if out.len() == 30 {
                        cancel_a.cancel();
                    }
                    ControlFlow::Continue(())
                })
                .unwrap();
            (g, out)
        });
        let hb = s.spawn(|| {
            let (g, t) = timed_run(&engine, &b, greedy(90), &CancelFlag::new(), &start);
            (g, t.into_iter().map(|(t, _)| t).collect::<Vec<u32>>())
        });
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_eq!(ga.stop, StopReason::Cancelled);
    assert!(ta.len() >= 30 && ta.len() < 200, "{}", ta.len());
    assert_eq!(gb.stop, StopReason::MaxTokens);
    assert_eq!(tb, expected, "the surviving sequence's tokens changed");
    // Both slots are idle again and the next request is served normally.
    assert!(engine.slot_info().iter().all(|s| !s.busy));
    let (g, _) = run(&engine, &b, greedy(3), &[]);
    assert_eq!(g.stats.cached_tokens, b.len() - 1);
}
