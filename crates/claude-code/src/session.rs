//! One `claude -p` process per session, spoken to in stream-json.
//!
//! Shape (after helix-lsp, like `codex-client`'s app-server transport): per process
//! - a **writer** task owns stdin and writes one JSON line per [`WriterMsg`]; closing stdin is
//!   a message too, so shutdown and answers never race;
//! - a **reader** task owns stdout: control responses go to the pending-call map (one
//!   `oneshot` per request id), CLI -> host control requests become
//!   [`SessionEvent::PermissionRequest`] / [`SessionEvent::ControlRequest`] with a
//!   [`Responder`], cancels mark their responder, everything else is a
//!   [`SessionEvent::Message`] on the bounded event channel. A full channel blocks the reader
//!   (backpressure): events are never dropped. [`SessionEvent::Exited`] is always last;
//! - a **supervisor** task owns the child ([`GroupChild`]: own process group, stderr drained
//!   into `tracing` with a bounded tail). It kills the whole process tree when asked
//!   ([`ClaudeSession::kill`], or the last [`ClaudeSession`] handle dropped) and, once stdout
//!   closed, reaps the CLI and kills whatever it left behind in its group.
//!
//! [`ClaudeSession::shutdown`] is graceful: the supervisor remembers the process tree, closes
//! stdin (the CLI's signal to finish and exit), waits a grace period (then kills the tree), and
//! finally kills what the CLI left running — it does not stop a running Bash command when it
//! exits, and that command lives in its own process group (see `process_tree`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use codex_client::process::{GroupChild, StderrTail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot, watch};

use crate::permission::{HostRequest, PermissionRequest, Responder};
use crate::process_tree::TreeSnapshot;
use crate::protocol::content::UserContent;
use crate::protocol::control::{
    self, ControlRequest, IncomingControlRequest, Initialize, InitializeResponse, Interrupt,
    InterruptResponse, PermissionMode, SetModel, SetPermissionMode,
};
use crate::protocol::decode_line;
use crate::protocol::messages::{self, OutputMessage, SystemMessage};
use crate::{Error, Result};

const WRITER_QUEUE: usize = 256;

/// How long the CLI may take to exit after its stdout closed before its tree is killed.
const EXIT_AFTER_EOF: Duration = Duration::from_secs(5);

/// How often a graceful shutdown re-reads the process tree while the CLI winds down.
const TREE_REFRESH: Duration = Duration::from_millis(100);

/// SIGTERM -> SIGKILL grace for processes the CLI left behind.
const LEFTOVER_GRACE: Duration = Duration::from_millis(500);

/// Something the CLI told us, in arrival order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A message line (never a control envelope that could be routed).
    Message(OutputMessage),
    /// `can_use_tool`: the turn waits until this is answered. NEVER answered by this crate.
    PermissionRequest(PermissionRequest),
    /// Another CLI -> host control request (raw). NEVER answered by this crate.
    ControlRequest(HostRequest),
    /// The CLI withdrew a request it had sent (e.g. a permission prompt after an interrupt);
    /// its responder now refuses to answer.
    RequestCancelled { request_id: String },
    /// A line that is not a JSON object; logged and skipped, the stream goes on.
    Malformed { line: String, error: String },
    /// The process is gone (exit, crash, kill or shutdown). Always the last event.
    Exited {
        status: Option<i32>,
        stderr_tail: String,
    },
}

/// Messages for the writer task.
#[derive(Debug)]
pub(crate) enum WriterMsg {
    /// One JSON line (without the trailing newline).
    Line(String),
    /// Close stdin (the graceful-shutdown signal) and stop.
    Close,
}

/// Builds and spawns `claude -p --input-format stream-json --output-format stream-json
/// --verbose --permission-prompt-tool stdio [...]`.
#[derive(Debug, Clone)]
pub struct SessionBuilder {
    program: PathBuf,
    cwd: Option<PathBuf>,
    config_dir: Option<PathBuf>,
    home: Option<PathBuf>,
    envs: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    env_clear: bool,
    resume: Option<String>,
    session_id: Option<String>,
    fork_session: bool,
    model: Option<String>,
    permission_mode: Option<PermissionMode>,
    partial_messages: bool,
    args: Vec<OsString>,
    initialize: bool,
    event_capacity: usize,
    request_timeout: Duration,
    initialize_timeout: Duration,
    shutdown_grace: Duration,
}

