//! The llama.cpp scheduler: one thread owns the model's context and runs every sequence.
//!
//! # Why one thread
//! A llama.cpp context is not thread-safe, and continuous batching needs one place that sees
//! every running sequence: each step builds ONE batch holding the next token of every decoding
//! sequence plus a slice of the prompts still being prefilled, runs one `decode`, and samples
//! each sequence from its own row of logits. Callers ([`super::LlamaEngine::generate`]) send a
//! [`Job`] and receive their tokens on a channel; the caller's sink (Harmony parsing, network
//! writes) runs on the caller's thread, so a slow consumer never stalls the others.
//!
//! # Slots
//! The context is created with `n_seq_max = slots` and a non-unified KV cache: every slot is its
//! own llama.cpp sequence id with its own KV stream of `n_ctx_slot` cells, so a slot keeps its
//! prefix no matter what the other slots do, and cutting one (`seq_rm`) never touches another.
//! The scheduler mirrors each slot's cache as a token list (`SlotState::cached`), exactly the
//! tokens whose keys/values are in that stream, in position order.
//!
//! A new job goes to a free slot chosen by [`choose_slot`]: the continuation of its own
//! conversation when there is one (the slot's last prompt is a prefix of the new prompt), else an
//! empty slot, else the least recently used one. When another slot holds a longer common prefix
//! than the chosen one (every Codex prompt starts with the same system and developer messages),
//! that slot's KV is copied into the chosen slot first (`seq_cp`, a whole-stream buffer copy done
//! by llama.cpp before the next decode) and cut after the common prefix: one memory copy instead
//! of re-prefilling thousands of tokens, without evicting the other conversation.
//!
//! # Fairness
//! Every step gives each decoding sequence exactly one token, so concurrent streams advance in
//! lock step. Prompts are prefilled in chunks: a step's batch holds at most `n_batch` tokens,
//! decode tokens first, the rest shared among the sequences still prefilling (starting from a
//! rotating one), so a 100k-token prompt delays the others by one chunk per step, never by its
//! whole prefill. Cancellation and a caller's "stop" are checked before every step and affect
//! only their own sequence.
//!
//! llama.cpp splits a batch over non-unified streams into micro-batches of consecutive sequence
//! ids, so tokens are added in slot order; sequences in slots 0,1,2,3 share one compute pass,
//! a gap (slots 0 and 2 busy, 1 idle) costs a second pass.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::{ModelContext, engine_err};
use crate::Result;
use crate::engine::{CancelFlag, Generation, GenerationStats, Sampling, StopReason};

/// Copy another slot's KV only when it saves at least this many prefill tokens: a cross-stream
/// copy moves the whole stream buffer, which only pays off against a real prefill.
pub(super) const MIN_COPY_GAIN: usize = 64;

/// What a caller sends to the scheduler.
pub(super) enum Command {
    Start(Job),
    /// Forget the KV of every idle slot; the sender is told when done.
    Clear(Sender<()>),
    /// Report every slot's state (tests, health).
    Inspect(Sender<Vec<SlotInfo>>),
}

/// One generation, as the scheduler sees it.
pub(super) struct Job {
    pub prompt: Vec<u32>,
    pub sampling: Sampling,
    pub stop_tokens: Vec<u32>,
    pub cancel: CancelFlag,
    /// Set by the caller when its sink said stop.
    pub halt: Arc<AtomicBool>,
    pub events: Sender<Event>,
}

/// What the scheduler sends back for a job.
pub(super) enum Event {
    Token(u32),
    Done(Result<Generation>),
}

/// A slot as reported by [`Command::Inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    pub busy: bool,
    /// Tokens whose keys/values this slot holds.
    pub cached_tokens: usize,
}

#[derive(Debug, Default)]
struct SlotState {
    /// Exactly the tokens in this slot's KV stream, in position order.
    cached: Vec<u32>,
    /// Length of the prompt of the last job served here (its own conversation's history; the
    /// tail after it is that job's output, which the next turn may render differently).
    prompt_len: usize,
    busy: bool,
    last_used: u64,
}

/// The decision [`choose_slot`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotChoice {
    pub slot: usize,
    /// Copy this slot's KV into `slot` first.
    pub copy_from: Option<usize>,
    /// Prompt tokens served from the cache after the copy/cut.
    pub keep: usize,
}

/// A slot's state as [`choose_slot`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotView {
    pub busy: bool,
    pub cached_len: usize,
    pub prompt_len: usize,
    pub last_used: u64,
    /// Longest common prefix of its cache with the new prompt.
    pub common: usize,
}

