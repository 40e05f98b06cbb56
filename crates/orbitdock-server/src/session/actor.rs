//! The actor loop and its commit machinery.
//!
//! Why an actor: everything that changes a session (a person's command, an agent event, an
//! approval answer) is applied by one task in arrival order, so there are no locks around session
//! state and revisions are trivially monotonic. Each change is accumulated in an [`Outbox`]
//! (persistence ops + deltas) and handed to the single writer, which publishes the deltas after
//! the transaction holding them committed.
//!
//! Agent round trips run as tasks in [`Actor::ops`]; their results come back as closures applied
//! on the loop (see [`Actor::spawn_op`]). Commands that need the agent's thread in a known state
//! (start, send, end, resume, take over) go through a one-at-a-time lane so they never overlap;
//! reads, events, approvals and interrupts are served while a lane op is in flight.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use orbitdock_protocol::{
    ListDelta, ServerMessage, SessionDelta, SessionState, SessionStatus, SessionSummary,
    TranscriptItem,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::approvals::PendingEntry;
use super::handle::{Cmd, Msg, SessionHandle};
use super::now_ms;
use crate::connector::Connector;
use crate::error::{Error, Result};
use crate::hub::{Published, SessionHub};
use crate::store::{Command, PersistOp, Publication, SessionExtra, Store};

/// Capacity of an actor's mailbox.
const MAILBOX: usize = 4_096;
/// Longest agent round trip the core waits for (codex-client has its own, shorter, per-request
/// timeouts; this one also bounds chains such as resume + start turn).
pub const AGENT_CALL: Duration = Duration::from_secs(120);
/// At most this many deltas are published without going through the writer, whose commits
/// record the session's revision; a session restored after a crash starts its revisions
/// [`REVISION_GAP`] higher, so no revision a client saw is ever reused.
const DIRECT_DELTAS_MAX: u64 = 256;
/// See [`DIRECT_DELTAS_MAX`].
pub const REVISION_GAP: u64 = 4 * DIRECT_DELTAS_MAX;
/// Turn ids remembered after their end, so a late "turn started" (an agent answer that arrives
/// after the turn's own end event) cannot reopen a finished turn.
const ENDED_TURNS: usize = 32;

/// Things every actor shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub connectors: crate::registry::Connectors,
    /// `(connector, thread id)` -> session id, for routing agent events.
    pub threads: super::thread_routes::ThreadRoutes,
    /// Deltas worth a notification (see [`crate::notify`]); nobody listening is fine.
    pub notices: tokio::sync::broadcast::Sender<crate::notify::SessionNotice>,
}

/// The state an actor starts from.
#[derive(Debug)]
pub(crate) struct ActorInit {
    pub summary: SessionSummary,
    pub extra: SessionExtra,
    pub recent: Vec<TranscriptItem>,
}

/// A finished agent round trip, applied on the loop.
pub(crate) type OpDone = Box<dyn FnOnce(&mut Actor) -> Option<AfterCommit> + Send>;
/// A reply to send once the changes it reports are persisted and published.
pub(crate) type AfterCommit = Box<dyn FnOnce(&Actor) + Send>;

/// Changes accumulated since the last commit.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub ops: Vec<PersistOp>,
    pub publish: Vec<Publication>,
    /// The summary changed: publish it (session + list) and rewrite the row.
    pub summary_dirty: bool,
    /// The row (summary or extra) changed: rewrite it.
    pub row_dirty: bool,
    /// The source's own time of these changes ([`crate::session::SessionEvent::ActivityAt`]);
    /// the summary's last activity when set, now otherwise.
    pub activity_at: Option<i64>,
}

