//! Schema migrations, tracked with SQLite's `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] moves the schema from version `i` to `i + 1` and runs in one
//! transaction with the version bump, so a crash mid-migration leaves the old version intact.
//! Never edit a shipped migration; append a new one.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Migration `i` upgrades `user_version` `i` -> `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, items, turns, approvals.
    r#"
    CREATE TABLE sessions (
        id          TEXT PRIMARY KEY,
        thread_id   TEXT,
        provider    TEXT NOT NULL,
        origin      TEXT NOT NULL,
        status      TEXT NOT NULL,
        updated_at  INTEGER NOT NULL,
        revision    INTEGER NOT NULL DEFAULT 0,
        summary     TEXT NOT NULL,   -- SessionSummary JSON (names, config, usage, ...)
        extra       TEXT NOT NULL    -- SessionExtra JSON (plan, diff, rate limits, turn)
    );
    CREATE INDEX sessions_by_updated ON sessions(updated_at DESC);
    CREATE INDEX sessions_by_thread ON sessions(thread_id);

    CREATE TABLE items (
        session_id  TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        item_id     TEXT NOT NULL,
        turn_id     TEXT,
        type        TEXT NOT NULL,
        updated_at  INTEGER NOT NULL,
        body        TEXT NOT NULL,   -- TranscriptItem JSON
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE turns (
        session_id  TEXT NOT NULL,
        turn_id     TEXT NOT NULL,
        status      TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        ended_at    INTEGER,
        error       TEXT,
        PRIMARY KEY (session_id, turn_id)
    ) WITHOUT ROWID;

    CREATE TABLE approvals (
        session_id  TEXT NOT NULL,
        version     INTEGER NOT NULL,
        request_id  TEXT NOT NULL,
        kind        TEXT NOT NULL,
        approval    TEXT NOT NULL,   -- PendingApproval JSON
        created_at  INTEGER NOT NULL,
        resolution  TEXT,            -- NULL while pending
        decision    TEXT,
        resolved_at INTEGER,
        PRIMARY KEY (session_id, version)
    ) WITHOUT ROWID;
    CREATE INDEX approvals_pending ON approvals(resolution) WHERE resolution IS NULL;
    "#,
    // 2: full-text search (see `store::search`); its rows are filled by migration 9.
    super::search::FIRST_SCHEMA,
    // 3: where passive sources (rollout files, Claude transcripts) stopped reading, committed
    // in the same transaction as the items read up to there.
    r#"
    CREATE TABLE source_checkpoints (
        source      TEXT NOT NULL,   -- which reader: 'codex_rollout', 'claude_transcript'
        path        TEXT NOT NULL,   -- the file read
        checkpoint  TEXT NOT NULL,   -- the reader's checkpoint JSON
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (source, path)
    ) WITHOUT ROWID;
    "#,
    // 4: Web Push subscriptions, one per device.
    r#"
    CREATE TABLE push_subscriptions (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        endpoint        TEXT NOT NULL UNIQUE,
        p256dh          TEXT NOT NULL,
        auth            TEXT NOT NULL,
        kinds           TEXT NOT NULL,   -- JSON array of NoticeKind
        quiet_hours     TEXT,            -- QuietHours JSON
        created_at      INTEGER NOT NULL,
        last_success_at INTEGER,
        failure_count   INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    );
    "#,
    // 5: webhook and ntfy-style notification channels.
    r#"
    CREATE TABLE notify_channels (
        id              TEXT PRIMARY KEY,
        kind            TEXT NOT NULL,   -- ChannelKind
        name            TEXT NOT NULL,
        url             TEXT NOT NULL,
        kinds           TEXT NOT NULL,   -- JSON array of NoticeKind
        created_at      INTEGER NOT NULL,
        last_success_at INTEGER,
        failure_count   INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    );
    "#,
    // 6: the bigram index of text written without spaces (see `store::search_cjk`); its rows
    // are filled by migration 9.
    super::search_cjk::SCHEMA,
    // 7: pairing codes and paired-device sessions (digests only: see `store::devices`).
    r#"
    CREATE TABLE pairing_codes (
        code_hash   TEXT PRIMARY KEY,   -- SHA-256 of the code, hex
        name        TEXT,               -- the device's name when the pairing gave one
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE device_sessions (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        secret_hash  TEXT NOT NULL UNIQUE,   -- SHA-256 of the session secret, hex
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL
    );
    "#,
    // 8: agent threads whose sessions were pruned, which the history import skips (see
    // `crate::maintenance`).
    r#"
    CREATE TABLE pruned_threads (
        connector   TEXT NOT NULL,
        thread_id   TEXT NOT NULL,
        pruned_at   INTEGER NOT NULL,
        PRIMARY KEY (connector, thread_id)
    ) WITHOUT ROWID;
    "#,
    // 9: the search index rebuilt in time-ordered ids with its vocabulary (see `store::search`).
    super::search::SCHEMA,
];

/// The version whose migration rebuilds the search index (time-ordered ids, session texts
/// apart, the vocabulary): every stored session and item is indexed in the same transaction.
pub(crate) const SEARCH_REBUILD_VERSION: usize = 9;

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database to [`latest_version`]. Refuses a database from a newer build.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| Error::db("reading user_version", e))?;
    if current > latest_version() {
        return Err(Error::BadRequest(format!(
            "database schema version {current} is newer than this build ({})",
            latest_version()
        )));
    }
    // The connection that migrates is the one that writes: it indexes (the rebuild too)
    // through these.
    super::search::prepare_connection(conn)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn
            .transaction()
            .map_err(|e| Error::db("starting migration", e))?;
        tx.execute_batch(sql)
            .map_err(|e| Error::db(format!("migration {}", i + 1), e))?;
        if i + 1 == SEARCH_REBUILD_VERSION {
            super::search::rebuild(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(|e| Error::db("bumping user_version", e))?;
        tx.commit()
            .map_err(|e| Error::db(format!("committing migration {}", i + 1), e))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn migrates_from_empty_and_is_idempotent() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest_version());
    }

    #[test]
    fn refuses_newer_schema() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", 999).unwrap();
        assert!(matches!(migrate(&mut c), Err(Error::BadRequest(_))));
    }
}
