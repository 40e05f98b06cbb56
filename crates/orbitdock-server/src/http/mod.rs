//! HTTP surface: REST routes, the `/ws` WebSocket, the embedded web UI, and the security layer
//! in front of all of them.
//!
//! Built by [`app`] so tests can drive the router with `oneshot` or serve it on 127.0.0.1:0.
//! Security (see the protocol README): every route but `/health` and `/login` needs the token
//! (bearer header, the HttpOnly cookie set by `/login`, or `?token=` on `/ws` only); `Host` must
//! be a loopback name with our port and `Origin`, when present, our own origin, which defeats DNS
//! rebinding and cross-site requests; mutations are POST/PATCH/DELETE only (the router refuses
//! other methods with 405).

mod assets;
mod hooks;
mod rest;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use orbitdock_protocol::{ErrorBody, ErrorInfo};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::registry::Registry;

/// Name of the login cookie.
pub const COOKIE_NAME: &str = "orbitdock_token";

/// What the router needs.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Sessions.
    pub registry: Arc<Registry>,
    /// Security settings.
    pub auth: Arc<AuthConfig>,
    /// Cancelled when the server stops: WebSocket connections say goodbye and close.
    pub stop: tokio_util::sync::CancellationToken,
    /// WebSocket connections and the actions they run, so a stopping server can wait for them.
    pub tasks: tokio_util::task::TaskTracker,
}

impl AppState {
    /// State for a router that is not served by [`crate::start_with_connector`] (tests that
    /// drive the router directly).
    pub fn new(registry: Arc<Registry>, auth: AuthConfig) -> Self {
        AppState {
            registry,
            auth: Arc::new(auth),
            stop: tokio_util::sync::CancellationToken::new(),
            tasks: tokio_util::task::TaskTracker::new(),
        }
    }
}

/// Security settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    token_digest: [u8; 32],
    /// The port we serve on; `Host`/`Origin` must name it. `None` skips the port check (only for
    /// in-memory `oneshot` tests that never bind).
    pub port: Option<u16>,
}

impl AuthConfig {
    /// Settings for `token` on `port`.
    pub fn new(token: &str, port: Option<u16>) -> Self {
        AuthConfig {
            token_digest: Sha256::digest(token.as_bytes()).into(),
            port,
        }
    }

    /// Constant-time check (compares digests).
    pub fn token_matches(&self, candidate: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        d.iter()
            .zip(self.token_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// A JSON error response.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(ErrorBody {
            error: ErrorInfo {
                code: code.to_owned(),
                message: message.into(),
            },
        }),
    )
        .into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if self.http_status().is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        error_response(self.http_status(), self.code(), self.to_string())
    }
}

/// The router.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/sessions",
            get(rest::list_sessions).post(rest::create_session),
        )
        .route("/api/sessions/{id}", get(rest::get_session))
        .route("/api/sessions/{id}/items", get(rest::items))
        .route("/api/sessions/{id}/messages", post(rest::send_message))
        .route("/api/sessions/{id}/interrupt", post(rest::interrupt))
        .route("/api/sessions/{id}/end", post(rest::end))
        .route("/api/sessions/{id}/resume", post(rest::resume))
        .route("/api/sessions/{id}/takeover", post(rest::takeover))
        .route("/api/sessions/{id}/name", post(rest::rename))
        .route("/api/sessions/{id}/config", patch(rest::config))
        .route(
            "/api/sessions/{id}/approvals/{request_id}",
            post(rest::approve),
        )
        .route(
            "/api/sessions/{id}/approvals/history",
            get(rest::approval_history),
        )
        .route("/api/models", get(rest::models))
        .route("/api/markdown", post(rest::markdown))
        .route("/api/hooks/claude", post(hooks::claude))
        .route("/ws", get(ws::upgrade))
        .route("/", get(assets::index))
        .fallback(assets::asset);
    Router::new()
        .route("/health", get(rest::health))
        .route("/login", get(login))
        .merge(api)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            4 * 1024 * 1024,
        ))
        .with_state(state)
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|a| a.is_loopback())
            .unwrap_or(false)
}

