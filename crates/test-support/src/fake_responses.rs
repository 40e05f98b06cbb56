//! A loopback fake of the OpenAI Responses API, shaped after what Codex 0.169 sends and reads.
//!
//! `POST …/responses` consumes the next [`ScriptedResponse`] (FIFO) and streams it as SSE in the
//! order the real API uses: `response.created`, then per output item `response.output_item.added`,
//! content-part/delta events, `response.output_item.done` (the authoritative item Codex acts on),
//! and finally `response.completed` with usage. `GET …/models` answers a small list. Every request,
//! including unexpected paths (answered 404 with a body naming the route), is recorded.
//!
//! An empty queue is answered with a completed text message
//! [`FakeResponses::NO_SCRIPT_LEFT`] rather than a 5xx: Codex retries 5xx for a long time, which
//! would turn a scripting mistake into a slow timeout instead of a visible message.

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

/// One output item of a scripted response.
#[derive(Debug, Clone)]
enum ScriptedItem {
    /// An assistant message whose text is streamed as these `output_text` deltas.
    Message(Vec<String>),
    /// A reasoning item: `summary` streamed as `reasoning_summary_text` deltas (one summary
    /// part), `content` as `reasoning_text` deltas (raw chain of thought, what gpt-oss produces).
    Reasoning {
        summary: Vec<String>,
        content: Vec<String>,
    },
    /// A function call delivered as one `output_item.done`.
    FunctionCall {
        name: String,
        arguments: Value,
        call_id: String,
        /// The tool namespace the function belongs to (`mcp__<server>` for an MCP server's tools).
        namespace: Option<String>,
    },
}

#[derive(Debug, Clone)]
enum Ending {
    /// `response.completed` with usage, then end of stream.
    Completed,
    /// `response.failed` with this error object.
    Failed(Value),
    /// Keep the stream open after `response.created` until the client goes away.
    Hang,
    /// End the stream after the items with no final event (a truncated stream).
    Truncated,
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    input: u64,
    cached: u64,
    output: u64,
    reasoning: u64,
}

/// A scripted reply to one `POST /v1/responses`. Builder; cheap to clone.
#[derive(Debug, Clone)]
pub struct ScriptedResponse {
    items: Vec<ScriptedItem>,
    usage: Usage,
    delay: Duration,
    ending: Ending,
    http_error: Option<(u16, Value)>,
    extra_events: Vec<Value>,
}

impl Default for ScriptedResponse {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedResponse {
    /// Text that the fake replaces, in each event it streams, with the wall-clock time at which
    /// that event is written (microseconds since the Unix epoch): a delta `"{send_time_us}"`
    /// tells a client in another process when the model "said" it, for latency measurements.
    pub const SEND_TIME: &'static str = "{send_time_us}";

    /// An empty successful response (`response.created` then `response.completed`).
    pub fn new() -> Self {
        Self {
            items: Vec::new(),
            usage: Usage {
                input: 10,
                cached: 0,
                output: 5,
                reasoning: 0,
            },
            delay: Duration::ZERO,
            ending: Ending::Completed,
            http_error: None,
            extra_events: Vec::new(),
        }
    }

    /// Adds an assistant message item with this `output_text`.
    pub fn text(self, s: &str) -> Self {
        self.text_deltas(&[s])
    }

    /// Adds one assistant message streamed as several `output_text` deltas.
    pub fn text_deltas(mut self, parts: &[&str]) -> Self {
        self.items.push(ScriptedItem::Message(
            parts.iter().map(|p| (*p).to_owned()).collect(),
        ));
        self
    }

    /// Adds a reasoning item whose `reasoning_text` is streamed as one delta.
    pub fn reasoning(self, s: &str) -> Self {
        self.reasoning_deltas(&[s])
    }

    /// Adds a reasoning item whose `reasoning_text` is streamed as several deltas.
    pub fn reasoning_deltas(mut self, parts: &[&str]) -> Self {
        self.items.push(ScriptedItem::Reasoning {
            summary: Vec::new(),
            content: parts.iter().map(|p| (*p).to_owned()).collect(),
        });
        self
    }

