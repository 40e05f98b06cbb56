//! End-to-end: an agent message that is streaming when the user interrupts keeps the text that had
//! arrived, across a server restart (the item is never completed by Codex, so the server must
//! persist it at turn end). Real pinned Codex app-server, fake model.

#![allow(clippy::unwrap_used)]

use crate::common;

use anyhow::Result;
use common::{Harness, is_turn_ended};
use orbitdock_protocol::{ItemBody, ItemStatus, ItemsPage, ServerMessage, SessionDelta};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_streaming_text_survives_restart() -> Result<()> {
    let mut h = Harness::start().await?;
    // The model starts a message, streams part of it, then stalls: no output_item.done.
    h.fake
        .enqueue(crate::common::stalled_partial_message("partial answer"));
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
        |d| matches!(d, SessionDelta::ItemText { delta, .. } if delta.contains("partial")),
    )
    .await?;
    let _: serde_json::Value = h
        .post(&format!("/api/sessions/{id}/interrupt"), &json!({}))
        .await?;
    ws.wait_delta("turn end", &id, is_turn_ended).await?;
    ws.close().await;

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
        vec![(ItemStatus::Interrupted, "partial answer".to_owned())],
        "the interrupted message keeps its streamed text after a restart: {:?}",
        page.items
    );
    h.shutdown().await;
    Ok(())
}
