//! Push notification routes: the devices list (with the VAPID public key a browser subscribes
//! with), subscribe / update / remove / test, and the approval action a notification button
//! posts with its one-use token.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use orbitdock_protocol::notify::{
    ActionDecision, ApprovalActionRequest, NoticeKind, PushDevicesResponse, PushSettingsPatch,
    SubscribeRequest,
};
use orbitdock_protocol::{ActionVia, ApprovalDecision};

use super::AppState;
use super::rest::body;
use crate::actions::{SessionAction, dispatch_via};
use crate::error::{Error, Result};
use crate::notify::{Notifications, webpush};
use crate::store::push::{PushOp, PushSubscriptionRow};
use crate::store::{Command, PersistOp};

/// The route a notification's Accept / Decline posts to (no API token: see the guard).
pub(super) const ACTION_ROUTE: &str = "/api/approval-actions";

/// Longest device name kept.
const NAME_MAX: usize = 80;

pub(super) fn service(s: &AppState) -> Result<&std::sync::Arc<Notifications>> {
    s.notify
        .as_ref()
        .ok_or_else(|| Error::Closed("push notifications (not configured here)".into()))
}

/// A URL we are willing to post notifications to: `https`, or `http` to a loopback address (a push
/// service run on this machine; and the tests' loopback service).
pub(super) fn check_target_url(endpoint: &str, what: &str) -> Result<()> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| Error::BadRequest(format!("the {what} is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(Error::BadRequest(format!(
            "the {what} must be an https URL (http only to a loopback address)"
        ))),
    }
}

pub(super) fn clean_name(name: &str) -> Result<String> {
    let name: String = name.trim().chars().take(NAME_MAX).collect();
    if name.is_empty() {
        return Err(Error::BadRequest("the device needs a name".into()));
    }
    Ok(name)
}

pub(super) fn check_kinds(kinds: &[NoticeKind]) -> Result<()> {
    match kinds.iter().find(|k| matches!(k, NoticeKind::Unknown(_))) {
        Some(k) => Err(Error::BadRequest(format!(
            "unknown notification kind {:?} (known: {})",
            k.as_str(),
            NoticeKind::KNOWN
                .iter()
                .map(NoticeKind::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        None => Ok(()),
    }
}

fn check_quiet(q: &Option<orbitdock_protocol::notify::QuietHours>) -> Result<()> {
    if let Some(q) = q
        && (q.start_minute >= 1440 || q.end_minute >= 1440 || q.utc_offset_minutes.abs() > 14 * 60)
    {
        return Err(Error::BadRequest(
            "quiet hours are minutes after midnight (0..1440) with a UTC offset within ±14 h"
                .into(),
        ));
    }
    Ok(())
}

async fn save(n: &Notifications, op: PushOp) -> Result<()> {
    n.store()
        .submit_and_wait(Command {
            ops: vec![PersistOp::Push(op)],
            ..Default::default()
        })
        .await
}

async fn find(n: &Notifications, id: &str) -> Result<PushSubscriptionRow> {
    n.store()
        .push_subscriptions()
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| Error::BadRequest(format!("no push device {id}")))
}

pub(super) async fn list(State(s): State<AppState>) -> Result<Json<PushDevicesResponse>> {
    let n = service(&s)?;
    let devices = n
        .store()
        .push_subscriptions()
        .await?
        .iter()
        .map(PushSubscriptionRow::device)
        .collect();
    Ok(Json(PushDevicesResponse {
        devices,
        public_key: n.vapid().public_key().to_owned(),
    }))
}

pub(super) async fn subscribe(
    State(s): State<AppState>,
    b: std::result::Result<Json<SubscribeRequest>, JsonRejection>,
) -> Result<Response> {
    let req = body(b)?;
    let n = service(&s)?;
    check_target_url(&req.subscription.endpoint, "push endpoint")?;
    webpush::check_keys(&req.subscription.keys.p256dh, &req.subscription.keys.auth)?;
    let name = clean_name(&req.name)?;
    let kinds = req.kinds.unwrap_or_else(|| NoticeKind::KNOWN.to_vec());
    check_kinds(&kinds)?;
    check_quiet(&req.quiet_hours)?;
    // The same browser subscribing again (new keys, new name) updates its row.
    let existing = n
        .store()
        .push_subscription_by_endpoint(&req.subscription.endpoint)
        .await?;
    let created = existing.is_none();
    let mut row = existing.unwrap_or_else(|| PushSubscriptionRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: String::new(),
        endpoint: req.subscription.endpoint.clone(),
        p256dh: String::new(),
        auth: String::new(),
        kinds: Vec::new(),
        quiet_hours: None,
        created_at: chrono::Utc::now().timestamp_millis(),
        delivery: Default::default(),
    });
    row.name = name;
    row.p256dh = req.subscription.keys.p256dh;
    row.auth = req.subscription.keys.auth;
    row.kinds = kinds;
    row.quiet_hours = req.quiet_hours;
    save(n, PushOp::Upsert(Box::new(row.clone()))).await?;
    let status = if created {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, Json(row.device())).into_response())
}

pub(super) async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    b: std::result::Result<Json<PushSettingsPatch>, JsonRejection>,
) -> Result<Response> {
    let patch = body(b)?;
    let n = service(&s)?;
    let mut row = find(n, &id).await?;
    if let Some(name) = patch.name {
        row.name = clean_name(&name)?;
    }
    if let Some(kinds) = patch.kinds {
        check_kinds(&kinds)?;
        row.kinds = kinds;
    }
    if let Some(q) = patch.quiet_hours {
        check_quiet(&q)?;
        row.quiet_hours = q;
    }
    save(n, PushOp::Upsert(Box::new(row.clone()))).await?;
    Ok(Json(row.device()).into_response())
}

pub(super) async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let n = service(&s)?;
    find(n, &id).await?;
    save(n, PushOp::Delete { id: id.clone() }).await?;
    Ok(Json(serde_json::json!({"removed": id})).into_response())
}

pub(super) async fn test(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let n = service(&s)?;
    let row = find(n, &id).await?;
    n.send_test(&row).await?;
    Ok(Json(find(n, &id).await?.device()).into_response())
}

/// `POST /api/approval-actions`: answers one approval with a notification's token. The token is
/// used up whatever the outcome, and the other devices' tokens for the same approval with it.
pub(super) async fn approval_action(
    State(s): State<AppState>,
    b: std::result::Result<Json<ApprovalActionRequest>, JsonRejection>,
) -> Result<Response> {
    let req = body(b)?;
    let n = service(&s)?;
    let decision = match req.decision {
        ActionDecision::Accept => ApprovalDecision::Accept,
        ActionDecision::Decline => ApprovalDecision::Decline,
        ActionDecision::Unknown(d) => {
            return Err(Error::BadRequest(format!(
                "unknown decision {d:?} (accept or decline)"
            )));
        }
    };
    let Some(grant) = n.tokens().consume(&req.token) else {
        return Ok(super::error_response(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this approval link was already used or has expired; open the session to answer",
        ));
    };
    n.tokens()
        .revoke_approval(&grant.session_id, &grant.request_id);
    let out = dispatch_via(
        &s.registry,
        SessionAction::Approve {
            session_id: grant.session_id,
            request_id: grant.request_id,
            decision,
            answers: None,
            message: None,
        },
        Some(ActionVia::Notification),
    )
    .await?;
    Ok(Json(out.body).into_response())
}
