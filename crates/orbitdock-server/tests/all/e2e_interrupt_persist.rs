//! End-to-end: an agent message that is streaming when the user interrupts keeps the text that had
//! arrived, across a server restart (the item is never completed by Codex, so the server must
//! persist it at turn end). Real pinned Codex app-server, fake model.

#![allow(clippy::unwrap_used)]

use crate::common;

use anyhow::Result;
use common::{Harness, is_turn_ended};
use orbitdock_protocol::{ItemBody, ItemStatus, ItemsPage, ServerMessage, SessionDelta};
use serde_json::json;
use test_support::ScriptedResponse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_streaming_text_survives_restart() -> Result<()> {
    let mut h = Harness::start().await?;
    // The model starts a message, streams part of it, then stalls: no output_item.done.
    h.fake.enqueue(
        ScriptedResponse::new()
            .raw_event(json!({"type": "response.output_item.added", "output_index": 0,
                "item": {"id": "msg_partial", "type": "message", "role": "assistant", "status": "in_progress", "content": []}}))
            .raw_event(json!({"type": "response.content_part.added", "item_id": "msg_partial", "output_index": 0,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}))
            .raw_event(json!({"type": "response.output_text.delta", "item_id": "msg_partial", "output_index": 0,
                "content_index": 0, "delta": "partial answer"}))
            .hang_after_created(),
    );
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
