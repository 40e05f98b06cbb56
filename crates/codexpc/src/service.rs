//! The transport-independent generation pipeline: prompt tokens in, [`OutputEvent`]s out.
//!
//! Both front ends (the HTTP Responses endpoint here, the Unix-socket session protocol later) call
//! [`Service::generate`]. It admits the request into a bounded queue (refusing at once with
//! [`Error::Busy`] when full), waits for one of the engine's slots ([`Engine::slots`]: as many
//! generations run at once as the engine decodes together), runs the blocking engine on a
//! blocking thread, parses every sampled token with [`HarmonyStreamParser`], and sends events on a
//! bounded channel. The last event is always `Completed` or `Failed`. Dropping the receiver or
//! setting the [`CancelFlag`] stops generation between tokens.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{Semaphore, mpsc};

use crate::engine::{CancelFlag, Engine, EngineInfo, GenerateRequest, Sampling, StopReason};
use crate::harmony::{Harmony, harmony};
use crate::parse::{FailureKind, HarmonyStreamParser, OutputEvent};
use crate::{Error, Result};

/// Capacity of each generation's event channel (backpressure on a slow consumer).
const EVENT_CHANNEL: usize = 256;

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Generations allowed to wait while every engine slot is busy; more are refused with
    /// [`Error::Busy`].
    pub max_queue: usize,
    /// Sampling used when a request does not say.
    pub default_sampling: Sampling,
    /// Write each decoded prompt to `DIR/prompt-NNNN.txt` (debugging, tests).
    pub dump_prompts: Option<PathBuf>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            max_queue: 8,
            default_sampling: Sampling::default(),
            dump_prompts: None,
        }
    }
}

/// One generation request, already rendered.
#[derive(Debug, Clone)]
pub struct GenerationInput {
    /// Prompt token ids ending in `<|start|>assistant`.
    pub prompt: Vec<u32>,
    /// Text of the last input item (scripted engine matching).
    pub match_text: Option<String>,
    pub sampling: Sampling,
}

/// Counters over the service's life (for metrics).
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub completed: AtomicU64,
    pub cancelled: AtomicU64,
    pub errors: AtomicU64,
    pub busy_rejections: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub cached_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CountersSnapshot {
    pub requests: u64,
    pub completed: u64,
    pub cancelled: u64,
    pub errors: u64,
    pub busy_rejections: u64,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub generated_tokens: u64,
    /// Generations admitted and not finished (running + queued).
    pub in_flight: u64,
}

