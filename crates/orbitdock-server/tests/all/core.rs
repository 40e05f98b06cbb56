//! The session core over the scripted connector: a real server (SQLite, HTTP, WebSocket) with no
//! agent process, so these run in milliseconds. Status derivation, stale turn events, approval
//! replacement, stall isolation, takeover over the WebSocket, graceful shutdown mid-turn.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Result, ensure};
use orbitdock_protocol::{
    ApprovalKind, ItemBody, ItemStatus, ItemsPage, Origin, Provider, SendMessageResponse,
    ServerMessage, SessionDelta, SessionState, SessionStatus, TurnStatus,
};
use orbitdock_server::testing::Call;
use orbitdock_server::{NewSession, SessionEvent};
use serde_json::{Value, json};

use crate::common::{Scripted, eventually, text_event, turn_end_event};

async fn status_is(s: &Scripted, id: &str, want: SessionStatus) -> Result<SessionState> {
    eventually(&format!("status {want:?}"), || async {
        let st = s.state(id).await?;
        Ok((st.summary.status == want).then_some(st))
    })
    .await
}

async fn send(s: &Scripted, id: &str, text: &str) -> Result<String> {
    let r: SendMessageResponse = s
        .rest
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": text}),
        )
        .await?;
    Ok(r.turn_id.unwrap())
}

