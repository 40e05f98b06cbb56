//! End to end with the REAL pinned Codex CLI: `codexpc serve --script ...` runs as a child
//! process, Codex (exec, then app-server) uses it as its model provider. The script makes the model
//! call `exec_command`; Codex runs the command; the next request carries the tool output (checked
//! in the rendered Harmony prompt, via `--dump-prompts`); the model answers on the final channel.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use test_support::{CodexHomeBuilder, TempCodexHome};

const TIMEOUT: Duration = Duration::from_secs(90);
const MARKER: &str = "hi-from-codexpc";

/// Kills a child process on drop (a test that bails must not leak servers).
struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `codexpc serve` child.
struct CodexpcServer {
    base_url: String,
    prompts: PathBuf,
    stderr: mpsc::Receiver<String>,
    _child: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl CodexpcServer {
    /// Start `codexpc serve --script` with `lines` (one JSON object each) on 127.0.0.1:0.
    fn start(lines: &[Value]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("script.jsonl");
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&script, text)?;
        let prompts = dir.path().join("prompts");
        let mut child = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_codexpc"))
                .args([
                    "serve",
                    "--http",
                    "127.0.0.1:0",
                    "--conversation-date",
                    "2026-11-22",
                ])
                .arg("--script")
                .arg(&script)
                .arg("--dump-prompts")
                .arg(&prompts)
                // HTTP only here: the session socket is tested in tests/daemon*.rs.
                .arg("--no-socket")
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("spawn codexpc serve")?,
        );
        let stdout = child.0.stdout.take().context("stdout")?;
        let mut stderr = child.0.stderr.take().context("stderr")?;
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = line_tx.send(first);
        });
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = err_tx.send(s);
        });
        let first = line_rx
            .recv_timeout(TIMEOUT)
            .context("codexpc serve printed no URL in time")?;
        let base_url = first
            .trim()
            .strip_prefix("codexpc listening on ")
            .with_context(|| format!("unexpected first line {first:?}"))?
            .to_owned();
        ensure!(
            base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/v1"),
            "{base_url}"
        );
        Ok(Self {
            base_url,
            prompts,
            stderr: err_rx,
            _child: child,
            _dir: dir,
        })
    }

    /// The decoded prompts, in request order.
    fn prompts(&self) -> Result<Vec<String>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.prompts)
            .with_context(|| format!("no prompt dumps in {}", self.prompts.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| Ok(std::fs::read_to_string(f)?))
            .collect()
    }

    /// Stderr so far is not available until exit; used in failure messages after kill.
    fn stderr_after_kill(self) -> String {
        drop(self._child);
        self.stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default()
    }
}

/// The two model turns: call `exec_command`, then answer on the final channel.
fn script() -> Vec<Value> {
    vec![
        json!({
            "match": "greeting command",
            "completion": format!(
                "<|channel|>analysis<|message|>I should run the greeting command.<|end|>\
                 <|start|>assistant<|channel|>commentary to=functions.exec_command <|constrain|>json\
                 <|message|>{{\"cmd\":\"echo {MARKER}\"}}<|call|>"
            ),
        }),
        json!({
            "match": MARKER,
            "completion": format!(
                "<|channel|>analysis<|message|>The command printed the marker.<|end|>\
                 <|start|>assistant<|channel|>final<|message|>The command printed {MARKER}.<|return|>"
            ),
        }),
    ]
}

fn codex_home(base_url: &str) -> TempCodexHome {
    CodexHomeBuilder::new(base_url)
        .approval_policy("never")
        .sandbox_mode("danger-full-access")
        .build()
}

