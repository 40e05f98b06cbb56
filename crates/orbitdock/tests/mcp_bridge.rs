//! `orbitdock mcp`, the MCP bridge, as a real child process against a real hub (the server
//! in-process on 127.0.0.1:0, the REAL pinned Codex app-server behind it, a loopback model):
//! - rmcp's client lists the tools and calls each one, including their errors;
//! - the transcript resources and their subscription (a notification per new item);
//! - fork and review through the bridge (the fork's message reaches only the fork; the
//!   reviewer sees the changes);
//! - end to end: the REAL pinned Codex CLI (`codex exec`, its own CODEX_HOME and scripted
//!   model), with the bridge installed by `orbitdock mcp install codex`, is told by its model to
//!   call `list_sessions` and `send_message` into a live direct session of the hub, whose own
//!   model then answers; the action is recorded "via MCP"; a read-only install refuses
//!   `send_message` with a clear tool error that reaches the lead's model.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use orbitdock_client::{Client, ItemsQuery};
use orbitdock_protocol::{ActionVia, CreateSessionRequest, ItemBody, SessionState, TranscriptItem};
use orbitdock_server::{DiscoveryOptions, RunningServer, ServerConfig};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientConfig, ProtocolVersion,
    ReadResourceRequestParams, ResourceUpdatedNotificationParam, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(60);

/// A hub: the server in-process over a temp data dir (with `server.json` and `token`, as
/// `orbitdock serve` writes them), the pinned Codex app-server, a loopback model.
struct Hub {
    fake: FakeResponses,
    home: TempCodexHome,
    data: tempfile::TempDir,
    server: Option<RunningServer>,
    client: Client,
}

impl Hub {
    async fn start() -> Result<Hub> {
        let fake = FakeResponses::start();
        let home = CodexHomeBuilder::new(&fake.base_url())
            .approval_policy("on-request")
            .sandbox_mode("workspace-write")
            .build();
        let data = tempfile::tempdir()?;
        let token = orbitdock_server::data_dir::load_or_create_token(data.path(), false)?;
        let server = orbitdock_server::start_with(
            ServerConfig {
                data_dir: data.path().to_owned(),
                codex_home: home.path().to_owned(),
                codex_bin: test_support::codex_bin(),
                bind: "127.0.0.1:0".parse::<SocketAddr>()?,
                token: token.clone(),
                codex_env: home.env_strings(),
                claude: None,
                output_limits: Default::default(),
            },
            DiscoveryOptions {
                watch_codex: false,
                ..Default::default()
            },
        )
        .await?;
        orbitdock_server::data_dir::write_server_info(
            data.path(),
            &orbitdock_server::data_dir::ServerInfo {
                url: server.base_url(),
                pid: std::process::id(),
            },
        )?;
        let client = Client::discover(data.path())?;
        Ok(Hub {
            fake,
            home,
            data,
            server: Some(server),
            client,
        })
    }

    /// A direct session in the hub's work dir.
    async fn create(&self, name: &str) -> Result<SessionState> {
        Ok(self
            .client
            .create_session(&CreateSessionRequest {
                cwd: self.home.workdir().display().to_string(),
                name: Some(name.into()),
                ..Default::default()
            })
            .await?)
    }

    async fn items(&self, id: &str) -> Result<Vec<TranscriptItem>> {
        Ok(self
            .client
            .items(
                id,
                ItemsQuery {
                    after: Some(0),
                    limit: Some(1000),
                    ..Default::default()
                },
            )
            .await?
            .items)
    }

    /// Waits until the session's transcript has an item matching `pred`.
    async fn wait_item(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&ItemBody) -> bool,
    ) -> Result<TranscriptItem> {
        eventually(&format!("{what} in session {id}"), || async {
            let items = self.items(id).await?;
            Ok(match items.iter().find(|i| pred(&i.body)) {
                Some(i) => Ok(i.clone()),
                None => Err(format!("{items:#?}")),
            })
        })
        .await
    }

    /// Waits until the session's state satisfies `pred`.
    async fn wait_state(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&SessionState) -> bool,
    ) -> Result<SessionState> {
        eventually(&format!("{what} in session {id}"), || async {
            let s = self.client.get_session(id).await?;
            Ok(if pred(&s) {
                Ok(s)
            } else {
                Err(format!("{s:#?}"))
            })
        })
        .await
    }

    async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// Polls `f` until it answers `Ok(Ok(v))` (its `Ok(Err(last))` says what it saw), for at most
