//! Full-text search over sessions (name, first prompt, working directory) and their
//! transcripts, with SQLite FTS5.
//!
//! Why FTS5 in the same database rather than a separate search library: the index is written
//! by the store's single writer in the same transaction as the items it indexes, so a search
//! never finds an item the database does not have (nor misses one it does), a crash cannot
//! leave the two apart, and there is no second file to keep in step.
//!
//! Layout:
//! * `search_titles` (one row per session: its name, first prompt and directory) and
//!   `search_text` (one row per transcript item with text) are FTS5 tables.
//! * Their row ids are in time order: a document's id is its session's `base` (allocated once
//!   per session from the second it was created, `search_sessions`) shifted left by
//!   [`SEQ_BITS`], plus the item's `seq` (0 for the session's own text). Reading a match
//!   newest first is then FTS5's cheap direction (`ORDER BY rowid DESC` walks the doclists
//!   lazily), and one session's documents are neighbours.
//! * `search_docs` maps `(session_id, seq)` to the document id and remembers a hash of the
//!   indexed text, so the many re-writes of an unchanged session row or a streaming item whose
//!   text did not change cost one indexed lookup, not an FTS delete and insert.
//! * `search_vocab` holds every term the index has ever held (cut to [`TERM_CHARS`]
//!   characters), exactly as FTS5's tokenizer produced it: the writer stages the text it
//!   indexes in a temporary FTS5 table and copies that table's vocabulary at commit.
//!
//! Why the vocabulary: FTS5 answers a prefix query (`"fail"*`) by merging the doclists of
//! every term with that prefix into memory before returning its first row, which costs
//! ~45 ms per million matching documents whatever the `LIMIT`. A query word becomes instead
//! the OR of the (few) indexed terms it is a prefix of, each read lazily; only a prefix of
//! more than [`MAX_EXPANSIONS`] terms (one or two typed letters) falls back to FTS5's own.
//!
//! Ranking: sessions whose own text matches come first, by BM25 while they are at most
//! [`MAX_RANKED_TITLES`], newest first past that; then sessions whose transcript matches,
//! newest session first, each at its newest matching item. BM25 reads every matching document
//! of every term (for its document frequencies): tens of milliseconds for a word in every one
//! of 50,000 session names, seconds for one in millions of items.
//!
//! Tokenizer: `unicode61` with diacritics removed (`cafe` finds `café`), case-folded for every
//! script it knows. Each word of a query is matched as a prefix (`deploy` finds `deployment`)
//! and quoted, so no user input is read as FTS5 syntax. Text in scripts written without
//! spaces (Chinese, Japanese) is indexed a second time as bigrams: see [`super::search_cjk`].

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use orbitdock_protocol::{ItemBody, MATCH_END, MATCH_START, SearchHit, SessionSummary};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::search_cjk;
use crate::error::{Error, Result};

/// The schema of the first search migration (kept as it ran: later migrations build on it).
pub(crate) const FIRST_SCHEMA: &str = r#"
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

