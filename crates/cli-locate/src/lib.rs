//! Finding, version-probing and npm-installing an agent CLI: the one resolver behind
//! `codex_client::binary` (`codex`) and `claude_code::binary` (`claude`). The two differ only in
//! what [`AgentCli`] says: the program's name, the environment variable naming an explicit
//! binary, the npm package and where it puts the native binary, and how long `--version` may
//! take. This crate knows neither CLI, so each client crate depends on it and not on the other.
//!
//! Resolution order (first hit wins): an explicit path given by the caller > `$<ENV>` > each
//! managed pinned npm install, in the order added > `$PATH`. A candidate only counts if it is an
//! executable file; when none is, the caller gets every place that was searched, so "not found"
//! is actionable.
//!
//! [`Resolver`], [`probe`] and [`install_version`] answer in the CLI crate's own types
//! ([`AgentCli::Binary`], [`AgentCli::Error`]): each crate keeps its public API and its error
//! messages while the logic lives here once. Failures are reported as a [`Failure`], which each
//! crate turns into its error type.

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Characters of npm's stderr kept in [`NpmFailure::Exited`].
const NPM_STDERR_TAIL: usize = 4096;

/// Finds one CLI's binary; see the module docs for the order.
#[derive(Debug, Clone)]
pub struct CliLocator {
    program: &'static str,
    env_var: &'static str,
    managed_binary_path: fn(&Path) -> PathBuf,
    explicit: Option<PathBuf>,
    managed_dirs: Vec<PathBuf>,
    use_env: bool,
    use_path: bool,
}

impl CliLocator {
    /// A locator for `program` (its executable's name on `$PATH`, without `.exe`) that honours
    /// `$env_var` and `$PATH`; `managed_binary_path` maps a managed install folder to the
    /// binary inside it.
    pub fn new(
        program: &'static str,
        env_var: &'static str,
        managed_binary_path: fn(&Path) -> PathBuf,
    ) -> Self {
        CliLocator {
            program,
            env_var,
            managed_binary_path,
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

    /// A folder holding a pinned npm install, tried after the environment variable, in the
    /// order added.
    pub fn managed_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.managed_dirs.push(dir.into());
        self
    }

    /// Whether to look at the environment variable (default true).
    pub fn use_env(mut self, yes: bool) -> Self {
        self.use_env = yes;
        self
    }

    /// Whether to search `$PATH` last (default true).
    pub fn use_path(mut self, yes: bool) -> Self {
        self.use_path = yes;
        self
    }

    /// The first executable candidate without running it; `Err` lists every place searched.
    pub fn locate(&self) -> Result<PathBuf, Vec<String>> {
        let mut searched = Vec::new();
        let path_var = std::env::var_os("PATH");
        let env_var = if self.use_env {
            std::env::var_os(self.env_var)
        } else {
            None
        };
        self.candidates(env_var.as_deref(), path_var.as_deref(), &mut searched)
            .into_iter()
            .find(|p| is_executable(p))
            .ok_or(searched)
    }

    fn candidates(
        &self,
        env_var: Option<&OsStr>,
        path_var: Option<&OsStr>,
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
                    searched.push(format!("${}={}", self.env_var, p.display()));
                    out.push(p);
                }
                _ => searched.push(format!("${} (unset)", self.env_var)),
            }
        }
        for dir in &self.managed_dirs {
            let p = (self.managed_binary_path)(dir);
            searched.push(format!("managed install {}", p.display()));
            out.push(p);
        }
        if self.use_path {
            match path_var {
                Some(var) => {
                    let exe = if cfg!(windows) {
                        format!("{}.exe", self.program)
                    } else {
                        self.program.to_owned()
                    };
                    let dirs: Vec<PathBuf> = std::env::split_paths(var).collect();
                    searched.push(format!(
                        "$PATH ({})",
                        dirs.iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(":")
                    ));
                    out.extend(dirs.into_iter().map(|d| d.join(&exe)));
                }
                None => searched.push("$PATH (unset)".to_owned()),
            }
        }
        out
    }
}

/// What tells one agent CLI from another, for finding, probing and installing it.
pub trait AgentCli {
    /// The executable's name on `$PATH`, without `.exe`.
    const PROGRAM: &'static str;
    /// The environment variable naming an explicit binary.
    const BIN_ENV: &'static str;
    /// The npm package that carries the CLI.
    const NPM_PACKAGE: &'static str;
    /// The version the CLI's crate is written and tested against.
    const PINNED_VERSION: &'static str;
    /// How long `PROGRAM --version` may take.
    const VERSION_PROBE_TIMEOUT: Duration;
    /// A resolved binary, as the CLI's crate presents it.
    type Binary: From<Found>;
    /// The CLI crate's error type.
    type Error: From<Failure>;
    /// Where a pinned npm install under `install_dir` puts the native binary.
    fn managed_binary_path(install_dir: &Path) -> PathBuf;
}

