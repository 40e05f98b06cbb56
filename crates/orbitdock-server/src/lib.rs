//! OrbitDock's control plane: supervises Codex sessions through ONE shared `codex app-server`
//! per `CODEX_HOME` and Claude Code sessions through one `claude -p` stream-json process each,
//! persists everything in SQLite, and serves REST + a revisioned WebSocket to the web UI, the CLI
//! and scripts.
//!
//! Shape (each a module, each with its own header):
//!
//! ```text
//!  codex app-server ──> connector::codex (translate) ──neutral events──> registry (demux) ──> session actor
//!  claude -p (each) ──> connector::claude (translate) ──neutral events──^
//!                   <── calls (off the actor loop) ─────────────────────────────────────────  │ ops + deltas
//!  rollout files / hooks ──> discovery ──neutral events──────────────────────────────────────>│
//!                                                                                             v
//!  HTTP/WS (http) ── actions::dispatch ──> session actor     hub (fan-out + replay) <── store (one writer)
//! ```
//!
//! * [`session`]: the provider-neutral core; one actor per session owns its state and applies
//!   [`SessionEvent`]s from every source through one ingest path. Its module docs say where a
//!   Codex notification becomes a transcript item (`connector::codex::translate`).
//! * [`actions`]: every action a client can take, applied by one dispatcher for REST and
//!   WebSocket alike.
//! * [`store`]: SQLite with migrations; a single writer thread batching up to 50 commands per
//!   transaction; it publishes deltas only after they committed ("persist, then publish").
//! * [`hub`]: per-session and list fan-out with bounded replay logs (1,000 deltas) so a client
//!   reconnecting with its last revision gets exactly what it missed.
//! * [`connector`]: the seam to the agents, in OrbitDock's terms; [`connector::codex`] drives
//!   `codex app-server` through `codex-client` and restarts it after a crash (threads are resumed
//!   on demand); [`connector::claude`] runs one Claude Code process per session through
//!   `claude-code` (resumed with `--resume` after a restart or a takeover).
//! * [`registry`]: all sessions, restored at start-up from one indexed query, actors spawned
//!   lazily; also the entry point for passive sessions (rollout discovery, Claude hooks).
//! * [`http`]: the axum router (`app`), security (token, Host/Origin checks), REST, WebSocket and
//!   the embedded web UI.
//! * [`local_model`]: codexpc (local gpt-oss) supervised as a child, or found on its socket,
//!   and written into Codex's configuration as the `codexpc` model provider.
//! * [`data_dir`]: the token file, `server.json`, log paths.
//!
//! Approvals are never answered by the server on its own: they wait, keyed by (session, request
//! id) with a version, until a user decides, the agent withdraws them, or their turn ends.

pub mod actions;
pub mod around;
pub mod connector;
pub mod data_dir;
pub mod discovery;
pub mod error;
pub mod full_output;
pub mod host_links;
pub mod hosts;
pub mod http;
pub mod hub;
pub mod import_progress;
pub mod local_model;
pub mod maintenance;
pub mod markdown;
pub mod notify;
pub mod pairing;
pub mod registry;
pub mod remote;
pub mod retention;
pub mod session;
pub mod store;
pub mod testing;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use actions::{SessionAction, dispatch, dispatch_via};
pub use discovery::codex::{CodexDiscovery, CodexDiscoveryConfig};
pub use error::{Error, Result};
pub use http::{AppState, AuthConfig, app};
pub use registry::{Connectors, NewSession, Registry};
pub use session::{SessionEvent, SessionHandle};

pub use connector::codex::CodexRuntime;
use connector::codex::{AppServerConfig, AppServerConnector};
use connector::{Connector, ConnectorEvent};

