//! Connectors without an agent process, for tests and benchmarks of the session core.
//!
//! Compiled into the library (not behind a feature) on purpose: a `testing` feature enabled
//! only by dev-dependencies would make `cargo build` and `cargo test` resolve different feature
//! sets and compile this crate and its dependents twice; the code here is small and inert.
//!
//! * [`ScriptedConnector`]: threads and turns are ids it makes up; calls are recorded (the last
//!   [`CALLS_KEPT`]); calls can be held (to prove the core stays responsive while an agent
//!   hangs); events and approval requests are injected with [`ScriptedConnector::emit`] /
//!   [`ScriptedConnector::request`].
//! * [`NoAgent`]: every call fails; for servers that only show stored or passive sessions.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use orbitdock_protocol::{ApprovalKind, ModelInfo};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use crate::connector::{CODEX, Connector, ConnectorEvent, OpenedThread, ThreadConfig};
use crate::error::{Error, Result};
use crate::session::{ApprovalAnswer, ApprovalReply, ApprovalRequest, SessionEvent};

/// A connector whose every call fails (no agent configured).
#[derive(Debug, Default)]
pub struct NoAgent;

#[async_trait]
impl Connector for NoAgent {
    fn generation(&self) -> u64 {
        0
    }
    async fn start_thread(&self, _: &ThreadConfig) -> Result<OpenedThread> {
        Err(no_agent())
    }
    async fn resume_thread(&self, _: &str, _: &ThreadConfig) -> Result<OpenedThread> {
        Err(no_agent())
    }
    async fn fork_thread(
        &self,
        _: &str,
        _: Option<&str>,
        _: &ThreadConfig,
    ) -> Result<OpenedThread> {
        Err(no_agent())
    }
    async fn start_turn(&self, _: &str, _: &str, _: &ThreadConfig) -> Result<String> {
        Err(no_agent())
    }
    async fn steer_turn(&self, _: &str, _: &str, _: &str) -> Result<String> {
        Err(no_agent())
    }
    async fn interrupt_turn(&self, _: &str, _: &str) -> Result<()> {
        Err(no_agent())
    }
    async fn compact_thread(&self, _: &str) -> Result<()> {
        Err(no_agent())
    }
    async fn set_thread_archived(&self, _: &str, _: bool) -> Result<()> {
        Err(no_agent())
    }
    async fn set_thread_name(&self, _: &str, _: &str) -> Result<()> {
        Err(no_agent())
    }
    async fn list_models(&self) -> Result<Vec<ModelInfo>> {
        Ok(Vec::new())
    }
    async fn shutdown(&self) {}
}

fn no_agent() -> Error {
    Error::Agent {
        operation: "agent".into(),
        message: "no agent is configured".into(),
        code: None,
        data: None,
    }
}

/// How many calls [`ScriptedConnector::calls`] keeps (far more than any functional test makes).
pub const CALLS_KEPT: usize = 10_000;

/// One recorded connector call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `start_thread` (the cwd).
    StartThread(String),
    /// `resume_thread`.
    ResumeThread(String),
    /// `fork_thread`.
    ForkThread(String),
    /// `start_turn` (thread, text).
    StartTurn(String, String),
    /// `steer_turn` (thread, expected turn, text).
    Steer(String, String, String),
    /// `interrupt_turn` (thread, turn).
    Interrupt(String, String),
    /// `compact_thread`.
    Compact(String),
    /// `set_thread_archived` (thread, archived).
    SetArchived(String, bool),
    /// `set_thread_name`.
    SetName(String, String),
}

/// A scripted agent: see the module docs.
#[derive(Debug)]
pub struct ScriptedConnector {
    key: crate::connector::ConnectorKey,
    events: mpsc::Sender<ConnectorEvent>,
    next: AtomicU64,
    /// The last [`CALLS_KEPT`] calls: a soak makes hundreds of thousands, and the fixture must
    /// not be what grows in a memory measurement.
    calls: Mutex<VecDeque<Call>>,
    /// Threads whose calls wait (an agent that hangs on them); `"*"` holds every call.
    held: watch::Sender<HashSet<String>>,
    answers: Arc<Mutex<Vec<(String, ApprovalAnswer)>>>,
    /// Thread -> its active turn (set by `start_turn`, cleared by an emitted `TurnEnded`), so
    /// `steer_turn` refuses a turn that is over the way the real agent does.
    active: Mutex<std::collections::HashMap<String, String>>,
}

