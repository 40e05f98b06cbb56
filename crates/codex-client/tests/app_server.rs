//! `codex app-server` end to end: the REAL pinned Codex CLI against the loopback fake of the
//! Responses API (test-support's `FakeResponses`), through this crate's client.
//!
//! Covers the issue's "Done when": thread start -> turn start -> command approval request ->
//! accept (the command ran) / decline (it did not) -> turn completed; interrupt; a crash of the
//! process surfaced as `Exited`; and the typed requests decoding what 0.169 really answers.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use codex_client::Error;
use codex_client::app_server::items::CommandExecutionStatus;
use codex_client::app_server::requests::*;
use codex_client::app_server::thread::ReviewTarget;
use codex_client::app_server::{
    AppServer, AppServerBuilder, AppServerEvent, AskForApproval, CommandApprovalDecision,
    SandboxMode, SandboxPolicy, ServerNotification, ServerRequest, ServerRequestParams, ThreadItem,
    TurnStatus, UserInput,
};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};
use tokio::sync::mpsc::Receiver;

/// Upper bound for any single wait on Codex (first start of the binary can be slow on CI).
const WAIT: Duration = Duration::from_secs(60);

struct Session {
    server: AppServer,
    events: Receiver<AppServerEvent>,
    /// One line per event seen so far, for failure messages.
    log: Vec<String>,
}

fn describe(ev: &AppServerEvent) -> String {
    match ev {
        AppServerEvent::Notification(ServerNotification::Unknown { method, .. }) => {
            format!("unknown {method}")
        }
        AppServerEvent::Notification(n) => format!("notification {}", n.method()),
        AppServerEvent::Request(r) => format!("request {} id={}", r.method, r.id),
        AppServerEvent::Malformed { line, .. } => format!("malformed {line}"),
        AppServerEvent::Exited {
            status,
            stderr_tail,
        } => format!("exited {status:?}: {stderr_tail}"),
        other => format!("{other:?}"),
    }
}

impl Session {
    async fn start(home: &TempCodexHome) -> Result<Session> {
        let (server, events) = AppServerBuilder::new(test_support::codex_bin(), home.path())
            .envs(home.env())
            .current_dir(home.workdir())
            .client_info("codex-client-tests", "0.0.0")
            .request_timeout(WAIT)
            .initialize_timeout(WAIT)
            .spawn()
            .await?;
        Ok(Session {
            server,
            events,
            log: Vec::new(),
        })
    }

    /// Wait (bounded) for the first event `pick` accepts; every event is logged.
    async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&AppServerEvent) -> Option<T>,
    ) -> Result<T> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => bail!(
                    "event stream ended while waiting for {what}; saw:\n{}",
                    self.log.join("\n")
                ),
                Err(_) => bail!(
                    "timed out waiting for {what}; saw:\n{}",
                    self.log.join("\n")
                ),
            };
            self.log.push(describe(&ev));
            if let Some(t) = pick(&ev) {
                return Ok(t);
            }
            if let AppServerEvent::Exited { .. } = ev {
                bail!(
                    "app-server exited while waiting for {what}; saw:\n{}",
                    self.log.join("\n")
                );
            }
        }
    }

    async fn wait_request(&mut self) -> Result<ServerRequest> {
        let mut slot = None;
        self.wait_for("a server request", |ev| match ev {
            AppServerEvent::Request(r) => {
                slot = Some(r.clone());
                Some(())
            }
            _ => None,
        })
        .await?;
        slot.context("request")
    }

    /// Waits for `turn/completed`, returning it and every `item/completed` seen before it.
    async fn wait_turn_completed(&mut self) -> Result<(TurnNotificationSummary, Vec<ThreadItem>)> {
        let mut items = Vec::new();
        let done = self
            .wait_for("turn/completed", |ev| match ev {
                AppServerEvent::Notification(ServerNotification::ItemCompleted(i)) => {
                    items.push(i.item.clone());
                    None
                }
                AppServerEvent::Notification(ServerNotification::TurnCompleted(t)) => {
                    Some(TurnNotificationSummary {
                        turn_id: t.turn.id.clone(),
                        status: t.turn.status.clone(),
                    })
                }
                _ => None,
            })
            .await?;
        Ok((done, items))
    }

    async fn start_thread(
        &mut self,
        home: &TempCodexHome,
        policy: AskForApproval,
        sandbox: SandboxMode,
    ) -> Result<String> {
        let started = self
            .server
            .call::<ThreadStart>(ThreadStartParams {
                cwd: Some(home.workdir().display().to_string()),
                approval_policy: Some(policy),
                sandbox: Some(sandbox),
                ..Default::default()
            })
            .await?;
        Ok(started.thread.id)
    }
}

