//! The `/ws` WebSocket: subscriptions (list and sessions) with snapshot-then-deltas and replay,
//! plus the same actions as REST (through the same dispatcher, `crate::actions`).
//!
//! One task per connection multiplexes: client messages, the subscribed hubs' broadcast streams,
//! and the results of actions (run in their own tasks so a slow `create_session` never holds up
//! the deltas this client is subscribed to). Frames come pre-serialised from the hubs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use orbitdock_protocol::{ClientMessage, ServerMessage};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::StreamMap;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::AppState;
use crate::actions::{SessionAction, dispatch};
use crate::error::Error;
use crate::hub::Published;

const LIST_KEY: &str = "\u{0}list";

pub(super) async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let tasks = state.tasks.clone();
    ws.max_message_size(1 << 20)
        .on_upgrade(move |socket| tasks.track_future(connection(state, socket)))
}

fn frame(msg: &ServerMessage) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(msg).unwrap_or_else(|_| "{}".into()),
    ))
}

fn error_msg(client_ref: Option<String>, session_id: Option<String>, e: &Error) -> ServerMessage {
    ServerMessage::Error {
        client_ref,
        session_id,
        code: e.code().into(),
        message: e.to_string(),
    }
}

struct Conn {
    state: AppState,
    subs: StreamMap<String, BroadcastStream<Arc<Published>>>,
    /// Per subscription: deltas at or below this revision are already reflected client-side.
    floor: HashMap<String, u64>,
    out: Vec<Message>,
}

impl Conn {
    async fn subscribe_list(&mut self, since: Option<u64>) {
        let hub = self.state.registry.list_hub().clone();
        let sub = hub.subscribe(since);
        match sub.replay {
            Some(missed) => {
                let floor = missed.last().map(|p| p.revision).or(since).unwrap_or(0);
                for p in missed {
                    self.out.push(Message::Text(p.frame.clone()));
                }
                self.floor.insert(LIST_KEY.into(), floor);
                self.subs
                    .insert(LIST_KEY.into(), BroadcastStream::new(sub.receiver));
            }
            None => {
                drop(sub);
                let (rx, revision, sessions) = hub.subscribe_with_snapshot();
                self.out.push(frame(&ServerMessage::SessionsSnapshot {
                    revision,
                    sessions,
                }));
                self.floor.insert(LIST_KEY.into(), revision);
                self.subs.insert(LIST_KEY.into(), BroadcastStream::new(rx));
            }
        }
    }

    async fn subscribe_session(&mut self, id: &str, since: Option<u64>) -> Result<(), Error> {
        let handle = self.state.registry.get(id).await?;
        let sub = handle.hub().subscribe(since);
        match sub.replay {
            Some(missed) => {
                let floor = missed.last().map(|p| p.revision).or(since).unwrap_or(0);
                for p in missed {
                    self.out.push(Message::Text(p.frame.clone()));
                }
                self.floor.insert(id.to_owned(), floor);
            }
            None => {
                // Subscribed first, snapshot second: every delta after the snapshot's revision
                // arrives through the receiver; older ones are filtered by the floor.
                let (state, items) = handle.snapshot().await?;
                let revision = state.summary.revision;
                self.out.push(frame(&ServerMessage::SessionSnapshot {
                    session_id: id.to_owned(),
                    revision,
                    state,
                    items,
                }));
                self.floor.insert(id.to_owned(), revision);
            }
        }
        self.subs
            .insert(id.to_owned(), BroadcastStream::new(sub.receiver));
        Ok(())
    }
}

