//! App-server transports beyond a private stdio child: a Unix socket, a WebSocket with a
//! capability token, and a command whose stdio carries the stream (`ssh HOST codex app-server
//! proxy`), all behind the same [`AppServer`] API, with reconnection.
//!
//! ```no_run
//! # async fn demo() -> codex_client::Result<()> {
//! use codex_client::app_server::remote::{Endpoint, RemoteBuilder, WsToken};
//! use codex_client::app_server::requests::*;
//! let endpoint = Endpoint::websocket(
//!     "ws://127.0.0.1:4500",
//!     Some(WsToken::from_file("/run/codex/token")?),
//! );
//! let (server, mut events) = RemoteBuilder::new(endpoint).connect().await?;
//! let thread = server.call::<ThreadStart>(ThreadStartParams::default()).await?.thread;
//! # Ok(()) }
//! ```
//!
//! # What the pinned 0.169 binary speaks (checked against it)
//! - `codex app-server --listen unix://PATH` serves **WebSocket over the Unix socket** (an HTTP
//!   upgrade, then one JSON-RPC message per text frame); there is no token: access is the
//!   socket's file mode. PATH becomes a **symlink** to a short-path socket
//!   `/tmp/codex-daemon-<uid>/<sha256>` (dir 0700, socket 0600) because `sun_path` is ~108 bytes;
//!   `connect` follows the symlink. SIGTERM removes both; after SIGKILL both stay, and a new
//!   listener on the same PATH replaces them (the hash is of the path, so the target is the
//!   same). `--listen unix://` without a path uses `CODEX_HOME/app-server-control/
//!   app-server-control.sock`, the managed daemon's socket.
//! - `--listen ws://IP:PORT` prints `listening on: ws://IP:PORT` on stderr (port 0 works and
//!   prints the bound port); it refuses a non-loopback IP without `--ws-auth`. With
//!   `--ws-auth capability-token --ws-token-file ABS_PATH` the upgrade needs
//!   `Authorization: Bearer <file contents>`; a wrong or missing token is answered
//!   `401 Unauthorized` with the body "invalid websocket bearer token" / "missing websocket
//!   bearer token" ([`Error::Unauthorized`]). `GET /healthz` and `/readyz` answer 200 without auth.
//! - `codex app-server proxy [--sock PATH]` is a raw byte pipe between its stdio and the
//!   control socket (default `CODEX_HOME/app-server-control/app-server-control.sock`), so the
//!   client speaks WebSocket through it: [`Framing::WebSocket`]. A missing socket makes it exit
//!   1 with "failed to connect to socket at PATH". `codex app-server` itself on a command's
//!   stdio is JSON lines: [`Framing::JsonLines`].
//!
//! # Reconnection
//! After the first successful connection (a first failure is returned from
//! [`RemoteBuilder::connect`], e.g. a wrong token), a supervisor task watches the link. When it
//! drops, waiting calls fail, [`AppServerEvent::Disconnected`] is emitted, and the client
//! reconnects with exponential backoff ([`ReconnectPolicy`]): each attempt opens a new link,
//! runs `initialize`, then `thread/resume` for every thread this client had loaded (with the
//! overrides it was opened with), and only then lets calls through again and emits
//! [`AppServerEvent::Reconnected`]. Calls made while reconnecting wait within their timeout. A
//! `401` during reconnection ends it (the token will not become right by retrying);
//! [`AppServerEvent::Closed`] is always the last event. Notifications sent while the link was
//! down are lost: after `Reconnected`, re-read what you show (`thread/read`).
//!
//! # Latency (`benches/transport_latency.rs`)
//! `thread/name/set` -> `thread/name/updated` on one machine, interleaved, 200 samples each:
//! stdio p50 2.7 ms / p99 31 ms, Unix socket p50 3.0 ms / p99 65 ms, `ws://` p50 47 ms / p99
//! 67 ms. The Unix socket costs ~0.3 ms over stdio. The ~44 ms extra of `ws://` is Nagle on
//! the server's side against Linux's 40 ms delayed ACK: `strace -e setsockopt` of the 0.169
//! listener shows no `TCP_NODELAY` on accepted connections (only `SO_REUSEADDR` on the
//! listening socket), so the notification written right after the response waits for our ACK.
//! Our side sets `TCP_NODELAY`; the fix belongs in the server. Prefer the Unix socket (or
//! `proxy` over SSH) for a local hub.
//!
//! # Supervising `app-server --listen unix://` vs Codex's managed daemon
//! Both give one shared app-server per `CODEX_HOME` that the TUI (`codex --remote unix://…`)
//! and other clients can join. Observed on 0.169 (each point is asserted by a test in
//! `tests/runtime/daemon.rs` unless marked *manual*):
//!
//! | | our [`AppServerListener`] (`--listen unix://PATH`) | `codex app-server daemon start` |
//! |---|---|---|
//! | binary | the one we pinned and resolved | copies the CLI into `CODEX_HOME/packages/app-server-daemon/releases/<ver>/` (~400 MB per home, *manual*: `du`) and runs that copy |
//! | process | our child, own process group; dies with `kill`/drop | re-parented to init in its own session: survives the parent (`start` returns at once) |
//! | flags | ours; config from `CODEX_HOME` | `--listen unix:// --analytics-default-enabled --managed-daemon` (analytics default ON unless `[analytics] enabled = false`) |
//! | socket | PATH we choose (symlink to a 0600 socket in a 0700 dir) | `CODEX_HOME/app-server-control/app-server-control.sock` (same scheme; control dir 0700) |
//! | who can connect | the same uid (and root): 0600 socket in a 0700 dir | the same |
//! | after stop | nothing left: SIGTERM removes the symlink and socket | `daemon stop` stops the server but leaves `codex app-server daemon pid-update-loop` (the auto-updater) running, in its own session |
//! | updates | never: the pinned version stays | the updater can replace the managed copy ("may interrupt running work", `daemon update --help`) |
//! | status | our process handle | `daemon version` prints JSON (`status`, `managedCodexVersion`, `socketPath`); exit 1 when not running |
//!
//! The hub should supervise `--listen unix://PATH` itself: it keeps the pinned binary (the whole
//! point of pinning), leaves nothing running after the hub stops, does not copy 400 MB into
//! each home and does not turn analytics on by default. [`AppServerListener`] is that
//! supervisor's building block. Use the managed daemon only when Codex's own tooling must find
//! the server without being told where (`codex app-server proxy` without `--sock`,
//! `ssh HOST codex app-server proxy`) — and then account for the updater it leaves behind.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::link::{BoxStream, MessageReader, MessageWriter, websocket_handshake};
use super::transport::{
    AppServer, AppServerEvent, ClientSettings, Control, Core, LinkRun, LinkState, WriterMsg,
    client_setters, emit, start_link,
};
use crate::process::GroupChild;
use crate::{Error, Result};

