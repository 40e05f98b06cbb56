//! OrbitDock's control plane: supervises Codex sessions through ONE shared `codex app-server`
//! per `CODEX_HOME`, persists everything in SQLite, and serves REST + a revisioned WebSocket to
//! the web UI, the CLI and scripts.
//!
//! Shape (each a module, each with its own header):
//!
//! ```text
//!  codex app-server ──events──> connector ──> registry (demux by thread id) ──> session_actor (one per session)
//!                    <─calls───                                                      │ ops + deltas
//!                                                                                    v
//!  HTTP/WS (http) <── hub (fan-out + replay) <── publish after commit ── store (one writer thread, batched)
//! ```
//!
//! * [`session_actor`]: one task per session owns its state; commands arrive on a bounded
//!   mailbox with oneshot replies; every change becomes persistence ops plus revisioned deltas.
//! * [`store`]: SQLite with migrations; a single writer thread batching up to 50 commands per
//!   transaction; it publishes deltas only after they committed ("persist, then publish").
//! * [`hub`]: per-session and list fan-out with bounded replay logs (1,000 deltas) so a client
//!   reconnecting with its last revision gets exactly what it missed.
//! * [`connector`]: the seam to the agent; the real one drives `codex app-server` through
//!   `codex-client` and restarts it after a crash (threads are resumed on demand).
//! * [`registry`]: all sessions, restored at start-up from one indexed query, actors spawned
//!   lazily; also the entry point for passive sessions (rollout discovery, Claude hooks).
//! * [`http`]: the axum router (`app`), security (token, Host/Origin checks), REST, WebSocket and
//!   the embedded web UI.
//! * [`data_dir`]: the token file, `server.json`, log paths.
//!
//! Approvals are never answered by the server on its own: they wait, keyed by (session, request
//! id) with a version, until a user decides, the agent withdraws them, or their turn ends.

pub mod codex_items;
pub mod connector;
pub mod data_dir;
pub mod discovery;
pub mod error;
pub mod http;
pub mod hub;
pub mod markdown;
pub mod registry;
pub mod session_actor;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use discovery::codex::{CodexDiscovery, CodexDiscoveryConfig};
pub use error::{Error, Result};
pub use http::{AppState, AuthConfig, app};
pub use registry::{NewSession, Registry};
pub use session_actor::{SessionEvent, SessionHandle};

use connector::{AppServerConfig, AppServerConnector, Connector, ConnectorEvent};

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
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Sessions.
    pub registry: Arc<Registry>,
    stop: Option<oneshot::Sender<()>>,
    serve: JoinHandle<()>,
    demux: JoinHandle<()>,
    // Codex rollout discovery (engineer I): stopped before the registry.
    codex_discovery: Option<discovery::codex::CodexDiscovery>,
}

/// Discovery of sessions started outside the server (Codex rollout files).
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// Watch `CODEX_HOME/sessions` for Codex sessions started elsewhere (default on).
    pub watch_codex: bool,
    /// A passive session with no activity for this long is ended (default 120 s).
    pub passive_idle: Duration,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        Self {
            watch_codex: true,
            passive_idle: Duration::from_secs(120),
        }
    }
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, flushes the store, stops the app-server.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.serve)
            .await
            .is_err()
        {
            self.serve.abort();
        }
        // Stop routing agent events first: the app-server exiting because WE stop it is not a
        // crash to report in transcripts.
        self.demux.abort();
        if let Some(d) = self.codex_discovery.take() {
            d.shutdown().await;
        }
        self.registry.shutdown().await;
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
    let (tx, rx) = mpsc::channel::<ConnectorEvent>(4096);
    let connector = AppServerConnector::new(
        AppServerConfig {
            codex_bin: config.codex_bin.clone(),
            codex_home: config.codex_home.clone(),
            env: config.codex_env.clone(),
            request_timeout: Duration::from_secs(60),
        },
        tx,
    );
    let mut server = start_with_connector(config.clone(), connector, rx).await?;
    if options.watch_codex {
        let mut dc =
            discovery::codex::CodexDiscoveryConfig::new(&config.codex_home, &config.data_dir);
        dc.idle_timeout = options.passive_idle;
        match discovery::codex::CodexDiscovery::start(&server.registry, dc) {
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
    let registry = Registry::open(&data_dir::db_path(&config.data_dir), connector).await?;
    let demux = registry.spawn_demux(events);
    // Claude hook payloads spooled while the server was down (engineer F's discovery module).
    match discovery::claude::drain_spool(registry.clone(), &config.data_dir).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(payloads = n, "applied spooled Claude hook payloads"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot drain the Claude hook spool; kept for next start")
        }
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| Error::io(config.bind.to_string(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io(config.bind.to_string(), e))?;
    let router = app(AppState {
        registry: registry.clone(),
        auth: Arc::new(AuthConfig::new(&config.token, Some(addr.port()))),
    });
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let serve = tokio::spawn(async move {
        let r = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    tracing::info!(%addr, "orbitdock server listening");
    Ok(RunningServer {
        addr,
        registry,
        stop: Some(stop_tx),
        serve,
        demux,
        codex_discovery: None,
    })
}
