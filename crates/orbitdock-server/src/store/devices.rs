//! Pairing codes and paired-device sessions in SQLite. Only SHA-256 digests of the codes and of
//! the device secrets are stored: a copy of the database lets nobody sign in. Written through
//! the single writer ([`super::PersistOp::Devices`]); read on the reader pool.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::Store;
use crate::error::{Error, Result};

/// One pairing code waiting to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCodeRow {
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    /// The name the device will get, when the pairing named one.
    pub name: Option<String>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Unusable from (Unix ms).
    pub expires_at: i64,
}

/// One paired device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// SHA-256 of its session secret, hex.
    pub secret_hash: String,
    /// Paired (Unix ms).
    pub created_at: i64,
    /// Last request (Unix ms).
    pub last_seen_at: i64,
}

/// A write to the pairing tables.
#[derive(Debug, Clone)]
pub enum DeviceOp {
    /// Store a new code; codes expired before `now` go with it.
    AddCode {
        /// The code.
        code: PairingCodeRow,
        /// Now (Unix ms).
        now: i64,
    },
    /// Remove a code (used up or found expired).
    RemoveCode {
        /// Its digest.
        code_hash: String,
    },
    /// Use a code: it is removed and the device added, in one transaction.
    Pair {
        /// The code's digest.
        code_hash: String,
        /// The new device.
        device: Box<DeviceRow>,
    },
    /// A device made a request.
    Seen {
        /// The device.
        id: String,
        /// When (Unix ms).
        at: i64,
    },
    /// Forget a device: its secret stops working.
    Revoke {
        /// The device.
        id: String,
    },
}

pub(super) fn apply(tx: &Transaction<'_>, op: &DeviceOp) -> Result<()> {
    let r = match op {
        DeviceOp::AddCode { code, now } => tx
            .execute("DELETE FROM pairing_codes WHERE expires_at <= ?1", [now])
            .and_then(|_| {
                tx.execute(
                    "INSERT OR REPLACE INTO pairing_codes (code_hash, name, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![code.code_hash, code.name, code.created_at, code.expires_at],
                )
            }),
        DeviceOp::RemoveCode { code_hash } => tx.execute(
            "DELETE FROM pairing_codes WHERE code_hash = ?1",
            [code_hash],
        ),
        DeviceOp::Pair { code_hash, device } => tx
            .execute(
                "DELETE FROM pairing_codes WHERE code_hash = ?1",
                [code_hash],
            )
            .and_then(|_| {
                tx.execute(
                    "INSERT INTO device_sessions (id, name, secret_hash, created_at, last_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        device.id,
                        device.name,
                        device.secret_hash,
                        device.created_at,
                        device.last_seen_at
                    ],
                )
            }),
        DeviceOp::Seen { id, at } => tx.execute(
            "UPDATE device_sessions SET last_seen_at = max(last_seen_at, ?2) WHERE id = ?1",
            params![id, at],
        ),
        DeviceOp::Revoke { id } => tx.execute("DELETE FROM device_sessions WHERE id = ?1", [id]),
    };
    r.map(|_| ())
        .map_err(|e| Error::db("saving a pairing or device change", e))
}

const DEVICE_COLUMNS: &str = "id, name, secret_hash, created_at, last_seen_at";

fn device(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok(DeviceRow {
        id: r.get(0)?,
        name: r.get(1)?,
        secret_hash: r.get(2)?,
        created_at: r.get(3)?,
        last_seen_at: r.get(4)?,
    })
}

fn all_devices(c: &Connection) -> Result<Vec<DeviceRow>> {
    let mut stmt = c
        .prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM device_sessions ORDER BY created_at DESC, id"
        ))
        .map_err(|e| Error::db("listing paired devices", e))?;
    let rows = stmt
        .query_map([], device)
        .map_err(|e| Error::db("listing paired devices", e))?;
    rows.collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::db("reading paired devices", e))
}

impl Store {
    /// A pairing code by its digest (expired or not).
    pub async fn pairing_code(&self, code_hash: &str) -> Result<Option<PairingCodeRow>> {
        let code_hash = code_hash.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT code_hash, name, created_at, expires_at FROM pairing_codes
                 WHERE code_hash = ?1",
                [code_hash],
                |r| {
                    Ok(PairingCodeRow {
                        code_hash: r.get(0)?,
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| Error::db("finding a pairing code", e))
        })
        .await
    }

    /// The device whose secret has this digest.
    pub async fn device_by_secret(&self, secret_hash: &str) -> Result<Option<DeviceRow>> {
        let secret_hash = secret_hash.to_owned();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM device_sessions WHERE secret_hash = ?1"),
                [secret_hash],
                device,
            )
            .optional()
            .map_err(|e| Error::db("finding a paired device", e))
        })
        .await
    }

    /// Every paired device, newest first.
    pub async fn devices(&self) -> Result<Vec<DeviceRow>> {
        self.read(all_devices).await
    }
}
