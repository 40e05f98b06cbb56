//! Shared pieces of codexpc's benchmark programs: the `--quick` knob, statistics, a real
//! codexpc HTTP server on 127.0.0.1:0 over a given engine, and a streaming SSE client.
#![allow(dead_code)] // each bench uses a subset

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codexpc::engine::Engine;
use codexpc::render::RenderConfig;
use codexpc::responses::{AppState, app};
use codexpc::service::{Service, ServiceConfig};
use futures::StreamExt;
use serde_json::{Value, json};

/// Fixed conversation date so every path renders byte-identical prompts.
pub const DATE: &str = "2026-11-22";

/// `--quick` on the command line or `CODEXPC_BENCH_QUICK=1`: a shorter run.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("CODEXPC_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// llama.cpp threads for every path: `CODEXPC_BENCH_THREADS`, default 1. One thread keeps the
/// figures stable on a shared 2-core machine, where llama.cpp's spinning thread barrier makes
/// multi-threaded decode very sensitive to other load; the comparison uses the same value on
/// every path.
pub fn threads() -> usize {
    std::env::var("CODEXPC_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

pub fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

/// Nearest-rank percentile.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

pub fn render_config() -> RenderConfig {
    RenderConfig {
        conversation_date: Some(DATE.to_string()),
    }
}

/// codexpc's Responses app served on 127.0.0.1:0 by a dedicated runtime.
pub struct Server {
    pub base: String,
    pub runtime: tokio::runtime::Runtime,
    pub service: Arc<Service>,
}

impl Server {
    pub fn start(engine: Arc<dyn Engine>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let service = Arc::new(Service::new(engine, ServiceConfig::default())?);
        let mut state = AppState::new(service.clone());
        state.render = render_config();
        let router = app(state);
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("bench server stopped: {e}");
            }
        });
        Ok(Self {
            base: format!("http://{addr}"),
            runtime,
            service,
        })
    }
}

/// What one streamed response produced.
#[derive(Debug, Default)]
pub struct StreamOutcome {
    pub text_deltas: usize,
    pub text: String,
    /// `usage.output_tokens` of `response.completed`.
    pub output_tokens: Option<u64>,
    pub completed: bool,
    pub failed: Option<String>,
    pub elapsed: Duration,
}

/// POST `body` (stream: true) and read SSE events until `response.completed`/`failed`, or,
/// with `stop_after_deltas`, until that many text deltas arrived — then the response (and its
/// connection) is dropped, which is how a client "goes away". Returns the instant of the drop.
pub async fn stream(
    client: &reqwest::Client,
    base: &str,
    body: &Value,
    stop_after_deltas: Option<usize>,
) -> Result<(StreamOutcome, Instant)> {
    let started = Instant::now();
    let resp = client
        .post(format!("{base}/v1/responses"))
        .json(body)
        .send()
        .await
        .context("POST /v1/responses")?;
    if !resp.status().is_success() {
        let status = resp.status();
        bail!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
    }
    let mut out = StreamOutcome::default();
    let mut buf = String::new();
    let mut body_stream = resp.bytes_stream();
    while let Some(chunk) = body_stream.next().await {
        buf.push_str(std::str::from_utf8(&chunk?).context("SSE is UTF-8")?);
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut name = "";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            match name {
                "response.output_text.delta" => {
                    out.text_deltas += 1;
                    let v: Value = serde_json::from_str(&data)?;
                    out.text.push_str(v["delta"].as_str().unwrap_or_default());
                    if stop_after_deltas.is_some_and(|n| out.text_deltas >= n) {
                        out.elapsed = started.elapsed();
                        drop(body_stream);
                        return Ok((out, Instant::now()));
                    }
                }
                "response.completed" => {
                    let v: Value = serde_json::from_str(&data)?;
                    out.output_tokens = v["response"]["usage"]["output_tokens"].as_u64();
                    out.completed = true;
                }
                "response.failed" => {
                    out.failed = Some(data.clone());
                }
                _ => {}
            }
        }
        if out.completed || out.failed.is_some() {
            break;
        }
    }
    out.elapsed = started.elapsed();
    Ok((out, Instant::now()))
}

fn text(role: &str, kind: &str, t: &str) -> Value {
    json!({"type": "message", "role": role, "content": [{"type": kind, "text": t}]})
}

