//! Finding, probing and installing the `codex` binary.
//!
//! Resolution order (first hit wins): an explicit path given by the caller > `$CODEX_BIN` > the
//! project-managed pinned npm installs ([`managed_binary_path`] under each managed dir) > `$PATH`.
//! A candidate only counts if it is an executable file; when nothing is found the error lists
//! every place that was searched, so "codex not found" is actionable. The lookup, the version
//! probe and the npm install are the `cli_locate` crate's, shared with the Claude Code crate:
//! [`CodexCli`] is what it needs to know about Codex.
//!
//! The version is probed with `codex --version` (`codex-cli 0.169.0`) and parsed into a
//! [`CodexVersion`]. Resolution does not insist on [`PINNED_VERSION`]: callers decide (see
//! [`CodexBinary::require_pinned`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use cli_locate::{AgentCli, Found};

use crate::{Error, Result};

/// The Codex CLI version this crate is written and tested against.
pub const PINNED_VERSION: &str = "0.169.0";

/// The npm package that carries the CLI.
pub const NPM_PACKAGE: &str = "@openai/codex";

/// The environment variable naming an explicit binary.
pub const BIN_ENV: &str = "CODEX_BIN";

/// The Codex CLI, to the shared resolver (`cli_locate`).
#[derive(Debug, Clone, Copy)]
pub struct CodexCli;

impl AgentCli for CodexCli {
    const PROGRAM: &'static str = "codex";
    const BIN_ENV: &'static str = BIN_ENV;
    const NPM_PACKAGE: &'static str = NPM_PACKAGE;
    const PINNED_VERSION: &'static str = PINNED_VERSION;
    const VERSION_PROBE_TIMEOUT: Duration = Duration::from_secs(15);
    type Binary = CodexBinary;
    type Error = Error;

    fn managed_binary_path(install_dir: &Path) -> PathBuf {
        managed_binary_path(install_dir)
    }
}

/// A parsed `codex --version`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodexVersion(pub semver::Version);

impl CodexVersion {
    /// Parses `codex --version` output (`codex-cli 0.169.0`), or a bare `0.169.0`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        cli_locate::parse_version(text).map(CodexVersion)
    }

    /// The pinned version.
    pub fn pinned() -> Self {
        CodexVersion(cli_locate::pinned_version::<CodexCli>())
    }

    /// Whether this is exactly the pinned version.
    pub fn is_pinned(&self) -> bool {
        *self == Self::pinned()
    }
}

impl fmt::Display for CodexVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A resolved binary and its probed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodexBinary {
    pub path: PathBuf,
    pub version: CodexVersion,
}

impl CodexBinary {
    /// Probes `path` with `codex --version`.
    pub async fn probe(path: impl Into<PathBuf>) -> Result<Self> {
        cli_locate::probe::<CodexCli>(path).await
    }

    /// A binary whose version is already known (no probe). Useful in tests and benches.
    pub fn with_version(path: impl Into<PathBuf>, version: CodexVersion) -> Self {
        CodexBinary {
            path: path.into(),
            version,
        }
    }

    /// Errors unless this is the pinned version.
    pub fn require_pinned(self) -> Result<Self> {
        cli_locate::require_version::<CodexCli>(&self.path, &self.version.0, PINNED_VERSION)?;
        Ok(self)
    }

    /// A `tokio` command for this binary with `CODEX_HOME` set and stdin closed.
    pub fn command(&self, home: &crate::home::CodexHome) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env("CODEX_HOME", home.root()).stdin(Stdio::null());
        cmd
    }
}

impl From<Found> for CodexBinary {
    fn from(found: Found) -> Self {
        CodexBinary {
            path: found.path,
            version: CodexVersion(found.version),
        }
    }
}

