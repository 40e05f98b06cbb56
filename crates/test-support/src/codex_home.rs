//! Isolated, offline `CODEX_HOME`s for driving the pinned Codex CLI in tests.
//!
//! What Codex 0.169 needs to stay offline, fast and quiet against a loopback provider. Each
//! point was checked by running the binary against `FakeResponses` (see `tests/codex_exec.rs`,
//! which also passes `--strict-config`, so every key below is one 0.169 recognises):
//!
//! * `model_provider = "local"` with `[model_providers.local] base_url, wire_api = "responses"`
//!   and no `env_key` / `requires_openai_auth`: Codex sends no `Authorization` header, never
//!   asks to log in and needs no `auth.json`. The only request it makes is
//!   `POST {base_url}/responses` per model turn: no `/models`, no update check, no telemetry
//!   (the exec tests assert the fake saw nothing else; a probe of `codex app-server` with
//!   initialize, thread/start, turn/start and model/list showed the same: `model/list` answers
//!   from the bundled catalogue).
//! * `check_for_update_on_startup = false`: the documented switch for the start-up release
//!   check (the interactive TUI does it; exec/app-server callers share this home).
//! * `[analytics] enabled = false`, `[feedback] enabled = false`: no event/feedback upload.
//!   `[otel] exporter = "none"`, `log_user_prompt = false`: no OpenTelemetry export even if a
//!   future default changes.
//! * `request_max_retries = 0`, `stream_max_retries = 0` on the provider: Codex otherwise
//!   retries 5xx answers and streams that end without `response.completed`, with backoff, so a
//!   scripted failure would show up late and consume several scripts. With 0 a failure is one
//!   request and a `turn.failed` (tested). A 400 is never retried. Override with `extra_toml`
//!   in a test about retries. `stream_idle_timeout_ms` keeps its default (minutes), so
//!   `hang_after_created` hangs until the test cancels.
//! * `[projects."<workdir>"] trust_level = "trusted"`: no trust prompt for the work dir, which
//!   is a real git repo with one commit (so `--skip-git-repo-check` is optional).
//! * Where the home lives: NOT under the system temp dir, see [`default_parent_dir`] (Codex
//!   refuses to install its `apply_patch` PATH helpers there and warns on stderr).
//! * Environment (see [`SCRUBBED_ENV`]): API keys and base-URL overrides from the parent are
//!   removed so nothing can reach a real provider, `NO_PROXY` covers loopback so an ambient
//!   proxy does not intercept the fake, `RUST_LOG=error` keeps a developer's setting from
//!   flooding stderr. HOME is left alone: commands the model runs may need the user's toolchain.
//!
//! Other facts observed on 0.169 that tests built on this should know:
//! * stderr always carries "Reading additional input from stdin..." for `exec` (stdin is null;
//!   it reads EOF at once), and stdout's JSONL starts with a non-fatal `error` item "Model
//!   metadata for `gpt-oss-20b` not found ...".
//! * `exec` forces approval policy `never`: an `exec_command` asking for
//!   `sandbox_permissions: "require_escalated"` is refused with "approval policy is Never;
//!   reject command ...", whatever `approval_policy` says. Approvals need app-server.
//! * `workspace-write` runs commands under bubblewrap with the work dir, `/tmp` and `$TMPDIR`
//!   writable; a write elsewhere fails with "Read-only file system" (exit 1). exec sometimes
//!   emits no `command_execution` item for such a denied command.
//! * A `function_call_output` for `exec_command` is a string: "Chunk ID: ..\nWall time: ..
//!   seconds\nProcess exited with code N\nOriginal token count: N\nOutput:\n<output>".
//! * `exec --json` shows reasoning SUMMARIES as `reasoning` items; raw `reasoning_text` is
//!   not shown (not even with `show_raw_agent_reasoning = true`).
//! * SIGINT during a streaming turn: exec drops the HTTP connection and exits 1 at once, with no
//!   `turn.completed`/`turn.failed`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::codex_bin;

