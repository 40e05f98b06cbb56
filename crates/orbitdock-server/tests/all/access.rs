//! Security layer over a real listening server: token on every route but /health and /login,
//! Host and Origin checks, the sign-in form and its cookie (never a token from a URL), mutations
//! only by POST/PATCH/DELETE, JSON errors.

#![allow(clippy::unwrap_used)]

use anyhow::Result;

use crate::common::{self, Harness, TOKEN};
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

    // GET /login is the sign-in form; it never takes the token from the URL (right or wrong,
    // the same refusal and no cookie).
    let html = "text/html,application/xhtml+xml";
    let r = c
        .get(format!("{base}/login"))
        .header("Accept", html)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let page = r.text().await?;
    assert!(
        page.contains("<form method=\"post\" action=\"/login\">")
            && page.contains("name=\"token\""),
        "{page}"
    );
    for token in ["wrong", TOKEN] {
        let r = c
            .get(format!("{base}/login?token={token}"))
            .header("Accept", html)
            .send()
            .await?;
        assert_eq!(r.status(), 400, "{token}");
        assert!(!r.headers().contains_key("set-cookie"), "{token}");
        let page = r.text().await?;
        assert!(page.contains("no longer accepted"), "{page}");
        let r = c.get(format!("{base}/login?token={token}")).send().await?;
        assert_eq!(r.status(), 400, "{token}");
        assert!(!r.headers().contains_key("set-cookie"), "{token}");
        let e: ErrorBody = r.json().await?;
        assert_eq!(e.error.code, "bad_request");
    }
    // POST /login: a wrong token is 401 (a page for a browser, JSON otherwise), no token is
    // 400, a body that is not a form is 415; none sets a cookie.
    let r = c
        .post(format!("{base}/login"))
        .form(&[("token", "wrong")])
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert!(!r.headers().contains_key("set-cookie"));
    let e: ErrorBody = r.json().await?;
    assert_eq!(e.error.code, "unauthorized");
    let r = c
        .post(format!("{base}/login"))
        .header("Accept", html)
        .form(&[("token", "wrong")])
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert!(r.text().await?.contains("not this server's API token"));
    let r = c
        .post(format!("{base}/login"))
        .form(&[("token", "")])
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let r = c
        .post(format!("{base}/login"))
        .json(&serde_json::json!({ "token": TOKEN }))
        .send()
        .await?;
    assert_eq!(r.status(), 415);
    assert!(!r.headers().contains_key("set-cookie"));
    // A form from another site is refused before the token is looked at.
    let r = c
        .post(format!("{base}/login"))
        .header("Origin", "http://evil.example")
        .form(&[("token", TOKEN)])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert!(!r.headers().contains_key("set-cookie"));
    // The right token, posted from our own origin: an HttpOnly, SameSite=Strict cookie and a
    // redirect to /.
    let r = c
        .post(format!("{base}/login"))
        .header("Origin", &base)
        .form(&[("token", TOKEN)])
        .send()
        .await?;
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

/// Requests a browser-library client would never send, written byte for byte on a raw socket.
mod raw_requests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends `head` (request line + headers, without the final blank line) and returns the
    /// status code and body. A dropped connection (a panicking handler) is an error here.
    async fn raw(addr: std::net::SocketAddr, head: &[u8]) -> Result<(u16, String)> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(head).await?;
        s.write_all(b"Connection: close\r\n\r\n").await?;
        let mut buf = Vec::new();
        tokio::time::timeout(common::WAIT, s.read_to_end(&mut buf)).await??;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no HTTP answer (connection dropped?): {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn malformed_query_tokens_are_400_and_lookalike_hosts_403() -> Result<()> {
        let h = Harness::start().await?;
        let addr = h.server.as_ref().unwrap().addr;
        let host = format!("Host: 127.0.0.1:{}\r\n", addr.port());

        // `%a` followed by a multibyte character: a clear 400, for /login and for /ws.
        for target in [
            "/login?token=%a\u{e9}",
            "/ws?token=%a\u{e9}",
            "/login?token=%",
        ] {
            let head = format!("GET {target} HTTP/1.1\r\n{host}");
            let (status, body) = raw(addr, head.as_bytes()).await?;
            assert_eq!(status, 400, "{target}: {body}");
            let e: ErrorBody = serde_json::from_str(&body)?;
            assert_eq!(e.error.code, "bad_request", "{target}");
        }
        // The server still answers afterwards.
        let head = format!("GET /health HTTP/1.1\r\n{host}");
        assert_eq!(raw(addr, head.as_bytes()).await?.0, 200);
        // A well-formed token in the login URL is refused as such (no token is read from a URL).
        let head = format!("GET /login?token=%C3%A9 HTTP/1.1\r\n{host}");
        assert_eq!(raw(addr, head.as_bytes()).await?.0, 400);
        // So is the right token in the WebSocket URL: no upgrade, a 400 that names the header
        // to use; the same upgrade with the token as a bearer header is accepted.
        let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        let head = format!("GET /ws?token={TOKEN} HTTP/1.1\r\n{host}{upgrade}");
        let (status, body) = raw(addr, head.as_bytes()).await?;
        assert_eq!(status, 400, "{body}");
        let e: ErrorBody = serde_json::from_str(&body)?;
        assert_eq!(e.error.code, "bad_request");
        assert!(e.error.message.contains("Authorization: Bearer"), "{body}");
        common::Ws::connect(&format!("http://{addr}")).await?;

        // Names that merely start like a loopback address are other hosts (DNS rebinding).
        for evil in [
            format!("127.evil.example:{}", addr.port()),
            format!("127.0.0.1.evil.example:{}", addr.port()),
            format!("localhost.:{}", addr.port()),
        ] {
            let head = format!(
                "GET /api/sessions HTTP/1.1\r\nHost: {evil}\r\nAuthorization: Bearer {TOKEN}\r\n"
            );
            let (status, body) = raw(addr, head.as_bytes()).await?;
            assert_eq!(status, 403, "{evil}: {body}");
            let e: ErrorBody = serde_json::from_str(&body)?;
            assert_eq!(e.error.code, "forbidden");
        }
        h.shutdown().await;
        Ok(())
    }
}
