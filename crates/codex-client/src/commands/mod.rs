//! The Codex CLI's other sub-commands as typed builders: [`Apply`], [`Sandbox`], [`Review`],
//! [`SessionCommand`] (`archive`, `unarchive`, `delete`), [`Resume`] and [`Fork`] (interactive),
//! [`Doctor`] (typed report), [`Queue`], and [`CliCommand`] for anything else.
//!
//! Every builder:
//! - produces its argv with `argv()` (inspectable, e.g. for logging or a PTY launcher), with the
//!   shared options (`-c key=value`, `--enable`, `--disable`) placed before the sub-command, where
//!   Codex's top-level parser accepts them for every sub-command;
//! - runs with `CODEX_HOME` = the given home, stdin closed (or written and closed), its own
//!   process group (killed on timeout or drop) and stderr drained — see [`crate::process`];
//! - captures stdout, stderr and the exit status ([`CliOutput`]) with `output()`, and offers a
//!   typed `run()` where the command's result has a shape worth typing;
//! - is refused before anything runs when given [`Capabilities`] (`.capabilities(caps)`) that
//!   say the detected binary lacks the sub-command or one of the flags the invocation uses: the
//!   error is [`Error::Unsupported`] naming the version.
//!
//! Codex reports failures as `Error: <message>` on stderr followed by a backtrace;
//! [`CliOutput::error_message`] extracts the message.

mod apply;
mod doctor;
mod interactive;
mod queue;
mod review;
mod sandbox;
mod sessions;

pub use apply::Apply;
pub use doctor::{CheckStatus, Doctor, DoctorCheck, DoctorReport};
pub use interactive::{Fork, Resume, SessionTarget};
pub use queue::{Queue, QueuedMessage};
pub use review::{Review, ReviewTarget};
pub use sandbox::{PermissionProfile, Sandbox};
pub use sessions::{SessionAction, SessionCommand};

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, ChildStdout};
use tokio_util::codec::{FramedRead, LinesCodec};

pub use crate::binary::CliOutput;
use crate::binary::CodexBinary;
use crate::capabilities::Capabilities;
use crate::home::CodexHome;
use crate::process::GroupChild;
use crate::{Error, Result};

/// Default bound on a sub-command's run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest stdout line accepted by [`CliProcess::next_line`].
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Options shared by every sub-command invocation.
#[derive(Debug, Clone)]
pub struct CliOptions {
    pub(crate) config: Vec<(String, String)>,
    pub(crate) enable: Vec<String>,
    pub(crate) disable: Vec<String>,
    pub(crate) envs: Vec<(OsString, OsString)>,
    pub(crate) env_remove: Vec<OsString>,
    pub(crate) current_dir: Option<PathBuf>,
    pub(crate) timeout: Duration,
    pub(crate) capabilities: Option<Arc<Capabilities>>,
}

impl Default for CliOptions {
    fn default() -> Self {
        CliOptions {
            config: Vec::new(),
            enable: Vec::new(),
            disable: Vec::new(),
            envs: Vec::new(),
            env_remove: Vec::new(),
            current_dir: None,
            timeout: DEFAULT_TIMEOUT,
            capabilities: None,
        }
    }
}

/// Adds the shared option setters to a builder that has an `options: CliOptions` field.
macro_rules! cli_options {
    ($ty:ty) => {
        impl $ty {
            /// `-c key=value`: a config override; `toml` is a TOML value (`"\"o3\""`, `true`).
            pub fn config(mut self, key: impl Into<String>, toml: impl Into<String>) -> Self {
                self.options.config.push((key.into(), toml.into()));
                self
            }
            /// `--enable FEATURE`.
            pub fn enable_feature(mut self, name: impl Into<String>) -> Self {
                self.options.enable.push(name.into());
                self
            }
            /// `--disable FEATURE`.
            pub fn disable_feature(mut self, name: impl Into<String>) -> Self {
                self.options.disable.push(name.into());
                self
            }
            /// An environment variable for the child.
            pub fn env(
                mut self,
                key: impl Into<std::ffi::OsString>,
                value: impl Into<std::ffi::OsString>,
            ) -> Self {
                self.options.envs.push((key.into(), value.into()));
                self
            }
            /// Several environment variables for the child.
            pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
            where
                K: Into<std::ffi::OsString>,
                V: Into<std::ffi::OsString>,
            {
                self.options
                    .envs
                    .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
                self
            }
            /// Removes an inherited environment variable from the child.
            pub fn env_remove(mut self, key: impl Into<std::ffi::OsString>) -> Self {
                self.options.env_remove.push(key.into());
                self
            }
            /// The child's working directory.
            pub fn current_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
                self.options.current_dir = Some(dir.into());
                self
            }
            /// Bound on the whole run (default [`crate::commands::DEFAULT_TIMEOUT`]); on timeout
            /// the process group is killed and [`crate::Error::Timeout`] returned.
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.timeout = timeout;
                self
            }
            /// Refuse what the detected binary lacks (see [`crate::capabilities`]).
            pub fn capabilities(
                mut self,
                caps: std::sync::Arc<crate::capabilities::Capabilities>,
            ) -> Self {
                self.options.capabilities = Some(caps);
                self
            }
        }
    };
}
pub(crate) use cli_options;