/// A capability token for `--ws-auth capability-token`. Never printed: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct WsToken(String);

impl WsToken {
    /// A token from a string.
    pub fn new(token: impl Into<String>) -> Self {
        WsToken(token.into())
    }

    /// Read a token file as the app-server does (`--ws-token-file`): surrounding whitespace,
    /// such as a trailing newline, is not part of the token.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok(WsToken(text.trim().to_owned()))
    }

    /// The secret itself (for an `Authorization` header or an environment variable).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WsToken(<redacted>)")
    }
}

/// How JSON-RPC messages are framed on a command's stdio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One message per line: `codex app-server` (stdio listener), e.g. `ssh HOST codex
    /// app-server`.
    JsonLines,
    /// WebSocket over the byte stream: `codex app-server proxy [--sock PATH]`, e.g. `ssh HOST
    /// codex app-server proxy`.
    WebSocket,
}

/// A command whose stdin/stdout carry the app-server stream.
#[derive(Debug, Clone)]
pub struct CommandEndpoint {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    framing: Framing,
}

impl CommandEndpoint {
    /// `program` with no arguments yet; `framing` says what its stdio speaks.
    pub fn new(program: impl Into<PathBuf>, framing: Framing) -> Self {
        CommandEndpoint {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            framing,
        }
    }

