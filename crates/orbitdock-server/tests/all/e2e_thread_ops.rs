//! End-to-end thread operations against the REAL pinned Codex app-server with the loopback fake
//! model: steering a running turn (its text reaches the model within that turn), the agent's
//! refusal of a steer for a turn that is not active (what the server's fallback relies on), a
//! message sent as a turn finishes, and archive / unarchive reaching Codex's own thread store.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Context, Result};
use codex_client::app_server::requests::{ThreadList, ThreadListParams};
use codex_client::app_server::{AppServer, AppServerBuilder};
use orbitdock_protocol::{SendMessageResponse, ServerMessage, SessionDelta, SessionState};
use orbitdock_server::connector::codex::{AppServerConfig, AppServerConnector};
use orbitdock_server::connector::{Connector, ConnectorEvent, ThreadConfig};
use serde_json::{Value, json};
use test_support::ScriptedResponse;

use crate::common::{Harness, WAIT, eventually, is_turn_ended, subscribed, user_text_contains};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steer_reaches_the_model_within_the_same_turn() -> Result<()> {
    let h = Harness::start().await?;
    // The turn stops at a command approval, so the steer lands while it certainly runs.
    h.fake
        .enqueue(ScriptedResponse::new().exec_command("echo probe-ran", "call-steer"));
    h.fake.enqueue(ScriptedResponse::new().text("noted both"));
    let created = h
        .create(json!({"cwd": h.workdir(), "approval_policy": "untrusted", "sandbox_mode": "workspace-write"}))
        .await?;
    let id = created.summary.id.clone();
    let mut ws = subscribed(&h, &id).await?;

    let first: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "run the probe"}),
        )
        .await?;
    let turn = first.turn_id.clone().unwrap();
    let approval = ws.wait_approval("approval", &id).await?;

    // Sent while the turn works: no 409, added to the running turn.
    let steered: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "also mention bananas"}),
        )
        .await?;
    assert_eq!(steered.turn_id.as_deref(), Some(turn.as_str()));

    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/approvals/{}", approval.request_id),
            &json!({"decision": "accept"}),
        )
        .await?;
    let ended = ws.wait_delta("turn end", &id, is_turn_ended).await?;
    assert!(
        matches!(&ended, SessionDelta::TurnEnded { turn_id, .. } if *turn_id == turn),
        "{ended:?}"
    );

    // The model's next request in that turn carries the command's output and the steer.
    let reqs = h.fake.responses_requests();
    assert_eq!(reqs.len(), 2, "one turn, two model requests: {reqs:#?}");
    assert!(!user_text_contains(&reqs[0], "bananas"));
    assert!(reqs[1].function_call_output("call-steer").is_some());
    assert!(
        user_text_contains(&reqs[1], "also mention bananas"),
        "{:#?}",
        reqs[1].input()
    );
    // Exactly one turn ran.
    let started: Vec<String> = ws
        .seen
        .iter()
        .filter_map(|m| match m {
            ServerMessage::SessionDelta {
                delta: SessionDelta::TurnStarted { turn },
                ..
            } => Some(turn.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![turn]);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_as_a_turn_finishes_still_reaches_the_model() -> Result<()> {
    let h = Harness::start().await?;
    // A streamed answer: the second message goes out while it streams or just after it ended;
    // either way (steered into the turn, or a new turn after a refused steer) it must reach the
    // model and the caller must not see an error.
    h.fake.enqueue(
        ScriptedResponse::new()
            .text_deltas(&["one ", "two ", "three"])
            .delay_between_events(Duration::from_millis(40)),
    );
    h.fake
        .enqueue(ScriptedResponse::new().text("got the late one"));
    let created = h
        .create(
            json!({"cwd": h.workdir(), "approval_policy": "never", "sandbox_mode": "read-only"}),
        )
        .await?;
    let id = created.summary.id.clone();
    let mut ws = subscribed(&h, &id).await?;
    let _: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "count to three"}),
        )
        .await?;
    ws.wait_delta("streamed text", &id, |d| {
        matches!(d, SessionDelta::ItemText { .. })
    })
    .await?;
    let late: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "late addition"}),
        )
        .await?;
    assert!(late.turn_id.is_some());
    let reqs = h.fake.wait_for_responses_requests_async(2, WAIT).await;
    assert!(
        reqs.iter().any(|r| user_text_contains(r, "late addition")),
        "{reqs:#?}"
    );
    eventually("idle", || async {
        let st: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
        Ok(st.current_turn.is_none().then_some(()))
    })
    .await?;
    h.shutdown().await;
    Ok(())
}

