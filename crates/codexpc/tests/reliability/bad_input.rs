//! Bad input on both of codexpc's surfaces, against the real `codexpc serve --script` binary.
//!
//! * Responses endpoint: every route with wrong methods, malformed JSON, wrong types for every
//!   request field and input item, oversized bodies, wrong content types, missing/invalid bearer
//!   keys, foreign Host/Origin, odd paths, and raw non-HTTP bytes. Every well-formed HTTP request
//!   gets a 2xx or a 4xx whose body is a JSON `{"error":{"message":...}}`; never a 5xx, a panic
//!   or a dropped connection. Raw garbage gets a 4xx status line from the HTTP layer.
//! * Session socket: every message type with wrong types, missing and unknown fields, broken
//!   envelopes, oversized lines, binary garbage and invalid UTF-8, all on ONE connection: every
//!   answer is a well-formed `error` (code + message, the `req_id` echoed when it was readable)
//!   and the connection keeps answering `health`.
//!
//! Both print how many bad inputs were tried and how many 5xx / non-error answers were seen.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use codexpc::client::Client;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{Serve, ServeOptions, final_answer, write_script};

const TIMEOUT: Duration = Duration::from_secs(30);

fn script(dir: &Path) -> Result<std::path::PathBuf> {
    // Plenty of lines: requests that turn out valid are served normally.
    let lines: Vec<Value> = (0..400)
        .map(|_| json!({"completion": final_answer(3)}))
        .collect();
    write_script(dir, "bad-input.jsonl", &lines)
}

#[derive(Debug, Clone)]
struct HttpCase {
    what: String,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl HttpCase {
    fn post_json(what: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            what: what.into(),
            method: "POST",
            path: "/v1/responses".into(),
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
        }
    }
}

/// A valid request with `field` replaced by `value`.
fn with_field(field: &str, value: Value) -> Vec<u8> {
    let mut req = json!({"model": "gpt-oss", "stream": true, "input": "hi"});
    req[field] = value;
    req.to_string().into_bytes()
}