/// Parent environment variables a Codex child must never inherit: [`TempCodexHome::command`]
/// removes them; [`TempCodexHome::env`] lists them with empty values for callers that build
/// their own command (an empty value is what `tests/codex_exec.rs` checks does not reach the provider).
pub const SCRUBBED_ENV: &[&str] = &[
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT",
    "AZURE_OPENAI_API_KEY",
    "CODEX_INTERNAL_ORIGINATOR_OVERRIDE",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    "CODEX_THREAD_ID",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Builds a temp `CODEX_HOME` whose config points Codex at a loopback provider.
#[derive(Debug, Clone)]
pub struct CodexHomeBuilder {
    base_url: String,
    model: String,
    approval_policy: Option<String>,
    sandbox_mode: Option<String>,
    extra_toml: Vec<String>,
    parent_dir: Option<PathBuf>,
}

impl CodexHomeBuilder {
    /// Provider `local` at `base_url` (`wire_api = "responses"`), model `gpt-oss-20b`.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            model: "gpt-oss-20b".to_owned(),
            approval_policy: None,
            sandbox_mode: None,
            extra_toml: Vec::new(),
            parent_dir: None,
        }
    }

    /// The `model` written to config.toml.
    pub fn model(mut self, m: &str) -> Self {
        self.model = m.to_owned();
        self
    }

    /// `approval_policy` in config.toml, e.g. `"never"`, `"on-request"`, `"on-failure"`.
    pub fn approval_policy(mut self, p: &str) -> Self {
        self.approval_policy = Some(p.to_owned());
        self
    }

    /// `sandbox_mode` in config.toml: `"read-only"`, `"workspace-write"`, `"danger-full-access"`.
    pub fn sandbox_mode(mut self, s: &str) -> Self {
        self.sandbox_mode = Some(s.to_owned());
        self
    }

    /// Extra config merged over what the builder writes (later calls win). Tables merge key by
    /// key, so `"show_raw_agent_reasoning = true"`, `"[features]\nfoo = true"` and
    /// `"[model_providers.local]\nrequest_max_retries = 2"` all do what they say. Panics if the
    /// snippet is not valid TOML.
    pub fn extra_toml(mut self, s: &str) -> Self {
        if let Err(e) = s.parse::<toml::Table>() {
            panic!("test-support: extra_toml is not valid TOML: {e}\n{s}");
        }
        self.extra_toml.push(s.to_owned());
        self
    }

    /// Creates the temp dir under `dir` (default: [`default_parent_dir`]).
    pub fn parent_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.parent_dir = Some(dir.into());
        self
    }

    /// The config.toml text this builder writes for a given work dir.
    pub fn config_toml(&self, workdir: &Path) -> String {
        let mut base = String::new();
        base.push_str(&format!("model = {}\n", toml_str(&self.model)));
        base.push_str("model_provider = \"local\"\n");
        if let Some(p) = &self.approval_policy {
            base.push_str(&format!("approval_policy = {}\n", toml_str(p)));
        }
        if let Some(s) = &self.sandbox_mode {
            base.push_str(&format!("sandbox_mode = {}\n", toml_str(s)));
        }
        base.push_str("check_for_update_on_startup = false\n");
        base.push_str(&format!(
            "\n[model_providers.local]\nname = \"local\"\nbase_url = {}\nwire_api = \"responses\"\n\
             request_max_retries = 0\nstream_max_retries = 0\n",
            toml_str(&self.base_url)
        ));
        base.push_str("\n[analytics]\nenabled = false\n");
        base.push_str("\n[feedback]\nenabled = false\n");
        base.push_str("\n[otel]\nexporter = \"none\"\nlog_user_prompt = false\n");
        base.push_str(&format!(
            "\n[projects.{}]\ntrust_level = \"trusted\"\n",
            toml_str(&workdir.to_string_lossy())
        ));
        if self.extra_toml.is_empty() {
            return base;
        }
        let mut table: toml::Table = match base.parse() {
            Ok(t) => t,
            Err(e) => panic!("test-support: generated config.toml does not parse: {e}\n{base}"),
        };
        for extra in &self.extra_toml {
            match extra.parse::<toml::Table>() {
                Ok(extra) => merge_tables(&mut table, extra),
                Err(e) => panic!("test-support: extra_toml is not valid TOML: {e}\n{extra}"),
            }
        }
        match toml::to_string(&table) {
            Ok(s) => s,
            Err(e) => panic!("test-support: cannot serialise config.toml: {e}"),
        }
    }

    /// Creates the temp dirs, writes config.toml and git-initialises the work dir.
    pub fn build(self) -> TempCodexHome {
        let mut tmp = tempfile::Builder::new();
        tmp.prefix("ct-");
        let root = match &self.parent_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).unwrap_or_else(|e| {
                    panic!("test-support: create parent dir {}: {e}", dir.display())
                });
                tmp.tempdir_in(dir)
            }
            None => {
                let dir = default_parent_dir();
                std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
                    panic!("test-support: create parent dir {}: {e}", dir.display())
                });
                tmp.tempdir_in(dir)
            }
        }
        .expect("test-support: create temp dir");
        let home = root.path().join("codex-home");
        let workdir = root.path().join("work");
        std::fs::create_dir_all(&home).expect("test-support: create CODEX_HOME");
        std::fs::create_dir_all(&workdir).expect("test-support: create work dir");
        // Canonical path: Codex compares the cwd it sees with `[projects]` keys.
        let workdir = workdir
            .canonicalize()
            .expect("test-support: canonicalize work dir");
        std::fs::write(home.join("config.toml"), self.config_toml(&workdir))
            .expect("test-support: write config.toml");
        git_init(&workdir);
        TempCodexHome {
            home,
            workdir,
            _root: root,
        }
    }
}

