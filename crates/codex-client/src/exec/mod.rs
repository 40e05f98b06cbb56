//! `codex exec --json` as a builder ([`ExecBuilder`]) and a typed event stream ([`ExecRun`]).
//!
//! Shape of an invocation (what [`ExecBuilder::args`] produces):
//!
//! ```text
//! codex exec --json [options...] -                              # new thread
//! codex exec --json [options...] resume (<ID> | --last [--all]) -   # resume
//! codex exec --json [options...] fork <ID> -                    # fork
//! ```
//!
//! Every option goes BEFORE the sub-command: `exec resume` rejects `-C`, `-s`, `--add-dir`,
//! `-p`, `--oss`, `--local-provider` after `resume`, while the top-level parser accepts them for
//! all modes (except `--worktree`, which Codex refuses for `resume` at run time: the builder
//! returns [`Error::InvalidInvocation`] instead). Note that `resume --last` with no session to
//! resume silently starts a NEW thread (check the `thread.started` id). Images are emitted as `--image=PATH` because `-i` takes several values and would
//! otherwise swallow the sub-command. The prompt is always read from stdin (`-`), written by us
//! and then stdin is closed — an open stdin makes Codex wait for "additional input" forever.
//!
//! The run: [`ExecRun::next_event`] yields typed events, a line that is not JSON yields
//! `Err(Error::Decode{line,..})` and the stream continues; an idle timeout (no line for N)
//! kills the process group and yields `Err(Error::IdleTimeout)`; [`ExecRun::cancel`] (or a
//! [`CancelHandle`] from another task) kills the whole process group, so shells and their
//! children started by Codex go too. [`ExecRun::wait`] drains the stream and reports the outcome,
//! with the exit status and stderr tail on failure.

mod events;
mod usage;

pub use events::{
    CommandExecutionItem, FileChangeItem, FileUpdateChange, ItemStatus, McpToolCallItem,
    ThreadError, ThreadEvent, ThreadItem, ThreadItemDetails, TodoItem,
};
pub use usage::{Usage, cumulative_usage_from_rollout};

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdout, Command};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::sync::CancellationToken;

use crate::binary::CodexBinary;
use crate::home::CodexHome;
use crate::process::GroupChild;
use crate::{Error, Result};

/// Longest JSONL line accepted (command output is embedded in items, so be generous).
pub const MAX_LINE_BYTES: usize = 32 * 1024 * 1024;

/// `--sandbox` values on 0.169.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SandboxMode {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

impl SandboxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::DangerFullAccess => "danger-full-access",
        }
    }
}

/// Which thread a run continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecMode {
    /// A new thread.
    New,
    /// `exec resume <id>` or `exec resume --last [--all]`.
    Resume(ResumeTarget),
    /// `exec fork <id>`: a new thread seeded with the given one's history.
    Fork { thread_id: String },
}

/// What `exec resume` resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeTarget {
    /// A thread id (UUID) or thread name.
    Id(String),
    /// The most recent session; `all: true` disables the cwd filter.
    Last { all: bool },
}

/// How the cumulative usage before this run is known (for per-turn usage).
#[derive(Debug, Clone, PartialEq, Eq)]
enum PreviousUsage {
    /// New threads start at zero; resumes read the rollout when `thread.started` arrives.
    Auto,
    Given(Usage),
}

/// Builds a `codex exec --json` invocation.
#[derive(Debug, Clone)]
pub struct ExecBuilder {
    binary: CodexBinary,
    home: CodexHome,
    mode: ExecMode,
    prompt: Option<String>,
    model: Option<String>,
    sandbox: Option<SandboxMode>,
    cd: Option<PathBuf>,
    add_dirs: Vec<PathBuf>,
    skip_git_repo_check: bool,
    images: Vec<PathBuf>,
    output_schema: Option<serde_json::Value>,
    output_last_message: Option<PathBuf>,
    config: Vec<(String, String)>,
    enable: Vec<String>,
    disable: Vec<String>,
    profile: Option<String>,
    ephemeral: bool,
    oss: bool,
    local_provider: Option<String>,
    strict_config: bool,
    ignore_user_config: bool,
    ignore_rules: bool,
    bypass_approvals_and_sandbox: bool,
    bypass_hook_trust: bool,
    approve_for_me: bool,
    trust: bool,
    worktree: bool,
    thread_source: Option<String>,
    cyber_access_program: Option<String>,
    current_dir: Option<PathBuf>,
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    idle_timeout: Option<Duration>,
    kill_grace: Option<Duration>,
    previous_usage: PreviousUsage,
}

