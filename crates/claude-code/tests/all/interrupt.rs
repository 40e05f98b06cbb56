//! Interrupts end the turn promptly: mid-stream (the model request is dropped) and while a
//! permission question is open (the CLI withdraws it).

use std::time::{Duration, Instant};

use claude_code::SessionEvent;
use claude_code::protocol::OutputMessage;
use claude_code::protocol::content::UserContent;
use test_support::fake_anthropic::ScriptedMessage;

use crate::common::{Env, Events, WAIT, messages};

/// "Promptly": the turn must end well within this after the interrupt.
const PROMPT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn interrupt_mid_stream_ends_the_turn_and_the_session_goes_on() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake
        .enqueue(ScriptedMessage::new().text_deltas(&["partial "]).hang());
    env.fake
        .enqueue(ScriptedMessage::new().text("after the interrupt"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("write a long essay").await?;

    events
        .until("the first text delta", |e| {
            matches!(e, SessionEvent::Message(OutputMessage::StreamEvent(s)) if s.event.text_delta().is_some())
        })
        .await;
    let asked = Instant::now();
    let answer = session.interrupt().await?;
    assert!(answer.still_queued.is_empty());
    let (result, seen) = tokio::time::timeout(PROMPT, events.result())
        .await
        .expect("the interrupted turn did not end promptly");
    let took = asked.elapsed();
    assert!(result.is_error);
    assert_eq!(result.subtype, "error_during_execution");
    assert_eq!(result.terminal_reason.as_deref(), Some("aborted_streaming"));
    let msgs = messages(&seen);
    assert!(
        msgs.iter().any(
            |m| matches!(m, OutputMessage::Assistant(a) if a.aborted && a.text() == "partial ")
        ),
        "the partial answer is kept, marked aborted"
    );
    assert!(msgs.iter().any(|m| matches!(
        m,
        OutputMessage::User(u) if matches!(&u.message.content, UserContent::Blocks(_))
            && u.message.content.text() == "[Request interrupted by user]"
    )));
    env.fake.wait_for_disconnects_async(1, PROMPT).await;
    eprintln!("interrupt -> result took {took:?}");

    session.send_user_text("go on").await?;
    let (result, _) = events.result().await;
    assert!(!result.is_error);
    assert_eq!(result.result.as_deref(), Some("after the interrupt"));
    let turns = env.fake.wait_for_turns_async(2, WAIT).await;
    assert!(turns[1].has_text("user", "go on"));
    session.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn interrupt_withdraws_an_open_permission_question() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake
        .enqueue(ScriptedMessage::new().bash("toolu_open", "touch never.txt"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("make never.txt").await?;

    let (perm, _) = events.permission().await;
    session.interrupt().await?;
    let seen = events
        .until("the cancel of the open question", |e| {
            matches!(e, SessionEvent::RequestCancelled { .. })
        })
        .await;
    let Some(SessionEvent::RequestCancelled { request_id }) = seen.last() else {
        unreachable!()
    };
    assert_eq!(request_id, perm.request_id());
    assert!(perm.responder().is_cancelled());
    // A late answer is refused locally (the CLI would ignore it anyway).
    assert!(matches!(
        perm.allow().await,
        Err(claude_code::Error::RequestCancelled { .. })
    ));
    let (result, _) = tokio::time::timeout(PROMPT, events.result())
        .await
        .expect("the interrupted turn did not end promptly");
    assert!(result.is_error);
    assert!(!env.path("never.txt").exists());
    session.shutdown().await?;
    Ok(())
}
