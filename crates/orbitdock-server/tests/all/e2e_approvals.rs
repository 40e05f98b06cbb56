//! End-to-end: the real pinned Codex app-server behind the server, the fake model in front of it.
//! Create, send, stream, command approvals (accept / decline), two identical WebSocket streams.

#![allow(clippy::unwrap_used)]

use crate::common;

use anyhow::{Context, Result};
use common::{Harness, WAIT, is_turn_ended};
use orbitdock_protocol::{
    ApprovalHistory, ApprovalKind, ApprovalResolution, ItemBody, ItemStatus, ItemsPage,
    ServerMessage, SessionDelta, SessionState, SessionStatus, TextStream,
};
use serde_json::json;
use test_support::ScriptedResponse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_send_stream_and_accept_a_command_with_two_identical_clients() -> Result<()> {
    let h = Harness::start().await?;
    h.fake.enqueue(
        ScriptedResponse::new()
            .exec_command(
                "printf created > approved.txt && echo ran-ok",
                "call-accept",
            )
            .usage(100, 20, 10, 2),
    );
    h.fake.enqueue(
        ScriptedResponse::new()
            .text_deltas(&["all ", "done ", "now"])
            .usage(150, 100, 12, 0),
    );

    let created = h
        .create(json!({"cwd": h.workdir(), "approval_policy": "untrusted", "sandbox_mode": "workspace-write"}))
        .await?;
    let id = created.summary.id.clone();
    assert_eq!(created.summary.status, SessionStatus::Waiting);
    assert!(created.summary.thread_id.is_some(), "{created:?}");
    assert!(created.attached);

    let mut a = h.ws().await?;
    let mut b = h.ws().await?;
    for ws in [&mut a, &mut b] {
        ws.subscribe(&id, None).await?;
        ws.wait_for("snapshot", |m| {
            matches!(m, ServerMessage::SessionSnapshot { .. })
        })
        .await?;
    }
    // Both see the list too.
    a.send(json!({"type": "subscribe_list"})).await?;
    let list = a
        .wait_for("list snapshot", |m| {
            matches!(m, ServerMessage::SessionsSnapshot { .. })
        })
        .await?;
    let ServerMessage::SessionsSnapshot { sessions, .. } = list else {
        unreachable!()
    };
    assert!(sessions.iter().any(|s| s.id == id));

    let sent: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "create the file please"}),
        )
        .await?;
    assert!(sent["turn_id"].is_string(), "{sent}");

    // The command approval appears, nothing ran yet.
    let approval = a.wait_approval("approval requested", &id).await?;
    assert_eq!(approval.kind, ApprovalKind::Command);
    assert!(
        approval
            .command
            .as_deref()
            .is_some_and(|c| c.contains("approved.txt")),
        "{approval:?}"
    );
    assert!(!h.home.workdir().join("approved.txt").exists());
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(state.summary.status, SessionStatus::NeedsApproval);
    assert_eq!(state.pending_approvals.len(), 1);
    assert_eq!(state.pending_approvals[0].request_id, approval.request_id);

    // Accept -> it runs, its output lands in the transcript, the turn completes.
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/approvals/{}", approval.request_id),
            &json!({"decision": "accept"}),
        )
        .await?;
    a.wait_delta("turn ended", &id, is_turn_ended).await?;
    assert_eq!(
        std::fs::read_to_string(h.home.workdir().join("approved.txt"))?,
        "created"
    );

    // Streaming deltas arrived for the agent message.
    let streamed: String = a
        .seen
        .iter()
        .filter_map(|m| match m {
            ServerMessage::SessionDelta {
                delta:
                    SessionDelta::ItemText {
                        stream: TextStream::Text,
                        delta,
                        ..
                    },
                ..
            } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, "all done now");

    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?after=0&limit=100"))
        .await?;
    let cmd = page
        .items
        .iter()
        .find_map(|i| match &i.body {
            ItemBody::CommandExecution {
                output, exit_code, ..
            } => Some((i.status, output.clone(), *exit_code)),
            _ => None,
        })
        .with_context(|| format!("no command item in {:#?}", page.items))?;
    assert_eq!(cmd.0, ItemStatus::Completed);
    assert!(cmd.1.contains("ran-ok"), "{cmd:?}");
    assert_eq!(cmd.2, Some(0));
    assert!(page.items.iter().any(
        |i| matches!(&i.body, ItemBody::UserMessage { text } if text == "create the file please")
    ));
    assert!(
        page.items
            .iter()
            .any(|i| matches!(&i.body, ItemBody::AgentMessage { text } if text == "all done now"))
    );
    // seqs are strictly increasing.
    assert!(page.items.windows(2).all(|w| w[0].seq < w[1].seq));

    // The model got the command's output.
    let reqs = h.fake.wait_for_requests_async(2, WAIT).await;
    assert!(
        reqs[1]
            .function_call_output("call-accept")
            .is_some_and(|o| o.contains("ran-ok"))
    );
    eprintln!("tools offered by codex: {:?}", reqs[0].tool_names());

    // Token usage arrived; status back to waiting; approval history records the decision.
    let state: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(state.summary.status, SessionStatus::Waiting);
    assert!(
        state.summary.token_usage.input_tokens >= 150,
        "{:?}",
        state.summary.token_usage
    );
    assert!(state.summary.token_usage.output_tokens > 0);
    assert_eq!(
        state.summary.first_prompt.as_deref(),
        Some("create the file please")
    );
    let hist: ApprovalHistory = h
        .get(&format!("/api/sessions/{id}/approvals/history"))
        .await?;
    assert_eq!(hist.approvals.len(), 1);
    assert_eq!(hist.approvals[0].resolution, ApprovalResolution::Decided);

    // Client b saw exactly the same stream as a: wait until it reached a's last revision.
    let last = a.revision(&id);
    while b.revision(&id) < last {
        b.next().await?;
    }
    let a_frames: Vec<&String> = a.delta_frames.iter().filter(|f| f.contains(&id)).collect();
    let b_frames: Vec<&String> = b.delta_frames.iter().filter(|f| f.contains(&id)).collect();
    assert_eq!(a_frames, b_frames);
    // Revisions are gapless.
    let revs: Vec<u64> = a
        .seen
        .iter()
        .filter_map(|m| match m {
            ServerMessage::SessionDelta { revision, .. } => Some(*revision),
            _ => None,
        })
        .collect();
    assert!(revs.windows(2).all(|w| w[1] == w[0] + 1), "{revs:?}");

    a.close().await;
    b.close().await;
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_over_websocket_and_decline_a_command() -> Result<()> {
    let h = Harness::start().await?;
    h.fake
        .enqueue(ScriptedResponse::new().exec_command("printf x > declined.txt", "call-decline"));
    h.fake
        .enqueue(ScriptedResponse::new().text("ok, I will not"));
    let mut ws = h.ws().await?;
    ws.send(
        json!({"type": "create_session", "cwd": h.workdir(), "approval_policy": "untrusted",
                   "sandbox_mode": "workspace-write", "client_ref": "c1"}),
    )
    .await?;
    let ack = ws
        .wait_for(
            "create ack",
            |m| matches!(m, ServerMessage::Ack { client_ref: Some(r), .. } if r == "c1"),
        )
        .await?;
    let ServerMessage::Ack { result, .. } = ack else {
        unreachable!()
    };
    let id = result["id"].as_str().context("id in ack")?.to_owned();
    ws.subscribe(&id, None).await?;
    ws.wait_for("snapshot", |m| {
        matches!(m, ServerMessage::SessionSnapshot { .. })
    })
    .await?;
    ws.send(json!({"type": "send_message", "session_id": id, "text": "try to write", "client_ref": "s1"}))
        .await?;
    let approval = ws.wait_approval("approval", &id).await?;
    ws.send(
        json!({"type": "approve", "session_id": id, "request_id": approval.request_id,
                   "decision": "decline", "client_ref": "a1"}),
    )
    .await?;
    ws.wait_delta("resolved", &id, |d| {
        matches!(
            d,
            SessionDelta::ApprovalResolved {
                resolution: ApprovalResolution::Decided,
                ..
            }
        )
    })
    .await?;
    ws.wait_delta("turn ended", &id, is_turn_ended).await?;
    assert!(
        !h.home.workdir().join("declined.txt").exists(),
        "declined command must not run"
    );
    let page: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    assert!(
        page.items
            .iter()
            .any(|i| matches!(i.body, ItemBody::CommandExecution { .. })
                && i.status == ItemStatus::Declined),
        "{:#?}",
        page.items
    );
    // Answering again: the approval is gone -> 404.
    let r = h
        .http
        .post(format!(
            "{}/api/sessions/{id}/approvals/{}",
            h.base(),
            approval.request_id
        ))
        .bearer_auth(common::TOKEN)
        .json(&json!({"decision": "accept"}))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    ws.close().await;
    h.shutdown().await;
    Ok(())
}

/// A patch the model asks Codex to apply (Codex turns an `apply_patch` heredoc run through the
/// shell tool into a file change, which asks for approval under `untrusted`).
fn add_file_patch(name: &str, line: &str) -> String {
    format!(
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: {name}\n+{line}\n*** End Patch\nEOF\n"
    )
}

/// Answers the next pending approval of `id` over REST; returns it.
async fn answer_next(
    h: &Harness,
    ws: &mut common::Ws,
    id: &str,
    decision: &str,
) -> Result<orbitdock_protocol::PendingApproval> {
    let approval = ws.wait_approval("approval", id).await?;
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/approvals/{}", approval.request_id),
            &json!({ "decision": decision }),
        )
        .await?;
    Ok(approval)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_changes_answered_over_rest_are_applied_or_not() -> Result<()> {
    let h = Harness::start().await?;
    h.fake.enqueue(
        ScriptedResponse::new()
            .exec_command(&add_file_patch("kept.txt", "accepted line"), "call-fc1"),
    );
    h.fake.enqueue(ScriptedResponse::new().text("patched"));
    h.fake.enqueue(
        ScriptedResponse::new()
            .exec_command(&add_file_patch("refused.txt", "declined line"), "call-fc2"),
    );
    h.fake.enqueue(ScriptedResponse::new().text("not patched"));
    let (id, mut ws) = common::direct_session(&h, "untrusted", "workspace-write").await?;

    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "add kept.txt"}),
        )
        .await?;
    let approval = answer_next(&h, &mut ws, &id, "accept").await?;
    assert_eq!(approval.kind, ApprovalKind::FileChange);
    ws.wait_delta("turn ended", &id, is_turn_ended).await?;
    assert_eq!(
        std::fs::read_to_string(h.home.workdir().join("kept.txt"))?,
        "accepted line\n"
    );

    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "add refused.txt"}),
        )
        .await?;
    let approval = answer_next(&h, &mut ws, &id, "decline").await?;
    assert_eq!(approval.kind, ApprovalKind::FileChange);
    ws.wait_delta("turn ended", &id, is_turn_ended).await?;
    assert!(!h.home.workdir().join("refused.txt").exists());
    // The model was told: the declined patch's output says so.
    let reqs = h.fake.responses_requests();
    let out = reqs
        .iter()
        .find_map(|r| r.function_call_output("call-fc2"))
        .context("no output for the declined patch")?;
    assert!(
        out.to_lowercase().contains("reject") || out.to_lowercase().contains("declin"),
        "{out}"
    );
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_asked_in_plan_mode_is_answered_over_rest_and_reaches_the_model() -> Result<()> {
    let h = Harness::start().await?;
    common::script_color_question(&h.fake);
    let (id, mut ws) = common::direct_session(&h, "on-request", "read-only").await?;
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "plan a button", "collaboration_mode": "plan"}),
        )
        .await?;
    let d = ws
        .wait_delta("question", &id, |d| {
            matches!(d, SessionDelta::ApprovalRequested { .. })
        })
        .await
        .with_context(|| {
            format!(
                "{:#?}",
                h.fake.responses_requests().first().map(|r| r.tool_names())
            )
        })?;
    let SessionDelta::ApprovalRequested { approval } = d else {
        unreachable!()
    };
    assert_eq!(approval.kind, ApprovalKind::Question);
    let q = &approval.questions.as_ref().context("questions")?[0];
    assert_eq!(q.id, "color");
    assert_eq!(q.options, vec!["Blue".to_owned(), "Red".to_owned()]);
    let st: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(st.summary.status, SessionStatus::NeedsAnswer);
    // Plan mode reached Codex: the model is offered the question tool and told it is planning.
    let first = &h.fake.responses_requests()[0];
    assert!(first.tool_names().iter().any(|t| t == "request_user_input"));
    let sent = serde_json::to_string(first.input())?;
    assert!(sent.contains("<collaboration_mode># Plan Mode"), "{sent}");

    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/approvals/{}", approval.request_id),
            &json!({"decision": "accept", "answers": {"color": ["Blue"]}}),
        )
        .await?;
    ws.wait_delta("turn ended", &id, is_turn_ended).await?;
    let reqs = h.fake.responses_requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    let out = reqs[1]
        .function_call_output("call-q")
        .context("the answer was not sent to the model")?;
    assert!(out.contains("Blue"), "{out}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permissions_request_answered_over_rest_reaches_codex() -> Result<()> {
    // The model asks for more permissions with Codex's `request_permissions` tool (behind a
    // feature flag in 0.169); Codex asks us, and what we grant is the tool's answer.
    let h = Harness::start_with_home(|b, _| {
        b.extra_toml("[features]\nrequest_permissions_tool = true")
    })
    .await?;
    h.fake.enqueue(ScriptedResponse::new().function_call(
        "request_permissions",
        json!({"reason": "fetch the release notes",
            "permissions": {"network": {"enabled": true}}}),
        "call-perm",
    ));
    h.fake.enqueue(ScriptedResponse::new().text("thanks"));
    let (id, mut ws) = common::direct_session(&h, "on-request", "workspace-write").await?;
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "get network access"}),
        )
        .await?;
    let approval = answer_next(&h, &mut ws, &id, "accept").await?;
    assert_eq!(approval.kind, ApprovalKind::Permissions);
    ws.wait_delta("turn ended", &id, is_turn_ended).await?;
    let reqs = h.fake.responses_requests();
    let out = reqs[1]
        .function_call_output("call-perm")
        .context("no tool output")?;
    assert!(out.contains("network"), "{out}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_elicitation_answered_over_rest_reaches_the_mcp_server() -> Result<()> {
    // A real stdio MCP server (rmcp) whose tool elicits a name; it records what comes back.
    let logs = tempfile::tempdir()?;
    let log = logs.path().join("elicit.log");
    let bin = test_support::cargo_example("orbitdock-server", "elicit_mcp_server");
    let entry = format!(
        "[mcp_servers.elicit]\ncommand = {}\nenv = {{ ELICIT_LOG = {} }}\n",
        serde_json::to_string(&bin.display().to_string())?,
        serde_json::to_string(&log.display().to_string())?,
    );
    let h = Harness::start_with_home(|b, _| b.extra_toml(&entry)).await?;
    // Codex 0.169 offers the server's tools as the namespace `mcp__elicit`.
    h.fake.enqueue(ScriptedResponse::new().mcp_tool_call(
        "elicit",
        "ask_name",
        json!({}),
        "call-e1",
    ));
    h.fake.enqueue(ScriptedResponse::new().text("greeted"));
    h.fake.enqueue(ScriptedResponse::new().mcp_tool_call(
        "elicit",
        "ask_name",
        json!({}),
        "call-e2",
    ));
    h.fake.enqueue(ScriptedResponse::new().text("not greeted"));
    let (id, mut ws) = common::direct_session(&h, "on-request", "read-only").await?;
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "greet someone"}),
        )
        .await?;

    // First Codex asks whether the MCP tool may run at all (an elicitation with an empty form);
    // allowed for the rest of the session.
    let asked = answer_next(&h, &mut ws, &id, "accept_for_session").await?;
    assert_eq!(asked.kind, ApprovalKind::Elicitation);
    assert_eq!(
        asked.reason.as_deref(),
        Some("MCP server elicit wants to run its tool ask_name")
    );
    assert_eq!(asked.questions.as_deref(), Some(&[][..]));
    // Then the server's own form, one field per property.
    let form = ws.wait_approval("the form", &id).await?;
    assert_eq!(form.kind, ApprovalKind::Elicitation);
    assert_eq!(form.question.as_deref(), Some("Which name should I greet?"));
    let fields = form.questions.as_ref().context("fields")?;
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(fields[0].id, "name");
    assert_eq!(fields[0].question, "The name to greet.");
    let st: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(st.summary.status, SessionStatus::NeedsAnswer);
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/approvals/{}", form.request_id),
            &json!({"decision": "accept", "answers": {"name": ["Ada"]}}),
        )
        .await?;
    ws.wait_delta("turn ended", &id, is_turn_ended).await?;
    // The content reached the MCP server, and its result the model.
    let first = std::fs::read_to_string(&log)?;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(first.trim())?,
        json!({"action": "accept", "content": {"name": "Ada"}})
    );
    let out = h
        .fake
        .responses_requests()
        .iter()
        .find_map(|r| r.function_call_output("call-e1"))
        .context("no tool output")?;
    assert!(out.contains("Ada"), "{out}");

    // The tool is allowed for the session: Codex asks no more, only the form comes; declining
    // it, the server hears `decline`, with no content.
    let _: serde_json::Value = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "greet someone else"}),
        )
        .await?;
    let form = answer_next(&h, &mut ws, &id, "decline").await?;
    assert_eq!(
        form.question.as_deref(),
        Some("Which name should I greet?"),
        "asked again whether the tool may run"
    );
    ws.wait_delta("turn ended", &id, is_turn_ended).await?;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)?
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    assert_eq!(
        lines.last(),
        Some(&json!({"action": "decline", "content": null}))
    );
    let history: ApprovalHistory = h
        .get(&format!("/api/sessions/{id}/approvals/history"))
        .await?;
    assert_eq!(history.approvals.len(), 3, "{history:#?}");
    h.shutdown().await;
    Ok(())
}
