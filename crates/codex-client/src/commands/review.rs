//! `codex review`: a non-interactive code review turn (like `exec`, but with Codex's review
//! prompt and target selection). The review text is printed on stdout.

use super::{CliCommand, CliOptions, CliOutput, cli_options};
use crate::binary::CodexBinary;
use crate::home::CodexHome;
use crate::{Error, Result};

/// What to review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewTarget {
    /// `--uncommitted`: staged, unstaged and untracked changes.
    Uncommitted,
    /// `--base BRANCH`: changes against a base branch.
    Base(String),
    /// `--commit SHA [--title TITLE]`: the changes of one commit.
    Commit { sha: String, title: Option<String> },
    /// Custom review instructions (sent on stdin, never on argv).
    Custom(String),
}

/// `codex review`.
#[derive(Debug, Clone)]
pub struct Review {
    binary: CodexBinary,
    home: CodexHome,
    target: ReviewTarget,
    strict_config: bool,
    trust: bool,
    options: CliOptions,
}

cli_options!(Review);

impl Review {
    /// A review of `target`; run it in the repository ([`Review::current_dir`]).
    pub fn new(binary: &CodexBinary, home: &CodexHome, target: ReviewTarget) -> Self {
        Review {
            binary: binary.clone(),
            home: home.clone(),
            target,
            strict_config: false,
            trust: false,
            options: CliOptions::default(),
        }
    }

    /// `--strict-config`: fail on config keys this version does not know.
    pub fn strict_config(mut self, yes: bool) -> Self {
        self.strict_config = yes;
        self
    }

    /// `--trust`: save trust for the project (persists).
    pub fn trust(mut self, yes: bool) -> Self {
        self.trust = yes;
        self
    }

    /// The invocation.
    pub fn command(&self) -> Result<CliCommand> {
        let c = CliCommand::new(&self.binary, &self.home, &["review"])
            .with_options(self.options.clone())
            .flag_if(self.strict_config, "--strict-config")
            .flag_if(self.trust, "--trust");
        Ok(match &self.target {
            ReviewTarget::Uncommitted => c.flag("--uncommitted"),
            ReviewTarget::Base(branch) => {
                check_value("branch", branch)?;
                c.flag_value("--base", branch)
            }
            ReviewTarget::Commit { sha, title } => {
                check_value("commit", sha)?;
                c.flag_value("--commit", sha)
                    .flag_opt("--title", title.clone())
            }
            ReviewTarget::Custom(prompt) => {
                if prompt.trim().is_empty() {
                    return Err(Error::InvalidInvocation("empty review instructions".into()));
                }
                c.arg("-").stdin(prompt.as_bytes().to_vec())
            }
        })
    }

    /// Runs and captures the output.
    pub async fn output(self) -> Result<CliOutput> {
        self.command()?.output().await
    }

    /// Runs; returns stdout (the review), [`Error::Exited`] on failure.
    pub async fn run(self) -> Result<String> {
        self.output().await?.success("review")
    }
}

fn check_value(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.starts_with('-') {
        return Err(Error::InvalidInvocation(format!("bad {what} {v:?}")));
    }
    Ok(())
}
