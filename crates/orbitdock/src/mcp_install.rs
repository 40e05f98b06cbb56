//! `orbitdock mcp install|uninstall codex|claude`: registers the bridge (`orbitdock mcp`) as an
//! MCP server of an agent, idempotently and keeping every other entry.
//!
//! - Codex: the `[mcp_servers.orbitdock]` table of `CODEX_HOME/config.toml`, written through
//!   codex-client's config editor (format and comments of the rest of the file are kept).
//! - Claude Code: the `mcpServers.orbitdock` entry of a Claude JSON config (`~/.claude.json`, the
//!   user scope, or a project's `.mcp.json`); other keys are kept as they are.
//!
//! The entry runs this very binary with an absolute `--data-dir`, so the agent finds the same
//! hub whatever its working directory. Read-only unless installed with `--allow-actions`: the
//! allowlist is part of the installed command line, so it is visible in the agent's config.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use codex_client::CodexHome;
use codex_client::config::ConfigFile;
use codex_client::mcp::McpServer;
use serde_json::{Map, Value, json};

/// The entry name in the agent's config.
pub const ENTRY: &str = "orbitdock";

/// The per-server key of Codex's config saying whether Codex asks before calling a tool.
const APPROVAL_MODE_KEY: &str = "default_tools_approval_mode";

/// How long Codex lets one bridge call run: creating a session starts an agent thread.
const TOOL_TIMEOUT_SECS: f64 = 150.0;

/// The command line the agent runs: `orbitdock --data-dir DIR mcp [--allow-actions]`.
pub fn bridge_command(exe: &Path, data_dir: &Path, allow_actions: bool) -> (String, Vec<String>) {
    let mut args = vec![
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "mcp".to_owned(),
    ];
    if allow_actions {
        args.push("--allow-actions".to_owned());
    }
    (exe.display().to_string(), args)
}

/// Writes `[mcp_servers.orbitdock]` into the home's config.toml; answers the file written.
///
/// Codex 0.169 asks before each call of an MCP tool not marked read-only (an
/// `mcpServer/elicitation/request` to its client, a prompt in the TUI) and fails the call when
/// its approval policy cannot ask (`codex exec`: "MCP tool call requires approval, but approval
/// policy is never"). `auto_approve` sets the server's `default_tools_approval_mode = "approve"`
/// so Codex calls them without asking; off, the key is removed (a re-install without it goes
/// back to asking).
pub fn install_codex(
    home: &CodexHome,
    command: &str,
    args: &[String],
    auto_approve: bool,
) -> Result<PathBuf> {
    let mut cfg = ConfigFile::load_home(home).context("reading Codex's config.toml")?;
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = McpServer::stdio(command, &argv);
    server.tool_timeout_sec = Some(TOOL_TIMEOUT_SECS);
    cfg.set_mcp_server(ENTRY, &server)
        .context("writing [mcp_servers.orbitdock]")?;
    let key = format!("mcp_servers.{ENTRY}.{APPROVAL_MODE_KEY}");
    if auto_approve {
        cfg.set(&key, "approve")
            .with_context(|| format!("writing {key}"))?;
    } else {
        cfg.remove(&key)
            .with_context(|| format!("removing {key}"))?;
    }
    cfg.save().context("saving Codex's config.toml")?;
    Ok(cfg.path().to_owned())
}

/// Removes `[mcp_servers.orbitdock]`; answers whether it was there.
pub fn uninstall_codex(home: &CodexHome) -> Result<bool> {
    let mut cfg = ConfigFile::load_home(home).context("reading Codex's config.toml")?;
    let removed = cfg.remove_mcp_server(ENTRY);
    if removed {
        cfg.save().context("saving Codex's config.toml")?;
    }
    Ok(removed)
}

/// `~/.claude.json`: Claude Code's user-scope config, where its user MCP servers live.
pub fn default_claude_config() -> Result<PathBuf> {
    Ok(dirs::home_dir()
        .context("HOME is not set; pass --config")?
        .join(".claude.json"))
}

fn read_json_object(path: &Path) -> Result<Map<String, Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&text)
        .with_context(|| format!("{} is not valid JSON; left unchanged", path.display()))?
    {
        Value::Object(m) => Ok(m),
        _ => anyhow::bail!("{} is not a JSON object; left unchanged", path.display()),
    }
}

