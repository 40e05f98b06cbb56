//! Transport behaviour that the real Codex cannot be made to produce on demand (garbage lines,
//! unknown notifications, overload errors, a crash mid-call), driven through a REAL child process
//! and real pipes: `/bin/sh` running a scripted "app-server" (the builder runs
//! `<program> app-server`, so with program `/bin/sh` and the script saved as `./app-server` in the
//! child's working directory, `sh` runs our script).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use codex_client::Error;
use codex_client::app_server::requests::{ThreadArchive, ThreadIdParams};
use codex_client::app_server::{
    AppServer, AppServerBuilder, AppServerEvent, CommandApprovalDecision, RequestId,
    ServerNotification, ServerRequestParams,
};
use serde_json::{Value, json};
use tokio::sync::mpsc::Receiver;

const STEP: Duration = Duration::from_secs(10);

/// Reads the initialize request and answers it, then reads `initialized`.
const HANDSHAKE: &str = r#"
read -r init
printf '%s\n' '{"id":1,"result":{"userAgent":"fake/0","codexHome":"/fake","platformFamily":"unix","platformOs":"linux"}}'
read -r initialized
printf '{"method":"test/sawInitialized","params":%s}\n' "$initialized"
"#;

async fn spawn_script(dir: &Path, body: &str) -> Result<(AppServer, Receiver<AppServerEvent>)> {
    std::fs::write(dir.join("app-server"), format!("{HANDSHAKE}\n{body}"))?;
    let spawned = AppServerBuilder::new("/bin/sh", dir.join("home"))
        .current_dir(dir)
        .request_timeout(STEP)
        .initialize_timeout(STEP)
        .overload_retry(3, Duration::from_millis(10))
        .spawn()
        .await?;
    Ok(spawned)
}

async fn next(events: &mut Receiver<AppServerEvent>) -> Result<AppServerEvent> {
    tokio::time::timeout(STEP, events.recv())
        .await
        .context("no event within the step timeout")?
        .context("event channel closed without Exited")
}

fn unknown(ev: &AppServerEvent) -> Option<(&str, &Value)> {
    match ev {
        AppServerEvent::Notification(ServerNotification::Unknown { method, params }) => {
            Some((method, params))
        }
        _ => None,
    }
}

