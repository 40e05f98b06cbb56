//! Codex hook payloads -> passive Codex sessions, in real time, and PermissionRequest -> an
//! approval card a person answers in the hub.
//!
//! The rollout watcher ([`super::codex`]) sees a terminal session only after a debounce and a
//! file read; Codex's hooks (`orbitdock hook codex`) report the same thread as things happen.
//! Both feed ONE passive session per thread (`session_id` of the payload is the thread id the
//! watcher keys by), created by whichever source speaks first under the registry's passive-
//! session lock, so neither creates a duplicate:
//!
//! * hooks give status and turn boundaries at once (UserPromptSubmit -> turn started, working;
//!   Stop -> turn ended, waiting; Interrupt -> turn interrupted; SessionEnd -> ended), the model,
//!   the running tool (a command item keyed by the model's call id, the same id the rollout's
//!   command item carries, so the rollout's completed item replaces it rather than adding one),
//!   compaction and sub-agent notices;
//! * the rollout stays the transcript of record (messages, outputs, usage).
//!
//! Turn events carry Codex's turn id, and the session core ignores a start of a turn it already
//! saw end, so a late or repeated hook (the runner may deliver a payload live and again from its
//! spool) never sets a finished session back to working.
//!
//! Threads the hub drives itself run the user's hooks too (app-server threads load
//! `CODEX_HOME/hooks.json`): their events are recognised by the registry's thread map (a direct
//! session owns the thread) or, before the map knows the thread, by the rollout's
//! `session_meta.originator` (the hub's app-server client name), and are dropped — no shadow
//! session.
//!
//! ## PermissionRequest
//! [`ask_permission`] turns the request into a neutral [`ApprovalRequest`] on the passive
//! session (same versioning and keys as direct approvals) and holds the hook's HTTP request open
//! until a person decides, the hook's wait runs out, or the server stops. Accept (once or for the
//! session) -> `allow`; decline or cancel -> `deny`; anything else -> `none`, which makes the
//! hook print nothing so the terminal's own prompt appears. The card is withdrawn whenever the
//! hook stops waiting (timeout, its connection dropped because Codex killed it, the turn was
//! interrupted or ended), so no card outlives the question it shows. Nothing is ever answered
//! without a person.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use codex_hooks::permission::{DEFAULT_DENY_MESSAGE, reason};
use codex_hooks::{HookEvent, HookPayload, PermissionAnswer};
use orbitdock_protocol::{
    ApprovalDecision, ApprovalKind, ItemBody, ItemStatus, Origin, Provider, SessionStatus,
    TurnStatus,
};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::registry::{NewSession, PassiveOwner, Registry};
use crate::session::{ApprovalAnswer, ApprovalReply, ApprovalRequest, SessionEvent, SessionHandle};

/// The `originator` Codex records in the rollouts of threads the hub's app-server starts (the
/// `clientInfo.name` the connector sends).
pub const HUB_ORIGINATOR: &str = "orbitdock";

/// Longest a PermissionRequest is held, whatever the hook asks (Codex's hook timeout for our
/// PermissionRequest hook is 300 s; the runner stops 10 s before).
pub const MAX_PERMISSION_WAIT: Duration = Duration::from_secs(290);

/// Hook state shared by the routes: whether hooks are taken at all, and the PermissionRequests
/// being held, so an Interrupt or a turn end can withdraw their cards.
#[derive(Debug)]
pub struct CodexHooks {
    enabled: AtomicBool,
    asks: parking_lot::Mutex<HashMap<String, Vec<HeldAsk>>>,
    applied: AtomicU64,
    direct: AtomicU64,
}

/// Counters of what the hook routes did since start-up (for diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookCounts {
    /// Payloads applied to passive sessions (events and PermissionRequests).
    pub applied: u64,
    /// Payloads of threads the hub drives itself, dropped.
    pub direct: u64,
}

#[derive(Debug, Clone)]
struct HeldAsk {
    request_id: String,
    turn_id: Option<String>,
}

impl Default for CodexHooks {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(true),
            asks: parking_lot::Mutex::new(HashMap::new()),
            applied: AtomicU64::new(0),
            direct: AtomicU64::new(0),
        }
    }
}

