//! `codex resume` and `codex fork`: the interactive (TUI) ways to continue a saved session.
//!
//! Both need a terminal: observed on 0.169, without one they exit 1 with `Error: stdin is not
//! a terminal`. These builders produce the argv and a [`tokio::process::Command`] for a
//! pseudo-terminal launcher ([`Resume::command`]); [`Resume::output`] runs them with captured
//! pipes, which is useful only to check the arguments (clap rejects bad ones with exit 2 before
//! the terminal check). To continue a thread non-interactively use
//! [`crate::exec::ExecBuilder::resume`] / [`crate::exec::ExecBuilder::fork`], or the
//! app-server's `thread/resume` / `thread/fork`.

use std::path::PathBuf;

use super::{CliCommand, CliOptions, CliOutput, cli_options};
use crate::binary::CodexBinary;
use crate::home::CodexHome;
use crate::{Error, Result};

/// Which session to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionTarget {
    /// A thread id (for `resume`, also an exact session name).
    Id(String),
    /// `--last`: the most recent session (`--all`: not only those of the working directory).
    Last { all: bool },
}

macro_rules! interactive_builder {
    ($name:ident, $sub:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name {
            binary: CodexBinary,
            home: CodexHome,
            target: SessionTarget,
            prompt: Option<String>,
            model: Option<String>,
            cd: Option<PathBuf>,
            remote: Option<String>,
            no_alt_screen: bool,
            extra: Vec<(String, Option<String>)>,
            options: CliOptions,
        }

        cli_options!($name);

        impl $name {
            /// Continues `target`.
            pub fn new(binary: &CodexBinary, home: &CodexHome, target: SessionTarget) -> Self {
                $name {
                    binary: binary.clone(),
                    home: home.clone(),
                    target,
                    prompt: None,
                    model: None,
                    cd: None,
                    remote: None,
                    no_alt_screen: false,
                    extra: Vec::new(),
                    options: CliOptions::default(),
                }
            }

            /// A first prompt to send once the session is open.
            pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
                self.prompt = Some(prompt.into());
                self
            }

            /// `-m MODEL`.
            pub fn model(mut self, model: impl Into<String>) -> Self {
                self.model = Some(model.into());
                self
            }

            /// `-C DIR`.
            pub fn cd(mut self, dir: impl Into<PathBuf>) -> Self {
                self.cd = Some(dir.into());
                self
            }

            /// `--remote ADDR`: run on a remote app-server.
            pub fn remote(mut self, addr: impl Into<String>) -> Self {
                self.remote = Some(addr.into());
                self
            }

            /// `--no-alt-screen`: inline mode (keeps the terminal's scrollback).
            pub fn no_alt_screen(mut self, yes: bool) -> Self {
                self.no_alt_screen = yes;
                self
            }

            /// Any other flag of the TUI (`--search`, `-s workspace-write`, ...), checked by the
            /// capability guard like the typed ones.
            pub fn flag(mut self, flag: impl Into<String>, value: Option<String>) -> Self {
                self.extra.push((flag.into(), value));
                self
            }

            /// The invocation.
            pub fn command_spec(&self) -> Result<CliCommand> {
                let mut c = CliCommand::new(&self.binary, &self.home, &[$sub])
                    .with_options(self.options.clone())
                    .flag_opt("--model", self.model.clone())
                    .flag_opt("--cd", self.cd.clone())
                    .flag_opt("--remote", self.remote.clone())
                    .flag_if(self.no_alt_screen, "--no-alt-screen");
                for (flag, value) in &self.extra {
                    c = match value {
                        Some(v) => c.flag_value(flag, v),
                        None => c.flag(flag),
                    };
                }
                c = match &self.target {
                    SessionTarget::Id(id) => {
                        if id.trim().is_empty() || id.starts_with('-') {
                            return Err(Error::InvalidInvocation(format!("bad session id {id:?}")));
                        }
                        c.arg(id)
                    }
                    SessionTarget::Last { all } => c.flag("--last").flag_if(*all, "--all"),
                };
                if let Some(p) = &self.prompt {
                    if matches!(self.target, SessionTarget::Last { .. }) {
                        // With --last the first positional is the prompt; `--` keeps a prompt
                        // starting with `-` from being parsed as a flag.
                        c = c.arg("--");
                    }
                    c = c.arg(p);
                }
                Ok(c)
            }

            /// A command for a pseudo-terminal launcher (stdio not configured).
            pub fn command(&self) -> Result<tokio::process::Command> {
                self.command_spec()?.command()
            }

            /// The argv (without the program).
            pub fn argv(&self) -> Result<Vec<std::ffi::OsString>> {
                Ok(self.command_spec()?.argv())
            }

            /// Runs with pipes instead of a terminal (see the module docs: Codex then refuses
            /// with "stdin is not a terminal" after accepting the arguments).
            pub async fn output(self) -> Result<CliOutput> {
                self.command_spec()?.output().await
            }
        }
    };
}

interactive_builder!(
    Resume,
    "resume",
    "`codex resume`: continue a saved session in the TUI."
);
interactive_builder!(
    Fork,
    "fork",
    "`codex fork`: continue a copy of a saved session in the TUI."
);
