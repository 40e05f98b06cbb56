//! Telling a person away from the desk: Web Push to their browsers and phones when an approval
//! or a question waits, a turn completes or fails, or a session ends.
//!
//! Shape: session actors emit a [`SessionNotice`] for every delta that may matter (approval
//! requested, turn ended, summary status) on a broadcast channel the [`Notifications`] service
//! listens to. The service turns notices into [`PushPayload`]s, filters them per device (kinds
//! switched off, quiet hours), encrypts each to its device ([`webpush`]) and posts it to the
//! device's push service. A 404 or 410 from the push service means the browser dropped the
//! subscription: the row is removed. Other failures are counted on the row and shown in the
//! devices list; the next success clears them.
//!
//! Notices are best-effort by design: a lagging listener skips notices (logged) rather than
//! slowing the sessions down, and nothing here can block an actor.
//!
//! An approval notification carries an [`action_tokens`] token that answers that approval only,
//! once, for a few minutes, so a notification button can approve without the API token ever
//! being in a push.

pub mod action_tokens;
pub mod channels;
pub mod webpush;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use orbitdock_protocol::notify::{ApprovalAction, NoticeKind, PushPayload};
use orbitdock_protocol::{
    ApprovalKind, PendingApproval, SessionDelta, SessionStatus, SessionSummary, TurnStatus,
};
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Error, Result};
use crate::hub::ListHub;
use crate::store::channels::{ChannelOp, ChannelRow};
use crate::store::push::{PushOp, PushSubscriptionRow};
use crate::store::{Command, PersistOp, Store};

pub use action_tokens::ActionTokens;
pub use webpush::Vapid;

/// Capacity of the notice channel; a listener further behind skips notices.
pub const NOTICE_CAPACITY: usize = 1024;
/// How long one push request may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a push service keeps an undelivered approval (the action token expires anyway).
const APPROVAL_TTL_SECS: u32 = 600;
/// How long it keeps other notifications.
const OTHER_TTL_SECS: u32 = 6 * 3600;

/// Something a session did that may be worth a notification.
#[derive(Debug, Clone)]
pub enum SessionNotice {
    /// An approval or question is waiting.
    Approval {
        /// The session.
        session_id: String,
        /// It.
        approval: Box<PendingApproval>,
    },
    /// A turn ended.
    TurnEnded {
        /// The session.
        session_id: String,
        /// How.
        status: TurnStatus,
    },
    /// The session's status (sent with every summary change; transitions are found here).
    Status {
        /// The session.
        session_id: String,
        /// Its status now.
        status: SessionStatus,
    },
}

impl SessionNotice {
    /// The notice a delta carries, if any.
    pub fn from_delta(session_id: &str, delta: &SessionDelta) -> Option<SessionNotice> {
        match delta {
            SessionDelta::ApprovalRequested { approval } => Some(SessionNotice::Approval {
                session_id: session_id.to_owned(),
                approval: Box::new(approval.clone()),
            }),
            SessionDelta::TurnEnded { status, .. } => Some(SessionNotice::TurnEnded {
                session_id: session_id.to_owned(),
                status: status.clone(),
            }),
            SessionDelta::Summary { summary } => Some(SessionNotice::Status {
                session_id: session_id.to_owned(),
                status: summary.status,
            }),
            _ => None,
        }
    }
}

/// One notification to send, before it is personalised per device.
#[derive(Debug, Clone)]
struct Outgoing {
    kind: NoticeKind,
    session_id: String,
    title: String,
    body: String,
    tag: String,
    /// For answerable approvals: the request id (a token is minted per device).
    approval_request: Option<String>,
}

/// The notification service.
#[derive(Debug)]
pub struct Notifications {
    vapid: Vapid,
    store: Store,
    list: Arc<ListHub>,
    http: reqwest::Client,
    tokens: ActionTokens,
    /// Last status seen per session, to notice "ended" once per transition.
    statuses: Mutex<HashMap<String, SessionStatus>>,
    tasks: TaskTracker,
    /// How webhook / ntfy deliveries are retried.
    retry: Mutex<channels::Retry>,
}

impl Notifications {
    /// A service using `vapid`, the store's subscriptions and the list's names.
    pub fn new(vapid: Vapid, store: Store, list: Arc<ListHub>) -> Arc<Notifications> {
        let (_, sessions) = list.snapshot();
        let statuses = sessions.into_iter().map(|s| (s.id, s.status)).collect();
        Arc::new(Notifications {
            vapid,
            store,
            list,
            http: reqwest::Client::builder()
                .timeout(PUSH_TIMEOUT)
                // A push service that redirects is misconfigured; following it could post the
                // payload somewhere the subscription never named.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            tokens: ActionTokens::default(),
            statuses: Mutex::new(statuses),
            tasks: TaskTracker::new(),
            retry: Mutex::new(channels::Retry::default()),
        })
    }

    /// The VAPID identity.
    pub fn vapid(&self) -> &Vapid {
        &self.vapid
    }

    /// The approval action tokens.
    pub fn tokens(&self) -> &ActionTokens {
        &self.tokens
    }

