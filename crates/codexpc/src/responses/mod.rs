//! The OpenAI Responses endpoint Codex uses as a model provider (axum).
//!
//! Routes: `POST /v1/responses` (SSE when `stream:true`, else the JSON response object),
//! `GET /v1/models`, `GET /health`. Errors are mapped to HTTP in one place ([`ApiError`]):
//! validation -> 400 with the serde message and JSON path, queue full -> 429, oversize -> 413,
//! engine failures before the stream starts -> 500; once streaming, failures are a
//! `response.failed` event. A client that disconnects cancels its generation (the SSE body owns a
//! guard that sets the [`CancelFlag`] when dropped).
//!
//! Security defaults: bind loopback; when bound to loopback, the `Host` header must name a
//! loopback host and a browser `Origin` must be a loopback origin (DNS-rebinding / CSRF guard);
//! optional bearer key (`Authorization: Bearer ...`, Codex's provider `env_key`) on every route
//! but `/health`; mutations only via POST.

pub mod sse;
pub mod types;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde_json::json;

use crate::Error;
use crate::engine::{CancelFlag, Sampling};
use crate::parse::{FailureKind, OutputEvent};
use crate::render::{RenderConfig, render_request};
use crate::service::{GenerationInput, Service};
use sse::{ResponseBuilder, SseEvent};
use types::ResponsesRequest;

/// Default request body limit (Codex sends the whole history every turn).
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Shared state of the HTTP front end.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub render: RenderConfig,
    /// Required bearer key; `None` = no auth (loopback-only use).
    pub api_key: Option<String>,
    /// Enforce loopback `Host`/`Origin` (on when bound to a loopback address).
    pub loopback_only: bool,
    pub body_limit: usize,
    /// The socket daemon, when one runs in this process: `/metrics` adds its counters.
    pub daemon: Option<Arc<crate::daemon::Daemon>>,
}

impl AppState {
    pub fn new(service: Arc<Service>) -> Self {
        Self {
            service,
            render: RenderConfig::default(),
            api_key: None,
            loopback_only: true,
            body_limit: DEFAULT_BODY_LIMIT,
            daemon: None,
        }
    }
}

/// The router (axum "testing" shape: tests call `app(state).oneshot(req)` or serve it).
pub fn app(state: AppState) -> Router {
    let state = Arc::new(state);
    let limit = state.body_limit;
    let protected = Router::new()
        .route("/v1/responses", post(create_response))
        .route("/v1/models", get(list_models))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .route("/health", get(health))
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            check_host_and_origin,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// An HTTP error with an OpenAI-shaped JSON body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, code) = match &e {
            Error::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Error::PromptTooLong { .. } => (StatusCode::BAD_REQUEST, "context_length_exceeded"),
            Error::Busy { .. } => (StatusCode::TOO_MANY_REQUESTS, "server_busy"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        };
        let body = json!({"error": {"type": kind, "code": self.code, "message": self.message}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Every error is JSON, a wrong method too (axum's default 405 has an empty body).
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let info = state.service.info();
    axum::Json(json!({"status": "ok", "engine": info.engine, "model": info.model}))
}

/// Prometheus text: the service's counters, then the socket daemon's.
async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let c = state.service.counters();
    let mut s = String::new();
    for (name, kind, help, v) in [
        (
            "codexpc_generations_total",
            "counter",
            "Generations admitted.",
            c.requests,
        ),
        (
            "codexpc_generations_completed_total",
            "counter",
            "Generations completed.",
            c.completed,
        ),
        (
            "codexpc_generations_cancelled_total",
            "counter",
            "Generations cancelled.",
            c.cancelled,
        ),
        (
            "codexpc_generations_failed_total",
            "counter",
            "Generations that failed.",
            c.errors,
        ),
        (
            "codexpc_busy_rejections_total",
            "counter",
            "Generations refused: queue full.",
            c.busy_rejections,
        ),
        (
            "codexpc_tokens_in_total",
            "counter",
            "Prompt tokens.",
            c.prompt_tokens,
        ),
        (
            "codexpc_tokens_cached_total",
            "counter",
            "Prompt tokens reused from the KV cache.",
            c.cached_tokens,
        ),
        (
            "codexpc_tokens_out_total",
            "counter",
            "Generated tokens.",
            c.generated_tokens,
        ),
        (
            "codexpc_generations_in_flight",
            "gauge",
            "Generations running or queued.",
            c.in_flight,
        ),
    ] {
        s.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        ));
    }
    if let Some(d) = &state.daemon {
        s.push_str(&d.prometheus());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s,
    )
}

async fn list_models(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let info = state.service.info();
    axum::Json(json!({
        "object": "list",
        "data": [{"id": info.model, "object": "model", "created": 0, "owned_by": "codexpc",
                  "context_window": info.context_size}]
    }))
}

/// Our OpenAI-shaped error for a guard rejection (the guard's codes are kept as they are).
fn rejection(r: http_guard::Rejection) -> Response {
    ApiError::new(r.status(), r.code(), r.message).into_response()
}