pub(crate) struct Actor {
    pub shared: Arc<Shared>,
    /// The actor's own mailbox, for ops off the loop that must queue messages ahead of later
    /// ones (weak: the actor stops when its last handle goes).
    pub mailbox: mpsc::WeakSender<Msg>,
    pub hub: Arc<SessionHub>,
    pub summary: SessionSummary,
    pub extra: SessionExtra,
    pub pending: Vec<PendingEntry>,
    /// (turn id, item id) -> seq, for upserts and deltas.
    pub item_seqs: HashMap<(String, String), u64>,
    pub recent: VecDeque<TranscriptItem>,
    /// The connector generation our thread is loaded in.
    pub attached_generation: Option<u64>,
    pub out: Outbox,
    /// Agent round trips in flight (aborted when the actor stops).
    pub ops: JoinSet<OpDone>,
    /// A lane command is in flight; further lane commands wait in `queued`.
    pub lane_busy: bool,
    pub queued: VecDeque<Cmd>,
    /// Messages the agent would not add to a turn that is ending: sent as new turns once the
    /// turn's end arrives.
    pub after_turn: VecDeque<Cmd>,
    pub ended_turns: VecDeque<String>,
    /// The running review's turn. Codex runs a review as a child agent whose own turn is
    /// reported on this thread too; it must not replace the review's turn, whose end is what
    /// ends the work here.
    pub review_turn: Option<String>,
    /// Commands of this session queued in the writer and not yet published.
    pub in_flight: Arc<AtomicUsize>,
    /// Deltas published directly since the last commit through the writer.
    pub direct_since_commit: u64,
    /// The session's host cannot be reached now (why): its status shows it until it is back.
    pub host_down: Option<String>,
    /// Dropped with the actor: tells handles the task has ended.
    _alive: tokio::sync::watch::Sender<()>,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("session", &self.summary.id)
            .finish_non_exhaustive()
    }
}