/// Where temp `CODEX_HOME`s are created by default: `<target dir>/tmp/codex-homes`
/// (`$CARGO_TARGET_DIR` if set, else `<workspace>/target`).
///
/// Not the system temp dir: Codex 0.169 refuses to install its PATH helper aliases (the
/// `apply_patch` shims under `$CODEX_HOME/tmp/arg0-*`) when `CODEX_HOME` lies under the system
/// temp dir, and prints "WARNING: proceeding, even though we could not create PATH aliases" on
/// stderr. Under the target dir Codex behaves as on a developer machine and stderr stays clean.
/// When the checkout itself lies under the temp dir (a CI clone in /tmp, say), the user's cache
/// dir (`$XDG_CACHE_HOME` or `~/.cache`) is used instead, for the same reason.
///
/// The path is also kept short: Codex puts Unix sockets inside `CODEX_HOME` (the managed daemon's
/// `app-server-control/app-server-control.sock`), and a socket path longer than `SUN_LEN` (108
/// bytes with its NUL on Linux) cannot be bound or connected. A checkout at a deep path (CI clones
/// into `/check/work/main`, say) falls back to the cache dir for that reason too.
pub fn default_parent_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
        .join("tmp")
        .join("codex-homes");
    if !under_temp_dir(&target) && fits_socket_paths(&target) {
        return target;
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    match cache {
        Some(c) if c.is_absolute() && !under_temp_dir(&c) => c.join("orbitdock-tests"),
        _ => target,
    }
}

/// The longest socket path Codex builds under a home: `<parent>/ct-XXXXXX/codex-home/` +
/// `app-server-control/app-server-control.sock`.
const SOCKET_SUFFIX_LEN: usize =
    "/ct-XXXXXX/codex-home/app-server-control/app-server-control.sock".len();

/// Longest path a `sockaddr_un` holds, without the trailing NUL (104 on macOS, 108 on Linux).
const MAX_SOCKET_PATH: usize = if cfg!(target_os = "linux") { 107 } else { 103 };

/// Whether every socket Codex may create in a home made under `parent` has a usable path.
fn fits_socket_paths(parent: &Path) -> bool {
    parent.as_os_str().len() + SOCKET_SUFFIX_LEN <= MAX_SOCKET_PATH
}

