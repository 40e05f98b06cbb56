//! The commands a person gives a session: start, send, interrupt, end, resume, take over, rename,
//! configure, approve — and what happens when the agent process goes away.
//!
//! Each command validates against the current state on the loop, then runs its agent round trip
//! (if any) off the loop with [`Actor::spawn_op`]; the result comes back as a closure that applies
//! it and answers the caller after commit. Commands that need the thread in a known state (start,
//! send, end, resume, take over) use the lane: one at a time, later ones queued in order.

use std::sync::Arc;

use orbitdock_protocol::{
    ApprovalDecision, ApprovalResolution, Origin, Provider, RevertRequest, ReviewTarget,
    SendMessageRequest, SendMessageResponse, SessionDelta, SessionStatus, TurnStatus,
};
use tokio::sync::{mpsc, oneshot};

use super::actor::{Actor, AfterCommit, OpDone, bounded};
use super::handle::Cmd;
use super::{ApprovalAnswer, TAKEOVER_QUIET_MS, now_ms, thread_routes};
use crate::connector::{Connector, HistoryTurn, OpenedThread, ThreadConfig};
use crate::error::{Error, Result};
use crate::store::SessionExtra;

/// How a thread became loaded in the agent.
#[derive(Debug)]
enum Attached {
    Started(OpenedThread),
    Resumed(OpenedThread),
    /// Another process writes the old thread: we continue in a fork.
    Forked {
        from: String,
        thread: OpenedThread,
    },
}

/// The turn an attach round trip starts once the thread is loaded.
#[derive(Debug)]
enum TurnRequest {
    /// A user message, in a collaboration mode when given.
    Message(String, Option<orbitdock_protocol::CollaborationMode>),
    /// A review of this target.
    Review(ReviewTarget),
}

/// What an attach-and-maybe-start-a-turn round trip produced.
#[derive(Debug)]
struct Outcome {
    /// `None`: the thread was already loaded.
    attach: Option<(Result<Attached>, u64)>,
    /// `None`: no turn was asked for (or the attach failed).
    turn: Option<Result<String>>,
}

fn thread_cfg(s: &orbitdock_protocol::SessionSummary, extra: &SessionExtra) -> ThreadConfig {
    ThreadConfig {
        cwd: s.cwd.clone(),
        model: s.model.clone(),
        effort: s.effort.clone(),
        approval_policy: s.approval_policy.clone(),
        sandbox_mode: s.sandbox_mode.clone(),
        model_provider: s.model_provider.clone(),
        collaboration_mode: None,
        permission_mode: s.permission_mode.clone(),
        agent_home: extra.agent_home.clone(),
        usage: s.token_usage.clone(),
    }
}

/// The agent's name, for notices.
fn agent_name(p: Provider) -> &'static str {
    match p {
        Provider::Claude => "Claude",
        _ => "Codex",
    }
}