/// What a short CLI sub-command (`login status`, `features list`, `mcp list`, ...) produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliOutput {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// The exit code (`None` when killed by a signal).
    pub fn exit_code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The message of Codex's `Error: <message>` report on stderr (the lines up to the blank
    /// line or backtrace that follows), or a clap usage error (`error: ...`).
    pub fn error_message(&self) -> Option<String> {
        let mut lines = self.stderr.lines();
        let first = lines.by_ref().find_map(|l| {
            l.strip_prefix("Error: ")
                .or_else(|| l.strip_prefix("error: "))
                .map(str::to_owned)
        })?;
        let mut msg = first;
        for l in lines {
            if l.trim().is_empty() || l.starts_with("Stack backtrace") || l.starts_with("Usage:") {
                break;
            }
            msg.push('\n');
            msg.push_str(l);
        }
        Some(msg)
    }

    /// `Ok(self)` on exit 0, else [`Error::Exited`] with the stderr tail (like `success`, but
    /// keeping stdout and stderr for the caller).
    pub fn check(self, what: &str) -> Result<Self> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(self.into_exited(what))
        }
    }

    /// stdout if the command succeeded, else [`Error::Exited`] with the stderr tail.
    pub fn success(self, what: &str) -> Result<String> {
        if self.status.success() {
            Ok(self.stdout)
        } else {
            Err(self.into_exited(what))
        }
    }

    fn into_exited(self, what: &str) -> Error {
        let mut tail = self.stderr;
        if tail.len() > crate::process::STDERR_TAIL_BYTES {
            let mut cut = tail.len() - crate::process::STDERR_TAIL_BYTES;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail = tail.split_off(cut);
        }
        tracing::debug!(what, status = ?self.status, "codex sub-command failed");
        Error::Exited {
            status: self.status.code(),
            stderr_tail: tail,
        }
    }
}

impl CodexBinary {
    /// Runs `codex <args>` with `CODEX_HOME` = `home` to completion (bounded by `timeout`; on
    /// timeout the process group is killed). `stdin` is written then closed; `None` = null.
    pub async fn run(
        &self,
        home: &crate::home::CodexHome,
        args: &[&str],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<CliOutput> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut cmd = Command::new(&self.path);
        cmd.env("CODEX_HOME", home.root())
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped());
        let mut child = crate::process::GroupChild::spawn(cmd, "codex")?;
        let tail = child.stderr_tail();
        let mut stdout = child.take_stdout();
        let input = stdin.map(<[u8]>::to_vec);
        let mut pipe_in = child.take_stdin();
        let work = async {
            if let (Some(bytes), Some(p)) = (input, pipe_in.as_mut()) {
                // Ignore EPIPE: a command that does not read stdin reports through its status.
                let _ = p.write_all(&bytes).await;
            }
            drop(pipe_in.take());
            let mut out = Vec::new();
            if let Some(s) = stdout.as_mut() {
                s.read_to_end(&mut out)
                    .await
                    .map_err(|e| Error::io(self.path.clone(), e))?;
            }
            let status = child.wait().await?;
            Ok::<_, Error>((status, out))
        };
        let (status, out) = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Timeout {
                    method: format!("codex {}", args.join(" ")),
                    after: timeout,
                });
            }
        };
        Ok(CliOutput {
            status,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: tail.snapshot(),
        })
    }
}

/// Where the pinned npm install puts the native binary, for this platform.
pub fn managed_binary_path(install_dir: &Path) -> PathBuf {
    let modules = install_dir.join("node_modules");
    match platform_package() {
        Some((pkg, triple, exe)) => modules
            .join("@openai")
            .join(pkg)
            .join("vendor")
            .join(triple)
            .join("bin")
            .join(exe),
        // Unknown platform: npm's launcher script.
        None => modules.join(".bin").join("codex"),
    }
}

