//! Finding, probing and installing the `claude` binary.
//!
//! Resolution order (first hit wins): an explicit path given by the caller > `$CLAUDE_BIN` > the
//! project-managed pinned npm installs ([`managed_binary_path`] under each managed dir) > `$PATH`.
//! A candidate only counts if it is an executable file; when nothing is found the error lists
//! every place that was searched, so "claude not found" is actionable.
//!
//! The npm package `@anthropic-ai/claude-code` ships a placeholder `bin/claude.exe` that its
//! postinstall script replaces with the native binary of the platform package
//! (`@anthropic-ai/claude-code-linux-x64`, ...), on every platform and under that same name, so
//! the managed path does not depend on the platform. An install made with `--ignore-scripts`
//! keeps the placeholder; its `--version` then does not parse and the probe says so.
//!
//! The version is probed with `claude --version` (`2.1.332 (Claude Code)`). Resolution does not
//! insist on [`PINNED_VERSION`]: callers decide (see [`ClaudeBinary::require_pinned`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::{Error, Result};

/// The Claude Code CLI version this crate is written and tested against.
pub const PINNED_VERSION: &str = "2.1.332";

/// The npm package that carries the CLI.
pub const NPM_PACKAGE: &str = "@anthropic-ai/claude-code";

/// The environment variable naming an explicit binary.
pub const BIN_ENV: &str = "CLAUDE_BIN";

/// How long `claude --version` may take (the binary is large; a cold page cache is slow).
const VERSION_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed `claude --version`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaudeVersion(pub semver::Version);

impl ClaudeVersion {
    /// Parses `claude --version` output (`2.1.332 (Claude Code)`), or a bare `2.1.332`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| format!("empty version output {text:?}"))?;
        line.split_whitespace()
            .map(|t| t.strip_prefix('v').unwrap_or(t))
            .find_map(|t| semver::Version::parse(t).ok())
            .map(ClaudeVersion)
            .ok_or_else(|| format!("no version number in {line:?}"))
    }

    /// The pinned version.
    pub fn pinned() -> Self {
        // PINNED_VERSION is a constant literal that parses; the unit tests check it.
        ClaudeVersion(
            semver::Version::parse(PINNED_VERSION).unwrap_or(semver::Version::new(0, 0, 0)),
        )
    }

    /// Whether this is exactly the pinned version.
    pub fn is_pinned(&self) -> bool {
        *self == Self::pinned()
    }
}

impl fmt::Display for ClaudeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A resolved binary and its probed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeBinary {
    pub path: PathBuf,
    pub version: ClaudeVersion,
}

impl ClaudeBinary {
    /// Probes `path` with `claude --version`.
    pub async fn probe(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let version = probe_version(&path).await?;
        Ok(ClaudeBinary { path, version })
    }

    /// A binary whose version is already known (no probe).
    pub fn with_version(path: impl Into<PathBuf>, version: ClaudeVersion) -> Self {
        ClaudeBinary {
            path: path.into(),
            version,
        }
    }

    /// Errors unless this is the pinned version.
    pub fn require_pinned(self) -> Result<Self> {
        if self.version.is_pinned() {
            Ok(self)
        } else {
            Err(Error::VersionMismatch {
                path: self.path,
                found: self.version.to_string(),
                expected: PINNED_VERSION.to_owned(),
            })
        }
    }
}

/// Where the pinned npm install under `install_dir` puts the native binary.
pub fn managed_binary_path(install_dir: &Path) -> PathBuf {
    install_dir
        .join("node_modules")
        .join("@anthropic-ai")
        .join("claude-code")
        .join("bin")
        .join("claude.exe")
}

/// Finds a `claude` binary. See the module docs for the order.
#[derive(Debug, Clone)]
pub struct BinaryResolver {
    explicit: Option<PathBuf>,
    managed_dirs: Vec<PathBuf>,
    use_env: bool,
    use_path: bool,
}

impl Default for BinaryResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl BinaryResolver {
    /// A resolver that honours `$CLAUDE_BIN` and `$PATH` and has no managed dirs yet.
    pub fn new() -> Self {
        BinaryResolver {
            explicit: None,
            managed_dirs: Vec::new(),
            use_env: true,
            use_path: true,
        }
    }

    /// An explicit path, tried first.
    pub fn explicit(mut self, path: impl Into<PathBuf>) -> Self {
        self.explicit = Some(path.into());
        self
    }

