//! Model event -> WebSocket frame latency of a session on a Codex host reached over `ws://`,
//! against a session on the hub's own private stdio app-server, in the same run (turns
//! interleaved), through the REAL pinned Codex on both sides.
//!
//! The loopback Responses API stamps each streamed text delta with the wall-clock time it writes
//! it ([`ScriptedResponse::SEND_TIME`]); Codex turns the delta into an
//! `item/agentMessage/delta` notification, which reaches the hub over stdio (local) or over
//! Codex's WebSocket listener with a capability token (the host: another `codex app-server
//! --listen ws://127.0.0.1:PORT` in another CODEX_HOME); the hub translates it and sends a
//! `session_delta` frame, and the client subtracts the stamp on receipt. Everything but the
//! transport is the same for both, so the ratio is what the host's link costs.
//!
//! `cargo bench -p orbitdock-server --bench host_latency [-- ROUNDS]` (default 10 turns per
//! session, 40 deltas each, 5 ms apart). The figures only compare the two paths of one run; they
//! are never asserted.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use codex_client::app_server::{Listen, ListenerBuilder};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use orbitdock_protocol::{ServerMessage, SessionDelta, SessionState};
use orbitdock_server::{CodexRuntime, DiscoveryOptions, ServerConfig};
use serde_json::{Value, json};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, codex_bin};
use tokio_tungstenite::tungstenite::Message;

const DELTAS: usize = 40;
const TOKEN: &str = "bench-token";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

struct Hub {
    base: String,
    http: reqwest::Client,
}

impl Hub {
    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }
}

/// Runs one turn of `session` and records every stamped delta's latency; returns at the turn's
/// end.
async fn turn(
    hub: &Hub,
    ws: &mut Ws,
    fake: &FakeResponses,
    session: &str,
    h: &mut Histogram<u64>,
) -> Result<()> {
    let parts: Vec<String> = (0..DELTAS)
        .map(|_| format!("{} ", ScriptedResponse::SEND_TIME))
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    fake.enqueue(
        ScriptedResponse::new()
            .text_deltas(&parts)
            .delay_between_events(Duration::from_millis(5)),
    );
    hub.post(
        &format!("/api/sessions/{session}/messages"),
        &json!({"text": "stream"}),
    )
    .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let Ok(Some(frame)) = tokio::time::timeout_at(deadline, ws.next()).await else {
            bail!("no turn end for {session} within 60 s");
        };
        let Message::Text(t) = frame? else { continue };
        let Ok(ServerMessage::SessionDelta {
            session_id, delta, ..
        }) = serde_json::from_str::<ServerMessage>(t.as_str())
        else {
            continue;
        };
        if session_id != session {
            continue;
        }
        match delta {
            SessionDelta::ItemText { delta, .. } => {
                let received = now_us();
                for stamp in delta
                    .split_whitespace()
                    .filter_map(|s| s.parse::<u64>().ok())
                {
                    let _ = h.record(received.saturating_sub(stamp).max(1));
                }
            }
            SessionDelta::TurnEnded { .. } => return Ok(()),
            _ => {}
        }
    }
}

fn report(name: &str, h: &Histogram<u64>) -> (f64, f64) {
    let ms = |v: u64| v as f64 / 1e3;
    let (p50, p99) = (ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)));
    println!(
        "  {name:<34} n={:>5}  p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  max {:>7.2} ms",
        h.len(),
        ms(h.max())
    );
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let fake = FakeResponses::start();
    let hub_home = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("read-only")
        .build();
    let host_home = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("read-only")
        .build();

    // The host: Codex's own WebSocket listener, with a capability token.
    let token_dir = tempfile::tempdir()?;
    let token_file = token_dir.path().join("ws-token");
    std::fs::write(&token_file, "bench-host-token-0123456789abcdef\n")?;
    let mut host = ListenerBuilder::new(
        codex_bin(),
        host_home.path(),
        Listen::WebSocket {
            addr: "127.0.0.1:0".into(),
            token_file: Some(token_file.clone()),
        },
    )
    .envs(host_home.env_strings())
    .spawn()
    .await?;
    let host_url = match host.endpoint() {
        codex_client::app_server::Endpoint::WebSocket { url, .. } => url,
        other => bail!("unexpected endpoint {other:?}"),
    };

    // The hub: a private stdio app-server for its local sessions.
    let data = tempfile::tempdir()?;
    let server = orbitdock_server::start_with_runtime(
        ServerConfig {
            data_dir: data.path().to_owned(),
            codex_home: hub_home.path().to_owned(),
            codex_bin: codex_bin(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: TOKEN.into(),
            codex_env: hub_home.env_strings(),
            claude: None,
            output_limits: Default::default(),
        },
        DiscoveryOptions {
            watch_codex: false,
            ..Default::default()
        },
        CodexRuntime::Private,
    )
    .await?;
    let hub = Hub {
        base: server.base_url(),
        http: reqwest::Client::new(),
    };
    let added = hub
        .post(
            "/api/hosts",
            &json!({"name": "box", "url": host_url, "token": "bench-host-token-0123456789abcdef"}),
        )
        .await?;
    if added["state"] != "connected" {
        bail!("the host did not connect: {added}");
    }
    let create = |host: Option<&str>| {
        let mut body = json!({"cwd": hub_home.workdir(), "approval_policy": "never", "sandbox_mode": "read-only"});
        if let Some(h) = host {
            body["host"] = json!(h);
        }
        body
    };
    let local: SessionState =
        serde_json::from_value(hub.post("/api/sessions", &create(None)).await?)?;
    let remote: SessionState =
        serde_json::from_value(hub.post("/api/sessions", &create(Some("box"))).await?)?;
    let (local, remote) = (local.summary.id, remote.summary.id);

    let req = test_support::hub_ws_request(&hub.base, TOKEN).map_err(anyhow::Error::msg)?;
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .context("WebSocket")?;
    for id in [&local, &remote] {
        ws.send(Message::Text(
            json!({"type": "subscribe_session", "session_id": id})
                .to_string()
                .into(),
        ))
        .await?;
    }

    let mut h_local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut h_remote = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    // One warm-up turn each (thread start, first model request), not recorded.
    let mut scratch = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    turn(&hub, &mut ws, &fake, &local, &mut scratch).await?;
    turn(&hub, &mut ws, &fake, &remote, &mut scratch).await?;
    for _ in 0..rounds {
        turn(&hub, &mut ws, &fake, &local, &mut h_local).await?;
        turn(&hub, &mut ws, &fake, &remote, &mut h_remote).await?;
    }
    server.shutdown().await;
    let _ = host.stop().await;

    println!(
        "model delta -> WebSocket frame latency, real Codex {}, {rounds} turns x {DELTAS} deltas per session (interleaved), hub built {}",
        codex_client::PINNED_VERSION,
        if cfg!(debug_assertions) {
            "unoptimised (debug)"
        } else {
            "optimised"
        }
    );
    let (l50, l99) = report("local stdio app-server (baseline)", &h_local);
    let (r50, r99) = report("ws:// host (capability token)", &h_remote);
    println!(
        "  ratio host/local:  p50 {:.2}x  p99 {:.2}x",
        r50 / l50.max(1e-9),
        r99 / l99.max(1e-9)
    );
    Ok(())
}
