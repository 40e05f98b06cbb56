//! HTTP surface: REST routes, the `/ws` WebSocket, the embedded web UI, and the security layer
//! in front of all of them.
//!
//! Built by [`app`] so tests can drive the router with `oneshot` or serve it on 127.0.0.1:0.
//! Security (see the protocol README): every route but `/health`, `/login` and the pairing page
//! with its `POST /api/pair` needs a credential: the token (bearer header, the HttpOnly cookie
//! set by `POST /login`, or `?token=` on `/ws` only) or a paired device's session cookie (see
//! `crate::pairing`); a browser never gets the token in a URL (see [`login`]); failed sign-ins
//! are rate-limited per source address; `Host` must
//! be a loopback name with our port and `Origin`, when present, our own origin, which defeats DNS
//! rebinding and cross-site requests; mutations are POST/PATCH/DELETE only (the router refuses
//! other methods with 405).

mod around;
mod assets;
mod attach;
mod channels;
mod devices;
mod hooks;
mod hosts;
mod list;
mod login;
mod login_limit;
mod providers;
mod push;
mod rest;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, patch, post};
use http_guard::{
    HostPolicy, Rejection, RejectionKind, Token, bearer_token, cookie_value, query_value,
};
use orbitdock_protocol::{ErrorBody, ErrorInfo};

use crate::error::Error;
use crate::registry::Registry;

/// Name of the login cookie.
pub const COOKIE_NAME: &str = "orbitdock_token";
pub use devices::DEVICE_COOKIE;
pub use login_limit::{BURST as LOGIN_BURST, LoginLimit, PeerAddr, REFILL as LOGIN_REFILL};

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
    /// Push notifications; `None` in routers built without a data dir (their push routes
    /// answer 503).
    pub notify: Option<Arc<crate::notify::Notifications>>,
    /// Pairing codes and paired-device sessions.
    pub pairing: Arc<crate::pairing::Pairing>,
    /// Failed sign-ins per source address.
    pub login_limit: Arc<login_limit::LoginLimit>,
}

impl AppState {
    /// State for a router that is not served by [`crate::start_with_connector`] (tests that
    /// drive the router directly).
    pub fn new(registry: Arc<Registry>, auth: AuthConfig) -> Self {
        AppState {
            pairing: Arc::new(crate::pairing::Pairing::new(registry.store().clone())),
            registry,
            auth: Arc::new(auth),
            stop: tokio_util::sync::CancellationToken::new(),
            tasks: tokio_util::task::TaskTracker::new(),
            notify: None,
            login_limit: Arc::default(),
        }
    }
}

/// Security settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    token: Token,
    hosts: HostPolicy,
    /// The port we serve on; `Host`/`Origin` must name it. `None` skips the port check (only for
    /// in-memory `oneshot` tests that never bind).
    pub port: Option<u16>,
}

impl AuthConfig {
    /// Settings for `token` on `port`.
    pub fn new(token: &str, port: Option<u16>) -> Self {
        AuthConfig {
            token: Token::new(token),
            hosts: HostPolicy::loopback(port),
            port,
        }
    }

    /// Settings for `token` behind `hosts` (a listener reached beyond loopback, or by public
    /// names: see [`crate::remote`]).
    pub fn with_policy(token: &str, hosts: HostPolicy) -> Self {
        AuthConfig {
            token: Token::new(token),
            port: hosts.port(),
            hosts,
        }
    }

