//! A remote engine: Harmony token ids sent to a serving engine elsewhere (a GPU box running vLLM
//! or llama.cpp's server), tokens streamed back.
//!
//! # Why token ids
//! codexpc keeps every layer above the engine — Harmony rendering, streaming parsing, tools, the
//! socket protocol and the Responses endpoint — so the upstream must not apply a chat template
//! or parse anything: it gets the rendered prompt as a list of token ids on its plain
//! completions API and streams back the ids it samples. The upstream's own prefix cache (vLLM's
//! automatic prefix caching, llama.cpp's `cache_prompt`) does the KV reuse.
//!
//! # The two APIs
//! - **vLLM** (`--upstream-api vllm`): `POST {root}/v1/completions` with `prompt: [ids]`,
//!   `stream: true`, `return_token_ids: true` (vLLM >= 0.10.2: each chunk's
//!   `choices[0].token_ids` holds its new ids) and, for older servers, `logprobs: 0` with
//!   `return_tokens_as_token_ids: true` (ids as `"token_id:N"` in `logprobs.tokens`);
//!   `stop_token_ids` = Harmony's stop tokens, `skip_special_tokens: false`,
//!   `stream_options.include_usage` for `cached_tokens` (`prompt_tokens_details`, reported when
//!   vLLM runs with `--enable-prompt-tokens-details`). SSE `data:` lines, ended by `[DONE]`.
//! - **llama.cpp server** (`--upstream-api llama-cpp`): `POST {root}/completion` with
//!   `prompt: [ids]`, `stream: true`, `return_tokens: true` (each chunk's `tokens`),
//!   `cache_prompt: true`; the last chunk has `stop: true`, `stop_type` and `tokens_cached`.
//!   llama.cpp ends on an end-of-generation token without sending it; the generation then ends
//!   with [`StopReason::EndOfOutput`] and the Harmony parser closes the message (a tool call is
//!   still recognised by its recipient).
//!
//! # Failures
//! Every way the upstream can fail becomes an [`Error::Engine`] naming the upstream and what
//! happened, never a hang: a connection error, an HTTP error status (with the start of its
//! body), a chunk that is not JSON, a stream that ends before the generation did, or no chunk
//! within `idle_timeout`. Cancelling (or the caller's sink saying stop) drops the HTTP request,
//! which both servers take as "abort this generation".

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};

use super::{
    CancelFlag, Engine, EngineInfo, GenerateRequest, Generation, GenerationStats, StopReason,
};
use crate::{Error, Result};

const ENGINE: &str = "openai-compat";
/// How long a generation that ended on a stop token waits for the upstream's usage report.
const USAGE_GRACE: Duration = Duration::from_secs(1);

/// Which completions API the upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamApi {
    /// vLLM's OpenAI-compatible `/v1/completions`.
    Vllm,
    /// llama.cpp server's native `/completion`.
    LlamaCpp,
}

impl std::str::FromStr for UpstreamApi {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "vllm" => Ok(Self::Vllm),
            "llama-cpp" | "llamacpp" | "llama.cpp" => Ok(Self::LlamaCpp),
            other => Err(format!(
                "unknown upstream API {other:?}; expected vllm or llama-cpp"
            )),
        }
    }
}

/// How to reach the upstream.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Server root, e.g. `http://gpu-box:8000` (a trailing `/v1` is accepted and ignored).
    pub upstream: String,
    pub api: UpstreamApi,
    /// Model name sent to vLLM; `None` = the first model the upstream lists.
    pub model: Option<String>,
    /// Bearer key for the upstream.
    pub api_key: Option<String>,
    /// Context size; `None` = what the upstream reports (vLLM `max_model_len`, llama.cpp
    /// `n_ctx`), else 131072.
    pub context_size: Option<usize>,
    /// Generations sent concurrently (the upstream batches them).
    pub slots: usize,
    pub connect_timeout: Duration,
    /// Longest silence between two chunks of a stream.
    pub idle_timeout: Duration,
}

