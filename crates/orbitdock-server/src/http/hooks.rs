//! Hook routes: agents' hook commands report here.
//!
//! * `POST /api/hooks/claude`: one Claude Code hook payload (as `orbitdock hook claude` forwards
//!   it). 400 with a JSON error for a payload that is not one; 202 `{session_id}` otherwise.
//! * `POST /api/hooks/codex`: one Codex hook payload (as `orbitdock hook codex` forwards it).
//!   400 for a payload that is not one; 202 `{session_id}` (`null` when the thread is one the
//!   hub drives itself, or Codex hooks are off).
//! * `POST /api/hooks/codex/permission`: a PermissionRequest (`PermissionAsk`), held open until
//!   a person decides (see `discovery::codex_hooks`); 200 with a `PermissionAnswer`.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use claude_hooks::HookPayload;
use codex_hooks::{PermissionAnswer, PermissionAsk};

use super::AppState;
use crate::discovery::claude::apply_hook;
use crate::discovery::codex_hooks::{self as codex_discovery, Applied};
use crate::error::{Error, Result};

pub(super) async fn claude(
    State(st): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let p = HookPayload::parse(&body).map_err(|e| Error::BadRequest(e.to_string()))?;
    let id = apply_hook(&st.registry, p).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "session_id": id })),
    ))
}

pub(super) async fn codex(
    State(st): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let p = codex_discovery::parse(&body)?;
    let id = match codex_discovery::apply_hook(&st.registry, &p).await? {
        Applied::Session(id) => Some(id),
        Applied::Direct | Applied::Disabled => None,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "session_id": id })),
    ))
}

pub(super) async fn codex_permission(
    State(st): State<AppState>,
    body: Bytes,
) -> Result<Json<PermissionAnswer>> {
    let ask: PermissionAsk = serde_json::from_slice(&body)
        .map_err(|e| Error::BadRequest(format!("invalid permission request: {e}")))?;
    let p = codex_discovery::parse(ask.payload.get().as_bytes())?;
    let answer = codex_discovery::ask_permission(
        &st.registry,
        p,
        Duration::from_millis(ask.wait_ms),
        st.stop.clone(),
    )
    .await?;
    Ok(Json(answer))
}
