//! The Responses endpoint over real loopback HTTP with the scripted engine: SSE event order and
//! usage (incl. cached tokens from prefix reuse), the JSON (non-stream) form, validation errors,
//! 429 on a full queue, cancel-on-disconnect, and the Host/Origin/auth guards. Module
//! `remote_engine`: the same endpoint over the remote (token-id completions) engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use codexpc::engine::scripted::{ScriptLine, ScriptedEngine};
use codexpc::render::RenderConfig;
use codexpc::responses::{AppState, app};
use codexpc::service::{Service, ServiceConfig};
use codexpc::sse_client::SseDecoder;
use futures::StreamExt as _;
use serde_json::{Value, json};

#[path = "http_responses/remote_engine.rs"]
mod remote_engine;

const TIMEOUT: Duration = Duration::from_secs(30);

struct Server {
    base: String,
    service: Arc<Service>,
    _task: tokio::task::JoinHandle<()>,
}

fn line(completion: &str, match_text: Option<&str>, delay: Option<u64>) -> ScriptLine {
    ScriptLine {
        completion: completion.into(),
        match_text: match_text.map(str::to_owned),
        token_delay_ms: delay,
    }
}

async fn start(
    lines: Vec<ScriptLine>,
    config: ServiceConfig,
    tweak: impl FnOnce(&mut AppState),
) -> Result<Server> {
    let engine = ScriptedEngine::from_lines("test-script", lines)?;
    let service = Arc::new(Service::new(Arc::new(engine), config)?);
    let mut state = AppState::new(service.clone());
    state.render = RenderConfig {
        conversation_date: Some("2026-11-22".into()),
    };
    tweak(&mut state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app(state)).await;
    });
    Ok(Server {
        base: format!("http://{addr}"),
        service,
        _task: task,
    })
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("client")
}

/// POST a streaming request; return the decoded (event, data) pairs.
async fn stream(base: &str, body: Value) -> Result<Vec<(String, Value)>> {
    let resp = client()
        .post(format!("{base}/v1/responses"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "status {}", resp.status());
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let bytes = resp.bytes().await?;
    let mut decoder = SseDecoder::new();
    decoder
        .push(&bytes)
        .into_iter()
        .map(|m| Ok((m.event, serde_json::from_str(&m.data)?)))
        .collect()
}

const GREETING: &str = "<|channel|>analysis<|message|>Say hi.<|end|><|start|>assistant<|channel|>final<|message|>Hello there!<|return|>";

#[tokio::test]
async fn sse_stream_has_codex_events_usage_and_prefix_reuse() -> Result<()> {
    let server = start(
        vec![
            line(GREETING, Some("hi"), None),
            line(
                "<|channel|>final<|message|>Second.<|return|>",
                Some("again"),
                None,
            ),
        ],
        ServiceConfig::default(),
        |_| {},
    )
    .await?;
    let first = json!({
        "model": "gpt-oss-20b", "stream": true, "instructions": "Be nice.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "tools": [{"type": "web_search"}, {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}],
    });
    let events = stream(&server.base, first).await?;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "response.created",
            "response.output_item.added",
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let response_id = events[0].1["response"]["id"].clone();
    assert!(response_id.as_str().is_some_and(|s| s.starts_with("resp_")));
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(text, "Hello there!");
    assert_eq!(events[3].1["content_index"], 0);
    let completed = &events[16].1["response"];
    assert_eq!(completed["id"], response_id);
    assert_eq!(completed["status"], "completed");
    let usage = &completed["usage"];
    let input_tokens = usage["input_tokens"].as_u64().context("input_tokens")?;
    assert!(input_tokens > 50, "{usage}");
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 3);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(input_tokens + usage["output_tokens"].as_u64().unwrap_or(0))
    );

    // Turn 2 repeats the conversation (as Codex does) plus a new user message: the shared prefix
    // is reported as cached tokens.
    let second = json!({
        "stream": true, "instructions": "Be nice.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello there!"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "again"}]}
        ],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}],
    });
    let events = stream(&server.base, second).await?;
    let (last, data) = events.last().context("events")?;
    assert_eq!(last, "response.completed");
    let cached = data["response"]["usage"]["input_tokens_details"]["cached_tokens"]
        .as_u64()
        .context("cached")?;
    assert!(
        cached >= input_tokens - 1 && cached < input_tokens + 20,
        "cached {cached} vs first prompt {input_tokens}"
    );
    let c = server.service.counters();
    assert_eq!((c.requests, c.completed, c.errors), (2, 2, 0));
    Ok(())
}