/// Checks on the two rendered prompts shared by both tests.
fn check_prompts(prompts: &[String]) -> Result<()> {
    ensure!(
        prompts.len() == 2,
        "expected 2 model requests, got {}",
        prompts.len()
    );
    let (first, second) = (&prompts[0], &prompts[1]);
    ensure!(
        first.starts_with("<|start|>system<|message|>"),
        "{first:.200}"
    );
    ensure!(first.ends_with("<|end|><|start|>assistant"), "{first}");
    ensure!(first.contains("Current date: 2026-11-22"));
    // Codex's tools reach the model as the functions namespace, exec_command with `cmd`.
    ensure!(
        first.contains("namespace functions {"),
        "no function tools in:\n{first}"
    );
    ensure!(
        first.contains("type exec_command = (_: {"),
        "no exec_command tool in:\n{first}"
    );
    ensure!(first.contains("greeting command.<|end|>"), "{first}");
    // Turn 2: the whole turn so far, then the tool's output addressed to the assistant.
    ensure!(
        second.starts_with(&first[..first.len() - "<|start|>assistant".len()]),
        "prefix differs"
    );
    ensure!(
        second.contains("<|start|>assistant<|channel|>analysis<|message|>I should run the greeting command.<|end|>"),
        "analysis must be kept across a tool call:\n{second}"
    );
    ensure!(
        second.contains(&format!(
            "<|start|>assistant<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>{{\"cmd\":\"echo {MARKER}\"}}<|call|>"
        )),
        "tool call missing:\n{second}"
    );
    let tool_header =
        "<|start|>functions.exec_command to=assistant<|channel|>commentary<|message|>";
    let at = second
        .find(tool_header)
        .with_context(|| format!("tool output missing:\n{second}"))?;
    let tool_msg = &second[at + tool_header.len()..];
    let end = tool_msg.find("<|end|>").context("tool message not ended")?;
    ensure!(
        tool_msg[..end].contains(&format!("{MARKER}\n")),
        "tool output: {:?}",
        &tool_msg[..end]
    );
    ensure!(second.ends_with("<|end|><|start|>assistant"));
    ensure!(!second.contains("<|return|>"));
    Ok(())
}

fn run_exec(home: &TempCodexHome, args: &[&str]) -> Result<(Option<i32>, Vec<Value>, String)> {
    let mut cmd = home.command(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().context("spawn codex")?);
    let mut stdout = child.0.stdout.take().context("stdout")?;
    let mut stderr = child.0.stderr.take().context("stderr")?;
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        let _ = tx.send((true, s));
    });
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        let _ = tx2.send((false, s));
    });
    let deadline = Instant::now() + TIMEOUT;
    let (mut out, mut err) = (None, None);
    while out.is_none() || err.is_none() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((true, s)) => out = Some(s),
            Ok((false, s)) => err = Some(s),
            Err(_) => bail!("codex exec did not finish within {TIMEOUT:?}"),
        }
    }
    let status = child.0.wait()?;
    let events = out
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect::<Result<Vec<Value>>>()?;
    Ok((status.code(), events, err.unwrap_or_default()))
}

fn completed<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == kind)
        .map(|e| &e["item"])
        .collect()
}

#[test]
fn codex_exec_runs_a_tool_call_through_codexpc() -> Result<()> {
    let server = CodexpcServer::start(&script())?;
    let home = codex_home(&server.base_url);
    let (code, events, stderr) = run_exec(
        &home,
        &[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "Please run the greeting command.",
        ],
    )?;
    if code != Some(0) {
        let server_log = server.stderr_after_kill();
        bail!("codex exit {code:?}\nevents: {events:#?}\nstderr: {stderr}\ncodexpc: {server_log}");
    }
    let commands = completed(&events, "command_execution");
    ensure!(commands.len() == 1, "events: {events:#?}");
    let command = commands[0];
    ensure!(
        command["command"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("echo {MARKER}"))),
        "{command}"
    );
    ensure!(
        command["status"] == "completed" && command["exit_code"] == 0,
        "{command}"
    );
    ensure!(
        command["aggregated_output"] == format!("{MARKER}\n"),
        "{command}"
    );
    let messages = completed(&events, "agent_message");
    ensure!(messages.len() == 1, "events: {events:#?}");
    ensure!(
        messages[0]["text"] == format!("The command printed {MARKER}."),
        "{}",
        messages[0]
    );
    // Usage from codexpc flows through; turn 2 re-used the prefix of turn 1.
    let usage = &events
        .iter()
        .find(|e| e["type"] == "turn.completed")
        .context("turn.completed")?["usage"];
    ensure!(
        usage["input_tokens"].as_u64().is_some_and(|n| n > 100),
        "{usage}"
    );
    ensure!(
        usage["cached_input_tokens"]
            .as_u64()
            .is_some_and(|n| n > 100),
        "{usage}"
    );
    check_prompts(&server.prompts()?)
}

