//! Bodies of pairing and device sessions: how a phone (or any second browser) gets its own
//! revocable session without ever seeing the API token.
//!
//! A signed-in client asks for a pairing code (`POST /api/pairing`); the code is short-lived and
//! works once. The new device opens `/pair#CODE` (the code in the fragment never reaches a server
//! log or a proxy), and that page posts it to `POST /api/pair`, which answers with the device's
//! own session cookie. Paired devices are listed (`GET /api/devices`) and revoked
//! (`POST /api/devices/{id}/revoke`).

use serde::{Deserialize, Serialize};

/// `POST /api/pairing` body (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingRequest {
    /// The name the paired device gets (default: derived from its browser's user agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How long the code works, in seconds (default 300, at most 900).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
}

/// `POST /api/pairing` answer: a new one-time code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingCode {
    /// The code (shown once; only its digest is stored).
    pub code: String,
    /// The URL to open on the device: this server's origin as the request named it, then
    /// `/pair#CODE`.
    pub url: String,
    /// The code stops working at this time (Unix ms).
    pub expires_at: i64,
    /// `url` as a QR code, an SVG document.
    pub qr_svg: String,
}

/// `POST /api/pair` body: what the pair page sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    /// The code from the URL's fragment.
    pub code: String,
}

/// A paired device as `GET /api/devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedDevice {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Paired at (Unix ms).
    pub created_at: i64,
    /// Its last request (Unix ms; updated at most once a minute).
    pub last_seen_at: i64,
    /// Whether this is the device asking.
    #[serde(default)]
    pub current: bool,
}

/// `GET /api/devices` answer; `POST /api/pair` answers with one [`PairedDevice`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedDevicesResponse {
    /// Newest first.
    pub devices: Vec<PairedDevice>,
}
