//! The database side of maintenance (see [`crate::maintenance`]): the writes go through the
//! single writer like every other change, so they commit in order with the sessions' own
//! writes and keep the search index in the same transaction; the reads are plain queries on a
//! reader connection.

use rusqlite::{Transaction, params};

use super::{Store, search};
use crate::error::{Error, Result};
use orbitdock_protocol::TranscriptItem;

/// A maintenance write.
#[derive(Debug, Clone)]
pub enum MaintenanceOp {
    /// Cut every command output of a session to at most `keep` bytes (its start and end), then
    /// recount the session's stored output bytes from what is left.
    CompactOutputs {
        /// Session.
        session_id: String,
        /// Bytes kept per output.
        keep: usize,
    },
    /// Remember that the session of this agent thread was pruned, so the history import does
    /// not bring it back (see [`Store::pruned_threads`]).
    RememberPruned {
        /// The connector's key (`codex`, `claude`, a host's).
        connector: String,
        /// The agent's thread (or Claude session) id.
        thread_id: String,
        /// When (Unix ms).
        pruned_at: i64,
    },
}

/// What the oldest-first compaction needs to know about a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputUsage {
    /// Session.
    pub session_id: String,
    /// Bytes of command output it stores.
    pub bytes: u64,
    /// Its last activity (Unix ms).
    pub updated_at: i64,
}

/// Rows a prune would delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowsOf {
    /// Transcript items.
    pub items: u64,
    /// Bytes of the session, item, turn and approval rows.
    pub bytes: u64,
}

pub(crate) fn apply(tx: &Transaction<'_>, op: &MaintenanceOp) -> Result<()> {
    match op {
        MaintenanceOp::CompactOutputs { session_id, keep } => compact(tx, session_id, *keep),
        MaintenanceOp::RememberPruned {
            connector,
            thread_id,
            pruned_at,
        } => tx
            .execute(
                "INSERT OR REPLACE INTO pruned_threads (connector, thread_id, pruned_at)
                 VALUES (?1, ?2, ?3)",
                params![connector, thread_id, pruned_at],
            )
            .map(|_| ())
            .map_err(|e| Error::db("remembering a pruned thread", e)),
    }
}