    /// Adds a reasoning item carrying only a summary (`summary_text`, streamed as
    /// `response.reasoning_summary_text.delta`s). `codex exec --json` turns reasoning SUMMARIES
    /// into `reasoning` items; raw `reasoning_text` shows only in app-server/rollouts.
    pub fn reasoning_summary(self, s: &str) -> Self {
        self.reasoning_with_summary(&[s], &[])
    }

    /// Adds a reasoning item with both summary deltas and raw `reasoning_text` deltas.
    pub fn reasoning_with_summary(mut self, summary: &[&str], content: &[&str]) -> Self {
        self.items.push(ScriptedItem::Reasoning {
            summary: summary.iter().map(|p| (*p).to_owned()).collect(),
            content: content.iter().map(|p| (*p).to_owned()).collect(),
        });
        self
    }

    /// Adds a function call item. `arguments` is sent as a JSON *string*, as the real API does.
    pub fn function_call(mut self, name: &str, arguments: Value, call_id: &str) -> Self {
        self.items.push(ScriptedItem::FunctionCall {
            name: name.to_owned(),
            arguments,
            call_id: call_id.to_owned(),
            namespace: None,
        });
        self
    }

    /// A call of tool `tool` of the MCP server configured as `[mcp_servers.<server>]`.
    ///
    /// Codex 0.169 offers each MCP server's tools to the model as one tool of `type:
    /// "namespace"` named `mcp__<server>` whose `tools` are the server's tools under their own
    /// names; the model's call names the inner tool and carries the namespace
    /// (`{"type":"function_call","namespace":"mcp__<server>","name":"<tool>",...}`). A flat
    /// `mcp__<server>__<tool>` name is refused ("unsupported call"). Codex answers with a
    /// `function_call_output` whose text is "Wall time: ...\nOutput:\n" followed by the tool's
    /// structured content as JSON (its text content when it has none).
    pub fn mcp_tool_call(
        mut self,
        server: &str,
        tool: &str,
        arguments: Value,
        call_id: &str,
    ) -> Self {
        self.items.push(ScriptedItem::FunctionCall {
            name: tool.to_owned(),
            arguments,
            call_id: call_id.to_owned(),
            namespace: Some(format!("mcp__{server}")),
        });
        self
    }

    /// A call of Codex 0.169's `exec_command` tool running `cmd` through the user's shell.
    ///
    /// The tool's parameters (from the `tools` Codex sends): `cmd` (string, required), `workdir`,
    /// `shell`, `tty`, `yield_time_ms` (default 10000, range 250-30000), `max_output_tokens`,
    /// `login` (default true), `sandbox_permissions` (`use_default` | `require_escalated`),
    /// `justification`, `prefix_rule`. We send `cmd`, `yield_time_ms: 10000` so short commands
    /// finish inside the call and their whole output comes back in one `function_call_output`,
    /// and `login: false`: a login shell sources the machine's profile, whose noise (e.g. pyenv
    /// complaining about a read-only home inside the sandbox) would otherwise leak into the
    /// output. Codex then runs `/bin/bash -c <cmd>` (or the user's shell) in the turn's cwd.
    /// Use [`Self::function_call`] for other argument shapes.
    pub fn exec_command(self, cmd: &str, call_id: &str) -> Self {
        self.function_call(
            "exec_command",
            json!({ "cmd": cmd, "yield_time_ms": 10_000, "login": false }),
            call_id,
        )
    }

    /// An `exec_command` call asking to run `cmd` OUTSIDE the sandbox
    /// (`sandbox_permissions: "require_escalated"` with a `justification`): under
    /// `approval_policy = "on-request"` Codex asks the client for approval before running it.
    pub fn exec_command_escalated(self, cmd: &str, call_id: &str, justification: &str) -> Self {
        self.function_call(
            "exec_command",
            json!({
                "cmd": cmd, "yield_time_ms": 10_000, "login": false,
                "sandbox_permissions": "require_escalated", "justification": justification,
            }),
            call_id,
        )
    }

