//! `GET /api/sessions` (paged and filtered) and `GET /api/search`.
//!
//! Paging reads the list hub (the authoritative in-memory list at its revision) through its
//! keyset indexes; search reads the store's full-text index on the blocking pool. Without any
//! query parameter, `GET /api/sessions` answers the whole list as it always did, so older
//! clients keep working.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use orbitdock_protocol::{
    ArchivedFilter, ListCursor, ListQuery, ListSort, Origin, Provider, SearchResponse,
    ServerStatus, SessionStatus, SessionsResponse,
};
use serde::Deserialize;

use super::AppState;
use crate::error::{Error, Result};

/// Largest page a client may ask for.
pub const MAX_PAGE: usize = 1_000;
/// Most search hits answered.
pub const MAX_HITS: usize = 200;

/// The query string of `GET /api/sessions` (lists are comma-separated).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
    status: Option<String>,
    attention: Option<bool>,
    provider: Option<String>,
    origin: Option<String>,
    host: Option<String>,
    model_provider: Option<String>,
    cwd: Option<String>,
    archived: Option<String>,
    updated_after: Option<i64>,
    updated_before: Option<i64>,
    sort: Option<String>,
}

/// Parses a wire token of a serde enum, or says which parameter is wrong.
fn parse_token<T: for<'de> Deserialize<'de>>(param: &str, v: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(v.trim().to_owned()))
        .map_err(|_| Error::BadRequest(format!("unknown {param} {v:?}")))
}

impl ListParams {
    fn is_empty(&self) -> bool {
        self.limit.is_none()
            && self.cursor.is_none()
            && self.status.is_none()
            && self.attention.is_none()
            && self.provider.is_none()
            && self.origin.is_none()
            && self.host.is_none()
            && self.model_provider.is_none()
            && self.cwd.is_none()
            && self.archived.is_none()
            && self.updated_after.is_none()
            && self.updated_before.is_none()
            && self.sort.is_none()
    }

    fn query(&self) -> Result<ListQuery> {
        let mut q = ListQuery::default();
        if let Some(list) = &self.status {
            for v in list.split(',').filter(|v| !v.trim().is_empty()) {
                let st: SessionStatus = parse_token("status", v)?;
                if st == SessionStatus::Unknown {
                    return Err(Error::BadRequest(format!("unknown status {v:?}")));
                }
                q.status.push(st);
            }
        }
        q.attention = self.attention.unwrap_or(false);
        if let Some(v) = &self.provider {
            let p: Provider = parse_token("provider", v)?;
            if p == Provider::Unknown {
                return Err(Error::BadRequest(format!("unknown provider {v:?}")));
            }
            q.provider = Some(p);
        }
        if let Some(v) = &self.origin {
            let o: Origin = parse_token("origin", v)?;
            if o == Origin::Unknown {
                return Err(Error::BadRequest(format!("unknown origin {v:?}")));
            }
            q.origin = Some(o);
        }
        q.host = self.host.clone().filter(|h| !h.is_empty());
        q.model_provider = self.model_provider.clone().filter(|p| !p.is_empty());
        q.cwd = self.cwd.clone().filter(|c| !c.is_empty());
        if let Some(v) = &self.archived {
            q.archived = parse_token("archived", v)?;
            if q.archived == ArchivedFilter::Unknown {
                return Err(Error::BadRequest(format!("unknown archived {v:?}")));
            }
        }
        q.updated_after = self.updated_after;
        q.updated_before = self.updated_before;
        if let Some(v) = &self.sort {
            q.sort = parse_token("sort", v)?;
            if q.sort == ListSort::Unknown {
                return Err(Error::BadRequest(format!("unknown sort {v:?}")));
            }
        }
        Ok(q)
    }
}

/// `GET /api/sessions[?limit=N&cursor=C&status=a,b&provider=&origin=&host=&cwd=&archived=
/// exclude|include|only&updated_after=&updated_before=&sort=activity|created&attention=true]`.
pub(super) async fn sessions(
    State(s): State<AppState>,
    q: std::result::Result<Query<ListParams>, QueryRejection>,
) -> Result<Response> {
    let Query(params) = q.map_err(|e| Error::BadRequest(e.body_text()))?;
    let hub = s.registry.list_hub();
    if params.is_empty() {
        let (revision, sessions) = hub.snapshot();
        return Ok(Json(SessionsResponse {
            sessions,
            revision,
            next_cursor: None,
            total: None,
        })
        .into_response());
    }
    let query = params.query()?;
    let cursor = match &params.cursor {
        Some(c) => Some(
            ListCursor::decode(c)
                .ok_or_else(|| Error::BadRequest(format!("invalid cursor {c:?}")))?,
        ),
        None => None,
    };
    let limit = params.limit.unwrap_or(usize::MAX).clamp(1, MAX_PAGE);
    let page = hub.page(&query, cursor.as_ref(), limit);
    Ok(Json(SessionsResponse {
        sessions: page.sessions,
        revision: page.revision,
        next_cursor: page.next_cursor,
        total: Some(page.total),
    })
    .into_response())
}

/// The query string of `GET /api/search`.
#[derive(Debug, Deserialize)]
pub(super) struct SearchParams {
    q: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/search?q=TEXT[&limit=N]`: sessions and transcript items matching every word,
/// best first, each with a snippet and the item to open.
pub(super) async fn search(
    State(s): State<AppState>,
    q: std::result::Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response> {
    let Query(params) = q.map_err(|e| Error::BadRequest(e.body_text()))?;
    let text = params.q.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(Error::BadRequest("missing search text (?q=)".into()));
    }
    let limit = params.limit.unwrap_or(50).clamp(1, MAX_HITS);
    let store = s.registry.store().clone();
    let mut hits = store
        .read(move |c| crate::store::search::search(c, &text, limit))
        .await?;
    let hub = s.registry.list_hub();
    for h in &mut hits {
        h.session = hub.get(&h.session_id);
    }
    Ok(Json(SearchResponse { hits }).into_response())
}

/// `GET /api/status`: the background import's progress and the number of sessions listed.
pub(super) async fn status(State(s): State<AppState>) -> Json<ServerStatus> {
    Json(ServerStatus {
        import: s.registry.import_progress().status(),
        sessions: s.registry.list_hub().len() as u64,
    })
}
