//! `codex exec` through `ExecBuilder`/`ExecRun`, driving the REAL pinned Codex CLI against the
//! loopback `FakeResponses` provider. Every wait is bounded.

use std::path::Path;
use std::time::{Duration, Instant};

use codex_client::exec::{
    CommandExecutionItem, ExecBuilder, ExecRun, ItemStatus, SandboxMode, ThreadError, ThreadEvent,
    ThreadItemDetails, Usage,
};
use codex_client::process::live_group_members;
use codex_client::{CodexBinary, CodexHome, CodexVersion, Error};
use serde_json::json;
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome, codex_bin};

/// Bound for one whole Codex run in these tests.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn binary() -> CodexBinary {
    CodexBinary::with_version(codex_bin(), CodexVersion::pinned())
}

fn temp_home(fake: &FakeResponses) -> TempCodexHome {
    CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("danger-full-access")
        .build()
}

fn exec(home: &TempCodexHome, prompt: &str) -> ExecBuilder {
    ExecBuilder::new(&binary(), &CodexHome::new(home.path()))
        .envs(home.env())
        .current_dir(home.workdir())
        .prompt(prompt)
}

/// All events until the end of the stream (errors included), bounded by [`RUN_TIMEOUT`].
async fn collect(run: &mut ExecRun) -> Vec<codex_client::Result<ThreadEvent>> {
    tokio::time::timeout(RUN_TIMEOUT, async {
        let mut out = Vec::new();
        while let Some(ev) = run.next_event().await {
            out.push(ev);
        }
        out
    })
    .await
    .expect("codex exec did not finish in time")
}

fn ok_events(events: Vec<codex_client::Result<ThreadEvent>>) -> Vec<ThreadEvent> {
    events
        .into_iter()
        .map(|e| e.unwrap_or_else(|err| panic!("unexpected stream error: {err}")))
        .collect()
}

