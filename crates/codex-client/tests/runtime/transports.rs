//! One typed client over every transport: a thread and a turn over a Unix socket, a WebSocket
//! with a capability token, `codex app-server proxy --sock` and a plain command on stdio; a
//! wrong token refused with a clear error; reconnection after the listener is killed and
//! restarted; two clients on one app-server seeing the same thread.

use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result, bail};
use codex_client::Error;
use codex_client::app_server::requests::{ThreadResume, ThreadResumeParams};
use codex_client::app_server::{
    AppServerEvent, CommandEndpoint, Endpoint, Framing, Listen, ReconnectPolicy, RemoteBuilder,
    TurnStatus, WsToken,
};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};

use super::common::{Client, WAIT, listener, socket_path, unix_listener};

fn remote(endpoint: Endpoint) -> RemoteBuilder {
    RemoteBuilder::new(endpoint)
        .client_info("codex-client-tests", "0.0.0")
        .request_timeout(WAIT)
        .initialize_timeout(WAIT)
}

fn home_for(fake: &FakeResponses) -> TempCodexHome {
    CodexHomeBuilder::new(&fake.base_url()).build()
}

/// A thread and a turn whose reply must be `reply`.
async fn thread_and_turn(client: &mut Client, home: &TempCodexHome, reply: &str) -> Result<()> {
    let thread = client.start_thread(home).await?;
    let seen = client.run_turn(&thread, "say something").await?;
    assert_eq!(seen.status, TurnStatus::Completed, "{seen:?}");
    assert_eq!(seen.agent_text, reply);
    Ok(())
}

#[tokio::test]
async fn unix_socket_runs_a_thread_and_a_turn() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("hello over unix"));
    let home = home_for(&fake);
    let path = socket_path(&home, "app.sock");
    let mut server = unix_listener(&home, &path).await?;
    let mut client = Client::new(remote(server.endpoint()).connect().await?);
    assert_eq!(client.server.generation(), 1);
    assert!(
        client
            .server
            .endpoint()
            .is_some_and(|e| e.starts_with("unix://"))
    );
    thread_and_turn(&mut client, &home, "hello over unix").await?;
    client.server.shutdown().await?;
    client
        .wait_for("Closed", |ev| {
            matches!(ev, AppServerEvent::Closed { .. }).then_some(())
        })
        .await
        .ok();
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn websocket_with_a_capability_token_runs_a_thread_and_a_turn() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("hello over ws"));
    let home = home_for(&fake);
    let token_file = home.path().join("ws-token");
    std::fs::write(&token_file, "correct-horse-battery-staple\n")?;
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))?;
    let mut server = listener(
        &home,
        Listen::WebSocket {
            addr: "127.0.0.1:0".into(),
            token_file: Some(token_file.clone()),
        },
    )
    .spawn()
    .await?;
    let endpoint = server.endpoint();
    let Endpoint::WebSocket { url, token } = &endpoint else {
        bail!("expected a websocket endpoint, got {endpoint:?}");
    };
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    // The file's trailing newline is not part of the token.
    assert_eq!(
        token.as_ref().map(WsToken::expose),
        Some("correct-horse-battery-staple")
    );
    assert_eq!(format!("{token:?}"), "Some(WsToken(<redacted>))");

    let mut client = Client::new(remote(endpoint.clone()).connect().await?);
    thread_and_turn(&mut client, &home, "hello over ws").await?;
    client.server.shutdown().await?;
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_wrong_or_missing_websocket_token_is_refused_with_a_clear_error() -> Result<()> {
    let fake = FakeResponses::start();
    let home = home_for(&fake);
    let token_file = home.path().join("ws-token");
    std::fs::write(&token_file, "the-right-one")?;
    let mut server = listener(
        &home,
        Listen::WebSocket {
            addr: "127.0.0.1:0".into(),
            token_file: Some(token_file),
        },
    )
    .spawn()
    .await?;
    let Endpoint::WebSocket { url, .. } = server.endpoint() else {
        bail!("expected a websocket endpoint");
    };

    let err = remote(Endpoint::websocket(
        &url,
        Some(WsToken::new("the-wrong-one")),
    ))
    .connect()
    .await
    .err()
    .context("a wrong token must be refused")?;
    let Error::Unauthorized {
        status,
        message,
        endpoint,
    } = &err
    else {
        bail!("expected Unauthorized, got {err:?}");
    };
    assert_eq!(*status, 401);
    assert_eq!(message, "invalid websocket bearer token");
    assert_eq!(endpoint, &url);
    assert!(
        !err.to_string().contains("the-wrong-one"),
        "the token is never echoed: {err}"
    );

    let err = remote(Endpoint::websocket(&url, None))
        .connect()
        .await
        .err()
        .context("a missing token must be refused")?;
    assert!(
        matches!(&err, Error::Unauthorized { status: 401, message, .. } if message == "missing websocket bearer token"),
        "{err:?}"
    );

    // A token over plain ws:// to a non-loopback address is refused before any connection.
    let err = remote(Endpoint::websocket(
        "ws://192.0.2.1:4500",
        Some(WsToken::new("t")),
    ))
    .connect()
    .await
    .err()
    .context("non-loopback ws with a token must be refused")?;
    assert!(matches!(err, Error::InvalidInvocation(_)), "{err:?}");
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn codex_app_server_proxy_carries_a_thread_and_a_turn() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("hello through the proxy"));
    let home = home_for(&fake);
    let path = socket_path(&home, "proxied.sock");
    let mut server = unix_listener(&home, &path).await?;
    let proxy = CommandEndpoint::codex_proxy(test_support::codex_bin(), Some(&path))
        .envs(home.env())
        .current_dir(home.workdir());
    let mut client = Client::new(remote(Endpoint::Command(proxy)).connect().await?);
    thread_and_turn(&mut client, &home, "hello through the proxy").await?;
    client.server.shutdown().await?;
    server.stop().await?;

    // A proxy with no server behind it fails the connection with the proxy's own explanation.
    let proxy = CommandEndpoint::codex_proxy(test_support::codex_bin(), Some(&path))
        .envs(home.env())
        .current_dir(home.workdir());
    let err = remote(Endpoint::Command(proxy))
        .connect()
        .await
        .err()
        .context("no server: connect must fail")?;
    assert!(
        matches!(&err, Error::Connect { reason, .. } if reason.contains("failed to connect to socket")),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_command_speaking_json_lines_carries_a_thread_and_a_turn() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("hello over a command"));
    let home = home_for(&fake);
    // The shape of `ssh HOST codex app-server`: a shell that execs the app-server on stdio.
    let command = CommandEndpoint::new("/bin/sh", Framing::JsonLines)
        .arg("-c")
        .arg("exec \"$0\" app-server")
        .arg(test_support::codex_bin())
        .envs(home.env())
        .current_dir(home.workdir());
    let mut client = Client::new(
        remote(Endpoint::Command(command))
            .reconnect(ReconnectPolicy::never())
            .connect()
            .await?,
    );
    thread_and_turn(&mut client, &home, "hello over a command").await?;
    client.server.shutdown().await?;
    let reason = client
        .wait_for("Closed", |ev| match ev {
            AppServerEvent::Closed { reason } => Some(reason.clone()),
            _ => None,
        })
        .await?;
    assert!(reason.contains("shut down"), "{reason}");
    assert!(client.server.has_exited());
    Ok(())
}

