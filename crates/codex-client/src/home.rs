//! The `CODEX_HOME` directory: every path Codex 0.169 keeps there, app-scoped homes, safe
//! creation and copying auth state into an isolated home.
//!
//! A hub should not share the user's `~/.codex` with its own sessions (config edits, rollout
//! files and the single-writer rule would collide), so [`CodexHome::app_scoped`] computes a home
//! under the platform data dir, and [`CodexHome::copy_auth_from`] brings the user's login over.
//! Homes are created 0700 and `auth.json` is always written 0600: it holds credentials.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A `CODEX_HOME` layout. Constructing one touches nothing on disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodexHome {
    root: PathBuf,
}

impl CodexHome {
    /// A home rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CodexHome { root: root.into() }
    }

    /// The user's home as Codex itself computes it: `$CODEX_HOME`, else `~/.codex`.
    pub fn default_user() -> Result<Self> {
        if let Some(v) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
            return Ok(CodexHome::new(v));
        }
        let home = dirs::home_dir().ok_or_else(|| Error::Config {
            path: PathBuf::from("~"),
            message: "cannot determine the user's home directory (and $CODEX_HOME is unset)".into(),
        })?;
        Ok(CodexHome::new(home.join(".codex")))
    }

    /// An app-private home: `<data dir>/<app>/codex` (e.g. `~/.local/share/orbitdock/codex` on
    /// Linux, honouring `$XDG_DATA_HOME`).
    pub fn app_scoped(app: &str) -> Result<Self> {
        if app.is_empty() || app.contains(['/', '\\']) || app == "." || app == ".." {
            return Err(Error::InvalidInvocation(format!("bad app name {app:?}")));
        }
        let data = dirs::data_dir().ok_or_else(|| Error::Config {
            path: PathBuf::from("$XDG_DATA_HOME"),
            message: "cannot determine the platform data directory".into(),
        })?;
        Ok(Self::app_scoped_in(&data, app))
    }

    /// [`CodexHome::app_scoped`] under an explicit data dir.
    pub fn app_scoped_in(data_dir: &Path, app: &str) -> Self {
        CodexHome::new(data_dir.join(app).join("codex"))
    }

    /// The root directory (the value for `CODEX_HOME`).
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `config.toml`: the base user config.
    pub fn config_toml(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `<name>.config.toml`: a profile layered on top with `-p <name>`.
    pub fn profile_toml(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.config.toml"))
    }
    /// `auth.json`: credentials written by `codex login` (file credential store).
    pub fn auth_json(&self) -> PathBuf {
        self.root.join("auth.json")
    }
    /// `.credentials.json`: MCP OAuth tokens when the file store is used.
    pub fn credentials_json(&self) -> PathBuf {
        self.root.join(".credentials.json")
    }
    /// `history.jsonl`: one `{session_id, ts, text}` line per user prompt.
    pub fn history_jsonl(&self) -> PathBuf {
        self.root.join("history.jsonl")
    }
    /// `sessions/`: rollout files, `YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`.
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }
    /// `archived_sessions/`: rollouts moved by `codex archive`.
    pub fn archived_sessions_dir(&self) -> PathBuf {
        self.root.join("archived_sessions")
    }
    /// `log/`: Codex's own log files.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }
    /// `skills/`.
    pub fn skills_dir(&self) -> PathBuf {
        self.root.join("skills")
    }
    /// `installation_id`.
    pub fn installation_id(&self) -> PathBuf {
        self.root.join("installation_id")
    }

    /// Creates the home (and its parents) if missing, and makes the root 0700.
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(&self.root, e))?;
        }
        Ok(())
    }

    /// Copies `auth.json` from `other` into this home (created if needed), written 0600.
    /// Returns false (and changes nothing) when `other` has no `auth.json`.
    pub fn copy_auth_from(&self, other: &CodexHome) -> Result<bool> {
        let src = other.auth_json();
        let bytes = match std::fs::read(&src) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(src, e)),
        };
        self.create()?;
        write_private(&self.auth_json(), &bytes)?;
        Ok(true)
    }

    /// All rollout files under `sessions/`, sorted by path (hence by date).
    pub fn rollout_files(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        collect_rollouts(&self.sessions_dir(), &mut out, 0)?;
        out.sort();
        Ok(out)
    }

    /// The rollout file of `thread_id`, if any (resume appends to the same file).
    pub fn find_rollout(&self, thread_id: &str) -> Result<Option<PathBuf>> {
        let suffix = format!("-{thread_id}.jsonl");
        Ok(self.rollout_files()?.into_iter().rev().find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&suffix))
        }))
    }
}

/// One line of `history.jsonl`: a prompt the user sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct HistoryEntry {
    /// The thread (older versions: `conversation_id`).
    #[serde(alias = "conversation_id")]
    pub session_id: String,
    /// Unix seconds.
    pub ts: u64,
    pub text: String,
}

