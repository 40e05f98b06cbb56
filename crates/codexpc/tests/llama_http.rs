//! The llama engine behind codexpc's real HTTP Responses endpoint (127.0.0.1:0), on the tiny
//! "final-channel loop" GGUF, whose greedy output is a valid Harmony final-channel message. This
//! is the whole production path with real llama.cpp: render -> prefill/decode -> Harmony parse ->
//! SSE; and turn 2 of the conversation is served from the reused KV cache, which the response
//! reports as `usage.input_tokens_details.cached_tokens`. Beyond the engine's slots and the
//! queue, requests get 429.
#![cfg(feature = "llama")]
// Test code: a panic with the failing value is the most useful failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use codexpc::engine::Engine;
use codexpc::engine::llama::{LlamaConfig, LlamaEngine};
use codexpc::render::RenderConfig;
use codexpc::responses::{AppState, app};
use codexpc::service::{Service, ServiceConfig};
use futures::StreamExt;
use serde_json::{Value, json};
use test_support::gguf::{FINAL_LOOP_TEXT, TinyVariant, final_loop_tokens, tiny_gguf_path};

async fn serve(engine: Arc<LlamaEngine>) -> String {
    let service = Arc::new(Service::new(engine, ServiceConfig::default()).unwrap());
    let mut state = AppState::new(service);
    state.render = RenderConfig {
        conversation_date: Some("2026-11-22".into()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    base
}

/// POST a streaming request; return (event names in order, concatenated text deltas, the
/// `response.completed` event's response object).
async fn stream(base: &str, body: &Value) -> (Vec<String>, String, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/responses"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut names = Vec::new();
    let mut text = String::new();
    let mut completed = Value::Null;
    let mut buf = String::new();
    let mut bytes = resp.bytes_stream();
    while let Some(chunk) = bytes.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let name = frame
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(|n| n.trim().to_string())
                .unwrap_or_default();
            let data: String = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .collect();
            let data: Value = serde_json::from_str(data.trim()).unwrap();
            if name == "response.output_text.delta" {
                text.push_str(data["delta"].as_str().unwrap());
            }
            if name == "response.completed" {
                completed = data["response"].clone();
            }
            names.push(name);
        }
    }
    (names, text, completed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_engine_streams_final_text_over_http_and_reuses_the_cache_on_turn_two() {
    let engine = Arc::new(
        LlamaEngine::load(
            &tiny_gguf_path(TinyVariant::FinalChannelLoop),
            LlamaConfig {
                threads: Some(1),
                show_progress: false,
                ..LlamaConfig::default()
            },
        )
        .unwrap(),
    );
    let base = serve(engine.clone()).await;
    let (prefix, cycle) = final_loop_tokens();
    let n = prefix.len() + 2 * cycle.len();
    let turn1 = json!({
        "model": "tiny",
        "instructions": "You are a helpful assistant.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}],
        "stream": true,
        "temperature": 0,
        "max_output_tokens": n,
    });
    let (names, text, done) = tokio::time::timeout(Duration::from_secs(120), stream(&base, &turn1))
        .await
        .unwrap();
    assert_eq!(text, FINAL_LOOP_TEXT.repeat(2));
    assert_eq!(names.first().map(String::as_str), Some("response.created"));
    assert_eq!(
        names.last().map(String::as_str),
        Some("response.completed"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "response.output_item.done"));
    let usage1 = &done["usage"];
    assert_eq!(usage1["output_tokens"], json!(n));
    assert_eq!(usage1["input_tokens_details"]["cached_tokens"], json!(0));
    let prompt1 = usage1["input_tokens"].as_u64().unwrap();
    assert!(prompt1 > 20, "{usage1}");
    let decoded_after_turn1 = engine.decoded_tokens();

    // Turn 2: the conversation so far (the answer stored as history) + a new user message.
    let mut input = turn1["input"].as_array().unwrap().clone();
    input.push(json!({"type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": text}]}));
    input.push(json!({"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Again, please."}]}));
    let turn2 = json!({
        "model": "tiny", "instructions": turn1["instructions"], "input": input,
        "stream": true, "temperature": 0, "max_output_tokens": 3,
    });
    let (_, text2, done2) = tokio::time::timeout(Duration::from_secs(120), stream(&base, &turn2))
        .await
        .unwrap();
    let usage2 = &done2["usage"];
    let prompt2 = usage2["input_tokens"].as_u64().unwrap();
    let cached2 = usage2["input_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    // At least turn 1's whole prompt came from the cache; only the rest was decoded.
    assert!(
        cached2 >= prompt1 && cached2 < prompt2,
        "turn 1 prompt {prompt1}, turn 2 {usage2}"
    );
    let decoded2 = engine.decoded_tokens() - decoded_after_turn1;
    // Prefilled suffix + the sampled tokens fed back (the last one ends the budget undecoded).
    assert_eq!(decoded2, prompt2 - cached2 + 2, "{usage2}");
    assert_eq!(
        text2, "",
        "3 tokens are only the <|channel|>final<|message|> header"
    );
    assert_eq!(engine.info().engine, "llama");
}

/// With every slot busy and the queue full, the next request is refused at once with 429 and
/// `Retry-After`; a queued one runs as soon as a slot frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_slots_and_queue_requests_get_429() {
    let engine = Arc::new(
        LlamaEngine::load(
            &tiny_gguf_path(TinyVariant::FinalChannelLoop),
            LlamaConfig {
                threads: Some(1),
                slots: Some(2),
                show_progress: false,
                ..LlamaConfig::default()
            },
        )
        .unwrap(),
    );
    let service = Arc::new(
        Service::new(
            engine,
            ServiceConfig {
                max_queue: 1,
                ..ServiceConfig::default()
            },
        )
        .unwrap(),
    );
    let state = AppState::new(service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    let http = reqwest::Client::new();
    let long = |text: &str| {
        json!({"model": "tiny", "input": text, "stream": true, "temperature": 0,
               "max_output_tokens": 3000})
    };
    // Two running (one per slot) and one queued: each admitted request is answered 200 at once.
    let mut open = Vec::new();
    for i in 0..3 {
        let resp = http
            .post(format!("{base}/v1/responses"))
            .json(&long(&format!("talk {i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        open.push(resp);
    }
    let c = service.counters();
    assert_eq!(c.in_flight, 3);
    let refused = http
        .post(format!("{base}/v1/responses"))
        .json(&long("one too many"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!("server_busy"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_queue = 1"),
        "{body}"
    );
    assert_eq!(service.counters().busy_rejections, 1);
    // The first two go away; the queued one gets a slot and streams.
    let mut queued = open.pop().unwrap().bytes_stream();
    drop(open);
    let mut seen = String::new();
    while !seen.contains("response.output_text.delta") {
        let chunk = tokio::time::timeout(Duration::from_secs(60), queued.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}
