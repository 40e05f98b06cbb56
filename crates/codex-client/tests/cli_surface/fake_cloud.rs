//! One loopback server standing in for every internet service the CLI surface talks to: the
//! ChatGPT OAuth issuer (device-code flow), the ChatGPT backend (`wham/tasks` for `apply`), an
//! OAuth-protected streamable-HTTP MCP server with its authorisation server, and the npm
//! registry. It runs on its own thread and runtime, so any test flavour can use it, and
//! records every request for assertions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    token_polls: usize,
    tasks: HashMap<String, String>,
    latest_version: String,
    registry_delay: Duration,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// `method` only documents the call sites; the path identifies the endpoint.
    fn record(&self, _method: &str, path: &str, body: &[u8]) {
        self.lock().seen.push(Seen {
            path: path.to_owned(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
    }
}

/// The running fake; stops with the test process.
pub struct FakeCloud {
    addr: SocketAddr,
    shared: Shared,
}

/// Polls of the device-token endpoint answered "pending" before the code is granted.
pub const PENDING_POLLS: usize = 2;
/// The device code the fake issuer hands out.
pub const USER_CODE: &str = "WXYZ-1234";
/// The MCP access token the fake authorisation server issues.
pub const MCP_ACCESS_TOKEN: &str = "mcp-access-0123456789";

impl FakeCloud {
    pub fn start() -> Self {
        let shared = Shared(Arc::new(Mutex::new(Inner {
            latest_version: "0.171.0".into(),
            ..Default::default()
        })));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = shared.clone();
        std::thread::Builder::new()
            .name("fake-cloud".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake-cloud runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind fake-cloud");
                    let addr = listener.local_addr().expect("addr");
                    tx.send(addr).expect("send addr");
                    axum::serve(listener, app(state)).await.expect("serve");
                });
            })
            .expect("spawn fake-cloud");
        let addr = rx.recv().expect("fake-cloud address");
        FakeCloud { addr, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The MCP server's URL (OAuth-protected).
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url())
    }

    /// Serve `diff` as cloud task `id`.
    pub fn add_task(&self, id: &str, diff: &str) {
        self.shared.lock().tasks.insert(id.into(), diff.into());
    }

    /// What the registry says is newest, and how long it takes to say it.
    pub fn set_registry(&self, latest: &str, delay: Duration) {
        let mut inner = self.shared.lock();
        inner.latest_version = latest.into();
        inner.registry_delay = delay;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().seen.clone()
    }

    /// The paths requested so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.path).collect()
    }
}

fn app(state: Shared) -> Router {
    Router::new()
        .route("/api/accounts/deviceauth/usercode", post(usercode))
        .route("/api/accounts/deviceauth/token", post(device_token))
        .route("/oauth/token", post(oauth_token))
        .route("/backend-api/wham/tasks/{id}", get(task))
        .route("/mcp", get(mcp_unauthorized).post(mcp_unauthorized))
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route("/register", post(register))
        .route("/authorize", get(authorize))
        .route("/token", post(mcp_token))
        .route("/-/package/@openai/codex/dist-tags", get(dist_tags))
        .fallback(fallback)
        .with_state(state)
}

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn b64url(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An unsigned JWT: Codex reads the claims of ChatGPT tokens, it does not verify them.
fn jwt(claims: &Value) -> String {
    format!(
        "{}.{}.sig",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    )
}

async fn usercode(State(s): State<Shared>, body: Bytes) -> Response {
    s.record("POST", "/api/accounts/deviceauth/usercode", &body);
    axum::Json(json!({"device_auth_id": "dev-auth-1", "user_code": USER_CODE, "interval": "0"}))
        .into_response()
}

async fn device_token(State(s): State<Shared>, body: Bytes) -> Response {
    s.record("POST", "/api/accounts/deviceauth/token", &body);
    let polls = {
        let mut inner = s.lock();
        inner.token_polls += 1;
        inner.token_polls
    };
    if polls <= PENDING_POLLS {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": "authorization_pending"})),
        )
            .into_response();
    }
    axum::Json(json!({
        "authorization_code": "device-authorization-code",
        "code_challenge": "challenge",
        "code_verifier": "verifier"
    }))
    .into_response()
}

