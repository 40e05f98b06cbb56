//! The llama.cpp engine: a gpt-oss GGUF behind the token-level [`Engine`] trait.
//!
//! # Shape
//! One model, one context, several *slots* (llama.cpp sequences), and one scheduler thread that
//! owns the context and decodes every running sequence in one batch per step (continuous
//! batching; see [`scheduler`]). llama.cpp's context borrows the model (`LlamaContext<'model>`),
//! so the pair lives in a [`self_cell`] (a safe self-referential cell) moved into that thread.
//! [`LlamaEngine::generate`] is called from as many threads as there are slots: it hands the
//! job to the scheduler and runs the caller's sink on its own thread as tokens arrive.
//!
//! # Slots and KV reuse
//! Each slot has its own KV stream (`n_seq_max = slots`, non-unified cache) of `ctx` tokens, so
//! `--ctx` is the context of ONE conversation and the cache holds `slots * ctx` tokens. A
//! request's prompt is compared with what each slot holds; it goes to its own conversation's
//! slot (longest common prefix), else to an empty slot, else to the least recently used one,
//! optionally seeded with another slot's shared prefix. The longest common prefix is kept
//! (`kv_cache_seq_rm` cuts the slot after it) and only the rest is decoded, so interleaved Codex
//! sessions each keep "the second run is immediate". At least the last prompt token is always
//! re-decoded, because sampling needs its logits. gpt-oss uses sliding-window attention on every
//! other layer; llama.cpp's default SWA cache keeps only the window, which makes cutting the
//! cache at an arbitrary earlier position impossible, so the context is created with `swa_full`.
//! That costs memory but is what makes reuse work for Codex's multi-turn prompts. If a cut still
//! fails, that slot is cleared and prefilled from scratch: correct, just slower.
//!
//! Unless `--slots` says, the number of slots comes from the KV size of one slot and the memory
//! available at load time:
//!
//! ```text
//! kv_per_token = 2 (K and V) * 2 B (f16) * n_layer * n_head_kv * head_dim
//! slots        = clamp(MemAvailable / 4 / (ctx * kv_per_token), 1, 4)
//! ```
//!
//! gpt-oss-20b: 48 KiB per token, 384 MiB per 8k slot: 4 slots with 6 GiB free, 1 below 1.5 GiB.
//!
//! # Batch sizing
//! `n_ubatch` (tokens per compute pass) bounds the prefill activations; `n_batch` (tokens per
//! `decode` call, i.e. per scheduler step) bounds how long one step runs, hence both the
//! latency a long prefill adds to the other streams and the delay of a cancellation. Unless
//! given, they are derived from the model's dimensions and the memory available at load time:
//!
//! ```text
//! per_token = 4 B * (n_head * n_ctx        // attention scores of one token against the context
//!                    + 16 * n_embd)         // residual, norms, q/k/v, MoE routing intermediates
//! budget    = min(MemAvailable / 8, 1 GiB)  // never spend more than 1/8 of free RAM on activations
//! n_ubatch  = clamp(prev_pow2(budget / per_token), 32, 512)
//! n_batch   = clamp(4 * n_ubatch, n_ubatch, min(2048, n_ctx))
//! ```
//!
//! For gpt-oss-20b (64 heads, width 2880) at an 8k context with 16 GiB free that gives
//! n_ubatch 256 / n_batch 1024; on a low-RAM machine it drops towards 32 / 128.
//!
//! # Special tokens
//! Harmony hard-codes its special-token ids. At load the engine checks that the model's
//! tokenizer maps `<|start|>`, `<|end|>`, `<|message|>`, `<|channel|>`, `<|call|>` and
//! `<|return|>` to exactly those ids (a GGUF from another tokenizer would otherwise produce
//! nonsense silently). A vocab-less GGUF (`tokenizer.ggml.model = "none"`, used in tests) has no
//! token strings to check: the check is skipped with a log line. (`LlamaVocab::vocab_type()`
//! panics on such models, and tokenizing aborts inside llama.cpp, so the metadata is read
//! instead.)

mod scheduler;

use std::io::IsTerminal;
use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, OnceLock};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;