/// One `codex` invocation: the sub-command path, its arguments, the flags it uses (for the
/// capability guard) and the shared options. The typed builders produce one of these;
/// use it directly for sub-commands without a builder (`migrate-rollouts`, `completion`, ...).
#[derive(Debug, Clone)]
pub struct CliCommand {
    binary: CodexBinary,
    home: CodexHome,
    path: Vec<String>,
    args: Vec<OsString>,
    flags: Vec<String>,
    stdin: Option<Vec<u8>>,
    options: CliOptions,
}

cli_options!(CliCommand);

impl CliCommand {
    /// `codex <path...>` with `CODEX_HOME` = `home`.
    pub fn new(binary: &CodexBinary, home: &CodexHome, path: &[&str]) -> Self {
        CliCommand {
            binary: binary.clone(),
            home: home.clone(),
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            args: Vec::new(),
            flags: Vec::new(),
            stdin: None,
            options: CliOptions::default(),
        }
    }

    pub(crate) fn with_options(mut self, options: CliOptions) -> Self {
        self.options = options;
        self
    }

    /// A positional argument (after the flags added so far).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// A flag without a value, checked against the capabilities.
    pub fn flag(mut self, flag: &str) -> Self {
        self.flags.push(flag.to_owned());
        self.args.push(flag.into());
        self
    }

    /// A flag with a value (`--flag VALUE`), checked against the capabilities.
    pub fn flag_value(mut self, flag: &str, value: impl Into<OsString>) -> Self {
        self.flags.push(flag.to_owned());
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }

    /// `--flag=VALUE` as one argument: a value starting with `-` is not mistaken for a flag.
    pub fn flag_eq(mut self, flag: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.flags.push(flag.to_owned());
        let mut arg = OsString::from(flag);
        arg.push("=");
        arg.push(value.as_ref());
        self.args.push(arg);
        self
    }

    /// `flag` only when `on`.
    pub fn flag_if(self, on: bool, flag: &str) -> Self {
        if on { self.flag(flag) } else { self }
    }

    /// `--flag VALUE` only when `value` is set.
    pub fn flag_opt(self, flag: &str, value: Option<impl Into<OsString>>) -> Self {
        match value {
            Some(v) => self.flag_value(flag, v),
            None => self,
        }
    }

    /// Bytes written to the child's stdin, which is then closed (default: stdin is null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The sub-command path (`["mcp", "add"]`).
    pub fn path(&self) -> &[String] {
        &self.path
    }

    /// The binary that will run.
    pub fn binary(&self) -> &CodexBinary {
        &self.binary
    }

    /// The capability guard: the sub-command and every flag used must exist on the binary the
    /// capabilities describe (no-op without capabilities).
    pub fn check(&self) -> Result<()> {
        let Some(caps) = &self.options.capabilities else {
            return Ok(());
        };
        let path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        caps.require_flags(&path, &flags)?;
        let root_flags: Vec<&str> = [
            (!self.options.config.is_empty()).then_some("--config"),
            (!self.options.enable.is_empty()).then_some("--enable"),
            (!self.options.disable.is_empty()).then_some("--disable"),
        ]
        .into_iter()
        .flatten()
        .collect();
        caps.require_flags(&[], &root_flags)
    }

    /// The full argv (without the program): shared options, the path, then the arguments.
    pub fn argv(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        for (k, v) in &self.options.config {
            out.push("-c".into());
            out.push(format!("{k}={v}").into());
        }
        for f in &self.options.enable {
            out.push("--enable".into());
            out.push(f.into());
        }
        for f in &self.options.disable {
            out.push("--disable".into());
            out.push(f.into());
        }
        out.extend(self.path.iter().map(OsString::from));
        out.extend(self.args.iter().cloned());
        out
    }

    /// A `tokio` command for this invocation (environment, cwd and `CODEX_HOME` applied; stdio
    /// left for the caller), after the capability check. For launchers that need their own
    /// stdio, such as a pseudo-terminal.
    pub fn command(&self) -> Result<tokio::process::Command> {
        self.check()?;
        let mut cmd = tokio::process::Command::new(&self.binary.path);
        cmd.args(self.argv()).env("CODEX_HOME", self.home.root());
        for (k, v) in &self.options.envs {
            cmd.env(k, v);
        }
        for k in &self.options.env_remove {
            cmd.env_remove(k);
        }
        if let Some(dir) = &self.options.current_dir {
            cmd.current_dir(dir);
        }
        Ok(cmd)
    }

    fn describe(&self) -> String {
        let argv: Vec<String> = self
            .argv()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("codex {}", argv.join(" "))
    }

