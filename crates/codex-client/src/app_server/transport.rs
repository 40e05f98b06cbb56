//! The JSON-RPC machinery shared by every app-server transport, and the stdio child transport.
//!
//! Shape (after helix-lsp), per **link** (one connected message pipe: a child's stdio, a Unix
//! socket, a WebSocket):
//! - the **writer** task owns the sending half and writes one message per [`WriterMsg`]; closing
//!   is a message too, so `shutdown` and answers never race;
//! - the **reader** task owns the receiving half; it routes responses to the pending-request map
//!   (one `oneshot` per id), and everything else to the bounded event channel. A full event
//!   channel blocks the reader (backpressure): events are never dropped silently.
//!
//! Above the links sits one [`Core`] per client: the pending map, the id counter, the current
//! link (a `watch` of [`LinkState`]) and the threads this client has loaded. A call waits (within
//! its timeout) for a live link, registers its id with that link's generation and sends; when a
//! link ends, every call still waiting on it fails with the reason. The transports differ only in
//! who owns the links:
//! - **stdio** ([`AppServerBuilder`]): one link over the child's stdin/stdout, for the life of
//!   the child. When stdout ends the child is reaped, every pending call fails with the exit
//!   status and stderr tail, and [`AppServerEvent::Exited`] is the last event. stderr is drained
//!   into `tracing` by [`crate::process::GroupChild`], which also puts the child in its own
//!   process group (killed on `shutdown` and when the last [`AppServer`] handle is dropped).
//! - **remote** ([`super::remote`]): a supervisor task opens links to a Unix socket, a WebSocket
//!   or a command's stdio, and reopens them with backoff after a drop (see there).
//!
//! Because one reader serves both responses and events, a caller that awaits `call` on the same
//! task that should drain the event receiver can stall once the channel is full; drain events on
//! their own task (or size the channel for the burst).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::link::{MessageReader, MessageWriter, Read};
use super::notifications::ServerNotification;
use super::requests::{
    ClientInfo, Initialize, InitializeCapabilities, InitializeParams, InitializeResponse, Request,
};
use super::server_requests::{RequestId, Responder, ServerRequest};
use crate::process::GroupChild;
use crate::{Error, Result};

/// JSON-RPC error code the app-server uses for "overloaded, retry later".
pub const OVERLOADED_ERROR_CODE: i64 = -32001;

const WRITER_QUEUE: usize = 256;

/// Something the app-server (or the connection to it) told us, in arrival order.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppServerEvent {
    /// A notification (typed, or `Unknown{method, params}`).
    Notification(ServerNotification),
    /// A server->client request. NEVER answered by this crate: answer it with its responder.
    Request(ServerRequest),
    /// A line that is not a JSON-RPC message; logged and skipped, the stream goes on.
    Malformed { line: String, error: String },
    /// Remote transports only: the link of `generation` dropped. Calls waiting on it failed with
    /// `reason`; answers to its server requests can no longer be delivered; notifications sent
    /// while disconnected are lost (re-read a thread with `thread/read` after `Reconnected`). The
    /// client is reconnecting unless its policy says otherwise (then `Closed` follows).
    Disconnected { generation: u64, reason: String },
    /// Remote transports only: one reconnection attempt failed; another follows after `retry_in`.
    ReconnectFailed {
        attempt: u32,
        error: String,
        retry_in: Duration,
    },
    /// Remote transports only: a new link (`generation`) is up, initialised, and every thread
    /// this client had loaded was re-subscribed with `thread/resume` — `resumed` lists those
    /// that worked, `not_resumed` those that failed (thread id, error), e.g. an ephemeral thread
    /// after the server restarted.
    Reconnected {
        generation: u64,
        resumed: Vec<String>,
        not_resumed: Vec<(String, String)>,
    },
    /// The stdio process is gone (crash, kill or shutdown). Always the last event of a stdio
    /// client.
    Exited {
        status: Option<i32>,
        stderr_tail: String,
    },
    /// Remote transports only: the client is closed for good (shutdown, the last handle dropped,
    /// or reconnection given up). Always the last event of a remote client.
    Closed { reason: String },
}