use super::{CancelFlag, Engine, EngineInfo, GenerateRequest, Generation, StopReason};
use crate::{Error, Result};
pub use scheduler::SlotInfo;
use scheduler::{Command, Event, Job, Scheduler};

/// Harmony's special tokens the engine relies on, with their fixed ids (o200k_harmony).
pub const HARMONY_SPECIAL_IDS: &[(&str, u32)] = &[
    ("<|start|>", 200_006),
    ("<|end|>", 200_007),
    ("<|message|>", 200_008),
    ("<|channel|>", 200_005),
    ("<|call|>", 200_012),
    ("<|return|>", 200_002),
];

/// Size of the o200k_harmony vocabulary.
pub const HARMONY_VOCAB_SIZE: u32 = 201_088;

const ENGINE: &str = "llama";

/// How to load a model. `Default` picks every size automatically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlamaConfig {
    /// Threads for decode and prefill; `None` = all available cores.
    pub threads: Option<usize>,
    /// Context size of ONE conversation (slot) in tokens; `None` = the model's training
    /// context, capped at 8192. The KV cache holds `slots * n_ctx` tokens.
    pub n_ctx: Option<u32>,
    /// Concurrent sequences, each with its own KV prefix; `None` = derived from the memory
    /// available (see the module docs).
    pub slots: Option<u32>,
    /// Tokens per `decode` call; `None` = derived (see the module docs).
    pub n_batch: Option<u32>,
    /// Tokens per compute pass; `None` = derived (see the module docs).
    pub n_ubatch: Option<u32>,
    /// Layers offloaded to a GPU (0 on CPU-only builds).
    pub gpu_layers: u32,
    /// Draw a progress bar on stderr while loading, if stderr is a terminal.
    pub show_progress: bool,
}

impl Default for LlamaConfig {
    fn default() -> Self {
        Self {
            threads: None,
            n_ctx: None,
            slots: None,
            n_batch: None,
            n_ubatch: None,
            gpu_layers: 0,
            show_progress: true,
        }
    }
}

/// The process-wide llama.cpp backend. llama.cpp may be initialised only once per process, so
/// every user (the engine, benchmarks' bare loops) goes through here. The first call also
/// routes llama.cpp's and ggml's logs into `tracing`.
pub fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Engine {
            engine: ENGINE,
            message: format!("initialising llama.cpp: {e}"),
        })
}

/// Batch sizes derived from the model's dimensions and the available memory. See the module
/// docs for the formula.
pub fn derive_batch_sizes(
    n_head: u32,
    n_embd: u32,
    n_ctx: u32,
    available_bytes: u64,
) -> (u32, u32) {
    let per_token = 4 * (u64::from(n_head) * u64::from(n_ctx) + 16 * u64::from(n_embd));
    let budget = (available_bytes / 8).min(1 << 30);
    let fit = (budget / per_token.max(1)).max(1);
    let pow2 = 1u64 << (63 - fit.leading_zeros());
    let n_ubatch = pow2.clamp(32, 512) as u32;
    let max_batch = 2048.min(n_ctx.max(n_ubatch));
    let n_batch = (4 * n_ubatch).clamp(n_ubatch, max_batch);
    (n_batch, n_ubatch)
}

/// Bytes of KV cache one token takes in every layer (f16 keys and values).
pub fn kv_bytes_per_token(n_layer: u32, n_head_kv: u32, head_dim: u32) -> u64 {
    2 * 2 * u64::from(n_layer) * u64::from(n_head_kv) * u64::from(head_dim)
}

/// Slots that fit a quarter of the available memory, 1..=4. See the module docs.
pub fn derive_slots(n_ctx_slot: u32, kv_per_token: u64, available_bytes: u64) -> u32 {
    let per_slot = (u64::from(n_ctx_slot) * kv_per_token).max(1);
    (available_bytes / 4 / per_slot).clamp(1, 4) as u32
}

/// Memory available for new allocations (Linux `MemAvailable`); 4 GiB when unknown.
fn available_memory() -> u64 {
    const FALLBACK: u64 = 4 << 30;
    let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") else {
        return FALLBACK;
    };
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(FALLBACK, |kib| kib * 1024)
}

