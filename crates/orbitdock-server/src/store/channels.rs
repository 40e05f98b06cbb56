//! Notification channels for people without Web Push (webhooks, ntfy-style topics), one row per
//! channel with its delivery record. Written through the single writer
//! ([`super::PersistOp::Channel`]); read on the reader pool.

use orbitdock_protocol::notify::{ChannelKind, NoticeKind, NotifyChannel};
use rusqlite::{Connection, Transaction, params};

use super::{Store, json};
use crate::error::{Error, Result};

/// One stored channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    /// Its id.
    pub id: String,
    /// Which kind.
    pub kind: ChannelKind,
    /// Its name.
    pub name: String,
    /// Where it posts.
    pub url: String,
    /// Kinds it gets.
    pub kinds: Vec<NoticeKind>,
    /// Added (Unix ms).
    pub created_at: i64,
    /// Last accepted delivery (Unix ms).
    pub last_success_at: Option<i64>,
    /// Failed deliveries since the last success.
    pub failure_count: u32,
    /// The last failure.
    pub last_error: Option<String>,
}

impl ChannelRow {
    /// What the API shows of it.
    pub fn channel(&self) -> NotifyChannel {
        NotifyChannel {
            id: self.id.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            url: self.url.clone(),
            kinds: self.kinds.clone(),
            created_at: self.created_at,
            last_success_at: self.last_success_at,
            failure_count: self.failure_count,
            last_error: self.last_error.clone(),
        }
    }
}

/// A write to the channels table.
#[derive(Debug, Clone)]
pub enum ChannelOp {
    /// Insert a channel, or update its name, URL and kinds (its delivery record stays).
    Upsert(Box<ChannelRow>),
    /// Remove a channel.
    Delete {
        /// Its id.
        id: String,
    },
    /// A delivery was accepted.
    Delivered {
        /// The channel.
        id: String,
        /// When (Unix ms).
        at: i64,
    },
    /// A delivery failed after its retries.
    Failed {
        /// The channel.
        id: String,
        /// Why.
        error: String,
    },
}

pub(super) fn apply(tx: &Transaction<'_>, op: &ChannelOp) -> Result<()> {
    match op {
        ChannelOp::Upsert(row) => {
            tx.execute(
                "INSERT INTO notify_channels (id, kind, name, url, kinds, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET kind = ?2, name = ?3, url = ?4, kinds = ?5",
                params![
                    row.id,
                    row.kind.as_str(),
                    row.name,
                    row.url,
                    json(&row.kinds)?,
                    row.created_at
                ],
            )
            .map_err(|e| Error::db("saving a notification channel", e))?;
        }
        ChannelOp::Delete { id } => {
            tx.execute("DELETE FROM notify_channels WHERE id = ?1", [id])
                .map_err(|e| Error::db("removing a notification channel", e))?;
        }
        ChannelOp::Delivered { id, at } => {
            super::push::record_outcome(tx, "notify_channels", id, Ok(*at))?
        }
        ChannelOp::Failed { id, error } => {
            super::push::record_outcome(tx, "notify_channels", id, Err(error))?
        }
    }
    Ok(())
}

fn all(c: &Connection) -> Result<Vec<ChannelRow>> {
    let mut stmt = c
        .prepare(
            "SELECT id, kind, name, url, kinds, created_at, last_success_at, failure_count,
                    last_error
             FROM notify_channels ORDER BY created_at, id",
        )
        .map_err(|e| Error::db("listing notification channels", e))?;
    let rows = stmt
        .query_map([], |r| {
            let kinds: String = r.get(4)?;
            Ok(ChannelRow {
                id: r.get(0)?,
                kind: ChannelKind::parse(&r.get::<_, String>(1)?),
                name: r.get(2)?,
                url: r.get(3)?,
                // Our own JSON; a row damaged by hand falls back to "everything".
                kinds: serde_json::from_str(&kinds).unwrap_or_else(|_| NoticeKind::KNOWN.to_vec()),
                created_at: r.get(5)?,
                last_success_at: r.get(6)?,
                failure_count: r.get::<_, i64>(7)?.clamp(0, i64::from(u32::MAX)) as u32,
                last_error: r.get(8)?,
            })
        })
        .map_err(|e| Error::db("listing notification channels", e))?;
    rows.collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::db("reading notification channels", e))
}

impl Store {
    /// Every notification channel, oldest first.
    pub async fn notify_channels(&self) -> Result<Vec<ChannelRow>> {
        self.read(all).await
    }
}