    /// A folder holding a pinned npm install (as made by [`install_pinned`] or
    /// `scripts/setup.sh` into `tools/claude`), tried after `$CLAUDE_BIN`, in the order added.
    pub fn managed_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.managed_dirs.push(dir.into());
        self
    }

    /// Whether to look at `$CLAUDE_BIN` (default true).
    pub fn use_env(mut self, yes: bool) -> Self {
        self.use_env = yes;
        self
    }

    /// Whether to search `$PATH` last (default true).
    pub fn use_path(mut self, yes: bool) -> Self {
        self.use_path = yes;
        self
    }

    /// Finds the first executable candidate without running it.
    pub fn locate(&self) -> Result<PathBuf> {
        let mut searched = Vec::new();
        let path_var = std::env::var_os("PATH");
        let env_var = if self.use_env {
            std::env::var_os(BIN_ENV)
        } else {
            None
        };
        self.candidates(env_var.as_deref(), path_var.as_deref(), &mut searched)
            .into_iter()
            .find(|p| is_executable(p))
            .ok_or(Error::BinaryNotFound { searched })
    }

    /// Finds the binary and probes its version.
    pub async fn resolve(&self) -> Result<ClaudeBinary> {
        let path = self.locate()?;
        ClaudeBinary::probe(path).await
    }

    fn candidates(
        &self,
        env_var: Option<&std::ffi::OsStr>,
        path_var: Option<&std::ffi::OsStr>,
        searched: &mut Vec<String>,
    ) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(p) = &self.explicit {
            searched.push(format!("explicit path {}", p.display()));
            out.push(p.clone());
        }
        if self.use_env {
            match env_var {
                Some(v) if !v.is_empty() => {
                    let p = PathBuf::from(v);
                    searched.push(format!("${BIN_ENV}={}", p.display()));
                    out.push(p);
                }
                _ => searched.push(format!("${BIN_ENV} (unset)")),
            }
        }
        for dir in &self.managed_dirs {
            let p = managed_binary_path(dir);
            searched.push(format!("managed install {}", p.display()));
            out.push(p);
        }
        if self.use_path {
            match path_var {
                Some(var) => {
                    let exe = if cfg!(windows) {
                        "claude.exe"
                    } else {
                        "claude"
                    };
                    let dirs: Vec<PathBuf> = std::env::split_paths(var).collect();
                    searched.push(format!(
                        "$PATH ({})",
                        dirs.iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(":")
                    ));
                    out.extend(dirs.into_iter().map(|d| d.join(exe)));
                }
                None => searched.push("$PATH (unset)".to_owned()),
            }
        }
        out
    }
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Runs `claude --version` (bounded) and parses it.
pub async fn probe_version(path: &Path) -> Result<ClaudeVersion> {
    let mut cmd = Command::new(path);
    cmd.arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(VERSION_PROBE_TIMEOUT, cmd.output())
        .await
        .map_err(|_| Error::VersionProbe {
            path: path.to_owned(),
            reason: format!("`--version` did not finish within {VERSION_PROBE_TIMEOUT:?}"),
        })?
        .map_err(|source| Error::Spawn {
            program: path.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::VersionProbe {
            path: path.to_owned(),
            reason: format!(
                "`--version` exited with {:?}: {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    ClaudeVersion::parse(&String::from_utf8_lossy(&output.stdout)).map_err(|reason| {
        Error::VersionProbe {
            path: path.to_owned(),
            reason,
        }
    })
}

/// Installs `@anthropic-ai/claude-code@PINNED_VERSION` with npm into `install_dir` (idempotent:
/// an existing pinned install is probed and returned without running npm).
pub async fn install_pinned(install_dir: &Path) -> Result<ClaudeBinary> {
    install_version(install_dir, PINNED_VERSION, "npm").await
}

/// Installs a given version with a given npm executable. Returns the probed binary; errors if
/// the installed binary does not report `version`.
pub async fn install_version(install_dir: &Path, version: &str, npm: &str) -> Result<ClaudeBinary> {
    let bin = managed_binary_path(install_dir);
    if is_executable(&bin)
        && let Ok(found) = ClaudeBinary::probe(&bin).await
        && found.version.to_string() == version
    {
        return Ok(found);
    }
    std::fs::create_dir_all(install_dir).map_err(|e| Error::io(install_dir, e))?;
    let mut cmd = Command::new(npm);
    cmd.arg("install")
        .arg("--prefix")
        .arg(install_dir)
        .args([
            "--no-audit",
            "--no-fund",
            "--save-exact",
            "--loglevel=error",
        ])
        .arg(format!("{NPM_PACKAGE}@{version}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = cmd.output().await.map_err(|source| Error::Spawn {
        program: PathBuf::from(npm),
        source,
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let skip = stderr.chars().count().saturating_sub(4096);
        return Err(Error::Exited {
            status: output.status.code(),
            stderr_tail: stderr.chars().skip(skip).collect(),
        });
    }
    let found = ClaudeBinary::probe(&bin).await?;
    if found.version.to_string() != version {
        return Err(Error::VersionMismatch {
            path: found.path,
            found: found.version.to_string(),
            expected: version.to_owned(),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_version_output() {
        let v = ClaudeVersion::parse("2.1.332 (Claude Code)\n").expect("parse");
        assert_eq!(v, ClaudeVersion(semver::Version::new(2, 1, 332)));
        assert!(v.is_pinned());
        assert_eq!(
            ClaudeVersion::parse("v2.2.0").expect("bare").to_string(),
            "2.2.0"
        );
        assert!(ClaudeVersion::parse("").is_err());
        assert!(ClaudeVersion::parse("Claude Code banana").is_err());
        assert!(ClaudeVersion::pinned() < ClaudeVersion::parse("2.2.0").expect("parse"));
    }

    #[test]
    fn managed_path_follows_the_npm_layout() {
        assert_eq!(
            managed_binary_path(Path::new("/opt/tools/claude")),
            Path::new("/opt/tools/claude/node_modules/@anthropic-ai/claude-code/bin/claude.exe")
        );
    }

    fn make_exe(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, "#!/bin/sh\necho '9.9.9 (Claude Code)'\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }

    #[test]
    fn order_is_explicit_env_managed_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let explicit = tmp.path().join("explicit/claude");
        let env = tmp.path().join("env/claude");
        let managed_dir = tmp.path().join("managed");
        let on_path = tmp.path().join("bin");
        make_exe(&explicit);
        make_exe(&env);
        make_exe(&managed_binary_path(&managed_dir));
        make_exe(&on_path.join("claude"));
        let r = BinaryResolver::new()
            .explicit(&explicit)
            .managed_dir(&managed_dir);
        let path_var = on_path.clone().into_os_string();
        let pick = |r: &BinaryResolver, env_var: Option<&std::ffi::OsStr>| {
            let mut searched = Vec::new();
            r.candidates(env_var, Some(&path_var), &mut searched)
                .into_iter()
                .find(|p| is_executable(p))
        };
        assert_eq!(pick(&r, Some(env.as_os_str())), Some(explicit.clone()));
        let r = BinaryResolver::new().managed_dir(&managed_dir);
        assert_eq!(pick(&r, Some(env.as_os_str())), Some(env.clone()));
        assert_eq!(pick(&r, None), Some(managed_binary_path(&managed_dir)));
        let r = BinaryResolver::new().managed_dir(tmp.path().join("nothing-here"));
        assert_eq!(pick(&r, None), Some(on_path.join("claude")));
    }

    #[test]
    fn not_found_error_names_every_place_searched() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let r = BinaryResolver::new()
            .explicit(tmp.path().join("nope/claude"))
            .managed_dir(tmp.path().join("tools/claude"));
        let mut searched = Vec::new();
        let path_var = std::ffi::OsString::from(tmp.path().join("empty-bin"));
        let found: Vec<_> = r
            .candidates(None, Some(&path_var), &mut searched)
            .into_iter()
            .filter(|p| is_executable(p))
            .collect();
        assert!(found.is_empty());
        let err = Error::BinaryNotFound { searched }.to_string();
        assert!(err.contains("explicit path"), "{err}");
        assert!(err.contains("$CLAUDE_BIN (unset)"), "{err}");
        assert!(err.contains("managed install"), "{err}");
        assert!(err.contains("tools/claude/node_modules"), "{err}");
        assert!(err.contains("$PATH ("), "{err}");
    }

    #[tokio::test]
    async fn probe_reads_the_version_of_a_binary() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let exe = tmp.path().join("claude");
        make_exe(&exe);
        let bin = ClaudeBinary::probe(&exe).await.expect("probe");
        assert_eq!(bin.version.to_string(), "9.9.9");
        let err = bin.require_pinned().expect_err("not pinned");
        assert!(matches!(err, Error::VersionMismatch { .. }), "{err}");
    }
}
