//! The loopback fake of the Anthropic Messages API as a process, for tests that are not Rust
//! (the browser tests start it next to `orbitdock serve`).
//!
//! `fake_anthropic_server SCRIPT.jsonl` serves on 127.0.0.1 (a free port), prints
//! `listening on http://127.0.0.1:PORT`, and answers each streaming model request with the next
//! script line until it is killed. Lines (one JSON object each):
//! `{"text": "..."}`, `{"deltas": ["a", "b"]}` (text in several deltas),
//! `{"bash": {"id": "toolu_1", "command": "..."}}`,
//! `{"tool_use": {"id": "...", "name": "Edit", "input": {...}}}`; any line may add
//! `"delay_ms": N` between streamed events.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;
use test_support::fake_anthropic::{FakeAnthropic, ScriptedMessage};
use test_support::script_from_args;

fn message(line: &Value) -> Result<ScriptedMessage, String> {
    let mut m = ScriptedMessage::new();
    if let Some(t) = line.get("text").and_then(Value::as_str) {
        m = m.text(t);
    }
    if let Some(parts) = line.get("deltas").and_then(Value::as_array) {
        let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
        m = m.text_deltas(&parts);
    }
    if let Some(b) = line.get("bash") {
        let id = b
            .get("id")
            .and_then(Value::as_str)
            .ok_or("bash.id missing")?;
        let command = b
            .get("command")
            .and_then(Value::as_str)
            .ok_or("bash.command missing")?;
        m = m.bash(id, command);
    }
    if let Some(t) = line.get("tool_use") {
        let id = t
            .get("id")
            .and_then(Value::as_str)
            .ok_or("tool_use.id missing")?;
        let name = t
            .get("name")
            .and_then(Value::as_str)
            .ok_or("tool_use.name missing")?;
        m = m.tool_use(id, name, t.get("input").cloned().unwrap_or(Value::Null));
    }
    if let Some(ms) = line.get("delay_ms").and_then(Value::as_u64) {
        m = m.delay_between_events(Duration::from_millis(ms));
    }
    Ok(m)
}

fn main() {
    let script = script_from_args("fake_anthropic_server SCRIPT.jsonl", message);
    let fake = FakeAnthropic::start();
    for m in script {
        fake.enqueue(m);
    }
    println!("listening on {}", fake.base_url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
