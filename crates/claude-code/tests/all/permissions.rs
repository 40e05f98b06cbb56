//! A Bash tool use asks the host; allow runs it, deny does not, allow-for-session stops asking.

use claude_code::SessionEvent;
use claude_code::protocol::OutputMessage;
use claude_code::protocol::control::{PermissionDestination, PermissionUpdate};
use test_support::fake_anthropic::{ScriptedMessage, SeenToolResult};

use crate::common::{Env, Events, WAIT, messages};

#[tokio::test]
async fn allow_runs_the_command_and_its_output_reaches_the_model() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake.enqueue(
        ScriptedMessage::new()
            .text("I will create the file.")
            .bash("toolu_allow", "echo allowed > allowed.txt && echo ran-ok"),
    );
    env.fake.enqueue(ScriptedMessage::new().text("created"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("make allowed.txt").await?;

    let (perm, before) = events.permission().await;
    assert_eq!(perm.tool_name(), "Bash");
    assert_eq!(
        perm.input()["command"],
        "echo allowed > allowed.txt && echo ran-ok"
    );
    assert_eq!(perm.request.tool_use_id.as_deref(), Some("toolu_allow"));
    // The tool_use was announced before the question.
    assert!(messages(&before).iter().any(|m| matches!(
        m,
        OutputMessage::Assistant(a) if a.tool_uses().any(|t| t.id == "toolu_allow")
    )));
    // Nothing runs while the question is open.
    assert!(!env.path("allowed.txt").exists());

    perm.allow().await?;
    let (result, seen) = events.result().await;
    let tool_result = messages(&seen)
        .iter()
        .find_map(|m| match m {
            OutputMessage::User(u) => u
                .tool_results()
                .into_iter()
                .find(|r| r.tool_use_id == "toolu_allow")
                .map(|r| (r, u.tool_use_result.clone())),
            _ => None,
        })
        .expect("a tool_result for the Bash call");
    assert_eq!(tool_result.0.text(), "ran-ok");
    assert!(!tool_result.0.is_error);
    assert_eq!(
        tool_result.1.as_ref().and_then(|v| v["stdout"].as_str()),
        Some("ran-ok")
    );
    assert!(!result.is_error);
    assert_eq!(result.result.as_deref(), Some("created"));
    assert!(result.permission_denials.is_empty());
    assert_eq!(
        std::fs::read_to_string(env.path("allowed.txt"))?,
        "allowed\n"
    );

    let turns = env.fake.wait_for_turns_async(2, WAIT).await;
    assert_eq!(
        turns[1].tool_result("toolu_allow"),
        Some(SeenToolResult {
            text: "ran-ok".into(),
            is_error: false
        })
    );
    session.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn deny_does_not_run_and_the_model_sees_the_denial() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake
        .enqueue(ScriptedMessage::new().bash("toolu_deny", "touch denied.txt"));
    env.fake.enqueue(ScriptedMessage::new().text("understood"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("make denied.txt").await?;

    let (perm, _) = events.permission().await;
    assert_eq!(perm.input()["command"], "touch denied.txt");
    perm.deny("the reviewer said no").await?;
    // A second answer is refused locally and never reaches the CLI.
    assert!(matches!(
        perm.allow().await,
        Err(claude_code::Error::AlreadyAnswered { .. })
    ));

    let (result, seen) = events.result().await;
    let denial = messages(&seen)
        .iter()
        .find_map(|m| match m {
            OutputMessage::User(u) => u
                .tool_results()
                .into_iter()
                .find(|r| r.tool_use_id == "toolu_deny"),
            _ => None,
        })
        .expect("a tool_result for the denied call");
    assert!(denial.is_error);
    assert_eq!(denial.text(), "the reviewer said no");
    assert_eq!(result.result.as_deref(), Some("understood"));
    assert_eq!(result.permission_denials.len(), 1);
    assert_eq!(result.permission_denials[0].tool_use_id, "toolu_deny");
    assert!(!env.path("denied.txt").exists(), "a denied command ran");

    let turns = env.fake.wait_for_turns_async(2, WAIT).await;
    assert_eq!(
        turns[1].tool_result("toolu_deny"),
        Some(SeenToolResult {
            text: "the reviewer said no".into(),
            is_error: true
        })
    );
    session.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn allow_for_session_stops_asking_for_the_same_command() -> anyhow::Result<()> {
    let env = Env::new();
    let command = "sh -c \"echo sessionok\"";
    env.fake
        .enqueue(ScriptedMessage::new().bash("toolu_s1", command));
    env.fake
        .enqueue(ScriptedMessage::new().bash("toolu_s2", command));
    env.fake.enqueue(ScriptedMessage::new().text("twice"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("run it twice").await?;

    let (perm, _) = events.permission().await;
    let updates = perm.session_updates();
    assert!(!updates.is_empty(), "the CLI suggested nothing");
    for u in &updates {
        match u {
            PermissionUpdate::AddRules(r) => {
                assert_eq!(r.destination, PermissionDestination::Session);
                assert_eq!(r.rules[0].tool_name, "Bash");
            }
            PermissionUpdate::AddDirectories(d) => {
                assert_eq!(d.destination, PermissionDestination::Session)
            }
            other => panic!("unexpected session update {other:?}"),
        }
    }
    perm.allow_for_session().await?;

    let (result, seen) = events.result().await;
    let asked_again = seen
        .iter()
        .filter(|e| matches!(e, SessionEvent::PermissionRequest(_)))
        .count();
    assert_eq!(asked_again, 0, "the second identical call asked again");
    let outputs: Vec<String> = messages(&seen)
        .iter()
        .filter_map(|m| match m {
            OutputMessage::User(u) => Some(u.tool_results()),
            _ => None,
        })
        .flatten()
        .map(|r| r.text())
        .collect();
    assert_eq!(outputs, ["sessionok", "sessionok"]);
    assert_eq!(result.result.as_deref(), Some("twice"));
    // Session scope: nothing was persisted to a settings file.
    assert!(!env.cwd.join(".claude/settings.local.json").exists());
    assert!(!env.config.join("settings.json").exists());
    session.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn allow_with_an_edited_input_runs_the_edited_command() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake.enqueue(
        ScriptedMessage::new().bash("toolu_edit_cmd", "echo proposed > chosen.txt && echo ran"),
    );
    env.fake.enqueue(ScriptedMessage::new().text("done"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("write chosen.txt").await?;
    let (perm, _) = events.permission().await;
    let mut input = perm.input().clone();
    input["command"] = serde_json::json!("echo edited-by-host > chosen.txt && echo ran");
    perm.allow_with_input(input).await?;
    let (result, _) = events.result().await;
    assert!(!result.is_error);
    assert_eq!(
        std::fs::read_to_string(env.path("chosen.txt"))?,
        "edited-by-host\n"
    );
    let turns = env.fake.wait_for_turns_async(2, WAIT).await;
    assert_eq!(
        turns[1].tool_result("toolu_edit_cmd").map(|r| r.text),
        Some("ran".to_owned())
    );
    session.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn deny_and_interrupt_stops_the_turn() -> anyhow::Result<()> {
    let env = Env::new();
    env.fake
        .enqueue(ScriptedMessage::new().bash("toolu_stop", "touch stopped.txt"));
    env.fake
        .enqueue(ScriptedMessage::new().text("should not be asked for"));
    let (session, rx) = env.builder().spawn().await?;
    let mut events = Events::new(rx);
    session.send_user_text("make stopped.txt").await?;
    let (perm, _) = events.permission().await;
    perm.deny_and_interrupt("stop right there").await?;
    let (result, _) = events.result().await;
    assert!(result.is_error);
    assert_eq!(result.subtype, "error_during_execution");
    assert_eq!(result.terminal_reason.as_deref(), Some("aborted_tools"));
    assert_eq!(result.permission_denials[0].tool_use_id, "toolu_stop");
    assert!(!env.path("stopped.txt").exists());
    assert_eq!(env.fake.turns().len(), 1, "the model was asked again");
    assert_eq!(env.fake.pending_scripts(), 1);
    session.shutdown().await?;
    Ok(())
}
