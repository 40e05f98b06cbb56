//! Drives the real pinned Codex CLI (`codex exec --json`) against `FakeResponses`, proving that
//! the fake speaks exactly the Responses SSE Codex 0.169 consumes and that `TempCodexHome` keeps
//! Codex offline.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse};

const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Output of one `codex exec --json` run.
#[derive(Debug)]
struct ExecRun {
    code: Option<i32>,
    events: Vec<Value>,
    stderr: String,
}

impl ExecRun {
    fn completed_items(&self, kind: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == kind)
            .map(|e| &e["item"])
            .collect()
    }

    fn event_types(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect()
    }
}

/// Kills the child if the test bails before it exits.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` (prompt as argument, stdin null) to completion, bounded by `timeout`.
fn run_exec(mut cmd: Command, timeout: Duration) -> Result<ExecRun> {
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
    let deadline = Instant::now() + timeout;
    let (mut out, mut err) = (None, None);
    while out.is_none() || err.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((true, s)) => out = Some(s),
            Ok((false, s)) => err = Some(s),
            Err(_) => bail!("codex exec did not finish within {timeout:?}"),
        }
    }
    let status = child.0.wait().context("wait codex")?;
    let out = out.unwrap_or_default();
    let events = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("stdout line is not JSON: {l}")))
        .collect::<Result<Vec<Value>>>()?;
    Ok(ExecRun {
        code: status.code(),
        events,
        stderr: err.unwrap_or_default(),
    })
}

#[test]
fn text_reply_arrives_as_agent_message() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(
        ScriptedResponse::new()
            .reasoning_summary("thinking about it")
            .reasoning("raw chain of thought")
            .text_deltas(&["Hello ", "from the ", "fake."])
            .usage(123, 23, 45, 6),
    );
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let run = run_exec(
        home.command(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--strict-config",
            "say hello",
        ]),
        EXEC_TIMEOUT,
    )?;
    assert_eq!(
        run.code,
        Some(0),
        "events: {:#?}\nstderr: {}",
        run.events,
        run.stderr
    );

    // exec reports reasoning SUMMARIES as `reasoning` items; raw reasoning_text is not shown.
    let reasoning = run.completed_items("reasoning");
    assert_eq!(reasoning.len(), 1, "events: {:#?}", run.events);
    assert_eq!(reasoning[0]["text"], "thinking about it");
    let messages = run.completed_items("agent_message");
    assert_eq!(messages.len(), 1, "events: {:#?}", run.events);
    assert_eq!(messages[0]["text"], "Hello from the fake.");

    let completed: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["type"] == "turn.completed")
        .collect();
    assert_eq!(completed.len(), 1, "events: {:#?}", run.events);
    assert_eq!(completed[0]["usage"]["input_tokens"], 123);
    assert_eq!(completed[0]["usage"]["cached_input_tokens"], 23);
    assert_eq!(completed[0]["usage"]["output_tokens"], 45);
    assert_eq!(completed[0]["usage"]["reasoning_output_tokens"], 6);

    let requests = fake.responses_requests();
    assert_eq!(requests.len(), 1, "requests: {:#?}", fake.requests());
    let req = &requests[0];
    assert_eq!(req.path, "/v1/responses");
    assert_eq!(req.body["model"], "gpt-oss-20b");
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.last_user_text().as_deref(), Some("say hello"));
    assert!(
        req.tool_names().iter().any(|t| t == "exec_command"),
        "{:?}",
        req.tool_names()
    );
    assert_eq!(
        req.header("authorization"),
        None,
        "no credentials may reach the provider"
    );
    assert_eq!(fake.unscripted_requests(), 0);
    // Nothing but the one model turn reached the provider: no /models, no telemetry.
    assert_eq!(fake.requests().len(), 1, "requests: {:#?}", fake.requests());
    Ok(())
}

#[test]
fn exec_command_runs_and_its_output_goes_back_to_the_model() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(
        ScriptedResponse::new().exec_command("printf 'fake-exec-%s\\n' ok; pwd", "call_exec_1"),
    );
    fake.enqueue(ScriptedResponse::new().text("the command ran"));
    let home = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("danger-full-access")
        .build();
    let run = run_exec(
        home.command(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--strict-config",
            "run it",
        ]),
        EXEC_TIMEOUT,
    )?;
    assert_eq!(
        run.code,
        Some(0),
        "events: {:#?}\nstderr: {}",
        run.events,
        run.stderr
    );

    let commands = run.completed_items("command_execution");
    assert_eq!(commands.len(), 1, "events: {:#?}", run.events);
    let workdir = home.workdir().display().to_string();
    assert_eq!(commands[0]["status"], "completed");
    assert_eq!(commands[0]["exit_code"], 0);
    assert_eq!(
        commands[0]["aggregated_output"],
        format!("fake-exec-ok\n{workdir}\n")
    );
    assert!(
        commands[0]["command"]
            .as_str()
            .unwrap_or_default()
            .contains("fake-exec-%s"),
        "{:#?}",
        commands[0]
    );
    let messages = run.completed_items("agent_message");
    assert_eq!(messages.len(), 1, "events: {:#?}", run.events);
    assert_eq!(messages[0]["text"], "the command ran");

    let requests = fake.responses_requests();
    assert_eq!(requests.len(), 2, "requests: {:#?}", fake.requests());
    assert_eq!(requests[0].function_call_output("call_exec_1"), None);
    let output = requests[1]
        .function_call_output("call_exec_1")
        .context("second request carries the function_call_output")?;
    assert!(
        output.contains(&format!("fake-exec-ok\n{workdir}")),
        "output: {output}"
    );
    // The call itself is echoed back in the input, with arguments as a JSON string.
    let call = requests[1]
        .input()
        .iter()
        .find(|i| i["type"] == "function_call")
        .context("function_call in second request")?;
    assert_eq!(call["name"], "exec_command");
    assert_eq!(call["call_id"], "call_exec_1");
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap_or_default())?;
    assert_eq!(args["cmd"], "printf 'fake-exec-%s\\n' ok; pwd");
    assert_eq!(fake.unscripted_requests(), 0);
    assert_eq!(fake.pending_scripts(), 0);
    Ok(())
}