#[tokio::test]
async fn function_call_arrives_whole_in_output_item_done() -> Result<()> {
    let server = start(
        vec![
            line(
                "<|channel|>analysis<|message|>Run it.<|end|><|start|>assistant<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>{\"cmd\":\"echo hi\"}<|call|>",
                None,
                None,
            ),
            line("<|channel|>final<|message|>It said hi.<|return|>", None, None),
        ],
        ServiceConfig::default(),
        |_| {},
    )
    .await?;
    let tools = json!([{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]);
    let user = json!({"role": "user", "content": "run echo"});
    let events = stream(
        &server.base,
        json!({"stream": true, "tools": tools, "input": [user]}),
    )
    .await?;
    // Deltas aside (their count depends on tokenization), the exact event sequence:
    let names: Vec<&str> = events
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| *n != "response.reasoning_text.delta")
        .collect();
    assert_eq!(
        names,
        vec![
            "response.created",
            "response.output_item.added",
            "response.content_part.added",
            "response.reasoning_text.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let done: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "response.output_item.done")
        .map(|(_, d)| d)
        .collect();
    let reasoning = done[0]["item"].clone();
    let item = done[1]["item"].clone();
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "exec_command");
    assert_eq!(item["arguments"], "{\"cmd\":\"echo hi\"}");
    let call_id = item["call_id"].as_str().context("call_id")?.to_owned();
    assert!(call_id.starts_with("call_"));
    let usage1 = events.last().context("events")?.1["response"]["usage"].clone();

    // The agent loop's next request (what Codex sends: history + the tool output) extends the
    // previous prompt + the sampled tokens exactly, so all of that is served from the "KV cache".
    let events = stream(
        &server.base,
        json!({"stream": true, "tools": tools, "input": [
            user,
            reasoning,
            {"type": "function_call", "name": "exec_command", "arguments": item["arguments"], "call_id": call_id},
            {"type": "function_call_output", "call_id": call_id, "output": "hi\n"}
        ]}),
    )
    .await?;
    let usage2 = &events.last().context("events")?.1["response"]["usage"];
    assert_eq!(
        usage2["input_tokens_details"]["cached_tokens"].as_u64(),
        Some(
            usage1["input_tokens"].as_u64().unwrap_or(0)
                + usage1["output_tokens"].as_u64().unwrap_or(0)
        ),
        "turn 1 {usage1}, turn 2 {usage2}"
    );
    Ok(())
}

#[tokio::test]
async fn non_streaming_returns_the_response_object() -> Result<()> {
    let server = start(
        vec![line(GREETING, None, None)],
        ServiceConfig::default(),
        |_| {},
    )
    .await?;
    let resp = client()
        .post(format!("{}/v1/responses", server.base))
        .json(&json!({"input": "hi", "model": "my-model"}))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await?;
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], "my-model");
    let output = body["output"].as_array().context("output")?;
    assert_eq!(output.len(), 2);
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(output[0]["content"][0]["text"], "Say hi.");
    assert_eq!(output[1]["type"], "message");
    assert_eq!(output[1]["content"][0]["type"], "output_text");
    assert_eq!(output[1]["content"][0]["text"], "Hello there!");
    assert!(
        body["usage"]["input_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );

    // Script used up: a clear 500 naming the problem, nothing hangs.
    let resp = client()
        .post(format!("{}/v1/responses", server.base))
        .json(&json!({"input": "more"}))
        .send()
        .await?;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await?;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no unused line matches")),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_bodies_get_clear_400s_413_and_415() -> Result<()> {
    let server = start(
        vec![line(GREETING, None, None)],
        ServiceConfig::default(),
        |s| s.body_limit = 4096,
    )
    .await?;
    let url = format!("{}/v1/responses", server.base);
    let post_raw = |body: String, ct: &'static str| {
        client()
            .post(url.clone())
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let cases = [
        (
            "{not json".to_owned(),
            "application/json",
            400,
            "not valid JSON",
        ),
        (
            json!({"input": "x", "stream": "yes"}).to_string(),
            "application/json",
            400,
            "at `stream`: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"input": [{"type": "function_call", "name": 3, "call_id": "c"}]}).to_string(),
            "application/json",
            400,
            "input[0]: function_call item",
        ),
        (
            json!({"input": [{"role": "critic", "content": "x"}]}).to_string(),
            "application/json",
            400,
            "message role \"critic\"",
        ),
        (
            json!({"input": "x".repeat(10_000)}).to_string(),
            "application/json",
            413,
            "limit 4096 bytes",
        ),
        ("{}".to_owned(), "text/plain", 415, "application/json"),
    ];
    for (body, ct, status, needle) in cases {
        let resp = post_raw(body.clone(), ct).await?;
        assert_eq!(resp.status().as_u16(), status, "body {body:.80}");
        let err: Value = resp.json().await?;
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{status}: {message:?} should contain {needle:?}"
        );
    }
    // Nothing reached the engine, and it still serves a good request.
    assert_eq!(server.service.counters().requests, 0);
    let events = stream(&server.base, json!({"stream": true, "input": "hi"})).await?;
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("response.completed")
    );
    Ok(())
}