async fn check_host_and_origin(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if state.loopback_only {
        // The router does not know the port it is served on, so any port is accepted; the
        // names are what defeats DNS rebinding.
        let policy = http_guard::HostPolicy::loopback(None);
        if let Err(r) = policy.check(req.headers(), req.uri()) {
            return rejection(r);
        }
    }
    next.run(req).await
}

async fn require_key(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(key) = &state.api_key {
        let given = http_guard::bearer_token(req.headers());
        if let Err(mut r) = http_guard::Token::new(key).check(given) {
            r.message = "missing or wrong bearer key (Authorization: Bearer ...)".into();
            return ApiError::new(r.status(), "unauthorized", r.message).into_response();
        }
    }
    next.run(req).await
}

/// Parse the body with the serde error's message and JSON path.
fn parse_body(bytes: &[u8]) -> Result<ResponsesRequest, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let request = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("request body is not valid JSON: {inner}")
        } else if path == "." {
            format!("invalid request body: {inner}")
        } else {
            format!("invalid request body at `{path}`: {inner}")
        };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    })?;
    // One JSON value and nothing after it (trailing bytes mean a broken or spliced body).
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    Ok(request)
}

/// Cancels the generation when the response body (or the JSON handler) is dropped early.
struct CancelOnDrop(Option<CancelFlag>);
impl CancelOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}
impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.cancel();
        }
    }
}

fn to_event(e: SseEvent) -> Result<Event, Infallible> {
    Ok(Event::default().event(e.name).data(e.data.to_string()))
}

async fn create_response(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        };
        ApiError::new(
            status,
            code,
            format!(
                "{} (limit {} bytes)",
                rejection.body_text(),
                state.body_limit
            ),
        )
    })?;
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && !ct.starts_with("application/json")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type must be application/json, got {ct:?}"),
        ));
    }
    let request = parse_body(&body)?;
    let service = state.service.clone();
    let rendered = render_request(service.harmony(), &request, &state.render)?;
    let defaults = &service.config().default_sampling;
    let sampling = Sampling {
        temperature: request.temperature.unwrap_or(defaults.temperature),
        top_p: request.top_p.unwrap_or(defaults.top_p),
        seed: request.seed.unwrap_or(defaults.seed),
        max_tokens: request.max_output_tokens.or(defaults.max_tokens),
    };
    let input = GenerationInput {
        prompt: rendered.tokens,
        match_text: Some(rendered.match_text),
        sampling,
    };
    let cancel = CancelFlag::new();
    let mut rx = service.generate(input, cancel.clone())?;
    let model = request
        .model
        .clone()
        .unwrap_or_else(|| service.info().model.clone());
    let mut builder = ResponseBuilder::new(model);

    if !request.stream {
        let mut guard = CancelOnDrop(Some(cancel));
        while let Some(event) = rx.recv().await {
            let _ = builder.on(event);
        }
        guard.disarm();
        if !builder.is_finished() {
            let mut sink = Vec::new();
            builder.fail(
                FailureKind::Engine,
                "generation ended without a result".into(),
                &mut sink,
            );
        }
        if let Some(err) = builder.error() {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                err.message.clone(),
            ));
        }
        return Ok(axum::Json(builder.object()).into_response());
    }

    let created = builder.created();
    let guard = CancelOnDrop(Some(cancel));
    let stream = futures::stream::unfold(
        (rx, builder, guard, false),
        |(mut rx, mut builder, mut guard, done)| async move {
            if done {
                return None;
            }
            let events = match rx.recv().await {
                Some(event) => {
                    let terminal = matches!(
                        event,
                        OutputEvent::Completed { .. } | OutputEvent::Failed { .. }
                    );
                    let events = builder.on(event);
                    if terminal {
                        guard.disarm();
                    }
                    events
                }
                None => {
                    // The pipeline ended without a final event: never leave Codex hanging.
                    guard.disarm();
                    let mut events = Vec::new();
                    if !builder.is_finished() {
                        builder.fail(
                            FailureKind::Engine,
                            "generation ended without a result".into(),
                            &mut events,
                        );
                    }
                    let finished = builder.is_finished();
                    return Some((events, (rx, builder, guard, finished)));
                }
            };
            let finished = builder.is_finished();
            Some((events, (rx, builder, guard, finished)))
        },
    )
    .flat_map(futures::stream::iter)
    .map(to_event);
    let stream = futures::stream::once(async move { to_event(created) }).chain(stream);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_host_names() {
        let policy = http_guard::HostPolicy::loopback(None);
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:80",
            "localhost",
        ] {
            assert!(policy.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:80",
            "10.0.0.1:80",
            "",
            "[2001:db8::1]:80",
            "localhost.evil.com",
            "127.evil.example",
            "127.evil.example:80",
        ] {
            assert!(!policy.host_allowed(bad), "{bad}");
        }
    }
}
