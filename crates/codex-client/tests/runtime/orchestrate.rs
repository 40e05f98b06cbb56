//! The orchestration API against the real app-server: an approval routed to a handler that
//! accepts (the command runs), one that drops the request (declined: it does not run), and a
//! cancelled turn whose open approval is cancelled.

use anyhow::{Context, Result, bail};
use codex_client::Error;
use codex_client::app_server::orchestrate::{Orchestrator, TurnEvent};
use codex_client::app_server::requests::{ThreadStart, ThreadStartParams, TurnStartParams};
use codex_client::app_server::{
    AppServerBuilder, AskForApproval, SandboxMode, ServerRequestParams, ThreadItem, TurnStatus,
};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};

use super::common::WAIT;

async fn orchestrator(home: &TempCodexHome) -> Result<(Orchestrator, String)> {
    let spawned = AppServerBuilder::new(test_support::codex_bin(), home.path())
        .envs(home.env())
        .current_dir(home.workdir())
        .request_timeout(WAIT)
        .initialize_timeout(WAIT)
        .spawn()
        .await?;
    let (orch, mut unrouted) = Orchestrator::new(spawned.0, spawned.1);
    tokio::spawn(async move { while unrouted.recv().await.is_some() {} });
    let thread = orch
        .server()
        .call::<ThreadStart>(ThreadStartParams {
            cwd: Some(home.workdir().display().to_string()),
            // Approval from the policy; no sandbox (see tests/app_server.rs for why).
            approval_policy: Some(AskForApproval::Untrusted),
            sandbox: Some(SandboxMode::DangerFullAccess),
            ..Default::default()
        })
        .await?
        .thread
        .id;
    Ok((orch, thread))
}

fn command_ran(items: &[ThreadItem]) -> bool {
    items
        .iter()
        .any(|i| matches!(i, ThreadItem::CommandExecution { .. }))
}

#[tokio::test]
async fn a_handler_that_accepts_runs_the_command() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().exec_command("printf yes > accepted.txt", "call-1"));
    fake.enqueue(ScriptedResponse::new().text("accepted and done"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let (orch, thread) = orchestrator(&home).await?;
    let mut seen = Vec::new();
    let outcome = orch
        .run_turn(TurnStartParams::text(&thread, "make the file"), |req| {
            seen.push(req.request.method.clone());
            async move {
                assert!(matches!(
                    req.request.params,
                    ServerRequestParams::CommandExecutionApproval(_)
                ));
                req.accept().await.expect("accept");
            }
        })
        .await?;
    assert_eq!(seen, vec!["item/commandExecution/requestApproval"]);
    assert_eq!(outcome.turn.status, TurnStatus::Completed);
    assert_eq!(outcome.agent_text, "accepted and done");
    assert!(command_ran(&outcome.items), "{:?}", outcome.items);
    assert_eq!(
        std::fs::read_to_string(home.workdir().join("accepted.txt"))?,
        "yes"
    );
    Ok(())
}

#[tokio::test]
async fn a_handler_that_drops_the_request_declines_it() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().exec_command("printf no > declined.txt", "call-2"));
    fake.enqueue(ScriptedResponse::new().text("declined, moving on"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let (orch, thread) = orchestrator(&home).await?;
    let outcome = orch
        .run_turn(TurnStartParams::text(&thread, "make the file"), |req| {
            // A UI that went away: the request is dropped unanswered.
            drop(req);
            async {}
        })
        .await?;
    assert_eq!(outcome.turn.status, TurnStatus::Completed);
    assert_eq!(outcome.agent_text, "declined, moving on");
    assert!(
        !home.workdir().join("declined.txt").exists(),
        "declined: not run"
    );
    // The model was told the command was not run.
    let requests = fake.wait_for_responses_requests(2, WAIT);
    let output = requests[1]
        .function_call_output("call-2")
        .context("the model got an output for the declined call")?;
    assert!(!output.contains("Process exited with code 0"), "{output}");
    Ok(())
}

#[tokio::test]
async fn cancelling_a_turn_cancels_its_open_request() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().exec_command("printf late > cancelled.txt", "call-3"));
    fake.enqueue(ScriptedResponse::new().text("should not matter"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let (orch, thread) = orchestrator(&home).await?;
    let mut run = orch
        .start_turn(TurnStartParams::text(&thread, "make the file"))
        .await?;
    // Hold the approval as a slow human would, then cancel the turn.
    let held = loop {
        match tokio::time::timeout(WAIT, run.next()).await? {
            Some(Ok(TurnEvent::Request(r))) => break r,
            Some(Ok(TurnEvent::Notification(_))) => {}
            other => bail!("expected the approval request, got {other:?}"),
        }
    };
    let late = held.responder();
    run.cancel().await?;
    let outcome = loop {
        match tokio::time::timeout(WAIT, run.next()).await? {
            Some(Ok(TurnEvent::Completed(o))) => break o,
            Some(Ok(_)) => {}
            other => bail!("expected completion, got {other:?}"),
        }
    };
    assert_eq!(outcome.turn.status, TurnStatus::Interrupted);
    // The human's late answer is refused: the request was already cancelled.
    let err = late
        .respond_command_approval(codex_client::app_server::CommandApprovalDecision::Accept)
        .await
        .err()
        .context("a late accept must fail")?;
    assert!(matches!(err, Error::AlreadyAnswered { .. }), "{err:?}");
    drop(held);
    assert!(
        !home.workdir().join("cancelled.txt").exists(),
        "cancelled: not run"
    );
    Ok(())
}
