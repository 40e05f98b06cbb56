//! Claude Code hook payloads through the real server: `POST /api/hooks/claude`
//! creates a passive Claude session and every documented event moves it; payloads spooled while
//! the server was not running appear after it starts; a bad payload is a 400.

#![allow(clippy::unwrap_used)]

use crate::common;

use anyhow::Result;
use common::Harness;
use orbitdock_protocol::{ItemBody, ItemsPage, Origin, Provider, SessionStatus, SessionSummary};
use serde_json::{Value, json};

/// A payload naming no transcript: the hooks alone render the session (with a transcript, see
/// `claude_transcript`).
fn payload(session: &str, event: &str, extra: Value) -> Value {
    common::claude_hook(session, None, "/w", event, extra)
}

async fn summary(h: &Harness, thread: &str) -> Result<Option<SessionSummary>> {
    h.session_for_thread(thread).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hook_event_updates_a_passive_claude_session() -> Result<()> {
    let h = Harness::start().await?;
    let steps: Vec<(Value, SessionStatus)> = vec![
        (
            payload(
                "c-1",
                "SessionStart",
                json!({"source": "startup", "model": "claude-sonnet-4-5"}),
            ),
            SessionStatus::Waiting,
        ),
        (
            payload(
                "c-1",
                "UserPromptSubmit",
                json!({"prompt": "fix the tests ✓"}),
            ),
            SessionStatus::Working,
        ),
        (
            payload(
                "c-1",
                "PreToolUse",
                json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_use_id": "toolu_1"}),
            ),
            SessionStatus::Working,
        ),
        (
            payload(
                "c-1",
                "PostToolUse",
                json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_response": {"stdout": "ok", "stderr": ""}, "tool_use_id": "toolu_1"}),
            ),
            SessionStatus::Working,
        ),
        (
            payload(
                "c-1",
                "Notification",
                json!({"message": "Claude needs your permission to use Bash"}),
            ),
            SessionStatus::NeedsApproval,
        ),
        (
            payload("c-1", "Stop", json!({"stop_hook_active": false})),
            SessionStatus::Waiting,
        ),
        (
            payload("c-1", "SubagentStop", json!({"stop_hook_active": false})),
            SessionStatus::Waiting,
        ),
        (
            payload("c-1", "PreCompact", json!({"trigger": "auto"})),
            SessionStatus::Waiting,
        ),
        (
            payload("c-1", "SessionEnd", json!({"reason": "prompt_input_exit"})),
            SessionStatus::Ended,
        ),
    ];
    let mut id = None;
    for (p, want) in &steps {
        let r: Value = h.post("/api/hooks/claude", p).await?;
        let sid = r["session_id"].as_str().unwrap().to_owned();
        if let Some(prev) = &id {
            assert_eq!(prev, &sid, "one session per Claude session id");
        }
        id = Some(sid);
        let s = summary(&h, "c-1").await?.expect("listed");
        assert_eq!(s.status, *want, "after {}", p["hook_event_name"]);
        assert_eq!(s.provider, Provider::Claude);
        assert_eq!(s.origin, Origin::Passive);
        assert_eq!(s.cwd, "/w");
    }
    let id = id.unwrap();
    let s = summary(&h, "c-1").await?.unwrap();
    assert_eq!(s.model.as_deref(), Some("claude-sonnet-4-5"));
    // One PreToolUse: one tool; no repository at the hooks' cwd.
    assert_eq!(s.tool_count, 1);
    assert_eq!(s.last_tool.as_deref(), Some("Bash"));
    assert_eq!(s.git_branch, None);
    let page: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    let bodies: Vec<&ItemBody> = page.items.iter().map(|i| &i.body).collect();
    assert!(
        bodies.contains(&&ItemBody::UserMessage {
            text: "fix the tests ✓".into()
        }),
        "{bodies:#?}"
    );
    assert!(
        bodies.iter().any(|b| matches!(b, ItemBody::CommandExecution { command, output, .. } if command == "cargo test" && output == "ok")),
        "{bodies:#?}"
    );

    // Not a hook payload: 400 with a JSON error, nothing created.
    let r = h
        .http
        .post(format!("{}/api/hooks/claude", h.base()))
        .bearer_auth(common::TOKEN)
        .body("{\"hook_event_name\":\"Stop\"}")
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await?;
    assert!(body.is_object());
    // No token: 401.
    let r = h
        .http
        .post(format!("{}/api/hooks/claude", h.base()))
        .json(&steps[0].0)
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_payloads_appear_after_the_server_starts() -> Result<()> {
    let mut h = Harness::start().await?;
    // What `orbitdock hook claude` does when it cannot reach the server.
    let spool = claude_hooks::Spool::in_data_dir(h.data.path());
    spool.append(
        payload(
            "c-2",
            "UserPromptSubmit",
            json!({"prompt": "while you were away"}),
        )
        .to_string()
        .as_bytes(),
    )?;
    spool.append(b"{not json")?;
    spool.append(payload("c-2", "Stop", json!({})).to_string().as_bytes())?;
    assert!(
        summary(&h, "c-2").await?.is_none(),
        "a running server does not read the spool"
    );
    h.restart().await?;
    let s = summary(&h, "c-2")
        .await?
        .expect("spooled session restored at start");
    assert_eq!(s.status, SessionStatus::Waiting);
    assert_eq!(s.provider, Provider::Claude);
    let page: ItemsPage = h.get(&format!("/api/sessions/{}/items", s.id)).await?;
    assert!(page.items.iter().any(|i| i.body
        == ItemBody::UserMessage {
            text: "while you were away".into()
        }));
    // Drained: a second start does not apply them again.
    assert!(std::fs::read(spool.path())?.is_empty());
    h.restart().await?;
    let page: ItemsPage = h.get(&format!("/api/sessions/{}/items", s.id)).await?;
    assert_eq!(
        page.items
            .iter()
            .filter(|i| matches!(i.body, ItemBody::UserMessage { .. }))
            .count(),
        1
    );
    h.shutdown().await;
    Ok(())
}
