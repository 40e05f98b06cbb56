//! `--resume SESSION_ID` in a new process continues the same session: same id, and the next
//! model request carries the earlier conversation.

use test_support::fake_anthropic::ScriptedMessage;

use crate::common::{Env, Events, WAIT, transcript_path};

#[tokio::test]
async fn resume_in_a_new_process_continues_the_same_session() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake
        .enqueue(ScriptedMessage::new().text("I will remember PINEAPPLE"));
    env.fake
        .enqueue(ScriptedMessage::new().text("It was PINEAPPLE"));

    let (first, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    first.send_user_text("remember the word PINEAPPLE").await?;
    let (result, _) = events.result().await;
    let session_id = result.session_id.clone();
    let first_cost = result.total_cost_usd.expect("cost");
    assert!(!session_id.is_empty());
    first.shutdown().await?;
    events.exited().await;
    assert!(
        transcript_path(&env.config, &session_id).is_some(),
        "no transcript for {session_id} under {}",
        env.config.display()
    );

    let (second, rx) = env.builder().resume(&session_id).spawn().await?;
    let mut events = Events::new(rx);
    assert_eq!(second.session_id().as_deref(), Some(session_id.as_str()));
    second.send_user_text("what was the word?").await?;
    let (result, _) = events.result().await;
    assert_eq!(result.session_id, session_id);
    assert_eq!(result.result.as_deref(), Some("It was PINEAPPLE"));
    // The cost is the session's running total, restored on resume.
    assert!(
        result.total_cost_usd.is_some_and(|c| c > first_cost),
        "{:?} after {first_cost}",
        result.total_cost_usd
    );

    let turns = env.fake.wait_for_turns_async(2, WAIT).await;
    let resumed = &turns[1];
    assert!(resumed.has_text("user", "remember the word PINEAPPLE"));
    assert!(resumed.has_text("assistant", "I will remember PINEAPPLE"));
    assert!(resumed.has_text("user", "what was the word?"));
    assert_eq!(
        resumed.header("x-claude-code-session-id"),
        Some(session_id.as_str())
    );
    second.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn fork_session_continues_a_copy_under_a_new_id() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake.enqueue(ScriptedMessage::new().text("original"));
    env.fake.enqueue(ScriptedMessage::new().text("forked"));
    let (first, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    first.send_user_text("start").await?;
    let (result, _) = events.result().await;
    let original = result.session_id;
    first.shutdown().await?;

    let (fork, rx) = env
        .builder()
        .resume(&original)
        .fork_session(true)
        .spawn()
        .await?;
    let mut events = Events::new(rx);
    assert_eq!(
        fork.session_id(),
        None,
        "a fork's id is only known from system/init"
    );
    fork.send_user_text("branch off").await?;
    let (result, _) = events.result().await;
    assert_ne!(result.session_id, original);
    assert_eq!(
        fork.session_id().as_deref(),
        Some(result.session_id.as_str())
    );
    let turns = env.fake.wait_for_turns_async(2, WAIT).await;
    assert!(turns[1].has_text("user", "start"));
    assert!(turns[1].has_text("assistant", "original"));
    fork.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn resuming_an_unknown_session_fails_with_the_cli_reason() -> anyhow::Result<()> {
    // A session is looked up in the config dir it ran with: another config dir (as for a
    // terminal session under ~/.claude resumed with an isolated dir) does not have it.
    let env = Env::new();
    let missing = "00000000-0000-4000-8000-000000000000";
    let err = env
        .builder()
        .resume(missing)
        .spawn()
        .await
        .expect_err("no such session");
    assert!(
        matches!(&err, claude_code::Error::Closed { reason }
            if reason.contains(&format!("No conversation found with session ID: {missing}"))),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn the_cli_does_not_refuse_a_second_live_process_on_one_session() -> anyhow::Result<()> {
    // What a takeover must guard against itself: while one process (e.g. the user's terminal)
    // still holds the session, a second `--resume` of the same id is accepted; both append to
    // the same transcript and each keeps its own in-memory history, so they diverge.
    let env = Env::new();
    env.fake.enqueue(ScriptedMessage::new().text("created"));
    env.fake.enqueue(ScriptedMessage::new().text("hub answer"));
    env.fake
        .enqueue(ScriptedMessage::new().text("terminal answer"));
    let (terminal, rx) = env.builder().spawn().await?;
    let mut terminal_events = Events::new(rx);
    terminal.send_user_text("start").await?;
    let session_id = terminal_events.result().await.0.session_id;

    let (hub, rx) = env.builder().resume(&session_id).spawn().await?;
    let mut hub_events = Events::new(rx);
    hub.send_user_text("hub says").await?;
    let (h, _) = hub_events.result().await;
    assert_eq!(h.session_id, session_id);

    terminal.send_user_text("terminal says").await?;
    let (t, _) = terminal_events.result().await;
    assert_eq!(t.session_id, session_id);
    let turns = env.fake.wait_for_turns_async(3, WAIT).await;
    assert!(
        turns[1].has_text("user", "start"),
        "the hub saw the history"
    );
    assert!(turns[2].has_text("user", "terminal says"));
    assert!(
        !turns[2].has_text("user", "hub says"),
        "the still-running terminal process does not see the hub's turn"
    );
    for s in [terminal, hub] {
        s.shutdown().await?;
    }
    Ok(())
}