impl CodexHooks {
    /// Turns taking Codex hooks on or off (off: events are ignored and PermissionRequests answer
    /// `none`/`not_watched` at once, so terminals never wait for a hub that does not watch).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::SeqCst);
    }

    /// What the routes did so far.
    pub fn counts(&self) -> HookCounts {
        HookCounts {
            applied: self.applied.load(Ordering::Relaxed),
            direct: self.direct.load(Ordering::Relaxed),
        }
    }

    /// Whether hook events are applied.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    fn hold(&self, session_id: &str, ask: HeldAsk) {
        self.asks
            .lock()
            .entry(session_id.to_owned())
            .or_default()
            .push(ask);
    }

    fn release(&self, session_id: &str, request_id: &str) {
        let mut m = self.asks.lock();
        if let Some(v) = m.get_mut(session_id) {
            v.retain(|a| a.request_id != request_id);
            if v.is_empty() {
                m.remove(session_id);
            }
        }
    }

    /// Held asks of a session belonging to `turn_id` (all of them for `None`).
    fn held_for(&self, session_id: &str, turn_id: Option<&str>) -> Vec<String> {
        self.asks
            .lock()
            .get(session_id)
            .map(|v| {
                v.iter()
                    .filter(|a| {
                        turn_id.is_none() || a.turn_id.is_none() || a.turn_id.as_deref() == turn_id
                    })
                    .map(|a| a.request_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What became of one hook payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied to this passive session.
    Session(String),
    /// The thread is one the hub drives itself: ignored (no shadow session).
    Direct,
    /// Codex hooks are turned off.
    Disabled,
}

/// Parses a payload (400 for one that is not).
pub fn parse(bytes: &[u8]) -> Result<HookPayload> {
    HookPayload::parse(bytes).map_err(|e| Error::BadRequest(e.to_string()))
}

/// Applies one (non-permission) payload.
pub async fn apply_hook(registry: &Registry, p: &HookPayload) -> Result<Applied> {
    if !registry.codex_hooks().enabled() {
        return Ok(Applied::Disabled);
    }
    let handle = match passive_session(registry, p).await? {
        Some(h) => h,
        None => return Ok(Applied::Direct),
    };
    let mut events = events_for(p);
    // Whatever stops a turn takes the questions asked in it along: the hook that asked is gone.
    let stale = match p.hook_event_name {
        HookEvent::Interrupt | HookEvent::Stop => registry
            .codex_hooks()
            .held_for(handle.id(), p.turn_id.as_deref()),
        HookEvent::SessionEnd => registry.codex_hooks().held_for(handle.id(), None),
        _ => Vec::new(),
    };
    events.extend(
        stale
            .into_iter()
            .map(|request_id| SessionEvent::ApprovalWithdrawn { request_id }),
    );
    if !events.is_empty() {
        // Committed before answering: a caller reading the session next sees the change.
        handle.ingest_committed(events).await?;
    }
    Ok(Applied::Session(handle.id().to_owned()))
}

/// The passive session for the payload's thread (created on first sight), or `None` when the
/// hub drives the thread itself.
async fn passive_session(registry: &Registry, p: &HookPayload) -> Result<Option<SessionHandle>> {
    let thread_id = p.thread_id().trim();
    if thread_id.is_empty() {
        return Err(Error::BadRequest(
            "Codex hook payload without session_id".into(),
        ));
    }
    if registry.session_for_thread(thread_id).is_none()
        && p.transcript_path
            .as_deref()
            .is_some_and(|t| originated_in_hub(Path::new(t)))
    {
        registry
            .codex_hooks()
            .direct
            .fetch_add(1, Ordering::Relaxed);
        return Ok(None);
    }
    let owner = registry
        .passive_for_thread(NewSession {
            provider: Provider::Codex,
            origin: Origin::Passive,
            cwd: p.cwd.clone().unwrap_or_default(),
            thread_id: Some(thread_id.to_owned()),
            model: p.model.clone().filter(|m| !m.is_empty()),
            status: SessionStatus::Waiting,
            ..NewSession::default()
        })
        .await?;
    let hooks = registry.codex_hooks();
    Ok(match owner {
        PassiveOwner::Passive(h) => {
            hooks.applied.fetch_add(1, Ordering::Relaxed);
            Some(h)
        }
        PassiveOwner::Other => {
            hooks.direct.fetch_add(1, Ordering::Relaxed);
            None
        }
    })
}

/// Whether a rollout's first line says the hub's app-server started the thread. A missing or
/// unreadable file says nothing (Codex writes the rollout lazily).
fn originated_in_hub(rollout: &Path) -> bool {
    let Ok(f) = std::fs::File::open(rollout) else {
        return false;
    };
    let mut first = String::new();
    // The first line is session_meta (with the base instructions it can be long, so bounded).
    let mut r = BufReader::new(f).take(1 << 20);
    if r.read_line(&mut first).is_err() {
        return false;
    }
    serde_json::from_str::<Value>(&first)
        .ok()
        .and_then(|v| {
            v.pointer("/payload/originator")
                .and_then(Value::as_str)
                .map(|o| o == HUB_ORIGINATOR)
        })
        .unwrap_or(false)
}

/// The session events a payload stands for.
pub fn events_for(p: &HookPayload) -> Vec<SessionEvent> {
    let mut v = Vec::new();
    if let Some(m) = p.model.as_deref().filter(|m| !m.is_empty()) {
        v.push(SessionEvent::Model(m.to_owned()));
    }
    let turn = p.turn_id.clone();
    match &p.hook_event_name {
        HookEvent::SessionStart => {
            if p.source.as_deref() == Some("compact") {
                // Compaction restarts the session mid-turn: the turn goes on.
            } else {
                v.push(SessionEvent::Status(SessionStatus::Waiting));
            }
        }
        HookEvent::UserPromptSubmit => {
            if p.agent_id.is_none()
                && let Some(t) = turn
            {
                v.push(SessionEvent::TurnStarted { turn_id: t });
            }
            v.push(SessionEvent::Status(SessionStatus::Working));
        }
        HookEvent::PreToolUse => {
            v.extend(tool_item(p, ItemStatus::InProgress));
            v.push(SessionEvent::Status(SessionStatus::Working));
        }
        HookEvent::PostToolUse => v.extend(tool_item(p, ItemStatus::Completed)),
        HookEvent::PreCompact => v.push(SessionEvent::Notice(format!(
            "Codex is compacting the context ({})",
            p.trigger.as_deref().unwrap_or("auto")
        ))),
        HookEvent::SubagentStart => v.push(SessionEvent::Notice(format!(
            "Sub-agent {} started ({})",
            p.agent_id.as_deref().unwrap_or("?"),
            p.agent_type.as_deref().unwrap_or("default")
        ))),
        HookEvent::SubagentStop => v.push(SessionEvent::Notice(format!(
            "Sub-agent {} finished",
            p.agent_id.as_deref().unwrap_or("?")
        ))),
        HookEvent::Stop => {
            if let Some(t) = turn {
                v.push(SessionEvent::TurnEnded {
                    turn_id: t,
                    status: TurnStatus::Completed,
                    error: None,
                });
            }
            v.push(SessionEvent::Status(SessionStatus::Waiting));
        }
        HookEvent::Interrupt => {
            if let Some(t) = turn {
                v.push(SessionEvent::TurnEnded {
                    turn_id: t,
                    status: TurnStatus::Interrupted,
                    error: None,
                });
            }
            v.push(SessionEvent::Status(SessionStatus::Waiting));
        }
        HookEvent::SessionEnd => v.push(SessionEvent::Status(SessionStatus::Ended)),
        // The request itself is asked through `ask_permission`; a spooled one is history (the
        // terminal answered it), and the per-request model hooks say nothing new.
        HookEvent::PermissionRequest
        | HookEvent::PostCompact
        | HookEvent::PreModelRequest
        | HookEvent::PostModelRequest => {}
        HookEvent::Unknown(name) => {
            tracing::debug!(event = %name, "unknown Codex hook event; ignored");
        }
    }
    v
}

/// A tool event as an item. Only shell commands have a call id shared with the rollout (the
/// model's call id); other tools are left to the rollout, which records them with their results.
fn tool_item(p: &HookPayload, status: ItemStatus) -> Option<SessionEvent> {
    if p.tool_name.as_deref() != Some("Bash") {
        return None;
    }
    let item_id = p.tool_use_id.clone()?;
    let output = match &p.tool_response {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Some(SessionEvent::Item {
        turn_id: p.turn_id.clone(),
        item_id,
        status,
        body: ItemBody::CommandExecution {
            command: p.command().unwrap_or_default().to_owned(),
            cwd: p.cwd.clone(),
            output,
            exit_code: None,
            duration_ms: None,
            output_omitted: None,
        },
    })
}

/// Hands a person's decision to the held HTTP request.
#[derive(Debug)]
struct HookReply {
    tx: parking_lot::Mutex<Option<oneshot::Sender<PermissionAnswer>>>,
}

impl HookReply {
    fn send(&self, a: PermissionAnswer) -> Result<()> {
        let tx = self.tx.lock().take();
        match tx {
            Some(tx) => tx
                .send(a)
                .map_err(|_| Error::Closed("the Codex hook stopped waiting".into())),
            None => Err(Error::Conflict("already answered".into())),
        }
    }
}

#[async_trait]
impl ApprovalReply for HookReply {
    async fn answer(&self, answer: &ApprovalAnswer) -> Result<()> {
        self.send(match answer.decision {
            ApprovalDecision::Accept | ApprovalDecision::AcceptForSession => {
                PermissionAnswer::allow()
            }
            ApprovalDecision::Decline | ApprovalDecision::Cancel => {
                PermissionAnswer::deny(DEFAULT_DENY_MESSAGE)
            }
        })
    }

    async fn refuse(&self, message: &str) -> Result<()> {
        // Refusing here means "not the hub's to decide": the terminal asks its user.
        self.send(PermissionAnswer::none(message))
    }
}

/// Withdraws the card when the request stops being held for any reason (answered, timed out,
/// the hook's connection dropped and the handler future with it).
struct Held {
    registry_hooks: Arc<Registry>,
    handle: SessionHandle,
    request_id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.registry_hooks
            .codex_hooks()
            .release(self.handle.id(), &self.request_id);
        let handle = self.handle.clone();
        let request_id = std::mem::take(&mut self.request_id);
        // A decided card is already resolved; withdrawing it again is a no-op.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = handle
                    .ingest(vec![SessionEvent::ApprovalWithdrawn { request_id }])
                    .await
                {
                    tracing::debug!(error = %e, "could not withdraw a Codex hook approval");
                }
            });
        }
    }
}