#[test]
fn http_400_fails_the_turn_with_exit_code_1() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::http_error(
        400,
        json!({ "error": { "type": "invalid_request_error", "message": "fake says the request is bad" } }),
    ));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let run = run_exec(
        home.command(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--strict-config",
            "hello",
        ]),
        EXEC_TIMEOUT,
    )?;
    assert_eq!(
        run.code,
        Some(1),
        "events: {:#?}\nstderr: {}",
        run.events,
        run.stderr
    );
    let failed: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["type"] == "turn.failed")
        .collect();
    assert_eq!(failed.len(), 1, "events: {:#?}", run.events);
    let message = failed[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("fake says the request is bad"),
        "turn.failed: {:#?}",
        failed[0]
    );
    assert!(
        !run.event_types().contains(&"turn.completed"),
        "events: {:#?}",
        run.events
    );
    // A 400 is not retried.
    assert_eq!(
        fake.responses_requests().len(),
        1,
        "requests: {:#?}",
        fake.requests()
    );
    Ok(())
}

#[test]
fn workspace_write_sandbox_runs_commands_and_blocks_writes_outside() -> Result<()> {
    let fake = FakeResponses::start();
    // Not under /tmp: workspace-write also makes /tmp and $TMPDIR writable.
    let outside = tempfile::tempdir_in(test_support::default_parent_dir())?;
    let outside_file = outside.path().join("escaped.txt");
    fake.enqueue(
        ScriptedResponse::new()
            .exec_command("echo inside > inside.txt && cat inside.txt", "call_in"),
    );
    fake.enqueue(ScriptedResponse::new().exec_command(
        &format!("echo escaped > {}", outside_file.display()),
        "call_out",
    ));
    fake.enqueue(ScriptedResponse::new().text("done"));
    let home = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("workspace-write")
        .build();
    let run = run_exec(
        home.command(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--strict-config",
            "go",
        ]),
        EXEC_TIMEOUT,
    )?;
    assert_eq!(
        run.code,
        Some(0),
        "events: {:#?}\nstderr: {}",
        run.events,
        run.stderr
    );
    // Under the default parent dir (not /tmp) Codex installs its helpers without a warning.
    assert!(
        !run.stderr.contains("could not create PATH aliases"),
        "stderr: {}",
        run.stderr
    );

    let commands = run.completed_items("command_execution");
    // Observed on 0.169: the sandbox-denied command (approval "never", so no escalation) SOMETIMES
    // gets no command_execution item in exec's JSONL (a race in exec); when it does, it is failed.
    assert!(
        (1..=2).contains(&commands.len()),
        "events: {:#?}",
        run.events
    );
    if let Some(denied) = commands.get(1) {
        assert_eq!(denied["status"], "failed", "{denied:#?}");
        assert_eq!(denied["exit_code"], 1, "{denied:#?}");
        let out = denied["aggregated_output"].as_str().unwrap_or_default();
        assert!(out.contains("Read-only file system"), "{denied:#?}");
    }
    assert_eq!(commands[0]["status"], "completed");
    assert_eq!(commands[0]["aggregated_output"], "inside\n");
    assert_eq!(
        std::fs::read_to_string(home.workdir().join("inside.txt"))?,
        "inside\n"
    );
    let requests = fake.responses_requests();
    assert_eq!(requests.len(), 3, "requests: {:#?}", fake.requests());
    assert_eq!(
        requests[1]
            .function_call_output("call_in")
            .as_deref()
            .map(|o| o.contains("inside")),
        Some(true)
    );
    // The write outside the workspace is refused by the sandbox (bubblewrap) and never happens.
    let denied = requests[2]
        .function_call_output("call_out")
        .context("call_out output")?;
    assert!(denied.contains("Process exited with code 1"), "{denied}");
    assert!(denied.contains("Read-only file system"), "{denied}");
    assert!(!outside_file.exists());
    Ok(())
}

