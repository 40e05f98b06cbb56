//! `POST /api/hooks/claude`: one Claude Code hook payload (as `orbitdock hook claude` forwards
//! it). 400 with a JSON error for a payload that is not one; 202 `{session_id}` otherwise.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use claude_hooks::HookPayload;

use super::AppState;
use crate::discovery::claude::apply_hook;
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
