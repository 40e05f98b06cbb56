//! A tour of the CLI surface around `exec` and `app-server`: capabilities and guards, login,
//! MCP servers, the other sub-commands and the update advisory.
//!
//! ```text
//! cargo run -p codex-client --example cli_surface -- [CODEX_HOME]
//! ```
//!
//! Uses the project's pinned binary (`tools/codex`, or `$CODEX_BIN`) and a CODEX_HOME (default:
//! a fresh temp dir). Nothing here needs the network except `doctor`'s probes and the advisory,
//! which report failures instead of erroring when offline; the device login is only started
//! when `DEVICE_LOGIN=1`.

use std::time::Duration;

use codex_client::advisory::{self, ReleaseSource};
use codex_client::auth::{self, DeviceAuth, DeviceAuthEvent};
use codex_client::binary::BinaryResolver;
use codex_client::capabilities::CapabilityCache;
use codex_client::commands::{Doctor, PermissionProfile, Sandbox};
use codex_client::mcp::{self, McpAddOptions, McpServer};
use codex_client::{CodexHome, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> codex_client::Result<()> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = BinaryResolver::new()
        .managed_dir(root.join("tools/codex"))
        .resolve()
        .await?;
    let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let home = match std::env::args().nth(1) {
        Some(dir) => CodexHome::new(dir),
        None => CodexHome::new(scratch.path().join("codex")),
    };
    home.create()?;

    // Capabilities: detected once per (binary, version), cached on disk.
    let caps = CapabilityCache::new(CapabilityCache::default_dir()?)
        .get(&binary)
        .await?;
    println!(
        "codex {}: {} sub-commands, {} app-server methods, rollback is `{}`",
        caps.version,
        caps.commands.len(),
        caps.app_server.requests.len(),
        caps.method_for("thread/rollback")?
    );

    // A guarded builder: refused before anything runs when the binary lacks a flag.
    let sandboxed = Sandbox::new(&binary, &home, ["sh", "-c", "echo hello from the sandbox"])
        .permission_profile(PermissionProfile::Workspace)
        .cd(scratch.path())
        .capabilities(caps.clone())
        .output()
        .await?;
    println!(
        "sandbox: exit {:?}: {}",
        sandboxed.exit_code(),
        sandboxed.stdout.trim()
    );
    match Sandbox::new(&binary, &home, ["true"])
        .permission_profile(PermissionProfile::Workspace)
        .transparent_tcp(true)
        .capabilities(caps.clone())
        .output()
        .await
    {
        Err(e @ Error::Unsupported { .. }) => println!("guard: {e}"),
        other => println!(
            "this binary has --transparent-tcp: {:?}",
            other.map(|o| o.status)
        ),
    }

    // Auth.
    println!("login status: {:?}", auth::status(&binary, &home).await?);
    if std::env::var_os("DEVICE_LOGIN").is_some() {
        let mut flow = DeviceAuth::new(&binary, &home).start()?;
        while let Some(event) = flow.next_event().await {
            match event {
                DeviceAuthEvent::Code(code) => {
                    println!(
                        "open {} and enter {}",
                        code.verification_url, code.user_code
                    )
                }
                DeviceAuthEvent::Completed => println!("logged in"),
                DeviceAuthEvent::Failed { message, .. } => println!("login failed: {message}"),
            }
        }
    }

    // MCP servers.
    let mut docs = McpServer::http("http://127.0.0.1:9/mcp");
    docs.tool_timeout_sec = Some(30.0);
    let added = mcp::add_with(&binary, &home, "docs", &docs, &McpAddOptions::default()).await?;
    println!("mcp add: oauth detected = {}", added.oauth_detected);
    for server in mcp::list(&binary, &home).await? {
        println!("mcp: {} ({})", server.name, server.transport_type());
    }
    mcp::remove(&binary, &home, "docs").await?;

    // Doctor, typed.
    let report = Doctor::new(&binary, &home).run().await?;
    println!(
        "doctor: {:?}, {} checks",
        report.overall_status,
        report.checks.len()
    );
    for failed in report.failures() {
        println!("  failed: {} - {}", failed.id, failed.summary);
    }

    // Update advisory (never installs anything).
    match advisory::check(
        &ReleaseSource::default(),
        &binary.version,
        Duration::from_secs(3),
    )
    .await
    {
        Ok(advice) => println!("{}", advice.message()),
        Err(e) => println!("no advisory (offline?): {e}"),
    }
    Ok(())
}
