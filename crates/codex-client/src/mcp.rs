//! MCP servers: the `[mcp_servers.NAME]` config entries (stdio and streamable HTTP) and the
//! `codex mcp list|get --json`, `add`, `remove`, `login`, `logout` CLI commands, plus moving
//! OAuth tokens between homes.
//!
//! Config editing ([`crate::config::ConfigFile::set_mcp_server`]) and the CLI write the same
//! table; [`add_with`] runs the CLI (Codex validates names and normalises entries) and then
//! writes what the CLI cannot express (headers, timeouts, tool filters, `enabled`, `env_vars`,
//! `cwd`) through the config.
//!
//! OAuth on 0.169, checked against a loopback authorisation server:
//! - `mcp add NAME --url URL` probes the server; when it answers 401 with OAuth metadata, Codex
//!   prints "Detected OAuth support. Starting OAuth flow…" and the authorisation URL, then WAITS
//!   up to 5 minutes for the browser callback (exit 1 on timeout) — the entry is written before
//!   that. [`add_with`] stops there (kills the wait) and reports [`McpAdded::oauth_detected`];
//!   log in afterwards with [`McpLogin`].
//! - `mcp login NAME --no-browser`: discovery (`GET {url}` -> 401, `GET
//!   /.well-known/oauth-protected-resource{path}`, `GET /.well-known/oauth-authorization-server`),
//!   dynamic client registration (`POST {registration_endpoint}`, client name "Codex",
//!   `token_endpoint_auth_method: none`), then it prints the authorisation URL (PKCE S256,
//!   `resource` = the server URL) whose `redirect_uri` is a listener Codex opens on
//!   `127.0.0.1:<random port>/callback/<id>`. The login completes when that listener receives the
//!   redirect (a browser following the authorisation server's 302) OR when the callback URL is
//!   written to stdin ([`McpLoginFlow::complete_with_callback`]); Codex then exchanges the code
//!   at the token endpoint and prints "Successfully logged in to MCP server 'NAME'."
//! - Tokens go to `$CODEX_HOME/.credentials.json` (0600, an object keyed `NAME|<hash>`, holding
//!   `server_name, server_url, client_id, access_token, refresh_token, expires_at, scopes`) with
//!   `mcp_oauth_credentials_store = "file"`; `keyring` uses the OS keyring and `auto` (the
//!   default) the keyring when one is reachable. [`materialize_credentials`] copies file-store
//!   entries into an isolated home; `mcp list --json` then reports `auth_status: "o_auth"`.
//! - `mcp logout NAME` deletes the stored tokens.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use toml_edit::{Array, Item, Table};

use crate::auth::Secret;
use crate::binary::CodexBinary;
use crate::commands::{CliCommand, CliOptions, CliProcess, cli_options};
use crate::config::{ConfigFile, inline_map, set_opt, string_map};
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
/// [--bearer-token-env-var VAR]`, then the rest of `server` through the config (see
/// [`add_with`]).
pub async fn add(
    binary: &CodexBinary,
    home: &CodexHome,
    name: &str,
    server: &McpServer,
) -> Result<()> {
    add_with(binary, home, name, server, &McpAddOptions::default()).await?;
    Ok(())
}

/// How the CLI registers an OAuth client for `mcp add` / `mcp login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthRegistration {
    /// Let Codex pick.
    Auto,
    /// Client ID metadata document.
    Cimd,
    /// Dynamic client registration.
    Dcr,
}

impl OAuthRegistration {
    fn as_arg(self) -> &'static str {
        match self {
            OAuthRegistration::Auto => "auto",
            OAuthRegistration::Cimd => "cimd",
            OAuthRegistration::Dcr => "dcr",
        }
    }
}

/// OAuth settings of `mcp add` (streamable HTTP servers only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpAddOptions {
    /// `--oauth-client-id`: a pre-registered client.
    pub oauth_client_id: Option<String>,
    /// `--oauth-client-secret` (redacted in `Debug`).
    pub oauth_client_secret: Option<Secret>,
    /// `--oauth-client-registration`.
    pub oauth_client_registration: Option<OAuthRegistration>,
    /// `--oauth-resource`.
    pub oauth_resource: Option<String>,
    /// Refuse flags the detected binary lacks.
    pub capabilities: Option<std::sync::Arc<crate::capabilities::Capabilities>>,
}

/// What [`add_with`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpAdded {
    /// Codex found OAuth metadata at the URL: log in with [`McpLogin`] before use.
    pub oauth_detected: bool,
    /// The authorisation URL Codex printed for its immediate login (which was stopped).
    pub authorization_url: Option<String>,
}

