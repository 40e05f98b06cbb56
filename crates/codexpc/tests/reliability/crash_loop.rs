//! Crash loop: `codexpc serve --script` is killed with SIGKILL while a reply is streaming, then
//! restarted on the same socket path, again and again.
//!
//! * Over the Unix socket (the Rust [`Client`]): the client's read ends with a clear error (the
//!   connection closed before the session finished), never a hang; connecting to the dead
//!   daemon's leftover socket file fails at once; the restarted daemon replaces that stale file
//!   and serves a full session.
//! * Over HTTP with the real pinned Codex (`codex exec` with codexpc as its model provider): the
//!   turn fails with a clear message and Codex exits, never hangs.
//!
//! Kills are bounded by `CODEXPC_CRASH_KILLS` (socket, default 6) and `CODEXPC_CRASH_HTTP_KILLS`
//! (HTTP with Codex, default 3); each outcome is printed.

use std::io::Read as _;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use codexpc::client::{Client, text_of};
use serde_json::{Value, json};
use test_support::CodexHomeBuilder;

use crate::support::{Serve, ServeOptions, final_answer, write_script};

/// A client that has not seen the end of its session this long after the kill is hanging.
const DEADLINE: Duration = Duration::from_secs(30);

fn count_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn user(text: &str) -> Value {
    json!({"input": [{"type": "message", "role": "user", "content": text}]})
}