#[derive(Debug)]
struct TurnNotificationSummary {
    turn_id: String,
    status: TurnStatus,
}

fn home_for(fake: &FakeResponses) -> TempCodexHome {
    CodexHomeBuilder::new(&fake.base_url()).build()
}

#[tokio::test]
async fn approval_accept_runs_the_command_and_its_output_reaches_the_model() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().exec_command(
        "printf created > approved.txt && echo ran-ok",
        "call-accept",
    ));
    fake.enqueue(ScriptedResponse::new().text("all done"));
    let home = home_for(&fake);
    let mut s = Session::start(&home).await?;
    let thread_id = s
        .start_thread(
            &home,
            AskForApproval::Untrusted,
            // Approval comes from the policy; the sandbox is off because 0.169's bubblewrap
            // helper intermittently fails to start ("bwrap: execvp codex-linux-sandbox: No such
            // file or directory"), which would make the accepted command fail for reasons
            // unrelated to approvals.
            SandboxMode::DangerFullAccess,
        )
        .await?;

    let turn = s
        .server
        .call::<TurnStart>(TurnStartParams::text(&thread_id, "create the file"))
        .await?;
    assert_eq!(turn.turn.status, TurnStatus::InProgress);

    let req = s.wait_request().await?;
    assert_eq!(req.method, "item/commandExecution/requestApproval");
    assert_eq!(req.thread_id(), Some(thread_id.as_str()));
    let ServerRequestParams::CommandExecutionApproval(p) = &req.params else {
        bail!("expected a command approval, got {:?}", req.params);
    };
    assert_eq!(p.turn_id, turn.turn.id);
    assert!(
        p.command
            .as_deref()
            .is_some_and(|c| c.contains("approved.txt")),
        "approval names the command: {p:?}"
    );
    // Nothing ran before we answered.
    assert!(!home.workdir().join("approved.txt").exists());
    req.responder()
        .respond_command_approval(CommandApprovalDecision::Accept)
        .await?;

    let (done, items) = s.wait_turn_completed().await?;
    assert_eq!(done.status, TurnStatus::Completed, "events: {:#?}", s.log);
    assert_eq!(done.turn_id, turn.turn.id);
    assert_eq!(
        std::fs::read_to_string(home.workdir().join("approved.txt"))
            .with_context(|| format!("approved.txt; items: {items:#?}; events: {:#?}", s.log))?,
        "created"
    );
    let cmd = items
        .iter()
        .find_map(|i| match i {
            ThreadItem::CommandExecution {
                status,
                aggregated_output,
                exit_code,
                ..
            } => Some((status.clone(), aggregated_output.clone(), *exit_code)),
            _ => None,
        })
        .context("a commandExecution item completed")?;
    assert_eq!(cmd.0, CommandExecutionStatus::Completed);
    assert_eq!(cmd.2, Some(0));
    assert!(cmd.1.unwrap_or_default().contains("ran-ok"));
    assert!(
        items
            .iter()
            .any(|i| matches!(i, ThreadItem::AgentMessage { text, .. } if text == "all done"))
    );
    assert!(
        s.log
            .iter()
            .any(|l| l == "notification serverRequest/resolved"),
        "{:#?}",
        s.log
    );

    let requests = fake.wait_for_requests_async(2, WAIT).await;
    let output = requests[1]
        .function_call_output("call-accept")
        .context("the second model request carries the command output")?;
    assert!(output.contains("ran-ok"), "{output}");

    s.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn approval_decline_does_not_run_the_command() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().exec_command("printf x > declined.txt", "call-decline"));
    fake.enqueue(ScriptedResponse::new().text("ok, I will not"));
    let home = home_for(&fake);
    let mut s = Session::start(&home).await?;
    let thread_id = s
        .start_thread(
            &home,
            AskForApproval::Untrusted,
            // Approval comes from the policy; the sandbox is off because 0.169's bubblewrap
            // helper intermittently fails to start ("bwrap: execvp codex-linux-sandbox: No such
            // file or directory"), which would make the accepted command fail for reasons
            // unrelated to approvals.
            SandboxMode::DangerFullAccess,
        )
        .await?;
    s.server
        .call::<TurnStart>(TurnStartParams::text(&thread_id, "try to write"))
        .await?;

    let req = s.wait_request().await?;
    assert!(
        matches!(req.params, ServerRequestParams::CommandExecutionApproval(_)),
        "{req:?}"
    );
    req.responder()
        .respond_command_approval(CommandApprovalDecision::Decline)
        .await?;

    let (done, items) = s.wait_turn_completed().await?;
    assert_eq!(done.status, TurnStatus::Completed, "events: {:#?}", s.log);
    assert!(
        !home.workdir().join("declined.txt").exists(),
        "declined command must not run"
    );
    assert!(
        items.iter().any(|i| matches!(
            i,
            ThreadItem::CommandExecution {
                status: CommandExecutionStatus::Declined,
                ..
            }
        )),
        "the command item completes as declined: {items:#?}"
    );
    // The model is told the command was declined (a function_call_output), and the turn goes on.
    let requests = fake.wait_for_requests_async(2, WAIT).await;
    assert!(requests[1].function_call_output("call-decline").is_some());
    s.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn interrupt_ends_the_turn_as_interrupted() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().hang_after_created());
    let home = home_for(&fake);
    let mut s = Session::start(&home).await?;
    let thread_id = s
        .start_thread(&home, AskForApproval::Never, SandboxMode::ReadOnly)
        .await?;
    let turn = s
        .server
        .call::<TurnStart>(TurnStartParams::text(&thread_id, "think forever"))
        .await?;
    // The model request is in flight (and hanging) before we interrupt.
    fake.wait_for_requests_async(1, WAIT).await;

    s.server
        .call::<TurnInterrupt>(TurnInterruptParams {
            thread_id: thread_id.clone(),
            turn_id: turn.turn.id.clone(),
        })
        .await?;
    let (done, _) = s.wait_turn_completed().await?;
    assert_eq!(done.turn_id, turn.turn.id);
    assert_eq!(done.status, TurnStatus::Interrupted);
    // Codex dropped the hanging stream.
    fake.wait_for_disconnects(1, WAIT);
    s.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn killed_process_is_surfaced_and_calls_fail_clearly() -> Result<()> {
    let fake = FakeResponses::start();
    let home = home_for(&fake);
    let mut s = Session::start(&home).await?;
    let pid = s.server.pid().context("pid")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid)?),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let (status, _tail) = s
        .wait_for("Exited", |ev| match ev {
            AppServerEvent::Exited {
                status,
                stderr_tail,
            } => Some((*status, stderr_tail.clone())),
            _ => None,
        })
        .await?;
    assert_eq!(status, None, "killed by a signal, so no exit code");
    let err = s
        .server
        .call::<ThreadList>(ThreadListParams::default())
        .await
        .expect_err("the process is gone");
    assert!(matches!(err, Error::Closed { .. }), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn typed_requests_decode_what_the_pinned_server_answers() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("first answer"));
    let home = home_for(&fake);
    let mut s = Session::start(&home).await?;
    let init = s.server.initialize_response().clone();
    assert!(init.user_agent.contains("codex-client-tests"), "{init:?}");
    assert_eq!(
        std::fs::canonicalize(&init.codex_home)?,
        std::fs::canonicalize(home.path())?
    );

    let thread_id = s
        .start_thread(&home, AskForApproval::Never, SandboxMode::ReadOnly)
        .await?;
    s.server
        .call::<TurnStart>(TurnStartParams::text(&thread_id, "hello"))
        .await?;
    let (done, _) = s.wait_turn_completed().await?;
    assert_eq!(done.status, TurnStatus::Completed);

    s.server
        .call::<ThreadSetName>(ThreadSetNameParams {
            thread_id: thread_id.clone(),
            name: "named".into(),
        })
        .await?;
    let named = s
        .wait_for("thread/name/updated", |ev| match ev {
            AppServerEvent::Notification(ServerNotification::ThreadNameUpdated(n)) => {
                Some(n.clone())
            }
            _ => None,
        })
        .await?;
    assert_eq!(named.thread_id, thread_id);
    assert_eq!(named.thread_name.as_deref(), Some("named"));

    let read = s
        .server
        .call::<ThreadRead>(ThreadReadParams {
            thread_id: thread_id.clone(),
            include_turns: Some(true),
        })
        .await?;
    assert_eq!(read.thread.id, thread_id);
    assert_eq!(read.thread.name.as_deref(), Some("named"));
    assert_eq!(read.thread.turns.len(), 1);
    assert!(
        read.thread.turns[0]
            .items
            .iter()
            .any(|i| matches!(i, ThreadItem::AgentMessage { text, .. } if text == "first answer"))
    );

    let list = s
        .server
        .call::<ThreadList>(ThreadListParams::default())
        .await?;
    // app-server threads are recorded with source "vscode", an interactive source that the
    // default listing includes.
    assert_eq!(read.thread.source, "vscode");
    assert!(list.data.iter().any(|t| t.id == thread_id), "{list:?}");

    let fork = s
        .server
        .call::<ThreadFork>(ThreadForkParams {
            thread_id: thread_id.clone(),
            ..Default::default()
        })
        .await?;
    assert_ne!(fork.thread.id, thread_id);
    assert_eq!(
        fork.thread.forked_from_id.as_deref(),
        Some(thread_id.as_str())
    );

    s.server
        .call::<ThreadArchive>(ThreadIdParams {
            thread_id: fork.thread.id.clone(),
        })
        .await?;
    let archived = s
        .server
        .call::<ThreadList>(ThreadListParams {
            archived: Some(true),
            ..Default::default()
        })
        .await?;
    assert!(
        archived.data.iter().any(|t| t.id == fork.thread.id),
        "{archived:?}"
    );
    let unarchived = s
        .server
        .call::<ThreadUnarchive>(ThreadIdParams {
            thread_id: fork.thread.id.clone(),
        })
        .await?;
    assert_eq!(unarchived.thread.id, fork.thread.id);

    let models = s
        .server
        .call::<ModelList>(ModelListParams::default())
        .await?;
    assert!(!models.data.is_empty());
    let config = s
        .server
        .call::<ConfigRead>(ConfigReadParams::default())
        .await?;
    assert_eq!(config.config["model"], "gpt-oss-20b");
    assert_eq!(config.config["model_provider"], "local");
    let mcp = s
        .server
        .call::<McpServerStatusList>(McpServerStatusListParams::default())
        .await?;
    assert!(mcp.data.is_empty(), "no MCP servers configured: {mcp:?}");
    let account = s
        .server
        .call::<AccountRead>(AccountReadParams::default())
        .await?;
    assert_eq!(account.account, None, "no login in a temp home");

    s.server.shutdown().await?;
    assert!(s.server.has_exited());
    Ok(())
}

