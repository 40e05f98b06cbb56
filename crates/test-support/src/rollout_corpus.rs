//! Generated rollout files shaped like Codex 0.169's (checked against real ones in
//! codex-rollout's `tests/real_codex.rs`): a `session_meta` with long base instructions, a
//! `world_state`, and per turn a turn context, the user message (raw and as a typed item), a tool
//! call with its output, token counts and the agent's message. For benchmarks and tests that need
//! many sessions without running Codex for each. Every turn's messages name the turn, so no two
//! lines of a thread have the same content.

use std::io::Write;

/// What one generated thread contains.
#[derive(Debug, Clone)]
pub struct ThreadSpec<'a> {
    /// Thread id (a UUID).
    pub id: &'a str,
    /// Working directory.
    pub cwd: &'a str,
    /// Number of turns.
    pub turns: usize,
    /// Filler for the large fields (base instructions, tool output); see [`pad`].
    pub pad: &'a str,
    /// Timestamp of every line (RFC 3339).
    pub timestamp: &'a str,
    /// Model of every turn.
    pub model: &'a str,
    /// The prompt of turn `t` is `prompt` followed by ` number {t} ✓`.
    pub prompt: &'a str,
    /// What every turn's command printed (`None`: up to 1,500 bytes of `pad`).
    pub output: Option<&'a str>,
}

impl<'a> ThreadSpec<'a> {
    /// A thread of `turns` turns with the default time, model and prompt.
    pub fn new(id: &'a str, cwd: &'a str, turns: usize, pad: &'a str) -> Self {
        Self {
            id,
            cwd,
            turns,
            pad,
            timestamp: "2026-11-22T00:09:08.252Z",
            model: "gpt-oss-20b",
            prompt: "please fix the failing test",
            output: None,
        }
    }
}

/// Appends the lines of one thread with `turns` turns to `w`; returns the bytes written.
pub fn write_thread(
    w: &mut impl Write,
    id: &str,
    cwd: &str,
    turns: usize,
    pad: &str,
) -> std::io::Result<u64> {
    write_spec(w, &ThreadSpec::new(id, cwd, turns, pad))
}

/// Appends the lines of the thread `spec` describes to `w`; returns the bytes written.
pub fn write_spec(w: &mut impl Write, spec: &ThreadSpec<'_>) -> std::io::Result<u64> {
    let ThreadSpec {
        id,
        cwd,
        turns,
        pad,
        timestamp: ts,
        model,
        prompt,
        output,
    } = *spec;
    // A JSON string literal, quotes included.
    let output = match output {
        Some(o) => serde_json::Value::from(o).to_string(),
        None => format!("\"{}\"", &pad[..pad.len().min(1500)]),
    };
    let mut n = 0u64;
    let mut line = |s: String| -> std::io::Result<()> {
        n += s.len() as u64 + 1;
        w.write_all(s.as_bytes())?;
        w.write_all(b"\n")
    };
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
            r#"{{"timestamp":"{ts}","type":"turn_context","payload":{{"turn_id":"{turn}","cwd":"{cwd}","approval_policy":"never","model":"{model}","sandbox_policy":{{"type":"danger-full-access"}}}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"response_item","payload":{{"type":"message","id":"m{t}","role":"user","content":[{{"type":"input_text","text":"{prompt} number {t} ✓"}}]}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"item_completed","thread_id":"{id}","turn_id":"{turn}","item":{{"type":"UserMessage","id":"u{t}","content":[{{"type":"text","text":"{prompt} number {t} ✓","text_elements":[]}}]}}}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"response_item","payload":{{"type":"function_call","id":"fc{t}","name":"exec_command","arguments":"{{\"cmd\":\"cargo test -p foo\",\"yield_time_ms\":10000}}","call_id":"call_{t}"}}}}"#
        ))?;
        line(format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"item_completed","thread_id":"{id}","turn_id":"{turn}","item":{{"type":"CommandExecution","id":"call_{t}","command":["/bin/bash","-lc","cargo test -p foo"],"cwd":"file://{cwd}","parsed_cmd":[],"source":"unified_exec_startup","status":"completed","aggregated_output":{output},"exit_code":0}}}}}}"#
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
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"item_completed","thread_id":"{id}","turn_id":"{turn}","item":{{"type":"AgentMessage","id":"a{t}","content":[{{"type":"Text","text":"Fixed it: the assertion compared the wrong field (turn {t}). ünïcødé ✓ 修正しました"}}]}}}}}}"#
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

/// Writes a history of `n` threads of `turns` turns under `codex_home/sessions`, laid out as
/// Codex lays out rollouts (`YYYY/MM/DD/rollout-<time>-<id>.jsonl`, 500 threads a day, each a
/// minute after the one before in its day), with `pad_len` bytes of filler in the large
/// fields. Thread `i` has id `0199aaaa-bbbb-7ccc-8ddd-<i, 12 digits>`, cwd
/// `/home/user/project-<i % 50>` and the prompt `please fix the failing test in module<i>`.
/// Returns the bytes written.
pub fn write_history(
    codex_home: &std::path::Path,
    n: usize,
    turns: usize,
    pad_len: usize,
) -> std::io::Result<u64> {
    let pad = pad(pad_len);
    let mut bytes = 0;
    for i in 0..n {
        let day = 1 + (i / 500) % 28;
        let month = 1 + (i / (500 * 28)) % 12;
        let dir = codex_home.join(format!("sessions/2026/{month:02}/{day:02}"));
        std::fs::create_dir_all(&dir)?;
        let id = format!("0199aaaa-bbbb-7ccc-8ddd-{i:012}");
        let ts = format!(
            "2026-{month:02}-{day:02}T{:02}:{:02}:00.000Z",
            (i % 500) / 60,
            i % 60
        );
        let cwd = format!("/home/user/project-{}", i % 50);
        let prompt = format!("please fix the failing test in module{i}");
        let spec = ThreadSpec {
            timestamp: &ts,
            prompt: &prompt,
            ..ThreadSpec::new(&id, &cwd, turns, &pad)
        };
        let path = dir.join(format!(
            "rollout-2026-{month:02}-{day:02}T00-00-00-{id}.jsonl"
        ));
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        bytes += write_spec(&mut f, &spec)?;
        f.flush()?;
    }
    Ok(bytes)
}
