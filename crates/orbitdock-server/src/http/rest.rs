//! REST handlers: thin translations between JSON bodies and [`SessionAction`]s (applied by the
//! one dispatcher the WebSocket uses too) or read-only registry queries. No SQL and no session
//! logic here.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orbitdock_protocol::{
    ActionVia, AgentInfo, AgentsResponse, ApprovalHistory, ApprovalRequestBody, ConfigPatch,
    CreateSessionRequest, ForkRequest, Health, ModelsResponse, Provider, RenameRequest,
    RevertRequest, ReviewRequest, SendMessageRequest, VIA_HEADER,
};
use serde::Deserialize;

use super::AppState;
use crate::actions::{SessionAction, dispatch_via};
use crate::connector::CLAUDE;
use crate::error::{Error, Result};
use crate::markdown::{MarkdownRequest, render_request};

/// Unwraps a JSON body, turning axum's rejection into our JSON 400.
pub(super) fn body<T>(b: std::result::Result<Json<T>, JsonRejection>) -> Result<T> {
    b.map(|Json(v)| v)
        .map_err(|e| Error::BadRequest(format!("invalid JSON body: {}", e.body_text())))
}

pub(super) async fn health(State(s): State<AppState>) -> Json<Health> {
    Json(Health {
        ok: true,
        version: env!("CARGO_PKG_VERSION").into(),
        degraded: s.registry.store().degraded(),
    })
}

/// What a request came through ([`VIA_HEADER`]); absent or not text: a person's client.
pub(super) struct Via(Option<ActionVia>);

impl<S: Send + Sync> FromRequestParts<S> for Via {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(Via(parts
            .headers
            .get(VIA_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(ActionVia::parse)))
    }
}

/// Runs an action through the one dispatcher (shared with the WebSocket) and answers its body.
/// Runs an action a person's client asked for (no attribution).
pub(super) async fn act(s: &AppState, action: SessionAction) -> Result<Response> {
    act_via(s, Via(None), action).await
}

/// Runs an action that came through `via`.
async fn act_via(s: &AppState, Via(via): Via, action: SessionAction) -> Result<Response> {
    let out = dispatch_via(&s.registry, action, via).await?;
    let status = if out.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(out.body)).into_response())
}

pub(super) async fn create_session(
    State(s): State<AppState>,
    via: Via,
    b: std::result::Result<Json<CreateSessionRequest>, JsonRejection>,
) -> Result<Response> {
    act_via(&s, via, SessionAction::Create(body(b)?)).await
}

