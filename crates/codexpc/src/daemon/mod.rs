//! The native session protocol on a Unix domain socket (the role an XPC service plays on macOS, as a socket that works on Linux too).
//!
//! A client connects to `$XDG_RUNTIME_DIR/codexpc.sock` (mode 0600: only its owner may talk to
//! the model and its tools), writes one JSON request per line and reads one JSON message per
//! line. `create` starts a *session*: a conversation run to completion, including in-daemon tool
//! calls, streamed as `created -> output_text.delta... / output_item.done... -> metrics ->
//! completed` (or a terminal `error`). Several sessions may run on one connection; every message
//! carries the `req_id` of the request it belongs to. The protocol is specified in
//! `crates/codexpc/PROTOCOL.md`.
//!
//! Shape:
//! - The framing layer ([`LineReader`]) enforces the message size limit *while reading*: an
//!   oversize line is answered with `too_large` and discarded up to its newline without ever
//!   being buffered, and the connection stays usable. Parsing is the pure
//!   [`protocol::parse_request`], shared with the fuzz target.
//! - Generation goes through the same [`Service`] as the HTTP endpoint (the engine's slots, bounded
//!   queue, cancellation); the daemon adds admission of sessions (`max_sessions`, else `busy`),
//!   final-channel-only text with bounded-latency coalescing, and the tool loop. A call of a tool
//!   the client declared (`create.tools`) is checked against the declared schema and handed to
//!   the client, which answers with a `tool_result` message (bounded by
//!   `client_tool_timeout`); a call of an in-daemon tool (MCP servers, demo tools) is executed by
//!   the [`ToolExecutor`] (every gate: disabled by default, allowlist, schema, timeout, output
//!   cap) on its own task. Either way the result is appended to the conversation as a tool
//!   message and sampling resumes on the extended prompt (the engine's KV cache makes that cheap).
//! - A connection that goes away cancels its sessions.

pub mod config;
pub mod protocol;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::engine::{CancelFlag, Sampling};
use crate::harmony::tokens;
use crate::parse::{FailureKind, OutputEvent};
use crate::render::{RenderConfig, render_request};
use crate::responses::types::ResponsesRequest;
use crate::service::{GenerationInput, Service};
use crate::tools::mcp::McpServers;
use crate::tools::{ClientTools, ForcedToolCall, ToolExecutor, ToolStatus};
use crate::{Error, Result};
use protocol::{
    CreateFromTokensParams, CreateParams, ErrorCode, PROTO_VERSION, Request, ToolResultParams,
    ToolResultStatus, error_message, message, parse_request,
};

/// Messages queued per connection before a slow reader applies backpressure to its sessions.
const OUTBOX: usize = 1024;
/// Tool rounds per session before the daemon stops the loop (a model calling tools forever).
pub const DEFAULT_MAX_TOOL_ROUNDS: usize = 8;
/// How long the daemon waits for the client's `tool_result` by default.
pub const DEFAULT_CLIENT_TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Daemon settings.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub socket_path: PathBuf,
    /// Concurrent sessions across all connections; more get `busy`.
    pub max_sessions: usize,
    /// Largest accepted message (one line) in bytes.
    pub max_message_bytes: usize,
    /// Text deltas are coalesced for at most this long.
    pub coalesce: Duration,
    pub max_tool_rounds: usize,
    /// How long a session waits for the client's `tool_result` before telling the model the
    /// tool failed.
    pub client_tool_timeout: Duration,
    /// The Responses endpoint served next to the socket (`http://ADDR/v1`), reported by
    /// `health` so a client that found the daemon by its socket (a hub configuring Codex) knows
    /// where Codex should send its requests.
    pub http_base_url: Option<String>,
}

impl DaemonConfig {
    pub fn new(socket_path: PathBuf) -> Self {
        Self {
            socket_path,
            max_sessions: 4,
            max_message_bytes: protocol::DEFAULT_MAX_MESSAGE_BYTES,
            coalesce: Duration::from_millis(20),
            max_tool_rounds: DEFAULT_MAX_TOOL_ROUNDS,
            client_tool_timeout: DEFAULT_CLIENT_TOOL_TIMEOUT,
            http_base_url: None,
        }
    }
}

/// `$XDG_RUNTIME_DIR/codexpc.sock`, else `<data dir>/codexpc/codexpc.sock`.
pub fn default_socket_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("codexpc.sock");
    }
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("codexpc")
        .join("codexpc.sock")
}

/// Bind the socket with mode 0600. A stale socket file (nobody answers) is replaced; a live one
/// is an error naming the path, so two daemons never fight over it.
pub async fn bind_socket(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        // Directories created here hold only our socket: private to the owner (0700), like
        // $XDG_RUNTIME_DIR. Existing directories are left as they are.
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("creating the socket directory", dir, e))?;
    }
    if path.exists() {
        match UnixStream::connect(path).await {
            Ok(_) => {
                return Err(Error::io(
                    "binding the socket",
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        "another codexpc is already listening there",
                    ),
                ));
            }
            Err(_) => {
                tracing::info!(path = %path.display(), "removing a stale socket file");
                std::fs::remove_file(path)
                    .map_err(|e| Error::io("removing a stale socket", path, e))?;
            }
        }
    }
    // Bind under a restrictive umask so the socket is never, even briefly, reachable by others;
    // then set the mode explicitly (umask is process-wide, so restore it at once).
    let listener = {
        let old = umask(0o177);
        let bound = UnixListener::bind(path);
        umask(old);
        bound.map_err(|e| Error::io("binding the socket", path, e))?
    };
    set_mode_0600(path)?;
    Ok(listener)
}

