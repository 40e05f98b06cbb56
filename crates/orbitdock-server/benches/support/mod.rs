//! Shared by the latency benchmarks: a server watching a temp CODEX_HOME that holds one passive
//! thread's rollout, and a WebSocket subscribed to that session.

// Each benchmark uses a subset of this module.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use orbitdock_server::{DiscoveryOptions, RunningServer, ServerConfig};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The client side of the server's WebSocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Appends `line` to `path` (creating it).
pub fn append(path: &Path, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line.as_bytes())?;
    Ok(())
}

/// The `p` quantile (sorts `v`).
pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// A rollout line with a user message `text`.
pub fn user_line(text: &str) -> String {
    format!(
        "{}\n",
        json!({
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "type": "event_msg",
            "payload": {"type": "user_message", "message": text},
        })
    )
}

/// A running server with one passive session (from `rollout`) and a subscribed WebSocket.
pub struct WatchedThread {
    /// The server.
    pub server: RunningServer,
    /// Subscribed to the session.
    pub ws: Ws,
    /// The thread's rollout file.
    pub rollout: PathBuf,
    /// The data dir.
    pub data: tempfile::TempDir,
    /// The CODEX_HOME.
    pub home: tempfile::TempDir,
}

/// Starts a server watching a fresh home, writes `thread`'s rollout header, waits for the
/// passive session and subscribes a WebSocket to it (snapshot received).
pub async fn watched_thread(thread: &str, token: &str) -> Result<WatchedThread> {
    let data = tempfile::tempdir()?;
    let home = tempfile::tempdir()?;
    let day = home.path().join("sessions/2026/11/22");
    std::fs::create_dir_all(&day)?;
    let rollout = day.join(format!("rollout-2026-11-22T00-00-00-{thread}.jsonl"));
    let server = orbitdock_server::start_with(
        ServerConfig {
            data_dir: data.path().to_owned(),
            codex_home: home.path().to_owned(),
            codex_bin: test_support::codex_bin(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: token.into(),
            codex_env: Vec::new(),
            claude: None,
            output_limits: Default::default(),
        },
        DiscoveryOptions {
            watch_codex: true,
            passive_idle: Duration::from_secs(3600),
            ..DiscoveryOptions::default()
        },
    )
    .await?;
    append(
        &rollout,
        &format!(
            "{}\n",
            json!({"timestamp": chrono::Utc::now().to_rfc3339(), "type": "session_meta",
                "payload": {"id": thread, "cwd": home.path(), "cli_version": "0.169.0"}})
        ),
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let id = loop {
        if let Some(id) = server.registry.session_for_thread(thread) {
            break id;
        }
        if Instant::now() > deadline {
            bail!("the passive session never appeared");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let req = test_support::hub_ws_request(&server.addr.to_string(), token)
        .map_err(anyhow::Error::msg)?;
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    ws.send(Message::Text(
        json!({"type": "subscribe_session", "session_id": id})
            .to_string()
            .into(),
    ))
    .await?;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await?
            .context("ws closed")??;
        if m.to_text().unwrap_or_default().contains("session_snapshot") {
            break;
        }
    }
    Ok(WatchedThread {
        server,
        ws,
        rollout,
        data,
        home,
    })
}

/// Waits for a session delta containing `needle`; returns when it arrived.
pub async fn delta_with(ws: &mut Ws, needle: &str) -> Result<Instant> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .with_context(|| format!("no delta with {needle}"))?
            .context("ws closed")??;
        let text = m.to_text().unwrap_or_default();
        if text.contains("session_delta") && text.contains(needle) {
            return Ok(Instant::now());
        }
    }
}
