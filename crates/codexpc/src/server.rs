//! `codexpc serve`: build an engine, wrap it in a [`Service`], serve the Responses endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::Engine;
use crate::engine::scripted::ScriptedEngine;
use crate::render::RenderConfig;
use crate::responses::{AppState, DEFAULT_BODY_LIMIT, app};
use crate::service::{Service, ServiceConfig};
use crate::{Error, Result};

/// Default listen address (loopback only).
pub const DEFAULT_HTTP: &str = "127.0.0.1:11435";

/// llama.cpp settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    pub threads: Option<usize>,
    pub n_ctx: Option<u32>,
    /// Concurrent sequences (`None` = from the memory available).
    pub slots: Option<u32>,
    pub gpu_layers: u32,
}

/// Which engine to serve.
#[derive(Debug, Clone)]
pub enum EngineChoice {
    /// The scripted engine over a JSONL script.
    Script(PathBuf),
    /// llama.cpp over a gpt-oss GGUF (feature `llama`).
    Model {
        path: PathBuf,
        options: ModelOptions,
    },
    /// A serving engine elsewhere, fed Harmony token ids (see [`crate::engine::remote`]).
    Remote(crate::engine::remote::RemoteConfig),
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub engine: EngineChoice,
    pub http: SocketAddr,
    pub service: ServiceConfig,
    pub render: RenderConfig,
    pub api_key: Option<String>,
    /// The session-protocol socket (`None` = HTTP only).
    pub socket: Option<SocketOptions>,
}

/// The Unix-socket daemon served next to HTTP (see [`crate::daemon`]).
#[derive(Debug, Clone)]
pub struct SocketOptions {
    pub daemon: crate::daemon::DaemonConfig,
    pub tools: crate::tools::ToolsConfig,
}

/// Load the chosen engine (blocking: a model load can take seconds).
pub fn build_engine(choice: &EngineChoice) -> Result<Arc<dyn Engine>> {
    match choice {
        EngineChoice::Script(path) => Ok(Arc::new(ScriptedEngine::from_path(path)?)),
        EngineChoice::Model { path, options } => load_model(path, options),
        EngineChoice::Remote(config) => Ok(Arc::new(crate::engine::remote::RemoteEngine::connect(
            config.clone(),
        )?)),
    }
}

#[cfg(feature = "llama")]
fn load_model(path: &std::path::Path, options: &ModelOptions) -> Result<Arc<dyn Engine>> {
    use crate::engine::llama::{LlamaConfig, LlamaEngine};
    let config = LlamaConfig {
        threads: options.threads,
        n_ctx: options.n_ctx,
        slots: options.slots,
        gpu_layers: options.gpu_layers,
        ..LlamaConfig::default()
    };
    Ok(Arc::new(LlamaEngine::load(path, config)?))
}

#[cfg(not(feature = "llama"))]
fn load_model(path: &std::path::Path, _options: &ModelOptions) -> Result<Arc<dyn Engine>> {
    Err(Error::ModelLoad {
        path: path.to_owned(),
        message: "this codexpc was built without the `llama` feature; rebuild with default features or serve --script".into(),
    })
}

/// Serve until `shutdown` resolves. `on_ready` gets the bound address (port 0 resolved) once the
/// socket accepts connections.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let choice = options.engine.clone();
    let engine = tokio::task::spawn_blocking(move || build_engine(&choice))
        .await
        .map_err(|e| Error::Engine {
            engine: "loader",
            message: e.to_string(),
        })??;
    let service = Arc::new(Service::new(engine, options.service.clone())?);
    let listener = tokio::net::TcpListener::bind(options.http)
        .await
        .map_err(|e| Error::io("binding the HTTP listener", options.http.to_string(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", options.http.to_string(), e))?;
    let loopback_only = addr.ip().is_loopback();
    // One shutdown for both listeners.
    let stop = tokio_util::sync::CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
    }
    let daemon = match &options.socket {
        None => None,
        Some(sock) => {
            let unix = crate::daemon::bind_socket(&sock.daemon.socket_path).await?;
            let mut registry = if sock.tools.demo {
                crate::tools::ToolRegistry::builtin()
            } else {
                crate::tools::ToolRegistry::new()
            };
            let mcp = crate::tools::mcp::McpServers::start(&sock.tools.mcp).await?;
            for tool in mcp.tools() {
                registry.register(tool.clone()).map_err(|e| Error::Config {
                    path: PathBuf::from("[tools.mcp]"),
                    message: e.to_string(),
                })?;
            }
            let executor = crate::tools::ToolExecutor::new(registry, sock.tools.clone());
            let mut config = sock.daemon.clone();
            config.http_base_url = Some(format!("http://{addr}/v1"));
            let daemon = crate::daemon::Daemon::new_with_mcp(
                service.clone(),
                executor,
                options.render.clone(),
                config,
                mcp,
            );
            tracing::info!(
                socket = %sock.daemon.socket_path.display(),
                tools_enabled = sock.tools.enabled,
                allow = ?sock.tools.allow,
                demo = sock.tools.demo,
                mcp_servers = ?sock.tools.mcp.keys().collect::<Vec<_>>(),
                "session socket listening"
            );
            tokio::spawn(daemon.clone().run(unix, stop.clone().cancelled_owned()));
            Some(daemon)
        }
    };
    if !loopback_only {
        tracing::warn!(%addr, "listening on a non-loopback address: Host/Origin checks are off; use --api-key-env");
    }
    let state = AppState {
        service,
        render: options.render.clone(),
        api_key: options.api_key.clone(),
        loopback_only,
        body_limit: DEFAULT_BODY_LIMIT,
        daemon,
    };
    on_ready(addr);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
        .map_err(|e| Error::io("serving HTTP", addr.to_string(), e))
}