impl ExecBuilder {
    /// A new-thread run of `binary` against `home` (passed as `CODEX_HOME`).
    pub fn new(binary: &CodexBinary, home: &CodexHome) -> Self {
        ExecBuilder {
            binary: binary.clone(),
            home: home.clone(),
            mode: ExecMode::New,
            prompt: None,
            model: None,
            sandbox: None,
            cd: None,
            add_dirs: Vec::new(),
            skip_git_repo_check: false,
            images: Vec::new(),
            output_schema: None,
            output_last_message: None,
            config: Vec::new(),
            enable: Vec::new(),
            disable: Vec::new(),
            profile: None,
            ephemeral: false,
            oss: false,
            local_provider: None,
            strict_config: false,
            ignore_user_config: false,
            ignore_rules: false,
            bypass_approvals_and_sandbox: false,
            bypass_hook_trust: false,
            approve_for_me: false,
            trust: false,
            worktree: false,
            thread_source: None,
            cyber_access_program: None,
            current_dir: None,
            env: Vec::new(),
            env_clear: false,
            idle_timeout: None,
            kill_grace: None,
            previous_usage: PreviousUsage::Auto,
        }
    }

    /// The prompt (written to stdin, then stdin is closed). Required except for `fork`.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }
    /// `-m`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// `-s`.
    pub fn sandbox(mut self, mode: SandboxMode) -> Self {
        self.sandbox = Some(mode);
        self
    }
    /// `-C`: the agent's working root.
    pub fn cd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cd = Some(dir.into());
        self
    }
    /// `--add-dir` (repeatable).
    pub fn add_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.add_dirs.push(dir.into());
        self
    }
    /// `--skip-git-repo-check`.
    pub fn skip_git_repo_check(mut self, yes: bool) -> Self {
        self.skip_git_repo_check = yes;
        self
    }
    /// `--image=PATH` (repeatable).
    pub fn image(mut self, path: impl Into<PathBuf>) -> Self {
        self.images.push(path.into());
        self
    }
    /// `--output-schema`: the schema is written to a temp file that lives as long as the run.
    pub fn output_schema(mut self, schema: serde_json::Value) -> Self {
        self.output_schema = Some(schema);
        self
    }
    /// `-o`: where Codex writes the last agent message.
    pub fn output_last_message(mut self, path: impl Into<PathBuf>) -> Self {
        self.output_last_message = Some(path.into());
        self
    }
    /// `-c key=value`, `value` rendered as TOML (strings are quoted and escaped).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<toml_edit::Value>) -> Self {
        let value: toml_edit::Value = value.into();
        let rendered = value.decorated("", "").to_string();
        self.config.push((key.into(), rendered));
        self
    }
    /// `-c key=<raw TOML>` exactly as given (e.g. `["a","b"]` or `{x=1}`).
    pub fn config_raw(mut self, key: impl Into<String>, toml: impl Into<String>) -> Self {
        self.config.push((key.into(), toml.into()));
        self
    }
    /// `--enable FEATURE`.
    pub fn enable_feature(mut self, name: impl Into<String>) -> Self {
        self.enable.push(name.into());
        self
    }
    /// `--disable FEATURE`.
    pub fn disable_feature(mut self, name: impl Into<String>) -> Self {
        self.disable.push(name.into());
        self
    }
    /// `-p NAME`: layers `$CODEX_HOME/NAME.config.toml`.
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }
    /// `--ephemeral`: no session files.
    pub fn ephemeral(mut self, yes: bool) -> Self {
        self.ephemeral = yes;
        self
    }
    /// `--oss`.
    pub fn oss(mut self, yes: bool) -> Self {
        self.oss = yes;
        self
    }
    /// `--local-provider` (`lmstudio` or `ollama`).
    pub fn local_provider(mut self, name: impl Into<String>) -> Self {
        self.local_provider = Some(name.into());
        self
    }
    /// `--strict-config`.
    pub fn strict_config(mut self, yes: bool) -> Self {
        self.strict_config = yes;
        self
    }
    /// `--ignore-user-config`.
    pub fn ignore_user_config(mut self, yes: bool) -> Self {
        self.ignore_user_config = yes;
        self
    }
    /// `--ignore-rules`.
    pub fn ignore_rules(mut self, yes: bool) -> Self {
        self.ignore_rules = yes;
        self
    }
    /// `--dangerously-bypass-approvals-and-sandbox`. Only for externally sandboxed environments.
    pub fn dangerously_bypass_approvals_and_sandbox(mut self, yes: bool) -> Self {
        self.bypass_approvals_and_sandbox = yes;
        self
    }
    /// `--dangerously-bypass-hook-trust`: run enabled hooks without persisted hook trust.
    pub fn dangerously_bypass_hook_trust(mut self, yes: bool) -> Self {
        self.bypass_hook_trust = yes;
        self
    }
    /// `--approve-for-me`: approval requests go through automatic review (workspace-write).
    pub fn approve_for_me(mut self, yes: bool) -> Self {
        self.approve_for_me = yes;
        self
    }
    /// `--trust`: persist trust for this project (survives `--ephemeral`).
    pub fn trust(mut self, yes: bool) -> Self {
        self.trust = yes;
        self
    }
    /// `--worktree`: run in a new managed Git worktree.
    pub fn worktree(mut self, yes: bool) -> Self {
        self.worktree = yes;
        self
    }
    /// `--thread-source`: source classification for new or forked threads.
    pub fn thread_source(mut self, source: impl Into<String>) -> Self {
        self.thread_source = Some(source.into());
        self
    }
    /// `--cyber-access-program` (OpenAI provider only; `standard`, `daybreak_blue`, ...).
    pub fn cyber_access_program(mut self, program: impl Into<String>) -> Self {
        self.cyber_access_program = Some(program.into());
        self
    }
    /// `exec resume <id>`.
    pub fn resume(mut self, thread_id: impl Into<String>) -> Self {
        self.mode = ExecMode::Resume(ResumeTarget::Id(thread_id.into()));
        self
    }
    /// `exec resume --last` (`all`: `--all`, no cwd filter).
    pub fn resume_last(mut self, all: bool) -> Self {
        self.mode = ExecMode::Resume(ResumeTarget::Last { all });
        self
    }
    /// `exec fork <id>`.
    pub fn fork(mut self, thread_id: impl Into<String>) -> Self {
        self.mode = ExecMode::Fork {
            thread_id: thread_id.into(),
        };
        self
    }
    /// The cumulative usage of the thread before this run (for per-turn usage on resume).
    /// Without it, a resumed run reads it from the thread's rollout file.
    pub fn previous_usage(mut self, usage: Usage) -> Self {
        self.previous_usage = PreviousUsage::Given(usage);
        self
    }
    /// The child's working directory (distinct from `-C`).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }
    /// An environment variable for the child (`CODEX_HOME` is always set from the home).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), Some(value.into())));
        self
    }
    /// Several environment variables.
    pub fn envs<K: Into<OsString>, V: Into<OsString>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (k, v) in vars {
            self.env.push((k.into(), Some(v.into())));
        }
        self
    }
    /// Removes an inherited environment variable.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env.push((key.into(), None));
        self
    }
    /// Starts from an empty environment.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }
    /// No line for `after` -> [`Error::IdleTimeout`] and the process group is killed.
    pub fn idle_timeout(mut self, after: Duration) -> Self {
        self.idle_timeout = Some(after);
        self
    }
    /// SIGTERM -> SIGKILL grace on cancel (default [`crate::process::DEFAULT_KILL_GRACE`]).
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = Some(grace);
        self
    }

    /// The argv after the binary. `schema_path` stands in for the temp schema file.
    pub fn args(&self, schema_path: Option<&std::path::Path>) -> Result<Vec<OsString>> {
        self.validate()?;
        let mut a: Vec<OsString> = vec!["exec".into(), "--json".into()];
        let mut flag = |name: &str, value: Option<OsString>| {
            a.push(name.into());
            if let Some(v) = value {
                a.push(v);
            }
        };
        for (k, v) in &self.config {
            flag("-c", Some(format!("{k}={v}").into()));
        }
        for f in &self.enable {
            flag("--enable", Some(f.into()));
        }
        for f in &self.disable {
            flag("--disable", Some(f.into()));
        }
        if let Some(m) = &self.model {
            flag("-m", Some(m.into()));
        }
        if self.oss {
            flag("--oss", None);
        }
        if let Some(p) = &self.local_provider {
            flag("--local-provider", Some(p.into()));
        }
        if let Some(p) = &self.profile {
            flag("-p", Some(p.into()));
        }
        if let Some(s) = self.sandbox {
            flag("-s", Some(s.as_str().into()));
        }
        if self.bypass_approvals_and_sandbox {
            flag("--dangerously-bypass-approvals-and-sandbox", None);
        }
        if self.bypass_hook_trust {
            flag("--dangerously-bypass-hook-trust", None);
        }
        if self.approve_for_me {
            flag("--approve-for-me", None);
        }
        if self.trust {
            flag("--trust", None);
        }
        if self.worktree {
            flag("--worktree", None);
        }
        if let Some(t) = &self.thread_source {
            flag("--thread-source", Some(t.into()));
        }
        if let Some(p) = &self.cyber_access_program {
            flag("--cyber-access-program", Some(p.into()));
        }
        if let Some(d) = &self.cd {
            flag("-C", Some(d.into()));
        }
        for d in &self.add_dirs {
            flag("--add-dir", Some(d.into()));
        }
        if self.skip_git_repo_check {
            flag("--skip-git-repo-check", None);
        }
        if self.ephemeral {
            flag("--ephemeral", None);
        }
        if self.strict_config {
            flag("--strict-config", None);
        }
        if self.ignore_user_config {
            flag("--ignore-user-config", None);
        }
        if self.ignore_rules {
            flag("--ignore-rules", None);
        }
        if let Some(p) = schema_path {
            flag("--output-schema", Some(p.into()));
        }
        if let Some(p) = &self.output_last_message {
            flag("-o", Some(p.into()));
        }
        for img in &self.images {
            let mut s = OsString::from("--image=");
            s.push(img);
            a.push(s);
        }
        match &self.mode {
            ExecMode::New => {}
            ExecMode::Resume(ResumeTarget::Id(id)) => {
                a.push("resume".into());
                a.push(id.into());
            }
            ExecMode::Resume(ResumeTarget::Last { all }) => {
                a.push("resume".into());
                a.push("--last".into());
                if *all {
                    a.push("--all".into());
                }
            }
            ExecMode::Fork { thread_id } => {
                a.push("fork".into());
                a.push(thread_id.into());
            }
        }
        if self.prompt.is_some() {
            a.push("-".into());
        }
        Ok(a)
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInvocation(m));
        if self.prompt.is_none() && !matches!(self.mode, ExecMode::Fork { .. }) {
            return bad("a prompt is required (only `exec fork` may run without one)".into());
        }
        match &self.mode {
            ExecMode::Resume(ResumeTarget::Id(id)) | ExecMode::Fork { thread_id: id } => {
                if id.is_empty() || id.starts_with('-') {
                    return bad(format!("bad thread id {id:?}"));
                }
            }
            ExecMode::Resume(ResumeTarget::Last { .. }) | ExecMode::New => {}
        }
        // The only top-level option 0.169 rejects for `resume` (at run time, after parsing).
        if self.worktree && matches!(self.mode, ExecMode::Resume(_)) {
            return bad("--worktree cannot resume an existing session (Codex refuses it); use fork with worktree".into());
        }
        if self.local_provider.is_some() && !self.oss {
            return bad("--local-provider only applies together with --oss".into());
        }
        for (k, _) in &self.config {
            if k.is_empty() || k.contains('=') || k.chars().any(char::is_whitespace) {
                return bad(format!("bad config key {k:?}"));
            }
        }
        for f in self.enable.iter().chain(&self.disable) {
            if f.is_empty() || f.starts_with('-') {
                return bad(format!("bad feature name {f:?}"));
            }
        }
        if let Some(both) = self.enable.iter().find(|f| self.disable.contains(f)) {
            return bad(format!("feature {both:?} is both enabled and disabled"));
        }
        if let Some(p) = &self.profile
            && (p.is_empty() || p.contains(['/', '\\']) || p.starts_with('-'))
        {
            return bad(format!("bad profile name {p:?}"));
        }
        if self.cyber_access_program.is_some()
            && matches!(self.mode, ExecMode::Fork { .. })
            && self.prompt.is_none()
        {
            return bad("--cyber-access-program with fork requires a prompt".into());
        }
        if self.idle_timeout.is_some_and(|d| d.is_zero()) {
            return bad("idle timeout must be positive".into());
        }
        Ok(())
    }

    /// Spawns Codex, writes the prompt to stdin and closes it.
    pub async fn spawn(self) -> Result<ExecRun> {
        self.validate()?;
        let schema_file = match &self.output_schema {
            Some(schema) => Some(write_schema_file(schema)?),
            None => None,
        };
        let args = self.args(schema_file.as_ref().map(|f| f.path()))?;
        let mut cmd = Command::new(&self.binary.path);
        if self.env_clear {
            cmd.env_clear();
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.env("CODEX_HOME", self.home.root())
            .args(&args)
            .stdin(if self.prompt.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped());
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        tracing::debug!(binary = ?self.binary.path, ?args, "spawning codex exec");
        let mut child = GroupChild::spawn(cmd, "codex exec")?;
        if let Some(grace) = self.kill_grace {
            child.set_kill_grace(grace);
        }
        if let (Some(prompt), Some(mut stdin)) = (self.prompt.clone(), child.take_stdin()) {
            // A separate task: a prompt bigger than the pipe buffer must not block spawn(), and
            // Codex may exit without reading it (the exit status then says why).
            tokio::spawn(async move {
                if let Err(e) = stdin.write_all(prompt.as_bytes()).await {
                    tracing::debug!(error = %e, "could not write the prompt to codex's stdin");
                }
                let _ = stdin.shutdown().await;
            });
        }
        let stdout = child.take_stdout().ok_or_else(|| Error::Closed {
            reason: "codex exec stdout was not piped".into(),
        })?;
        let previous_usage = match (&self.previous_usage, &self.mode) {
            (PreviousUsage::Given(u), _) => Some(*u),
            (PreviousUsage::Auto, ExecMode::New | ExecMode::Fork { .. }) => None,
            (PreviousUsage::Auto, ExecMode::Resume(_)) => None,
        };
        Ok(ExecRun {
            child,
            lines: Some(FramedRead::new(
                stdout,
                LinesCodec::new_with_max_length(MAX_LINE_BYTES),
            )),
            cancel: CancellationToken::new(),
            idle_timeout: self.idle_timeout,
            home: self.home,
            read_rollout_for_usage: matches!(
                (&self.previous_usage, &self.mode),
                (PreviousUsage::Auto, ExecMode::Resume(_))
            ),
            previous_usage,
            thread_id: None,
            usage: None,
            turn_failed: None,
            last_agent_message: None,
            stream_errors: Vec::new(),
            terminated: None,
            _schema_file: schema_file,
        })
    }
}