#[tokio::test]
async fn after_the_listener_is_killed_and_restarted_the_client_resumes_its_thread() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("first answer"));
    fake.enqueue(ScriptedResponse::new().text("second answer"));
    let home = home_for(&fake);
    let path = socket_path(&home, "restart.sock");
    let mut server = unix_listener(&home, &path).await?;
    let mut client = Client::new(
        remote(server.endpoint())
            .reconnect(ReconnectPolicy {
                initial_backoff: std::time::Duration::from_millis(50),
                max_backoff: std::time::Duration::from_millis(500),
                ..Default::default()
            })
            .connect()
            .await?,
    );
    let thread = client.start_thread(&home).await?;
    let first = client
        .run_turn(&thread, "remember the word giraffe")
        .await?;
    assert_eq!(first.agent_text, "first answer");
    assert_eq!(client.server.loaded_threads(), vec![thread.clone()]);

    // A crash: SIGKILL, the socket file stays behind.
    server.kill().await?;
    let generation = client
        .wait_for("Disconnected", |ev| match ev {
            AppServerEvent::Disconnected { generation, .. } => Some(*generation),
            _ => None,
        })
        .await?;
    assert_eq!(generation, 1);
    assert!(!client.server.is_connected());
    assert!(!client.server.has_exited(), "reconnecting is not closed");

    let mut server = unix_listener(&home, &path).await?;
    let (generation, resumed, not_resumed) = client
        .wait_for("Reconnected", |ev| match ev {
            AppServerEvent::Reconnected {
                generation,
                resumed,
                not_resumed,
            } => Some((*generation, resumed.clone(), not_resumed.clone())),
            _ => None,
        })
        .await?;
    assert_eq!(generation, 2);
    assert_eq!(resumed, vec![thread.clone()]);
    assert!(not_resumed.is_empty(), "{not_resumed:?}");
    assert_eq!(client.server.generation(), 2);

    let second = client.run_turn(&thread, "which word?").await?;
    assert_eq!(second.status, TurnStatus::Completed);
    assert_eq!(second.agent_text, "second answer");
    // The new server continued the same conversation: the model saw the first turn.
    let requests = fake.wait_for_responses_requests(2, WAIT);
    let history = serde_json::to_string(requests[1].input())?;
    assert!(history.contains("remember the word giraffe"), "{history}");
    assert!(history.contains("first answer"), "{history}");

    client.server.shutdown().await?;
    server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn two_clients_on_one_unix_app_server_see_the_same_threads_notifications() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("solo reply"));
    fake.enqueue(ScriptedResponse::new().text_deltas(&["shared ", "reply"]));
    let home = home_for(&fake);
    let path = socket_path(&home, "shared.sock");
    let mut server = unix_listener(&home, &path).await?;
    let mut a = Client::new(remote(server.endpoint()).connect().await?);
    let mut b = Client::new(remote(server.endpoint()).connect().await?);
    let thread = a.start_thread(&home).await?;
    // A thread has no rollout before its first turn, and 0.169 cannot resume it until then
    // ("no rollout found for thread id"): one turn first.
    assert_eq!(a.run_turn(&thread, "first").await?.agent_text, "solo reply");
    // B joins the thread A started (this is what `codex --remote` + resume does too).
    let joined = b
        .server
        .call::<ThreadResume>(ThreadResumeParams {
            thread_id: thread.clone(),
            ..Default::default()
        })
        .await?;
    assert_eq!(joined.thread.id, thread);

    let seen_a = a.run_turn(&thread, "hello both").await?;
    let seen_b = b.wait_turn(&thread).await?;
    assert_eq!(seen_a.agent_text, "shared reply");
    assert_eq!(seen_b.agent_text, "shared reply");
    assert_eq!(seen_a.turn_id, seen_b.turn_id);
    assert!(
        b.log.iter().any(|l| l.contains("item/agentMessage/delta")),
        "B sees the streaming deltas too: {:?}",
        b.log
    );
    a.server.shutdown().await?;
    b.server.shutdown().await?;
    server.stop().await?;
    Ok(())
}