impl SessionBuilder {
    /// `program` is the `claude` executable (see [`crate::BinaryResolver`]).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        SessionBuilder {
            program: program.into(),
            cwd: None,
            config_dir: None,
            home: None,
            envs: Vec::new(),
            env_remove: Vec::new(),
            env_clear: false,
            resume: None,
            session_id: None,
            fork_session: false,
            model: None,
            permission_mode: None,
            partial_messages: true,
            args: Vec::new(),
            initialize: true,
            event_capacity: 1024,
            request_timeout: Duration::from_secs(30),
            initialize_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(3),
        }
    }

    /// The session's working directory (the CLI's cwd: tools run there, and the transcript is
    /// filed under a slug of it).
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// An isolated config dir (`CLAUDE_CONFIG_DIR`): settings, login, `.claude.json` and the
    /// transcripts (`<dir>/projects/<cwd-slug>/<session>.jsonl`) live there instead of
    /// `~/.claude`.
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// `HOME` for the child (without [`Self::config_dir`], the config lives in `$HOME/.claude`).
    pub fn home(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home = Some(dir.into());
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Removes an inherited environment variable.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Starts the child with an empty environment (plus what `env`/`home`/`config_dir` add).
    /// The Bash tool then needs at least `PATH`.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }

    /// `ANTHROPIC_BASE_URL` (e.g. a loopback fake: `http://127.0.0.1:PORT`, no `/v1`).
    pub fn anthropic_base_url(self, url: impl Into<OsString>) -> Self {
        self.env("ANTHROPIC_BASE_URL", url)
    }

    /// `ANTHROPIC_API_KEY`.
    pub fn api_key(self, key: impl Into<OsString>) -> Self {
        self.env("ANTHROPIC_API_KEY", key)
    }

    /// `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`: no telemetry, update checks or other
    /// background calls; with it the CLI only calls `POST /v1/messages` (verified).
    pub fn disable_nonessential_traffic(self) -> Self {
        self.env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    }

    /// `--resume ID`: continue a session (its transcript is found under the config dir's
    /// `projects/`, from any cwd).
    pub fn resume(mut self, session_id: impl Into<String>) -> Self {
        self.resume = Some(session_id.into());
        self
    }

    /// `--session-id UUID`: the id a NEW session gets.
    pub fn session_id(mut self, uuid: impl Into<String>) -> Self {
        self.session_id = Some(uuid.into());
        self
    }

    /// `--fork-session`: with `resume`, continue a copy under a new session id.
    pub fn fork_session(mut self, fork: bool) -> Self {
        self.fork_session = fork;
        self
    }

    /// `--model M`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// `--permission-mode MODE`.
    pub fn permission_mode(mut self, mode: PermissionMode) -> Self {
        self.permission_mode = Some(mode);
        self
    }

    /// `--include-partial-messages` (default on): streaming deltas as `stream_event` messages.
    pub fn partial_messages(mut self, on: bool) -> Self {
        self.partial_messages = on;
        self
    }

    /// An extra CLI argument (e.g. `--allowedTools`, `--append-system-prompt`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Whether to send `initialize` at start-up and wait for its answer (default true).
    pub fn initialize(mut self, on: bool) -> Self {
        self.initialize = on;
        self
    }

    /// Capacity of the event channel (minimum 1). A full channel blocks the reader.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Default timeout of control requests (a request type may have its own).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Timeout of the `initialize` handshake (start-up included).
    pub fn initialize_timeout(mut self, timeout: Duration) -> Self {
        self.initialize_timeout = timeout;
        self
    }

    /// How long `shutdown` waits for the CLI to exit after closing stdin before killing it.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The arguments the CLI is started with.
    pub fn cli_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-prompt-tool",
            "stdio",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        if self.partial_messages {
            args.push("--include-partial-messages".into());
        }
        if let Some(id) = &self.resume {
            args.push("--resume".into());
            args.push(id.into());
            if self.fork_session {
                args.push("--fork-session".into());
            }
        }
        if let Some(id) = &self.session_id {
            args.push("--session-id".into());
            args.push(id.into());
        }
        if let Some(m) = &self.model {
            args.push("--model".into());
            args.push(m.into());
        }
        if let Some(m) = &self.permission_mode {
            args.push("--permission-mode".into());
            args.push(m.as_str().into());
        }
        args.extend(self.args.iter().cloned());
        args
    }

    /// Spawns the CLI (and, unless disabled, completes `initialize`).
    pub async fn spawn(self) -> Result<(ClaudeSession, mpsc::Receiver<SessionEvent>)> {
        let mut cmd = Command::new(&self.program);
        cmd.args(self.cli_args());
        if self.env_clear {
            cmd.env_clear();
        }
        for key in &self.env_remove {
            cmd.env_remove(key);
        }
        if let Some(home) = &self.home {
            cmd.env("HOME", home);
        }
        if let Some(dir) = &self.config_dir {
            cmd.env("CLAUDE_CONFIG_DIR", dir);
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let mut child = GroupChild::spawn(cmd, "claude")?;
        let pid = child.pid();
        let (Some(stdin), Some(stdout)) = (child.take_stdin(), child.take_stdout()) else {
            return Err(Error::Closed {
                reason: "claude started without piped stdio".into(),
            });
        };

        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            incoming: Mutex::default(),
            stderr_tail: child.stderr_tail(),
            session_id: Mutex::new(if self.fork_session {
                None
            } else {
                self.resume.clone().or_else(|| self.session_id.clone())
            }),
        });
        let (writer_tx, writer_rx) = mpsc::channel(WRITER_QUEUE);
        let (events_tx, events_rx) = mpsc::channel(self.event_capacity);
        let (exited_tx, exited_rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(Stop::Run);
        let (eof_tx, eof_rx) = oneshot::channel();
        let (status_tx, status_rx) = oneshot::channel();

        tokio::spawn(write_loop(stdin, writer_rx));
        tokio::spawn(supervise(
            child,
            stop_rx,
            writer_tx.clone(),
            eof_rx,
            status_tx,
            self.shutdown_grace,
        ));
        tokio::spawn(
            Reader {
                shared: shared.clone(),
                events: events_tx,
                writer: writer_tx.clone(),
                exited: exited_tx,
                events_closed_logged: false,
            }
            .run(stdout, eof_tx, status_rx),
        );

        let mut inner = Inner {
            shared,
            writer: writer_tx,
            next_id: AtomicU64::new(1),
            pid,
            exited_rx,
            stop_tx,
            default_timeout: self.request_timeout,
            shutdown_grace: self.shutdown_grace,
            init: None,
        };
        if self.initialize {
            // On failure `inner` is dropped here, which kills the process tree.
            let init = inner
                .call::<Initialize>(&Initialize {}, self.initialize_timeout)
                .await?;
            inner.init = Some(init);
        }
        Ok((
            ClaudeSession {
                inner: Arc::new(inner),
            },
            events_rx,
        ))
    }
}