/// How long a stopping server lets requests and WebSocket actions in flight finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the database (and, for the binary, token/logs) live.
    pub data_dir: PathBuf,
    /// The `CODEX_HOME` the shared app-server uses.
    pub codex_home: PathBuf,
    /// The `codex` binary.
    pub codex_bin: PathBuf,
    /// Address to bind (loopback; port 0 picks one).
    pub bind: SocketAddr,
    /// The API token.
    pub token: String,
    /// Extra environment for the app-server child.
    pub codex_env: Vec<(String, String)>,
    /// How to run Claude Code sessions; `None`: the server offers Codex only.
    pub claude: Option<connector::claude::ClaudeConfig>,
    /// How much command output is stored (see [`retention`]).
    pub output_limits: retention::OutputLimits,
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// The plain-HTTP loopback address local tools use: `addr` itself, or, when `addr` speaks
    /// TLS, a second listener on 127.0.0.1 (see [`remote`]).
    pub local_addr: SocketAddr,
    /// Whether `addr` speaks TLS.
    pub tls: bool,
    /// Sessions.
    pub registry: Arc<Registry>,
    /// Pairing codes and device sessions (every listener shares them).
    pub pairing: Arc<pairing::Pairing>,
    stop: CancellationToken,
    tasks: TaskTracker,
    serve: JoinHandle<()>,
    demux: JoinHandle<()>,
    /// Push notifications; stops with `stop` after its deliveries in flight.
    notifier: JoinHandle<()>,
    /// Codex rollout discovery: stopped before the registry.
    codex_discovery: Option<discovery::codex::CodexDiscovery>,
    /// The connectors' event route, detached before the agents stop.
    router: Option<connector::Router>,
    /// The Codex hosts' event route, detached likewise.
    host_router: connector::Router,
}

/// Discovery of sessions started outside the server (Codex rollout files and hooks).
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// Watch `CODEX_HOME/sessions` for Codex sessions started elsewhere (default on).
    pub watch_codex: bool,
    /// A passive session with no activity for this long is ended (default 120 s).
    pub passive_idle: Duration,
    /// Take Codex hook events (`/api/hooks/codex*`) into passive sessions (default on). Off,
    /// events are ignored and PermissionRequests answer "not watched" at once.
    pub codex_hooks: bool,
    /// Debounce of rollout file events (default 150 ms).
    pub rollout_debounce: Duration,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        Self {
            watch_codex: true,
            passive_idle: Duration::from_secs(120),
            codex_hooks: true,
            rollout_debounce: Duration::from_millis(150),
        }
    }
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`: the plain-HTTP loopback URL for local clients.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The URL of the bound address: `https://ADDR:PORT` when it speaks TLS.
    pub fn bound_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops gracefully, in the order that loses nothing: stop accepting connections and tell
    /// WebSocket clients goodbye; let requests and actions in flight finish (at most
    /// [`DRAIN_TIMEOUT`]); stop discovery; stop every session actor (a running turn ends as
    /// interrupted with its streamed text persisted); stop routing agent events; flush and stop
    /// the writer; stop the agent processes cleanly.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut self.serve)
            .await
            .is_err()
        {
            tracing::warn!("HTTP connections did not close in time; dropping them");
            self.serve.abort();
        }
        self.tasks.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("WebSocket actions did not finish in time");
        }
        // Deliveries in flight record their outcome through the writer, which stops below.
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut self.notifier)
            .await
            .is_err()
        {
            self.notifier.abort();
        }
        if let Some(d) = self.codex_discovery.take() {
            d.shutdown().await;
        }
        self.registry.stop_sessions().await;
        if let Some(local) = self.registry.local_model() {
            local.shutdown().await;
        }
        // The agent exiting because WE stop it is not a crash to report in transcripts.
        self.demux.abort();
        if let Some(r) = self.router.take() {
            r.detach();
        }
        self.host_router.detach();
        self.registry.shutdown().await;
    }

    /// Runs the local model provider (codexpc) next to the Codex app-server: see
    /// [`local_model`]. Sessions created with `model_provider = "codexpc"` use it.
    pub fn start_local_model(
        &self,
        config: local_model::LocalModelConfig,
    ) -> Arc<local_model::LocalModel> {
        let local = local_model::LocalModel::start(config, self.registry.connector());
        self.registry.set_local_model(local.clone());
        local
    }

    /// Waits until the server stops (it stops on [`RunningServer::shutdown`] or a fatal error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.serve).await;
    }
}

/// Starts a server with the real app-server connector and default discovery (Codex rollout
/// watcher on, passive sessions ended after 120 s without activity).
pub async fn start(config: ServerConfig) -> Result<RunningServer> {
    start_with(config, DiscoveryOptions::default()).await
}

/// [`start`] with explicit discovery options.
pub async fn start_with(config: ServerConfig, options: DiscoveryOptions) -> Result<RunningServer> {
    start_with_runtime(config, options, CodexRuntime::Private).await
}

/// [`start_with`], with the Codex app-server run as `runtime` says (a shared runtime lets the
/// terminal join the hub's threads: see [`connector::codex`]).
pub async fn start_with_runtime(
    config: ServerConfig,
    options: DiscoveryOptions,
    runtime: CodexRuntime,
) -> Result<RunningServer> {
    start_exposed(config, options, runtime, remote::Exposure::default()).await
}

