//! Processes don't leak: shutdown and drop take the CLI's whole tree with them (including a
//! command a tool is running), and the event stream ends with `Exited`.

use test_support::fake_anthropic::ScriptedMessage;

use crate::common::{Env, Events, eventually, processes_matching};

/// Starts a session whose Bash tool is busy running a command named `marker` (a `tail -f
/// /dev/null` renamed with `exec -a`: the CLI refuses a bare long `sleep`), and returns it.
async fn session_running_busy_tool(
    env: &Env,
    marker: &str,
) -> anyhow::Result<(claude_code::ClaudeSession, Events)> {
    env.fake.enqueue(ScriptedMessage::new().bash(
        "toolu_busy",
        &format!("(exec -a {marker} tail -f /dev/null)"),
    ));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("wait a while").await?;
    let (perm, _) = events.permission().await;
    perm.allow().await?;
    eventually(&format!("`{marker}` to start"), || {
        !processes_matching(marker).is_empty()
    })
    .await;
    Ok((session, events))
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn shutdown_kills_the_tree_when_a_tool_is_busy() -> anyhow::Result<()> {
    let env = Env::new();
    let marker = "claude-test-busy-313";
    let (session, mut events) = session_running_busy_tool(&env, marker).await?;
    let pid = session.pid().expect("pid");
    session.shutdown().await?;
    assert!(session.has_exited());
    eventually("the tool's process to be gone", || {
        processes_matching(marker).is_empty()
    })
    .await;
    // Reaped, not a zombie.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    events.exited().await;
    // Control calls after exit fail clearly instead of hanging.
    let err = session.interrupt().await.expect_err("gone");
    assert!(matches!(err, claude_code::Error::Closed { .. }), "{err}");
    Ok(())
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn dropping_the_last_handle_kills_the_tree() -> anyhow::Result<()> {
    let env = Env::new();
    let marker = "claude-test-busy-317";
    let (session, mut events) = session_running_busy_tool(&env, marker).await?;
    drop(session);
    eventually("the tool's process to be gone after drop", || {
        processes_matching(marker).is_empty()
    })
    .await;
    // The CLI handles SIGTERM itself and exits 143; a SIGKILL would leave no code.
    let status = events.exited().await;
    assert!(matches!(status, None | Some(143)), "{status:?}");
    Ok(())
}

#[tokio::test]
async fn an_idle_session_exits_cleanly_when_stdin_closes() -> anyhow::Result<()> {
    let env = Env::new();
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.shutdown().await?;
    assert_eq!(events.exited().await, Some(0));
    let err = session
        .send_user_text("too late")
        .await
        .expect_err("closed");
    assert!(matches!(err, claude_code::Error::Closed { .. }), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_dropped_event_receiver_refuses_permission_requests() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake
        .enqueue(ScriptedMessage::new().bash("toolu_orphan", "touch orphan.txt"));
    env.fake.enqueue(ScriptedMessage::new().text("refused"));
    let (session, rx) = env.builder().spawn().await?;
    drop(rx);
    session.send_user_text("make orphan.txt").await?;
    // With nobody listening the request is refused (never accepted): the model is told, the
    // turn completes, and the file is never created.
    eventually("the refused turn's follow-up request", || {
        env.fake.turns().len() >= 2
    })
    .await;
    let turns = env.fake.turns();
    let refusal = turns[1]
        .tool_result("toolu_orphan")
        .expect("the model saw a tool result");
    assert!(refusal.is_error, "{refusal:?}");
    assert!(!env.path("orphan.txt").exists());
    session.shutdown().await?;
    Ok(())
}