fn write_schema_file(schema: &serde_json::Value) -> Result<tempfile::NamedTempFile> {
    let mut f = tempfile::Builder::new()
        .prefix("codex-output-schema-")
        .suffix(".json")
        .tempfile()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let bytes = serde_json::to_vec(schema)
        .map_err(|e| Error::InvalidInvocation(format!("output schema: {e}")))?;
    f.write_all(&bytes).map_err(|e| Error::io(f.path(), e))?;
    f.flush().map_err(|e| Error::io(f.path(), e))?;
    Ok(f)
}

/// Cancels an [`ExecRun`] from another task. The run notices on its next `next_event`/`wait`
/// (which are what a driver is normally awaiting) and kills the process group.
#[derive(Debug, Clone)]
pub struct CancelHandle(CancellationToken);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// Why the stream ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Termination {
    Cancelled,
    IdleTimeout(Duration),
}

/// A running `codex exec`. Dropping it kills the process group.
#[derive(Debug)]
pub struct ExecRun {
    child: GroupChild,
    lines: Option<FramedRead<ChildStdout, LinesCodec>>,
    cancel: CancellationToken,
    idle_timeout: Option<Duration>,
    home: CodexHome,
    read_rollout_for_usage: bool,
    previous_usage: Option<Usage>,
    thread_id: Option<String>,
    usage: Option<Usage>,
    turn_failed: Option<ThreadError>,
    last_agent_message: Option<String>,
    stream_errors: Vec<String>,
    terminated: Option<Termination>,
    _schema_file: Option<tempfile::NamedTempFile>,
}

