//! Prefill on turn 2 of a Codex-shaped conversation, with and without KV-cache reuse.
//!
//! Turn 1 is a request shaped like the ones Codex sends: long instructions, a developer message
//! with permissions, a user message with the environment context, function tools with JSON
//! schemas, and the user's prompt. Turn 2 is the same conversation plus what the first
//! response and Codex add: the model's reasoning, an `exec_command` call, its output, and a new
//! user message. Both are rendered by codexpc's own `render` module (the path the HTTP endpoint
//! uses), then served by the llama engine on the tiny gpt-oss GGUF:
//!
//! * with reuse: turn 1, then turn 2 on the same engine (longest-common-prefix KV reuse);
//! * without: turn 2 on an emptied cache (what an engine without reuse does every turn).
//!
//! Prints the tokens prefilled and the wall time of turn 2 (prefill + one sampled token) for
//! both, and the ratios. `--quick` (or `CODEXPC_BENCH_QUICK=1`) runs fewer rounds.

mod common;

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::Result;
use codexpc::engine::llama::{LlamaConfig, LlamaEngine};
use codexpc::engine::{CancelFlag, Engine, GenerateRequest, GenerationStats, Sampling};
use codexpc::harmony::harmony;
use codexpc::render::render_request;
use codexpc::responses::types::ResponsesRequest;
use serde_json::{Value, json};
use test_support::gguf::{TinyVariant, tiny_gguf_path};

fn main() -> Result<()> {
    let rounds = if common::quick() { 3 } else { 9 };
    let engine = LlamaEngine::load(
        &tiny_gguf_path(TinyVariant::IdsOnly),
        LlamaConfig {
            threads: Some(common::threads()),
            show_progress: false,
            ..LlamaConfig::default()
        },
    )?;
    let h = harmony()?;
    let (turn1, turn2) = conversation();
    let t1 = render_request(
        h,
        &serde_json::from_value::<ResponsesRequest>(turn1)?,
        &common::render_config(),
    )?
    .tokens;
    let t2 = render_request(
        h,
        &serde_json::from_value::<ResponsesRequest>(turn2)?,
        &common::render_config(),
    )?
    .tokens;
    let shared = t1.iter().zip(&t2).take_while(|(a, b)| a == b).count();
    println!(
        "kv_reuse: turn 1 = {} tokens, turn 2 = {} tokens ({} shared with turn 1), n_ctx {}, \
         (n_batch, n_ubatch) = {:?}, {rounds} rounds",
        t1.len(),
        t2.len(),
        shared,
        engine.info().context_size,
        engine.batch_sizes()
    );

    let mut with_reuse = Vec::new();
    let mut without = Vec::new();
    let mut stats_with = GenerationStats::default();
    let mut stats_without = GenerationStats::default();
    for _ in 0..rounds {
        // With reuse: turn 1 fills the cache, turn 2 extends it.
        engine.clear_cache();
        one_token(&engine, &t1)?;
        let started = Instant::now();
        stats_with = one_token(&engine, &t2)?;
        with_reuse.push(started.elapsed().as_secs_f64() * 1e3);

        // Without: turn 2 from an empty cache.
        engine.clear_cache();
        let started = Instant::now();
        stats_without = one_token(&engine, &t2)?;
        without.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let (w, wo) = (common::median(&with_reuse), common::median(&without));
    println!(
        "turn 2 with KV reuse   : prefilled {:>5} tokens (cached {:>5}), {w:>8.2} ms (median)",
        stats_with.prefilled_tokens, stats_with.cached_tokens
    );
    println!(
        "turn 2 without reuse   : prefilled {:>5} tokens (cached {:>5}), {wo:>8.2} ms (median)",
        stats_without.prefilled_tokens, stats_without.cached_tokens
    );
    println!(
        "ratio prefill tokens with/without = {:.3}  ({:.1}x fewer); time with/without = {:.3} ({:.1}x faster)",
        stats_with.prefilled_tokens as f64 / stats_without.prefilled_tokens as f64,
        stats_without.prefilled_tokens as f64 / stats_with.prefilled_tokens.max(1) as f64,
        w / wo,
        wo / w
    );
    Ok(())
}

/// Serve `prompt` and sample one token, greedy.
fn one_token(engine: &LlamaEngine, prompt: &[u32]) -> Result<GenerationStats> {
    let req = GenerateRequest {
        prompt,
        sampling: Sampling {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            max_tokens: Some(1),
        },
        stop_tokens: &[],
        match_text: None,
    };
    let g = engine.generate(&req, &CancelFlag::new(), &mut |_| ControlFlow::Continue(()))?;
    Ok(g.stats)
}

fn text(role: &str, kind: &str, t: &str) -> Value {
    json!({"type": "message", "role": role, "content": [{"type": kind, "text": t}]})
}

/// Turn 1 and turn 2 request bodies, shaped like Codex's.
fn conversation() -> (Value, Value) {
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
    let env = "<environment_context>\n  <cwd>/home/dev/project</cwd>\n  <approval_policy>on-request</approval_policy>\n  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted</network_access>\n  <shell>bash</shell>\n</environment_context>";
    let mut input = vec![
        text(
            "developer",
            "input_text",
            "<permissions instructions>Filesystem sandboxing: workspace-write. Network access is restricted. Approval policy: on-request.</permissions instructions>",
        ),
        text(
            "user",
            "input_text",
            "# AGENTS.md instructions for /home/dev/project\n\n<INSTRUCTIONS>\nRun `cargo test` before committing. Keep functions small. Use thiserror for library errors.\n</INSTRUCTIONS>",
        ),
        text("user", "input_text", env),
        text(
            "user",
            "input_text",
            "Find why `cargo test -p parser` fails on the empty-input case and fix it.",
        ),
    ];
    let turn1 = json!({
        "model": "gpt-oss-20b", "instructions": instructions, "input": input.clone(), "tools": tools,
        "reasoning": {"effort": "medium"}, "stream": true, "parallel_tool_calls": false,
    });
    input.push(json!({"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text",
        "text": "I should run the failing test first to see the error message, then read the parser's entry point."}]}));
    input.push(json!({"type": "function_call", "name": "exec_command", "call_id": "call_1",
        "arguments": "{\"cmd\":\"cargo test -p parser empty_input 2>&1 | tail -n 30\",\"workdir\":\"/home/dev/project\"}"}));
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
