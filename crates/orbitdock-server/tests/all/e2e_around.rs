//! End-to-end tests of the surfaces around a thread against the REAL pinned Codex app-server with
//! the loopback fake model: per-turn overrides reaching the model, MCP server status (startup
//! cards, the per-server list, the servers' tools in the model's request), deleting a session
//! with its Codex thread, browsing and importing a thread Codex knows, the config view/edit, the
//! one-off command runner (streamed output, stdin, terminate), skills and goals.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Context, Result};
use orbitdock_protocol::{
    AgentConfigResponse, AgentThreadsResponse, GoalResponse, ItemBody, ItemStatus, ItemsPage,
    McpConnectionState, McpServersResponse, McpStartupState, RunCommandResponse,
    SendMessageResponse, ServerMessage, SessionDelta, SessionState, SkillsResponse, TextStream,
};
use orbitdock_server::connector::{Connector, ThreadConfig};
use serde_json::{Value, json};
use test_support::ScriptedResponse;

use crate::common::{Harness, WAIT, Ws, connector_turn_end, eventually, is_turn_ended, subscribed};

/// A read-only, never-asking session (with a first prompt, if any); its id.
async fn read_only_session(h: &Harness, prompt: Option<&str>) -> Result<String> {
    let created = h
        .create(
            json!({"cwd": h.workdir(), "approval_policy": "never", "sandbox_mode": "read-only",
                       "prompt": prompt}),
        )
        .await?;
    Ok(created.summary.id)
}

async fn items(h: &Harness, id: &str) -> Result<Vec<orbitdock_protocol::TranscriptItem>> {
    let page: ItemsPage = h
        .get(&format!("/api/sessions/{id}/items?after=0&limit=1000"))
        .await?;
    Ok(page.items)
}

