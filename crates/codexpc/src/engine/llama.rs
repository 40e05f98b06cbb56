//! The llama.cpp engine: a gpt-oss GGUF behind the token-level [`Engine`] trait.
//!
//! # Shape
//! One model, one context, one sequence. llama.cpp's context borrows the model
//! (`LlamaContext<'model>`), so the pair lives in a [`self_cell`] (a safe self-referential cell)
//! behind a mutex together with the list of tokens currently in the KV cache. Generations are
//! serialised by that mutex, exactly as the trait documents.
//!
//! # KV reuse
//! A request's prompt is compared with the tokens in the cache; the longest common prefix is
//! kept (`kv_cache_seq_rm` cuts everything after it) and only the rest is decoded. At least the
//! last prompt token is always re-decoded, because sampling needs its logits and llama.cpp keeps
//! logits only for the last decode. gpt-oss uses sliding-window attention on every other layer;
//! llama.cpp's default SWA cache keeps only the window, which makes cutting the cache at an
//! arbitrary earlier position impossible, so the context is created with `swa_full` (a full-size
//! cache for those layers too). That costs memory but is what makes "the second run is
//! immediate" true for Codex's multi-turn prompts. If a cut still fails, the engine clears the
//! cache and prefills from scratch: correct, just slower.
//!
//! # Batch sizing
//! `n_ubatch` (tokens per compute pass) bounds the prefill activations; `n_batch` (tokens per
//! `decode` call) bounds how long a prefill runs between cancellation checks. Unless given, they
//! are derived from the model's dimensions and the memory available at load time:
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

use std::io::IsTerminal;
use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::{
    CancelFlag, Engine, EngineInfo, GenerateRequest, Generation, GenerationStats, StopReason,
};
use crate::{Error, Result};

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
    /// Context size in tokens; `None` = the model's training context, capped at 8192.
    pub n_ctx: Option<u32>,
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

#[derive(Debug)]
struct State {
    cell: ModelContext,
    /// Exactly the tokens whose keys/values are in the KV cache, in position order.
    cached: Vec<u32>,
}

/// The llama.cpp engine. See the module docs.
#[derive(Debug)]
pub struct LlamaEngine {
    path: PathBuf,
    info: EngineInfo,
    n_batch: u32,
    n_ubatch: u32,
    n_vocab: u32,
    state: Mutex<State>,
    decoded: AtomicU64,
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
        let (auto_batch, auto_ubatch) = derive_batch_sizes(
            model.n_head(),
            model.n_embd().max(1) as u32,
            n_ctx,
            available_memory(),
        );
        let n_ubatch = config.n_ubatch.unwrap_or(auto_ubatch).clamp(1, n_ctx);
        let n_batch = config.n_batch.unwrap_or(auto_batch).clamp(n_ubatch, n_ctx);
        let threads = config
            .threads
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1)
            .clamp(1, 512) as i32;

        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_batch)
            .with_n_ubatch(n_ubatch)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_swa_full(true);
        let cell = ModelContext::try_new(model, |model| model.new_context(backend, ctx_params))
            .map_err(|e| load_err(format!("creating a context of {n_ctx} tokens: {e}")))?;
        let context_size = cell.borrow_dependent().n_ctx() as usize;

        tracing::info!(
            path = %path.display(),
            n_ctx = context_size,
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
            state: Mutex::new(State {
                cell,
                cached: Vec::new(),
            }),
            decoded: AtomicU64::new(0),
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

    /// Forget the KV cache (the next request prefills from scratch). Benchmarks use it to
    /// measure the no-reuse baseline.
    pub fn clear_cache(&self) {
        let mut state = self.lock();
        state.cached.clear();
        state.cell.with_dependent_mut(|_, ctx| ctx.clear_kv_cache());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| {
            // A panic mid-generation may have left the cache out of step with `cached`:
            // start from an empty cache rather than trust it.
            let mut state = poisoned.into_inner();
            state.cached.clear();
            state.cell.with_dependent_mut(|_, ctx| ctx.clear_kv_cache());
            state
        })
    }
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