/// Turn 1 and turn 2 request bodies of a conversation shaped like Codex's: long instructions, a
/// permissions message, the AGENTS.md of `project` (its own `rules` lines), the environment
/// context, function tools with schemas, then `task` as the user's prompt. Turn 2 adds
/// reasoning, an `exec_command` call, its output and a new user message. Conversations share
/// the instructions and tools, as Codex sessions do; different projects differ from AGENTS.md on.
pub fn codex_conversation(project: &str, rules: usize, task: &str) -> (Value, Value) {
    let mut instructions = String::from(
        "You are a coding agent running in a terminal-based coding assistant. You are expected to \
         be precise, safe, and helpful.\n\n",
    );
    let sections = [
        (
            "Personality",
            "Your default personality and tone is concise, direct, and friendly. You communicate efficiently, always keeping the user clearly informed about ongoing actions without unnecessary detail.",
        ),
        (
            "Responsiveness",
            "Before making tool calls, send a brief preamble to the user explaining what you're about to do. Group related actions, keep it concise, and build on prior context.",
        ),
        (
            "Planning",
            "Use the plan tool to track steps and progress. A good plan breaks the task into meaningful, logically ordered steps that are easy to verify as you go.",
        ),
        (
            "Task execution",
            "Keep going until the query is completely resolved before ending your turn. Fix the problem at the root cause rather than applying surface-level patches.",
        ),
        (
            "Sandbox and approvals",
            "The shell runs in a sandbox. Some commands need approval; when a command fails because of the sandbox, ask for approval with a short justification.",
        ),
        (
            "Validating your work",
            "If the codebase has tests or the ability to build or run, use them to verify that your work is complete. Start as specific as possible to the code you changed.",
        ),
        (
            "Presenting your work",
            "Your final message should read naturally, like an update from a concise teammate. Reference files with inline code and keep lists short.",
        ),
        (
            "Shell commands",
            "Prefer rg over grep for searching text and files. Read files in chunks of at most 250 lines. Do not use python to read or write files when a simple shell command will do.",
        ),
    ];
    for round in 0..4 {
        for (title, body) in sections {
            instructions.push_str(&format!("## {title} ({round})\n\n{body}\n\n"));
        }
    }
    let tools = json!([
        {"type": "function", "name": "exec_command", "description": "Runs a command in a PTY, returning output or a session ID for ongoing interaction.",
         "parameters": {"type": "object", "properties": {
            "cmd": {"type": "string", "description": "Shell command to execute."},
            "workdir": {"type": "string", "description": "Working directory; defaults to the turn cwd."},
            "yield_time_ms": {"type": "number", "description": "How long to wait for output before yielding."},
            "max_output_tokens": {"type": "number", "description": "Maximum number of tokens to return."}},
            "required": ["cmd"], "additionalProperties": false}},
        {"type": "function", "name": "write_stdin", "description": "Writes characters to an existing exec session and returns recent output.",
         "parameters": {"type": "object", "properties": {
            "session_id": {"type": "number"}, "chars": {"type": "string"}, "yield_time_ms": {"type": "number"}},
            "required": ["session_id"], "additionalProperties": false}},
        {"type": "function", "name": "update_plan", "description": "Updates the task plan.",
         "parameters": {"type": "object", "properties": {
            "explanation": {"type": "string"},
            "plan": {"type": "array", "items": {"type": "object", "properties": {
                "step": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]}},
                "required": ["step", "status"]}}},
            "required": ["plan"], "additionalProperties": false}},
        {"type": "function", "name": "view_image", "description": "Attach a local image to the conversation context.",
         "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
        {"type": "web_search"}
    ]);
    let env = format!(
        "<environment_context>\n  <cwd>/home/dev/{project}</cwd>\n  <approval_policy>on-request</approval_policy>\n  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted</network_access>\n  <shell>bash</shell>\n</environment_context>"
    );
    let mut agents = format!(
        "# AGENTS.md instructions for /home/dev/{project}\n\n<INSTRUCTIONS>\nRun `cargo test` before committing. Keep functions small. Use thiserror for library errors.\n"
    );
    for i in 0..rules {
        agents.push_str(&format!(
            "- {project}/src/module_{i}.rs: keep its public items documented, cover new branches with a unit test, and log failures with the request id.\n"
        ));
    }
    agents.push_str("</INSTRUCTIONS>");
    let mut input = vec![
        text(
            "developer",
            "input_text",
            "<permissions instructions>Filesystem sandboxing: workspace-write. Network access is restricted. Approval policy: on-request.</permissions instructions>",
        ),
        text("user", "input_text", &agents),
        text("user", "input_text", &env),
        text("user", "input_text", task),
    ];
    let turn1 = json!({
        "model": "gpt-oss-20b", "instructions": instructions, "input": input.clone(), "tools": tools,
        "reasoning": {"effort": "medium"}, "stream": true, "parallel_tool_calls": false,
    });
    input.push(json!({"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text",
        "text": "I should run the failing test first to see the error message, then read the parser's entry point."}]}));
    input.push(json!({"type": "function_call", "name": "exec_command", "call_id": "call_1",
        "arguments": format!("{{\"cmd\":\"cargo test -p parser empty_input 2>&1 | tail -n 30\",\"workdir\":\"/home/dev/{project}\"}}")}));
    input.push(json!({"type": "function_call_output", "call_id": "call_1", "output":
        "running 1 test\ntest tests::empty_input ... FAILED\n\nfailures:\n\n---- tests::empty_input stdout ----\nthread 'tests::empty_input' panicked at src/lib.rs:42:18:\nindex out of bounds: the len is 0 but the index is 0\n\nfailures:\n    tests::empty_input\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored"}));
    input.push(text(
        "user",
        "input_text",
        "Also make sure whitespace-only input is handled the same way.",
    ));
    let turn2 = json!({
        "model": "gpt-oss-20b", "instructions": turn1["instructions"], "input": input, "tools": turn1["tools"],
        "reasoning": {"effort": "medium"}, "stream": true, "parallel_tool_calls": false,
    });
    (turn1, turn2)
}
