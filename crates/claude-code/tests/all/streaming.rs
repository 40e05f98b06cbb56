//! Streamed text and thinking arrive as typed events, in order, followed by the authoritative
//! assistant message and a result with usage and cost.

use claude_code::protocol::content::ContentBlock;
use claude_code::protocol::control::PermissionMode;
use claude_code::protocol::{OutputMessage, StreamEvent, SystemMessage};
use claude_code::{PINNED_VERSION, SessionEvent};
use test_support::fake_anthropic::ScriptedMessage;

use crate::common::{Env, Events, messages};

#[tokio::test]
async fn streamed_text_arrives_as_typed_events() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake.enqueue(
        ScriptedMessage::new()
            .text_deltas(&["Hel", "lo ", "world"])
            .usage(12, 7, 0, 0),
    );
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);

    let init = session.initialize_response().expect("initialize answered");
    assert_eq!(init.claude_code_version.as_deref(), Some(PINNED_VERSION));
    assert_eq!(init.current_permission_mode, Some(PermissionMode::Default));
    let account = init.account.as_ref().expect("account in initialize");
    assert_eq!(account.api_key_source.as_deref(), Some("ANTHROPIC_API_KEY"));

    session.send_user_text("say hello").await?;
    let (result, seen) = events.result().await;
    let msgs = messages(&seen);

    let system_init = msgs
        .iter()
        .find_map(|m| match m {
            OutputMessage::System(SystemMessage::Init(i)) => Some(i.clone()),
            _ => None,
        })
        .expect("system/init with the first turn");
    assert_eq!(system_init.cwd, env.cwd.display().to_string());
    assert!(system_init.tools.iter().any(|t| t == "Bash"));
    assert_eq!(
        session.session_id().as_deref(),
        Some(system_init.session_id.as_str())
    );

    let deltas: Vec<(usize, &str)> = msgs
        .iter()
        .enumerate()
        .filter_map(|(i, m)| match m {
            OutputMessage::StreamEvent(s) => s.event.text_delta().map(|t| (i, t)),
            _ => None,
        })
        .collect();
    assert_eq!(
        deltas.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
        ["Hel", "lo ", "world"]
    );
    let (assistant_at, assistant) = msgs
        .iter()
        .enumerate()
        .find_map(|(i, m)| match m {
            OutputMessage::Assistant(a) => Some((i, a)),
            _ => None,
        })
        .expect("an assistant message");
    assert_eq!(assistant.text(), "Hello world");
    assert_eq!(assistant.session_id, system_init.session_id);
    // Deltas first (for a live UI), then the authoritative message.
    assert!(deltas.iter().all(|(i, _)| *i < assistant_at));
    assert!(msgs.iter().any(|m| matches!(
        m,
        OutputMessage::StreamEvent(s) if matches!(s.event, StreamEvent::MessageStop(_))
    )));

    assert_eq!(result.subtype, "success");
    assert!(!result.is_error);
    assert_eq!(result.result.as_deref(), Some("Hello world"));
    assert_eq!(result.session_id, system_init.session_id);
    let usage = result.usage.expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 7));
    assert!(
        result.total_cost_usd.is_some_and(|c| c > 0.0),
        "{:?}",
        result.total_cost_usd
    );

    let turns = env.fake.wait_for_turns_async(1, crate::common::WAIT).await;
    assert!(turns[0].has_text("user", "say hello"));
    assert_eq!(turns[0].model(), Some(system_init.model.as_str()));
    assert_eq!(turns[0].header("x-api-key"), Some("sk-ant-test-fake"));
    assert_eq!(env.fake.unscripted_requests(), 0);
    // Offline: the only calls are conversation turns.
    assert!(env.fake.requests().iter().all(|r| r.is_turn()));

    session.shutdown().await?;
    assert_eq!(events.exited().await, Some(0));
    Ok(())
}

#[tokio::test]
async fn thinking_is_streamed_and_kept_as_a_block() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake.enqueue(
        ScriptedMessage::new()
            .thinking_deltas(&["let me ", "think"])
            .text("the answer"),
    );
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("think first").await?;
    let (result, seen) = events.result().await;
    let msgs = messages(&seen);
    let thinking: Vec<&str> = msgs
        .iter()
        .filter_map(|m| match m {
            OutputMessage::StreamEvent(s) => s.event.thinking_delta(),
            _ => None,
        })
        .collect();
    assert_eq!(thinking, ["let me ", "think"]);
    let blocks: Vec<&ContentBlock> = msgs
        .iter()
        .filter_map(|m| match m {
            OutputMessage::Assistant(a) => Some(&a.message.content),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        blocks
            .iter()
            .any(|b| matches!(b, ContentBlock::Thinking(t) if t.thinking == "let me think")),
        "{blocks:?}"
    );
    assert_eq!(result.result.as_deref(), Some("the answer"));
    // Unmodelled system subtypes (thinking_tokens) are surfaced, not dropped.
    assert!(
        seen.iter().any(|e| matches!(
            e,
            SessionEvent::Message(OutputMessage::System(SystemMessage::Unknown(_)))
        )),
        "expected an unmodelled system message"
    );
    session.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn an_api_error_ends_the_turn_with_an_error_result() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake.enqueue(ScriptedMessage::http_error(
        500,
        "api_error",
        "the fake is down",
    ));
    env.fake.enqueue(ScriptedMessage::new().text("back again"));
    let (session, rx) = env
        .builder()
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .spawn()
        .await?;
    let mut events = Events::new(rx);
    session.send_user_text("try").await?;
    let (result, seen) = events.result().await;
    assert!(result.is_error);
    assert_eq!(result.api_error_status, Some(500));
    assert!(
        result
            .result
            .as_deref()
            .is_some_and(|r| r.contains("the fake is down")),
        "{:?}",
        result.result
    );
    assert!(messages(&seen).iter().any(|m| matches!(
        m,
        OutputMessage::Assistant(a) if a.is_api_error_message && a.api_error_status == Some(500)
    )));
    // The session survives an API error.
    session.send_user_text("again").await?;
    let (result, _) = events.result().await;
    assert!(!result.is_error);
    assert_eq!(result.result.as_deref(), Some("back again"));
    session.shutdown().await?;
    Ok(())
}
