//! The `codexpc` binary: argument parsing and wiring only; the logic lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use codexpc::client::Client;
use codexpc::codex_config::{CodexConfigPlan, DEFAULT_MODEL, configure_codex, default_codex_home};
use codexpc::daemon::config::FileConfig;
use codexpc::daemon::{DaemonConfig, default_socket_path};
use codexpc::engine::Sampling;
use codexpc::engine::remote::{RemoteConfig, UpstreamApi};
use codexpc::render::RenderConfig;
use codexpc::server::{
    DEFAULT_HTTP, EngineChoice, ModelOptions, ServeOptions, SocketOptions, serve,
};
use codexpc::service::ServiceConfig;
use codexpc::service_install::{Plan, Platform, ServiceSpec, apply, plan_install, plan_uninstall};
use codexpc::sse_client::{SmokeOptions, smoke};

#[derive(Debug, Parser)]
#[command(
    name = "codexpc",
    version,
    about = "Local gpt-oss for Codex: Harmony on llama.cpp behind an OpenAI Responses endpoint"
)]
struct Cli {
    /// Log as JSON lines (stderr) instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Responses endpoint; prints `codexpc listening on http://ADDR/v1` first.
    Serve(Box<ServeArgs>),
    /// Add a `codexpc` model provider and profile to a Codex home (preserving its content).
    ConfigureCodex(ConfigureArgs),
    /// Stream one reply from a running server to the terminal (socket by default).
    Smoke(SmokeArgs),
    /// Ask a running daemon for its health (socket by default; `--base-url` for HTTP).
    Health(HealthArgs),
    /// Write and enable a systemd user unit (launchd plist on macOS) running `codexpc serve`.
    InstallService(InstallArgs),
    /// Stop, disable and remove the service installed by `install-service`.
    UninstallService(UninstallArgs),
}

#[derive(Debug, Args)]
struct SocketArgs {
    /// Session socket (default: $XDG_RUNTIME_DIR/codexpc.sock, else the data dir).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct HealthArgs {
    #[command(flatten)]
    socket: SocketArgs,
    /// Ask the HTTP endpoint instead (e.g. http://127.0.0.1:11435/v1).
    #[arg(long, conflicts_with = "socket")]
    base_url: Option<String>,
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

#[derive(Debug, Args)]
struct InstallArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Print the file(s) and commands instead of doing anything.
    #[arg(long)]
    dry_run: bool,
    /// `--http` for the service's `serve`.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// `--config` for the service's `serve`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Home directory to install under (default: $HOME).
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct UninstallArgs {
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[group(id = "engine_source", required = true, multiple = false)]
struct EngineArgs {
    /// A gpt-oss GGUF model (llama.cpp engine).
    #[arg(long, value_name = "FILE.gguf")]
    model: Option<PathBuf>,
    /// A JSONL script (scripted engine, for tests and demos).
    #[arg(long, value_name = "FILE.jsonl")]
    script: Option<PathBuf>,
    /// A serving engine fed Harmony token ids (`--engine openai-compat`): vLLM
    /// (`http://HOST:8000`) or llama.cpp's server (`http://HOST:8080`, `--upstream-api llama-cpp`).
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
}

/// Which engine `serve` runs; implied by --model / --script / --upstream, checked when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EngineKind {
    Llama,
    Scripted,
    OpenaiCompat,
}

impl EngineKind {
    fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Scripted => "scripted",
            Self::OpenaiCompat => "openai-compat",
        }
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// The engine (optional: --model, --script and --upstream imply it).
    #[arg(long = "engine", value_enum)]
    engine_kind: Option<EngineKind>,
    /// The upstream's API: `vllm` (`/v1/completions`) or `llama-cpp` (`/completion`).
    #[arg(long, default_value = "vllm", value_name = "API")]
    upstream_api: String,
    /// Model name sent to the upstream (default: the first it lists).
    #[arg(long, value_name = "NAME")]
    upstream_model: Option<String>,
    /// Environment variable holding the upstream's bearer key.
    #[arg(long, value_name = "VAR")]
    upstream_key_env: Option<String>,
    /// Listen address (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_HTTP)]
    http: SocketAddr,
    /// Generations allowed to wait while every slot is busy; more get HTTP 429.
    #[arg(long, default_value_t = 8)]
    max_queue: usize,
    /// Require `Authorization: Bearer $VAR` (Codex provider `env_key`) on all routes but /health.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// Write every rendered prompt (decoded Harmony text) to DIR/prompt-NNNN.txt.
    #[arg(long, value_name = "DIR")]
    dump_prompts: Option<PathBuf>,
    /// `Current date:` in the system message (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    conversation_date: Option<String>,
    /// Default sampling temperature (requests may override).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Default top-p.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Default seed.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Default cap on generated tokens per response.
    #[arg(long)]
    max_output_tokens: Option<u32>,
    /// llama.cpp threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// llama.cpp context size of one conversation (slot) in tokens.
    #[arg(long)]
    ctx: Option<u32>,
    /// Conversations decoded concurrently, each keeping its own KV prefix (default: from the
    /// memory available, at most 4).
    #[arg(long, value_name = "N")]
    slots: Option<u32>,
    /// Layers offloaded to the GPU (cuda/metal builds).
    #[arg(long, default_value_t = 0)]
    gpu_layers: u32,
    #[command(flatten)]
    socket: SocketArgs,
    /// Serve HTTP only (no session socket).
    #[arg(long, conflicts_with = "socket")]
    no_socket: bool,
    /// TOML configuration: `[tools]` (enabled, allow, timeout_ms, max_output_bytes, demo),
    /// `[tools.mcp.NAME]` (command, args, env, cwd, startup_timeout_ms, timeout_ms) and
    /// `[daemon]` (max_sessions, max_message_bytes, coalesce_ms, max_tool_rounds,
    /// client_tool_timeout_ms).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Enable in-daemon tool execution (off by default; also `[tools] enabled`).
    #[arg(long)]
    enable_tools: bool,
    /// Register the demo tools echo, upper and sleep (also `[tools] demo`); they still need
    /// --enable-tools and --allow-tool.
    #[arg(long)]
    demo_tools: bool,
    /// Allow a tool by name (repeatable; adds to `[tools] allow`).
    #[arg(long, value_name = "NAME")]
    allow_tool: Vec<String>,
}

