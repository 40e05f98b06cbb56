//! What the notification targets' tables (Web Push subscriptions in [`super::push`], channels in
//! [`super::channels`]) have in common: the writes other than saving a target (removing it,
//! recording a delivery's outcome) and the delivery record every row carries
//! (`last_success_at`, `failure_count`, `last_error`). Only the targets' own columns differ, so
//! only [`TargetOp::Upsert`] is written by each module.

use orbitdock_protocol::notify::DeliveryRecord;
use rusqlite::{Transaction, params};

use crate::error::{Error, Result};

/// A write to a notification target's table; `Row` is the table's row type.
#[derive(Debug, Clone)]
pub enum TargetOp<Row> {
    /// Insert a target, or update what it was given (its delivery record stays).
    Upsert(Box<Row>),
    /// Remove a target (revoked by the user, or gone at its service).
    Delete {
        /// Its id.
        id: String,
    },
    /// A delivery was accepted.
    Delivered {
        /// The target.
        id: String,
        /// When (Unix ms).
        at: i64,
    },
    /// A delivery failed (after its retries).
    Failed {
        /// The target.
        id: String,
        /// Why.
        error: String,
    },
}

/// Which table a target lives in, and what its rows are called in errors.
pub(super) struct Table {
    pub name: &'static str,
    /// "push subscription", "notification channel".
    pub what: &'static str,
}

/// Applies `op` to `table`; `upsert` writes the target's own columns.
pub(super) fn apply<Row>(
    tx: &Transaction<'_>,
    table: &Table,
    op: &TargetOp<Row>,
    upsert: impl FnOnce(&Row) -> Result<()>,
) -> Result<()> {
    let name = table.name;
    let what = table.what;
    match op {
        TargetOp::Upsert(row) => return upsert(row),
        TargetOp::Delete { id } => tx
            .execute(&format!("DELETE FROM {name} WHERE id = ?1"), [id])
            .map_err(|e| Error::db(format!("removing a {what}"), e)),
        // A success clears the failures, a failure counts.
        TargetOp::Delivered { id, at } => tx
            .execute(
                &format!(
                    "UPDATE {name} SET last_success_at = ?2, failure_count = 0, last_error = NULL
                     WHERE id = ?1"
                ),
                params![id, at],
            )
            .map_err(|e| Error::db(format!("recording a delivery to a {what}"), e)),
        TargetOp::Failed { id, error } => tx
            .execute(
                &format!(
                    "UPDATE {name} SET failure_count = failure_count + 1, last_error = ?2
                     WHERE id = ?1"
                ),
                params![id, error],
            )
            .map_err(|e| Error::db(format!("recording a failed delivery to a {what}"), e)),
    }
    .map(|_| ())
}

/// The delivery record's columns, in the order [`read_delivery`] reads them.
pub(super) const DELIVERY_COLUMNS: &str = "last_success_at, failure_count, last_error";

/// Reads [`DELIVERY_COLUMNS`] starting at column `first`.
pub(super) fn read_delivery(
    r: &rusqlite::Row<'_>,
    first: usize,
) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        last_success_at: r.get(first)?,
        failure_count: r.get::<_, i64>(first + 1)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_error: r.get(first + 2)?,
    })
}
