//! End-to-end: reconnecting with a revision replays exactly the missed deltas; a server restart
//! restores sessions and transcripts, and a restored session accepts a new message (its Codex
//! thread is resumed in the new app-server).

#![allow(clippy::unwrap_used)]

use crate::common;

use anyhow::{Context, Result};
use common::{Harness, WAIT, is_turn_ended};
use orbitdock_protocol::{
    ItemBody, ItemsPage, ServerMessage, SessionState, SessionStatus, SessionsResponse,
};
use serde_json::json;
use test_support::ScriptedResponse;

fn texts(page: &ItemsPage) -> Vec<String> {
    page.items
        .iter()
        .filter_map(|i| match &i.body {
            ItemBody::UserMessage { text } => Some(format!("user:{text}")),
            ItemBody::AgentMessage { text } => Some(format!("agent:{text}")),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_replays_missed_deltas_and_restart_restores_sessions() -> Result<()> {
    let mut h = Harness::start().await?;
    h.fake
        .enqueue(ScriptedResponse::new().text_deltas(&["first ", "answer"]));
    h.fake
        .enqueue(ScriptedResponse::new().text_deltas(&["second ", "answer"]));
    h.fake.enqueue(ScriptedResponse::new().text("third answer"));

    let created = h
        .create(
            json!({"cwd": h.workdir(), "approval_policy": "never", "sandbox_mode": "read-only"}),
        )
        .await?;
    let id = created.summary.id.clone();

    let mut a = h.ws().await?;
    a.subscribe(&id, None).await?;
    a.wait_for("snapshot", |m| {
        matches!(m, ServerMessage::SessionSnapshot { .. })
    })
    .await?;
    let mut b = h.ws().await?;
    b.subscribe(&id, None).await?;
    b.wait_for("snapshot", |m| {
        matches!(m, ServerMessage::SessionSnapshot { .. })
    })
    .await?;

    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "one"}),
        )
        .await?;
    a.wait_delta("turn 1 end", &id, is_turn_ended).await?;
    b.wait_delta("turn 1 end", &id, is_turn_ended).await?;
    // Let a see everything published for turn 1 (the summary after the turn end).
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    while a.revision(&id) < state.summary.revision {
        a.next().await?;
    }
    let r1 = a.revision(&id);
    a.close().await;

    // While a is away, turn 2 happens; b watches it live.
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "two"}),
        )
        .await?;
    b.wait_delta("turn 2 end", &id, is_turn_ended).await?;
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    while b.revision(&id) < state.summary.revision {
        b.next().await?;
    }
    let r2 = b.revision(&id);
    assert!(r2 > r1 + 3, "turn 2 produced deltas ({r1} -> {r2})");

    // a comes back with its revision: exactly the missed deltas, no snapshot.
    let mut a2 = h.ws().await?;
    a2.subscribe(&id, Some(r1)).await?;
    while a2.revision(&id) < r2 {
        let m = a2.next().await?;
        assert!(
            !matches!(m, ServerMessage::SessionSnapshot { .. }),
            "expected a replay, got a snapshot"
        );
    }
    let missed: Vec<&String> = b
        .delta_frames
        .iter()
        .filter(|f| {
            serde_json::from_str::<ServerMessage>(f).is_ok_and(
                |m| matches!(m, ServerMessage::SessionDelta { revision, .. } if revision > r1),
            )
        })
        .collect();
    let replayed: Vec<&String> = a2.delta_frames.iter().collect();
    assert_eq!(replayed, missed, "replay must equal what b saw after r1");
    // A revision older than the replay log's reach gets a snapshot instead.
    let mut c = h.ws().await?;
    c.subscribe(&id, Some(0)).await?;
    let first = c.next().await?;
    assert!(
        matches!(first, ServerMessage::SessionDelta { revision: 1, .. })
            || matches!(first, ServerMessage::SessionSnapshot { .. }),
        "{first:?}"
    );
    a2.close().await;
    b.close().await;
    c.close().await;

    let before: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    assert_eq!(
        texts(&before),
        [
            "user:one",
            "agent:first answer",
            "user:two",
            "agent:second answer"
        ]
    );

    // Restart the server on the same data dir.
    h.restart().await?;
    let list: SessionsResponse = h.get("/api/sessions").await?;
    let restored = list
        .sessions
        .iter()
        .find(|s| s.id == id)
        .context("session restored in the list")?;
    assert_eq!(restored.status, SessionStatus::Waiting);
    assert_eq!(restored.first_prompt.as_deref(), Some("one"));
    let after: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    assert_eq!(after.items, before.items, "transcript restored exactly");
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert!(!state.attached, "not attached until resumed");
    assert!(
        state.summary.revision >= r2,
        "revisions continue after a restart"
    );

    // A client that was fully up to date before the restart is told nothing was missed.
    let mut d = h.ws().await?;
    d.subscribe(&id, Some(state.summary.revision)).await?;

    // The restored session accepts a new message: its thread is resumed in the new app-server.
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "three"}),
        )
        .await?;
    let first = d.next().await?;
    assert!(
        matches!(first, ServerMessage::SessionDelta { revision, .. } if revision == state.summary.revision + 1),
        "live deltas continue from the persisted revision: {first:?}"
    );
    d.wait_delta("turn 3 end", &id, is_turn_ended).await?;
    let page: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    let t = texts(&page);
    assert_eq!(
        &t[t.len() - 2..],
        ["user:three".to_string(), "agent:third answer".to_string()]
    );
    assert!(
        page.items.iter().any(
            |i| matches!(&i.body, ItemBody::Notice { message } if message.contains("Resumed"))
        )
    );
    // The model saw the earlier conversation: the thread really was resumed, not restarted.
    let reqs = h.fake.wait_for_requests_async(3, WAIT).await;
    let last = reqs
        .iter()
        .rev()
        .find(|r| r.is_responses())
        .context("a model request")?;
    let input = serde_json::to_string(last.input())?;
    assert!(
        input.contains("first answer") && input.contains("three"),
        "{input}"
    );
    d.close().await;
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_server_crash_marks_sessions_and_the_next_message_resumes() -> Result<()> {
    let h = Harness::start().await?;
    h.fake
        .enqueue(ScriptedResponse::new().exec_command("printf x > never.txt", "call-1"));
    h.fake
        .enqueue(ScriptedResponse::new().text("after the crash"));
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
            &json!({"text": "run it"}),
        )
        .await?;
    ws.wait_delta("approval", &id, |d| {
        matches!(
            d,
            orbitdock_protocol::SessionDelta::ApprovalRequested { .. }
        )
    })
    .await?;

    // Kill the shared app-server while an approval is pending.
    let pid = h.agent_pid()?;
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    assert!(status.success());
    ws.wait_delta("detached", &id, |d| {
        matches!(
            d,
            orbitdock_protocol::SessionDelta::Attached { attached: false }
        )
    })
    .await?;
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert!(
        state.pending_approvals.is_empty(),
        "a dead agent's approvals are gone"
    );
    assert_eq!(state.summary.status, SessionStatus::Waiting);
    assert!(state.current_turn.is_none());
    let hist: orbitdock_protocol::ApprovalHistory = h
        .get(&format!("/api/sessions/{id}/approvals/history"))
        .await?;
    assert_eq!(
        hist.approvals[0].resolution,
        orbitdock_protocol::ApprovalResolution::AgentGone
    );
    assert!(!h.home.workdir().join("never.txt").exists());

    // The next message restarts the app-server and resumes the thread.
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "again"}),
        )
        .await?;
    ws.wait_delta("turn end", &id, is_turn_ended).await?;
    let page: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    assert!(
        texts(&page).contains(&"agent:after the crash".to_string()),
        "{:#?}",
        page.items
    );
    let new_pid = h.server.as_ref().unwrap().registry.connector().agent_pid();
    assert!(new_pid.is_some() && new_pid != Some(pid));
    ws.close().await;
    h.shutdown().await;
    Ok(())
}