    /// Attributes of a cookie we set: `Secure` when the browser talks HTTPS to us (our own TLS,
    /// or a TLS-terminating proxy saying `X-Forwarded-Proto: https`), so it is never sent over
    /// plain HTTP afterwards. Trusting the header costs nothing: it can only add the attribute.
    pub fn cookie_attributes(&self, headers: &header::HeaderMap) -> &'static str {
        let forwarded_https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        if self.hosts.scheme() == http_guard::Scheme::Https || forwarded_https {
            "HttpOnly; SameSite=Strict; Path=/; Secure"
        } else {
            "HttpOnly; SameSite=Strict; Path=/"
        }
    }

    /// Constant-time check (compares digests).
    pub fn token_matches(&self, candidate: &str) -> bool {
        self.token.matches(candidate)
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

/// The router: [`route_table`] behind the security layer, the body limit and JSON errors.
pub fn app(state: AppState) -> Router {
    route_table()
        .router
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .layer(middleware::from_fn(refuse_oversized))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// Largest request body accepted (413 beyond).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A declared-oversized body up to this size is read and discarded before the 413 goes out.
const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// How long reading such a body may take.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Refuses a body whose `Content-Length` is over [`MAX_BODY_BYTES`] with a JSON 413, after
/// reading it. Answering without reading it (what the body limit alone does) closes the socket
/// with the rest of the body unread, which makes the kernel reset the connection, and the client
/// usually sees "connection reset" while still sending instead of the 413. Bodies beyond
/// [`DRAIN_MAX_BYTES`] (or slower than [`DRAIN_TIMEOUT`]) are not worth reading: those clients
/// get the reset.
async fn refuse_oversized(req: Request<Body>, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(len) = declared.filter(|n| *n > MAX_BODY_BYTES as u64) else {
        return next.run(req).await;
    };
    if len <= DRAIN_MAX_BYTES {
        let mut body = req.into_body().into_data_stream();
        let drain = async { while let Some(Ok(_)) = futures::StreamExt::next(&mut body).await {} };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
    }
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body has {len} bytes; the limit is {MAX_BODY_BYTES}"),
    )
}

/// Every route's path pattern (`/api/sessions/{id}`, ...), in the order the router declares
/// them. Read from the same table [`app`] serves, so tests that walk the whole API surface
/// cover a new route without being edited.
pub fn route_paths() -> Vec<&'static str> {
    route_table().paths
}

/// A router that records the path of every route added to it.
struct RouteTable {
    router: Router<AppState>,
    paths: Vec<&'static str>,
}