fn umask(mask: u32) -> u32 {
    use nix::sys::stat::{Mode, umask};
    umask(Mode::from_bits_truncate(mask as nix::libc::mode_t)).bits() as u32
}

fn set_mode_0600(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("setting the socket mode", path, e))
}

/// Counters the daemon keeps besides the service's.
#[derive(Debug, Default)]
pub struct DaemonCounters {
    pub connections: AtomicU64,
    pub sessions: AtomicU64,
    pub tool_calls: AtomicU64,
    pub tool_failures: AtomicU64,
    pub cancels: AtomicU64,
    pub bad_requests: AtomicU64,
    pub busy: AtomicU64,
    pub client_tool_calls: AtomicU64,
    pub client_tool_timeouts: AtomicU64,
}

/// The daemon: shared by every connection.
#[derive(Debug)]
pub struct Daemon {
    service: Arc<Service>,
    tools: ToolExecutor,
    render: RenderConfig,
    config: DaemonConfig,
    started: Instant,
    active: AtomicUsize,
    counters: DaemonCounters,
    /// The MCP servers behind some of `tools`; stopped with the daemon.
    _mcp: Option<McpServers>,
    /// Test hook, see [`Daemon::new_with_forced_tool_call`].
    forced_tool_call: Option<ForcedToolCall>,
}

impl Daemon {
    pub fn new(
        service: Arc<Service>,
        tools: ToolExecutor,
        render: RenderConfig,
        config: DaemonConfig,
    ) -> Arc<Self> {
        Self::build(service, tools, render, config, None, None)
    }

    /// A daemon whose `tools` include those of `mcp` (kept running as long as the daemon).
    pub fn new_with_mcp(
        service: Arc<Service>,
        tools: ToolExecutor,
        render: RenderConfig,
        config: DaemonConfig,
        mcp: McpServers,
    ) -> Arc<Self> {
        Self::build(service, tools, render, config, Some(mcp), None)
    }

    /// TEST ONLY: every conversation session starts with `call` instead of sampling the first
    /// message, so tests of the tool path are
    /// deterministic whatever the model. Deliberately not reachable from any config file or flag.
    #[doc(hidden)]
    pub fn new_with_forced_tool_call(
        service: Arc<Service>,
        tools: ToolExecutor,
        render: RenderConfig,
        config: DaemonConfig,
        call: ForcedToolCall,
    ) -> Arc<Self> {
        tracing::warn!(tool = %call.name, "TEST ONLY: every session starts with a forced tool call");
        Self::build(service, tools, render, config, None, Some(call))
    }

    fn build(
        service: Arc<Service>,
        tools: ToolExecutor,
        render: RenderConfig,
        config: DaemonConfig,
        mcp: Option<McpServers>,
        forced_tool_call: Option<ForcedToolCall>,
    ) -> Arc<Self> {
        Arc::new(Self {
            service,
            tools,
            render,
            config,
            started: Instant::now(),
            active: AtomicUsize::new(0),
            counters: DaemonCounters::default(),
            _mcp: mcp,
            forced_tool_call,
        })
    }

    pub fn counters(&self) -> &DaemonCounters {
        &self.counters
    }

