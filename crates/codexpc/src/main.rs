//! The `codexpc` binary: argument parsing and wiring only; the logic lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use codexpc::codex_config::{CodexConfigPlan, DEFAULT_MODEL, configure_codex, default_codex_home};
use codexpc::engine::Sampling;
use codexpc::render::RenderConfig;
use codexpc::server::{DEFAULT_HTTP, EngineChoice, ModelOptions, ServeOptions, serve};
use codexpc::service::ServiceConfig;
use codexpc::sse_client::{SmokeOptions, smoke};

#[derive(Debug, Parser)]
#[command(
    name = "codexpc",
    version,
    about = "Local gpt-oss for Codex: Harmony on llama.cpp behind an OpenAI Responses endpoint"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Responses endpoint; prints `codexpc listening on http://ADDR/v1` first.
    Serve(ServeArgs),
    /// Add a `codexpc` model provider and profile to a Codex home (preserving its content).
    ConfigureCodex(ConfigureArgs),
    /// Stream one reply from a running server to the terminal.
    Smoke(SmokeArgs),
}

#[derive(Debug, Args)]
#[group(id = "engine", required = true, multiple = false)]
struct EngineArgs {
    /// A gpt-oss GGUF model (llama.cpp engine).
    #[arg(long, value_name = "FILE.gguf")]
    model: Option<PathBuf>,
    /// A JSONL script (scripted engine, for tests and demos).
    #[arg(long, value_name = "FILE.jsonl")]
    script: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Listen address (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_HTTP)]
    http: SocketAddr,
    /// Generations allowed to wait while one runs; more get HTTP 429.
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
    /// llama.cpp context size in tokens.
    #[arg(long)]
    ctx: Option<u32>,
    /// Layers offloaded to the GPU (cuda/metal builds).
    #[arg(long, default_value_t = 0)]
    gpu_layers: u32,
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
    #[arg(long, default_value_t = format!("http://{DEFAULT_HTTP}/v1"))]
    base_url: String,
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
            let engine = match (args.engine.model, args.engine.script) {
                (Some(path), None) => EngineChoice::Model {
                    path,
                    options: ModelOptions {
                        threads: args.threads,
                        n_ctx: args.ctx,
                        gpu_layers: args.gpu_layers,
                    },
                },
                (None, Some(path)) => EngineChoice::Script(path),
                _ => anyhow::bail!("give exactly one of --model or --script"),
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
            };
            serve(options, shutdown_signal(), |addr| {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "codexpc listening on http://{addr}/v1");
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
        Command::Smoke(args) => {
            let opts = SmokeOptions {
                base_url: args.base_url,
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
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
