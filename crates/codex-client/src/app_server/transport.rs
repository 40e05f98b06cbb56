//! The `codex app-server` child process and its JSON-RPC transport.
//!
//! Shape (after helix-lsp): three tasks per process —
//! - the **writer** owns the child's stdin and writes one JSON line per [`WriterMsg`]; closing
//!   stdin is a message too, so `shutdown` and answers never race;
//! - the **reader** owns stdout and the `Child`; it routes responses to the pending-request map
//!   (one `oneshot` per id), and everything else to the bounded event channel. A full event
//!   channel blocks the reader (backpressure): events are never dropped silently. When stdout
//!   ends it reaps the child, fails every pending call with the exit status and stderr tail, and
//!   emits [`AppServerEvent::Exited`] last;
//! - stderr is drained into `tracing` with a bounded tail by the crate's shared child plumbing
//!   ([`crate::process::GroupChild`]), which also puts the child in its own process group.
//!
//! [`AppServer::shutdown`] closes stdin, waits briefly and kills the group; dropping the last
//! [`AppServer`] handle kills the group too.
//!
//! Because one reader serves both responses and events, a caller that awaits `call` on the same
//! task that should drain the event receiver can stall once the channel is full; drain events on
//! their own task (or size the channel for the burst).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::notifications::ServerNotification;
use super::requests::{
    ClientInfo, Initialize, InitializeCapabilities, InitializeParams, InitializeResponse, Request,
};
use super::server_requests::{RequestId, Responder, ServerRequest};
use crate::process::{GroupChild, StderrTail};
use crate::{Error, Result};

/// JSON-RPC error code the app-server uses for "overloaded, retry later".
pub const OVERLOADED_ERROR_CODE: i64 = -32001;

const WRITER_QUEUE: usize = 256;

/// Something the app-server told us, in arrival order.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppServerEvent {
    /// A notification (typed, or `Unknown{method, params}`).
    Notification(ServerNotification),
    /// A server->client request. NEVER answered by this crate: answer it with its responder.
    Request(ServerRequest),
    /// A line that is not a JSON-RPC message; logged and skipped, the stream goes on.
    Malformed { line: String, error: String },
    /// The process is gone (crash, kill or shutdown). Always the last event.
    Exited {
        status: Option<i32>,
        stderr_tail: String,
    },
}

/// Messages for the writer task.
#[derive(Debug)]
pub(crate) enum WriterMsg {
    /// One JSON-RPC message (without the trailing newline).
    Line(String),
    /// Close stdin (the graceful-shutdown signal) and stop.
    Close,
}

/// Builds and spawns `codex app-server`, then performs `initialize` + `initialized`.
#[derive(Debug, Clone)]
pub struct AppServerBuilder {
    program: PathBuf,
    codex_home: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    env_clear: bool,
    cwd: Option<PathBuf>,
    client_info: ClientInfo,
    experimental_api: bool,
    request_timeout: Duration,
    initialize_timeout: Duration,
    event_capacity: usize,
    overload_retries: u32,
    overload_backoff: Duration,
}

impl AppServerBuilder {
    /// `binary_path` is the `codex` executable; `codex_home` is passed as `CODEX_HOME`.
    pub fn new(binary_path: impl Into<PathBuf>, codex_home: impl Into<PathBuf>) -> Self {
        AppServerBuilder {
            program: binary_path.into(),
            codex_home: codex_home.into(),
            args: Vec::new(),
            envs: Vec::new(),
            env_clear: false,
            cwd: None,
            client_info: ClientInfo {
                name: "codex-client".into(),
                title: None,
                version: env!("CARGO_PKG_VERSION").into(),
            },
            experimental_api: false,
            request_timeout: Duration::from_secs(30),
            initialize_timeout: Duration::from_secs(30),
            event_capacity: 1024,
            overload_retries: 5,
            overload_backoff: Duration::from_millis(100),
        }
    }

