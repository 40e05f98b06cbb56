//! Paging, filtering and searching the session list.
//!
//! A heavy user has tens of thousands of sessions: the list is served a page at a time, in a
//! stable order (most recent activity first, or creation), with a keyset cursor — the sort key
//! and id of the last row sent — so rows inserted while a client pages never shift or repeat
//! what it already has. The same [`ListQuery`] drives `GET /api/sessions` and the WebSocket's
//! `subscribe_list`; search (`GET /api/search`) answers with [`SearchHit`]s that name the item
//! to open.

use serde::{Deserialize, Serialize};

use crate::{Origin, Provider, SessionStatus, SessionSummary};

/// The order of a session list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ListSort {
    /// Most recent activity (`updated_at`) first.
    #[default]
    Activity,
    /// Most recently created first.
    Created,
    /// An order this server does not know (answered as `activity`).
    #[serde(other)]
    Unknown,
}

/// Which archived sessions a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ArchivedFilter {
    /// Only sessions that are not archived (the default list).
    #[default]
    Exclude,
    /// Both.
    Include,
    /// Only archived sessions.
    Only,
    /// A value this server does not know (answered as `exclude`).
    #[serde(other)]
    Unknown,
}

/// Filters and order of a session list. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    /// Only these statuses (any of them); empty: every status.
    pub status: Vec<SessionStatus>,
    /// Only sessions that wait for the user (an approval or a question pending).
    pub attention: bool,
    /// Only this agent.
    pub provider: Option<Provider>,
    /// Only sessions driven here (`direct`) or observed (`passive`).
    pub origin: Option<Origin>,
    /// Only sessions on this model provider (Codex's provider id, e.g. `codexpc` for the local
    /// model; `default` for the agent's own account).
    pub model_provider: Option<String>,
    /// Only sessions on this Codex host (a host name, or [`crate::LOCAL_HOST`] for the hub's
    /// own machine).
    pub host: Option<String>,
    /// Only sessions whose working directory is this directory or inside it.
    pub cwd: Option<String>,
    /// Archived sessions: left out unless asked for.
    pub archived: ArchivedFilter,
    /// Only sessions active at or after this time (Unix ms, `updated_at`).
    pub updated_after: Option<i64>,
    /// Only sessions active before this time (Unix ms, `updated_at`).
    pub updated_before: Option<i64>,
    /// The order.
    pub sort: ListSort,
}

impl ListQuery {
    /// Whether `s` passes every filter.
    pub fn matches(&self, s: &SessionSummary) -> bool {
        if !self.status.is_empty() && !self.status.contains(&s.status) {
            return false;
        }
        if self.attention
            && !(matches!(
                s.status,
                SessionStatus::NeedsApproval | SessionStatus::NeedsAnswer
            ) || s.pending_approval_count > 0)
        {
            return false;
        }
        if self.provider.is_some_and(|p| p != s.provider) {
            return false;
        }
        if self.origin.is_some_and(|o| o != s.origin) {
            return false;
        }
        if let Some(provider) = &self.model_provider {
            let own = s.model_provider.as_deref().unwrap_or("default");
            if own != provider {
                return false;
            }
        }
        if let Some(host) = &self.host {
            let own = s.host.as_deref().unwrap_or(crate::LOCAL_HOST);
            if own != host {
                return false;
            }
        }
        if let Some(dir) = &self.cwd {
            let dir = dir.trim_end_matches('/');
            let inside = s.cwd == dir
                || (s.cwd.starts_with(dir) && s.cwd.as_bytes().get(dir.len()) == Some(&b'/'))
                || dir.is_empty();
            if !inside {
                return false;
            }
        }
        match self.archived {
            ArchivedFilter::Include => {}
            ArchivedFilter::Only => {
                if !s.archived {
                    return false;
                }
            }
            ArchivedFilter::Exclude | ArchivedFilter::Unknown => {
                if s.archived {
                    return false;
                }
            }
        }
        if self.updated_after.is_some_and(|t| s.updated_at < t) {
            return false;
        }
        if self.updated_before.is_some_and(|t| s.updated_at >= t) {
            return false;
        }
        true
    }

    /// The sort key of `s` under this query's order (larger first).
    pub fn sort_key(&self, s: &SessionSummary) -> i64 {
        match self.sort {
            ListSort::Created => s.created_at,
            ListSort::Activity | ListSort::Unknown => s.updated_at,
        }
    }
}