/// Pick a slot for a prompt of `prompt_len` tokens. See the module docs. `None` when every slot
/// is busy. `keep` never covers the last prompt token (sampling needs its logits).
pub(super) fn choose_slot(slots: &[SlotView], prompt_len: usize) -> Option<SlotChoice> {
    let cap = prompt_len.saturating_sub(1);
    let free = || slots.iter().enumerate().filter(|(_, s)| !s.busy);
    // 1. Its own conversation: the slot's last prompt (or as much of it as was prefilled before
    //    a cancel) is entirely a prefix of this one.
    let own = free()
        .filter(|(_, s)| s.cached_len > 0 && s.common >= s.prompt_len.min(s.cached_len))
        .max_by_key(|(i, s)| {
            (
                s.common,
                std::cmp::Reverse(s.last_used),
                std::cmp::Reverse(*i),
            )
        });
    if let Some((slot, s)) = own {
        return Some(SlotChoice {
            slot,
            copy_from: None,
            keep: s.common.min(cap),
        });
    }
    // 2. An empty slot, else the least recently used free one.
    let (slot, target) = free()
        .min_by_key(|(i, s)| (s.cached_len > 0, s.last_used, *i))
        .map(|(i, s)| (i, *s))?;
    // 3. Seed it from the slot sharing the longest prefix, when that saves a real prefill.
    let donor = slots
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != slot)
        .max_by_key(|(i, s)| (s.common, std::cmp::Reverse(*i)));
    if let Some((d, ds)) = donor
        && ds.common.min(cap) >= target.common.min(cap) + MIN_COPY_GAIN
    {
        return Some(SlotChoice {
            slot,
            copy_from: Some(d),
            keep: ds.common.min(cap),
        });
    }
    Some(SlotChoice {
        slot,
        copy_from: None,
        keep: target.common.min(cap),
    })
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn token(id: u32) -> LlamaToken {
    // Ids are validated against the vocabulary size (< 2^31) before they get here.
    LlamaToken(id as i32)
}

/// Greedy at temperature 0; otherwise nucleus (top-p), temperature, then a seeded draw.
fn sampler_for(s: &Sampling) -> LlamaSampler {
    if s.temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    let mut chain = Vec::with_capacity(3);
    if s.top_p > 0.0 && s.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(s.top_p, 1));
    }
    chain.push(LlamaSampler::temp(s.temperature));
    chain.push(LlamaSampler::dist(s.seed));
    LlamaSampler::chain_simple(chain)
}

/// A running sequence.
struct Seq {
    slot: usize,
    job: Job,
    sampler: LlamaSampler,
    stats: GenerationStats,
    /// Prompt tokens already in the slot's cache (prefill progress).
    done: usize,
    /// A sampled token to feed back in the next batch.
    feed: Option<u32>,
    /// Row of the current batch holding this sequence's logits.
    logits_row: Option<i32>,
}

impl Seq {
    fn prefilling(&self) -> bool {
        self.done < self.job.prompt.len()
    }
}

/// The scheduler's state; runs on its own thread until every [`Command`] sender is gone.
pub(super) struct Scheduler {
    pub cell: ModelContext,
    pub n_batch: usize,
    pub n_ctx_slot: usize,
    pub decoded: Arc<AtomicU64>,
    slots: Vec<SlotState>,
    active: Vec<Seq>,
    pending: VecDeque<Job>,
    clock: u64,
    rotate: usize,
}

impl Scheduler {
    pub fn new(
        cell: ModelContext,
        slots: usize,
        n_batch: usize,
        n_ctx_slot: usize,
        decoded: Arc<AtomicU64>,
    ) -> Self {
        Self {
            cell,
            n_batch,
            n_ctx_slot,
            decoded,
            slots: (0..slots).map(|_| SlotState::default()).collect(),
            active: Vec::new(),
            pending: VecDeque::new(),
            clock: 0,
            rotate: 0,
        }
    }