/// Read SSE events from a live response until `pred` matches one.
async fn read_until(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    decoder: &mut SseDecoder,
    pred: impl Fn(&str) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .context("timed out waiting for an event")?
            .context("stream ended")??;
        if decoder.push(&chunk).iter().any(|m| pred(&m.event)) {
            return Ok(());
        }
    }
}

/// Poll an observable condition (no event exists for "the engine noticed"), bounded.
async fn eventually(what: &str, cond: impl Fn() -> bool) -> Result<()> {
    let start = Instant::now();
    while !cond() {
        anyhow::ensure!(start.elapsed() < TIMEOUT, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

const SLOW: &str = "<|channel|>final<|message|>one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty<|return|>";

#[tokio::test]
async fn client_disconnect_cancels_generation() -> Result<()> {
    let server = start(
        vec![line(SLOW, None, Some(100))],
        ServiceConfig::default(),
        |_| {},
    )
    .await?;
    let resp = client()
        .post(format!("{}/v1/responses", server.base))
        .json(&json!({"stream": true, "input": "go"}))
        .send()
        .await?;
    let mut body = resp.bytes_stream();
    let mut decoder = SseDecoder::new();
    read_until(&mut body, &mut decoder, |e| {
        e == "response.output_text.delta"
    })
    .await?;
    let started = Instant::now();
    drop(body);
    let service = server.service.clone();
    eventually("the engine sees the cancel", || {
        service.counters().cancelled == 1
    })
    .await?;
    let c = server.service.counters();
    assert_eq!((c.completed, c.in_flight), (0, 0));
    // 20+ tokens at 100 ms each would take > 2 s; a cancel stops it between tokens.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(c.generated_tokens < 10, "{c:?}");
    Ok(())
}

#[tokio::test]
async fn full_queue_answers_429_with_a_clear_message() -> Result<()> {
    let server = start(
        vec![line(SLOW, None, Some(50)), line(GREETING, None, None)],
        ServiceConfig {
            max_queue: 0,
            ..ServiceConfig::default()
        },
        |_| {},
    )
    .await?;
    let resp = client()
        .post(format!("{}/v1/responses", server.base))
        .json(&json!({"stream": true, "input": "long"}))
        .send()
        .await?;
    let mut body = resp.bytes_stream();
    let mut decoder = SseDecoder::new();
    read_until(&mut body, &mut decoder, |e| e == "response.created").await?;
    let busy = client()
        .post(format!("{}/v1/responses", server.base))
        .json(&json!({"stream": true, "input": "second"}))
        .send()
        .await?;
    assert_eq!(busy.status(), 429);
    assert_eq!(
        busy.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let err: Value = busy.json().await?;
    assert_eq!(err["error"]["code"], "server_busy");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("max_queue = 0")),
        "{err}"
    );
    // The running stream is unaffected and completes.
    read_until(&mut body, &mut decoder, |e| e == "response.completed").await?;
    assert_eq!(server.service.counters().busy_rejections, 1);
    Ok(())
}

#[tokio::test]
async fn host_origin_and_key_guards_and_health_models() -> Result<()> {
    let server = start(
        vec![line(GREETING, None, None)],
        ServiceConfig::default(),
        |s| s.api_key = Some("sekrit".into()),
    )
    .await?;
    let c = client();
    // Health needs no key.
    let health: Value = c
        .get(format!("{}/health", server.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        health,
        json!({"status": "ok", "engine": "scripted", "model": "test-script"})
    );
    // Everything else does.
    let r = c.get(format!("{}/v1/models", server.base)).send().await?;
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{}/v1/responses", server.base))
        .bearer_auth("wrong")
        .json(&json!({"input": "hi"}))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let models: Value = c
        .get(format!("{}/v1/models", server.base))
        .bearer_auth("sekrit")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(models["data"][0]["id"], "test-script");
    // A foreign Host (DNS rebinding) or a foreign browser Origin is refused, even with the key.
    let r = c
        .get(format!("{}/v1/models", server.base))
        .bearer_auth("sekrit")
        .header("host", "evil.example:80")
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = c
        .post(format!("{}/v1/responses", server.base))
        .bearer_auth("sekrit")
        .header("origin", "https://evil.example")
        .json(&json!({"input": "hi"}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    // Mutations only via POST.
    let r = c
        .get(format!("{}/v1/responses", server.base))
        .bearer_auth("sekrit")
        .send()
        .await?;
    assert_eq!(r.status(), 405);
    assert_eq!(server.service.counters().requests, 0);
    Ok(())
}

#[tokio::test]
async fn lookalike_loopback_hosts_and_origins_are_refused() -> Result<()> {
    let server = start(
        vec![line(GREETING, None, None)],
        ServiceConfig::default(),
        |s| s.api_key = Some("sekrit".into()),
    )
    .await?;
    let c = client();
    // Names that merely start like a loopback address are other hosts (DNS rebinding).
    for host in [
        "127.evil.example",
        "127.evil.example:80",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "evil.localhost",
    ] {
        let r = c
            .get(format!("{}/v1/models", server.base))
            .bearer_auth("sekrit")
            .header("host", host)
            .send()
            .await?;
        assert_eq!(r.status(), 403, "{host}");
        let body: Value = r.json().await?;
        assert_eq!(body["error"]["code"], "forbidden_host", "{host}");
    }
    for origin in ["http://127.evil.example", "null", "https://localhost"] {
        let r = c
            .get(format!("{}/v1/models", server.base))
            .bearer_auth("sekrit")
            .header("origin", origin)
            .send()
            .await?;
        assert_eq!(r.status(), 403, "{origin}");
        let body: Value = r.json().await?;
        assert_eq!(body["error"]["code"], "forbidden_origin", "{origin}");
    }
    // The real loopback names still work, with the key compared in constant time; a key that
    // shares a prefix with the real one is as wrong as any other.
    for host in ["localhost", "127.0.0.2", "[::1]"] {
        let r = c
            .get(format!("{}/v1/models", server.base))
            .bearer_auth("sekrit")
            .header("host", host)
            .send()
            .await?;
        assert_eq!(r.status(), 200, "{host}");
    }
    let r = c
        .get(format!("{}/v1/models", server.base))
        .bearer_auth("sekri")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/v1/models", server.base))
        .header("authorization", "bearer sekrit")
        .send()
        .await?;
    assert_eq!(r.status(), 200, "the auth scheme is case-insensitive");
    assert_eq!(server.service.counters().requests, 0);
    Ok(())
}