/// [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<std::result::Result<T, String>>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match f().await? {
            Ok(v) => return Ok(v),
            Err(last) if tokio::time::Instant::now() > deadline => {
                bail!("no {what} within {WAIT:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await, // poll-with-deadline
        }
    }
}

fn orbitdock_bin() -> &'static str {
    env!("CARGO_BIN_EXE_orbitdock")
}

/// The bridge's MCP client side: forwards resource-updated notifications to the test.
struct Watcher {
    updates: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Watcher {
    // Sessions with subscriptions are the initialize-handshake lifecycle (what agents speak).
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default().with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.updates.send(params.uri);
    }
}

type Bridge = RunningService<RoleClient, Watcher>;

/// Starts `orbitdock --data-dir D mcp [--allow-actions]` as a child and connects to it.
async fn bridge(
    data_dir: &Path,
    allow_actions: bool,
) -> Result<(Bridge, mpsc::UnboundedReceiver<String>)> {
    let mut cmd = tokio::process::Command::new(orbitdock_bin());
    cmd.arg("--data-dir").arg(data_dir).arg("mcp");
    if allow_actions {
        cmd.arg("--allow-actions");
    }
    cmd.stderr(Stdio::inherit());
    let (tx, rx) = mpsc::unbounded_channel();
    let service = Watcher { updates: tx }
        .serve(TokioChildProcess::new(cmd)?)
        .await
        .context("MCP handshake with orbitdock mcp")?;
    Ok((service, rx))
}

async fn call(b: &Bridge, tool: &str, args: Value) -> Result<CallToolResult> {
    let Value::Object(args) = args else {
        bail!("arguments must be an object")
    };
    let r = b
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .with_context(|| format!("calling {tool}"))?;
    Ok(r)
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Calls `tool` and expects success; answers the structured content.
async fn ok(b: &Bridge, tool: &str, args: Value) -> Result<Value> {
    let r = call(b, tool, args).await?;
    anyhow::ensure!(r.is_error != Some(true), "{tool} failed: {}", text(&r));
    r.structured_content
        .with_context(|| format!("{tool}: no structured content"))
}

/// Calls `tool` and expects a tool error with `code`; answers its text.
async fn refused(b: &Bridge, tool: &str, args: Value, code: &str) -> Result<String> {
    let r = call(b, tool, args).await?;
    anyhow::ensure!(r.is_error == Some(true), "{tool} should fail: {}", text(&r));
    let got = r
        .structured_content
        .as_ref()
        .and_then(|v| v["error"]["code"].as_str())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        got == code,
        "{tool}: code {got:?}, expected {code:?}: {}",
        text(&r)
    );
    Ok(text(&r))
}

fn via_mcp_notice(body: &ItemBody, contains: &str) -> bool {
    matches!(body, ItemBody::Notice { message, via: Some(ActionVia::Mcp) } if message.contains(contains))
}

