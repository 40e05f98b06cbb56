//! Finding, version-probing and npm-installing an agent CLI: the one implementation behind
//! [`crate::binary`] (`codex`) and `claude_code::binary` (`claude`), whose resolvers differ only
//! in the program's name, the environment variable naming an explicit binary and where the npm
//! package puts the native binary.
//!
//! Resolution order (first hit wins): an explicit path given by the caller > `$<ENV>` > each
//! managed pinned npm install, in the order added > `$PATH`. A candidate only counts if it is an
//! executable file; when none is, the caller gets every place that was searched, so "not found"
//! is actionable.
//!
//! Errors here are small and specific ([`ProbeFailure`], [`NpmFailure`]); each CLI's crate turns
//! them into its own error type, whose messages name its program.

use std::ffi::OsStr;
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
}