/// The result of a successful run.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOutcome {
    pub thread_id: Option<String>,
    /// Cumulative thread usage as last reported by `turn.completed`.
    pub usage: Option<Usage>,
    /// This run's usage: `usage` minus the cumulative figure before the run.
    pub turn_usage: Option<Usage>,
    /// Text of the last `agent_message` item.
    pub last_agent_message: Option<String>,
    /// `error` events seen (non-fatal when the run succeeded).
    pub stream_errors: Vec<String>,
    pub status: ExitStatus,
}

impl ExecRun {
    /// The process (and process-group) id.
    pub fn pid(&self) -> Option<u32> {
        self.child.pid()
    }

    /// A handle that cancels this run from elsewhere.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    /// The thread id, once `thread.started` arrived.
    pub fn thread_id(&self) -> Option<&str> {
        self.thread_id.as_deref()
    }

    /// The latest cumulative usage.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// This run's usage (cumulative minus the figure before the run), once a turn completed.
    pub fn turn_usage(&self) -> Option<Usage> {
        self.usage
            .map(|u| u.delta_since(&self.previous_usage.unwrap_or_default()))
    }

    /// The cumulative usage of the thread before this run (zero for a new thread).
    pub fn previous_usage(&self) -> Option<Usage> {
        self.previous_usage
    }

