//! [`SessionHandle`]: the API of a session actor. Cheap to clone; every call is a message on the
//! actor's bounded mailbox with a oneshot reply, and every wait is bounded: a full mailbox
//! answers [`Error::Busy`] after [`MAILBOX_WAIT`], a reply that does not come answers
//! [`Error::Timeout`] after [`REPLY_WAIT`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orbitdock_protocol::{
    ApprovalDecision, ConfigPatch, RevertRequest, ReviewTarget, SendMessageRequest,
    SendMessageResponse, SessionState, TranscriptItem,
};
use tokio::sync::{mpsc, oneshot};

use super::{ApprovalRequest, SessionEvent};
use crate::connector::HistoryTurn;
use crate::error::{Error, Result};
use crate::hub::SessionHub;
use crate::store::PersistOp;

/// How long a command may wait for room in a full mailbox before we answer "busy".
pub const MAILBOX_WAIT: Duration = Duration::from_secs(2);
/// Longest wait for an actor's reply. Agent calls are bounded by [`super::actor::AGENT_CALL`],
/// so a reply later than this means the actor itself is stuck.
pub const REPLY_WAIT: Duration = Duration::from_secs(150);

/// Commands from the API.
#[derive(Debug)]
pub(crate) enum Cmd {
    Snapshot(oneshot::Sender<(SessionState, Vec<TranscriptItem>)>),
    Start {
        prompt: Option<String>,
        reply: oneshot::Sender<Result<SessionState>>,
    },
    Send(
        SendMessageRequest,
        oneshot::Sender<Result<SendMessageResponse>>,
    ),
    Interrupt(oneshot::Sender<Result<()>>),
    End(oneshot::Sender<Result<SessionState>>),
    Resume(oneshot::Sender<Result<SessionState>>),
    Takeover(oneshot::Sender<Result<SessionState>>),
    Rename(String, oneshot::Sender<Result<SessionState>>),
    SetArchived(bool, oneshot::Sender<Result<SessionState>>),
    Compact(oneshot::Sender<Result<SessionState>>),
    Revert(RevertRequest, oneshot::Sender<Result<SessionState>>),
    Review(ReviewTarget, oneshot::Sender<Result<SessionState>>),
    /// Take a thread the agent just forked (loaded under `generation`) with its history.
    Adopt {
        generation: u64,
        history: Vec<HistoryTurn>,
        reply: oneshot::Sender<Result<SessionState>>,
    },
    Config(ConfigPatch, oneshot::Sender<Result<SessionState>>),
    Approve {
        request_id: String,
        decision: ApprovalDecision,
        answers: Option<BTreeMap<String, Vec<String>>>,
        message: Option<String>,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Stop: close the running turn as interrupted (its streamed text persisted), mark pending
    /// approvals as gone with the agent, commit, and exit the loop.
    Shutdown(oneshot::Sender<()>),
    /// Exit if there is nothing in memory the database does not have and nothing to wait for
    /// (no one watching, no turn, no approval, no agent call, no queued message): answers
    /// whether it exits. The session's next user loads it again from the database.
    Release(oneshot::Sender<bool>),
}

/// Everything an actor's mailbox carries.
#[derive(Debug)]
pub(crate) enum Msg {
    Cmd(Cmd),
    /// Neutral events, from the agent's connector or a passive source. `ack` is told once they
    /// are queued for persistence, or (with `committed`) once persisted and published.
    Events {
        events: Vec<SessionEvent>,
        ack: Option<oneshot::Sender<()>>,
        committed: bool,
        /// Writes that must commit in the same transaction as these events' changes (a passive
        /// source's checkpoint).
        ops: Vec<PersistOp>,
    },
    /// A request waiting for a person.
    Approval(Box<ApprovalRequest>),
    /// The agent process went away.
    AgentGone(String),
    /// The session's host cannot be reached (why).
    HostUnreachable(String),
    /// The session's host is back; these threads could not be resumed (id, why).
    HostReachable(Vec<(String, String)>),
}

/// Handle to a session actor.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub(crate) id: String,
    pub(crate) tx: mpsc::Sender<Msg>,
    pub(crate) hub: Arc<SessionHub>,
    /// Closed (its sender dropped) when the actor's task has ended, every change it made
    /// queued for the writer by then.
    pub(crate) alive: tokio::sync::watch::Receiver<()>,
}

