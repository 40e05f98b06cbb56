//! Runs one `codex exec` turn against a Responses-API provider given by flags, in a throw-away
//! `CODEX_HOME`, and prints the typed events.
//!
//! ```sh
//! cargo run -p codex-client --example exec -- --base-url http://127.0.0.1:8080/v1 [--model M] \
//!     [--sandbox read-only|workspace-write|danger-full-access] [--idle-timeout SECS] PROMPT
//! ```
//!
//! The binary is resolved as the library does it: `$CODEX_BIN`, then the project's pinned install
//! under `tools/codex`, then `$PATH`. Set `RUST_LOG=codex_client=debug` to see Codex's stderr.

use std::time::Duration;

use anyhow::{Context, bail};
use codex_client::config::{ConfigFile, ModelProvider};
use codex_client::exec::{ExecBuilder, SandboxMode, ThreadEvent};
use codex_client::{BinaryResolver, CodexHome};

struct Args {
    base_url: String,
    model: String,
    sandbox: Option<SandboxMode>,
    idle_timeout: Option<Duration>,
    prompt: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut base_url = None;
    let mut model = "gpt-oss-20b".to_owned();
    let mut sandbox = None;
    let mut idle_timeout = None;
    let mut prompt = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--base-url" => base_url = Some(value("--base-url")?),
            "--model" => model = value("--model")?,
            "--sandbox" => {
                sandbox = Some(match value("--sandbox")?.as_str() {
                    "read-only" => SandboxMode::ReadOnly,
                    "workspace-write" => SandboxMode::WorkspaceWrite,
                    "danger-full-access" => SandboxMode::DangerFullAccess,
                    other => bail!("unknown sandbox mode {other:?}"),
                })
            }
            "--idle-timeout" => {
                idle_timeout = Some(Duration::from_secs(value("--idle-timeout")?.parse()?))
            }
            "-h" | "--help" => {
                println!(
                    "usage: exec --base-url URL [--model M] [--sandbox MODE] [--idle-timeout SECS] PROMPT"
                );
                std::process::exit(0);
            }
            _ => prompt.push(a),
        }
    }
    let base_url = base_url.context("--base-url is required (e.g. http://127.0.0.1:8080/v1)")?;
    if prompt.is_empty() {
        bail!("a PROMPT is required");
    }
    Ok(Args {
        base_url,
        model,
        sandbox,
        idle_timeout,
        prompt: prompt.join(" "),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = parse_args()?;

    let managed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/codex");
    let binary = BinaryResolver::new().managed_dir(managed).resolve().await?;
    eprintln!("codex {} at {}", binary.version, binary.path.display());

    let tmp = tempfile::tempdir()?;
    let home = CodexHome::new(tmp.path().join("codex-home"));
    home.create()?;
    let mut cfg = ConfigFile::load_home(&home)?;
    cfg.set_model(&args.model)?;
    cfg.set_model_provider("example")?;
    cfg.set_provider(
        "example",
        &ModelProvider::responses("example", &args.base_url),
    )?;
    cfg.set("check_for_update_on_startup", false)?;
    cfg.set("analytics.enabled", false)?;
    cfg.save()?;
    let workdir = tmp.path().join("work");
    std::fs::create_dir_all(&workdir)?;

    let mut builder = ExecBuilder::new(&binary, &home)
        .current_dir(&workdir)
        .skip_git_repo_check(true)
        .prompt(args.prompt);
    if let Some(s) = args.sandbox {
        builder = builder.sandbox(s);
    }
    if let Some(t) = args.idle_timeout {
        builder = builder.idle_timeout(t);
    }
    let mut run = builder.spawn().await?;
    let cancel = run.cancel_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    while let Some(event) = run.next_event().await {
        match event {
            Ok(ThreadEvent::Unknown(v)) => println!("unknown event: {v}"),
            Ok(ev) => println!("{ev:?}"),
            Err(e) => println!("stream error: {e}"),
        }
    }
    let outcome = run.wait().await?;
    println!(
        "done: thread {:?}, turn usage {:?}, last message {:?}",
        outcome.thread_id, outcome.turn_usage, outcome.last_agent_message
    );
    Ok(())
}