    /// Runs to completion and captures stdout, stderr (tail) and the exit status. A non-zero
    /// exit is NOT an error here (see [`CliOutput::success`]); failing to spawn, a timeout and a
    /// refused capability are.
    pub async fn output(self) -> Result<CliOutput> {
        let timeout = self.options.timeout;
        let what = self.describe();
        let stdin = self.stdin.clone();
        let mut cmd = self.command()?;
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped());
        let mut child = GroupChild::spawn(cmd, "codex")?;
        let tail = child.stderr_tail();
        let mut out_pipe = child.take_stdout();
        let mut in_pipe = child.take_stdin();
        let program = self.binary.path.clone();
        let work = async {
            if let (Some(bytes), Some(p)) = (stdin, in_pipe.as_mut()) {
                // EPIPE means the command did not read stdin; its status tells the rest.
                let _ = p.write_all(&bytes).await;
            }
            drop(in_pipe.take());
            let mut out = Vec::new();
            if let Some(s) = out_pipe.as_mut() {
                s.read_to_end(&mut out)
                    .await
                    .map_err(|e| Error::io(program.clone(), e))?;
            }
            let status = child.wait().await?;
            Ok::<_, Error>((status, out))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => {
                let (status, out) = r?;
                Ok(CliOutput {
                    status,
                    stdout: String::from_utf8_lossy(&out).into_owned(),
                    stderr: tail.snapshot(),
                })
            }
            Err(_) => Err(Error::Timeout {
                method: what,
                after: timeout,
            }),
        }
    }

    /// Starts the command for line-by-line interaction (stdin piped and kept open; stdout read
    /// as lines). Used for flows that print something, then wait (device auth, MCP OAuth).
    pub fn spawn(self) -> Result<CliProcess> {
        let what = self.describe();
        let mut cmd = self.command()?;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = GroupChild::spawn(cmd, "codex")?;
        let stdout = child.take_stdout().ok_or_else(|| Error::Closed {
            reason: "no stdout pipe".into(),
        })?;
        let stdin = child.take_stdin();
        Ok(CliProcess {
            what,
            lines: FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE_BYTES)),
            stdin,
            child,
        })
    }
}

/// A running sub-command whose stdout is consumed line by line (see [`CliCommand::spawn`]).
/// Dropping it kills the process group.
#[derive(Debug)]
pub struct CliProcess {
    what: String,
    lines: FramedRead<ChildStdout, LinesCodec>,
    stdin: Option<ChildStdin>,
    child: GroupChild,
}

impl CliProcess {
    /// The next stdout line (ANSI colour codes removed), or `None` at EOF.
    pub async fn next_line(&mut self) -> Option<Result<String>> {
        match self.lines.next().await? {
            Ok(line) => Some(Ok(strip_ansi(&line))),
            Err(e) => Some(Err(Error::UnexpectedOutput {
                command: self.what.clone(),
                message: e.to_string(),
            })),
        }
    }

    /// Writes `text` and a newline to stdin.
    pub async fn write_line(&mut self, text: &str) -> Result<()> {
        let pipe = self.stdin.as_mut().ok_or_else(|| Error::Closed {
            reason: "stdin already closed".into(),
        })?;
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(b'\n');
        pipe.write_all(&bytes)
            .await
            .map_err(|e| Error::io(self.child.program().to_owned(), e))?;
        pipe.flush()
            .await
            .map_err(|e| Error::io(self.child.program().to_owned(), e))
    }

    /// Closes stdin (a command waiting for input then sees EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The tail of stderr so far.
    pub fn stderr_tail(&self) -> String {
        self.child.stderr_tail().snapshot()
    }

    /// Waits for exit (the rest of stdout is discarded).
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        while let Some(line) = self.lines.next().await {
            if line.is_err() {
                break;
            }
        }
        self.child.wait().await
    }

    /// Kills the process group and reaps the child.
    pub async fn kill(&mut self) -> Result<ExitStatus> {
        self.child.kill_group().await
    }

    /// The child's pid (also its process group).
    pub fn pid(&self) -> Option<u32> {
        self.child.pid()
    }
}

/// Removes ANSI escape sequences (CSI `ESC [ ... letter` and OSC `ESC ] ... BEL/ST`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            Some(']') => {
                chars.next();
                while let Some(d) = chars.next() {
                    if d == '\u{7}' {
                        break;
                    }
                    if d == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::CodexVersion;

    fn cmd() -> CliCommand {
        CliCommand::new(
            &CodexBinary::with_version("/bin/codex", CodexVersion::pinned()),
            &CodexHome::new("/tmp/h"),
            &["mcp", "list"],
        )
    }

    #[test]
    fn argv_puts_shared_options_before_the_sub_command() {
        let c = cmd()
            .config("model", "\"o3\"")
            .enable_feature("hooks")
            .disable_feature("apps")
            .flag("--json")
            .flag_opt("--x", None::<&str>)
            .flag_opt("--y", Some("1"))
            .flag_if(false, "--z");
        let argv: Vec<String> = c
            .argv()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv,
            [
                "-c",
                "model=\"o3\"",
                "--enable",
                "hooks",
                "--disable",
                "apps",
                "mcp",
                "list",
                "--json",
                "--y",
                "1"
            ]
        );
    }

    #[test]
    fn strips_ansi() {
        assert_eq!(
            strip_ansi("\u{1b}[94mhttp://x/codex/device\u{1b}[0m"),
            "http://x/codex/device"
        );
        assert_eq!(strip_ansi("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