/// Sends a WebSocket action and returns its ack's result (or fails with its error).
async fn ws_action(ws: &mut Ws, mut msg: Value, tag: &str) -> Result<Value> {
    msg["client_ref"] = json!(tag);
    ws.send(msg).await?;
    let m = ws
        .wait_for(tag, |m| match m {
            ServerMessage::Ack { client_ref, .. } | ServerMessage::Error { client_ref, .. } => {
                client_ref.as_deref() == Some(tag)
            }
            _ => false,
        })
        .await?;
    match m {
        ServerMessage::Ack { result, .. } => Ok(result),
        other => anyhow::bail!("{tag} failed: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_turn_overrides_reach_the_model_and_stay_as_the_session_defaults() -> Result<()> {
    let h = Harness::start().await?;
    h.fake.enqueue(ScriptedResponse::new().text("first"));
    h.fake.enqueue(ScriptedResponse::new().text("overridden"));
    h.fake.enqueue(ScriptedResponse::new().text("after"));
    let id = read_only_session(&h, None).await?;
    let mut ws = subscribed(&h, &id).await?;
    let send = |text: &str, extra: Value| {
        let mut body = json!({"text": text});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let _: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &send("plain one", json!({})),
        )
        .await?;
    ws.wait_delta("turn 1 end", &id, is_turn_ended).await?;
    let _: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &send(
                "with overrides",
                json!({"model": "override-model-7", "effort": "high",
                       "sandbox_mode": "workspace-write", "approval_policy": "on-request"}),
            ),
        )
        .await?;
    ws.wait_delta("turn 2 end", &id, is_turn_ended).await?;
    let _: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &send("no overrides again", json!({})),
        )
        .await?;
    ws.wait_delta("turn 3 end", &id, is_turn_ended).await?;

    let reqs = h.fake.responses_requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    let model = |i: usize| reqs[i].body["model"].as_str().unwrap_or("").to_owned();
    let effort = |i: usize| {
        reqs[i].body["reasoning"]["effort"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(model(0), "gpt-oss-20b");
    assert_eq!(model(1), "override-model-7");
    assert_eq!(effort(1).as_deref(), Some("high"));
    // Codex's permissions instructions to the model name the sandbox of the turn.
    let text = |i: usize| serde_json::to_string(reqs[i].input()).unwrap();
    assert!(text(0).contains("read-only"), "{}", text(0));
    assert!(text(1).contains("workspace-write"), "{}", text(1));
    // The overrides stay for later turns (Codex applies turn settings to subsequent turns too),
    // and the session's defaults say so.
    assert_eq!(model(2), "override-model-7");
    let st: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
    assert_eq!(st.summary.model.as_deref(), Some("override-model-7"));
    assert_eq!(st.summary.effort.as_deref(), Some("high"));
    assert_eq!(
        st.summary.sandbox_mode.as_ref().map(|s| s.as_str()),
        Some("workspace-write")
    );
    assert_eq!(
        st.summary.approval_policy.as_ref().map(|s| s.as_str()),
        Some("on-request")
    );
    h.shutdown().await;
    Ok(())
}

fn mcp_config() -> String {
    let server = test_support::cargo_example("codexpc", "mcp_test_server");
    format!(
        "[mcp_servers.calc]\ncommand = {:?}\nstartup_timeout_sec = 20\n\n\
         [mcp_servers.broken]\ncommand = \"/nonexistent/orbitdock-missing-mcp-server\"\n",
        server.display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_server_status_shows_startup_cards_tools_and_errors() -> Result<()> {
    let cfg = mcp_config();
    let h = Harness::start_with_home(|b, _| b.extra_toml(&cfg)).await?;
    h.fake
        .enqueue(ScriptedResponse::new().text("hello with tools"));
    let id = read_only_session(&h, Some("which tools do you have")).await?;

    // Startup outcomes land in the transcript as cards (not raw JSON).
    let cards = eventually("both MCP startup cards", || async {
        let cards: Vec<(String, McpStartupState, Option<String>)> = items(&h, &id)
            .await?
            .into_iter()
            .filter_map(|i| match i.body {
                ItemBody::McpServerStatus {
                    server,
                    state,
                    error,
                } => Some((server, state, error)),
                _ => None,
            })
            .collect();
        Ok((cards.len() >= 2).then_some(cards))
    })
    .await?;
    let calc = cards.iter().find(|c| c.0 == "calc").context("calc card")?;
    assert_eq!(calc.1, McpStartupState::Ready, "{cards:?}");
    let broken = cards
        .iter()
        .find(|c| c.0 == "broken")
        .context("broken card")?;
    assert_eq!(broken.1, McpStartupState::Failed, "{cards:?}");
    assert!(
        broken.2.as_deref().is_some_and(|e| !e.is_empty()),
        "{cards:?}"
    );

    // The per-server list: state, tool count, auth and errors, over REST and WebSocket.
    let list: McpServersResponse = h.get(&format!("/api/sessions/{id}/mcp-servers")).await?;
    let calc = list
        .servers
        .iter()
        .find(|s| s.name == "calc")
        .context("calc listed")?;
    assert_eq!(calc.tool_count, 5, "{list:#?}");
    assert!(calc.tools.iter().any(|t| t == "add"), "{list:#?}");
    assert_eq!(calc.state, Some(McpConnectionState::Connected), "{list:#?}");
    let broken = list
        .servers
        .iter()
        .find(|s| s.name == "broken")
        .context("broken listed")?;
    assert_eq!(broken.tool_count, 0);
    assert_ne!(
        broken.state,
        Some(McpConnectionState::Connected),
        "{list:#?}"
    );
    let mut ws = h.ws().await?;
    let via_ws = ws_action(
        &mut ws,
        json!({"type": "list_mcp_servers", "session_id": id}),
        "mcp",
    )
    .await?;
    let via_ws: McpServersResponse = serde_json::from_value(via_ws)?;
    assert_eq!(via_ws.servers.len(), list.servers.len());

    // The effect: the ready server's tools were offered to the model.
    let reqs = h.fake.wait_for_responses_requests_async(1, WAIT).await;
    let tools = serde_json::to_string(&reqs[0].body["tools"])?;
    assert!(tools.contains("calc"), "{tools}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_session_and_its_codex_thread() -> Result<()> {
    let h = Harness::start().await?;
    h.fake.enqueue(ScriptedResponse::new().text("soon gone"));
    let id = read_only_session(&h, Some("delete-probe-41")).await?;
    let thread = eventually("idle with a thread", || async {
        let st: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
        Ok(st
            .summary
            .thread_id
            .clone()
            .filter(|_| st.current_turn.is_none() && st.item_count >= 2))
    })
    .await?;
    let listed: AgentThreadsResponse = h.get("/api/codex/threads?search=delete-probe").await?;
    let found = listed
        .threads
        .iter()
        .find(|t| t.thread_id == thread)
        .context("Codex lists the thread before the delete")?;
    assert_eq!(found.session_id.as_deref(), Some(id.as_str()));

    let _: Value = h
        .post(&format!("/api/sessions/{id}/delete"), &json!({}))
        .await?;
    let gone = h.get::<Value>(&format!("/api/sessions/{id}")).await;
    assert!(
        gone.as_ref().is_err_and(|e| e.to_string().contains("404")),
        "{gone:?}"
    );
    let list: orbitdock_protocol::SessionsResponse = h.get("/api/sessions").await?;
    assert!(list.sessions.iter().all(|s| s.id != id));
    // Codex's own store no longer has it.
    let listed: AgentThreadsResponse = h.get("/api/codex/threads?search=delete-probe").await?;
    assert!(
        listed.threads.iter().all(|t| t.thread_id != thread),
        "{listed:#?}"
    );
    // Persisted: a restarted server does not bring it back.
    let mut h = h;
    h.restart().await?;
    let list: orbitdock_protocol::SessionsResponse = h.get("/api/sessions").await?;
    assert!(list.sessions.iter().all(|s| s.id != id));
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_codex_knows_is_found_imported_with_history_and_continued() -> Result<()> {
    let h = Harness::start().await?;
    // A thread made outside the hub: another app-server client on the same CODEX_HOME.
    h.fake
        .enqueue(ScriptedResponse::new().text("IMPORTED-ANSWER-5d2"));
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let outside = h.outside_connector(tx);
    let cfg = ThreadConfig {
        cwd: h.workdir(),
        ..Default::default()
    };
    let thread = outside.start_thread(&cfg).await?.thread_id;
    outside
        .start_turn(&thread, "import-probe-88 remember the colour teal", &cfg)
        .await?;
    connector_turn_end(&mut rx).await?;
    outside.shutdown().await;

    let listed: AgentThreadsResponse = h.get("/api/codex/threads?search=import-probe").await?;
    let t = listed
        .threads
        .iter()
        .find(|t| t.thread_id == thread)
        .with_context(|| format!("{listed:#?}"))?
        .clone();
    assert!(t.preview.contains("import-probe-88"), "{t:?}");
    assert_eq!(t.session_id, None);
    let none: AgentThreadsResponse = h.get("/api/codex/threads?search=no-such-title-zz").await?;
    assert!(none.threads.iter().all(|x| x.thread_id != t.thread_id));

    let st: SessionState = h
        .post(
            "/api/codex/threads/import",
            &json!({"thread_id": t.thread_id}),
        )
        .await?;
    let id = st.summary.id.clone();
    assert_eq!(st.summary.thread_id.as_deref(), Some(t.thread_id.as_str()));
    let history = items(&h, &id).await?;
    assert!(history.iter().any(
        |i| matches!(&i.body, ItemBody::UserMessage { text } if text.contains("import-probe-88"))
    ));
    assert!(history.iter().any(
        |i| matches!(&i.body, ItemBody::AgentMessage { text } if text.contains("IMPORTED-ANSWER-5d2"))
    ));
    // Importing again answers the same session.
    let again: SessionState = h
        .post(
            "/api/codex/threads/import",
            &json!({"thread_id": t.thread_id}),
        )
        .await?;
    assert_eq!(again.summary.id, id);

    // A new message continues the thread: the model sees the imported history.
    h.fake.enqueue(ScriptedResponse::new().text("teal it was"));
    let mut ws = subscribed(&h, &id).await?;
    let _: SendMessageResponse = h
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "which colour?"}),
        )
        .await?;
    ws.wait_delta("turn end", &id, is_turn_ended).await?;
    let reqs = h.fake.responses_requests();
    let last = serde_json::to_string(reqs.last().unwrap().input())?;
    assert!(last.contains("import-probe-88"), "{last}");
    assert!(last.contains("IMPORTED-ANSWER-5d2"), "{last}");
    assert!(last.contains("which colour?"), "{last}");
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_view_and_edit_change_what_the_next_session_uses() -> Result<()> {
    let h = Harness::start().await?;
    let cfg: AgentConfigResponse = h.get("/api/codex/config").await?;
    assert_eq!(cfg.config["model"], "gpt-oss-20b", "{:#}", cfg.config);
    let cfg: AgentConfigResponse = h
        .post(
            "/api/codex/config",
            &json!({"key_path": "model", "value": "edited-model-3"}),
        )
        .await?;
    assert_eq!(cfg.config["model"], "edited-model-3");
    let toml = std::fs::read_to_string(h.home.path().join("config.toml"))?;
    assert!(toml.contains("edited-model-3"), "{toml}");
    // Bad input is refused with a clear error and changes nothing.
    let bad = h
        .post::<_, Value>("/api/codex/config", &json!({"key_path": "", "value": 1}))
        .await;
    assert!(bad.is_err_and(|e| e.to_string().contains("400")));

    h.fake
        .enqueue(ScriptedResponse::new().text("on the edited model"));
    let created = h
        .create(json!({"cwd": h.workdir(), "prompt": "which model"}))
        .await?;
    let reqs = h.fake.wait_for_responses_requests_async(1, WAIT).await;
    assert_eq!(reqs[0].body["model"], "edited-model-3");
    drop(created);
    h.shutdown().await;
    Ok(())
}

/// The transcript item of a one-off command once it has finished.
async fn finished_command(h: &Harness, id: &str, cid: &str) -> Result<(ItemStatus, ItemBody)> {
    eventually("command finished", || async {
        Ok(items(h, id)
            .await?
            .into_iter()
            .find(|i| i.id == cid && i.status != ItemStatus::InProgress)
            .map(|i| (i.status, i.body)))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_off_commands_stream_output_take_stdin_and_can_be_stopped() -> Result<()> {
    let h = Harness::start().await?;
    let id = read_only_session(&h, None).await?;
    let mut ws = subscribed(&h, &id).await?;

    // Streamed: the first line arrives as a delta while the command still runs.
    let run: RunCommandResponse = h
        .post(
            &format!("/api/sessions/{id}/commands"),
            &json!({"command": ["sh", "-c", "echo first-line; sleep 1; echo second-line"]}),
        )
        .await?;
    let cid = run.command_id.clone();
    let d = ws
        .wait_delta("first output delta", &id, |d| {
            matches!(d, SessionDelta::ItemText { item_id, stream: TextStream::Output, delta, .. }
                if *item_id == cid && delta.contains("first-line"))
        })
        .await?;
    drop(d);
    let (status, body) = finished_command(&h, &id, &cid).await?;
    assert_eq!(status, ItemStatus::Completed);
    let ItemBody::CommandExecution {
        output, exit_code, ..
    } = body
    else {
        panic!("not a command card: {body:?}")
    };
    assert_eq!(exit_code, Some(0));
    assert!(
        output.contains("first-line") && output.contains("second-line"),
        "{output}"
    );

    // Sandboxed: the session is read-only, so a write fails and leaves nothing behind.
    let run: RunCommandResponse = h
        .post(
            &format!("/api/sessions/{id}/commands"),
            &json!({"command": ["sh", "-c", "echo x > sandbox-probe.txt"]}),
        )
        .await?;
    let (status, _) = finished_command(&h, &id, &run.command_id).await?;
    assert_eq!(status, ItemStatus::Failed);
    assert!(!h.home.workdir().join("sandbox-probe.txt").exists());

    // stdin: what is written reaches the command.
    let run: RunCommandResponse = h
        .post(
            &format!("/api/sessions/{id}/commands"),
            &json!({"command": ["cat"]}),
        )
        .await?;
    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/commands/{}/stdin", run.command_id),
            &json!({"text": "piped-in-77\n", "close": true}),
        )
        .await?;
    let (_, body) = finished_command(&h, &id, &run.command_id).await?;
    assert!(
        matches!(&body, ItemBody::CommandExecution { output, exit_code: Some(0), .. } if output.contains("piped-in-77")),
        "{body:?}"
    );

    // Terminate: a long command stops well before it would end.
    let run: RunCommandResponse = h
        .post(
            &format!("/api/sessions/{id}/commands"),
            &json!({"command": ["sh", "-c", "echo long-started; sleep 60"]}),
        )
        .await?;
    let started = std::time::Instant::now();
    // Once it has printed, Codex certainly runs it.
    let long = run.command_id.clone();
    ws.wait_delta("long command running", &id, |d| {
        matches!(d, SessionDelta::ItemText { item_id, delta, .. }
            if *item_id == long && delta.contains("long-started"))
    })
    .await?;
    let _: Value = h
        .post(
            &format!("/api/sessions/{id}/commands/{}/terminate", run.command_id),
            &json!({}),
        )
        .await?;
    let (status, _) = finished_command(&h, &id, &run.command_id).await?;
    assert_eq!(status, ItemStatus::Failed);
    assert!(started.elapsed() < Duration::from_secs(50));
    // A finished command takes no more input.
    let late = h
        .post::<_, Value>(
            &format!("/api/sessions/{id}/commands/{}/terminate", run.command_id),
            &json!({}),
        )
        .await;
    assert!(late.is_err_and(|e| e.to_string().contains("400")));
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_in_codex_home_are_listed_and_goals_follow_the_agent_version() -> Result<()> {
    let h = Harness::start().await?;
    let skill = h.home.path().join("skills/release-notes");
    std::fs::create_dir_all(&skill)?;
    std::fs::write(
        skill.join("SKILL.md"),
        "---\nname: release-notes\ndescription: Draft release notes from the git log\n---\n\nRead the log and write notes.\n",
    )?;
    h.fake.enqueue(ScriptedResponse::new().text("ok"));
    let id = read_only_session(&h, Some("hello")).await?;
    let skills: SkillsResponse = h.get(&format!("/api/sessions/{id}/skills")).await?;
    let s = skills
        .skills
        .iter()
        .find(|s| s.name == "release-notes")
        .with_context(|| format!("{skills:#?}"))?;
    assert_eq!(s.description, "Draft release notes from the git log");

    eventually("thread bound", || async {
        let st: SessionState = h.get(&format!("/api/sessions/{id}")).await?;
        Ok(st.summary.thread_id.filter(|_| st.current_turn.is_none()))
    })
    .await?;
    // The pinned Codex knows thread goals (an older one answers "method not found", which the
    // hub reports as `supported: false`).
    let goal: GoalResponse = h.get(&format!("/api/sessions/{id}/goal")).await?;
    assert!(goal.supported);
    {
        assert_eq!(goal.goal, None);
        let set: GoalResponse = h
            .post(
                &format!("/api/sessions/{id}/goal"),
                &json!({"objective": "ship the release notes"}),
            )
            .await?;
        assert_eq!(
            set.goal.as_ref().map(|g| g.objective.as_str()),
            Some("ship the release notes")
        );
        let card = eventually("goal card", || async {
            Ok(items(&h, &id)
                .await?
                .into_iter()
                .find(|i| matches!(i.body, ItemBody::Goal { .. })))
        })
        .await?;
        assert!(
            matches!(&card.body, ItemBody::Goal { goal: Some(g) } if g.objective == "ship the release notes"),
            "{card:?}"
        );
        let read: GoalResponse = h.get(&format!("/api/sessions/{id}/goal")).await?;
        assert_eq!(read.goal, set.goal);
        // An empty objective clears it; the transcript says so.
        let cleared: GoalResponse = h
            .post(
                &format!("/api/sessions/{id}/goal"),
                &json!({"objective": ""}),
            )
            .await?;
        assert_eq!(cleared.goal, None);
        eventually("goal cleared card", || async {
            Ok(items(&h, &id)
                .await?
                .into_iter()
                .find(|i| matches!(i.body, ItemBody::Goal { goal: None })))
        })
        .await?;
        let read: GoalResponse = h.get(&format!("/api/sessions/{id}/goal")).await?;
        assert_eq!(read.goal, None);
    }
    h.shutdown().await;
    Ok(())
}