/// [`start_with_runtime`], reachable beyond loopback as `exposure` says: TLS on a non-loopback
/// bind, public names for the Host/Origin checks (see [`remote`]).
pub async fn start_exposed(
    config: ServerConfig,
    options: DiscoveryOptions,
    runtime: CodexRuntime,
    exposure: remote::Exposure,
) -> Result<RunningServer> {
    // The Codex connector routes its events itself (through `router`); the channel stays empty.
    let (_unused, rx) = mpsc::channel::<ConnectorEvent>(1);
    let router = connector::Router::new();
    ensure_private_dir(&config.codex_home)?;
    let connector = AppServerConnector::with_runtime(
        AppServerConfig {
            codex_bin: config.codex_bin.clone(),
            codex_home: config.codex_home.clone(),
            env: config.codex_env.clone(),
            request_timeout: Duration::from_secs(60),
        },
        runtime,
        router.clone(),
    );
    let claude = config
        .claude
        .clone()
        .map(|c| connector::claude::ClaudeConnector::new(c, router.clone()) as Arc<dyn Connector>);
    let mut server =
        start_with_connectors_exposed(config.clone(), exposure, connector, claude, rx).await?;
    router.attach(&server.registry);
    server.router = Some(router);
    server
        .registry
        .codex_hooks()
        .set_enabled(options.codex_hooks);
    if options.watch_codex {
        let mut dc =
            discovery::codex::CodexDiscoveryConfig::new(&config.codex_home, &config.data_dir);
        dc.idle_timeout = options.passive_idle;
        dc.debounce = options.rollout_debounce;
        match discovery::codex::CodexDiscovery::start(&server.registry, dc).await {
            Ok(d) => server.codex_discovery = Some(d),
            // Not fatal: the server still drives its own sessions.
            Err(e) => tracing::warn!(error = %e, "cannot start the Codex rollout watcher"),
        }
    }
    Ok(server)
}

/// Starts a server with any connector (benchmarks inject events at this seam).
pub async fn start_with_connector(
    config: ServerConfig,
    connector: Arc<dyn Connector>,
    events: mpsc::Receiver<ConnectorEvent>,
) -> Result<RunningServer> {
    start_with_connectors(config, connector, None, events).await
}

/// [`start_with_connector`] with a second connector for Claude sessions.
pub async fn start_with_connectors(
    config: ServerConfig,
    connector: Arc<dyn Connector>,
    claude: Option<Arc<dyn Connector>>,
    events: mpsc::Receiver<ConnectorEvent>,
) -> Result<RunningServer> {
    start_with_connectors_exposed(
        config,
        remote::Exposure::default(),
        connector,
        claude,
        events,
    )
    .await
}