/// Messages for a link's writer task.
#[derive(Debug)]
pub(crate) enum WriterMsg {
    /// One JSON-RPC message (without framing).
    Line(String),
    /// Close the link gracefully and stop.
    Close,
}

/// Client-side settings every transport shares.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    pub(crate) client_info: ClientInfo,
    pub(crate) experimental_api: bool,
    pub(crate) request_timeout: Duration,
    pub(crate) initialize_timeout: Duration,
    pub(crate) event_capacity: usize,
    pub(crate) overload_retries: u32,
    pub(crate) overload_backoff: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
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
}

/// The builder setters of [`ClientSettings`], shared by the stdio and remote builders.
macro_rules! client_setters {
    () => {
        /// `clientInfo` sent in `initialize` (Codex records it as the thread originator).
        pub fn client_info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
            self.settings.client_info.name = name.into();
            self.settings.client_info.version = version.into();
            self
        }

        /// Opt into experimental methods and fields (`capabilities.experimentalApi`).
        pub fn experimental_api(mut self, on: bool) -> Self {
            self.settings.experimental_api = on;
            self
        }

        /// Default timeout of `call` (a request type may have its own, e.g. `turn/interrupt`).
        pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.settings.request_timeout = timeout;
            self
        }

        /// Timeout of the `initialize` handshake.
        pub fn initialize_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.settings.initialize_timeout = timeout;
            self
        }

        /// Capacity of the event channel (minimum 1). A full channel blocks the reader.
        pub fn event_capacity(mut self, capacity: usize) -> Self {
            self.settings.event_capacity = capacity.max(1);
            self
        }

        /// How often an overloaded (-32001) request is retried, and the first backoff (doubling).
        pub fn overload_retry(mut self, retries: u32, first_backoff: std::time::Duration) -> Self {
            self.settings.overload_retries = retries;
            self.settings.overload_backoff = first_backoff;
            self
        }
    };
}
pub(crate) use client_setters;

/// Builds and spawns `codex app-server` on stdio, then performs `initialize` + `initialized`.
#[derive(Debug, Clone)]
pub struct AppServerBuilder {
    program: PathBuf,
    codex_home: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    env_clear: bool,
    cwd: Option<PathBuf>,
    settings: ClientSettings,
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
            settings: ClientSettings::default(),
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

    client_setters!();

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

        let core = Core::new(&self.settings);
        let (events_tx, events_rx) = mpsc::channel(self.settings.event_capacity);
        let link = start_link(
            &core,
            1,
            MessageReader::lines(stdout),
            MessageWriter::lines(stdin),
            events_tx.clone(),
            None,
        );
        // Nobody else holds this client yet: the link can be published before the handshake.
        core.publish(LinkState::Up(link.handle.clone()));
        tokio::spawn(stdio_supervise(core.clone(), link, child, events_tx));

        let group = ProcessGroup { pid };
        let init = match core
            .handshake(&core.current_link_or_closed()?, &self.settings)
            .await
        {
            Ok(init) => init,
            Err(e) => {
                group.kill();
                return Err(e);
            }
        };
        let server = AppServer::from_parts(
            core,
            init,
            self.settings.request_timeout,
            Control::Stdio(group),
        );
        Ok((server, events_rx))
    }
}

/// Owns the stdio child: when stdout ends, reap it and close the client with its exit status.
async fn stdio_supervise(
    core: Arc<Core>,
    link: LinkRun,
    mut child: GroupChild,
    events: mpsc::Sender<AppServerEvent>,
) {
    let LinkRun {
        handle,
        gone,
        reader,
    } = link;
    let _ = reader.await;
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
    let stderr_tail = child.stderr_tail().snapshot().trim_end().to_owned();
    let reason = format!("app-server exited with status {status:?}; stderr tail:\n{stderr_tail}");
    core.close(&reason);
    let _ = gone.send(true);
    drop(handle);
    tracing::debug!(?status, "app-server exited");
    emit(
        &events,
        AppServerEvent::Exited {
            status,
            stderr_tail,
        },
    )
    .await;
}

