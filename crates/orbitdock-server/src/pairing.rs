//! Pairing a phone (or any second browser) and the device sessions it creates.
//!
//! The long-lived API token must never travel in a URL a phone opens (URLs end up in histories,
//! proxy logs, screenshots and QR codes photographed over a shoulder). Instead a signed-in client
//! mints a **pairing code**: 128 random bits, valid for a few minutes, usable once. The phone
//! opens `/pair#CODE`; the fragment never leaves the browser, the pair page posts the code, and
//! the answer sets the device's **own** session secret as an HttpOnly, SameSite=Strict cookie.
//!
//! The same codes sign in a browser on the server's own machine without the API token:
//! `orbitdock serve` prints a link minted at start, and `orbitdock open` mints a fresh one, both
//! for a device called [`LOCAL_BROWSER`] that is listed and revoked like any paired phone.
//!
//! Only SHA-256 digests of codes and secrets are stored (`store::devices`), so the database
//! signs nobody in. A device session has a name, its pairing time and its last request, and is
//! revoked on its own: the next request with its cookie is 401, and its open WebSocket is told
//! through the [`CancellationToken`] handed to it at upgrade.
//!
//! Redeeming is serialised by one async lock: the only writer of `pairing_codes` is this process,
//! so "read the code, then delete it with the new device in one transaction" under that lock is
//! what makes a code work at most once, even for two phones racing with the same code.
//!
//! Authenticating a device on every request reads SQLite once per secret, then a small in-memory
//! map; a revocation marks the id before deleting the row and purging the map, under the map's
//! lock, so a lookup racing with it can never re-admit the device.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use orbitdock_protocol::pairing::PairedDevice;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::notify::action_tokens::random_token;
use crate::store::devices::{DeviceOp, DeviceRow, PairingCodeRow};
use crate::store::{Command, PersistOp, Store};

/// The name of the device a sign-in link for this machine's own browser creates.
pub const LOCAL_BROWSER: &str = "Browser on this machine";
/// The page a pairing link opens.
pub const PAIR_PAGE: &str = "/pair";

/// How long a pairing code works by default.
pub const DEFAULT_CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// The longest lifetime a pairing may ask for.
pub const MAX_CODE_TTL: Duration = Duration::from_secs(15 * 60);
/// `last_seen_at` is written at most this often per device (one write per request would make
/// a phone's polling a stream of writes).
const SEEN_EVERY_MS: i64 = 60_000;
/// Longest device name kept.
const NAME_MAX: usize = 80;

/// Who a request authenticated with a device session is.
#[derive(Debug, Clone)]
pub struct DeviceIdentity {
    /// The device's id.
    pub id: String,
    /// Cancelled when the device is revoked: its WebSocket closes.
    pub revoked: CancellationToken,
}

/// Why a code did not pair.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// Unknown or already used (indistinguishable on purpose: both are "no such code").
    #[error("this pairing code is not valid (already used, or never issued)")]
    Invalid,
    /// Known, but too old.
    #[error("this pairing code has expired; create a new one with `orbitdock pair`")]
    Expired,
    /// Saving failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// A freshly minted code.
#[derive(Debug, Clone)]
pub struct MintedCode {
    /// The code itself (only its digest is kept).
    pub code: String,
    /// Unusable from (Unix ms).
    pub expires_at: i64,
}

/// A device just paired.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// What the API shows of it.
    pub device: PairedDevice,
    /// Its session secret, for the cookie (only its digest is kept).
    pub secret: String,
}

#[derive(Debug)]
struct Cached {
    id: String,
    seen_written: i64,
}

#[derive(Debug, Default)]
struct Sessions {
    /// Verified secrets, by digest.
    by_secret: HashMap<String, Cached>,
    /// Open WebSockets' revocation signals, by device id.
    signals: HashMap<String, CancellationToken>,
    /// Devices revoked in this run (see the module docs).
    revoked: HashSet<String>,
}

/// Pairing codes and device sessions.
#[derive(Debug)]
pub struct Pairing {
    store: Store,
    redeem: tokio::sync::Mutex<()>,
    sessions: Mutex<Sessions>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// SHA-256, hex: how codes and secrets are stored and looked up.
pub fn digest(secret: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        secret.as_bytes(),
    ))
}