impl SessionHandle {
    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session's fan-out hub.
    pub fn hub(&self) -> &Arc<SessionHub> {
        &self.hub
    }

    /// Queues a message, waiting at most [`MAILBOX_WAIT`] for room.
    pub(crate) async fn deliver(&self, msg: Msg) -> Result<()> {
        let msg = match self.tx.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(Error::Closed(format!("session {}", self.id)));
            }
            Err(mpsc::error::TrySendError::Full(msg)) => msg,
        };
        match tokio::time::timeout(MAILBOX_WAIT, self.tx.send(msg)).await {
            Err(_) => Err(Error::Busy(format!(
                "session {} is overloaded (its mailbox stayed full for {MAILBOX_WAIT:?})",
                self.id
            ))),
            Ok(Err(_)) => Err(Error::Closed(format!("session {}", self.id))),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn cmd<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.deliver(Msg::Cmd(make(tx))).await?;
        match tokio::time::timeout(REPLY_WAIT, rx).await {
            Err(_) => Err(Error::Timeout {
                what: format!("session {}", self.id),
                after: REPLY_WAIT,
            }),
            Ok(Err(_)) => Err(Error::Closed(format!("session {}", self.id))),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Full state plus the last items, consistent with each other (at `state.summary.revision`).
    pub async fn snapshot(&self) -> Result<(SessionState, Vec<TranscriptItem>)> {
        self.cmd(Cmd::Snapshot).await
    }

    /// Full state.
    pub async fn state(&self) -> Result<SessionState> {
        Ok(self.snapshot().await?.0)
    }

    pub(crate) async fn start(&self, prompt: Option<String>) -> Result<SessionState> {
        self.cmd(|reply| Cmd::Start { prompt, reply }).await?
    }

    /// Sends a user message (starting a turn).
    pub async fn send(&self, req: SendMessageRequest) -> Result<SendMessageResponse> {
        self.cmd(|r| Cmd::Send(req, r)).await?
    }

    /// Interrupts the running turn.
    pub async fn interrupt(&self) -> Result<()> {
        self.cmd(Cmd::Interrupt).await?
    }

    /// Ends the session.
    pub async fn end(&self) -> Result<SessionState> {
        self.cmd(Cmd::End).await?
    }

    /// Resumes an ended or detached session.
    pub async fn resume(&self) -> Result<SessionState> {
        self.cmd(Cmd::Resume).await?
    }

    /// Takes over an idle passive Codex session: resumes its thread through the agent and makes
    /// it direct. A [`Error::Conflict`] says why it cannot (not passive Codex, working, or active
    /// within the last [`super::TAKEOVER_QUIET_MS`]).
    pub async fn takeover(&self) -> Result<SessionState> {
        self.cmd(Cmd::Takeover).await?
    }

    /// Renames.
    pub async fn rename(&self, name: String) -> Result<SessionState> {
        self.cmd(|r| Cmd::Rename(name, r)).await?
    }

    /// Archives or unarchives the session (and its agent thread, for direct sessions).
    pub async fn set_archived(&self, archived: bool) -> Result<SessionState> {
        self.cmd(|r| Cmd::SetArchived(archived, r)).await?
    }

    /// Starts compacting the thread's history (resuming the thread first when needed).
    pub async fn compact(&self) -> Result<SessionState> {
        self.cmd(Cmd::Compact).await?
    }

    /// Drops turns from the thread's history and rebuilds the transcript from what the agent
    /// keeps.
    pub async fn revert(&self, req: RevertRequest) -> Result<SessionState> {
        self.cmd(|r| Cmd::Revert(req, r)).await?
    }

    /// Starts a review in this session's thread (a turn of its own).
    pub async fn review(&self, target: ReviewTarget) -> Result<SessionState> {
        self.cmd(|r| Cmd::Review(target, r)).await?
    }

    /// Binds a freshly forked thread's history to this (new) session.
    pub(crate) async fn adopt(
        &self,
        generation: u64,
        history: Vec<HistoryTurn>,
    ) -> Result<SessionState> {
        self.cmd(|reply| Cmd::Adopt {
            generation,
            history,
            reply,
        })
        .await?
    }

    /// Changes config for the next turns.
    pub async fn configure(&self, patch: ConfigPatch) -> Result<SessionState> {
        self.cmd(|r| Cmd::Config(patch, r)).await?
    }

    /// Answers an approval.
    pub async fn approve(
        &self,
        request_id: String,
        decision: ApprovalDecision,
        answers: Option<BTreeMap<String, Vec<String>>>,
        message: Option<String>,
    ) -> Result<()> {
        self.cmd(|reply| Cmd::Approve {
            request_id,
            decision,
            answers,
            message,
            reply,
        })
        .await?
    }

    /// Puts a request in front of a person (passive sources whose agent asks outside any
    /// connector, e.g. a Codex PermissionRequest hook). Returns once queued.
    pub async fn approval_request(&self, req: super::ApprovalRequest) -> Result<()> {
        self.deliver(Msg::Approval(Box::new(req))).await
    }

    /// Applies neutral events; returns once they are queued for persistence.
    pub async fn ingest(&self, events: Vec<SessionEvent>) -> Result<()> {
        self.events(events, false).await
    }

    /// Applies neutral events; returns once they are persisted and published (so a caller
    /// reading the list next sees them).
    pub async fn ingest_committed(&self, events: Vec<SessionEvent>) -> Result<()> {
        self.events(events, true).await
    }

    /// Applies neutral events and commits `ops` in the same transaction as the changes they
    /// make (a passive source's read checkpoint: a crash keeps both or neither, so a restart
    /// neither repeats nor loses what was read). Returns once queued for persistence, in
    /// order with everything else the caller queues in the store afterwards.
    pub async fn ingest_with_ops(
        &self,
        events: Vec<SessionEvent>,
        ops: Vec<PersistOp>,
    ) -> Result<()> {
        self.events_with(events, false, ops).await
    }

    async fn events(&self, events: Vec<SessionEvent>, committed: bool) -> Result<()> {
        self.events_with(events, committed, Vec::new()).await
    }

    async fn events_with(
        &self,
        events: Vec<SessionEvent>,
        committed: bool,
        ops: Vec<PersistOp>,
    ) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.deliver(Msg::Events {
            events,
            ack: Some(tx),
            committed,
            ops,
        })
        .await?;
        match tokio::time::timeout(REPLY_WAIT, rx).await {
            Err(_) => Err(Error::Timeout {
                what: format!("session {}", self.id),
                after: REPLY_WAIT,
            }),
            Ok(Err(_)) => Err(Error::Closed(format!("session {}", self.id))),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Asks an idle actor to exit (see `Cmd::Release`); answers whether it did.
    pub(crate) async fn release(&self) -> Result<bool> {
        self.cmd(Cmd::Release).await
    }

    /// Whether the actor no longer takes messages (released or stopped).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Returns once the actor's task has ended.
    pub(crate) async fn stopped(&self) {
        let mut alive = self.alive.clone();
        while alive.changed().await.is_ok() {}
    }

    /// Stops the actor (see `Cmd::Shutdown`); returns once it has committed its last changes.
    pub(crate) async fn shutdown(&self) {
        if let Ok(()) = self.cmd(Cmd::Shutdown).await {}
    }
}