    /// `codex app-server proxy [--sock PATH]` with `codex` at `codex_bin`.
    pub fn codex_proxy(codex_bin: impl Into<PathBuf>, sock: Option<&Path>) -> Self {
        let mut c = CommandEndpoint::new(codex_bin, Framing::WebSocket)
            .arg("app-server")
            .arg("proxy");
        if let Some(sock) = sock {
            c = c.arg("--sock").arg(sock);
        }
        c
    }

    /// Add an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable for the command.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Set several environment variables for the command.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.envs
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Working directory of the command.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
}

/// Where an app-server is.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// `codex app-server --listen unix://PATH` (or the control socket of the managed daemon).
    Unix(PathBuf),
    /// `codex app-server --listen ws://IP:PORT`, with the capability token if it wants one.
    WebSocket { url: String, token: Option<WsToken> },
    /// A command whose stdio is the stream.
    Command(CommandEndpoint),
}

impl Endpoint {
    /// A Unix socket (the symlink `--listen unix://PATH` creates is fine).
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        Endpoint::Unix(path.into())
    }

    /// A WebSocket URL (`ws://host:port`), with a token for `--ws-auth capability-token`.
    pub fn websocket(url: impl Into<String>, token: Option<WsToken>) -> Self {
        Endpoint::WebSocket {
            url: url.into(),
            token,
        }
    }

    /// Parse `unix://PATH` or `ws://HOST:PORT` (the forms `codex --remote` takes; `wss://` is
    /// not supported by this client).
    pub fn parse(s: &str, token: Option<WsToken>) -> Result<Self> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(Error::InvalidInvocation(
                    "unix:// needs a path here (the default control socket lives under CODEX_HOME/app-server-control/)".into(),
                ));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if s.starts_with("ws://") {
            return Ok(Endpoint::websocket(s, token));
        }
        Err(Error::InvalidInvocation(format!(
            "unsupported app-server endpoint {s:?}: expected unix://PATH or ws://HOST:PORT"
        )))
    }

    /// A printable description (never includes a token).
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Unix(p) => format!("unix://{}", p.display()),
            Endpoint::WebSocket { url, .. } => url.clone(),
            Endpoint::Command(c) => {
                let mut s = c.program.display().to_string();
                for a in &c.args {
                    s.push(' ');
                    s.push_str(&a.to_string_lossy());
                }
                format!("command `{s}`")
            }
        }
    }
}