#[derive(Debug, Args)]
struct ConfigureArgs {
    /// Codex home (default: $CODEX_HOME, else ~/.codex).
    #[arg(long)]
    codex_home: Option<PathBuf>,
    /// Base URL of a running codexpc (what `serve` printed).
    #[arg(long, default_value_t = format!("http://{DEFAULT_HTTP}/v1"))]
    base_url: String,
    /// Model name Codex sends.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Environment variable holding the bearer key (when serving with --api-key-env).
    #[arg(long, value_name = "VAR")]
    env_key: Option<String>,
}

#[derive(Debug, Args)]
struct SmokeArgs {
    /// Use the HTTP endpoint (e.g. http://127.0.0.1:11435/v1) instead of the socket.
    #[arg(long, conflicts_with = "socket")]
    base_url: Option<String>,
    #[command(flatten)]
    socket: SocketArgs,
    #[arg(long)]
    prompt: String,
    #[arg(long)]
    model: Option<String>,
    /// Environment variable holding the bearer key.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn read_key(var: Option<&str>) -> anyhow::Result<Option<String>> {
    var.map(|v| std::env::var(v).with_context(|| format!("environment variable {v} is not set")))
        .transpose()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let args = *args;
            let implied = match (
                &args.engine.model,
                &args.engine.script,
                &args.engine.upstream,
            ) {
                (Some(_), None, None) => EngineKind::Llama,
                (None, Some(_), None) => EngineKind::Scripted,
                (None, None, Some(_)) => EngineKind::OpenaiCompat,
                _ => anyhow::bail!("give exactly one of --model, --script or --upstream"),
            };
            if let Some(kind) = args.engine_kind
                && kind != implied
            {
                anyhow::bail!(
                    "--engine {} does not match the engine source given ({}): \
                     llama takes --model, scripted --script, openai-compat --upstream",
                    kind.name(),
                    implied.name()
                );
            }
            let engine = match (args.engine.model, args.engine.script, args.engine.upstream) {
                (Some(path), _, _) => EngineChoice::Model {
                    path,
                    options: ModelOptions {
                        threads: args.threads,
                        n_ctx: args.ctx,
                        slots: args.slots,
                        gpu_layers: args.gpu_layers,
                    },
                },
                (_, Some(path), _) => EngineChoice::Script(path),
                (_, _, Some(url)) => {
                    let api: UpstreamApi = args
                        .upstream_api
                        .parse()
                        .map_err(|e: String| anyhow::anyhow!(e))?;
                    let mut config = RemoteConfig::new(url, api);
                    config.model = args.upstream_model;
                    config.api_key = read_key(args.upstream_key_env.as_deref())?;
                    config.context_size = args.ctx.map(|c| c as usize);
                    if let Some(n) = args.slots {
                        config.slots = n as usize;
                    }
                    EngineChoice::Remote(config)
                }
                _ => anyhow::bail!("give exactly one of --model, --script or --upstream"),
            };
            let options = ServeOptions {
                engine,
                http: args.http,
                service: ServiceConfig {
                    max_queue: args.max_queue,
                    default_sampling: Sampling {
                        temperature: args.temperature,
                        top_p: args.top_p,
                        seed: args.seed,
                        max_tokens: args.max_output_tokens,
                    },
                    dump_prompts: args.dump_prompts,
                },
                render: RenderConfig {
                    conversation_date: args.conversation_date,
                },
                api_key: read_key(args.api_key_env.as_deref())?,
                socket: None,
            };
            let mut options = options;
            // --- session socket ---
            if !args.no_socket {
                let file = match &args.config {
                    Some(p) => FileConfig::load(p)?,
                    None => FileConfig::default(),
                };
                let mut daemon = DaemonConfig::new(
                    args.socket
                        .socket
                        .clone()
                        .unwrap_or_else(default_socket_path),
                );
                file.daemon.apply(&mut daemon);
                let mut tools = file.tools;
                tools.enabled |= args.enable_tools;
                tools.demo |= args.demo_tools;
                for name in args.allow_tool {
                    if !tools.allow.contains(&name) {
                        tools.allow.push(name);
                    }
                }
                options.socket = Some(SocketOptions { daemon, tools });
            }
            let socket_path = options
                .socket
                .as_ref()
                .map(|s| s.daemon.socket_path.clone());
            serve(options, shutdown_signal(), |addr| {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "codexpc listening on http://{addr}/v1");
                if let Some(p) = &socket_path {
                    let _ = writeln!(out, "codexpc socket at {}", p.display());
                }
                let _ = out.flush();
            })
            .await?;
        }
        Command::ConfigureCodex(args) => {
            let codex_home = args
                .codex_home
                .or_else(default_codex_home)
                .context("no --codex-home, no $CODEX_HOME and no home directory")?;
            let written = configure_codex(&CodexConfigPlan {
                codex_home,
                base_url: args.base_url,
                model: args.model,
                env_key: args.env_key,
            })?;
            println!("wrote {}", written.config.display());
            println!("wrote {}", written.profile.display());
            println!("use it with: codex -p codexpc");
        }
        Command::Smoke(args) if args.base_url.is_none() => {
            let path = args.socket.socket.unwrap_or_else(default_socket_path);
            smoke_socket(&path, &args.prompt, Duration::from_secs(args.timeout_secs)).await?;
        }
        Command::Health(args) => {
            let timeout = Duration::from_secs(args.timeout_secs);
            let health = match args.base_url {
                Some(base) => {
                    let url = format!(
                        "{}/health",
                        base.trim_end_matches('/').trim_end_matches("/v1")
                    );
                    reqwest::Client::builder()
                        .timeout(timeout)
                        .build()?
                        .get(&url)
                        .send()
                        .await
                        .with_context(|| format!("GET {url}"))?
                        .error_for_status()?
                        .json::<serde_json::Value>()
                        .await?
                }
                None => {
                    let path = args.socket.socket.unwrap_or_else(default_socket_path);
                    Client::connect(&path, timeout).await?.health().await?
                }
            };
            println!("{}", serde_json::to_string_pretty(&health)?);
        }
        Command::InstallService(args) => {
            let home = args
                .home
                .or_else(dirs::home_dir)
                .context("no --home and no home directory")?;
            let binary = std::env::current_exe().context("locating the codexpc binary")?;
            let mut serve_args: Vec<std::ffi::OsString> = vec!["serve".into()];
            match (args.engine.model, args.engine.script, args.engine.upstream) {
                (Some(m), None, None) => {
                    serve_args.push("--model".into());
                    serve_args.push(std::path::absolute(&m)?.into());
                }
                (None, Some(s), None) => {
                    serve_args.push("--script".into());
                    serve_args.push(std::path::absolute(&s)?.into());
                }
                (None, None, Some(u)) => {
                    serve_args.push("--upstream".into());
                    serve_args.push(u.into());
                }
                _ => anyhow::bail!("give exactly one of --model, --script or --upstream"),
            }
            if let Some(http) = args.http {
                serve_args.push("--http".into());
                serve_args.push(http.to_string().into());
            }
            if let Some(c) = args.config {
                serve_args.push("--config".into());
                serve_args.push(std::path::absolute(&c)?.into());
            }
            let spec = ServiceSpec {
                binary,
                args: serve_args,
                env: vec![("RUST_LOG".into(), "info".into())],
                log_dir: dirs::data_dir()
                    .unwrap_or_else(|| home.join(".local/share"))
                    .join("codexpc")
                    .join("logs"),
            };
            let plan = plan_install(Platform::current(), &home, &spec)?;
            apply_or_print(&plan, args.dry_run)?;
        }
        Command::UninstallService(args) => {
            let home = args
                .home
                .or_else(dirs::home_dir)
                .context("no --home and no home directory")?;
            let plan = plan_uninstall(Platform::current(), &home);
            apply_or_print(&plan, args.dry_run)?;
        }
        Command::Smoke(args) => {
            let opts = SmokeOptions {
                base_url: args
                    .base_url
                    .unwrap_or_else(|| format!("http://{DEFAULT_HTTP}/v1")),
                prompt: args.prompt,
                model: args.model,
                api_key: read_key(args.api_key_env.as_deref())?,
                timeout: Duration::from_secs(args.timeout_secs),
            };
            smoke(&opts, &mut std::io::stdout(), &mut std::io::stderr()).await?;
        }
    }
    Ok(())
}