/// The schema in time-ordered ids, with the session texts apart and the vocabulary; the
/// migration that runs it rebuilds the index from the stored sessions and items ([`rebuild`]).
pub(crate) const SCHEMA: &str = r#"
    DROP TABLE IF EXISTS search_text;
    DROP TABLE IF EXISTS search_cjk;
    DROP TABLE IF EXISTS search_docs;
    CREATE TABLE search_sessions (
        session_id  TEXT PRIMARY KEY,
        base        INTEGER NOT NULL UNIQUE   -- (created second << SLOT_BITS) + slot
    );
    CREATE TABLE search_docs (
        id          INTEGER PRIMARY KEY,   -- (base << SEQ_BITS) + seq: the FTS row id
        session_id  TEXT NOT NULL,
        seq         INTEGER NOT NULL,      -- 0: the session's own text
        hash        INTEGER NOT NULL,
        UNIQUE (session_id, seq)
    );
    CREATE VIRTUAL TABLE search_titles USING fts5(
        title, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE search_text USING fts5(
        body, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE search_cjk_titles USING fts5(
        title, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE search_cjk USING fts5(
        body, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TABLE search_vocab (term TEXT PRIMARY KEY) WITHOUT ROWID;
"#;

/// Bits of a document id that hold the item's `seq`: items past the millionth of one session
/// are not indexed.
pub const SEQ_BITS: u32 = 20;
/// Bits of a session's `base` that tell apart sessions created in the same second (more than
/// 512 in one second spill into the next second's slots, which only blurs their order).
const SLOT_BITS: u32 = 9;
/// Terms are kept in the vocabulary cut to this many characters; a kept term this long stands
/// for every longer term it starts and is queried as a prefix.
pub const TERM_CHARS: usize = 32;
/// A query word that is the prefix of more indexed terms than this is matched by FTS5's own
/// prefix query instead of the OR of its terms.
pub const MAX_EXPANSIONS: usize = 256;
/// Most transcript matches read (newest first) to find a page of sessions.
const MAX_SCANNED: i64 = 50_000;
/// Sessions whose own text matches are ranked by BM25 up to this many, newest first past it.
pub const MAX_RANKED_TITLES: i64 = 2_000;

/// The temporary tables of a connection that indexes or searches: `search_stage` tokenizes
/// text exactly as the index does (it is never read back as text); its vocabulary, by term or
/// by instance, is what the writer adds to `search_vocab` and how a query's words become
/// terms.
const STAGE: &str = r#"
    CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_stage USING fts5(
        t, content = '', tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_stage_terms
        USING fts5vocab(temp, search_stage, 'row');
    CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_stage_tokens
        USING fts5vocab(temp, search_stage, 'instance');
"#;

/// Creates the connection's temporary staging tables (idempotent): once per connection, when
/// it is opened or migrated.
pub(crate) fn prepare_connection(c: &Connection) -> Result<()> {
    c.execute_batch(STAGE)
        .map_err(|e| Error::db("creating the search staging tables", e))
}

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

/// Indexes (or re-indexes) a session's own text, in the writer's transaction.
pub(crate) fn put_session(tx: &Transaction<'_>, s: &SessionSummary) -> Result<()> {
    put_doc(tx, &s.id, 0, &session_text(s), Some(s.created_at))
}

/// Indexes (or re-indexes, or un-indexes when `text` is empty) one document, in the writer's
/// transaction. `seq` 0 is the session's own text (see [`put_session`]).
pub(crate) fn put(tx: &Transaction<'_>, session_id: &str, seq: u64, text: &str) -> Result<()> {
    put_doc(tx, session_id, seq, text, None)
}

fn put_doc(
    tx: &Transaction<'_>,
    session_id: &str,
    seq: u64,
    text: &str,
    created_at: Option<i64>,
) -> Result<()> {
    if seq >= 1 << SEQ_BITS {
        return Ok(());
    }
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
            remove_text(tx, id, seq)?;
            if text.trim().is_empty() {
                tx.prepare_cached("DELETE FROM search_docs WHERE id = ?1")
                    .and_then(|mut st| st.execute(params![id]))
                    .map_err(|e| Error::db("dropping a search document", e))?;
                return Ok(());
            }
            tx.prepare_cached("UPDATE search_docs SET hash = ?2 WHERE id = ?1")
                .and_then(|mut st| st.execute(params![id, hash]))
                .map_err(|e| Error::db("re-indexing a search document", e))?;
            insert_text(tx, id, seq, text)
        }
        None => {
            if text.trim().is_empty() {
                return Ok(());
            }
            let id = (session_base(tx, session_id, created_at)? << SEQ_BITS) | seq as i64;
            tx.prepare_cached(
                "INSERT INTO search_docs (id, session_id, seq, hash) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut st| st.execute(params![id, session_id, seq as i64, hash]))
            .map_err(|e| Error::db("adding a search document", e))?;
            insert_text(tx, id, seq, text)
        }
    }
}

/// The session's `base` (see the module's notes), allocated on its first document from the
/// second it was created: `created_at` when given, else its stored summary's, else now.
fn session_base(tx: &Transaction<'_>, session_id: &str, created_at: Option<i64>) -> Result<i64> {
    let known: Option<i64> = tx
        .prepare_cached("SELECT base FROM search_sessions WHERE session_id = ?1")
        .and_then(|mut st| st.query_row([session_id], |r| r.get(0)).optional())
        .map_err(|e| Error::db("looking up a session's search ids", e))?;
    if let Some(base) = known {
        return Ok(base);
    }
    let created_at = match created_at {
        Some(t) => t,
        None => tx
            .prepare_cached(
                "SELECT json_extract(summary, '$.created_at') FROM sessions WHERE id = ?1",
            )
            .and_then(|mut st| {
                st.query_row([session_id], |r| r.get::<_, Option<i64>>(0))
                    .optional()
            })
            .map_err(|e| Error::db("reading when a session was created", e))?
            .flatten()
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis()),
    };
    // Seconds, clamped so that the id keeps its sign bit clear.
    let max_secs = (1_i64 << (63 - SEQ_BITS - SLOT_BITS)) - 1;
    let secs = (created_at / 1000).clamp(0, max_secs);
    // The first free slot from this second on: sessions created in one second are few, so the
    // walk over the taken ones is short.
    let mut base = secs << SLOT_BITS;
    let err = |e| Error::db("allocating a session's search ids", e);
    let mut st = tx
        .prepare_cached("SELECT base FROM search_sessions WHERE base >= ?1 ORDER BY base")
        .map_err(err)?;
    for taken in st.query_map([base], |r| r.get::<_, i64>(0)).map_err(err)? {
        if taken.map_err(err)? != base {
            break;
        }
        base += 1;
    }
    tx.prepare_cached("INSERT INTO search_sessions (session_id, base) VALUES (?1, ?2)")
        .and_then(|mut st| st.execute(params![session_id, base]))
        .map_err(err)?;
    Ok(base)
}

fn insert_text(tx: &Transaction<'_>, id: i64, seq: u64, text: &str) -> Result<()> {
    let sql = if seq == 0 {
        "INSERT INTO search_titles (rowid, title) VALUES (?1, ?2)"
    } else {
        "INSERT INTO search_text (rowid, body) VALUES (?1, ?2)"
    };
    tx.prepare_cached(sql)
        .and_then(|mut st| st.execute(params![id, text]))
        .map_err(|e| Error::db("indexing text", e))?;
    tx.prepare_cached("INSERT INTO temp.search_stage (t) VALUES (?1)")
        .and_then(|mut st| st.execute(params![text]))
        .map_err(|e| Error::db("staging indexed terms", e))?;
    search_cjk::put(tx, id, seq, text)
}

fn remove_text(tx: &Transaction<'_>, id: i64, seq: u64) -> Result<()> {
    let sql = if seq == 0 {
        "DELETE FROM search_titles WHERE rowid = ?1"
    } else {
        "DELETE FROM search_text WHERE rowid = ?1"
    };
    tx.prepare_cached(sql)
        .and_then(|mut st| st.execute(params![id]))
        .map_err(|e| Error::db("re-indexing a search document", e))?;
    search_cjk::remove(tx, id, seq)
}

/// Adds the terms of the text indexed since the last call to `search_vocab`. Called by every
/// transaction that indexes, before it commits (a call missed only delays the terms to the
/// next one: the staged text stays on the connection).
pub(crate) fn flush_vocab(tx: &Transaction<'_>) -> Result<()> {
    tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO search_vocab (term)
         SELECT substr(term, 1, {TERM_CHARS}) FROM temp.search_stage_terms"
    ))
    .and_then(|mut st| st.execute([]))
    .map_err(|e| Error::db("adding indexed terms", e))?;
    tx.prepare_cached("INSERT INTO temp.search_stage (search_stage) VALUES ('delete-all')")
        .and_then(|mut st| st.execute([]))
        .map_err(|e| Error::db("clearing staged terms", e))?;
    Ok(())
}

/// Un-indexes a session's transcript items (`with_session`: its own text too, and its ids).
/// Its terms stay in the vocabulary, which only ever names terms that may match.
pub(crate) fn remove_session(
    tx: &Transaction<'_>,
    session_id: &str,
    with_session: bool,
) -> Result<()> {
    let min_seq: i64 = if with_session { 0 } else { 1 };
    for table in [
        "search_cjk",
        "search_cjk_titles",
        "search_text",
        "search_titles",
    ] {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE rowid IN
                   (SELECT id FROM search_docs WHERE session_id = ?1 AND seq >= ?2)"
            ),
            params![session_id, min_seq],
        )
        .map_err(|e| Error::db("un-indexing a session", e))?;
    }
    tx.execute(
        "DELETE FROM search_docs WHERE session_id = ?1 AND seq >= ?2",
        params![session_id, min_seq],
    )
    .map_err(|e| Error::db("un-indexing a session", e))?;
    if with_session {
        tx.execute(
            "DELETE FROM search_sessions WHERE session_id = ?1",
            params![session_id],
        )
        .map_err(|e| Error::db("un-indexing a session", e))?;
    }
    Ok(())
}