    /// Usage figures reported in `response.completed` (defaults: 10 in, 0 cached, 5 out, 0
    /// reasoning). `total_tokens` is `input + output`.
    pub fn usage(mut self, input: u64, cached: u64, output: u64, reasoning: u64) -> Self {
        self.usage = Usage {
            input,
            cached,
            output,
            reasoning,
        };
        self
    }

    /// Sleeps this long before each SSE event after the first.
    pub fn delay_between_events(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Sends `response.created`, then keeps the stream open (no items, no completion) until the
    /// client disconnects; the disconnect is counted (see [`FakeResponses::disconnects`]).
    pub fn hang_after_created(mut self) -> Self {
        self.ending = Ending::Hang;
        self
    }

    /// Ends the stream with `response.failed{response{id, error{code, message}}}` instead of
    /// `response.completed`.
    pub fn failed(mut self, code: &str, message: &str) -> Self {
        self.ending = Ending::Failed(json!({ "code": code, "message": message }));
        self
    }

    /// Ends the stream after the items WITHOUT `response.completed` (a dropped connection as
    /// the client sees it). Codex treats this as a stream error.
    pub fn end_without_completed(mut self) -> Self {
        self.ending = Ending::Truncated;
        self
    }

    /// Appends a raw SSE event (its `type` field names the event) after the items and before the
    /// final event. For probing how a client handles events we do not model.
    pub fn raw_event(mut self, event: Value) -> Self {
        self.extra_events.push(event);
        self
    }

    /// A plain (non-SSE) HTTP error response with this status and JSON body.
    pub fn http_error(status: u16, body: Value) -> Self {
        let mut r = Self::new();
        r.http_error = Some((status, body));
        r
    }

    /// The SSE events (as JSON objects with a `type`) this script produces, minus the hang.
    fn events(&self, response_id: &str, ids: &IdGen) -> Vec<Value> {
        let mut events = vec![json!({
            "type": "response.created",
            "response": { "id": response_id, "object": "response", "status": "in_progress", "output": [] },
        })];
        for (output_index, item) in self.items.iter().enumerate() {
            match item {
                ScriptedItem::Message(parts) => {
                    let id = ids.next("msg");
                    let text: String = parts.concat();
                    events.push(json!({
                        "type": "response.output_item.added",
                        "output_index": output_index,
                        "item": { "id": id, "type": "message", "role": "assistant", "status": "in_progress", "content": [] },
                    }));
                    events.push(json!({
                        "type": "response.content_part.added",
                        "item_id": id, "output_index": output_index, "content_index": 0,
                        "part": { "type": "output_text", "text": "", "annotations": [] },
                    }));
                    for delta in parts {
                        events.push(json!({
                            "type": "response.output_text.delta",
                            "item_id": id, "output_index": output_index, "content_index": 0,
                            "delta": delta,
                        }));
                    }
                    events.push(json!({
                        "type": "response.output_text.done",
                        "item_id": id, "output_index": output_index, "content_index": 0,
                        "text": text,
                    }));
                    let part = json!({ "type": "output_text", "text": text, "annotations": [] });
                    events.push(json!({
                        "type": "response.content_part.done",
                        "item_id": id, "output_index": output_index, "content_index": 0,
                        "part": part,
                    }));
                    events.push(json!({
                        "type": "response.output_item.done",
                        "output_index": output_index,
                        "item": { "id": id, "type": "message", "role": "assistant", "status": "completed", "content": [part] },
                    }));
                }
                ScriptedItem::Reasoning { summary, content } => {
                    let id = ids.next("rs");
                    events.push(json!({
                        "type": "response.output_item.added",
                        "output_index": output_index,
                        "item": { "id": id, "type": "reasoning", "summary": [], "content": [] },
                    }));
                    let summary_text: String = summary.concat();
                    if !summary.is_empty() {
                        let base = json!({ "item_id": id, "output_index": output_index, "summary_index": 0 });
                        let with = |kind: &str, key: &str, value: Value| {
                            let mut e = base.clone();
                            e["type"] = json!(kind);
                            e[key] = value;
                            e
                        };
                        events.push(with(
                            "response.reasoning_summary_part.added",
                            "part",
                            json!({ "type": "summary_text", "text": "" }),
                        ));
                        for delta in summary {
                            events.push(with(
                                "response.reasoning_summary_text.delta",
                                "delta",
                                json!(delta),
                            ));
                        }
                        events.push(with(
                            "response.reasoning_summary_text.done",
                            "text",
                            json!(summary_text),
                        ));
                        events.push(with(
                            "response.reasoning_summary_part.done",
                            "part",
                            json!({ "type": "summary_text", "text": summary_text }),
                        ));
                    }
                    let content_text: String = content.concat();
                    for delta in content {
                        events.push(json!({
                            "type": "response.reasoning_text.delta",
                            "item_id": id, "output_index": output_index, "content_index": 0,
                            "delta": delta,
                        }));
                    }
                    if !content.is_empty() {
                        events.push(json!({
                            "type": "response.reasoning_text.done",
                            "item_id": id, "output_index": output_index, "content_index": 0,
                            "text": content_text,
                        }));
                    }
                    let summary_parts: Vec<Value> = if summary.is_empty() {
                        Vec::new()
                    } else {
                        vec![json!({ "type": "summary_text", "text": summary_text })]
                    };
                    let content_parts: Vec<Value> = if content.is_empty() {
                        Vec::new()
                    } else {
                        vec![json!({ "type": "reasoning_text", "text": content_text })]
                    };
                    events.push(json!({
                        "type": "response.output_item.done",
                        "output_index": output_index,
                        "item": {
                            "id": id, "type": "reasoning",
                            "summary": summary_parts, "content": content_parts,
                        },
                    }));
                }
                ScriptedItem::FunctionCall {
                    name,
                    arguments,
                    call_id,
                    namespace,
                } => {
                    let id = ids.next("fc");
                    let mut added = json!({
                        "id": id, "type": "function_call", "status": "in_progress",
                        "name": name, "call_id": call_id, "arguments": "",
                    });
                    let mut done = json!({
                        "id": id, "type": "function_call", "status": "completed",
                        "name": name, "call_id": call_id, "arguments": arguments.to_string(),
                    });
                    if let Some(ns) = namespace {
                        added["namespace"] = json!(ns);
                        done["namespace"] = json!(ns);
                    }
                    events.push(json!({
                        "type": "response.output_item.added",
                        "output_index": output_index,
                        "item": added,
                    }));
                    events.push(json!({
                        "type": "response.output_item.done",
                        "output_index": output_index,
                        "item": done,
                    }));
                }
            }
        }
        events.extend(self.extra_events.iter().cloned());
        match &self.ending {
            Ending::Completed => {
                let u = self.usage;
                events.push(json!({
                    "type": "response.completed",
                    "response": {
                        "id": response_id, "object": "response", "status": "completed",
                        "usage": {
                            "input_tokens": u.input,
                            "input_tokens_details": { "cached_tokens": u.cached },
                            "output_tokens": u.output,
                            "output_tokens_details": { "reasoning_tokens": u.reasoning },
                            "total_tokens": u.input + u.output,
                        },
                    },
                }));
            }
            Ending::Failed(error) => events.push(json!({
                "type": "response.failed",
                "response": { "id": response_id, "object": "response", "status": "failed", "error": error },
            })),
            Ending::Hang | Ending::Truncated => {}
        }
        events
    }
}

/// One HTTP request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path including the query string, e.g. `/v1/responses`.
    pub path: String,
    /// Headers in arrival order (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Null` when empty, a JSON string holding the raw text when the
    /// body is not valid JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first header value with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a `POST …/responses` (a model turn).
    pub fn is_responses(&self) -> bool {
        self.method == "POST" && path_only(&self.path).ends_with("/responses")
    }

