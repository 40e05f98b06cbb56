//! The loopback fake of the OpenAI Responses API as a process, for tests that are not Rust (the
//! browser tests point a `CODEX_HOME` at it when they must see what reached the model, which
//! codexpc's scripted engine does not report).
//!
//! `fake_responses_server SCRIPT.jsonl` serves on 127.0.0.1 (a free port), prints
//! `listening on http://127.0.0.1:PORT/v1`, answers each `POST /v1/responses` with the next
//! script line (`{"text": "..."}`, or `{"mcp_tool_call": {"server", "tool", "arguments",
//! "call_id"}}` for a call of an MCP server's tool; an optional `"delay_ms": N` between streamed
//! events), and prints one line per model request as it arrives:
//! `request {"n":1,"model":"...","effort":"...","last_user_text":"..."}`. Whole request bodies
//! are tens of kilobytes of instructions; the summary keeps the output readable and bounded.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::{FakeResponses, ScriptedResponse, script_from_args};

fn response(line: &Value) -> Result<ScriptedResponse, String> {
    let mut r = ScriptedResponse::new();
    if let Some(call) = line.get("mcp_tool_call") {
        let field = |k: &str| {
            call.get(k)
                .and_then(Value::as_str)
                .ok_or(format!("mcp_tool_call.{k} missing"))
        };
        r = r.mcp_tool_call(
            field("server")?,
            field("tool")?,
            call.get("arguments").cloned().unwrap_or_else(|| json!({})),
            field("call_id")?,
        );
    } else {
        let text = line
            .get("text")
            .and_then(Value::as_str)
            .ok_or("text (or mcp_tool_call) missing")?;
        r = r.text(text);
    }
    if let Some(ms) = line.get("delay_ms").and_then(Value::as_u64) {
        r = r.delay_between_events(Duration::from_millis(ms));
    }
    Ok(r)
}

fn main() {
    let script = script_from_args("fake_responses_server SCRIPT.jsonl", response);
    let fake = FakeResponses::start();
    for r in script {
        fake.enqueue(r);
    }
    println!("listening on {}", fake.base_url());
    let _ = std::io::stdout().flush();
    // Blocks on the fake's arrival condition variable, so each request is reported as it lands.
    let mut seen = 0;
    loop {
        let reqs = fake.wait_for_responses_requests(seen + 1, Duration::from_secs(24 * 3600));
        for (i, r) in reqs.iter().enumerate().skip(seen) {
            let summary = json!({
                "n": i + 1,
                "model": r.body.get("model"),
                "effort": r.body.pointer("/reasoning/effort"),
                "last_user_text": r.last_user_text(),
            });
            println!("request {summary}");
        }
        seen = reqs.len();
        let _ = std::io::stdout().flush();
    }
}