    /// Set an environment variable for the child.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Set several environment variables for the child.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.envs
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Start the child with an empty environment (plus `CODEX_HOME` and what `env` adds).
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }

    /// Extra arguments after `app-server` (e.g. `-c key=value`, `--enable FEATURE`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Working directory of the child process.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// `clientInfo` sent in `initialize` (Codex records it as the thread originator).
    pub fn client_info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.client_info.name = name.into();
        self.client_info.version = version.into();
        self
    }

    /// Opt into experimental methods and fields (`capabilities.experimentalApi`).
    pub fn experimental_api(mut self, on: bool) -> Self {
        self.experimental_api = on;
        self
    }

    /// Default timeout of `call` (a request type may have its own, e.g. `turn/interrupt`).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Timeout of the `initialize` handshake.
    pub fn initialize_timeout(mut self, timeout: Duration) -> Self {
        self.initialize_timeout = timeout;
        self
    }

    /// Capacity of the event channel (minimum 1). A full channel blocks the reader.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// How often an overloaded (-32001) request is retried, and the first backoff (doubling).
    pub fn overload_retry(mut self, retries: u32, first_backoff: Duration) -> Self {
        self.overload_retries = retries;
        self.overload_backoff = first_backoff;
        self
    }

    /// Spawn the process and complete the `initialize` handshake.
    pub async fn spawn(self) -> Result<(AppServer, mpsc::Receiver<AppServerEvent>)> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("app-server").args(&self.args);
        if self.env_clear {
            cmd.env_clear();
        }
        cmd.env("CODEX_HOME", &self.codex_home)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        // Own process group, stderr drained into tracing with a bounded tail.
        let mut child = GroupChild::spawn(cmd, "codex app-server")?;
        let pid = child.pid();
        let (Some(stdin), Some(stdout)) = (child.take_stdin(), child.take_stdout()) else {
            return Err(Error::Closed {
                reason: "app-server started without piped stdio".into(),
            });
        };

        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            stderr_tail: child.stderr_tail(),
        });
        let (writer_tx, writer_rx) = mpsc::channel(WRITER_QUEUE);
        let (events_tx, events_rx) = mpsc::channel(self.event_capacity);
        let (exited_tx, exited_rx) = watch::channel(false);

        tokio::spawn(write_loop(stdin, writer_rx));
        tokio::spawn(
            Reader {
                shared: shared.clone(),
                events: events_tx,
                writer: writer_tx.clone(),
                exited: exited_tx,
                events_closed_logged: false,
            }
            .run(child, stdout),
        );

        let conn = Connection {
            shared,
            writer: writer_tx,
            next_id: AtomicI64::new(1),
            overload_retries: self.overload_retries,
            overload_backoff: self.overload_backoff,
        };
        let group = ProcessGroup { pid, exited_rx };

        let init_params = InitializeParams {
            client_info: self.client_info.clone(),
            capabilities: Some(InitializeCapabilities {
                experimental_api: self.experimental_api,
                ..Default::default()
            }),
        };
        let init = match conn
            .call_typed::<Initialize>(init_params, self.initialize_timeout)
            .await
        {
            Ok(init) => init,
            Err(e) => {
                group.kill();
                return Err(e);
            }
        };
        if let Err(e) = conn.notify("initialized", None).await {
            group.kill();
            return Err(e);
        }

        let server = AppServer {
            inner: Arc::new(Inner {
                conn,
                group,
                init,
                default_timeout: self.request_timeout,
            }),
        };
        Ok((server, events_rx))
    }
}

/// A running `codex app-server`. Cheap to clone; the process dies with the last clone.
#[derive(Debug, Clone)]
pub struct AppServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Connection,
    group: ProcessGroup,
    init: InitializeResponse,
    default_timeout: Duration,
}

impl AppServer {
    /// Call a typed method with its default timeout. Overload (-32001) is retried with backoff
    /// within the same timeout.
    pub async fn call<R: Request>(&self, params: R::Params) -> Result<R::Response> {
        let timeout = R::DEFAULT_TIMEOUT.unwrap_or(self.inner.default_timeout);
        self.inner.conn.call_typed::<R>(params, timeout).await
    }

    /// Call a typed method with an explicit timeout.
    pub async fn call_timeout<R: Request>(
        &self,
        params: R::Params,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.inner.conn.call_typed::<R>(params, timeout).await
    }

    /// Call any method with raw JSON params (for methods this crate does not type).
    pub async fn call_raw(&self, method: &str, params: Value, timeout: Duration) -> Result<Value> {
        self.inner.conn.call_value(method, params, timeout).await
    }

    /// Send a client notification (no answer expected).
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<()> {
        self.inner.conn.notify(method, params).await
    }

    /// What the server answered to `initialize`.
    pub fn initialize_response(&self) -> &InitializeResponse {
        &self.inner.init
    }

    /// Process id (= process group id) of the app-server, if it was known at spawn.
    pub fn pid(&self) -> Option<u32> {
        self.inner.group.pid
    }

    /// Whether the process has exited (and `Exited` has been or is being delivered).
    pub fn has_exited(&self) -> bool {
        *self.inner.group.exited_rx.borrow()
    }