/// When and how often a dropped remote link is reopened.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// Reconnect at all; when false a drop ends the client (`Disconnected` then `Closed`).
    pub enabled: bool,
    /// Delay before the first attempt; doubles per failed attempt.
    pub initial_backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
    /// Give up after this many failed attempts (`None`: never give up).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    /// Reconnect forever, 100 ms doubling up to 5 s: a host that comes back is picked up within
    /// seconds, and an absent one costs one connection attempt every 5 s.
    fn default() -> Self {
        ReconnectPolicy {
            enabled: true,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// Never reconnect.
    pub fn never() -> Self {
        ReconnectPolicy {
            enabled: false,
            ..Default::default()
        }
    }
}

/// Connects an [`AppServer`] client to an [`Endpoint`].
#[derive(Debug, Clone)]
pub struct RemoteBuilder {
    endpoint: Endpoint,
    settings: ClientSettings,
    reconnect: ReconnectPolicy,
    keepalive: Option<Duration>,
    allow_insecure_remote: bool,
    connect_timeout: Duration,
}

impl RemoteBuilder {
    /// A client for `endpoint` with the default settings and [`ReconnectPolicy::default`].
    pub fn new(endpoint: Endpoint) -> Self {
        RemoteBuilder {
            endpoint,
            settings: ClientSettings::default(),
            reconnect: ReconnectPolicy::default(),
            keepalive: Some(Duration::from_secs(15)),
            allow_insecure_remote: false,
            connect_timeout: Duration::from_secs(10),
        }
    }

    client_setters!();

    /// Reconnection policy.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// WebSocket keep-alive ping interval (`None`: no pings). A link silent for three intervals
    /// is treated as dropped. Ignored for [`Framing::JsonLines`].
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.keepalive = interval;
        self
    }

    /// Bound on opening a link (socket connect + WebSocket upgrade).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Allow sending a token over plain `ws://` to a host that is not loopback. Off by default:
    /// the token would cross the network in clear text; use SSH (a [`CommandEndpoint`]) or a
    /// private network instead.
    pub fn allow_insecure_remote(mut self, allow: bool) -> Self {
        self.allow_insecure_remote = allow;
        self
    }

    /// Connect, run `initialize`, and start the supervisor that reconnects after drops.
    pub async fn connect(self) -> Result<(AppServer, mpsc::Receiver<AppServerEvent>)> {
        if let Endpoint::WebSocket {
            url,
            token: Some(_),
        } = &self.endpoint
            && !self.allow_insecure_remote
        {
            let (host, _) = ws_host_port(url)?;
            if !is_loopback_host(&host) {
                return Err(Error::InvalidInvocation(format!(
                    "refusing to send a token over unencrypted {url} to a non-loopback host; \
                     tunnel it (ssh) or call allow_insecure_remote(true)"
                )));
            }
        }
        let core = Core::new(&self.settings);
        let (events_tx, events_rx) = mpsc::channel(self.settings.event_capacity);
        let label = self.endpoint.describe();
        let (run, child, init) = self.open_initialised(&core, 1, &events_tx).await?;
        core.publish(LinkState::Up(run.handle.clone()));
        let stop = CancellationToken::new();
        let (done_tx, done_rx) = watch::channel(false);
        let supervisor = Supervisor {
            core: core.clone(),
            builder: self.clone(),
            events: events_tx,
            stop: stop.clone(),
        };
        tokio::spawn(async move {
            supervisor.run(run, child).await;
            let _ = done_tx.send(true);
        });
        let server = AppServer::from_parts(
            core,
            init,
            self.settings.request_timeout,
            Control::Remote {
                stop,
                done: done_rx,
                endpoint: label,
            },
        );
        Ok((server, events_rx))
    }

    /// Open a link of `generation` and run `initialize` on it (not yet published).
    async fn open_initialised(
        &self,
        core: &Arc<Core>,
        generation: u64,
        events: &mpsc::Sender<AppServerEvent>,
    ) -> Result<(LinkRun, Option<GroupChild>, super::InitializeResponse)> {
        let label = self.endpoint.describe();
        let (reader, writer, mut child) =
            match tokio::time::timeout(self.connect_timeout, open(&self.endpoint, &label)).await {
                Ok(opened) => opened?,
                Err(_) => {
                    return Err(Error::Connect {
                        endpoint: label,
                        reason: format!("no connection within {:?}", self.connect_timeout),
                    });
                }
            };
        let keepalive = match (&self.endpoint, &reader) {
            (_, MessageReader::Lines(_)) => None,
            _ => self.keepalive,
        };
        let mut run = start_link(core, generation, reader, writer, events.clone(), keepalive);
        // Race the handshake with the link's end: a command that dies (proxy without a socket)
        // must fail the handshake now, not after its timeout.
        let handshake = tokio::select! {
            r = core.handshake(&run.handle, &self.settings) => r,
            reason = &mut run.reader => Err(Error::Closed {
                reason: format!("initialize: {}", reason.unwrap_or_else(|e| e.to_string())),
            }),
        };
        match handshake {
            Ok(init) => Ok((run, child, init)),
            Err(e) => {
                run.reader.abort();
                core.fail_generation(generation, "handshake failed");
                let e = match (e, child.as_mut()) {
                    (Error::Closed { reason }, Some(child)) => Error::Connect {
                        endpoint: label,
                        reason: format!("{reason}; {}", child_detail(child).await),
                    },
                    (e, _) => e,
                };
                if let Some(mut child) = child {
                    let _ = child.kill_group().await;
                }
                Err(e)
            }
        }
    }
}