/// Events minus the non-fatal warnings Codex emits for an unknown model (`error` items).
fn without_warnings(events: &[ThreadEvent]) -> Vec<ThreadEvent> {
    events
        .iter()
        .filter(|e| {
            !matches!(
                e,
                ThreadEvent::ItemCompleted { item } | ThreadEvent::ItemStarted { item }
                    if matches!(item.details, ThreadItemDetails::Error { .. })
            )
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn happy_path_yields_typed_agent_message_and_usage() {
    let fake = FakeResponses::start();
    fake.enqueue(
        ScriptedResponse::new()
            .text("Hello from the fake model.")
            .usage(120, 20, 7, 3),
    );
    let home = temp_home(&fake);

    let mut run = exec(&home, "Say hello").spawn().await.expect("spawn");
    let events = ok_events(collect(&mut run).await);
    let thread_id = run.thread_id().expect("thread id").to_owned();
    let outcome = tokio::time::timeout(RUN_TIMEOUT, run.wait())
        .await
        .expect("wait")
        .expect("success");

    let usage = Usage {
        input_tokens: 120,
        cached_input_tokens: 20,
        cache_write_input_tokens: 0,
        output_tokens: 7,
        reasoning_output_tokens: 3,
    };
    let events = without_warnings(&events);
    assert_eq!(
        events[0],
        ThreadEvent::ThreadStarted {
            thread_id: thread_id.clone()
        }
    );
    assert_eq!(events[1], ThreadEvent::TurnStarted);
    assert!(
        events.iter().any(|e| matches!(e, ThreadEvent::ItemCompleted { item }
            if item.details == ThreadItemDetails::AgentMessage { text: "Hello from the fake model.".into() })),
        "{events:#?}"
    );
    assert_eq!(events.last(), Some(&ThreadEvent::TurnCompleted { usage }));
    assert_eq!(outcome.thread_id.as_deref(), Some(thread_id.as_str()));
    assert_eq!(
        outcome.last_agent_message.as_deref(),
        Some("Hello from the fake model.")
    );
    assert_eq!(outcome.usage, Some(usage));
    assert_eq!(
        outcome.turn_usage,
        Some(usage),
        "a new thread's turn usage is its cumulative usage"
    );
    assert!(outcome.status.success());

    let reqs = fake.responses_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].last_user_text().as_deref(), Some("Say hello"));

    // The rollout file of the thread exists where CodexHome says, with the usage we computed.
    let codex_home = CodexHome::new(home.path());
    let rollout = codex_home
        .find_rollout(&thread_id)
        .expect("search")
        .expect("rollout file");
    assert_eq!(
        codex_client::exec::cumulative_usage_from_rollout(&rollout).expect("read"),
        Some(usage)
    );
    // `codex exec` (0.169) does not append to history.jsonl; only interactive sessions do.
    assert_eq!(codex_home.history().expect("history"), (vec![], 0));
}

#[tokio::test]
async fn scripted_exec_command_becomes_a_command_execution_item() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().exec_command("echo from-the-shell", "call_1"));
    fake.enqueue(ScriptedResponse::new().text("done"));
    let home = temp_home(&fake);

    let mut run = exec(&home, "run it")
        .sandbox(SandboxMode::DangerFullAccess)
        .spawn()
        .await
        .expect("spawn");
    let events = ok_events(collect(&mut run).await);
    let outcome = run.wait().await.expect("success");

    let started: Vec<&CommandExecutionItem> = events
        .iter()
        .filter_map(|e| match e {
            ThreadEvent::ItemStarted { item } => match &item.details {
                ThreadItemDetails::CommandExecution(c) => Some(c),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let completed: Vec<&CommandExecutionItem> = events
        .iter()
        .filter_map(|e| match e {
            ThreadEvent::ItemCompleted { item } => match &item.details {
                ThreadItemDetails::CommandExecution(c) => Some(c),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 1, "{events:#?}");
    assert_eq!(started[0].status, ItemStatus::InProgress);
    assert!(
        started[0].command.contains("echo from-the-shell"),
        "{:?}",
        started[0]
    );
    assert_eq!(completed.len(), 1, "{events:#?}");
    assert_eq!(completed[0].status, ItemStatus::Completed);
    assert_eq!(completed[0].exit_code, Some(0));
    assert_eq!(completed[0].aggregated_output.trim(), "from-the-shell");
    assert_eq!(outcome.last_agent_message.as_deref(), Some("done"));

    let reqs = fake.responses_requests();
    assert_eq!(reqs.len(), 2);
    let output = reqs[1]
        .function_call_output("call_1")
        .expect("function_call_output for call_1");
    assert!(output.contains("from-the-shell"), "{output}");
}

#[tokio::test]
async fn http_400_is_a_typed_turn_failure_with_the_exit_code() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::http_error(
        400,
        json!({"error": {"message": "bad request: unsupported parameter", "type": "invalid_request_error"}}),
    ));
    let home = temp_home(&fake);

    let mut run = exec(&home, "fail please").spawn().await.expect("spawn");
    let events = ok_events(collect(&mut run).await);
    let failed: Vec<&ThreadError> = events
        .iter()
        .filter_map(|e| match e {
            ThreadEvent::TurnFailed { error } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{events:#?}");
    assert!(
        failed[0].message.contains("400") || failed[0].message.contains("unsupported parameter"),
        "{failed:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ThreadEvent::Error { .. })),
        "an error event precedes turn.failed"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ThreadEvent::TurnCompleted { .. }))
    );

    match run.wait().await {
        Err(Error::TurnFailed {
            message, status, ..
        }) => {
            assert_eq!(message, failed[0].message);
            assert_eq!(status, Some(1));
        }
        other => panic!("expected TurnFailed, got {other:?}"),
    }
}

/// Processes (not zombies) whose command line contains `needle`.
fn processes_matching(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rfind(')')
                    .map(|i| s[i + 1..].trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if cmdline.contains(needle) && !zombie {
            out.push(pid);
        }
    }
    out
}

async fn poll_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cancel_kills_codex_and_the_commands_it_started() {
    let fake = FakeResponses::start();
    // A unique duration marks our grandchild among every process on the machine.
    let marker = format!("sleep {}", 700_000 + std::process::id());
    fake.enqueue(
        ScriptedResponse::new().exec_command(&format!("sh -c '{marker} & wait'"), "call_1"),
    );
    let home = temp_home(&fake);

    let mut run = exec(&home, "start a long command")
        .sandbox(SandboxMode::DangerFullAccess)
        .spawn()
        .await
        .expect("spawn");
    let pgid = run.pid().expect("pid");
    // Wait (bounded) for the command item to start, then for the grandchild to exist.
    tokio::time::timeout(RUN_TIMEOUT, async {
        loop {
            match run.next_event().await {
                Some(Ok(ThreadEvent::ItemStarted { item }))
                    if matches!(item.details, ThreadItemDetails::CommandExecution(_)) =>
                {
                    break;
                }
                Some(_) => {}
                None => panic!("stream ended before the command started"),
            }
        }
    })
    .await
    .expect("command never started");
    poll_until(
        "the sleep grandchild to start",
        Duration::from_secs(20),
        || !processes_matching(&marker).is_empty(),
    )
    .await;

    let started = Instant::now();
    run.cancel().await;
    let cancel_took = started.elapsed();
    poll_until(
        "codex's process group to be gone",
        Duration::from_secs(1),
        || live_group_members(pgid).is_empty(),
    )
    .await;
    poll_until(
        "the sleep grandchild to be gone",
        Duration::from_secs(1),
        || processes_matching(&marker).is_empty(),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "cancel took {cancel_took:?}"
    );
    assert!(run.next_event().await.is_none(), "no events after cancel");
    assert!(matches!(run.wait().await, Err(Error::Cancelled)));
}

#[tokio::test]
async fn resume_keeps_the_thread_and_computes_per_turn_usage() {
    let fake = FakeResponses::start();
    fake.enqueue(
        ScriptedResponse::new()
            .text("first answer")
            .usage(100, 0, 10, 2),
    );
    fake.enqueue(
        ScriptedResponse::new()
            .text("second answer")
            .usage(150, 60, 20, 5),
    );
    fake.enqueue(
        ScriptedResponse::new()
            .text("third answer")
            .usage(40, 0, 4, 0),
    );
    let home = temp_home(&fake);

    let first = tokio::time::timeout(
        RUN_TIMEOUT,
        exec(&home, "one").spawn().await.expect("spawn").wait(),
    )
    .await
    .expect("in time")
    .expect("first run");
    let thread_id = first.thread_id.clone().expect("thread id");
    let first_usage = first.usage.expect("usage");
    assert_eq!(first.turn_usage, Some(first_usage));

    // Resume by id; the previous cumulative figure is read from the rollout.
    let mut run = exec(&home, "two")
        .resume(&thread_id)
        .spawn()
        .await
        .expect("spawn resume");
    let events = ok_events(collect(&mut run).await);
    assert_eq!(
        without_warnings(&events)[0],
        ThreadEvent::ThreadStarted {
            thread_id: thread_id.clone()
        },
        "resume re-emits thread.started with the same id"
    );
    assert_eq!(
        run.previous_usage(),
        Some(first_usage),
        "previous cumulative usage from the rollout"
    );
    let second = run.wait().await.expect("second run");
    assert_eq!(second.thread_id.as_deref(), Some(thread_id.as_str()));
    assert_eq!(second.last_agent_message.as_deref(), Some("second answer"));
    let turn2 = Usage {
        input_tokens: 150,
        cached_input_tokens: 60,
        cache_write_input_tokens: 0,
        output_tokens: 20,
        reasoning_output_tokens: 5,
    };
    assert_eq!(second.turn_usage, Some(turn2));
    let cumulative2 = second.usage.expect("usage");
    assert_eq!(
        cumulative2.delta_since(&first_usage),
        turn2,
        "turn.completed.usage is cumulative"
    );

    // Resume --last with the previous figure passed explicitly.
    let third = tokio::time::timeout(
        RUN_TIMEOUT,
        exec(&home, "three")
            .resume_last(false)
            .previous_usage(cumulative2)
            .spawn()
            .await
            .expect("spawn")
            .wait(),
    )
    .await
    .expect("in time")
    .expect("third run");
    assert_eq!(third.thread_id.as_deref(), Some(thread_id.as_str()));
    assert_eq!(
        third.turn_usage,
        Some(Usage {
            input_tokens: 40,
            cached_input_tokens: 0,
            cache_write_input_tokens: 0,
            output_tokens: 4,
            reasoning_output_tokens: 0
        })
    );

    // The resumed requests carry the earlier conversation.
    let reqs = fake.responses_requests();
    assert_eq!(reqs.len(), 3);
    let history = serde_json::to_string(reqs[2].input()).expect("json");
    assert!(
        history.contains("first answer") && history.contains("second answer"),
        "{history}"
    );
}

#[tokio::test]
async fn output_schema_reaches_the_provider_as_text_format() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text(r#"{"answer":42}"#));
    let home = temp_home(&fake);
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": false
    });
    let last = home.workdir().join("last-message.txt");

    let outcome = tokio::time::timeout(
        RUN_TIMEOUT,
        exec(&home, "answer in JSON")
            .output_schema(schema.clone())
            .output_last_message(&last)
            .spawn()
            .await
            .expect("spawn")
            .wait(),
    )
    .await
    .expect("in time")
    .expect("success");
    assert_eq!(
        outcome.last_agent_message.as_deref(),
        Some(r#"{"answer":42}"#)
    );
    assert_eq!(
        std::fs::read_to_string(&last).expect("-o file").trim(),
        r#"{"answer":42}"#
    );

    let reqs = fake.responses_requests();
    let format = &reqs[0].body["text"]["format"];
    assert_eq!(format["type"], "json_schema", "{format:#}");
    assert_eq!(format["schema"], schema, "{format:#}");
}

#[tokio::test]
async fn idle_timeout_kills_a_silent_run() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().hang_after_created());
    let home = temp_home(&fake);

    let mut run = exec(&home, "hang")
        .idle_timeout(Duration::from_secs(2))
        .spawn()
        .await
        .expect("spawn");
    let pgid = run.pid().expect("pid");
    let events = collect(&mut run).await;
    let (last, before) = events.split_last().expect("some events");
    assert!(
        matches!(last, Err(Error::IdleTimeout { after, .. }) if *after == Duration::from_secs(2)),
        "{last:?}"
    );
    assert!(
        before
            .iter()
            .any(|e| matches!(e, Ok(ThreadEvent::TurnStarted))),
        "the turn started before the silence: {before:?}"
    );
    assert!(
        live_group_members(pgid).is_empty(),
        "the process group is gone after the timeout"
    );
    assert!(matches!(run.wait().await, Err(Error::IdleTimeout { .. })));
    // The provider saw the client go away.
    fake.wait_for_disconnects(1, Duration::from_secs(10));
}