/// A running Claude Code session process. Cheap to clone; the process tree is killed when the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct ClaudeSession {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    writer: mpsc::Sender<WriterMsg>,
    next_id: AtomicU64,
    pid: Option<u32>,
    exited_rx: watch::Receiver<bool>,
    stop_tx: watch::Sender<Stop>,
    default_timeout: Duration,
    shutdown_grace: Duration,
    init: Option<InitializeResponse>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_tx.send_replace(Stop::Kill);
    }
}

impl ClaudeSession {
    /// Sends a user message with plain text. While a turn runs, the CLI queues it.
    pub async fn send_user_text(&self, text: impl Into<String>) -> Result<()> {
        self.send_user_content(UserContent::Text(text.into())).await
    }

    /// Sends a user message with content blocks (text, images, ...).
    pub async fn send_user_content(&self, content: UserContent) -> Result<()> {
        self.send_line(&messages::user_message_line(&content)).await
    }

    /// Writes one raw JSON line (for message types this crate does not model).
    pub async fn send_line(&self, line: &Value) -> Result<()> {
        self.inner
            .writer
            .send(WriterMsg::Line(line.to_string()))
            .await
            .map_err(|_| Error::Closed {
                reason: "claude stdin is closed".into(),
            })
    }

    /// A typed host -> CLI control request with its default timeout.
    pub async fn control<R: ControlRequest>(&self, request: &R) -> Result<R::Response> {
        let timeout = R::DEFAULT_TIMEOUT.unwrap_or(self.inner.default_timeout);
        self.inner.call(request, timeout).await
    }

