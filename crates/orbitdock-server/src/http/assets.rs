//! The web UI's static files, embedded in the binary from `ui/` (works offline, no CDN).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::error_response;

#[derive(RustEmbed)]
#[folder = "ui/"]
struct UiAssets;

fn serve(path: &str) -> Response {
    match UiAssets::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, mime.as_ref())
                .header(header::CACHE_CONTROL, "no-cache")
                .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
                .header(
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
                )
                .body(Body::from(file.data.into_owned()))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        None => error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such file: /{path}"),
        ),
    }
}

/// An embedded file as text (a page a handler fills in before serving).
pub(super) fn text(path: &str) -> Option<String> {
    UiAssets::get(path).map(|f| String::from_utf8_lossy(&f.data).into_owned())
}

/// The installable-app shell: served without the token because browsers fetch the manifest and
/// its icons without cookies, and the offline page must load when nothing else can. None of it
/// holds data.
pub(super) fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/manifest.webmanifest"
            | "/sw.js"
            | "/offline.html"
            | "/icons/icon-192.png"
            | "/icons/icon-512.png"
            | "/js/pair.js"
    )
}

/// The page a device opens to pair (`/pair#CODE`): it posts the code from the fragment.
pub(super) async fn pair_page() -> Response {
    serve("pair.html")
}

pub(super) async fn index() -> Response {
    serve("index.html")
}

pub(super) async fn asset(req: Request) -> Response {
    if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "static files are GET only",
        );
    }
    let path = req.uri().path().trim_start_matches('/');
    if path.starts_with("api/") {
        return error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route /{path}"),
        );
    }
    serve(path)
}