#[tokio::test]
async fn status_follows_turns_approvals_and_ignores_stale_turn_events() -> Result<()> {
    let s = Scripted::start().await?;
    let (id, thread) = s.create().await?;
    let mut ws = s.ws().await?;
    ws.subscribe(&id, None).await?;
    ws.wait_for("snapshot", |m| {
        matches!(m, ServerMessage::SessionSnapshot { .. })
    })
    .await?;

    let turn = send(&s, &id, "hi").await?;
    assert_eq!(s.state(&id).await?.summary.status, SessionStatus::Working);

    s.agent
        .request(&thread, &turn, "r1", ApprovalKind::Command)
        .await;
    ws.wait_delta("approval", &id, |d| {
        matches!(d, SessionDelta::ApprovalRequested { approval } if approval.request_id == "r1")
    })
    .await?;
    assert_eq!(
        s.state(&id).await?.summary.status,
        SessionStatus::NeedsApproval
    );
    // A re-sent request with the same id replaces the reply handle; nobody sees a second card.
    s.agent
        .request(&thread, &turn, "r1", ApprovalKind::Command)
        .await;
    s.agent
        .request(&thread, &turn, "q1", ApprovalKind::Question)
        .await;
    ws.wait_delta("question", &id, |d| {
        matches!(d, SessionDelta::ApprovalRequested { approval } if approval.request_id == "q1")
    })
    .await?;
    let requested: Vec<String> = ws
        .seen
        .iter()
        .filter_map(|m| match m {
            ServerMessage::SessionDelta {
                delta: SessionDelta::ApprovalRequested { approval },
                ..
            } => Some(approval.request_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(requested, vec!["r1", "q1"]);
    let st = s.state(&id).await?;
    assert_eq!(st.summary.status, SessionStatus::NeedsAnswer);
    assert_eq!(st.pending_approvals.len(), 2);

    let _: Value = s
        .rest
        .post(
            &format!("/api/sessions/{id}/approvals/r1"),
            &json!({"decision": "accept"}),
        )
        .await?;
    let (code, body) = s
        .rest
        .post_raw(
            &format!("/api/sessions/{id}/approvals/r1"),
            &json!({"decision": "accept"}),
        )
        .await?;
    assert_eq!(code, 404, "answered once only: {body}");
    let _: Value = s
        .rest
        .post(
            &format!("/api/sessions/{id}/approvals/q1"),
            &json!({"decision": "accept", "answers": {"q": ["yes"]}}),
        )
        .await?;
    let answers = s.agent.answers();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0].0, "r1");
    assert_eq!(answers[1].1.answers.as_ref().unwrap()["q"], vec!["yes"]);
    assert_eq!(s.state(&id).await?.summary.status, SessionStatus::Working);

    // The end of an older turn does not end the current one.
    s.agent
        .emit(
            &thread,
            vec![turn_end_event("turn-older", TurnStatus::Completed)],
        )
        .await;
    s.agent
        .emit(&thread, vec![text_event(&turn, "m1", "still here")])
        .await;
    ws.wait_delta(
        "text after the stale end",
        &id,
        |d| matches!(d, SessionDelta::ItemText { delta, .. } if delta == "still here"),
    )
    .await?;
    let st = s.state(&id).await?;
    assert_eq!(st.summary.status, SessionStatus::Working);
    assert_eq!(st.current_turn.unwrap().id, turn);

    s.agent
        .emit(&thread, vec![turn_end_event(&turn, TurnStatus::Completed)])
        .await;
    status_is(&s, &id, SessionStatus::Waiting).await?;
    // A late "started" for a turn that already ended cannot reopen it.
    s.agent
        .emit(
            &thread,
            vec![
                SessionEvent::TurnStarted {
                    turn_id: turn.clone(),
                },
                SessionEvent::Notice("marker".into()),
            ],
        )
        .await;
    ws.wait_delta("marker", &id, |d| {
        matches!(d, SessionDelta::Item { item } if matches!(&item.body, ItemBody::Notice { message, .. } if message == "marker"))
    })
    .await?;
    let st = s.state(&id).await?;
    assert_eq!(st.summary.status, SessionStatus::Waiting);
    assert!(st.current_turn.is_none());
    // Unknown statuses round-trip as they came.
    s.agent
        .emit(
            &thread,
            vec![turn_end_event(&turn, TurnStatus::Unknown("paused".into()))],
        )
        .await;
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_stuck_session_does_not_delay_another() -> Result<()> {
    let s = Scripted::start().await?;
    let (a, thread_a) = s.create().await?;
    let (b, thread_b) = s.create().await?;
    // A's agent hangs on every call, and A has a subscriber that never reads.
    s.agent.hold_thread(&thread_a);
    let rest = crate::common::Rest::new(&s.base());
    let a2 = a.clone();
    let stuck_send = tokio::spawn(async move {
        rest.post::<_, Value>(
            &format!("/api/sessions/{a2}/messages"),
            &json!({"text": "hang"}),
        )
        .await
    });
    let mut silent = s.ws().await?;
    silent.subscribe(&a, None).await?;
    eventually("A's turn start to reach the agent", || async {
        Ok(s.agent
            .calls()
            .contains(&Call::StartTurn(thread_a.clone(), "hang".into()))
            .then_some(()))
    })
    .await?;
    // A's actor still answers reads and applies events while its agent call is in flight.
    let st = tokio::time::timeout(Duration::from_secs(5), s.state(&a)).await??;
    assert_eq!(st.summary.id, a);
    for i in 0..300 {
        s.agent
            .emit(
                &thread_a,
                vec![text_event("t-a", "flood", &format!("a{i} "))],
            )
            .await;
    }
    // B streams as usual: every delta arrives while A is still stuck.
    let mut ws = s.ws().await?;
    ws.subscribe(&b, None).await?;
    ws.wait_for("B snapshot", |m| {
        matches!(m, ServerMessage::SessionSnapshot { .. })
    })
    .await?;
    for i in 0..200 {
        s.agent
            .emit(&thread_b, vec![text_event("t-b", "m", &format!("b{i}"))])
            .await;
    }
    ws.wait_delta(
        "B's last delta",
        &b,
        |d| matches!(d, SessionDelta::ItemText { delta, .. } if delta == "b199"),
    )
    .await?;
    let got = ws
        .seen
        .iter()
        .filter(|m| {
            matches!(
                m,
                ServerMessage::SessionDelta {
                    delta: SessionDelta::ItemText { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(got, 200);
    ensure!(
        !stuck_send.is_finished(),
        "A's send should still wait on its agent"
    );
    // A answers reads with its flood applied.
    let items: ItemsPage = s
        .rest
        .get(&format!("/api/sessions/{a}/items?after=0&limit=10"))
        .await?;
    assert!(items.items.iter().any(|i| i.id == "flood"));

    s.agent.release();
    let sent = stuck_send.await??;
    assert!(sent["turn_id"].is_string(), "{sent}");
    drop(silent);
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn takeover_over_websocket_with_the_reason_when_it_cannot() -> Result<()> {
    let s = Scripted::start().await?;
    let registry = s.server().registry.clone();
    let cwd = s.data.path().display().to_string();
    let passive = |thread: &str, updated_at: i64| NewSession {
        provider: Provider::Codex,
        origin: Origin::Passive,
        cwd: cwd.clone(),
        thread_id: Some(thread.into()),
        status: SessionStatus::Waiting,
        updated_at,
        ..Default::default()
    };
    let quiet = registry
        .create_session(passive(
            "thr-quiet",
            orbitdock_server::session::now_ms() - 60_000,
        ))
        .await?
        .id()
        .to_owned();
    let busy = registry
        .create_session(passive("thr-busy", 0))
        .await?
        .id()
        .to_owned();
    let mut ws = s.ws().await?;
    ws.send(json!({"type": "takeover_session", "session_id": busy, "client_ref": "t1"}))
        .await?;
    let refused = ws
        .wait_for(
            "refusal",
            |m| matches!(m, ServerMessage::Error { client_ref: Some(r), .. } if r == "t1"),
        )
        .await?;
    let ServerMessage::Error { code, message, .. } = refused else {
        unreachable!()
    };
    assert_eq!(code, "conflict");
    assert!(message.contains("ms ago"), "{message}");

    ws.send(json!({"type": "takeover_session", "session_id": quiet, "client_ref": "t2"}))
        .await?;
    let ack = ws
        .wait_for(
            "takeover ack",
            |m| matches!(m, ServerMessage::Ack { client_ref: Some(r), .. } if r == "t2"),
        )
        .await?;
    let ServerMessage::Ack { result, .. } = ack else {
        unreachable!()
    };
    let st: SessionState = serde_json::from_value(result)?;
    assert_eq!(st.summary.origin, Origin::Direct);
    assert!(st.attached);
    assert!(
        s.agent
            .calls()
            .contains(&Call::ResumeThread("thr-quiet".into()))
    );
    // And it is driven now: a message over the WebSocket starts a turn on that thread.
    ws.send(
        json!({"type": "send_message", "session_id": quiet, "text": "continue", "client_ref": "m"}),
    )
    .await?;
    ws.wait_for(
        "send ack",
        |m| matches!(m, ServerMessage::Ack { client_ref: Some(r), .. } if r == "m"),
    )
    .await?;
    assert!(
        s.agent
            .calls()
            .contains(&Call::StartTurn("thr-quiet".into(), "continue".into()))
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_mid_turn_keeps_streamed_text_and_closes_the_turn() -> Result<()> {
    let mut s = Scripted::start().await?;
    let (id, thread) = s.create().await?;
    let turn = send(&s, &id, "long answer please").await?;
    let mut ws = s.ws().await?;
    ws.subscribe(&id, None).await?;
    ws.wait_for("snapshot", |m| {
        matches!(m, ServerMessage::SessionSnapshot { .. })
    })
    .await?;
    s.agent
        .emit(
            &thread,
            vec![
                text_event(&turn, "m1", "hel"),
                text_event(&turn, "m1", "lo"),
            ],
        )
        .await;
    ws.wait_delta(
        "streamed text",
        &id,
        |d| matches!(d, SessionDelta::ItemText { delta, .. } if delta == "lo"),
    )
    .await?;
    // The WebSocket is told goodbye (close frame), not cut.
    let closing = tokio::spawn(async move {
        let r = ws
            .wait_for("close", |_| false)
            .await
            .err()
            .map(|e| format!("{e:#}"));
        r.unwrap_or_default()
    });
    s.restart().await?;
    let closed = closing.await?;
    assert!(
        closed.contains("closed") || closed.contains("Close"),
        "{closed}"
    );

    let page: ItemsPage = s
        .rest
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
    assert_eq!(agent, vec![(ItemStatus::Interrupted, "hello".to_owned())]);
    let st = s.state(&id).await?;
    assert_eq!(st.summary.status, SessionStatus::Waiting);
    assert!(st.current_turn.is_none());
    assert!(!st.attached);
    // The session continues: its thread is resumed and the message starts a turn.
    send(&s, &id, "again").await?;
    assert_eq!(
        s.agent.calls(),
        vec![
            Call::ResumeThread(thread.clone()),
            Call::StartTurn(thread.clone(), "again".into())
        ]
    );
    s.shutdown().await;
    Ok(())
}
