//! Finding a running server from its data directory: `server.json` (written by
//! `orbitdock serve` at start, removed at shutdown) gives the URL, `token` the API token.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// Default data dir: `$XDG_DATA_HOME/orbitdock` (`~/.local/share/orbitdock`), the server's too.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from(".orbitdock"))
        .join("orbitdock")
}

/// What `server.json` holds (fields the client does not use are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerInfo {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's pid.
    #[serde(default)]
    pub pid: u32,
}

/// Reads `DATA_DIR/server.json`.
pub fn read_server_info(data_dir: &Path) -> Result<ServerInfo> {
    let path = data_dir.join("server.json");
    let no_server = |reason: String| Error::NoServer {
        dir: data_dir.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| no_server(format!("reading {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| no_server(format!("{}: {e}", path.display())))
}

/// Reads `DATA_DIR/token` (trimmed; empty is an error).
pub fn read_token(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("token");
    let token = std::fs::read_to_string(&path).map_err(|e| Error::Token {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::Token {
            path,
            reason: "the file is empty".into(),
        });
    }
    Ok(token.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_server_json_and_token() {
        let d = tempfile::tempdir().unwrap();
        let e = read_server_info(d.path()).unwrap_err();
        assert!(matches!(e, Error::NoServer { .. }), "{e}");
        assert!(e.to_string().contains("orbitdock serve --data-dir"), "{e}");
        std::fs::write(
            d.path().join("server.json"),
            r#"{"url": "http://127.0.0.1:4821", "pid": 7, "later": 1}"#,
        )
        .unwrap();
        assert_eq!(
            read_server_info(d.path()).unwrap(),
            ServerInfo {
                url: "http://127.0.0.1:4821".into(),
                pid: 7
            }
        );
        std::fs::write(d.path().join("server.json"), "{").unwrap();
        assert!(matches!(
            read_server_info(d.path()).unwrap_err(),
            Error::NoServer { .. }
        ));

        assert!(matches!(
            read_token(d.path()).unwrap_err(),
            Error::Token { .. }
        ));
        std::fs::write(d.path().join("token"), " \n").unwrap();
        assert!(matches!(
            read_token(d.path()).unwrap_err(),
            Error::Token { .. }
        ));
        std::fs::write(d.path().join("token"), "abc\n").unwrap();
        assert_eq!(read_token(d.path()).unwrap(), "abc");
    }
}