#[tokio::test]
async fn overrides_steer_interrupt_revert_compact_review_then_resume_in_a_new_process() -> Result<()>
{
    let fake = FakeResponses::start();
    let home = home_for(&fake);
    let mut s = Session::start(&home).await?;
    let thread_id = s
        .start_thread(&home, AskForApproval::Never, SandboxMode::ReadOnly)
        .await?;

    // Per-turn overrides reach the model request.
    fake.enqueue(ScriptedResponse::new().text("one"));
    let t1 = s
        .server
        .call::<TurnStart>(TurnStartParams {
            model: Some("gpt-oss-120b".into()),
            effort: Some("high".into()),
            approval_policy: Some(AskForApproval::OnRequest),
            sandbox_policy: Some(SandboxPolicy::ReadOnly {
                network_access: false,
            }),
            ..TurnStartParams::text(&thread_id, "first")
        })
        .await?;
    let (d1, _) = s.wait_turn_completed().await?;
    assert_eq!(d1.status, TurnStatus::Completed);
    let reqs = fake.wait_for_requests_async(1, WAIT).await;
    assert_eq!(reqs[0].body["model"], "gpt-oss-120b");
    assert_eq!(reqs[0].body["reasoning"]["effort"], "high");

    // Steer the active (hanging) turn, then interrupt it.
    fake.enqueue(ScriptedResponse::new().hang_after_created());
    let t2 = s
        .server
        .call::<TurnStart>(TurnStartParams::text(&thread_id, "second"))
        .await?;
    fake.wait_for_requests_async(2, WAIT).await;
    let steer = s
        .server
        .call::<TurnSteer>(TurnSteerParams {
            thread_id: thread_id.clone(),
            input: vec![UserInput::text("more")],
            expected_turn_id: t2.turn.id.clone(),
            client_user_message_id: None,
        })
        .await?;
    assert_eq!(steer.turn_id, t2.turn.id);
    s.server
        .call::<TurnInterrupt>(TurnInterruptParams {
            thread_id: thread_id.clone(),
            turn_id: t2.turn.id.clone(),
        })
        .await?;
    let (d2, _) = s.wait_turn_completed().await?;
    assert_eq!(
        (d2.turn_id.as_str(), d2.status),
        (t2.turn.id.as_str(), TurnStatus::Interrupted)
    );

    // Rollback (0.169: thread/revert) drops the interrupted turn from the history.
    let reverted = s
        .server
        .call::<ThreadRollback>(ThreadRevertParams {
            thread_id: thread_id.clone(),
            before_turn_id: t2.turn.id.clone(),
        })
        .await?;
    assert_eq!(reverted.thread.id, thread_id);
    let read = s
        .server
        .call::<ThreadRead>(ThreadReadParams {
            thread_id: thread_id.clone(),
            include_turns: Some(true),
        })
        .await?;
    let turn_ids: Vec<&str> = read.thread.turns.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(turn_ids, [t1.turn.id.as_str()]);

    // Without a ChatGPT login the rate limits are refused with a typed RPC error.
    let err = s
        .server
        .call::<AccountRateLimitsRead>(AccountRateLimitsReadParams::default())
        .await
        .expect_err("no account in a temp home");
    assert!(
        matches!(&err, Error::Rpc { method, code: -32600, .. } if method == "account/rateLimits/read"),
        "{err:?}"
    );

    // Compaction runs as a turn whose item is a contextCompaction.
    fake.enqueue(ScriptedResponse::new().text("summary of the conversation"));
    s.server
        .call::<ThreadCompactStart>(ThreadIdParams {
            thread_id: thread_id.clone(),
        })
        .await?;
    let (dc, items) = s.wait_turn_completed().await?;
    assert_eq!(dc.status, TurnStatus::Completed);
    assert!(
        items
            .iter()
            .any(|i| matches!(i, ThreadItem::ContextCompaction { .. })),
        "{items:#?}"
    );

    // An inline review: entered/exited review mode items around the reviewer's answer.
    fake.enqueue(ScriptedResponse::new().text(
        r#"{"findings":[],"overall_correctness":"patch is correct","overall_explanation":"looks fine","overall_confidence_score":0.9}"#,
    ));
    let review = s
        .server
        .call::<ReviewStart>(ReviewStartParams {
            thread_id: thread_id.clone(),
            target: ReviewTarget::Custom {
                instructions: "check the README".into(),
            },
            delivery: None,
        })
        .await?;
    assert_eq!(review.review_thread_id, thread_id);
    let (dr, items) = s.wait_turn_completed().await?;
    assert_eq!(
        (dr.turn_id.as_str(), dr.status),
        (review.turn.id.as_str(), TurnStatus::Completed)
    );
    assert!(items.iter().any(|i| matches!(i, ThreadItem::EnteredReviewMode { review, .. } if review == "check the README")));
    assert!(items.iter().any(
        |i| matches!(i, ThreadItem::ExitedReviewMode { review, .. } if review == "looks fine")
    ));

    // The real server sends notifications this crate does not type: surfaced, not fatal.
    assert!(
        s.log.iter().any(|l| l.starts_with("unknown ")),
        "expected at least one untyped notification: {:#?}",
        s.log
    );
    s.server.shutdown().await?;

    // A new process resumes the persisted thread; its history reaches the next model request.
    let mut s2 = Session::start(&home).await?;
    let resumed = s2
        .server
        .call::<ThreadResume>(ThreadResumeParams {
            thread_id: thread_id.clone(),
            ..Default::default()
        })
        .await?;
    assert_eq!(resumed.thread.id, thread_id);
    assert_eq!(
        resumed.thread.turns.first().map(|t| t.id.as_str()),
        Some(t1.turn.id.as_str())
    );
    fake.enqueue(ScriptedResponse::new().text("after"));
    s2.server
        .call::<TurnStart>(TurnStartParams::text(&thread_id, "after resume"))
        .await?;
    let (d3, _) = s2.wait_turn_completed().await?;
    assert_eq!(d3.status, TurnStatus::Completed);
    let last = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/responses"))
        .context("a model request")?;
    assert_eq!(last.last_user_text().as_deref(), Some("after resume"));
    assert!(
        serde_json::to_string(last.input())?.contains("summary of the conversation"),
        "the compacted history is carried over the resume"
    );
    s2.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn on_request_escalation_asks_and_accept_runs_the_command() -> Result<()> {
    // Under "on-request" a sandboxed command runs without asking; the model must ask for
    // escalation (`sandbox_permissions: "require_escalated"`), which becomes an approval request.
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().function_call(
        "exec_command",
        serde_json::json!({
            "cmd": "printf e > escalated.txt && echo escalated-ok",
            "sandbox_permissions": "require_escalated",
            "justification": "need to write outside the sandbox",
            "yield_time_ms": 10000
        }),
        "call-esc",
    ));
    fake.enqueue(ScriptedResponse::new().text("done"));
    let home = home_for(&fake);
    let mut s = Session::start(&home).await?;
    let thread_id = s
        .start_thread(
            &home,
            AskForApproval::OnRequest,
            SandboxMode::WorkspaceWrite,
        )
        .await?;
    s.server
        .call::<TurnStart>(TurnStartParams::text(&thread_id, "write it"))
        .await?;

    let req = s.wait_request().await?;
    let ServerRequestParams::CommandExecutionApproval(p) = &req.params else {
        bail!("expected a command approval, got {req:?}");
    };
    assert_eq!(p.item_id, "call-esc");
    assert_eq!(
        p.reason.as_deref(),
        Some("need to write outside the sandbox")
    );
    // 0.169 also lists the decisions it will take for this request (raw: experimental field).
    assert!(
        req.raw_params["availableDecisions"].is_array(),
        "{:?}",
        req.raw_params
    );
    assert!(!home.workdir().join("escalated.txt").exists());
    req.responder()
        .respond_command_approval(CommandApprovalDecision::Accept)
        .await?;

    let (done, _) = s.wait_turn_completed().await?;
    assert_eq!(done.status, TurnStatus::Completed);
    assert_eq!(
        std::fs::read_to_string(home.workdir().join("escalated.txt"))?,
        "e"
    );
    let requests = fake.wait_for_requests_async(2, WAIT).await;
    let out = requests[1]
        .function_call_output("call-esc")
        .context("the command output goes back to the model")?;
    assert!(out.contains("escalated-ok"), "{out}");
    s.server.shutdown().await?;
    Ok(())
}
