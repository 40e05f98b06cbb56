//! Files in OrbitDock's data directory: the API token (0600, stable across restarts), the
//! running server's address (`server.json`, so every CLI subcommand finds it), the database and
//! the logs.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default data dir: `$XDG_DATA_HOME/orbitdock` (`~/.local/share/orbitdock`).
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from(".orbitdock"))
        .join("orbitdock")
}

/// The SQLite database.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("orbitdock.sqlite")
}

/// The token file.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("token")
}

/// The server address file.
pub fn server_info_path(data_dir: &Path) -> PathBuf {
    data_dir.join("server.json")
}

/// The shared Codex runtime's socket (`codex app-server --listen unix://…` that the hub and the
/// terminal's `codex --remote` share), in a 0700 `runtime/` directory.
pub fn codex_runtime_socket(data_dir: &Path) -> PathBuf {
    data_dir.join("runtime").join("codex-app-server.sock")
}

/// The logs directory.
pub fn logs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// Opens `logs/server.log` for appending, creating the directory (0700) and the file (0600)
/// readable by the owner only, and tightening them when they already exist: logs name
/// sessions, paths and prompts.
pub fn open_server_log(data_dir: &Path) -> Result<fs::File> {
    use std::os::unix::fs::DirBuilderExt;
    let logs = logs_dir(data_dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&logs)
        .map_err(|e| Error::io(&logs, e))?;
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(&logs, e))?;
    let path = logs.join("server.log");
    let f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(&path, e))?;
    Ok(f)
}

/// Creates the data dir (0700).
pub fn ensure_dir(data_dir: &Path) -> Result<()> {
    fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(data_dir, e))
}

/// Creates `dir` (0700) inside the data dir, tightening it when it exists.
pub(crate) fn ensure_private_subdir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(dir, e))
}

/// Makes an existing secret file 0600 again (someone may have loosened it).
pub(crate) fn tighten(path: &Path) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| Error::io(path, e))
}

pub(crate) fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub(crate) fn write_private_bytes(path: &Path, content: &[u8]) -> Result<()> {
    write_private_inner(path, content)
}

pub(crate) fn write_private(path: &Path, content: &str) -> Result<()> {
    write_private_inner(path, content.as_bytes())
}

fn write_private_inner(path: &Path, content: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        f.write_all(content).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The token, created (0600) on first use; `rotate` replaces it.
pub fn load_or_create_token(data_dir: &Path, rotate: bool) -> Result<String> {
    ensure_dir(data_dir)?;
    let path = token_path(data_dir);
    if !rotate {
        match fs::read_to_string(&path) {
            Ok(t) if !t.trim().is_empty() => {
                // Tighten permissions if someone loosened them.
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
                return Ok(t.trim().to_owned());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    let t = new_token();
    write_private(&path, &t)?;
    Ok(t)
}

/// What `server.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's pid.
    pub pid: u32,
}

/// Writes `server.json` (0600).
pub fn write_server_info(data_dir: &Path, info: &ServerInfo) -> Result<()> {
    let s = serde_json::to_string_pretty(info).map_err(|e| Error::Decode {
        what: "server info".into(),
        source: e,
    })?;
    write_private(&server_info_path(data_dir), &s)
}

/// Reads `server.json`.
pub fn read_server_info(data_dir: &Path) -> Result<ServerInfo> {
    let path = server_info_path(data_dir);
    let s = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&s).map_err(|e| Error::Decode {
        what: path.display().to_string(),
        source: e,
    })
}

/// Removes `server.json` (on shutdown).
pub fn remove_server_info(data_dir: &Path) {
    let _ = fs::remove_file(server_info_path(data_dir));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_is_private_stable_and_rotatable() {
        let d = tempfile::tempdir().unwrap();
        let a = load_or_create_token(d.path(), false).unwrap();
        let b = load_or_create_token(d.path(), false).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let mode = fs::metadata(token_path(d.path()))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let c = load_or_create_token(d.path(), true).unwrap();
        assert_ne!(a, c);
        assert_eq!(load_or_create_token(d.path(), false).unwrap(), c);
    }
}