/// Splits `host[:port]` (IPv6 in brackets).
fn split_host_port(s: &str) -> (String, Option<u16>) {
    let s = s.trim().to_ascii_lowercase();
    if let Some(rest) = s.strip_prefix('[')
        && let Some(end) = rest.find(']')
    {
        let host = format!("[{}]", &rest[..end]);
        let port = rest[end + 1..]
            .strip_prefix(':')
            .and_then(|p| p.parse().ok());
        return (host, port);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_owned(), p.parse().ok()),
        _ => (s, None),
    }
}

fn host_ok(auth: &AuthConfig, value: &str) -> bool {
    let (host, port) = split_host_port(value);
    if !is_loopback_host(&host) {
        return false;
    }
    match auth.port {
        Some(p) => port.unwrap_or(80) == p,
        None => true,
    }
}

fn origin_ok(auth: &AuthConfig, origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://") else {
        return false;
    };
    host_ok(auth, rest.trim_end_matches('/'))
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_owned())
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && i + 2 < b.len() => {
                match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The security layer (runs before routing).
async fn guard(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let auth = &state.auth;
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match host {
        Some(h) if host_ok(auth, h) => {}
        Some(h) => {
            return error_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("Host {h} is not this server (loopback only)"),
            );
        }
        None => {
            return error_response(StatusCode::FORBIDDEN, "forbidden", "missing Host header");
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let o = origin.to_str().unwrap_or("");
        if !origin_ok(auth, o) {
            return error_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("Origin {o} is not allowed"),
            );
        }
    }
    let path = req.uri().path();
    if path == "/health" || path == "/login" {
        return next.run(req).await;
    }
    let token = bearer_token(headers)
        .or_else(|| cookie_token(headers))
        .or_else(|| {
            if path == "/ws" {
                query_param(req.uri().query(), "token")
            } else {
                None
            }
        });
    let wants_page = path == "/"
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    match token {
        Some(t) if auth.token_matches(&t) => next.run(req).await,
        // A person opening the bare URL gets a page telling them how to sign in, not JSON; the
        // UI itself stays behind the token like every other route.
        _ if wants_page => sign_in_page(),
        Some(_) => error_response(StatusCode::UNAUTHORIZED, "unauthorized", "invalid token"),
        None => error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing token: send `Authorization: Bearer <token>` or open the login URL printed by `orbitdock serve`",
        ),
    }
}

/// 401 page for a browser without the session cookie.
fn sign_in_page() -> Response {
    const PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>OrbitDock: sign in</title></head>\
<body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5\">\
<h1>OrbitDock</h1><p>You are not signed in. Open the login URL that <code>orbitdock serve</code> printed \
(<code>http://127.0.0.1:PORT/login?token=...</code>); <code>orbitdock token</code> prints the token again.</p>\
</body></html>";
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(PAGE))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `GET /login?token=T`: sets the cookie and redirects to the UI.
async fn login(State(state): State<AppState>, req: Request<Body>) -> Response {
    let Some(token) = query_param(req.uri().query(), "token") else {
        return error_response(StatusCode::UNAUTHORIZED, "unauthorized", "missing token");
    };
    if !state.auth.token_matches(&token) {
        return error_response(StatusCode::UNAUTHORIZED, "unauthorized", "invalid token");
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/")
        .header(
            header::SET_COOKIE,
            format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/"),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn host_and_origin_checks() {
        let a = AuthConfig::new("t", Some(4821));
        assert!(host_ok(&a, "127.0.0.1:4821"));
        assert!(host_ok(&a, "localhost:4821"));
        assert!(host_ok(&a, "[::1]:4821"));
        assert!(!host_ok(&a, "127.0.0.1:4822"));
        assert!(!host_ok(&a, "evil.example:4821"));
        assert!(!host_ok(&a, "localhost"));
        assert!(origin_ok(&a, "http://localhost:4821"));
        assert!(!origin_ok(&a, "https://localhost:4821"));
        assert!(!origin_ok(&a, "http://evil.example:4821"));
        assert!(!origin_ok(&a, "null"));
        assert!(a.token_matches("t"));
        assert!(!a.token_matches("u"));
    }

    #[test]
    fn decodes_query_values() {
        assert_eq!(
            query_param(Some("a=1&token=x%2By+z"), "token").as_deref(),
            Some("x+y z")
        );
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
