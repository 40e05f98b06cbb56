//! Codex notifications the real CLI cannot be scripted into sending (Codex 0.169 does not offer
//! `update_plan` to a gpt-oss model), translated by the Codex connector's translation and
//! injected at the seam: plan updates, token usage, rate limits, drifted and unknown
//! notifications, a new thread's notifications that beat its start answer. Checked over the real
//! HTTP surface and again after a restart.

#![allow(clippy::unwrap_used)]

use anyhow::Result;
use codex_client::app_server::ServerNotification;
use orbitdock_protocol::{
    ItemBody, ItemsPage, McpStartupState, PlanStepStatus, SessionState, SessionStatus,
};
use orbitdock_server::connector::codex::translate::{self, Translated};
use orbitdock_server::connector::{CODEX, ConnectorEvent};
use orbitdock_server::session::SessionEvent;
use serde_json::{Value, json};

use crate::common::{Scripted, eventually};

/// A Codex notification as the Codex connector hands it to the core: translated once.
fn note(method: &str, params: Value) -> Option<ConnectorEvent> {
    match translate::notification(ServerNotification::decode(method, params)) {
        Translated::Thread { thread_id, events } => Some(ConnectorEvent::Thread {
            connector: CODEX,
            thread_id,
            events,
        }),
        Translated::RateLimits(rate_limits) => Some(ConnectorEvent::RateLimits {
            connector: CODEX,
            rate_limits,
        }),
        Translated::Ignored => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_usage_and_rate_limits_arrive_and_survive_a_restart() -> Result<()> {
    let mut s = Scripted::start().await?;
    let (id, thread) = s.create().await?;
    let events = [
        note(
            "turn/started",
            json!({"threadId": thread, "turn": {"id": "turn-1", "items": [], "status": "inProgress"}}),
        ),
        note(
            "turn/plan/updated",
            json!({"threadId": thread, "turnId": "turn-1", "explanation": "why",
                   "plan": [{"step": "a", "status": "completed"}, {"step": "b", "status": "inProgress"}]}),
        ),
        note(
            "thread/tokenUsage/updated",
            json!({"threadId": thread, "turnId": "turn-1", "tokenUsage": {
            "total": {"totalTokens": 150, "inputTokens": 120, "cachedInputTokens": 20, "cacheWriteInputTokens": 0, "outputTokens": 30, "reasoningOutputTokens": 5},
            "last": {"totalTokens": 50, "inputTokens": 40, "cachedInputTokens": 0, "cacheWriteInputTokens": 0, "outputTokens": 10, "reasoningOutputTokens": 1},
            "modelContextWindow": 1000}}),
        ),
        note(
            "account/rateLimits/updated",
            json!({"rateLimits": {"primary": {"usedPercent": 42, "windowDurationMins": 300, "resetsAt": 1}}}),
        ),
        // Drift: a typed method whose params no longer decode, and an unknown method: both are
        // dropped by the translation (never reach the core).
        note("turn/diff/updated", json!({"threadId": thread, "diff": 7})),
        note("thread/hologram/updated", json!({"threadId": thread})),
        note(
            "turn/completed",
            json!({"threadId": thread, "turn": {"id": "turn-1", "items": [], "status": "completed"}}),
        ),
    ];
    assert!(
        events[4].is_none() && events[5].is_none(),
        "drifted notifications are ignored"
    );
    for ev in events.into_iter().flatten() {
        s.agent.send(ev).await;
    }
    let st = eventually("plan, usage, rate limits and the turn end", || async {
        let st = s.state(&id).await?;
        Ok((st.current_turn.is_none()
            && st.plan.is_some()
            && st.rate_limits.is_some()
            && st.summary.token_usage.input_tokens > 0)
            .then_some(st))
    })
    .await?;
    let plan = st.plan.clone().unwrap();
    assert_eq!(plan.explanation.as_deref(), Some("why"));
    assert_eq!(plan.steps.len(), 2);
    assert_eq!(plan.steps[1].status, PlanStepStatus::InProgress);
    assert_eq!(st.summary.token_usage.input_tokens, 120);
    assert_eq!(st.summary.token_usage.cached_input_tokens, 20);
    assert_eq!(st.summary.token_usage.context_window, Some(1000));
    assert_eq!(st.summary.token_usage.last_input_tokens, 40);
    assert_eq!(
        st.rate_limits
            .as_ref()
            .unwrap()
            .primary
            .as_ref()
            .unwrap()
            .used_percent,
        42.0
    );
    assert_eq!(st.summary.status, SessionStatus::Waiting);

    s.restart().await?;
    let after: SessionState = s.state(&id).await?;
    assert_eq!(after.plan, st.plan, "plan persisted");
    assert_eq!(
        after.summary.token_usage, st.summary.token_usage,
        "usage persisted"
    );
    s.shutdown().await;
    Ok(())
}

/// Codex sends a new thread's first notifications (the MCP servers' startup outcomes) right
/// behind its `thread/start` answer, so the router can see them before the session has bound
/// the thread. They must reach the session anyway, ahead of what follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_beat_the_thread_start_answer_reach_the_new_session() -> Result<()> {
    let s = Scripted::start().await?;
    let (first, first_thread) = s.create().await?;
    // The scripted agent numbers its ids; the next thread it starts is this one.
    let n: u64 = first_thread.trim_start_matches("thread-").parse()?;
    let next_thread = format!("thread-{}", n + 1);
    for ev in [
        note(
            "mcpServer/startupStatus/updated",
            json!({"threadId": next_thread, "name": "calc", "status": "ready"}),
        ),
        note(
            "mcpServer/startupStatus/updated",
            json!({"threadId": next_thread, "name": "broken", "status": "failed",
                   "error": "No such file or directory"}),
        ),
    ]
    .into_iter()
    .flatten()
    {
        s.agent.send(ev).await;
    }
    // The router handles events in order: once a later event of another session has arrived,
    // the new thread's were routed, before any session bound that thread.
    s.agent
        .emit(
            &first_thread,
            vec![SessionEvent::Renamed(Some("barrier".into()))],
        )
        .await;
    eventually("the barrier event", || async {
        let st = s.state(&first).await?;
        Ok((st.summary.name.as_deref() == Some("barrier")).then_some(()))
    })
    .await?;

    let (id, thread) = s.create().await?;
    assert_eq!(thread, next_thread);
    let cards = eventually("both MCP startup cards", || async {
        let page: ItemsPage = s
            .rest
            .get(&format!("/api/sessions/{id}/items?after=0&limit=100"))
            .await?;
        let cards: Vec<(String, McpStartupState)> = page
            .items
            .into_iter()
            .filter_map(|i| match i.body {
                ItemBody::McpServerStatus { server, state, .. } => Some((server, state)),
                _ => None,
            })
            .collect();
        Ok((cards.len() >= 2).then_some(cards))
    })
    .await?;
    assert_eq!(
        cards,
        vec![
            ("calc".to_owned(), McpStartupState::Ready),
            ("broken".to_owned(), McpStartupState::Failed)
        ]
    );
    s.shutdown().await;
    Ok(())
}
