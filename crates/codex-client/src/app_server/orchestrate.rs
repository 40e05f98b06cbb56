//! Run turns and route every server request (approval, question, tool call) to a handler: the
//! way to build a hub on this crate.
//!
//! ```no_run
//! # async fn demo(server: codex_client::app_server::AppServer,
//! #               events: tokio::sync::mpsc::Receiver<codex_client::app_server::AppServerEvent>)
//! #               -> codex_client::Result<()> {
//! use codex_client::app_server::orchestrate::Orchestrator;
//! use codex_client::app_server::requests::TurnStartParams;
//! let (orch, mut unrouted) = Orchestrator::new(server, events);
//! tokio::spawn(async move { while let Some(_ev) = unrouted.recv().await { /* other threads */ } });
//! let outcome = orch
//!     .run_turn(TurnStartParams::text("thread-id", "fix the build"), |request| async move {
//!         // Show it to a human; answer with request.accept() / decline() / respond(..).
//!         // Dropping `request` unanswered declines it.
//!         let _ = request.decline().await;
//!     })
//!     .await?;
//! println!("{:?}: {}", outcome.turn.status, outcome.agent_text);
//! # Ok(()) }
//! ```
//!
//! # Why shaped so
//! - **One reader, many turns.** An [`AppServer`] has one event stream. The [`Orchestrator`]
//!   owns it and routes each event to the turn running on its thread (by `threadId`); events
//!   of threads without a running turn, and connection events, go to the "unrouted" receiver
//!   the host drains.
//! - **Nothing is ever auto-accepted, and nothing hangs.** Every server request of a routed
//!   thread becomes a [`PendingRequest`]. Answer it, or drop it: an unanswered request is
//!   DECLINED when dropped (the method's own refusal: `decline` for command and file-change
//!   approvals, no permissions granted, an empty answer set, a declined elicitation, a failed
//!   tool call, or a JSON-RPC error for methods this crate does not type). Dropping the handler
//!   or the [`TurnRun`] therefore declines whatever is still open, so a vanished UI can never
//!   leave a turn waiting forever.
//! - **Cancelling a turn cancels its requests.** [`TurnRun::cancel`] answers every still-open
//!   request of the turn with `cancel` (approvals) or the refusal above, then sends
//!   `turn/interrupt`. A handler that answers later gets [`Error::AlreadyAnswered`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::items::ThreadItem;
use super::notifications::ServerNotification;
use super::requests::{TurnInterrupt, TurnInterruptParams, TurnStart, TurnStartParams};
use super::server_requests::{
    CommandApprovalDecision, FileChangeApprovalDecision, Responder, ServerRequest,
};
use super::thread::Turn;
use super::{AppServer, AppServerEvent};
use crate::{Error, Result};

const ROUTE_QUEUE: usize = 1024;

/// What a routed thread receives.
#[derive(Debug)]
enum Routed {
    Request(PendingRequest),
    Notification(ServerNotification),
    /// The connection ended (stdio exit, remote closed or disconnected): the turn's requests
    /// can no longer be answered and its completion may never arrive.
    ConnectionLost(String),
}

type Routes = Arc<Mutex<HashMap<String, mpsc::Sender<Routed>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Routes an [`AppServer`]'s events to running turns.
#[derive(Debug, Clone)]
pub struct Orchestrator {
    server: AppServer,
    routes: Routes,
}