/// A binary that was found and answered `--version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Where it is.
    pub path: PathBuf,
    /// What `--version` said.
    pub version: semver::Version,
}

/// Why a CLI could not be found, probed or installed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No candidate was an executable file; every place searched, in order.
    #[error("{program} binary not found; searched: {}", searched.join(", "))]
    NotFound {
        program: &'static str,
        searched: Vec<String>,
    },
    /// A program (the CLI, or npm) could not be started.
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `--version` gave no usable answer.
    #[error("could not determine the version of {path:?}: {reason}")]
    VersionProbe { path: PathBuf, reason: String },
    /// A folder could not be made.
    #[error("{path:?}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// npm failed (`status` is `None` when killed by a signal); the tail of its stderr.
    #[error("npm exited with {status:?}: {stderr_tail}")]
    NpmExited {
        status: Option<i32>,
        stderr_tail: String,
    },
    /// The installed binary is not the version asked for.
    #[error("{program} at {path:?} is version {found}, expected {expected}")]
    VersionMismatch {
        program: &'static str,
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// Parses a CLI's `--version` output: the first whitespace-separated word of the first
/// non-empty line that is a semantic version, with or without a leading `v`
/// (`codex-cli 0.169.0`, `2.1.332 (Claude Code)`, a bare `v1.2.3`).
pub fn parse_version(text: &str) -> Result<semver::Version, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| format!("empty version output {text:?}"))?;
    line.split_whitespace()
        .map(|t| t.strip_prefix('v').unwrap_or(t))
        .find_map(|t| semver::Version::parse(t).ok())
        .ok_or_else(|| format!("no version number in {line:?}"))
}

/// `C`'s pinned version (0.0.0 should the constant not parse, which the CLI crates' tests rule
/// out).
pub fn pinned_version<C: AgentCli>() -> semver::Version {
    semver::Version::parse(C::PINNED_VERSION).unwrap_or(semver::Version::new(0, 0, 0))
}

/// `Ok` when `version` is `expected`, else [`Failure::VersionMismatch`] for the binary at
/// `path`.
pub fn require_version<C: AgentCli>(
    path: &Path,
    version: &semver::Version,
    expected: &str,
) -> Result<(), Failure> {
    if version.to_string() == expected {
        Ok(())
    } else {
        Err(Failure::VersionMismatch {
            program: C::PROGRAM,
            path: path.to_owned(),
            found: version.to_string(),
            expected: expected.to_owned(),
        })
    }
}

/// Finds `C`'s binary; see the module docs for the order.
#[derive(Debug)]
pub struct Resolver<C> {
    locator: CliLocator,
    cli: PhantomData<fn() -> C>,
}

impl<C> Clone for Resolver<C> {
    fn clone(&self) -> Self {
        Resolver {
            locator: self.locator.clone(),
            cli: PhantomData,
        }
    }
}

impl<C: AgentCli> Default for Resolver<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: AgentCli> Resolver<C> {
    /// A resolver that honours `C::BIN_ENV` and `$PATH` and has no managed dirs yet.
    pub fn new() -> Self {
        Resolver {
            locator: CliLocator::new(C::PROGRAM, C::BIN_ENV, C::managed_binary_path),
            cli: PhantomData,
        }
    }

    /// An explicit path, tried first.
    pub fn explicit(self, path: impl Into<PathBuf>) -> Self {
        self.map(|l| l.explicit(path))
    }

    /// A folder holding a pinned npm install, tried after the environment variable, in the
    /// order added.
    pub fn managed_dir(self, dir: impl Into<PathBuf>) -> Self {
        self.map(|l| l.managed_dir(dir))
    }

    /// Whether to look at the environment variable (default true).
    pub fn use_env(self, yes: bool) -> Self {
        self.map(|l| l.use_env(yes))
    }

    /// Whether to search `$PATH` last (default true).
    pub fn use_path(self, yes: bool) -> Self {
        self.map(|l| l.use_path(yes))
    }

    fn map(self, f: impl FnOnce(CliLocator) -> CliLocator) -> Self {
        Resolver {
            locator: f(self.locator),
            cli: PhantomData,
        }
    }

    /// Finds the first executable candidate without running it.
    pub fn locate(&self) -> Result<PathBuf, C::Error> {
        self.locator.locate().map_err(|searched| {
            Failure::NotFound {
                program: C::PROGRAM,
                searched,
            }
            .into()
        })
    }

    /// Finds the binary and probes its version.
    pub async fn resolve(&self) -> Result<C::Binary, C::Error> {
        let path = self.locate()?;
        probe::<C>(path).await
    }
}