impl ScriptedConnector {
    /// A connector and the event channel to give `start_with_connector`.
    pub fn new() -> (Arc<Self>, mpsc::Receiver<ConnectorEvent>) {
        Self::with_key(crate::connector::CODEX)
    }

    /// A connector registered under `key` (e.g. [`crate::connector::CLAUDE`], to stand in for
    /// a second agent).
    pub fn with_key(
        key: crate::connector::ConnectorKey,
    ) -> (Arc<Self>, mpsc::Receiver<ConnectorEvent>) {
        let (tx, rx) = mpsc::channel(4096);
        (
            Arc::new(ScriptedConnector {
                key,
                events: tx,
                next: AtomicU64::new(1),
                calls: Mutex::new(VecDeque::new()),
                held: watch::channel(HashSet::new()).0,
                answers: Arc::new(Mutex::new(Vec::new())),
                active: Mutex::new(std::collections::HashMap::new()),
            }),
            rx,
        )
    }

    /// Every call so far (the last [`CALLS_KEPT`]), in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().iter().cloned().collect()
    }

    /// Makes every call from now on wait until [`ScriptedConnector::release`].
    pub fn hold(&self) {
        self.hold_thread("*");
    }

    /// Makes calls on one thread (and thread starts, for `"*"`) wait until released.
    pub fn hold_thread(&self, thread_id: &str) {
        self.held.send_modify(|h| {
            h.insert(thread_id.to_owned());
        });
    }

    /// Lets every held call (and later ones) proceed.
    pub fn release(&self) {
        self.held.send_modify(|h| h.clear());
    }

    /// Sends a raw connector event (e.g. a translated Codex notification).
    pub async fn send(&self, ev: ConnectorEvent) {
        let _ = self.events.send(ev).await;
    }

    /// Ends the thread's active turn in the agent only, as if its end event were still on the
    /// way: a steer for it is refused from now on while the session still shows it running.
    pub fn end_turn_quietly(&self, thread_id: &str) {
        self.active.lock().remove(thread_id);
    }

    /// Answers given to injected requests: (request id, answer).
    pub fn answers(&self) -> Vec<(String, ApprovalAnswer)> {
        self.answers.lock().clone()
    }

    /// Injects events for a thread, as if the agent sent them.
    pub async fn emit(&self, thread_id: &str, events: Vec<SessionEvent>) {
        for e in &events {
            if let SessionEvent::TurnEnded { turn_id, .. } = e {
                let mut active = self.active.lock();
                if active.get(thread_id) == Some(turn_id) {
                    active.remove(thread_id);
                }
            }
        }
        let _ = self
            .events
            .send(ConnectorEvent::Thread {
                connector: CODEX,
                thread_id: thread_id.to_owned(),
                events,
            })
            .await;
    }

    /// Injects an approval request of `kind` for a thread's turn.
    pub async fn request(
        &self,
        thread_id: &str,
        turn_id: &str,
        request_id: &str,
        kind: ApprovalKind,
    ) {
        let mut r = ApprovalRequest::new(
            request_id,
            kind,
            Arc::new(RecordingReply {
                request_id: request_id.to_owned(),
                answers: self.answers.clone(),
            }),
        );
        r.turn_id = Some(turn_id.to_owned());
        r.command = Some("echo scripted".into());
        let _ = self
            .events
            .send(ConnectorEvent::Approval {
                connector: CODEX,
                thread_id: Some(thread_id.to_owned()),
                request: Box::new(r),
            })
            .await;
    }

    /// Reports the agent process gone.
    pub async fn exit(&self, detail: &str) {
        let _ = self
            .events
            .send(ConnectorEvent::Exited {
                connector: CODEX,
                detail: detail.to_owned(),
            })
            .await;
    }

    async fn call(&self, c: Call) {
        let thread = match &c {
            Call::StartThread(_) => String::new(),
            Call::ResumeThread(t)
            | Call::ForkThread(t)
            | Call::StartTurn(t, _)
            | Call::Steer(t, _, _)
            | Call::Compact(t)
            | Call::SetArchived(t, _)
            | Call::Interrupt(t, _)
            | Call::SetName(t, _) => t.clone(),
        };
        {
            let mut calls = self.calls.lock();
            if calls.len() == CALLS_KEPT {
                calls.pop_front();
            }
            calls.push_back(c);
        }
        let mut rx = self.held.subscribe();
        let _ = rx
            .wait_for(|held| !held.contains("*") && !held.contains(&thread))
            .await;
    }

    fn id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next.fetch_add(1, Ordering::SeqCst))
    }
}