    /// Any control request by subtype with raw fields; returns the success `response` object.
    pub async fn control_raw(
        &self,
        subtype: &str,
        fields: Value,
        timeout: Duration,
    ) -> Result<Value> {
        self.inner.call_value(subtype, fields, timeout).await
    }

    /// `interrupt`: abort the running turn (see [`Interrupt`]).
    pub async fn interrupt(&self) -> Result<InterruptResponse> {
        self.control(&Interrupt {}).await
    }

    /// `set_permission_mode`; returns the mode now in force.
    pub async fn set_permission_mode(&self, mode: PermissionMode) -> Result<PermissionMode> {
        Ok(self.control(&SetPermissionMode { mode }).await?.mode)
    }

    /// `set_model` (`None` = the default model); returns the resolved model.
    pub async fn set_model(&self, model: Option<&str>) -> Result<String> {
        let request = SetModel {
            model: model.map(str::to_owned),
        };
        Ok(self.control(&request).await?.model)
    }

    /// What the CLI answered to `initialize` (None when the builder disabled it).
    pub fn initialize_response(&self) -> Option<&InitializeResponse> {
        self.inner.init.as_ref()
    }

    /// The session id: known up front with `--resume`/`--session-id`, otherwise from the
    /// first `system/init` (which the CLI sends with the first turn).
    pub fn session_id(&self) -> Option<String> {
        self.inner.shared.session_id().clone()
    }

    /// Process id (= process group id) of the CLI.
    pub fn pid(&self) -> Option<u32> {
        self.inner.pid
    }

    /// Whether the process has exited (and `Exited` has been or is being delivered).
    pub fn has_exited(&self) -> bool {
        *self.inner.exited_rx.borrow()
    }

    /// The tail of the CLI's stderr.
    pub fn stderr_tail(&self) -> String {
        self.inner.shared.stderr_tail.snapshot()
    }

    /// Graceful shutdown: remember the process tree, close stdin (the CLI finishes and exits),
    /// wait up to the grace period (then kill the tree), and finally kill whatever the CLI left
    /// running — a Bash command it was still running is orphaned, not stopped, when the CLI
    /// exits. Returns once the process is gone. Idempotent.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.stop_tx.send_if_modified(|stop| {
            let run = *stop == Stop::Run;
            if run {
                *stop = Stop::Graceful;
            }
            run
        });
        self.wait_exited().await;
        Ok(())
    }

    /// Kills the process tree now (no grace), and returns once the process is gone.
    pub async fn kill(&self) {
        self.inner.stop_tx.send_replace(Stop::Kill);
        self.wait_exited().await;
    }

    async fn wait_exited(&self) {
        let mut exited = self.inner.exited_rx.clone();
        let bound = self.inner.shutdown_grace + Duration::from_secs(15);
        if tokio::time::timeout(bound, exited.wait_for(|e| *e))
            .await
            .is_err()
        {
            tracing::warn!(pid = ?self.inner.pid, "claude still not reaped after {bound:?}");
        }
    }
}