self_cell::self_cell!(
    /// A model and the context borrowing it.
    struct ModelContext {
        owner: LlamaModel,
        #[covariant]
        dependent: LlamaContext,
    }
);

impl std::fmt::Debug for ModelContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelContext").finish_non_exhaustive()
    }
}

/// The llama.cpp engine. See the module docs.
#[derive(Debug)]
pub struct LlamaEngine {
    path: PathBuf,
    info: EngineInfo,
    n_batch: u32,
    n_ubatch: u32,
    n_vocab: u32,
    slots: usize,
    commands: Sender<Command>,
    scheduler: Option<std::thread::JoinHandle<()>>,
    decoded: Arc<AtomicU64>,
}

impl LlamaEngine {
    /// Load a gpt-oss GGUF and create its context. Checks the special-token ids (see the module
    /// docs); shows a progress bar on a terminal when `config.show_progress`.
    pub fn load(path: &Path, config: LlamaConfig) -> Result<Self> {
        let load_err = |message: String| Error::ModelLoad {
            path: path.to_path_buf(),
            message,
        };
        check_gguf_magic(path)?;
        let backend = backend()?;

        let mut params = LlamaModelParams::default().with_n_gpu_layers(config.gpu_layers);
        let progress = (config.show_progress && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(100);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}%")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("loading {}", path.display()));
            bar
        });
        if let Some(bar) = progress.clone() {
            params = params.with_progress_callback(move |p| {
                bar.set_position((p.clamp(0.0, 1.0) * 100.0) as u64);
                true
            });
        }
        let started = std::time::Instant::now();
        let model = LlamaModel::load_from_file(backend, path, &params).map_err(|e| {
            load_err(format!(
                "llama.cpp could not load it ({e}); its log above says why"
            ))
        });
        if let Some(bar) = &progress {
            bar.finish_and_clear();
        }
        let model = model?;

        let n_vocab = u32::try_from(model.n_vocab()).unwrap_or(0);
        if n_vocab < HARMONY_VOCAB_SIZE {
            return Err(load_err(format!(
                "vocabulary of {n_vocab} tokens is smaller than Harmony's {HARMONY_VOCAB_SIZE}; \
                 not a gpt-oss model"
            )));
        }
        check_special_tokens(path, &model)?;

        let n_ctx_train = model.n_ctx_train().max(1);
        let n_ctx = config
            .n_ctx
            .unwrap_or(n_ctx_train.min(8192))
            .clamp(16, n_ctx_train.max(16));
        if config.n_ctx.is_some_and(|asked| asked != n_ctx) {
            tracing::warn!(
                asked = config.n_ctx,
                n_ctx,
                n_ctx_train,
                "context size clamped to 16..=the model's training context"
            );
        }
        let available = available_memory();
        let kv_per_token = kv_bytes_per_token(model.n_layer(), model.n_head_kv(), head_dim(&model));
        // llama.cpp accepts at most 256 sequences.
        let slots = config
            .slots
            .unwrap_or_else(|| derive_slots(n_ctx, kv_per_token, available))
            .clamp(1, 256);
        let (auto_batch, auto_ubatch) = derive_batch_sizes(
            model.n_head(),
            model.n_embd().max(1) as u32,
            n_ctx,
            available,
        );
        let n_ubatch = config.n_ubatch.unwrap_or(auto_ubatch).clamp(1, n_ctx);
        // Every step decodes one token per running slot plus prefill chunks: room for both.
        let n_batch = config
            .n_batch
            .unwrap_or(auto_batch)
            .clamp(n_ubatch, n_ctx)
            .max(2 * slots);
        let threads = config
            .threads
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1)
            .clamp(1, 512) as i32;

        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx.saturating_mul(slots)))
            .with_n_batch(n_batch)
            .with_n_ubatch(n_ubatch)
            .with_n_seq_max(slots)
            .with_kv_unified(false)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_swa_full(true);
        let cell = ModelContext::try_new(model, |model| model.new_context(backend, ctx_params))
            .map_err(|e| {
                load_err(format!(
                    "creating a context of {slots} slot(s) x {n_ctx} tokens: {e}"
                ))
            })?;
        // llama.cpp rounds each stream up to a multiple of 256 cells.
        let context_size = cell.borrow_dependent().n_ctx() as usize / slots as usize;

        tracing::info!(
            path = %path.display(),
            n_ctx = context_size,
            slots,
            kv_mib = (kv_per_token * context_size as u64 * u64::from(slots)) >> 20,
            n_batch,
            n_ubatch,
            threads,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "llama engine loaded"
        );
        let model_name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "gguf".to_string());
        let decoded = Arc::new(AtomicU64::new(0));
        let (commands, rx) = mpsc::channel();
        let scheduler = Scheduler::new(
            cell,
            slots as usize,
            n_batch as usize,
            context_size,
            decoded.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("llama-scheduler".into())
            .spawn(move || scheduler.run(rx))
            .map_err(|e| load_err(format!("starting the scheduler thread: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            info: EngineInfo {
                engine: ENGINE.to_string(),
                model: model_name,
                context_size,
            },
            n_batch,
            n_ubatch,
            n_vocab,
            slots: slots as usize,
            commands,
            scheduler: Some(thread),
            decoded,
        })
    }

    /// Total tokens this engine has passed through llama.cpp's `decode` (prompt prefill plus
    /// sampled tokens fed back). Tests use it to prove KV reuse: a second request sharing a
    /// prefix must add only its new suffix.
    pub fn decoded_tokens(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }

    /// `(n_batch, n_ubatch)` in effect.
    pub fn batch_sizes(&self) -> (u32, u32) {
        (self.n_batch, self.n_ubatch)
    }

    /// The GGUF this engine was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every slot's state, in slot order.
    pub fn slot_info(&self) -> Vec<SlotInfo> {
        let (tx, rx) = mpsc::channel();
        if self.commands.send(Command::Inspect(tx)).is_err() {
            return Vec::new();
        }
        rx.recv().unwrap_or_default()
    }

    /// Forget the KV cache of every idle slot (the next requests prefill from scratch).
    /// Benchmarks use it to measure the no-reuse baseline.
    pub fn clear_cache(&self) {
        let (tx, rx) = mpsc::channel();
        if self.commands.send(Command::Clear(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

impl Drop for LlamaEngine {
    fn drop(&mut self) {
        // Closing the command channel stops the scheduler once it is idle (no generation can
        // run: they borrow the engine).
        let (dead, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.commands, dead));
        if let Some(thread) = self.scheduler.take() {
            let _ = thread.join();
        }
    }
}

/// Head dimension for the KV size: `<arch>.attention.key_length`, else n_embd / n_head.
fn head_dim(model: &LlamaModel) -> u32 {
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_default();
    model
        .meta_val_str(&format!("{arch}.attention.key_length"))
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| (model.n_embd().max(1) as u32) / model.n_head().max(1))
}

fn engine_err(message: impl Into<String>) -> Error {
    Error::Engine {
        engine: ENGINE,
        message: message.into(),
    }
}

/// A clear error for "not a GGUF" before llama.cpp's terse null result.
fn check_gguf_magic(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| Error::io("opening model", path, e))?;
    if &magic != b"GGUF" {
        return Err(Error::ModelLoad {
            path: path.to_path_buf(),
            message: format!("not a GGUF file (starts with {magic:02x?}, expected \"GGUF\")"),
        });
    }
    Ok(())
}