fn http_cases() -> Vec<HttpCase> {
    let mut cases = Vec::new();
    // Wrong methods on every route, and unknown routes.
    let routes = [
        ("/v1/responses", "POST"),
        ("/v1/models", "GET"),
        ("/metrics", "GET"),
        ("/health", "GET"),
    ];
    for (path, allowed) in routes {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            if method != allowed {
                cases.push(HttpCase {
                    what: format!("{method} {path}"),
                    method,
                    path: path.into(),
                    headers: vec![("content-type", "application/json".into())],
                    body: b"{}".to_vec(),
                });
            }
        }
    }
    for path in [
        "/".to_owned(),
        "/v1".into(),
        "/v1/responses/x".into(),
        "/v1/../health".into(),
        "/v1/chat/completions".into(),
        "/%00".into(),
        "/v1/responses?x=%ff%fe".into(),
        format!("/{}", "a".repeat(10_000)),
    ] {
        cases.push(HttpCase {
            what: format!("path {:.40}", path),
            method: "GET",
            path,
            headers: vec![],
            body: vec![],
        });
    }
    // Malformed JSON.
    for (what, body) in [
        ("empty body", b"".to_vec()),
        ("open brace", b"{".to_vec()),
        ("trailing garbage", b"{\"input\":\"hi\"} x".to_vec()),
        ("null", b"null".to_vec()),
        ("number", b"1".to_vec()),
        ("string", b"\"hi\"".to_vec()),
        ("array", b"[{\"input\":\"hi\"}]".to_vec()),
        ("missing value", b"{\"input\":}".to_vec()),
        ("single quotes", b"{'input':'hi'}".to_vec()),
        ("NaN", b"{\"input\":\"hi\",\"temperature\":NaN}".to_vec()),
        (
            "huge number",
            b"{\"input\":\"hi\",\"max_output_tokens\":1e400}".to_vec(),
        ),
        ("invalid UTF-8", b"{\"input\":\"\xff\xfe\"}".to_vec()),
        ("BOM", b"\xef\xbb\xbf{\"input\":\"hi\"}".to_vec()),
        ("NUL", b"{\"input\":\"hi\"}\0".to_vec()),
        (
            "deep nesting",
            format!(
                "{{\"input\":{}{}}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
            .into_bytes(),
        ),
        ("binary", (0..=255u8).collect::<Vec<u8>>()),
    ] {
        cases.push(HttpCase::post_json(what, body));
    }
    // Wrong types for every request field.
    let wrong: Vec<(&str, Vec<Value>)> = vec![
        ("model", vec![json!(5), json!([]), json!({})]),
        ("instructions", vec![json!(5), json!(["x"]), json!({})]),
        ("input", vec![json!(5), json!(true), json!({}), json!(null)]),
        ("tools", vec![json!("x"), json!({}), json!(5)]),
        ("stream", vec![json!("yes"), json!(1), json!([])]),
        (
            "reasoning",
            vec![json!("low"), json!(5), json!({"effort": 5})],
        ),
        ("temperature", vec![json!("hot"), json!([]), json!({})]),
        ("top_p", vec![json!("x"), json!(true)]),
        (
            "max_output_tokens",
            vec![json!(-1), json!("5"), json!(5.5), json!(1e20)],
        ),
        ("seed", vec![json!(-1), json!("x"), json!(4_294_967_296u64)]),
        ("parallel_tool_calls", vec![json!("yes"), json!(2)]),
        ("prompt_cache_key", vec![json!(5), json!({})]),
    ];
    for (field, values) in wrong {
        for v in values {
            cases.push(HttpCase::post_json(
                format!("{field} = {v}"),
                with_field(field, v),
            ));
        }
    }
    // Broken input items and tools.
    for item in [
        json!(1),
        json!(null),
        json!("text"),
        json!({}),
        json!({"type": "message"}),
        json!({"type": "message", "role": 5, "content": "x"}),
        json!({"type": "message", "role": "critic", "content": "x"}),
        json!({"type": "message", "role": "user", "content": 5}),
        json!({"type": "message", "role": "user", "content": [{"type": "input_text"}]}),
        json!({"type": "message", "role": "user", "content": [5]}),
        json!({"type": "function_call"}),
        json!({"type": "function_call", "name": 3, "call_id": "c", "arguments": "{}"}),
        json!({"type": "function_call", "name": "f", "call_id": 3, "arguments": "{}"}),
        json!({"type": "function_call_output", "call_id": 1, "output": "x"}),
        json!({"type": "function_call_output", "call_id": "c", "output": 5}),
        json!({"type": "reasoning", "content": 5}),
    ] {
        cases.push(HttpCase::post_json(
            format!("input item {item}"),
            with_field("input", json!([item])),
        ));
    }
    for tool in [
        json!(5),
        json!({}),
        json!({"type": "function"}),
        json!({"type": "function", "name": 5}),
        json!({"type": "function", "name": "f", "parameters": "x"}),
    ] {
        cases.push(HttpCase::post_json(
            format!("tool {tool}"),
            with_field("tools", json!([tool])),
        ));
    }
    // Oversized: past the default 32 MiB limit.
    cases.push(HttpCase::post_json(
        "oversized body (33 MiB)",
        with_field("input", json!("x".repeat(33 * 1024 * 1024))),
    ));
    // Content types.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("application/json-seq"),
    ] {
        let mut case = HttpCase::post_json(
            format!("content-type {ct:?}"),
            with_field("stream", json!(false)),
        );
        case.headers = ct
            .map(|c| ("content-type", c.to_owned()))
            .into_iter()
            .collect();
        cases.push(case);
    }
    // Foreign Host / Origin (DNS rebinding, CSRF).
    for (name, value) in [
        ("host", "evil.example"),
        ("host", "127.0.0.1.evil.example:80"),
        ("host", ""),
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "http://localhost.evil.example"),
    ] {
        let mut case = HttpCase::post_json(
            format!("{name}: {value}"),
            with_field("stream", json!(false)),
        );
        case.headers.push((name, value.to_owned()));
        cases.push(case);
    }
    cases
}

