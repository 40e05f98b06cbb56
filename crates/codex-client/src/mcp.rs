//! MCP servers: the `[mcp_servers.NAME]` config entries (stdio and streamable HTTP) and the
//! `codex mcp list|get --json`, `add`, `remove` CLI commands.
//!
//! Config editing ([`crate::config::ConfigFile::set_mcp_server`]) and the CLI write the same
//! table; the CLI route is there for parity (Codex validates names and normalises entries), the
//! config route for what the CLI cannot express (timeouts, tool filters, `enabled`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use toml_edit::{Array, Item, Table};

use crate::binary::CodexBinary;
use crate::config::{inline_map, set_opt, string_map};
use crate::home::CodexHome;
use crate::{Error, Result};

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// How Codex reaches an MCP server.
#[derive(Debug, Clone, PartialEq)]
pub enum McpTransport {
    /// A child process speaking MCP on stdio.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// Names of variables passed through from Codex's environment.
        env_vars: Vec<String>,
        cwd: Option<String>,
    },
    /// Streamable HTTP.
    Http {
        url: String,
        bearer_token_env_var: Option<String>,
        http_headers: BTreeMap<String, String>,
        /// Header name -> env var holding the value.
        env_http_headers: BTreeMap<String, String>,
    },
}

/// A `[mcp_servers.NAME]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServer {
    pub transport: McpTransport,
    pub enabled: Option<bool>,
    pub startup_timeout_sec: Option<f64>,
    pub tool_timeout_sec: Option<f64>,
    pub enabled_tools: Option<Vec<String>>,
    pub disabled_tools: Option<Vec<String>>,
}