async fn probe_found<C: AgentCli>(path: PathBuf) -> Result<Found, Failure> {
    match probe_version(&path, C::VERSION_PROBE_TIMEOUT, parse_version).await {
        Ok(version) => Ok(Found { path, version }),
        Err(ProbeFailure::Spawn(source)) => Err(Failure::Spawn {
            program: path,
            source,
        }),
        Err(ProbeFailure::Unusable(reason)) => Err(Failure::VersionProbe { path, reason }),
    }
}

/// Runs `path --version` (bounded by `C::VERSION_PROBE_TIMEOUT`) and parses it.
pub async fn probe<C: AgentCli>(path: impl Into<PathBuf>) -> Result<C::Binary, C::Error> {
    Ok(probe_found::<C>(path.into()).await?.into())
}

/// Installs `C::NPM_PACKAGE@version` with the `npm` executable into `install_dir` (idempotent:
/// an install of that version already there is probed and returned without running npm).
/// Errors if the installed binary does not report `version`.
pub async fn install_version<C: AgentCli>(
    install_dir: &Path,
    version: &str,
    npm: &str,
) -> Result<C::Binary, C::Error> {
    let bin = C::managed_binary_path(install_dir);
    if is_executable(&bin)
        && let Ok(found) = probe_found::<C>(bin.clone()).await
        && found.version.to_string() == version
    {
        return Ok(found.into());
    }
    npm_install(npm, install_dir, C::NPM_PACKAGE, version)
        .await
        .map_err(|e| match e {
            NpmFailure::Io(source) => Failure::Io {
                path: install_dir.to_owned(),
                source,
            },
            NpmFailure::Spawn(source) => Failure::Spawn {
                program: PathBuf::from(npm),
                source,
            },
            NpmFailure::Exited {
                status,
                stderr_tail,
            } => Failure::NpmExited {
                status,
                stderr_tail,
            },
        })?;
    let found = probe_found::<C>(bin).await?;
    require_version::<C>(&found.path, &found.version, version)?;
    Ok(found.into())
}