fn auth_cases(key: &str) -> Vec<HttpCase> {
    let mut cases = Vec::new();
    for auth in [
        None,
        Some(String::new()),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some("Bearer wrong".into()),
        Some(format!("Bearer {key}x")),
        Some(format!("Bearer {}", &key[..key.len() - 1])),
        Some(format!("Basic {key}")),
        Some(key.to_owned()),
    ] {
        for (method, path) in [
            ("POST", "/v1/responses"),
            ("GET", "/v1/models"),
            ("GET", "/metrics"),
        ] {
            let mut case = HttpCase::post_json(
                format!("{method} {path} with authorization {auth:?}"),
                with_field("stream", json!(false)),
            );
            case.method = method;
            case.path = path.into();
            if let Some(a) = &auth {
                case.headers.push(("authorization", a.clone()));
            }
            cases.push(case);
        }
    }
    cases
}

#[derive(Debug, Default)]
struct Tally {
    tried: usize,
    accepted: usize,
    client_errors: usize,
    server_errors: usize,
    /// Cases answered 2xx (valid after all, e.g. an extra content-type parameter).
    accepted_cases: Vec<String>,
    /// Raw non-HTTP bytes answered by closing the connection.
    closed: usize,
    failures: Vec<String>,
}

async fn send(client: &reqwest::Client, base: &str, case: &HttpCase, tally: &mut Tally) {
    tally.tried += 1;
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).expect("method");
    let mut req = client
        .request(method, format!("{base}{}", case.path))
        .body(case.body.clone());
    for (k, v) in &case.headers {
        req = req.header(*k, v.as_bytes());
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            tally.failures.push(format!(
                "{}: no answer (dropped connection?): {e}",
                case.what
            ));
            return;
        }
    };
    let status = resp.status();
    let is_sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            tally
                .failures
                .push(format!("{}: {status}, body cut off: {e}", case.what));
            return;
        }
    };
    if status.is_server_error() {
        tally.server_errors += 1;
        tally.failures.push(format!(
            "{}: {status} {}",
            case.what,
            String::from_utf8_lossy(&body)
        ));
    } else if status.is_client_error() {
        tally.client_errors += 1;
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned));
        match message {
            Some(m) if !m.is_empty() => {}
            _ => tally.failures.push(format!(
                "{}: {status} without a JSON error body: {:?}",
                case.what,
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )),
        }
    } else if status.is_success() {
        tally.accepted += 1;
        tally.accepted_cases.push(case.what.clone());
        // An accepted stream must end properly.
        if is_sse && !String::from_utf8_lossy(&body).contains("event: response.completed") {
            tally.failures.push(format!(
                "{}: accepted but the stream did not complete",
                case.what
            ));
        }
    } else {
        tally
            .failures
            .push(format!("{}: unexpected status {status}", case.what));
    }
}