/// Open the byte stream of `endpoint` and frame it.
async fn open(
    endpoint: &Endpoint,
    label: &str,
) -> Result<(MessageReader, MessageWriter, Option<GroupChild>)> {
    let connect_err = |e: std::io::Error| Error::Connect {
        endpoint: label.to_owned(),
        reason: e.to_string(),
    };
    match endpoint {
        Endpoint::Unix(path) => {
            let stream = UnixStream::connect(path).await.map_err(connect_err)?;
            let (r, w) =
                websocket_handshake(Box::new(stream), "ws://localhost/", None, label).await?;
            Ok((r, w, None))
        }
        Endpoint::WebSocket { url, token } => {
            let (host, port) = ws_host_port(url)?;
            let stream = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(connect_err)?;
            // Notifications are small and latency-sensitive.
            let _ = stream.set_nodelay(true);
            let (r, w) = websocket_handshake(
                Box::new(stream),
                url,
                token.as_ref().map(WsToken::expose),
                label,
            )
            .await?;
            Ok((r, w, None))
        }
        Endpoint::Command(c) => {
            let mut cmd = Command::new(&c.program);
            cmd.args(&c.args)
                .envs(c.envs.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            if let Some(dir) = &c.cwd {
                cmd.current_dir(dir);
            }
            let mut child = GroupChild::spawn(cmd, label)?;
            let (Some(stdin), Some(stdout)) = (child.take_stdin(), child.take_stdout()) else {
                return Err(Error::Connect {
                    endpoint: label.to_owned(),
                    reason: "command started without piped stdio".into(),
                });
            };
            match c.framing {
                Framing::JsonLines => Ok((
                    MessageReader::lines(stdout),
                    MessageWriter::lines(stdin),
                    Some(child),
                )),
                Framing::WebSocket => {
                    let stream: BoxStream = Box::new(tokio::io::join(stdout, stdin));
                    match websocket_handshake(stream, "ws://localhost/", None, label).await {
                        Ok((r, w)) => Ok((r, w, Some(child))),
                        Err(Error::Connect { endpoint, reason }) => {
                            let detail = child_detail(&mut child).await;
                            let _ = child.kill_group().await;
                            Err(Error::Connect {
                                endpoint,
                                reason: format!("{reason}; {detail}"),
                            })
                        }
                        Err(e) => {
                            let _ = child.kill_group().await;
                            Err(e)
                        }
                    }
                }
            }
        }
    }
}

/// Exit status (waiting briefly) and stderr tail of a command child, for error messages.
async fn child_detail(child: &mut GroupChild) -> String {
    let status = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(s)) => format!("command exited with {s}"),
        _ => "command still running".to_owned(),
    };
    let tail = child.stderr_tail().snapshot();
    let tail = tail.trim();
    if tail.is_empty() {
        status
    } else {
        format!("{status}; stderr tail:\n{tail}")
    }
}

fn ws_host_port(url: &str) -> Result<(String, u16)> {
    let bad = || Error::InvalidInvocation(format!("not a ws://HOST:PORT URL: {url:?}"));
    let rest = url.strip_prefix("ws://").ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']').ok_or_else(bad)?;
        (host, rest.strip_prefix(':').unwrap_or("80"))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (authority, "80"),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = port.parse().map_err(|_| bad())?;
    Ok((host.to_owned(), port))
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Watches the live link, and reopens it after a drop.
struct Supervisor {
    core: Arc<Core>,
    builder: RemoteBuilder,
    events: mpsc::Sender<AppServerEvent>,
    stop: CancellationToken,
}