#[async_trait]
impl Connector for ScriptedConnector {
    fn key(&self) -> crate::connector::ConnectorKey {
        self.key.clone()
    }
    fn generation(&self) -> u64 {
        1
    }
    async fn start_thread(&self, cfg: &ThreadConfig) -> Result<OpenedThread> {
        self.call(Call::StartThread(cfg.cwd.clone())).await;
        Ok(OpenedThread {
            thread_id: self.id("thread"),
            model: Some("scripted".into()),
            ..Default::default()
        })
    }
    async fn resume_thread(&self, t: &str, _: &ThreadConfig) -> Result<OpenedThread> {
        self.call(Call::ResumeThread(t.to_owned())).await;
        Ok(OpenedThread {
            thread_id: t.to_owned(),
            ..Default::default()
        })
    }
    async fn fork_thread(
        &self,
        t: &str,
        _: Option<&str>,
        _: &ThreadConfig,
    ) -> Result<OpenedThread> {
        self.call(Call::ForkThread(t.to_owned())).await;
        Ok(OpenedThread {
            thread_id: self.id("fork"),
            ..Default::default()
        })
    }
    async fn start_turn(&self, t: &str, text: &str, _: &ThreadConfig) -> Result<String> {
        self.call(Call::StartTurn(t.to_owned(), text.to_owned()))
            .await;
        let turn = self.id("turn");
        self.active.lock().insert(t.to_owned(), turn.clone());
        Ok(turn)
    }
    async fn steer_turn(&self, t: &str, turn: &str, text: &str) -> Result<String> {
        self.call(Call::Steer(t.to_owned(), turn.to_owned(), text.to_owned()))
            .await;
        // Like the real agent: only the active turn takes input.
        let active = self.active.lock().get(t).cloned();
        match active {
            Some(a) if a == turn => Ok(a),
            _ => Err(Error::Agent {
                operation: "turn/steer".into(),
                message: format!("expected turn {turn} is not the active turn ({active:?})"),
                code: Some(-32600),
                data: None,
            }),
        }
    }
    async fn interrupt_turn(&self, t: &str, turn: &str) -> Result<()> {
        self.call(Call::Interrupt(t.to_owned(), turn.to_owned()))
            .await;
        Ok(())
    }
    async fn compact_thread(&self, t: &str) -> Result<()> {
        self.call(Call::Compact(t.to_owned())).await;
        Ok(())
    }
    async fn set_thread_archived(&self, t: &str, archived: bool) -> Result<()> {
        self.call(Call::SetArchived(t.to_owned(), archived)).await;
        Ok(())
    }
    async fn set_thread_name(&self, t: &str, name: &str) -> Result<()> {
        self.call(Call::SetName(t.to_owned(), name.to_owned()))
            .await;
        Ok(())
    }
    async fn list_models(&self) -> Result<Vec<ModelInfo>> {
        Ok(vec![ModelInfo {
            id: "scripted".into(),
            display_name: "Scripted".into(),
            is_default: true,
            ..Default::default()
        }])
    }
    async fn shutdown(&self) {}
}

/// Records the answer to an injected request.
#[derive(Debug)]
struct RecordingReply {
    request_id: String,
    answers: Arc<Mutex<Vec<(String, ApprovalAnswer)>>>,
}

#[async_trait]
impl ApprovalReply for RecordingReply {
    async fn answer(&self, answer: &ApprovalAnswer) -> Result<()> {
        self.answers
            .lock()
            .push((self.request_id.clone(), answer.clone()));
        Ok(())
    }
    async fn refuse(&self, message: &str) -> Result<()> {
        let mut answers = BTreeMap::new();
        answers.insert("refused".to_owned(), vec![message.to_owned()]);
        self.answers.lock().push((
            self.request_id.clone(),
            ApprovalAnswer {
                decision: orbitdock_protocol::ApprovalDecision::Cancel,
                answers: Some(answers),
                message: Some(message.to_owned()),
            },
        ));
        Ok(())
    }
}