impl Inner {
    async fn call<R: ControlRequest>(&self, request: &R, timeout: Duration) -> Result<R::Response> {
        let fields = serde_json::to_value(request).map_err(|e| {
            Error::InvalidInvocation(format!("{} does not serialise: {e}", R::SUBTYPE))
        })?;
        let response = self.call_value(R::SUBTYPE, fields, timeout).await?;
        serde_json::from_value(response.clone()).map_err(|source| Error::Decode {
            what: format!("the {} response", R::SUBTYPE),
            raw: response.to_string(),
            source,
        })
    }

    async fn call_value(&self, subtype: &str, fields: Value, timeout: Duration) -> Result<Value> {
        let id = format!("host-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.shared.pending();
            if let Some(reason) = &pending.closed {
                return Err(Error::Closed {
                    reason: format!("cannot send {subtype}: {reason}"),
                });
            }
            pending.waiting.insert(id.clone(), tx);
        }
        let line = control::request_line(&id, subtype, fields).to_string();
        let outcome = tokio::time::timeout(timeout, async {
            if self.writer.send(WriterMsg::Line(line)).await.is_err() {
                return None;
            }
            rx.await.ok()
        })
        .await;
        match outcome {
            Ok(Some(Ok(value))) => Ok(value),
            Ok(Some(Err(failure))) => Err(Error::Control {
                subtype: subtype.to_owned(),
                message: failure.message,
                code: failure.code,
            }),
            Ok(None) => {
                let mut pending = self.shared.pending();
                pending.waiting.remove(&id);
                Err(Error::Closed {
                    reason: format!(
                        "{subtype}: {}",
                        pending
                            .closed
                            .clone()
                            .unwrap_or_else(|| "claude stdin is closed".into())
                    ),
                })
            }
            Err(_) => {
                self.shared.pending().waiting.remove(&id);
                Err(Error::Timeout {
                    subtype: subtype.to_owned(),
                    after: timeout,
                })
            }
        }
    }
}

#[derive(Debug)]
struct ControlFailure {
    message: String,
    code: Option<String>,
}

type ControlOutcome = std::result::Result<Value, ControlFailure>;

#[derive(Debug, Default)]
struct Pending {
    waiting: HashMap<String, oneshot::Sender<ControlOutcome>>,
    /// Set once the process is gone; new calls fail at once with this reason.
    closed: Option<String>,
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    /// CLI -> host requests not answered yet, so a cancel can reach their responder.
    incoming: Mutex<HashMap<String, Responder>>,
    stderr_tail: StderrTail,
    session_id: Mutex<Option<String>>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn incoming(&self) -> MutexGuard<'_, HashMap<String, Responder>> {
        self.incoming.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn session_id(&self) -> MutexGuard<'_, Option<String>> {
        self.session_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

async fn write_loop(mut stdin: ChildStdin, mut rx: mpsc::Receiver<WriterMsg>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            WriterMsg::Line(mut line) => {
                tracing::trace!(target: "claude_code::wire", "-> {line}");
                line.push('\n');
                let written = async {
                    stdin.write_all(line.as_bytes()).await?;
                    stdin.flush().await
                }
                .await;
                if let Err(e) = written {
                    tracing::debug!(error = %e, "claude stdin write failed; writer stops");
                    break;
                }
            }
            WriterMsg::Close => break,
        }
    }
    // Dropping stdin closes the pipe: the CLI's signal to finish and exit.
}

/// What the session handles ask of the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    /// Snapshot the tree, close stdin, wait for the exit (grace), then kill leftovers.
    Graceful,
    /// Kill the tree now (also what the last handle going away means).
    Kill,
}

/// Waits for a stop request other than `past`; a dropped sender means `Kill`.
async fn next_stop(rx: &mut watch::Receiver<Stop>, past: Stop) -> Stop {
    loop {
        let stop = *rx.borrow_and_update();
        if stop != Stop::Run && stop != past {
            return stop;
        }
        if rx.changed().await.is_err() {
            return Stop::Kill;
        }
    }
}

