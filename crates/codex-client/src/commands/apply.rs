//! `codex apply TASK_ID`: fetch a Codex Cloud task's diff and `git apply --3way` it.
//!
//! Observed on 0.169: the command needs ChatGPT auth (`Error: ChatGPT auth not available`
//! otherwise), fetches `GET {chatgpt_base_url}/wham/tasks/{TASK_ID}` with the ChatGPT access
//! token, takes the `pr` output item's `output_diff.diff` of `current_diff_task_turn`, and
//! applies it in the repository containing the working directory (so set
//! [`Apply::current_dir`]). `chatgpt_base_url` can be overridden with
//! `.config("chatgpt_base_url", "\"http://...\"")`.

use super::{CliCommand, CliOptions, CliOutput, cli_options};
use crate::Result;
use crate::binary::CodexBinary;
use crate::home::CodexHome;

/// `codex apply TASK_ID`.
#[derive(Debug, Clone)]
pub struct Apply {
    binary: CodexBinary,
    home: CodexHome,
    task_id: String,
    options: CliOptions,
}

cli_options!(Apply);

impl Apply {
    /// Applies the diff of cloud task `task_id` in the repository of the working directory.
    pub fn new(binary: &CodexBinary, home: &CodexHome, task_id: impl Into<String>) -> Self {
        Apply {
            binary: binary.clone(),
            home: home.clone(),
            task_id: task_id.into(),
            options: CliOptions::default(),
        }
    }

    /// The invocation (argv, guard, runner).
    pub fn command(&self) -> Result<CliCommand> {
        if self.task_id.is_empty() || self.task_id.starts_with('-') {
            return Err(crate::Error::InvalidInvocation(format!(
                "bad task id {:?}",
                self.task_id
            )));
        }
        Ok(CliCommand::new(&self.binary, &self.home, &["apply"])
            .with_options(self.options.clone())
            .arg(&self.task_id))
    }

    /// Runs and captures stdout/stderr/exit status (a failed apply is an `Ok` with a non-zero
    /// status; see [`CliOutput::error_message`]).
    pub async fn output(self) -> Result<CliOutput> {
        self.command()?.output().await
    }

    /// Runs; a non-zero exit is [`crate::Error::Exited`].
    pub async fn run(self) -> Result<CliOutput> {
        self.output().await?.check("apply")
    }
}
