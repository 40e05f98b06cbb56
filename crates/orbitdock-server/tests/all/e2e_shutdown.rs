//! End-to-end: the server stops gracefully (as on SIGTERM) while the REAL pinned Codex app-server
//! streams a turn; after a restart nothing is lost: the streamed text is there, the turn is closed
//! as interrupted, no item is left in progress, and the session takes the next message.

#![allow(clippy::unwrap_used)]

use anyhow::Result;
use orbitdock_protocol::{
    ItemBody, ItemStatus, ItemsPage, ServerMessage, SessionDelta, SessionState, SessionStatus,
};
use serde_json::json;
use test_support::ScriptedResponse;

use crate::common::{Harness, is_turn_ended};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_mid_turn_then_restart_loses_nothing() -> Result<()> {
    let mut h = Harness::start().await?;
    h.fake
        .enqueue(crate::common::stalled_partial_message("half of the answer"));
    let created = h
        .create(
            json!({"cwd": h.workdir(), "approval_policy": "never", "sandbox_mode": "read-only"}),
        )
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
            &json!({"text": "go"}),
        )
        .await?;
    ws.wait_delta(
        "streamed text",
        &id,
        |d| matches!(d, SessionDelta::ItemText { delta, .. } if delta.contains("half")),
    )
    .await?;

    h.restart().await?;

    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?after=0&limit=100"))
        .await?;
    let agent: Vec<_> = page
        .items
        .iter()
        .filter_map(|i| match &i.body {
            ItemBody::AgentMessage { text } => Some((i.status, text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        agent,
        vec![(ItemStatus::Interrupted, "half of the answer".to_owned())],
        "{:#?}",
        page.items
    );
    assert!(
        page.items
            .iter()
            .all(|i| i.status != ItemStatus::InProgress),
        "no item left in progress: {:#?}",
        page.items
    );
    let st: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(st.summary.status, SessionStatus::Waiting);
    assert!(st.current_turn.is_none());

    // The session continues on the same thread.
    h.fake.enqueue(ScriptedResponse::new().text("back again"));
    let mut ws = h.ws().await?;
    ws.subscribe(&id, None).await?;
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "continue"}),
        )
        .await?;
    ws.wait_delta("turn end", &id, is_turn_ended).await?;
    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?after=0&limit=100"))
        .await?;
    assert!(
        page.items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::AgentMessage { text } if text == "back again"))
    );
    let st: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(st.summary.thread_id, created.summary.thread_id);
    h.shutdown().await;
    Ok(())
}