const TOOLS: &[&str] = &[
    "approve",
    "check_connection",
    "compact",
    "create_session",
    "fork",
    "get_session",
    "interrupt_turn",
    "list_sessions",
    "review",
    "send_message",
    "steer",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_lists_the_tools_and_calls_each() -> Result<()> {
    let hub = Hub::start().await?;
    let (b, _updates) = bridge(hub.data.path(), true).await?;
    let r: Result<()> = async {
        let tools = b.list_all_tools().await?;
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(names, TOOLS);
        let send = tools.iter().find(|t| t.name == "send_message").unwrap();
        let schema = serde_json::to_value(&send.input_schema)?;
        assert_eq!(schema["required"], json!(["session_id", "message"]), "{schema}");
        for p in ["model", "effort", "approval_policy", "sandbox_mode"] {
            assert!(schema["properties"][p].is_object(), "{p}: {schema}");
        }
        let list = tools.iter().find(|t| t.name == "list_sessions").unwrap();
        assert_eq!(
            list.annotations.as_ref().and_then(|a| a.read_only_hint),
            Some(true)
        );

        let v = ok(&b, "check_connection", json!({})).await?;
        assert_eq!(v["ok"], true);
        assert_eq!(v["actions_allowed"], true);
        assert_eq!(v["sessions"], 0);

        // create_session through the bridge: a direct session, recorded as an agent's action.
        let v = ok(
            &b,
            "create_session",
            json!({"cwd": hub.home.workdir(), "name": "worker"}),
        )
        .await?;
        let id = v["session"]["id"].as_str().unwrap().to_owned();
        assert_eq!(v["session"]["origin"], "direct");
        hub.wait_item(&id, "the create record", |b| {
            via_mcp_notice(b, "created this session")
        })
        .await?;
        refused(&b, "create_session", json!({"cwd": "relative/dir"}), "bad_request").await?;

        // A passive session (a Claude Code session seen through its hooks) is read-only.
        hub.client
            .claude_hook(&json!({
                "session_id": "claude-1", "transcript_path": "/tmp/t.jsonl", "cwd": "/w",
                "hook_event_name": "SessionStart", "source": "startup"
            }))
            .await?;
        let v = ok(&b, "list_sessions", json!({})).await?;
        assert_eq!(v["total"], 2, "{v}");
        let passive = v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["origin"] == "passive")
            .context("the passive session")?;
        assert_eq!(passive["controllable"], false);
        assert_eq!(passive["provider"], "claude");
        let passive_id = passive["id"].as_str().unwrap().to_owned();
        let v = ok(&b, "list_sessions", json!({"controllable_only": true})).await?;
        assert_eq!(v["sessions"][0]["id"], id.as_str(), "{v}");
        assert_eq!(v["total"], 1);
        let v = ok(&b, "list_sessions", json!({"provider": "claude", "text": "/W"})).await?;
        assert_eq!(v["sessions"][0]["id"], passive_id.as_str(), "{v}");
        let v = ok(&b, "list_sessions", json!({"status": "working", "origin": "direct"})).await?;
        assert_eq!(v["total"], 0, "{v}");
        let e = refused(&b, "list_sessions", json!({"origin": "sideways"}), "bad_request").await?;
        assert!(e.contains("direct, passive"), "{e}");
        let e = refused(
            &b,
            "send_message",
            json!({"session_id": passive_id, "message": "hi"}),
            "not_controllable",
        )
        .await?;
        assert!(e.contains("passive") && e.contains("read-only"), "{e}");

        // Unknown ids, for every tool that takes one.
        for tool in ["get_session", "interrupt_turn", "compact", "steer", "send_message"] {
            let e = refused(
                &b,
                tool,
                json!({"session_id": "nope", "message": "x"}),
                "not_found",
            )
            .await?;
            assert!(e.contains("\"nope\"") && e.contains("list_sessions"), "{tool}: {e}");
        }
        refused(
            &b,
            "approve",
            json!({"session_id": "nope", "request_id": "1", "decision": "accept"}),
            "not_found",
        )
        .await?;
        // Wrong state: nothing to steer or interrupt while idle.
        let e = refused(&b, "steer", json!({"session_id": id, "message": "x"}), "conflict").await?;
        assert!(e.contains("send_message"), "{e}");
        refused(&b, "interrupt_turn", json!({"session_id": id}), "conflict").await?;
        refused(&b, "send_message", json!({"session_id": id, "message": "  "}), "bad_request")
            .await?;
        refused(
            &b,
            "send_message",
            json!({"session_id": id, "message": "x", "sandbox_mode": "everything"}),
            "bad_request",
        )
        .await?;

        // send_message with per-turn overrides; the session's model answers.
        hub.fake.enqueue(ScriptedResponse::new().text("first answer"));
        let v = ok(
            &b,
            "send_message",
            json!({"session_id": id, "message": "first question", "effort": "low"}),
        )
        .await?;
        assert!(v["turn_id"].is_string(), "{v}");
        hub.wait_item(&id, "the answer", |b| {
            matches!(b, ItemBody::AgentMessage { text } if text == "first answer")
        })
        .await?;
        hub.wait_item(&id, "the send record", |b| {
            via_mcp_notice(b, "sent the message “first question” (effort low)")
        })
        .await?;
        let sent = hub.fake.wait_for_responses_requests_async(1, WAIT).await;
        assert_eq!(sent[0].body["reasoning"]["effort"], "low", "{}", sent[0].body);
        hub.wait_state(&id, "idle", |s| s.current_turn.is_none()).await?;

        // get_session: state and the last N items, paging back.
        let v = ok(&b, "get_session", json!({"session_id": id, "items": 2})).await?;
        assert_eq!(v["session"]["effort"], "low", "{v}");
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{v}");
        let last_seq = v["last_seq"].as_u64().unwrap();
        assert_eq!(items[1]["seq"].as_u64(), Some(last_seq));
        assert_eq!(v["has_more"], true);
        let before = v["next_before_seq"].as_u64().unwrap();
        let v = ok(
            &b,
            "get_session",
            json!({"session_id": id, "items": 200, "before_seq": before}),
        )
        .await?;
        let older = v["items"].as_array().unwrap();
        assert!(!older.is_empty() && older.iter().all(|i| i["seq"].as_u64() < Some(before)));
        assert_eq!(v["has_more"], false, "{v}");

        // A turn that waits on an approval: approve's errors, then a real decision.
        hub.fake.enqueue(ScriptedResponse::new().exec_command_escalated(
            "touch approved.txt",
            "call_esc",
            "needs to write outside",
        ));
        hub.fake.enqueue(ScriptedResponse::new().text("declined, fine"));
        ok(&b, "send_message", json!({"session_id": id, "message": "do it"})).await?;
        let s = hub
            .wait_state(&id, "a pending approval", |s| !s.pending_approvals.is_empty())
            .await?;
        let request_id = s.pending_approvals[0].request_id.clone();
        let v = ok(&b, "get_session", json!({"session_id": id, "items": 0})).await?;
        assert_eq!(v["pending_approvals"][0]["request_id"], request_id.as_str());
        assert_eq!(v["items"], json!([]));
        let e = refused(
            &b,
            "approve",
            json!({"session_id": id, "request_id": "other", "decision": "accept"}),
            "not_found",
        )
        .await?;
        assert!(e.contains(&request_id), "{e}");
        let e = refused(
            &b,
            "approve",
            json!({"session_id": id, "request_id": request_id, "decision": "accept", "answer": "yes"}),
            "bad_request",
        )
        .await?;
        assert!(e.contains("exactly one question"), "{e}");
        let r = call(
            &b,
            "approve",
            json!({"session_id": id, "request_id": request_id, "decision": "sometimes"}),
        )
        .await;
        assert!(r.is_err() || r.as_ref().is_ok_and(|r| r.is_error == Some(true)), "{r:?}");
        ok(
            &b,
            "approve",
            json!({"session_id": id, "request_id": request_id, "decision": "decline"}),
        )
        .await?;
        hub.wait_item(&id, "the answer after declining", |b| {
            matches!(b, ItemBody::AgentMessage { text } if text == "declined, fine")
        })
        .await?;
        hub.wait_item(&id, "the approval record", |b| {
            via_mcp_notice(b, &format!("declined request {request_id}"))
        })
        .await?;
        let history = hub.client.approval_history(&id).await?;
        assert_eq!(
            history.approvals[0].decision,
            Some(orbitdock_protocol::ApprovalDecision::Decline)
        );
        hub.wait_state(&id, "idle", |s| s.current_turn.is_none()).await?;

        // A running turn: steer it, then interrupt it.
        hub.fake
            .enqueue(ScriptedResponse::new().text("partial").hang_after_created());
        ok(&b, "send_message", json!({"session_id": id, "message": "long job"})).await?;
        hub.wait_state(&id, "a running turn", |s| s.current_turn.is_some())
            .await?;
        let v = ok(&b, "steer", json!({"session_id": id, "message": "also this"})).await?;
        assert!(v["turn_id"].is_string(), "{v}");
        ok(&b, "interrupt_turn", json!({"session_id": id})).await?;
        hub.wait_state(&id, "the turn's end", |s| s.current_turn.is_none())
            .await?;
        hub.wait_item(&id, "the interrupt record", |b| {
            via_mcp_notice(b, "interrupted the turn")
        })
        .await?;
        Ok(())
    }
    .await;
    let _ = b.cancel().await;
    hub.shutdown().await;
    r
}

