//! History operations end to end against the REAL pinned Codex app-server with the loopback fake
//! model: revert (the next model request no longer carries the dropped turns, the transcript is
//! rebuilt from Codex's history), fork (the fork keeps the parent's history up to the fork point
//! and its new messages reach only the fork's requests) and review (the model is asked to review
//! the working tree; entering and leaving review mode and the findings land in the transcript).

#![allow(clippy::unwrap_used)]

use std::process::Command;

use anyhow::{Context, Result, ensure};
use orbitdock_protocol::{
    ItemBody, ItemsPage, SendMessageResponse, ServerMessage, SessionDelta, SessionState,
};
use serde_json::{Value, json};
use test_support::ScriptedResponse;

use crate::common::{Harness, Ws, direct_session, is_turn_ended, subscribed, user_text_contains};

/// Sends `text` and waits for the turn it starts to end; returns the turn id.
async fn exchange(h: &Harness, ws: &mut Ws, id: &str, text: &str) -> Result<String> {
    let sent: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": text}),
        )
        .await?;
    let turn = sent.turn_id.context("no turn id")?;
    ws.wait_delta(
        "turn end",
        id,
        |d| matches!(d, SessionDelta::TurnEnded { turn_id, .. } if *turn_id == turn),
    )
    .await?;
    Ok(turn)
}

async fn transcript(h: &Harness, id: &str) -> Result<Vec<ItemBody>> {
    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?limit=1000"))
        .await?;
    Ok(page.items.into_iter().map(|i| i.body).collect())
}

fn texts(items: &[ItemBody]) -> String {
    serde_json::to_string(items).unwrap()
}