    pub fn run(mut self, commands: Receiver<Command>) {
        let mut batch = LlamaBatch::new(self.n_batch, 1);
        loop {
            if self.active.is_empty() && self.pending.is_empty() {
                match commands.recv() {
                    Ok(c) => self.command(c),
                    Err(_) => return,
                }
            }
            loop {
                match commands.try_recv() {
                    Ok(c) => self.command(c),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        if self.active.is_empty() && self.pending.is_empty() {
                            return;
                        }
                        break;
                    }
                }
            }
            self.reap();
            self.admit();
            if !self.active.is_empty() {
                self.step(&mut batch);
            }
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Start(job) => self.pending.push_back(job),
            Command::Clear(ack) => {
                let Self { cell, slots, .. } = self;
                cell.with_dependent_mut(|_, ctx| {
                    for (i, s) in slots.iter_mut().enumerate() {
                        if !s.busy {
                            // Removing a whole sequence always succeeds.
                            let _ = ctx.clear_kv_cache_seq(Some(i as u32), None, None);
                            s.cached.clear();
                            s.prompt_len = 0;
                        }
                    }
                });
                let _ = ack.send(());
            }
            Command::Inspect(reply) => {
                let _ = reply.send(
                    self.slots
                        .iter()
                        .map(|s| SlotInfo {
                            busy: s.busy,
                            cached_tokens: s.cached.len(),
                        })
                        .collect(),
                );
            }
        }
    }

    /// End sequences whose caller cancelled or stopped listening.
    fn reap(&mut self) {
        let mut i = 0;
        while i < self.active.len() {
            let s = &self.active[i];
            let stop = if s.job.cancel.is_cancelled() {
                Some(StopReason::Cancelled)
            } else if s.job.halt.load(Ordering::Acquire) {
                Some(StopReason::Sink)
            } else {
                None
            };
            match stop {
                Some(reason) => self.finish(i, Ok(reason)),
                None => i += 1,
            }
        }
        self.pending.retain(|job| {
            if job.cancel.is_cancelled() || job.halt.load(Ordering::Acquire) {
                let stats = GenerationStats {
                    prompt_tokens: job.prompt.len(),
                    ..GenerationStats::default()
                };
                let _ = job.events.send(Event::Done(Ok(Generation {
                    stop: StopReason::Cancelled,
                    stats,
                })));
                false
            } else {
                true
            }
        });
    }

    /// Move waiting jobs into free slots, FIFO.
    fn admit(&mut self) {
        while let Some(job) = self.pending.front() {
            let views: Vec<SlotView> = self
                .slots
                .iter()
                .map(|s| SlotView {
                    busy: s.busy,
                    cached_len: s.cached.len(),
                    prompt_len: s.prompt_len,
                    last_used: s.last_used,
                    common: common_prefix(&s.cached, &job.prompt),
                })
                .collect();
            let Some(choice) = choose_slot(&views, job.prompt.len()) else {
                return;
            };
            let Some(job) = self.pending.pop_front() else {
                return;
            };
            let keep = self.prepare_slot(choice, &job.prompt);
            self.clock += 1;
            let slot = &mut self.slots[choice.slot];
            slot.busy = true;
            slot.last_used = self.clock;
            slot.prompt_len = job.prompt.len();
            tracing::debug!(
                slot = choice.slot,
                copy_from = ?choice.copy_from,
                cached = keep,
                prompt = job.prompt.len(),
                "llama sequence admitted"
            );
            self.active.push(Seq {
                slot: choice.slot,
                sampler: sampler_for(&job.sampling),
                stats: GenerationStats {
                    prompt_tokens: job.prompt.len(),
                    cached_tokens: keep,
                    prefilled_tokens: 0,
                    generated_tokens: 0,
                },
                done: keep,
                feed: None,
                logits_row: None,
                job,
            });
        }
    }

    /// Copy and cut the chosen slot's KV so that it holds the longest prefix of `prompt` it
    /// can (never the last token); returns how many prompt tokens it holds.
    fn prepare_slot(&mut self, choice: SlotChoice, prompt: &[u32]) -> usize {
        let Self { cell, slots, .. } = self;
        let seq = choice.slot as i32;
        cell.with_dependent_mut(|_, ctx| {
            if let Some(src) = choice.copy_from {
                // Whole-stream copy (cross-stream copies cannot be partial), cut below.
                match ctx.kv_cache_seq_cp(src as i32, seq, None, None) {
                    Ok(()) => {
                        let donor = slots[src].cached.clone();
                        slots[choice.slot].cached = donor;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not copy a slot's KV; prefilling instead");
                    }
                }
            }
            let slot = &mut slots[choice.slot];
            let mut keep = common_prefix(&slot.cached, prompt).min(prompt.len().saturating_sub(1));
            if keep < slot.cached.len() {
                if let Err(e) = ctx.kv_cache_seq_rm(seq, Some(keep as u32), None) {
                    tracing::warn!(keep, error = %e, "could not cut a slot's KV cache; prefilling from scratch");
                    let _ = ctx.clear_kv_cache_seq(Some(choice.slot as u32), None, None);
                    keep = 0;
                }
                slot.cached.truncate(keep);
            }
            keep
        })
    }

    /// Send the final event of `active[i]` and free its slot.
    fn finish(&mut self, i: usize, result: Result<StopReason>) {
        let seq = self.active.swap_remove(i);
        self.slots[seq.slot].busy = false;
        let stats = seq.stats;
        let _ = seq
            .job
            .events
            .send(Event::Done(result.map(|stop| Generation { stop, stats })));
    }

    /// One continuous-batching step: build the batch, decode it, sample every sequence that got
    /// logits.
    fn step(&mut self, batch: &mut LlamaBatch) {
        self.active.sort_by_key(|s| s.slot);
        batch.clear();
        let decoding = self.active.iter().filter(|s| s.feed.is_some()).count();
        let prefilling: Vec<usize> = (0..self.active.len())
            .filter(|&i| self.active[i].prefilling())
            .collect();
        let mut budget = self.n_batch.saturating_sub(decoding);
        // Chunk sizes of the prefilling sequences for this step: an equal share of the budget,
        // the remainder going round-robin, so each one advances every step.
        // Chunk sizes of the prefilling sequences for this step: the budget shared equally,
        // starting from a rotating sequence, so each one advances every step.
        let mut chunk = vec![0usize; self.active.len()];
        if !prefilling.is_empty() {
            let n = prefilling.len();
            self.rotate = self.rotate.wrapping_add(1);
            let mut order = prefilling;
            order.rotate_left(self.rotate % n);
            let mut wanting = n;
            for &i in &order {
                let s = &self.active[i];
                let take = budget.div_ceil(wanting).min(s.job.prompt.len() - s.done);
                chunk[i] = take;
                budget -= take;
                wanting -= 1;
            }
        }
        let result =
            {
                let Self {
                    cell,
                    slots,
                    active,
                    ..
                } = self;
                cell.with_dependent_mut(|_, ctx| -> Result<usize> {
                    let mut added = 0usize;
                    for (i, s) in active.iter_mut().enumerate() {
                        s.logits_row = None;
                        let slot = &slots[s.slot];
                        if let Some(t) = s.feed {
                            batch
                                .add(token(t), slot.cached.len() as i32, &[s.slot as i32], true)
                                .map_err(|e| engine_err(format!("building a decode batch: {e}")))?;
                            s.logits_row = Some(batch.n_tokens() - 1);
                            added += 1;
                        } else if chunk[i] > 0 {
                            let start = s.done;
                            let end = start + chunk[i];
                            let last = end == s.job.prompt.len();
                            for (j, &t) in s.job.prompt[start..end].iter().enumerate() {
                                let pos = (start + j) as i32;
                                let logits = last && start + j + 1 == end;
                                batch.add(token(t), pos, &[s.slot as i32], logits).map_err(
                                    |e| engine_err(format!("building a prefill batch: {e}")),
                                )?;
                            }
                            if last {
                                s.logits_row = Some(batch.n_tokens() - 1);
                            }
                            added += chunk[i];
                        }
                    }
                    if added == 0 {
                        return Ok(0);
                    }
                    ctx.decode(batch).map_err(|e| {
                        engine_err(format!(
                            "llama_decode of {} token(s) failed: {e}",
                            batch.n_tokens()
                        ))
                    })?;
                    Ok(added)
                })
            };
        match result {
            Ok(0) => {}
            Ok(added) => {
                self.decoded.fetch_add(added as u64, Ordering::Relaxed);
                self.after_decode(&chunk);
            }
            Err(e) => self.fail_all(e),
        }
    }

    /// Record what the decode put into each slot, then sample.
    fn after_decode(&mut self, chunk: &[usize]) {
        for (i, s) in self.active.iter_mut().enumerate() {
            let slot = &mut self.slots[s.slot];
            if let Some(t) = s.feed.take() {
                slot.cached.push(t);
            } else if chunk[i] > 0 {
                slot.cached
                    .extend_from_slice(&s.job.prompt[s.done..s.done + chunk[i]]);
                s.done += chunk[i];
                s.stats.prefilled_tokens += chunk[i];
            }
        }
        let mut i = 0;
        while i < self.active.len() {
            match self.sample(i) {
                Some(result) => self.finish(i, result),
                None => i += 1,
            }
        }
    }

    /// Sample `active[i]` if it has logits in this batch; `Some` when it is finished.
    fn sample(&mut self, i: usize) -> Option<Result<StopReason>> {
        let Self {
            cell,
            slots,
            active,
            n_ctx_slot,
            ..
        } = self;
        let s = &mut active[i];
        let row = s.logits_row.take()?;
        let max = s.job.sampling.max_tokens.map(|m| m as usize);
        if max.is_some_and(|m| s.stats.generated_tokens >= m) {
            return Some(Ok(StopReason::MaxTokens));
        }
        let sampled = cell.with_dependent_mut(|_, ctx| s.sampler.sample(ctx, row));
        let Ok(id) = u32::try_from(sampled.0) else {
            return Some(Err(engine_err(format!(
                "sampler returned invalid token {}",
                sampled.0
            ))));
        };
        s.stats.generated_tokens += 1;
        if s.job.events.send(Event::Token(id)).is_err() {
            return Some(Ok(StopReason::Sink));
        }
        if s.job.stop_tokens.contains(&id) {
            return Some(Ok(StopReason::StopToken(id)));
        }
        if max.is_some_and(|m| s.stats.generated_tokens >= m) {
            return Some(Ok(StopReason::MaxTokens));
        }
        if slots[s.slot].cached.len() >= *n_ctx_slot {
            return Some(Ok(StopReason::ContextFull));
        }
        s.feed = Some(id);
        None
    }

    /// A decode failed: the cache contents are unknown, so every sequence fails and every slot
    /// starts clean.
    fn fail_all(&mut self, e: crate::Error) {
        let message = e.to_string();
        tracing::error!(error = %message, "llama decode failed; failing the running sequences");
        let Self { cell, slots, .. } = self;
        cell.with_dependent_mut(|_, ctx| ctx.clear_kv_cache());
        for s in slots.iter_mut() {
            s.cached.clear();
            s.prompt_len = 0;
            s.busy = false;
        }
        for seq in self.active.drain(..) {
            let _ = seq
                .job
                .events
                .send(Event::Done(Err(engine_err(message.clone()))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(cached_len: usize, prompt_len: usize, common: usize, last_used: u64) -> SlotView {
        SlotView {
            busy: false,
            cached_len,
            prompt_len,
            last_used,
            common,
        }
    }

    #[test]
    fn own_conversation_wins_even_when_its_output_differs() {
        // Slot 1 served this conversation's last turn (prompt 500, plus 80 output tokens the
        // new prompt renders differently); slot 0 shares only the 300-token system prefix.
        let slots = [
            view(900, 850, 300, 1),
            view(580, 500, 520, 2),
            view(0, 0, 0, 0),
        ];
        assert_eq!(
            choose_slot(&slots, 1000),
            Some(SlotChoice {
                slot: 1,
                copy_from: None,
                keep: 520
            })
        );
    }

    #[test]
    fn a_new_conversation_takes_an_empty_slot_seeded_with_the_shared_prefix() {
        let slots = [view(900, 850, 300, 1), view(0, 0, 0, 0)];
        assert_eq!(
            choose_slot(&slots, 400),
            Some(SlotChoice {
                slot: 1,
                copy_from: Some(0),
                keep: 300
            })
        );
        // A short shared prefix is not worth a whole-stream copy.
        let slots = [view(900, 850, 10, 1), view(0, 0, 0, 0)];
        assert_eq!(
            choose_slot(&slots, 400),
            Some(SlotChoice {
                slot: 1,
                copy_from: None,
                keep: 0
            })
        );
    }

    #[test]
    fn without_an_empty_slot_the_least_recently_used_is_evicted() {
        let slots = [
            view(900, 850, 300, 5),
            view(700, 650, 300, 2),
            view(800, 700, 300, 9),
        ];
        assert_eq!(
            choose_slot(&slots, 400),
            Some(SlotChoice {
                slot: 1,
                copy_from: None,
                keep: 300
            })
        );
    }

    #[test]
    fn busy_slots_are_never_chosen_but_may_donate() {
        let mut busy = view(900, 850, 600, 1);
        busy.busy = true;
        let slots = [busy, view(0, 0, 0, 0)];
        assert_eq!(
            choose_slot(&slots, 700),
            Some(SlotChoice {
                slot: 1,
                copy_from: Some(0),
                keep: 600
            })
        );
        assert_eq!(choose_slot(&[busy], 700), None);
    }

    #[test]
    fn a_prefill_cut_short_is_resumed_in_its_slot() {
        // 3000-token prompt cancelled after 640 tokens; the retry extends what is there.
        let slots = [view(640, 3000, 640, 1), view(0, 0, 0, 0)];
        assert_eq!(
            choose_slot(&slots, 3000),
            Some(SlotChoice {
                slot: 0,
                copy_from: None,
                keep: 640
            })
        );
    }

    #[test]
    fn the_last_prompt_token_is_always_decoded() {
        // Identical prompt: everything but the last token comes from the cache.
        let slots = [view(120, 100, 100, 1)];
        assert_eq!(choose_slot(&slots, 100).map(|c| c.keep), Some(99));
    }
}