async fn oauth_token(State(s): State<Shared>, body: Bytes) -> Response {
    s.record("POST", "/oauth/token", &body);
    let auth = json!({
        "chatgpt_plan_type": "pro",
        "chatgpt_account_id": "acct-fake",
        "chatgpt_user_id": "user-fake"
    });
    let id_token = jwt(&json!({
        "email": "dev@example.invalid",
        "exp": 4_102_444_800u64,
        "https://api.openai.com/auth": auth
    }));
    let access_token = jwt(&json!({
        "exp": 4_102_444_800u64,
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-fake"}
    }));
    axum::Json(json!({
        "id_token": id_token,
        "access_token": access_token,
        "refresh_token": "refresh-fake"
    }))
    .into_response()
}

async fn task(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    s.record("GET", &format!("/backend-api/wham/tasks/{id}"), b"");
    let diff = s.lock().tasks.get(&id).cloned();
    match diff {
        Some(diff) => axum::Json(json!({
            "current_diff_task_turn": {
                "output_items": [
                    {"type": "message", "content": []},
                    {"type": "pr", "output_diff": {"diff": diff}}
                ]
            }
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"detail": "no such task"})),
        )
            .into_response(),
    }
}

async fn mcp_unauthorized(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    s.record("MCP", "/mcp", &body);
    let b = base(&headers);
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            format!("Bearer resource_metadata=\"{b}/.well-known/oauth-protected-resource/mcp\""),
        )],
    )
        .into_response()
}

async fn protected_resource(State(s): State<Shared>, headers: HeaderMap) -> Response {
    s.record("GET", "/.well-known/oauth-protected-resource", b"");
    let b = base(&headers);
    axum::Json(json!({"resource": format!("{b}/mcp"), "authorization_servers": [b]}))
        .into_response()
}

async fn authorization_server(State(s): State<Shared>, headers: HeaderMap) -> Response {
    s.record("GET", "/.well-known/oauth-authorization-server", b"");
    let b = base(&headers);
    axum::Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "registration_endpoint": format!("{b}/register"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"]
    }))
    .into_response()
}

async fn register(State(s): State<Shared>, body: Bytes) -> Response {
    s.record("POST", "/register", &body);
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "client_id": "fake-mcp-client",
            "redirect_uris": req.get("redirect_uris").cloned().unwrap_or(json!([])),
            "token_endpoint_auth_method": "none"
        })),
    )
        .into_response()
}

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    s.record(
        "GET",
        "/authorize",
        serde_json::to_string(&q).unwrap_or_default().as_bytes(),
    );
    let Some(redirect) = q.get("redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "no redirect_uri").into_response();
    };
    let state = q.get("state").cloned().unwrap_or_default();
    let location = format!("{redirect}?code=mcp-authorization-code&state={state}");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn mcp_token(State(s): State<Shared>, body: Bytes) -> Response {
    s.record("POST", "/token", &body);
    axum::Json(json!({
        "access_token": MCP_ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "mcp-refresh-token",
        "scope": "mcp"
    }))
    .into_response()
}

async fn dist_tags(State(s): State<Shared>) -> Response {
    s.record("GET", "/-/package/@openai/codex/dist-tags", b"");
    let (latest, delay) = {
        let inner = s.lock();
        (inner.latest_version.clone(), inner.registry_delay)
    };
    if !delay.is_zero() {
        // Simulates a registry that is slower than the caller's timeout.
        tokio::time::sleep(delay).await;
    }
    axum::Json(json!({"latest": latest, "next": "0.172.0-alpha.1"})).into_response()
}

async fn fallback(State(s): State<Shared>, uri: axum::http::Uri, body: Bytes) -> Response {
    s.record("OTHER", uri.path(), &body);
    (StatusCode::NOT_FOUND, axum::Json(json!({}))).into_response()
}