/// [`start_with_connectors`] exposed as `exposure` says.
pub async fn start_with_connectors_exposed(
    config: ServerConfig,
    exposure: remote::Exposure,
    connector: Arc<dyn Connector>,
    claude: Option<Arc<dyn Connector>>,
    events: mpsc::Receiver<ConnectorEvent>,
) -> Result<RunningServer> {
    let mut connectors = Connectors::new(connector);
    if let Some(c) = claude {
        connectors = connectors.with(c);
    }
    let registry = Registry::open(&data_dir::db_path(&config.data_dir), connectors).await?;
    // Before anything is ingested (transcripts, spools, rollout import).
    registry.store().set_output_limits(config.output_limits);
    let demux = registry.spawn_demux(events);
    let host_router = connector::Router::new();
    host_router.attach(&registry);
    let links = host_links::HostLinks::new(
        hosts::Hosts::new(&config.data_dir),
        &registry,
        host_router.clone(),
        host_links::LinkSettings::default(),
    );
    registry.set_host_links(links.clone());
    if let Err(e) = links.start() {
        // Not fatal: the hub's own machine still works; the host list says what is wrong.
        tracing::warn!(error = %e, "cannot read the hosts registry");
    }
    let stop = CancellationToken::new();
    // Before the spool: spooled payloads name transcripts too.
    match discovery::claude_transcript::ClaudeTranscripts::start(&registry, stop.clone()).await {
        Ok(t) => registry.set_claude_transcripts(t),
        // Not fatal: hook payloads then render their own items.
        Err(e) => tracing::warn!(error = %e, "cannot start reading Claude transcripts"),
    }
    // Claude hook payloads spooled while the server was down.
    match discovery::claude::drain_spool(registry.clone(), &config.data_dir).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(payloads = n, "applied spooled Claude hook payloads"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot drain the Claude hook spool; kept for next start")
        }
    }
    // Codex hook payloads spooled while the server was down (their PermissionRequests were
    // answered in the terminal; the other events bring the passive sessions up to date).
    match discovery::codex_hooks::drain_spool(registry.clone(), &config.data_dir).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(payloads = n, "applied spooled Codex hook payloads"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot drain the Codex hook spool; kept for next start")
        }
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| Error::io(config.bind.to_string(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io(config.bind.to_string(), e))?;
    let tasks = TaskTracker::new();
    tasks.spawn(maintenance::output_maintenance(
        Arc::downgrade(&registry),
        maintenance::OUTPUT_CHECK_EVERY,
        stop.clone(),
    ));
    let vapid = notify::Vapid::load_or_create(&config.data_dir)?;
    let notifications =
        notify::Notifications::new(vapid, registry.store().clone(), registry.list_hub().clone());
    let notifier = notifications.spawn(registry.notices(), stop.clone());
    // One pairing service and one sign-in limiter behind both listeners (TLS and local), so a
    // code or a failure count is the same whichever way a request arrives.
    let pairing = Arc::new(pairing::Pairing::new(registry.store().clone()));
    let login_limit = Arc::new(http::LoginLimit::default());
    let router_for = |addr: SocketAddr, scheme: http_guard::Scheme| -> Result<axum::Router> {
        Ok(app(AppState {
            registry: registry.clone(),
            auth: Arc::new(AuthConfig::with_policy(
                &config.token,
                exposure.policy(addr, scheme)?,
            )),
            stop: stop.clone(),
            tasks: tasks.clone(),
            notify: Some(notifications.clone()),
            pairing: pairing.clone(),
            login_limit: login_limit.clone(),
        }))
    };
    let mut servers: Vec<futures::future::BoxFuture<'static, ()>> = Vec::new();
    let (local_addr, tls) = match &exposure.tls {
        Some(identity) => {
            let tls_config = identity.server_config().map_err(|e| Error::Tls {
                what: identity.cert_path.display().to_string(),
                reason: e.to_string(),
            })?;
            let router = router_for(addr, http_guard::Scheme::Https)?;
            let tls_listener = remote::TlsListener::new(listener, tls_config)
                .map_err(|e| Error::io(addr.to_string(), e))?;
            servers.push(Box::pin(serve_on(tls_listener, router, stop.clone())));
            // Local tools (CLI, hooks) speak plain HTTP to loopback and hold no certificate.
            let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let local_listener = tokio::net::TcpListener::bind(local)
                .await
                .map_err(|e| Error::io(local.to_string(), e))?;
            let local_addr = local_listener
                .local_addr()
                .map_err(|e| Error::io(local.to_string(), e))?;
            let router = router_for(local_addr, http_guard::Scheme::Http)?;
            servers.push(Box::pin(serve_on(local_listener, router, stop.clone())));
            (local_addr, true)
        }
        None => {
            let router = router_for(addr, http_guard::Scheme::Http)?;
            servers.push(Box::pin(serve_on(listener, router, stop.clone())));
            (addr, false)
        }
    };
    let serve = tokio::spawn(async move {
        futures::future::join_all(servers).await;
    });
    tracing::info!(%addr, %local_addr, tls, "orbitdock server listening");
    Ok(RunningServer {
        addr,
        local_addr,
        tls,
        registry,
        pairing,
        stop,
        tasks,
        serve,
        demux,
        notifier,
        codex_discovery: None,
        router: None,
        host_router,
    })
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets open requests finish.
async fn serve_on<L>(listener: L, router: axum::Router, stop: CancellationToken)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    http::PeerAddr:
        for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    // The peer address feeds the per-address limit on failed sign-ins.
    let r = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<http::PeerAddr>(),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await })
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (systemd, launchd, `kill`): what `orbitdock serve`
/// waits for before a graceful [`RunningServer::shutdown`].
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Creates a missing directory (and its parents) readable by the owner only: a fresh machine has
/// no `CODEX_HOME` yet, and Codex refuses to start without one.
pub(crate) fn ensure_private_dir(dir: &std::path::Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| Error::io(dir, e))
}
