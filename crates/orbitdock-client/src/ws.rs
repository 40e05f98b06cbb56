//! The WebSocket client: typed messages, bounded waits, and a backlog so that messages read
//! while waiting for something else are not lost.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use orbitdock_protocol::{ClientMessage, ServerMessage, SessionDelta};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{Error, Result, truncate};

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How many received messages [`WsClient::seen`] keeps (oldest dropped first).
const SEEN_CAP: usize = 10_000;

/// A connection to `/ws`.
#[derive(Debug)]
pub struct WsClient {
    stream: Stream,
    wait: Duration,
    /// Read but not yet handed out by `recv` (skipped over by `wait_for` / `request`).
    backlog: VecDeque<ServerMessage>,
    /// Every message received, in order (bounded), for tests that check the history.
    seen: VecDeque<ServerMessage>,
    server_version: String,
    next_ref: u64,
}

fn ws_err(e: tokio_tungstenite::tungstenite::Error) -> Error {
    Error::Ws(Box::new(e))
}

impl WsClient {
    /// Connects to `url` (`ws://HOST:PORT/ws`) with the bearer `token` and reads the `hello`;
    /// `wait` bounds the handshake and every later wait.
    pub async fn connect(url: &str, token: &str, wait: Duration) -> Result<WsClient> {
        let mut request = url.into_client_request().map_err(ws_err)?;
        let auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| Error::Token {
            path: "(given token)".into(),
            reason: e.to_string(),
        })?;
        request.headers_mut().insert("authorization", auth);
        let (stream, _) = tokio::time::timeout(wait, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| Error::Timeout {
                what: format!("the WebSocket handshake with {url}"),
                after: wait,
            })?
            .map_err(ws_err)?;
        let mut ws = WsClient {
            stream,
            wait,
            backlog: VecDeque::new(),
            seen: VecDeque::new(),
            server_version: String::new(),
            next_ref: 0,
        };
        match ws.read(Instant::now() + wait, "hello").await? {
            ServerMessage::Hello { version } => ws.server_version = version,
            other => ws.backlog.push_back(other),
        }
        Ok(ws)
    }

    /// The version the server said hello with.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Every message received so far (the last 10,000), including ones still in the backlog.
    pub fn seen(&self) -> impl Iterator<Item = &ServerMessage> {
        self.seen.iter()
    }

    /// The last revision seen for `session_id` (from snapshots and deltas), 0 if none.
    pub fn revision(&self, session_id: &str) -> u64 {
        self.seen
            .iter()
            .rev()
            .find_map(|m| match m {
                ServerMessage::SessionDelta {
                    session_id: s,
                    revision,
                    ..
                }
                | ServerMessage::SessionSnapshot {
                    session_id: s,
                    revision,
                    ..
                } if s == session_id => Some(*revision),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<()> {
        let text = serde_json::to_string(message).map_err(|source| Error::Frame {
            source,
            frame: format!("{message:?}"),
        })?;
        self.send_text(text).await
    }

    async fn send_text(&mut self, text: String) -> Result<()> {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .map_err(ws_err)
    }

    /// Reads the next frame from the socket (not the backlog) before `deadline`.
    async fn read(&mut self, deadline: Instant, what: &str) -> Result<ServerMessage> {
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .map_err(|_| Error::Timeout {
                    what: what.to_owned(),
                    after: self.wait,
                })?
                .ok_or_else(|| Error::Closed(what.to_owned()))?
                .map_err(ws_err)?;
            let text = match frame {
                Message::Text(t) => t,
                Message::Close(_) => return Err(Error::Closed(what.to_owned())),
                // tungstenite answers pings itself; binary frames are not part of the protocol.
                _ => continue,
            };
            let msg: ServerMessage =
                serde_json::from_str(text.as_str()).map_err(|source| Error::Frame {
                    source,
                    frame: truncate(text.as_str()),
                })?;
            if self.seen.len() == SEEN_CAP {
                self.seen.pop_front();
            }
            self.seen.push_back(msg.clone());
            return Ok(msg);
        }
    }

    /// The next message (backlog first), waiting at most the client's wait.
    pub async fn recv(&mut self) -> Result<ServerMessage> {
        if let Some(m) = self.backlog.pop_front() {
            return Ok(m);
        }
        let deadline = Instant::now() + self.wait;
        self.read(deadline, "the next message").await
    }

    /// Waits (at most the client's wait, in all) for a message matching `pred` and returns it;
    /// messages before it stay queued for later `recv`/`wait_for` calls.
    pub async fn wait_for(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&ServerMessage) -> bool,
    ) -> Result<ServerMessage> {
        if let Some(i) = self.backlog.iter().position(&mut pred)
            && let Some(m) = self.backlog.remove(i)
        {
            return Ok(m);
        }
        let deadline = Instant::now() + self.wait;
        loop {
            let m = self.read(deadline, what).await?;
            if pred(&m) {
                return Ok(m);
            }
            self.backlog.push_back(m);
        }
    }

    /// Waits for a `session_delta` of `session_id` matching `pred` and returns the delta.
    pub async fn wait_delta(
        &mut self,
        what: &str,
        session_id: &str,
        mut pred: impl FnMut(&SessionDelta) -> bool,
    ) -> Result<SessionDelta> {
        let m = self
            .wait_for(what, |m| {
                matches!(m, ServerMessage::SessionDelta { session_id: s, delta, .. }
                    if s == session_id && pred(delta))
            })
            .await?;
        match m {
            ServerMessage::SessionDelta { delta, .. } => Ok(delta),
            other => Err(Error::Closed(format!("{what} (got {other:?})"))),
        }
    }

    /// Sends `message` with a fresh `client_ref` and waits for the matching `ack` (its
    /// `result`) or `error` ([`Error::Refused`]).
    pub async fn request(&mut self, message: &ClientMessage) -> Result<Value> {
        self.next_ref += 1;
        let client_ref = format!("orbitdock-client-{}", self.next_ref);
        let mut v = serde_json::to_value(message).map_err(|source| Error::Frame {
            source,
            frame: format!("{message:?}"),
        })?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("client_ref".into(), Value::String(client_ref.clone()));
        }
        let what = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("request")
            .to_owned();
        self.send_text(v.to_string()).await?;
        let answer = self
            .wait_for(&format!("the answer to {what}"), |m| match m {
                ServerMessage::Ack { client_ref: r, .. }
                | ServerMessage::Error { client_ref: r, .. }
                | ServerMessage::Pong { client_ref: r } => r.as_deref() == Some(&client_ref),
                _ => false,
            })
            .await?;
        match answer {
            ServerMessage::Ack { result, .. } => Ok(result),
            ServerMessage::Error { code, message, .. } => Err(Error::Refused {
                what,
                code,
                message,
            }),
            _ => Ok(Value::Null),
        }
    }

    /// `subscribe_session`: the snapshot (or missed deltas) follows on the stream.
    pub async fn subscribe_session(
        &mut self,
        session_id: &str,
        since_revision: Option<u64>,
    ) -> Result<()> {
        self.send(&ClientMessage::SubscribeSession {
            session_id: session_id.to_owned(),
            since_revision,
            client_ref: None,
        })
        .await
    }

    /// `subscribe_list`: the list snapshot (or missed deltas) follows on the stream.
    pub async fn subscribe_list(&mut self, since_revision: Option<u64>) -> Result<()> {
        self.send(&ClientMessage::SubscribeList {
            since_revision,
            limit: None,
            query: None,
            client_ref: None,
        })
        .await
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(self.wait, self.stream.close(None)).await;
    }
}
