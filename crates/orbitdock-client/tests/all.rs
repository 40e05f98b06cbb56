//! The client against a real server: the OrbitDock server on 127.0.0.1:0 over a temp data dir,
//! the real pinned Codex app-server, and test-support's loopback fake of the model API.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use orbitdock_client::{Client, ClientMessage, Error, ItemsQuery, ServerMessage};
use orbitdock_protocol::{
    ApprovalDecision, CreateSessionRequest, ItemBody, SessionDelta, SessionStatus,
};
use serde_json::json;
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse};

const TOKEN: &str = "client-test-token-42";

fn is_turn_ended(d: &SessionDelta) -> bool {
    matches!(d, SessionDelta::TurnEnded { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_and_websocket_calls_against_a_real_server() -> Result<()> {
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let data = tempfile::tempdir()?;
    let env = home
        .env()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let server = orbitdock_server::start(orbitdock_server::ServerConfig {
        data_dir: data.path().to_owned(),
        codex_home: home.path().to_owned(),
        codex_bin: test_support::codex_bin(),
        bind: "127.0.0.1:0".parse::<SocketAddr>()?,
        token: TOKEN.into(),
        codex_env: env,
        claude: None,
        output_limits: Default::default(),
    })
    .await?;

    // Discovery: server.json + token, as `orbitdock serve` writes them.
    let e = Client::discover(data.path()).unwrap_err();
    assert!(matches!(e, Error::NoServer { .. }), "{e}");
    std::fs::write(
        data.path().join("server.json"),
        json!({"url": format!("http://{}", server.addr), "pid": std::process::id()}).to_string(),
    )?;
    std::fs::write(data.path().join("token"), format!("{TOKEN}\n"))?;
    let c = Client::discover(data.path())?.with_ws_wait(Duration::from_secs(60));
    assert!(c.health().await?.ok);

    // Errors keep the server's code and message.
    let wrong = Client::new(c.base_url().as_str(), "wrong")?;
    let e = wrong.list_sessions().await.unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(401), Some("unauthorized")),
        "{e}"
    );
    let e = c.get_session("no-such-session").await.unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(404), Some("not_found")),
        "{e}"
    );
    let e = c
        .create_session(&CreateSessionRequest {
            cwd: "/definitely/not/here".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_request"), "{e}");

    // A session with an approval: create, subscribe, send, decline over REST, turn ends.
    fake.enqueue(ScriptedResponse::new().exec_command("touch declined.txt", "call-1"));
    fake.enqueue(ScriptedResponse::new().text("understood"));
    let request: CreateSessionRequest = serde_json::from_value(json!({
        "cwd": home.workdir().to_string_lossy(),
        "approval_policy": "untrusted",
        "sandbox_mode": "workspace-write",
    }))?;
    let created = c.create_session(&request).await?;
    let id = created.summary.id.clone();
    let mut ws = c.ws().await?;
    assert!(!ws.server_version().is_empty());
    ws.subscribe_session(&id, None).await?;
    ws.wait_for(
        "snapshot",
        |m| matches!(m, ServerMessage::SessionSnapshot { session_id, .. } if *session_id == id),
    )
    .await?;
    let sent = c.send_text(&id, "make a file").await?;
    assert_eq!(sent.session_id, id);
    let d = ws
        .wait_delta("approval", &id, |d| {
            matches!(d, SessionDelta::ApprovalRequested { .. })
        })
        .await?;
    let SessionDelta::ApprovalRequested { approval } = d else {
        unreachable!()
    };
    let state = c.get_session(&id).await?;
    assert_eq!(state.pending_approvals.len(), 1);
    assert_eq!(state.summary.status, SessionStatus::NeedsApproval);
    assert!(
        c.approve(&id, &approval.request_id, ApprovalDecision::Decline)
            .await?
            .ok
    );
    let e = c
        .approve(&id, &approval.request_id, ApprovalDecision::Accept)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("not_found"), "answered twice: {e}");
    ws.wait_delta("turn end", &id, is_turn_ended).await?;
    assert!(!home.workdir().join("declined.txt").exists());
    let history = c.approval_history(&id).await?;
    assert_eq!(history.approvals.len(), 1);

    // Transcript paging.
    let page = c.items(&id, ItemsQuery::default()).await?;
    assert!(
        page.items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::UserMessage { text } if text == "make a file")),
        "{:#?}",
        page.items
    );
    let last = c
        .items(
            &id,
            ItemsQuery {
                before: Some(page.last_seq + 1),
                limit: Some(1),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(last.items.len(), 1);
    assert_eq!(last.items[0].seq, page.last_seq);

    // Plain actions over REST and over the WebSocket.
    assert_eq!(
        c.rename(&id, "renamed").await?.summary.name.as_deref(),
        Some("renamed")
    );
    let e = c.interrupt(&id).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(409), Some("conflict")), "{e}");
    let acked = ws
        .request(&ClientMessage::RenameSession {
            session_id: id.clone(),
            name: "over ws".into(),
            client_ref: None,
        })
        .await?;
    assert_eq!(acked["name"], "over ws", "{acked}");
    let e = ws
        .request(&ClientMessage::Interrupt {
            session_id: id.clone(),
            client_ref: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("conflict"), "{e}");
    ws.request(&ClientMessage::Ping { client_ref: None })
        .await?;
    assert!(ws.revision(&id) > 0);

    let listed = c.list_sessions().await?;
    assert!(listed.sessions.iter().any(|s| s.id == id));
    let html = c.markdown(&["**bold**".into()]).await?;
    assert!(html[0].contains("<strong>bold</strong>"), "{html:?}");
    let ended = c.end_session(&id).await?;
    assert_eq!(ended.summary.status, SessionStatus::Ended);

    ws.close().await;
    server.shutdown().await;
    Ok(())
}