/// Raw bytes that are not a valid HTTP request: the HTTP layer must answer 4xx (or close after
/// answering), never leave the client hanging.
async fn send_raw(addr: &str, bytes: &[u8], tally: &mut Tally) {
    tally.tried += 1;
    let what = format!(
        "raw {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(30)])
    );
    let result = tokio::time::timeout(TIMEOUT, async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(bytes).await?;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the status line (the server may keep the connection open or close it).
        while !out.windows(2).any(|w| w == b"\r\n") {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        anyhow::Ok(out)
    })
    .await;
    match result {
        Ok(Ok(out)) => {
            let line = String::from_utf8_lossy(&out);
            let code = line
                .strip_prefix("HTTP/1.1 ")
                .and_then(|l| l.get(..3))
                .and_then(|c| c.parse::<u16>().ok());
            match code {
                Some(c) if (400..500).contains(&c) => tally.client_errors += 1,
                Some(c) if c >= 500 => {
                    tally.server_errors += 1;
                    tally.failures.push(format!("{what}: {c}"));
                }
                // Not HTTP/1 at all (an HTTP/2 preface, TLS): closing without an answer is the
                // HTTP layer's right response; what matters is that nothing hangs.
                None if out.is_empty() => tally.closed += 1,
                _ => tally
                    .failures
                    .push(format!("{what}: no 4xx status line, got {line:.80?}")),
            }
        }
        Ok(Err(e)) => tally.failures.push(format!("{what}: {e}")),
        Err(_) => tally
            .failures
            .push(format!("{what}: no answer within {TIMEOUT:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_endpoint_answers_every_bad_request_with_a_4xx_json_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let script = script(dir.path())?;
    // A fresh connection per case: after a refused 33 MiB upload the server closes the
    // connection, and a pooled one would turn that into a client-side race, not a server fault.
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()?;
    let mut tally = Tally::default();

    let server = Serve::start(&ServeOptions::new(&script))?;
    for case in http_cases() {
        send(&client, &server.base_url, &case, &mut tally).await;
    }
    let addr = server.base_url.trim_start_matches("http://").to_owned();
    for raw in [
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        format!(
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(1024 * 1024)
        )
        .into_bytes(),
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n", "X-H: 1\r\n".repeat(500))
            .into_bytes(),
    ] {
        send_raw(&addr, &raw, &mut tally).await;
    }
    // Still up and serving.
    let health: Value = client
        .get(format!("{}/health", server.base_url))
        .send()
        .await?
        .json()
        .await?;
    ensure!(health["status"] == "ok", "{health}");
    drop(server);

    // With a bearer key: every missing or wrong key is a 401 JSON error.
    let key = "k3y-for-the-bad-input-test";
    let mut opts = ServeOptions::new(&script);
    opts.api_key = Some(key.into());
    let server = Serve::start(&opts)?;
    for case in &auth_cases(key) {
        let before = tally.client_errors;
        send(&client, &server.base_url, case, &mut tally).await;
        if tally.client_errors == before {
            tally
                .failures
                .push(format!("{}: not refused without the right key", case.what));
        }
    }
    let ok = client
        .get(format!("{}/v1/models", server.base_url))
        .bearer_auth(key)
        .send()
        .await?;
    ensure!(
        ok.status() == 200,
        "the right key is accepted: {}",
        ok.status()
    );

    println!(
        "responses endpoint bad input: {} tried, {} answered 4xx, {} accepted, {} non-HTTP byte streams closed without an answer, {} 5xx, {} problems",
        tally.tried,
        tally.client_errors,
        tally.accepted,
        tally.closed,
        tally.server_errors,
        tally.failures.len()
    );
    println!("accepted as valid: {:?}", tally.accepted_cases);
    if !tally.failures.is_empty() {
        bail!("problems:\n{}", tally.failures.join("\n"));
    }
    Ok(())
}

/// Lines that must each be answered with one `error`; `Some(req_id)` when it must be echoed.
fn socket_cases() -> Vec<(String, Vec<u8>, Option<String>)> {
    let env = |req_id: &str, kind: &str, fields: Value| -> Value {
        let mut v =
            json!({"proto_version": 1, "service": "codexpc", "req_id": req_id, "type": kind});
        if let (Value::Object(o), Value::Object(f)) = (&mut v, fields) {
            o.extend(f);
        }
        v
    };
    let mut cases: Vec<(String, Vec<u8>, Option<String>)> = Vec::new();
    let mut n = 0usize;
    let push_json = |cases: &mut Vec<_>, what: String, v: Value, echo: bool| {
        let id = v["req_id"].as_str().map(str::to_owned);
        cases.push((
            what,
            v.to_string().into_bytes(),
            if echo { id } else { None },
        ));
    };
    // Broken envelopes, for every message type.
    for kind in [
        "handshake",
        "health",
        "create",
        "create_from_tokens",
        "cancel",
    ] {
        for field in ["proto_version", "service", "req_id", "type"] {
            n += 1;
            let mut v = env(&format!("e{n}"), kind, json!({}));
            v.as_object_mut().map(|o| o.remove(field));
            let echo = field != "req_id";
            push_json(&mut cases, format!("{kind} without {field}"), v, echo);
        }
        for (field, bad) in [
            ("proto_version", json!("1")),
            ("proto_version", json!(1.5)),
            ("proto_version", json!(-1)),
            ("proto_version", json!(null)),
            ("proto_version", json!(2)),
            ("service", json!(5)),
            ("service", json!("other")),
            ("service", json!(null)),
            ("type", json!(5)),
            ("type", json!(null)),
            ("type", json!(kind.to_uppercase())),
        ] {
            n += 1;
            let mut v = env(&format!("e{n}"), kind, json!({}));
            v[field] = bad.clone();
            push_json(&mut cases, format!("{kind} with {field} = {bad}"), v, true);
        }
        for bad in [
            json!({}),
            json!([]),
            json!(""),
            json!("x".repeat(300)),
            json!(null),
            json!(true),
        ] {
            let mut v = env("unused", kind, json!({}));
            v["req_id"] = bad.clone();
            push_json(
                &mut cases,
                format!("{kind} with req_id = {bad:.20}"),
                v,
                false,
            );
        }
        n += 1;
        push_json(
            &mut cases,
            format!("{kind} with an unknown field"),
            env(
                &format!("e{n}"),
                kind,
                json!({"surprise": 1, "input": "hi", "prefill_tokens": [1]}),
            ),
            true,
        );
    }
    // Wrong types and missing fields of `create`.
    for (field, bad) in [
        ("input", json!(5)),
        ("input", json!(true)),
        ("input", json!({})),
        ("input", json!(null)),
        ("instructions", json!(5)),
        ("instructions", json!([])),
        ("tools", json!("x")),
        ("tools", json!({})),
        ("reasoning", json!("low")),
        ("reasoning", json!(5)),
        ("sampling", json!("x")),
        ("sampling", json!({"temperature": "hot"})),
        ("sampling", json!({"temperature": 99})),
        ("sampling", json!({"top_p": 0})),
        ("sampling", json!({"seed": -1})),
        ("sampling", json!({"nope": 1})),
        ("max_output_tokens", json!(-1)),
        ("max_output_tokens", json!("5")),
        ("max_output_tokens", json!(5.5)),
        ("max_output_tokens", json!(1e20)),
    ] {
        n += 1;
        let mut v = env(&format!("c{n}"), "create", json!({"input": "hi"}));
        v[field] = bad.clone();
        push_json(&mut cases, format!("create with {field} = {bad}"), v, true);
    }
    n += 1;
    push_json(
        &mut cases,
        "create without input".into(),
        env(&format!("c{n}"), "create", json!({})),
        true,
    );
    // Well-formed but unusable conversations: refused by the renderer, still one error.
    for input in [
        json!([{"type": "message", "role": "critic", "content": "x"}]),
        json!([{"type": "message", "role": "user", "content": 5}]),
        json!([{"type": "function_call", "name": 3, "call_id": "c"}]),
        json!([1, 2, 3]),
    ] {
        n += 1;
        push_json(
            &mut cases,
            format!("create with input {input}"),
            env(&format!("c{n}"), "create", json!({"input": input})),
            true,
        );
    }
    // `create_from_tokens`.
    for (field, bad) in [
        ("prefill_tokens", json!([])),
        ("prefill_tokens", json!("x")),
        ("prefill_tokens", json!([-1])),
        ("prefill_tokens", json!([1.5])),
        ("prefill_tokens", json!([4_294_967_296u64])),
        ("prefill_tokens", json!([null])),
        ("prefill_tokens", json!(null)),
        ("prime_final", json!("yes")),
        ("max_output_tokens", json!(-5)),
        ("sampling", json!({"top_p": 2})),
    ] {
        n += 1;
        let mut v = env(
            &format!("t{n}"),
            "create_from_tokens",
            json!({"prefill_tokens": [200006]}),
        );
        v[field] = bad.clone();
        push_json(
            &mut cases,
            format!("create_from_tokens with {field} = {bad}"),
            v,
            true,
        );
    }
    n += 1;
    push_json(
        &mut cases,
        "cancel of an unknown session".into(),
        env(&format!("x{n}"), "cancel", json!({})),
        true,
    );
    // Not JSON objects, binary garbage, invalid UTF-8, deep nesting.
    for (what, bytes) in [
        ("not json", b"hello".to_vec()),
        ("array", b"[1,2]".to_vec()),
        ("null", b"null".to_vec()),
        ("string", b"\"x\"".to_vec()),
        ("truncated", b"{\"proto_version\":1,\"service\":".to_vec()),
        ("invalid UTF-8", b"{\"req_id\":\"\xff\xfe\"}".to_vec()),
        ("NUL bytes", b"\0\0\0".to_vec()),
        ("binary", (0u8..=255).filter(|b| *b != b'\n').collect()),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)).into_bytes(),
        ),
    ] {
        cases.push((what.into(), bytes, None));
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_socket_answers_every_bad_message_with_an_error_on_the_same_connection()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let script = script(dir.path())?;
    let config = dir.path().join("codexpc.toml");
    let max_bytes = 64 * 1024;
    std::fs::write(
        &config,
        format!("[daemon]\nmax_message_bytes = {max_bytes}\n"),
    )?;
    let socket = dir.path().join("codexpc.sock");
    let mut opts = ServeOptions::new(&script);
    opts.socket = Some(socket.clone());
    opts.config = Some(config);
    let server = Serve::start(&opts)?;
    let mut c = Client::connect(&socket, TIMEOUT).await?;
    let mut cases = socket_cases();
    // Oversized lines, in one piece and dribbled.
    cases.push(("oversized line".into(), vec![b'{'; max_bytes * 4], None));
    let (mut tried, mut non_errors, mut late_errors, mut problems) =
        (0usize, 0usize, 0usize, Vec::new());
    for (i, (what, mut line, echo)) in cases.into_iter().enumerate() {
        tried += 1;
        line.push(b'\n');
        c.send_raw(&line).await?;
        let reply = match c.recv().await {
            Ok(Some(m)) => m,
            Ok(None) => bail!(
                "{what}: the daemon closed the connection; stderr: {}",
                server.stderr()
            ),
            Err(e) => bail!("{what}: {e}"),
        };
        let well_formed = reply["type"] == "error"
            && reply["code"].as_str().is_some_and(|c| !c.is_empty())
            && reply["message"].as_str().is_some_and(|m| !m.is_empty());
        if !well_formed && reply["type"] == "created" {
            // Parsed, so the session starts; the conversation is refused when it is rendered:
            // its terminal message must be that error.
            let id = reply["req_id"].as_str().unwrap_or_default().to_owned();
            let rest = c.collect(&id).await?;
            let last = rest.last().cloned().unwrap_or_default();
            let clear = last["type"] == "error"
                && last["code"].as_str().is_some_and(|c| !c.is_empty())
                && last["message"].as_str().is_some_and(|m| !m.is_empty());
            if clear {
                late_errors += 1;
            } else {
                non_errors += 1;
                problems.push(format!("{what}: created, then ended with {last}"));
            }
        } else if !well_formed {
            non_errors += 1;
            problems.push(format!("{what}: not an error: {reply}"));
        } else if let Some(id) = &echo
            && reply["req_id"] != json!(id)
        {
            problems.push(format!("{what}: req_id not echoed: {reply}"));
        }
        if i % 10 == 9 {
            c.health()
                .await
                .with_context(|| format!("health after {what}"))?;
        }
    }
    c.health().await.context("health at the end")?;
    println!(
        "session socket bad input: {tried} tried on one connection, {} answered with an error at once, {late_errors} accepted as `created` and then ended with an error (conversation refused when rendered), {non_errors} answered otherwise, {} problems; connection still answers health",
        tried - late_errors - non_errors,
        problems.len()
    );
    if !problems.is_empty() {
        bail!("problems:\n{}", problems.join("\n"));
    }
    Ok(())
}
