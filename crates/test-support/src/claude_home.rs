//! An isolated, offline place to run the pinned Claude Code CLI: a temp config dir
//! (`CLAUDE_CONFIG_DIR`), `HOME` and working dir, the environment that points the CLI at a
//! loopback [`FakeAnthropic`], and the variables to scrub so nothing inherited can route it to a
//! real provider or change its behaviour.

use std::path::{Path, PathBuf};

use crate::fake_anthropic::FakeAnthropic;

/// Inherited variables that could route the CLI elsewhere or change its behaviour.
pub const CLAUDE_SCRUBBED_ENV: &[&str] = &[
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// The pinned Claude Code CLI: `$CLAUDE_BIN` if set, else the install under
/// `<root>/tools/claude`. Panics with a hint to run `scripts/setup.sh` when it is missing.
pub fn claude_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CLAUDE_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let bin = crate::workspace_root()
        .join("tools/claude/node_modules/@anthropic-ai/claude-code/bin/claude.exe");
    assert!(
        bin.is_file(),
        "pinned Claude Code not found at {}: run scripts/setup.sh",
        bin.display()
    );
    bin
}

/// A fake Messages API plus temp config, home and working dirs.
pub struct ClaudeHome {
    /// The loopback API every request of the CLI goes to.
    pub fake: FakeAnthropic,
    dir: tempfile::TempDir,
    /// A working directory for sessions.
    pub cwd: PathBuf,
    /// `CLAUDE_CONFIG_DIR` (settings, transcripts under `projects/`).
    pub config: PathBuf,
    /// `HOME`.
    pub home: PathBuf,
}

impl std::fmt::Debug for ClaudeHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaudeHome")
            .field("api", &self.fake.base_url())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for ClaudeHome {
    fn default() -> Self {
        Self::new()
    }
}

impl ClaudeHome {
    /// Creates the dirs and starts the fake API.
    pub fn new() -> ClaudeHome {
        let dir = tempfile::tempdir().expect("tempdir");
        let cwd = dir.path().join("work");
        let config = dir.path().join("claude-config");
        let home = dir.path().join("home");
        for d in [&cwd, &config, &home] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        ClaudeHome {
            fake: FakeAnthropic::start(),
            dir,
            cwd,
            config,
            home,
        }
    }

    /// The temp root (for further dirs a test needs, e.g. a second config dir).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The variables that point the CLI at the fake, fully offline (add `CLAUDE_CONFIG_DIR`
    /// and `HOME` yourself, or use [`Self::env_with_dirs`]).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ANTHROPIC_BASE_URL".into(), self.fake.base_url()),
            ("ANTHROPIC_API_KEY".into(), "sk-ant-test-fake".into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            // A scripted 5xx must show at once rather than after minutes of retries.
            ("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()),
        ]
    }

    /// [`Self::env`] plus `CLAUDE_CONFIG_DIR` and `HOME`.
    pub fn env_with_dirs(&self) -> Vec<(String, String)> {
        let mut env = self.env();
        env.push((
            "CLAUDE_CONFIG_DIR".into(),
            self.config.to_string_lossy().into_owned(),
        ));
        env.push(("HOME".into(), self.home.to_string_lossy().into_owned()));
        env
    }

    /// The pinned CLI set up like a terminal run of a person: working dir [`Self::cwd`],
    /// `config` as its config dir, [`Self::env`] and `HOME`, the inherited variables of
    /// [`CLAUDE_SCRUBBED_ENV`] removed, stdin closed. Add the arguments (`-p PROMPT`, ...).
    pub fn terminal_command(&self, config: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(claude_bin());
        cmd.current_dir(&self.cwd)
            .env("CLAUDE_CONFIG_DIR", config)
            .env("HOME", &self.home)
            .envs(self.env())
            .stdin(std::process::Stdio::null());
        for v in CLAUDE_SCRUBBED_ENV {
            cmd.env_remove(v);
        }
        cmd
    }

    /// The transcript file of a session under a config dir (`projects/<cwd-slug>/<id>.jsonl`).
    pub fn transcript_path(config: &Path, session_id: &str) -> Option<PathBuf> {
        std::fs::read_dir(config.join("projects"))
            .ok()?
            .flatten()
            .map(|d| d.path().join(format!("{session_id}.jsonl")))
            .find(|p| p.is_file())
    }
}
