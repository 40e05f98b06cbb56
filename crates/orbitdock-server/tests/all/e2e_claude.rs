//! End-to-end: Claude sessions driven by the server through the REAL pinned Claude Code CLI,
//! with test-support's loopback fake of the Anthropic Messages API in front of it.
//!
//! Create from REST, streamed text over the WebSocket, a Bash permission request as an approval
//! card (allow runs it, its output in the transcript and in the next model request; decline does
//! not run it and the model reads the refusal), interrupt mid-stream, resume after a hub restart
//! (the next request carries the earlier messages), a file edit rendered as a diff, and the
//! takeover of a hook-discovered terminal session.

#![allow(clippy::unwrap_used)]

use crate::common;

use anyhow::{Context, Result, bail};
use common::{Harness, WAIT, Ws, is_turn_ended};
use orbitdock_protocol::{
    AgentsResponse, ApprovalKind, ItemBody, ItemStatus, ItemsPage, Origin, PendingApproval,
    Provider, ServerMessage, SessionDelta, SessionState, SessionStatus, TextStream, TurnStatus,
};
use serde_json::{Value, json};
use test_support::fake_anthropic::ScriptedMessage;

/// Creates a Claude session in the harness's Claude working dir and subscribes `ws` to it.
async fn create(h: &Harness, ws: &mut Ws, extra: Value) -> Result<SessionState> {
    let mut body =
        json!({"provider": "claude", "cwd": h.claude().cwd, "permission_mode": "default"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let created = h.create(body).await?;
    ws.subscribe(&created.summary.id, None).await?;
    ws.wait_for("snapshot", |m| {
        matches!(m, ServerMessage::SessionSnapshot { .. })
    })
    .await?;
    Ok(created)
}

async fn send(h: &Harness, id: &str, text: &str) -> Result<Value> {
    h.post(
        &format!("/api/sessions/{id}/messages"),
        &json!({ "text": text }),
    )
    .await
}

async fn turn_ended(ws: &mut Ws, id: &str) -> Result<TurnStatus> {
    let d = ws.wait_delta("turn end", id, is_turn_ended).await?;
    match d {
        SessionDelta::TurnEnded { status, .. } => Ok(status),
        other => bail!("not a turn end: {other:?}"),
    }
}

async fn approval(ws: &mut Ws, id: &str) -> Result<PendingApproval> {
    ws.wait_approval("approval requested", id).await
}

/// Sends `text` to session `id` and checks that the model request it causes continues Claude
/// session `thread`: same session id, and the `earlier` user message and answer in its history.
async fn continues(
    h: &Harness,
    id: &str,
    text: &str,
    thread: &str,
    earlier: (&str, &str),
) -> Result<()> {
    let mut ws = h.ws().await?;
    ws.subscribe(id, None).await?;
    send(h, id, text).await?;
    assert_eq!(turn_ended(&mut ws, id).await?, TurnStatus::Completed);
    let turns = h.anthropic().turns();
    let last = turns.last().context("a model request")?;
    assert_eq!(last.header("x-claude-code-session-id"), Some(thread));
    assert!(last.has_text("user", earlier.0), "{:?}", last.messages());
    assert!(
        last.has_text("assistant", earlier.1),
        "{:?}",
        last.messages()
    );
    assert!(last.has_text("user", text));
    ws.close().await;
    Ok(())
}

/// Answers an approval card through REST (`body`: decision and optional message).
async fn answer(h: &Harness, id: &str, a: &PendingApproval, body: Value) -> Result<()> {
    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/approvals/{}", a.request_id),
            &body,
        )
        .await?;
    Ok(())
}

async fn items(h: &Harness, id: &str) -> Result<Vec<orbitdock_protocol::TranscriptItem>> {
    let page: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    Ok(page.items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_session_streams_text_then_runs_an_allowed_bash_command() -> Result<()> {
    let h = Harness::start_with_claude().await?;
    let api = h.anthropic();
    api.enqueue(
        ScriptedMessage::new()
            .text_deltas(&["Hello ", "from ", "Claude"])
            .usage(40, 7, 0, 0),
    );
    api.enqueue(ScriptedMessage::new().bash("toolu_allow", "echo printed-ok && touch ran.txt"));
    api.enqueue(ScriptedMessage::new().text("The command ran."));

    // The account state the new-session sheet shows.
    let agents: AgentsResponse = h.get("/api/agents").await?;
    let claude = agents
        .agents
        .iter()
        .find(|p| p.provider == Provider::Claude)
        .context("claude listed")?;
    assert!(claude.available, "{claude:?}");
    assert_eq!(claude.credentials, Some(true), "{claude:?}");
    assert!(claude.detail.contains("ANTHROPIC_API_KEY"), "{claude:?}");

    let mut ws = h.ws().await?;
    let created = create(&h, &mut ws, json!({})).await?;
    let id = created.summary.id.clone();
    assert_eq!(created.summary.provider, Provider::Claude);
    assert_eq!(created.summary.origin, Origin::Direct);
    let thread = created
        .summary
        .thread_id
        .clone()
        .context("claude session id")?;
    assert!(created.attached);

    send(&h, &id, "say hello").await?;
    let mut streamed = String::new();
    while streamed != "Hello from Claude" {
        let d = ws
            .wait_delta("streamed text", &id, |d| {
                matches!(
                    d,
                    SessionDelta::ItemText {
                        stream: TextStream::Text,
                        ..
                    }
                )
            })
            .await?;
        if let SessionDelta::ItemText { delta, .. } = d {
            streamed.push_str(&delta);
        }
    }
    assert_eq!(turn_ended(&mut ws, &id).await?, TurnStatus::Completed);
    let first = &api.turns()[0];
    assert_eq!(
        first.header("x-claude-code-session-id"),
        Some(thread.as_str())
    );
    assert!(first.has_text("user", "say hello"));

    // A Bash call waits for a person.
    send(&h, &id, "run the command").await?;
    let a = approval(&mut ws, &id).await?;
    assert_eq!(a.kind, ApprovalKind::Command);
    assert_eq!(
        a.command.as_deref(),
        Some("echo printed-ok && touch ran.txt")
    );
    assert_eq!(a.item_id.as_deref(), Some("toolu_allow"));
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(state.summary.status, SessionStatus::NeedsApproval);
    assert!(
        !h.claude().cwd.join("ran.txt").exists(),
        "ran before approval"
    );

    answer(&h, &id, &a, json!({"decision": "accept"})).await?;
    assert_eq!(turn_ended(&mut ws, &id).await?, TurnStatus::Completed);
    assert!(
        h.claude().cwd.join("ran.txt").exists(),
        "allowed command did not run"
    );
    let turns = api.turns();
    let seen = turns[2]
        .tool_result("toolu_allow")
        .context("tool result in the next request")?;
    assert!(
        seen.text.contains("printed-ok") && !seen.is_error,
        "{seen:?}"
    );

    let items = items(&h, &id).await?;
    let command = items
        .iter()
        .find(|i| i.id == "toolu_allow")
        .context("command item")?;
    let ItemBody::CommandExecution {
        command: c, output, ..
    } = &command.body
    else {
        bail!("not a command: {command:?}");
    };
    assert_eq!(c, "echo printed-ok && touch ran.txt");
    assert!(output.contains("printed-ok"), "{output}");
    assert_eq!(command.status, ItemStatus::Completed);
    let texts: Vec<&str> = items
        .iter()
        .filter_map(|i| match &i.body {
            ItemBody::AgentMessage { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Hello from Claude", "The command ran."]);
    assert!(
        items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::UserMessage { text } if text == "say hello"))
    );

    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(state.summary.status, SessionStatus::Waiting);
    assert!(
        state.summary.token_usage.output_tokens >= 7,
        "{:?}",
        state.summary.token_usage
    );
    assert!(state.summary.cost_usd.is_some(), "{:?}", state.summary);
    ws.close().await;
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_bash_command_does_not_run_and_the_model_reads_why() -> Result<()> {
    let h = Harness::start_with_claude().await?;
    let api = h.anthropic();
    api.enqueue(ScriptedMessage::new().bash("toolu_deny", "touch denied.txt"));
    api.enqueue(ScriptedMessage::new().text("Understood, not running it."));
    let mut ws = h.ws().await?;
    let created = create(&h, &mut ws, json!({})).await?;
    let id = created.summary.id.clone();

    send(&h, &id, "make the file").await?;
    let a = approval(&mut ws, &id).await?;
    answer(
        &h,
        &id,
        &a,
        json!({"decision": "decline", "message": "not in this directory, thanks"}),
    )
    .await?;
    assert_eq!(turn_ended(&mut ws, &id).await?, TurnStatus::Completed);
    assert!(
        !h.claude().cwd.join("denied.txt").exists(),
        "declined command ran"
    );
    let seen = api.turns()[1]
        .tool_result("toolu_deny")
        .context("the refusal in the next request")?;
    assert!(seen.is_error, "{seen:?}");
    assert!(
        seen.text.contains("not in this directory, thanks"),
        "{seen:?}"
    );
    let items = items(&h, &id).await?;
    let item = items
        .iter()
        .find(|i| i.id == "toolu_deny")
        .context("item")?;
    assert_eq!(item.status, ItemStatus::Failed, "{item:?}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_a_streaming_claude_turn_and_the_session_goes_on() -> Result<()> {
    let h = Harness::start_with_claude().await?;
    let api = h.anthropic();
    api.enqueue(
        ScriptedMessage::new()
            .text_deltas(&["partial answer "])
            .hang(),
    );
    api.enqueue(ScriptedMessage::new().text("after the interrupt"));
    let mut ws = h.ws().await?;
    let created = create(&h, &mut ws, json!({})).await?;
    let id = created.summary.id.clone();

    send(&h, &id, "write a long essay").await?;
    ws.wait_delta(
        "streamed text",
        &id,
        |d| matches!(d, SessionDelta::ItemText { delta, .. } if delta.contains("partial")),
    )
    .await?;
    let _: Value = h
        .post(&format!("/api/sessions/{id}/interrupt"), &json!({}))
        .await?;
    assert_eq!(turn_ended(&mut ws, &id).await?, TurnStatus::Interrupted);
    api.wait_for_disconnects(1, WAIT);

    send(&h, &id, "carry on").await?;
    assert_eq!(turn_ended(&mut ws, &id).await?, TurnStatus::Completed);
    let items = items(&h, &id).await?;
    assert!(items.iter().any(
        |i| matches!(&i.body, ItemBody::AgentMessage { text } if text == "after the interrupt")
    ));
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_session_resumes_after_a_hub_restart() -> Result<()> {
    let mut h = Harness::start_with_claude().await?;
    h.anthropic()
        .enqueue(ScriptedMessage::new().text("Noted: the fruit is kiwi."));
    h.anthropic()
        .enqueue(ScriptedMessage::new().text("It was kiwi."));
    let mut ws = h.ws().await?;
    let created = create(
        &h,
        &mut ws,
        json!({"prompt": "remember: the fruit is kiwi"}),
    )
    .await?;
    let id = created.summary.id.clone();
    let thread = created.summary.thread_id.clone().unwrap();
    common::eventually("first turn done", || async {
        let s: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
        Ok((s.current_turn.is_none()
            && s.summary.first_prompt.is_some()
            && h.anthropic().turns().len() == 1)
            .then_some(()))
    })
    .await?;
    ws.close().await;

    h.restart().await?;
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert!(!state.attached, "a new hub has no Claude process yet");
    continues(
        &h,
        &id,
        "which fruit?",
        &thread,
        ("remember: the fruit is kiwi", "Noted: the fruit is kiwi."),
    )
    .await?;
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(state.summary.thread_id.as_deref(), Some(thread.as_str()));
    let items = items(&h, &id).await?;
    assert!(items.iter().any(
        |i| matches!(&i.body, ItemBody::Notice { message, .. } if message.contains("Resumed the Claude session"))
    ));
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_claude_file_edit_renders_as_a_diff() -> Result<()> {
    let h = Harness::start_with_claude().await?;
    let file = h.claude().cwd.join("notes.txt");
    std::fs::write(&file, "alpha\nbeta\ngamma\n")?;
    let path = file.to_string_lossy().into_owned();
    let api = h.anthropic();
    // The CLI refuses to edit a file the model has not read in the session.
    api.enqueue(ScriptedMessage::new().tool_use("toolu_read", "Read", json!({"file_path": path})));
    api.enqueue(ScriptedMessage::new().tool_use(
        "toolu_edit",
        "Edit",
        json!({"file_path": path, "old_string": "beta", "new_string": "BETA", "replace_all": false}),
    ));
    api.enqueue(ScriptedMessage::new().text("Edited."));
    let mut ws = h.ws().await?;
    let created = create(&h, &mut ws, json!({})).await?;
    let id = created.summary.id.clone();

    send(&h, &id, "capitalise beta").await?;
    let a = approval(&mut ws, &id).await?;
    assert_eq!(a.kind, ApprovalKind::FileChange);
    let proposed = &a.changes.as_ref().context("changes")?[0];
    assert!(
        proposed.diff.contains("-beta") && proposed.diff.contains("+BETA"),
        "{proposed:?}"
    );
    answer(&h, &id, &a, json!({"decision": "accept"})).await?;
    assert_eq!(turn_ended(&mut ws, &id).await?, TurnStatus::Completed);
    assert_eq!(std::fs::read_to_string(&file)?, "alpha\nBETA\ngamma\n");
    let items = items(&h, &id).await?;
    let edit = items
        .iter()
        .find(|i| i.id == "toolu_edit")
        .context("edit item")?;
    let ItemBody::FileChange { changes } = &edit.body else {
        bail!("not a file change: {edit:?}");
    };
    assert_eq!(changes[0].path, path);
    assert!(
        changes[0].diff.contains("@@ -1,3 +1,3 @@") && changes[0].diff.contains("-beta\n+BETA"),
        "{}",
        changes[0].diff
    );
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert!(state.diff.unwrap_or_default().contains("+BETA"));
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_discovered_claude_session_is_taken_over_once_it_ended() -> Result<()> {
    let h = Harness::start_with_claude().await?;
    let home = h.claude();
    // A terminal's own config dir, not the one the hub gives its sessions.
    let terminal = home.root().join("terminal-config");
    std::fs::create_dir_all(&terminal)?;
    home.fake
        .enqueue(ScriptedMessage::new().text("Terminal says: the code word is heron."));
    home.fake
        .enqueue(ScriptedMessage::new().text("It was heron."));

    // A real terminal run of the pinned CLI.
    let session = uuid::Uuid::new_v4().to_string();
    let mut cmd = tokio::process::Command::from(home.terminal_command(&terminal));
    cmd.args(["-p", "the code word is heron", "--session-id", &session]);
    let out = tokio::time::timeout(WAIT, cmd.output()).await??;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let transcript = test_support::ClaudeHome::transcript_path(&terminal, &session)
        .context("terminal transcript")?;

    // What its hooks report.
    let cwd = home.cwd.to_string_lossy().into_owned();
    let hook = |event: &str, extra: Value| {
        common::claude_hook(&session, Some(transcript.as_path()), &cwd, event, extra)
    };
    let id = h.post_claude_start(&hook, "the code word is heron").await?;
    let _: Value = h
        .post("/api/hooks/claude", &hook("Stop", json!({})))
        .await?;

    // Idle but still open in its terminal: not yet.
    let r = h
        .http
        .post(format!("{}/api/sessions/{id}/takeover", h.base()))
        .bearer_auth(common::TOKEN)
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(r.status(), 409, "{}", r.text().await?);

    let _: Value = h
        .post(
            "/api/hooks/claude",
            &hook("SessionEnd", json!({"reason": "prompt_input_exit"})),
        )
        .await?;
    let state: SessionState = h
        .post(&format!("/api/sessions/{id}/takeover"), &json!({}))
        .await?;
    assert_eq!(state.summary.origin, Origin::Direct);
    assert_eq!(state.summary.provider, Provider::Claude);
    assert_eq!(state.summary.thread_id.as_deref(), Some(session.as_str()));
    assert!(state.attached);

    continues(
        &h,
        &id,
        "what was the code word?",
        &session,
        (
            "the code word is heron",
            "Terminal says: the code word is heron.",
        ),
    )
    .await?;
    // The hub continued the terminal's transcript, in the terminal's config dir.
    let written = std::fs::read_to_string(&transcript)?;
    assert!(written.contains("what was the code word?"));
    h.shutdown().await;
    Ok(())
}
