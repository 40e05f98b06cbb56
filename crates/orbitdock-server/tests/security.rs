//! Security layer over a real listening server: token on every route but /health and /login,
//! Host and Origin checks, the login cookie, mutations only by POST/PATCH/DELETE, JSON errors.

#![allow(clippy::unwrap_used)]

#[path = "all/common.rs"]
mod common;

use anyhow::Result;
use common::{Harness, TOKEN};
use orbitdock_protocol::ErrorBody;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_host_origin_and_methods_are_enforced() -> Result<()> {
    let h = Harness::start().await?;
    let base = h.base();
    let port = h.server.as_ref().unwrap().addr.port();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    // /health needs no token.
    let r = c.get(format!("{base}/health")).send().await?;
    assert_eq!(r.status(), 200);

    // No token -> 401 with a JSON error body; wrong token -> 401.
    for path in [
        "/api/sessions",
        "/api/models",
        "/",
        "/ws",
        "/api/sessions/x/items",
    ] {
        let r = c.get(format!("{base}{path}")).send().await?;
        assert_eq!(r.status(), 401, "{path}");
        let e: ErrorBody = r.json().await?;
        assert_eq!(e.error.code, "unauthorized");
    }
    // A browser opening the bare URL without the cookie gets a sign-in page (still 401, no UI).
    let r = c
        .get(format!("{base}/"))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let page = r.text().await?;
    assert!(page.contains("You are not signed in"), "{page}");
    assert!(
        !page.contains("<script"),
        "the sign-in page must not load the UI"
    );
    let r = c
        .get(format!("{base}/api/sessions"))
        .bearer_auth("wrong")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{base}/api/sessions"))
        .json(&serde_json::json!({"cwd": "/tmp"}))
        .send()
        .await?;
    assert_eq!(r.status(), 401, "mutations need the token too");

    // A foreign Origin -> 403, even with the token; our own origin is fine.
    let r = c
        .get(format!("{base}/api/sessions"))
        .bearer_auth(TOKEN)
        .header("Origin", "http://evil.example")
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let e: ErrorBody = r.json().await?;
    assert_eq!(e.error.code, "forbidden");
    let r = c
        .get(format!("{base}/api/sessions"))
        .bearer_auth(TOKEN)
        .header("Origin", format!("http://localhost:{port}"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{base}/api/sessions"))
        .bearer_auth(TOKEN)
        .header("Origin", format!("http://127.0.0.1:{}", port + 1))
        .send()
        .await?;
    assert_eq!(r.status(), 403, "another port is another origin");

    // DNS rebinding: a foreign Host -> 403.
    let r = c
        .get(format!("{base}/api/sessions"))
        .bearer_auth(TOKEN)
        .header("Host", format!("evil.example:{port}"))
        .send()
        .await?;
    assert_eq!(r.status(), 403);

    // /login with the token sets an HttpOnly, SameSite=Strict cookie and redirects to /.
    let r = c.get(format!("{base}/login?token=wrong")).send().await?;
    assert_eq!(r.status(), 401);
    let r = c.get(format!("{base}/login?token={TOKEN}")).send().await?;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cookie = r.headers()["set-cookie"].to_str()?.to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let r = c
        .get(format!("{base}/"))
        .header("Cookie", &pair)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(r.text().await?.contains("<html"));
    let r = c
        .get(format!("{base}/api/sessions"))
        .header("Cookie", &pair)
        .send()
        .await?;
    assert_eq!(r.status(), 200);

    // Mutations are never reachable by GET.
    let r = c
        .get(format!("{base}/api/sessions/x/end"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(r.status(), 405);

    // Bad input: malformed JSON -> 400 with a JSON body; unknown session -> 404; bad cwd -> 400.
    let r = c
        .post(format!("{base}/api/sessions"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let e: ErrorBody = r.json().await?;
    assert_eq!(e.error.code, "bad_request");
    let r = c
        .get(format!("{base}/api/sessions/nope"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let r = c
        .post(format!("{base}/api/sessions"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"cwd": "/definitely/not/here"}))
        .send()
        .await?;
    assert_eq!(r.status(), 400);

    h.shutdown().await;
    Ok(())
}
