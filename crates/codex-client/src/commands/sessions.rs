//! `codex archive|unarchive|delete SESSION`: move a saved session's rollout to
//! `archived_sessions/` and back, or delete it.
//!
//! Observed on 0.169: each prints `Archived session <id>.` / `Unarchived session <id>.` /
//! `Deleted session <id>.` on stdout and exits 0; an unknown id exits 1 with
//! `Error: failed to archive session` (or `No active or archived session found matching ...`).
//! `delete` without `--force` asks for confirmation on a terminal and, without one, fails with
//! "cannot confirm session deletion without an interactive terminal; rerun with --force and a
//! session UUID" — so the builder always sends `--force` unless told otherwise, and `--force`
//! requires a UUID.

use super::{CliCommand, CliOptions, CliOutput, cli_options};
use crate::binary::CodexBinary;
use crate::home::CodexHome;
use crate::{Error, Result};

/// What to do with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionAction {
    Archive,
    Unarchive,
    Delete,
}

impl SessionAction {
    /// The sub-command name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionAction::Archive => "archive",
            SessionAction::Unarchive => "unarchive",
            SessionAction::Delete => "delete",
        }
    }

    fn past_tense(self) -> &'static str {
        match self {
            SessionAction::Archive => "Archived session ",
            SessionAction::Unarchive => "Unarchived session ",
            SessionAction::Delete => "Deleted session ",
        }
    }
}

/// `codex archive|unarchive|delete SESSION`.
#[derive(Debug, Clone)]
pub struct SessionCommand {
    binary: CodexBinary,
    home: CodexHome,
    action: SessionAction,
    session: String,
    force: bool,
    options: CliOptions,
}

cli_options!(SessionCommand);

impl SessionCommand {
    /// `codex archive SESSION` (a thread id or a session name).
    pub fn archive(binary: &CodexBinary, home: &CodexHome, session: impl Into<String>) -> Self {
        Self::new(binary, home, SessionAction::Archive, session.into())
    }

    /// `codex unarchive SESSION`.
    pub fn unarchive(binary: &CodexBinary, home: &CodexHome, session: impl Into<String>) -> Self {
        Self::new(binary, home, SessionAction::Unarchive, session.into())
    }

    /// `codex delete --force SESSION` (permanent; `SESSION` must be a UUID with `--force`).
    pub fn delete(binary: &CodexBinary, home: &CodexHome, session: impl Into<String>) -> Self {
        Self::new(binary, home, SessionAction::Delete, session.into())
    }

    fn new(binary: &CodexBinary, home: &CodexHome, action: SessionAction, session: String) -> Self {
        SessionCommand {
            binary: binary.clone(),
            home: home.clone(),
            action,
            session,
            force: action == SessionAction::Delete,
            options: CliOptions::default(),
        }
    }

    /// For `delete`: whether to pass `--force` (default true; without it Codex needs a
    /// terminal to confirm).
    pub fn force(mut self, yes: bool) -> Self {
        self.force = yes;
        self
    }

    /// The invocation.
    pub fn command(&self) -> Result<CliCommand> {
        if self.session.trim().is_empty() || self.session.starts_with('-') {
            return Err(Error::InvalidInvocation(format!(
                "bad session {:?}",
                self.session
            )));
        }
        Ok(
            CliCommand::new(&self.binary, &self.home, &[self.action.as_str()])
                .with_options(self.options.clone())
                .flag_if(
                    self.action == SessionAction::Delete && self.force,
                    "--force",
                )
                .arg(&self.session),
        )
    }

    /// Runs and captures the output.
    pub async fn output(self) -> Result<CliOutput> {
        self.command()?.output().await
    }

    /// Runs; returns the session id Codex reports, [`Error::Exited`] on failure.
    pub async fn run(self) -> Result<String> {
        let action = self.action;
        let out = self.output().await?.check(action.as_str())?;
        out.stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(action.past_tense()))
            .map(|rest| rest.trim_end_matches('.').to_owned())
            .ok_or_else(|| Error::UnexpectedOutput {
                command: action.as_str().into(),
                message: out.stdout.clone(),
            })
    }
}
