//! The `/ws` WebSocket: subscriptions (list and sessions) with snapshot-then-deltas and replay,
//! plus the same actions as REST (through the same dispatcher, `crate::actions`).
//!
//! One task per connection multiplexes: client messages, the subscribed hubs' broadcast streams,
//! and the results of actions (run in their own tasks so a slow `create_session` never holds up
//! the deltas this client is subscribed to). Frames come pre-serialised from the hubs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use orbitdock_protocol::{
    ClientMessage, ListCursor, ListDelta, ListQuery, ServerMessage, SessionSummary, SessionsPage,
};
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

/// How much the WebSocket reader asks the socket for at once. The connection loop polls its
/// reader every time it wakes (for each frame it forwards, too), and each poll zero-fills this
/// much of the read buffer before the read that finds nothing: at the framework's 128 KiB that
/// memset was most of the fan-out's CPU time. Client messages are small; a larger one (up to
/// the message limit) is read in several steps.
const READ_CHUNK: usize = 8 * 1024;

pub(super) async fn upgrade(
    State(state): State<AppState>,
    device: Option<axum::Extension<crate::pairing::DeviceIdentity>>,
    ws: WebSocketUpgrade,
) -> Response {
    let tasks = state.tasks.clone();
    // A paired device's connection ends when the device is revoked; one signed in with the
    // token has nothing to revoke it (a token that never fires).
    let revoked = device
        .map(|axum::Extension(d)| d.revoked)
        .unwrap_or_default();
    ws.max_message_size(1 << 20)
        .read_buffer_size(READ_CHUNK)
        .on_upgrade(move |socket| tasks.track_future(connection(state, socket, revoked)))
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

/// A paged list subscription: what the client holds, so only deltas for rows in view are sent.
struct ListView {
    query: ListQuery,
    limit: usize,
    /// Where the pages sent so far end; `None` once the last page was sent.
    end: Option<ListCursor>,
    /// Rows the client holds.
    held: HashSet<String>,
}

impl ListView {
    /// Whether a row with this summary belongs in what the client holds.
    fn in_view(&self, s: &SessionSummary) -> bool {
        if !self.query.matches(s) {
            return false;
        }
        match &self.end {
            None => true,
            Some(end) => !end.is_before(self.query.sort_key(s), &s.id),
        }
    }

    /// The frame to send for a list change, if it concerns the view; keeps `held` in step.
    fn filter(&mut self, p: &Published) -> Option<Message> {
        match p.list_delta.as_ref()? {
            ListDelta::Upsert { summary } => {
                if self.in_view(summary) {
                    self.held.insert(summary.id.clone());
                    Some(Message::Text(p.frame.clone()))
                } else if self.held.remove(&summary.id) {
                    // It left the view (archived, filtered out): the client drops the row.
                    Some(frame(&ServerMessage::SessionsDelta {
                        revision: p.revision,
                        delta: ListDelta::Removed {
                            id: summary.id.clone(),
                        },
                    }))
                } else {
                    None
                }
            }
            ListDelta::Removed { id } => {
                self.held.remove(id).then(|| Message::Text(p.frame.clone()))
            }
            ListDelta::Unknown => None,
        }
    }

    fn take_page(&mut self, page: &SessionsPage) {
        self.held.extend(page.sessions.iter().map(|s| s.id.clone()));
        self.end = page.next_cursor.as_deref().and_then(ListCursor::decode);
    }
}

struct Conn {
    state: AppState,
    /// The paged list subscription, when the client asked for one.
    list_view: Option<ListView>,
    subs: StreamMap<String, BroadcastStream<Arc<Published>>>,
    /// Per subscription: deltas at or below this revision are already reflected client-side.
    floor: HashMap<String, u64>,
    out: Vec<Message>,
}

impl Conn {
    /// A paged subscription: the first page, then only the deltas for rows in view. A
    /// reconnecting client gets a fresh first page (its revision says nothing about which rows
    /// it held).
    fn subscribe_list_view(&mut self, query: ListQuery, limit: usize) {
        let hub = self.state.registry.list_hub().clone();
        let (rx, page) = hub.subscribe_with_page(&query, limit);
        let mut view = ListView {
            query,
            limit,
            end: None,
            held: HashSet::new(),
        };
        view.take_page(&page);
        self.floor.insert(LIST_KEY.into(), page.revision);
        self.out.push(frame(&ServerMessage::SessionsPage {
            page,
            append: false,
        }));
        self.list_view = Some(view);
        self.subs.insert(LIST_KEY.into(), BroadcastStream::new(rx));
    }

    /// The next page of the view. Rows that entered the view since are already held (their
    /// delta was sent), and the keyset cursor makes the page start right after the last row
    /// sent, so nothing repeats or goes missing.
    fn list_more(&mut self, client_ref: Option<String>) {
        let Some(view) = self.list_view.as_mut() else {
            self.out.push(frame(&ServerMessage::Error {
                client_ref,
                session_id: None,
                code: "bad_request".into(),
                message: "list_more needs a paged subscribe_list (with a limit) first".into(),
            }));
            return;
        };
        let mut page = match &view.end {
            Some(end) => self
                .state
                .registry
                .list_hub()
                .page(&view.query, Some(end), view.limit),
            None => SessionsPage {
                revision: self.floor.get(LIST_KEY).copied().unwrap_or(0),
                ..Default::default()
            },
        };
        view.take_page(&page);
        // The page is read at the hub's current revision, which may be ahead of the deltas this
        // connection has forwarded; the revision stays the subscription's.
        page.revision = self.floor.get(LIST_KEY).copied().unwrap_or(page.revision);
        self.out
            .push(frame(&ServerMessage::SessionsPage { page, append: true }));
    }

    async fn subscribe_list(&mut self, since: Option<u64>) {
        self.list_view = None;
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

/// The next host change frame; `None` after a lag (the client re-reads `GET /api/hosts` on
/// the next change anyway: each frame carries the whole host). Pends forever without host links.
async fn next_host_change(
    rx: &mut Option<tokio::sync::broadcast::Receiver<Utf8Bytes>>,
) -> Option<Utf8Bytes> {
    use tokio::sync::broadcast::error::RecvError;
    let Some(r) = rx.as_mut() else {
        return std::future::pending().await;
    };
    match r.recv().await {
        Ok(text) => Some(text),
        Err(RecvError::Lagged(_)) => None,
        Err(RecvError::Closed) => {
            *rx = None;
            None
        }
    }
}

async fn connection(
    state: AppState,
    socket: WebSocket,
    revoked: tokio_util::sync::CancellationToken,
) {
    let (mut sink, mut stream) = socket.split();
    let (done_tx, mut done_rx) = mpsc::channel::<ServerMessage>(256);
    let mut conn = Conn {
        state,
        list_view: None,
        subs: StreamMap::new(),
        floor: HashMap::new(),
        out: vec![frame(&ServerMessage::Hello {
            version: env!("CARGO_PKG_VERSION").into(),
        })],
    };
    let stop = conn.state.stop.clone();
    // Host changes go to every connection (there are few hosts and they change rarely).
    let mut host_changes = conn.state.registry.host_links().map(|l| l.subscribe());
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
            _ = revoked.cancelled() => {
                // 4401: an application code (4000-4999) a client can tell from a network
                // failure: reconnecting will not help, signing in again will.
                let _ = sink
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 4401,
                        reason: "device revoked".into(),
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
            change = next_host_change(&mut host_changes) => {
                if let Some(text) = change {
                    conn.out.push(Message::Text(text));
                }
            }
            Some((key, item)) = conn.subs.next(), if !conn.subs.is_empty() => {
                match item {
                    Ok(p) => {
                        let floor = conn.floor.get(&key).copied().unwrap_or(0);
                        if p.revision > floor {
                            conn.floor.insert(key.clone(), p.revision);
                            match conn.list_view.as_mut().filter(|_| key == LIST_KEY) {
                                Some(view) => conn.out.extend(view.filter(&p)),
                                None => conn.out.push(Message::Text(p.frame.clone())),
                            }
                        }
                    }
                    Err(BroadcastStreamRecvError::Lagged(n)) => {
                        // Too slow: start over from a snapshot rather than skip changes.
                        tracing::debug!(subscription = %key, lagged = n, "subscriber lagged; resending snapshot");
                        conn.subs.remove(&key);
                        if key == LIST_KEY {
                            match conn.list_view.take() {
                                Some(view) => conn.subscribe_list_view(view.query, view.limit),
                                None => conn.subscribe_list(None).await,
                            }
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
            limit,
            query,
            client_ref: _,
        } => match limit {
            Some(limit) => {
                let limit = (limit as usize).clamp(1, super::list::MAX_PAGE);
                conn.subscribe_list_view(query.unwrap_or_default(), limit);
            }
            None => conn.subscribe_list(since_revision).await,
        },
        ClientMessage::ListMore { client_ref } => conn.list_more(client_ref),
        ClientMessage::UnsubscribeList { client_ref } => {
            conn.subs.remove(LIST_KEY);
            conn.floor.remove(LIST_KEY);
            conn.list_view = None;
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
