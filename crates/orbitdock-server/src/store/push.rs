//! Notification targets in SQLite: Web Push subscriptions, one row per device. Written through
//! the single writer like everything else ([`super::PersistOp::Push`]); read on the reader pool.
//!
//! The browser's keys (`p256dh`, `auth`) are stored because every push must be encrypted to
//! them; they never leave the server through the API.

use orbitdock_protocol::notify::{DeliveryRecord, NoticeKind, PushDevice, QuietHours};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::targets::{self, DELIVERY_COLUMNS, Table, TargetOp, read_delivery};
use super::{Store, json};
use crate::error::{Error, Result};

/// One stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscriptionRow {
    /// Its id.
    pub id: String,
    /// The device's name.
    pub name: String,
    /// The push service URL.
    pub endpoint: String,
    /// The browser's public key (base64url).
    pub p256dh: String,
    /// The browser's auth secret (base64url).
    pub auth: String,
    /// Kinds it wants.
    pub kinds: Vec<NoticeKind>,
    /// Its quiet hours.
    pub quiet_hours: Option<QuietHours>,
    /// Registered (Unix ms).
    pub created_at: i64,
    /// How its pushes went.
    pub delivery: DeliveryRecord,
}

impl PushSubscriptionRow {
    /// What the API shows of it.
    pub fn device(&self) -> PushDevice {
        let service = reqwest::Url::parse(&self.endpoint)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        PushDevice {
            id: self.id.clone(),
            name: self.name.clone(),
            service,
            kinds: self.kinds.clone(),
            quiet_hours: self.quiet_hours,
            created_at: self.created_at,
            delivery: self.delivery.clone(),
        }
    }
}

/// A write to the push subscriptions table.
pub type PushOp = TargetOp<PushSubscriptionRow>;

const TABLE: Table = Table {
    name: "push_subscriptions",
    what: "push subscription",
};

pub(super) fn apply(tx: &Transaction<'_>, op: &PushOp) -> Result<()> {
    targets::apply(tx, &TABLE, op, |row| {
        let kinds = json(&row.kinds)?;
        let quiet = row.quiet_hours.as_ref().map(json).transpose()?;
        tx.execute(
            "INSERT INTO push_subscriptions
               (id, name, endpoint, p256dh, auth, kinds, quiet_hours, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(id) DO UPDATE SET name = ?2, endpoint = ?3, p256dh = ?4, auth = ?5,
               kinds = ?6, quiet_hours = ?7",
            params![
                row.id,
                row.name,
                row.endpoint,
                row.p256dh,
                row.auth,
                kinds,
                quiet,
                row.created_at
            ],
        )
        .map_err(|e| Error::db("saving a push subscription", e))?;
        Ok(())
    })
}

/// The columns [`row`] reads: the target's own, then the delivery record.
fn columns() -> String {
    format!("id, name, endpoint, p256dh, auth, kinds, quiet_hours, created_at, {DELIVERY_COLUMNS}")
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(PushSubscriptionRow, String, Option<String>)> {
    Ok((
        PushSubscriptionRow {
            id: r.get(0)?,
            name: r.get(1)?,
            endpoint: r.get(2)?,
            p256dh: r.get(3)?,
            auth: r.get(4)?,
            kinds: Vec::new(),
            quiet_hours: None,
            created_at: r.get(7)?,
            delivery: read_delivery(r, 8)?,
        },
        r.get(5)?,
        r.get(6)?,
    ))
}

fn decode(
    (mut row, kinds, quiet): (PushSubscriptionRow, String, Option<String>),
) -> PushSubscriptionRow {
    // Our own JSON; a row damaged by hand falls back to "everything, no quiet hours" rather
    // than hiding the device.
    row.kinds = serde_json::from_str(&kinds).unwrap_or_else(|_| NoticeKind::KNOWN.to_vec());
    row.quiet_hours = quiet.and_then(|q| serde_json::from_str(&q).ok());
    row
}

fn all(c: &Connection) -> Result<Vec<PushSubscriptionRow>> {
    let mut stmt = c
        .prepare(&format!(
            "SELECT {} FROM push_subscriptions ORDER BY created_at, id",
            columns()
        ))
        .map_err(|e| Error::db("listing push subscriptions", e))?;
    let rows = stmt
        .query_map([], row)
        .map_err(|e| Error::db("listing push subscriptions", e))?;
    rows.map(|r| r.map(decode))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::db("reading push subscriptions", e))
}

impl Store {
    /// Every push subscription, oldest first.
    pub async fn push_subscriptions(&self) -> Result<Vec<PushSubscriptionRow>> {
        self.read(all).await
    }

    /// The subscription for a push endpoint, if any.
    pub async fn push_subscription_by_endpoint(
        &self,
        endpoint: &str,
    ) -> Result<Option<PushSubscriptionRow>> {
        let endpoint = endpoint.to_owned();
        self.read(move |c| {
            c.query_row(
                &format!(
                    "SELECT {} FROM push_subscriptions WHERE endpoint = ?1",
                    columns()
                ),
                [endpoint],
                row,
            )
            .optional()
            .map(|r| r.map(decode))
            .map_err(|e| Error::db("finding a push subscription", e))
        })
        .await
    }
}
