//! End-to-end: file-change approval with its diff, plan updates, rename, approval policy change
//! mid-session, interrupt — against the real pinned Codex app-server and the fake model.

#![allow(clippy::unwrap_used)]

use crate::common;

use anyhow::{Context, Result};
use common::{Harness, is_turn_ended};
use orbitdock_protocol::{
    ApprovalKind, FileChangeKind, ItemBody, ItemsPage, ServerMessage, SessionDelta, SessionState,
    SessionStatus,
};
use serde_json::json;
use test_support::ScriptedResponse;

const PATCH_CMD: &str = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: hello.txt\n+hello world\n*** End Patch\nEOF\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_change_approval_plan_rename_and_policy_change() -> Result<()> {
    let h = Harness::start().await?;
    h.fake.enqueue(
        ScriptedResponse::new()
            .function_call(
                "update_plan",
                json!({"explanation": "two steps", "plan": [
                    {"step": "write hello.txt", "status": "in_progress"},
                    {"step": "report", "status": "pending"}]}),
                "call-plan",
            )
            .exec_command(PATCH_CMD, "call-patch"),
    );
    h.fake.enqueue(ScriptedResponse::new().text("patched"));

    let created = h
        .create(json!({"cwd": h.workdir(), "approval_policy": "untrusted", "sandbox_mode": "workspace-write"}))
        .await?;
    let id = created.summary.id.clone();
    let mut ws = h.ws().await?;
    ws.subscribe(&id, None).await?;
    ws.wait_for("snapshot", |m| {
        matches!(m, ServerMessage::SessionSnapshot { .. })
    })
    .await?;
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "make hello.txt"}),
        )
        .await?;

    let approval = ws.wait_approval("approval", &id).await?;
    assert!(!h.home.workdir().join("hello.txt").exists());
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/approvals/{}", approval.request_id),
            &json!({"decision": "accept"}),
        )
        .await?;
    // A second approval may follow (e.g. the command after the patch); accept what comes until
    // the turn ends.
    loop {
        let d = ws
            .wait_delta("turn end or approval", &id, |d| {
                is_turn_ended(d) || matches!(d, SessionDelta::ApprovalRequested { .. })
            })
            .await?;
        match d {
            SessionDelta::ApprovalRequested { approval } => {
                eprintln!("second approval: {approval:#?}");
                let _: serde_json::Value = h
                    .post(
                        &format!("/api/sessions/{id}/approvals/{}", approval.request_id),
                        &json!({"decision": "accept"}),
                    )
                    .await?;
            }
            _ => break,
        }
    }
    // The approval carried the file and its diff; the file exists now; the turn diff arrived.
    assert_eq!(approval.kind, ApprovalKind::FileChange);
    let changes = approval.changes.clone().context("changes")?;
    assert_eq!(changes.len(), 1);
    assert!(changes[0].path.ends_with("hello.txt"));
    assert_eq!(changes[0].kind, FileChangeKind::Add);
    assert!(changes[0].diff.contains("hello world"));
    assert_eq!(
        std::fs::read_to_string(h.home.workdir().join("hello.txt")).context("hello.txt")?,
        "hello world\n"
    );
    let page: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    assert!(page.items.iter().any(|i| matches!(&i.body, ItemBody::FileChange { changes } if changes[0].diff.contains("hello world"))));
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert!(
        state
            .diff
            .as_deref()
            .is_some_and(|d| d.contains("+hello world")),
        "{:?}",
        state.diff
    );
    assert!(ws.seen.iter().any(|m| matches!(
        m,
        ServerMessage::SessionDelta {
            delta: SessionDelta::Diff { .. },
            ..
        }
    )));

    // Rename: the summary changes at once, the list follows.
    let renamed: SessionState = h
        .post(
            &format!("/api/sessions/{id}/name"),
            &json!({"name": "Hello writer"}),
        )
        .await?;
    assert_eq!(renamed.summary.name.as_deref(), Some("Hello writer"));
    let list: orbitdock_protocol::SessionsResponse = h.get("/api/sessions").await?;
    assert_eq!(list.sessions[0].name.as_deref(), Some("Hello writer"));

    // Change the approval policy mid-session: the next command runs without asking.
    let patched: SessionState = h
        .patch(
            &format!("/api/sessions/{id}/config"),
            &json!({"approval_policy": "never", "sandbox_mode": "danger-full-access"}),
        )
        .await?;
    assert_eq!(
        patched.summary.approval_policy,
        Some(orbitdock_protocol::ApprovalPolicy::Never)
    );
    h.fake
        .enqueue(ScriptedResponse::new().exec_command("printf free > free.txt", "call-free"));
    h.fake.enqueue(ScriptedResponse::new().text("wrote it"));
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "write freely"}),
        )
        .await?;
    let d = ws
        .wait_delta("turn end (no approval)", &id, |d| {
            is_turn_ended(d) || matches!(d, SessionDelta::ApprovalRequested { .. })
        })
        .await?;
    assert!(
        is_turn_ended(&d),
        "no approval expected under `never`: {d:?}"
    );
    assert_eq!(
        std::fs::read_to_string(h.home.workdir().join("free.txt"))?,
        "free"
    );

    // Interrupt a turn whose model call hangs.
    h.fake.enqueue(ScriptedResponse::new().hang_after_created());
    let before = h.fake.responses_requests().len();
    let sent: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "think forever"}),
        )
        .await?;
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(state.summary.status, SessionStatus::Working);
    // A second message while working is added to the running turn (steered), not refused.
    let again: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "again"}),
        )
        .await?;
    assert_eq!(again["turn_id"], sent["turn_id"], "{again}");
    // The turn is in flight once the model call arrived.
    h.fake
        .wait_for_requests_async(h.fake.requests().len().max(before + 1), common::WAIT)
        .await;
    let _: serde_json::Value = h
        .post(&format!("/api/sessions/{id}/interrupt"), &json!({}))
        .await?;
    let d = ws.wait_delta("interrupted", &id, is_turn_ended).await?;
    let SessionDelta::TurnEnded { status, .. } = d else {
        unreachable!()
    };
    assert_eq!(status, orbitdock_protocol::TurnStatus::Interrupted);
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(state.summary.status, SessionStatus::Waiting);
    assert!(state.current_turn.is_none());

    // End, then resume.
    let ended: SessionState = h
        .post(&format!("/api/sessions/{id}/end"), &json!({}))
        .await?;
    assert_eq!(ended.summary.status, SessionStatus::Ended);
    let resumed: SessionState = h
        .post(&format!("/api/sessions/{id}/resume"), &json!({}))
        .await?;
    assert_eq!(resumed.summary.status, SessionStatus::Waiting);
    ws.close().await;
    h.shutdown().await;
    Ok(())
}
