//! `orbitdock hosts add|list|remove|test` (the hub's host registry, see
//! `orbitdock_server::hosts`) and `orbitdock host serve` (run on the other machine: Codex's own
//! WebSocket listener with a generated capability token, and the exact `hosts add` line to
//! type on the hub).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use codex_client::app_server::{Listen, ListenerBuilder};
use orbitdock_server::hosts::{HostEntry, Hosts, NewHost};

/// `orbitdock hosts …`.
#[derive(Debug, Subcommand)]
pub enum HostsAction {
    /// Register a Codex host: ssh://[user@]host[:port], ws://host:port --token-file F, or
    /// unix:///path.
    Add {
        /// The host's name.
        name: String,
        /// Its address.
        url: String,
        /// The capability token file of a ws:// host (copied into the data dir, 0600).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Allow plain ws:// to a non-loopback address (prefer ssh:// or a private network).
        #[arg(long)]
        allow_insecure_ws: bool,
        /// The codex command on an ssh:// host (default: `codex` on its PATH), read by the
        /// remote shell (e.g. "CODEX_HOME=/srv/codex /opt/codex/bin/codex").
        #[arg(long)]
        remote_codex: Option<String>,
        /// An `ssh -o` option for an ssh:// host (repeatable), e.g. IdentityFile=~/.ssh/box.
        #[arg(long = "ssh-option", value_name = "KEY=VALUE")]
        ssh_options: Vec<String>,
    },
    /// List the registered hosts (never their tokens).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget a host (and delete its stored token).
    Remove {
        /// The host's name.
        name: String,
    },
    /// Connect to a host's app-server once and print its Codex version.
    Test {
        /// The host's name.
        name: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 15)]
        timeout_secs: u64,
    },
}

/// `orbitdock host …` (on the machine that runs the agents).
#[derive(Debug, Subcommand)]
pub enum HostAction {
    /// Run Codex's WebSocket listener with a generated capability token, and print the
    /// `orbitdock hosts add` command for the hub. Stops on Ctrl-C / SIGTERM.
    Serve {
        /// Address to listen on (IP:PORT; port 0 picks one). Keep it loopback or a private
        /// network address (Tailscale, WireGuard); plain ws:// is not encrypted.
        #[arg(long, default_value = "127.0.0.1:4500")]
        listen: String,
        /// The name to suggest for this host (default: this machine's host name).
        #[arg(long)]
        name: Option<String>,
        /// CODEX_HOME for the listener (default: $CODEX_HOME or ~/.codex).
        #[arg(long)]
        codex_home: Option<PathBuf>,
        /// The codex binary (default: $CODEX_BIN or `codex` on $PATH).
        #[arg(long)]
        codex_bin: Option<PathBuf>,
    },
}

pub fn hosts(data_dir: &Path, action: HostsAction) -> Result<()> {
    let hosts = Hosts::new(data_dir);
    match action {
        HostsAction::Add {
            name,
            url,
            token_file,
            allow_insecure_ws,
            remote_codex,
            ssh_options,
        } => {
            let e = hosts.add(&NewHost {
                name,
                url,
                token_file,
                allow_insecure_ws,
                remote_codex,
                ssh_options,
            })?;
            println!("added host {} at {}", e.name, e.url);
            println!("check it with: orbitdock hosts test {}", e.name);
            println!("(a running hub connects to it within seconds)");
        }
        HostsAction::List { json } => {
            let list = hosts.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<20}  {:<40}  TOKEN", "NAME", "ADDRESS");
                for h in list {
                    println!(
                        "{:<20}  {:<40}  {}",
                        h.name,
                        h.url,
                        if h.has_token { "stored" } else { "-" }
                    );
                }
            }
        }
        HostsAction::Remove { name } => {
            let e = hosts.remove(&name)?;
            println!("removed host {} ({})", e.name, e.url);
        }
        HostsAction::Test { .. } => unreachable!("handled by hosts_test"),
    }
    Ok(())
}

/// `hosts test NAME`: one connection, `initialize`, the version; a refusal says why.
pub async fn hosts_test(data_dir: &Path, name: &str, timeout: Duration) -> Result<()> {
    let hosts = Hosts::new(data_dir);
    let entry: HostEntry = hosts.get(name)?;
    let probe = hosts
        .probe(&entry, timeout)
        .await
        .with_context(|| format!("testing host {name} ({})", entry.url))?;
    println!(
        "host {name} ({}) connected: Codex {} (CODEX_HOME {})",
        entry.url,
        probe
            .codex_version
            .as_deref()
            .unwrap_or("of unknown version"),
        probe.codex_home
    );
    Ok(())
}

/// `host serve`: the listener is our child (own process group) and stops with us.
pub async fn host_serve(data_dir: &Path, action: HostAction) -> Result<()> {
    let HostAction::Serve {
        listen,
        name,
        codex_home,
        codex_bin,
    } = action;
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not IP:PORT"))?;
    let codex_home = match codex_home {
        Some(h) => h,
        None => codex_client::CodexHome::default_user()
            .context("finding CODEX_HOME")?
            .root()
            .to_path_buf(),
    };
    let codex_bin = match codex_bin {
        Some(b) => b,
        None => {
            codex_client::BinaryResolver::new()
                .resolve()
                .await
                .context("finding the codex binary (pass --codex-bin)")?
                .path
        }
    };
    let data_dir = std::path::absolute(data_dir).context("resolving the data dir")?;
    let token_file = data_dir.join("host-serve").join("ws.token");
    orbitdock_server::hosts::write_new_token(&token_file)?;
    let mut listener = ListenerBuilder::new(
        &codex_bin,
        &codex_home,
        Listen::WebSocket {
            addr: addr.to_string(),
            token_file: Some(token_file.clone()),
        },
    )
    .spawn()
    .await
    .context("starting codex app-server --listen ws://")?;
    let url = match listener.endpoint() {
        codex_client::app_server::Endpoint::WebSocket { url, .. } => url,
        other => bail!("unexpected listener endpoint {}", other.describe()),
    };
    let name = name.unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "remote".into())
    });
    let flag = if addr.ip().is_loopback() {
        ""
    } else {
        " --allow-insecure-ws"
    };
    println!(
        "Codex is listening on {url} (token in {}, 0600).",
        token_file.display()
    );
    println!("Copy the token file to the hub machine, then run there:");
    println!(
        "  orbitdock hosts add {name} {url} --token-file {}{flag}",
        token_file.display()
    );
    println!(
        "(Over SSH instead, nothing needs to listen: orbitdock hosts add {name} ssh://USER@THIS-MACHINE)"
    );
    orbitdock_server::stop_signal().await;
    listener.stop().await.context("stopping the listener")?;
    Ok(())
}