fn check_special_tokens(path: &Path, model: &LlamaModel) -> Result<()> {
    let tokenizer = model
        .meta_val_str("tokenizer.ggml.model")
        .unwrap_or_default();
    if tokenizer.is_empty() || tokenizer == "none" || tokenizer == "no_vocab" {
        tracing::info!(
            path = %path.display(),
            "model has no tokenizer (tokenizer.ggml.model = {tokenizer:?}): skipping the Harmony \
             special-token id check; token ids are used as given"
        );
        return Ok(());
    }
    let vocab = model.vocab();
    for &(name, harmony_id) in HARMONY_SPECIAL_IDS {
        let ids = vocab.tokenize(name.as_bytes(), false, true);
        let model_id = match ids.as_slice() {
            [LlamaToken(id)] => u32::try_from(*id).ok(),
            _ => None,
        };
        if model_id != Some(harmony_id) {
            return Err(Error::SpecialTokenMismatch {
                path: path.to_path_buf(),
                token: name,
                model_id,
                harmony_id,
            });
        }
    }
    tracing::debug!(path = %path.display(), "Harmony special-token ids match the model");
    Ok(())
}

impl Engine for LlamaEngine {
    fn info(&self) -> EngineInfo {
        self.info.clone()
    }

    fn slots(&self) -> usize {
        self.slots
    }