impl Orchestrator {
    /// Take over `events` (the receiver `spawn`/`connect` returned). Returns the orchestrator
    /// and the receiver of every event not routed to a running turn — drain it.
    pub fn new(
        server: AppServer,
        mut events: mpsc::Receiver<AppServerEvent>,
    ) -> (Orchestrator, mpsc::Receiver<AppServerEvent>) {
        let routes: Routes = Arc::default();
        let (unrouted_tx, unrouted_rx) = mpsc::channel(ROUTE_QUEUE);
        let router_routes = routes.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                route(&router_routes, &unrouted_tx, event).await;
            }
        });
        (Orchestrator { server, routes }, unrouted_rx)
    }

    /// The client underneath.
    pub fn server(&self) -> &AppServer {
        &self.server
    }

    /// Start a turn and route its thread's requests and notifications to the returned
    /// [`TurnRun`]. One running turn per thread.
    pub async fn start_turn(&self, params: TurnStartParams) -> Result<TurnRun> {
        let thread_id = params.thread_id.clone();
        let (tx, rx) = mpsc::channel(ROUTE_QUEUE);
        {
            let mut routes = lock(&self.routes);
            if routes.get(&thread_id).is_some_and(|s| !s.is_closed()) {
                return Err(Error::InvalidInvocation(format!(
                    "thread {thread_id} already has a turn routed through this orchestrator"
                )));
            }
            // Routed BEFORE turn/start: its first events may overtake the response.
            routes.insert(thread_id.clone(), tx);
        }
        let started = match self.server.call::<TurnStart>(params).await {
            Ok(s) => s,
            Err(e) => {
                lock(&self.routes).remove(&thread_id);
                return Err(e);
            }
        };
        Ok(TurnRun {
            server: self.server.clone(),
            routes: self.routes.clone(),
            thread_id,
            turn_id: started.turn.id,
            rx,
            open: Arc::default(),
            items: Vec::new(),
            agent_text: String::new(),
            finished: None,
        })
    }

    /// Start a turn and drive it to its end, handing every server request to `handler`.
    /// The handler answers through the [`PendingRequest`]; dropping it unanswered declines.
    pub async fn run_turn<H, F>(&self, params: TurnStartParams, handler: H) -> Result<TurnOutcome>
    where
        H: FnMut(PendingRequest) -> F,
        F: Future<Output = ()>,
    {
        self.start_turn(params).await?.finish(handler).await
    }
}

async fn route(routes: &Routes, unrouted: &mpsc::Sender<AppServerEvent>, event: AppServerEvent) {
    let target = |thread: Option<&str>| {
        thread.and_then(|t| {
            let mut routes = lock(routes);
            match routes.get(t) {
                Some(tx) if tx.is_closed() => {
                    routes.remove(t);
                    None
                }
                Some(tx) => Some(tx.clone()),
                None => None,
            }
        })
    };
    match event {
        AppServerEvent::Request(request) => match target(request.thread_id()) {
            Some(tx) => {
                // A closed route hands the request back; dropping it declines it.
                let _ = tx.send(Routed::Request(PendingRequest::new(request))).await;
            }
            None => {
                let _ = unrouted.send(AppServerEvent::Request(request)).await;
            }
        },
        AppServerEvent::Notification(n) => match target(n.thread_id()) {
            Some(tx) => {
                if let Err(mpsc::error::SendError(Routed::Notification(n))) =
                    tx.send(Routed::Notification(n)).await
                {
                    let _ = unrouted.send(AppServerEvent::Notification(n)).await;
                }
            }
            None => {
                let _ = unrouted.send(AppServerEvent::Notification(n)).await;
            }
        },
        other => {
            let lost = match &other {
                AppServerEvent::Exited { status, .. } => {
                    Some(format!("app-server exited with status {status:?}"))
                }
                AppServerEvent::Closed { reason } => Some(reason.clone()),
                AppServerEvent::Disconnected { reason, .. } => {
                    Some(format!("disconnected: {reason}"))
                }
                _ => None,
            };
            if let Some(reason) = lost {
                let all: Vec<_> = lock(routes).values().cloned().collect();
                for tx in all {
                    let _ = tx.send(Routed::ConnectionLost(reason.clone())).await;
                }
            }
            let _ = unrouted.send(other).await;
        }
    }
}

/// How a routed turn ended.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    /// The turn as `turn/completed` reported it (status completed / interrupted / failed).
    pub turn: Turn,
    /// Every item completed during the turn, in order.
    pub items: Vec<ThreadItem>,
    /// The agent's message text(s), concatenated.
    pub agent_text: String,
}

