//! Notification channels for people without Web Push (webhooks, ntfy-style topics), one row per
//! channel with its delivery record. Written through the single writer
//! ([`super::PersistOp::Channel`]); read on the reader pool.

use orbitdock_protocol::notify::{ChannelKind, DeliveryRecord, NoticeKind, NotifyChannel};
use rusqlite::{Connection, Transaction, params};

use super::targets::{self, DELIVERY_COLUMNS, Table, TargetOp, read_delivery};
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
    /// How its deliveries went.
    pub delivery: DeliveryRecord,
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
            delivery: self.delivery.clone(),
        }
    }
}

/// A write to the channels table.
pub type ChannelOp = TargetOp<ChannelRow>;

const TABLE: Table = Table {
    name: "notify_channels",
    what: "notification channel",
};

pub(super) fn apply(tx: &Transaction<'_>, op: &ChannelOp) -> Result<()> {
    targets::apply(tx, &TABLE, op, |row| {
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
        Ok(())
    })
}

fn all(c: &Connection) -> Result<Vec<ChannelRow>> {
    let mut stmt = c
        .prepare(&format!(
            "SELECT id, kind, name, url, kinds, created_at, {DELIVERY_COLUMNS}
                 FROM notify_channels ORDER BY created_at, id"
        ))
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
                delivery: read_delivery(r, 6)?,
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
