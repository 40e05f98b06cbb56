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
