//! In-daemon tools served by MCP servers (Model Context Protocol, stdio transport).
//!
//! `[tools.mcp.NAME] command = "...", args = [...]` in the daemon's config starts `command` as a
//! child process at start-up (own process group, stdin/stdout carry MCP, stderr goes to the log),
//! speaks MCP to it with the official Rust SDK (`rmcp`), lists its tools and registers each one
//! as `NAME__TOOL` with the tool's `inputSchema` as its JSON Schema. From there an MCP tool is an
//! ordinary [`Tool`]: every gate of [`super::ToolExecutor`] applies (off by default, allowlist by
//! the full `NAME__TOOL` name, schema validation before the call, timeout, output cap).
//!
//! A server that cannot be started, does not complete the MCP handshake or cannot list its tools
//! within `startup_timeout_ms` is a start-up error naming it: a daemon configured with a tool
//! should not quietly run without it. Dropping [`McpServers`] kills every server's process group.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use super::{Tool, ToolFuture, ToolSpec};
use crate::{Error, Result};

/// Separator between the server's name and the tool's in a registered name.
pub const NAME_SEPARATOR: &str = "__";
const DEFAULT_STARTUP_TIMEOUT_MS: u64 = 10_000;

/// `[tools.mcp.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// The program to run (looked up on `PATH` when not a path).
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables for the server (the daemon's own environment is inherited).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (default: the daemon's).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// How long start-up (spawn, MCP handshake, tools/list) may take.
    #[serde(default = "default_startup_timeout_ms")]
    pub startup_timeout_ms: u64,
    /// Per-call timeout for this server's tools (default: `[tools] timeout_ms`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

fn default_startup_timeout_ms() -> u64 {
    DEFAULT_STARTUP_TIMEOUT_MS
}

type Client = RunningService<RoleClient, ()>;

/// One running MCP server.
struct Server {
    name: String,
    client: Arc<Client>,
    /// Process group of the server (its pid: it is the group's leader).
    pgid: Option<u32>,
}

/// The running MCP servers and the tools they offer. Dropping it stops the servers.
#[derive(Default)]
pub struct McpServers {
    servers: Vec<Server>,
    tools: Vec<Arc<dyn Tool>>,
}

impl std::fmt::Debug for McpServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServers")
            .field(
                "servers",
                &self.servers.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("tools", &self.tools.len())
            .finish()
    }
}

impl McpServers {
    /// Start every configured server and list its tools. Must run inside a Tokio runtime.
    pub async fn start(configs: &BTreeMap<String, McpServerConfig>) -> Result<Self> {
        let mut out = McpServers::default();
        for (name, config) in configs {
            let server_err = |message: String| Error::Config {
                path: PathBuf::from(format!("[tools.mcp.{name}]")),
                message,
            };
            if name.is_empty()
                || name.contains(NAME_SEPARATOR)
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(server_err(format!(
                    "server names may use letters, digits, `-` and single `_` (got {name:?})"
                )));
            }
            let timeout = Duration::from_millis(config.startup_timeout_ms);
            let started = tokio::time::timeout(timeout, start_one(name, config))
                .await
                .map_err(|_| {
                    server_err(format!(
                        "`{}` did not start and list its tools within {} ms",
                        config.command, config.startup_timeout_ms
                    ))
                })?
                .map_err(server_err)?;
            let (server, tools) = started;
            tracing::info!(
                server = %name,
                tools = ?tools.iter().map(|t| t.spec().name.clone()).collect::<Vec<_>>(),
                "MCP server started"
            );
            out.servers.push(server);
            out.tools.extend(tools);
        }
        Ok(out)
    }

    /// The tools, ready to register.
    pub fn tools(&self) -> &[Arc<dyn Tool>] {
        &self.tools
    }
}

impl Drop for McpServers {
    fn drop(&mut self) {
        for s in &self.servers {
            s.client.cancellation_token().cancel();
            if let Some(pgid) = s.pgid {
                kill_group(pgid);
            }
        }
    }
}

fn kill_group(pgid: u32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(pgid) {
        // Already gone is fine.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

async fn start_one(
    name: &str,
    config: &McpServerConfig,
) -> std::result::Result<(Server, Vec<Arc<dyn Tool>>), String> {
    let mut cmd = tokio::process::Command::new(&config.command);
    cmd.args(&config.args)
        .envs(&config.env)
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &config.cwd {
        cmd.current_dir(dir);
    }
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run `{}`: {e}", config.command))?;
    let pgid = transport.id();
    if let Some(stderr) = stderr {
        let server = name.to_owned();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(mcp_server = %server, "{line}");
            }
        });
    }
    let client = match ().serve(transport).await {
        Ok(c) => Arc::new(c),
        Err(e) => {
            if let Some(pgid) = pgid {
                kill_group(pgid);
            }
            return Err(format!(
                "MCP handshake with `{}` failed: {e}",
                config.command
            ));
        }
    };
    let listed = match client.peer().list_all_tools().await {
        Ok(t) => t,
        Err(e) => {
            client.cancellation_token().cancel();
            if let Some(pgid) = pgid {
                kill_group(pgid);
            }
            return Err(format!(
                "listing the tools of `{}` failed: {e}",
                config.command
            ));
        }
    };
    let timeout = config.timeout_ms.map(Duration::from_millis);
    let tools = listed
        .into_iter()
        .map(|t| {
            Arc::new(McpTool {
                spec: ToolSpec {
                    name: format!("{name}{NAME_SEPARATOR}{}", t.name),
                    description: t.description.map(|d| d.into_owned()).unwrap_or_default(),
                    parameters: Value::Object((*t.input_schema).clone()),
                },
                remote_name: t.name.into_owned(),
                client: client.clone(),
                timeout,
            }) as Arc<dyn Tool>
        })
        .collect();
    Ok((
        Server {
            name: name.to_owned(),
            client,
            pgid,
        },
        tools,
    ))
}

/// One tool of an MCP server.
struct McpTool {
    spec: ToolSpec,
    /// The tool's name on its server.
    remote_name: String,
    client: Arc<Client>,
    timeout: Option<Duration>,
}

impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn call(&self, args: Value) -> ToolFuture {
        let client = self.client.clone();
        let params = CallToolRequestParams::new(self.remote_name.clone());
        let params = match args {
            Value::Object(map) => params.with_arguments(map),
            _ => params,
        };
        Box::pin(async move {
            let result = client
                .peer()
                .call_tool(params)
                .await
                .map_err(|e| format!("the MCP server failed: {e}"))?;
            let text = result_text(&result);
            if result.is_error == Some(true) {
                Err(text)
            } else {
                Ok(text)
            }
        })
    }
}

/// What the model reads of a tool result: its text blocks, else its structured content.
fn result_text(result: &CallToolResult) -> String {
    let mut parts = Vec::new();
    for block in &result.content {
        match block {
            ContentBlock::Text(t) => parts.push(t.text.clone()),
            ContentBlock::Image(_) => parts.push("[image omitted]".to_owned()),
            ContentBlock::Audio(_) => parts.push("[audio omitted]".to_owned()),
            ContentBlock::Resource(_) | ContentBlock::ResourceLink(_) => {
                parts.push("[resource omitted]".to_owned())
            }
            _ => parts.push("[content omitted]".to_owned()),
        }
    }
    if parts.is_empty()
        && let Some(v) = &result.structured_content
    {
        return v.to_string();
    }
    parts.join("\n")
}