/// The agent itself refuses a steer whose expected turn is not the active one; the server's
/// fallback to a new turn rests on that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_refuses_a_steer_for_a_turn_that_is_not_active() -> Result<()> {
    let h = Harness::start().await?;
    h.fake
        .enqueue(ScriptedResponse::new().exec_command("echo held", "call-held"));
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let connector = AppServerConnector::new(
        AppServerConfig {
            codex_bin: test_support::codex_bin(),
            codex_home: h.home.path().to_owned(),
            env: h
                .home
                .env()
                .into_iter()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect(),
            request_timeout: Duration::from_secs(30),
        },
        orbitdock_server::connector::Router::to_channel(tx),
    );
    let cfg = ThreadConfig {
        cwd: h.workdir(),
        approval_policy: Some(orbitdock_protocol::ApprovalPolicy::Untrusted),
        sandbox_mode: Some(orbitdock_protocol::SandboxMode::WorkspaceWrite),
        ..Default::default()
    };
    let thread = connector.start_thread(&cfg).await?.thread_id;
    let turn = connector.start_turn(&thread, "hold", &cfg).await?;
    // Wait until the turn is parked on its approval (it is active in the agent).
    tokio::time::timeout(WAIT, async {
        while let Some(ev) = rx.recv().await {
            if matches!(ev, ConnectorEvent::Approval { .. }) {
                return;
            }
        }
    })
    .await
    .context("no approval request")?;
    let wrong = connector
        .steer_turn(&thread, "not-the-turn", "ignored")
        .await;
    assert!(wrong.is_err(), "{wrong:?}");
    assert_eq!(connector.steer_turn(&thread, &turn, "fine").await?, turn);
    connector.interrupt_turn(&thread, &turn).await?;
    connector.shutdown().await;
    h.shutdown().await;
    Ok(())
}

/// A second app-server on the same CODEX_HOME, to read Codex's own view of the threads.
async fn observer(h: &Harness) -> Result<AppServer> {
    let mut b = AppServerBuilder::new(test_support::codex_bin(), h.home.path())
        .client_info("orbitdock-test", "0");
    for (k, v) in h.home.env() {
        b = b.env(k, v);
    }
    Ok(b.spawn().await?.0)
}