fn compact(tx: &Transaction<'_>, session_id: &str, keep: usize) -> Result<()> {
    let rows: Vec<(i64, String)> = tx
        .prepare_cached(
            "SELECT seq, body FROM items WHERE session_id = ?1 AND type = 'command_execution'",
        )
        .and_then(|mut st| {
            st.query_map(params![session_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(|e| Error::db("reading command outputs", e))?;
    let mut stored: u64 = 0;
    for (seq, body) in rows {
        // A row that does not decode is left as it is (and not counted), never lost.
        let Ok(mut item) = serde_json::from_str::<TranscriptItem>(&body) else {
            continue;
        };
        if crate::retention::clip_output(&mut item.body, keep) {
            let json = serde_json::to_string(&item).map_err(|e| Error::Decode {
                what: format!("item {seq} of session {session_id}"),
                source: e,
            })?;
            tx.prepare_cached("UPDATE items SET body = ?3 WHERE session_id = ?1 AND seq = ?2")
                .and_then(|mut st| st.execute(params![session_id, seq, json]))
                .map_err(|e| Error::db("compacting an output", e))?;
            search::put(tx, session_id, item.seq, &search::item_text(&item.body))?;
        }
        stored += crate::retention::output_len(&item.body) as u64;
    }
    tx.execute(
        "UPDATE sessions SET extra = json_set(extra, '$.output_bytes', ?2) WHERE id = ?1",
        params![session_id, stored as i64],
    )
    .map_err(|e| Error::db("recounting stored output", e))?;
    Ok(())
}

impl Store {
    /// Every session storing command output, oldest activity first. Counted from the items
    /// themselves (the sessions' running counts serve the per-session budget and may lag or
    /// predate it), on a reader connection: the writer is not held up.
    pub fn output_usage(&self) -> Result<Vec<OutputUsage>> {
        self.with_reader(|c| {
            c.prepare(
                "SELECT i.session_id, SUM(length(CAST(json_extract(i.body, '$.output') AS BLOB))) AS b,
                        s.updated_at
                 FROM items i JOIN sessions s ON s.id = i.session_id
                 WHERE i.type = 'command_execution'
                 GROUP BY i.session_id HAVING b > 0
                 ORDER BY s.updated_at ASC, i.session_id ASC",
            )
            .and_then(|mut st| {
                st.query_map([], |r| {
                    Ok(OutputUsage {
                        session_id: r.get(0)?,
                        bytes: r.get::<_, i64>(1)?.max(0) as u64,
                        updated_at: r.get(2)?,
                    })
                })?
                .collect()
            })
            .map_err(|e| Error::db("reading stored output sizes", e))
        })
    }

    /// Bytes of command output a session stores.
    pub fn output_bytes_of(&self, session_id: &str) -> Result<u64> {
        self.with_reader(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(length(CAST(json_extract(body, '$.output') AS BLOB))), 0)
                 FROM items WHERE session_id = ?1 AND type = 'command_execution'",
                params![session_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|b| b.max(0) as u64)
            .map_err(|e| Error::db("reading stored output size", e))
        })
    }

    /// The rows stored for `ids` (what pruning them frees).
    pub fn rows_of(&self, ids: &[String]) -> Result<RowsOf> {
        let ids = serde_json::to_string(ids).map_err(|e| Error::Decode {
            what: "session ids".into(),
            source: e,
        })?;
        self.with_reader(|c| {
            let (items, item_bytes): (i64, i64) = c
                .query_row(
                    "SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM items
                     WHERE session_id IN (SELECT value FROM json_each(?1))",
                    params![ids],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(|e| Error::db("counting items", e))?;
            let other: i64 = c
                .query_row(
                    "SELECT
                       (SELECT COALESCE(SUM(length(summary) + length(extra)), 0) FROM sessions
                          WHERE id IN (SELECT value FROM json_each(?1)))
                     + (SELECT COALESCE(SUM(length(approval)), 0) FROM approvals
                          WHERE session_id IN (SELECT value FROM json_each(?1)))",
                    params![ids],
                    |r| r.get(0),
                )
                .map_err(|e| Error::db("measuring sessions", e))?;
            Ok(RowsOf {
                items: items.max(0) as u64,
                bytes: (item_bytes + other).max(0) as u64,
            })
        })
    }

    /// The (connector, thread) pairs whose sessions were pruned.
    pub fn pruned_threads(&self) -> Result<Vec<(String, String)>> {
        self.with_reader(|c| {
            c.prepare("SELECT connector, thread_id FROM pruned_threads")
                .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                .map_err(|e| Error::db("reading pruned threads", e))
        })
    }

    /// Bytes inside the database file that are free for reuse (deleted rows leave them; the
    /// file itself only shrinks on `VACUUM`).
    pub fn free_bytes(&self) -> Result<u64> {
        Ok(self.page_figures()?.free)
    }

    /// Bytes of the database in use (its pages minus the free ones): an upper bound of the
    /// command output it stores, read from two pragmas instead of every item.
    pub fn used_bytes(&self) -> Result<u64> {
        let p = self.page_figures()?;
        Ok(p.total.saturating_sub(p.free))
    }

    fn page_figures(&self) -> Result<PageFigures> {
        self.with_reader(|c| {
            let pragma = |name: &str| {
                c.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
                    .map(|v| v.max(0) as u64)
                    .map_err(|e| Error::db(format!("reading PRAGMA {name}"), e))
            };
            let size = pragma("page_size")?;
            Ok(PageFigures {
                total: pragma("page_count")? * size,
                free: pragma("freelist_count")? * size,
            })
        })
    }
}

struct PageFigures {
    total: u64,
    free: u64,
}
