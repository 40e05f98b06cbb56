//! Bad input on every surface of the hub: a real server (real SQLite, real HTTP and WebSocket on
//! 127.0.0.1) over the scripted connector.
//!
//! * REST: every route the router declares (`orbitdock_server::http::route_paths`, read from the
//!   table the router is built from, so a new route is covered without editing this file) gets
//!   missing/invalid tokens, foreign `Host`/`Origin`, every method it does not allow, unknown and
//!   hostile ids, malformed JSON, wrong types, hook-shaped objects that are not hook payloads,
//!   hostile query strings and an oversized body. Every answer must be a JSON error (never a 5xx,
//!   a panic or a dropped connection); the inputs that are bad whatever the route (auth, Host,
//!   Origin, method, unknown id, oversize) must be a 4xx. A route that reads no body may accept a
//!   junk body: those answers are counted, not refused.
//! * WebSocket: every client message type (read from the protocol's own deserializer, so a new
//!   type is covered too) with missing fields, wrong types, unknown and hostile ids, plus frames
//!   that are not messages at all. Each must be answered with an `error` (or, when it happens to
//!   be valid, its normal answer) and the connection must stay usable; an oversized frame closes
//!   it with 1009 and the server takes the next connection.
//!
//! Prints the inputs tried, 4xx, accepted, 5xx and dropped.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use futures::{SinkExt, StreamExt};
use orbitdock_protocol::{ClientMessage, ErrorBody};
use reqwest::Method;
use reqwest::header::{self, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::{Scripted, TOKEN};

/// One request to make, and whether it must be refused whatever the route does with it.
struct Probe {
    what: String,
    method: Method,
    path: String,
    headers: Vec<(HeaderName, String)>,
    body: Option<Vec<u8>>,
    must_refuse: bool,
}

#[derive(Default)]
struct Tally {
    tried: usize,
    refused_4xx: usize,
    accepted: usize,
    server_errors: Vec<String>,
    dropped: Vec<String>,
    not_json: Vec<String>,
    not_refused: Vec<String>,
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Hostile stand-ins for a path parameter (already percent-encoded where needed).
fn hostile_ids() -> Vec<(&'static str, String)> {
    vec![
        ("unknown id", "no-such-id-0000".into()),
        ("4 KiB id", "x".repeat(4096)),
        ("NUL byte", "a%00b".into()),
        ("path traversal", "..%2F..%2Fetc%2Fpasswd".into()),
        ("emoji", "%F0%9F%92%A9".into()),
        ("invalid UTF-8", "%FF%FE".into()),
        ("quote and SQL", "x'%20OR%20'1'%3D'1".into()),
    ]
}

/// Bodies that are not what any route takes. `true`: malformed whatever the route expects.
fn junk_bodies() -> Vec<(&'static str, Vec<u8>, bool)> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let wrong_types = json!({
        "cwd": {}, "text": 5, "name": [], "model": 1, "effort": true, "decision": 7,
        "answers": "x", "approval_policy": 3, "sandbox_mode": [], "prompt": {},
        "markdown": 9, "session_id": 4, "hook_event_name": [], "archived": "yes"
    });
    vec![
        ("truncated JSON", b"{\"text\": \"hi".to_vec(), true),
        ("not JSON", b"hello there".to_vec(), true),
        ("invalid UTF-8", vec![0x7b, 0xff, 0xfe, 0x7d], true),
        ("nesting 10k deep", deep.into_bytes(), true),
        ("JSON null", b"null".to_vec(), true),
        ("JSON array", b"[]".to_vec(), true),
        ("JSON string", b"\"x\"".to_vec(), true),
        ("JSON number", b"42".to_vec(), true),
        ("wrong types", wrong_types.to_string().into_bytes(), true),
        ("empty object", b"{}".to_vec(), false),
        (
            "hook without session",
            json!({"hook_event_name": "SessionStart"})
                .to_string()
                .into_bytes(),
            false,
        ),
        (
            "hook with wrong field types",
            json!({"session_id": "s", "hook_event_name": "PreToolUse", "tool_input": 5,
                "cwd": 7, "transcript_path": ["x"], "model": false})
            .to_string()
            .into_bytes(),
            false,
        ),
        (
            "unknown enum values",
            json!({"cwd": "/tmp", "text": "x", "decision": "maybe", "approval_policy": "whenever",
                "sandbox_mode": "open", "name": "n"})
            .to_string()
            .into_bytes(),
            false,
        ),
    ]
}