    pub fn active_sessions(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// Accept connections until `shutdown` resolves.
    pub async fn run(
        self: Arc<Self>,
        listener: UnixListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        self.counters.connections.fetch_add(1, Ordering::Relaxed);
                        let me = self.clone();
                        tokio::spawn(async move { me.connection(stream).await });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::task::yield_now().await;
                    }
                },
            }
        }
        let _ = std::fs::remove_file(&self.config.socket_path);
    }

    async fn connection(self: Arc<Self>, stream: UnixStream) {
        let (read, mut write) = stream.into_split();
        let (out_tx, mut out_rx) = mpsc::channel::<String>(OUTBOX);
        let writer = tokio::spawn(async move {
            while let Some(line) = out_rx.recv().await {
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let mut reader = LineReader::new(BufReader::new(read), self.config.max_message_bytes);
        let sessions: Arc<SessionTable> = Arc::new(SessionTable::default());
        loop {
            let line = match reader.next_line().await {
                Ok(Some(Frame::Line(line))) => line,
                Ok(Some(Frame::TooLarge)) => {
                    self.counters.bad_requests.fetch_add(1, Ordering::Relaxed);
                    let msg = format!(
                        "message exceeds the {} byte limit; it was discarded up to its newline",
                        self.config.max_message_bytes
                    );
                    if out_tx
                        .send(error_message(None, ErrorCode::TooLarge, &msg))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "connection read failed");
                    break;
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let reply = match parse_request(&line) {
                Err(e) => {
                    self.counters.bad_requests.fetch_add(1, Ordering::Relaxed);
                    Some(error_message(e.req_id.as_deref(), e.code, &e.message))
                }
                Ok(env) => self.dispatch(env.req_id, env.request, &out_tx, &sessions),
            };
            if let Some(reply) = reply
                && out_tx.send(reply).await.is_err()
            {
                break;
            }
        }
        // The client is gone (or stopped writing): stop its sessions.
        sessions.cancel_all();
        drop(out_tx);
        let _ = writer.await;
    }

    /// Handle one request; returns an immediate reply, if any (sessions stream on their own).
    fn dispatch(
        self: &Arc<Self>,
        req_id: String,
        request: Request,
        out: &mpsc::Sender<String>,
        sessions: &Arc<SessionTable>,
    ) -> Option<String> {
        match request {
            Request::Handshake => {
                let enc = self.service.harmony();
                let special: Value = [
                    ("<|startoftext|>", tokens::START_OF_TEXT),
                    ("<|endoftext|>", tokens::END_OF_TEXT),
                    ("<|return|>", tokens::RETURN),
                    ("<|constrain|>", tokens::CONSTRAIN),
                    ("<|channel|>", tokens::CHANNEL),
                    ("<|start|>", tokens::START),
                    ("<|end|>", tokens::END),
                    ("<|message|>", tokens::MESSAGE),
                    ("<|call|>", tokens::CALL),
                ]
                .into_iter()
                .map(|(name, id)| (name.to_owned(), Value::from(id)))
                .collect::<serde_json::Map<_, _>>()
                .into();
                Some(message(
                    Some(&req_id),
                    "handshake.ok",
                    json!({
                        "encoding_name": enc.encoding().name(),
                        "special_tokens": special,
                        "stop_tokens_for_assistant_actions": enc.assistant_stop_tokens(),
                        "proto_versions": [PROTO_VERSION],
                        "features": features(),
                    }),
                ))
            }
            Request::Health => Some(message(Some(&req_id), "health.ok", self.health())),
            Request::Cancel => {
                if sessions.cancel(&req_id) {
                    self.counters.cancels.fetch_add(1, Ordering::Relaxed);
                    Some(message(Some(&req_id), "cancel.ok", json!({})))
                } else {
                    Some(error_message(
                        Some(&req_id),
                        ErrorCode::NotFound,
                        &format!("no running session with req_id {req_id:?} on this connection"),
                    ))
                }
            }
            Request::Create(params) => {
                self.start_session(req_id, SessionKind::Conversation(*params), out, sessions)
            }
            Request::CreateFromTokens(params) => {
                self.start_session(req_id, SessionKind::Tokens(params), out, sessions)
            }
            Request::ToolResult(p) => Some(match sessions.deliver(p) {
                Ok((session, call_id)) => message(
                    Some(&req_id),
                    "tool_result.ok",
                    json!({"session": session, "call_id": call_id}),
                ),
                Err(text) => error_message(Some(&req_id), ErrorCode::NotFound, &text),
            }),
        }
    }

    fn health(&self) -> Value {
        let info = self.service.info();
        let c = self.service.counters();
        json!({
            "status": "ok",
            "engine": info.engine,
            "model": info.model,
            "context_size": info.context_size,
            "base_url": self.config.http_base_url,
            "slots": self.service.slots(),
            "uptime_s": self.started.elapsed().as_secs(),
            "active_sessions": self.active_sessions(),
            "max_sessions": self.config.max_sessions,
            "tools_enabled": self.tools.config().enabled,
            "tools_allowed": self.tools.config().allow,
            "tools_available": self.tools.registry().specs().into_iter().map(|s| s.name).collect::<Vec<_>>(),
            "counters": self.metrics_json(&c),
        })
    }

    fn metrics_json(&self, c: &crate::service::CountersSnapshot) -> Value {
        let d = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "requests": c.requests,
            "completed": c.completed,
            "cancelled": c.cancelled,
            "errors": c.errors,
            "tokens_in": c.prompt_tokens,
            "tokens_cached": c.cached_tokens,
            "tokens_out": c.generated_tokens,
            "sessions": load(&d.sessions),
            "tool_calls": load(&d.tool_calls),
            "tool_failures": load(&d.tool_failures),
            "client_tool_calls": load(&d.client_tool_calls),
            "client_tool_timeouts": load(&d.client_tool_timeouts),
            "cancels": load(&d.cancels),
            "bad_requests": load(&d.bad_requests),
            "busy": load(&d.busy),
        })
    }

    /// Prometheus text for the daemon's own counters (the HTTP `/metrics` route appends it).
    pub fn prometheus(&self) -> String {
        let d = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        for (name, help, v) in [
            (
                "codexpc_socket_connections_total",
                "Socket connections accepted.",
                load(&d.connections),
            ),
            (
                "codexpc_socket_sessions_total",
                "Sessions started over the socket.",
                load(&d.sessions),
            ),
            (
                "codexpc_tool_calls_total",
                "Tool calls handled by the daemon.",
                load(&d.tool_calls),
            ),
            (
                "codexpc_tool_failures_total",
                "Tool calls that failed (any gate).",
                load(&d.tool_failures),
            ),
            (
                "codexpc_client_tool_calls_total",
                "Tool calls handed to clients to execute.",
                load(&d.client_tool_calls),
            ),
            (
                "codexpc_client_tool_timeouts_total",
                "Client-executed tool calls whose result did not come in time.",
                load(&d.client_tool_timeouts),
            ),
            (
                "codexpc_socket_cancels_total",
                "Sessions cancelled by a cancel request.",
                load(&d.cancels),
            ),
            (
                "codexpc_socket_bad_requests_total",
                "Malformed, oversize or unsupported messages.",
                load(&d.bad_requests),
            ),
            (
                "codexpc_socket_busy_total",
                "Sessions refused because max_sessions were running.",
                load(&d.busy),
            ),
        ] {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            ));
        }
        s.push_str(&format!(
            "# HELP codexpc_socket_active_sessions Sessions running now.\n# TYPE codexpc_socket_active_sessions gauge\ncodexpc_socket_active_sessions {}\n",
            self.active_sessions()
        ));
        s
    }

    fn start_session(
        self: &Arc<Self>,
        req_id: String,
        kind: SessionKind,
        out: &mpsc::Sender<String>,
        sessions: &Arc<SessionTable>,
    ) -> Option<String> {
        let admitted = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.config.max_sessions).then_some(n + 1)
            });
        if admitted.is_err() {
            self.counters.busy.fetch_add(1, Ordering::Relaxed);
            return Some(error_message(
                Some(&req_id),
                ErrorCode::Busy,
                &format!(
                    "daemon busy: {} sessions are running (max_sessions); retry later",
                    self.config.max_sessions
                ),
            ));
        }
        let cancel = CancelFlag::new();
        if !sessions.insert(&req_id, cancel.clone()) {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return Some(error_message(
                Some(&req_id),
                ErrorCode::BadRequest,
                &format!(
                    "a session with req_id {req_id:?} is already running on this connection; use a new req_id"
                ),
            ));
        }
        self.counters.sessions.fetch_add(1, Ordering::Relaxed);
        let me = self.clone();
        let out = out.clone();
        let sessions = sessions.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut session = Session {
                daemon: &me,
                req_id: &req_id,
                out: &out,
                cancel: &cancel,
                table: &sessions,
                pending_text: String::new(),
                usage: Usage::default(),
                first_token: None,
                tool_calls: 0,
            };
            let result = session.run(kind).await;
            let line = match result {
                Ok(response_id) => {
                    session.flush_text().await;
                    let u = session.usage;
                    let c = me.service.counters();
                    let elapsed = started.elapsed();
                    let tps = if elapsed.as_secs_f64() > 0.0 {
                        u.output as f64 / elapsed.as_secs_f64()
                    } else {
                        0.0
                    };
                    let metrics = json!({
                        "duration_ms": elapsed.as_millis() as u64,
                        "ttft_ms": session.first_token.map(|t| t.duration_since(started).as_millis() as u64),
                        "output_tokens_per_s": (tps * 10.0).round() / 10.0,
                        "tool_calls": session.tool_calls,
                        "counters": me.metrics_json(&c),
                    });
                    let _ = out.send(message(Some(&req_id), "metrics", metrics)).await;
                    tracing::info!(
                        req_id = %req_id, input = u.input, cached = u.cached_input, output = u.output,
                        tools = session.tool_calls, duration_ms = elapsed.as_millis() as u64, "session completed"
                    );
                    message(
                        Some(&req_id),
                        "completed",
                        json!({
                            "response_id": response_id,
                            "token_usage": {
                                "input": u.input, "cached_input": u.cached_input,
                                "output": u.output, "reasoning": u.reasoning,
                            }
                        }),
                    )
                }
                Err((code, text)) => {
                    session.flush_text().await;
                    tracing::info!(req_id = %req_id, code = code.as_str(), error = %truncate(&text, 200), "session ended with an error");
                    error_message(Some(&req_id), code, &text)
                }
            };
            let _ = out.send(line).await;
            sessions.remove(&req_id);
            me.active.fetch_sub(1, Ordering::AcqRel);
        });
        None
    }
}