    /// The current tail of Codex's stderr.
    pub fn stderr_tail(&self) -> String {
        self.child.stderr_tail().snapshot()
    }

    /// The next event; `None` at the end of the stream. `Some(Err(Decode))` for a line that is
    /// not JSON (the stream continues); `Some(Err(IdleTimeout | Cancelled))` ends the stream.
    pub async fn next_event(&mut self) -> Option<Result<ThreadEvent>> {
        loop {
            let lines = self.lines.as_mut()?;
            let cancel = self.cancel.clone();
            let next = async {
                match self.idle_timeout {
                    Some(d) => tokio::time::timeout(d, lines.next()).await.map_err(|_| d),
                    None => Ok(lines.next().await),
                }
            };
            let got = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    self.terminate(Termination::Cancelled).await;
                    return Some(Err(Error::Cancelled));
                }
                got = next => got,
            };
            match got {
                Err(after) => {
                    self.terminate(Termination::IdleTimeout(after)).await;
                    return Some(Err(Error::IdleTimeout {
                        after,
                        stderr_tail: self.stderr_tail(),
                    }));
                }
                Ok(None) => {
                    self.lines = None;
                    return None;
                }
                Ok(Some(Err(LinesCodecError::MaxLineLengthExceeded))) => {
                    return Some(Err(Error::UnexpectedOutput {
                        command: "exec --json".into(),
                        message: format!("a line longer than {MAX_LINE_BYTES} bytes was skipped"),
                    }));
                }
                Ok(Some(Err(LinesCodecError::Io(e)))) => {
                    self.lines = None;
                    return Some(Err(Error::io("codex exec stdout", e)));
                }
                Ok(Some(Ok(line))) => {
                    let trimmed = line.trim();
                    if trimmed.is_empty() {
                        continue;
                    }
                    let parsed = ThreadEvent::parse_line(trimmed);
                    if let Ok(event) = &parsed {
                        self.observe(event);
                    } else {
                        tracing::warn!(
                            line = trimmed,
                            "codex exec printed a line that is not JSON"
                        );
                    }
                    return Some(parsed);
                }
            }
        }
    }

    fn observe(&mut self, event: &ThreadEvent) {
        match event {
            ThreadEvent::ThreadStarted { thread_id } => {
                self.thread_id = Some(thread_id.clone());
                if self.read_rollout_for_usage {
                    self.read_rollout_for_usage = false;
                    self.previous_usage = match self.home.find_rollout(thread_id) {
                        Ok(Some(path)) => cumulative_usage_from_rollout(&path).unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "could not read previous usage from the rollout");
                            None
                        }),
                        Ok(None) => None,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not search rollouts");
                            None
                        }
                    };
                }
            }
            ThreadEvent::TurnCompleted { usage } => self.usage = Some(*usage),
            ThreadEvent::TurnFailed { error } => self.turn_failed = Some(error.clone()),
            ThreadEvent::ItemCompleted {
                item:
                    ThreadItem {
                        details: ThreadItemDetails::AgentMessage { text },
                        ..
                    },
            } => self.last_agent_message = Some(text.clone()),
            ThreadEvent::Error { message } => self.stream_errors.push(message.clone()),
            _ => {}
        }
    }

    async fn terminate(&mut self, why: Termination) {
        self.lines = None;
        self.terminated = Some(why);
        if let Err(e) = self.child.kill_group().await {
            tracing::warn!(error = %e, "killing codex exec failed");
        }
    }

    /// Kills the whole process group (SIGTERM, then SIGKILL after the grace period) and reaps
    /// Codex. Afterwards `next_event` returns `None` and `wait` returns [`Error::Cancelled`].
    pub async fn cancel(&mut self) {
        self.cancel.cancel();
        if self.terminated.is_none() {
            self.terminate(Termination::Cancelled).await;
        }
    }

    /// Drains the remaining events, waits for exit and reports. Errors: [`Error::TurnFailed`]
    /// when a turn failed, [`Error::Exited`] for any other non-zero exit, [`Error::Cancelled`] /
    /// [`Error::IdleTimeout`] if the run was ended that way.
    pub async fn wait(mut self) -> Result<ExecOutcome> {
        while let Some(ev) = self.next_event().await {
            if let Err(e @ (Error::Cancelled | Error::IdleTimeout { .. })) = ev {
                return Err(e);
            }
        }
        match &self.terminated {
            Some(Termination::Cancelled) => return Err(Error::Cancelled),
            Some(Termination::IdleTimeout(after)) => {
                return Err(Error::IdleTimeout {
                    after: *after,
                    stderr_tail: self.stderr_tail(),
                });
            }
            None => {}
        }
        let cancel = self.cancel.clone();
        let status = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                self.terminate(Termination::Cancelled).await;
                return Err(Error::Cancelled);
            }
            s = self.child.wait() => s?,
        };
        let stderr_tail = self.stderr_tail();
        if let Some(error) = self.turn_failed.take() {
            return Err(Error::TurnFailed {
                message: error.message,
                status: status.code(),
                stderr_tail,
            });
        }
        if !status.success() {
            return Err(Error::Exited {
                status: status.code(),
                stderr_tail,
            });
        }
        Ok(ExecOutcome {
            thread_id: self.thread_id.clone(),
            usage: self.usage,
            turn_usage: self.turn_usage(),
            last_agent_message: self.last_agent_message.take(),
            stream_errors: std::mem::take(&mut self.stream_errors),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ExecBuilder {
        let bin = CodexBinary::with_version("/bin/codex", crate::binary::CodexVersion::pinned());
        ExecBuilder::new(&bin, &CodexHome::new("/tmp/h"))
    }

    fn argv(b: &ExecBuilder) -> Vec<String> {
        let schema = b
            .output_schema
            .as_ref()
            .map(|_| std::path::Path::new("/tmp/schema.json"));
        b.args(schema)
            .expect("valid")
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn new_thread_argv_has_every_flag_before_the_stdin_prompt() {
        let b = builder()
            .prompt("hi")
            .model("gpt-oss-20b")
            .sandbox(SandboxMode::WorkspaceWrite)
            .cd("/work")
            .add_dir("/extra")
            .skip_git_repo_check(true)
            .image("/a.png")
            .image("/b.png")
            .output_last_message("/tmp/last.txt")
            .output_schema(serde_json::json!({"type": "object"}))
            .config("model_reasoning_effort", "high")
            .config("tools.web_search", false)
            .config("n", 3)
            .config_raw("sandbox_permissions", r#"["disk-full-read-access"]"#)
            .config("quote", "a \"b\"")
            .enable_feature("unified_exec")
            .disable_feature("web_search")
            .profile("fast")
            .ephemeral(true)
            .oss(true)
            .local_provider("ollama");
        assert_eq!(
            argv(&b),
            [
                "exec",
                "--json",
                "-c",
                r#"model_reasoning_effort="high""#,
                "-c",
                "tools.web_search=false",
                "-c",
                "n=3",
                "-c",
                r#"sandbox_permissions=["disk-full-read-access"]"#,
                "-c",
                r#"quote='a "b"'"#,
                "--enable",
                "unified_exec",
                "--disable",
                "web_search",
                "-m",
                "gpt-oss-20b",
                "--oss",
                "--local-provider",
                "ollama",
                "-p",
                "fast",
                "-s",
                "workspace-write",
                "-C",
                "/work",
                "--add-dir",
                "/extra",
                "--skip-git-repo-check",
                "--ephemeral",
                "--output-schema",
                "/tmp/schema.json",
                "-o",
                "/tmp/last.txt",
                "--image=/a.png",
                "--image=/b.png",
                "-",
            ]
        );
    }

    #[test]
    fn resume_and_fork_put_options_before_the_subcommand() {
        let b = builder()
            .prompt("again")
            .sandbox(SandboxMode::ReadOnly)
            .cd("/w")
            .resume("abc-123");
        assert_eq!(
            argv(&b),
            [
                "exec",
                "--json",
                "-s",
                "read-only",
                "-C",
                "/w",
                "resume",
                "abc-123",
                "-"
            ]
        );
        let b = builder().prompt("again").profile("p").resume_last(true);
        assert_eq!(
            argv(&b),
            [
                "exec", "--json", "-p", "p", "resume", "--last", "--all", "-"
            ]
        );
        let b = builder().model("m").fork("abc");
        assert_eq!(argv(&b), ["exec", "--json", "-m", "m", "fork", "abc"]);
        let b = builder()
            .prompt("p")
            .trust(true)
            .approve_for_me(true)
            .dangerously_bypass_hook_trust(true)
            .thread_source("orbitdock")
            .cyber_access_program("standard")
            .resume_last(false);
        assert_eq!(
            argv(&b),
            [
                "exec",
                "--json",
                "--dangerously-bypass-hook-trust",
                "--approve-for-me",
                "--trust",
                "--thread-source",
                "orbitdock",
                "--cyber-access-program",
                "standard",
                "resume",
                "--last",
                "-"
            ]
        );
    }

    #[test]
    fn invalid_invocations_are_refused_with_a_reason() {
        let msg = |b: ExecBuilder| match b.args(None) {
            Err(Error::InvalidInvocation(m)) => m,
            other => panic!("expected InvalidInvocation, got {other:?}"),
        };
        assert!(msg(builder()).contains("prompt is required"));
        assert!(msg(builder().prompt("x").resume("--last")).contains("bad thread id"));
        assert!(msg(builder().prompt("x").local_provider("ollama")).contains("--oss"));
        assert!(msg(builder().prompt("x").worktree(true).resume("abc")).contains("--worktree"));
        assert!(
            builder()
                .prompt("x")
                .worktree(true)
                .fork("abc")
                .args(None)
                .is_ok()
        );
        assert!(msg(builder().prompt("x").config("a b", 1)).contains("config key"));
        assert!(
            msg(builder()
                .prompt("x")
                .enable_feature("f")
                .disable_feature("f"))
            .contains("both")
        );
        assert!(msg(builder().prompt("x").profile("../x")).contains("profile"));
        assert!(msg(builder().prompt("x").idle_timeout(Duration::ZERO)).contains("idle"));
    }
}