#[tokio::test]
async fn handshake_sends_initialize_then_initialized() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // After the handshake, echo the initialize request back so we can check what was sent.
    let (server, mut events) = spawn_script(
        dir.path(),
        r#"printf '{"method":"test/init","params":%s}\n' "$init"; read -r _"#,
    )
    .await?;
    assert_eq!(server.initialize_response().user_agent, "fake/0");
    assert_eq!(server.initialize_response().codex_home, "/fake");

    let ev = next(&mut events).await?;
    assert_eq!(
        unknown(&ev),
        Some(("test/sawInitialized", &json!({"method": "initialized"})))
    );
    let ev = next(&mut events).await?;
    let (method, init) = unknown(&ev).context("expected the echoed initialize")?;
    assert_eq!(method, "test/init");
    assert_eq!(init["method"], "initialize");
    assert_eq!(init["id"], 1);
    assert!(
        init.get("jsonrpc").is_none(),
        "app-server lines carry no jsonrpc field"
    );
    assert_eq!(init["params"]["clientInfo"]["name"], "codex-client");
    assert_eq!(init["params"]["capabilities"]["experimentalApi"], false);
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn unknown_notifications_and_garbage_lines_are_surfaced_not_fatal() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut events) = spawn_script(
        dir.path(),
        r#"
printf '%s\n' '{"method":"thread/somethingNew","params":{"threadId":"t1","x":[1,2]}}'
printf '%s\n' 'this is not json'
printf '%s\n' '[1,2,3]'
printf '%s\n' '{"method":"turn/completed","params":{"threadId":"t1"}}'
printf '%s\n' '{"method":"warning","params":{"threadId":null,"message":"still alive","new":1}}'
read -r _
"#,
    )
    .await?;
    let _initialized = next(&mut events).await?;

    let ev = next(&mut events).await?;
    assert_eq!(
        unknown(&ev),
        Some((
            "thread/somethingNew",
            &json!({"threadId": "t1", "x": [1, 2]})
        ))
    );
    let ev = next(&mut events).await?;
    let AppServerEvent::Malformed { line, error } = ev else {
        bail!("expected Malformed, got {ev:?}");
    };
    assert_eq!(line, "this is not json");
    assert!(!error.is_empty());
    let ev = next(&mut events).await?;
    assert!(
        matches!(&ev, AppServerEvent::Malformed { line, .. } if line == "[1,2,3]"),
        "{ev:?}"
    );
    // A typed method whose params lost a required field is surfaced raw.
    let ev = next(&mut events).await?;
    assert_eq!(
        unknown(&ev),
        Some(("turn/completed", &json!({"threadId": "t1"})))
    );
    // ...and the stream goes on, typed.
    let ev = next(&mut events).await?;
    let AppServerEvent::Notification(ServerNotification::Warning(w)) = ev else {
        bail!("expected a typed warning, got {ev:?}");
    };
    assert_eq!(w.message, "still alive");
    assert!(!server.has_exited());
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn server_request_is_surfaced_and_answered_only_by_the_caller() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut events) = spawn_script(
        dir.path(),
        r#"
printf '%s\n' '{"id":"req-9","method":"item/commandExecution/requestApproval","params":{"threadId":"t","turnId":"u","itemId":"i","command":"touch /tmp/x","reason":"needs write"}}'
printf '%s\n' '{"id":10,"method":"account/chatgptAuthTokens/refresh","params":{"reason":"expired"}}'
read -r answer1
printf '{"method":"test/answer","params":%s}\n' "$answer1"
read -r answer2
printf '{"method":"test/answer","params":%s}\n' "$answer2"
read -r _
"#,
    )
    .await?;
    let _initialized = next(&mut events).await?;

    let AppServerEvent::Request(approval) = next(&mut events).await? else {
        bail!("expected the approval request");
    };
    assert_eq!(approval.id, RequestId::String("req-9".into()));
    assert_eq!(approval.thread_id(), Some("t"));
    let ServerRequestParams::CommandExecutionApproval(p) = &approval.params else {
        bail!("expected typed approval params, got {:?}", approval.params);
    };
    assert_eq!(p.command.as_deref(), Some("touch /tmp/x"));
    assert_eq!(p.reason.as_deref(), Some("needs write"));

    let AppServerEvent::Request(other) = next(&mut events).await? else {
        bail!("expected the second request");
    };
    assert_eq!(other.id, RequestId::Integer(10));
    assert_eq!(
        other.params,
        ServerRequestParams::Unknown(json!({"reason": "expired"}))
    );

    // Nothing was answered on our behalf: the script is still waiting for the first answer.
    // Answer out of order, from stored responders, and try to answer one twice.
    let stored = other.responder();
    stored.respond_error(-32601, "not supported here").await?;
    let r = approval.responder();
    r.respond_command_approval(CommandApprovalDecision::Decline)
        .await?;
    let twice = approval
        .responder()
        .respond_command_approval(CommandApprovalDecision::Accept)
        .await;
    assert!(
        matches!(twice, Err(Error::AlreadyAnswered { .. })),
        "{twice:?}"
    );

    let ev = next(&mut events).await?;
    assert_eq!(
        unknown(&ev),
        Some((
            "test/answer",
            &json!({"id": 10, "error": {"code": -32601, "message": "not supported here"}})
        ))
    );
    let ev = next(&mut events).await?;
    assert_eq!(
        unknown(&ev),
        Some((
            "test/answer",
            &json!({"id": "req-9", "result": {"decision": "decline"}})
        ))
    );
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn rpc_errors_are_typed_and_overload_is_retried() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut events) = spawn_script(
        dir.path(),
        r#"
read -r call; printf '%s\n' '{"id":2,"error":{"code":-32001,"message":"overloaded"}}'
read -r call; printf '%s\n' '{"id":3,"error":{"code":-32001,"message":"overloaded"}}'
read -r call; printf '%s\n' '{"id":4,"result":{}}'
read -r call; printf '%s\n' '{"id":5,"error":{"code":-32600,"message":"thread not found: nope","data":{"x":1}}}'
read -r _
"#,
    )
    .await?;
    let _initialized = next(&mut events).await?;

    // Two overload answers, then success: the caller only sees the success.
    server
        .call::<ThreadArchive>(ThreadIdParams {
            thread_id: "t".into(),
        })
        .await?;
    let err = server
        .call::<ThreadArchive>(ThreadIdParams {
            thread_id: "nope".into(),
        })
        .await
        .expect_err("the server answers an error");
    match err {
        Error::Rpc {
            method,
            code,
            message,
            data,
        } => {
            assert_eq!(method, "thread/archive");
            assert_eq!(code, -32600);
            assert_eq!(message, "thread not found: nope");
            assert_eq!(data.as_deref(), Some(&json!({"x": 1})));
        }
        other => bail!("expected Rpc error, got {other:?}"),
    }
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn overload_retries_are_bounded() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut events) = spawn_script(
        dir.path(),
        r#"
n=2
while read -r call; do
  printf '{"id":%d,"error":{"code":-32001,"message":"overloaded"}}\n' "$n"
  n=$((n+1))
done
"#,
    )
    .await?;
    let _initialized = next(&mut events).await?;
    let err = server
        .call_raw("thread/list", json!({}), STEP)
        .await
        .expect_err("always overloaded");
    assert!(
        matches!(err, Error::Rpc { code: -32001, .. }),
        "after 3 retries the overload error is returned: {err:?}"
    );
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn timeout_is_reported_and_a_late_answer_is_ignored() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut events) = spawn_script(
        dir.path(),
        r#"
read -r call
read -r second
printf '%s\n' '{"id":2,"result":{"late":true}}'
printf '%s\n' '{"id":3,"result":{"ok":true}}'
read -r _
"#,
    )
    .await?;
    let _initialized = next(&mut events).await?;
    let err = server
        .call_raw("thread/list", json!({}), Duration::from_millis(200))
        .await
        .expect_err("no answer in time");
    assert!(
        matches!(&err, Error::Timeout { method, .. } if method == "thread/list"),
        "{err:?}"
    );
    // The late answer to id 2 must not be mistaken for the answer to id 3.
    let ok = server.call_raw("thread/read", json!({}), STEP).await?;
    assert_eq!(ok, json!({"ok": true}));
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn crash_fails_pending_calls_and_is_the_last_event() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut events) = spawn_script(
        dir.path(),
        r#"
read -r call
echo "panic: something broke" >&2
exit 3
"#,
    )
    .await?;
    let _initialized = next(&mut events).await?;
    let err = server
        .call_raw("thread/list", json!({}), STEP)
        .await
        .expect_err("the server dies instead of answering");
    let Error::Closed { reason } = &err else {
        bail!("expected Closed, got {err:?}");
    };
    assert!(reason.contains("Some(3)"), "{reason}");
    assert!(reason.contains("panic: something broke"), "{reason}");

    let ev = next(&mut events).await?;
    let AppServerEvent::Exited {
        status,
        stderr_tail,
    } = ev
    else {
        bail!("expected Exited, got {ev:?}");
    };
    assert_eq!(status, Some(3));
    assert!(stderr_tail.contains("panic: something broke"));
    assert!(
        tokio::time::timeout(STEP, events.recv()).await?.is_none(),
        "Exited is the last event"
    );
    // Calls after the exit fail at once, with the same reason.
    let err = server
        .call_raw("thread/list", json!({}), STEP)
        .await
        .expect_err("closed");
    assert!(matches!(err, Error::Closed { .. }), "{err:?}");
    assert!(server.has_exited());
    Ok(())
}