/// Who owns the process/links behind an [`AppServer`].
#[derive(Debug)]
pub(crate) enum Control {
    Stdio(ProcessGroup),
    Remote {
        /// Cancelled on shutdown and when the last handle drops: the supervisor closes the
        /// link, kills any command child and emits `Closed`.
        stop: CancellationToken,
        /// Becomes true when the supervisor has finished.
        done: watch::Receiver<bool>,
        /// Human-readable endpoint (never contains a token).
        endpoint: String,
    },
}

/// A connected app-server client, over any transport. Cheap to clone; a stdio process dies (and
/// a remote client disconnects) with the last clone.
#[derive(Debug, Clone)]
pub struct AppServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    core: Arc<Core>,
    control: Control,
    init: InitializeResponse,
    default_timeout: Duration,
}

impl AppServer {
    pub(crate) fn from_parts(
        core: Arc<Core>,
        init: InitializeResponse,
        default_timeout: Duration,
        control: Control,
    ) -> Self {
        AppServer {
            inner: Arc::new(Inner {
                core,
                control,
                init,
                default_timeout,
            }),
        }
    }

    /// Call a typed method with its default timeout.
    pub async fn call<R: Request>(&self, params: R::Params) -> Result<R::Response> {
        let timeout = R::DEFAULT_TIMEOUT.unwrap_or(self.inner.default_timeout);
        self.inner.core.call_typed::<R>(params, timeout).await
    }

    /// Call a typed method with an explicit timeout.
    pub async fn call_timeout<R: Request>(
        &self,
        params: R::Params,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.inner.core.call_typed::<R>(params, timeout).await
    }

    /// Call any method with raw JSON params (for methods this crate does not type).
    pub async fn call_raw(&self, method: &str, params: Value, timeout: Duration) -> Result<Value> {
        self.inner.core.call_value(method, params, timeout).await
    }

    /// Send a client notification (no answer expected).
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<()> {
        let deadline = Instant::now() + self.inner.default_timeout;
        let link = self.inner.core.wait_link(method, deadline).await?;
        Core::notify_on(&link, method, params).await
    }

    /// What the server answered to the first `initialize`.
    pub fn initialize_response(&self) -> &InitializeResponse {
        &self.inner.init
    }

    /// Process id (= process group id) of a stdio app-server, if it was known at spawn. `None`
    /// for remote transports.
    pub fn pid(&self) -> Option<u32> {
        match &self.inner.control {
            Control::Stdio(group) => group.pid,
            Control::Remote { .. } => None,
        }
    }

    /// The endpoint a remote client talks to (`unix:///…`, `ws://…`, `command …`); `None` for
    /// stdio.
    pub fn endpoint(&self) -> Option<&str> {
        match &self.inner.control {
            Control::Stdio(_) => None,
            Control::Remote { endpoint, .. } => Some(endpoint),
        }
    }

    /// Whether the client is closed for good (the stdio process exited; a remote client was
    /// shut down or gave up reconnecting). A remote client that is reconnecting is NOT exited.
    pub fn has_exited(&self) -> bool {
        matches!(*self.inner.core.link.borrow(), LinkState::Closed(_))
    }

    /// Whether a link is up right now.
    pub fn is_connected(&self) -> bool {
        matches!(*self.inner.core.link.borrow(), LinkState::Up(_))
    }

    /// Generation of the current (or last) link: 1 for the first connection, +1 per reconnect.
    pub fn generation(&self) -> u64 {
        match &*self.inner.core.link.borrow() {
            LinkState::Up(h) => h.generation,
            _ => self.inner.core.last_generation(),
        }
    }

    /// Threads this client has loaded (`thread/start`, `thread/resume`, `thread/fork`) and not
    /// unsubscribed, archived or seen closed: what a reconnect re-subscribes.
    pub fn loaded_threads(&self) -> Vec<String> {
        self.inner.core.threads().keys().cloned().collect()
    }