fn substitute(pattern: &str, id: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                id
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn allowed_methods(s: &Scripted, path: &str) -> Result<Vec<Method>> {
    let r = s
        .rest
        .http
        .request(Method::from_bytes(b"BOGUS")?, format!("{}{path}", s.base()))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    ensure!(
        r.status() == 405,
        "{path}: an unknown method got {}",
        r.status()
    );
    let allow = r
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let methods = allow
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| Method::from_bytes(m.as_bytes()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(methods)
}

fn probes_for(
    pattern: &str,
    allowed: &[Method],
    real_id: &str,
    port: u16,
    tally_routes: &mut BTreeMap<String, Vec<String>>,
) -> Vec<Probe> {
    tally_routes.insert(
        pattern.to_owned(),
        allowed.iter().map(|m| m.to_string()).collect(),
    );
    let has_param = pattern.contains('{');
    let real_path = substitute(pattern, real_id);
    let unknown_path = substitute(pattern, "no-such-id-0000");
    // The pair page and the sign-in form hold no data: a browser without any credential opens
    // them (a wrong token posted to the form is covered by the access tests).
    let public = pattern == "/health" || pattern == "/pair" || pattern == "/login";
    let mut out = Vec::new();
    let probe = |what: String,
                 method: Method,
                 path: String,
                 headers: Vec<(HeaderName, String)>,
                 body: Option<Vec<u8>>,
                 must_refuse: bool| Probe {
        what,
        method,
        path,
        headers,
        body,
        must_refuse,
    };
    let auth = || (header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    let json_ct = || (header::CONTENT_TYPE, "application/json".to_owned());
    for m in allowed.iter().filter(|m| **m != Method::HEAD) {
        let path = real_path.clone();
        if !public {
            for (what, headers) in [
                ("no token", vec![]),
                (
                    "invalid bearer token",
                    vec![(header::AUTHORIZATION, "Bearer wrong-token".to_owned())],
                ),
                (
                    "bearer scheme garbage",
                    vec![(header::AUTHORIZATION, "Basic Zm9vOmJhcg==".to_owned())],
                ),
                (
                    "invalid cookie",
                    vec![(header::COOKIE, "orbitdock_token=wrong".to_owned())],
                ),
            ] {
                out.push(probe(
                    format!("{what}: {m} {pattern}"),
                    m.clone(),
                    path.clone(),
                    headers,
                    None,
                    true,
                ));
            }
        }
        // `/ws` takes the token in the query (browsers cannot set headers on an upgrade); no
        // other route does, the sign-in form included.
        if (!public || pattern == "/login") && pattern != "/ws" {
            out.push(probe(
                format!("token in the query: {m} {pattern}"),
                m.clone(),
                format!("{path}?token={TOKEN}"),
                vec![],
                None,
                true,
            ));
        }
        for (what, h) in [
            (
                "foreign Host",
                (header::HOST, format!("evil.example:{port}")),
            ),
            (
                "loopback Host, other port",
                (header::HOST, format!("127.0.0.1:{}", port.wrapping_add(1))),
            ),
            (
                "foreign Origin",
                (header::ORIGIN, format!("http://evil.example:{port}")),
            ),
            ("null Origin", (header::ORIGIN, "null".to_owned())),
        ] {
            out.push(probe(
                format!("{what}: {m} {pattern}"),
                m.clone(),
                path.clone(),
                vec![auth(), h],
                None,
                true,
            ));
        }
        // Oversized: refused before any handler reads it.
        out.push(probe(
            format!("5 MiB body: {m} {pattern}"),
            m.clone(),
            unknown_path.clone(),
            vec![auth(), json_ct()],
            Some(vec![b' '; 5 * 1024 * 1024]),
            true,
        ));
        if has_param {
            for (what, id) in hostile_ids() {
                out.push(probe(
                    format!("{what}: {m} {pattern}"),
                    m.clone(),
                    substitute(pattern, &id),
                    vec![auth(), json_ct()],
                    Some(b"{}".to_vec()),
                    true,
                ));
            }
        }
        for (what, body, malformed) in junk_bodies() {
            for (which, path) in [("unknown id", &unknown_path), ("real id", &real_path)] {
                if !has_param && which == "unknown id" {
                    continue;
                }
                // Junk bodies sent with an unknown id must be refused (by the id or the body);
                // with a real id, routes that read no body may accept them.
                let must_refuse = has_param && which == "unknown id" && pattern != "/ws";
                out.push(probe(
                    format!("{what} ({which}): {m} {pattern}"),
                    m.clone(),
                    path.clone(),
                    vec![auth(), json_ct()],
                    Some(body.clone()),
                    must_refuse,
                ));
                let _ = malformed;
            }
            if malformed && matches!(*m, Method::POST | Method::PATCH) {
                out.push(probe(
                    format!("{what} as text/plain: {m} {pattern}"),
                    m.clone(),
                    real_path.clone(),
                    vec![auth(), (header::CONTENT_TYPE, "text/plain".into())],
                    Some(body),
                    false,
                ));
            }
        }
        for q in [
            "after=abc&before=-1&limit=x",
            "limit=99999999999999999999999",
            "after=18446744073709551615&limit=0",
            "token=%ZZ&since=%FF",
        ] {
            out.push(probe(
                format!("query {q}: {m} {pattern}"),
                m.clone(),
                format!("{real_path}?{q}"),
                vec![auth()],
                None,
                false,
            ));
        }
    }
    for name in METHODS.iter().copied().chain(["BOGUS", "TRACE"]) {
        let m = Method::from_bytes(name.as_bytes()).unwrap();
        if allowed.contains(&m) || m == Method::HEAD {
            continue;
        }
        out.push(probe(
            format!("wrong method: {m} {pattern}"),
            m,
            real_path.clone(),
            vec![auth(), json_ct()],
            Some(b"{}".to_vec()),
            true,
        ));
    }
    out
}

async fn run_probe(http: &reqwest::Client, base: &str, p: &Probe, tally: &mut Tally) {
    tally.tried += 1;
    let mut req = http.request(p.method.clone(), format!("{base}{}", p.path));
    for (k, v) in &p.headers {
        req = req.header(k.clone(), HeaderValue::from_str(v).unwrap());
    }
    if let Some(b) = &p.body {
        req = req.body(b.clone());
    }
    let resp = match tokio::time::timeout(Duration::from_secs(30), req.send()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tally.dropped.push(format!("{}: {e}", p.what));
            return;
        }
        Err(_) => {
            tally.dropped.push(format!("{}: no answer in 30 s", p.what));
            return;
        }
    };
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            tally.dropped.push(format!("{}: body cut: {e}", p.what));
            return;
        }
    };
    if status.is_server_error() {
        tally.server_errors.push(format!(
            "{}: {status} {}",
            p.what,
            String::from_utf8_lossy(&body)
        ));
        return;
    }
    if status.is_success() || status.is_redirection() {
        if p.must_refuse {
            tally.not_refused.push(format!("{}: {status}", p.what));
        } else {
            tally.accepted += 1;
        }
        return;
    }
    tally.refused_4xx += 1;
    // HEAD answers have no body by definition.
    if p.method == Method::HEAD {
        return;
    }
    let decoded = serde_json::from_slice::<ErrorBody>(&body);
    if !ct.starts_with("application/json") || decoded.is_err() {
        tally.not_json.push(format!(
            "{}: {status} {ct:?} {}",
            p.what,
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rest_route_answers_bad_input_with_a_json_4xx() -> Result<()> {
    let s = Scripted::start().await?;
    let (real_id, _) = s.create().await?;
    let port = s.server().addr.port();
    let paths = orbitdock_server::http::route_paths();
    ensure!(paths.len() >= 15, "the route table lists only {paths:?}");
    let mut routes = BTreeMap::new();
    let mut probes = Vec::new();
    for pattern in &paths {
        let allowed = allowed_methods(&s, &substitute(pattern, &real_id)).await?;
        ensure!(!allowed.is_empty(), "{pattern}: no Allow header on 405");
        probes.extend(probes_for(pattern, &allowed, &real_id, port, &mut routes));
    }
    // Paths that are no route at all.
    for path in [
        "/api",
        "/api/",
        "/api/nope",
        "/api/sessions/x/y/z/w",
        "/%2e%2e/%2e%2e/etc/passwd",
    ] {
        probes.push(Probe {
            what: format!("no such route: GET {path}"),
            method: Method::GET,
            path: path.to_owned(),
            headers: vec![(header::AUTHORIZATION, format!("Bearer {TOKEN}"))],
            body: None,
            must_refuse: true,
        });
    }
    let mut tally = Tally::default();
    // A fresh client per probe class would hide keep-alive bugs; one client reuses
    // connections the way browsers do.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = s.base();
    for p in &probes {
        run_probe(&http, &base, p, &mut tally).await;
    }
    // Still alive and answering.
    let health: Value = s.rest.get("/health").await?;
    ensure!(health["ok"] == true);
    println!(
        "bad input (REST): {} routes ({} with methods), inputs tried {}, refused 4xx {}, accepted (route reads no body) {}, 5xx seen {}, dropped {}, non-JSON errors {}, bad input not refused {}",
        paths.len(),
        routes
            .iter()
            .map(|(p, m)| format!("{p} [{}]", m.join(",")))
            .collect::<Vec<_>>()
            .join("; "),
        tally.tried,
        tally.refused_4xx,
        tally.accepted,
        tally.server_errors.len(),
        tally.dropped.len(),
        tally.not_json.len(),
        tally.not_refused.len(),
    );
    for (what, list) in [
        ("5xx", &tally.server_errors),
        ("dropped", &tally.dropped),
        ("not JSON", &tally.not_json),
        ("bad input accepted", &tally.not_refused),
    ] {
        for l in list {
            println!("  {what}: {l}");
        }
    }
    ensure!(
        tally.server_errors.is_empty()
            && tally.dropped.is_empty()
            && tally.not_json.is_empty()
            && tally.not_refused.is_empty(),
        "bad input was mishandled (listed above)"
    );
    s.shutdown().await;
    Ok(())
}

/// Every `type` the protocol's client messages have, as its deserializer lists them.
fn client_message_types() -> Vec<String> {
    let err = serde_json::from_str::<ClientMessage>(r#"{"type":"\u0000"}"#).unwrap_err();
    let text = err.to_string();
    let list = text
        .split("expected one of")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(base: &str) -> Result<WsStream> {
    let req = test_support::hub_ws_request(base, TOKEN).map_err(anyhow::Error::msg)?;
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(ws)
}

#[derive(Default)]
struct WsTally {
    tried: usize,
    errors: BTreeMap<String, usize>,
    answered_normally: usize,
    internal: Vec<String>,
    unanswered: Vec<String>,
}

/// Sends `frame`, then waits until the server has answered it: a frame carrying `client_ref`
/// (an `error`, `ack` or `pong`), or (for frames without one) anything before the sync `pong`.
async fn exchange(
    ws: &mut WsStream,
    what: &str,
    frame: Message,
    client_ref: Option<&str>,
    n: usize,
    tally: &mut WsTally,
) -> Result<()> {
    tally.tried += 1;
    ws.send(frame).await?;
    let sync = format!("sync-{n}");
    ws.send(Message::Text(
        json!({"type": "ping", "client_ref": sync})
            .to_string()
            .into(),
    ))
    .await?;
    let mut answer: Option<Value> = None;
    let mut synced = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while answer.is_none() || !synced {
        let next = tokio::time::timeout_at(deadline, ws.next()).await;
        let Ok(Some(Ok(m))) = next else {
            tally.unanswered.push(format!("{what}: {next:?}"));
            return Ok(());
        };
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(t.as_str())?;
        let r = v["client_ref"].as_str();
        if r == Some(sync.as_str()) {
            synced = true;
            if client_ref.is_none() && answer.is_none() {
                // Frames without a ref are answered synchronously, before the sync pong.
                break;
            }
            continue;
        }
        let is_snapshot = matches!(
            v["type"].as_str(),
            Some("sessions_snapshot" | "session_snapshot")
        );
        if (client_ref.is_some() && r == client_ref)
            || (client_ref.is_none() && v["type"] == "error")
            || (is_snapshot && !synced)
        {
            answer = Some(v);
        }
    }
    match answer {
        Some(v) if v["type"] == "error" => {
            let code = v["code"].as_str().unwrap_or_default().to_owned();
            if !matches!(
                code.as_str(),
                "bad_request" | "not_found" | "conflict" | "unauthorized"
            ) {
                tally.internal.push(format!("{what}: {v}"));
            }
            *tally.errors.entry(code).or_default() += 1;
        }
        Some(_) => tally.answered_normally += 1,
        None => tally
            .unanswered
            .push(format!("{what}: no answer before the sync pong")),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_websocket_message_answers_bad_input_with_an_error() -> Result<()> {
    let s = Scripted::start().await?;
    let (real_id, _) = s.create().await?;
    let types = client_message_types();
    ensure!(types.len() >= 10, "client message types: {types:?}");
    let mut ws = ws_connect(&s.base()).await?;
    let hello = ws.next().await.context("hello")??;
    ensure!(hello.to_text()?.contains("hello"));
    let mut tally = WsTally::default();
    let mut n = 0;
    let long_id = "x".repeat(4096);
    for t in &types {
        let shapes = [
            ("missing fields", json!({"type": t})),
            (
                "wrong types",
                json!({"type": t, "session_id": 5, "request_id": [], "name": {}, "text": 7,
                    "cwd": false, "decision": 3, "archived": "yes", "since_revision": -1,
                    "answers": "x", "model": 1}),
            ),
            (
                "unknown session",
                json!({"type": t, "session_id": "no-such-session", "request_id": "nope",
                    "name": "n", "text": "hi", "cwd": "/definitely/not/here",
                    "decision": "accept", "archived": true}),
            ),
            (
                "4 KiB session id",
                json!({"type": t, "session_id": long_id, "request_id": long_id, "name": "n",
                    "text": "hi", "cwd": long_id, "decision": "accept", "archived": false}),
            ),
            (
                "unknown enum values",
                json!({"type": t, "session_id": real_id, "request_id": "nope", "name": "n",
                    "text": "hi", "cwd": "relative/dir", "decision": "maybe",
                    "approval_policy": "whenever", "archived": false}),
            ),
        ];
        for (what, mut v) in shapes {
            n += 1;
            let r = format!("bad-{n}");
            v["client_ref"] = json!(r);
            exchange(
                &mut ws,
                &format!("{what}: {t}"),
                Message::Text(v.to_string().into()),
                Some(&r),
                n,
                &mut tally,
            )
            .await?;
        }
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let frames: Vec<(&str, Message)> = vec![
        ("not JSON", Message::Text("hello".into())),
        ("truncated JSON", Message::Text("{\"type\": \"pi".into())),
        ("JSON null", Message::Text("null".into())),
        ("JSON array", Message::Text("[]".into())),
        ("no type", Message::Text("{}".into())),
        ("numeric type", Message::Text("{\"type\": 5}".into())),
        (
            "unknown type",
            Message::Text("{\"type\": \"launch_missiles\"}".into()),
        ),
        ("nesting 10k deep", Message::Text(deep.into())),
        ("binary frame", Message::Binary(vec![0, 1, 2, 255].into())),
    ];
    for (what, f) in frames {
        n += 1;
        exchange(&mut ws, what, f, None, n, &mut tally).await?;
    }
    // Too big for the server's frame limit: a clean close with 1009, not a crash.
    ws.send(Message::Text("x".repeat(2 << 20).into())).await?;
    tally.tried += 1;
    let mut closed_with = None;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
        match m {
            Ok(Message::Close(c)) => {
                closed_with = c.map(|c| c.code);
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    // Then the server takes the next connection and still knows the session.
    let mut ws = ws_connect(&s.base()).await?;
    let _hello = ws.next().await;
    n += 1;
    exchange(
        &mut ws,
        "subscribe after the oversized frame",
        Message::Text(
            json!({"type": "subscribe_session", "session_id": real_id, "client_ref": "after"})
                .to_string()
                .into(),
        ),
        Some("after"),
        n,
        &mut tally,
    )
    .await?;
    println!(
        "bad input (WebSocket): {} message types, frames tried {}, error answers {:?}, answered normally (input happened to be valid) {}, 5xx-class errors {}, unanswered {}, oversized frame closed with {:?}",
        types.len(),
        tally.tried,
        tally.errors,
        tally.answered_normally,
        tally.internal.len(),
        tally.unanswered.len(),
        closed_with,
    );
    for l in tally.internal.iter().chain(&tally.unanswered) {
        println!("  mishandled: {l}");
    }
    ensure!(
        tally.internal.is_empty() && tally.unanswered.is_empty(),
        "bad input was mishandled (listed above)"
    );
    ensure!(
        closed_with == Some(CloseCode::Size),
        "oversized frame: {closed_with:?}"
    );
    s.shutdown().await;
    Ok(())
}
