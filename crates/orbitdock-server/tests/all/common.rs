//! Shared harness for the server's integration tests: a real server on 127.0.0.1:0 over a temp
//! data dir, the REAL pinned Codex app-server over a temp CODEX_HOME, and test-support's loopback
//! fake of the model API. Every wait is bounded.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use orbitdock_protocol::{ServerMessage, SessionDelta, SessionState};
use orbitdock_server::{RunningServer, ServerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use test_support::{CodexHomeBuilder, FakeResponses, TempCodexHome};
use tokio_tungstenite::tungstenite::Message;

pub const WAIT: Duration = Duration::from_secs(60);
pub const TOKEN: &str = "test-token-0123456789";

pub struct Harness {
    pub fake: FakeResponses,
    pub home: TempCodexHome,
    pub data: tempfile::TempDir,
    pub server: Option<RunningServer>,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Result<Harness> {
        Harness::start_with(|b| b).await
    }

    /// Like [`Harness::start`], with the CODEX_HOME's config adjusted by `configure`.
    pub async fn start_with(
        configure: impl FnOnce(CodexHomeBuilder) -> CodexHomeBuilder,
    ) -> Result<Harness> {
        let fake = FakeResponses::start();
        let home = configure(CodexHomeBuilder::new(&fake.base_url())).build();
        let data = tempfile::tempdir()?;
        let mut h = Harness {
            fake,
            home,
            data,
            server: None,
            http: reqwest::Client::new(),
        };
        h.boot().await?;
        Ok(h)
    }

    async fn boot(&mut self) -> Result<()> {
        let env = self.codex_env();
        let server = orbitdock_server::start(ServerConfig {
            data_dir: self.data.path().to_owned(),
            codex_home: self.home.path().to_owned(),
            codex_bin: test_support::codex_bin(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: TOKEN.into(),
            codex_env: env,
        })
        .await?;
        self.server = Some(server);
        Ok(())
    }

    /// Drops the server (flushing and stopping its app-server) and starts a new one on the same
    /// data dir and CODEX_HOME.
    pub async fn restart(&mut self) -> Result<()> {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.boot().await
    }

    pub fn base(&self) -> String {
        self.server.as_ref().unwrap().base_url()
    }

    pub fn workdir(&self) -> String {
        self.home.workdir().display().to_string()
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let r = self
            .http
            .get(format!("{}{path}", self.base()))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        answer(r).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let r = self
            .http
            .post(format!("{}{path}", self.base()))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await?;
        answer(r).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let r = self
            .http
            .patch(format!("{}{path}", self.base()))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await?;
        answer(r).await
    }

    pub async fn create(&self, body: Value) -> Result<SessionState> {
        self.post("/api/sessions", &body).await
    }

    pub async fn ws(&self) -> Result<Ws> {
        Ws::connect(&self.base()).await
    }

    /// The temp CODEX_HOME's environment for a Codex child, as strings.
    pub fn codex_env(&self) -> Vec<(String, String)> {
        self.home
            .env()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// A second, independent Codex app-server client on the same CODEX_HOME (what another
    /// editor or tool would be), delivering its events to `tx`.
    pub fn outside_connector(
        &self,
        tx: tokio::sync::mpsc::Sender<orbitdock_server::connector::ConnectorEvent>,
    ) -> std::sync::Arc<orbitdock_server::connector::codex::AppServerConnector> {
        let env = self.codex_env();
        orbitdock_server::connector::codex::AppServerConnector::new(
            orbitdock_server::connector::codex::AppServerConfig {
                codex_bin: test_support::codex_bin(),
                codex_home: self.home.path().to_owned(),
                env,
                request_timeout: Duration::from_secs(30),
            },
            orbitdock_server::connector::Router::to_channel(tx),
        )
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// A real server (real SQLite, real HTTP and WebSocket) over the scripted connector: no agent
/// process, every agent call recorded and holdable, events injected. For the fast tests of the
/// session core.
pub struct Scripted {
    pub agent: std::sync::Arc<orbitdock_server::testing::ScriptedConnector>,
    pub data: tempfile::TempDir,
    pub server: Option<RunningServer>,
    pub rest: Rest,
}

impl Scripted {
    pub async fn start() -> Result<Scripted> {
        let data = tempfile::tempdir()?;
        let (agent, server) = Self::boot(data.path()).await?;
        let rest = Rest::new(&server.base_url());
        Ok(Scripted {
            agent,
            data,
            server: Some(server),
            rest,
        })
    }

    async fn boot(
        dir: &std::path::Path,
    ) -> Result<(
        std::sync::Arc<orbitdock_server::testing::ScriptedConnector>,
        RunningServer,
    )> {
        let (agent, rx) = orbitdock_server::testing::ScriptedConnector::new();
        let server = orbitdock_server::start_with_connector(
            ServerConfig {
                data_dir: dir.to_owned(),
                codex_home: dir.join("home"),
                codex_bin: "codex".into(),
                bind: "127.0.0.1:0".parse::<SocketAddr>()?,
                token: TOKEN.into(),
                codex_env: Vec::new(),
            },
            agent.clone(),
            rx,
        )
        .await?;
        Ok((agent, server))
    }

    /// Stops the server gracefully and starts a new one (new scripted agent) on the same data.
    pub async fn restart(&mut self) -> Result<()> {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let (agent, server) = Self::boot(self.data.path()).await?;
        self.rest = Rest::new(&server.base_url());
        self.agent = agent;
        self.server = Some(server);
        Ok(())
    }

    pub fn base(&self) -> String {
        self.server.as_ref().unwrap().base_url()
    }

    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    pub async fn ws(&self) -> Result<Ws> {
        Ws::connect(&self.base()).await
    }

    /// Creates a direct session in the data dir; returns (session id, thread id).
    pub async fn create(&self) -> Result<(String, String)> {
        let st: SessionState = self
            .rest
            .post(
                "/api/sessions",
                &serde_json::json!({"cwd": self.data.path()}),
            )
            .await?;
        Ok((st.summary.id.clone(), st.summary.thread_id.clone().unwrap()))
    }

    pub async fn state(&self, id: &str) -> Result<SessionState> {
        self.rest.get(&format!("/api/sessions/{id}")).await
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// A REST client with a bearer token (the test token by default).
pub struct Rest {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

impl Rest {
    pub fn new(base: &str) -> Rest {
        Rest::with_token(base, TOKEN)
    }

    pub fn with_token(base: &str, token: &str) -> Rest {
        Rest {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            token: token.to_owned(),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        answer(r).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        answer(r).await
    }

    /// The status and JSON body of a POST, whatever the status.
    pub async fn post_raw<B: Serialize>(&self, path: &str, body: &B) -> Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }
}

/// Polls `f` until it yields `Some` (bounded by [`WAIT`]); for state reached through a path
/// with no event to await (e.g. a REST read after an injected agent event).
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn answer<T: DeserializeOwned>(r: reqwest::Response) -> Result<T> {
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("HTTP {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("decoding {text}"))
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client that records every message it receives.
pub struct Ws {
    stream: WsStream,
    pub seen: Vec<ServerMessage>,
    /// Raw text of every `session_delta` frame, in order.
    pub delta_frames: Vec<String>,
}

impl Ws {
    pub async fn connect(base: &str) -> Result<Ws> {
        let url = format!("{}/ws?token={TOKEN}", base.replace("http://", "ws://"));
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .context("ws connect timed out")??;
        let mut ws = Ws {
            stream,
            seen: Vec::new(),
            delta_frames: Vec::new(),
        };
        let hello = ws.next().await?;
        assert!(matches!(hello, ServerMessage::Hello { .. }), "{hello:?}");
        Ok(ws)
    }

    pub async fn send(&mut self, v: Value) -> Result<()> {
        self.stream
            .send(Message::Text(v.to_string().into()))
            .await?;
        Ok(())
    }

    pub async fn next(&mut self) -> Result<ServerMessage> {
        loop {
            let m = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .with_context(|| {
                    format!(
                        "no WebSocket message within {WAIT:?}; seen: {:#?}",
                        self.seen.iter().rev().take(10).collect::<Vec<_>>()
                    )
                })?
                .context("WebSocket closed")??;
            if let Message::Text(t) = m {
                let msg: ServerMessage = serde_json::from_str(t.as_str())
                    .with_context(|| format!("undecodable frame {t}"))?;
                if matches!(msg, ServerMessage::SessionDelta { .. }) {
                    self.delta_frames.push(t.as_str().to_owned());
                }
                self.seen.push(msg.clone());
                return Ok(msg);
            }
        }
    }

    /// Reads until `pred` matches a message (returned).
    pub async fn wait_for(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&ServerMessage) -> bool,
    ) -> Result<ServerMessage> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            let m = self
                .next()
                .await
                .with_context(|| format!("waiting for {what}"))?;
            if pred(&m) {
                return Ok(m);
            }
        }
    }

    /// Waits for a delta of this session matching `pred`.
    pub async fn wait_delta(
        &mut self,
        what: &str,
        session: &str,
        mut pred: impl FnMut(&SessionDelta) -> bool,
    ) -> Result<SessionDelta> {
        let m = self
            .wait_for(what, |m| match m {
                ServerMessage::SessionDelta {
                    session_id, delta, ..
                } => session_id == session && pred(delta),
                _ => false,
            })
            .await?;
        match m {
            ServerMessage::SessionDelta { delta, .. } => Ok(delta),
            _ => unreachable!(),
        }
    }

    pub async fn subscribe(&mut self, session: &str, since: Option<u64>) -> Result<()> {
        self.send(serde_json::json!({"type": "subscribe_session", "session_id": session, "since_revision": since}))
            .await
    }

    /// The last revision seen for this session.
    pub fn revision(&self, session: &str) -> u64 {
        self.seen
            .iter()
            .rev()
            .find_map(|m| match m {
                ServerMessage::SessionDelta {
                    session_id,
                    revision,
                    ..
                }
                | ServerMessage::SessionSnapshot {
                    session_id,
                    revision,
                    ..
                } if session_id == session => Some(*revision),
                _ => None,
            })
            .unwrap_or(0)
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// Waits until a connector driven directly by a test reports the end of a turn.
pub async fn connector_turn_end(
    rx: &mut tokio::sync::mpsc::Receiver<orbitdock_server::connector::ConnectorEvent>,
) -> Result<()> {
    tokio::time::timeout(WAIT, async {
        while let Some(ev) = rx.recv().await {
            if let orbitdock_server::connector::ConnectorEvent::Thread { events, .. } = ev
                && events
                    .iter()
                    .any(|e| matches!(e, orbitdock_server::SessionEvent::TurnEnded { .. }))
            {
                return;
            }
        }
    })
    .await
    .context("turn end from the connector")
}

pub fn is_turn_ended(d: &SessionDelta) -> bool {
    matches!(d, SessionDelta::TurnEnded { .. })
}

/// A model response that starts an agent message, streams `text` into it, then stalls (never
/// completes the item): the shape of a turn cut short by an interrupt or a stop.
pub fn stalled_partial_message(text: &str) -> test_support::ScriptedResponse {
    test_support::ScriptedResponse::new()
        .raw_event(serde_json::json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"id": "msg_partial", "type": "message", "role": "assistant", "status": "in_progress", "content": []}}))
        .raw_event(serde_json::json!({"type": "response.content_part.added", "item_id": "msg_partial", "output_index": 0,
            "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}))
        .raw_event(serde_json::json!({"type": "response.output_text.delta", "item_id": "msg_partial", "output_index": 0,
            "content_index": 0, "delta": text}))
        .hang_after_created()
}