async fn listed(s: &AppServer, archived: bool) -> Result<Vec<String>> {
    let r = s
        .call::<ThreadList>(ThreadListParams {
            archived: Some(archived),
            source_kinds: Some(vec![
                "appServer".into(),
                "cli".into(),
                "vscode".into(),
                "exec".into(),
            ]),
            limit: Some(100),
            ..Default::default()
        })
        .await?;
    Ok(r.data.into_iter().map(|t| t.id).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_and_unarchive_reach_the_codex_thread() -> Result<()> {
    let h = Harness::start().await?;
    h.fake.enqueue(ScriptedResponse::new().text("first answer"));
    h.fake
        .enqueue(ScriptedResponse::new().text("after unarchive"));
    let created = h
        .create(
            json!({"cwd": h.workdir(), "approval_policy": "never", "sandbox_mode": "read-only",
            "prompt": "hello"}),
        )
        .await?;
    let id = created.summary.id.clone();
    let thread = created.summary.thread_id.clone().unwrap();
    let mut ws = subscribed(&h, &id).await?;
    if h.get::<SessionState>(&format!("/api/sessions/{id}"))
        .await?
        .current_turn
        .is_some()
    {
        ws.wait_delta("first turn end", &id, is_turn_ended).await?;
    }

    let st: SessionState = h
        .post(&format!("/api/sessions/{id}/archive"), &json!({}))
        .await?;
    assert!(st.summary.archived);
    let obs = observer(&h).await?;
    let archived = listed(&obs, true).await?;
    assert!(archived.contains(&thread), "archived: {archived:?}");
    assert!(!listed(&obs, false).await?.contains(&thread));

    // Unarchive over the WebSocket (same dispatcher as REST).
    ws.send(
        json!({"type": "set_archived", "session_id": id, "archived": false, "client_ref": "un"}),
    )
    .await?;
    ws.wait_for(
        "unarchive ack",
        |m| matches!(m, ServerMessage::Ack { client_ref: Some(r), .. } if r == "un"),
    )
    .await?;
    let active = listed(&obs, false).await?;
    assert!(active.contains(&thread), "active: {active:?}");
    assert!(!listed(&obs, true).await?.contains(&thread));
    let _ = obs.shutdown().await;

    // The thread still works: a new message resumes it and reaches the model with its history.
    let _: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "still there?"}),
        )
        .await?;
    let reqs = h.fake.wait_for_responses_requests_async(2, WAIT).await;
    assert!(user_text_contains(&reqs[1], "still there?"));
    assert!(user_text_contains(&reqs[1], "hello"), "history kept");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_compaction_the_next_request_carries_the_compacted_history() -> Result<()> {
    use orbitdock_protocol::{ItemBody, ItemStatus};
    let h = Harness::start().await?;
    h.fake.enqueue(
        ScriptedResponse::new()
            .text("ORIGINAL-ANSWER-7f3 with many details")
            .usage(5_000, 0, 400, 0),
    );
    let created = h
        .create(
            json!({"cwd": h.workdir(), "approval_policy": "never", "sandbox_mode": "read-only"}),
        )
        .await?;
    let id = created.summary.id.clone();
    let mut ws = subscribed(&h, &id).await?;
    let _: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "first question"}),
        )
        .await?;
    ws.wait_delta("first turn end", &id, is_turn_ended).await?;

    // The model writes the summary when Codex asks for it.
    h.fake.enqueue(
        ScriptedResponse::new()
            .text("SUMMARY-9c1: the user asked a first question")
            .usage(5_400, 0, 60, 0),
    );
    let _: SessionState = h
        .post(&format!("/api/sessions/{id}/compact"), &json!({}))
        .await?;
    let d = ws
        .wait_delta("compaction item done", &id, |d| {
            matches!(d, SessionDelta::Item { item }
                if matches!(item.body, ItemBody::ContextCompaction { .. })
                    && item.status == ItemStatus::Completed)
        })
        .await?;
    let SessionDelta::Item { item } = d else {
        unreachable!()
    };
    assert!(
        matches!(
            item.body,
            ItemBody::ContextCompaction {
                context_tokens_before: Some(n)
            } if n > 0
        ),
        "{item:?}"
    );
    ws.wait_delta("compaction turn end", &id, is_turn_ended)
        .await?;

    h.fake
        .enqueue(ScriptedResponse::new().text("answer after compaction"));
    let _: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "second question"}),
        )
        .await?;
    ws.wait_delta("second turn end", &id, is_turn_ended).await?;
    let reqs = h.fake.responses_requests();
    assert_eq!(reqs.len(), 3, "turn, compaction, turn: {reqs:#?}");
    let before = serde_json::to_string(reqs[0].input())?;
    let after = serde_json::to_string(reqs[2].input())?;
    assert!(before.contains("first question"));
    // What the model sees after compaction: the summary in place of the earlier exchange.
    assert!(after.contains("SUMMARY-9c1"), "{after}");
    assert!(!after.contains("ORIGINAL-ANSWER-7f3"), "{after}");
    assert!(user_text_contains(&reqs[2], "second question"));
    h.shutdown().await;
    Ok(())
}

/// Why an archived session refuses messages: the pinned Codex does not resume an archived
/// thread (and does after it is unarchived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_resumes_an_archived_thread_only_after_unarchive() -> Result<()> {
    let h = Harness::start().await?;
    h.fake.enqueue(ScriptedResponse::new().text("kept"));
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let env = h
        .home
        .env()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let config = AppServerConfig {
        codex_bin: test_support::codex_bin(),
        codex_home: h.home.path().to_owned(),
        env,
        request_timeout: Duration::from_secs(30),
    };
    let cfg = ThreadConfig {
        cwd: h.workdir(),
        ..Default::default()
    };
    let connector = AppServerConnector::new(
        config.clone(),
        orbitdock_server::connector::Router::to_channel(tx.clone()),
    );
    let thread = connector.start_thread(&cfg).await?.thread_id;
    connector.start_turn(&thread, "remember", &cfg).await?;
    tokio::time::timeout(WAIT, async {
        while let Some(ev) = rx.recv().await {
            if let ConnectorEvent::Thread { events, .. } = ev
                && events
                    .iter()
                    .any(|e| matches!(e, orbitdock_server::SessionEvent::TurnEnded { .. }))
            {
                return;
            }
        }
    })
    .await
    .context("turn end")?;
    connector.set_thread_archived(&thread, true).await?;
    connector.shutdown().await;

    // A fresh app-server (nothing loaded) on the same home.
    let (tx, _rx) = tokio::sync::mpsc::channel(1024);
    let fresh =
        AppServerConnector::new(config, orbitdock_server::connector::Router::to_channel(tx));
    let archived = fresh.resume_thread(&thread, &cfg).await;
    assert!(
        matches!(&archived, Err(e) if e.to_string().contains("is archived")),
        "{archived:?}"
    );
    fresh.set_thread_archived(&thread, false).await?;
    let resumed = fresh.resume_thread(&thread, &cfg).await?;
    assert_eq!(resumed.thread_id, thread);
    fresh.shutdown().await;
    h.shutdown().await;
    Ok(())
}