    /// The `input` items of a Responses request (empty if absent).
    pub fn input(&self) -> &[Value] {
        self.body
            .get("input")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The text of the last `role: user` message in `input` (its text parts joined).
    pub fn last_user_text(&self) -> Option<String> {
        self.input()
            .iter()
            .rev()
            .find(|item| {
                item.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message")
                    == "message"
                    && item.get("role").and_then(Value::as_str) == Some("user")
            })
            .map(|item| content_text(item.get("content").unwrap_or(&Value::Null)))
    }

    /// The `output` of the `function_call_output` item with this `call_id`. Structured outputs
    /// (a list of content items, or an object with `content`) are flattened to their text.
    pub fn function_call_output(&self, call_id: &str) -> Option<String> {
        self.input()
            .iter()
            .find(|item| {
                matches!(
                    item.get("type").and_then(Value::as_str),
                    Some("function_call_output" | "custom_tool_call_output")
                ) && item.get("call_id").and_then(Value::as_str) == Some(call_id)
            })
            .map(|item| content_text(item.get("output").unwrap_or(&Value::Null)))
    }

    /// Names of the tools offered in the request (`name`, or `type` for non-function tools).
    pub fn tool_names(&self) -> Vec<String> {
        self.body
            .get("tools")
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| {
                        t.get("name")
                            .or_else(|| t.get("type"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Text of a content value: a string, a list of parts with `text`, or an object with `content`.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
            .collect::<Vec<_>>()
            .join(""),
        Value::Object(o) => o
            .get("content")
            .or_else(|| o.get("text"))
            .or_else(|| o.get("output"))
            .map(content_text)
            .unwrap_or_else(|| v.to_string()),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

#[derive(Debug, Default)]
struct IdGen(AtomicU64);

impl IdGen {
    fn next(&self, prefix: &str) -> String {
        format!(
            "{prefix}_fake_{}",
            self.0.fetch_add(1, Ordering::Relaxed) + 1
        )
    }
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<ScriptedResponse>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Signalled (under `requests`) whenever a request is recorded, for blocking waiters.
    arrived: Condvar,
    /// Bumped whenever a request is recorded, for async waiters.
    arrived_async: tokio::sync::Notify,
    ids: IdGen,
    /// Client disconnects of unfinished streams.
    disconnects: crate::tally::Tally,
    unscripted: AtomicUsize,
    /// Set by [`FakeResponses::answer_title_requests`].
    title: Mutex<Option<String>>,
}

impl Shared {
    fn record(&self, r: RecordedRequest) {
        let mut requests = self.requests.lock();
        requests.push(r);
        self.arrived.notify_all();
        drop(requests);
        self.arrived_async.notify_waiters();
    }
}

/// The loopback fake model server. Dropping it stops the server and its thread.
#[derive(Debug)]
pub struct FakeResponses {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeResponses {
    /// The assistant text answered when a `/responses` request arrives with nothing scripted.
    pub const NO_SCRIPT_LEFT: &'static str = "fake-responses: no scripted response left";

    /// Binds `127.0.0.1:0` and serves on a dedicated thread with its own Tokio runtime.
    pub fn start() -> FakeResponses {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("fake-responses: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("fake-responses: set_nonblocking");
        let addr = listener.local_addr().expect("fake-responses: local_addr");
        let shared = Arc::new(Shared::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = app(shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fake-responses-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake-responses: tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("fake-responses: tokio listener");
                    // No graceful shutdown: it would wait for open connections, and a hung SSE
                    // stream would make Drop block. Dropping the runtime cancels them instead.
                    let serve = std::future::IntoFuture::into_future(axum::serve(listener, app));
                    tokio::select! {
                        result = serve => {
                            if let Err(e) = result {
                                tracing::warn!("fake-responses: server error: {e}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Dropping the runtime cancels any connection tasks still running.
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("fake-responses: spawn thread");
        FakeResponses {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// How the interactive TUI's side request for a thread title begins (0.169 sends it
    /// concurrently with the first turn's request, so it would race the turn for the scripts).
    pub const TITLE_REQUEST_PREFIX: &'static str = "Generate a concise, single-line task title";

    /// Answers the TUI's title requests ([`Self::TITLE_REQUEST_PREFIX`]) with `title` without
    /// consuming a script (they are still recorded). Off by default.
    pub fn answer_title_requests(&self, title: &str) {
        *self.shared.title.lock() = Some(title.to_owned());
    }

    /// `http://127.0.0.1:PORT/v1`: what a provider's `base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Queues a reply; each `POST …/responses` consumes the next one in FIFO order.
    pub fn enqueue(&self, r: ScriptedResponse) {
        self.shared.queue.lock().push_back(r);
    }

    /// How many scripted replies have not been consumed yet.
    pub fn pending_scripts(&self) -> usize {
        self.shared.queue.lock().len()
    }

    /// How many `/responses` requests arrived with nothing scripted (answered with
    /// [`Self::NO_SCRIPT_LEFT`]).
    pub fn unscripted_requests(&self) -> usize {
        self.shared.unscripted.load(Ordering::SeqCst)
    }

    /// How many SSE streams were dropped by the client before they ended (e.g. a
    /// [`ScriptedResponse::hang_after_created`] stream that the client cancelled).
    pub fn disconnects(&self) -> usize {
        self.shared.disconnects.get()
    }

    /// Blocks until at least `n` streams were dropped by the client; panics after `timeout`.
    pub fn wait_for_disconnects(&self, n: usize, timeout: Duration) {
        self.shared
            .disconnects
            .wait(n, timeout, "fake-responses", "client disconnect(s)");
    }

    /// Async form of [`Self::wait_for_disconnects`] (same caveat about paused time as
    /// [`Self::wait_for_requests_async`]).
    pub async fn wait_for_disconnects_async(&self, n: usize, timeout: Duration) {
        self.shared
            .disconnects
            .wait_async(n, timeout, "fake-responses", "client disconnect(s)")
            .await;
    }

    /// Every request received so far (all paths), in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().clone()
    }

    /// Only the `POST …/responses` requests received so far.
    pub fn responses_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_responses)
            .collect()
    }

    /// Blocks until at least `n` requests (all paths) were recorded and returns them all.
    /// Panics after `timeout`, listing what did arrive.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        self.wait_blocking(n, timeout, false)
    }

    /// Async form of [`Self::wait_for_requests`]; does not block the caller's runtime.
    ///
    /// The timeout runs on the caller's Tokio timer: under `tokio::time::pause()` it would
    /// auto-advance and fire at once, so do not call this with paused time.
    pub async fn wait_for_requests_async(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        self.wait_async(n, timeout, false).await
    }

    /// Blocks until at least `n` `POST …/responses` requests arrived and returns those only.
    pub fn wait_for_responses_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        self.wait_blocking(n, timeout, true)
    }

    /// Async form of [`Self::wait_for_responses_requests`].
    pub async fn wait_for_responses_requests_async(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        self.wait_async(n, timeout, true).await
    }

    fn wait_blocking(
        &self,
        n: usize,
        timeout: Duration,
        only_responses: bool,
    ) -> Vec<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        let mut requests = self.shared.requests.lock();
        loop {
            if let Some(found) = enough(&requests, n, only_responses) {
                return found;
            }
            if self
                .shared
                .arrived
                .wait_until(&mut requests, deadline)
                .timed_out()
            {
                if let Some(found) = enough(&requests, n, only_responses) {
                    return found;
                }
                panic!("{}", timeout_message(n, timeout, only_responses, &requests));
            }
        }
    }

    async fn wait_async(
        &self,
        n: usize,
        timeout: Duration,
        only_responses: bool,
    ) -> Vec<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived_async.notified();
            tokio::pin!(notified);
            // Register before checking so a notification between check and await is not lost.
            notified.as_mut().enable();
            if let Some(found) = enough(&self.shared.requests.lock(), n, only_responses) {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let requests = self.shared.requests.lock();
                if let Some(found) = enough(&requests, n, only_responses) {
                    return found;
                }
                panic!("{}", timeout_message(n, timeout, only_responses, &requests));
            }
        }
    }
}

/// The requests (all, or only `/responses` ones) if there are at least `n` of them.
fn enough(
    requests: &[RecordedRequest],
    n: usize,
    only_responses: bool,
) -> Option<Vec<RecordedRequest>> {
    let found: Vec<RecordedRequest> = if only_responses {
        requests
            .iter()
            .filter(|r| r.is_responses())
            .cloned()
            .collect()
    } else {
        requests.to_vec()
    };
    (found.len() >= n).then_some(found)
}

fn timeout_message(
    n: usize,
    timeout: Duration,
    only_responses: bool,
    requests: &[RecordedRequest],
) -> String {
    let what = if only_responses { " /responses" } else { "" };
    let mut msg = format!(
        "fake-responses: timed out after {timeout:?} waiting for {n}{what} request(s); {} arrived:",
        requests.len()
    );
    for (i, r) in requests.iter().enumerate() {
        let last_user = r.last_user_text().unwrap_or_default();
        let last_user: String = last_user.chars().take(120).collect();
        msg.push_str(&format!(
            "\n  #{i}: {} {} input_items={} last_user_text={last_user:?}",
            r.method,
            r.path,
            r.input().len()
        ));
    }
    msg
}

impl Drop for FakeResponses {
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
        Err(e) => Value::String(format!("fake-responses: could not read body: {e}")),
    };
    let recorded = RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        headers,
        body,
    };
    let is_responses = recorded.is_responses();
    let route = path_only(&path).to_owned();
    // Take the script before recording so a waiter that sees the request also sees the queue
    // already advanced.
    let title = shared.title.lock().clone().filter(|_| {
        is_responses
            && recorded
                .last_user_text()
                .is_some_and(|t| t.starts_with(FakeResponses::TITLE_REQUEST_PREFIX))
    });
    let script = if let Some(title) = title {
        Some(ScriptedResponse::new().text(&title))
    } else if is_responses {
        let next = shared.queue.lock().pop_front();
        Some(next.unwrap_or_else(|| {
            shared.unscripted.fetch_add(1, Ordering::SeqCst);
            ScriptedResponse::new().text(FakeResponses::NO_SCRIPT_LEFT)
        }))
    } else {
        None
    };
    shared.record(recorded);

    if let Some(script) = script {
        return sse_response(shared, script);
    }
    if method == Method::GET && route.ends_with("/models") {
        return json_response(
            StatusCode::OK,
            json!({
                "object": "list",
                "data": [
                    { "id": "gpt-oss-20b", "object": "model", "created": 0, "owned_by": "fake-responses" },
                    { "id": "gpt-oss-120b", "object": "model", "created": 0, "owned_by": "fake-responses" },
                ],
                "models": [],
            }),
        );
    }
    json_response(
        StatusCode::NOT_FOUND,
        json!({ "error": {
            "type": "not_found",
            "message": format!("fake-responses: no route for {method} {route} (recorded)"),
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

fn sse_response(shared: Arc<Shared>, script: ScriptedResponse) -> Response<Body> {
    if let Some((status, body)) = &script.http_error {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return json_response(status, body.clone());
    }
    let response_id = shared.ids.next("resp");
    let events = script.events(&response_id, &shared.ids);
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

/// Replaces [`ScriptedResponse::SEND_TIME`] in a frame with the time now.
fn stamp_send_time(frame: Bytes) -> Bytes {
    let placeholder = ScriptedResponse::SEND_TIME.as_bytes();
    if !frame.windows(placeholder.len()).any(|w| w == placeholder) {
        return frame;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let text =
        String::from_utf8_lossy(&frame).replace(ScriptedResponse::SEND_TIME, &now.to_string());
    Bytes::from(text)
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
                    Some((Ok(stamp_send_time(sse_frame(&event))), (guard, events)))
                }
                None if hang => {
                    // Keep the connection open; an SSE comment every 100 ms makes a vanished
                    // client surface as a write error, which drops this stream (and the guard).
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((
                        Ok(Bytes::from_static(b": fake-responses hanging\n\n")),
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