    /// Graceful shutdown. stdio: close stdin, wait up to 2 s for the process to exit, then kill
    /// the process group (which also reaps anything it left behind). Remote: close the link
    /// (a WebSocket Close frame; a command child is killed) and stop reconnecting. Idempotent.
    pub async fn shutdown(&self) -> Result<()> {
        match &self.inner.control {
            Control::Stdio(group) => {
                if let LinkState::Up(link) = &*self.inner.core.link.borrow() {
                    // The writer may already be gone (process dead): that is fine.
                    let _ = link.writer.try_send(WriterMsg::Close);
                }
                let mut state = self.inner.core.link.subscribe();
                let closed = |s: &LinkState| matches!(s, LinkState::Closed(_));
                let graceful = tokio::time::timeout(Duration::from_secs(2), state.wait_for(closed))
                    .await
                    .is_ok();
                group.kill();
                if !graceful {
                    tracing::debug!(pid = ?group.pid, "app-server ignored stdin close; killed its process group");
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), state.wait_for(closed)).await;
                }
            }
            Control::Remote { stop, done, .. } => {
                stop.cancel();
                let mut done = done.clone();
                let _ = tokio::time::timeout(Duration::from_secs(10), done.wait_for(|d| *d)).await;
            }
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        match &self.control {
            Control::Stdio(group) => group.kill(),
            Control::Remote { stop, .. } => stop.cancel(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pid: Option<u32>,
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

// ---------------------------------------------------------------------------------------------
// The client core

/// The state of a client's link.
#[derive(Debug, Clone)]
pub(crate) enum LinkState {
    /// Not connected right now (first connect, or reconnecting); calls wait.
    Connecting,
    /// A link is up and initialised.
    Up(LinkHandle),
    /// Closed for good; calls fail at once with this reason.
    Closed(String),
}

/// A handle on one live link.
#[derive(Debug, Clone)]
pub(crate) struct LinkHandle {
    pub(crate) generation: u64,
    pub(crate) writer: mpsc::Sender<WriterMsg>,
}

/// A started link: its handle, the switch that tells its responders it is gone, and the reader
/// task (which returns why the link ended).
#[derive(Debug)]
pub(crate) struct LinkRun {
    pub(crate) handle: LinkHandle,
    pub(crate) gone: watch::Sender<bool>,
    pub(crate) reader: JoinHandle<String>,
}

#[derive(Debug)]
enum CallOutcome {
    Ok(Value),
    Rpc {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// The link ended before an answer came.
    Lost(String),
}

#[derive(Debug)]
struct PendingCall {
    generation: u64,
    tx: oneshot::Sender<CallOutcome>,
}

/// Keys of `thread/start` / `thread/resume` / `thread/fork` params that `thread/resume` accepts
/// too: a re-subscription after a reconnect re-applies them, so a thread comes back with the
/// cwd, policy and model it was opened with.
const RESUME_KEYS: &[&str] = &[
    "model",
    "modelProvider",
    "cwd",
    "approvalPolicy",
    "sandbox",
    "config",
    "developerInstructions",
];

/// Request machinery shared by every link of one client.
#[derive(Debug)]
pub(crate) struct Core {
    pending: Mutex<HashMap<i64, PendingCall>>,
    pub(crate) link: watch::Sender<LinkState>,
    /// Loaded thread id -> params to re-subscribe it with.
    threads: Mutex<BTreeMap<String, Map<String, Value>>>,
    next_id: AtomicI64,
    last_generation: std::sync::atomic::AtomicU64,
    overload_retries: u32,
    overload_backoff: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    pub(crate) fn new(settings: &ClientSettings) -> Arc<Self> {
        Arc::new(Core {
            pending: Mutex::default(),
            link: watch::Sender::new(LinkState::Connecting),
            threads: Mutex::default(),
            next_id: AtomicI64::new(1),
            last_generation: std::sync::atomic::AtomicU64::new(0),
            overload_retries: settings.overload_retries,
            overload_backoff: settings.overload_backoff,
        })
    }

    pub(crate) fn publish(&self, state: LinkState) {
        if let LinkState::Up(h) = &state {
            self.last_generation.store(h.generation, Ordering::SeqCst);
        }
        self.link.send_replace(state);
    }

    fn last_generation(&self) -> u64 {
        self.last_generation.load(Ordering::SeqCst)
    }

    fn threads(&self) -> MutexGuard<'_, BTreeMap<String, Map<String, Value>>> {
        lock(&self.threads)
    }

    pub(crate) fn loaded_threads(&self) -> Vec<(String, Map<String, Value>)> {
        self.threads()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn current_link_or_closed(&self) -> Result<LinkHandle> {
        match &*self.link.borrow() {
            LinkState::Up(h) => Ok(h.clone()),
            LinkState::Closed(reason) => Err(Error::Closed {
                reason: reason.clone(),
            }),
            LinkState::Connecting => Err(Error::Closed {
                reason: "not connected".into(),
            }),
        }
    }

    /// Fail every call waiting on `generation` with `reason`.
    pub(crate) fn fail_generation(&self, generation: u64, reason: &str) {
        let lost: Vec<PendingCall> = {
            let mut pending = lock(&self.pending);
            let ids: Vec<i64> = pending
                .iter()
                .filter(|(_, p)| p.generation == generation)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| pending.remove(&id))
                .collect()
        };
        for call in lost {
            let _ = call.tx.send(CallOutcome::Lost(reason.to_owned()));
        }
    }

    /// Close for good: new calls fail at once, waiting ones fail with `reason`.
    pub(crate) fn close(&self, reason: &str) {
        self.link.send_replace(LinkState::Closed(reason.to_owned()));
        let all: Vec<PendingCall> = lock(&self.pending).drain().map(|(_, p)| p).collect();
        for call in all {
            let _ = call.tx.send(CallOutcome::Lost(reason.to_owned()));
        }
    }

    /// Wait (until `deadline`) for a live link.
    async fn wait_link(&self, method: &str, deadline: Instant) -> Result<LinkHandle> {
        let mut rx = self.link.subscribe();
        let ready = tokio::time::timeout_at(
            deadline,
            rx.wait_for(|s| !matches!(s, LinkState::Connecting)),
        )
        .await;
        let state = match ready {
            Ok(Ok(state)) => state.clone(),
            Ok(Err(_)) => LinkState::Closed("client dropped".into()),
            Err(_) => {
                return Err(Error::Closed {
                    reason: format!("cannot call {method}: not connected (reconnecting)"),
                });
            }
        };
        match state {
            LinkState::Up(h) => Ok(h),
            LinkState::Closed(reason) => Err(Error::Closed {
                reason: format!("cannot call {method}: {reason}"),
            }),
            LinkState::Connecting => Err(Error::Closed {
                reason: format!("cannot call {method}: not connected"),
            }),
        }
    }

    pub(crate) async fn call_typed<R: Request>(
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

    /// One call with overload retries, all within `timeout`, on whatever link is live.
    pub(crate) async fn call_value(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut backoff = self.overload_backoff;
        let mut attempt = 0;
        loop {
            let link = self.wait_link(method, deadline).await?;
            match self
                .call_on(&link, method, params.clone(), deadline, timeout)
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
                Ok(result) => {
                    self.track(method, &params, &result);
                    return Ok(result);
                }
                other => return other,
            }
        }
    }

    /// One request on one specific link (used directly by handshakes, before the link is
    /// published).
    pub(crate) async fn call_on(
        &self,
        link: &LinkHandle,
        method: &str,
        params: Value,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(
            id,
            PendingCall {
                generation: link.generation,
                tx,
            },
        );
        let line = json!({"id": id, "method": method, "params": params}).to_string();
        let outcome = tokio::time::timeout_at(deadline, async {
            if link.writer.send(WriterMsg::Line(line)).await.is_err() {
                return None;
            }
            rx.await.ok()
        })
        .await;
        match outcome {
            Ok(Some(CallOutcome::Ok(value))) => Ok(value),
            Ok(Some(CallOutcome::Rpc {
                code,
                message,
                data,
            })) => Err(Error::Rpc {
                method: method.to_owned(),
                code,
                message,
                data: data.map(Box::new),
            }),
            Ok(Some(CallOutcome::Lost(reason))) => Err(Error::Closed {
                reason: format!("{method}: {reason}"),
            }),
            Ok(None) => {
                // The writer is gone: the link is ending; its owner will say why.
                lock(&self.pending).remove(&id);
                let reason = match &*self.link.borrow() {
                    LinkState::Closed(r) => r.clone(),
                    _ => "the connection is closed".into(),
                };
                Err(Error::Closed {
                    reason: format!("{method}: {reason}"),
                })
            }
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(Error::Timeout {
                    method: method.to_owned(),
                    after: timeout,
                })
            }
        }
    }

    pub(crate) async fn notify_on(
        link: &LinkHandle,
        method: &str,
        params: Option<Value>,
    ) -> Result<()> {
        let msg = match params {
            Some(p) => json!({"method": method, "params": p}),
            None => json!({"method": method}),
        };
        link.writer
            .send(WriterMsg::Line(msg.to_string()))
            .await
            .map_err(|_| Error::Closed {
                reason: format!("cannot send {method}: the connection is closed"),
            })
    }

    /// `initialize` + `initialized` on `link`.
    pub(crate) async fn handshake(
        &self,
        link: &LinkHandle,
        settings: &ClientSettings,
    ) -> Result<InitializeResponse> {
        let params = InitializeParams {
            client_info: settings.client_info.clone(),
            capabilities: Some(InitializeCapabilities {
                experimental_api: settings.experimental_api,
                ..Default::default()
            }),
        };
        let params = serde_json::to_value(&params).map_err(|e| {
            Error::InvalidInvocation(format!("initialize params do not serialise: {e}"))
        })?;
        let deadline = Instant::now() + settings.initialize_timeout;
        let result = self
            .call_on(
                link,
                Initialize::METHOD,
                params,
                deadline,
                settings.initialize_timeout,
            )
            .await?;
        let init: InitializeResponse =
            serde_json::from_value(result.clone()).map_err(|source| Error::Decode {
                line: format!("result of initialize: {result}"),
                source,
            })?;
        Self::notify_on(link, "initialized", None).await?;
        Ok(init)
    }

    /// Keep the set of loaded threads up to date from successful calls.
    fn track(&self, method: &str, params: &Value, result: &Value) {
        match method {
            "thread/start" | "thread/resume" | "thread/fork" => {
                let Some(id) = result.pointer("/thread/id").and_then(Value::as_str) else {
                    return;
                };
                let overrides: Map<String, Value> = RESUME_KEYS
                    .iter()
                    .filter_map(|k| {
                        params
                            .get(*k)
                            .filter(|v| !v.is_null())
                            .map(|v| ((*k).to_owned(), v.clone()))
                    })
                    .collect();
                self.threads().insert(id.to_owned(), overrides);
            }
            "thread/unsubscribe" | "thread/archive" | "thread/delete" => {
                if let Some(id) = params.get("threadId").and_then(Value::as_str) {
                    self.threads().remove(id);
                }
            }
            _ => {}
        }
    }

    fn forget_thread(&self, id: &str) {
        self.threads().remove(id);
    }

    /// Route a response to its waiting call.
    fn handle_response(&self, line: &str, id: Value, mut obj: Map<String, Value>) {
        let Some(id) = id.as_i64() else {
            tracing::warn!(line, "app-server response with an id we never use; ignored");
            return;
        };
        let Some(call) = lock(&self.pending).remove(&id) else {
            tracing::warn!(
                id,
                "app-server response for an unknown or timed-out request; ignored"
            );
            return;
        };
        let outcome = match obj.remove("error") {
            Some(err) => CallOutcome::Rpc {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_owned(),
                data: err.get("data").cloned(),
            },
            None => CallOutcome::Ok(obj.remove("result").unwrap_or(Value::Null)),
        };
        // The caller may have timed out in between: nothing to do then.
        let _ = call.tx.send(outcome);
    }
}

// ---------------------------------------------------------------------------------------------
// Links

/// Start the writer and reader tasks of one link. `keepalive` sends a WebSocket ping at that
/// interval, and the reader gives the link up when nothing (not even a pong) arrived for three
/// intervals: a peer that vanished without closing (host down, cable pulled) is otherwise only
/// noticed when TCP gives up, many minutes later.
pub(crate) fn start_link(
    core: &Arc<Core>,
    generation: u64,
    reader: MessageReader,
    writer: MessageWriter,
    events: mpsc::Sender<AppServerEvent>,
    keepalive: Option<Duration>,
) -> LinkRun {
    let (writer_tx, writer_rx) = mpsc::channel(WRITER_QUEUE);
    let (gone_tx, gone_rx) = watch::channel(false);
    tokio::spawn(write_loop(writer, writer_rx, keepalive));
    let reader = tokio::spawn(
        LinkReader {
            core: core.clone(),
            events,
            writer: writer_tx.clone(),
            gone: gone_rx,
            events_closed_logged: false,
        }
        .run(reader, keepalive.map(|k| k * 3)),
    );
    LinkRun {
        handle: LinkHandle {
            generation,
            writer: writer_tx,
        },
        gone: gone_tx,
        reader,
    }
}

async fn write_loop(
    mut writer: MessageWriter,
    mut rx: mpsc::Receiver<WriterMsg>,
    keepalive: Option<Duration>,
) {
    let mut ticker = keepalive.map(|k| {
        let mut t = tokio::time::interval_at(Instant::now() + k, k);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let msg = match &mut ticker {
            Some(t) => tokio::select! {
                msg = rx.recv() => msg,
                _ = t.tick() => {
                    if let Err(e) = writer.ping().await {
                        tracing::debug!(error = %e, "app-server keep-alive ping failed; writer stops");
                        break;
                    }
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match msg {
            Some(WriterMsg::Line(line)) => {
                tracing::trace!(target: "codex_client::app_server::wire", "-> {line}");
                if let Err(e) = writer.send(line).await {
                    tracing::debug!(error = %e, "app-server write failed; writer stops");
                    break;
                }
            }
            Some(WriterMsg::Close) | None => {
                writer.close().await;
                break;
            }
        }
    }
}

struct LinkReader {
    core: Arc<Core>,
    events: mpsc::Sender<AppServerEvent>,
    writer: mpsc::Sender<WriterMsg>,
    gone: watch::Receiver<bool>,
    events_closed_logged: bool,
}

impl LinkReader {
    /// Read until the link ends; returns why.
    async fn run(mut self, mut reader: MessageReader, idle_limit: Option<Duration>) -> String {
        loop {
            let read = match idle_limit {
                Some(limit) => match tokio::time::timeout(limit, reader.next()).await {
                    Ok(read) => read,
                    Err(_) => return format!("no data (not even a pong) for {limit:?}"),
                },
                None => reader.next().await,
            };
            match read {
                Read::Message(line) => self.handle_line(&line).await,
                Read::Alive => {}
                Read::Closed(reason) => return reason,
            }
        }
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
                    self.gone.clone(),
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
                if let ServerNotification::ThreadClosed(c) = &n {
                    self.core.forget_thread(&c.thread_id);
                }
                self.emit(AppServerEvent::Notification(n)).await;
            }
            (Some(id), None) => self.core.handle_response(line, id, obj),
            (None, None) => {
                self.malformed(
                    line,
                    "neither a request, a response nor a notification".into(),
                )
                .await
            }
        }
    }

    async fn malformed(&mut self, line: &str, error: String) {
        tracing::warn!(line, %error, "undecodable message from app-server; skipped");
        self.emit(AppServerEvent::Malformed {
            line: line.to_owned(),
            error,
        })
        .await;
    }

    /// Deliver an event, waiting for room (backpressure). Returns false when nobody listens.
    async fn emit(&mut self, event: AppServerEvent) -> bool {
        if emit(&self.events, event).await {
            return true;
        }
        if !self.events_closed_logged {
            tracing::debug!("app-server event receiver dropped; events are discarded from now on");
            self.events_closed_logged = true;
        }
        false
    }
}

/// Deliver an event, waiting for room. Returns false when nobody listens.
pub(crate) async fn emit(events: &mpsc::Sender<AppServerEvent>, event: AppServerEvent) -> bool {
    events.send(event).await.is_ok()
}