/// Documents indexed between two vocabulary flushes while rebuilding (bounds the staging
/// table, which would otherwise hold a second index of the whole history).
const REBUILD_FLUSH_EVERY: usize = 2_000;

/// Indexes every stored session and item from scratch (run once, by the migration that
/// creates [`SCHEMA`]).
pub(crate) fn rebuild(tx: &Transaction<'_>) -> Result<()> {
    let started = std::time::Instant::now();
    // Once per database, before the server listens: say why the start takes longer (a new,
    // empty database has nothing to say; the items are not counted, which would read the
    // whole table once more).
    let stored: bool = tx
        .query_row("SELECT EXISTS (SELECT 1 FROM items)", [], |r| r.get(0))
        .map_err(|e| Error::db("looking for items to index", e))?;
    if stored {
        tracing::info!("rebuilding the search index (once, for this build's format)");
    }
    let mut n = 0usize;
    let mut flush = |tx: &Transaction<'_>| -> Result<()> {
        n += 1;
        if n.is_multiple_of(REBUILD_FLUSH_EVERY) {
            flush_vocab(tx)?;
        }
        Ok(())
    };
    {
        let mut sessions = tx
            .prepare("SELECT summary FROM sessions")
            .map_err(|e| Error::db("reading sessions to index", e))?;
        let rows = sessions
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| Error::db("reading sessions to index", e))?;
        for row in rows {
            let summary = row.map_err(|e| Error::db("reading a session to index", e))?;
            // A row that does not decode is left out of search, never fatal to the migration.
            if let Ok(s) = serde_json::from_str::<SessionSummary>(&summary) {
                put_session(tx, &s)?;
                flush(tx)?;
            }
        }
    }
    {
        let mut items = tx
            .prepare("SELECT session_id, seq, body FROM items WHERE seq > 0")
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
                put(tx, &sid, seq as u64, &item_text(&item.body))?;
                flush(tx)?;
            }
        }
    }
    flush_vocab(tx)?;
    if stored {
        tracing::info!(
            documents = n,
            seconds = started.elapsed().as_secs_f64(),
            "search index rebuilt"
        );
    }
    Ok(())
}

