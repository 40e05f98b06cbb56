//! Host -> CLI control requests: set_permission_mode and set_model take effect; invalid modes
//! and unknown subtypes are refused with the CLI's error codes.

use std::time::Duration;

use claude_code::protocol::control::PermissionMode;
use claude_code::protocol::{OutputMessage, SystemMessage};
use claude_code::{Error, SessionEvent};
use serde_json::json;
use test_support::fake_anthropic::ScriptedMessage;

use crate::common::{Env, Events, WAIT, messages};

#[tokio::test]
async fn permission_mode_changes_what_asks() -> anyhow::Result<()> {
    let env = Env::new();
    let target = env.path("unasked.txt");
    env.fake.enqueue(ScriptedMessage::new().tool_use(
        "toolu_w",
        "Write",
        json!({ "file_path": target.display().to_string(), "content": "no question\n" }),
    ));
    env.fake.enqueue(ScriptedMessage::new().text("written"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);

    let mode = session
        .set_permission_mode(PermissionMode::AcceptEdits)
        .await?;
    assert_eq!(mode, PermissionMode::AcceptEdits);
    let status = events
        .until("the mode change status", |e| {
            matches!(
                e,
                SessionEvent::Message(OutputMessage::System(SystemMessage::Status(_)))
            )
        })
        .await;
    assert!(matches!(
        status.last(),
        Some(SessionEvent::Message(OutputMessage::System(SystemMessage::Status(s))))
            if s.permission_mode == Some(PermissionMode::AcceptEdits)
    ));

    let err = session
        .set_permission_mode(PermissionMode::Unknown("bogus".into()))
        .await
        .expect_err("an invalid mode");
    assert!(
        matches!(&err, Error::Control { code: Some(c), .. } if c == "invalid_mode"),
        "{err}"
    );
    let err = session
        .set_permission_mode(PermissionMode::BypassPermissions)
        .await
        .expect_err("bypass needs a launch flag the CLI refuses as root");
    assert!(
        matches!(&err, Error::Control { code: Some(c), .. } if c == "bypass_not_launched"),
        "{err}"
    );

    session.send_user_text("write it").await?;
    let (result, seen) = events.result().await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, SessionEvent::PermissionRequest(_))),
        "acceptEdits still asked"
    );
    assert_eq!(result.result.as_deref(), Some("written"));
    assert_eq!(std::fs::read_to_string(&target)?, "no question\n");
    session.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn set_model_switches_the_model_of_the_next_turn() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake.enqueue(ScriptedMessage::new().text("first"));
    env.fake.enqueue(ScriptedMessage::new().text("second"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("one").await?;
    events.result().await;

    let model = session.set_model(Some("claude-sonnet-4-5")).await?;
    assert_eq!(model, "claude-sonnet-4-5");
    // The CLI checks the new model with a one-token non-streaming request first.
    assert!(
        env.fake
            .requests()
            .iter()
            .any(|r| r.is_messages() && !r.is_turn() && r.model() == Some("claude-sonnet-4-5"))
    );

    session.send_user_text("two").await?;
    let (result, seen) = events.result().await;
    assert_eq!(result.result.as_deref(), Some("second"));
    assert!(messages(&seen).iter().any(|m| matches!(
        m,
        OutputMessage::Assistant(a) if a.message.model == "claude-sonnet-4-5"
    )));
    let turns = env.fake.wait_for_turns_async(2, WAIT).await;
    assert_ne!(turns[0].model(), Some("claude-sonnet-4-5"));
    assert_eq!(turns[1].model(), Some("claude-sonnet-4-5"));
    session.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn unknown_subtypes_are_refused_by_the_cli() -> anyhow::Result<()> {
    let env = Env::new();
    let (session, _rx) = env.builder().spawn().await?;
    let err = session
        .control_raw("no_such_request", json!({}), Duration::from_secs(30))
        .await
        .expect_err("unknown subtype");
    assert!(
        matches!(&err, Error::Control { code: Some(c), message, .. }
            if c == "unsupported_request" && message.contains("no_such_request")),
        "{err}"
    );
    session.shutdown().await?;
    Ok(())
}
