//! Agent events injected at the connector seam (where app-server notifications enter the server):
//! plan updates (Codex 0.169 does not offer `update_plan` to a gpt-oss model, so the real CLI
//! cannot be scripted into sending one), token usage, rate limits, an undecodable notification,
//! and a request kind OrbitDock does not support. Everything is checked over the real HTTP/WS
//! surface and again after a restart.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use codex_client::app_server::ServerNotification;
use orbitdock_protocol::{ModelInfo, SessionState, SessionStatus};
use orbitdock_server::connector::{Connector, ConnectorEvent, OpenedThread, ThreadConfig};
use orbitdock_server::{RunningServer, ServerConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Debug, Default)]
struct Seam {
    next: AtomicU64,
}

#[async_trait]
impl Connector for Seam {
    fn generation(&self) -> u64 {
        1
    }
    async fn start_thread(&self, _: &ThreadConfig) -> orbitdock_server::Result<OpenedThread> {
        Ok(OpenedThread {
            thread_id: format!("thread-{}", self.next.fetch_add(1, Ordering::SeqCst)),
            model: Some("m".into()),
            ..Default::default()
        })
    }
    async fn resume_thread(
        &self,
        t: &str,
        _: &ThreadConfig,
    ) -> orbitdock_server::Result<OpenedThread> {
        Ok(OpenedThread {
            thread_id: t.into(),
            ..Default::default()
        })
    }
    async fn fork_thread(
        &self,
        t: &str,
        _: &ThreadConfig,
    ) -> orbitdock_server::Result<OpenedThread> {
        Ok(OpenedThread {
            thread_id: t.into(),
            ..Default::default()
        })
    }
    async fn start_turn(
        &self,
        _: &str,
        _: &str,
        _: &ThreadConfig,
    ) -> orbitdock_server::Result<String> {
        Ok("turn-1".into())
    }
    async fn interrupt_turn(&self, _: &str, _: &str) -> orbitdock_server::Result<()> {
        Ok(())
    }
    async fn set_thread_name(&self, _: &str, _: &str) -> orbitdock_server::Result<()> {
        Ok(())
    }
    async fn list_models(&self) -> orbitdock_server::Result<Vec<ModelInfo>> {
        Ok(vec![ModelInfo {
            id: "m".into(),
            ..Default::default()
        }])
    }
    async fn shutdown(&self) {}
}

async fn boot(dir: &std::path::Path) -> Result<(RunningServer, mpsc::Sender<ConnectorEvent>)> {
    let (tx, rx) = mpsc::channel(64);
    let s = orbitdock_server::start_with_connector(
        ServerConfig {
            data_dir: dir.to_owned(),
            codex_home: dir.join("home"),
            codex_bin: "codex".into(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: "t".into(),
            codex_env: Vec::new(),
        },
        Arc::new(Seam::default()),
        rx,
    )
    .await?;
    Ok((s, tx))
}

fn note(method: &str, params: Value) -> ConnectorEvent {
    ConnectorEvent::Notification(ServerNotification::decode(method, params))
}

async fn state(s: &RunningServer, id: &str) -> Result<SessionState> {
    Ok(reqwest::Client::new()
        .get(format!("{}/api/sessions/{id}", s.base_url()))
        .bearer_auth("t")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Polls until `pred` holds (bounded): the injected events are processed asynchronously and
/// this test has no WebSocket to wait on.
async fn until(
    s: &RunningServer,
    id: &str,
    pred: impl Fn(&SessionState) -> bool,
) -> Result<SessionState> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = state(s, id).await?;
        if pred(&st) {
            return Ok(st);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "condition not reached: {st:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_usage_and_rate_limits_arrive_and_survive_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (s, tx) = boot(dir.path()).await?;
    let http = reqwest::Client::new();
    let created: SessionState = http
        .post(format!("{}/api/sessions", s.base_url()))
        .bearer_auth("t")
        .json(&json!({"cwd": dir.path()}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created.summary.id.clone();
    let thread = created.summary.thread_id.clone().unwrap();

    tx.send(note(
        "turn/started",
        json!({"threadId": thread, "turn": {"id": "turn-1", "items": [], "status": "inProgress"}}),
    ))
    .await?;
    tx.send(note(
        "turn/plan/updated",
        json!({"threadId": thread, "turnId": "turn-1", "explanation": "why",
        "plan": [{"step": "a", "status": "completed"}, {"step": "b", "status": "inProgress"}]}),
    ))
    .await?;
    tx.send(note("thread/tokenUsage/updated", json!({"threadId": thread, "turnId": "turn-1", "tokenUsage": {
        "total": {"totalTokens": 150, "inputTokens": 120, "cachedInputTokens": 20, "cacheWriteInputTokens": 0, "outputTokens": 30, "reasoningOutputTokens": 5},
        "last": {"totalTokens": 50, "inputTokens": 40, "cachedInputTokens": 0, "cacheWriteInputTokens": 0, "outputTokens": 10, "reasoningOutputTokens": 1},
        "modelContextWindow": 1000}}))).await?;
    tx.send(note("account/rateLimits/updated", json!({"rateLimits": {"primary": {"usedPercent": 42, "windowDurationMins": 300, "resetsAt": 1}}}))).await?;
    // Drift: a typed method whose params no longer decode, and an unknown method: both ignored.
    tx.send(note(
        "turn/diff/updated",
        json!({"threadId": thread, "diff": 7}),
    ))
    .await?;
    tx.send(note("thread/hologram/updated", json!({"threadId": thread})))
        .await?;
    tx.send(note(
        "turn/completed",
        json!({"threadId": thread, "turn": {"id": "turn-1", "items": [], "status": "completed"}}),
    ))
    .await?;

    let st = until(&s, &id, |st| {
        st.current_turn.is_none() && st.plan.is_some() && st.rate_limits.is_some()
    })
    .await?;
    let plan = st.plan.clone().unwrap();
    assert_eq!(plan.explanation.as_deref(), Some("why"));
    assert_eq!(plan.steps.len(), 2);
    assert_eq!(plan.steps[1].status, "in_progress");
    assert_eq!(st.summary.token_usage.input_tokens, 120);
    assert_eq!(st.summary.token_usage.cached_input_tokens, 20);
    assert_eq!(st.summary.token_usage.context_window, Some(1000));
    assert_eq!(st.summary.token_usage.last_input_tokens, 40);
    assert_eq!(
        st.rate_limits
            .as_ref()
            .unwrap()
            .primary
            .as_ref()
            .unwrap()
            .used_percent,
        42.0
    );
    assert_eq!(st.summary.status, SessionStatus::Waiting);

    s.shutdown().await;
    let (s, _tx) = boot(dir.path()).await?;
    let after = state(&s, &id).await?;
    assert_eq!(after.plan, st.plan, "plan persisted");
    assert_eq!(
        after.summary.token_usage, st.summary.token_usage,
        "usage persisted"
    );
    s.shutdown().await;
    Ok(())
}
