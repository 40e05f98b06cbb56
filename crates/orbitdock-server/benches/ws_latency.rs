//! Agent-event-in to WebSocket-frame-out latency with 20 sessions x 5 clients, for Codex and
//! Claude sessions in the same run.
//!
//! Events are injected at the connector seam exactly as each connector delivers them — a Codex
//! app-server notification translated by `connector::codex::translate`, a Claude Code
//! `stream_event` line decoded and translated by `connector::claude::translate` — followed by
//! `Registry::route` on the delivering task, so neither a model nor a CLI is measured: decode +
//! translate -> route -> session actor -> (writer when something must be persisted first) -> hub
//! -> WebSocket. The baseline in the same run is a bare axum WebSocket fan-out (a broadcast
//! channel per session, nothing else) over the same number of loopback connections. Each delta
//! carries its injection time; clients record the latency on receipt.
//!
//! `cargo bench -p orbitdock-server --bench ws_latency [-- ROUNDS]` (default 300 rounds,
//! one event per session per round, every 2 ms). Goals: Codex p99 within 1.3x of the bare
//! fan-out; Claude within 1.1x of Codex (one core, two vocabularies).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use claude_code::protocol::decode_line;
use codex_client::app_server::ServerNotification;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use orbitdock_protocol::{ServerMessage, SessionDelta, SessionState};
use orbitdock_server::ServerConfig;
use orbitdock_server::connector::claude::translate::Translator;
use orbitdock_server::connector::codex::translate::{self, Translated};
use orbitdock_server::connector::{CLAUDE, CODEX, ConnectorEvent};
use orbitdock_server::testing::ScriptedConnector;
use serde_json::json;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

const SESSIONS: usize = 20;
const CLIENTS: usize = 5;

static START: OnceLock<Instant> = OnceLock::new();

fn now_ns() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client connection. Clients read in 8 KiB steps: tungstenite zero-fills its whole read size
/// (128 KiB by default) before every read, and with 100 clients in this process that memset
/// was ~40% of the run's CPU, the same for both sides, burying the server's own cost.
async fn connect(
    req: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
) -> anyhow::Result<Ws> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false).await?;
    Ok(ws)
}

/// Reads frames until `expected` latency samples were recorded (or 30 s pass).
async fn collect(mut ws: Ws, expected: usize, orbitdock: bool) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while h.len() < expected as u64 {
        let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout_at(deadline, ws.next()).await
        else {
            break;
        };
        let sent: Option<u64> = if orbitdock {
            match serde_json::from_str::<ServerMessage>(t.as_str()) {
                Ok(ServerMessage::SessionDelta {
                    delta: SessionDelta::ItemText { delta, .. },
                    ..
                }) => delta.parse().ok(),
                _ => None,
            }
        } else {
            t.as_str().parse().ok()
        };
        // 0 marks the warm-up delta that opens each agent message: not a sample.
        if let Some(sent) = sent.filter(|s| *s > 0) {
            let _ = h.record(now_ns().saturating_sub(sent).max(1));
        }
    }
    h
}

fn report(name: &str, h: &Histogram<u64>) -> (f64, f64) {
    let ms = |v: u64| v as f64 / 1e6;
    let (p50, p99) = (ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)));
    println!(
        "  {name:<28} n={:>6}  p50 {p50:>7.3} ms  p99 {p99:>7.3} ms  max {:>7.3} ms",
        h.len(),
        ms(h.max())
    );
    (p50, p99)
}

/// Which agent's events a run injects.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Agent {
    Codex,
    Claude,
}

