//! Runs one turn through `codex app-server` against a Responses-API provider given by flags, in a
//! throw-away `CODEX_HOME`, printing the events and asking on the terminal (y/n) for every
//! approval.
//!
//! ```sh
//! cargo run -p codex-client --example app_server -- --base-url http://127.0.0.1:8080/v1 \
//!     [--model M] [--approval-policy untrusted|on-request|never] \
//!     [--sandbox read-only|workspace-write|danger-full-access] [--cwd DIR] PROMPT
//! ```
//!
//! The binary is resolved as the library does it: `$CODEX_BIN`, then the project's pinned install
//! under `tools/codex`, then `$PATH`. Set `RUST_LOG=codex_client=debug` to see Codex's stderr.
//! With no `--cwd` the turn runs in an empty temp directory.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use codex_client::app_server::requests::{
    ThreadStart, ThreadStartParams, TurnStart, TurnStartParams,
};
use codex_client::app_server::{
    AppServerBuilder, AppServerEvent, AskForApproval, CommandApprovalDecision,
    FileChangeApprovalDecision, SandboxMode, ServerNotification, ServerRequest,
    ServerRequestParams, ThreadItem, TurnStatus,
};
use codex_client::config::{ConfigFile, ModelProvider};
use codex_client::{BinaryResolver, CodexHome};

struct Args {
    base_url: String,
    model: String,
    approval_policy: AskForApproval,
    sandbox: SandboxMode,
    cwd: Option<PathBuf>,
    prompt: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut base_url = None;
    let mut model = "gpt-oss-20b".to_owned();
    let mut approval_policy = AskForApproval::Untrusted;
    let mut sandbox = SandboxMode::WorkspaceWrite;
    let mut cwd = None;
    let mut prompt = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--base-url" => base_url = Some(value("--base-url")?),
            "--model" => model = value("--model")?,
            "--approval-policy" => {
                approval_policy = match value("--approval-policy")?.as_str() {
                    "untrusted" => AskForApproval::Untrusted,
                    "on-request" => AskForApproval::OnRequest,
                    "never" => AskForApproval::Never,
                    other => bail!("unknown approval policy {other:?}"),
                }
            }
            "--sandbox" => {
                sandbox = match value("--sandbox")?.as_str() {
                    "read-only" => SandboxMode::ReadOnly,
                    "workspace-write" => SandboxMode::WorkspaceWrite,
                    "danger-full-access" => SandboxMode::DangerFullAccess,
                    other => bail!("unknown sandbox mode {other:?}"),
                }
            }
            "--cwd" => cwd = Some(PathBuf::from(value("--cwd")?)),
            "-h" | "--help" => {
                println!(
                    "usage: app_server --base-url URL [--model M] [--approval-policy P] [--sandbox MODE] [--cwd DIR] PROMPT"
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
        approval_policy,
        sandbox,
        cwd,
        prompt: prompt.join(" "),
    })
}

/// Ask a yes/no question on the terminal (off the async runtime: stdin blocks).
async fn ask(question: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        print!("{question} [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(matches!(line.trim(), "y" | "Y" | "yes"))
    })
    .await?
}