/// A position in a list: the sort key and id of the last row a client has. Rows after it are
/// those with a smaller key, or the same key and a larger id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListCursor {
    /// Sort key of the last row.
    pub key: i64,
    /// Id of the last row.
    pub id: String,
}

impl ListCursor {
    /// The opaque wire form (`KEY.ID`).
    pub fn encode(&self) -> String {
        format!("{}.{}", self.key, self.id)
    }

    /// Reads a cursor from its wire form; `None` when it is not one.
    pub fn decode(s: &str) -> Option<ListCursor> {
        let (key, id) = s.split_once('.')?;
        Some(ListCursor {
            key: key.parse().ok()?,
            id: id.to_owned(),
        })
    }

    /// Whether a row with `key` and `id` comes after this position.
    pub fn is_before(&self, key: i64, id: &str) -> bool {
        key < self.key || (key == self.key && id > self.id.as_str())
    }
}

/// One page of the session list (`GET /api/sessions?limit=N`, and `sessions_page` on the
/// WebSocket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SessionsPage {
    /// The list revision the page was read at.
    pub revision: u64,
    /// The rows, in the query's order.
    pub sessions: Vec<SessionSummary>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// How many sessions match the filters in all.
    pub total: u64,
}

/// `GET /api/search` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SearchResponse {
    /// Best match first.
    pub hits: Vec<SearchHit>,
}

/// One search match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SearchHit {
    /// The session.
    pub session_id: String,
    /// The matching transcript item's `seq`; absent when the match is in the session's name,
    /// first prompt or directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The matching text around the match; matched terms sit between [`MATCH_START`] and
    /// [`MATCH_END`] (control characters, so no text of the transcript can fake a mark).
    pub snippet: String,
    /// The session's summary, when it is still listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionSummary>,
}

/// Snippet highlight start mark (STX).
pub const MATCH_START: char = '\u{2}';
/// Snippet highlight end mark (ETX).
pub const MATCH_END: char = '\u{3}';

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_ids_with_dots() {
        let c = ListCursor {
            key: -5,
            id: "a.b.c".into(),
        };
        assert_eq!(ListCursor::decode(&c.encode()), Some(c));
        assert_eq!(ListCursor::decode("nope"), None);
    }

    #[test]
    fn cwd_filter_takes_the_directory_and_below_only() {
        let q = ListQuery {
            cwd: Some("/w/app/".into()),
            ..Default::default()
        };
        let at = |cwd: &str| SessionSummary {
            cwd: cwd.into(),
            ..Default::default()
        };
        assert!(q.matches(&at("/w/app")));
        assert!(q.matches(&at("/w/app/src")));
        assert!(!q.matches(&at("/w/apple")));
        assert!(!q.matches(&at("/w")));
    }

    #[test]
    fn host_filter_is_the_machine_and_model_provider_the_model_host() {
        let s = |host: Option<&str>, provider: Option<&str>| SessionSummary {
            host: host.map(str::to_owned),
            model_provider: provider.map(str::to_owned),
            ..Default::default()
        };
        let by_host = |h: &str| ListQuery {
            host: Some(h.into()),
            ..Default::default()
        };
        assert!(by_host("local").matches(&s(None, Some("codexpc"))));
        assert!(!by_host("local").matches(&s(Some("box"), None)));
        assert!(by_host("box").matches(&s(Some("box"), None)));
        assert!(!by_host("codexpc").matches(&s(None, Some("codexpc"))));
        let by_provider = ListQuery {
            model_provider: Some("codexpc".into()),
            ..Default::default()
        };
        assert!(by_provider.matches(&s(Some("box"), Some("codexpc"))));
        assert!(!by_provider.matches(&s(None, None)));
    }

    #[test]
    fn unknown_enum_values_fall_back() {
        let q: ListQuery =
            serde_json::from_str(r#"{"sort":"by_mood","archived":"maybe","extra":1}"#).unwrap();
        assert_eq!(q.sort, ListSort::Unknown);
        assert_eq!(q.archived, ArchivedFilter::Unknown);
    }
}

/// `GET /api/status` answer: what the server is busy with in the background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ServerStatus {
    /// The import of the history found on disk at start (Codex rollouts).
    pub import: ImportStatus,
    /// Sessions listed now.
    pub sessions: u64,
}

/// How far the import of the history on disk is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ImportStatus {
    /// The first sweep has begun.
    pub started: bool,
    /// Every file found at start was read.
    pub complete: bool,
    /// Files read so far.
    pub files_done: u64,
    /// Files found.
    pub files_total: u64,
    /// `files_done` / `files_total` in percent (100 once complete).
    pub percent: f64,
}