/// Whether `p` is inside the system temp dir (as Codex judges it).
fn under_temp_dir(p: &Path) -> bool {
    let tmp = std::env::temp_dir();
    let canonical = tmp.canonicalize().unwrap_or_else(|_| tmp.clone());
    let p = p.canonicalize().unwrap_or_else(|_| p.to_owned());
    p.starts_with(&tmp) || p.starts_with(&canonical) || p.starts_with("/tmp")
}

/// Deep merge: tables merge recursively, anything else in `over` replaces what `base` has.
fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn toml_str(s: &str) -> String {
    // A TOML basic string is a JSON string minus a few escapes JSON does not use; serde_json's
    // escaping (\" \\ \n \uXXXX) is valid TOML.
    serde_json::Value::String(s.to_owned()).to_string()
}

fn git_init(dir: &Path) {
    std::fs::write(
        dir.join("README.md"),
        "A scratch project for a Codex test.\n",
    )
    .expect("test-support: write README.md");
    let run = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("test-support: cannot run git {args:?}: {e}"));
        assert!(
            out.status.success(),
            "test-support: git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init", "-q", "-b", "main"]);
    run(&["add", "README.md"]);
    run(&[
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-q",
        "-m",
        "initial",
    ]);
}

/// Polls (every 50 ms) until `path` exists or `timeout` passes; whether it exists. For files a
/// child process creates (a command that ran), which no event announces.
pub async fn wait_for_path(path: &Path, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    path.exists()
}

