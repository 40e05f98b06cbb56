//! `POST /api/sessions/{id}/attach`: what a terminal needs to join a session's live thread
//! (`orbitdock attach` execs `codex --remote … resume THREAD` from it).
//!
//! POST because it changes state: an idle or ended session's thread is loaded into the shared
//! runtime first, so the hub is subscribed to the thread before the terminal writes to it and
//! sees the terminal's turns as they happen.

use axum::Json;
use axum::extract::{Path, State};
use orbitdock_protocol::{AttachInfo, Origin, Provider};

use super::AppState;
use crate::error::{Error, Result};

pub(super) async fn attach(
    State(s): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Json<AttachInfo>> {
    let handle = s.registry.get(&session_id).await?;
    let summary = handle.state().await?.summary;
    if summary.provider != Provider::Codex {
        return Err(Error::BadRequest(format!(
            "only Codex sessions can be attached to from a terminal (this one is {:?})",
            summary.provider
        )));
    }
    if summary.origin != Origin::Direct {
        return Err(Error::Conflict(
            "this session runs in a terminal already; take it over first".into(),
        ));
    }
    let target = s
        .registry
        .connectors()
        .for_summary(&summary)
        .terminal_attach()
        .ok_or_else(|| {
            Error::Conflict(
                "this hub runs Codex as a private process that terminals cannot join; \
                 restart it without `--private-runtime`"
                    .into(),
            )
        })?;
    let summary = handle.resume().await?.summary;
    let thread_id = summary.thread_id.ok_or_else(|| {
        Error::Conflict("the session has no Codex thread yet (its start failed?)".into())
    })?;
    Ok(Json(AttachInfo {
        session_id,
        thread_id,
        remote: target.remote,
        codex_home: target.codex_home.display().to_string(),
        codex_bin: target.codex_bin.display().to_string(),
        cwd: summary.cwd,
    }))
}
