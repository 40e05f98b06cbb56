//! A loopback Web Push service and a browser's side of a subscription, for tests of push
//! notifications without the internet.
//!
//! * [`FakePush`]: accepts `POST /push/{name}` the way a push service does (201), records each
//!   request, and can be told to answer a device's pushes with other statuses (410 for a
//!   subscription the browser dropped; 500, 503, then 200 for a flaky webhook receiver).
//! * [`BrowserKeys`]: the P-256 key pair and 16-byte auth secret a browser creates when it
//!   subscribes, and the decryption it does when a push arrives (RFC 8291, through Mozilla's
//!   `ece`, an implementation independent of the server's).
//! * [`verify_vapid`]: checks a push's `Authorization: vapid t=JWT, k=KEY` header (RFC 8292): the
//!   ES256 signature against the key, the audience, the expiry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use parking_lot::Mutex;

/// One push as the service received it.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The device name (the last path segment of the endpoint).
    pub device: String,
    /// Request headers (names lower-case).
    pub headers: HashMap<String, String>,
    /// The encrypted body.
    pub body: Vec<u8>,
    /// The status the service answered.
    pub answered: u16,
}

impl PushRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<Vec<PushRequest>>,
    /// Per device, the statuses to answer in turn; the last one repeats.
    statuses: Mutex<HashMap<String, std::collections::VecDeque<u16>>>,
    arrived: tokio::sync::Notify,
}

/// The loopback push service (serves on the test's runtime until dropped).
#[derive(Debug)]
pub struct FakePush {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePush {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(device): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let answered = {
        let mut statuses = shared.statuses.lock();
        match statuses.get_mut(&device) {
            Some(q) if q.len() > 1 => q.pop_front().unwrap_or(201),
            Some(q) => q.front().copied().unwrap_or(201),
            None => 201,
        }
    };
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    shared.requests.lock().push(PushRequest {
        device,
        headers,
        body: body.to_vec(),
        answered,
    });
    shared.arrived.notify_waiters();
    StatusCode::from_u16(answered).unwrap_or(StatusCode::CREATED)
}

impl FakePush {
    /// Binds `127.0.0.1:0` and serves on the current Tokio runtime.
    pub async fn start() -> FakePush {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake-push: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake-push: local_addr");
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/push/{device}", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("fake-push: server error: {e}");
            }
        });
        FakePush { shared, addr, task }
    }

    /// The push endpoint of a device.
    pub fn endpoint(&self, device: &str) -> String {
        format!("http://{}/push/{device}", self.addr)
    }

    /// `http://127.0.0.1:PORT`: the audience a VAPID token for this service names.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers this device's pushes with `status` from now on.
    pub fn answer_with(&self, device: &str, status: u16) {
        self.answer_sequence(device, &[status]);
    }

    /// Answers this device's next requests with `statuses` in turn, the last one from then on.
    pub fn answer_sequence(&self, device: &str, statuses: &[u16]) {
        self.shared
            .statuses
            .lock()
            .insert(device.to_owned(), statuses.iter().copied().collect());
    }

    /// Every push received so far.
    pub fn requests(&self) -> Vec<PushRequest> {
        self.shared.requests.lock().clone()
    }

    /// The pushes a device received.
    pub fn for_device(&self, device: &str) -> Vec<PushRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.device == device)
            .collect()
    }

    /// Waits until `device` received at least `n` pushes; panics after `timeout`.
    pub async fn wait_for(&self, device: &str, n: usize, timeout: Duration) -> Vec<PushRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let got = self.for_device(device);
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "fake-push: {device} received {} pushes, expected {n}, within {timeout:?}",
                    got.len()
                );
            }
        }
    }
}

/// What a browser keeps for one push subscription.
pub struct BrowserKeys {
    pair: Box<dyn ece::LocalKeyPair>,
    auth: [u8; 16],
}

impl std::fmt::Debug for BrowserKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserKeys").finish_non_exhaustive()
    }
}

impl BrowserKeys {
    /// A fresh P-256 key pair and auth secret.
    pub fn new() -> BrowserKeys {
        let (pair, auth) =
            ece::generate_keypair_and_auth_secret().expect("fake-push: generate browser keys");
        BrowserKeys { pair, auth }
    }

    /// `keys.p256dh` of `PushSubscription.toJSON()`.
    pub fn p256dh(&self) -> String {
        B64.encode(self.pair.pub_as_raw().expect("fake-push: public key"))
    }

    /// `keys.auth` of `PushSubscription.toJSON()`.
    pub fn auth(&self) -> String {
        B64.encode(self.auth)
    }

    /// Decrypts an `aes128gcm` push body.
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let components = self.pair.raw_components().map_err(|e| e.to_string())?;
        ece::decrypt(&components, &self.auth, body).map_err(|e| e.to_string())
    }
}

impl Default for BrowserKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// The claims of a verified VAPID token.
#[derive(Debug, Clone)]
pub struct VapidClaims {
    /// `aud`.
    pub aud: String,
    /// `exp` (Unix seconds).
    pub exp: i64,
    /// `sub`.
    pub sub: String,
    /// The `k=` public key (base64url).
    pub key: String,
}

/// Verifies a push's VAPID `Authorization` header: its ES256 signature by the `k=` key, which
/// must be `expected_key`; returns the claims.
pub fn verify_vapid(req: &PushRequest, expected_key: &str) -> Result<VapidClaims, String> {
    let auth = req
        .header("authorization")
        .ok_or("no Authorization header")?;
    let rest = auth
        .strip_prefix("vapid ")
        .ok_or_else(|| format!("not a vapid authorization: {auth}"))?;
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("t=") {
            t = Some(v);
        } else if let Some(v) = part.strip_prefix("k=") {
            k = Some(v);
        }
    }
    let (t, k) = (t.ok_or("no t=")?, k.ok_or("no k=")?);
    if k != expected_key {
        return Err(format!("k={k} is not the server's key {expected_key}"));
    }
    let (signed, sig) = t.rsplit_once('.').ok_or("JWT without a signature")?;
    let (header, claims) = signed.split_once('.').ok_or("JWT without claims")?;
    let header: serde_json::Value =
        serde_json::from_slice(&B64.decode(header).map_err(|e| format!("JWT header: {e}"))?)
            .map_err(|e| format!("JWT header: {e}"))?;
    if header["alg"] != "ES256" {
        return Err(format!("JWT alg is {}", header["alg"]));
    }
    let key = B64.decode(k).map_err(|e| format!("k: {e}"))?;
    let sig = B64.decode(sig).map_err(|e| format!("signature: {e}"))?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, key)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| "the JWT signature does not verify with k".to_owned())?;
    let claims: serde_json::Value =
        serde_json::from_slice(&B64.decode(claims).map_err(|e| format!("claims: {e}"))?)
            .map_err(|e| format!("claims: {e}"))?;
    Ok(VapidClaims {
        aud: claims["aud"].as_str().unwrap_or_default().to_owned(),
        exp: claims["exp"].as_i64().unwrap_or_default(),
        sub: claims["sub"].as_str().unwrap_or_default().to_owned(),
        key: k.to_owned(),
    })
}
