//! Pairing a device over a real listening server: a one-time code minted with the API token
//! becomes a device session cookie through the public pair route; the code works once and
//! expires; the device session works for REST and the WebSocket until revoked, after which its
//! next request is 401 and its open WebSocket is closed; sessions survive a restart (SQLite);
//! failed sign-ins from one address end in 429 with `Retry-After`.

#![allow(clippy::unwrap_used)]

use anyhow::{Context, Result, ensure};
use orbitdock_protocol::pairing::{PairedDevice, PairedDevicesResponse, PairingCode};
use serde_json::{Value, json};

use crate::common::{Scripted, TOKEN, Ws};

/// `POST /api/pair` with no credential: status, JSON body and the `name=value` of the cookie set.
async fn redeem(base: &str, code: &str) -> Result<(u16, Value, Option<String>)> {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/pair"))
        .json(&json!({ "code": code }))
        .send()
        .await?;
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((status, r.json().await?, cookie))
}

/// `GET path` with only the cookie.
async fn get_with_cookie(base: &str, path: &str, cookie: &str) -> Result<(u16, Value)> {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await?))
}

/// A new code and the cookie (`name=value`) of the device paired with it.
async fn pair_device(s: &Scripted, name: &str) -> Result<(PairedDevice, String)> {
    let code: PairingCode = s
        .rest
        .post("/api/pairing", &json!({ "name": name }))
        .await?;
    let (status, body, cookie) = redeem(&s.base(), &code.code).await?;
    ensure!(status == 200, "pairing {name}: {status} {body}");
    let cookie = cookie.context("no cookie")?;
    Ok((
        serde_json::from_value(body)?,
        cookie.split(';').next().unwrap().to_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_code_works_once_and_expires() -> Result<()> {
    let s = Scripted::start().await?;
    let base = s.base();
    let code: PairingCode = s
        .rest
        .post("/api/pairing", &json!({"name": "Test phone"}))
        .await?;
    // The link names this server and carries the code in its fragment, never the token.
    assert_eq!(code.url, format!("{base}/pair#{}", code.code));
    assert!(!code.url.contains(TOKEN));
    assert!(code.code.len() >= 22, "{}", code.code);
    assert!(code.qr_svg.contains("<svg"), "{}", code.qr_svg);
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        code.expires_at > now + 4 * 60_000 && code.expires_at <= now + 5 * 60_000,
        "a 5-minute code: {} vs {now}",
        code.expires_at
    );
    // Minting needs a credential.
    let r = reqwest::Client::new()
        .post(format!("{base}/api/pairing"))
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(r.status(), 401);

    // The pair page itself is public (it holds no data).
    let r = reqwest::Client::new()
        .get(format!("{base}/pair"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(r.text().await?.contains("/js/pair.js"));

    // First use: a device session in an HttpOnly, SameSite=Strict cookie (not Secure on http).
    let (status, body, cookie) = redeem(&base, &code.code).await?;
    assert_eq!(status, 200, "{body}");
    let device: PairedDevice = serde_json::from_value(body)?;
    assert_eq!(device.name, "Test phone");
    assert!(device.current);
    let cookie = cookie.context("no Set-Cookie")?;
    let mut parts = cookie.split(';').map(str::trim);
    let pair = parts.next().unwrap().to_owned();
    let flags: Vec<&str> = parts.collect();
    assert!(pair.starts_with("orbitdock_device="), "{cookie}");
    assert!(!pair.contains(TOKEN));
    for want in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(flags.contains(&want), "{flags:?} lacks {want}");
    }
    assert!(!flags.contains(&"Secure"), "{flags:?}");
    // The cookie opens the API; the list marks the asking device.
    let (status, _) = get_with_cookie(&base, "/api/sessions", &pair).await?;
    assert_eq!(status, 200);
    let (status, listed) = get_with_cookie(&base, "/api/devices", &pair).await?;
    assert_eq!(status, 200);
    let listed: PairedDevicesResponse = serde_json::from_value(listed)?;
    assert_eq!(listed.devices.len(), 1);
    assert!(listed.devices[0].current);
    assert_eq!(listed.devices[0].id, device.id);
    let by_token: PairedDevicesResponse = s.rest.get("/api/devices").await?;
    assert!(!by_token.devices[0].current);

    // Second use: refused, and no second device.
    let (status, body, cookie) = redeem(&base, &code.code).await?;
    assert_eq!(status, 401, "{body}");
    assert!(cookie.is_none());
    let by_token: PairedDevicesResponse = s.rest.get("/api/devices").await?;
    assert_eq!(by_token.devices.len(), 1);

    // A one-second code, used after it expired: 410, then gone altogether (401).
    let short: PairingCode = s.rest.post("/api/pairing", &json!({"ttl_secs": 1})).await?;
    let wait = short.expires_at - chrono::Utc::now().timestamp_millis() + 20;
    tokio::time::sleep(std::time::Duration::from_millis(wait.max(0) as u64)).await;
    let (status, body, _) = redeem(&base, &short.code).await?;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "expired");
    let (status, _, _) = redeem(&base, &short.code).await?;
    assert_eq!(status, 401);
    // A device named by nobody is named after its browser.
    let unnamed: PairingCode = s.rest.post("/api/pairing", &json!({})).await?;
    let r = reqwest::Client::new()
        .post(format!("{base}/api/pair"))
        .header(
            "user-agent",
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
        )
        .json(&json!({"code": unnamed.code}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<PairedDevice>().await?.name, "Chrome on Android");
    s.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_refused_and_its_websocket_closed() -> Result<()> {
    let mut s = Scripted::start().await?;
    let base = s.base();
    let (phone, phone_cookie) = pair_device(&s, "Phone").await?;
    let (tablet, tablet_cookie) = pair_device(&s, "Tablet").await?;
    let mut phone_ws = Ws::connect_with_cookie(&base, &phone_cookie).await?;
    let mut tablet_ws = Ws::connect_with_cookie(&base, &tablet_cookie).await?;
    let mut token_ws = Ws::connect(&base).await?;

    let revoked: Value = s
        .rest
        .post(&format!("/api/devices/{}/revoke", phone.id), &json!({}))
        .await?;
    assert_eq!(revoked["revoked"], phone.id.as_str());
    // Its open WebSocket is closed with the "revoked" code; its next request is 401.
    assert_eq!(phone_ws.wait_closed().await?, Some(4401));
    let (status, body) = get_with_cookie(&base, "/api/sessions", &phone_cookie).await?;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("pair"),
        "{body}"
    );
    let r = tokio_tungstenite::connect_async({
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/ws", base.replace("http://", "ws://")).into_client_request()?;
        req.headers_mut()
            .insert("cookie", phone_cookie.parse().unwrap());
        req
    })
    .await;
    assert!(r.is_err(), "a revoked device opened a WebSocket");
    // Revoking it again: no such device.
    let (status, _) = s
        .rest
        .post_raw(&format!("/api/devices/{}/revoke", phone.id), &json!({}))
        .await?;
    assert_eq!(status, 404);
    // The other device and the token are untouched.
    let (status, _) = get_with_cookie(&base, "/api/sessions", &tablet_cookie).await?;
    assert_eq!(status, 200);
    tablet_ws
        .send(json!({"type": "subscribe_list", "limit": 5}))
        .await?;
    tablet_ws
        .wait_for("the tablet's list page", |m| {
            matches!(m, orbitdock_protocol::ServerMessage::SessionsPage { .. })
        })
        .await?;
    token_ws
        .send(json!({"type": "subscribe_list", "limit": 5}))
        .await?;
    token_ws
        .wait_for("the token's list page", |m| {
            matches!(m, orbitdock_protocol::ServerMessage::SessionsPage { .. })
        })
        .await?;
    tablet_ws.close().await;
    token_ws.close().await;

    // Device sessions live in the database: after a restart the tablet is still paired, the
    // phone still revoked.
    s.restart().await?;
    let base = s.base();
    let (status, _) = get_with_cookie(&base, "/api/sessions", &tablet_cookie).await?;
    assert_eq!(status, 200);
    let (status, _) = get_with_cookie(&base, "/api/sessions", &phone_cookie).await?;
    assert_eq!(status, 401);
    let listed: PairedDevicesResponse = s.rest.get("/api/devices").await?;
    assert_eq!(
        listed
            .devices
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        vec![tablet.id.as_str()]
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_rate_limited_per_address() -> Result<()> {
    let s = Scripted::start().await?;
    let base = s.base();
    let good: PairingCode = s.rest.post("/api/pairing", &json!({})).await?;
    let burst = orbitdock_server::http::LOGIN_BURST;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // Wrong pairing codes and wrong tokens posted to the sign-in form share one bucket.
    for i in 0..burst {
        if i % 2 == 0 {
            let (status, body, _) = redeem(&base, &format!("wrong-code-{i}")).await?;
            assert_eq!(status, 401, "attempt {i}: {body}");
        } else {
            let r = no_redirect
                .post(format!("{base}/login"))
                .form(&[("token", format!("wrong-token-{i}"))])
                .send()
                .await?;
            assert_eq!(r.status(), 401, "attempt {i}");
        }
    }
    // The bucket is empty: even the right code waits, and so does a login with the token.
    let r = reqwest::Client::new()
        .post(format!("{base}/api/pair"))
        .json(&json!({"code": good.code}))
        .send()
        .await?;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str()?.parse()?;
    assert!(
        (1..=orbitdock_server::http::LOGIN_REFILL.as_secs()).contains(&retry),
        "{retry}"
    );
    let body: Value = r.json().await?;
    assert_eq!(body["error"]["code"], "rate_limited");
    for accept in ["application/json", "text/html"] {
        let r = no_redirect
            .post(format!("{base}/login"))
            .header("accept", accept)
            .form(&[("token", TOKEN)])
            .send()
            .await?;
        assert_eq!(r.status(), 429, "{accept}");
        assert!(r.headers().contains_key("retry-after"));
        assert!(!r.headers().contains_key("set-cookie"));
    }
    // Requests that already carry the token are not sign-ins and are not slowed down.
    let _: Value = s.rest.get("/api/sessions").await?;
    s.shutdown().await;
    Ok(())
}