impl RouteTable {
    fn new() -> Self {
        RouteTable {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    fn route(mut self, path: &'static str, method: MethodRouter<AppState>) -> Self {
        self.paths.push(path);
        self.router = self.router.route(path, method);
        self
    }

    fn merge(mut self, other: RouteTable) -> Self {
        self.paths.extend(other.paths);
        self.router = self.router.merge(other.router);
        self
    }

    fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.fallback(handler);
        self
    }
}

/// Every route, unguarded (see [`app`]).
fn route_table() -> RouteTable {
    let api = RouteTable::new()
        .route(
            "/api/sessions",
            get(list::sessions).post(rest::create_session),
        )
        .route("/api/search", get(list::search))
        .route("/api/status", get(list::status))
        .route("/api/sessions/{id}", get(rest::get_session))
        .route("/api/sessions/{id}/items", get(rest::items))
        .route(
            "/api/sessions/{id}/items/{seq}/output",
            get(rest::full_output),
        )
        .route("/api/maintenance/prune", post(rest::prune))
        .route("/api/sessions/{id}/messages", post(rest::send_message))
        .route("/api/sessions/{id}/interrupt", post(rest::interrupt))
        .route("/api/sessions/{id}/end", post(rest::end))
        .route("/api/sessions/{id}/resume", post(rest::resume))
        .route("/api/sessions/{id}/takeover", post(rest::takeover))
        .route("/api/sessions/{id}/attach", post(attach::attach))
        .route("/api/sessions/{id}/name", post(rest::rename))
        .route("/api/sessions/{id}/compact", post(rest::compact))
        .route("/api/sessions/{id}/revert", post(rest::revert))
        .route("/api/sessions/{id}/fork", post(rest::fork))
        .route("/api/sessions/{id}/review", post(rest::review))
        .route("/api/sessions/{id}/archive", post(rest::archive))
        .route("/api/sessions/{id}/unarchive", post(rest::unarchive))
        .route("/api/sessions/{id}/config", patch(rest::config))
        .route(
            "/api/sessions/{id}/approvals/{request_id}",
            post(rest::approve),
        )
        .route(
            "/api/sessions/{id}/approvals/history",
            get(rest::approval_history),
        )
        .route("/api/sessions/{id}/delete", post(around::delete))
        .route("/api/sessions/{id}/mcp-servers", get(around::mcp_servers))
        .route("/api/sessions/{id}/commands", post(around::run_command))
        .route(
            "/api/sessions/{id}/commands/{command_id}/terminate",
            post(around::terminate_command),
        )
        .route(
            "/api/sessions/{id}/commands/{command_id}/stdin",
            post(around::command_stdin),
        )
        .route("/api/sessions/{id}/skills", get(around::skills))
        .route(
            "/api/sessions/{id}/goal",
            get(around::goal).post(around::set_goal),
        )
        .route("/api/codex/threads", get(around::agent_threads))
        .route("/api/codex/threads/import", post(around::import_thread))
        .route(
            "/api/codex/config",
            get(around::read_config).post(around::write_config),
        )
        .route("/api/codex/usage", get(around::usage))
        .route("/api/models", get(rest::models))
        .route("/api/account", get(providers::account))
        .route("/api/account/login", post(providers::login))
        .route("/api/account/logout", post(providers::logout))
        .route("/api/providers", get(providers::providers))
        .route("/api/providers/local", post(providers::set_local_model))
        .route("/api/agents", get(rest::agents))
        .route("/api/hosts", get(hosts::list).post(hosts::add))
        .route("/api/hosts/{name}/remove", post(hosts::remove))
        .route("/api/hosts/{name}/test", post(hosts::test))
        .route("/api/markdown", post(rest::markdown))
        .route(
            "/api/push/subscriptions",
            get(push::list).post(push::subscribe),
        )
        .route("/api/push/subscriptions/{id}", post(push::update))
        .route("/api/push/subscriptions/{id}/delete", post(push::delete))
        .route("/api/push/subscriptions/{id}/test", post(push::test))
        .route(push::ACTION_ROUTE, post(push::approval_action))
        .route(
            "/api/notify/channels",
            get(channels::list).post(channels::add),
        )
        .route("/api/notify/channels/{id}/delete", post(channels::delete))
        .route("/api/notify/channels/{id}/test", post(channels::test))
        .route("/api/pairing", post(devices::create))
        .route(devices::PAIR_ROUTE, post(devices::pair))
        .route("/api/devices", get(devices::list))
        .route("/api/devices/{id}/revoke", post(devices::revoke))
        .route(devices::PAIR_PAGE, get(assets::pair_page))
        .route("/api/hooks/claude", post(hooks::claude))
        .route(codex_hooks::EVENT_ROUTE, post(hooks::codex))
        .route(codex_hooks::PERMISSION_ROUTE, post(hooks::codex_permission))
        .route("/ws", get(ws::upgrade))
        .route("/", get(assets::index))
        .fallback(assets::asset);
    RouteTable::new()
        .route("/health", get(rest::health))
        .route(login::LOGIN_PATH, get(login::form).post(login::submit))
        .merge(api)
}

/// Makes every error answer a JSON [`ErrorBody`]: the framework's own refusals (405 from the
/// method router with its `Allow` header, 413 from the body limit, a failed WebSocket upgrade)
/// come with an empty or plain-text body, which clients cannot tell apart from a proxy's page.
/// The sign-in page (HTML on purpose) and JSON errors pass through untouched.
async fn json_errors(req: Request<Body>, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return resp;
    }
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let (parts, body) = resp.into_parts();
    // The framework's message ("length limit exceeded", "Connection header did not include
    // 'upgrade'") is short and safe to pass on; a missing one gets the status's reason.
    let detail = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let mut out = error_response(status, code, detail);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

/// Our JSON error for a guard rejection. The wire codes predate the shared guard and clients
/// rely on them, so the guard's finer codes are folded into ours here.
fn rejection_response(r: &Rejection) -> Response {
    let code = match r.kind {
        RejectionKind::MissingHost
        | RejectionKind::ForbiddenHost
        | RejectionKind::ForbiddenOrigin => "forbidden",
        RejectionKind::MissingToken | RejectionKind::InvalidToken => "unauthorized",
        RejectionKind::MalformedQuery => "bad_request",
    };
    error_response(r.status(), code, r.message.clone())
}

/// The security layer (runs before routing).
async fn guard(State(state): State<AppState>, mut req: Request<Body>, next: Next) -> Response {
    let auth = &state.auth;
    let headers = req.headers();
    if let Err(r) = auth.hosts.check(headers, req.uri()) {
        return rejection_response(&r);
    }
    let path = req.uri().path();
    // The approval-action route carries its own credential (a one-use token scoped to one
    // approval) in its body; it must work from a notification without the API token. The pair
    // page and its POST are how a device without any credential gets one (a one-time code).
    if path == "/health"
        || path == login::LOGIN_PATH
        || path == push::ACTION_ROUTE
        || path == devices::PAIR_PAGE
        || path == devices::PAIR_ROUTE
        || assets::is_public(path)
    {
        return next.run(req).await;
    }
    // The token is read from headers only: a URL ends up in logs, shell history and proxies.
    // Browsers sign their WebSocket in with the cookie; other clients send a bearer header.
    // A `?token=` is refused as such, never compared.
    if path == "/ws" {
        match query_value(req.uri().query(), "token") {
            Ok(None) => {}
            Ok(Some(_)) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the API token is not accepted in a URL; send `Authorization: Bearer TOKEN` \
                     (or sign the browser in and use its cookie)"
                        .to_owned(),
                );
            }
            Err(r) => return rejection_response(&r),
        }
    }
    let token = bearer_token(headers)
        .map(str::to_owned)
        .or_else(|| cookie_value(headers, COOKIE_NAME));
    let wants_page = path == "/"
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if token.as_deref().is_some_and(|t| auth.token.matches(t)) {
        return next.run(req).await;
    }
    let device = cookie_value(headers, DEVICE_COOKIE);
    if let Some(secret) = &device {
        match state.pairing.authenticate(secret).await {
            Ok(Some(who)) => {
                req.extensions_mut().insert(who);
                return next.run(req).await;
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    match token {
        // A person opening the bare URL gets the sign-in page, not JSON; the UI itself stays
        // behind the token like every other route.
        _ if wants_page => login::page(StatusCode::UNAUTHORIZED, Some("You are not signed in.")),
        Some(_) => error_response(StatusCode::UNAUTHORIZED, "unauthorized", "invalid token"),
        None if device.is_some() => error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this device's session was revoked or is unknown: pair it again (`orbitdock pair`)",
        ),
        None => error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing token: send `Authorization: Bearer <token>`, or in a browser open the one-time sign-in link printed by `orbitdock serve` (`orbitdock open` makes a new one) or sign in at /login",
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn host_and_origin_checks() {
        let a = AuthConfig::new("t", Some(4821));
        let ok = |host: &str| a.hosts.host_allowed(host);
        assert!(ok("127.0.0.1:4821"));
        assert!(ok("localhost:4821"));
        assert!(ok("[::1]:4821"));
        assert!(!ok("127.0.0.1:4822"));
        assert!(!ok("evil.example:4821"));
        assert!(!ok("127.evil.example:4821"));
        assert!(!ok("localhost"));
        assert!(a.hosts.origin_allowed("http://localhost:4821"));
        assert!(!a.hosts.origin_allowed("https://localhost:4821"));
        assert!(!a.hosts.origin_allowed("http://evil.example:4821"));
        assert!(!a.hosts.origin_allowed("null"));
        assert!(a.token_matches("t"));
        assert!(!a.token_matches("u"));
    }

    #[test]
    fn malformed_queries_are_bad_requests() {
        let r = query_value(Some("token=%a\u{e9}"), "token").unwrap_err();
        let resp = rejection_response(&r);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            query_value(Some("a=1&token=x%2By+z"), "token")
                .unwrap()
                .as_deref(),
            Some("x+y z")
        );
    }
}