/// A device name as given, trimmed and bounded; `None` when empty.
pub fn clean_name(name: &str) -> Option<String> {
    let name: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(NAME_MAX)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// A readable name from a browser's `User-Agent` ("Chrome on Android"), for a device whose
/// pairing named none.
pub fn name_from_user_agent(ua: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Mac OS X", "macOS"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("Browser on {o}"),
        (None, None) => "Paired device".to_owned(),
    }
}

/// The link that redeems `code` on the server at `origin` (`http://host:port`). The code is in
/// the fragment, which browsers never send: it reaches the server only in the pair page's POST.
pub fn link(origin: &str, code: &str) -> String {
    format!("{}{PAIR_PAGE}#{code}", origin.trim_end_matches('/'))
}

/// `url` as a QR code, an SVG document (for the web UI).
pub fn qr_svg(url: &str) -> Result<String> {
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| Error::BadRequest(format!("cannot make a QR code of the URL: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// `url` as a QR code in Unicode half blocks (for a terminal). Drawn light-on-dark, the way most
/// terminals show text, which phone cameras read as well as dark-on-light.
pub fn qr_terminal(url: &str) -> Result<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| Error::BadRequest(format!("cannot make a QR code of the URL: {e}")))?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build())
}

impl Pairing {
    /// Pairing over `store`.
    pub fn new(store: Store) -> Self {
        Pairing {
            store,
            redeem: tokio::sync::Mutex::new(()),
            sessions: Mutex::new(Sessions::default()),
        }
    }

    async fn save(&self, op: DeviceOp) -> Result<()> {
        self.store
            .submit_and_wait(Command {
                ops: vec![PersistOp::Devices(op)],
                ..Default::default()
            })
            .await
    }

    /// A new one-time code valid for `ttl` (capped at [`MAX_CODE_TTL`]); the device it pairs
    /// is called `name` when given.
    pub async fn mint(&self, name: Option<String>, ttl: Duration) -> Result<MintedCode> {
        let code = random_token(16);
        let now = now_ms();
        let expires_at = now + ttl.min(MAX_CODE_TTL).as_millis() as i64;
        self.save(DeviceOp::AddCode {
            code: PairingCodeRow {
                code_hash: digest(&code),
                name: name.as_deref().and_then(clean_name),
                created_at: now,
                expires_at,
            },
            now,
        })
        .await?;
        Ok(MintedCode { code, expires_at })
    }

    /// Uses a code up: a new device session named by the pairing, or `fallback_name`.
    pub async fn redeem(
        &self,
        code: &str,
        fallback_name: &str,
    ) -> std::result::Result<NewDevice, PairError> {
        let code_hash = digest(code.trim());
        let _one_at_a_time = self.redeem.lock().await;
        let Some(row) = self.store.pairing_code(&code_hash).await? else {
            return Err(PairError::Invalid);
        };
        let now = now_ms();
        if row.expires_at <= now {
            self.save(DeviceOp::RemoveCode { code_hash }).await?;
            return Err(PairError::Expired);
        }
        let secret = random_token(32);
        let device = DeviceRow {
            id: uuid::Uuid::new_v4().to_string(),
            name: row
                .name
                .clone()
                .or_else(|| clean_name(fallback_name))
                .unwrap_or_else(|| "Paired device".to_owned()),
            secret_hash: digest(&secret),
            created_at: now,
            last_seen_at: now,
        };
        self.save(DeviceOp::Pair {
            code_hash,
            device: Box::new(device.clone()),
        })
        .await?;
        tracing::info!(device = %device.id, name = %device.name, "device paired");
        Ok(NewDevice {
            device: PairedDevice {
                id: device.id,
                name: device.name,
                created_at: device.created_at,
                last_seen_at: device.last_seen_at,
                current: true,
            },
            secret,
        })
    }

