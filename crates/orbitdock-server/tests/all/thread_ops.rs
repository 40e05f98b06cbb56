//! Steer and archive over the scripted connector: a real server (SQLite, HTTP, WebSocket), no
//! agent process. The deterministic cases the real app-server cannot be made to hit on demand:
//! a steer refused because the agent ended the turn whose end event has not arrived yet.

#![allow(clippy::unwrap_used)]

use anyhow::{Result, ensure};
use orbitdock_protocol::{
    SendMessageResponse, ServerMessage, SessionState, SessionsResponse, TurnStatus,
};
use orbitdock_server::SessionEvent;
use orbitdock_server::testing::Call;
use serde_json::json;

use crate::common::{Scripted, eventually};

async fn send(s: &Scripted, id: &str, text: &str) -> Result<SendMessageResponse> {
    s.rest
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": text}),
        )
        .await
}

fn turn_ended(turn: &str) -> SessionEvent {
    SessionEvent::TurnEnded {
        turn_id: turn.into(),
        status: TurnStatus::Completed,
        error: None,
    }
}

#[tokio::test]
async fn a_message_during_a_turn_steers_it_and_falls_back_when_the_turn_is_over() -> Result<()> {
    let s = Scripted::start().await?;
    let (id, thread) = s.create().await?;
    let first = send(&s, &id, "first").await?.turn_id.unwrap();

    // While the turn runs, a message is added to it: same turn id, no new turn.
    let steered = send(&s, &id, "also this").await?;
    assert_eq!(steered.turn_id.as_deref(), Some(first.as_str()));
    assert!(
        s.agent.calls().contains(&Call::Steer(
            thread.clone(),
            first.clone(),
            "also this".into()
        )),
        "{:?}",
        s.agent.calls()
    );
    let turns_started = |calls: &[Call]| {
        calls
            .iter()
            .filter(|c| matches!(c, Call::StartTurn(..)))
            .count()
    };
    assert_eq!(turns_started(&s.agent.calls()), 1);

    // The agent ends the turn; its end event is still on the way when the next message comes:
    // the steer is refused, and the message waits for the end, then starts a turn. The caller
    // sees no error.
    s.agent.end_turn_quietly(&thread);
    let late = {
        let rest = crate::common::Rest::new(&s.base());
        let id = id.clone();
        tokio::spawn(async move {
            rest.post::<_, SendMessageResponse>(
                &format!("/api/sessions/{id}/messages"),
                &json!({"text": "late"}),
            )
            .await
        })
    };
    eventually("the refused steer", || async {
        Ok(s.agent
            .calls()
            .contains(&Call::Steer(thread.clone(), first.clone(), "late".into()))
            .then_some(()))
    })
    .await?;
    ensure!(
        !late.is_finished(),
        "the late message must wait for the turn's end"
    );
    s.agent.emit(&thread, vec![turn_ended(&first)]).await;
    let late = late.await??;
    let second = late.turn_id.unwrap();
    assert_ne!(second, first);
    assert!(
        s.agent
            .calls()
            .contains(&Call::StartTurn(thread.clone(), "late".into())),
        "{:?}",
        s.agent.calls()
    );
    let st = s.state(&id).await?;
    assert_eq!(st.current_turn.map(|t| t.id), Some(second.clone()));

    // A message after the turn ended (no turn running here) is a normal send.
    s.agent.emit(&thread, vec![turn_ended(&second)]).await;
    eventually("idle", || async {
        Ok(s.state(&id).await?.current_turn.is_none().then_some(()))
    })
    .await?;
    let third = send(&s, &id, "next").await?.turn_id.unwrap();
    assert_ne!(third, second);
    assert_eq!(turns_started(&s.agent.calls()), 3);
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn archive_is_persisted_listed_and_reaches_the_agent() -> Result<()> {
    let mut s = Scripted::start().await?;
    let (id, thread) = s.create().await?;

    let st: SessionState = s
        .rest
        .post(&format!("/api/sessions/{id}/archive"), &json!({}))
        .await?;
    assert!(st.summary.archived);
    assert!(
        s.agent
            .calls()
            .contains(&Call::SetArchived(thread.clone(), true))
    );
    // An archived session takes no message (its agent thread is archived): a clear refusal.
    let (code, body) = s
        .rest
        .post_raw(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "hello?"}),
        )
        .await?;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unarchive")),
        "{body}"
    );
    // The list still carries it (clients hide archived rows unless asked).
    let list: SessionsResponse = s.rest.get("/api/sessions").await?;
    assert!(list.sessions.iter().any(|x| x.id == id && x.archived));

    // Persisted across a restart.
    s.restart().await?;
    assert!(s.state(&id).await?.summary.archived);

    // Unarchive over the WebSocket, through the same dispatcher.
    let mut ws = s.ws().await?;
    ws.send(
        json!({"type": "set_archived", "session_id": id, "archived": false, "client_ref": "u"}),
    )
    .await?;
    let ack = ws
        .wait_for(
            "unarchive ack",
            |m| matches!(m, ServerMessage::Ack { client_ref: Some(r), .. } if r == "u"),
        )
        .await?;
    let ServerMessage::Ack { result, .. } = ack else {
        unreachable!()
    };
    assert_eq!(result["archived"], json!(false), "{result}");
    assert!(!s.state(&id).await?.summary.archived);
    assert!(s.agent.calls().contains(&Call::SetArchived(thread, false)));
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn archiving_a_working_session_is_refused_with_the_reason() -> Result<()> {
    let s = Scripted::start().await?;
    let (id, _) = s.create().await?;
    send(&s, &id, "work").await?;
    let (code, body) = s
        .rest
        .post_raw(&format!("/api/sessions/{id}/archive"), &json!({}))
        .await?;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("turn is running")),
        "{body}"
    );
    assert!(!s.state(&id).await?.summary.archived);
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn compact_reaches_the_agent_and_its_item_records_the_context_size() -> Result<()> {
    use orbitdock_protocol::{ItemBody, ItemStatus, ItemsPage, TokenUsage};
    let s = Scripted::start().await?;
    let (id, thread) = s.create().await?;

    // Refused while a turn runs (compaction is a turn of its own).
    let turn = send(&s, &id, "work").await?.turn_id.unwrap();
    let (code, body) = s
        .rest
        .post_raw(&format!("/api/sessions/{id}/compact"), &json!({}))
        .await?;
    assert_eq!(code, 409, "{body}");
    s.agent.emit(&thread, vec![turn_ended(&turn)]).await;
    eventually("idle", || async {
        Ok(s.state(&id).await?.current_turn.is_none().then_some(()))
    })
    .await?;

    let _: SessionState = s
        .rest
        .post(&format!("/api/sessions/{id}/compact"), &json!({}))
        .await?;
    assert!(s.agent.calls().contains(&Call::Compact(thread.clone())));

    // The agent's compaction turn: usage before, the item started then completed.
    let usage = TokenUsage {
        last_input_tokens: 12_345,
        total_tokens: 20_000,
        ..Default::default()
    };
    let item = |status| SessionEvent::Item {
        turn_id: Some("turn-c".into()),
        item_id: "compact-1".into(),
        status,
        body: ItemBody::ContextCompaction {
            context_tokens_before: None,
        },
    };
    s.agent
        .emit(
            &thread,
            vec![
                SessionEvent::TokenUsage(usage),
                SessionEvent::TurnStarted {
                    turn_id: "turn-c".into(),
                },
                item(ItemStatus::InProgress),
                SessionEvent::TokenUsage(TokenUsage {
                    last_input_tokens: 900,
                    total_tokens: 21_000,
                    ..Default::default()
                }),
                item(ItemStatus::Completed),
                turn_ended("turn-c"),
            ],
        )
        .await;
    let page: ItemsPage = eventually("compaction item", || async {
        let page: ItemsPage = s
            .rest
            .get(&format!("/api/sessions/{id}/items?after=0&limit=100"))
            .await?;
        Ok(page
            .items
            .iter()
            .any(|i| i.id == "compact-1" && i.status == ItemStatus::Completed)
            .then_some(page))
    })
    .await?;
    let compaction: Vec<_> = page.items.iter().filter(|i| i.id == "compact-1").collect();
    assert_eq!(compaction.len(), 1, "{:?}", page.items);
    assert_eq!(
        compaction[0].body,
        ItemBody::ContextCompaction {
            context_tokens_before: Some(12_345)
        }
    );
    let st = s.state(&id).await?;
    assert_eq!(st.summary.token_usage.last_input_tokens, 900);
    s.shutdown().await;
    Ok(())
}