impl CodexHome {
    /// The entries of `history.jsonl` (empty if missing). Malformed or truncated lines are
    /// skipped and counted in the second element, never fatal: the file is appended to by
    /// running Codex processes.
    pub fn history(&self) -> Result<(Vec<HistoryEntry>, usize)> {
        let path = self.history_jsonl();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut entries = Vec::new();
        let mut skipped = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<HistoryEntry>(line) {
                Ok(e) => entries.push(e),
                Err(_) => skipped += 1,
            }
        }
        Ok((entries, skipped))
    }
}

fn collect_rollouts(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() && depth < 4 {
            collect_rollouts(&path, out, depth + 1)?;
        } else if ft.is_file()
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temp file + rename) with mode 0600.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // Unique per call: several writers in one process must not share a temp file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{seq}", std::process::id()));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Writes `text` to `path` atomically, keeping the existing file's permissions (0600 if new).
pub(crate) fn write_preserving_mode(path: &Path, text: &str) -> Result<()> {
    let previous = std::fs::metadata(path).ok().map(|m| m.permissions());
    write_private(path, text.as_bytes())?;
    if let Some(perms) = previous {
        std::fs::set_permissions(path, perms).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn layout_paths() {
        let h = CodexHome::new("/x/codex");
        assert_eq!(h.config_toml(), Path::new("/x/codex/config.toml"));
        assert_eq!(
            h.profile_toml("fast"),
            Path::new("/x/codex/fast.config.toml")
        );
        assert_eq!(h.auth_json(), Path::new("/x/codex/auth.json"));
        assert_eq!(h.history_jsonl(), Path::new("/x/codex/history.jsonl"));
        assert_eq!(h.sessions_dir(), Path::new("/x/codex/sessions"));
        assert_eq!(h.log_dir(), Path::new("/x/codex/log"));
        assert_eq!(
            CodexHome::app_scoped_in(Path::new("/data"), "orbitdock"),
            CodexHome::new("/data/orbitdock/codex")
        );
        assert!(CodexHome::app_scoped("../evil").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn create_is_0700_and_auth_copy_is_0600() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let user = CodexHome::new(tmp.path().join("user"));
        let app = CodexHome::new(tmp.path().join("app/nested/codex"));
        assert!(!app.copy_auth_from(&user).expect("no auth is fine"));
        assert!(!app.root().exists(), "nothing copied, nothing created");

        user.create().expect("create");
        std::fs::write(
            user.auth_json(),
            br#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-test"}"#,
        )
        .expect("write");
        std::fs::set_permissions(user.auth_json(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");

        assert!(app.copy_auth_from(&user).expect("copy"));
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(app.root()), 0o700);
        assert_eq!(mode(&app.auth_json()), 0o600);
        assert_eq!(
            std::fs::read(app.auth_json()).expect("read"),
            std::fs::read(user.auth_json()).expect("read")
        );
    }

    #[test]
    fn history_skips_bad_lines() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let h = CodexHome::new(tmp.path());
        assert_eq!(h.history().expect("missing"), (vec![], 0));
        std::fs::write(
            h.history_jsonl(),
            "{\"session_id\":\"a\",\"ts\":1,\"text\":\"hi\"}\nnot json\n{\"conversation_id\":\"b\",\"ts\":2,\"text\":\"yo\"}\n{\"session_id\":\"c\",\"ts\"",
        )
        .expect("write");
        let (entries, skipped) = h.history().expect("read");
        assert_eq!(skipped, 2);
        assert_eq!(
            entries,
            vec![
                HistoryEntry {
                    session_id: "a".into(),
                    ts: 1,
                    text: "hi".into()
                },
                HistoryEntry {
                    session_id: "b".into(),
                    ts: 2,
                    text: "yo".into()
                },
            ]
        );
    }

    #[test]
    fn finds_rollouts_by_thread_id() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let h = CodexHome::new(tmp.path());
        let day = h.sessions_dir().join("2026/11/22");
        std::fs::create_dir_all(&day).expect("mkdir");
        let id = "019a0000-0000-7000-8000-000000000001";
        let f = day.join(format!("rollout-2026-11-22T00-00-00-{id}.jsonl"));
        std::fs::write(&f, "").expect("write");
        std::fs::write(day.join("notes.txt"), "").expect("write");
        assert_eq!(h.rollout_files().expect("list"), vec![f.clone()]);
        assert_eq!(h.find_rollout(id).expect("find"), Some(f));
        assert_eq!(h.find_rollout("other").expect("find"), None);
        assert_eq!(
            CodexHome::new(tmp.path().join("missing"))
                .rollout_files()
                .expect("empty"),
            vec![] as Vec<PathBuf>
        );
    }
}
