//! A loopback fake of the Anthropic Messages API, shaped after what Claude Code 2.1.332 sends
//! and reads.
//!
//! What the CLI calls, verified with `ANTHROPIC_BASE_URL` pointing here and
//! `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`: only `POST /v1/messages?beta=true` with
//! `"stream": true` for every model turn, plus — from `set_model` — one NON-streaming
//! `POST /v1/messages` with `max_tokens: 1` to validate the new model. Nothing else (no
//! `count_tokens`, no model list). For robustness the fake still answers
//! `POST /v1/messages/count_tokens` (`{"input_tokens": N}`, a rough estimate) and
//! `GET /v1/models[/ID]` sanely; anything else is a 404 in the API's error shape. Every request
//! is recorded.
//!
//! A streaming `POST /v1/messages` consumes the next [`ScriptedMessage`] (FIFO) and streams it as
//! SSE in the order the real API uses: `message_start`, per content block `content_block_start`,
//! `content_block_delta`s (`text_delta`, `thinking_delta` + `signature_delta`,
//! `input_json_delta`), `content_block_stop`, then `message_delta` (stop reason, output usage)
//! and `message_stop`. A non-streaming one is answered with a complete one-word message WITHOUT
//! consuming a script, so out-of-band calls (the model check) do not shift the conversation's
//! scripts. An empty queue is answered with the text [`FakeAnthropic::NO_SCRIPT_LEFT`] rather
//! than an error: the CLI retries 5xx answers, which would turn a scripting mistake into a slow
//! timeout instead of a visible message.
//!
//! The CLI retries 5xx (and, seen once, 400) answers by default; tests that script an HTTP error
//! should start it with `CLAUDE_CODE_MAX_RETRIES=0` to see the error at once.
//!
//! Like [`crate::FakeResponses`] it runs on its own thread and Tokio runtime, so sync tests and
//! every async test flavour can use it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use bytes::Bytes;
use futures::Stream;
use parking_lot::{Condvar, Mutex};
use serde_json::{Value, json};

/// One content block of a scripted message.
#[derive(Debug, Clone)]
enum ScriptedBlock {
    /// Text streamed as these `text_delta`s.
    Text(Vec<String>),
    /// Thinking streamed as these `thinking_delta`s, then a `signature_delta`.
    Thinking(Vec<String>),
    /// A tool call whose input JSON is streamed as `input_json_delta` fragments.
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

#[derive(Debug, Clone)]
enum Ending {
    /// `message_delta` + `message_stop`.
    Complete,
    /// After the last delta of the last block, keep the stream open (SSE comments every 100 ms)
    /// until the client goes away.
    Hang,
    /// After the blocks, an SSE `error` event with this error object, then end.
    StreamError(Value),
    /// End the stream after the blocks with no `message_delta`/`message_stop`.
    Truncated,
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

/// A scripted reply to one streaming `POST /v1/messages`. Builder; cheap to clone.
#[derive(Debug, Clone)]
pub struct ScriptedMessage {
    blocks: Vec<ScriptedBlock>,
    usage: Usage,
    delay: Duration,
    ending: Ending,
    stop_reason: Option<String>,
    http_error: Option<(u16, Value)>,
    extra_events: Vec<Value>,
}

impl Default for ScriptedMessage {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedMessage {
    /// An empty message (no blocks) ending with `end_turn`.
    pub fn new() -> Self {
        Self {
            blocks: Vec::new(),
            usage: Usage {
                input: 10,
                output: 5,
                cache_read: 0,
                cache_creation: 0,
            },
            delay: Duration::ZERO,
            ending: Ending::Complete,
            stop_reason: None,
            http_error: None,
            extra_events: Vec::new(),
        }
    }

    /// Adds a text block with this text (one delta).
    pub fn text(self, s: &str) -> Self {
        self.text_deltas(&[s])
    }

    /// Adds a text block streamed as several `text_delta`s.
    pub fn text_deltas(mut self, parts: &[&str]) -> Self {
        self.blocks.push(ScriptedBlock::Text(
            parts.iter().map(|p| (*p).to_owned()).collect(),
        ));
        self
    }

    /// Adds a thinking block (one `thinking_delta`, then a `signature_delta`).
    pub fn thinking(self, s: &str) -> Self {
        self.thinking_deltas(&[s])
    }