/// Replaces `path` atomically (temp file + rename), keeping its mode (0600 when new: the file
/// may hold other servers' secrets).
fn write_json(path: &Path, value: &Value) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    tmp.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    }
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Writes `mcpServers.orbitdock` into a Claude Code JSON config.
pub fn install_claude(path: &Path, command: &str, args: &[String]) -> Result<()> {
    let mut root = read_json_object(path)?;
    let servers = root
        .entry("mcpServers")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(servers) = servers else {
        anyhow::bail!(
            "{}: `mcpServers` is not an object; left unchanged",
            path.display()
        );
    };
    servers.insert(
        ENTRY.to_owned(),
        json!({"type": "stdio", "command": command, "args": args, "env": {}}),
    );
    write_json(path, &Value::Object(root))
}

/// Removes `mcpServers.orbitdock`; answers whether it was there.
pub fn uninstall_claude(path: &Path) -> Result<bool> {
    let mut root = read_json_object(path)?;
    let removed = root
        .get_mut("mcpServers")
        .and_then(Value::as_object_mut)
        .is_some_and(|s| s.remove(ENTRY).is_some());
    if removed {
        write_json(path, &Value::Object(root))?;
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codex_install_is_idempotent_and_keeps_foreign_entries() {
        let d = tempfile::tempdir().unwrap();
        let home = CodexHome::new(d.path());
        std::fs::write(
            home.config_toml(),
            "# mine\nmodel = \"m\"\n\n[mcp_servers.other]\ncommand = \"other\"\n",
        )
        .unwrap();
        let (cmd, args) = bridge_command(Path::new("/bin/orbitdock"), Path::new("/d"), false);
        install_codex(&home, &cmd, &args, false).unwrap();
        install_codex(&home, &cmd, &args, false).unwrap();
        let text = std::fs::read_to_string(home.config_toml()).unwrap();
        assert!(text.starts_with("# mine\nmodel = \"m\""), "{text}");
        assert_eq!(text.matches("[mcp_servers.orbitdock]").count(), 1, "{text}");
        let cfg = ConfigFile::load_home(&home).unwrap();
        assert!(cfg.mcp_server("other").is_some());
        let ours = cfg.mcp_server(ENTRY).unwrap();
        assert_eq!(
            ours.transport,
            McpServer::stdio("/bin/orbitdock", &["--data-dir", "/d", "mcp"]).transport
        );
        // Re-installing with actions allowed replaces the entry.
        let (cmd, args) = bridge_command(Path::new("/bin/orbitdock"), Path::new("/d"), true);
        install_codex(&home, &cmd, &args, true).unwrap();
        let cfg = ConfigFile::load_home(&home).unwrap();
        assert_eq!(
            cfg.get_str("mcp_servers.orbitdock.default_tools_approval_mode"),
            Some("approve")
        );
        let ours = cfg.mcp_server(ENTRY).unwrap();
        assert_eq!(
            ours.transport,
            McpServer::stdio(
                "/bin/orbitdock",
                &["--data-dir", "/d", "mcp", "--allow-actions"]
            )
            .transport
        );
        // Without auto-approval Codex asks again.
        install_codex(&home, &cmd, &args, false).unwrap();
        let cfg = ConfigFile::load_home(&home).unwrap();
        assert_eq!(
            cfg.get_str("mcp_servers.orbitdock.default_tools_approval_mode"),
            None
        );
        assert!(uninstall_codex(&home).unwrap());
        assert!(!uninstall_codex(&home).unwrap());
        let cfg = ConfigFile::load_home(&home).unwrap();
        assert!(cfg.mcp_server(ENTRY).is_none() && cfg.mcp_server("other").is_some());
    }

    #[test]
    fn claude_install_keeps_other_keys_and_refuses_broken_files() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(".claude.json");
        std::fs::write(
            &path,
            r#"{"numStartups": 3, "mcpServers": {"other": {"command": "x"}}}"#,
        )
        .unwrap();
        let (cmd, args) = bridge_command(Path::new("/bin/orbitdock"), Path::new("/d"), false);
        install_claude(&path, &cmd, &args).unwrap();
        install_claude(&path, &cmd, &args).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["numStartups"], 3);
        assert_eq!(v["mcpServers"]["other"]["command"], "x");
        assert_eq!(
            v["mcpServers"][ENTRY],
            json!({"type": "stdio", "command": "/bin/orbitdock",
                   "args": ["--data-dir", "/d", "mcp"], "env": {}})
        );
        assert!(uninstall_claude(&path).unwrap());
        assert!(!uninstall_claude(&path).unwrap());
        std::fs::write(&path, "{broken").unwrap();
        assert!(install_claude(&path, &cmd, &args).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{broken");
    }
}
