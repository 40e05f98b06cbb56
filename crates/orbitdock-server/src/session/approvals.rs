//! Pending approvals: requests that wait for a person, versioned, never answered by the server on
//! its own.
//!
//! A request arrives as a neutral [`ApprovalRequest`] with its reply handle; it gets the next
//! version and a row in the approvals table. It ends exactly once: decided by a person
//! ([`Actor::approve`]), withdrawn by the agent, dropped with its turn, or gone with the agent
//! process — each recorded with its resolution. A re-sent request with the same id replaces the
//! reply handle and keeps its version (clients see no duplicate).

use std::collections::BTreeMap;
use std::sync::Arc;

use orbitdock_protocol::{
    ApprovalDecision, ApprovalKind, ApprovalResolution, FileChange, ItemBody, PendingApproval,
    SessionDelta,
};

use super::actor::{Actor, AfterCommit, OpDone, bounded};
use super::{ApprovalAnswer, ApprovalReply, ApprovalRequest, now_ms};
use crate::error::{Error, Result};
use crate::store::PersistOp;

/// A pending approval and how to answer it.
#[derive(Debug)]
pub(crate) struct PendingEntry {
    pub approval: PendingApproval,
    /// `None` after a restart: the agent that asked is gone.
    pub reply: Option<Arc<dyn ApprovalReply>>,
    /// An answer is on its way to the agent; a second answer is refused.
    pub answering: bool,
}

impl Actor {
    pub(crate) fn on_approval_request(&mut self, req: ApprovalRequest) {
        // A re-sent request with the same id replaces the old one (keeps its version).
        if let Some(existing) = self
            .pending
            .iter_mut()
            .find(|p| p.approval.request_id == req.request_id)
        {
            existing.reply = Some(req.reply);
            existing.answering = false;
            return;
        }
        let changes = match (req.kind, req.changes) {
            (ApprovalKind::FileChange, None) => Some(
                req.item_id
                    .as_deref()
                    .and_then(|id| self.find_changes(id))
                    .unwrap_or_default(),
            ),
            (_, c) => c,
        };
        self.extra.approval_version += 1;
        self.out.row_dirty = true;
        let approval = PendingApproval {
            request_id: req.request_id,
            kind: req.kind,
            version: self.extra.approval_version,
            item_id: req.item_id,
            turn_id: req.turn_id,
            command: req.command,
            cwd: req.cwd,
            reason: req.reason,
            changes,
            question: req.question,
            questions: req.questions,
            raw: req.raw,
            created_at: now_ms(),
        };
        self.out.ops.push(PersistOp::InsertApproval {
            session_id: self.summary.id.clone(),
            approval: Box::new(approval.clone()),
        });
        self.delta(SessionDelta::ApprovalRequested {
            approval: approval.clone(),
        });
        self.pending.push(PendingEntry {
            approval,
            reply: Some(req.reply),
            answering: false,
        });
        self.set_status();
    }

    fn find_changes(&self, item_id: &str) -> Option<Vec<FileChange>> {
        self.recent.iter().rev().find_map(|i| match &i.body {
            ItemBody::FileChange { changes } if i.id == item_id => Some(changes.clone()),
            _ => None,
        })
    }

    /// Removes a pending approval and records how it ended.
    pub(crate) fn resolve(
        &mut self,
        version: u64,
        resolution: ApprovalResolution,
        decision: Option<ApprovalDecision>,
    ) {
        let Some(pos) = self
            .pending
            .iter()
            .position(|p| p.approval.version == version)
        else {
            return;
        };
        let entry = self.pending.remove(pos);
        self.out.ops.push(PersistOp::ResolveApproval {
            session_id: self.summary.id.clone(),
            version,
            resolution,
            decision,
            resolved_at: now_ms(),
        });
        self.delta(SessionDelta::ApprovalResolved {
            request_id: entry.approval.request_id,
            version,
            resolution,
            decision,
        });
        self.set_status();
    }

    /// The agent withdrew a request (answered in another client, or no longer needed).
    ///
    /// An agent also reports a request resolved right after it took OUR answer, which can reach
    /// the loop before the answering task's own completion: a request being answered is left to
    /// that completion, so it is recorded as decided, not withdrawn.
    pub(crate) fn withdraw(&mut self, request_id: &str) {
        if let Some(v) = self
            .pending
            .iter()
            .find(|p| p.approval.request_id == request_id && !p.answering)
            .map(|p| p.approval.version)
        {
            self.resolve(v, ApprovalResolution::Withdrawn, None);
        }
    }

    /// Requests of a turn die with it (and those without a turn with any turn's end).
    pub(crate) fn withdraw_turn(&mut self, turn_id: &str) {
        let stale: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| p.approval.turn_id.as_deref().is_none_or(|t| t == turn_id))
            .map(|p| p.approval.version)
            .collect();
        for v in stale {
            self.resolve(v, ApprovalResolution::TurnEnded, None);
        }
    }

    /// Every pending approval is gone with the agent process.
    pub(crate) fn drop_all_pending(&mut self, resolution: ApprovalResolution) {
        let versions: Vec<u64> = self.pending.iter().map(|p| p.approval.version).collect();
        for v in versions {
            self.resolve(v, resolution, None);
        }
    }

    /// A person's answer: sent to the agent off the loop; the approval is resolved when the
    /// agent took it (or recorded as gone when it could not).
    pub(crate) fn approve(
        &mut self,
        request_id: String,
        decision: ApprovalDecision,
        answers: Option<BTreeMap<String, Vec<String>>>,
        message: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<()>>,
    ) -> Option<AfterCommit> {
        let session_id = self.summary.id.clone();
        let Some(entry) = self
            .pending
            .iter_mut()
            .find(|p| p.approval.request_id == request_id)
        else {
            let _ = reply.send(Err(Error::ApprovalNotFound {
                session_id,
                request_id,
            }));
            return None;
        };
        if entry.answering {
            let _ = reply.send(Err(Error::Conflict(format!(
                "approval {request_id} is already being answered"
            ))));
            return None;
        }
        let version = entry.approval.version;
        let Some(agent) = entry.reply.clone() else {
            self.resolve(version, ApprovalResolution::AgentGone, None);
            return Some(Box::new(move |_: &Actor| {
                let _ = reply.send(Err(Error::Conflict("the agent that asked is gone".into())));
            }));
        };
        entry.answering = true;
        let answer = ApprovalAnswer {
            decision,
            answers,
            message,
        };
        self.spawn_op(async move {
            let sent = bounded("the agent to take the answer", agent.answer(&answer)).await;
            let done: OpDone = Box::new(move |a: &mut Actor| {
                match sent {
                    Ok(()) => {
                        a.resolve(version, ApprovalResolution::Decided, Some(decision));
                        Some(Box::new(move |_: &Actor| {
                            let _ = reply.send(Ok(()));
                        }) as AfterCommit)
                    }
                    Err(e) => {
                        // The agent is gone or already moved on: the approval is dead either way.
                        a.resolve(version, ApprovalResolution::AgentGone, None);
                        Some(Box::new(move |_: &Actor| {
                            let _ = reply.send(Err(e));
                        }) as AfterCommit)
                    }
                }
            });
            done
        });
        None
    }

    /// Refuses every pending request (session end): the agent is told "cancel", never "accept".
    pub(crate) fn cancel_all_pending(&mut self) -> Vec<(u64, Arc<dyn ApprovalReply>)> {
        self.pending
            .iter_mut()
            .filter_map(|p| {
                p.answering = true;
                p.reply.clone().map(|r| (p.approval.version, r))
            })
            .collect()
    }
}
