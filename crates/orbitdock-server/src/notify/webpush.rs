//! Web Push message construction: VAPID (RFC 8292) and the `aes128gcm` content encoding for
//! push messages (RFC 8291 on top of RFC 8188), on `ring`'s primitives.
//!
//! Why `ring` and not a Web Push crate: `ring` is already in the build (rustls uses it) and has
//! every primitive the two RFCs need (P-256 ECDH, HKDF-SHA-256, AES-128-GCM, ES256 signatures);
//! the Web Push crates pull OpenSSL or BoringSSL, an old `http`, and a JWT library for one
//! signature. The construction below is the RFCs' own, step by step; the tests decrypt it with
//! Mozilla's independent implementation (`ece`), as a browser would.
//!
//! The VAPID key pair is created once and kept as PKCS#8 in the data dir (0600): a browser's
//! subscription is bound to the public key it subscribed with, so a new key would silently
//! orphan every phone.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use ring::{aead, agreement, hkdf};

use crate::error::{Error, Result};

/// The file the VAPID private key lives in.
pub fn vapid_key_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("vapid_private_key.p8")
}

/// Record size announced in the header; one record holds the whole (small) payload.
const RECORD_SIZE: u32 = 4096;
/// How long a VAPID JWT is valid (RFC 8292 caps it at 24 hours).
const JWT_LIFETIME_SECS: i64 = 12 * 3600;
/// Largest plaintext that fits one record with the delimiter and the tag.
pub const MAX_PAYLOAD: usize = 3993;

/// The server's VAPID identity.
#[derive(Debug)]
pub struct Vapid {
    pair: EcdsaKeyPair,
    public_b64: String,
    subject: String,
}

impl Vapid {
    /// Loads the key from `data_dir`, creating it (0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Vapid> {
        let path = vapid_key_path(data_dir);
        let rng = SystemRandom::new();
        let pkcs8 = match std::fs::read(&path) {
            Ok(b) => {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
                b
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::data_dir::ensure_dir(data_dir)?;
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| Error::BadRequest("cannot generate a VAPID key".into()))?;
                crate::data_dir::write_private_bytes(&path, doc.as_ref())?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        Self::from_pkcs8(&pkcs8).map_err(|_| {
            Error::BadRequest(format!(
                "{} is not a P-256 PKCS#8 key; remove it to create a new one (browsers must then subscribe again)",
                path.display()
            ))
        })
    }

    /// A key that lives in memory only (routers built without a data dir).
    pub fn ephemeral() -> Result<Vapid> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| Error::BadRequest("cannot generate a VAPID key".into()))?;
        Self::from_pkcs8(doc.as_ref())
            .map_err(|_| Error::BadRequest("generated VAPID key unusable".into()))
    }

    fn from_pkcs8(der: &[u8]) -> std::result::Result<Vapid, ring::error::KeyRejected> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())?;
        let public_b64 = B64.encode(pair.public_key().as_ref());
        Ok(Vapid {
            pair,
            public_b64,
            // Push services want a contact; a self-hosted hub has no public one, and the RFC
            // allows any mailto/https URI.
            subject: "mailto:orbitdock@localhost".into(),
        })
    }

    /// The public key (uncompressed point, base64url): the browser's `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.public_b64
    }

    /// The `Authorization` header value for a push to `endpoint`:
    /// `vapid t=<ES256 JWT>, k=<public key>`.
    pub fn authorization(&self, endpoint: &reqwest::Url, now_secs: i64) -> Result<String> {
        let audience = endpoint.origin().ascii_serialization();
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now_secs + JWT_LIFETIME_SECS,
            "sub": self.subject,
        });
        let claims = B64.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| Error::BadRequest("cannot sign the VAPID token".into()))?;
        Ok(format!(
            "vapid t={signing_input}.{}, k={}",
            B64.encode(sig.as_ref()),
            self.public_b64
        ))
    }
}

/// A length for HKDF output (ring asks for a type that knows it).
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_expand(prk: &hkdf::Prk, info: &[u8], out: &mut [u8]) -> Result<()> {
    let info = [info];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| Error::BadRequest("HKDF expansion failed".into()))
}