    /// Adds a thinking block streamed as several `thinking_delta`s.
    pub fn thinking_deltas(mut self, parts: &[&str]) -> Self {
        self.blocks.push(ScriptedBlock::Thinking(
            parts.iter().map(|p| (*p).to_owned()).collect(),
        ));
        self
    }

    /// Adds a `tool_use` block. Its input is streamed as two `input_json_delta` fragments (as
    /// the real API splits it), so clients must assemble partial JSON. Without an explicit
    /// [`Self::stop_reason`] a message with a tool use stops with `tool_use`.
    pub fn tool_use(mut self, id: &str, name: &str, input: Value) -> Self {
        self.blocks.push(ScriptedBlock::ToolUse {
            id: id.to_owned(),
            name: name.to_owned(),
            input,
        });
        self
    }

    /// A call of Claude Code's `Bash` tool (`{"command", "description"}`).
    pub fn bash(self, id: &str, command: &str) -> Self {
        self.tool_use(
            id,
            "Bash",
            json!({ "command": command, "description": "Run a scripted command" }),
        )
    }

    /// Usage reported in `message_start` (input, cache) and `message_delta` (output).
    /// Defaults: 10 in, 5 out, no cache.
    pub fn usage(mut self, input: u64, output: u64, cache_read: u64, cache_creation: u64) -> Self {
        self.usage = Usage {
            input,
            output,
            cache_read,
            cache_creation,
        };
        self
    }

    /// Overrides the stop reason (default: `tool_use` when a tool is called, else `end_turn`).
    pub fn stop_reason(mut self, reason: &str) -> Self {
        self.stop_reason = Some(reason.to_owned());
        self
    }

    /// Sleeps this long before each SSE event after the first (a slow stream).
    pub fn delay_between_events(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Streams `message_start` and the blocks up to the last delta, then keeps the stream open
    /// without finishing it until the client disconnects (counted, see
    /// [`FakeAnthropic::disconnects`]). For interrupt tests.
    pub fn hang(mut self) -> Self {
        self.ending = Ending::Hang;
        self
    }

    /// Ends the stream after the blocks with an SSE `error` event
    /// (`{"type":"error","error":{"type":..,"message":..}}`), as the API does for mid-stream
    /// failures such as `overloaded_error`.
    pub fn stream_error(mut self, error_type: &str, message: &str) -> Self {
        self.ending = Ending::StreamError(json!({ "type": error_type, "message": message }));
        self
    }

    /// Ends the stream after the blocks WITHOUT `message_delta`/`message_stop`.
    pub fn end_without_stop(mut self) -> Self {
        self.ending = Ending::Truncated;
        self
    }

    /// Appends a raw SSE event (its `type` names the event) after the blocks.
    pub fn raw_event(mut self, event: Value) -> Self {
        self.extra_events.push(event);
        self
    }

    /// A plain (non-SSE) HTTP error in the API's shape:
    /// `{"type":"error","error":{"type": error_type, "message": message}}`.
    pub fn http_error(status: u16, error_type: &str, message: &str) -> Self {
        let mut m = Self::new();
        m.http_error = Some((
            status,
            json!({ "type": "error", "error": { "type": error_type, "message": message } }),
        ));
        m
    }

    /// The SSE events this script produces (minus the hang itself).
    fn events(&self, message_id: &str, model: &str) -> Vec<Value> {
        let u = self.usage;
        let mut events = vec![json!({
            "type": "message_start",
            "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {
                    "input_tokens": u.input, "output_tokens": 1,
                    "cache_creation_input_tokens": u.cache_creation,
                    "cache_read_input_tokens": u.cache_read,
                },
            },
        })];
        let last = self.blocks.len().saturating_sub(1);
        for (index, block) in self.blocks.iter().enumerate() {
            match block {
                ScriptedBlock::Text(parts) => {
                    events.push(json!({
                        "type": "content_block_start", "index": index,
                        "content_block": { "type": "text", "text": "" },
                    }));
                    for p in parts {
                        events.push(json!({
                            "type": "content_block_delta", "index": index,
                            "delta": { "type": "text_delta", "text": p },
                        }));
                    }
                }
                ScriptedBlock::Thinking(parts) => {
                    events.push(json!({
                        "type": "content_block_start", "index": index,
                        "content_block": { "type": "thinking", "thinking": "", "signature": "" },
                    }));
                    for p in parts {
                        events.push(json!({
                            "type": "content_block_delta", "index": index,
                            "delta": { "type": "thinking_delta", "thinking": p },
                        }));
                    }
                    events.push(json!({
                        "type": "content_block_delta", "index": index,
                        "delta": { "type": "signature_delta", "signature": format!("fake-signature-{index}") },
                    }));
                }
                ScriptedBlock::ToolUse { id, name, input } => {
                    events.push(json!({
                        "type": "content_block_start", "index": index,
                        "content_block": { "type": "tool_use", "id": id, "name": name, "input": {} },
                    }));
                    let json_text = input.to_string();
                    let mut cut = json_text.len() / 2;
                    while !json_text.is_char_boundary(cut) {
                        cut += 1;
                    }
                    for fragment in [&json_text[..cut], &json_text[cut..]] {
                        events.push(json!({
                            "type": "content_block_delta", "index": index,
                            "delta": { "type": "input_json_delta", "partial_json": fragment },
                        }));
                    }
                }
            }
            if index == last && matches!(self.ending, Ending::Hang) {
                return events;
            }
            events.push(json!({ "type": "content_block_stop", "index": index }));
        }
        if matches!(self.ending, Ending::Hang) {
            return events;
        }
        events.extend(self.extra_events.iter().cloned());
        match &self.ending {
            Ending::Complete => {
                let stop_reason = self.stop_reason.clone().unwrap_or_else(|| {
                    if self
                        .blocks
                        .iter()
                        .any(|b| matches!(b, ScriptedBlock::ToolUse { .. }))
                    {
                        "tool_use".to_owned()
                    } else {
                        "end_turn".to_owned()
                    }
                });
                events.push(json!({
                    "type": "message_delta",
                    "delta": { "stop_reason": stop_reason, "stop_sequence": null },
                    "usage": { "output_tokens": u.output },
                }));
                events.push(json!({ "type": "message_stop" }));
            }
            Ending::StreamError(error) => {
                events.push(json!({ "type": "error", "error": error }));
            }
            Ending::Hang | Ending::Truncated => {}
        }
        events
    }
}

/// A tool result as the client sent it back in a later request.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenToolResult {
    /// The content flattened to text.
    pub text: String,
    pub is_error: bool,
}

/// One HTTP request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path including the query string, e.g. `/v1/messages?beta=true`.
    pub path: String,
    /// Headers in arrival order (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Null` when empty, a JSON string holding the raw text when the
    /// body is not valid JSON.
    pub body: Value,
}

