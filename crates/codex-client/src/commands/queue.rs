//! `codex queue --thread T --message TEXT`: queue a message for a saved session; it is delivered
//! when the thread next runs.
//!
//! Observed on 0.169: prints `Queued message <message id> for thread <thread id>.` and exits 0;
//! an unknown thread exits 1 with `failed to queue session message: thread/queue/add failed:
//! ... no rollout found for thread id ...`. Without `--resume` nothing else is started; with
//! it, Codex also tries to resume the thread on the shared background app-server (which it
//! starts if needed — a long-lived process the caller then owns).

use super::{CliCommand, CliOptions, cli_options};
use crate::binary::CodexBinary;
use crate::home::CodexHome;
use crate::{Error, Result};

/// What `codex queue` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub message_id: String,
    pub thread_id: String,
}

/// `codex queue`.
#[derive(Debug, Clone)]
pub struct Queue {
    binary: CodexBinary,
    home: CodexHome,
    thread: String,
    message: String,
    resume: bool,
    remote: Option<String>,
    remote_auth_token_env: Option<String>,
    cd: Option<std::path::PathBuf>,
    options: CliOptions,
}

cli_options!(Queue);

impl Queue {
    /// Queues `message` for `thread` (a thread id or an exact session name).
    pub fn new(
        binary: &CodexBinary,
        home: &CodexHome,
        thread: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Queue {
            binary: binary.clone(),
            home: home.clone(),
            thread: thread.into(),
            message: message.into(),
            resume: false,
            remote: None,
            remote_auth_token_env: None,
            cd: None,
            options: CliOptions::default(),
        }
    }

    /// `--resume`: also resume the thread on the background server (see the module docs).
    pub fn resume(mut self, yes: bool) -> Self {
        self.resume = yes;
        self
    }

    /// `--remote ADDR`: an app-server endpoint instead of the local one.
    pub fn remote(mut self, addr: impl Into<String>) -> Self {
        self.remote = Some(addr.into());
        self
    }

    /// `--remote-auth-token-env VAR`.
    pub fn remote_auth_token_env(mut self, var: impl Into<String>) -> Self {
        self.remote_auth_token_env = Some(var.into());
        self
    }

    /// `-C DIR` (local server only).
    pub fn cd(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cd = Some(dir.into());
        self
    }

    /// The invocation.
    pub fn command(&self) -> Result<CliCommand> {
        if self.thread.trim().is_empty() || self.thread.starts_with('-') {
            return Err(Error::InvalidInvocation(format!(
                "bad thread {:?}",
                self.thread
            )));
        }
        if self.message.is_empty() {
            return Err(Error::InvalidInvocation("empty message".into()));
        }
        Ok(CliCommand::new(&self.binary, &self.home, &["queue"])
            .with_options(self.options.clone())
            .flag_value("--thread", &self.thread)
            // `--message=` keeps a message that starts with `-` from being read as a flag.
            .flag_eq("--message", &self.message)
            .flag_if(self.resume, "--resume")
            .flag_opt("--remote", self.remote.clone())
            .flag_opt(
                "--remote-auth-token-env",
                self.remote_auth_token_env.clone(),
            )
            .flag_opt("--cd", self.cd.clone()))
    }

    /// Runs and captures the output.
    pub async fn output(self) -> Result<super::CliOutput> {
        self.command()?.output().await
    }

    /// Runs; returns the ids Codex reports, [`Error::Exited`] on failure.
    pub async fn run(self) -> Result<QueuedMessage> {
        let out = self.output().await?.check("queue")?;
        parse_queued(&out.stdout).ok_or_else(|| Error::UnexpectedOutput {
            command: "queue".into(),
            message: out.stdout.clone(),
        })
    }
}

/// Parses `Queued message <id> for thread <id>.`
fn parse_queued(stdout: &str) -> Option<QueuedMessage> {
    stdout.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Queued message ")?;
        let (message_id, thread) = rest.split_once(" for thread ")?;
        Some(QueuedMessage {
            message_id: message_id.to_owned(),
            thread_id: thread.trim_end_matches('.').to_owned(),
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_queue_line() {
        assert_eq!(
            super::parse_queued("Queued message m-1 for thread t-2.\n"),
            Some(super::QueuedMessage {
                message_id: "m-1".into(),
                thread_id: "t-2".into()
            })
        );
        assert_eq!(super::parse_queued("something else"), None);
    }
}