pub(super) async fn get_session(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    let h = s.registry.get(&id).await?;
    Ok(Json(h.state().await?).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct ItemsQuery {
    after: Option<u64>,
    before: Option<u64>,
    limit: Option<usize>,
}

pub(super) async fn items(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: std::result::Result<Query<ItemsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let Query(q) = q.map_err(|e| Error::BadRequest(e.body_text()))?;
    let page = s.registry.items(&id, q.after, q.before, q.limit).await?;
    Ok(Json(page).into_response())
}

/// A command's whole output, read back from the agent's record when the stored one is short.
pub(super) async fn full_output(
    State(s): State<AppState>,
    Path((id, seq)): Path<(String, u64)>,
) -> Result<Response> {
    Ok(Json(s.registry.full_output(&id, seq).await?).into_response())
}

/// Deletes old sessions from the hub (see [`crate::maintenance`]).
pub(super) async fn prune(
    State(s): State<AppState>,
    b: std::result::Result<Json<orbitdock_protocol::PruneRequest>, JsonRejection>,
) -> Result<Response> {
    Ok(Json(s.registry.prune(&body(b)?).await?).into_response())
}

pub(super) async fn send_message(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
    b: std::result::Result<Json<SendMessageRequest>, JsonRejection>,
) -> Result<Response> {
    let request = body(b)?;
    act_via(
        &s,
        via,
        SessionAction::Send {
            session_id,
            request,
        },
    )
    .await
}

pub(super) async fn interrupt(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act_via(&s, via, SessionAction::Interrupt { session_id }).await
}

pub(super) async fn end(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act_via(&s, via, SessionAction::End { session_id }).await
}

pub(super) async fn resume(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act_via(&s, via, SessionAction::Resume { session_id }).await
}

/// `POST /api/sessions/{id}/takeover`: an idle passive Codex session becomes direct (409 with
/// the reason when it cannot).
pub(super) async fn takeover(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act_via(&s, via, SessionAction::Takeover { session_id }).await
}

/// `POST /api/sessions/{id}/compact`: starts compacting the thread's history.
pub(super) async fn compact(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act_via(&s, via, SessionAction::Compact { session_id }).await
}

/// `POST /api/sessions/{id}/revert`: drops turns from the thread's history (files stay as
/// they are) and answers the state once the transcript is rebuilt.
pub(super) async fn revert(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
    b: std::result::Result<Json<RevertRequest>, JsonRejection>,
) -> Result<Response> {
    let request = body(b)?;
    act_via(
        &s,
        via,
        SessionAction::Revert {
            session_id,
            request,
        },
    )
    .await
}

/// `POST /api/sessions/{id}/fork`: a new session on a copy of the thread (201).
pub(super) async fn fork(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
    b: std::result::Result<Json<ForkRequest>, JsonRejection>,
) -> Result<Response> {
    let request = body(b)?;
    act_via(
        &s,
        via,
        SessionAction::Fork {
            session_id,
            request,
        },
    )
    .await
}

/// `POST /api/sessions/{id}/review`: starts a review (inline: 200 with this session's state;
/// detached: 201 with the new session's).
pub(super) async fn review(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
    b: std::result::Result<Json<ReviewRequest>, JsonRejection>,
) -> Result<Response> {
    let request = body(b)?;
    act_via(
        &s,
        via,
        SessionAction::Review {
            session_id,
            request,
        },
    )
    .await
}

/// `POST /api/sessions/{id}/archive`: hides the session from the default list and archives
/// its agent thread.
pub(super) async fn archive(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act_via(
        &s,
        via,
        SessionAction::SetArchived {
            session_id,
            archived: true,
        },
    )
    .await
}

/// `POST /api/sessions/{id}/unarchive`.
pub(super) async fn unarchive(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act_via(
        &s,
        via,
        SessionAction::SetArchived {
            session_id,
            archived: false,
        },
    )
    .await
}

pub(super) async fn rename(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
    b: std::result::Result<Json<RenameRequest>, JsonRejection>,
) -> Result<Response> {
    let name = body(b)?.name;
    act_via(&s, via, SessionAction::Rename { session_id, name }).await
}

pub(super) async fn config(
    State(s): State<AppState>,
    via: Via,
    Path(session_id): Path<String>,
    b: std::result::Result<Json<ConfigPatch>, JsonRejection>,
) -> Result<Response> {
    let patch = body(b)?;
    act_via(&s, via, SessionAction::Configure { session_id, patch }).await
}

pub(super) async fn approve(
    State(s): State<AppState>,
    via: Via,
    Path((session_id, request_id)): Path<(String, String)>,
    b: std::result::Result<Json<ApprovalRequestBody>, JsonRejection>,
) -> Result<Response> {
    let req = body(b)?;
    act_via(
        &s,
        via,
        SessionAction::Approve {
            session_id,
            request_id,
            decision: req.decision,
            answers: req.answers,
            message: req.message,
        },
    )
    .await
}

pub(super) async fn approval_history(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    let approvals = s.registry.approval_history(&id).await?;
    Ok(Json(ApprovalHistory { approvals }).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct ModelsQuery {
    provider: Option<Provider>,
}

/// Models of one provider (`?provider=claude`; Codex's by default).
pub(super) async fn models(
    State(s): State<AppState>,
    q: std::result::Result<Query<ModelsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let Query(q) = q.map_err(|e| Error::BadRequest(e.body_text()))?;
    let models = match q.provider.unwrap_or(Provider::Codex) {
        Provider::Codex => s.registry.models().await?,
        Provider::Claude => match s.registry.connectors().get(&CLAUDE) {
            Some(c) => c.list_models().await?,
            None => Vec::new(),
        },
        Provider::Unknown => return Err(Error::BadRequest("unknown provider".into())),
    };
    Ok(Json(ModelsResponse { models }).into_response())
}

/// The agents this server can start sessions with, and whether each is ready.
pub(super) async fn agents(State(s): State<AppState>) -> Json<AgentsResponse> {
    let codex = s.registry.connector();
    let mut agents = vec![codex.agent_info().await.unwrap_or_else(|| AgentInfo {
        provider: Provider::Codex,
        available: true,
        version: None,
        credentials: None,
        detail: "Codex runs through the shared app-server.".into(),
    })];
    match s.registry.connectors().get(&CLAUDE) {
        Some(c) => agents.extend(c.agent_info().await),
        None => agents.push(AgentInfo {
            provider: Provider::Claude,
            available: false,
            version: None,
            credentials: None,
            detail: "Claude Code was not found: run scripts/setup.sh or set CLAUDE_BIN, then restart the server.".into(),
        }),
    }
    Json(AgentsResponse { agents })
}

pub(super) async fn markdown(
    b: std::result::Result<Json<MarkdownRequest>, JsonRejection>,
) -> Result<Response> {
    let req = body(b)?;
    let out = tokio::task::spawn_blocking(move || render_request(&req))
        .await
        .map_err(|e| Error::Closed(format!("markdown task: {e}")))??;
    Ok(Json(out).into_response())
}