    /// The device whose session secret this is, if it is paired and not revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<DeviceIdentity>> {
        let hash = digest(secret);
        let now = now_ms();
        let cached = {
            let mut s = self.sessions.lock();
            s.by_secret.get_mut(&hash).map(|c| {
                let write_seen = now - c.seen_written >= SEEN_EVERY_MS;
                if write_seen {
                    c.seen_written = now;
                }
                (c.id.clone(), write_seen)
            })
        };
        let (id, write_seen) = match cached {
            Some(hit) => hit,
            None => {
                let Some(row) = self.store.device_by_secret(&hash).await? else {
                    return Ok(None);
                };
                let mut s = self.sessions.lock();
                if s.revoked.contains(&row.id) {
                    return Ok(None);
                }
                let write_seen = now - row.last_seen_at >= SEEN_EVERY_MS;
                s.by_secret.insert(
                    hash,
                    Cached {
                        id: row.id.clone(),
                        seen_written: if write_seen { now } else { row.last_seen_at },
                    },
                );
                (row.id, write_seen)
            }
        };
        if write_seen {
            // Not waited for: a request never waits on bookkeeping.
            let _ = self
                .store
                .submit(Command {
                    ops: vec![PersistOp::Devices(DeviceOp::Seen {
                        id: id.clone(),
                        at: now,
                    })],
                    ..Default::default()
                })
                .await;
        }
        let revoked = self
            .sessions
            .lock()
            .signals
            .entry(id.clone())
            .or_default()
            .clone();
        Ok(Some(DeviceIdentity { id, revoked }))
    }

    /// Every paired device, newest first; `current` marks `current_id`.
    pub async fn devices(&self, current_id: Option<&str>) -> Result<Vec<PairedDevice>> {
        Ok(self
            .store
            .devices()
            .await?
            .into_iter()
            .map(|d| PairedDevice {
                current: current_id == Some(d.id.as_str()),
                id: d.id,
                name: d.name,
                created_at: d.created_at,
                last_seen_at: d.last_seen_at,
            })
            .collect())
    }

    /// Revokes a device: its secret stops working at once and its WebSockets close. `false`
    /// when no such device is paired.
    pub async fn revoke(&self, id: &str) -> Result<bool> {
        if !self.store.devices().await?.iter().any(|d| d.id == id) {
            return Ok(false);
        }
        self.sessions.lock().revoked.insert(id.to_owned());
        self.save(DeviceOp::Revoke { id: id.to_owned() }).await?;
        let signal = {
            let mut s = self.sessions.lock();
            s.by_secret.retain(|_, c| c.id != id);
            s.signals.remove(id)
        };
        if let Some(signal) = signal {
            signal.cancel();
        }
        tracing::info!(device = %id, "device revoked");
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_from_user_agents() {
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
        assert_eq!(name_from_user_agent(android), "Chrome on Android");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(name_from_user_agent(iphone), "Safari on iPhone");
        assert_eq!(name_from_user_agent("curl/8.5"), "Paired device");
        assert_eq!(clean_name("  \u{7}  "), None);
        assert_eq!(
            clean_name(" Anna's phone ").as_deref(),
            Some("Anna's phone")
        );
    }

    #[test]
    fn qr_codes_render() {
        let svg = qr_svg("http://127.0.0.1:4821/pair#abc").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        let text = qr_terminal("http://127.0.0.1:4821/pair#abc").unwrap();
        assert!(text.lines().count() > 10);
    }

    #[tokio::test]
    async fn a_code_pairs_once_and_a_revoked_device_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        store.start_writer(crate::hub::ListHub::new(Vec::new(), 0));
        let p = Pairing::new(store);
        let code = p
            .mint(Some("Phone".into()), DEFAULT_CODE_TTL)
            .await
            .unwrap();
        let paired = p.redeem(&code.code, "ignored").await.unwrap();
        assert_eq!(paired.device.name, "Phone");
        assert!(matches!(
            p.redeem(&code.code, "x").await,
            Err(PairError::Invalid)
        ));
        let who = p.authenticate(&paired.secret).await.unwrap().unwrap();
        assert_eq!(who.id, paired.device.id);
        assert!(p.authenticate("nope").await.unwrap().is_none());
        let listed = p.devices(Some(&who.id)).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].current);
        assert!(p.revoke(&who.id).await.unwrap());
        assert!(who.revoked.is_cancelled());
        assert!(p.authenticate(&paired.secret).await.unwrap().is_none());
        assert!(!p.revoke(&who.id).await.unwrap());

        let short = p.mint(None, Duration::from_millis(1)).await.unwrap();
        while now_ms() <= short.expires_at {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            p.redeem(&short.code, "x").await,
            Err(PairError::Expired)
        ));
        assert!(matches!(
            p.redeem(&short.code, "x").await,
            Err(PairError::Invalid)
        ));
    }
}