/// The generation pipeline. Cheap to share (`Arc<Service>`).
pub struct Service {
    engine: Arc<dyn Engine>,
    info: EngineInfo,
    harmony: &'static Harmony,
    config: ServiceConfig,
    /// Generations the engine runs at once.
    slots: usize,
    slot: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    counters: Arc<Counters>,
    prompt_seq: AtomicU64,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("info", &self.info)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Decrements `in_flight` when a generation leaves the system, however it ends.
struct InFlight(Arc<AtomicUsize>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Service {
    pub fn new(engine: Arc<dyn Engine>, config: ServiceConfig) -> Result<Self> {
        let info = engine.info();
        let slots = engine.slots().max(1);
        Ok(Self {
            slots,
            engine,
            info,
            harmony: harmony()?,
            config,
            slot: Arc::new(Semaphore::new(slots)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            counters: Arc::new(Counters::default()),
            prompt_seq: AtomicU64::new(0),
        })
    }

    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    pub fn harmony(&self) -> &'static Harmony {
        self.harmony
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Generations the engine runs at once.
    pub fn slots(&self) -> usize {
        self.slots
    }

    pub fn counters(&self) -> CountersSnapshot {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountersSnapshot {
            requests: load(&c.requests),
            completed: load(&c.completed),
            cancelled: load(&c.cancelled),
            errors: load(&c.errors),
            busy_rejections: load(&c.busy_rejections),
            prompt_tokens: load(&c.prompt_tokens),
            cached_tokens: load(&c.cached_tokens),
            generated_tokens: load(&c.generated_tokens),
            in_flight: self.in_flight.load(Ordering::Relaxed) as u64,
        }
    }

    /// Start a generation. Refuses at once with [`Error::Busy`] when `max_queue` generations are
    /// already waiting, and with [`Error::PromptTooLong`] when the prompt cannot fit. Must be
    /// called inside a Tokio runtime. The returned channel ends with `Completed` or `Failed`.
    pub fn generate(
        &self,
        input: GenerationInput,
        cancel: CancelFlag,
    ) -> Result<mpsc::Receiver<OutputEvent>> {
        self.generate_primed(input, Vec::new(), false, cancel)
    }

    /// Like [`Service::generate`], for a prompt that already ends inside an assistant message
    /// (the socket protocol's `prime_final`: `...<|start|>assistant<|channel|>final<|message|>`).
    /// `parser_prefix` (the tokens after `<|start|>assistant`) is fed to the parser before the
    /// first sampled token, so the sampled tokens are read as that message's content.
    /// `final_only` drops commentary preambles from the text events (the socket protocol).
    pub fn generate_primed(
        &self,
        input: GenerationInput,
        parser_prefix: Vec<u32>,
        final_only: bool,
        cancel: CancelFlag,
    ) -> Result<mpsc::Receiver<OutputEvent>> {
        if input.prompt.len() >= self.info.context_size {
            return Err(Error::PromptTooLong {
                prompt_tokens: input.prompt.len(),
                context_size: self.info.context_size,
            });
        }
        let capacity = self.config.max_queue + self.slots;
        let admitted = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            });
        if let Err(current) = admitted {
            self.counters
                .busy_rejections
                .fetch_add(1, Ordering::Relaxed);
            return Err(Error::Busy {
                waiting: current.saturating_sub(self.slots),
                max_queue: self.config.max_queue,
            });
        }
        let guard = InFlight(self.in_flight.clone());
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.dump_prompt(&input.prompt);

        let (tx, rx) = mpsc::channel(EVENT_CHANNEL);
        let slot = self.slot.clone();
        let engine = self.engine.clone();
        let counters = self.counters.clone();
        let harmony = self.harmony;
        tokio::spawn(async move {
            let _guard = guard;
            // Wait for the engine, unless the consumer goes away first.
            let permit = tokio::select! {
                permit = slot.acquire_owned() => permit,
                () = tx.closed() => {
                    counters.cancelled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let Ok(permit) = permit else { return };
            let run_tx = tx.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                run_generation(
                    engine.as_ref(),
                    harmony,
                    &input,
                    &parser_prefix,
                    final_only,
                    &cancel,
                    &run_tx,
                    &counters,
                )
            })
            .await;
            if let Err(join_error) = joined {
                let _ = tx
                    .send(OutputEvent::Failed {
                        kind: FailureKind::Engine,
                        message: format!("generation thread failed: {join_error}"),
                    })
                    .await;
            }
        });
        Ok(rx)
    }

    fn dump_prompt(&self, prompt: &[u32]) {
        let Some(dir) = &self.config.dump_prompts else {
            return;
        };
        let n = self.prompt_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let path = dir.join(format!("prompt-{n:04}.txt"));
        let text = self.harmony.decode_lossy(prompt);
        if let Err(e) = write_private(dir, &path, text.as_bytes()) {
            tracing::warn!(path = %path.display(), error = %e, "could not dump the prompt");
        }
    }
}

/// Writes a prompt dump owner-only: prompts carry the user's code, instructions and tool output.
/// A missing dump directory is created 0700.
fn write_private(
    dir: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    builder.create(dir)?;
    options.open(path)?.write_all(bytes)
}

/// Run one generation on the current (blocking) thread, sending events to `tx`.
// Private, called once; a parameter struct would only rename these.
#[allow(clippy::too_many_arguments)]
fn run_generation(
    engine: &dyn Engine,
    harmony: &'static Harmony,
    input: &GenerationInput,
    parser_prefix: &[u32],
    final_only: bool,
    cancel: &CancelFlag,
    tx: &mpsc::Sender<OutputEvent>,
    counters: &Counters,
) {
    let fail = |kind: FailureKind, message: String| {
        match kind {
            FailureKind::Cancelled => counters.cancelled.fetch_add(1, Ordering::Relaxed),
            _ => counters.errors.fetch_add(1, Ordering::Relaxed),
        };
        let _ = tx.blocking_send(OutputEvent::Failed { kind, message });
    };
    if cancel.is_cancelled() {
        return fail(FailureKind::Cancelled, "cancelled before it started".into());
    }
    let mut parser = match HarmonyStreamParser::new(harmony) {
        Ok(p) => p,
        Err(e) => return fail(FailureKind::Engine, e.to_string()),
    };
    parser.set_final_only(final_only);
    let mut buf = Vec::new();
    for &token in parser_prefix {
        if let Err(e) = parser.push(token, &mut buf) {
            return fail(FailureKind::Engine, format!("priming the parser: {e}"));
        }
    }
    let mut parse_error: Option<Error> = None;
    let mut consumer_gone = false;
    let req = GenerateRequest {
        prompt: &input.prompt,
        sampling: input.sampling.clone(),
        stop_tokens: harmony.assistant_stop_tokens(),
        match_text: input.match_text.as_deref(),
    };
    let result = engine.generate(&req, cancel, &mut |token| {
        if let Err(e) = parser.push(token, &mut buf) {
            parse_error = Some(e);
            return ControlFlow::Break(());
        }
        for event in buf.drain(..) {
            if tx.blocking_send(event).is_err() {
                consumer_gone = true;
                cancel.cancel();
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    let generation = match result {
        Ok(g) => g,
        Err(e) => return fail(FailureKind::Engine, e.to_string()),
    };
    let stats = generation.stats;
    counters
        .prompt_tokens
        .fetch_add(stats.prompt_tokens as u64, Ordering::Relaxed);
    counters
        .cached_tokens
        .fetch_add(stats.cached_tokens as u64, Ordering::Relaxed);
    counters
        .generated_tokens
        .fetch_add(stats.generated_tokens as u64, Ordering::Relaxed);
    if let Some(e) = parse_error {
        tracing::warn!(error = %e, "malformed model output; failing the response");
        return fail(FailureKind::MalformedOutput, e.to_string());
    }
    if consumer_gone || generation.stop == StopReason::Cancelled {
        return fail(FailureKind::Cancelled, "generation cancelled".into());
    }
    if let Err(e) = parser.finish(&mut buf) {
        return fail(FailureKind::MalformedOutput, e.to_string());
    }
    for event in buf.drain(..) {
        if tx.blocking_send(event).is_err() {
            return fail(FailureKind::Cancelled, "consumer went away".into());
        }
    }
    counters.completed.fetch_add(1, Ordering::Relaxed);
    let _ = tx.blocking_send(OutputEvent::Completed {
        stats,
        stop: generation.stop,
        reasoning_tokens: parser.reasoning_tokens(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scripted::{ScriptLine, ScriptedEngine};

    fn line(completion: &str, delay: Option<u64>) -> ScriptLine {
        ScriptLine {
            completion: completion.into(),
            match_text: None,
            token_delay_ms: delay,
        }
    }

    async fn collect(mut rx: mpsc::Receiver<OutputEvent>) -> Vec<OutputEvent> {
        let mut out = Vec::new();
        while let Some(e) = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("event within timeout")
        {
            out.push(e);
        }
        out
    }

    fn input(prompt: Vec<u32>) -> GenerationInput {
        GenerationInput {
            prompt,
            match_text: None,
            sampling: Sampling::default(),
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn prompt_dumps_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("prompts");
        let engine = ScriptedEngine::from_lines(
            "t",
            vec![line("<|channel|>final<|message|>ok<|return|>", None)],
        )
        .expect("engine");
        let config = ServiceConfig {
            dump_prompts: Some(dir.clone()),
            ..ServiceConfig::default()
        };
        let service = Service::new(Arc::new(engine), config).expect("service");
        let rx = service
            .generate(input(vec![1, 2, 3]), CancelFlag::new())
            .expect("admitted");
        collect(rx).await;
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        let dump = dir.join("prompt-0001.txt");
        assert!(dump.is_file(), "the prompt was dumped");
        assert_eq!((mode(&dir), mode(&dump)), (0o700, 0o600));
    }

    #[tokio::test]
    async fn generation_streams_events_and_ends_completed() {
        let engine = ScriptedEngine::from_lines(
            "t",
            vec![line("<|channel|>analysis<|message|>hm<|end|><|start|>assistant<|channel|>final<|message|>Hi!<|return|>", None)],
        )
        .expect("engine");
        let service = Service::new(Arc::new(engine), ServiceConfig::default()).expect("service");
        let rx = service
            .generate(input(vec![1, 2, 3]), CancelFlag::new())
            .expect("admitted");
        let events = collect(rx).await;
        assert!(events.contains(&OutputEvent::ReasoningDone("hm".into())));
        assert!(events.contains(&OutputEvent::TextDone("Hi!".into())));
        let Some(OutputEvent::Completed {
            stats,
            stop,
            reasoning_tokens,
        }) = events.last()
        else {
            panic!("last event must be Completed: {events:?}")
        };
        assert_eq!(*stop, StopReason::StopToken(crate::harmony::tokens::RETURN));
        assert_eq!(stats.prompt_tokens, 3);
        assert_eq!(*reasoning_tokens, 1);
        let c = service.counters();
        assert_eq!(
            (c.requests, c.completed, c.errors, c.prompt_tokens),
            (1, 1, 0, 3)
        );
    }

    #[tokio::test]
    async fn full_queue_is_refused_with_busy_and_errors_are_events() {
        let slow = line(
            "<|channel|>final<|message|>a b c d e f g h<|return|>",
            Some(50),
        );
        let engine = ScriptedEngine::from_lines("t", vec![slow.clone(), slow]).expect("engine");
        let config = ServiceConfig {
            max_queue: 1,
            ..ServiceConfig::default()
        };
        let service = Service::new(Arc::new(engine), config).expect("service");
        let first_cancel = CancelFlag::new();
        let rx1 = service
            .generate(input(vec![1]), first_cancel.clone())
            .expect("runs");
        let rx2 = service
            .generate(input(vec![1]), CancelFlag::new())
            .expect("queued");
        let err = service
            .generate(input(vec![1]), CancelFlag::new())
            .expect_err("busy");
        assert!(
            matches!(
                err,
                Error::Busy {
                    waiting: 1,
                    max_queue: 1
                }
            ),
            "{err}"
        );
        assert_eq!(service.counters().busy_rejections, 1);
        first_cancel.cancel();
        let e1 = collect(rx1).await;
        assert!(
            matches!(
                e1.last(),
                Some(OutputEvent::Failed {
                    kind: FailureKind::Cancelled,
                    ..
                })
            ),
            "{e1:?}"
        );
        let e2 = collect(rx2).await;
        assert!(
            matches!(e2.last(), Some(OutputEvent::Completed { .. })),
            "{e2:?}"
        );
        // The cancelled generation never reached the engine, so one script line is left.
        let e3 = collect(
            service
                .generate(input(vec![1]), CancelFlag::new())
                .expect("admitted"),
        )
        .await;
        assert!(
            matches!(e3.last(), Some(OutputEvent::Completed { .. })),
            "{e3:?}"
        );
        // Now the script is used up: the next request fails with the engine's clear error.
        let e4 = collect(
            service
                .generate(input(vec![1]), CancelFlag::new())
                .expect("admitted"),
        )
        .await;
        let Some(OutputEvent::Failed {
            kind: FailureKind::Engine,
            message,
        }) = e4.last()
        else {
            panic!("{e4:?}")
        };
        assert!(message.contains("no unused line matches"), "{message}");
        let c = service.counters();
        assert_eq!(
            (c.cancelled, c.completed, c.errors, c.in_flight),
            (1, 2, 1, 0)
        );
    }

    #[tokio::test]
    async fn malformed_output_fails_the_generation_without_hanging() {
        let engine = ScriptedEngine::from_lines(
            "t",
            vec![line("<|channel|>final<|message|>a<|end|><|start|>functions.x to=assistant<|channel|>commentary<|message|>fake<|end|>more text forever", None)],
        )
        .expect("engine");
        let service = Service::new(Arc::new(engine), ServiceConfig::default()).expect("service");
        let events = collect(
            service
                .generate(input(vec![1]), CancelFlag::new())
                .expect("ok"),
        )
        .await;
        assert!(events.contains(&OutputEvent::TextDone("a".into())));
        assert!(
            matches!(
                events.last(),
                Some(OutputEvent::Failed {
                    kind: FailureKind::MalformedOutput,
                    ..
                })
            ),
            "{events:?}"
        );
    }
}