/// Decodes a base64url field of a subscription (browsers omit the padding; some add it).
pub fn decode_key(what: &str, b64: &str) -> Result<Vec<u8>> {
    B64.decode(b64.trim_end_matches('='))
        .map_err(|e| Error::BadRequest(format!("the subscription's {what} is not base64url: {e}")))
}

/// Checks a subscription's keys have the sizes RFC 8291 requires.
pub fn check_keys(p256dh: &str, auth: &str) -> Result<()> {
    let p = decode_key("p256dh key", p256dh)?;
    if p.len() != 65 || p[0] != 4 {
        return Err(Error::BadRequest(
            "the subscription's p256dh key is not an uncompressed P-256 point (65 bytes)".into(),
        ));
    }
    if decode_key("auth secret", auth)?.len() != 16 {
        return Err(Error::BadRequest(
            "the subscription's auth secret is not 16 bytes".into(),
        ));
    }
    Ok(())
}

/// Encrypts `plaintext` for a subscription (`aes128gcm`, one record): the request body of a
/// push.
pub fn encrypt(p256dh: &str, auth: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_PAYLOAD {
        return Err(Error::BadRequest(format!(
            "push payload of {} bytes is over the {MAX_PAYLOAD}-byte limit",
            plaintext.len()
        )));
    }
    let ua_public = decode_key("p256dh key", p256dh)?;
    let auth_secret = decode_key("auth secret", auth)?;
    let rng = SystemRandom::new();
    let as_private = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| Error::BadRequest("cannot generate an ephemeral key".into()))?;
    let as_public = as_private
        .compute_public_key()
        .map_err(|_| Error::BadRequest("cannot derive the ephemeral public key".into()))?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &ua_public);
    let ecdh_secret = agreement::agree_ephemeral(as_private, &peer, |s| s.to_vec())
        .map_err(|_| Error::BadRequest("the subscription's p256dh key is not on P-256".into()))?;

    // RFC 8291 section 3.4: IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0x00 ||
    // ua_public || as_public, 32).
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(&ua_public);
    key_info.extend_from_slice(as_public.as_ref());
    let prk_key = hkdf::Salt::new(hkdf::HKDF_SHA256, &auth_secret).extract(&ecdh_secret);
    let mut ikm = [0u8; 32];
    hkdf_expand(&prk_key, &key_info, &mut ikm)?;

    // RFC 8188 section 2.2/2.3 with a random salt.
    let mut salt = [0u8; 16];
    rng.fill(&mut salt)
        .map_err(|_| Error::BadRequest("no randomness for the salt".into()))?;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(&ikm);
    let mut cek = [0u8; 16];
    hkdf_expand(&prk, b"Content-Encoding: aes128gcm\0", &mut cek)?;
    let mut nonce = [0u8; 12];
    hkdf_expand(&prk, b"Content-Encoding: nonce\0", &mut nonce)?;

    // The last (only) record ends with the delimiter 0x02, unpadded.
    let mut record = Vec::with_capacity(plaintext.len() + 1 + 16);
    record.extend_from_slice(plaintext);
    record.push(0x02);
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_128_GCM, &cek)
            .map_err(|_| Error::BadRequest("bad content key".into()))?,
    );
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        &mut record,
    )
    .map_err(|_| Error::BadRequest("encryption failed".into()))?;

    // Header: salt(16) || rs(4, big-endian) || idlen(1) || keyid(as_public).
    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.as_ref().len() as u8);
    body.extend_from_slice(as_public.as_ref());
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let a = Vapid::load_or_create(d.path()).unwrap();
        let mode = std::fs::metadata(vapid_key_path(d.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Vapid::load_or_create(d.path()).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(B64.decode(a.public_key()).unwrap().len(), 65);
    }

    #[test]
    fn refuses_bad_subscription_keys() {
        assert!(check_keys("AAAA", &B64.encode([0u8; 16])).is_err());
        let mut p = vec![4u8];
        p.extend([1u8; 64]);
        assert!(check_keys(&B64.encode(&p), &B64.encode([0u8; 15])).is_err());
        check_keys(&B64.encode(&p), &B64.encode([0u8; 16])).unwrap();
        assert!(encrypt(&B64.encode(&p), &B64.encode([0u8; 16]), &[0; 4000]).is_err());
    }
}