impl Supervisor {
    async fn run(self, mut run: LinkRun, mut child: Option<GroupChild>) {
        let mut generation = run.handle.generation;
        let final_reason = loop {
            let ended = tokio::select! {
                reason = &mut run.reader => Some(reason.unwrap_or_else(|e| format!("reader task failed: {e}"))),
                _ = self.stop.cancelled() => None,
            };
            let Some(mut reason) = ended else {
                // Graceful close: a Close frame / closed stdin, then make sure.
                let _ = run.handle.writer.send(WriterMsg::Close).await;
                let _ = tokio::time::timeout(Duration::from_secs(1), &mut run.reader).await;
                run.reader.abort();
                if let Some(mut c) = child.take() {
                    let _ = c.kill_group().await;
                }
                let _ = run.gone.send(true);
                break "the client was shut down".to_owned();
            };
            if let Some(mut c) = child.take() {
                reason = format!("{reason}; {}", child_detail(&mut c).await);
                let _ = c.kill_group().await;
            }
            tracing::info!(endpoint = %self.builder.endpoint.describe(), generation, %reason, "app-server link dropped");
            self.core.publish(LinkState::Connecting);
            self.core
                .fail_generation(generation, &format!("connection lost: {reason}"));
            let _ = run.gone.send(true);
            emit(
                &self.events,
                AppServerEvent::Disconnected {
                    generation,
                    reason: reason.clone(),
                },
            )
            .await;
            if !self.builder.reconnect.enabled {
                break format!("connection lost: {reason} (reconnection disabled)");
            }
            match self.reconnect(generation + 1).await {
                Ok((new_run, new_child, resumed, not_resumed)) => {
                    generation = new_run.handle.generation;
                    run = new_run;
                    child = new_child;
                    emit(
                        &self.events,
                        AppServerEvent::Reconnected {
                            generation,
                            resumed,
                            not_resumed,
                        },
                    )
                    .await;
                }
                Err(reason) => break reason,
            }
        };
        self.core.close(&final_reason);
        emit(
            &self.events,
            AppServerEvent::Closed {
                reason: final_reason,
            },
        )
        .await;
    }

    /// Reopen with backoff until it works, the policy gives up, or the client stops.
    #[allow(clippy::type_complexity)]
    async fn reconnect(
        &self,
        generation: u64,
    ) -> std::result::Result<
        (
            LinkRun,
            Option<GroupChild>,
            Vec<String>,
            Vec<(String, String)>,
        ),
        String,
    > {
        let policy = &self.builder.reconnect;
        let mut backoff = policy.initial_backoff;
        let mut attempt: u32 = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.stop.cancelled() => return Err("the client was shut down".into()),
            }
            attempt += 1;
            let opened = tokio::select! {
                r = self.builder.open_initialised(&self.core, generation, &self.events) => r,
                _ = self.stop.cancelled() => return Err("the client was shut down".into()),
            };
            let error = match opened {
                Ok((mut run, child, _init)) => match self.resubscribe(&mut run).await {
                    Ok((resumed, not_resumed)) => {
                        self.core.publish(LinkState::Up(run.handle.clone()));
                        tracing::info!(generation, attempt, "app-server link re-established");
                        return Ok((run, child, resumed, not_resumed));
                    }
                    Err(e) => {
                        run.reader.abort();
                        self.core
                            .fail_generation(generation, "re-subscription failed");
                        if let Some(mut c) = child {
                            let _ = c.kill_group().await;
                        }
                        e
                    }
                },
                Err(e @ Error::Unauthorized { .. }) => {
                    return Err(format!("reconnection refused: {e}"));
                }
                Err(e) => e,
            };
            let next = (backoff * 2).min(policy.max_backoff);
            if policy.max_attempts.is_some_and(|max| attempt >= max) {
                return Err(format!(
                    "gave up reconnecting after {attempt} attempts; last error: {error}"
                ));
            }
            emit(
                &self.events,
                AppServerEvent::ReconnectFailed {
                    attempt,
                    error: error.to_string(),
                    retry_in: next,
                },
            )
            .await;
            backoff = next;
        }
    }

    /// `thread/resume` every loaded thread on the new link. Per-thread failures are reported,
    /// not fatal; a lost link is.
    async fn resubscribe(&self, run: &mut LinkRun) -> Result<(Vec<String>, Vec<(String, String)>)> {
        let mut resumed = Vec::new();
        let mut not_resumed = Vec::new();
        let timeout = self.builder.settings.request_timeout;
        for (thread_id, overrides) in self.core.loaded_threads() {
            let mut params = overrides;
            params.insert("threadId".into(), thread_id.clone().into());
            params.insert("excludeTurns".into(), true.into());
            let call = self.core.call_on(
                &run.handle,
                "thread/resume",
                params.into(),
                Instant::now() + timeout,
                timeout,
            );
            let outcome = tokio::select! {
                r = call => r,
                reason = &mut run.reader => Err(Error::Closed {
                    reason: format!("thread/resume: {}", reason.unwrap_or_else(|e| e.to_string())),
                }),
            };
            match outcome {
                Ok(_) => resumed.push(thread_id),
                Err(e @ (Error::Closed { .. } | Error::Timeout { .. })) => return Err(e),
                Err(e) => not_resumed.push((thread_id, e.to_string())),
            }
        }
        Ok((resumed, not_resumed))
    }
}