/// `codex mcp add` with OAuth options; afterwards every field of `server` the CLI has no flag
/// for is written to the config (the CLI's normalisation of the rest is kept). When Codex
/// detects OAuth and starts waiting for a browser, the wait is stopped (see the module docs).
pub async fn add_with(
    binary: &CodexBinary,
    home: &CodexHome,
    name: &str,
    server: &McpServer,
    opts: &McpAddOptions,
) -> Result<McpAdded> {
    check_name(name)?;
    home.create()?;
    let mut c = CliCommand::new(binary, home, &["mcp", "add"]).timeout(CLI_TIMEOUT);
    if let Some(caps) = &opts.capabilities {
        c = c.capabilities(caps.clone());
    }
    match &server.transport {
        McpTransport::Stdio {
            command,
            args: a,
            env,
            ..
        } => {
            if opts.oauth_client_id.is_some()
                || opts.oauth_client_secret.is_some()
                || opts.oauth_client_registration.is_some()
                || opts.oauth_resource.is_some()
            {
                return Err(Error::InvalidInvocation(
                    "OAuth options apply to streamable HTTP servers only".into(),
                ));
            }
            for (k, v) in env {
                c = c.flag_value("--env", format!("{k}={v}"));
            }
            c = c.arg(name).arg("--").arg(command);
            for arg in a {
                c = c.arg(arg);
            }
        }
        McpTransport::Http {
            url,
            bearer_token_env_var,
            ..
        } => {
            c = c
                .flag_value("--url", url)
                .flag_opt("--bearer-token-env-var", bearer_token_env_var.clone())
                .flag_opt("--oauth-client-id", opts.oauth_client_id.clone())
                .flag_opt(
                    "--oauth-client-secret",
                    opts.oauth_client_secret
                        .as_ref()
                        .map(|s| s.expose().to_owned()),
                )
                .flag_opt(
                    "--oauth-client-registration",
                    opts.oauth_client_registration
                        .map(OAuthRegistration::as_arg),
                )
                .flag_opt("--oauth-resource", opts.oauth_resource.clone())
                .arg(name);
        }
    }
    let mut process = c.spawn()?;
    process.close_stdin();
    let mut added = McpAdded {
        oauth_detected: false,
        authorization_url: None,
    };
    while let Some(line) = process.next_line().await {
        let Ok(line) = line else { continue };
        let text = line.trim();
        if text.contains("Detected OAuth support") {
            added.oauth_detected = true;
            continue;
        }
        if added.oauth_detected && text.starts_with("http") {
            added.authorization_url = Some(text.to_owned());
            break;
        }
    }
    if added.oauth_detected {
        // The entry is written before the OAuth wait starts; the wait itself is a browser flow
        // the host runs later with `McpLogin`.
        process.kill().await?;
    } else {
        let status = process.wait().await?;
        if !status.success() {
            return Err(Error::Exited {
                status: status.code(),
                stderr_tail: process.stderr_tail(),
            });
        }
    }
    let mut cfg = ConfigFile::load_home(home)?;
    if cfg.mcp_server(name).is_none() {
        return Err(Error::UnexpectedOutput {
            command: "mcp add".into(),
            message: format!("no [mcp_servers.{name}] entry after the command"),
        });
    }
    cfg.set_mcp_server(name, server)?;
    cfg.save()?;
    Ok(added)
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

/// `codex mcp logout NAME`: deletes the stored OAuth tokens.
pub async fn logout(binary: &CodexBinary, home: &CodexHome, name: &str) -> Result<()> {
    check_name(name)?;
    binary
        .run(home, &["mcp", "logout", name], None, CLI_TIMEOUT)
        .await?
        .success("mcp logout")?;
    Ok(())
}

/// `codex mcp login NAME --no-browser` as a builder (see the module docs for the flow).
#[derive(Debug, Clone)]
pub struct McpLogin {
    binary: CodexBinary,
    home: CodexHome,
    name: String,
    scopes: Vec<String>,
    registration: Option<OAuthRegistration>,
    options: CliOptions,
}

cli_options!(McpLogin);

/// One step of an MCP OAuth login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpLoginEvent {
    /// Open this URL in a browser (or follow it); Codex waits for the callback.
    AuthorizationUrl(String),
    /// Tokens are stored.
    Completed,
    /// The login failed with Codex's message.
    Failed {
        message: String,
        exit_code: Option<i32>,
    },
}

impl McpLogin {
    /// A login to the configured server `name` (a streamable HTTP server).
    pub fn new(binary: &CodexBinary, home: &CodexHome, name: &str) -> Self {
        McpLogin {
            binary: binary.clone(),
            home: home.clone(),
            name: name.to_owned(),
            scopes: Vec::new(),
            registration: None,
            options: CliOptions::default(),
        }
    }

    /// `--scopes a,b`.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// `--oauth-client-registration`.
    pub fn registration(mut self, r: OAuthRegistration) -> Self {
        self.registration = Some(r);
        self
    }

    /// The invocation (always `--no-browser`: opening a browser is the host's decision).
    pub fn command(&self) -> Result<CliCommand> {
        check_name(&self.name)?;
        if self.scopes.iter().any(|s| s.is_empty() || s.contains(',')) {
            return Err(Error::InvalidInvocation(format!(
                "bad OAuth scopes {:?}",
                self.scopes
            )));
        }
        Ok(CliCommand::new(&self.binary, &self.home, &["mcp", "login"])
            .with_options(self.options.clone())
            .flag("--no-browser")
            .flag_opt(
                "--scopes",
                (!self.scopes.is_empty()).then(|| self.scopes.join(",")),
            )
            .flag_opt(
                "--oauth-client-registration",
                self.registration.map(OAuthRegistration::as_arg),
            )
            .arg(&self.name))
    }

