//! `orbitdock`: the command line of the OrbitDock control plane.
//!
//! Thin on purpose: `serve` wires configuration, logging and the Codex binary into
//! `orbitdock_server::start`; the other subcommands call a running server through
//! `orbitdock-client`, which finds it through `DATA_DIR/server.json` and `DATA_DIR/token`.
//! Every subcommand takes `--data-dir` (default: the XDG data dir, `~/.local/share/orbitdock`).

mod hosts_cli;
mod listen_cli;
mod mcp;
mod mcp_install;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use codex_client::{BinaryResolver, CodexHome};
use orbitdock_client::{Client, ItemsQuery};
use orbitdock_protocol::{ApprovalDecision, ItemBody, TranscriptItem};
use orbitdock_server::data_dir::{self, ServerInfo};

#[derive(Debug, Parser)]
#[command(
    name = "orbitdock",
    version,
    about = "OrbitDock: a control plane for Codex sessions"
)]
struct Cli {
    /// Data directory (database, token, logs, server.json).
    #[arg(long, global = true, env = "ORBITDOCK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the server (REST + WebSocket + web UI) in the foreground.
    Serve {
        #[command(flatten)]
        listen: listen_cli::ListenArgs,
        /// CODEX_HOME for the shared app-server (default: $CODEX_HOME or ~/.codex).
        #[arg(long)]
        codex_home: Option<PathBuf>,
        /// The codex binary (default: $CODEX_BIN, DATA_DIR/codex, $PATH; installed if missing).
        #[arg(long)]
        codex_bin: Option<PathBuf>,
        /// End a passive (discovered) Codex session after this many seconds without activity.
        #[arg(long, default_value_t = 120)]
        passive_idle_secs: u64,
        /// Do not watch CODEX_HOME/sessions for Codex sessions started elsewhere.
        #[arg(long)]
        no_watch: bool,
        /// Run Codex as a private stdio child only this server talks to, instead of the shared
        /// runtime on DATA_DIR/runtime/codex-app-server.sock that `orbitdock attach` joins from
        /// a terminal. (The shared runtime ends with the server, even a killed one, and is
        /// restarted by it after a crash.)
        #[arg(long, conflicts_with = "shared_runtime")]
        private_runtime: bool,
        /// The default; kept so existing command lines keep working.
        #[arg(long, hide = true)]
        shared_runtime: bool,
        /// Serve this gpt-oss GGUF model as the local provider: the server starts and supervises
        /// `codexpc serve` (a codexpc already running on its socket is used instead).
        #[arg(long, value_name = "FILE.gguf")]
        local_model: Option<PathBuf>,
        /// The codexpc binary (default: $CODEXPC_BIN, next to this binary, $PATH).
        #[arg(long)]
        codexpc_bin: Option<PathBuf>,
        /// codexpc's session socket (default: codexpc's own default).
        #[arg(long)]
        codexpc_socket: Option<PathBuf>,
        /// An extra argument for `codexpc serve` (repeatable, e.g. `--codexpc-arg=--ctx=16384`).
        #[arg(long = "codexpc-arg", value_name = "ARG", allow_hyphen_values = true)]
        codexpc_args: Vec<String>,
        /// Most KiB of one command's output stored (its start and end; the whole output stays
        /// readable from the agent's own record through "Show full output").
        #[arg(long, value_name = "KIB", default_value_t = 256)]
        max_item_output_kib: usize,
        /// Most MiB of command output stored per session; past it each further output keeps
        /// 4 KiB.
        #[arg(long, value_name = "MIB", default_value_t = 16)]
        max_session_output_mib: u64,
        /// Most MiB of command output stored across all sessions; past it the oldest sessions'
        /// outputs are cut to their start and end (4 KiB each), still readable in full from the
        /// agent's own record.
        #[arg(long, value_name = "MIB", default_value_t = 1024)]
        max_total_output_mib: u64,
    },
    /// Print the API token (`--rotate` replaces it; restart the server afterwards).
    Token {
        /// Replace the token.
        #[arg(long)]
        rotate: bool,
    },
    /// Pair a phone or another computer: prints a one-time link (valid a few minutes) and its
    /// QR code. Opening it signs that device in with its own revocable session; the API token
    /// never leaves this machine.
    Pair {
        /// The paired device's name (default: from its browser).
        #[arg(long)]
        name: Option<String>,
        /// How long the code works, in seconds (at most 900).
        #[arg(long, default_value_t = 300)]
        ttl: u64,
        /// The address the device reaches this server at (e.g. `https://hub.example.ts.net`);
        /// default: the server's own URL.
        #[arg(long, value_name = "BASE_URL")]
        url: Option<String>,
        /// Print JSON (with the link; no QR code).
        #[arg(long)]
        json: bool,
    },
    /// Sign this machine's browser in: mints a one-time link (no API token in it) and opens
    /// it with the desktop's opener (`xdg-open`, or `open` on macOS). The browser becomes a
    /// device called "Browser on this machine", listed and revocable like any other.
    Open {
        /// Only print the link; do not start a browser.
        #[arg(long)]
        print: bool,
    },
    /// List paired devices, or revoke one.
    Devices {
        /// Revoke this device (its id from the list).
        #[arg(long, value_name = "ID")]
        revoke: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete the hub's record of old sessions (ended or failed ones with no activity for
    /// DURATION; live ones are never touched). The agents' own files (Codex rollouts, Claude
    /// transcripts) stay; pruned Codex threads are not imported again. Needs the server running.
    Prune {
        /// How old: numbers with units, e.g. 30d, 12h, 2w, 1d12h.
        #[arg(long, value_name = "DURATION")]
        older_than: String,
        /// Only archived sessions.
        #[arg(long)]
        archived_only: bool,
        /// Show what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List sessions.
    Sessions {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a session and its recent transcript.
    Show {
        /// Session id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a message to a session.
    Send {
        /// Session id.
        id: String,
        /// The message.
        text: String,
    },
    /// Continue a Codex session in this terminal: runs the real Codex TUI joined to the hub's
    /// shared runtime on the session's thread (`codex --remote unix://… resume THREAD`). The
    /// hub and the terminal then drive the same live thread. Not with `serve --private-runtime`.
    Attach {
        /// Session id.
        id: String,
        /// Print the command instead of running it.
        #[arg(long)]
        print: bool,
    },
    /// Answer a pending approval (accept by default).
    Approve {
        /// Session id.
        id: String,
        /// The approval's request id.
        request_id: String,
        /// Decline instead of accepting.
        #[arg(long)]
        decline: bool,
    },
    /// Hook entry point run by an agent (reads one payload on stdin, forwards it to the server
    /// within 50 ms or spools it; always exits 0; prints nothing on stdout except a Codex
    /// PermissionRequest decision made in the hub).
    Hook {
        #[command(subcommand)]
        agent: HookAgent,
    },
    /// Serve the hub's sessions to an agent as an MCP server on stdio (read-only unless
    /// `--allow-actions`); `mcp install codex|claude` registers it with an agent.
    #[command(args_conflicts_with_subcommands = true)]
    Mcp {
        /// Allow the action tools (send_message, steer, interrupt_turn, approve,
        /// create_session, compact, fork, review); without it they refuse with a tool error.
        #[arg(long)]
        allow_actions: bool,
        #[command(subcommand)]
        action: Option<McpAction>,
    },
    /// Install or remove OrbitDock's hooks in an agent's settings.
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
    /// The Codex hosts this hub can run sessions on (other machines, other CODEX_HOMEs).
    Hosts {
        #[command(subcommand)]
        action: hosts_cli::HostsAction,
    },
    /// On a machine that should run agents for a hub: serve Codex to it.
    Host {
        #[command(subcommand)]
        action: hosts_cli::HostAction,
    },
}

/// `mcp install|uninstall codex|claude`.
#[derive(Debug, Subcommand)]
enum McpAction {
    /// Register the bridge as an MCP server of an agent (idempotent; other entries kept).
    Install {
        #[command(subcommand)]
        agent: McpTarget,
    },
    /// Remove the bridge's entry from an agent's config.
    Uninstall {
        #[command(subcommand)]
        agent: McpTarget,
    },
}

/// The agent config to edit.
#[derive(Debug, Subcommand)]
enum McpTarget {
    /// Codex: `[mcp_servers.orbitdock]` in CODEX_HOME/config.toml.
    Codex {
        /// CODEX_HOME (default: $CODEX_HOME or ~/.codex).
        #[arg(long)]
        codex_home: Option<PathBuf>,
        /// Let the agent take actions (otherwise the bridge is read-only).
        #[arg(long)]
        allow_actions: bool,
        /// Let Codex call the bridge's action tools without asking first
        /// (`default_tools_approval_mode = "approve"`). Without it Codex asks before each
        /// action (on-request sessions) or refuses it when it cannot ask (`codex exec`). The
        /// bridge's own allowlist still applies: a read-only bridge refuses actions anyway.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Claude Code: `mcpServers.orbitdock` in ~/.claude.json (or a project's .mcp.json).
    Claude {
        /// The JSON config file (default ~/.claude.json).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Let the agent take actions (otherwise the bridge is read-only).
        #[arg(long)]
        allow_actions: bool,
    },
}

/// Agents whose hooks OrbitDock receives.
#[derive(Debug, Subcommand)]
enum HookAgent {
    /// Claude Code (any hook event).
    Claude,
    /// Codex CLI (any hook event; a PermissionRequest waits for a decision in the hub).
    Codex {
        /// How long a PermissionRequest waits for a person in the hub before the terminal's
        /// own prompt takes over (ms; capped below the installed hook timeout).
        #[arg(long)]
        permission_wait_ms: Option<u64>,
        /// Budget for forwarding an event before it is spooled (ms).
        #[arg(long)]
        budget_ms: Option<u64>,
    },
}

/// `hooks install|uninstall|status claude [--settings PATH]` / `codex [--codex-home DIR]`.
#[derive(Debug, Subcommand)]
enum HooksAction {
    /// Merge our hook entries into the agent's settings (idempotent; others' hooks kept).
    Install {
        #[command(subcommand)]
        agent: HookTarget,
    },
    /// Remove only our hook entries.
    Uninstall {
        #[command(subcommand)]
        agent: HookTarget,
    },
    /// List the events our hooks are installed for.
    Status {
        #[command(subcommand)]
        agent: HookTarget,
    },
}

/// The settings file to edit.
#[derive(Debug, Subcommand)]
enum HookTarget {
    /// Claude Code's settings.json (default ~/.claude/settings.json).
    Claude {
        /// Path of settings.json.
        #[arg(long)]
        settings: Option<PathBuf>,
    },
    /// Codex's hooks.json or `[hooks]` in config.toml of a CODEX_HOME, with Codex's trust record.
    Codex {
        /// CODEX_HOME (default: $CODEX_HOME or ~/.codex).
        #[arg(long)]
        codex_home: Option<PathBuf>,
        /// The codex binary asked to record trust and report it (default: $CODEX_BIN,
        /// DATA_DIR/codex, $PATH).
        #[arg(long)]
        codex_bin: Option<PathBuf>,
        /// Install: how long a PermissionRequest waits for the hub (ms) before the terminal
        /// prompt takes over (default 120000).
        #[arg(long)]
        permission_wait_ms: Option<u64>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(data_dir::default_data_dir);
    // Hooks run inside the agent's loop: no runtime, no logging set-up, nothing on stdout.
    match &cli.command {
        Cmd::Hook {
            agent: HookAgent::Claude,
        } => {
            claude_hooks::run_hook(
                &data_dir,
                std::io::stdin().lock(),
                claude_hooks::DEFAULT_BUDGET,
            );
            return Ok(());
        }
        Cmd::Hook {
            agent:
                HookAgent::Codex {
                    permission_wait_ms,
                    budget_ms,
                },
        } => {
            let mut cfg = codex_hooks::RunnerConfig::new(&data_dir);
            if let Some(ms) = permission_wait_ms {
                cfg.permission_wait = std::time::Duration::from_millis(*ms);
            }
            if let Some(ms) = budget_ms {
                cfg.forward_budget = std::time::Duration::from_millis(*ms);
            }
            let mut out = std::io::stdout().lock();
            codex_hooks::run_hook(&cfg, std::io::stdin().lock(), &mut out);
            return Ok(());
        }
        Cmd::Hooks { action } => {
            let (HooksAction::Install { agent }
            | HooksAction::Uninstall { agent }
            | HooksAction::Status { agent }) = action;
            if let HookTarget::Codex {
                codex_home,
                codex_bin,
                permission_wait_ms,
            } = agent
            {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the tokio runtime")?;
                return rt.block_on(codex_hooks_action(
                    action,
                    &data_dir,
                    codex_home.clone(),
                    codex_bin.clone(),
                    *permission_wait_ms,
                ));
            }
            return hooks_action(action, &data_dir);
        }
        Cmd::Mcp {
            action: Some(action),
            ..
        } => return mcp_action(action, &data_dir),
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(run(cli.command, data_dir))
}

/// `orbitdock mcp install|uninstall codex|claude`.
fn mcp_action(action: &McpAction, data_dir: &Path) -> Result<()> {
    let (McpAction::Install { agent } | McpAction::Uninstall { agent }) = action;
    let install = matches!(action, McpAction::Install { .. });
    let allow_actions = match agent {
        McpTarget::Codex { allow_actions, .. } | McpTarget::Claude { allow_actions, .. } => {
            *allow_actions
        }
    };
    let exe = std::env::current_exe().context("locating the orbitdock binary")?;
    let (command, args) = mcp_install::bridge_command(&exe, &absolute(data_dir)?, allow_actions);
    let mode = if allow_actions {
        "actions allowed"
    } else {
        "read-only"
    };
    match agent {
        McpTarget::Codex {
            codex_home,
            auto_approve,
            ..
        } => {
            let home = match codex_home {
                Some(h) => CodexHome::new(h),
                None => CodexHome::default_user().context("finding CODEX_HOME")?,
            };
            if install {
                let path = mcp_install::install_codex(&home, &command, &args, *auto_approve)?;
                println!(
                    "installed the OrbitDock MCP bridge ({mode}{}) as [mcp_servers.{}] in {}",
                    if *auto_approve {
                        ", Codex calls it without asking"
                    } else {
                        ""
                    },
                    mcp_install::ENTRY,
                    path.display()
                );
            } else if mcp_install::uninstall_codex(&home)? {
                println!("removed [mcp_servers.{}]", mcp_install::ENTRY);
            } else {
                println!("no [mcp_servers.{}] entry to remove", mcp_install::ENTRY);
            }
        }
        McpTarget::Claude { config, .. } => {
            let path = match config {
                Some(p) => p.clone(),
                None => mcp_install::default_claude_config()?,
            };
            if install {
                mcp_install::install_claude(&path, &command, &args)?;
                println!(
                    "installed the OrbitDock MCP bridge ({mode}) as mcpServers.{} in {}",
                    mcp_install::ENTRY,
                    path.display()
                );
            } else if mcp_install::uninstall_claude(&path)? {
                println!(
                    "removed mcpServers.{} from {}",
                    mcp_install::ENTRY,
                    path.display()
                );
            } else {
                println!(
                    "no mcpServers.{} entry in {}",
                    mcp_install::ENTRY,
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// `orbitdock hooks install|uninstall|status claude`.
fn hooks_action(action: &HooksAction, data_dir: &Path) -> Result<()> {
    let (HooksAction::Install { agent }
    | HooksAction::Uninstall { agent }
    | HooksAction::Status { agent }) = action;
    let HookTarget::Claude { settings } = agent else {
        bail!("not a Claude Code target");
    };
    let settings = match settings {
        Some(p) => p.clone(),
        None => claude_hooks::settings_install::default_settings_path()
            .context("HOME is not set; pass --settings")?,
    };
    match action {
        HooksAction::Install { .. } => {
            let exe = std::env::current_exe().context("locating the orbitdock binary")?;
            let cmd = claude_hooks::hook_command(&exe, &absolute(data_dir)?);
            let c = claude_hooks::install(&settings, &cmd)?;
            println!(
                "installed {} Claude hooks in {} (replaced {}): {cmd}",
                c.added,
                settings.display(),
                c.removed
            );
        }
        HooksAction::Uninstall { .. } => {
            let c = claude_hooks::uninstall(&settings)?;
            println!(
                "removed {} OrbitDock hooks from {}",
                c.removed,
                settings.display()
            );
        }
        HooksAction::Status { .. } => {
            let evs = claude_hooks::installed_events(&settings)?;
            if evs.is_empty() {
                println!("no OrbitDock hooks in {}", settings.display());
            } else {
                println!("{}: {}", settings.display(), evs.join(", "));
            }
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// The codex binary that records and reports hook trust, if one can be found (never installed
/// here: without one, the person is told the one manual step).
/// A `--codex-bin` that does not work is an error, not a silent fallback.
async fn trust_binary(data_dir: &Path, explicit: Option<PathBuf>) -> Result<Option<PathBuf>> {
    let mut resolver = BinaryResolver::new().managed_dir(data_dir.join("codex"));
    let explicit_given = explicit.is_some();
    if let Some(b) = explicit {
        resolver = resolver.explicit(b);
    }
    match resolver.resolve().await {
        Ok(b) => Ok(Some(b.path)),
        Err(e) if explicit_given => Err(e).context("--codex-bin"),
        Err(_) => Ok(None),
    }
}

/// `orbitdock hooks install|uninstall|status codex`.
async fn codex_hooks_action(
    action: &HooksAction,
    data_dir: &Path,
    codex_home: Option<PathBuf>,
    codex_bin: Option<PathBuf>,
    permission_wait_ms: Option<u64>,
) -> Result<()> {
    let home = match codex_home {
        Some(h) => absolute(&h)?,
        None => CodexHome::default_user()
            .context("finding CODEX_HOME; pass --codex-home")?
            .root()
            .to_path_buf(),
    };
    match action {
        HooksAction::Install { .. } => {
            let exe = std::env::current_exe().context("locating the orbitdock binary")?;
            let mut cmd = codex_hooks::hook_command(&exe, Some(&absolute(data_dir)?));
            if let Some(ms) = permission_wait_ms {
                cmd.push_str(&format!(" --permission-wait-ms {ms}"));
            }
            let c = codex_hooks::install(&home, &cmd)?;
            let file = c.format.map(|f| f.path(&home)).unwrap_or_default();
            println!(
                "installed {} Codex hooks in {} (replaced {}): {cmd}",
                c.added,
                file.display(),
                c.removed
            );
            match trust_binary(data_dir, codex_bin).await? {
                Some(bin) => {
                    let r = codex_hooks::trust_our_hooks(&bin, &home)
                        .await
                        .context("recording trust for the OrbitDock hooks")?;
                    println!(
                        "trusted {} hooks in {} (Codex runs all {} OrbitDock hooks)",
                        r.trusted.len(),
                        home.join(codex_hooks::hooks_file::CONFIG_TOML).display(),
                        r.hooks.len()
                    );
                    for w in r.warnings {
                        println!("codex warns: {w}");
                    }
                }
                None => println!(
                    "no codex binary found to record trust; do this once: {}",
                    codex_hooks::MANUAL_TRUST_STEPS
                ),
            }
        }
        HooksAction::Uninstall { .. } => {
            let c = codex_hooks::uninstall(&home)?;
            println!(
                "removed {} OrbitDock hooks from {}",
                c.removed,
                home.display()
            );
        }
        HooksAction::Status { .. } => {
            let st = codex_hooks::hooks_file::file_status(&home)?;
            if st.ours.is_empty() {
                println!("no OrbitDock hooks in {}", home.display());
                return Ok(());
            }
            let events: Vec<&str> = st.ours.iter().map(|h| h.event.as_str()).collect();
            println!("{}: {}", home.display(), events.join(", "));
            if !st.missing.is_empty() {
                let m: Vec<&str> = st.missing.iter().map(|e| e.as_str()).collect();
                println!(
                    "missing: {} (run `orbitdock hooks install codex`)",
                    m.join(", ")
                );
            }
            if !st.duplicated.is_empty() {
                println!("installed twice: {}", st.duplicated.join(", "));
            }
            if st.both_files_have_hooks {
                println!("hooks.json and config.toml both hold hooks: Codex loads both and warns");
            }
            match trust_binary(data_dir, codex_bin).await? {
                Some(bin) => {
                    let (hooks, warnings) = codex_hooks::trust_status(&bin, &home).await?;
                    let idle: Vec<String> = hooks
                        .iter()
                        .filter(|h| !h.runs())
                        .map(|h| format!("{} ({:?})", h.hook.event_name, h.hook.trust_status))
                        .collect();
                    if idle.is_empty() {
                        println!("trust: Codex runs all {} OrbitDock hooks", hooks.len());
                    } else {
                        println!(
                            "trust: Codex does NOT run {}; run `orbitdock hooks install codex` again, or: {}",
                            idle.join(", "),
                            codex_hooks::MANUAL_TRUST_STEPS
                        );
                    }
                    for w in warnings {
                        println!("codex warns: {w}");
                    }
                }
                None => println!(
                    "trust entries recorded for {} of {} hooks (no codex binary to check them; if they do not run: {})",
                    st.trust_recorded.len(),
                    st.ours.len(),
                    codex_hooks::MANUAL_TRUST_STEPS
                ),
            }
        }
    }
    Ok(())
}

async fn run(cmd: Cmd, data_dir: PathBuf) -> Result<()> {
    match cmd {
        Cmd::Serve {
            listen,
            codex_home,
            codex_bin,
            passive_idle_secs,
            no_watch,
            private_runtime,
            shared_runtime: _,
            local_model,
            codexpc_bin,
            codexpc_socket,
            codexpc_args,
            max_item_output_kib,
            max_session_output_mib,
            max_total_output_mib,
        } => {
            let output_limits = orbitdock_server::retention::OutputLimits {
                per_item: max_item_output_kib.max(1).saturating_mul(1024),
                per_session: max_session_output_mib.max(1).saturating_mul(1024 * 1024),
                total: max_total_output_mib.max(1).saturating_mul(1024 * 1024),
            };
            let discovery = orbitdock_server::DiscoveryOptions {
                watch_codex: !no_watch,
                passive_idle: std::time::Duration::from_secs(passive_idle_secs.max(1)),
                ..Default::default()
            };
            let local = LocalModelArgs {
                model: local_model,
                codexpc_bin,
                socket: codexpc_socket,
                extra_args: codexpc_args,
            };
            let runtime = if private_runtime {
                orbitdock_server::CodexRuntime::Private
            } else {
                orbitdock_server::CodexRuntime::SharedSocket {
                    socket: data_dir::codex_runtime_socket(&data_dir),
                }
            };
            let codex = CodexArgs {
                home: codex_home,
                bin: codex_bin,
                runtime,
            };
            serve(data_dir, &listen, codex, discovery, local, output_limits).await
        }
        Cmd::Token { rotate } => {
            let t = data_dir::load_or_create_token(&data_dir, rotate)?;
            println!("{t}");
            if rotate {
                eprintln!("token rotated; restart `orbitdock serve` for it to take effect");
            }
            Ok(())
        }
        Cmd::Pair {
            name,
            ttl,
            url,
            json,
        } => pair(&data_dir, name, ttl, url, json).await,
        Cmd::Open { print } => open(&data_dir, print).await,
        Cmd::Devices { revoke, json } => {
            let c = Client::discover(&data_dir)?;
            if let Some(id) = revoke {
                c.revoke_device(&id).await?;
                println!("revoked {id}");
                return Ok(());
            }
            let r = c.devices().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            if r.devices.is_empty() {
                println!("no paired device (pair one with `orbitdock pair`)");
            }
            for d in &r.devices {
                println!(
                    "{}  {:<24} paired {}  last seen {}",
                    d.id,
                    d.name,
                    local_time(d.created_at),
                    local_time(d.last_seen_at)
                );
            }
            Ok(())
        }
        Cmd::Prune {
            older_than,
            archived_only,
            dry_run,
            json,
        } => {
            // A clear error before anything is sent.
            orbitdock_server::maintenance::parse_duration(&older_than)?;
            let c = Client::discover(&data_dir)?;
            let r = c
                .prune(&orbitdock_protocol::PruneRequest {
                    older_than,
                    archived_only,
                    dry_run,
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("{}", prune_summary(&r));
            }
            Ok(())
        }
        Cmd::Sessions { json } => {
            let c = Client::discover(&data_dir)?;
            let r = c.list_sessions().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{:<36}  {:<14}  {:<14}  {:<7}  NAME",
                    "ID", "STATUS", "PROVIDER", "ORIGIN"
                );
                for s in r.sessions {
                    let name = s
                        .name
                        .clone()
                        .or_else(|| s.first_prompt.clone())
                        .unwrap_or_else(|| s.cwd.clone());
                    println!(
                        "{:<36}  {:<14}  {:<14}  {:<7}  {}",
                        s.id,
                        token(&s.status),
                        provider_text(&s),
                        token(&s.origin),
                        name.lines().next().unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        Cmd::Show { id, json } => {
            let c = Client::discover(&data_dir)?;
            let state = c.get_session(&id).await?;
            let page = c
                .items(
                    &id,
                    ItemsQuery {
                        before: Some(state.last_seq + 1),
                        limit: Some(50),
                        ..Default::default()
                    },
                )
                .await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"state": state, "items": page.items})
                    )?
                );
                return Ok(());
            }
            let s = &state.summary;
            println!("session   {}", s.id);
            println!("name      {}", s.name.as_deref().unwrap_or("-"));
            println!("status    {}", token(&s.status));
            println!("cwd       {}", s.cwd);
            println!("provider  {}", provider_text(s));
            println!("model     {}", s.model.as_deref().unwrap_or("-"));
            if let Some(why) = &s.failure {
                println!("failed    {why}");
            }
            println!(
                "tokens    in {} (cached {}) / out {}",
                s.token_usage.input_tokens,
                s.token_usage.cached_input_tokens,
                s.token_usage.output_tokens
            );
            for a in &state.pending_approvals {
                println!(
                    "PENDING   {} {} {}",
                    a.request_id,
                    token(&a.kind),
                    a.command.as_deref().or(a.question.as_deref()).unwrap_or("")
                );
            }
            println!();
            for item in &page.items {
                print_item(item);
            }
            Ok(())
        }
        Cmd::Send { id, text } => {
            let c = Client::discover(&data_dir)?;
            let r = c.send_text(&id, &text).await?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        Cmd::Attach { id, print } => attach(&data_dir, &id, print).await,
        Cmd::Hosts {
            action: hosts_cli::HostsAction::Test { name, timeout_secs },
        } => {
            hosts_cli::hosts_test(
                &data_dir,
                &name,
                std::time::Duration::from_secs(timeout_secs.max(1)),
            )
            .await
        }
        Cmd::Hosts { action } => hosts_cli::hosts(&data_dir, action),
        Cmd::Host { action } => hosts_cli::host_serve(&data_dir, action).await,
        Cmd::Approve {
            id,
            request_id,
            decline,
        } => {
            let c = Client::discover(&data_dir)?;
            let decision = if decline {
                ApprovalDecision::Decline
            } else {
                ApprovalDecision::Accept
            };
            c.approve(&id, &request_id, decision).await?;
            println!("{}", if decline { "declined" } else { "accepted" });
            Ok(())
        }
        Cmd::Mcp {
            allow_actions,
            action: None,
        } => {
            init_mcp_logging();
            mcp::serve_stdio(data_dir, allow_actions).await
        }
        // Handled in `main` before the runtime starts (hooks must be fast and quiet).
        Cmd::Hook { .. } | Cmd::Hooks { .. } | Cmd::Mcp { .. } => Ok(()),
    }
}

fn token<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The agent, and the model provider when it is not the agent's default (`codex/codexpc`).
fn provider_text(s: &orbitdock_protocol::SessionSummary) -> String {
    match &s.model_provider {
        Some(p) => format!("{}/{p}", token(&s.provider)),
        None => token(&s.provider),
    }
}

fn print_item(item: &TranscriptItem) {
    let body = match &item.body {
        ItemBody::UserMessage { text } => format!("user: {text}"),
        ItemBody::AgentMessage { text } => format!("agent: {text}"),
        ItemBody::Reasoning { summary, text } => {
            format!(
                "reasoning: {}",
                if summary.is_empty() { text } else { summary }
            )
        }
        ItemBody::CommandExecution {
            command,
            output,
            exit_code,
            ..
        } => format!(
            "$ {command}  [exit {}]\n{}",
            exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            output.trim_end()
        ),
        ItemBody::FileChange { changes } => {
            let mut s = String::from("file change:");
            for c in changes {
                s.push_str(&format!(
                    "\n  {} {}\n{}",
                    token(&c.kind),
                    c.path,
                    c.diff.trim_end()
                ));
            }
            s
        }
        ItemBody::McpToolCall { server, tool, .. } => format!("mcp {server}.{tool}"),
        ItemBody::WebSearch { query } => format!("web search: {query}"),
        ItemBody::Plan { text } => format!("plan: {text}"),
        ItemBody::Error { message } => format!("error: {message}"),
        ItemBody::Notice { message, via } => match via {
            Some(via) => format!("notice (via {via}): {message}"),
            None => format!("notice: {message}"),
        },
        ItemBody::ContextCompaction { .. } => "context compacted".into(),
        ItemBody::McpServerStatus {
            server,
            state,
            error,
        } => match error {
            Some(e) => format!("mcp server {server}: {state} ({e})"),
            None => format!("mcp server {server}: {state}"),
        },
        ItemBody::Goal { goal: Some(g) } => format!("goal ({}): {}", g.status, g.objective),
        ItemBody::Goal { goal: None } => "goal cleared".into(),
        ItemBody::ReviewMode {
            entered: true,
            review,
        } => format!("entered review mode: {review}"),
        ItemBody::ReviewMode {
            entered: false,
            review,
        } => format!("review findings:\n{review}"),
        ItemBody::Other { original_type, .. } => format!("({original_type})"),
        ItemBody::Unknown => "(unknown item)".into(),
    };
    println!("#{:<5} [{}] {}", item.seq, token(&item.status), body);
}

/// The bridge's stdout is the MCP stream: logs go to stderr only (agents keep it in their log).
fn init_mcp_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("ORBITDOCK_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}

/// Human logs on stderr, JSON logs in DATA_DIR/logs/server.log.
fn init_logging(data_dir: &Path) -> Result<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, fmt};
    let file = data_dir::open_server_log(data_dir)?;
    let (file, guard) = tracing_appender::non_blocking(file);
    let filter =
        || EnvFilter::try_from_env("ORBITDOCK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .with(fmt::layer().json().with_writer(file).with_filter(filter()))
        .try_init()
        .context("initialising logging")?;
    Ok(guard)
}

/// `serve`'s local-model options.
struct LocalModelArgs {
    model: Option<PathBuf>,
    codexpc_bin: Option<PathBuf>,
    socket: Option<PathBuf>,
    extra_args: Vec<String>,
}

impl LocalModelArgs {
    /// The supervisor's configuration: the binary is the flag, else `$CODEXPC_BIN`, else the
    /// `codexpc` next to this binary (an install or a cargo target dir holds both), else `$PATH`.
    fn config(self, data_dir: &Path) -> Result<orbitdock_server::local_model::LocalModelConfig> {
        let codexpc_bin = self
            .codexpc_bin
            .or_else(|| std::env::var_os("CODEXPC_BIN").map(PathBuf::from))
            .or_else(|| {
                let sibling = std::env::current_exe().ok()?.with_file_name("codexpc");
                sibling.is_file().then_some(sibling)
            })
            .unwrap_or_else(|| PathBuf::from("codexpc"));
        let model_path = match self.model {
            Some(m) => {
                let m = std::path::absolute(&m)
                    .with_context(|| format!("resolving {}", m.display()))?;
                if !m.is_file() {
                    bail!("--local-model {}: no such file", m.display());
                }
                Some(m)
            }
            None => None,
        };
        Ok(orbitdock_server::local_model::LocalModelConfig {
            codexpc_bin,
            model_path,
            socket: self.socket,
            log_dir: data_dir::logs_dir(data_dir),
            extra_args: self.extra_args,
        })
    }
}

/// `orbitdock attach`: asks the hub where the session's thread lives, then replaces this
/// process with the Codex TUI joined to it (exec, so the terminal belongs to Codex alone).
async fn attach(data_dir: &Path, id: &str, print: bool) -> Result<()> {
    let c = Client::discover(data_dir)?;
    let info = c
        .attach(id)
        .await
        .with_context(|| format!("attaching to session {id}"))?;
    let tui = codex_client::tui::TuiBuilder::new(&info.codex_bin, &info.codex_home)
        .cwd(&info.cwd)
        .remote(&info.remote)
        .session(codex_client::tui::TuiSession::Resume(
            info.thread_id.clone(),
        ));
    let args = tui.command_args();
    if print {
        let mut line = format!("CODEX_HOME={} {}", info.codex_home, info.codex_bin);
        for a in &args {
            line.push(' ');
            line.push_str(&a.to_string_lossy());
        }
        println!("{line}");
        return Ok(());
    }
    let mut cmd = std::process::Command::new(&info.codex_bin);
    cmd.args(&args)
        .env("CODEX_HOME", &info.codex_home)
        .current_dir(&info.cwd);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(anyhow::Error::new(err).context(format!("running {}", info.codex_bin)))
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().context("running codex")?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// Unix ms as local time, for people.
fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// `orbitdock pair`: asks the running server for a pairing code and shows its link and QR code.
async fn pair(
    data_dir: &Path,
    name: Option<String>,
    ttl: u64,
    base: Option<String>,
    json: bool,
) -> Result<()> {
    let c = Client::discover(data_dir)?;
    let mut code = c
        .pairing(&orbitdock_protocol::pairing::PairingRequest {
            name,
            ttl_secs: Some(ttl),
        })
        .await?;
    if let Some(base) = base {
        code.url = orbitdock_server::pairing::link(&base, &code.code);
    }
    if json {
        let out = serde_json::json!({"url": code.url, "expires_at": code.expires_at});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{}", orbitdock_server::pairing::qr_terminal(&code.url)?);
    println!(
        "Pair a device: open this link on it (once, until {}):",
        local_time(code.expires_at)
    );
    println!("{}", code.url);
    Ok(())
}

/// `orbitdock open`: a one-time sign-in link from the running server, opened in the browser.
async fn open(data_dir: &Path, print_only: bool) -> Result<()> {
    let c = Client::discover(data_dir)?;
    let code = c
        .pairing(&orbitdock_protocol::pairing::PairingRequest {
            name: Some(orbitdock_server::pairing::LOCAL_BROWSER.to_owned()),
            ttl_secs: None,
        })
        .await?;
    println!(
        "Sign-in link (works once, until {}):",
        local_time(code.expires_at)
    );
    println!("{}", code.url);
    if print_only {
        return Ok(());
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    // Not waited for: some openers stay until the browser they started exits.
    match std::process::Command::new(opener)
        .arg(&code.url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => eprintln!("opening it in your browser ({opener})"),
        Err(e) => eprintln!("cannot start `{opener}` ({e}): open the link above in your browser"),
    }
    Ok(())
}

/// Which Codex `serve` runs, and how.
struct CodexArgs {
    /// CODEX_HOME (default: $CODEX_HOME or ~/.codex).
    home: Option<PathBuf>,
    /// The binary (default: resolved, installed if missing).
    bin: Option<PathBuf>,
    /// Private stdio child or the shared runtime.
    runtime: orbitdock_server::CodexRuntime,
}

async fn serve(
    data_dir: PathBuf,
    listen: &listen_cli::ListenArgs,
    codex: CodexArgs,
    discovery: orbitdock_server::DiscoveryOptions,
    local: LocalModelArgs,
    output_limits: orbitdock_server::retention::OutputLimits,
) -> Result<()> {
    let CodexArgs {
        home: codex_home,
        bin: codex_bin,
        runtime,
    } = codex;
    let addr: SocketAddr = listen.addr()?;
    data_dir::ensure_dir(&data_dir)?;
    let _guard = init_logging(&data_dir)?;
    let exposure = listen.exposure(&data_dir, addr)?;
    let token = data_dir::load_or_create_token(&data_dir, false)?;
    let local = local.config(&data_dir)?;
    let codex_home = match codex_home {
        Some(h) => CodexHome::new(h),
        None => CodexHome::default_user().context("finding CODEX_HOME")?,
    };
    let managed = data_dir.join("codex");
    let mut resolver = BinaryResolver::new().managed_dir(&managed);
    if let Some(b) = codex_bin {
        resolver = resolver.explicit(b);
    }
    let binary = match resolver.resolve().await {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "No Codex CLI found ({e}); installing the pinned version {} into {} ...",
                codex_client::PINNED_VERSION,
                managed.display()
            );
            codex_client::binary::install_pinned(&managed)
                .await
                .context("installing the pinned Codex CLI")?
        }
    };
    tracing::info!(codex = %binary.path.display(), version = %binary.version.0, home = %codex_home.root().display(), "using Codex");
    // Claude Code is optional: without it the server offers Codex sessions only (and says so).
    let claude = match claude_code::BinaryResolver::new()
        .managed_dir(data_dir.join("claude"))
        .locate()
    {
        Ok(path) => {
            tracing::info!(claude = %path.display(), "using Claude Code");
            Some(orbitdock_server::connector::claude::ClaudeConfig::new(path))
        }
        Err(e) => {
            tracing::info!(error = %e, "Claude Code not found; Claude sessions are off");
            None
        }
    };
    let server = orbitdock_server::start_exposed(
        orbitdock_server::ServerConfig {
            data_dir: data_dir.clone(),
            codex_home: codex_home.root().to_path_buf(),
            codex_bin: binary.path.clone(),
            bind: addr,
            token,
            codex_env: Vec::new(),
            claude,
            output_limits,
        },
        discovery,
        runtime,
        exposure.clone(),
    )
    .await
    .context("starting the server")?;
    if let Some(m) = &local.model_path {
        println!(
            "Local model: {} (codexpc, logs in {})",
            m.display(),
            local.log_dir.join("codexpc.log").display()
        );
    }
    server.start_local_model(local);
    let url = server.base_url();
    data_dir::write_server_info(
        &data_dir,
        &ServerInfo {
            url: url.clone(),
            pid: std::process::id(),
        },
    )?;
    println!("OrbitDock is listening on {}", server.bound_url());
    listen_cli::print_exposure(&server, &exposure);
    // A one-time link, not the API token: see `orbitdock_server::pairing`.
    let code = server
        .pairing
        .mint(
            Some(orbitdock_server::pairing::LOCAL_BROWSER.to_owned()),
            orbitdock_server::pairing::DEFAULT_CODE_TTL,
        )
        .await
        .context("minting the sign-in link")?;
    println!(
        "Open the UI: {}",
        orbitdock_server::pairing::link(&url, &code.code)
    );
    println!(
        "(a one-time sign-in link for this machine, until {}; `orbitdock open` makes a new one, \
         or sign in at {url}/login with the token from `orbitdock token`)",
        local_time(code.expires_at)
    );
    // SIGINT or SIGTERM (systemd, launchd, kill): stop gracefully, losing nothing.
    orbitdock_server::stop_signal().await;
    eprintln!("shutting down ...");
    data_dir::remove_server_info(&data_dir);
    server.shutdown().await;
    Ok(())
}

/// One line per figure of a prune's answer, for people.
fn prune_summary(r: &orbitdock_protocol::PruneResponse) -> String {
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    let mut out = format!(
        "{verb} {} sessions ({} items, {} KiB of stored rows)",
        r.sessions,
        r.items,
        r.freed_bytes.div_ceil(1024)
    );
    if r.skipped_live > 0 {
        out.push_str(&format!(
            "\nkept {} old sessions that are still live",
            r.skipped_live
        ));
    }
    if !r.dry_run {
        out.push_str(&format!(
            "\n{} KiB free for reuse inside the database file",
            r.free_bytes_in_database.div_ceil(1024)
        ));
    }
    out
}
