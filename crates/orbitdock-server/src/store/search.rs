//! Full-text search over sessions (name, first prompt, working directory) and their
//! transcripts, with SQLite FTS5.
//!
//! Why FTS5 in the same database rather than a separate search library: the index is written
//! by the store's single writer in the same transaction as the items it indexes, so a search
//! never finds an item the database does not have (nor misses one it does), a crash cannot
//! leave the two apart, and there is no second file to keep in step. `codex-client`'s
//! `session_index` measured this shape on 50k rollouts before.
//!
//! Layout: `search_text` is an FTS5 table with two columns, `title` (a session's name, first
//! prompt and directory: one row per session, `seq` 0) and `body` (one row per transcript item
//! with text). `search_docs` maps `(session_id, seq)` to the FTS row id and remembers a hash of
//! the indexed text, so the many re-writes of an unchanged session row or a streaming item whose
//! text did not change cost one indexed lookup, not an FTS delete and insert. Ranking is BM25
//! with a title match weighing ten times a transcript match.
//!
//! Tokenizer: `unicode61` with diacritics removed (`cafe` finds `café`), case-folded for every
//! script it knows. Each word of a query is matched as a prefix (`deploy` finds `deployment`)
//! and quoted, so no user input is read as FTS5 syntax.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use orbitdock_protocol::{ItemBody, MATCH_END, MATCH_START, SearchHit, SessionSummary};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::search_cjk;
use crate::error::{Error, Result};