async fn connection(state: AppState, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (done_tx, mut done_rx) = mpsc::channel::<ServerMessage>(256);
    let mut conn = Conn {
        state,
        subs: StreamMap::new(),
        floor: HashMap::new(),
        out: vec![frame(&ServerMessage::Hello {
            version: env!("CARGO_PKG_VERSION").into(),
        })],
    };
    let stop = conn.state.stop.clone();
    loop {
        for m in conn.out.drain(..) {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => {
                // The server stops: a clean close (1001 "going away") tells the client to
                // reconnect later instead of reporting an error.
                let _ = sink
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1001,
                        reason: "server stopping".into(),
                    })))
                    .await;
                break;
            }
            incoming = stream.next() => {
                let msg = match incoming {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        // Say why before closing, so the client can tell "your frame was too
                        // big" (1009) from a broken connection. The framework's error is
                        // opaque; its text names the frame-size limit.
                        let text = e.to_string();
                        let (code, reason) = if text.contains("too long") || text.contains("Space limit") {
                            (1009, "message too big")
                        } else {
                            (1002, "protocol error")
                        };
                        tracing::debug!(error = %text, "closing the WebSocket after a bad frame");
                        let _ = sink
                            .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                                code,
                                reason: reason.into(),
                            })))
                            .await;
                        break;
                    }
                    None => break,
                };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Binary(_) => {
                        conn.out.push(frame(&ServerMessage::Error {
                            client_ref: None, session_id: None,
                            code: "bad_request".into(), message: "binary frames are not supported".into(),
                        }));
                        continue;
                    }
                };
                handle_client(&mut conn, text.as_str(), &done_tx).await;
            }
            Some(done) = done_rx.recv() => {
                conn.out.push(frame(&done));
            }
            Some((key, item)) = conn.subs.next(), if !conn.subs.is_empty() => {
                match item {
                    Ok(p) => {
                        let floor = conn.floor.get(&key).copied().unwrap_or(0);
                        if p.revision > floor {
                            conn.floor.insert(key.clone(), p.revision);
                            conn.out.push(Message::Text(p.frame.clone()));
                        }
                    }
                    Err(BroadcastStreamRecvError::Lagged(n)) => {
                        // Too slow: start over from a snapshot rather than skip changes.
                        tracing::debug!(subscription = %key, lagged = n, "subscriber lagged; resending snapshot");
                        conn.subs.remove(&key);
                        if key == LIST_KEY {
                            conn.subscribe_list(None).await;
                        } else if let Err(e) = conn.subscribe_session(&key, None).await {
                            conn.out.push(frame(&error_msg(None, Some(key.clone()), &e)));
                        }
                    }
                }
            }
        }
    }
}

async fn handle_client(conn: &mut Conn, text: &str, done: &mpsc::Sender<ServerMessage>) {
    let msg: ClientMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            let client_ref = serde_json::from_str::<Value>(text).ok().and_then(|v| {
                v.get("client_ref")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            tracing::debug!(error = %e, raw = %text, "undecodable WebSocket message");
            conn.out.push(frame(&ServerMessage::Error {
                client_ref,
                session_id: None,
                code: "bad_request".into(),
                message: format!("could not read message: {e}"),
            }));
            return;
        }
    };
    let ack = |client_ref: Option<String>, result: Value| ServerMessage::Ack { client_ref, result };
    match msg {
        ClientMessage::Ping { client_ref } => {
            conn.out.push(frame(&ServerMessage::Pong { client_ref }))
        }
        ClientMessage::SubscribeList {
            since_revision,
            client_ref: _,
        } => {
            conn.subscribe_list(since_revision).await;
        }
        ClientMessage::UnsubscribeList { client_ref } => {
            conn.subs.remove(LIST_KEY);
            conn.floor.remove(LIST_KEY);
            conn.out.push(frame(&ack(client_ref, Value::Null)));
        }
        ClientMessage::SubscribeSession {
            session_id,
            since_revision,
            client_ref,
        } => {
            if let Err(e) = conn.subscribe_session(&session_id, since_revision).await {
                conn.out
                    .push(frame(&error_msg(client_ref, Some(session_id), &e)));
            }
        }
        ClientMessage::UnsubscribeSession {
            session_id,
            client_ref,
        } => {
            conn.subs.remove(&session_id);
            conn.floor.remove(&session_id);
            conn.out.push(frame(&ack(client_ref, Value::Null)));
        }
        other => {
            let (action, client_ref) = match SessionAction::from_client_message(other) {
                Ok(a) => a,
                Err(msg) => {
                    conn.out.push(frame(&ServerMessage::Error {
                        client_ref: None,
                        session_id: None,
                        code: "bad_request".into(),
                        message: format!("unexpected message {msg:?}"),
                    }));
                    return;
                }
            };
            // Actions may take a while (agent round trips): run them aside, so this
            // connection's subscriptions keep flowing.
            let registry = conn.state.registry.clone();
            let done = done.clone();
            conn.state.tasks.spawn(async move {
                let session_id = action.session_id().map(str::to_owned);
                let msg = match dispatch(&registry, action).await {
                    Ok(out) => ServerMessage::Ack {
                        client_ref,
                        result: out.body,
                    },
                    Err(e) => error_msg(client_ref, session_id, &e),
                };
                let _ = done.send(msg).await;
            });
        }
    }
}