#[tokio::test]
async fn full_event_channel_applies_backpressure_without_losing_events() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("app-server"),
        format!(
            "{HANDSHAKE}\ni=0\nwhile [ $i -lt 200 ]; do printf '{{\"method\":\"test/n\",\"params\":{{\"i\":%d}}}}\\n' $i; i=$((i+1)); done\nread -r _\n"
        ),
    )?;
    let (server, mut events) = AppServerBuilder::new("/bin/sh", dir.path().join("home"))
        .current_dir(dir.path())
        .event_capacity(4)
        .spawn()
        .await?;
    let _initialized = next(&mut events).await?;
    for want in 0..200 {
        let ev = next(&mut events).await?;
        let (_, params) = unknown(&ev).context("expected test/n")?;
        assert_eq!(params["i"], want, "events arrive complete and in order");
    }
    server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn shutdown_kills_a_server_that_ignores_stdin_close() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // Ignores EOF on stdin and keeps a grandchild in its process group.
    let (server, mut events) = spawn_script(
        dir.path(),
        r#"
sleep 300 &
echo $! > grandchild.pid
printf '%s\n' '{"method":"test/ready"}'
while true; do sleep 1; done
"#,
    )
    .await?;
    let _initialized = next(&mut events).await?;
    let _ready = next(&mut events).await?;
    let pid = server.pid().context("pid")?;
    let grandchild: i32 = std::fs::read_to_string(dir.path().join("grandchild.pid"))?
        .trim()
        .parse()?;
    server.shutdown().await?;
    let ev = next(&mut events).await?;
    assert!(
        matches!(ev, AppServerEvent::Exited { status: None, .. }),
        "killed by a signal: {ev:?}"
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "server gone");
    // The grandchild got SIGKILL too; it may linger briefly as a zombie until reaped by init.
    let gone_or_zombie = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .map(|s| s.split_whitespace().nth(2) == Some("Z"))
            .unwrap_or(true)
    };
    let deadline = std::time::Instant::now() + STEP;
    while !gone_or_zombie(grandchild) {
        assert!(
            std::time::Instant::now() < deadline,
            "grandchild {grandchild} survived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test]
async fn dropping_the_last_handle_kills_the_process_group() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut events) = spawn_script(dir.path(), "while true; do sleep 1; done").await?;
    let _initialized = next(&mut events).await?;
    let clone = server.clone();
    drop(server);
    assert!(!clone.has_exited(), "a clone keeps it alive");
    drop(clone);
    let ev = next(&mut events).await?;
    assert!(
        matches!(ev, AppServerEvent::Exited { status: None, .. }),
        "{ev:?}"
    );
    Ok(())
}

#[tokio::test]
async fn missing_binary_is_a_spawn_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let err = AppServerBuilder::new(dir.path().join("no-such-codex"), dir.path())
        .spawn()
        .await
        .expect_err("nothing to run");
    assert!(
        matches!(&err, Error::Spawn { program, .. } if program.ends_with("no-such-codex")),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn server_dying_during_initialize_fails_spawn_with_its_stderr() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("app-server"),
        "echo 'error: unknown flag --bogus' >&2\nexit 2\n",
    )?;
    let err = AppServerBuilder::new("/bin/sh", dir.path().join("home"))
        .current_dir(dir.path())
        .initialize_timeout(STEP)
        .spawn()
        .await
        .expect_err("the server exits before answering initialize");
    let Error::Closed { reason } = &err else {
        bail!("expected Closed, got {err:?}");
    };
    assert!(reason.contains("initialize"), "{reason}");
    assert!(reason.contains("Some(2)"), "{reason}");
    assert!(reason.contains("unknown flag --bogus"), "{reason}");
    Ok(())
}