/// Whether `path` is a file this user may execute.
pub fn is_executable(path: &Path) -> bool {
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

/// Why `<cli> --version` gave no version.
#[derive(Debug)]
pub enum ProbeFailure {
    /// The binary could not be started.
    Spawn(std::io::Error),
    /// It ran but gave no usable answer: too slow, failed, or printed no parsable version.
    Unusable(String),
}

/// Runs `path --version` (bounded by `timeout`, stdin closed) and parses its output with
/// `parse`.
pub async fn probe_version<V>(
    path: &Path,
    timeout: Duration,
    parse: impl FnOnce(&str) -> Result<V, String>,
) -> Result<V, ProbeFailure> {
    let mut cmd = Command::new(path);
    cmd.arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| {
            ProbeFailure::Unusable(format!("`--version` did not finish within {timeout:?}"))
        })?
        .map_err(ProbeFailure::Spawn)?;
    if !output.status.success() {
        return Err(ProbeFailure::Unusable(format!(
            "`--version` exited with {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse(&String::from_utf8_lossy(&output.stdout)).map_err(ProbeFailure::Unusable)
}

/// Why an npm install failed.
#[derive(Debug)]
pub enum NpmFailure {
    /// The install folder could not be created.
    Io(std::io::Error),
    /// npm could not be started.
    Spawn(std::io::Error),
    /// npm failed (`status` is `None` when killed by a signal); the tail of its stderr.
    Exited {
        status: Option<i32>,
        stderr_tail: String,
    },
}

/// Installs `package@version` exactly, with the `npm` executable, under `install_dir` (made if
/// missing); quiet, no audit or funding requests.
pub async fn npm_install(
    npm: &str,
    install_dir: &Path,
    package: &str,
    version: &str,
) -> Result<(), NpmFailure> {
    std::fs::create_dir_all(install_dir).map_err(NpmFailure::Io)?;
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
        .arg(format!("{package}@{version}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = cmd.output().await.map_err(NpmFailure::Spawn)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let skip = stderr.chars().count().saturating_sub(NPM_STDERR_TAIL);
        return Err(NpmFailure::Exited {
            status: output.status.code(),
            stderr_tail: stderr.chars().skip(skip).collect(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managed(dir: &Path) -> PathBuf {
        dir.join("bin").join("tool")
    }

    #[test]
    fn candidates_come_in_order_and_every_place_searched_is_named() {
        let l = CliLocator::new("tool", "TOOL_BIN", managed)
            .explicit("/x/tool")
            .managed_dir("/m1")
            .managed_dir("/m2");
        let mut searched = Vec::new();
        let path = std::env::join_paths(["/p1", "/p2"]).expect("paths");
        let c = l.candidates(
            Some(OsStr::new("/e/tool")),
            Some(path.as_os_str()),
            &mut searched,
        );
        let exe = if cfg!(windows) { "tool.exe" } else { "tool" };
        assert_eq!(
            c,
            vec![
                PathBuf::from("/x/tool"),
                PathBuf::from("/e/tool"),
                PathBuf::from("/m1/bin/tool"),
                PathBuf::from("/m2/bin/tool"),
                Path::new("/p1").join(exe),
                Path::new("/p2").join(exe),
            ]
        );
        assert_eq!(searched.len(), 5, "{searched:?}");
        assert_eq!(searched[1], "$TOOL_BIN=/e/tool");

        let mut searched = Vec::new();
        let none = CliLocator::new("tool", "TOOL_BIN", managed)
            .use_path(false)
            .candidates(None, None, &mut searched);
        assert!(none.is_empty());
        assert_eq!(searched, vec!["$TOOL_BIN (unset)".to_owned()]);
    }

    #[test]
    fn only_executable_files_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").expect("write");
        assert!(!is_executable(dir.path()), "a folder");
        assert!(!is_executable(&dir.path().join("missing")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert!(!is_executable(&plain));
            std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            assert!(is_executable(&plain));
        }
        let found = CliLocator::new("tool", "TOOL_BIN", managed)
            .use_env(false)
            .use_path(false)
            .explicit(dir.path().join("missing"))
            .locate();
        assert_eq!(
            found,
            Err(vec![format!(
                "explicit path {}",
                dir.path().join("missing").display()
            )])
        );
    }
    /// A CLI for the tests: `tool`, `$TOOL_BIN`, its managed binary at `DIR/bin/tool`.
    #[derive(Debug)]
    struct Tool;

    #[derive(Debug, PartialEq)]
    struct ToolBinary(Found);

    impl From<Found> for ToolBinary {
        fn from(f: Found) -> Self {
            ToolBinary(f)
        }
    }

    impl AgentCli for Tool {
        const PROGRAM: &'static str = "tool";
        const BIN_ENV: &'static str = "TOOL_BIN";
        const NPM_PACKAGE: &'static str = "tool";
        const PINNED_VERSION: &'static str = "1.2.3";
        const VERSION_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
        type Binary = ToolBinary;
        type Error = Failure;
        fn managed_binary_path(dir: &Path) -> PathBuf {
            managed(dir)
        }
    }

    #[test]
    fn versions_parse_from_what_the_clis_print() {
        let v = |s: &str| parse_version(s).map(|v| v.to_string());
        assert_eq!(v("codex-cli 0.169.0\n").as_deref(), Ok("0.169.0"));
        assert_eq!(v("2.1.332 (Claude Code)\n").as_deref(), Ok("2.1.332"));
        assert_eq!(v("\n  v1.2.3").as_deref(), Ok("1.2.3"));
        assert_eq!(v("codex-cli 0.2.0-alpha.3").as_deref(), Ok("0.2.0-alpha.3"));
        assert!(parse_version("").is_err());
        assert!(parse_version("tool banana").is_err());
        assert_eq!(pinned_version::<Tool>(), semver::Version::new(1, 2, 3));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_managed_install_resolves_probes_and_must_match_the_version_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = managed(dir.path());
        std::fs::create_dir_all(bin.parent().expect("parent")).expect("mkdir");
        std::fs::write(&bin, "#!/bin/sh\necho 'tool 1.2.3'\n").expect("write");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let r = Resolver::<Tool>::new()
            .use_env(false)
            .use_path(false)
            .managed_dir(dir.path());
        let found = r.resolve().await.expect("resolve");
        assert_eq!(
            found,
            ToolBinary(Found {
                path: bin.clone(),
                version: semver::Version::new(1, 2, 3)
            })
        );
        assert!(require_version::<Tool>(&bin, &found.0.version, "1.2.3").is_ok());
        let err = require_version::<Tool>(&bin, &found.0.version, "2.0.0").expect_err("mismatch");
        assert!(err.to_string().starts_with("tool at "), "{err}");
        // The version already there is used as is: npm (here a name that does not exist) is
        // never started.
        let again = install_version::<Tool>(dir.path(), "1.2.3", "/nonexistent/npm")
            .await
            .expect("installed already");
        assert_eq!(again, found);
        let err = install_version::<Tool>(dir.path(), "2.0.0", "/nonexistent/npm")
            .await
            .expect_err("npm missing");
        assert!(matches!(err, Failure::Spawn { .. }), "{err}");
        let err = Resolver::<Tool>::new()
            .use_env(false)
            .use_path(false)
            .locate()
            .expect_err("nothing to find");
        assert!(
            err.to_string().starts_with("tool binary not found"),
            "{err}"
        );
    }
}