/// Holds a PermissionRequest until a person decides in the hub, `wait` passes or `stop` fires.
pub async fn ask_permission(
    registry: &Arc<Registry>,
    p: HookPayload,
    wait: Duration,
    stop: CancellationToken,
) -> Result<PermissionAnswer> {
    if p.hook_event_name != HookEvent::PermissionRequest {
        return Err(Error::BadRequest(format!(
            "expected a PermissionRequest payload, got {}",
            p.hook_event_name
        )));
    }
    if !registry.codex_hooks().enabled() {
        return Ok(PermissionAnswer::none(reason::NOT_WATCHED));
    }
    let Some(handle) = passive_session(registry, &p).await? else {
        return Ok(PermissionAnswer::none(reason::DIRECT_THREAD));
    };
    let request_id = format!("hook-{}", uuid::Uuid::new_v4());
    let (tx, rx) = oneshot::channel();
    let reply = Arc::new(HookReply {
        tx: parking_lot::Mutex::new(Some(tx)),
    });
    let mut req = ApprovalRequest::new(request_id.clone(), ApprovalKind::Command, reply);
    req.turn_id = p.turn_id.clone();
    req.command = p.command().map(str::to_owned);
    req.cwd = p.cwd.clone();
    req.reason = p.justification().map(str::to_owned);
    req.raw = serde_json::to_value(&p).unwrap_or(Value::Null);
    registry.codex_hooks().hold(
        handle.id(),
        HeldAsk {
            request_id: request_id.clone(),
            turn_id: p.turn_id.clone(),
        },
    );
    let _held = Held {
        registry_hooks: registry.clone(),
        handle: handle.clone(),
        request_id: request_id.clone(),
    };
    handle.approval_request(req).await?;
    let wait = wait.min(MAX_PERMISSION_WAIT);
    tokio::select! {
        answer = rx => Ok(answer.unwrap_or_else(|_| PermissionAnswer::none(reason::TIMEOUT))),
        _ = tokio::time::sleep(wait) => Ok(PermissionAnswer::none(reason::TIMEOUT)),
        _ = stop.cancelled() => Ok(PermissionAnswer::none(reason::SHUTTING_DOWN)),
    }
}

/// Applies every payload spooled by `orbitdock hook codex` while the server was down, in order,
/// then removes them from the spool. PermissionRequests found there were answered in the
/// terminal; they change nothing. Malformed lines are logged and dropped.
pub async fn drain_spool(registry: Arc<Registry>, data_dir: &Path) -> Result<usize> {
    super::drain_spool(
        codex_hooks::runner::spool(data_dir),
        "codex",
        |b| HookPayload::parse(b).map_err(|e| e.to_string()),
        move |p: HookPayload| {
            let registry = registry.clone();
            async move { apply_hook(&registry, &p).await.map(drop) }
        },
    )
    .await
}