    /// Graceful shutdown: close stdin, wait up to 2 s for the process to exit, then kill the
    /// process group (which also reaps anything it left behind). Idempotent.
    pub async fn shutdown(&self) -> Result<()> {
        // The writer may already be gone (process dead): that is fine.
        let _ = self.inner.conn.writer.send(WriterMsg::Close).await;
        let mut exited = self.inner.group.exited_rx.clone();
        let graceful = tokio::time::timeout(Duration::from_secs(2), exited.wait_for(|e| *e))
            .await
            .is_ok();
        self.inner.group.kill();
        if !graceful {
            tracing::debug!(pid = ?self.inner.group.pid, "app-server ignored stdin close; killed its process group");
            let _ = tokio::time::timeout(Duration::from_secs(5), exited.wait_for(|e| *e)).await;
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.group.kill();
    }
}

#[derive(Debug)]
struct ProcessGroup {
    pid: Option<u32>,
    exited_rx: watch::Receiver<bool>,
}

impl ProcessGroup {
    /// SIGKILL the whole group. Errors (already gone) are ignored on purpose.
    fn kill(&self) {
        let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The outcome the reader hands to a waiting call.
type RpcOutcome = std::result::Result<Value, RpcError>;

#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    stderr_tail: StderrTail,
}

#[derive(Debug, Default)]
struct Pending {
    waiting: HashMap<i64, oneshot::Sender<RpcOutcome>>,
    /// Set once the process is gone; new calls fail at once with this reason.
    closed: Option<String>,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stderr_tail(&self) -> String {
        self.stderr_tail.snapshot().trim_end().to_owned()
    }
}

#[derive(Debug)]
struct Connection {
    shared: Arc<Shared>,
    writer: mpsc::Sender<WriterMsg>,
    next_id: AtomicI64,
    overload_retries: u32,
    overload_backoff: Duration,
}

impl Connection {
    async fn call_typed<R: Request>(
        &self,
        params: R::Params,
        timeout: Duration,
    ) -> Result<R::Response> {
        let params = serde_json::to_value(&params).map_err(|e| {
            Error::InvalidInvocation(format!("params of {} do not serialise: {e}", R::METHOD))
        })?;
        let result = self.call_value(R::METHOD, params, timeout).await?;
        serde_json::from_value(result.clone()).map_err(|source| Error::Decode {
            line: format!("result of {}: {result}", R::METHOD),
            source,
        })
    }

    /// One call with overload retries, all within `timeout`.
    async fn call_value(&self, method: &str, params: Value, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut backoff = self.overload_backoff;
        let mut attempt = 0;
        loop {
            match self
                .call_once(method, params.clone(), deadline, timeout)
                .await
            {
                Err(Error::Rpc { code, .. })
                    if code == OVERLOADED_ERROR_CODE
                        && attempt < self.overload_retries
                        && Instant::now() + backoff < deadline =>
                {
                    tracing::debug!(method, attempt, ?backoff, "app-server overloaded; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once(
        &self,
        method: &str,
        params: Value,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.shared.pending();
            if let Some(reason) = &pending.closed {
                return Err(Error::Closed {
                    reason: format!("cannot call {method}: {reason}"),
                });
            }
            pending.waiting.insert(id, tx);
        }
        let line = json!({"id": id, "method": method, "params": params}).to_string();
        let outcome = tokio::time::timeout_at(deadline, async {
            if self.writer.send(WriterMsg::Line(line)).await.is_err() {
                return None;
            }
            rx.await.ok()
        })
        .await;
        match outcome {
            Ok(Some(Ok(value))) => Ok(value),
            Ok(Some(Err(e))) => Err(Error::Rpc {
                method: method.to_owned(),
                code: e.code,
                message: e.message,
                data: e.data.map(Box::new),
            }),
            Ok(None) => {
                let mut pending = self.shared.pending();
                pending.waiting.remove(&id);
                Err(Error::Closed {
                    reason: format!(
                        "{method}: {}",
                        pending
                            .closed
                            .clone()
                            .unwrap_or_else(|| "app-server stdin is closed".into())
                    ),
                })
            }
            Err(_) => {
                self.shared.pending().waiting.remove(&id);
                Err(Error::Timeout {
                    method: method.to_owned(),
                    after: timeout,
                })
            }
        }
    }

    async fn notify(&self, method: &str, params: Option<Value>) -> Result<()> {
        let msg = match params {
            Some(p) => json!({"method": method, "params": p}),
            None => json!({"method": method}),
        };
        self.writer
            .send(WriterMsg::Line(msg.to_string()))
            .await
            .map_err(|_| Error::Closed {
                reason: format!("cannot send {method}: app-server stdin is closed"),
            })
    }
}

async fn write_loop(mut stdin: ChildStdin, mut rx: mpsc::Receiver<WriterMsg>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            WriterMsg::Line(mut line) => {
                tracing::trace!(target: "codex_client::app_server::wire", "-> {line}");
                line.push('\n');
                let written = async {
                    stdin.write_all(line.as_bytes()).await?;
                    stdin.flush().await
                }
                .await;
                if let Err(e) = written {
                    tracing::debug!(error = %e, "app-server stdin write failed; writer stops");
                    break;
                }
            }
            WriterMsg::Close => break,
        }
    }
    // Dropping stdin closes the pipe: the app-server's signal to exit.
}

struct Reader {
    shared: Arc<Shared>,
    events: mpsc::Sender<AppServerEvent>,
    writer: mpsc::Sender<WriterMsg>,
    exited: watch::Sender<bool>,
    events_closed_logged: bool,
}

impl Reader {
    async fn run(mut self, mut child: GroupChild, stdout: ChildStdout) {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']);
                    if !line.trim().is_empty() {
                        self.handle_line(line).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "app-server stdout read failed");
                    break;
                }
            }
        }

