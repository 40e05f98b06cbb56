//! Signing a browser in with the API token, without the token ever being in a URL.
//!
//! URLs are the leakiest place a secret can be: browser history and sync, the address bar in a
//! screenshot or a screen share, proxy and access logs, `Referer` headers. So the token is only
//! ever *posted*: `GET /login` is a page with a form where a person pastes it (from
//! `orbitdock token`), and `POST /login` (a form body; `Host`/`Origin` checked by the guard like
//! every route, failures rate-limited per address) sets the HttpOnly cookie and sends the browser
//! to the app. The everyday way in needs no token at all: `orbitdock serve` prints, and
//! `orbitdock open` mints, a one-time link to the pair page (`crate::pairing`).
//!
//! `GET /login?token=...`, the old sign-in link, is refused outright with a page that says what to
//! do instead: the token is not even compared (a right and a wrong one get the same answer, so the
//! refusal is no oracle), no cookie is set, and the query is never logged.
//!
//! Browsers (`Accept: text/html`) get HTML pages; every other client the JSON errors the rest of
//! the API answers with.

use std::time::Duration;

use axum::Form;
use axum::body::Body;
use axum::extract::rejection::FormRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{RequestExt, http};
use http_guard::query_value;
use serde::Deserialize;

use super::{AppState, COOKIE_NAME, devices, error_response, rejection_response};

/// The sign-in page and the path its form posts to.
pub(super) const LOGIN_PATH: &str = "/login";

/// What the page says when an old sign-in link with the token is opened.
const TOKEN_IN_URL: &str = "Sign-in links with the API token in them are no longer accepted: a \
token in a URL ends up in browser history and logs. Paste the token below, or open the one-time \
link that `orbitdock serve` printed (`orbitdock open` makes a new one).";

/// The form's fields. Unknown fields are ignored: a password manager may add its own.
#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Whether the client is a browser navigating (it wants a page, not JSON).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Escapes text for an element's content (the only place messages go).
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The sign-in page with `status`, and `message` (an error, or why the person is here) above
/// the form.
pub(super) fn page(status: StatusCode, message: Option<&str>) -> Response {
    let Some(template) = super::assets::text("login.html") else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the sign-in page is missing from this build",
        );
    };
    let note = message
        .map(|m| format!("<p class=\"note\" role=\"alert\">{}</p>", escape_html(m)))
        .unwrap_or_default();
    let html = template.replace("<!--message-->", &note);
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        // A sign-in page is never cached or framed (clickjacking the form), and never tells
        // another site where the person came from. Not `no-referrer`: under it a browser sends
        // `Origin: null` with the form's POST, which the guard rightly refuses.
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "same-origin")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             form-action 'self'; frame-ancestors 'none'",
        )
        .body(Body::from(html))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A refusal: the page with `message` for a browser, a JSON error otherwise.
fn refuse(html: bool, status: StatusCode, code: &str, message: &str) -> Response {
    if html {
        page(status, Some(message))
    } else {
        error_response(status, code, message)
    }
}

/// 429 with `Retry-After`, as a page or JSON.
fn too_many(html: bool, retry_after: Duration) -> Response {
    if !html {
        return devices::too_many(retry_after);
    }
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = page(
        StatusCode::TOO_MANY_REQUESTS,
        Some(&format!(
            "Too many failed sign-in attempts from this address; try again in {secs} s."
        )),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// `GET /login`: the form; with a `token` in the query, a refusal (see the module docs).
pub(super) async fn form(req: Request<Body>) -> Response {
    let html = wants_html(req.headers());
    match query_value(req.uri().query(), "token") {
        Ok(None) => page(StatusCode::OK, None),
        Ok(Some(_)) => refuse(html, StatusCode::BAD_REQUEST, "bad_request", TOKEN_IN_URL),
        Err(r) if html => page(StatusCode::BAD_REQUEST, Some(&r.message)),
        Err(r) => rejection_response(&r),
    }
}

/// `POST /login` with a form body `token=...`: the cookie and a redirect to the app.
pub(super) async fn submit(State(state): State<AppState>, req: Request<Body>) -> Response {
    let html = wants_html(req.headers());
    let peer = match devices::limit(&state, &req) {
        Ok(p) => p,
        Err(wait) => return too_many(html, wait),
    };
    let headers = req.headers().clone();
    let f: std::result::Result<Form<LoginForm>, FormRejection> = req.extract().await;
    let token = match f {
        Ok(Form(f)) => f.token.trim().to_owned(),
        Err(e) => {
            let status = e.status();
            let message = format!(
                "send the token as a form (`Content-Type: application/x-www-form-urlencoded`, \
                 `token=...`): {}",
                e.body_text()
            );
            let code = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                "unsupported_media_type"
            } else {
                "bad_request"
            };
            return refuse(html, status, code, &message);
        }
    };
    if token.is_empty() {
        // No guess was made, so nothing counts against the address.
        return refuse(
            html,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Paste the API token (`orbitdock token` prints it).",
        );
    }
    if !state.auth.token_matches(&token) {
        state.login_limit.failed(peer);
        return refuse(
            html,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "That is not this server's API token. `orbitdock token` prints it.",
        );
    }
    let attributes = state.auth.cookie_attributes(&headers);
    let cookie = format!("{COOKIE_NAME}={token}; {attributes}");
    let Ok(cookie) = HeaderValue::from_str(&cookie) else {
        // The token matched ours, which is always a valid header value; a match with
        // anything else would be a bug, not a sign-in.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut r = http::Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_are_escaped_and_the_page_has_its_form() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;'"
        );
        let r = page(StatusCode::UNAUTHORIZED, Some("<b>no</b>"));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("<p class=\"note\" role=\"alert\">&lt;b&gt;no&lt;/b&gt;</p>"));
        assert!(html.contains("<form method=\"post\" action=\"/login\">"));
        assert!(!html.contains("<!--message-->"));
        // Without a message, the slot is simply gone.
        let r = page(StatusCode::OK, None);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(!html.contains("<!--message-->") && !html.contains("role=\"alert\""));
    }
}