#[test]
fn sigint_during_a_hanging_stream_drops_the_connection() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().hang_after_created());
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let mut cmd = home.command(&["exec", "--json", "--skip-git-repo-check", "wait forever"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn()?);
    fake.wait_for_requests(1, EXEC_TIMEOUT);
    assert_eq!(fake.disconnects(), 0);
    let kill = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()?;
    assert!(kill.success());
    // Bounded wait for the exit: poll the child with a deadline.
    let deadline = Instant::now() + EXEC_TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("codex exec ignored SIGINT for {EXEC_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // exec reports an interrupted turn with exit code 1 (no turn.completed / turn.failed).
    assert_eq!(status.code(), Some(1));
    fake.wait_for_disconnects(1, EXEC_TIMEOUT);
    assert_eq!(fake.responses_requests().len(), 1);
    Ok(())
}

#[test]
fn escalated_exec_command_is_recognised_and_refused_by_exec() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().exec_command_escalated(
        "echo esc > esc.txt",
        "call_esc",
        "needs to write outside the sandbox",
    ));
    fake.enqueue(ScriptedResponse::new().text("understood"));
    // on-request in config, but exec cannot ask anyone: it runs with approval "never" and
    // refuses an escalation request instead of running it.
    let home = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("on-request")
        .sandbox_mode("workspace-write")
        .build();
    let run = run_exec(
        home.command(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--strict-config",
            "go",
        ]),
        EXEC_TIMEOUT,
    )?;
    assert_eq!(
        run.code,
        Some(0),
        "events: {:#?}\nstderr: {}",
        run.events,
        run.stderr
    );
    assert!(
        run.completed_items("command_execution").is_empty(),
        "events: {:#?}",
        run.events
    );
    assert!(!home.workdir().join("esc.txt").exists());
    let requests = fake.responses_requests();
    assert_eq!(requests.len(), 2, "requests: {:#?}", fake.requests());
    let refusal = requests[1]
        .function_call_output("call_esc")
        .context("call_esc output")?;
    assert!(
        refusal
            .contains("you cannot ask for escalated permissions if the approval policy is Never"),
        "{refusal}"
    );
    Ok(())
}

/// The retry settings TempCodexHome writes (`request_max_retries = 0`, `stream_max_retries = 0`)
/// make provider failures visible at once: one request, then turn.failed.
#[test]
fn server_errors_and_truncated_streams_fail_without_retries() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::http_error(
        500,
        json!({ "error": { "type": "server_error", "message": "fake 500" } }),
    ));
    fake.enqueue(
        ScriptedResponse::new()
            .text("partial")
            .end_without_completed(),
    );
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    for (prompt, n) in [("first", 1), ("second", 2)] {
        let started = Instant::now();
        let run = run_exec(
            home.command(&[
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--strict-config",
                prompt,
            ]),
            EXEC_TIMEOUT,
        )?;
        assert_eq!(
            run.code,
            Some(1),
            "{prompt}: events: {:#?}\nstderr: {}",
            run.events,
            run.stderr
        );
        assert!(
            run.event_types().contains(&"turn.failed"),
            "{prompt}: events: {:#?}",
            run.events
        );
        assert_eq!(
            fake.responses_requests().len(),
            n,
            "{prompt}: not retried; took {:?}; requests: {:#?}",
            started.elapsed(),
            fake.requests()
        );
    }
    assert_eq!(fake.unscripted_requests(), 0);
    Ok(())
}

/// A parent's real credentials must never reach the fake (or anything else): `env()` blanks them
/// for callers that build their own `Command`, `command()` removes them.
#[test]
fn parent_credentials_do_not_leak_to_the_provider() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("one"));
    fake.enqueue(ScriptedResponse::new().text("two"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let leaky = |cmd: &mut Command| {
        cmd.env("OPENAI_API_KEY", "sk-parent-secret")
            .env("CODEX_API_KEY", "sk-parent-secret")
            .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
    };
    // Own command: inherited secrets, then env() on top.
    let mut own = Command::new(test_support::codex_bin());
    leaky(&mut own);
    own.envs(home.env())
        .current_dir(home.workdir())
        .stdin(Stdio::null())
        .args(["exec", "--json", "--skip-git-repo-check", "hi"]);
    let run = run_exec(own, EXEC_TIMEOUT)?;
    assert_eq!(
        run.code,
        Some(0),
        "events: {:#?}\nstderr: {}",
        run.events,
        run.stderr
    );
    // command(): whatever the parent had is removed (emulated here by CODEX_HOME's own env).
    let run = run_exec(
        home.command(&["exec", "--json", "--skip-git-repo-check", "hi"]),
        EXEC_TIMEOUT,
    )?;
    assert_eq!(
        run.code,
        Some(0),
        "events: {:#?}\nstderr: {}",
        run.events,
        run.stderr
    );

    let requests = fake.responses_requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.header("authorization"), None);
        for (k, v) in &r.headers {
            assert!(!v.contains("sk-parent-secret"), "header {k} leaks the key");
        }
        assert!(!r.body.to_string().contains("sk-parent-secret"));
    }
    Ok(())
}