    /// Starts the login.
    pub fn start(self) -> Result<McpLoginFlow> {
        let process = self.command()?.spawn()?;
        Ok(McpLoginFlow {
            process,
            url_sent: false,
            done: false,
        })
    }
}

/// A running MCP OAuth login. Dropping it kills the `codex mcp login` process.
#[derive(Debug)]
pub struct McpLoginFlow {
    process: CliProcess,
    url_sent: bool,
    done: bool,
}

impl McpLoginFlow {
    /// The next event; `None` after `Completed` or `Failed`. Codex waits for the callback for
    /// minutes: bound the wait as the host sees fit, or [`McpLoginFlow::cancel`].
    pub async fn next_event(&mut self) -> Option<McpLoginEvent> {
        if self.done {
            return None;
        }
        while let Some(line) = self.process.next_line().await {
            let Ok(line) = line else { continue };
            let text = line.trim();
            if !self.url_sent && (text.starts_with("http://") || text.starts_with("https://")) {
                self.url_sent = true;
                return Some(McpLoginEvent::AuthorizationUrl(text.to_owned()));
            }
        }
        self.done = true;
        let status = match self.process.wait().await {
            Ok(s) => s,
            Err(e) => {
                return Some(McpLoginEvent::Failed {
                    message: e.to_string(),
                    exit_code: None,
                });
            }
        };
        if status.success() {
            return Some(McpLoginEvent::Completed);
        }
        let stderr = self.process.stderr_tail();
        let message = stderr
            .lines()
            .map(str::trim)
            .find_map(|l| {
                l.find("Error: ")
                    .map(|i| l[i + "Error: ".len()..].to_owned())
            })
            .unwrap_or_else(|| stderr.trim().to_owned());
        Some(McpLoginEvent::Failed {
            message,
            exit_code: status.code(),
        })
    }

    /// Finishes the login with the callback URL the browser ended on (what a user would paste).
    pub async fn complete_with_callback(&mut self, callback_url: &str) -> Result<()> {
        if callback_url.contains(['\n', '\r']) {
            return Err(Error::InvalidInvocation("callback URL spans lines".into()));
        }
        self.process.write_line(callback_url).await
    }

    /// Stops the login; nothing is stored.
    pub async fn cancel(&mut self) -> Result<()> {
        self.done = true;
        self.process.kill().await.map(|_| ())
    }
}

/// One stored MCP OAuth credential (an entry of `.credentials.json`). Tokens are [`Secret`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpCredential {
    /// The entry's key (`NAME|<hash>`).
    pub key: String,
    pub server_name: String,
    pub server_url: Option<String>,
    pub client_id: Option<String>,
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// Milliseconds since the epoch.
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
}

/// The MCP OAuth credentials of `home`'s file store (`.credentials.json`); empty if none.
pub fn credentials(home: &CodexHome) -> Result<Vec<McpCredential>> {
    let raw = read_credentials(home)?;
    Ok(raw
        .iter()
        .filter_map(|(key, v)| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(McpCredential {
                key: key.clone(),
                server_name: s("server_name")?,
                server_url: s("server_url"),
                client_id: s("client_id"),
                access_token: Secret::new(s("access_token").unwrap_or_default()),
                refresh_token: s("refresh_token").map(Secret::new),
                expires_at: v.get("expires_at").and_then(Value::as_i64),
                scopes: v
                    .get("scopes")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

/// Copies the MCP OAuth credentials of the servers named in `servers` (all when empty) from
/// `from`'s file store into `to`'s (created if needed), keeping `to`'s other entries; the file
/// is written atomically with mode 0600. Returns how many entries were copied. Entries are
/// copied verbatim (their keys bind them to the server name and URL), so `to` must configure
/// the same servers; set `mcp_oauth_credentials_store = "file"` in `to` so Codex reads them.
pub fn materialize_credentials(
    from: &CodexHome,
    to: &CodexHome,
    servers: &[&str],
) -> Result<usize> {
    let source = read_credentials(from)?;
    let mut target = read_credentials(to)?;
    let mut copied = 0;
    for (key, entry) in source {
        let name = entry
            .get("server_name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if servers.is_empty() || servers.contains(&name) {
            target.insert(key, entry);
            copied += 1;
        }
    }
    if copied == 0 {
        return Ok(0);
    }
    to.create()?;
    let bytes = serde_json::to_vec(&target).map_err(|e| Error::Config {
        path: to.credentials_json(),
        message: e.to_string(),
    })?;
    crate::home::write_private(&to.credentials_json(), &bytes)?;
    Ok(copied)
}

fn read_credentials(home: &CodexHome) -> Result<serde_json::Map<String, Value>> {
    let path = home.credentials_json();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(Error::io(path, e)),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::Config {
            path,
            message: "not a JSON object".into(),
        }),
        Err(e) => Err(Error::Config {
            path,
            message: e.to_string(),
        }),
    }
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
