//! The remote engine (`--engine openai-compat`) against a loopback stand-in for a serving engine
//! that speaks the token-id completions APIs (vLLM's `/v1/completions`, llama.cpp's
//! `/completion`) and replays scripted token ids: the whole codexpc path on top (rendering,
//! parsing, the Responses endpoint, the socket protocol with a client-executed tool), the exact
//! request the upstream receives, and every upstream failure (HTTP 500, a malformed chunk, a
//! broken or closed connection mid-stream, silence) ending as a clear error, never a hang.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use codexpc::client::{Client, client_tool_call, text_of};
use codexpc::daemon::{Daemon, DaemonConfig, bind_socket};
use codexpc::engine::remote::{RemoteConfig, RemoteEngine, UpstreamApi};
use codexpc::harmony::harmony;
use codexpc::render::render_request;
use codexpc::responses::types::ResponsesRequest;
use codexpc::tools::{ToolExecutor, ToolRegistry, ToolsConfig};

use super::*;

/// What the stand-in answers to one completions request.
#[derive(Clone, Debug)]
enum Reply {
    /// Stream `tokens`, `per_chunk` at a time, then finish. vLLM: `finish_reason` "stop" with
    /// `stop_reason` = `stop_token`, then usage and `[DONE]`; llama.cpp: `stop: true`,
    /// `stop_type: "eos"`. `cached` is reported as the cached prompt tokens.
    Tokens {
        tokens: Vec<u32>,
        per_chunk: usize,
        stop_token: Option<u32>,
        cached: u64,
    },
    Status(u16, &'static str),
    /// Some tokens, then a chunk that is not JSON.
    MalformedAfter(Vec<u32>),
    /// Some tokens, then the connection breaks (the body fails).
    BreakAfter(Vec<u32>),
    /// Some tokens, then the body ends cleanly without finishing the generation.
    CloseAfter(Vec<u32>),
    /// Some tokens, then nothing, forever.
    HangAfter(Vec<u32>),
}

#[derive(Default)]
struct Upstream {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<(String, Value)>>,
    /// Response bodies dropped before they were read to the end (the client went away).
    dropped: AtomicUsize,
}

struct DropCounter(Arc<Upstream>, bool);
impl DropCounter {
    /// The body was read to its end.
    fn complete(&mut self) {
        self.1 = true;
    }
}
impl Drop for DropCounter {
    fn drop(&mut self) {
        if !self.1 {
            self.0.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn chunk(api: UpstreamApi, ids: &[u32]) -> Bytes {
    match api {
        UpstreamApi::Vllm => sse(&json!({"id": "cmpl-1", "object": "text_completion",
            "choices": [{"index": 0, "text": "…", "token_ids": ids, "finish_reason": null}]})),
        UpstreamApi::LlamaCpp => sse(&json!({"content": "…", "tokens": ids, "stop": false})),
    }
}

async fn completions(up: Arc<Upstream>, api: UpstreamApi, path: &str, body: Value) -> Response {
    up.requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((path.to_owned(), body));
    let reply = up
        .replies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop_front();
    let Some(reply) = reply else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no scripted reply").into_response();
    };
    let mut frames: Vec<std::result::Result<Bytes, std::io::Error>> = Vec::new();
    let mut tail: Option<std::result::Result<Bytes, std::io::Error>> = None;
    let mut hang = false;
    match reply {
        Reply::Status(code, text) => {
            return (
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
                text,
            )
                .into_response();
        }
        Reply::Tokens {
            tokens,
            per_chunk,
            stop_token,
            cached,
        } => {
            for c in tokens.chunks(per_chunk.max(1)) {
                frames.push(Ok(chunk(api, c)));
            }
            match api {
                UpstreamApi::Vllm => {
                    frames.push(Ok(sse(
                        &json!({"choices": [{"index": 0, "text": "", "token_ids": [],
                        "finish_reason": "stop", "stop_reason": stop_token}]}),
                    )));
                    frames.push(Ok(sse(&json!({"choices": [], "usage": {"prompt_tokens": 1,
                        "completion_tokens": tokens.len(), "prompt_tokens_details": {"cached_tokens": cached}}}))));
                    frames.push(Ok(Bytes::from("data: [DONE]\n\n")));
                }
                UpstreamApi::LlamaCpp => {
                    frames.push(Ok(sse(&json!({"content": "", "tokens": [], "stop": true,
                        "stop_type": "eos", "tokens_cached": cached}))));
                }
            }
        }
        Reply::MalformedAfter(t) => {
            frames.push(Ok(chunk(api, &t)));
            frames.push(Ok(Bytes::from("data: {\"choices\": [oops\n\n")));
        }
        Reply::BreakAfter(t) => {
            frames.push(Ok(chunk(api, &t)));
            tail = Some(Err(std::io::Error::other("upstream crashed")));
        }
        Reply::CloseAfter(t) => frames.push(Ok(chunk(api, &t))),
        Reply::HangAfter(t) => {
            frames.push(Ok(chunk(api, &t)));
            hang = true;
        }
    }
    frames.extend(tail);
    let guard = DropCounter(up.clone(), false);
    let body = futures::stream::unfold(
        (frames.into_iter(), guard, hang),
        |(mut frames, mut guard, hang)| async move {
            match frames.next() {
                // A crash some time after the last chunk went out (not before the headers).
                Some(Err(e)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Err(e), (frames, guard, hang)))
                }
                Some(f) => Some((f, (frames, guard, hang))),
                None if hang => {
                    std::future::pending::<()>().await;
                    None
                }
                None => {
                    guard.complete();
                    None
                }
            }
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The stand-in on 127.0.0.1:0 (both APIs); returns its root URL.
async fn upstream(replies: Vec<Reply>) -> Result<(String, Arc<Upstream>)> {
    let up = Arc::new(Upstream::default());
    up.replies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(replies);
    let router = axum::Router::new()
        .route(
            "/v1/models",
            get(|| async {
                axum::Json(json!({"object": "list",
                    "data": [{"id": "openai/gpt-oss-20b", "object": "model", "max_model_len": 65536}]}))
            }),
        )
        .route(
            "/v1/completions",
            post(|State(up): State<Arc<Upstream>>, axum::Json(body): axum::Json<Value>| async move {
                completions(up, UpstreamApi::Vllm, "/v1/completions", body).await
            }),
        )
        .route(
            "/completion",
            post(|State(up): State<Arc<Upstream>>, axum::Json(body): axum::Json<Value>| async move {
                completions(up, UpstreamApi::LlamaCpp, "/completion", body).await
            }),
        )
        .with_state(up.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((format!("http://{addr}"), up))
}

async fn remote_engine(root: &str, api: UpstreamApi) -> Result<Arc<RemoteEngine>> {
    let mut config = RemoteConfig::new(format!("{root}/v1"), api);
    config.idle_timeout = Duration::from_millis(800);
    Ok(Arc::new(
        tokio::task::spawn_blocking(move || RemoteEngine::connect(config)).await??,
    ))
}

/// codexpc's Responses endpoint over the remote engine.
async fn serve_remote(engine: Arc<RemoteEngine>) -> Result<String> {
    let service = Arc::new(Service::new(engine, ServiceConfig::default())?);
    let mut state = AppState::new(service);
    state.render = RenderConfig {
        conversation_date: Some("2026-11-22".into()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(state)).await;
    });
    Ok(format!("http://{addr}"))
}

fn ids(text: &str) -> Vec<u32> {
    harmony().expect("harmony").encode_with_special_tokens(text)
}

fn request(text: &str) -> Value {
    json!({"model": "gpt-oss-20b", "stream": true, "temperature": 0,
           "input": [{"type": "message", "role": "user", "content": text}]})
}

fn deltas(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_upstream_serves_the_responses_endpoint_from_token_ids() -> Result<()> {
    let answer = ids(
        "<|channel|>analysis<|message|>Greet.<|end|><|start|>assistant<|channel|>final<|message|>Hello from upstream!<|return|>",
    );
    let (root, up) = upstream(vec![Reply::Tokens {
        tokens: answer.clone(),
        per_chunk: 3,
        stop_token: Some(200_002),
        cached: 40,
    }])
    .await?;
    let engine = remote_engine(&root, UpstreamApi::Vllm).await?;
    let info = codexpc::engine::Engine::info(engine.as_ref());
    assert_eq!(
        (info.engine.as_str(), info.model.as_str(), info.context_size),
        ("openai-compat", "openai/gpt-oss-20b", 65536),
        "model and context learned from GET /v1/models"
    );
    let base = serve_remote(engine).await?;
    let body = request("hello upstream");
    let events = stream(&base, body.clone()).await?;
    assert_eq!(deltas(&events), "Hello from upstream!");
    let (last, completed) = events.last().context("events")?;
    assert_eq!(last, "response.completed");
    let usage = &completed["response"]["usage"];
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], json!(40));
    assert_eq!(usage["output_tokens"], json!(answer.len()));

    // The upstream got exactly codexpc's rendering, as token ids, with Harmony's stop tokens.
    let requests = up
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert_eq!(requests.len(), 1);
    let (path, sent) = &requests[0];
    assert_eq!(path, "/v1/completions");
    let rendered = render_request(
        harmony()?,
        &serde_json::from_value::<ResponsesRequest>(body)?,
        &RenderConfig {
            conversation_date: Some("2026-11-22".into()),
        },
    )?;
    assert_eq!(sent["prompt"], json!(rendered.tokens));
    assert_eq!(sent["model"], json!("openai/gpt-oss-20b"));
    assert_eq!(sent["stream"], json!(true));
    assert_eq!(sent["return_token_ids"], json!(true));
    assert_eq!(sent["stop_token_ids"], json!([200_002, 200_012]));
    assert_eq!(sent["skip_special_tokens"], json!(false));
    assert_eq!(sent["temperature"], json!(0.0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_token_reported_only_as_stop_reason_still_ends_the_message() -> Result<()> {
    // Some vLLM versions leave the stop token out of the ids and name it in `stop_reason`.
    let (root, _up) = upstream(vec![Reply::Tokens {
        tokens: ids("<|channel|>final<|message|>No stop id in the stream."),
        per_chunk: 2,
        stop_token: Some(200_002),
        cached: 0,
    }])
    .await?;
    let base = serve_remote(remote_engine(&root, UpstreamApi::Vllm).await?).await?;
    let events = stream(&base, request("hi")).await?;
    assert_eq!(deltas(&events), "No stop id in the stream.");
    assert_eq!(events.last().context("last")?.0, "response.completed");
    Ok(())
}

/// Every upstream failure ends the response with `response.failed` naming it, in bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_clear_errors_and_never_hang() -> Result<()> {
    let some = ids("<|channel|>final<|message|>partial");
    let (root, _up) = upstream(vec![
        Reply::Status(500, "CUDA out of memory"),
        Reply::MalformedAfter(some.clone()),
        Reply::BreakAfter(some.clone()),
        Reply::CloseAfter(some.clone()),
        Reply::HangAfter(some.clone()),
    ])
    .await?;
    let base = serve_remote(remote_engine(&root, UpstreamApi::Vllm).await?).await?;
    for needle in [
        "HTTP 500 Internal Server Error: CUDA out of memory",
        &format!("malformed chunk after {} token(s)", some.len()),
        &format!("the stream broke after {} token(s)", some.len()),
        &format!(
            "the connection closed after {} token(s), before the generation ended",
            some.len()
        ),
        &format!("no data for 800 ms after {} token(s)", some.len()),
    ] {
        let started = Instant::now();
        let events = tokio::time::timeout(TIMEOUT, stream(&base, request("hi")))
            .await
            .context("the response hung")??;
        let (last, data) = events.last().context("events")?;
        assert_eq!(last, "response.failed", "{events:?}");
        let message = data["response"]["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("upstream http://127.0.0.1:") && message.contains(needle),
            "{needle:?} not in {message:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_going_away_drops_the_upstream_request() -> Result<()> {
    let (root, up) = upstream(vec![Reply::HangAfter(ids(
        "<|channel|>final<|message|>first words",
    ))])
    .await?;
    let base = serve_remote(remote_engine(&root, UpstreamApi::Vllm).await?).await?;
    let resp = client()
        .post(format!("{base}/v1/responses"))
        .json(&request("hi"))
        .send()
        .await?;
    let mut body = resp.bytes_stream();
    // Read until the first text arrives, then go away.
    let mut seen = String::new();
    while !seen.contains("output_text.delta") {
        let chunk = tokio::time::timeout(TIMEOUT, body.next())
            .await?
            .context("stream ended")??;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(body);
    let deadline = Instant::now() + TIMEOUT;
    while up.dropped.load(Ordering::SeqCst) == 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the upstream request was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// llama.cpp's server, the socket protocol and a client-executed tool: llama.cpp ends on
/// `<|call|>` without sending it, and the call is still recognised and handed to the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_upstream_behind_the_socket_with_a_client_tool() -> Result<()> {
    let call = ids(
        "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Oslo\"}",
    );
    let answer = ids("<|channel|>final<|message|>Sunny in Oslo.");
    let (root, up) = upstream(vec![
        Reply::Tokens {
            tokens: call,
            per_chunk: 1,
            stop_token: None,
            cached: 0,
        },
        Reply::Tokens {
            tokens: answer,
            per_chunk: 4,
            stop_token: None,
            cached: 77,
        },
    ])
    .await?;
    let engine = remote_engine(&root, UpstreamApi::LlamaCpp).await?;
    let service = Arc::new(Service::new(engine, ServiceConfig::default())?);
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("codexpc.sock");
    let daemon = Daemon::new(
        service,
        ToolExecutor::new(ToolRegistry::new(), ToolsConfig::default()),
        RenderConfig {
            conversation_date: Some("2026-11-22".into()),
        },
        DaemonConfig::new(socket.clone()),
    );
    let listener = bind_socket(&socket).await?;
    tokio::spawn(daemon.run(listener, std::future::pending()));

    let mut c = Client::connect(&socket, TIMEOUT).await?;
    let id = c
        .create(json!({
            "input": "weather?",
            "tools": [{"type": "function", "name": "get_weather",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        }))
        .await?;
    let mut call_id = None;
    while call_id.is_none() {
        let m = c.recv_for(&id).await?;
        anyhow::ensure!(m["type"] != "error" && m["type"] != "completed", "{m}");
        if let Some(item) = client_tool_call(&m) {
            assert_eq!(item["arguments"], json!("{\"city\":\"Oslo\"}"));
            call_id = item["call_id"].as_str().map(str::to_owned);
        }
    }
    let call_id = call_id.context("call id")?;
    let ok = c
        .tool_result(&id, &call_id, "sunny, 21 C", "completed")
        .await?;
    assert_eq!(ok["type"], json!("tool_result.ok"));
    let rest = c.collect(&id).await?;
    assert_eq!(text_of(&rest), "Sunny in Oslo.");
    let done = rest.last().context("last")?;
    assert_eq!(done["type"], json!("completed"), "{rest:?}");
    assert_eq!(done["token_usage"]["cached_input"], json!(77));

    let requests = up
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|(p, b)| p == "/completion" && b["return_tokens"] == json!(true))
    );
    // Turn 2's prompt extends turn 1's: the upstream's prefix cache can reuse it.
    let (a, b) = (
        requests[0].1["prompt"].as_array().context("prompt")?,
        requests[1].1["prompt"].as_array().context("prompt")?,
    );
    assert!(b.len() > a.len() && b[..a.len() - 1] == a[..a.len() - 1]);
    Ok(())
}
