//! The daemon's configuration file (`codexpc serve --config FILE`), TOML:
//!
//! ```toml
//! [tools]            # off unless enabled here or with --enable-tools
//! enabled = true
//! allow = ["files__read_file", "echo"]
//! timeout_ms = 2000
//! max_output_bytes = 8192
//! demo = true        # register the demo tools echo/upper/sleep
//!
//! [tools.mcp.files]  # an MCP server over stdio; its tools are `files__<tool>`
//! command = "mcp-server-files"
//! args = ["--root", "/srv/docs"]
//! env = { LOG = "warn" }     # optional; also `cwd`, `startup_timeout_ms`, `timeout_ms`
//!
//! [daemon]
//! max_sessions = 4
//! max_message_bytes = 8388608
//! coalesce_ms = 20
//! max_tool_rounds = 8
//! client_tool_timeout_ms = 120000
//! ```
//!
//! Unknown keys are errors (a typo must not silently leave tools on or limits off).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::DaemonConfig;
use crate::tools::ToolsConfig;
use crate::{Error, Result};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub tools: ToolsConfig,
    pub daemon: DaemonLimits,
}

/// `[daemon]`: every key optional; absent keys keep [`DaemonConfig::new`]'s defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonLimits {
    pub max_sessions: Option<usize>,
    pub max_message_bytes: Option<usize>,
    pub coalesce_ms: Option<u64>,
    pub max_tool_rounds: Option<usize>,
    pub client_tool_timeout_ms: Option<u64>,
}

impl DaemonLimits {
    /// Apply the limits that are set.
    pub fn apply(&self, config: &mut DaemonConfig) {
        if let Some(v) = self.max_sessions {
            config.max_sessions = v;
        }
        if let Some(v) = self.max_message_bytes {
            config.max_message_bytes = v;
        }
        if let Some(v) = self.coalesce_ms {
            config.coalesce = Duration::from_millis(v);
        }
        if let Some(v) = self.max_tool_rounds {
            config.max_tool_rounds = v;
        }
        if let Some(v) = self.client_tool_timeout_ms {
            config.client_tool_timeout = Duration::from_millis(v);
        }
    }
}

impl FileConfig {
    /// Parse TOML text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Read and parse a file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("reading the config file", path, e))?;
        Self::parse(&text, path)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_tools_and_limits_and_rejects_typos() {
        let p = Path::new("c.toml");
        let c = FileConfig::parse(
            "[tools]\nenabled = true\nallow = [\"echo\"]\ntimeout_ms = 500\n[daemon]\nmax_sessions = 2\nclient_tool_timeout_ms = 1500\n",
            p,
        )
        .unwrap();
        assert!(c.tools.enabled);
        assert_eq!(c.tools.allow, vec!["echo".to_owned()]);
        assert_eq!(c.tools.timeout_ms, 500);
        assert_eq!(
            c.tools.max_output_bytes,
            ToolsConfig::default().max_output_bytes
        );
        let mut d = DaemonConfig::new("s".into());
        c.daemon.apply(&mut d);
        assert_eq!(d.max_sessions, 2);
        assert_eq!(d.client_tool_timeout, Duration::from_millis(1500));
        assert_eq!(d.coalesce, Duration::from_millis(20));
        // Empty file: everything off / default.
        assert_eq!(FileConfig::parse("", p).unwrap(), FileConfig::default());
        let err = FileConfig::parse("[tools]\nenable = true\n", p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml") && err.contains("enable"), "{err}");
    }
}