/// The schema (one migration).
pub(crate) const SCHEMA: &str = r#"
    CREATE VIRTUAL TABLE search_text USING fts5(
        title, body, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TABLE search_docs (
        id          INTEGER PRIMARY KEY,   -- = search_text rowid
        session_id  TEXT NOT NULL,
        seq         INTEGER NOT NULL,      -- 0: the session's own text
        hash        INTEGER NOT NULL,
        UNIQUE (session_id, seq)
    );
"#;

/// At most this much of one item's text is indexed: a command that printed megabytes would
/// otherwise dominate the index (and the time to write it) for words nobody searches in logs.
pub const MAX_INDEXED_CHARS: usize = 16 * 1024;

/// The searchable text of a session row.
pub(crate) fn session_text(s: &SessionSummary) -> String {
    let mut t = String::new();
    for part in [
        s.name.as_deref(),
        s.first_prompt.as_deref(),
        Some(s.cwd.as_str()),
    ]
    .into_iter()
    .flatten()
    {
        if !part.is_empty() {
            t.push_str(part);
            t.push('\n');
        }
    }
    clip(t)
}

/// The searchable text of a transcript item (empty: nothing to index).
pub(crate) fn item_text(body: &ItemBody) -> String {
    let t = match body {
        ItemBody::UserMessage { text } | ItemBody::AgentMessage { text } => text.clone(),
        ItemBody::Reasoning { summary, text } => format!("{summary}\n{text}"),
        ItemBody::CommandExecution {
            command, output, ..
        } => format!("{command}\n{output}"),
        ItemBody::FileChange { changes } => changes
            .iter()
            .map(|c| c.path.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        ItemBody::McpToolCall {
            server,
            tool,
            error,
            ..
        } => format!("{server} {tool} {}", error.as_deref().unwrap_or_default()),
        ItemBody::WebSearch { query } => query.clone(),
        ItemBody::Plan { text } => text.clone(),
        ItemBody::ReviewMode { review, .. } => review.clone(),
        ItemBody::Error { message } => message.clone(),
        _ => String::new(),
    };
    clip(t)
}

fn clip(mut t: String) -> String {
    if t.len() > MAX_INDEXED_CHARS {
        let mut end = MAX_INDEXED_CHARS;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
    }
    t
}

fn text_hash(t: &str) -> i64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.hash(&mut h);
    h.finish() as i64
}

/// Indexes (or re-indexes, or un-indexes when `text` is empty) one document, in the writer's
/// transaction. `seq` 0 is the session's own text (the `title` column).
pub(crate) fn put(tx: &Transaction<'_>, session_id: &str, seq: u64, text: &str) -> Result<()> {
    put_doc(tx, session_id, seq, text, true)
}

/// [`put`]; `cjk`: keep `search_cjk` (see [`super::search_cjk`]) in step too, false only while
/// migrating to a schema that does not have it yet.
fn put_doc(tx: &Transaction<'_>, session_id: &str, seq: u64, text: &str, cjk: bool) -> Result<()> {
    let hash = text_hash(text);
    let existing: Option<(i64, i64)> = tx
        .prepare_cached("SELECT id, hash FROM search_docs WHERE session_id = ?1 AND seq = ?2")
        .and_then(|mut st| {
            st.query_row(params![session_id, seq as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(|e| Error::db("looking up a search document", e))?;
    match existing {
        Some((_, h)) if h == hash => Ok(()),
        Some((id, _)) => {
            tx.prepare_cached("DELETE FROM search_text WHERE rowid = ?1")
                .and_then(|mut st| st.execute(params![id]))
                .map_err(|e| Error::db("re-indexing a search document", e))?;
            if cjk {
                search_cjk::remove(tx, id)?;
            }
            if text.trim().is_empty() {
                tx.prepare_cached("DELETE FROM search_docs WHERE id = ?1")
                    .and_then(|mut st| st.execute(params![id]))
                    .map_err(|e| Error::db("dropping a search document", e))?;
                return Ok(());
            }
            tx.prepare_cached("UPDATE search_docs SET hash = ?2 WHERE id = ?1")
                .and_then(|mut st| st.execute(params![id, hash]))
                .map_err(|e| Error::db("re-indexing a search document", e))?;
            insert_text(tx, id, seq, text, cjk)
        }
        None => {
            if text.trim().is_empty() {
                return Ok(());
            }
            tx.prepare_cached(
                "INSERT INTO search_docs (session_id, seq, hash) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut st| st.execute(params![session_id, seq as i64, hash]))
            .map_err(|e| Error::db("adding a search document", e))?;
            insert_text(tx, tx.last_insert_rowid(), seq, text, cjk)
        }
    }
}

fn insert_text(tx: &Transaction<'_>, id: i64, seq: u64, text: &str, cjk: bool) -> Result<()> {
    let (title, body) = if seq == 0 { (text, "") } else { ("", text) };
    tx.prepare_cached("INSERT INTO search_text (rowid, title, body) VALUES (?1, ?2, ?3)")
        .and_then(|mut st| st.execute(params![id, title, body]))
        .map_err(|e| Error::db("indexing text", e))?;
    if cjk {
        search_cjk::put(tx, id, seq, text)?;
    }
    Ok(())
}

/// Un-indexes a session's transcript items (`with_session`: its own text too).
pub(crate) fn remove_session(
    tx: &Transaction<'_>,
    session_id: &str,
    with_session: bool,
) -> Result<()> {
    let min_seq: i64 = if with_session { 0 } else { 1 };
    tx.execute(
        "DELETE FROM search_cjk WHERE rowid IN
           (SELECT id FROM search_docs WHERE session_id = ?1 AND seq >= ?2)",
        params![session_id, min_seq],
    )
    .map_err(|e| Error::db("un-indexing a session", e))?;
    tx.execute(
        "DELETE FROM search_text WHERE rowid IN
           (SELECT id FROM search_docs WHERE session_id = ?1 AND seq >= ?2)",
        params![session_id, min_seq],
    )
    .map_err(|e| Error::db("un-indexing a session", e))?;
    tx.execute(
        "DELETE FROM search_docs WHERE session_id = ?1 AND seq >= ?2",
        params![session_id, min_seq],
    )
    .map_err(|e| Error::db("un-indexing a session", e))?;
    Ok(())
}

/// Fills the index from the rows stored before it existed (run once, by the migration that
/// creates it).
pub(crate) fn backfill(tx: &Transaction<'_>) -> Result<()> {
    let mut sessions = tx
        .prepare("SELECT id, summary FROM sessions")
        .map_err(|e| Error::db("reading sessions to index", e))?;
    let rows = sessions
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(|e| Error::db("reading sessions to index", e))?;
    for row in rows {
        let (id, summary) = row.map_err(|e| Error::db("reading a session to index", e))?;
        if let Ok(s) = serde_json::from_str::<SessionSummary>(&summary) {
            put_doc(tx, &id, 0, &session_text(&s), false)?;
        }
    }
    let mut items = tx
        .prepare("SELECT session_id, seq, body FROM items")
        .map_err(|e| Error::db("reading items to index", e))?;
    let rows = items
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(|e| Error::db("reading items to index", e))?;
    for row in rows {
        let (sid, seq, body) = row.map_err(|e| Error::db("reading an item to index", e))?;
        if let Ok(item) = serde_json::from_str::<orbitdock_protocol::TranscriptItem>(&body) {
            put_doc(tx, &sid, seq as u64, &item_text(&item.body), false)?;
        }
    }
    Ok(())
}

/// The FTS5 query for a user's text: every word must match (as a prefix), each one quoted so
/// no input is read as query syntax. `None` when the text has no word.
pub fn match_expression(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The best `limit` matches of `text`, one per session (its best-ranked document), best first.
/// A query with CJK characters goes through `search_cjk` (see [`super::search_cjk`]).
pub fn search(c: &Connection, text: &str, limit: usize) -> Result<Vec<SearchHit>> {
    let terms = search_cjk::query_terms(text);
    if !terms.cjk.is_empty() {
        return search_with_cjk(c, &terms, limit);
    }
    let Some(expr) = match_expression(text) else {
        return Ok(Vec::new());
    };
    let mut stmt = c
        .prepare_cached(
            "SELECT d.session_id, d.seq,
                    snippet(search_text, -1, ?2, ?3, '…', 12)
             FROM search_text JOIN search_docs d ON d.id = search_text.rowid
             WHERE search_text MATCH ?1
             ORDER BY bm25(search_text, 10.0, 1.0)
             LIMIT ?4",
        )
        .map_err(|e| Error::db("preparing search", e))?;
    // Several documents of one session may rank high: read a few more than asked for and keep
    // each session's best.
    let rows = stmt
        .query_map(
            params![
                expr,
                MATCH_START.to_string(),
                MATCH_END.to_string(),
                (limit * 4) as i64
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(|e| Error::db("searching", e))?;
    let rows = rows.map(|r| r.map_err(|e| Error::db("reading a search hit", e)));
    best_per_session(rows, limit, |s| s)
}

/// A query with CJK runs, matched in `search_cjk` and ranked by its BM25 (same weights), with
/// snippets cut from the original text.
fn search_with_cjk(
    c: &Connection,
    terms: &search_cjk::QueryTerms,
    limit: usize,
) -> Result<Vec<SearchHit>> {
    let Some(expr) = search_cjk::match_expression(terms) else {
        return Ok(Vec::new());
    };
    let mut stmt = c
        .prepare_cached(
            "SELECT d.session_id, d.seq, t.title, t.body
             FROM search_cjk
               JOIN search_docs d ON d.id = search_cjk.rowid
               JOIN search_text t ON t.rowid = search_cjk.rowid
             WHERE search_cjk MATCH ?1
             ORDER BY bm25(search_cjk, 10.0, 1.0)
             LIMIT ?2",
        )
        .map_err(|e| Error::db("preparing search", e))?;
    let marked: Vec<String> = terms.cjk.iter().chain(&terms.words).cloned().collect();
    let map = |r: &rusqlite::Row<'_>| {
        let title: String = r.get(2)?;
        let body: String = r.get(3)?;
        let text = if title.is_empty() { body } else { title };
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, text))
    };
    let fetch = (limit * 4) as i64;
    let rows = stmt
        .query_map(params![expr, fetch], map)
        .map_err(|e| Error::db("searching", e))?
        .map(|r| r.map_err(|e| Error::db("reading a search hit", e)));
    // Snippets are cut only for the hits kept.
    best_per_session(rows, limit, |text| search_cjk::snippet(&text, &marked))
}

/// The first (best) hit of each session, at most `limit`; `snippet` makes a kept hit's snippet
/// from what its row carries.
fn best_per_session<S>(
    rows: impl Iterator<Item = Result<(String, i64, S)>>,
    limit: usize,
    snippet: impl Fn(S) -> String,
) -> Result<Vec<SearchHit>> {
    let mut seen = HashSet::new();
    let mut hits = Vec::new();
    for row in rows {
        let (session_id, seq, s) = row?;
        if !seen.insert(session_id.clone()) {
            continue;
        }
        hits.push(SearchHit {
            session_id,
            seq: (seq > 0).then_some(seq as u64),
            snippet: snippet(s),
            session: None,
        });
        if hits.len() == limit {
            break;
        }
    }
    Ok(hits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_quoted_prefixes() {
        assert_eq!(
            match_expression(r#"deploy "OR" NEAR(x"#).as_deref(),
            Some(r#""deploy"* "OR"* "NEAR"* "x"*"#)
        );
        assert_eq!(match_expression("  ,. "), None);
        assert_eq!(
            match_expression("café 日本").as_deref(),
            Some(r#""café"* "日本"*"#)
        );
    }

    #[test]
    fn huge_text_is_clipped_on_a_char_boundary() {
        let t = clip("é".repeat(MAX_INDEXED_CHARS));
        assert!(t.len() <= MAX_INDEXED_CHARS);
        assert!(t.chars().all(|c| c == 'é'));
    }
}