/// Every rollout file (`*.jsonl`) under `codex_home/sessions`.
pub fn rollout_files(codex_home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![codex_home.join("sessions")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Copies the rollout `src` (under `src_home`) to the same place under `dst_home` in the shape
/// a Codex older than 0.169 wrote it: without the `ordinal` of every line and the
/// `history_mode` of `session_meta` (what `codex migrate-rollouts --apply` adds back).
pub fn write_legacy_rollout(
    src: &Path,
    src_home: &Path,
    dst_home: &Path,
) -> Result<PathBuf, String> {
    let rel = src.strip_prefix(src_home).map_err(|e| e.to_string())?;
    let dst = dst_home.join(rel);
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let mut out = String::new();
    let text = std::fs::read_to_string(src).map_err(|e| format!("{}: {e}", src.display()))?;
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if let Some(o) = v.as_object_mut() {
            o.remove("ordinal");
        }
        if v["type"] == "session_meta"
            && let Some(p) = v["payload"].as_object_mut()
        {
            p.remove("history_mode");
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    std::fs::write(&dst, out).map_err(|e| format!("{}: {e}", dst.display()))?;
    Ok(dst)
}

/// The command the model of [`escalation_home`] asks to run outside the sandbox.
pub const ESCALATION_CALL_ID: &str = "call_esc";

/// The model's justification in [`escalation_home`].
pub const ESCALATION_JUSTIFICATION: &str = "need to write outside the workspace";

/// A home for approval tests with the interactive TUI: on-request approvals, workspace-write
/// sandbox, and a model whose first turn asks to `touch` a marker file OUTSIDE the workspace with
/// escalation (call [`ESCALATION_CALL_ID`]), then answers "done". Title side requests of the TUI
/// are answered so they do not eat the scripts. Returns the home and the marker path (absent
/// until the command runs).
pub fn escalation_home(fake: &crate::FakeResponses) -> (TempCodexHome, PathBuf) {
    fake.answer_title_requests("Touch a file");
    let home = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("on-request")
        .sandbox_mode("workspace-write")
        .build();
    let marker = home
        .path()
        .parent()
        .map(|p| p.join("escalated-ran"))
        .unwrap_or_else(|| home.path().join("escalated-ran"));
    fake.enqueue(crate::ScriptedResponse::new().exec_command_escalated(
        &format!("touch {}", marker.display()),
        ESCALATION_CALL_ID,
        ESCALATION_JUSTIFICATION,
    ));
    fake.enqueue(crate::ScriptedResponse::new().text("done"));
    (home, marker)
}

/// A temp `CODEX_HOME` plus a work dir; both are removed on drop.
#[derive(Debug)]
pub struct TempCodexHome {
    home: PathBuf,
    workdir: PathBuf,
    _root: TempDir,
}

impl TempCodexHome {
    /// The `CODEX_HOME` directory (holds config.toml; Codex writes sessions/, logs, state here).
    pub fn path(&self) -> &Path {
        &self.home
    }

    /// A fresh git repository (one commit) to use as the cwd of a Codex child.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Environment for a Codex child: `CODEX_HOME`, the scrubbed variables set to "", loopback
    /// exempt from proxies, quiet logging.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = vec![
            ("CODEX_HOME".into(), self.home.clone().into_os_string()),
            ("NO_PROXY".into(), "127.0.0.1,localhost,::1".into()),
            ("no_proxy".into(), "127.0.0.1,localhost,::1".into()),
            ("RUST_LOG".into(), "error".into()),
            ("NO_COLOR".into(), "1".into()),
        ];
        env.extend(
            SCRUBBED_ENV
                .iter()
                .map(|k| (OsString::from(k), OsString::new())),
        );
        env
    }

    /// [`Self::env`] as UTF-8 pairs (for APIs taking `(String, String)`, e.g. a server's
    /// environment for its Codex child).
    pub fn env_strings(&self) -> Vec<(String, String)> {
        self.env()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// Runs `codex exec --json --skip-git-repo-check <args>` in this home (killed after
    /// `timeout`) and returns the thread id from its `thread.started` event; `Err` carries the
    /// exit status, stderr and stdout.
    pub async fn exec_thread(&self, args: &[&str], timeout: Duration) -> Result<String, String> {
        let mut all = vec!["exec", "--json", "--skip-git-repo-check"];
        all.extend_from_slice(args);
        let mut cmd = tokio::process::Command::from(self.command(&all));
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = tokio::time::timeout(timeout, cmd.output())
            .await
            .map_err(|_| format!("codex exec did not finish within {timeout:?}"))?
            .map_err(|e| format!("codex exec: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "codex exec failed ({}): {}\n{stdout}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["type"] == "thread.started")
            .and_then(|e| e["thread_id"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("no thread.started in {stdout}"))
    }

    /// `codex migrate-rollouts --json [--apply]` in this home: the `outcomes` array
    /// (`{thread_id, rollout_path, status, ...}` per thread).
    pub fn migrate_rollouts(&self, apply: bool) -> Result<Vec<serde_json::Value>, String> {
        let mut args = vec!["migrate-rollouts", "--json"];
        if apply {
            args.push("--apply");
        }
        let out = self
            .command(&args)
            .output()
            .map_err(|e| format!("codex migrate-rollouts: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "migrate-rollouts failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("--json output: {e}"))?;
        Ok(v["outcomes"].as_array().cloned().unwrap_or_default())
    }

    /// `codex <args>` with [`Self::env`] applied (scrubbed variables removed), cwd = work dir,
    /// stdin null, stdout/stderr left for the caller to configure.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(codex_bin());
        cmd.args(args)
            .current_dir(&self.workdir)
            .stdin(Stdio::null());
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        for k in SCRUBBED_ENV {
            cmd.env_remove(k);
        }
        cmd
    }
}

#[cfg(test)]
mod socket_path_tests {
    use super::*;

    #[test]
    fn a_deep_checkout_falls_back_to_a_parent_whose_sockets_fit() {
        // The CI clone's path, one that broke the managed-daemon test.
        let deep = Path::new("/check/work/main/target/tmp/codex-homes/and/some/more");
        assert!(!fits_socket_paths(deep));
        assert!(fits_socket_paths(Path::new(
            "/work/main/target/tmp/codex-homes"
        )));
        let chosen = default_parent_dir();
        let socket = chosen.join("ct-abcdef/codex-home/app-server-control/app-server-control.sock");
        assert!(
            socket.as_os_str().len() <= MAX_SOCKET_PATH,
            "{} is too long for a socket",
            socket.display()
        );
    }
}