/// A slow reply (tokens every 20 ms for several seconds) so the kill lands mid-stream.
fn slow_script(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    write_script(
        dir,
        "slow.jsonl",
        &[
            json!({"match": "slow", "completion": final_answer(300), "token_delay_ms": 20}),
            json!({"match": "quick", "completion": final_answer(5)}),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_client_gets_a_clear_error_and_restart_replaces_the_stale_socket() -> Result<()> {
    let kills = count_from_env("CODEXPC_CRASH_KILLS", 6);
    let dir = tempfile::tempdir()?;
    let script = slow_script(dir.path())?;
    let socket = dir.path().join("run").join("codexpc.sock");
    let mut opts = ServeOptions::new(&script);
    opts.socket = Some(socket.clone());
    let mut outcomes = Vec::new();
    for kill in 1..=kills {
        let stale_before = socket.exists();
        ensure!(
            kill == 1 || stale_before,
            "the killed daemon's socket file should still be there"
        );
        let mut server = Serve::start(&opts)?;
        let mut client = Client::connect(&socket, DEADLINE)
            .await
            .with_context(|| format!("restart {kill}: connect; stderr: {}", server.stderr()))?;
        let id = client.create(user("slow please")).await?;
        // Wait until text is streaming, then pull the plug. The kill point varies per round.
        let mut deltas = 0usize;
        while deltas < 1 + kill * 7 {
            let m = client.recv_for(&id).await?;
            match m["type"].as_str() {
                Some("output_text.delta") => deltas += 1,
                Some("completed" | "error") => bail!("session ended before the kill: {m}"),
                _ => {}
            }
        }
        server.kill9()?;
        let killed_at = Instant::now();
        let outcome = tokio::time::timeout(DEADLINE, client.collect(&id)).await;
        let waited = killed_at.elapsed();
        let outcome = match outcome {
            Err(_) => bail!("kill {kill}: the client hung for {DEADLINE:?} after the daemon died"),
            Ok(Ok(messages)) => {
                bail!("kill {kill}: a session of a killed daemon 'finished': {messages:?}")
            }
            Ok(Err(e)) => e.to_string(),
        };
        ensure!(
            outcome.contains("connection closed before")
                || outcome.contains("reading from the codexpc socket"),
            "kill {kill}: unclear client error: {outcome}"
        );
        // The dead daemon's socket file is still there; connecting fails at once.
        ensure!(socket.exists(), "SIGKILL cannot remove the socket file");
        let refused = tokio::time::timeout(DEADLINE, Client::connect(&socket, DEADLINE))
            .await
            .context("connecting to a dead socket hung")?
            .err()
            .context("a dead daemon's socket accepted a connection")?;
        println!(
            "socket kill {kill}: after {deltas} deltas; client error after {} ms: {outcome}; reconnect: {refused}",
            waited.as_millis()
        );
        outcomes.push(outcome);
    }
    // The last kill left a stale socket: a new daemon replaces it and serves a whole session.
    let server = Serve::start(&opts)?;
    let mut client = Client::connect(&socket, DEADLINE).await?;
    client.health().await?;
    let id = client.create(user("quick")).await?;
    let messages = client.collect(&id).await?;
    ensure!(
        messages.last().map(|m| m["type"].clone()) == Some(json!("completed")),
        "{messages:?}; stderr: {}",
        server.stderr()
    );
    ensure!(
        text_of(&messages) == "word0 word1 word2 word3 word4",
        "{messages:?}"
    );
    println!(
        "socket crash loop: {} kills, {} clear client errors, 0 hangs; restarted daemon replaced the stale socket and completed a session",
        kills,
        outcomes.len()
    );
    Ok(())
}

/// Poll `/metrics` until Codex's model request has been admitted (bounded). Token counters are
/// only added when a generation ends, so admission is the observable start of streaming.
async fn wait_for_request(base: &str) -> Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(r) = client.get(format!("{base}/metrics")).send().await
            && let Ok(text) = r.text().await
        {
            let admitted = text
                .lines()
                .find_map(|l| l.strip_prefix("codexpc_generations_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if admitted >= 1 {
                return Ok(());
            }
        }
        ensure!(
            Instant::now() < deadline,
            "Codex's model request never reached codexpc"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_codex_turn_fails_clearly_when_codexpc_is_killed_mid_stream() -> Result<()> {
    let kills = count_from_env("CODEXPC_CRASH_HTTP_KILLS", 3);
    let dir = tempfile::tempdir()?;
    let script = slow_script(dir.path())?;
    let opts = ServeOptions::new(&script);
    for kill in 1..=kills {
        let mut server = Serve::start(&opts)?;
        let home = CodexHomeBuilder::new(&format!("{}/v1", server.base_url))
            .approval_policy("never")
            .sandbox_mode("read-only")
            .build();
        let mut cmd = home.command(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "Reply slowly, please.",
        ]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut codex = cmd.spawn().context("spawn codex exec")?;
        let mut stdout = codex.stdout.take().context("stdout")?;
        let mut stderr = codex.stderr.take().context("stderr")?;
        let (tx, rx) = mpsc::channel::<(bool, String)>();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            let _ = tx.send((true, s));
        });
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = tx2.send((false, s));
        });
        if let Err(e) = wait_for_request(&server.base_url).await {
            let _ = codex.kill();
            bail!("kill {kill}: {e}; codexpc stderr: {}", server.stderr());
        }
        // The reply streams for ~12 s (600 tokens, 20 ms apart); this delay only picks how deep
        // into it the kill lands, a different point each round.
        tokio::time::sleep(Duration::from_millis(300 + 700 * kill as u64)).await;
        server.kill9()?;
        let killed_at = Instant::now();
        let (mut out, mut err) = (None, None);
        while out.is_none() || err.is_none() {
            match rx.recv_timeout(DEADLINE.saturating_sub(killed_at.elapsed())) {
                Ok((true, s)) => out = Some(s),
                Ok((false, s)) => err = Some(s),
                Err(_) => {
                    let _ = codex.kill();
                    bail!("kill {kill}: codex exec hung for {DEADLINE:?} after codexpc died");
                }
            }
        }
        let status = codex.wait()?;
        let waited = killed_at.elapsed();
        let events: Vec<Value> = out
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let failure = events
            .iter()
            .rev()
            .find(|e| e["type"] == "turn.failed" || e["type"] == "error")
            .map(|e| {
                e["error"]["message"]
                    .as_str()
                    .or_else(|| e["message"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default();
        ensure!(
            !status.success(),
            "kill {kill}: codex exec succeeded although its model died: {events:?}"
        );
        ensure!(
            !events.iter().any(|e| e["type"] == "turn.completed"),
            "kill {kill}: {events:?}"
        );
        ensure!(
            failure.contains("stream")
                || failure.contains("disconnected")
                || failure.contains("error sending request"),
            "kill {kill}: no clear failure message; events: {events:#?}; stderr: {}",
            err.unwrap_or_default()
        );
        println!(
            "http kill {kill} (real codex exec): exit {:?} after {} ms, turn failed: {failure}",
            status.code(),
            waited.as_millis()
        );
    }
    println!("http crash loop: {kills} kills, {kills} clean Codex failures, 0 hangs");
    Ok(())
}