// resources/subscribe is how clients on the initialize handshake (what agents speak today)
// follow a resource; rmcp marks it legacy in favour of the 2026-07-28 subscriptions/listen.
#[allow(deprecated)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_resources_and_their_subscription() -> Result<()> {
    let hub = Hub::start().await?;
    let (b, mut updates) = bridge(hub.data.path(), false).await?;
    let r: Result<()> = async {
        let s = hub.create("watched").await?;
        let id = s.summary.id.clone();
        let uri = format!("orbitdock://sessions/{id}/transcript");
        let resources = b.list_all_resources().await?;
        assert_eq!(
            resources.iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(),
            [uri.as_str()]
        );
        let templates = b.list_all_resource_templates().await?;
        assert_eq!(
            templates[0].uri_template,
            "orbitdock://sessions/{session_id}/transcript"
        );
        let unknown = b
            .subscribe(SubscribeRequestParams::new(
                "orbitdock://sessions/nope/transcript",
            ))
            .await;
        assert!(unknown.is_err(), "{unknown:?}");
        let bad = b
            .read_resource(ReadResourceRequestParams::new("file:///etc/passwd"))
            .await;
        assert!(bad.is_err(), "{bad:?}");

        b.subscribe(SubscribeRequestParams::new(uri.clone()))
            .await?;
        // A new item (the user's message, then the answer) is news; the subscription says so.
        hub.fake
            .enqueue(ScriptedResponse::new().text("watched answer"));
        hub.client.send_text(&id, "something new").await?;
        let got = tokio::time::timeout(WAIT, updates.recv())
            .await
            .context("no resources/updated notification")?
            .context("bridge gone")?;
        assert_eq!(got, uri);
        hub.wait_item(
            &id,
            "the answer",
            |b| matches!(b, ItemBody::AgentMessage { text } if text == "watched answer"),
        )
        .await?;
        let read = b
            .read_resource(ReadResourceRequestParams::new(uri.clone()))
            .await?;
        let rmcp::model::ResourceContents::TextResourceContents { text, .. } = &read.contents[0]
        else {
            bail!("not text: {read:?}");
        };
        let v: Value = serde_json::from_str(text)?;
        assert_eq!(v["session"]["id"], id.as_str());
        assert!(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["type"] == "agent_message" && i["text"] == "watched answer"),
            "{v}"
        );
        hub.wait_state(&id, "idle", |s| s.current_turn.is_none())
            .await?;

        // After unsubscribing, new items are not announced.
        b.unsubscribe(UnsubscribeRequestParams::new(uri.clone()))
            .await?;
        while updates.try_recv().is_ok() {}
        hub.fake
            .enqueue(ScriptedResponse::new().text("unwatched answer"));
        hub.client.send_text(&id, "more").await?;
        hub.wait_item(
            &id,
            "the second answer",
            |b| matches!(b, ItemBody::AgentMessage { text } if text == "unwatched answer"),
        )
        .await?;
        // A roundtrip through the bridge after the items landed: a notification sent for them
        // would have arrived before this answer.
        ok(&b, "check_connection", json!({})).await?;
        assert!(updates.try_recv().is_err(), "notified after unsubscribe");
        Ok(())
    }
    .await;
    let _ = b.cancel().await;
    hub.shutdown().await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_and_review_through_the_bridge() -> Result<()> {
    let hub = Hub::start().await?;
    let (b, _updates) = bridge(hub.data.path(), true).await?;
    let r: Result<()> = async {
        let s = hub.create("parent").await?;
        let id = s.summary.id.clone();
        hub.fake.enqueue(ScriptedResponse::new().text("ALPHA-ANSWER"));
        hub.client.send_text(&id, "alpha question").await?;
        hub.wait_item(&id, "the first answer", |b| {
            matches!(b, ItemBody::AgentMessage { text } if text == "ALPHA-ANSWER")
        })
        .await?;
        hub.wait_state(&id, "idle", |s| s.current_turn.is_none()).await?;

        // Wrong input first: unknown policies, unknown ids, a target missing its field.
        refused(
            &b,
            "fork",
            json!({"session_id": id, "sandbox_mode": "everything"}),
            "bad_request",
        )
        .await?;
        refused(&b, "fork", json!({"session_id": "nope"}), "not_found").await?;
        let e = refused(
            &b,
            "review",
            json!({"session_id": id, "target": "base_branch"}),
            "bad_request",
        )
        .await?;
        assert!(e.contains("`branch`"), "{e}");
        let e = refused(
            &b,
            "review",
            json!({"session_id": id, "target": "custom", "instructions": "x", "delivery": "sideways"}),
            "bad_request",
        )
        .await?;
        assert!(e.contains("inline, detached"), "{e}");

        // The fork: a new direct session holding the parent's thread; its next message reaches
        // the model with the parent's history, and the parent gets nothing.
        let v = ok(
            &b,
            "fork",
            json!({"session_id": id, "name": "the fork", "model": "fork-model-x"}),
        )
        .await?;
        let fork = v["session"]["id"].as_str().unwrap().to_owned();
        assert_ne!(fork, id);
        assert_eq!(v["forked_from"], id.as_str());
        assert_eq!(v["session"]["origin"], "direct");
        assert_eq!(v["session"]["name"], "the fork");
        let st = hub.client.get_session(&fork).await?;
        assert_eq!(st.summary.forked_from.as_deref(), Some(id.as_str()));
        hub.wait_item(&id, "the fork record", |b| via_mcp_notice(b, "forked the session"))
            .await?;
        hub.fake.enqueue(ScriptedResponse::new().text("fork answer"));
        ok(&b, "send_message", json!({"session_id": fork, "message": "FORK-ONLY message"}))
            .await?;
        hub.wait_item(&fork, "the fork's answer", |b| {
            matches!(b, ItemBody::AgentMessage { text } if text == "fork answer")
        })
        .await?;
        let reqs = hub.fake.wait_for_responses_requests_async(2, WAIT).await;
        let last = reqs.last().unwrap();
        assert_eq!(last.last_user_text().as_deref(), Some("FORK-ONLY message"));
        assert!(last.body.to_string().contains("ALPHA-ANSWER"), "{}", last.body);
        assert_eq!(last.body["model"], "fork-model-x");
        assert!(
            !hub.items(&id).await?.iter().any(|i| matches!(&i.body,
                ItemBody::UserMessage { text, .. } if text.contains("FORK-ONLY"))),
            "the parent got the fork's message"
        );
        hub.wait_state(&fork, "idle", |s| s.current_turn.is_none()).await?;

        // An inline review of uncommitted changes: the reviewer sees the diff; review mode and
        // the findings land in the session's transcript.
        let work = hub.home.workdir();
        std::fs::write(work.join("lib.txt"), "original\nREVIEW-MARKER-42\n")?;
        hub.fake
            .enqueue(ScriptedResponse::new().exec_command("git diff; cat lib.txt", "call-diff"));
        hub.fake.enqueue(ScriptedResponse::new().text(FINDINGS));
        let v = ok(&b, "review", json!({"session_id": id, "target": "uncommitted_changes"}))
            .await?;
        assert_eq!(v["session"]["id"], id.as_str(), "{v}");
        assert_eq!(v["detached"], false);
        hub.wait_item(&id, "the findings", |b| {
            matches!(b, ItemBody::ReviewMode { entered: false, review }
                if review.contains("Marker line left in lib.txt"))
        })
        .await?;
        hub.wait_item(&id, "the review record", |b| via_mcp_notice(b, "started a review"))
            .await?;
        let reqs = hub.fake.responses_requests();
        assert!(
            reqs.iter().any(|r| r.body.to_string().contains("REVIEW-MARKER-42")),
            "the changes did not reach the reviewer"
        );
        Ok(())
    }
    .await;
    let _ = b.cancel().await;
    hub.shutdown().await;
    r
}