    fn generate(
        &self,
        req: &GenerateRequest<'_>,
        cancel: &CancelFlag,
        sink: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) -> Result<Generation> {
        let prompt = req.prompt;
        let n_ctx = self.info.context_size;
        if prompt.is_empty() {
            return Err(Error::InvalidRequest("empty prompt".into()));
        }
        if prompt.len() >= n_ctx {
            return Err(Error::PromptTooLong {
                prompt_tokens: prompt.len(),
                context_size: n_ctx,
            });
        }
        if let Some(bad) = prompt.iter().find(|&&t| t >= self.n_vocab) {
            return Err(Error::InvalidRequest(format!(
                "prompt token id {bad} is outside the model's vocabulary of {}",
                self.n_vocab
            )));
        }
        let (events, rx) = mpsc::channel();
        let halt = Arc::new(AtomicBool::new(false));
        self.commands
            .send(Command::Start(Job {
                prompt: prompt.to_vec(),
                sampling: req.sampling.clone(),
                stop_tokens: req.stop_tokens.to_vec(),
                cancel: cancel.clone(),
                halt: halt.clone(),
                events,
            }))
            .map_err(|_| engine_err("the llama.cpp scheduler thread is gone"))?;
        // Tokens the sink accepted; after a Break the scheduler may have sampled a few more,
        // which are dropped here (they are in the slot's cache, which is harmless).
        let mut delivered = 0usize;
        let mut broke = false;
        loop {
            match rx.recv() {
                Ok(Event::Token(t)) => {
                    if broke {
                        continue;
                    }
                    delivered += 1;
                    if sink(t).is_break() {
                        broke = true;
                        halt.store(true, Ordering::Release);
                    }
                }
                Ok(Event::Done(result)) => {
                    let mut g = result?;
                    if broke {
                        // A stop token the sink also broke on is still a stop token.
                        let stop_on_last = matches!(g.stop, StopReason::StopToken(_))
                            && g.stats.generated_tokens == delivered;
                        if !stop_on_last {
                            g.stop = StopReason::Sink;
                        }
                        g.stats.generated_tokens = delivered;
                    }
                    return Ok(g);
                }
                Err(_) => {
                    return Err(engine_err(
                        "the llama.cpp scheduler thread stopped in the middle of a generation",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_follow_memory_and_dimensions() {
        // gpt-oss-20b at 8k context with plenty of memory.
        assert_eq!(derive_batch_sizes(64, 2880, 8192, 16 << 30), (1024, 256));
        // Low memory clamps to the floor.
        assert_eq!(derive_batch_sizes(64, 2880, 8192, 256 << 20), (128, 32));
        // A tiny model is capped at 512 per pass and by the context for n_batch.
        assert_eq!(derive_batch_sizes(4, 32, 4096, 16 << 30), (2048, 512));
        assert_eq!(derive_batch_sizes(4, 32, 1024, 16 << 30), (1024, 512));
    }

    #[test]
    fn slots_follow_memory_and_kv_size() {
        // gpt-oss-20b: 24 layers, 8 KV heads of 64 -> 48 KiB per token, 384 MiB per 8k slot.
        let kv = kv_bytes_per_token(24, 8, 64);
        assert_eq!(kv, 48 * 1024);
        assert_eq!(derive_slots(8192, kv, 16 << 30), 4);
        assert_eq!(derive_slots(8192, kv, 3 << 30), 2);
        assert_eq!(derive_slots(8192, kv, 512 << 20), 1);
        // The tiny test model: 1 MiB per slot, so the cap of 4.
        assert_eq!(derive_slots(4096, kv_bytes_per_token(2, 2, 16), 1 << 30), 4);
    }
}
