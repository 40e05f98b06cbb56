//! Generated rollout lines shaped like Codex 0.169's (see `tests/real_codex.rs` for the real
//! thing): a `session_meta` with long base instructions, a `world_state`, turn context,
//! messages, a tool call with its output, typed items, token counts. Shared by the benchmarks.

#![allow(dead_code)]

use std::io::Write;

/// Appends the lines of one thread with `turns` turns to `w`; returns the bytes written.
pub fn write_thread(
    w: &mut impl Write,
    id: &str,
    cwd: &str,
    turns: usize,
    pad: &str,
) -> std::io::Result<u64> {
    let mut n = 0u64;
    let mut line = |s: String| -> std::io::Result<()> {
        n += s.len() as u64 + 1;
        w.write_all(s.as_bytes())?;
        w.write_all(b"\n")
    };
    let ts = "2026-11-22T00:09:08.252Z";
    line(format!(
        r#"{{"timestamp":"{ts}","ordinal":0,"type":"session_meta","payload":{{"account_scoped":true,"session_id":"{id}","id":"{id}","timestamp":"{ts}","cwd":"{cwd}","originator":"codex_exec","cli_version":"0.169.0","source":"exec","model_provider":"local","base_instructions":{{"text":"{pad}"}},"git":{{"commit_hash":"4f1125d4","branch":"main"}}}}}}"#
    ))?;
    line(format!(
        r#"{{"timestamp":"{ts}","ordinal":1,"type":"world_state","payload":{{"full":true,"state":{{"agents_md":{{}},"environments":{{"environments":{{"local":{{"cwd":"{cwd}","status":"available","shell":"bash"}}}}}},"skills":"{}"}}}}}}"#,
        &pad[..pad.len().min(2000)]
    ))?;
    for t in 0..turns {
        let turn = format!("turn-{t}");
        line(format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"task_started","turn_id":"{turn}","model_context_window":258400}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"turn_context","payload":{{"turn_id":"{turn}","cwd":"{cwd}","approval_policy":"never","model":"gpt-oss-20b","sandbox_policy":{{"type":"danger-full-access"}}}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"response_item","payload":{{"type":"message","id":"m{t}","role":"user","content":[{{"type":"input_text","text":"please fix the failing test number {t} ✓"}}]}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"item_completed","thread_id":"{id}","turn_id":"{turn}","item":{{"type":"UserMessage","id":"u{t}","content":[{{"type":"text","text":"please fix the failing test number {t} ✓","text_elements":[]}}]}}}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"response_item","payload":{{"type":"function_call","id":"fc{t}","name":"exec_command","arguments":"{{\"cmd\":\"cargo test -p foo\",\"yield_time_ms\":10000}}","call_id":"call_{t}"}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"item_completed","thread_id":"{id}","turn_id":"{turn}","item":{{"type":"CommandExecution","id":"call_{t}","command":["/bin/bash","-lc","cargo test -p foo"],"cwd":"file://{cwd}","parsed_cmd":[],"source":"unified_exec_startup","status":"completed","aggregated_output":"{}","exit_code":0}}}}}}"#,
            &pad[..pad.len().min(1500)]
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"response_item","payload":{{"type":"function_call_output","call_id":"call_{t}","output":"{}"}}}}"#,
            &pad[..pad.len().min(1500)]
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{},"cached_input_tokens":10,"output_tokens":20,"reasoning_output_tokens":3,"total_tokens":120}},"last_token_usage":{{"input_tokens":100,"cached_input_tokens":10,"output_tokens":20,"reasoning_output_tokens":3,"total_tokens":120}},"model_context_window":258400}},"rate_limits":{{"limit_id":"codex","primary":null}}}}}}"#,
            100 * (t + 1)
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"item_completed","thread_id":"{id}","turn_id":"{turn}","item":{{"type":"AgentMessage","id":"a{t}","content":[{{"type":"Text","text":"Fixed it: the assertion compared the wrong field. ünïcødé ✓"}}]}}}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"task_complete","turn_id":"{turn}","last_agent_message":"Fixed it.","duration_ms":451}}}}"#
        ))?;
    }
    Ok(n)
}

/// Filler text without characters needing JSON escapes.
pub fn pad(len: usize) -> String {
    let words = "You are a coding agent running in the Codex CLI and you are expected to be precise safe and helpful ";
    words.chars().cycle().take(len).collect()
}

/// Peak resident set size of this process (VmHWM) in KiB.
pub fn vm_hwm_kib() -> u64 {
    status_field("VmHWM:")
}

/// Current resident set size (VmRSS) in KiB.
pub fn vm_rss_kib() -> u64 {
    status_field("VmRSS:")
}

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