const FINDINGS: &str = r#"{"findings":[{"title":"[P1] Marker line left in lib.txt","body":"The added line looks like debugging output.","confidence_score":0.9,"priority":1,"code_location":{"absolute_file_path":"/tmp/lib.txt","line_range":{"start":2,"end":2}}}],"overall_correctness":"patch is incorrect","overall_explanation":"A stray marker line was added.","overall_confidence_score":0.8}"#;

/// `orbitdock --data-dir DATA mcp install codex --codex-home HOME FLAGS...`, as a person runs it.
fn install_bridge(data: &Path, codex_home: &Path, flags: &[&str]) -> Result<String> {
    let out = std::process::Command::new(orbitdock_bin())
        .arg("--data-dir")
        .arg(data)
        .args(["mcp", "install", "codex", "--codex-home"])
        .arg(codex_home)
        .args(flags)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "mcp install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `codex exec --json` in `home` with `prompt`; answers its JSONL events.
async fn codex_exec(home: &TempCodexHome, prompt: &str) -> Result<Vec<Value>> {
    let mut cmd = tokio::process::Command::from(home.command(&[
        "exec",
        "--json",
        "--skip-git-repo-check",
        prompt,
    ]));
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .context("codex exec did not finish")??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "codex exec failed ({}): {}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The completed `mcp_tool_call` items of an exec run: (tool, status).
fn mcp_calls(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == "mcp_tool_call")
        .map(|e| {
            (
                e["item"]["tool"].as_str().unwrap_or_default().to_owned(),
                e["item"]["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_codex_with_the_installed_bridge_drives_another_session() -> Result<()> {
    let hub = Hub::start().await?;
    let r: Result<()> = async {
        let worker = hub.create("worker").await?.summary.id;
        // The lead: the real pinned Codex CLI (`codex exec`) with its own CODEX_HOME and
        // scripted model, the bridge installed into that home by our command.
        let lead_model = FakeResponses::start();
        let lead = CodexHomeBuilder::new(&lead_model.base_url()).build();
        let said = install_bridge(hub.data.path(), lead.path(), &["--auto-approve"])?;
        assert!(said.contains("read-only"), "{said}");

        // Read-only install: Codex offers the tools; send_message comes back as a tool error.
        lead_model.enqueue(ScriptedResponse::new().mcp_tool_call(
            "orbitdock",
            "send_message",
            json!({"session_id": worker, "message": "should not arrive"}),
            "call-ro",
        ));
        lead_model.enqueue(ScriptedResponse::new().text("refused, fine"));
        let events = codex_exec(&lead, "try to delegate").await?;
        let reqs = lead_model.wait_for_responses_requests_async(2, WAIT).await;
        // How Codex 0.169 offers an MCP server's tools: one namespace tool per server.
        let ns = reqs[0].body["tools"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "mcp__orbitdock"))
            .with_context(|| format!("no mcp__orbitdock tool in {}", reqs[0].body["tools"]))?;
        assert_eq!(ns["type"], "namespace");
        let mut offered: Vec<&str> = ns["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        offered.sort_unstable();
        assert_eq!(offered, TOOLS);
        let out = reqs[1]
            .function_call_output("call-ro")
            .context("no output for the refused call")?;
        assert!(
            out.contains("read_only") && out.contains("--allow-actions"),
            "{out}"
        );
        // Codex marks a call whose result has `isError` as failed.
        assert_eq!(
            mcp_calls(&events),
            [("send_message".into(), "failed".into())]
        );
        assert!(
            !hub.items(&worker)
                .await?
                .iter()
                .any(|i| matches!(&i.body, ItemBody::UserMessage { .. })),
            "a read-only bridge delivered a message"
        );

        // Actions allowed: list the sessions, then send the worker a message; the worker's own
        // model answers it.
        let said = install_bridge(
            hub.data.path(),
            lead.path(),
            &["--allow-actions", "--auto-approve"],
        )?;
        assert!(said.contains("actions allowed"), "{said}");
        lead_model.enqueue(ScriptedResponse::new().mcp_tool_call(
            "orbitdock",
            "list_sessions",
            json!({"controllable_only": true}),
            "call-list",
        ));
        lead_model.enqueue(ScriptedResponse::new().mcp_tool_call(
            "orbitdock",
            "send_message",
            json!({"session_id": worker, "message": "hello from the lead"}),
            "call-send",
        ));
        lead_model.enqueue(ScriptedResponse::new().text("delegated"));
        hub.fake
            .enqueue(ScriptedResponse::new().text("worker answer"));
        let events = codex_exec(&lead, "delegate to the worker").await?;
        assert_eq!(
            mcp_calls(&events),
            [
                ("list_sessions".into(), "completed".into()),
                ("send_message".into(), "completed".into())
            ]
        );
        let reqs = lead_model.wait_for_responses_requests_async(5, WAIT).await;
        let listed = reqs[3]
            .function_call_output("call-list")
            .context("no list_sessions output")?;
        assert!(listed.contains(&worker), "{listed}");
        let sent = reqs[4]
            .function_call_output("call-send")
            .context("no send_message output")?;
        assert!(sent.contains("turn_id") && sent.contains(&worker), "{sent}");
        assert!(
            events
                .iter()
                .any(|e| e["item"]["type"] == "agent_message" && e["item"]["text"] == "delegated")
        );

        hub.wait_item(
            &worker,
            "the lead's message",
            |b| matches!(b, ItemBody::UserMessage { text, .. } if text == "hello from the lead"),
        )
        .await?;
        hub.wait_item(
            &worker,
            "the worker's answer",
            |b| matches!(b, ItemBody::AgentMessage { text } if text == "worker answer"),
        )
        .await?;
        hub.wait_item(&worker, "the via-MCP record", |b| {
            via_mcp_notice(b, "sent the message “hello from the lead”")
        })
        .await?;
        let worker_reqs = hub.fake.wait_for_responses_requests_async(1, WAIT).await;
        assert_eq!(
            worker_reqs[0].last_user_text().as_deref(),
            Some("hello from the lead")
        );
        Ok(())
    }
    .await;
    hub.shutdown().await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_session_drives_another_once_a_person_approves_the_tool_call() -> Result<()> {
    let hub = Hub::start().await?;
    let r: Result<()> = async {
        // The bridge in the hub's own CODEX_HOME, without --auto-approve: Codex asks before
        // each action, and the question reaches the hub as a card of the lead's session.
        install_bridge(hub.data.path(), hub.home.path(), &["--allow-actions"])?;
        let worker = hub.create("worker").await?.summary.id;
        let lead = hub.create("lead").await?.summary.id;
        hub.fake.enqueue(ScriptedResponse::new().mcp_tool_call(
            "orbitdock",
            "list_sessions",
            json!({"text": "worker"}),
            "call-list",
        ));
        hub.fake.enqueue(ScriptedResponse::new().mcp_tool_call(
            "orbitdock",
            "send_message",
            json!({"session_id": worker, "message": "hello from the lead session"}),
            "call-send",
        ));
        // After the send, the lead's next request and the worker's first one race for the
        // model; both get the same answer, so the order does not matter.
        hub.fake.enqueue(ScriptedResponse::new().text("done"));
        hub.fake.enqueue(ScriptedResponse::new().text("done"));
        hub.client
            .send_text(&lead, "delegate to the worker")
            .await?;

        let s = hub
            .wait_state(&lead, "Codex asking whether the tool may run", |s| {
                !s.pending_approvals.is_empty()
            })
            .await?;
        let ask = &s.pending_approvals[0];
        assert_eq!(ask.kind, orbitdock_protocol::ApprovalKind::Elicitation);
        assert_eq!(
            ask.reason.as_deref(),
            Some("MCP server orbitdock wants to run its tool send_message")
        );
        assert_eq!(ask.questions.as_deref(), Some(&[][..]));
        assert!(
            !hub.items(&worker)
                .await?
                .iter()
                .any(|i| matches!(&i.body, ItemBody::UserMessage { .. })),
            "the message went out before the person approved"
        );
        hub.client
            .approve(
                &lead,
                &ask.request_id,
                orbitdock_protocol::ApprovalDecision::Accept,
            )
            .await?;

        hub.wait_item(&worker, "the lead's message", |b| {
            matches!(b, ItemBody::UserMessage { text } if text == "hello from the lead session")
        })
        .await?;
        hub.wait_item(
            &worker,
            "the worker's answer",
            |b| matches!(b, ItemBody::AgentMessage { text } if text == "done"),
        )
        .await?;
        hub.wait_item(&worker, "the via-MCP record", |b| {
            via_mcp_notice(b, "sent the message “hello from the lead session”")
        })
        .await?;
        hub.wait_item(
            &lead,
            "the lead's answer",
            |b| matches!(b, ItemBody::AgentMessage { text } if text == "done"),
        )
        .await?;
        let reqs = hub.fake.wait_for_responses_requests_async(4, WAIT).await;
        let listed = reqs
            .iter()
            .find_map(|r| r.function_call_output("call-list"))
            .context("no list_sessions output")?;
        assert!(listed.contains(&worker), "{listed}");
        let sent = reqs
            .iter()
            .find_map(|r| r.function_call_output("call-send"))
            .context("no send_message output")?;
        assert!(sent.contains("turn_id"), "{sent}");
        Ok(())
    }
    .await;
    hub.shutdown().await;
    r
}