/// Whether anything the request sends the model (any role) holds `needle`.
fn request_mentions(r: &test_support::RecordedRequest, needle: &str) -> bool {
    serde_json::to_string(r.input()).unwrap().contains(needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_revert_the_model_no_longer_sees_the_dropped_turns() -> Result<()> {
    let h = Harness::start().await?;
    h.fake
        .enqueue(ScriptedResponse::new().text("ANSWER-ONE-kept"));
    h.fake
        .enqueue(ScriptedResponse::new().text("ANSWER-TWO-dropped"));
    h.fake
        .enqueue(ScriptedResponse::new().text("ANSWER-THREE-dropped"));
    h.fake
        .enqueue(ScriptedResponse::new().text("answer after revert"));
    let (id, mut ws) = direct_session(&h, "never", "read-only").await?;
    exchange(&h, &mut ws, &id, "first question KEEP").await?;
    let second = exchange(&h, &mut ws, &id, "second question DROP2").await?;
    exchange(&h, &mut ws, &id, "third question DROP3").await?;

    // "Everything from this message on", over the WebSocket (the same dispatcher as REST).
    ws.send(
        json!({"type": "revert_session", "session_id": id, "before_turn_id": second,
        "client_ref": "rv"}),
    )
    .await?;
    let ack = ws
        .wait_for(
            "revert ack",
            |m| matches!(m, ServerMessage::Ack { client_ref: Some(r), .. } if r == "rv"),
        )
        .await?;
    let ServerMessage::Ack { result, .. } = ack else {
        unreachable!()
    };
    let state: SessionState = serde_json::from_value(result)?;
    assert!(state.current_turn.is_none());
    // Clients were told to drop what they held; the rebuilt items followed.
    assert!(
        ws.seen.iter().any(|m| matches!(
            m,
            ServerMessage::SessionDelta {
                delta: SessionDelta::TranscriptReset { .. },
                ..
            }
        )),
        "no transcript reset delta"
    );

    // The transcript is what Codex keeps: the first exchange, then the notice.
    let items = transcript(&h, &id).await?;
    let all = texts(&items);
    assert!(all.contains("first question KEEP"), "{all}");
    assert!(all.contains("ANSWER-ONE-kept"), "{all}");
    assert!(!all.contains("DROP2") && !all.contains("DROP3"), "{all}");
    assert!(
        !all.contains("ANSWER-TWO") && !all.contains("ANSWER-THREE"),
        "{all}"
    );
    assert!(
        items
            .iter()
            .any(|b| matches!(b, ItemBody::Notice { message }
            if message.contains("Reverted 2 turns") && message.contains("not restored"))),
        "{all}"
    );

    // A new message works, and the model sees the kept turn but none of the dropped ones.
    exchange(&h, &mut ws, &id, "question after revert").await?;
    let reqs = h.fake.responses_requests();
    assert_eq!(reqs.len(), 4, "{reqs:#?}");
    let last = &reqs[3];
    assert!(user_text_contains(last, "question after revert"));
    assert!(request_mentions(last, "first question KEEP"));
    assert!(request_mentions(last, "ANSWER-ONE-kept"));
    for dropped in ["DROP2", "DROP3", "ANSWER-TWO", "ANSWER-THREE"] {
        assert!(
            !request_mentions(last, dropped),
            "{dropped} still sent: {:#?}",
            last.input()
        );
    }

    // Dropping the last N turns over REST; a bad request loses nothing.
    let (status, body) = crate::common::Rest::new(&h.base())
        .post_raw(
            &format!("/api/sessions/{id}/revert"),
            &json!({"last_turns": 9}),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    let st: SessionState = h
        .post(
            &format!("/api/sessions/{id}/revert"),
            &json!({"last_turns": 1}),
        )
        .await?;
    assert_eq!(st.summary.id, id);
    let all = texts(&transcript(&h, &id).await?);
    assert!(all.contains("first question KEEP"), "{all}");
    assert!(!all.contains("question after revert"), "{all}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_keeps_the_history_to_its_point_and_new_messages_reach_only_the_fork() -> Result<()>
{
    let h = Harness::start().await?;
    h.fake.enqueue(ScriptedResponse::new().text("ALPHA-ANSWER"));
    h.fake.enqueue(ScriptedResponse::new().text("BETA-ANSWER"));
    let (parent, mut ws) = direct_session(&h, "never", "read-only").await?;
    let alpha = exchange(&h, &mut ws, &parent, "alpha message").await?;
    exchange(&h, &mut ws, &parent, "beta message").await?;

    // From a chosen message (through the first turn), with overrides.
    let fork: SessionState = h
        .post(
            &format!("/api/sessions/{parent}/fork"),
            &json!({"through_turn_id": alpha, "name": "my fork", "model": "fork-model-x",
                "sandbox_mode": "workspace-write", "approval_policy": "untrusted"}),
        )
        .await?;
    let fid = fork.summary.id.clone();
    assert_ne!(fid, parent);
    assert_eq!(fork.summary.forked_from.as_deref(), Some(parent.as_str()));
    assert_eq!(fork.summary.name.as_deref(), Some("my fork"));
    assert_eq!(fork.summary.model.as_deref(), Some("fork-model-x"));
    assert_eq!(
        fork.summary.sandbox_mode.as_ref().map(|m| m.as_str()),
        Some("workspace-write")
    );
    assert_eq!(
        fork.summary.approval_policy.as_ref().map(|m| m.as_str()),
        Some("untrusted")
    );
    assert!(fork.attached);
    let all = texts(&transcript(&h, &fid).await?);
    assert!(
        all.contains("alpha message") && all.contains("ALPHA-ANSWER"),
        "{all}"
    );
    assert!(!all.contains("beta message"), "{all}");
    // The list says where it came from (the sidebar shows the relation from it).
    let list: orbitdock_protocol::SessionsResponse = h.get("/api/sessions").await?;
    let row = list.sessions.iter().find(|s| s.id == fid).unwrap();
    assert_eq!(row.forked_from.as_deref(), Some(parent.as_str()));

    // The fork's message reaches the fork's request only.
    h.fake.enqueue(ScriptedResponse::new().text("fork answer"));
    let mut fws = subscribed(&h, &fid).await?;
    exchange(&h, &mut fws, &fid, "FORK-ONLY message").await?;
    let reqs = h.fake.responses_requests();
    let fork_req = reqs.last().unwrap();
    assert!(user_text_contains(fork_req, "FORK-ONLY message"));
    assert!(request_mentions(fork_req, "ALPHA-ANSWER"));
    assert!(!request_mentions(fork_req, "beta message"));
    assert_eq!(
        fork_req.body.get("model").and_then(Value::as_str),
        Some("fork-model-x")
    );

    h.fake
        .enqueue(ScriptedResponse::new().text("parent answer"));
    exchange(&h, &mut ws, &parent, "PARENT-FOLLOWUP").await?;
    let reqs = h.fake.responses_requests();
    let parent_req = reqs.last().unwrap();
    assert!(user_text_contains(parent_req, "PARENT-FOLLOWUP"));
    assert!(request_mentions(parent_req, "BETA-ANSWER"));
    assert!(!request_mentions(parent_req, "FORK-ONLY"));

    // The whole session, over the WebSocket.
    ws.send(json!({"type": "fork_session", "session_id": parent, "client_ref": "fk"}))
        .await?;
    let ack = ws
        .wait_for(
            "fork ack",
            |m| matches!(m, ServerMessage::Ack { client_ref: Some(r), .. } if r == "fk"),
        )
        .await?;
    let ServerMessage::Ack { result, .. } = ack else {
        unreachable!()
    };
    let whole: SessionState = serde_json::from_value(result)?;
    assert_eq!(whole.summary.forked_from.as_deref(), Some(parent.as_str()));
    let all = texts(&transcript(&h, &whole.summary.id).await?);
    assert!(
        all.contains("PARENT-FOLLOWUP") && all.contains("beta message"),
        "{all}"
    );
    assert!(!all.contains("FORK-ONLY"), "{all}");
    h.shutdown().await;
    Ok(())
}

/// Makes the session's working directory a git repository with one committed file and an
/// uncommitted change to it carrying `marker`.
fn dirty_repo(dir: &str, marker: &str) -> Result<()> {
    let git = |args: &[&str]| -> Result<()> {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(dir)
            .output()?;
        ensure!(out.status.success(), "git {args:?}: {out:?}");
        Ok(())
    };
    git(&["init", "-q"])?;
    std::fs::write(format!("{dir}/lib.txt"), "original line\n")?;
    git(&["add", "lib.txt"])?;
    git(&["commit", "-q", "-m", "first"])?;
    std::fs::write(
        format!("{dir}/lib.txt"),
        format!("original line\n{marker}\n"),
    )?;
    Ok(())
}

const FINDINGS: &str = r#"{"findings":[{"title":"[P1] Marker line left in lib.txt","body":"The added line looks like debugging output.","confidence_score":0.9,"priority":1,"code_location":{"absolute_file_path":"/tmp/lib.txt","line_range":{"start":2,"end":2}}}],"overall_correctness":"patch is incorrect","overall_explanation":"A stray marker line was added.","overall_confidence_score":0.8}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_of_uncommitted_changes_shows_review_mode_and_findings() -> Result<()> {
    let h = Harness::start().await?;
    dirty_repo(&h.workdir(), "REVIEW-MARKER-42")?;
    let (id, mut ws) = direct_session(&h, "never", "read-only").await?;
    // Codex asks the reviewer to look at the changes itself: the model runs `git diff` and gets
    // the diff as the command's output, then answers with its findings.
    h.fake
        .enqueue(ScriptedResponse::new().exec_command("git diff", "call-diff"));
    h.fake.enqueue(ScriptedResponse::new().text(FINDINGS));
    let st: SessionState = h
        .post(
            &format!("/api/sessions/{id}/review"),
            &json!({"target": {"type": "uncommitted_changes"}}),
        )
        .await?;
    assert_eq!(st.summary.id, id, "inline: the review runs in this session");
    ws.wait_delta("review turn end", &id, is_turn_ended)
        .await
        .with_context(|| format!("seen: {:#?}", ws.seen))?;
    let reqs = h.fake.responses_requests();
    ensure!(!reqs.is_empty(), "the model was not asked");
    let all_reqs = serde_json::to_string(&reqs.iter().map(|r| r.input()).collect::<Vec<_>>())?;
    assert!(
        all_reqs.contains("REVIEW-MARKER-42"),
        "the diff reached the model: {all_reqs}"
    );

    let items = transcript(&h, &id).await?;
    let all = texts(&items);
    assert!(
        items
            .iter()
            .any(|b| matches!(b, ItemBody::ReviewMode { entered: true, .. })),
        "{all}"
    );
    assert!(
        items.iter().any(
            |b| matches!(b, ItemBody::ReviewMode { entered: false, review }
            if review.contains("Marker line left in lib.txt"))
        ),
        "{all}"
    );
    h.shutdown().await;
    Ok(())
}