impl AnthropicRequest {
    /// The first header value with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is `POST /v1/messages` (any `stream` value; not `count_tokens`).
    pub fn is_messages(&self) -> bool {
        self.method == "POST" && path_only(&self.path).ends_with("/v1/messages")
    }

    /// Whether this is a streaming `POST /v1/messages`: a conversation turn.
    pub fn is_turn(&self) -> bool {
        self.is_messages() && self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    /// The requested model.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// The `messages` (empty if absent).
    pub fn messages(&self) -> &[Value] {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every text block (or string content) of the messages with this role, in order.
    pub fn texts(&self, role: &str) -> Vec<String> {
        let mut out = Vec::new();
        for m in self
            .messages()
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some(role))
        {
            match m.get("content") {
                Some(Value::String(s)) => out.push(s.clone()),
                Some(Value::Array(blocks)) => out.extend(
                    blocks
                        .iter()
                        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                        .filter_map(|b| b.get("text").and_then(Value::as_str))
                        .map(str::to_owned),
                ),
                _ => {}
            }
        }
        out
    }

    /// Whether some text block of a message with this role contains `needle`.
    pub fn has_text(&self, role: &str, needle: &str) -> bool {
        self.texts(role).iter().any(|t| t.contains(needle))
    }

    /// The text blocks of the LAST user message, joined with newlines.
    pub fn last_user_text(&self) -> Option<String> {
        let last = self
            .messages()
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
        Some(match last.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(blocks)) => blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        })
    }

    /// The `tool_result` the client sent for this tool use id.
    pub fn tool_result(&self, tool_use_id: &str) -> Option<SeenToolResult> {
        self.messages()
            .iter()
            .filter_map(|m| m.get("content").and_then(Value::as_array))
            .flatten()
            .find(|b| {
                b.get("type").and_then(Value::as_str) == Some("tool_result")
                    && b.get("tool_use_id").and_then(Value::as_str) == Some(tool_use_id)
            })
            .map(|b| SeenToolResult {
                text: content_text(b.get("content").unwrap_or(&Value::Null)),
                is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
            })
    }

    /// The ids of the `tool_use` blocks in the conversation so far (assistant messages).
    pub fn tool_use_ids(&self) -> Vec<String> {
        self.messages()
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
            .filter_map(|m| m.get("content").and_then(Value::as_array))
            .flatten()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
            .filter_map(|b| b.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }

    /// Names of the tools offered in the request.
    pub fn tool_names(&self) -> Vec<String> {
        self.body
            .get("tools")
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Text of a tool_result content: a string, or the `text` parts of a block list.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<ScriptedMessage>>,
    requests: Mutex<Vec<AnthropicRequest>>,
    /// Signalled (under `requests`) whenever a request is recorded, for blocking waiters.
    arrived: Condvar,
    /// Woken whenever a request is recorded, for async waiters.
    arrived_async: tokio::sync::Notify,
    next_id: AtomicU64,
    /// Client disconnects of unfinished streams.
    disconnects: crate::tally::Tally,
    unscripted: AtomicUsize,
}

impl Shared {
    fn record(&self, r: AnthropicRequest) {
        let mut requests = self.requests.lock();
        requests.push(r);
        self.arrived.notify_all();
        drop(requests);
        self.arrived_async.notify_waiters();
    }

    fn message_id(&self) -> String {
        format!(
            "msg_fake_{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        )
    }
}

/// The loopback fake Messages API. Dropping it stops the server and its thread.
#[derive(Debug)]
pub struct FakeAnthropic {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeAnthropic {
    /// The text answered when a turn arrives with nothing scripted.
    pub const NO_SCRIPT_LEFT: &'static str = "fake-anthropic: no scripted message left";

    /// Binds `127.0.0.1:0` and serves on a dedicated thread with its own Tokio runtime.
    pub fn start() -> FakeAnthropic {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("fake-anthropic: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("fake-anthropic: set_nonblocking");
        let addr = listener.local_addr().expect("fake-anthropic: local_addr");
        let shared = Arc::new(Shared::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = app(shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fake-anthropic-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake-anthropic: tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("fake-anthropic: tokio listener");
                    // No graceful shutdown: it would wait for open connections, and a hung SSE
                    // stream would make Drop block. Dropping the runtime cancels them instead.
                    let serve = std::future::IntoFuture::into_future(axum::serve(listener, app));
                    tokio::select! {
                        result = serve => {
                            if let Err(e) = result {
                                tracing::warn!("fake-anthropic: server error: {e}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("fake-anthropic: spawn thread");
        FakeAnthropic {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`: what `ANTHROPIC_BASE_URL` should be (the CLI appends
    /// `/v1/messages`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Queues a reply; each streaming `POST /v1/messages` consumes the next one in FIFO order.
    pub fn enqueue(&self, m: ScriptedMessage) {
        self.shared.queue.lock().push_back(m);
    }

    /// How many scripted replies have not been consumed yet.
    pub fn pending_scripts(&self) -> usize {
        self.shared.queue.lock().len()
    }

    /// How many turns arrived with nothing scripted (answered with [`Self::NO_SCRIPT_LEFT`]).
    pub fn unscripted_requests(&self) -> usize {
        self.shared.unscripted.load(Ordering::SeqCst)
    }

    /// How many SSE streams the client dropped before they ended (e.g. a
    /// [`ScriptedMessage::hang`] stream cut by an interrupt).
    pub fn disconnects(&self) -> usize {
        self.shared.disconnects.get()
    }

    /// Blocks until at least `n` streams were dropped by the client; panics after `timeout`.
    pub fn wait_for_disconnects(&self, n: usize, timeout: Duration) {
        self.shared
            .disconnects
            .wait(n, timeout, "fake-anthropic", "client disconnect(s)");
    }

    /// Async form of [`Self::wait_for_disconnects`] (its timeout runs on the caller's Tokio
    /// timer: do not use it with paused time).
    pub async fn wait_for_disconnects_async(&self, n: usize, timeout: Duration) {
        self.shared
            .disconnects
            .wait_async(n, timeout, "fake-anthropic", "client disconnect(s)")
            .await;
    }

    /// Every request received so far (all paths), in arrival order.
    pub fn requests(&self) -> Vec<AnthropicRequest> {
        self.shared.requests.lock().clone()
    }

    /// Only the conversation turns (streaming `POST /v1/messages`) received so far.
    pub fn turns(&self) -> Vec<AnthropicRequest> {
        self.requests()
            .into_iter()
            .filter(AnthropicRequest::is_turn)
            .collect()
    }

    /// Blocks until at least `n` turns arrived and returns them (turns only). Panics after
    /// `timeout`, listing what did arrive.
    pub fn wait_for_turns(&self, n: usize, timeout: Duration) -> Vec<AnthropicRequest> {
        let deadline = Instant::now() + timeout;
        let mut requests = self.shared.requests.lock();
        loop {
            if let Some(found) = enough_turns(&requests, n) {
                return found;
            }
            if self
                .shared
                .arrived
                .wait_until(&mut requests, deadline)
                .timed_out()
            {
                if let Some(found) = enough_turns(&requests, n) {
                    return found;
                }
                panic!("{}", timeout_message(n, timeout, &requests));
            }
        }
    }

    /// Async form of [`Self::wait_for_turns`]; does not block the caller's runtime (same caveat
    /// about paused time as [`Self::wait_for_disconnects_async`]).
    pub async fn wait_for_turns_async(&self, n: usize, timeout: Duration) -> Vec<AnthropicRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived_async.notified();
            tokio::pin!(notified);
            // Register before checking so a notification between check and await is not lost.
            notified.as_mut().enable();
            if let Some(found) = enough_turns(&self.shared.requests.lock(), n) {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let requests = self.shared.requests.lock();
                if let Some(found) = enough_turns(&requests, n) {
                    return found;
                }
                panic!("{}", timeout_message(n, timeout, &requests));
            }
        }
    }
}

fn enough_turns(requests: &[AnthropicRequest], n: usize) -> Option<Vec<AnthropicRequest>> {
    let turns: Vec<AnthropicRequest> = requests.iter().filter(|r| r.is_turn()).cloned().collect();
    (turns.len() >= n).then_some(turns)
}

fn timeout_message(n: usize, timeout: Duration, requests: &[AnthropicRequest]) -> String {
    let mut msg = format!(
        "fake-anthropic: timed out after {timeout:?} waiting for {n} turn(s); {} request(s) arrived:",
        requests.len()
    );
    for (i, r) in requests.iter().enumerate() {
        let last: String = r
            .last_user_text()
            .unwrap_or_default()
            .chars()
            .rev()
            .take(120)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        msg.push_str(&format!(
            "\n  #{i}: {} {} stream={:?} messages={} last_user_text=...{last:?}",
            r.method,
            r.path,
            r.body.get("stream"),
            r.messages().len()
        ));
    }
    msg
}

impl Drop for FakeAnthropic {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn app(shared: Arc<Shared>) -> Router {
    Router::new().fallback(move |req: Request<Body>| {
        let shared = shared.clone();
        async move { handle(shared, req).await }
    })
}

const MODELS: &[(&str, &str)] = &[
    ("claude-opus-5-5", "Claude Opus 5.5"),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
];

fn model_object(id: &str, name: &str) -> Value {
    json!({ "type": "model", "id": id, "display_name": name, "created_at": "2025-01-01T00:00:00Z" })
}

async fn handle(shared: Arc<Shared>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match axum::body::to_bytes(body, 256 * 1024 * 1024).await {
        Ok(bytes) if bytes.is_empty() => Value::Null,
        Ok(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) => Value::String(format!("fake-anthropic: could not read body: {e}")),
    };
    let recorded = AnthropicRequest {
        method: method.to_string(),
        path: path.clone(),
        headers,
        body,
    };
    let route = path_only(&path).to_owned();
    let model = recorded.model().unwrap_or("claude-opus-5-5").to_owned();
    // Take the script before recording so a waiter that sees the request also sees the queue
    // already advanced.
    let script = recorded.is_turn().then(|| {
        let next = shared.queue.lock().pop_front();
        next.unwrap_or_else(|| {
            shared.unscripted.fetch_add(1, Ordering::SeqCst);
            ScriptedMessage::new().text(FakeAnthropic::NO_SCRIPT_LEFT)
        })
    });
    let non_streaming = recorded.is_messages() && !recorded.is_turn();
    let count_estimate = (recorded.body.to_string().len() / 4).max(1);
    shared.record(recorded);

    if let Some(script) = script {
        return sse_response(shared, script, &model);
    }
    if non_streaming {
        return json_response(
            StatusCode::OK,
            json!({
                "id": shared.message_id(), "type": "message", "role": "assistant", "model": model,
                "content": [{ "type": "text", "text": "ok" }],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": { "input_tokens": 1, "output_tokens": 1 },
            }),
        );
    }
    if method == Method::POST && route.ends_with("/v1/messages/count_tokens") {
        return json_response(StatusCode::OK, json!({ "input_tokens": count_estimate }));
    }
    if method == Method::GET && route.ends_with("/v1/models") {
        let data: Vec<Value> = MODELS.iter().map(|(id, n)| model_object(id, n)).collect();
        return json_response(
            StatusCode::OK,
            json!({
                "data": data, "has_more": false,
                "first_id": MODELS[0].0, "last_id": MODELS[MODELS.len() - 1].0,
            }),
        );
    }
    if method == Method::GET
        && let Some(id) = route.strip_prefix("/v1/models/")
        && let Some((id, name)) = MODELS.iter().find(|(m, _)| *m == id)
    {
        return json_response(StatusCode::OK, model_object(id, name));
    }
    json_response(
        StatusCode::NOT_FOUND,
        json!({ "type": "error", "error": {
            "type": "not_found_error",
            "message": format!("fake-anthropic: no route for {method} {route} (recorded)"),
        }}),
    )
}

fn json_response(status: StatusCode, body: Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn sse_response(shared: Arc<Shared>, script: ScriptedMessage, model: &str) -> Response<Body> {
    if let Some((status, body)) = &script.http_error {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return json_response(status, body.clone());
    }
    let events = script.events(&shared.message_id(), model);
    let stream = sse_stream(
        shared,
        events,
        script.delay,
        matches!(script.ending, Ending::Hang),
    );
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    resp
}

/// Counts a disconnect when dropped before the stream finished on its own.
struct DisconnectGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl DisconnectGuard {
    fn mark_finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.disconnects.bump();
        }
    }
}

fn sse_frame(event: &Value) -> Bytes {
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    Bytes::from(format!("event: {kind}\ndata: {event}\n\n"))
}

fn sse_stream(
    shared: Arc<Shared>,
    events: Vec<Value>,
    delay: Duration,
    hang: bool,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let guard = DisconnectGuard {
        shared,
        finished: false,
    };
    futures::stream::unfold(
        (guard, events.into_iter().enumerate()),
        move |(mut guard, mut events)| async move {
            match events.next() {
                Some((i, event)) => {
                    if i > 0 && !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Some((Ok(sse_frame(&event)), (guard, events)))
                }
                None if hang => {
                    // Keep the connection open; an SSE comment every 100 ms makes a vanished
                    // client surface as a write error, which drops this stream (and the guard).
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((
                        Ok(Bytes::from_static(b": fake-anthropic hanging\n\n")),
                        (guard, events),
                    ))
                }
                None => {
                    guard.mark_finished();
                    None
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_and_tool_script_streams_in_api_order() {
        let events = ScriptedMessage::new()
            .text_deltas(&["Hel", "lo"])
            .bash("toolu_1", "echo hi")
            .events("msg_1", "m");
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| e["type"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(events[9]["delta"]["stop_reason"], "tool_use");
        // The input fragments concatenate to the input JSON.
        let joined = format!(
            "{}{}",
            events[6]["delta"]["partial_json"].as_str().unwrap_or(""),
            events[7]["delta"]["partial_json"].as_str().unwrap_or("")
        );
        let input: Value = serde_json::from_str(&joined).expect("input json");
        assert_eq!(input["command"], "echo hi");
    }

    #[test]
    fn a_hanging_script_stops_after_the_last_delta() {
        let events = ScriptedMessage::new()
            .text_deltas(&["a", "b"])
            .hang()
            .events("m", "m");
        assert_eq!(events.len(), 4);
        assert_eq!(events[3]["delta"]["text"], "b");
    }

    #[test]
    fn recorded_requests_expose_the_conversation() {
        let r = AnthropicRequest {
            method: "POST".into(),
            path: "/v1/messages?beta=true".into(),
            headers: vec![],
            body: json!({"model": "m", "stream": true, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": "do it"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "out", "is_error": true}]},
            ]}),
        };
        assert!(r.is_turn());
        assert!(r.has_text("user", "do it"));
        assert_eq!(
            r.tool_result("t1"),
            Some(SeenToolResult {
                text: "out".into(),
                is_error: true
            })
        );
        assert_eq!(r.tool_use_ids(), ["t1"]);
        assert_eq!(r.last_user_text().as_deref(), Some(""));
    }
}
