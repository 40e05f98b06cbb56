//! Shared harness for the server's integration tests: a real server on 127.0.0.1:0 over a temp
//! data dir, the REAL pinned Codex app-server over a temp CODEX_HOME, and test-support's loopback
//! fake of the model API. Every wait is bounded.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use orbitdock_protocol::{ServerMessage, SessionDelta, SessionState};
use orbitdock_server::connector::claude::ClaudeConfig;
use orbitdock_server::{RunningServer, ServerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use test_support::{ClaudeHome, CodexHomeBuilder, FakeResponses, TempCodexHome};
use tokio_tungstenite::tungstenite::Message;

pub const WAIT: Duration = Duration::from_secs(60);
pub const TOKEN: &str = "test-token-0123456789";

pub struct Harness {
    pub fake: FakeResponses,
    pub home: TempCodexHome,
    pub data: tempfile::TempDir,
    pub server: Option<RunningServer>,
    pub http: reqwest::Client,
    /// With [`Harness::start_with_claude`]: the pinned Claude Code's isolated home and its fake
    /// Messages API.
    pub claude: Option<ClaudeHome>,
}

impl Harness {
    pub async fn start() -> Result<Harness> {
        Self::start_inner(None, |b, _| b).await
    }

    /// A harness whose server also runs Claude sessions: the REAL pinned Claude Code CLI in an
    /// isolated config dir, against test-support's loopback fake of the Messages API.
    pub async fn start_with_claude() -> Result<Harness> {
        Self::start_inner(Some(ClaudeHome::new()), |b, _| b).await
    }

    /// [`Harness::start`] with the CODEX_HOME builder adjusted by `home` (given the builder and
    /// the fake's base URL).
    pub async fn start_with_home(
        home: impl FnOnce(CodexHomeBuilder, &str) -> CodexHomeBuilder,
    ) -> Result<Harness> {
        Self::start_inner(None, home).await
    }

    async fn start_inner(
        claude: Option<ClaudeHome>,
        home: impl FnOnce(CodexHomeBuilder, &str) -> CodexHomeBuilder,
    ) -> Result<Harness> {
        let fake = FakeResponses::start();
        let url = fake.base_url();
        let home = home(CodexHomeBuilder::new(&url), &url).build();
        let data = tempfile::tempdir()?;
        let mut h = Harness {
            fake,
            home,
            data,
            server: None,
            http: reqwest::Client::new(),
            claude,
        };
        h.boot().await?;
        Ok(h)
    }

    /// The Claude home (panics for a harness started without Claude).
    pub fn claude(&self) -> &ClaudeHome {
        self.claude
            .as_ref()
            .expect("started with start_with_claude")
    }

    /// The fake Messages API the Claude sessions call.
    pub fn anthropic(&self) -> &test_support::fake_anthropic::FakeAnthropic {
        &self.claude().fake
    }

    /// The Claude connector's config for this harness, if any.
    fn claude_config(&self) -> Option<ClaudeConfig> {
        self.claude.as_ref().map(|c| ClaudeConfig {
            claude_bin: test_support::claude_bin(),
            config_dir: Some(c.config.clone()),
            home: Some(c.home.clone()),
            env: c.env(),
            env_remove: test_support::CLAUDE_SCRUBBED_ENV
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            request_timeout: Duration::from_secs(30),
        })
    }

    async fn boot(&mut self) -> Result<()> {
        let env = self.home.env_strings();
        let server = orbitdock_server::start(ServerConfig {
            data_dir: self.data.path().to_owned(),
            codex_home: self.home.path().to_owned(),
            codex_bin: test_support::codex_bin(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: TOKEN.into(),
            codex_env: env,
            claude: self.claude_config(),
            output_limits: Default::default(),
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

    /// The shared app-server's process id, while one runs.
    pub fn agent_pid(&self) -> Result<u32> {
        self.server
            .as_ref()
            .context("server stopped")?
            .registry
            .connector()
            .agent_pid()
            .context("app-server pid")
    }

    /// The committed checkpoints of a passive reader: (path, checkpoint JSON).
    pub fn checkpoints(
        &self,
        source: orbitdock_server::store::CheckpointSource,
    ) -> Result<Vec<(String, String)>> {
        Ok(self
            .server
            .as_ref()
            .context("server stopped")?
            .registry
            .store()
            .load_checkpoints(source)?)
    }

    /// Posts what Claude's hooks report when a terminal session starts with `prompt`
    /// (SessionStart, then UserPromptSubmit; `hook` makes a payload of an event and its
    /// fields); returns the OrbitDock session id.
    pub async fn post_claude_start(
        &self,
        hook: impl Fn(&str, Value) -> Value,
        prompt: &str,
    ) -> Result<String> {
        let r: Value = self
            .post(
                "/api/hooks/claude",
                &hook("SessionStart", serde_json::json!({"source": "startup"})),
            )
            .await?;
        let id = r["session_id"]
            .as_str()
            .context("session_id in the hook answer")?
            .to_owned();
        let _: Value = self
            .post(
                "/api/hooks/claude",
                &hook("UserPromptSubmit", serde_json::json!({ "prompt": prompt })),
            )
            .await?;
        Ok(id)
    }

    /// The listed session whose agent thread is `thread`.
    pub async fn session_for_thread(
        &self,
        thread: &str,
    ) -> Result<Option<orbitdock_protocol::SessionSummary>> {
        let list: orbitdock_protocol::SessionsResponse = self.get("/api/sessions").await?;
        Ok(list
            .sessions
            .into_iter()
            .find(|s| s.thread_id.as_deref() == Some(thread)))
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

    /// A GET answered with any status: (status, JSON body).
    pub async fn get_raw(&self, path: &str) -> Result<(u16, Value)> {
        let r = self
            .http
            .get(format!("{}{path}", self.base()))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
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

    /// Sends a message to a session over REST (the turn starts; its events follow).
    pub async fn send_message(&self, id: &str, text: &str) -> Result<()> {
        let _: Value = self
            .post(
                &format!("/api/sessions/{id}/messages"),
                &serde_json::json!({ "text": text }),
            )
            .await?;
        Ok(())
    }

    pub async fn create(&self, body: Value) -> Result<SessionState> {
        self.post("/api/sessions", &body).await
    }

    pub async fn ws(&self) -> Result<Ws> {
        Ws::connect(&self.base()).await
    }

    /// A second, independent Codex app-server client on the same CODEX_HOME (what another
    /// editor or tool would be), delivering its events to `tx`.
    pub fn outside_connector(
        &self,
        tx: tokio::sync::mpsc::Sender<orbitdock_server::connector::ConnectorEvent>,
    ) -> std::sync::Arc<orbitdock_server::connector::codex::AppServerConnector> {
        let env = self.home.env_strings();
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
        Self::start_in(tempfile::tempdir()?).await
    }

    /// [`Scripted::start`] with its data in `data` (e.g. a small file system mounted there).
    pub async fn start_in(data: tempfile::TempDir) -> Result<Scripted> {
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
                claude: None,
                output_limits: Default::default(),
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
        Self::connect_with_token(base, TOKEN).await
    }

    pub async fn connect_with_token(base: &str, token: &str) -> Result<Ws> {
        let req = test_support::hub_ws_request(base, token).map_err(anyhow::Error::msg)?;
        Self::open(req).await
    }

    /// Connects and reads the server's `Hello`, whatever the request carries as credentials.
    async fn open(
        req: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
    ) -> Result<Ws> {
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
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

    /// A WebSocket signed in with a cookie (`name=value`), the way a browser connects.
    pub async fn connect_with_cookie(base: &str, cookie: &str) -> Result<Ws> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/ws", base.replace("http://", "ws://")).into_client_request()?;
        req.headers_mut().insert("cookie", cookie.parse()?);
        Self::open(req).await
    }

    /// Reads until the server closes the connection; the close frame's code, if it sent one.
    pub async fn wait_closed(&mut self) -> Result<Option<u16>> {
        loop {
            let m = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .context("the WebSocket was not closed in time")?;
            match m {
                Some(Ok(Message::Close(frame))) => return Ok(frame.map(|f| f.code.into())),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok(None),
            }
        }
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

    /// Waits for an approval (or question) to be requested in this session and returns it.
    pub async fn wait_approval(
        &mut self,
        what: &str,
        session: &str,
    ) -> Result<orbitdock_protocol::PendingApproval> {
        match self
            .wait_delta(what, session, |d| {
                matches!(d, SessionDelta::ApprovalRequested { .. })
            })
            .await?
        {
            SessionDelta::ApprovalRequested { approval } => Ok(approval),
            _ => unreachable!(),
        }
    }

    /// Subscribes to a session from scratch and reads up to its snapshot.
    pub async fn subscribe_snapshot(&mut self, session: &str) -> Result<()> {
        self.subscribe(session, None).await?;
        self.wait_for("snapshot", |m| {
            matches!(m, ServerMessage::SessionSnapshot { .. })
        })
        .await?;
        Ok(())
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

/// A streamed text delta of an agent message, as a connector delivers it.
pub fn text_event(turn: &str, item: &str, delta: &str) -> orbitdock_server::SessionEvent {
    orbitdock_server::SessionEvent::ItemText {
        turn_id: Some(turn.into()),
        item_id: item.into(),
        stream: orbitdock_protocol::TextStream::Text,
        delta: delta.into(),
    }
}

/// A whole agent message, as a connector delivers it.
pub fn message_event(turn: &str, item: &str, text: &str) -> orbitdock_server::SessionEvent {
    orbitdock_server::SessionEvent::Item {
        turn_id: Some(turn.into()),
        item_id: item.into(),
        status: orbitdock_protocol::ItemStatus::Completed,
        body: orbitdock_protocol::ItemBody::AgentMessage { text: text.into() },
    }
}

/// The end of a turn, as a connector delivers it.
pub fn turn_end_event(
    turn: &str,
    status: orbitdock_protocol::TurnStatus,
) -> orbitdock_server::SessionEvent {
    orbitdock_server::SessionEvent::TurnEnded {
        turn_id: turn.into(),
        status,
        error: None,
    }
}

pub fn is_turn_ended(d: &SessionDelta) -> bool {
    matches!(d, SessionDelta::TurnEnded { .. })
}

/// Scripts the model to ask one multiple-choice question ("Which color should the button be?",
/// id `color`, options Blue and Red) through Codex's `request_user_input` tool, then to answer
/// "Plan: a blue button." once it has the reply.
pub fn script_color_question(fake: &FakeResponses) {
    fake.enqueue(test_support::ScriptedResponse::new().function_call(
        "request_user_input",
        serde_json::json!({"questions": [{"id": "color", "header": "Color",
            "question": "Which color should the button be?",
            "options": [{"label": "Blue", "description": "calm"},
                        {"label": "Red", "description": "loud"}]}]}),
        "call-q",
    ));
    fake.enqueue(test_support::ScriptedResponse::new().text("Plan: a blue button."));
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

/// Whether any `role: user` message of the request holds `needle`.
pub fn user_text_contains(r: &test_support::RecordedRequest, needle: &str) -> bool {
    r.input().iter().any(|item| {
        item.get("role").and_then(Value::as_str) == Some("user")
            && item.to_string().contains(needle)
    })
}

/// A direct session in the harness's workdir with these policies, and a WebSocket subscribed
/// to it.
pub async fn direct_session(
    h: &Harness,
    approval_policy: &str,
    sandbox_mode: &str,
) -> Result<(String, Ws)> {
    let created = h
        .create(
            serde_json::json!({"cwd": h.workdir(), "approval_policy": approval_policy,
            "sandbox_mode": sandbox_mode}),
        )
        .await?;
    let id = created.summary.id.clone();
    let ws = subscribed(h, &id).await?;
    Ok((id, ws))
}

/// A WebSocket subscribed to session `id`, its snapshot received.
pub async fn subscribed(h: &Harness, id: &str) -> Result<Ws> {
    let mut ws = h.ws().await?;
    ws.subscribe_snapshot(id).await?;
    Ok(ws)
}

/// A binary of the workspace in this test binary's target dir (`target/debug/NAME`, next to
/// its `deps/` directory; `scripts/test.sh` builds the binaries before the tests).
pub fn target_bin(name: &str) -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .context("test binary has no parent dir")?;
    let bin = dir.join(name);
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        bin.display()
    );
    Ok(bin)
}

/// A real `orbitdock serve` child process (its own process group).
pub struct Served {
    pub child: std::process::Child,
    pub base: String,
    /// The API token (from the data dir: the server never prints it).
    pub token: String,
    /// The one-time sign-in link it printed (`BASE/pair#CODE`).
    pub sign_in_link: String,
    /// Every line it printed on stdout so far (those before the sign-in link are all there once
    /// [`serve_with`] returns).
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Killed and reaped already (its process group id may belong to someone else now).
    reaped: bool,
}

impl Served {
    /// What follows `prefix` on the first stdout line that starts with it.
    pub fn printed(&self, prefix: &str) -> Option<String> {
        let lines = self.stdout.lock().ok()?;
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    }

    /// A REST client of this server.
    pub fn rest(&self) -> Rest {
        Rest::with_token(&self.base, &self.token)
    }

    /// SIGTERM (a graceful stop) and wait.
    pub fn terminate(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        self.reaped = true;
    }
}

/// How to run `orbitdock serve` beyond [`serve`]'s defaults.
#[derive(Default)]
pub struct ServeOptions {
    /// Extra arguments.
    pub args: Vec<std::ffi::OsString>,
    /// Where its stderr goes (discarded when `None`).
    pub stderr: Option<std::path::PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// `RLIMIT_NOFILE` for the server process (its soft limit).
    pub max_open_files: Option<u64>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if !self.reaped {
            kill9(self);
        }
    }
}

/// Starts `orbitdock serve` (`bin`) on a free port over `data` and `home`, with `extra`
/// arguments, and waits for its sign-in link.
pub fn serve(
    bin: &std::path::Path,
    data: &std::path::Path,
    home: &TempCodexHome,
    extra: &[std::ffi::OsString],
) -> Result<Served> {
    serve_with(
        bin,
        data,
        home,
        &ServeOptions {
            args: extra.to_vec(),
            ..Default::default()
        },
    )
}

/// [`serve`] with options.
pub fn serve_with(
    bin: &std::path::Path,
    data: &std::path::Path,
    home: &TempCodexHome,
    opts: &ServeOptions,
) -> Result<Served> {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--port", "0", "--data-dir"])
        .arg(data)
        .arg("--codex-home")
        .arg(home.path())
        .arg("--codex-bin")
        .arg(test_support::codex_bin())
        .args(&opts.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0);
    match &opts.stderr {
        Some(p) => cmd.stderr(std::fs::File::create(p)?),
        None => cmd.stderr(Stdio::null()),
    };
    for (k, v) in home.env() {
        cmd.env(k, v);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    // The child inherits the soft RLIMIT_NOFILE in force when it is spawned: lower ours around
    // the spawn (nextest runs each test in its own process) instead of an unsafe `pre_exec`.
    let mut child = match opts.max_open_files {
        Some(n) => {
            use nix::sys::resource::{Resource, getrlimit, setrlimit};
            let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
            setrlimit(Resource::RLIMIT_NOFILE, n, hard)?;
            let spawned = cmd.spawn();
            setrlimit(Resource::RLIMIT_NOFILE, soft, hard)?;
            spawned.context("spawning orbitdock serve")?
        }
        None => cmd.spawn().context("spawning orbitdock serve")?,
    };
    let out = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines = stdout.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            if let Ok(mut l) = lines.lock() {
                l.push(line.clone());
            }
            if let Some(rest) = line.strip_prefix("Open the UI: ") {
                let _ = tx.send(rest.to_owned());
            }
        }
    });
    let link = match rx.recv_timeout(WAIT) {
        Ok(u) => u,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("orbitdock serve did not print its sign-in link");
        }
    };
    let (base, _code) = link.split_once("/pair#").context("sign-in link shape")?;
    // The token is never printed: read it where `orbitdock token` does.
    let token = std::fs::read_to_string(orbitdock_server::data_dir::token_path(data))
        .context("reading the API token")?;
    Ok(Served {
        child,
        base: base.to_owned(),
        token: token.trim().to_owned(),
        sign_in_link: link,
        stdout,
        reaped: false,
    })
}

/// SIGKILL to the whole process group: the server and every agent it started.
pub fn kill9(s: &mut Served) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(s.child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = s.child.wait();
    s.reaped = true;
}

/// A Claude Code hook payload as Claude sends it: `session_id`, `cwd`, `hook_event_name`, the
/// `transcript_path` when given, and the fields of `extra`.
pub fn claude_hook(
    session: &str,
    transcript: Option<&std::path::Path>,
    cwd: &str,
    event: &str,
    extra: Value,
) -> Value {
    let mut v = serde_json::json!({
        "session_id": session,
        "cwd": cwd,
        "hook_event_name": event,
    });
    if let Some(t) = transcript {
        v["transcript_path"] = Value::String(t.to_string_lossy().into_owned());
    }
    for (k, x) in extra.as_object().cloned().unwrap_or_default() {
        v[k] = x;
    }
    v
}
