//! REST routes of the surfaces around a thread (see [`crate::around`]): thin translations into
//! [`SessionAction`]s, applied by the dispatcher the WebSocket uses too. Mutations are POSTs.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use orbitdock_protocol::{
    AgentThreadsQuery, CommandStdin, ConfigValueWrite, ImportThreadRequest, RunCommandRequest,
    SetGoalRequest,
};

use super::AppState;
use super::rest::{act, body};
use crate::actions::SessionAction;
use crate::error::Result;

type Body<T> = std::result::Result<Json<T>, JsonRejection>;

/// `POST /api/sessions/{id}/delete`: deletes the session and its agent thread (no undo).
pub(super) async fn delete(
    State(s): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act(&s, SessionAction::Delete { session_id }).await
}

/// `GET /api/sessions/{id}/mcp-servers`.
pub(super) async fn mcp_servers(
    State(s): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act(&s, SessionAction::McpServers { session_id }).await
}

/// `GET /api/codex/threads?search=&cursor=&limit=`.
pub(super) async fn agent_threads(
    State(s): State<AppState>,
    Query(q): Query<AgentThreadsQuery>,
) -> Result<Response> {
    act(&s, SessionAction::AgentThreads(q)).await
}

/// `POST /api/codex/threads/import`.
pub(super) async fn import_thread(
    State(s): State<AppState>,
    b: Body<ImportThreadRequest>,
) -> Result<Response> {
    act(&s, SessionAction::ImportThread(body(b)?)).await
}

/// `GET /api/codex/config`.
pub(super) async fn read_config(State(s): State<AppState>) -> Result<Response> {
    act(&s, SessionAction::ReadAgentConfig).await
}

/// `POST /api/codex/config`.
pub(super) async fn write_config(
    State(s): State<AppState>,
    b: Body<ConfigValueWrite>,
) -> Result<Response> {
    act(&s, SessionAction::WriteAgentConfig(body(b)?)).await
}

/// `POST /api/sessions/{id}/commands`.
pub(super) async fn run_command(
    State(s): State<AppState>,
    Path(session_id): Path<String>,
    b: Body<RunCommandRequest>,
) -> Result<Response> {
    act(
        &s,
        SessionAction::RunCommand {
            session_id,
            request: body(b)?,
        },
    )
    .await
}

/// `POST /api/sessions/{id}/commands/{command_id}/terminate`.
pub(super) async fn terminate_command(
    State(s): State<AppState>,
    Path((session_id, command_id)): Path<(String, String)>,
) -> Result<Response> {
    act(
        &s,
        SessionAction::TerminateCommand {
            session_id,
            command_id,
        },
    )
    .await
}

/// `POST /api/sessions/{id}/commands/{command_id}/stdin`.
pub(super) async fn command_stdin(
    State(s): State<AppState>,
    Path((session_id, command_id)): Path<(String, String)>,
    b: Body<CommandStdin>,
) -> Result<Response> {
    act(
        &s,
        SessionAction::CommandStdin {
            session_id,
            command_id,
            stdin: body(b)?,
        },
    )
    .await
}

/// `GET /api/codex/usage`.
pub(super) async fn usage(State(s): State<AppState>) -> Result<Response> {
    act(&s, SessionAction::Usage).await
}

/// `GET /api/sessions/{id}/skills`.
pub(super) async fn skills(
    State(s): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act(&s, SessionAction::Skills { session_id }).await
}

/// `GET /api/sessions/{id}/goal`.
pub(super) async fn goal(
    State(s): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Response> {
    act(
        &s,
        SessionAction::Goal {
            session_id,
            objective: None,
        },
    )
    .await
}

/// `POST /api/sessions/{id}/goal` (an empty objective clears it).
pub(super) async fn set_goal(
    State(s): State<AppState>,
    Path(session_id): Path<String>,
    b: Body<SetGoalRequest>,
) -> Result<Response> {
    act(
        &s,
        SessionAction::Goal {
            session_id,
            objective: Some(body(b)?.objective),
        },
    )
    .await
}