/// Reader robustness: a child that prints garbage, an unknown event and a valid event, then
/// exits 3. Codex itself never prints non-JSON on stdout under `--json`, so this one test stands a
/// tiny script in for the binary to exercise what the reader does when that contract breaks.
#[tokio::test]
async fn non_json_lines_are_errors_carrying_the_line_and_the_stream_goes_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = tmp.path().join("codex");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat >/dev/null\necho 'this is not json'\necho '{\"type\":\"brand.new\",\"x\":1}'\necho '{\"type\":\"thread.started\",\"thread_id\":\"t1\"}'\necho 'bad things' >&2\nexit 3\n",
    )
    .expect("write script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = CodexBinary::with_version(&script, CodexVersion::pinned());
    let mut run = ExecBuilder::new(&bin, &CodexHome::new(tmp.path()))
        .prompt("x")
        .spawn()
        .await
        .expect("spawn");
    let events = collect(&mut run).await;
    assert_eq!(events.len(), 3);
    assert!(matches!(&events[0], Err(Error::Decode { line, .. }) if line == "this is not json"));
    assert!(matches!(&events[1], Ok(ThreadEvent::Unknown(v)) if v["type"] == "brand.new"));
    assert!(
        matches!(&events[2], Ok(ThreadEvent::ThreadStarted { thread_id }) if thread_id == "t1")
    );
    match run.wait().await {
        Err(Error::Exited {
            status,
            stderr_tail,
        }) => {
            assert_eq!(status, Some(3));
            assert!(stderr_tail.contains("bad things"), "{stderr_tail}");
        }
        other => panic!("expected Exited, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_binary_is_a_spawn_error_naming_it() {
    let bin = CodexBinary::with_version(Path::new("/nonexistent/codex"), CodexVersion::pinned());
    let err = ExecBuilder::new(&bin, &CodexHome::new("/tmp"))
        .prompt("x")
        .spawn()
        .await
        .expect_err("no binary");
    assert!(
        matches!(err, Error::Spawn { ref program, .. } if program == Path::new("/nonexistent/codex")),
        "{err:?}"
    );
}

#[tokio::test]
async fn fork_starts_a_new_thread_with_the_old_history_and_resume_accepts_top_level_options() {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("original answer"));
    fake.enqueue(ScriptedResponse::new().text("forked answer"));
    fake.enqueue(ScriptedResponse::new().text("resumed with options"));
    let home = temp_home(&fake);

    let first = tokio::time::timeout(
        RUN_TIMEOUT,
        exec(&home, "one").spawn().await.expect("spawn").wait(),
    )
    .await
    .expect("in time")
    .expect("first run");
    let original = first.thread_id.expect("thread id");

    let forked = tokio::time::timeout(
        RUN_TIMEOUT,
        exec(&home, "two")
            .fork(&original)
            .spawn()
            .await
            .expect("spawn fork")
            .wait(),
    )
    .await
    .expect("in time")
    .expect("fork run");
    let fork_id = forked.thread_id.expect("fork thread id");
    assert_ne!(fork_id, original, "a fork is a new thread");
    assert_eq!(forked.last_agent_message.as_deref(), Some("forked answer"));
    let reqs = fake.responses_requests();
    let history = serde_json::to_string(reqs[1].input()).expect("json");
    assert!(
        history.contains("original answer"),
        "the fork carries the history: {history}"
    );

    // Options `exec resume` itself rejects (-s, -C, --add-dir) are placed before `resume`, where
    // the CLI accepts them.
    let resumed = tokio::time::timeout(
        RUN_TIMEOUT,
        exec(&home, "three")
            .sandbox(SandboxMode::WorkspaceWrite)
            .cd(home.workdir())
            .add_dir(home.path())
            .skip_git_repo_check(true)
            .resume(&original)
            .spawn()
            .await
            .expect("spawn resume")
            .wait(),
    )
    .await
    .expect("in time")
    .expect("resume with options");
    assert_eq!(resumed.thread_id.as_deref(), Some(original.as_str()));
    assert_eq!(
        resumed.last_agent_message.as_deref(),
        Some("resumed with options")
    );
}
