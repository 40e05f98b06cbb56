//! One-use, short-lived tokens that answer exactly one approval: what a notification's Accept /
//! Decline buttons carry instead of the API token.
//!
//! A token is 32 random bytes (base64url); only its SHA-256 digest is kept, so the map holds
//! nothing a memory dump could replay. Consuming removes it whether or not it is still valid, so
//! a token works at most once. Tokens live in memory only: a restart ends every pending approval
//! anyway (the agent's request dies with the process), so there is nothing to answer after one.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use parking_lot::Mutex;
use ring::rand::{SecureRandom, SystemRandom};

/// How long a token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(10 * 60);

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionGrant {
    /// The session.
    pub session_id: String,
    /// The approval's request id.
    pub request_id: String,
    /// Valid until (Unix ms).
    pub expires_at: i64,
}

/// The live tokens, by digest.
#[derive(Debug, Default)]
pub struct ActionTokens {
    grants: Mutex<HashMap<[u8; 32], ActionGrant>>,
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `bytes` random bytes, base64url: what every bearer secret of the hub is made of (action
/// tokens, pairing codes, device sessions).
pub fn random_token(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    // The system RNG failing leaves the buffer as it was; a second fill from another source
    // keeps a token from ever being predictable.
    if SystemRandom::new().fill(&mut raw).is_err() {
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    }
    B64.encode(raw)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl ActionTokens {
    /// A new token for one approval; returns it with its expiry (Unix ms).
    pub fn mint(&self, session_id: &str, request_id: &str) -> (String, i64) {
        self.mint_for(session_id, request_id, TOKEN_TTL)
    }

    /// [`ActionTokens::mint`] with an explicit lifetime.
    pub fn mint_for(&self, session_id: &str, request_id: &str, ttl: Duration) -> (String, i64) {
        let token = random_token(32);
        let now = now_ms();
        let expires_at = now + ttl.as_millis() as i64;
        let mut grants = self.grants.lock();
        grants.retain(|_, g| g.expires_at > now);
        grants.insert(
            digest(&token),
            ActionGrant {
                session_id: session_id.to_owned(),
                request_id: request_id.to_owned(),
                expires_at,
            },
        );
        (token, expires_at)
    }

    /// Uses a token up: its grant if it exists and has not expired. A second call with the same
    /// token returns `None`.
    pub fn consume(&self, token: &str) -> Option<ActionGrant> {
        let grant = self.grants.lock().remove(&digest(token))?;
        (grant.expires_at > now_ms()).then_some(grant)
    }

    /// Drops every token of one approval (answered some other way, or through one of them).
    pub fn revoke_approval(&self, session_id: &str, request_id: &str) {
        self.grants
            .lock()
            .retain(|_, g| !(g.session_id == session_id && g.request_id == request_id));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once_and_only_until_it_expires() {
        let t = ActionTokens::default();
        let (a, _) = t.mint("s", "r1");
        let (b, _) = t.mint("s", "r1");
        assert_ne!(a, b);
        let g = t.consume(&a).unwrap();
        assert_eq!((g.session_id.as_str(), g.request_id.as_str()), ("s", "r1"));
        assert!(t.consume(&a).is_none(), "second use refused");
        t.revoke_approval("s", "r1");
        assert!(t.consume(&b).is_none(), "revoked with its approval");
        let (c, _) = t.mint_for("s", "r2", Duration::ZERO);
        assert!(t.consume(&c).is_none(), "expired");
        assert!(t.consume("made-up").is_none());
    }
}
