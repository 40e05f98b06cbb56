//! Latency of a Codex hook event to the WebSocket delta a subscribed client receives for it,
//! against the rollout watcher's latency for a line appended to the same thread's rollout, both
//! measured in the same run on the same server, session and WebSocket (samples interleaved).
//!
//! Hook path: `codex_hooks::forward_event` (exactly what `orbitdock hook codex` runs after
//! reading stdin: loopback HTTP POST with the token) -> `/api/hooks/codex` -> session actor ->
//! SQLite commit -> hub -> WebSocket. Rollout path: append -> file watcher (150 ms debounce) ->
//! reader -> session actor -> SQLite commit -> hub -> WebSocket.
//!
//! `cargo bench -p orbitdock-server --bench hook_ws_latency` (env `BENCH_SAMPLES`, default 100).

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::Result;
use orbitdock_server::data_dir::{self, ServerInfo};
use serde_json::json;

use support::{append, delta_with, pct, user_line, watched_thread};

const THREAD: &str = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0002";
const TOKEN: &str = "bench-token";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let n: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let gap = Duration::from_millis(30);
    let mut w = watched_thread(THREAD, TOKEN).await?;
    let (data, home) = (w.data.path().to_owned(), w.home.path().to_owned());
    // Where the hook runner finds the server.
    std::fs::write(data_dir::token_path(&data), format!("{TOKEN}\n"))?;
    data_dir::write_server_info(
        &data,
        &ServerInfo {
            url: w.server.base_url(),
            pid: std::process::id(),
        },
    )?;

    let cfg = codex_hooks::RunnerConfig::new(&data);
    let mut hook = Vec::with_capacity(n);
    let mut rollout = Vec::with_capacity(n);
    let mut spooled = 0usize;
    for i in 0..n {
        // Hook: a PreToolUse (a running command item keyed by its call id).
        let call = format!("hook_call_{i}");
        let payload = json!({
            "session_id": THREAD, "hook_event_name": "PreToolUse", "cwd": home,
            "turn_id": "bench-turn", "model": "gpt-oss-20b", "tool_name": "Bash",
            "tool_input": {"command": format!("echo {i}")}, "tool_use_id": call,
        })
        .to_string();
        let t = Instant::now();
        let cfg2 = cfg.clone();
        let delivery = tokio::task::spawn_blocking(move || {
            codex_hooks::runner::forward_event(&cfg2, payload.as_bytes())
        })
        .await?;
        if !matches!(delivery, claude_hooks::Delivery::Delivered) {
            spooled += 1;
        }
        hook.push(delta_with(&mut w.ws, &format!("\"{call}\"")).await? - t);
        tokio::time::sleep(gap).await; // pacing between samples, not synchronisation

        // Rollout: a user message line.
        let t = Instant::now();
        let text = format!("prompt {i}");
        append(&w.rollout, &user_line(&text))?;
        rollout.push(delta_with(&mut w.ws, &format!("\"{text}\"")).await? - t);
        tokio::time::sleep(gap).await; // pacing between samples, not synchronisation
    }
    w.server.shutdown().await;

    let (h50, h99) = (pct(&mut hook, 0.5), pct(&mut hook, 0.99));
    let (r50, r99) = (pct(&mut rollout, 0.5), pct(&mut rollout, 0.99));
    println!("{n} samples per path, interleaved, {gap:?} apart; {spooled} hook posts spooled");
    println!("baseline rollout append -> WebSocket delta: p50 {r50:?}  p99 {r99:?}");
    println!("hook event -> WebSocket delta:              p50 {h50:?}  p99 {h99:?}");
    println!(
        "ratio rollout/hook: p50 {:.1}x  p99 {:.1}x",
        r50.as_secs_f64() / h50.as_secs_f64().max(1e-9),
        r99.as_secs_f64() / h99.as_secs_f64().max(1e-9)
    );
    Ok(())
}