    /// Changes how webhook / ntfy deliveries are retried.
    pub fn set_retry(&self, retry: channels::Retry) {
        *self.retry.lock() = retry;
    }

    /// The store (subscriptions live there).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Listens to `notices` until `stop` is cancelled.
    pub fn spawn(
        self: &Arc<Self>,
        mut notices: broadcast::Receiver<SessionNotice>,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let n = tokio::select! {
                    _ = stop.cancelled() => break,
                    n = notices.recv() => n,
                };
                match n {
                    Ok(n) => {
                        if let Some(out) = this.outgoing(n) {
                            this.send_to_all(out).await;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(k)) => {
                        tracing::warn!(skipped = k, "notification listener fell behind")
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            this.tasks.close();
            let _ = tokio::time::timeout(PUSH_TIMEOUT, this.tasks.wait()).await;
        })
    }

    fn title(&self, session_id: &str) -> String {
        self.list
            .get(session_id)
            .map(|s| display_name(&s))
            .unwrap_or_else(|| "OrbitDock session".into())
    }

    /// What a notice becomes, if anything.
    fn outgoing(&self, n: SessionNotice) -> Option<Outgoing> {
        match n {
            SessionNotice::Approval {
                session_id,
                approval,
            } => {
                let (kind, body, answerable) = match approval.kind {
                    ApprovalKind::Command => {
                        (NoticeKind::Approval, "Approve running a command?", true)
                    }
                    ApprovalKind::FileChange => {
                        (NoticeKind::Approval, "Approve file changes?", true)
                    }
                    ApprovalKind::Permissions => {
                        (NoticeKind::Approval, "Approve extra permissions?", true)
                    }
                    ApprovalKind::Question | ApprovalKind::Elicitation => {
                        (NoticeKind::Question, "The agent asks a question", false)
                    }
                    ApprovalKind::Unknown => (NoticeKind::Approval, "The agent needs you", false),
                };
                Some(Outgoing {
                    kind,
                    title: self.title(&session_id),
                    body: body.into(),
                    tag: format!("approval-{session_id}-{}", approval.request_id),
                    approval_request: answerable.then(|| approval.request_id.clone()),
                    session_id,
                })
            }
            SessionNotice::TurnEnded { session_id, status } => {
                let (kind, body) = match status {
                    TurnStatus::Completed => (NoticeKind::TurnCompleted, "Turn completed"),
                    TurnStatus::Failed => (NoticeKind::TurnFailed, "Turn failed"),
                    // Interrupted by a person, or still running: nothing to tell.
                    _ => return None,
                };
                Some(Outgoing {
                    kind,
                    title: self.title(&session_id),
                    body: body.into(),
                    tag: format!("session-{session_id}"),
                    approval_request: None,
                    session_id,
                })
            }
            SessionNotice::Status { session_id, status } => {
                let before = self.statuses.lock().insert(session_id.clone(), status);
                let ended_now = status == SessionStatus::Ended
                    && before.is_some_and(|b| b != SessionStatus::Ended);
                ended_now.then(|| Outgoing {
                    kind: NoticeKind::SessionEnded,
                    title: self.title(&session_id),
                    body: "Session ended".into(),
                    tag: format!("session-{session_id}"),
                    approval_request: None,
                    session_id,
                })
            }
        }
    }

    async fn send_to_all(self: &Arc<Self>, out: Outgoing) {
        let subs = match self.store.push_subscriptions().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read push subscriptions");
                return;
            }
        };
        match self.store.notify_channels().await {
            Ok(chans) => {
                for ch in chans.into_iter().filter(|c| c.kinds.contains(&out.kind)) {
                    let this = self.clone();
                    let out = out.clone();
                    self.tasks.spawn(async move {
                        let _ = this.deliver_channel(&ch, &out).await;
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read notification channels"),
        }
        let minute = utc_minute_of_day();
        for sub in subs {
            if !sub.kinds.contains(&out.kind) {
                continue;
            }
            if sub.quiet_hours.is_some_and(|q| q.contains(minute)) {
                continue;
            }
            let this = self.clone();
            let out = out.clone();
            self.tasks.spawn(async move {
                let _ = this.deliver(&sub, &out).await;
            });
        }
    }

    /// Sends a test notification to one device and reports the outcome.
    pub async fn send_test(&self, sub: &PushSubscriptionRow) -> Result<()> {
        self.deliver(sub, &test_notice()).await
    }

    /// Sends a test notification through one channel and reports the outcome.
    pub async fn send_channel_test(&self, ch: &ChannelRow) -> Result<()> {
        self.deliver_channel(ch, &test_notice()).await
    }

    /// Posts one notification to a channel (with retries); records the outcome on it.
    async fn deliver_channel(&self, ch: &ChannelRow, out: &Outgoing) -> Result<()> {
        let retry = *self.retry.lock();
        let result = channels::deliver(&self.http, ch, &payload(out, None), retry).await;
        let op = match &result {
            Ok(()) => ChannelOp::Delivered {
                id: ch.id.clone(),
                at: chrono::Utc::now().timestamp_millis(),
            },
            Err(e) => {
                tracing::warn!(channel = %ch.name, error = %e, "notification channel failed");
                ChannelOp::Failed {
                    id: ch.id.clone(),
                    error: e.clone(),
                }
            }
        };
        let cmd = Command {
            ops: vec![PersistOp::Channel(op)],
            ..Default::default()
        };
        if let Err(e) = self.store.submit_and_wait(cmd).await {
            tracing::warn!(error = %e, "cannot record a channel outcome");
        }
        result.map_err(Error::Conflict)
    }

    /// Encrypts and posts one push; records the outcome on the subscription.
    async fn deliver(&self, sub: &PushSubscriptionRow, out: &Outgoing) -> Result<()> {
        let result = self.post(sub, out).await;
        let op = match &result {
            Ok(()) => PushOp::Delivered {
                id: sub.id.clone(),
                at: chrono::Utc::now().timestamp_millis(),
            },
            Err(PushError::Gone(status)) => {
                tracing::info!(device = %sub.name, status, "push subscription expired; removed");
                PushOp::Delete { id: sub.id.clone() }
            }
            Err(PushError::Failed(e)) => {
                tracing::warn!(device = %sub.name, error = %e, "push failed");
                PushOp::Failed {
                    id: sub.id.clone(),
                    error: e.clone(),
                }
            }
        };
        let cmd = Command {
            ops: vec![PersistOp::Push(op)],
            ..Default::default()
        };
        if let Err(e) = self.store.submit_and_wait(cmd).await {
            tracing::warn!(error = %e, "cannot record a push outcome");
        }
        result.map_err(|e| match e {
            PushError::Gone(s) => Error::Conflict(format!(
                "the push service answered {s}: the subscription is gone and was removed"
            )),
            PushError::Failed(m) => Error::Conflict(m),
        })
    }

    async fn post(
        &self,
        sub: &PushSubscriptionRow,
        out: &Outgoing,
    ) -> std::result::Result<(), PushError> {
        let endpoint = reqwest::Url::parse(&sub.endpoint)
            .map_err(|e| PushError::Failed(format!("bad endpoint: {e}")))?;
        let action = out.approval_request.as_ref().map(|request_id| {
            let (token, expires_at) = self.tokens.mint(&out.session_id, request_id);
            ApprovalAction {
                request_id: request_id.clone(),
                token,
                expires_at,
            }
        });
        let json = serde_json::to_vec(&payload(out, action))
            .map_err(|e| PushError::Failed(format!("cannot encode the payload: {e}")))?;
        let body = webpush::encrypt(&sub.p256dh, &sub.auth, &json)
            .map_err(|e| PushError::Failed(e.to_string()))?;
        let auth = self
            .vapid
            .authorization(&endpoint, chrono::Utc::now().timestamp())
            .map_err(|e| PushError::Failed(e.to_string()))?;
        let urgent = matches!(out.kind, NoticeKind::Approval | NoticeKind::Question);
        let resp = self
            .http
            .post(endpoint)
            .header("Authorization", auth)
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header(
                "TTL",
                if urgent {
                    APPROVAL_TTL_SECS
                } else {
                    OTHER_TTL_SECS
                }
                .to_string(),
            )
            .header("Urgency", if urgent { "high" } else { "normal" })
            .body(body)
            .send()
            .await
            .map_err(|e| PushError::Failed(format!("cannot reach the push service: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Err(PushError::Gone(status.as_u16()));
        }
        let text = resp.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Err(PushError::Failed(format!(
            "the push service answered {status}: {}",
            text.trim()
        )))
    }
}

/// What a test notification says.
fn test_notice() -> Outgoing {
    Outgoing {
        kind: NoticeKind::TurnCompleted,
        session_id: String::new(),
        title: "OrbitDock".into(),
        body: "Notifications work here".into(),
        tag: "orbitdock-test".into(),
        approval_request: None,
    }
}

/// The payload of a notification (for Web Push, encrypted to each device; for a webhook, as is).
fn payload(out: &Outgoing, action: Option<ApprovalAction>) -> PushPayload {
    PushPayload {
        kind: out.kind.clone(),
        session_id: out.session_id.clone(),
        title: out.title.clone(),
        body: out.body.clone(),
        url: if out.session_id.is_empty() {
            "/".into()
        } else {
            format!("/#/s/{}", out.session_id)
        },
        tag: out.tag.clone(),
        action,
    }
}

#[derive(Debug)]
enum PushError {
    /// 404/410: the subscription no longer exists.
    Gone(u16),
    /// Anything else.
    Failed(String),
}

/// The session's name as a person knows it.
fn display_name(s: &SessionSummary) -> String {
    let name = s
        .name
        .clone()
        .or_else(|| s.first_prompt.clone())
        .unwrap_or_else(|| {
            std::path::Path::new(&s.cwd)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "OrbitDock session".into())
        });
    let mut short: String = name.chars().take(60).collect();
    if short.len() < name.len() {
        short.push('…');
    }
    short
}

fn utc_minute_of_day() -> u16 {
    use chrono::Timelike;
    let now = chrono::Utc::now();
    (now.hour() * 60 + now.minute()) as u16
}
