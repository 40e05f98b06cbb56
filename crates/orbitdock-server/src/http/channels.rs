//! Notification channel routes (webhooks, ntfy-style topics): list, add, remove, test.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use orbitdock_protocol::notify::{
    AddChannelRequest, ChannelKind, NoticeKind, NotifyChannelsResponse,
};

use super::AppState;
use super::push::{check_kinds, check_target_url, clean_name, service};
use super::rest::body;
use crate::error::{Error, Result};
use crate::store::channels::{ChannelOp, ChannelRow};
use crate::store::{Command, PersistOp};

async fn save(s: &AppState, op: ChannelOp) -> Result<()> {
    service(s)?
        .store()
        .submit_and_wait(Command {
            ops: vec![PersistOp::Channel(op)],
            ..Default::default()
        })
        .await
}

async fn find(s: &AppState, id: &str) -> Result<ChannelRow> {
    service(s)?
        .store()
        .notify_channels()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Error::BadRequest(format!("no notification channel {id}")))
}

pub(super) async fn list(State(s): State<AppState>) -> Result<Json<NotifyChannelsResponse>> {
    let channels = service(&s)?
        .store()
        .notify_channels()
        .await?
        .iter()
        .map(ChannelRow::channel)
        .collect();
    Ok(Json(NotifyChannelsResponse { channels }))
}

pub(super) async fn add(
    State(s): State<AppState>,
    b: std::result::Result<Json<AddChannelRequest>, JsonRejection>,
) -> Result<Response> {
    let req = body(b)?;
    if let ChannelKind::Unknown(k) = &req.kind {
        return Err(Error::BadRequest(format!(
            "unknown channel kind {k:?} (webhook or ntfy)"
        )));
    }
    check_target_url(&req.url, "channel URL")?;
    let kinds = req.kinds.unwrap_or_else(|| NoticeKind::KNOWN.to_vec());
    check_kinds(&kinds)?;
    let row = ChannelRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: req.kind,
        name: clean_name(&req.name)?,
        url: req.url,
        kinds,
        created_at: chrono::Utc::now().timestamp_millis(),
        delivery: Default::default(),
    };
    save(&s, ChannelOp::Upsert(Box::new(row.clone()))).await?;
    Ok((axum::http::StatusCode::CREATED, Json(row.channel())).into_response())
}

pub(super) async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    find(&s, &id).await?;
    save(&s, ChannelOp::Delete { id: id.clone() }).await?;
    Ok(Json(serde_json::json!({"removed": id})).into_response())
}

pub(super) async fn test(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let row = find(&s, &id).await?;
    service(&s)?.send_channel_test(&row).await?;
    Ok(Json(find(&s, &id).await?.channel()).into_response())
}