// ---------------------------------------------------------------------------------------------
// A listening app-server we supervise

/// What a supervised app-server listens on.
#[derive(Debug, Clone)]
pub enum Listen {
    /// `--listen unix://PATH`.
    Unix(PathBuf),
    /// `--listen ws://ADDR` (`127.0.0.1:0` picks a free port), with `--ws-auth
    /// capability-token --ws-token-file FILE` when `token_file` is set (absolute path; the
    /// file should be 0600).
    WebSocket {
        addr: String,
        token_file: Option<PathBuf>,
    },
}

/// Builds a `codex app-server --listen …` child that several clients can share.
#[derive(Debug, Clone)]
pub struct ListenerBuilder {
    program: PathBuf,
    codex_home: PathBuf,
    listen: Listen,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    ready_timeout: Duration,
    end_with_parent: bool,
}

impl ListenerBuilder {
    /// `binary_path` is the `codex` executable; `codex_home` is passed as `CODEX_HOME`.
    pub fn new(
        binary_path: impl Into<PathBuf>,
        codex_home: impl Into<PathBuf>,
        listen: Listen,
    ) -> Self {
        ListenerBuilder {
            program: binary_path.into(),
            codex_home: codex_home.into(),
            listen,
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            ready_timeout: Duration::from_secs(30),
            end_with_parent: true,
        }
    }

    /// Extra arguments after `app-server` (e.g. `-c key=value`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
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

    /// Working directory of the child.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// How long to wait for the listener to accept connections.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Whether the listener dies with this process (default: yes). It reads nothing from us,
    /// so unlike a stdio child it would otherwise outlive a parent killed with SIGKILL and keep
    /// serving its socket. Linux only (`PR_SET_PDEATHSIG`, see [`crate::parent_death`]);
    /// elsewhere the supervisor must clean up a survivor itself.
    pub fn end_with_parent(mut self, end: bool) -> Self {
        self.end_with_parent = end;
        self
    }