async fn orbitdock_run(rounds: usize, agent_kind: Agent) -> anyhow::Result<Histogram<u64>> {
    let data = tempfile::tempdir()?;
    let (agent, rx) = ScriptedConnector::new();
    // The Claude sessions' connector: scripted too (no CLI), registered under Claude's key.
    let (claude, _claude_events) = ScriptedConnector::with_key(CLAUDE);
    let server = orbitdock_server::start_with_connectors(
        ServerConfig {
            data_dir: data.path().to_owned(),
            codex_home: data.path().join("home"),
            codex_bin: "codex".into(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: "bench".into(),
            codex_env: Vec::new(),
            claude: None,
            output_limits: Default::default(),
        },
        agent.clone(),
        Some(claude),
        rx,
    )
    .await?;
    let provider = match agent_kind {
        Agent::Codex => "codex",
        Agent::Claude => "claude",
    };
    let http = reqwest::Client::new();
    let mut threads = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..SESSIONS {
        let st: SessionState = http
            .post(format!("{}/api/sessions", server.base_url()))
            .bearer_auth("bench")
            .json(&json!({"cwd": data.path(), "provider": provider}))
            .send()
            .await?
            .json()
            .await?;
        threads.push(st.summary.thread_id.clone().unwrap_or_default());
        for _ in 0..CLIENTS {
            let req = test_support::hub_ws_request(&server.addr.to_string(), "bench")
                .map_err(anyhow::Error::msg)?;
            let mut ws = connect(req).await?;
            ws.send(Message::Text(
                json!({"type": "subscribe_session", "session_id": st.summary.id})
                    .to_string()
                    .into(),
            ))
            .await?;
            // hello + snapshot
            for _ in 0..2 {
                ws.next().await;
            }
            clients.push(ws);
        }
    }
    let collectors: Vec<_> = clients
        .into_iter()
        .map(|ws| tokio::spawn(collect(ws, rounds, true)))
        .collect();
    // Open one agent message per session first (its first delta creates the item).
    // Events enter as each connector's pump delivers them: `Registry::route`, called on the
    // delivering task itself.
    let mut translators: Vec<Translator> = threads
        .iter()
        .map(|_| {
            let mut t = Translator::default();
            t.begin_turn("turn-1".into());
            let start = json!({"type": "stream_event", "session_id": "s",
                "event": {"type": "message_start", "message": {"id": "msg-1"}}});
            t.message(decode_line(&start.to_string()).expect("a JSON object"));
            t
        })
        .collect();
    let event = |i: usize, t: &str, text: &str, translators: &mut Vec<Translator>| match agent_kind
    {
        Agent::Codex => delta(t, text),
        Agent::Claude => claude_delta(&mut translators[i], t, text),
    };
    for (i, t) in threads.iter().enumerate() {
        server
            .registry
            .route(event(i, t, "0", &mut translators))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..rounds {
        for (i, t) in threads.iter().enumerate() {
            let ev = event(i, t, &now_ns().to_string(), &mut translators);
            server.registry.route(ev).await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for c in collectors {
        all.add(c.await?)?;
    }
    server.shutdown().await;
    Ok(all)
}

/// A Codex delta notification as the Codex connector forwards it: translated (the translation
/// is inside the measured interval, as it is in the server).
fn delta(thread: &str, text: &str) -> ConnectorEvent {
    let n = ServerNotification::decode(
        "item/agentMessage/delta",
        json!({"threadId": thread, "turnId": "turn-1", "itemId": "msg-1", "delta": text}),
    );
    match translate::notification(n) {
        Translated::Thread { thread_id, events } => ConnectorEvent::Thread {
            connector: CODEX,
            thread_id,
            events,
        },
        other => panic!("a delta notification translates to thread events, got {other:?}"),
    }
}

/// A Claude Code text delta as the Claude connector's pump forwards it: the stdout line decoded
/// and translated (both inside the measured interval, as they are in the server).
fn claude_delta(translator: &mut Translator, thread: &str, text: &str) -> ConnectorEvent {
    let line = json!({"type": "stream_event", "session_id": thread, "event": {
        "type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": text}}});
    let msg = decode_line(&line.to_string()).expect("a JSON object");
    ConnectorEvent::Thread {
        connector: CLAUDE,
        thread_id: thread.to_owned(),
        events: translator.message(msg),
    }
}

#[derive(Clone)]
struct Baseline {
    channels: Arc<Vec<broadcast::Sender<String>>>,
}

#[derive(serde::Deserialize)]
struct Q {
    s: usize,
}

async fn baseline_ws(
    State(b): State<Baseline>,
    Query(q): Query<Q>,
    ws: WebSocketUpgrade,
) -> axum::response::Response {
    let rx = b.channels[q.s].subscribe();
    ws.on_upgrade(move |socket| forward(socket, rx))
}

async fn forward(mut socket: WebSocket, mut rx: broadcast::Receiver<String>) {
    let _ = socket.send(AxMessage::Text("ready".into())).await;
    while let Ok(m) = rx.recv().await {
        if socket.send(AxMessage::Text(m.into())).await.is_err() {
            break;
        }
    }
}

async fn baseline_run(rounds: usize) -> anyhow::Result<Histogram<u64>> {
    let channels: Vec<_> = (0..SESSIONS).map(|_| broadcast::channel(4096).0).collect();
    let b = Baseline {
        channels: Arc::new(channels),
    };
    let app = axum::Router::new()
        .route("/ws", axum::routing::get(baseline_ws))
        .with_state(b.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serve = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut collectors = Vec::new();
    for s in 0..SESSIONS {
        for _ in 0..CLIENTS {
            let mut ws = connect(format!("ws://{addr}/ws?s={s}")).await?;
            ws.next().await; // "ready"
            collectors.push(tokio::spawn(collect(ws, rounds, false)));
        }
    }
    for _ in 0..rounds {
        for ch in b.channels.iter() {
            let _ = ch.send(now_ns().to_string());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for c in collectors {
        all.add(c.await?)?;
    }
    serve.abort();
    Ok(all)
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    START.get_or_init(Instant::now);
    let rt = tokio::runtime::Runtime::new()?;
    let base = rt.block_on(baseline_run(rounds))?;
    let od = rt.block_on(orbitdock_run(rounds, Agent::Codex))?;
    let claude = rt.block_on(orbitdock_run(rounds, Agent::Claude))?;
    println!(
        "agent event -> WebSocket frame latency, {SESSIONS} sessions x {CLIENTS} clients, {rounds} events per session"
    );
    let (bp50, bp99) = report("bare WS fan-out (baseline)", &base);
    let (p50, p99) = report("orbitdock codex (route+hub)", &od);
    let (cp50, cp99) = report("orbitdock claude (route+hub)", &claude);
    let ratio = p99 / bp99.max(1e-6);
    println!(
        "  ratio codex/baseline:  p50 {:.2}x  p99 {ratio:.2}x   goal p99 ratio <= 1.3: {}",
        p50 / bp50.max(1e-6),
        if ratio <= 1.3 { "MET" } else { "NOT MET" }
    );
    let cratio = cp99 / p99.max(1e-6);
    println!(
        "  ratio claude/codex:    p50 {:.2}x  p99 {cratio:.2}x   goal p99 ratio <= 1.1: {}",
        cp50 / p50.max(1e-6),
        if cratio <= 1.1 { "MET" } else { "NOT MET" }
    );
    Ok(())
}