/// What a running turn produced next.
#[derive(Debug)]
#[non_exhaustive]
pub enum TurnEvent {
    /// A server request of this turn's thread: answer it, or drop it to decline.
    Request(PendingRequest),
    /// A notification of this turn's thread.
    Notification(ServerNotification),
    /// `turn/completed` arrived: the last event.
    Completed(TurnOutcome),
}

/// A turn started through an [`Orchestrator`]. Dropping it declines the requests still open
/// and stops routing (later events of the thread go to the unrouted receiver).
#[derive(Debug)]
pub struct TurnRun {
    server: AppServer,
    routes: Routes,
    /// The thread.
    pub thread_id: String,
    /// The turn (from `turn/start`).
    pub turn_id: String,
    rx: mpsc::Receiver<Routed>,
    /// Responders of requests handed out and maybe not answered yet.
    open: Arc<Mutex<Vec<Responder>>>,
    items: Vec<ThreadItem>,
    agent_text: String,
    finished: Option<TurnOutcome>,
}

impl TurnRun {
    /// The next event of the turn; `None` after `Completed` (or when routing ended).
    pub async fn next(&mut self) -> Option<Result<TurnEvent>> {
        if self.finished.is_some() {
            return None;
        }
        match self.rx.recv().await? {
            Routed::Request(request) => {
                let mut open = lock(&self.open);
                open.retain(|r| !r.is_answered());
                open.push(request.responder.clone());
                Some(Ok(TurnEvent::Request(request)))
            }
            Routed::ConnectionLost(reason) => Some(Err(Error::Closed {
                reason: format!("turn {} lost its connection: {reason}", self.turn_id),
            })),
            Routed::Notification(n) => {
                match &n {
                    ServerNotification::ItemCompleted(i) => {
                        if let ThreadItem::AgentMessage { text, .. } = &i.item {
                            self.agent_text.push_str(text);
                        }
                        self.items.push(i.item.clone());
                    }
                    ServerNotification::TurnCompleted(c) if c.turn.id == self.turn_id => {
                        // Pending requests die with the turn on the server side.
                        lock(&self.open).clear();
                        let outcome = TurnOutcome {
                            turn: c.turn.clone(),
                            items: std::mem::take(&mut self.items),
                            agent_text: std::mem::take(&mut self.agent_text),
                        };
                        self.finished = Some(outcome.clone());
                        lock(&self.routes).remove(&self.thread_id);
                        return Some(Ok(TurnEvent::Completed(outcome)));
                    }
                    _ => {}
                }
                Some(Ok(TurnEvent::Notification(n)))
            }
        }
    }

    /// Drive the turn to its end, handing every request to `handler`.
    pub async fn finish<H, F>(mut self, mut handler: H) -> Result<TurnOutcome>
    where
        H: FnMut(PendingRequest) -> F,
        F: Future<Output = ()>,
    {
        loop {
            match self.next().await {
                Some(Ok(TurnEvent::Request(r))) => handler(r).await,
                Some(Ok(TurnEvent::Completed(outcome))) => return Ok(outcome),
                Some(Ok(TurnEvent::Notification(_))) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Error::Closed {
                        reason: format!(
                            "routing of turn {} ended before turn/completed",
                            self.turn_id
                        ),
                    });
                }
            }
        }
    }

    /// Cancel the turn: every request still open is answered with `cancel` (or refused), then
    /// `turn/interrupt` is sent. Keep calling [`TurnRun::next`] to see `Completed`
    /// (status `interrupted`).
    pub async fn cancel(&self) -> Result<()> {
        let open: Vec<Responder> = std::mem::take(&mut *lock(&self.open));
        for responder in open.into_iter().filter(|r| !r.is_answered()) {
            let _ = refuse(&responder, Refusal::Cancel).await;
        }
        self.server
            .call_timeout::<TurnInterrupt>(
                TurnInterruptParams {
                    thread_id: self.thread_id.clone(),
                    turn_id: self.turn_id.clone(),
                },
                Duration::from_secs(10),
            )
            .await
            .map(|_| ())
    }
}