/// Spawns an actor.
pub(crate) fn spawn(shared: Arc<Shared>, init: ActorInit, hub: Arc<SessionHub>) -> SessionHandle {
    let (tx, rx) = mpsc::channel(MAILBOX);
    let (alive, alive_rx) = tokio::sync::watch::channel(());
    let id = init.summary.id.clone();
    let mut item_seqs = HashMap::new();
    for it in &init.recent {
        item_seqs.insert(
            (it.turn_id.clone().unwrap_or_default(), it.id.clone()),
            it.seq,
        );
    }
    let host_down = (init.summary.status == SessionStatus::HostUnreachable)
        .then(|| "the host was unreachable".to_owned());
    let actor = Actor {
        host_down,
        shared,
        mailbox: tx.downgrade(),
        hub: hub.clone(),
        summary: init.summary,
        extra: init.extra,
        pending: Vec::new(),
        item_seqs,
        recent: init.recent.into_iter().collect(),
        attached_generation: None,
        out: Outbox::default(),
        ops: JoinSet::new(),
        lane_busy: false,
        queued: VecDeque::new(),
        after_turn: VecDeque::new(),
        ended_turns: VecDeque::new(),
        review_turn: None,
        in_flight: Arc::new(AtomicUsize::new(0)),
        direct_since_commit: 0,
        _alive: alive,
    };
    tokio::spawn(actor.run(rx));
    SessionHandle {
        id,
        tx,
        hub,
        alive: alive_rx,
    }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        loop {
            let after = tokio::select! {
                msg = rx.recv() => match msg {
                    None => break,
                    Some(Msg::Cmd(Cmd::Shutdown(reply))) => {
                        self.shutdown();
                        self.commit_and_wait().await;
                        let _ = reply.send(());
                        break;
                    }
                    Some(Msg::Cmd(Cmd::Release(reply))) => {
                        if rx.is_empty() && self.idle() {
                            self.commit(None).await;
                            let _ = reply.send(true);
                            break;
                        }
                        let _ = reply.send(false);
                        None
                    }
                    Some(msg) => self.on_msg(msg).await,
                },
                Some(done) = self.ops.join_next(), if !self.ops.is_empty() => match done {
                    Ok(done) => done(&mut self),
                    Err(e) => {
                        // A panicking op loses its reply (the caller gets `Closed`); the lane
                        // must not stay blocked because of it.
                        tracing::error!(session = %self.summary.id, error = %e, "agent op failed");
                        self.lane_done();
                        None
                    }
                },
            };
            match after {
                Some(reply) => {
                    self.commit_and_wait().await;
                    reply(&self);
                }
                None => self.commit(None).await,
            }
            self.run_queued().await;
        }
        // In-flight agent calls are dropped with the actor (their replies answer `Closed`).
        self.ops.abort_all();
    }

    async fn on_msg(&mut self, msg: Msg) -> Option<AfterCommit> {
        match msg {
            Msg::Cmd(cmd) => self.on_cmd(cmd),
            Msg::Events {
                events,
                ack,
                committed,
                ops,
            } => {
                for e in events {
                    self.ingest(e);
                }
                // After the events' own ops: one command, one transaction.
                self.out.ops.extend(ops);
                match (ack, committed) {
                    (Some(ack), true) => Some(Box::new(move |_: &Actor| {
                        let _ = ack.send(());
                    })),
                    (Some(ack), false) => {
                        self.commit(None).await;
                        let _ = ack.send(());
                        None
                    }
                    (None, _) => None,
                }
            }
            Msg::Approval(req) => {
                self.on_approval_request(*req);
                None
            }
            Msg::AgentGone(detail) => {
                self.agent_gone(&detail);
                None
            }
            Msg::HostUnreachable(detail) => {
                self.host_unreachable(detail);
                None
            }
            Msg::HostReachable(not_resumed) => {
                self.host_reachable(&not_resumed);
                None
            }
        }
    }

    /// Nothing to wait for and nobody watching: the database holds everything (once the
    /// outbox is committed), so the actor can go and be loaded again when needed.
    fn idle(&self) -> bool {
        self.pending.is_empty()
            && self.ops.is_empty()
            && !self.lane_busy
            && self.queued.is_empty()
            && self.after_turn.is_empty()
            && self.extra.current_turn.is_none()
            && self.attached_generation.is_none()
            && self.hub.subscriber_count() == 0
    }

    /// Lane commands queued behind an op that has finished since.
    async fn run_queued(&mut self) {
        if self.extra.current_turn.is_none() {
            // Messages waiting for a turn's end go first: they were sent before anything queued.
            while let Some(cmd) = self.after_turn.pop_back() {
                self.queued.push_front(cmd);
            }
        }
        while !self.lane_busy {
            let Some(cmd) = self.queued.pop_front() else {
                return;
            };
            match self.on_cmd(cmd) {
                Some(reply) => {
                    self.commit_and_wait().await;
                    reply(self);
                }
                None => self.commit(None).await,
            }
        }
    }

    /// Runs an agent round trip off the loop; `fut` resolves to the closure applying its result.
    /// Bounded by [`AGENT_CALL`] through [`bounded`] inside the futures themselves.
    pub(crate) fn spawn_op(&mut self, fut: impl Future<Output = OpDone> + Send + 'static) {
        self.ops.spawn(fut);
    }

    /// Marks the lane free (called by every lane op's completion).
    pub(crate) fn lane_done(&mut self) {
        self.lane_busy = false;
    }

    /// The connector this session's agent runs on.
    pub(crate) fn connector(&self) -> Arc<dyn Connector> {
        self.shared.connectors.for_summary(&self.summary)
    }

    // ----- change tracking ---------------------------------------------------------------

    /// Records one delta at the next revision.
    pub(crate) fn delta(&mut self, delta: SessionDelta) {
        self.summary.revision += 1;
        let revision = self.summary.revision;
        if let Some(n) = crate::notify::SessionNotice::from_delta(&self.summary.id, &delta) {
            let _ = self.shared.notices.send(n);
        }
        let published = Published::new(
            revision,
            &ServerMessage::SessionDelta {
                session_id: self.summary.id.clone(),
                revision,
                delta,
            },
        );
        self.out.publish.push(Publication::Session {
            session_id: self.summary.id.clone(),
            hub: self.hub.clone(),
            published,
        });
    }

    /// Sends everything accumulated to the writer; `done` is told after commit.
    pub(crate) async fn commit(
        &mut self,
        done: Option<oneshot::Sender<std::result::Result<(), String>>>,
    ) {
        let activity_at = self.out.activity_at.take();
        if self.out.summary_dirty {
            self.out.summary_dirty = false;
            self.out.row_dirty = true;
            self.summary.updated_at = activity_at.unwrap_or_else(now_ms);
            self.summary.pending_approval_count = self.pending.len() as u32;
            let mut s = self.summary.clone();
            // The summary delta itself takes the next revision.
            s.revision += 1;
            self.delta(SessionDelta::Summary { summary: s });
            self.out
                .publish
                .push(Publication::List(Box::new(ListDelta::Upsert {
                    summary: self.summary.clone(),
                })));
        }
        if self.out.row_dirty {
            self.out.row_dirty = false;
            self.out.ops.push(PersistOp::UpsertSession {
                summary: Box::new(self.summary.clone()),
                extra: Box::new(self.extra.clone()),
            });
        }
        if self.out.ops.is_empty() && self.out.publish.is_empty() && done.is_none() {
            return;
        }
        // Streamed text is not persisted per delta (the item is, at its next upsert), so when
        // nothing else changed and nothing of ours is still in the writer, its deltas can be
        // published at once: same order, one fewer hop than through the writer thread.
        if self.out.ops.is_empty()
            && done.is_none()
            && self.direct_since_commit < DIRECT_DELTAS_MAX
            && self.in_flight.load(Ordering::SeqCst) == 0
            && self
                .out
                .publish
                .iter()
                .all(|p| matches!(p, Publication::Session { .. }))
        {
            self.direct_since_commit += self.out.publish.len() as u64;
            for p in self.out.publish.drain(..) {
                if let Publication::Session { hub, published, .. } = p {
                    hub.publish(published);
                }
            }
            return;
        }
        // Through the writer: the batch also records the session's latest revision.
        self.direct_since_commit = 0;
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let cmd = Command {
            ops: std::mem::take(&mut self.out.ops),
            publish: std::mem::take(&mut self.out.publish),
            done,
            in_flight: Some(self.in_flight.clone()),
        };
        if let Err(e) = self.shared.store.submit(cmd).await {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            tracing::error!(session = %self.summary.id, error = %e, "could not queue persistence");
        }
    }

    /// Commits and waits until persisted and published.
    pub(crate) async fn commit_and_wait(&mut self) {
        let (tx, rx) = oneshot::channel();
        self.commit(Some(tx)).await;
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(session = %self.summary.id, error = %e, "persist failed"),
            Err(_) => tracing::error!(session = %self.summary.id, "writer gone"),
        }
    }

    /// Derives the status of a direct session from what is pending and running.
    pub(crate) fn set_status(&mut self) {
        use orbitdock_protocol::ApprovalKind;
        let status = if matches!(
            self.summary.status,
            SessionStatus::Ended | SessionStatus::Failed
        ) {
            self.summary.status
        } else if self.host_down.is_some() {
            SessionStatus::HostUnreachable
        } else if self.pending.iter().any(|p| {
            matches!(
                p.approval.kind,
                ApprovalKind::Question | ApprovalKind::Elicitation
            )
        }) {
            SessionStatus::NeedsAnswer
        } else if !self.pending.is_empty() {
            SessionStatus::NeedsApproval
        } else if self.extra.current_turn.is_some() {
            SessionStatus::Working
        } else {
            SessionStatus::Waiting
        };
        if status != self.summary.status
            || self.summary.pending_approval_count as usize != self.pending.len()
        {
            self.summary.status = status;
            self.out.summary_dirty = true;
        }
    }

    pub(crate) fn state(&self) -> SessionState {
        let mut summary = self.summary.clone();
        summary.pending_approval_count = self.pending.len() as u32;
        SessionState {
            summary,
            pending_approvals: self.pending.iter().map(|p| p.approval.clone()).collect(),
            current_turn: self.extra.current_turn.clone(),
            plan: self.extra.plan.clone(),
            diff: self.extra.diff.clone(),
            rate_limits: self.extra.rate_limits.clone(),
            last_seq: self.extra.last_seq,
            item_count: self.extra.item_count,
            attached: self.is_attached(),
        }
    }

    pub(crate) fn is_attached(&self) -> bool {
        self.attached_generation.is_some()
            && self.attached_generation == Some(self.connector().generation())
    }

    pub(crate) fn remember_ended(&mut self, turn_id: &str) {
        if self.ended_turns.len() == ENDED_TURNS {
            self.ended_turns.pop_front();
        }
        self.ended_turns.push_back(turn_id.to_owned());
    }
}

/// Runs an agent call with the core's timeout, turning an expiry into a clear error.
pub(crate) async fn bounded<T>(what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(AGENT_CALL, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            what: what.to_owned(),
            after: AGENT_CALL,
        }),
    }
}