fn features() -> Value {
    json!([
        "final_only_deltas",
        "tool_calls",
        "tool_execution",
        "client_tools",
        "create_from_tokens",
        "cancel",
        "metrics"
    ])
}

/// For logs: at most `max` bytes (UTF-8 safe), marked with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    let (mut t, cut) = crate::tools::cap_utf8(s.to_owned(), max);
    if cut {
        t.push('…');
    }
    t
}

enum SessionKind {
    Conversation(CreateParams),
    Tokens(CreateFromTokensParams),
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    input: u64,
    cached_input: u64,
    output: u64,
    reasoning: u64,
}

struct Session<'a> {
    daemon: &'a Arc<Daemon>,
    req_id: &'a str,
    out: &'a mpsc::Sender<String>,
    cancel: &'a CancelFlag,
    /// The connection's sessions (where this one's `tool_result`s arrive).
    table: &'a Arc<SessionTable>,
    pending_text: String,
    usage: Usage,
    first_token: Option<Instant>,
    tool_calls: usize,
}

type SessionError = (ErrorCode, String);

/// What one generation round ended with.
enum Round {
    Done,
    ToolCall {
        name: String,
        call_id: String,
        arguments: String,
    },
}

impl Session<'_> {
    async fn send(&self, kind: &str, fields: Value) -> std::result::Result<(), SessionError> {
        self.out
            .send(message(Some(self.req_id), kind, fields))
            .await
            .map_err(|_| (ErrorCode::Cancelled, "client went away".to_owned()))
    }

    async fn flush_text(&mut self) {
        if self.pending_text.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.pending_text);
        let _ = self
            .send("output_text.delta", json!({ "text": text }))
            .await;
    }

    async fn run(&mut self, kind: SessionKind) -> std::result::Result<String, SessionError> {
        let response_id = format!("resp_{}", uuid::Uuid::new_v4().simple());
        self.send(
            "created",
            json!({ "response_id": response_id, "features": features() }),
        )
        .await?;
        match kind {
            SessionKind::Tokens(p) => {
                tracing::info!(
                    req_id = %self.req_id, response_id = %response_id,
                    prefill_tokens = p.prefill_tokens.len(), prime_final = p.prime_final,
                    "token session started"
                );
                let mut prompt = p.prefill_tokens;
                let mut prefix = Vec::new();
                if p.prime_final {
                    let h = self.daemon.service.harmony();
                    prefix.push(tokens::CHANNEL);
                    prefix.extend(h.encode_ordinary("final"));
                    prefix.push(tokens::MESSAGE);
                    prompt.extend(&prefix);
                }
                let sampling = self.sampling(
                    p.sampling.temperature_milli.map(|t| t as f32 / 1000.0),
                    p.sampling.top_p_milli.map(|t| t as f32 / 1000.0),
                    p.sampling.seed,
                    p.max_output_tokens,
                );
                let input = GenerationInput {
                    prompt,
                    match_text: None,
                    sampling,
                };
                match self.round(input, prefix).await? {
                    Round::Done => {}
                    Round::ToolCall {
                        name,
                        call_id,
                        arguments,
                    } => {
                        // A token-level client renders its own conversation: report the call,
                        // don't run it (the client has no way to give us the tool message back).
                        self.send(
                            "output_item.done",
                            json!({"item": {"type": "tool_call", "name": name, "call_id": call_id, "arguments": arguments, "status": "completed"}}),
                        )
                        .await?;
                    }
                }
                Ok(response_id)
            }
            SessionKind::Conversation(p) => {
                tracing::info!(
                    req_id = %self.req_id, response_id = %response_id,
                    input = %truncate(&p.input.to_string(), 200), tools = p.tools.len(),
                    "session started"
                );
                let client_tools = ClientTools::from_declared(&p.tools).map_err(|e| {
                    (
                        ErrorCode::BadRequest,
                        format!("field `tools`: {e}; fix the tool's `parameters` schema"),
                    )
                })?;
                let mut conversation = json!({
                    "instructions": p.instructions,
                    "input": match p.input {
                        Value::String(s) => json!([{"type": "message", "role": "user", "content": s}]),
                        other => other,
                    },
                    "tools": p.tools,
                    "reasoning": p.reasoning,
                });
                // Tools the daemon may run are described to the model too (a client's own tool
                // of the same name wins: the client asked for it).
                if let Some(tools) = conversation["tools"].as_array_mut() {
                    for spec in self.daemon.tools.exposed_specs() {
                        if !client_tools.contains(&spec.name) {
                            tools.push(json!({"type": "function", "name": spec.name, "description": spec.description, "parameters": spec.parameters}));
                        }
                    }
                }
                let mut forced = self.daemon.forced_tool_call.clone();
                for round in 0..=self.daemon.config.max_tool_rounds {
                    let call = if let Some(f) = forced.take() {
                        Round::ToolCall {
                            name: f.name,
                            call_id: format!("call_{}", uuid::Uuid::new_v4().simple()),
                            arguments: f.arguments,
                        }
                    } else {
                        let request: ResponsesRequest =
                            serde_json::from_value(conversation.clone()).map_err(|e| {
                                (ErrorCode::BadRequest, format!("invalid `create`: {e}"))
                            })?;
                        let rendered = render_request(
                            self.daemon.service.harmony(),
                            &request,
                            &self.daemon.render,
                        )
                        .map_err(|e| (ErrorCode::BadRequest, e.to_string()))?;
                        let sampling = self.sampling(
                            p.sampling.temperature,
                            p.sampling.top_p,
                            p.sampling.seed,
                            p.max_output_tokens,
                        );
                        let input = GenerationInput {
                            prompt: rendered.tokens,
                            match_text: Some(rendered.match_text),
                            sampling,
                        };
                        self.round(input, Vec::new()).await?
                    };
                    let Round::ToolCall {
                        name,
                        call_id,
                        arguments,
                    } = call
                    else {
                        return Ok(response_id);
                    };
                    if round == self.daemon.config.max_tool_rounds {
                        return Err((
                            ErrorCode::MalformedOutput,
                            format!(
                                "the model kept calling tools: stopped after {} rounds",
                                self.daemon.config.max_tool_rounds
                            ),
                        ));
                    }
                    self.flush_text().await;
                    self.tool_calls += 1;
                    let output = match client_tools.check(&name, &arguments) {
                        Some(checked) => {
                            self.client_tool(&name, &call_id, &arguments, checked)
                                .await?
                        }
                        None => self.daemon_tool(&name, &call_id, &arguments).await?,
                    };
                    if let Some(items) = conversation["input"].as_array_mut() {
                        items.push(json!({"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id}));
                        items.push(json!({"type": "function_call_output", "call_id": call_id, "output": output}));
                    }
                }
                Ok(response_id)
            }
        }
    }

    /// Run an in-daemon tool through every gate; returns the output the model reads.
    async fn daemon_tool(
        &mut self,
        name: &str,
        call_id: &str,
        arguments: &str,
    ) -> std::result::Result<String, SessionError> {
        self.send(
            "output_item.done",
            json!({"item": {"type": "tool_call", "name": name, "call_id": call_id, "arguments": arguments,
                            "status": "in_progress", "executor": "daemon"}}),
        )
        .await?;
        self.daemon
            .counters
            .tool_calls
            .fetch_add(1, Ordering::Relaxed);
        let outcome = tokio::select! {
            o = self.daemon.tools.execute(name, arguments) => o,
            () = wait_cancelled(self.cancel) => return Err((ErrorCode::Cancelled, "session cancelled".into())),
        };
        tracing::info!(
            req_id = %self.req_id, tool = %name, call_id = %call_id,
            arguments = %truncate(arguments, 200), status = ?outcome.status,
            duration_ms = outcome.duration.as_millis() as u64,
            output = %truncate(&outcome.output, 200), "session tool call"
        );
        if outcome.status == ToolStatus::Failed {
            self.daemon
                .counters
                .tool_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        let status = match outcome.status {
            ToolStatus::Completed => "completed",
            ToolStatus::Failed => "failed",
        };
        self.send(
            "output_item.done",
            json!({"item": {"type": "tool_call.output", "name": name, "call_id": call_id, "status": status,
                            "output": outcome.output, "duration_ms": outcome.duration.as_millis() as u64,
                            "executor": "daemon"}}),
        )
        .await?;
        Ok(outcome.output)
    }

    /// Hand a call of a client-declared tool to the client and wait for its `tool_result`.
    /// Arguments that do not match the declared schema never reach the client: the model is
    /// told what is wrong instead. Returns the output the model reads.
    async fn client_tool(
        &mut self,
        name: &str,
        call_id: &str,
        arguments: &str,
        checked: std::result::Result<Value, (crate::tools::ToolFailure, String)>,
    ) -> std::result::Result<String, SessionError> {
        let started = Instant::now();
        let counters = &self.daemon.counters;
        if let Err((failure, text)) = checked {
            counters.tool_failures.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                req_id = %self.req_id, tool = %name, call_id = %call_id, ?failure,
                arguments = %truncate(arguments, 200), "client tool call rejected"
            );
            self.send(
                "output_item.done",
                json!({"item": {"type": "tool_call", "name": name, "call_id": call_id, "arguments": arguments,
                                "status": "failed", "executor": "client"}}),
            )
            .await?;
            self.send(
                "output_item.done",
                json!({"item": {"type": "tool_call.output", "name": name, "call_id": call_id, "status": "failed",
                                "output": text, "duration_ms": started.elapsed().as_millis() as u64,
                                "executor": "daemon"}}),
            )
            .await?;
            return Ok(text);
        }
        counters.client_tool_calls.fetch_add(1, Ordering::Relaxed);
        // Registered before the call goes out: the client may answer at once.
        let result = self.table.expect_tool_result(self.req_id, call_id);
        self.send(
            "output_item.done",
            json!({"item": {"type": "tool_call", "name": name, "call_id": call_id, "arguments": arguments,
                            "status": "in_progress", "executor": "client"}}),
        )
        .await?;
        let timeout = self.daemon.config.client_tool_timeout;
        let answer = tokio::select! {
            r = tokio::time::timeout(timeout, result) => r,
            () = wait_cancelled(self.cancel) => {
                self.table.forget_tool_result(self.req_id);
                return Err((ErrorCode::Cancelled, "session cancelled".into()));
            }
        };
        let (status, output, executor) = match answer {
            Ok(Ok(r)) => {
                let cap = self.daemon.tools.config().max_output_bytes;
                let (output, truncated) = crate::tools::cap_utf8(r.output, cap);
                if truncated {
                    tracing::info!(req_id = %self.req_id, tool = %name, cap, "client tool output truncated");
                }
                (r.status, output, "client")
            }
            // The table forgot the call: the connection is closing.
            Ok(Err(_)) => return Err((ErrorCode::Cancelled, "client went away".into())),
            Err(_) => {
                self.table.forget_tool_result(self.req_id);
                counters
                    .client_tool_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                (
                    ToolResultStatus::Failed,
                    format!(
                        "tool `{name}` was not run: the client did not return its result within {} ms",
                        timeout.as_millis()
                    ),
                    "daemon",
                )
            }
        };
        if status == ToolResultStatus::Failed {
            counters.tool_failures.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(
            req_id = %self.req_id, tool = %name, call_id = %call_id, status = status.as_str(),
            executor, duration_ms = started.elapsed().as_millis() as u64,
            output = %truncate(&output, 200), "client tool call"
        );
        self.send(
            "output_item.done",
            json!({"item": {"type": "tool_call.output", "name": name, "call_id": call_id, "status": status.as_str(),
                            "output": output, "duration_ms": started.elapsed().as_millis() as u64,
                            "executor": executor}}),
        )
        .await?;
        Ok(output)
    }

    fn sampling(
        &self,
        temperature: Option<f32>,
        top_p: Option<f32>,
        seed: Option<u32>,
        max: Option<u32>,
    ) -> Sampling {
        let d = &self.daemon.service.config().default_sampling;
        Sampling {
            temperature: temperature.unwrap_or(d.temperature),
            top_p: top_p.unwrap_or(d.top_p),
            seed: seed.unwrap_or(d.seed),
            max_tokens: max.or(d.max_tokens),
        }
    }

    /// One generation: stream final-channel text (coalesced), stop at the first tool call.
    async fn round(
        &mut self,
        input: GenerationInput,
        prefix: Vec<u32>,
    ) -> std::result::Result<Round, SessionError> {
        if self.cancel.is_cancelled() {
            return Err((ErrorCode::Cancelled, "session cancelled".into()));
        }
        let gen_cancel = CancelFlag::new();
        let mut rx = self
            .daemon
            .service
            .generate_primed(input, prefix, true, gen_cancel.clone())
            .map_err(|e| match e {
                Error::Busy { .. } => (ErrorCode::Busy, e.to_string()),
                other => (ErrorCode::BadRequest, other.to_string()),
            })?;
        let coalesce = self.daemon.config.coalesce;
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut call: Option<Round> = None;
        loop {
            let event = tokio::select! {
                e = rx.recv() => e,
                () = wait_cancelled(self.cancel) => {
                    gen_cancel.cancel();
                    return Err((ErrorCode::Cancelled, "session cancelled".into()));
                }
                () = sleep_until_opt(deadline) => {
                    self.flush_text().await;
                    deadline = None;
                    continue;
                }
            };
            let Some(event) = event else {
                return Err((
                    ErrorCode::Internal,
                    "generation ended without a final event".into(),
                ));
            };
            if self.first_token.is_none()
                && !matches!(
                    event,
                    OutputEvent::Completed { .. } | OutputEvent::Failed { .. }
                )
            {
                self.first_token = Some(Instant::now());
            }
            match event {
                OutputEvent::TextDelta(t) => {
                    self.pending_text.push_str(&t);
                    if deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + coalesce);
                    }
                }
                OutputEvent::TextDone(_) => {
                    self.flush_text().await;
                    deadline = None;
                }
                // Final channel only: reasoning and commentary are never surfaced as text.
                OutputEvent::ReasoningDelta(_) | OutputEvent::ReasoningDone(_) => {}
                OutputEvent::FunctionCall(f) => {
                    if call.is_none() {
                        call = Some(Round::ToolCall {
                            name: f.name,
                            call_id: f.call_id,
                            arguments: f.arguments,
                        });
                    }
                }
                OutputEvent::Completed {
                    stats,
                    reasoning_tokens,
                    ..
                } => {
                    self.usage.input += stats.prompt_tokens as u64;
                    self.usage.cached_input += stats.cached_tokens as u64;
                    self.usage.output += stats.generated_tokens as u64;
                    self.usage.reasoning += reasoning_tokens as u64;
                    return Ok(call.unwrap_or(Round::Done));
                }
                OutputEvent::Failed { kind, message } => {
                    let code = match kind {
                        FailureKind::Cancelled => ErrorCode::Cancelled,
                        FailureKind::MalformedOutput => ErrorCode::MalformedOutput,
                        FailureKind::Engine => ErrorCode::Engine,
                    };
                    return Err((code, message));
                }
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Resolves once `flag` is set.
async fn wait_cancelled(flag: &CancelFlag) {
    flag.cancelled().await;
}

/// What a client answered for one of its tool calls.
#[derive(Debug)]
struct ClientToolResult {
    output: String,
    status: ToolResultStatus,
}

/// A running session as its connection sees it.
#[derive(Debug)]
struct SessionEntry {
    cancel: CancelFlag,
    /// The client tool call it waits for, if any.
    waiting: Option<(String, tokio::sync::oneshot::Sender<ClientToolResult>)>,
}

/// Per-connection registry of running sessions (req_id -> cancel flag and pending tool call).
#[derive(Debug, Default)]
struct SessionTable(std::sync::Mutex<HashMap<String, SessionEntry>>);

impl SessionTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// False when a session with this id is already running.
    fn insert(&self, id: &str, cancel: CancelFlag) -> bool {
        let mut m = self.lock();
        if m.contains_key(id) {
            return false;
        }
        m.insert(
            id.to_owned(),
            SessionEntry {
                cancel,
                waiting: None,
            },
        );
        true
    }
    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
    fn cancel(&self, id: &str) -> bool {
        match self.lock().get(id) {
            Some(e) => {
                e.cancel.cancel();
                true
            }
            None => false,
        }
    }
    fn cancel_all(&self) {
        let mut m = self.lock();
        for e in m.values_mut() {
            e.cancel.cancel();
            e.waiting = None;
        }
    }
    /// Session `id` now waits for the result of `call_id`.
    fn expect_tool_result(
        &self,
        id: &str,
        call_id: &str,
    ) -> tokio::sync::oneshot::Receiver<ClientToolResult> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Some(e) = self.lock().get_mut(id) {
            e.waiting = Some((call_id.to_owned(), tx));
        }
        rx
    }
    fn forget_tool_result(&self, id: &str) {
        if let Some(e) = self.lock().get_mut(id) {
            e.waiting = None;
        }
    }
    /// Hand a `tool_result` to the session waiting for it; the error says why nobody was.
    fn deliver(&self, p: ToolResultParams) -> std::result::Result<(String, String), String> {
        let mut m = self.lock();
        let Some(entry) = m.get_mut(&p.session) else {
            return Err(format!(
                "no running session with req_id {:?} on this connection",
                p.session
            ));
        };
        match entry.waiting.take() {
            Some((call_id, tx)) if call_id == p.call_id => {
                // A session that just timed out dropped its receiver: then nobody was waiting.
                tx.send(ClientToolResult {
                    output: p.output,
                    status: p.status,
                })
                .map_err(|_| {
                    format!(
                        "session {:?} no longer waits for call {:?} (it timed out or ended)",
                        p.session, p.call_id
                    )
                })?;
                Ok((p.session, p.call_id))
            }
            other => {
                let waiting_for = other.as_ref().map(|(c, _)| c.clone());
                entry.waiting = other;
                Err(match waiting_for {
                    Some(c) => format!(
                        "session {:?} waits for call {c:?}, not {:?}",
                        p.session, p.call_id
                    ),
                    None => format!(
                        "session {:?} is not waiting for a tool result (call {:?} unknown, timed out or already answered)",
                        p.session, p.call_id
                    ),
                })
            }
        }
    }
}

/// A framed line, or the news that one was too large (and discarded).
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Line(Vec<u8>),
    TooLarge,
}

/// Reads newline-delimited messages with a size cap enforced while reading: an oversize line is
/// reported once and skipped up to its newline without being buffered.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    discarding: bool,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            discarding: false,
            max,
        }
    }

    /// The next frame; `None` at end of stream. A final line without a newline counts.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            let avail = self.inner.fill_buf().await?;
            if avail.is_empty() {
                if self.discarding {
                    self.discarding = false;
                    return Ok(None);
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(Frame::Line(std::mem::take(&mut self.buf))));
            }
            match avail.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    if self.discarding {
                        self.inner.consume(i + 1);
                        self.discarding = false;
                        continue;
                    }
                    if self.buf.len() + i > self.max {
                        self.inner.consume(i + 1);
                        self.buf.clear();
                        return Ok(Some(Frame::TooLarge));
                    }
                    self.buf.extend_from_slice(&avail[..i]);
                    self.inner.consume(i + 1);
                    return Ok(Some(Frame::Line(std::mem::take(&mut self.buf))));
                }
                None => {
                    let n = avail.len();
                    if !self.discarding {
                        if self.buf.len() + n > self.max {
                            // Report now, then skip the rest of this line as it arrives.
                            self.buf = Vec::new();
                            self.discarding = true;
                            self.inner.consume(n);
                            return Ok(Some(Frame::TooLarge));
                        }
                        self.buf.extend_from_slice(avail);
                    }
                    self.inner.consume(n);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = LineReader::new(BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(f) = r.next_line().await.unwrap() {
            out.push(f);
        }
        out
    }

    #[tokio::test]
    async fn line_reader_caps_and_recovers() {
        let got = frames(b"ab\n0123456789abc\ncd\nlast", 8).await;
        assert_eq!(
            got,
            vec![
                Frame::Line(b"ab".to_vec()),
                Frame::TooLarge,
                Frame::Line(b"cd".to_vec()),
                Frame::Line(b"last".to_vec()),
            ]
        );
        // Exactly at the limit is fine; one over is not.
        assert_eq!(
            frames(b"12345678\n123456789\n", 8).await,
            vec![Frame::Line(b"12345678".to_vec()), Frame::TooLarge]
        );
    }
}