/// One readable sentence saying why an agent call failed, for a person: the first line of the
/// agent's message (never a stack trace or a stderr dump), without our error-kind prefixes.
pub(crate) fn failure_sentence(e: &Error) -> String {
    let text = match e {
        Error::Conflict(m) | Error::BadRequest(m) | Error::Busy(m) => m.clone(),
        Error::Agent { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("the agent did not say why");
    let mut sentence: String = first.chars().take(300).collect();
    if sentence.chars().count() < first.chars().count() {
        sentence.push('…');
    }
    let mut chars = sentence.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => sentence,
    }
}

/// Where an attach op, running off the loop, records its thread's route and sends the events
/// held for the thread.
struct RouteTo {
    shared: Arc<super::actor::Shared>,
    session_id: String,
    mailbox: mpsc::WeakSender<super::handle::Msg>,
}

/// Loads (or creates) the thread when needed, then starts `turn`, if any.
async fn attach_then_turn(
    connector: Arc<dyn Connector>,
    route: RouteTo,
    thread_id: Option<String>,
    attached: bool,
    cfg: ThreadConfig,
    turn: Option<TurnRequest>,
) -> Outcome {
    let mut current = thread_id.clone().filter(|_| attached);
    let attach = if current.is_none() {
        let r = match &thread_id {
            None => bounded("thread/start", connector.start_thread(&cfg))
                .await
                .map(Attached::Started),
            Some(t) => match bounded("thread/resume", connector.resume_thread(t, &cfg)).await {
                Ok(th) => Ok(Attached::Resumed(th)),
                Err(e) if e.is_active_writer_conflict() => {
                    // Never two writers on one thread: continue in a fork and say so.
                    bounded("thread/fork", connector.fork_thread(t, None, &cfg))
                        .await
                        .map(|thread| Attached::Forked {
                            from: t.clone(),
                            thread,
                        })
                }
                Err(e) => Err(e),
            },
        };
        if let Ok(a) = &r {
            let t = match a {
                Attached::Started(t) | Attached::Resumed(t) => t,
                Attached::Forked { thread, .. } => thread,
            };
            // Route the thread's events to us before the turn starts, so none is dropped while
            // this result travels back to the loop; the ones that beat this answer to the
            // router (Codex's MCP startup outcomes) were held and go to the mailbox first.
            let RouteTo {
                shared,
                session_id,
                mailbox,
            } = &route;
            shared
                .threads
                .bind(connector.key(), &t.thread_id, session_id, |held| {
                    if let Some(tx) = mailbox.upgrade() {
                        thread_routes::hand_over(&tx, session_id, held);
                    }
                });
            current = Some(t.thread_id.clone());
        }
        Some((r, connector.generation()))
    } else {
        None
    };
    let turn = match (turn, current) {
        (Some(TurnRequest::Message(text, mode)), Some(thread)) => {
            let cfg = ThreadConfig {
                collaboration_mode: mode,
                ..cfg
            };
            Some(bounded("turn/start", connector.start_turn(&thread, &text, &cfg)).await)
        }
        (Some(TurnRequest::Review(target)), Some(thread)) => {
            Some(bounded("review/start", connector.start_review(&thread, &target)).await)
        }
        _ => None,
    };
    Outcome { attach, turn }
}

impl Outcome {
    /// The thread to act on: the one already loaded (`known`), or the one the attach loaded.
    fn thread(&self, known: Option<String>) -> Option<String> {
        match &self.attach {
            None => known,
            Some((Ok(Attached::Started(t) | Attached::Resumed(t)), _)) => Some(t.thread_id.clone()),
            Some((Ok(Attached::Forked { thread, .. }), _)) => Some(thread.thread_id.clone()),
            Some((Err(_), _)) => None,
        }
    }
}

/// The turn a revert request drops first (`None`: nothing to drop), given the thread's turns
/// oldest first.
fn revert_point(req: &RevertRequest, turns: &[String]) -> Result<Option<String>> {
    let given = [
        req.before_turn_id.is_some(),
        req.after_turn_id.is_some(),
        req.last_turns.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(Error::BadRequest(
            "give exactly one of before_turn_id, after_turn_id, last_turns".into(),
        ));
    }
    let position = |id: &str| {
        turns
            .iter()
            .position(|t| t == id)
            .ok_or_else(|| Error::BadRequest(format!("turn {id} is not in the thread's history")))
    };
    if let Some(id) = &req.before_turn_id {
        return Ok(Some(turns[position(id)?].clone()));
    }
    if let Some(id) = &req.after_turn_id {
        return Ok(turns.get(position(id)? + 1).cloned());
    }
    let n = req.last_turns.unwrap_or(0) as usize;
    if n == 0 {
        return Err(Error::BadRequest("last_turns must be at least 1".into()));
    }
    if n > turns.len() {
        return Err(Error::BadRequest(format!(
            "the thread has {} turns; cannot drop {n}",
            turns.len()
        )));
    }
    Ok(Some(turns[turns.len() - n].clone()))
}

impl Actor {
    /// Dispatches one command. Lane commands wait while another lane command is in flight.
    pub(crate) fn on_cmd(&mut self, cmd: Cmd) -> Option<AfterCommit> {
        let lane = matches!(
            cmd,
            Cmd::Start { .. }
                | Cmd::Send(..)
                | Cmd::End(_)
                | Cmd::Resume(_)
                | Cmd::Takeover(_)
                | Cmd::SetArchived(..)
                | Cmd::Compact(_)
                | Cmd::Revert(..)
                | Cmd::Review(..)
        );
        if lane && self.lane_busy {
            self.queued.push_back(cmd);
            return None;
        }
        match cmd {
            Cmd::Snapshot(reply) => {
                let _ = reply.send((self.state(), self.recent.iter().cloned().collect()));
                None
            }
            Cmd::Start { prompt, reply } => self.start(prompt, reply),
            Cmd::Send(req, reply) => self.send(req, reply),
            Cmd::Interrupt(reply) => self.interrupt(reply),
            Cmd::End(reply) => self.end(reply),
            Cmd::Resume(reply) => self.resume(reply),
            Cmd::Takeover(reply) => self.takeover(reply),
            Cmd::Rename(name, reply) => Some(self.rename(name, reply)),
            Cmd::SetArchived(archived, reply) => self.set_archived(archived, reply),
            Cmd::Compact(reply) => self.compact(reply),
            Cmd::Revert(req, reply) => self.revert(req, reply),
            Cmd::Review(target, reply) => self.review(target, reply),
            Cmd::Adopt {
                generation,
                history,
                reply,
            } => {
                self.attached_generation = Some(generation);
                self.rebuild_transcript(history);
                if let Some(parent) = self.summary.forked_from.clone() {
                    self.notice(format!("Forked from session {parent}."));
                }
                self.delta(SessionDelta::Attached { attached: true });
                self.set_status();
                Some(Box::new(move |a: &Actor| {
                    let _ = reply.send(Ok(a.state()));
                }))
            }
            Cmd::Config(patch, reply) => {
                self.apply_config(
                    patch.model,
                    patch.effort,
                    patch.approval_policy,
                    patch.sandbox_mode,
                );
                Some(Box::new(move |a: &Actor| {
                    let _ = reply.send(Ok(a.state()));
                }))
            }
            Cmd::Approve {
                request_id,
                decision,
                answers,
                message,
                reply,
            } => self.approve(request_id, decision, answers, message, reply),
            Cmd::Release(reply) => {
                // Handled by the loop; never queued (not a lane command).
                let _ = reply.send(false);
                None
            }
            Cmd::Shutdown(reply) => {
                // Handled by the loop; reaching here means it was queued behind the lane.
                self.shutdown();
                let _ = reply.send(());
                None
            }
        }
    }

    /// Runs attach (+ turn) off the loop on the lane; `finish` applies the outcome.
    fn lane_attach(
        &mut self,
        turn: Option<TurnRequest>,
        finish: impl FnOnce(&mut Actor, Result<Option<String>>) -> Option<AfterCommit> + Send + 'static,
    ) {
        self.lane_busy = true;
        let fut = attach_then_turn(
            self.connector(),
            self.route_to(),
            self.summary.thread_id.clone(),
            self.is_attached(),
            thread_cfg(&self.summary, &self.extra),
            turn,
        );
        self.spawn_op(async move {
            let outcome = fut.await;
            let done: OpDone = Box::new(move |a: &mut Actor| {
                a.lane_done();
                let r = a.apply_outcome(outcome);
                finish(a, r)
            });
            done
        });
    }

    /// Applies an attach/turn outcome; `Ok(turn id)` when a turn was started.
    fn apply_outcome(&mut self, o: Outcome) -> Result<Option<String>> {
        if let Some((attach, generation)) = o.attach {
            match attach? {
                Attached::Started(t) => {
                    self.attached_generation = Some(generation);
                    self.bind_thread(t.thread_id);
                    if let Some(m) = t.model
                        && self.summary.model.is_none()
                    {
                        self.summary.model = Some(m);
                    }
                    self.delta(SessionDelta::Attached { attached: true });
                }
                Attached::Resumed(t) => {
                    self.attached_generation = Some(generation);
                    self.bind_thread(t.thread_id);
                    self.notice(format!(
                        "Resumed the {} session.",
                        agent_name(self.summary.provider)
                    ));
                    self.delta(SessionDelta::Attached { attached: true });
                }
                Attached::Forked { from, thread } => {
                    self.attached_generation = Some(generation);
                    let id = thread.thread_id.clone();
                    self.bind_thread(thread.thread_id);
                    self.notice(format!(
                        "Another process is writing thread {from}; continuing in a fork ({id})."
                    ));
                    self.delta(SessionDelta::Attached { attached: true });
                }
            }
        }
        match o.turn {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(turn_id)) => {
                self.turn_started(turn_id.clone());
                Ok(Some(turn_id))
            }
        }
    }

    fn route_to(&self) -> RouteTo {
        RouteTo {
            shared: self.shared.clone(),
            session_id: self.summary.id.clone(),
            mailbox: self.mailbox.clone(),
        }
    }

    fn bind_thread(&mut self, thread_id: String) {
        let key = self.shared.connectors.key_for(&self.summary);
        if let Some(old) = &self.summary.thread_id
            && *old != thread_id
        {
            self.shared.threads.unbind(key.clone(), old);
        }
        // On the loop, so nothing routed after the binding is applied before the held events.
        let mut held = Vec::new();
        self.shared
            .threads
            .bind(key, &thread_id, &self.summary.id, |h| held = h);
        for e in held {
            self.ingest(e);
        }
        if self.summary.thread_id.as_deref() != Some(thread_id.as_str()) {
            self.summary.thread_id = Some(thread_id);
            self.out.summary_dirty = true;
        }
    }

    fn start(
        &mut self,
        prompt: Option<String>,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> Option<AfterCommit> {
        let prompt = prompt.filter(|p| !p.trim().is_empty());
        if let Some(p) = &prompt {
            self.note_first_prompt(p);
        }
        self.lane_attach(
            prompt.map(|p| TurnRequest::Message(p, None)),
            move |a, r| {
                if let Err(e) = &r {
                    if a.summary.thread_id.is_none() {
                        // No thread: nothing can continue this session until its start is retried.
                        let why = failure_sentence(e);
                        a.notice(format!("Failed to start: {why}"));
                        a.summary.status = SessionStatus::Failed;
                        a.summary.failure = Some(why);
                        a.out.summary_dirty = true;
                    } else {
                        a.notice(format!("Could not send the first message: {e}"));
                    }
                }
                a.set_status();
                Some(Box::new(move |a: &Actor| {
                    let _ = reply.send(r.map(|_| a.state()));
                }))
            },
        );
        None
    }

    fn note_first_prompt(&mut self, text: &str) {
        if self.summary.first_prompt.is_none() {
            self.summary.first_prompt = Some(text.chars().take(500).collect());
            self.out.summary_dirty = true;
        }
    }

    fn send(
        &mut self,
        req: SendMessageRequest,
        reply: oneshot::Sender<Result<SendMessageResponse>>,
    ) -> Option<AfterCommit> {
        let refuse = |reply: oneshot::Sender<Result<SendMessageResponse>>, e: Error| {
            let _ = reply.send(Err(e));
            None
        };
        if req.text.trim().is_empty() {
            return refuse(reply, Error::BadRequest("message text is empty".into()));
        }
        if let Some(why) = &self.host_down {
            let host = self.summary.host.clone().unwrap_or_default();
            return refuse(
                reply,
                Error::Conflict(format!(
                    "the host {host} is unreachable ({why}); the message can be sent once it is back"
                )),
            );
        }
        if self.summary.origin == Origin::Passive {
            return refuse(
                reply,
                Error::Conflict(
                    "this session is observed only (passive); take it over first".into(),
                ),
            );
        }
        if self.summary.archived {
            // Codex keeps an archived thread out of reach (resume would fail), so say what to do
            // rather than fail later with the agent's error.
            return refuse(
                reply,
                Error::Conflict("this session is archived; unarchive it to continue".into()),
            );
        }
        if let Some(turn) = self.extra.current_turn.clone() {
            match (self.summary.thread_id.clone(), self.is_attached()) {
                (Some(thread), true) => {
                    self.steer(thread, turn.id, req, reply);
                    return None;
                }
                // The agent lost the turn (it exited); the next attach resumes the thread and
                // the message starts a turn once this one is closed.
                _ => {
                    self.after_turn.push_back(Cmd::Send(req, reply));
                    return None;
                }
            }
        }
        self.apply_config(req.model, req.effort, req.approval_policy, req.sandbox_mode);
        if matches!(
            self.summary.status,
            SessionStatus::Ended | SessionStatus::Failed
        ) {
            self.summary.status = SessionStatus::Waiting;
            self.summary.failure = None;
            self.out.summary_dirty = true;
        }
        self.note_first_prompt(&req.text);
        let session_id = self.summary.id.clone();
        self.lane_attach(
            Some(TurnRequest::Message(req.text, req.collaboration_mode)),
            move |a, r| {
                a.set_status();
                Some(Box::new(move |_: &Actor| {
                    let _ = reply.send(r.map(|turn_id| SendMessageResponse {
                        session_id,
                        turn_id,
                        seq: None,
                    }));
                }))
            },
        );
        None
    }

    /// Adds a message to the running turn `turn_id`. On the lane, so messages keep their order.
    /// When the agent refuses (the turn ended meanwhile, or another one is active), the state is
    /// re-read on the loop: no turn -> a normal send; a different turn -> steer that one; the
    /// same turn still open here -> the agent has ended it and its end event is on the way, so
    /// the message waits for it and then starts a turn. The caller never sees the refusal.
    fn steer(
        &mut self,
        thread: String,
        turn_id: String,
        req: SendMessageRequest,
        reply: oneshot::Sender<Result<SendMessageResponse>>,
    ) {
        self.lane_busy = true;
        let connector = self.connector();
        let session_id = self.summary.id.clone();
        let text = req.text.clone();
        self.spawn_op(async move {
            let r = bounded("turn/steer", connector.steer_turn(&thread, &turn_id, &text)).await;
            let done: OpDone = Box::new(move |a: &mut Actor| {
                a.lane_done();
                match r {
                    Ok(accepted) => Some(Box::new(move |_: &Actor| {
                        let _ = reply.send(Ok(SendMessageResponse {
                            session_id,
                            turn_id: Some(accepted),
                            seq: None,
                        }));
                    }) as AfterCommit),
                    Err(e) => {
                        tracing::debug!(session = %session_id, turn = %turn_id, error = %e,
                            "steer refused; falling back to a new turn");
                        match a.extra.current_turn.as_ref().map(|t| t.id.clone()) {
                            Some(current) if current == turn_id => {
                                a.after_turn.push_back(Cmd::Send(req, reply));
                                None
                            }
                            _ => a.send(req, reply),
                        }
                    }
                }
            });
            done
        });
    }

    fn interrupt(&mut self, reply: oneshot::Sender<Result<()>>) -> Option<AfterCommit> {
        let Some(turn) = self.extra.current_turn.clone() else {
            let _ = reply.send(Err(Error::Conflict("no turn is running".into())));
            return None;
        };
        let Some(thread) = self.summary.thread_id.clone() else {
            let _ = reply.send(Err(Error::Conflict("the session has no thread".into())));
            return None;
        };
        if !self.is_attached() {
            // The agent lost the turn already; just close it here.
            self.turn_ended(turn.id, TurnStatus::Interrupted, None);
            return Some(Box::new(move |_: &Actor| {
                let _ = reply.send(Ok(()));
            }));
        }
        let connector = self.connector();
        self.spawn_op(async move {
            let r = bounded(
                "turn/interrupt",
                connector.interrupt_turn(&thread, &turn.id),
            )
            .await;
            let done: OpDone = Box::new(move |_: &mut Actor| {
                let _ = reply.send(r);
                None
            });
            done
        });
        None
    }

    fn end(
        &mut self,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> Option<AfterCommit> {
        let interrupt = match (
            self.extra.current_turn.clone(),
            self.summary.thread_id.clone(),
            self.is_attached(),
        ) {
            (Some(turn), Some(thread), true) => Some((thread, turn.id)),
            _ => None,
        };
        // Messages waiting for the turn's end would start a new turn after it: refuse them.
        for cmd in self.after_turn.drain(..) {
            if let Cmd::Send(_, reply) = cmd {
                let _ = reply.send(Err(Error::Conflict(
                    "the session was ended before this message could be sent".into(),
                )));
            }
        }
        // Pending requests are cancelled (refused), never accepted.
        let cancel = self.cancel_all_pending();
        let connector = self.connector();
        let session = self.summary.id.clone();
        let loaded = self
            .summary
            .thread_id
            .clone()
            .filter(|_| self.is_attached());
        self.lane_busy = true;
        self.spawn_op(async move {
            if let Some((thread, turn)) = interrupt
                && let Err(e) =
                    bounded("turn/interrupt", connector.interrupt_turn(&thread, &turn)).await
            {
                tracing::warn!(%session, error = %e, "interrupt on end failed");
            }
            let cancel_answer = ApprovalAnswer {
                decision: ApprovalDecision::Cancel,
                answers: None,
                message: Some("The session was ended.".into()),
            };
            for (_, r) in &cancel {
                if let Err(e) = bounded("cancel approval", r.answer(&cancel_answer)).await {
                    tracing::debug!(%session, error = %e, "cancel of a pending approval on end");
                }
            }
            // An ended session holds no agent resources (a Claude process per session).
            let released = match loaded {
                Some(thread) => match bounded("release", connector.release_thread(&thread)).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(%session, error = %e, "release on end failed");
                        false
                    }
                },
                None => false,
            };
            let done: OpDone = Box::new(move |a: &mut Actor| {
                a.lane_done();
                if released && a.attached_generation.take().is_some() {
                    a.delta(SessionDelta::Attached { attached: false });
                }
                for (v, _) in cancel {
                    a.resolve(
                        v,
                        ApprovalResolution::TurnEnded,
                        Some(ApprovalDecision::Cancel),
                    );
                }
                if let Some(turn) = a.extra.current_turn.clone() {
                    a.turn_ended(turn.id, TurnStatus::Interrupted, None);
                }
                a.summary.status = SessionStatus::Ended;
                a.out.summary_dirty = true;
                Some(Box::new(move |a: &Actor| {
                    let _ = reply.send(Ok(a.state()));
                }))
            });
            done
        });
        None
    }

    fn resume(
        &mut self,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> Option<AfterCommit> {
        if self.summary.status == SessionStatus::Failed {
            // Retry the failed start, with the first prompt it was created with.
            self.summary.status = SessionStatus::Waiting;
            self.summary.failure = None;
            self.out.summary_dirty = true;
            let prompt = self.summary.first_prompt.clone();
            return self.start(prompt, reply);
        }
        if self.summary.status == SessionStatus::Ended {
            self.summary.status = SessionStatus::Waiting;
            self.out.summary_dirty = true;
        }
        if self.summary.origin != Origin::Direct {
            self.set_status();
            return Some(Box::new(move |a: &Actor| {
                let _ = reply.send(Ok(a.state()));
            }));
        }
        self.lane_attach(None, move |a, r| {
            a.set_status();
            Some(Box::new(move |a: &Actor| {
                let _ = reply.send(r.map(|_| a.state()));
            }))
        });
        None
    }

    /// Why a passive session cannot be taken over now, if it cannot.
    pub(crate) fn takeover_blocker(&self) -> Option<String> {
        if self.summary.origin != Origin::Passive {
            return Some("this session is already driven by OrbitDock".into());
        }
        let agent = agent_name(self.summary.provider);
        match self.summary.provider {
            Provider::Codex => {}
            Provider::Claude => {
                if self.summary.thread_id.is_none() {
                    return Some("this passive session has no Claude session id yet".into());
                }
                // Claude Code does not refuse a second process on one session: the terminal
                // must be gone (its SessionEnd seen), or both would write the transcript.
                if self.summary.status != SessionStatus::Ended {
                    return Some(format!(
                        "the Claude session is still open in its terminal ({:?}); take it over once it has ended",
                        self.summary.status
                    ));
                }
                return None;
            }
            other => {
                return Some(format!(
                    "only passive Codex and Claude sessions can be taken over (this one is {other:?})"
                ));
            }
        }
        if self.summary.thread_id.is_none() {
            return Some(format!("this passive session has no {agent} thread id yet"));
        }
        if matches!(
            self.summary.status,
            SessionStatus::Working | SessionStatus::NeedsApproval | SessionStatus::NeedsAnswer
        ) {
            return Some(format!(
                "the Codex session is still {:?}; take it over once it is idle",
                self.summary.status
            ));
        }
        let quiet = now_ms() - self.summary.updated_at;
        if quiet < TAKEOVER_QUIET_MS {
            return Some(format!(
                "the Codex session was active {quiet} ms ago; take it over after {TAKEOVER_QUIET_MS} ms without activity"
            ));
        }
        None
    }

    fn takeover(
        &mut self,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> Option<AfterCommit> {
        if let Some(why) = self.takeover_blocker() {
            let _ = reply.send(Err(Error::Conflict(why)));
            return None;
        }
        self.summary.origin = Origin::Direct;
        let was = self.summary.status;
        if self.summary.status == SessionStatus::Ended {
            self.summary.status = SessionStatus::Waiting;
        }
        self.out.summary_dirty = true;
        self.lane_attach(None, move |a, r| {
            match &r {
                Ok(_) => a.notice(format!(
                    "Taken over: OrbitDock now drives this {} session.",
                    agent_name(a.summary.provider)
                )),
                Err(_) => {
                    a.summary.origin = Origin::Passive;
                    a.summary.status = was;
                }
            }
            a.out.summary_dirty = true;
            if a.summary.origin == Origin::Direct {
                a.set_status();
            }
            Some(Box::new(move |a: &Actor| {
                let _ = reply.send(r.map(|_| a.state()));
            }))
        });
        None
    }

    /// Starts a compaction of the thread's history. It runs as a turn of the agent's own (its
    /// start, its compaction item and its end arrive as events), so it is refused while a turn
    /// runs, like a second turn would be.
    fn compact(
        &mut self,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> Option<AfterCommit> {
        let (connector, attach, known) = match self.begin_thread_op() {
            Ok(op) => op,
            Err(e) => {
                let _ = reply.send(Err(e));
                return None;
            }
        };
        self.spawn_op(async move {
            let outcome = attach.await;
            let thread = outcome.thread(known);
            let compacted = match thread {
                Some(t) => bounded("thread/compact/start", connector.compact_thread(&t)).await,
                // The attach failed: its error is what the caller gets.
                None => Ok(()),
            };
            let done: OpDone = Box::new(move |a: &mut Actor| {
                a.lane_done();
                let r = a.apply_outcome(outcome).and(compacted);
                a.set_status();
                Some(Box::new(move |a: &Actor| {
                    let _ = reply.send(r.map(|_| a.state()));
                }))
            });
            done
        });
        None
    }

    /// Why a command that works on the thread's history (compact, revert, review) cannot run
    /// now, if it cannot.
    fn thread_op_blocker(&self) -> Option<&'static str> {
        if self.summary.origin != Origin::Direct {
            Some("this session is observed only (passive); take it over first")
        } else if self.summary.archived {
            Some("this session is archived; unarchive it to continue")
        } else if self.summary.thread_id.is_none() {
            Some("the session has no thread yet")
        } else if self.extra.current_turn.is_some() {
            Some("a turn is running; wait for it or interrupt it first")
        } else {
            None
        }
    }

    /// Starts a history command on the lane: checks it may run, and gives the connector, the
    /// round trip loading the thread when needed (see [`Outcome::thread`]) and the thread id
    /// known now.
    fn begin_thread_op(
        &mut self,
    ) -> Result<(
        Arc<dyn Connector>,
        impl std::future::Future<Output = Outcome> + Send + 'static,
        Option<String>,
    )> {
        if let Some(why) = self.thread_op_blocker() {
            return Err(Error::Conflict(why.into()));
        }
        if self.summary.status == SessionStatus::Ended {
            self.summary.status = SessionStatus::Waiting;
            self.out.summary_dirty = true;
        }
        self.lane_busy = true;
        let connector = self.connector();
        let attach = attach_then_turn(
            connector.clone(),
            self.route_to(),
            self.summary.thread_id.clone(),
            self.is_attached(),
            thread_cfg(&self.summary, &self.extra),
            None,
        );
        Ok((connector, attach, self.summary.thread_id.clone()))
    }

    /// Drops turns from the thread's history in the agent (files the turns changed stay as they
    /// are), then rebuilds the transcript from the history the agent keeps, so what the person
    /// sees is what the model will see.
    fn revert(
        &mut self,
        req: RevertRequest,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> Option<AfterCommit> {
        let (connector, attach, known) = match self.begin_thread_op() {
            Ok(op) => op,
            Err(e) => {
                let _ = reply.send(Err(e));
                return None;
            }
        };
        self.spawn_op(async move {
            let outcome = attach.await;
            let reverted: Result<Option<(usize, Vec<HistoryTurn>)>> = async {
                // The attach failed: its error is what the caller gets.
                let Some(thread) = outcome.thread(known) else {
                    return Ok(None);
                };
                let before = bounded("thread/turns/list", connector.thread_history(&thread)).await?;
                let ids: Vec<String> = before.iter().map(|t| t.turn_id.clone()).collect();
                let Some(point) = revert_point(&req, &ids)? else {
                    return Ok(Some((0, before)));
                };
                bounded("thread/revert", connector.revert_thread(&thread, &point)).await?;
                let after = bounded("thread/turns/list", connector.thread_history(&thread)).await?;
                Ok(Some((before.len().saturating_sub(after.len()), after)))
            }
            .await;
            let done: OpDone = Box::new(move |a: &mut Actor| {
                a.lane_done();
                let r = a.apply_outcome(outcome).and(reverted).map(|rebuilt| {
                    if let Some((dropped, history)) = rebuilt {
                        a.rebuild_transcript(history);
                        a.notice(format!(
                            "Reverted {dropped} turn{}: the agent no longer sees them. Files they changed were not restored.",
                            if dropped == 1 { "" } else { "s" }
                        ));
                    }
                });
                a.set_status();
                Some(Box::new(move |a: &Actor| {
                    let _ = reply.send(r.map(|_| a.state()));
                }))
            });
            done
        });
        None
    }

    /// Starts a review as a turn of this session's thread; its entering and leaving review mode
    /// and its findings arrive as items.
    fn review(
        &mut self,
        target: ReviewTarget,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> Option<AfterCommit> {
        if let Some(why) = self.thread_op_blocker() {
            let _ = reply.send(Err(Error::Conflict(why.into())));
            return None;
        }
        if self.summary.status == SessionStatus::Ended {
            self.summary.status = SessionStatus::Waiting;
            self.out.summary_dirty = true;
        }
        self.lane_attach(Some(TurnRequest::Review(target)), move |a, r| {
            if let Ok(Some(turn)) = &r {
                a.review_turn = Some(turn.clone());
            }
            a.set_status();
            Some(Box::new(move |a: &Actor| {
                let _ = reply.send(r.map(|_| a.state()));
            }))
        });
        None
    }

    /// Archives or unarchives. A direct session's agent thread follows (a passive session's
    /// thread belongs to whoever runs it, so only OrbitDock's flag changes); the flag changes
    /// only once the agent agreed, so the two never disagree.
    fn set_archived(
        &mut self,
        archived: bool,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> Option<AfterCommit> {
        if self.summary.archived == archived {
            return Some(Box::new(move |a: &Actor| {
                let _ = reply.send(Ok(a.state()));
            }));
        }
        if archived && self.extra.current_turn.is_some() {
            let _ = reply.send(Err(Error::Conflict(
                "a turn is running; wait for it or interrupt it before archiving".into(),
            )));
            return None;
        }
        let thread = self
            .summary
            .thread_id
            .clone()
            .filter(|_| self.summary.origin == Origin::Direct);
        let Some(thread) = thread else {
            self.summary.archived = archived;
            self.out.summary_dirty = true;
            return Some(Box::new(move |a: &Actor| {
                let _ = reply.send(Ok(a.state()));
            }));
        };
        self.lane_busy = true;
        let connector = self.connector();
        self.spawn_op(async move {
            let what = if archived {
                "thread/archive"
            } else {
                "thread/unarchive"
            };
            let r = bounded(what, connector.set_thread_archived(&thread, archived)).await;
            let done: OpDone = Box::new(move |a: &mut Actor| {
                a.lane_done();
                if let Err(e) = r {
                    let _ = reply.send(Err(e));
                    return None;
                }
                a.summary.archived = archived;
                a.out.summary_dirty = true;
                if archived {
                    // Codex unloads an archived thread; the next message resumes it.
                    if a.attached_generation.take().is_some() {
                        a.delta(SessionDelta::Attached { attached: false });
                    }
                }
                Some(Box::new(move |a: &Actor| {
                    let _ = reply.send(Ok(a.state()));
                }))
            });
            done
        });
        None
    }

    fn rename(
        &mut self,
        name: String,
        reply: oneshot::Sender<Result<orbitdock_protocol::SessionState>>,
    ) -> AfterCommit {
        let name = Some(name.trim().to_owned()).filter(|n| !n.is_empty());
        if self.summary.name != name {
            self.summary.name = name.clone();
            self.out.summary_dirty = true;
        }
        if let (Some(thread), Some(name), true) =
            (self.summary.thread_id.clone(), name, self.is_attached())
        {
            // The agent's copy of the name is a courtesy: a failure is logged, not reported.
            let connector = self.connector();
            let session = self.summary.id.clone();
            self.spawn_op(async move {
                if let Err(e) =
                    bounded("thread/name/set", connector.set_thread_name(&thread, &name)).await
                {
                    tracing::warn!(%session, error = %e, "thread/name/set failed");
                }
                let done: OpDone = Box::new(|_: &mut Actor| None);
                done
            });
        }
        Box::new(move |a: &Actor| {
            let _ = reply.send(Ok(a.state()));
        })
    }

    pub(crate) fn apply_config(
        &mut self,
        model: Option<String>,
        effort: Option<String>,
        approval_policy: Option<orbitdock_protocol::ApprovalPolicy>,
        sandbox_mode: Option<orbitdock_protocol::SandboxMode>,
    ) {
        let s = &mut self.summary;
        let mut changed = false;
        for (slot, v) in [(&mut s.model, model), (&mut s.effort, effort)] {
            if let Some(v) = v.filter(|v| !v.is_empty())
                && slot.as_deref() != Some(v.as_str())
            {
                *slot = Some(v);
                changed = true;
            }
        }
        if let Some(p) = approval_policy.filter(|p| !p.as_str().is_empty())
            && s.approval_policy.as_ref() != Some(&p)
        {
            s.approval_policy = Some(p);
            changed = true;
        }
        if let Some(m) = sandbox_mode.filter(|m| !m.as_str().is_empty())
            && s.sandbox_mode.as_ref() != Some(&m)
        {
            s.sandbox_mode = Some(m);
            changed = true;
        }
        if changed {
            self.out.summary_dirty = true;
        }
    }

    /// The agent process went away: its turn and pending requests died with it.
    pub(crate) fn agent_gone(&mut self, detail: &str) {
        if self.attached_generation.is_none() {
            return;
        }
        self.attached_generation = None;
        self.drop_all_pending(ApprovalResolution::AgentGone);
        if let Some(turn) = self.extra.current_turn.clone() {
            self.turn_ended(
                turn.id,
                TurnStatus::Failed,
                Some("the agent process exited during this turn".into()),
            );
        }
        self.notice(format!(
            "The agent process exited ({detail}). The thread will be resumed with your next message."
        ));
        self.delta(SessionDelta::Attached { attached: false });
        self.set_status();
    }

    /// The session's host dropped: like the agent exiting (its turn and pending requests are
    /// lost with the link), but the session shows `host_unreachable` until the host is back, and
    /// messages are refused meanwhile rather than left waiting on a link that is down.
    pub(crate) fn host_unreachable(&mut self, detail: String) {
        if self.host_down.is_some() {
            return;
        }
        let host = self.summary.host.clone().unwrap_or_default();
        self.drop_all_pending(ApprovalResolution::AgentGone);
        if let Some(turn) = self.extra.current_turn.clone() {
            self.turn_ended(
                turn.id,
                TurnStatus::Failed,
                Some(format!(
                    "the host {host} became unreachable during this turn"
                )),
            );
        }
        if self.attached_generation.take().is_some() {
            self.delta(SessionDelta::Attached { attached: false });
        }
        self.notice(format!(
            "The host {host} is unreachable ({detail}). OrbitDock keeps reconnecting; the session continues when it is back."
        ));
        self.host_down = Some(detail);
        self.set_status();
    }

    /// The session's host is back: the link re-subscribed the thread (`thread/resume`), or the
    /// next message resumes it.
    pub(crate) fn host_reachable(&mut self, not_resumed: &[(String, String)]) {
        if self.host_down.take().is_none() {
            return;
        }
        let host = self.summary.host.clone().unwrap_or_default();
        let failed = self
            .summary
            .thread_id
            .as_ref()
            .and_then(|t| not_resumed.iter().find(|(id, _)| id == t));
        match failed {
            Some((_, why)) => self.notice(format!(
                "The host {host} is reachable again, but the thread could not be resumed ({why}); your next message tries again."
            )),
            None => self.notice(format!("The host {host} is reachable again.")),
        }
        self.set_status();
    }

    /// The server stops: the running turn ends as interrupted with its streamed text persisted,
    /// pending approvals are recorded as gone (the agent process stops with the server), and the
    /// session comes back idle on the next start.
    pub(crate) fn shutdown(&mut self) {
        self.drop_all_pending(ApprovalResolution::AgentGone);
        if let Some(turn) = self.extra.current_turn.clone() {
            self.turn_ended(
                turn.id,
                TurnStatus::Interrupted,
                Some("OrbitDock stopped during this turn".into()),
            );
        }
        if self.attached_generation.take().is_some() {
            self.delta(SessionDelta::Attached { attached: false });
        }
        if self.summary.origin == Origin::Direct {
            self.set_status();
        }
    }
}