/// `install-service`/`uninstall-service`: print the plan (dry run) or carry it out.
fn apply_or_print(plan: &Plan, dry_run: bool) -> anyhow::Result<()> {
    if dry_run {
        print!("{}", plan.render());
        return Ok(());
    }
    let report = apply(plan)?;
    for p in &report.written {
        println!("wrote {}", p.display());
    }
    for p in &report.removed {
        println!("removed {}", p.display());
    }
    for c in &report.ran {
        println!("ran {c}");
    }
    for (c, why) in &report.skipped {
        println!("skipped `{c}`: {why} (is the service manager running? run it by hand)");
    }
    Ok(())
}

/// `smoke` over the socket: stream the final-channel text to stdout, usage to stderr.
async fn smoke_socket(
    path: &std::path::Path,
    prompt: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut client = Client::connect(path, timeout).await?;
    let id = client
        .create(
            serde_json::json!({"input": [{"type": "message", "role": "user", "content": prompt}]}),
        )
        .await?;
    let mut out = std::io::stdout().lock();
    loop {
        let m = client.recv_for(&id).await?;
        match m["type"].as_str() {
            Some("output_text.delta") => {
                let _ = write!(out, "{}", m["text"].as_str().unwrap_or(""));
                let _ = out.flush();
            }
            Some("output_item.done") => eprintln!(
                "[{}] {}",
                m["item"]["type"].as_str().unwrap_or("item"),
                m["item"]
            ),
            Some("completed") => {
                let _ = writeln!(out);
                eprintln!("completed: {}", m["token_usage"]);
                return Ok(());
            }
            Some("error") => anyhow::bail!(
                "{}: {}",
                m["code"].as_str().unwrap_or("error"),
                m["message"].as_str().unwrap_or("")
            ),
            _ => {}
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if cli.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    }
    // Before any thread exists: prepares the vocabulary and sets TIKTOKEN_ENCODINGS_BASE.
    if let Err(e) = codexpc::harmony::init() {
        eprintln!("codexpc: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("codexpc: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codexpc: {e:#}");
            ExitCode::FAILURE
        }
    }
}
