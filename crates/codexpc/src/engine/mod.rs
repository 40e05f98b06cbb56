//! Inference engines at the token level.
//!
//! An [`Engine`] knows nothing about Harmony, HTTP or Codex: it takes a rendered prompt as token
//! ids, prefills what it has not already seen (longest-common-prefix reuse of its KV cache across
//! requests, so a follow-up turn starts almost at once), then samples one token at a time until a stop
//! token, the token budget, the caller or a cancellation says stop. Everything above it (Harmony
//! parsing, the Responses endpoint, the socket protocol) is shared by every engine, so the scripted
//! engine used in tests exercises exactly the same path as llama.cpp.
//!
//! Engines are blocking: callers run [`Engine::generate`] on a blocking thread. An engine runs up
//! to [`Engine::slots`] generations at once (the llama engine: one KV prefix per slot, decoded
//! together in one batch; the scripted engine: one); further callers wait inside the engine.
//! The service in front of it admits at most that many at a time and bounds how many wait.

#[cfg(feature = "llama")]
pub mod llama;
pub mod remote;
pub mod scripted;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Sampling settings for one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// 0.0 means greedy.
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u32,
    /// Upper bound on sampled tokens; `None` = until a stop token or the context is full.
    pub max_tokens: Option<u32>,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            seed: 0,
            max_tokens: None,
        }
    }
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct GenerateRequest<'a> {
    /// The full rendered prompt (for gpt-oss: ending in `<|start|>assistant`).
    pub prompt: &'a [u32],
    pub sampling: Sampling,
    /// Tokens that end the generation; the stop token itself is passed to the sink.
    pub stop_tokens: &'a [u32],
    /// The last user-visible input, used by the scripted engine to pick a scripted reply.
    pub match_text: Option<&'a str>,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    StopToken(u32),
    MaxTokens,
    ContextFull,
    /// The sink returned `ControlFlow::Break`.
    Sink,
    Cancelled,
    /// The engine had nothing more to produce (the scripted engine's completion ran out without
    /// a stop token).
    EndOfOutput,
}

/// Counters for one generation; `cached_tokens` are prompt tokens served from the reused KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub cached_tokens: usize,
    /// Prompt tokens actually decoded (prompt_tokens - cached_tokens).
    pub prefilled_tokens: usize,
    pub generated_tokens: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub stop: StopReason,
    pub stats: GenerationStats,
}

/// Static facts about a loaded engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// "llama" or "scripted".
    pub engine: String,
    /// Model identifier (file stem of the GGUF, or the script name).
    pub model: String,
    pub context_size: usize,
}

/// A cheap, cloneable cancellation flag checked between tokens.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    flag: AtomicBool,
    /// Wakes async waiters ([`CancelFlag::cancelled`]); engines just read the flag.
    notify: tokio::sync::Notify,
}

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::Acquire)
    }
    /// Resolves once [`CancelFlag::cancel`] has been called (at once if it already was).
    pub async fn cancelled(&self) {
        let notified = self.0.notify.notified();
        tokio::pin!(notified);
        // Register before checking, so a cancel between the check and the await is not missed.
        notified.as_mut().enable();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }
}

/// A token-level inference engine. See the module docs.
pub trait Engine: Send + Sync + 'static {
    fn info(&self) -> EngineInfo;

    /// How many generations the engine runs concurrently (each with its own KV prefix).
    fn slots(&self) -> usize {
        1
    }

    /// Prefill `req.prompt` (reusing the longest common prefix with what the engine's cache
    /// holds), then sample tokens, handing each to `sink`, until a stop token, the budget, the
    /// sink, or `cancel` ends it. Blocking.
    fn generate(
        &self,
        req: &GenerateRequest<'_>,
        cancel: &CancelFlag,
        sink: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) -> crate::Result<Generation>;
}