/// (npm platform package, rust target triple, executable name) for this platform.
fn platform_package() -> Option<(&'static str, &'static str, &'static str)> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some(("codex-linux-x64", "x86_64-unknown-linux-musl", "codex")),
        ("linux", "aarch64") => Some(("codex-linux-arm64", "aarch64-unknown-linux-musl", "codex")),
        ("macos", "x86_64") => Some(("codex-darwin-x64", "x86_64-apple-darwin", "codex")),
        ("macos", "aarch64") => Some(("codex-darwin-arm64", "aarch64-apple-darwin", "codex")),
        ("windows", "x86_64") => Some(("codex-win32-x64", "x86_64-pc-windows-msvc", "codex.exe")),
        ("windows", "aarch64") => {
            Some(("codex-win32-arm64", "aarch64-pc-windows-msvc", "codex.exe"))
        }
        _ => None,
    }
}

/// Finds a `codex` binary (see the module docs for the order): `new()`, then `explicit`,
/// `managed_dir`, `use_env`, `use_path`, and `locate()` or `resolve()`.
pub type BinaryResolver = cli_locate::Resolver<CodexCli>;

/// Runs `codex --version` (bounded) and parses it.
pub async fn probe_version(path: &Path) -> Result<CodexVersion> {
    Ok(CodexBinary::probe(path).await?.version)
}

/// Installs `@openai/codex@PINNED_VERSION` with npm into `install_dir` (idempotent: an existing
/// pinned install is probed and returned without running npm).
pub async fn install_pinned(install_dir: &Path) -> Result<CodexBinary> {
    install_version(install_dir, PINNED_VERSION, "npm").await
}

/// Installs a given version with a given npm executable. Returns the probed binary; errors if
/// the installed binary does not report `version`.
pub async fn install_version(install_dir: &Path, version: &str, npm: &str) -> Result<CodexBinary> {
    cli_locate::install_version::<CodexCli>(install_dir, version, npm).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_version_output() {
        let v = CodexVersion::parse("codex-cli 0.169.0\n").expect("parse");
        assert_eq!(v, CodexVersion(semver::Version::new(0, 169, 0)));
        assert!(v.is_pinned());
        assert_eq!(
            CodexVersion::parse("0.170.1").expect("bare").to_string(),
            "0.170.1"
        );
        assert_eq!(
            CodexVersion::parse("codex-cli 0.2.0-alpha.3")
                .expect("pre")
                .0
                .pre
                .as_str(),
            "alpha.3"
        );
        assert!(CodexVersion::parse("").is_err());
        assert!(CodexVersion::parse("codex-cli banana").is_err());
        assert!(CodexVersion::pinned() < CodexVersion::parse("0.170.0").expect("parse"));
    }

    #[test]
    fn managed_path_follows_npm_layout() {
        let p = managed_binary_path(Path::new("/opt/tools/codex"));
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(
                p,
                Path::new(
                    "/opt/tools/codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
                )
            );
        }
        assert!(p.starts_with("/opt/tools/codex/node_modules"));
    }

    #[test]
    fn not_found_error_names_every_place_searched() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = BinaryResolver::new()
            .explicit(tmp.path().join("nope"))
            .managed_dir(tmp.path().join("managed"))
            .use_env(false)
            .use_path(false)
            .locate()
            .expect_err("nothing there");
        let msg = err.to_string();
        assert!(
            msg.contains("explicit path") && msg.contains("nope"),
            "{msg}"
        );
        assert!(
            msg.contains("managed install") && msg.contains("managed"),
            "{msg}"
        );
    }

    #[test]
    fn explicit_beats_managed_and_non_executables_are_skipped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let managed = managed_binary_path(tmp.path());
        std::fs::create_dir_all(managed.parent().expect("parent")).expect("mkdir");
        std::fs::write(&managed, "#!/bin/sh\necho codex-cli 0.169.0\n").expect("write");
        let plain = tmp.path().join("not-executable");
        std::fs::write(&plain, "x").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&managed, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let found = BinaryResolver::new()
            .explicit(&plain)
            .managed_dir(tmp.path())
            .use_env(false)
            .use_path(false)
            .locate()
            .expect("found");
        assert_eq!(found, managed);
    }
}
