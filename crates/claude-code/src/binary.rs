//! Finding, probing and installing the `claude` binary.
//!
//! Resolution order (first hit wins): an explicit path given by the caller > `$CLAUDE_BIN` > the
//! project-managed pinned npm installs ([`managed_binary_path`] under each managed dir) > `$PATH`.
//! A candidate only counts if it is an executable file; when nothing is found the error lists
//! every place that was searched, so "claude not found" is actionable. The lookup, the version
//! probe and the npm install are the `cli_locate` crate's, shared with the Codex client:
//! [`ClaudeCli`] is what it needs to know about Claude Code.
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
use std::time::Duration;

use cli_locate::{AgentCli, Found};

use crate::{Error, Result};

/// The Claude Code CLI version this crate is written and tested against.
pub const PINNED_VERSION: &str = "2.1.332";

/// The npm package that carries the CLI.
pub const NPM_PACKAGE: &str = "@anthropic-ai/claude-code";

/// The environment variable naming an explicit binary.
pub const BIN_ENV: &str = "CLAUDE_BIN";

/// Claude Code, to the shared resolver (`cli_locate`).
#[derive(Debug, Clone, Copy)]
pub struct ClaudeCli;

impl AgentCli for ClaudeCli {
    const PROGRAM: &'static str = "claude";
    const BIN_ENV: &'static str = BIN_ENV;
    const NPM_PACKAGE: &'static str = NPM_PACKAGE;
    const PINNED_VERSION: &'static str = PINNED_VERSION;
    /// The binary is large; a cold page cache makes its `--version` slow.
    const VERSION_PROBE_TIMEOUT: Duration = Duration::from_secs(30);
    type Binary = ClaudeBinary;
    type Error = Error;

    fn managed_binary_path(install_dir: &Path) -> PathBuf {
        managed_binary_path(install_dir)
    }
}

/// A parsed `claude --version`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaudeVersion(pub semver::Version);

impl ClaudeVersion {
    /// Parses `claude --version` output (`2.1.332 (Claude Code)`), or a bare `2.1.332`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        cli_locate::parse_version(text).map(ClaudeVersion)
    }

    /// The pinned version.
    pub fn pinned() -> Self {
        ClaudeVersion(cli_locate::pinned_version::<ClaudeCli>())
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
        cli_locate::probe::<ClaudeCli>(path).await
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
        cli_locate::require_version::<ClaudeCli>(&self.path, &self.version.0, PINNED_VERSION)?;
        Ok(self)
    }
}

impl From<Found> for ClaudeBinary {
    fn from(found: Found) -> Self {
        ClaudeBinary {
            path: found.path,
            version: ClaudeVersion(found.version),
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

/// Finds a `claude` binary (see the module docs for the order): `new()`, then `explicit`,
/// `managed_dir` (a pinned npm install, as made by [`install_pinned`] or `scripts/setup.sh` into
/// `tools/claude`), `use_env`, `use_path`, and `locate()` or `resolve()`.
pub type BinaryResolver = cli_locate::Resolver<ClaudeCli>;

/// Runs `claude --version` (bounded) and parses it.
pub async fn probe_version(path: &Path) -> Result<ClaudeVersion> {
    Ok(ClaudeBinary::probe(path).await?.version)
}

/// Installs `@anthropic-ai/claude-code@PINNED_VERSION` with npm into `install_dir` (idempotent:
/// an existing pinned install is probed and returned without running npm).
pub async fn install_pinned(install_dir: &Path) -> Result<ClaudeBinary> {
    install_version(install_dir, PINNED_VERSION, "npm").await
}

/// Installs a given version with a given npm executable. Returns the probed binary; errors if
/// the installed binary does not report `version`.
pub async fn install_version(install_dir: &Path, version: &str, npm: &str) -> Result<ClaudeBinary> {
    cli_locate::install_version::<ClaudeCli>(install_dir, version, npm).await
}

#[cfg(test)]
mod tests {
    use cli_locate::Failure;

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
    fn explicit_then_managed_and_every_place_searched_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let explicit = tmp.path().join("explicit/claude");
        let managed_dir = tmp.path().join("managed");
        make_exe(&explicit);
        make_exe(&managed_binary_path(&managed_dir));
        let r = BinaryResolver::new()
            .managed_dir(&managed_dir)
            .use_env(false)
            .use_path(false);
        assert_eq!(
            r.clone().explicit(&explicit).locate().expect("explicit"),
            explicit
        );
        assert_eq!(
            r.locate().expect("managed"),
            managed_binary_path(&managed_dir)
        );

        let err = BinaryResolver::new()
            .explicit(tmp.path().join("nope/claude"))
            .managed_dir(tmp.path().join("tools/claude"))
            .use_env(false)
            .use_path(false)
            .locate()
            .expect_err("nothing there")
            .to_string();
        assert!(err.contains("claude binary not found"), "{err}");
        assert!(err.contains("explicit path"), "{err}");
        assert!(err.contains("managed install"), "{err}");
        assert!(err.contains("tools/claude/node_modules"), "{err}");
    }

    #[tokio::test]
    async fn probe_reads_the_version_of_a_binary() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let exe = tmp.path().join("claude");
        make_exe(&exe);
        let bin = ClaudeBinary::probe(&exe).await.expect("probe");
        assert_eq!(bin.version.to_string(), "9.9.9");
        let err = bin.require_pinned().expect_err("not pinned");
        assert!(
            matches!(err, Error::Binary(Failure::VersionMismatch { .. })),
            "{err}"
        );
    }
}
