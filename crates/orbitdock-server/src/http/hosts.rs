//! Codex host routes: list (with each link's state), add, remove, test. A host's token goes in
//! with `POST /api/hosts` and never comes back out: the answers are [`HostInfo`]s, which have no
//! field for it.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orbitdock_protocol::{AddHostRequest, HostInfo, HostTestResponse, HostsResponse};

use super::AppState;
use super::rest::body;
use crate::error::{Error, Result};
use crate::host_links::HostLinks;

fn links(s: &AppState) -> Result<Arc<HostLinks>> {
    s.registry
        .host_links()
        .cloned()
        .ok_or_else(|| Error::Conflict("this server runs no Codex host links".into()))
}

/// `GET /api/hosts`. Hosts added by `orbitdock hosts add` while the hub runs are picked up here.
pub(super) async fn list(State(s): State<AppState>) -> Result<Json<HostsResponse>> {
    let links = links(&s)?;
    links.reload().await?;
    Ok(Json(HostsResponse {
        hosts: links.list()?,
    }))
}

/// `POST /api/hosts`: registers the host and answers its state after the first attempt.
pub(super) async fn add(
    State(s): State<AppState>,
    b: std::result::Result<Json<AddHostRequest>, JsonRejection>,
) -> Result<Response> {
    let req = body(b)?;
    let info = links(&s)?.add(req).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// `POST /api/hosts/{name}/remove`.
pub(super) async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<HostInfo>> {
    Ok(Json(links(&s)?.remove(&name).await?))
}

/// `POST /api/hosts/{name}/test`.
pub(super) async fn test(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<HostTestResponse>> {
    Ok(Json(links(&s)?.test(&name).await?))
}