impl RemoteConfig {
    pub fn new(upstream: impl Into<String>, api: UpstreamApi) -> Self {
        Self {
            upstream: upstream.into(),
            api,
            model: None,
            api_key: None,
            context_size: None,
            slots: 8,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// The remote engine. See the module docs.
pub struct RemoteEngine {
    root: String,
    api: UpstreamApi,
    model: String,
    api_key: Option<String>,
    info: EngineInfo,
    slots: usize,
    idle_timeout: Duration,
    http: reqwest::Client,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEngine")
            .field("root", &self.root)
            .field("api", &self.api)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn engine_err(message: impl Into<String>) -> Error {
    Error::Engine {
        engine: ENGINE,
        message: message.into(),
    }
}

impl RemoteEngine {
    /// Connect: ask the upstream for its model and context size (unless both are given).
    /// Blocking; runs its own small Tokio runtime, so it may be called from any thread that is
    /// not a Tokio worker.
    pub fn connect(config: RemoteConfig) -> Result<Self> {
        let root = config
            .upstream
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_owned();
        if !(root.starts_with("http://") || root.starts_with("https://")) {
            return Err(engine_err(format!(
                "--upstream {:?} must be an http(s) URL",
                config.upstream
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("codexpc-upstream")
            .enable_all()
            .build()
            .map_err(|e| engine_err(format!("starting the HTTP runtime: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| engine_err(format!("building the HTTP client: {e}")))?;
        let probe = if config.model.is_some() && config.context_size.is_some() {
            Probe::default()
        } else {
            runtime.block_on(probe(&http, &root, config.api, config.api_key.as_deref()))
        };
        let model = match (config.model, probe.model) {
            (Some(m), _) | (None, Some(m)) => m,
            (None, None) => {
                return Err(engine_err(format!(
                    "upstream {root}: could not learn its model name ({}); give --upstream-model",
                    probe.error.as_deref().unwrap_or("it lists no model")
                )));
            }
        };
        let context_size = config.context_size.or(probe.context).unwrap_or(131_072);
        tracing::info!(upstream = %root, api = ?config.api, %model, context_size, slots = config.slots, "remote engine ready");
        Ok(Self {
            root,
            api: config.api,
            info: EngineInfo {
                engine: ENGINE.to_owned(),
                model: model.clone(),
                context_size,
            },
            model,
            api_key: config.api_key,
            slots: config.slots.max(1),
            idle_timeout: config.idle_timeout,
            http,
            runtime: Some(runtime),
        })
    }

    fn request(&self, req: &GenerateRequest<'_>) -> (String, Value) {
        let s = &req.sampling;
        match self.api {
            UpstreamApi::Vllm => {
                let mut body = json!({
                    "model": self.model,
                    "prompt": req.prompt,
                    "stream": true,
                    "stream_options": {"include_usage": true},
                    "temperature": s.temperature,
                    "top_p": s.top_p,
                    "seed": s.seed,
                    "stop_token_ids": req.stop_tokens,
                    "skip_special_tokens": false,
                    "return_token_ids": true,
                    "logprobs": 0,
                    "return_tokens_as_token_ids": true,
                });
                // Without a budget vLLM would stop at its default of 16 tokens.
                let max = s
                    .max_tokens
                    .map(|m| m as usize)
                    .unwrap_or(self.info.context_size.saturating_sub(req.prompt.len()));
                body["max_tokens"] = json!(max.max(1));
                (format!("{}/v1/completions", self.root), body)
            }
            UpstreamApi::LlamaCpp => {
                let body = json!({
                    "prompt": req.prompt,
                    "stream": true,
                    "return_tokens": true,
                    "cache_prompt": true,
                    "temperature": s.temperature,
                    "top_p": s.top_p,
                    "seed": s.seed,
                    "n_predict": s.max_tokens.map_or(-1, i64::from),
                });
                (format!("{}/completion", self.root), body)
            }
        }
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        // May run inside another runtime (the service is dropped from async code), where a
        // blocking shutdown would panic.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Debug, Default)]
struct Probe {
    model: Option<String>,
    context: Option<usize>,
    error: Option<String>,
}

async fn probe(http: &reqwest::Client, root: &str, api: UpstreamApi, key: Option<&str>) -> Probe {
    let get = |url: String| {
        let mut r = http.get(url).timeout(Duration::from_secs(10));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        async move {
            let resp = r.send().await.map_err(|e| chain(&e))?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            resp.json::<Value>().await.map_err(|e| e.to_string())
        }
    };
    let mut out = Probe::default();
    match get(format!("{root}/v1/models")).await {
        Ok(v) => {
            let first = &v["data"][0];
            out.model = first["id"].as_str().map(str::to_owned);
            out.context = first["max_model_len"].as_u64().map(|n| n as usize);
        }
        Err(e) => out.error = Some(format!("GET {root}/v1/models: {e}")),
    }
    if api == UpstreamApi::LlamaCpp
        && out.context.is_none()
        && let Ok(v) = get(format!("{root}/props")).await
    {
        out.context = v["default_generation_settings"]["n_ctx"]
            .as_u64()
            .map(|n| n as usize);
    }
    out
}

/// What the streaming task sends to the generating thread.
enum Msg {
    Tokens(Vec<u32>),
    Done(Result<Finish>),
}

/// How the upstream ended a generation.
#[derive(Debug, Default)]
struct Finish {
    /// `finish_reason`/`stop_type`: "stop"/"eos", "length"/"limit", ...
    reason: Option<String>,
    /// vLLM's `stop_reason` when it is a stop token id.
    stop_token: Option<u32>,
    cached_tokens: Option<usize>,
}

/// One parsed chunk.
#[derive(Debug, Default)]
struct Chunk {
    tokens: Vec<u32>,
    finish: Option<Finish>,
    /// Usage-only chunk (vLLM) carrying the cached-token count.
    cached_tokens: Option<usize>,
}

fn parse_chunk(api: UpstreamApi, v: &Value) -> std::result::Result<Chunk, String> {
    let mut chunk = Chunk::default();
    match api {
        UpstreamApi::Vllm => {
            if let Some(err) = v.get("error") {
                return Err(format!("upstream error in the stream: {err}"));
            }
            chunk.cached_tokens = v["usage"]["prompt_tokens_details"]["cached_tokens"]
                .as_u64()
                .map(|n| n as usize);
            let Some(choice) = v["choices"].get(0) else {
                return Ok(chunk);
            };
            if let Some(ids) = choice.get("token_ids").and_then(Value::as_array) {
                chunk.tokens = ids_of(ids)?;
            } else if let Some(toks) = choice["logprobs"]["tokens"].as_array() {
                for t in toks {
                    let id = t
                        .as_str()
                        .and_then(|s| s.strip_prefix("token_id:"))
                        .and_then(|n| n.parse::<u32>().ok())
                        .ok_or_else(|| format!("logprobs token {t} is not \"token_id:N\""))?;
                    chunk.tokens.push(id);
                }
            } else if choice["text"].as_str().is_some_and(|t| !t.is_empty()) {
                return Err(
                    "the upstream sends text without token ids; codexpc needs vLLM >= 0.10.2 \
                     (return_token_ids) or logprobs with return_tokens_as_token_ids"
                        .into(),
                );
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                chunk.finish = Some(Finish {
                    reason: Some(reason.to_owned()),
                    stop_token: choice["stop_reason"].as_u64().map(|n| n as u32),
                    cached_tokens: None,
                });
            }
        }
        UpstreamApi::LlamaCpp => {
            if let Some(err) = v.get("error") {
                return Err(format!("upstream error in the stream: {err}"));
            }
            if let Some(ids) = v.get("tokens").and_then(Value::as_array) {
                chunk.tokens = ids_of(ids)?;
            } else if v["content"].as_str().is_some_and(|t| !t.is_empty()) {
                return Err(
                    "the upstream sends text without token ids; codexpc needs a llama.cpp server \
                     that supports return_tokens"
                        .into(),
                );
            }
            if v["stop"].as_bool() == Some(true) {
                chunk.finish = Some(Finish {
                    reason: v["stop_type"].as_str().map(str::to_owned),
                    stop_token: None,
                    cached_tokens: v["tokens_cached"]
                        .as_u64()
                        .or_else(|| v["timings"]["cache_n"].as_u64())
                        .map(|n| n as usize),
                });
            }
        }
    }
    Ok(chunk)
}

fn ids_of(ids: &[Value]) -> std::result::Result<Vec<u32>, String> {
    ids.iter()
        .map(|t| {
            t.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("token id {t} is not an unsigned integer"))
        })
        .collect()
}

/// An error with its causes (reqwest's own message alone says little: "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Stream one generation; tokens go to `tx` as they arrive.
async fn stream(
    request: reqwest::RequestBuilder,
    url: String,
    api: UpstreamApi,
    idle: Duration,
    tx: mpsc::Sender<Msg>,
) -> Result<Finish> {
    let upstream = |m: String| engine_err(format!("upstream {url}: {m}"));
    let resp = tokio::time::timeout(idle, request.send())
        .await
        .map_err(|_| upstream(format!("no answer within {} ms", idle.as_millis())))?
        .map_err(|e| upstream(format!("request failed: {}", chain(&e))))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let (body, _) = crate::tools::cap_utf8(body, 500);
        return Err(upstream(format!("HTTP {status}: {body}")));
    }
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut received = 0usize;
    let mut finish: Option<Finish> = None;
    let mut cached: Option<usize> = None;
    loop {
        let next = tokio::time::timeout(idle, body.next()).await.map_err(|_| {
            upstream(format!(
                "no data for {} ms after {received} token(s); giving up",
                idle.as_millis()
            ))
        })?;
        let bytes = match next {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                return Err(upstream(format!(
                    "the stream broke after {received} token(s): {}",
                    chain(&e)
                )));
            }
            None => break,
        };
        buf.extend_from_slice(&bytes);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            let Some(data) = line.strip_prefix("data:") else {
                // Blank separators, comments (": ping"), `event:` lines.
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                let mut f = finish.take().unwrap_or_default();
                f.cached_tokens = f.cached_tokens.or(cached);
                return Ok(f);
            }
            let v: Value = serde_json::from_str(data).map_err(|e| {
                let (shown, _) = crate::tools::cap_utf8(data.to_owned(), 200);
                upstream(format!(
                    "malformed chunk after {received} token(s) ({e}): {shown}"
                ))
            })?;
            let chunk = parse_chunk(api, &v).map_err(upstream)?;
            cached = cached.or(chunk.cached_tokens);
            if !chunk.tokens.is_empty() {
                received += chunk.tokens.len();
                if tx.send(Msg::Tokens(chunk.tokens)).is_err() {
                    // The generating thread stopped listening.
                    return Ok(Finish::default());
                }
            }
            if let Some(f) = chunk.finish {
                match api {
                    // llama.cpp's stop chunk is its last message.
                    UpstreamApi::LlamaCpp => return Ok(f),
                    // vLLM sends a usage chunk and [DONE] after the finish.
                    UpstreamApi::Vllm => finish = Some(f),
                }
            }
        }
    }
    match finish {
        // A vLLM stream that finished but closed without [DONE] lost nothing.
        Some(mut f) => {
            f.cached_tokens = f.cached_tokens.or(cached);
            Ok(f)
        }
        None => Err(upstream(format!(
            "the connection closed after {received} token(s), before the generation ended"
        ))),
    }
}

impl Engine for RemoteEngine {
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
        if req.prompt.is_empty() {
            return Err(Error::InvalidRequest("empty prompt".into()));
        }
        if req.prompt.len() >= self.info.context_size {
            return Err(Error::PromptTooLong {
                prompt_tokens: req.prompt.len(),
                context_size: self.info.context_size,
            });
        }
        let Some(runtime) = &self.runtime else {
            return Err(engine_err("the engine is shutting down"));
        };
        let mut stats = GenerationStats {
            prompt_tokens: req.prompt.len(),
            cached_tokens: 0,
            prefilled_tokens: req.prompt.len(),
            generated_tokens: 0,
        };
        if cancel.is_cancelled() {
            return Ok(Generation {
                stop: StopReason::Cancelled,
                stats,
            });
        }
        let (url, body) = self.request(req);
        let mut request = self.http.post(&url).json(&body);
        if let Some(k) = &self.api_key {
            request = request.bearer_auth(k);
        }
        let (tx, rx) = mpsc::channel();
        let api = self.api;
        let idle = self.idle_timeout;
        let task_cancel = cancel.clone();
        let done_tx = tx.clone();
        let task = runtime.spawn(async move {
            let result = tokio::select! {
                r = stream(request, url, api, idle, tx) => r,
                // Dropping the request is how both servers learn to stop.
                () = task_cancel.cancelled() => Ok(Finish::default()),
            };
            let _ = done_tx.send(Msg::Done(result));
        });
        let max = req.sampling.max_tokens.map(|m| m as usize);
        let outcome = loop {
            let msg = match rx.recv() {
                Ok(m) => m,
                Err(_) => break Err(engine_err("the upstream stream task stopped unexpectedly")),
            };
            match msg {
                Msg::Tokens(tokens) => {
                    let mut stop = None;
                    for t in tokens {
                        if max.is_some_and(|m| stats.generated_tokens >= m) {
                            stop = Some(StopReason::MaxTokens);
                            break;
                        }
                        stats.generated_tokens += 1;
                        let flow = sink(t);
                        if req.stop_tokens.contains(&t) {
                            stop = Some(StopReason::StopToken(t));
                            break;
                        }
                        if flow.is_break() {
                            stop = Some(StopReason::Sink);
                            break;
                        }
                    }
                    if let Some(stop) = stop {
                        break Ok(stop);
                    }
                }
                Msg::Done(Err(e)) => break Err(e),
                Msg::Done(Ok(f)) => {
                    if cancel.is_cancelled() {
                        break Ok(StopReason::Cancelled);
                    }
                    stats.cached_tokens = f.cached_tokens.unwrap_or(0).min(req.prompt.len());
                    stats.prefilled_tokens = req.prompt.len() - stats.cached_tokens;
                    // vLLM may report the stop token it stopped on without sending it.
                    if let Some(t) = f.stop_token.filter(|t| req.stop_tokens.contains(t)) {
                        stats.generated_tokens += 1;
                        let _ = sink(t);
                        break Ok(StopReason::StopToken(t));
                    }
                    break Ok(match f.reason.as_deref() {
                        Some("length" | "limit") => StopReason::MaxTokens,
                        _ => StopReason::EndOfOutput,
                    });
                }
            }
        };
        // A generation that ended on our side (stop token, budget) still has its usage coming:
        // the upstream sends it right after, so wait for it briefly.
        if let Ok(StopReason::StopToken(_) | StopReason::MaxTokens) = outcome {
            let until = std::time::Instant::now() + USAGE_GRACE;
            while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
                match rx.recv_timeout(left) {
                    Ok(Msg::Tokens(_)) => {}
                    Ok(Msg::Done(Ok(f))) => {
                        stats.cached_tokens = f.cached_tokens.unwrap_or(0).min(req.prompt.len());
                        stats.prefilled_tokens = req.prompt.len() - stats.cached_tokens;
                        break;
                    }
                    Ok(Msg::Done(Err(_))) | Err(_) => break,
                }
            }
        }
        // Whatever ended the generation, the HTTP stream is no longer needed.
        task.abort();
        outcome.map(|stop| Generation { stop, stats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_chunks_with_token_ids_or_logprob_ids() {
        let c = parse_chunk(
            UpstreamApi::Vllm,
            &json!({"choices": [{"index": 0, "text": "hi", "token_ids": [12, 200007]}]}),
        )
        .unwrap_or_default();
        assert_eq!(c.tokens, [12, 200007]);
        let c = parse_chunk(
            UpstreamApi::Vllm,
            &json!({"choices": [{"text": "x", "logprobs": {"tokens": ["token_id:5", "token_id:200012"]},
                                 "finish_reason": "stop", "stop_reason": 200012}]}),
        )
        .unwrap_or_default();
        assert_eq!(c.tokens, [5, 200012]);
        let f = c.finish.unwrap_or_default();
        assert_eq!(
            (f.reason.as_deref(), f.stop_token),
            (Some("stop"), Some(200012))
        );
        let usage = parse_chunk(
            UpstreamApi::Vllm,
            &json!({"choices": [], "usage": {"prompt_tokens": 90, "prompt_tokens_details": {"cached_tokens": 64}}}),
        )
        .unwrap_or_default();
        assert_eq!(usage.cached_tokens, Some(64));
        let err = parse_chunk(
            UpstreamApi::Vllm,
            &json!({"choices": [{"text": "only text"}]}),
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("without token ids"), "{err}");
        assert!(
            parse_chunk(
                UpstreamApi::Vllm,
                &json!({"choices": [{"token_ids": [-1]}]})
            )
            .is_err()
        );
    }

    #[test]
    fn llama_cpp_chunks() {
        let c = parse_chunk(
            UpstreamApi::LlamaCpp,
            &json!({"content": "a", "tokens": [7], "stop": false}),
        )
        .unwrap_or_default();
        assert_eq!(
            (c.tokens.as_slice(), c.finish.is_none()),
            (&[7u32][..], true)
        );
        let c = parse_chunk(
            UpstreamApi::LlamaCpp,
            &json!({"content": "", "tokens": [], "stop": true, "stop_type": "eos", "tokens_cached": 33}),
        )
        .unwrap_or_default();
        let f = c.finish.unwrap_or_default();
        assert_eq!(
            (f.reason.as_deref(), f.cached_tokens),
            (Some("eos"), Some(33))
        );
    }

    #[test]
    fn api_names() {
        assert_eq!("vllm".parse::<UpstreamApi>(), Ok(UpstreamApi::Vllm));
        assert_eq!(
            "llama-cpp".parse::<UpstreamApi>(),
            Ok(UpstreamApi::LlamaCpp)
        );
        assert!("tgi".parse::<UpstreamApi>().is_err());
    }
}