impl McpServer {
    /// A stdio server running `command args...`.
    pub fn stdio(command: &str, args: &[&str]) -> Self {
        McpServer::with_transport(McpTransport::Stdio {
            command: command.to_owned(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            env: BTreeMap::new(),
            env_vars: Vec::new(),
            cwd: None,
        })
    }

    /// A streamable-HTTP server at `url`.
    pub fn http(url: &str) -> Self {
        McpServer::with_transport(McpTransport::Http {
            url: url.to_owned(),
            bearer_token_env_var: None,
            http_headers: BTreeMap::new(),
            env_http_headers: BTreeMap::new(),
        })
    }

    fn with_transport(transport: McpTransport) -> Self {
        McpServer {
            transport,
            enabled: None,
            startup_timeout_sec: None,
            tool_timeout_sec: None,
            enabled_tools: None,
            disabled_tools: None,
        }
    }

    /// Reads an entry; `None` if it has neither `command` nor `url`.
    pub(crate) fn from_item(item: &Item) -> Option<Self> {
        let s = |k: &str| item.get(k).and_then(Item::as_str).map(str::to_owned);
        let f = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
        };
        let list = |k: &str| -> Option<Vec<String>> {
            item.get(k)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let transport = if let Some(command) = s("command") {
            McpTransport::Stdio {
                command,
                args: list("args").unwrap_or_default(),
                env: string_map(item.get("env")),
                env_vars: list("env_vars").unwrap_or_default(),
                cwd: s("cwd"),
            }
        } else {
            McpTransport::Http {
                url: s("url")?,
                bearer_token_env_var: s("bearer_token_env_var"),
                http_headers: string_map(item.get("http_headers")),
                env_http_headers: string_map(item.get("env_http_headers")),
            }
        };
        Some(McpServer {
            transport,
            enabled: item.get("enabled").and_then(Item::as_bool),
            startup_timeout_sec: f("startup_timeout_sec"),
            tool_timeout_sec: f("tool_timeout_sec"),
            enabled_tools: list("enabled_tools"),
            disabled_tools: list("disabled_tools"),
        })
    }

    /// Writes this entry's keys into `t`, removing keys of the other transport; unknown keys
    /// stay.
    pub(crate) fn write_into(&self, t: &mut Table) {
        let arr = |v: &[String]| -> toml_edit::Value {
            v.iter().map(String::as_str).collect::<Array>().into()
        };
        let nonempty = |v: &[String]| (!v.is_empty()).then(|| arr(v));
        match &self.transport {
            McpTransport::Stdio {
                command,
                args,
                env,
                env_vars,
                cwd,
            } => {
                for k in [
                    "url",
                    "bearer_token_env_var",
                    "http_headers",
                    "env_http_headers",
                ] {
                    t.remove(k);
                }
                set_opt(t, "command", Some(command.as_str().into()));
                set_opt(t, "args", nonempty(args));
                // `env` as a sub-table is what `codex mcp add` writes; an inline table is
                // equivalent TOML and keeps the entry in one place.
                t.remove("env");
                set_opt(t, "env", inline_map(env));
                set_opt(t, "env_vars", nonempty(env_vars));
                set_opt(t, "cwd", cwd.as_deref().map(Into::into));
            }
            McpTransport::Http {
                url,
                bearer_token_env_var,
                http_headers,
                env_http_headers,
            } => {
                for k in ["command", "args", "env", "env_vars", "cwd"] {
                    t.remove(k);
                }
                set_opt(t, "url", Some(url.as_str().into()));
                set_opt(
                    t,
                    "bearer_token_env_var",
                    bearer_token_env_var.as_deref().map(Into::into),
                );
                set_opt(t, "http_headers", inline_map(http_headers));
                set_opt(t, "env_http_headers", inline_map(env_http_headers));
            }
        }
        set_opt(t, "enabled", self.enabled.map(Into::into));
        set_opt(
            t,
            "startup_timeout_sec",
            self.startup_timeout_sec.map(Into::into),
        );
        set_opt(t, "tool_timeout_sec", self.tool_timeout_sec.map(Into::into));
        set_opt(t, "enabled_tools", self.enabled_tools.as_deref().map(arr));
        set_opt(t, "disabled_tools", self.disabled_tools.as_deref().map(arr));
    }
}

/// One row of `codex mcp list --json` / `codex mcp get NAME --json`. Unknown fields are kept in
/// `extra`; the transport stays raw JSON (`type`: `stdio` | `streamable_http` | future).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct McpServerStatus {
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub disabled_reason: Option<Value>,
    pub transport: Value,
    #[serde(default)]
    pub startup_timeout_sec: Option<f64>,
    #[serde(default)]
    pub tool_timeout_sec: Option<f64>,
    #[serde(default)]
    pub auth_status: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl McpServerStatus {
    /// The transport `type` (`stdio`, `streamable_http`, ...).
    pub fn transport_type(&self) -> &str {
        self.transport
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// `codex mcp list --json`.
pub async fn list(binary: &CodexBinary, home: &CodexHome) -> Result<Vec<McpServerStatus>> {
    let out = binary
        .run(home, &["mcp", "list", "--json"], None, CLI_TIMEOUT)
        .await?;
    let stdout = out.success("mcp list")?;
    serde_json::from_str(&stdout).map_err(|e| Error::UnexpectedOutput {
        command: "mcp list --json".into(),
        message: format!("{e}: {stdout}"),
    })
}

/// `codex mcp get NAME --json`; `None` if there is no such server.
pub async fn get(
    binary: &CodexBinary,
    home: &CodexHome,
    name: &str,
) -> Result<Option<McpServerStatus>> {
    check_name(name)?;
    let out = binary
        .run(home, &["mcp", "get", name, "--json"], None, CLI_TIMEOUT)
        .await?;
    if !out.status.success() {
        // Codex reports a missing server on stderr with a non-zero exit.
        if out.stderr.to_lowercase().contains("no mcp server") || out.stderr.contains("not found") {
            return Ok(None);
        }
    }
    let stdout = out.success("mcp get")?;
    serde_json::from_str(&stdout)
        .map(Some)
        .map_err(|e| Error::UnexpectedOutput {
            command: "mcp get --json".into(),
            message: format!("{e}: {stdout}"),
        })
}

/// `codex mcp add NAME [--env K=V]... -- COMMAND ARGS...` or `codex mcp add NAME --url URL
/// [--bearer-token-env-var VAR]`. Other fields of `server` must be set through the config.
pub async fn add(
    binary: &CodexBinary,
    home: &CodexHome,
    name: &str,
    server: &McpServer,
) -> Result<()> {
    check_name(name)?;
    let mut args: Vec<String> = vec!["mcp".into(), "add".into(), name.into()];
    match &server.transport {
        McpTransport::Stdio {
            command,
            args: a,
            env,
            ..
        } => {
            for (k, v) in env {
                args.push("--env".into());
                args.push(format!("{k}={v}"));
            }
            args.push("--".into());
            args.push(command.clone());
            args.extend(a.iter().cloned());
        }
        McpTransport::Http {
            url,
            bearer_token_env_var,
            ..
        } => {
            args.push("--url".into());
            args.push(url.clone());
            if let Some(v) = bearer_token_env_var {
                args.push("--bearer-token-env-var".into());
                args.push(v.clone());
            }
        }
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    binary
        .run(home, &argv, None, CLI_TIMEOUT)
        .await?
        .success("mcp add")?;
    Ok(())
}

/// `codex mcp remove NAME`.
pub async fn remove(binary: &CodexBinary, home: &CodexHome, name: &str) -> Result<()> {
    check_name(name)?;
    binary
        .run(home, &["mcp", "remove", name], None, CLI_TIMEOUT)
        .await?
        .success("mcp remove")?;
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('-') || name.contains(['.', ' ', '/']) {
        return Err(Error::InvalidInvocation(format!(
            "bad MCP server name {name:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    #[test]
    fn stdio_and_http_entries_round_trip_through_the_config() {
        let mut c = ConfigFile::parse("/tmp/c.toml", "# top\n").expect("parse");
        let mut s = McpServer::stdio("/bin/echo", &["hi"]);
        if let McpTransport::Stdio {
            env, env_vars, cwd, ..
        } = &mut s.transport
        {
            env.insert("A".into(), "B".into());
            env_vars.push("HOME".into());
            *cwd = Some("/tmp".into());
        }
        s.enabled = Some(true);
        s.startup_timeout_sec = Some(12.5);
        s.enabled_tools = Some(vec!["read".into()]);
        let mut h = McpServer::http("http://127.0.0.1:9/mcp");
        if let McpTransport::Http {
            bearer_token_env_var,
            http_headers,
            ..
        } = &mut h.transport
        {
            *bearer_token_env_var = Some("TOK".into());
            http_headers.insert("X-A".into(), "1".into());
        }
        h.tool_timeout_sec = Some(30.0);
        h.disabled_tools = Some(vec!["rm".into()]);
        c.set_mcp_server("foo", &s).expect("set");
        c.set_mcp_server("web", &h).expect("set");
        let c2 = ConfigFile::parse("/tmp/c.toml", &c.to_toml()).expect("reparse");
        assert_eq!(c2.mcp_server("foo"), Some(s.clone()));
        assert_eq!(c2.mcp_server("web"), Some(h.clone()));
        assert_eq!(c2.mcp_servers().len(), 2);
        assert!(c2.to_toml().contains("# top\n"));

        // Switching transport drops the other transport's keys.
        let mut c3 = c2.clone();
        c3.set_mcp_server("foo", &McpServer::http("http://x/mcp"))
            .expect("switch");
        let text = c3.to_toml();
        let foo = text
            .split("[mcp_servers.foo]")
            .nth(1)
            .expect("table")
            .split("[mcp_servers.web]")
            .next()
            .expect("x");
        assert!(
            !foo.contains("command") && !foo.contains("args") && foo.contains("url"),
            "{foo}"
        );
        assert!(c3.remove_mcp_server("foo"));
        assert_eq!(c3.mcp_server("foo"), None);
    }

    #[test]
    fn reads_what_codex_mcp_add_writes() {
        // Verbatim what `codex mcp add` (0.169) wrote in a temp home.
        let text = "[mcp_servers.foo]\ncommand = \"/bin/echo\"\nargs = [\"hi\"]\n\n[mcp_servers.foo.env]\nA = \"B\"\n\n[mcp_servers.web]\nurl = \"http://127.0.0.1:9/mcp\"\nbearer_token_env_var = \"TOK\"\n";
        let c = ConfigFile::parse("/tmp/c.toml", text).expect("parse");
        let foo = c.mcp_server("foo").expect("foo");
        assert_eq!(
            foo.transport,
            McpTransport::Stdio {
                command: "/bin/echo".into(),
                args: vec!["hi".into()],
                env: [("A".to_owned(), "B".to_owned())].into(),
                env_vars: vec![],
                cwd: None
            }
        );
        assert!(
            matches!(c.mcp_server("web").expect("web").transport, McpTransport::Http { ref url, .. } if url == "http://127.0.0.1:9/mcp")
        );
        // Malformed entries are skipped, not fatal.
        let c =
            ConfigFile::parse("/tmp/c.toml", "[mcp_servers.bad]\nenabled = true\n").expect("parse");
        assert!(c.mcp_servers().is_empty());
    }
}
