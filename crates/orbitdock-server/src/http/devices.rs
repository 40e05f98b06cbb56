//! Pairing and device-session routes (see `crate::pairing` for the design): mint a code, the
//! pair page and its `POST /api/pair`, the list of paired devices and their revocation.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, RequestExt};
use orbitdock_protocol::pairing::{
    PairRequest, PairedDevicesResponse, PairingCode, PairingRequest,
};

use super::rest::body;
use super::{AppState, error_response, login_limit};
use crate::error::{Error, Result};
use crate::pairing::{self, DeviceIdentity, PairError};

/// The device-session cookie.
pub const DEVICE_COOKIE: &str = "orbitdock_device";
/// The pair page.
pub(super) const PAIR_PAGE: &str = pairing::PAIR_PAGE;
/// Where the pair page posts its code (no API token: see the guard).
pub(super) const PAIR_ROUTE: &str = "/api/pair";
/// A paired device stays signed in until revoked; browsers cap cookie lifetimes at 400 days.
const COOKIE_MAX_AGE_SECS: u64 = 400 * 24 * 3600;

/// Whether the client reached us over HTTPS (directly, or through a proxy that says so): the
/// device cookie is then `Secure`. A client lying about it only gets a cookie its own browser
/// will not send back over plain HTTP.
fn over_https(headers: &HeaderMap) -> bool {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    value("origin").starts_with("https://") || value("x-forwarded-proto") == "https"
}

/// The origin a device should open: the request's `Origin` (a browser's; the guard accepted it
/// as ours), else the scheme and `Host` it reached us with.
fn public_origin(headers: &HeaderMap) -> Result<String> {
    if let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| o.starts_with("http://") || o.starts_with("https://"))
    {
        return Ok(origin.trim_end_matches('/').to_owned());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::BadRequest("the request has no Host".into()))?;
    let scheme = if over_https(headers) { "https" } else { "http" };
    Ok(format!("{scheme}://{host}"))
}

/// `POST /api/pairing`: a new one-time code, its URL and the URL's QR code.
pub(super) async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    b: std::result::Result<Json<PairingRequest>, JsonRejection>,
) -> Result<Json<PairingCode>> {
    let req = body(b)?;
    let ttl = match req.ttl_secs {
        None => pairing::DEFAULT_CODE_TTL,
        Some(0) => return Err(Error::BadRequest("ttl_secs must be at least 1".into())),
        Some(n) => Duration::from_secs(n).min(pairing::MAX_CODE_TTL),
    };
    let origin = public_origin(&headers)?;
    let minted = s.pairing.mint(req.name, ttl).await?;
    let url = pairing::link(&origin, &minted.code);
    Ok(Json(PairingCode {
        qr_svg: pairing::qr_svg(&url)?,
        code: minted.code,
        url,
        expires_at: minted.expires_at,
    }))
}

/// 429 with `Retry-After`.
pub(super) fn too_many(retry_after: Duration) -> Response {
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many failed sign-in attempts from this address; try again in {secs} s"),
    );
    if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Whether the request's source may try to sign in: `Ok(source)`, to count a failure against,
/// or `Err(retry_after)`.
pub(super) fn limit(
    s: &AppState,
    req: &Request<Body>,
) -> std::result::Result<Option<std::net::IpAddr>, Duration> {
    let peer = login_limit::peer(req.extensions());
    s.login_limit.check(peer)?;
    Ok(peer)
}

/// `POST /api/pair`: trades a pairing code for a device session cookie.
pub(super) async fn pair(State(s): State<AppState>, req: Request<Body>) -> Response {
    let peer = match limit(&s, &req) {
        Ok(p) => p,
        Err(wait) => return too_many(wait),
    };
    let https = over_https(req.headers());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let b: std::result::Result<Json<PairRequest>, JsonRejection> = req.extract().await;
    let code = match body(b) {
        Ok(r) => r.code,
        Err(e) => return e.into_response(),
    };
    match s
        .pairing
        .redeem(&code, &pairing::name_from_user_agent(&user_agent))
        .await
    {
        Ok(new) => {
            let secure = if https { "; Secure" } else { "" };
            let cookie = format!(
                "{DEVICE_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}{secure}",
                new.secret
            );
            let mut r = Json(new.device).into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            match header::HeaderValue::from_str(&cookie) {
                Ok(v) => {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                    r
                }
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        Err(PairError::Store(e)) => e.into_response(),
        Err(e @ PairError::Invalid) => {
            s.login_limit.failed(peer);
            error_response(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
        }
        Err(e @ PairError::Expired) => {
            s.login_limit.failed(peer);
            error_response(StatusCode::GONE, "expired", e.to_string())
        }
    }
}

/// `GET /api/devices`.
pub(super) async fn list(
    State(s): State<AppState>,
    me: Option<Extension<DeviceIdentity>>,
) -> Result<Json<PairedDevicesResponse>> {
    let current = me.as_ref().map(|Extension(d)| d.id.as_str());
    Ok(Json(PairedDevicesResponse {
        devices: s.pairing.devices(current).await?,
    }))
}

/// `POST /api/devices/{id}/revoke`.
pub(super) async fn revoke(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    if !s.pairing.revoke(&id).await? {
        return Ok(error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no paired device {id}"),
        ));
    }
    Ok(Json(serde_json::json!({ "revoked": id })).into_response())
}