/// A human decides every server request; nothing is accepted by default.
async fn answer(req: ServerRequest) -> anyhow::Result<()> {
    let responder = req.responder();
    match &req.params {
        ServerRequestParams::CommandExecutionApproval(p) => {
            let q = format!(
                "\nrun command `{}` in {}{}?",
                p.command.as_deref().unwrap_or("?"),
                p.cwd.as_deref().unwrap_or("?"),
                p.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            let decision = if ask(q).await? {
                CommandApprovalDecision::Accept
            } else {
                CommandApprovalDecision::Decline
            };
            responder.respond_command_approval(decision).await?;
        }
        ServerRequestParams::FileChangeApproval(p) => {
            let q = format!(
                "\napply the file change {}{}?",
                p.item_id,
                p.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            let decision = if ask(q).await? {
                FileChangeApprovalDecision::Accept
            } else {
                FileChangeApprovalDecision::Decline
            };
            responder.respond_file_change_approval(decision).await?;
        }
        ServerRequestParams::ToolRequestUserInput(p) => {
            let mut answers = BTreeMap::new();
            for q in &p.questions {
                let question = q.question.clone();
                let text = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
                    print!("\n{question} > ");
                    std::io::stdout().flush()?;
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    Ok(line.trim().to_owned())
                })
                .await??;
                answers.insert(q.id.clone(), vec![text]);
            }
            responder.respond_user_input(answers).await?;
        }
        _ => {
            println!("\n[refusing unsupported request {}]", req.method);
            responder
                .respond_error(-32601, "this example does not handle that request")
                .await?;
        }
    }
    Ok(())
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
    let cwd = match args.cwd {
        Some(dir) => dir,
        None => {
            let dir = tmp.path().join("work");
            std::fs::create_dir_all(&dir)?;
            dir
        }
    };

    let (server, mut events) = AppServerBuilder::new(&binary.path, home.root())
        .current_dir(&cwd)
        .client_info("codex-client-example", env!("CARGO_PKG_VERSION"))
        .spawn()
        .await?;
    let started = server
        .call::<ThreadStart>(ThreadStartParams {
            cwd: Some(cwd.display().to_string()),
            approval_policy: Some(args.approval_policy),
            sandbox: Some(args.sandbox),
            ..Default::default()
        })
        .await?;
    let thread_id = started.thread.id;
    eprintln!("thread {thread_id} (model {})", started.model);
    let turn = server
        .call::<TurnStart>(TurnStartParams::text(&thread_id, args.prompt))
        .await?
        .turn;

    let interrupt = server.clone();
    let (tid, turn_id) = (thread_id.clone(), turn.id.clone());
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupting...");
            let _ = interrupt
                .call::<codex_client::app_server::requests::TurnInterrupt>(
                    codex_client::app_server::requests::TurnInterruptParams {
                        thread_id: tid,
                        turn_id,
                    },
                )
                .await;
        }
    });

    let mut status = None;
    while let Some(event) = events.recv().await {
        match event {
            AppServerEvent::Notification(n) => match n {
                ServerNotification::AgentMessageDelta(d) => {
                    print!("{}", d.delta);
                    std::io::stdout().flush()?;
                }
                ServerNotification::CommandExecutionOutputDelta(d) => print!("{}", d.delta),
                ServerNotification::ItemCompleted(i) => match &i.item {
                    ThreadItem::AgentMessage { .. } => println!(),
                    ThreadItem::CommandExecution {
                        command,
                        status,
                        exit_code,
                        ..
                    } => println!("[command `{command}`: {status:?}, exit {exit_code:?}]"),
                    other => println!("[{} completed]", other.kind()),
                },
                ServerNotification::TurnCompleted(t) if t.turn.id == turn.id => {
                    if let Some(e) = &t.turn.error {
                        println!("[turn error: {}]", e.message);
                    }
                    status = Some(t.turn.status.clone());
                    break;
                }
                ServerNotification::Error(e) => println!("[error: {}]", e.error.message),
                ServerNotification::Warning(w) => eprintln!("[warning: {}]", w.message),
                ServerNotification::Unknown { method, .. } => eprintln!("[{method}]"),
                _ => {}
            },
            AppServerEvent::Request(req) => {
                // Answer on its own task so events keep flowing while the human thinks.
                tokio::spawn(async move {
                    if let Err(e) = answer(req).await {
                        eprintln!("could not answer: {e}");
                    }
                });
            }
            AppServerEvent::Malformed { line, error } => eprintln!("[malformed: {error}: {line}]"),
            AppServerEvent::Exited {
                status,
                stderr_tail,
            } => {
                bail!("codex app-server exited ({status:?}):\n{stderr_tail}");
            }
            _ => {}
        }
    }
    server.shutdown().await?;
    println!("turn {}: {status:?}", turn.id);
    match status {
        Some(TurnStatus::Completed) => Ok(()),
        other => bail!("turn did not complete: {other:?}"),
    }
}