/// Owns the child: stops it as asked, or reaps it once its stdout closed, and kills whatever
/// it leaves behind.
async fn supervise(
    mut child: GroupChild,
    mut stop_rx: watch::Receiver<Stop>,
    writer: mpsc::Sender<WriterMsg>,
    mut eof_rx: oneshot::Receiver<()>,
    status_tx: oneshot::Sender<Option<i32>>,
    grace: Duration,
) {
    let pid = child.pid();
    let mut leftovers = TreeSnapshot::default();
    let stop = tokio::select! {
        stop = next_stop(&mut stop_rx, Stop::Run) => stop,
        _ = &mut eof_rx => Stop::Run,
    };
    let waited = match stop {
        Stop::Kill => None,
        Stop::Graceful => {
            if let Some(pid) = pid {
                leftovers.capture(pid);
            }
            // The writer may be gone already (the CLI died): then stdin is closed anyway.
            let _ = writer.send(WriterMsg::Close).await;
            drop(writer);
            let deadline = tokio::time::Instant::now() + grace;
            loop {
                tokio::select! {
                    status = child.wait() => break Some(status),
                    _ = tokio::time::sleep(TREE_REFRESH) => {
                        // Keep the snapshot current while the CLI winds down.
                        if let Some(pid) = pid {
                            leftovers.capture(pid);
                        }
                        if tokio::time::Instant::now() >= deadline {
                            tracing::debug!(?pid, "claude did not exit after stdin closed; killing its tree");
                            break None;
                        }
                    }
                    _ = next_stop(&mut stop_rx, Stop::Graceful) => break None,
                }
            }
        }
        // stdout closed: the CLI is exiting on its own. Bounded wait, then kill the tree.
        Stop::Run => tokio::select! {
            r = tokio::time::timeout(EXIT_AFTER_EOF, child.wait()) => match r {
                Ok(status) => Some(status),
                Err(_) => {
                    tracing::warn!(?pid, "claude closed stdout but did not exit; killing its tree");
                    None
                }
            },
            _ = next_stop(&mut stop_rx, Stop::Run) => None,
        },
    };
    let status = match waited {
        Some(status) => status,
        None => child.kill_group().await,
    };
    leftovers.kill(LEFTOVER_GRACE).await;
    let code = match status {
        Ok(s) => s.code(),
        Err(e) => {
            tracing::warn!(error = %e, "waiting for claude failed");
            None
        }
    };
    // Dropping the child also signals whatever is left in its own group.
    drop(child);
    let _ = status_tx.send(code);
}

struct Reader {
    shared: Arc<Shared>,
    events: mpsc::Sender<SessionEvent>,
    writer: mpsc::Sender<WriterMsg>,
    exited: watch::Sender<bool>,
    events_closed_logged: bool,
}