impl Drop for TurnRun {
    fn drop(&mut self) {
        if self.finished.is_none() {
            lock(&self.routes).remove(&self.thread_id);
            let open: Vec<Responder> = std::mem::take(&mut *lock(&self.open));
            spawn_refusals(open, Refusal::Decline);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Decline,
    Cancel,
}

fn spawn_refusals(responders: Vec<Responder>, how: Refusal) {
    let responders: Vec<Responder> = responders
        .into_iter()
        .filter(|r| !r.is_answered())
        .collect();
    if responders.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(
            count = responders.len(),
            "no runtime to decline open app-server requests; they die with the turn"
        );
        return;
    };
    runtime.spawn(async move {
        for r in responders {
            let _ = refuse(&r, how).await;
        }
    });
}

/// The method's own refusal (never an acceptance).
async fn refuse(responder: &Responder, how: Refusal) -> Result<()> {
    let cancel = how == Refusal::Cancel;
    match responder.method() {
        "item/commandExecution/requestApproval" => {
            responder
                .respond_command_approval(if cancel {
                    CommandApprovalDecision::Cancel
                } else {
                    CommandApprovalDecision::Decline
                })
                .await
        }
        "item/fileChange/requestApproval" => {
            responder
                .respond_file_change_approval(if cancel {
                    FileChangeApprovalDecision::Cancel
                } else {
                    FileChangeApprovalDecision::Decline
                })
                .await
        }
        // Grant nothing.
        "item/permissions/requestApproval" => responder.respond(json!({"permissions": {}})).await,
        "item/tool/requestUserInput" => responder.respond(json!({"answers": {}})).await,
        "mcpServer/elicitation/request" => {
            responder
                .respond(json!({"action": if cancel { "cancel" } else { "decline" }}))
                .await
        }
        "item/tool/call" => {
            responder
                .respond(json!({
                    "contentItems": [{"type": "inputText", "text": "declined by the client"}],
                    "success": false,
                }))
                .await
        }
        _ => {
            responder
                .respond_error(-32000, "declined by the client")
                .await
        }
    }
}

/// A server request handed to a handler. Answer it with one of the methods; dropping it
/// unanswered DECLINES it.
#[derive(Debug)]
pub struct PendingRequest {
    /// The request (method, typed params, raw params).
    pub request: ServerRequest,
    responder: Responder,
}

impl PendingRequest {
    fn new(request: ServerRequest) -> Self {
        PendingRequest {
            responder: request.responder(),
            request,
        }
    }

    /// Accept an approval (`accept` for command and file-change approvals). Other methods
    /// need a specific answer: use [`PendingRequest::respond`].
    pub async fn accept(self) -> Result<()> {
        match self.request.method.as_str() {
            "item/commandExecution/requestApproval" => {
                self.responder
                    .respond_command_approval(CommandApprovalDecision::Accept)
                    .await
            }
            "item/fileChange/requestApproval" => {
                self.responder
                    .respond_file_change_approval(FileChangeApprovalDecision::Accept)
                    .await
            }
            other => Err(Error::InvalidInvocation(format!(
                "{other} has no plain accept; answer it with respond()"
            ))),
        }
    }

    /// Decline (the method's own refusal).
    pub async fn decline(self) -> Result<()> {
        refuse(&self.responder, Refusal::Decline).await
    }

    /// Answer with a raw JSON-RPC result.
    pub async fn respond(self, result: Value) -> Result<()> {
        self.responder.respond(result).await
    }

    /// A responder for answering later from elsewhere (e.g. a UI). Holding it does not keep
    /// the request open: when this `PendingRequest` is dropped unanswered, it is declined.
    pub fn responder(&self) -> Responder {
        self.responder.clone()
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        if !self.responder.is_answered() {
            spawn_refusals(vec![self.responder.clone()], Refusal::Decline);
        }
    }
}