/// The words of a user's query: split on anything that is not a letter or a digit.
fn query_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// How one query word is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordMatch {
    /// Any of these indexed terms (read lazily); a term [`TERM_CHARS`] long is itself a prefix.
    Terms(Vec<String>),
    /// FTS5's own prefix query of the word (too many terms, none known, or a word the
    /// tokenizer splits).
    Prefix(String),
}

impl WordMatch {
    fn render(&self) -> String {
        match self {
            WordMatch::Prefix(w) => format!("{}*", quoted(w)),
            WordMatch::Terms(terms) => {
                let alts: Vec<String> = terms
                    .iter()
                    .map(|t| {
                        if t.chars().count() >= TERM_CHARS {
                            format!("{}*", quoted(t))
                        } else {
                            quoted(t)
                        }
                    })
                    .collect();
                format!("({})", alts.join(" OR "))
            }
        }
    }
}

/// The FTS5 query for matches of every word (each quoted, so no input is read as query
/// syntax).
pub fn render(words: &[WordMatch]) -> String {
    words
        .iter()
        .map(WordMatch::render)
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// How each word of `text` is matched, read from the index's vocabulary: the word is
/// tokenized by the index's own tokenizer (on the connection's staging table, see
/// [`prepare_connection`]), then expanded to the indexed terms it starts.
pub fn plan(c: &Connection, text: &str) -> Result<Vec<WordMatch>> {
    let words = query_words(text);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let clear = || {
        c.prepare_cached("INSERT INTO temp.search_stage (search_stage) VALUES ('delete-all')")
            .and_then(|mut st| st.execute([]))
            .map_err(|e| Error::db("clearing staged terms", e))
    };
    clear()?;
    for (i, w) in words.iter().enumerate() {
        c.prepare_cached("INSERT INTO temp.search_stage (rowid, t) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(params![i as i64, w]))
            .map_err(|e| Error::db("tokenizing a query", e))?;
    }
    let mut tokens: Vec<Vec<String>> = vec![Vec::new(); words.len()];
    {
        let mut st = c
            .prepare_cached(
                "SELECT doc, term FROM temp.search_stage_tokens ORDER BY doc, \"offset\"",
            )
            .map_err(|e| Error::db("tokenizing a query", e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| Error::db("tokenizing a query", e))?;
        for row in rows {
            let (doc, term) = row.map_err(|e| Error::db("tokenizing a query", e))?;
            if let Some(t) = tokens.get_mut(doc as usize) {
                t.push(term);
            }
        }
    }
    clear()?;
    let mut plan = Vec::with_capacity(words.len());
    let mut expand = c
        .prepare_cached("SELECT term FROM search_vocab WHERE term >= ?1 ORDER BY term")
        .map_err(|e| Error::db("expanding a query word", e))?;
    for (word, toks) in words.iter().zip(tokens) {
        let [token] = toks.as_slice() else {
            // No token (the tokenizer drops it) or several: FTS5 reads it as it indexes it.
            plan.push(WordMatch::Prefix((*word).to_owned()));
            continue;
        };
        // Stored terms are cut to TERM_CHARS characters: look up the word cut the same way.
        let key: String = token.chars().take(TERM_CHARS).collect();
        let err = |e| Error::db("expanding a query word", e);
        let terms: Vec<String> = expand
            .query_map([&key], |r| r.get::<_, String>(0))
            .map_err(err)?
            .take_while(|t| t.as_ref().map_or(true, |t| t.starts_with(&key)))
            .take(MAX_EXPANSIONS + 1)
            .collect::<rusqlite::Result<_>>()
            .map_err(err)?;
        plan.push(if terms.is_empty() || terms.len() > MAX_EXPANSIONS {
            WordMatch::Prefix(token.clone())
        } else {
            WordMatch::Terms(terms)
        });
    }
    Ok(plan)
}

/// The tables one query reads: the sessions' own texts and the transcripts, as words or as CJK
/// bigrams (same document ids).
struct Tables {
    titles: &'static str,
    bodies: &'static str,
}

const WORD_TABLES: Tables = Tables {
    titles: "search_titles",
    bodies: "search_text",
};
const CJK_TABLES: Tables = Tables {
    titles: "search_cjk_titles",
    bodies: "search_cjk",
};

/// The best `limit` matches of `text`, one per session, best first (see the module's notes
/// on ranking). A query with CJK characters is matched in the bigram tables (see
/// [`super::search_cjk`]), with the same ranking.
pub fn search(c: &Connection, text: &str, limit: usize) -> Result<Vec<SearchHit>> {
    let terms = search_cjk::query_terms(text);
    let cjk = !terms.cjk.is_empty();
    // The vocabulary holds the word tables' tokens; the bigram tables tokenize a mixed run
    // (`東京リージョンにdeployする`) differently (`deploy` alone), so there words stay FTS5
    // prefixes.
    let plan = if cjk {
        terms
            .words
            .iter()
            .flat_map(|w| query_words(w))
            .map(|w| WordMatch::Prefix(w.to_owned()))
            .collect()
    } else {
        plan(c, &terms.words.join(" "))?
    };
    if plan.is_empty() && !cjk {
        return Ok(Vec::new());
    }
    let words = render(&plan);
    let expr = if cjk {
        search_cjk::match_expression(&terms.cjk, &words)
    } else {
        words
    };
    let found = ranked(
        c,
        if cjk { &CJK_TABLES } else { &WORD_TABLES },
        &expr,
        limit,
    )?;

    // Snippets for the kept hits only. With every word read lazily, FTS5 cuts them (a lookup
    // by id); a word left to FTS5's prefix query would cost a full merge per lookup, and the
    // bigram text is not readable, so then they are cut here from the original text.
    let by_fts = !cjk && plan.iter().all(|w| matches!(w, WordMatch::Terms(_)));
    let marked: Vec<String> = terms
        .cjk
        .iter()
        .cloned()
        .chain(plan.iter().flat_map(|w| match w {
            WordMatch::Terms(t) => t.clone(),
            WordMatch::Prefix(p) => vec![p.clone()],
        }))
        .collect();
    let (start, end) = (MATCH_START.to_string(), MATCH_END.to_string());
    let mut hits = Vec::with_capacity(found.len());
    for (session_id, seq, id) in found {
        let (table, column) = if seq == 0 {
            ("search_titles", "title")
        } else {
            ("search_text", "body")
        };
        let snippet = if by_fts {
            c.prepare_cached(&format!(
                "SELECT snippet({table}, 0, ?2, ?3, '…', 12) FROM {table}
                 WHERE {table} MATCH ?1 AND rowid = ?4"
            ))
            .and_then(|mut st| {
                st.query_row(params![expr, start, end, id], |r| r.get::<_, String>(0))
                    .optional()
            })
        } else {
            c.prepare_cached(&format!("SELECT {column} FROM {table} WHERE rowid = ?1"))
                .and_then(|mut st| st.query_row([id], |r| r.get::<_, String>(0)).optional())
                .map(|t| t.map(|t| search_cjk::snippet(&t, &marked)))
        }
        .map_err(|e| Error::db("cutting a snippet", e))?
        .unwrap_or_default();
        hits.push(SearchHit {
            session_id,
            seq: (seq > 0).then_some(seq as u64),
            snippet,
            session: None,
        });
    }
    Ok(hits)
}

/// The best `limit` matches of `expr` in `tables`, one per session, as `(session, seq, id)`:
/// sessions whose own text matches first, then transcripts newest first.
fn ranked(
    c: &Connection,
    tables: &Tables,
    expr: &str,
    limit: usize,
) -> Result<Vec<(String, i64, i64)>> {
    let Tables { titles, bodies } = tables;
    let mut seen: HashSet<String> = HashSet::new();
    // Sessions whose own text matches: by BM25 when they are few enough for it to be cheap
    // (it reads every match), else newest first like transcripts. Ids first: SQLite computes
    // every selected column of every match before sorting, so a join or a snippet here would
    // run for each of what can be every session.
    let title_matches: i64 = c
        .prepare_cached(&format!(
            "SELECT count(*) FROM (SELECT rowid FROM {titles} WHERE {titles} MATCH ?1 LIMIT ?2)"
        ))
        .and_then(|mut st| st.query_row(params![expr, MAX_RANKED_TITLES + 1], |r| r.get(0)))
        .map_err(|e| Error::db("searching", e))?;
    let order = if title_matches > MAX_RANKED_TITLES {
        "rowid DESC".to_owned()
    } else {
        format!("bm25({titles})")
    };
    let mut title_ids: Vec<i64> = Vec::new();
    if title_matches > 0 {
        let mut st = c
            .prepare_cached(&format!(
                "SELECT rowid FROM {titles} WHERE {titles} MATCH ?1 ORDER BY {order} LIMIT ?2"
            ))
            .map_err(|e| Error::db("preparing search", e))?;
        let rows = st
            .query_map(params![expr, limit as i64], |r| r.get::<_, i64>(0))
            .map_err(|e| Error::db("searching", e))?;
        for row in rows {
            title_ids.push(row.map_err(|e| Error::db("reading a search hit", e))?);
        }
    }
    let mut doc = c
        .prepare_cached("SELECT session_id, seq FROM search_docs WHERE id = ?1")
        .map_err(|e| Error::db("preparing search", e))?;
    let mut lookup = |id: i64| {
        doc.query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .optional()
            .map_err(|e| Error::db("reading a search hit", e))
    };
    let mut found: Vec<(String, i64, i64)> = Vec::new();
    for id in title_ids {
        if let Some((session_id, seq)) = lookup(id)?
            && seen.insert(session_id.clone())
        {
            found.push((session_id, seq, id));
        }
    }
    if found.len() >= limit {
        return Ok(found);
    }

    // Then transcripts, newest first: a session's documents are neighbours in id order, so
    // the first match read of each session is its newest.
    let mut st = c
        .prepare_cached(&format!(
            "SELECT rowid FROM {bodies} WHERE {bodies} MATCH ?1 ORDER BY rowid DESC LIMIT ?2"
        ))
        .map_err(|e| Error::db("preparing search", e))?;
    let mut rows = st
        .query(params![expr, MAX_SCANNED])
        .map_err(|e| Error::db("searching", e))?;
    let mut last_base = None;
    while let Some(row) = rows.next().map_err(|e| Error::db("searching", e))? {
        let id: i64 = row
            .get(0)
            .map_err(|e| Error::db("reading a search hit", e))?;
        let base = id >> SEQ_BITS;
        if last_base == Some(base) {
            continue;
        }
        last_base = Some(base);
        if let Some((session_id, seq)) = lookup(id)?
            && seen.insert(session_id.clone())
        {
            found.push((session_id, seq, id));
            if found.len() >= limit {
                break;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn words_render_quoted() {
        let plan = [
            WordMatch::Terms(vec!["deploy".into(), "deployment".into()]),
            WordMatch::Prefix(r#"NEAR("x"#.into()),
            WordMatch::Terms(vec!["a".repeat(TERM_CHARS)]),
        ];
        assert_eq!(
            render(&plan),
            format!(
                r#"("deploy" OR "deployment") AND "NEAR(""x"* AND ("{}"*)"#,
                "a".repeat(TERM_CHARS)
            )
        );
        assert_eq!(query_words("  ,. "), Vec::<&str>::new());
        assert_eq!(
            query_words("foo_bar café-日本"),
            vec!["foo", "bar", "café", "日本"]
        );
    }

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c
    }

    fn session(id: &str, created_at: i64, name: &str) -> SessionSummary {
        SessionSummary {
            id: id.into(),
            created_at,
            name: (!name.is_empty()).then(|| name.into()),
            cwd: "/w".into(),
            ..Default::default()
        }
    }

    /// Indexes sessions and items in one committed transaction, as the writer does.
    fn index(c: &mut Connection, sessions: &[SessionSummary], items: &[(&str, u64, &str)]) {
        let tx = c.transaction().unwrap();
        for s in sessions {
            put_session(&tx, s).unwrap();
        }
        for (sid, seq, text) in items {
            put(&tx, sid, *seq, text).unwrap();
        }
        flush_vocab(&tx).unwrap();
        tx.commit().unwrap();
    }

    fn found(c: &Connection, q: &str) -> Vec<(String, Option<u64>)> {
        search(c, q, 50)
            .unwrap()
            .into_iter()
            .map(|h| (h.session_id, h.seq))
            .collect()
    }

    fn id(c: &Connection, sid: &str, seq: u64) -> i64 {
        c.query_row(
            "SELECT id FROM search_docs WHERE session_id = ?1 AND seq = ?2",
            params![sid, seq as i64],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn document_ids_follow_the_sessions_creation_then_the_items_order() {
        let mut c = db();
        let day = 86_400_000;
        // Written newest first, as the history import does.
        index(
            &mut c,
            &[
                session("new", 3 * day, "new"),
                session("same-second-a", 2 * day, "a"),
                session("same-second-b", 2 * day + 10, "b"),
                session("old", day, "old"),
            ],
            &[("old", 2, "x"), ("old", 1, "y"), ("new", 1, "z")],
        );
        let order = [
            id(&c, "old", 0),
            id(&c, "old", 1),
            id(&c, "old", 2),
            id(&c, "same-second-a", 0),
            id(&c, "same-second-b", 0),
            id(&c, "new", 0),
            id(&c, "new", 1),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        // The second session of a second takes the next slot, not a later second.
        assert_eq!(
            (id(&c, "same-second-b", 0) - id(&c, "same-second-a", 0)) >> SEQ_BITS,
            1
        );
        // An item before its session row: the base comes from the stored summary, else now.
        index(&mut c, &[], &[("unseen", 1, "w")]);
        assert!(id(&c, "unseen", 1) > id(&c, "new", 1));
        // Items past the id space of a session are left out, not mis-filed.
        index(&mut c, &[], &[("old", 1 << SEQ_BITS, "too far")]);
        assert!(found(&c, "far").is_empty());
    }

    #[test]
    fn the_vocabulary_holds_the_indexers_own_terms_and_query_words_expand_to_them() {
        let mut c = db();
        index(
            &mut c,
            &[session("s", 1_000, "")],
            &[
                (
                    "s",
                    1,
                    "Deploy the deployment; deployer Café ZOË naïve Привет",
                ),
                ("s", 2, &format!("{} end", "x".repeat(40))),
            ],
        );
        let vocab: HashSet<String> = c
            .prepare("SELECT term FROM search_vocab")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        for t in [
            "deploy",
            "deployment",
            "deployer",
            "cafe",
            "zoe",
            "naive",
            "привет",
        ] {
            assert!(vocab.contains(t), "{t} in {vocab:?}");
        }
        // A long term is kept cut, and stands for what it starts.
        assert!(vocab.contains(&"x".repeat(TERM_CHARS)));
        assert_eq!(
            plan(&c, "DEPLOY café").unwrap(),
            vec![
                WordMatch::Terms(vec![
                    "deploy".into(),
                    "deployer".into(),
                    "deployment".into()
                ]),
                WordMatch::Terms(vec!["cafe".into()]),
            ]
        );
        assert_eq!(found(&c, &"x".repeat(38)), vec![("s".into(), Some(2))]);
        assert_eq!(found(&c, "deploym naive"), vec![("s".into(), Some(1))]);
        // Nothing indexed starts with it: left to FTS5, which finds nothing either.
        assert_eq!(
            plan(&c, "kube").unwrap(),
            vec![WordMatch::Prefix("kube".into())]
        );
        assert!(found(&c, "kube").is_empty());
        // The staging table is left empty by the writer and by queries.
        let staged: i64 = c
            .query_row("SELECT count(*) FROM temp.search_stage_terms", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(staged, 0);
    }

    #[test]
    fn a_prefix_of_too_many_terms_falls_back_to_fts5_and_still_finds_and_marks() {
        let mut c = db();
        let many: Vec<String> = (0..=MAX_EXPANSIONS).map(|i| format!("module{i}")).collect();
        index(
            &mut c,
            &[session("s", 1_000, "")],
            &[("s", 1, &many.join(" ")), ("s", 2, "other words")],
        );
        assert_eq!(
            plan(&c, "modul").unwrap(),
            vec![WordMatch::Prefix("modul".into())]
        );
        let hits = search(&c, "modul", 10).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].seq, Some(1));
        assert!(
            hits[0]
                .snippet
                .starts_with(&format!("{MATCH_START}module0{MATCH_END}")),
            "{:?}",
            hits[0].snippet
        );
    }

    #[test]
    fn names_rank_first_then_transcripts_newest_session_first_at_their_newest_match() {
        let mut c = db();
        let day = 86_400_000;
        index(
            &mut c,
            &[
                session("old", day, ""),
                session("new", 3 * day, ""),
                session("named", 0, "Kubernetes upgrade"),
                session("elsewhere", 2 * day, ""),
            ],
            &[
                ("old", 1, "kubernetes pods restarted"),
                ("old", 5, "the kubernetes cluster is back"),
                ("old", 9, "unrelated"),
                ("new", 1, "one kubernetes mention"),
                ("elsewhere", 1, "nothing to see"),
            ],
        );
        assert_eq!(
            found(&c, "kubernetes"),
            vec![
                ("named".into(), None),
                ("new".into(), Some(1)),
                ("old".into(), Some(5)),
            ]
        );
        let hits = search(&c, "kube clust", 10).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits[0].snippet,
            format!(
                "the {MATCH_START}kubernetes{MATCH_END} {MATCH_START}cluster{MATCH_END} is back"
            )
        );
        // The limit counts sessions, names first.
        assert_eq!(search(&c, "kubernetes", 2).unwrap().len(), 2);
        // A re-indexed item moves its match, a removed session leaves search.
        index(&mut c, &[], &[("old", 5, "the cluster is back")]);
        assert_eq!(found(&c, "kubernetes")[2], ("old".into(), Some(1)));
        let tx = c.transaction().unwrap();
        remove_session(&tx, "new", true).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            found(&c, "kubernetes"),
            vec![("named".into(), None), ("old".into(), Some(1))]
        );
    }

    #[test]
    fn names_rank_by_relevance_while_few_and_newest_first_when_many() {
        let mut c = db();
        let day = 86_400_000;
        index(
            &mut c,
            &[
                session("focused", day, "Postgres upgrade"),
                session(
                    "passing",
                    2 * day,
                    "Release notes, changelog, version bump, tag, and a postgres mention",
                ),
            ],
            &[],
        );
        assert_eq!(
            found(&c, "postgres"),
            vec![("focused".into(), None), ("passing".into(), None)],
            "the shorter, more focused name first though older"
        );
        let many: Vec<SessionSummary> = (0..=MAX_RANKED_TITLES)
            .map(|i| session(&format!("s{i}"), 10 * day + i * 1000, "Nightly build"))
            .collect();
        index(&mut c, &many, &[]);
        let newest: Vec<String> = search(&c, "nightly", 3)
            .unwrap()
            .into_iter()
            .map(|h| h.session_id)
            .collect();
        let n = MAX_RANKED_TITLES;
        assert_eq!(
            newest,
            vec![
                format!("s{n}"),
                format!("s{}", n - 1),
                format!("s{}", n - 2)
            ]
        );
    }

    #[test]
    fn cjk_queries_rank_like_any_other_names_then_newest_transcripts() {
        let mut c = db();
        let day = 86_400_000;
        index(
            &mut c,
            &[
                session("old", day, ""),
                session("new", 3 * day, ""),
                session("named", 0, "東京出張"),
            ],
            &[
                ("old", 1, "昨日は東京で会議でした"),
                ("old", 2, "関係ない"),
                ("new", 4, "東京タワーにdeployする"),
            ],
        );
        assert_eq!(
            found(&c, "東京"),
            vec![
                ("named".into(), None),
                ("new".into(), Some(4)),
                ("old".into(), Some(1)),
            ]
        );
        // A word inside a CJK run is a word of the bigram text: found, and marked.
        let hits = search(&c, "東京 deploy", 10).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits[0].snippet,
            format!("{MATCH_START}東京{MATCH_END}タワーに{MATCH_START}deploy{MATCH_END}する")
        );
        let tx = c.transaction().unwrap();
        remove_session(&tx, "named", true).unwrap();
        tx.commit().unwrap();
        assert_eq!(found(&c, "東京")[0], ("new".into(), Some(4)));
    }

    #[test]
    fn the_rebuild_indexes_a_database_from_before_it() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        // A database from the build before the rebuild: the search tables as they were, and
        // rows the old index held under ids of its own.
        c.execute_batch(
            "DROP TABLE search_sessions; DROP TABLE search_docs; DROP TABLE search_titles;
             DROP TABLE search_text; DROP TABLE search_cjk; DROP TABLE search_cjk_titles;
             DROP TABLE search_vocab;",
        )
        .unwrap();
        c.execute_batch(FIRST_SCHEMA).unwrap();
        c.execute_batch(super::search_cjk::SCHEMA).unwrap();
        c.pragma_update(
            None,
            "user_version",
            crate::store::schema::SEARCH_REBUILD_VERSION - 1,
        )
        .unwrap();
        c.execute(
            "INSERT INTO search_text (rowid, title, body) VALUES (7, '', 'stale words')",
            [],
        )
        .unwrap();
        let s = session("s", 5_000, "Nightly rollout");
        let item = orbitdock_protocol::TranscriptItem {
            seq: 3,
            id: "i".into(),
            turn_id: None,
            status: Default::default(),
            created_at: 0,
            updated_at: 0,
            body: ItemBody::AgentMessage {
                text: "昨日は会議でした; the deployment finished".into(),
            },
        };
        c.execute(
            "INSERT INTO sessions (id, thread_id, provider, origin, status, updated_at, revision, summary, extra)
             VALUES ('s', NULL, 'codex', 'hub', 'ended', 0, 0, ?1, '{}')",
            [serde_json::to_string(&s).unwrap()],
        )
        .unwrap();
        c.execute(
            "INSERT INTO items (session_id, seq, item_id, turn_id, type, updated_at, body)
             VALUES ('s', 3, 'i', NULL, 'agent_message', 0, ?1)",
            [serde_json::to_string(&item).unwrap()],
        )
        .unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        assert_eq!(found(&c, "nightly"), vec![("s".into(), None)]);
        assert_eq!(found(&c, "deploy"), vec![("s".into(), Some(3))]);
        assert_eq!(found(&c, "会議"), vec![("s".into(), Some(3))]);
        assert!(found(&c, "stale").is_empty());
        assert_eq!(id(&c, "s", 3) & ((1 << SEQ_BITS) - 1), 3);
    }

    #[test]
    fn huge_text_is_clipped_on_a_char_boundary() {
        let t = clip("é".repeat(MAX_INDEXED_CHARS));
        assert!(t.len() <= MAX_INDEXED_CHARS);
        assert!(t.chars().all(|c| c == 'é'));
    }
}