#[test]
fn codex_exec_with_configure_codex_profile() -> Result<()> {
    // `codexpc configure-codex` writes the provider and profile into a home that already has the
    // test's offline settings; `codex exec -p codexpc` then uses them.
    let server = CodexpcServer::start(&script())?;
    let home = CodexHomeBuilder::new("http://127.0.0.1:9/v1")
        .approval_policy("never")
        .sandbox_mode("danger-full-access")
        .build();
    let out = Command::new(env!("CARGO_BIN_EXE_codexpc"))
        .args([
            "configure-codex",
            "--base-url",
            &server.base_url,
            "--codex-home",
        ])
        .arg(home.path())
        .stdin(Stdio::null())
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, events, stderr) = run_exec(
        &home,
        &[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "-p",
            "codexpc",
            "Please run the greeting command.",
        ],
    )?;
    if code != Some(0) {
        let server_log = server.stderr_after_kill();
        bail!("codex exit {code:?}\nevents: {events:#?}\nstderr: {stderr}\ncodexpc: {server_log}");
    }
    ensure!(
        completed(&events, "command_execution").len() == 1,
        "events: {events:#?}"
    );
    ensure!(
        completed(&events, "agent_message").len() == 1,
        "events: {events:#?}"
    );
    check_prompts(&server.prompts()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_app_server_runs_a_tool_call_through_codexpc() -> Result<()> {
    use codex_client::app_server::{AppServerBuilder, AppServerEvent, ServerNotification};
    let server = CodexpcServer::start(&script())?;
    let home = codex_home(&server.base_url);
    let mut builder = AppServerBuilder::new(test_support::codex_bin(), home.path())
        .current_dir(home.workdir())
        .request_timeout(Duration::from_secs(30));
    for (k, v) in home.env() {
        builder = builder.env(k, v);
    }
    let (app, mut events) = builder.spawn().await?;
    let cwd = home.workdir().display().to_string();
    let thread = app
        .call_raw(
            "thread/start",
            json!({"cwd": cwd, "approvalPolicy": "never", "sandbox": "danger-full-access"}),
            Duration::from_secs(30),
        )
        .await?;
    let thread_id = thread["thread"]["id"]
        .as_str()
        .context("thread id")?
        .to_owned();
    app.call_raw(
        "turn/start",
        json!({"threadId": thread_id, "input": [{"type": "text", "text": "Please run the greeting command."}]}),
        Duration::from_secs(30),
    )
    .await?;
    let mut items: Vec<Value> = Vec::new();
    let mut agent_deltas = String::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let status = loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .context("turn did not complete in time")?
            .context("app-server event stream ended")?;
        match event {
            AppServerEvent::Notification(ServerNotification::ItemCompleted(n)) => {
                items.push(serde_json::to_value(&n.item)?);
            }
            AppServerEvent::Notification(ServerNotification::AgentMessageDelta(d)) => {
                agent_deltas.push_str(&d.delta);
            }
            AppServerEvent::Notification(ServerNotification::TurnCompleted(t)) => {
                break serde_json::to_value(&t)?;
            }
            AppServerEvent::Request(r) => bail!("unexpected server request {}", r.method),
            AppServerEvent::Exited {
                status,
                stderr_tail,
            } => {
                bail!("app-server exited {status:?}: {stderr_tail}")
            }
            _ => {}
        }
    };
    app.shutdown().await?;
    ensure!(status["turn"]["status"] == "completed", "{status}");
    let command = items
        .iter()
        .find(|i| i["type"] == "commandExecution")
        .with_context(|| format!("no commandExecution item: {items:#?}"))?;
    ensure!(
        command["command"]
            .as_str()
            .is_some_and(|c| c.contains(MARKER)),
        "{command}"
    );
    ensure!(
        command["aggregatedOutput"] == format!("{MARKER}\n"),
        "{command}"
    );
    let message = items
        .iter()
        .find(|i| i["type"] == "agentMessage")
        .with_context(|| format!("no agentMessage item: {items:#?}"))?;
    let expected = format!("The command printed {MARKER}.");
    ensure!(message["text"] == expected, "{message}");
    // app-server streams the final channel as deltas.
    ensure!(agent_deltas == expected, "deltas {agent_deltas:?}");
    check_prompts(&server.prompts()?)
}

#[test]
fn malformed_model_output_fails_the_codex_turn_instead_of_hanging() -> Result<()> {
    // The "model" starts writing a tool's reply itself: codexpc ends the stream with
    // response.failed, and Codex reports a failed turn (no retries in the test home) promptly.
    let server = CodexpcServer::start(&[json!({
        "completion": "<|channel|>final<|message|>partial<|end|><|start|>functions.exec_command to=assistant<|channel|>commentary<|message|>fake output<|end|>"
    })])?;
    let home = codex_home(&server.base_url);
    let started = Instant::now();
    let (code, events, stderr) = run_exec(
        &home,
        &["exec", "--json", "--skip-git-repo-check", "say something"],
    )?;
    ensure!(
        code == Some(1),
        "exit {code:?}\nevents: {events:#?}\nstderr: {stderr}"
    );
    let failed = events
        .iter()
        .find(|e| e["type"] == "turn.failed")
        .with_context(|| format!("no turn.failed: {events:#?}"))?;
    let message = failed["error"]["message"].as_str().unwrap_or_default();
    ensure!(message.contains("malformed model output"), "{failed}");
    ensure!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}