        // stdout is closed: the process is exiting (or closed stdout and lingers: kill it).
        // `wait` also lets stderr reach EOF (bounded) so the tail is complete.
        let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            Ok(Ok(status)) => status.code(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "waiting for app-server failed");
                None
            }
            Err(_) => {
                tracing::warn!("app-server closed stdout but did not exit; killing its group");
                child.kill_group().await.ok().and_then(|s| s.code())
            }
        };
        let stderr_tail = self.shared.stderr_tail();
        let reason =
            format!("app-server exited with status {status:?}; stderr tail:\n{stderr_tail}");
        let waiting = {
            let mut pending = self.shared.pending();
            pending.closed = Some(reason.clone());
            std::mem::take(&mut pending.waiting)
        };
        // Dropping the senders wakes every waiting call with `Closed { reason }`.
        drop(waiting);
        let _ = self.exited.send(true);
        tracing::debug!(?status, "app-server exited");
        self.emit(AppServerEvent::Exited {
            status,
            stderr_tail,
        })
        .await;
    }

    async fn handle_line(&mut self, line: &str) {
        tracing::trace!(target: "codex_client::app_server::wire", "<- {line}");
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return self.malformed(line, e.to_string()).await,
        };
        let Value::Object(mut obj) = value else {
            return self.malformed(line, "not a JSON object".into()).await;
        };
        let method = obj.get("method").and_then(Value::as_str).map(str::to_owned);
        let params = obj.remove("params").unwrap_or(Value::Null);
        match (obj.remove("id"), method) {
            (Some(id), Some(method)) => {
                let Ok(id) = serde_json::from_value::<RequestId>(id) else {
                    return self
                        .malformed(line, "request id is neither integer nor string".into())
                        .await;
                };
                let responder = Responder::new(
                    id.clone(),
                    method.clone(),
                    self.writer.clone(),
                    self.exited.subscribe(),
                );
                let request = ServerRequest::new(id, method, params, responder.clone());
                if !self.emit(AppServerEvent::Request(request)).await {
                    // Nobody can ever answer it: refuse explicitly rather than leave the turn
                    // hanging. This is a refusal, never an acceptance.
                    let _ = responder
                        .respond_error(-32603, "client is not listening for server requests")
                        .await;
                }
            }
            (None, Some(method)) => {
                let n = ServerNotification::decode(&method, params);
                self.emit(AppServerEvent::Notification(n)).await;
            }
            (Some(id), None) => self.handle_response(line, id, obj),
            (None, None) => {
                self.malformed(
                    line,
                    "neither a request, a response nor a notification".into(),
                )
                .await
            }
        }
    }

    fn handle_response(&self, line: &str, id: Value, mut obj: serde_json::Map<String, Value>) {
        let Some(id) = id.as_i64() else {
            tracing::warn!(line, "app-server response with an id we never use; ignored");
            return;
        };
        let Some(tx) = self.shared.pending().waiting.remove(&id) else {
            tracing::warn!(
                id,
                "app-server response for an unknown or timed-out request; ignored"
            );
            return;
        };
        let outcome = match obj.remove("error") {
            Some(err) => Err(RpcError {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_owned(),
                data: err.get("data").cloned(),
            }),
            None => Ok(obj.remove("result").unwrap_or(Value::Null)),
        };
        // The caller may have timed out in between: nothing to do then.
        let _ = tx.send(outcome);
    }

    async fn malformed(&mut self, line: &str, error: String) {
        tracing::warn!(line, %error, "undecodable line from app-server; skipped");
        self.emit(AppServerEvent::Malformed {
            line: line.to_owned(),
            error,
        })
        .await;
    }

    /// Deliver an event, waiting for room (backpressure). Returns false when nobody listens.
    async fn emit(&mut self, event: AppServerEvent) -> bool {
        if self.events.send(event).await.is_ok() {
            return true;
        }
        if !self.events_closed_logged {
            tracing::debug!("app-server event receiver dropped; events are discarded from now on");
            self.events_closed_logged = true;
        }
        false
    }
}