impl Reader {
    async fn run(
        mut self,
        stdout: ChildStdout,
        eof_tx: oneshot::Sender<()>,
        status_rx: oneshot::Receiver<Option<i32>>,
    ) {
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
                    tracing::warn!(error = %e, "claude stdout read failed");
                    break;
                }
            }
        }
        let _ = eof_tx.send(());
        let status = status_rx.await.ok().flatten();
        let stderr_tail = self.shared.stderr_tail.snapshot().trim_end().to_owned();
        let reason = format!("claude exited with status {status:?}; stderr tail:\n{stderr_tail}");
        let waiting = {
            let mut pending = self.shared.pending();
            pending.closed = Some(reason);
            std::mem::take(&mut pending.waiting)
        };
        // Dropping the senders wakes every waiting call with `Closed { reason }`.
        drop(waiting);
        self.shared.incoming().clear();
        self.exited.send_replace(true);
        tracing::debug!(?status, "claude exited");
        self.emit(SessionEvent::Exited {
            status,
            stderr_tail,
        })
        .await;
    }

    async fn handle_line(&mut self, line: &str) {
        tracing::trace!(target: "claude_code::wire", "<- {line}");
        let message = match decode_line(line) {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(line, %error, "undecodable line from claude; skipped");
                self.emit(SessionEvent::Malformed {
                    line: line.to_owned(),
                    error,
                })
                .await;
                return;
            }
        };
        match message {
            OutputMessage::ControlResponse(envelope) => {
                let response = envelope.response;
                let Some(tx) = self.shared.pending().waiting.remove(&response.request_id) else {
                    tracing::debug!(request_id = %response.request_id, "control response for an unknown or timed-out request; ignored");
                    return;
                };
                let outcome = if response.is_success() {
                    Ok(response.response.unwrap_or(Value::Null))
                } else {
                    Err(ControlFailure {
                        message: response
                            .error
                            .unwrap_or_else(|| "(no error message)".to_owned()),
                        code: response.error_code,
                    })
                };
                // The caller may have timed out in between: nothing to do then.
                let _ = tx.send(outcome);
            }
            OutputMessage::ControlRequest(envelope) => {
                let subtype = envelope.request.tag().unwrap_or("(none)").to_owned();
                let responder = Responder::new(
                    envelope.request_id.clone(),
                    subtype,
                    self.writer.clone(),
                    self.exited.subscribe(),
                );
                self.shared
                    .incoming()
                    .insert(envelope.request_id.clone(), responder.clone());
                let event = match envelope.request {
                    IncomingControlRequest::CanUseTool(request) => SessionEvent::PermissionRequest(
                        PermissionRequest::new(*request, responder.clone()),
                    ),
                    other => SessionEvent::ControlRequest(HostRequest::new(
                        envelope.request_id.clone(),
                        other,
                        responder.clone(),
                    )),
                };
                if !self.emit(event).await {
                    // Nobody can ever answer it: refuse explicitly rather than leave the turn
                    // hanging. This is a refusal, never an acceptance.
                    let _ = responder
                        .respond_error("the host is not listening for requests")
                        .await;
                }
                self.forget_answered();
            }
            OutputMessage::ControlCancelRequest(cancel) => {
                let responder = self.shared.incoming().remove(&cancel.request_id);
                match responder {
                    Some(r) if r.cancel() => {
                        self.emit(SessionEvent::RequestCancelled {
                            request_id: cancel.request_id,
                        })
                        .await;
                    }
                    _ => {
                        tracing::debug!(request_id = %cancel.request_id, "cancel for a request already answered or unknown")
                    }
                }
            }
            other => {
                if let OutputMessage::System(SystemMessage::Init(init)) = &other {
                    *self.shared.session_id() = Some(init.session_id.clone());
                }
                self.emit(SessionEvent::Message(other)).await;
            }
        }
    }

    /// Drops answered responders from the cancel map (it only needs the open ones).
    fn forget_answered(&self) {
        self.shared.incoming().retain(|_, r| !r.is_answered());
    }

    /// Delivers an event, waiting for room (backpressure). Returns false when nobody listens.
    async fn emit(&mut self, event: SessionEvent) -> bool {
        if self.events.send(event).await.is_ok() {
            return true;
        }
        if !self.events_closed_logged {
            tracing::debug!("claude event receiver dropped; events are discarded from now on");
            self.events_closed_logged = true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_args_carry_the_protocol_flags_and_options() {
        let args = SessionBuilder::new("/bin/claude")
            .resume("sid-1")
            .fork_session(true)
            .model("sonnet")
            .permission_mode(PermissionMode::AcceptEdits)
            .arg("--max-budget-usd")
            .arg("1")
            .cli_args();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "-p",
                "--input-format",
                "stream-json",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-prompt-tool",
                "stdio",
                "--include-partial-messages",
                "--resume",
                "sid-1",
                "--fork-session",
                "--model",
                "sonnet",
                "--permission-mode",
                "acceptEdits",
                "--max-budget-usd",
                "1",
            ]
        );
    }

    #[tokio::test]
    async fn a_child_that_exits_at_once_fails_initialize_with_its_status() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let script = tmp.path().join("not-claude");
        std::fs::write(&script, "#!/bin/sh\necho 'no protocol here' >&2\nexit 3\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let err = SessionBuilder::new(&script)
            .initialize_timeout(Duration::from_secs(10))
            .spawn()
            .await
            .expect_err("the child exits at once");
        assert!(
            matches!(&err, Error::Closed { reason }
                if reason.contains("Some(3)") && reason.contains("no protocol here")),
            "{err}"
        );
    }
}