fn token(id: u32) -> LlamaToken {
    // Ids are validated against the vocabulary size (< 2^31) before they get here.
    LlamaToken(id as i32)
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Engine for LlamaEngine {
    fn info(&self) -> EngineInfo {
        self.info.clone()
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

        let mut guard = self.lock();
        let State { cell, cached } = &mut *guard;
        cell.with_dependent_mut(|_model, ctx| {
            // Longest common prefix, leaving at least the last prompt token to decode.
            let mut keep = common_prefix(cached, prompt).min(prompt.len() - 1);
            if keep < cached.len() {
                let cut = ctx.kv_cache_seq_rm(0, Some(keep as u32), None);
                if let Err(e) = cut {
                    tracing::warn!(keep, error = %e, "could not cut the KV cache; prefilling from scratch");
                    ctx.clear_kv_cache();
                    keep = 0;
                }
                cached.truncate(keep);
            }
            let mut stats = GenerationStats {
                prompt_tokens: prompt.len(),
                cached_tokens: keep,
                prefilled_tokens: 0,
                generated_tokens: 0,
            };

            let n_batch = self.n_batch as usize;
            let mut batch = LlamaBatch::new(n_batch, 1);
            let suffix = &prompt[keep..];
            let chunks = suffix.len().div_ceil(n_batch);
            for (i, chunk) in suffix.chunks(n_batch).enumerate() {
                if cancel.is_cancelled() {
                    return Ok(Generation { stop: StopReason::Cancelled, stats });
                }
                let last_chunk = i + 1 == chunks;
                batch.clear();
                let start = cached.len();
                for (j, &t) in chunk.iter().enumerate() {
                    let logits = last_chunk && j + 1 == chunk.len();
                    batch
                        .add(token(t), (start + j) as i32, &[0], logits)
                        .map_err(|e| engine_err(format!("building a prefill batch: {e}")))?;
                }
                decode(ctx, &mut batch, cached)?;
                cached.extend_from_slice(chunk);
                stats.prefilled_tokens += chunk.len();
                self.decoded.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }

            let mut sampler = sampler_for(&req.sampling);
            let mut logits_idx = batch.n_tokens() - 1;
            loop {
                if cancel.is_cancelled() {
                    return Ok(Generation { stop: StopReason::Cancelled, stats });
                }
                if req.sampling.max_tokens.is_some_and(|max| stats.generated_tokens >= max as usize) {
                    return Ok(Generation { stop: StopReason::MaxTokens, stats });
                }
                let sampled = sampler.sample(ctx, logits_idx);
                let Ok(id) = u32::try_from(sampled.0) else {
                    return Err(engine_err(format!("sampler returned invalid token {}", sampled.0)));
                };
                stats.generated_tokens += 1;
                let flow = sink(id);
                if req.stop_tokens.contains(&id) {
                    return Ok(Generation { stop: StopReason::StopToken(id), stats });
                }
                if flow.is_break() {
                    return Ok(Generation { stop: StopReason::Sink, stats });
                }
                // Checked here too so the last allowed token is not decoded for nothing.
                if req.sampling.max_tokens.is_some_and(|max| stats.generated_tokens >= max as usize) {
                    return Ok(Generation { stop: StopReason::MaxTokens, stats });
                }
                if cached.len() >= n_ctx {
                    return Ok(Generation { stop: StopReason::ContextFull, stats });
                }
                batch.clear();
                batch
                    .add(sampled, cached.len() as i32, &[0], true)
                    .map_err(|e| engine_err(format!("building a decode batch: {e}")))?;
                decode(ctx, &mut batch, cached)?;
                cached.push(id);
                self.decoded.fetch_add(1, Ordering::Relaxed);
                logits_idx = 0;
            }
        })
    }
}

/// `ctx.decode`, and on failure forget the cache (its contents are unknown after a failed
/// decode) so the next request starts clean.
fn decode(ctx: &mut LlamaContext<'_>, batch: &mut LlamaBatch, cached: &mut Vec<u32>) -> Result<()> {
    ctx.decode(batch).map_err(|e| {
        cached.clear();
        ctx.clear_kv_cache();
        engine_err(format!(
            "llama_decode of {} token(s) failed: {e}",
            batch.n_tokens()
        ))
    })
}

/// Greedy at temperature 0; otherwise nucleus (top-p), temperature, then a seeded draw.
fn sampler_for(s: &super::Sampling) -> LlamaSampler {
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
    fn common_prefix_counts_equal_leading_tokens() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3]), 2);
    }
}