    /// Spawn the listener and wait until it accepts connections.
    pub async fn spawn(self) -> Result<AppServerListener> {
        let (listen_arg, token) = match &self.listen {
            Listen::Unix(path) => (format!("unix://{}", path.display()), None),
            Listen::WebSocket { addr, token_file } => {
                let token = match token_file {
                    Some(f) => {
                        if !f.is_absolute() {
                            return Err(Error::InvalidInvocation(format!(
                                "--ws-token-file must be an absolute path, got {}",
                                f.display()
                            )));
                        }
                        Some(WsToken::from_file(f)?)
                    }
                    None => None,
                };
                (format!("ws://{addr}"), token)
            }
        };
        let mut cmd = Command::new(&self.program);
        cmd.arg("app-server")
            .args(&self.args)
            .arg("--listen")
            .arg(&listen_arg);
        if let Listen::WebSocket {
            token_file: Some(f),
            ..
        } = &self.listen
        {
            cmd.arg("--ws-auth")
                .arg("capability-token")
                .arg("--ws-token-file")
                .arg(f);
        }
        cmd.env("CODEX_HOME", &self.codex_home)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let label = "codex app-server (listener)";
        let mut child = if self.end_with_parent {
            crate::parent_death::spawn(cmd, label).await?
        } else {
            GroupChild::spawn(cmd, label)?
        };
        let tail = child.stderr_tail();
        let listen = self.listen.clone();
        let ready = async {
            loop {
                match &listen {
                    Listen::Unix(path) => {
                        if UnixStream::connect(path).await.is_ok() {
                            return Endpoint::Unix(path.clone());
                        }
                    }
                    Listen::WebSocket { .. } => {
                        // 0.169 prints "listening on: ws://IP:PORT" on stderr once bound.
                        let text = tail.snapshot();
                        if let Some(url) = text
                            .lines()
                            .find_map(|l| l.trim().strip_prefix("listening on: "))
                            .map(str::trim)
                            .filter(|u| u.starts_with("ws://"))
                            && let Ok((host, port)) = ws_host_port(url)
                            && TcpStream::connect((host.as_str(), port)).await.is_ok()
                        {
                            return Endpoint::websocket(url, token.clone());
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        };
        let outcome = tokio::select! {
            endpoint = tokio::time::timeout(self.ready_timeout, ready) => endpoint.map_err(|_| "did not start listening in time".to_owned()),
            status = child.wait() => Err(format!("exited during start-up ({})", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()))),
        };
        match outcome {
            Ok(endpoint) => Ok(AppServerListener {
                child,
                endpoint,
                listen: self.listen,
            }),
            Err(why) => {
                let _ = child.kill_group().await;
                Err(Error::Connect {
                    endpoint: listen_arg,
                    reason: format!(
                        "app-server {why}; stderr tail:\n{}",
                        child.stderr_tail().snapshot().trim()
                    ),
                })
            }
        }
    }
}

/// A `codex app-server --listen …` child in its own process group: killed with its group on
/// [`AppServerListener::stop`] / [`AppServerListener::kill`] and on drop.
#[derive(Debug)]
pub struct AppServerListener {
    child: GroupChild,
    endpoint: Endpoint,
    listen: Listen,
}

impl AppServerListener {
    /// Where clients connect (for a WebSocket listener: the bound URL and the token).
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    /// What it was asked to listen on.
    pub fn listen(&self) -> &Listen {
        &self.listen
    }

    /// The listener's pid (= its process group id).
    pub fn pid(&self) -> Option<u32> {
        self.child.pid()
    }

    /// Its stderr so far (bounded tail).
    pub fn stderr_tail(&self) -> String {
        self.child.stderr_tail().snapshot()
    }

    /// Waits for the listener to exit on its own (a crash, a signal from elsewhere).
    pub async fn wait(&mut self) -> Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Graceful stop: SIGTERM to the group (the server removes its socket), SIGKILL after the
    /// grace period. Returns the exit status.
    pub async fn stop(&mut self) -> Result<std::process::ExitStatus> {
        self.child.set_kill_grace(Duration::from_secs(3));
        self.child.kill_group().await
    }

    /// Abrupt stop (SIGKILL to the group at once), as a crash would: the socket file is left
    /// behind.
    pub async fn kill(&mut self) -> Result<std::process::ExitStatus> {
        if let Some(pid) = self.child.pid().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        self.child.wait().await
    }
}
