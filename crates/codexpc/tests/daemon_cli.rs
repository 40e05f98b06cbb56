//! The session socket as `codexpc serve` runs it (a real child process): `--socket`, `--config`
//! with `[tools]` (incl. the test-only forced call) and `[daemon]`, `codexpc health` and
//! `codexpc smoke` over the socket, and `GET /metrics` in Prometheus text with the daemon's
//! counters after the session.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};

const TIMEOUT: Duration = Duration::from_secs(30);

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn codexpc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_codexpc"));
    cmd.stdin(Stdio::null()).env("RUST_LOG", "warn");
    cmd
}

fn output(mut cmd: Command) -> Result<std::process::Output> {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    Ok(rx
        .recv_timeout(TIMEOUT)
        .context("codexpc did not exit in time")??)
}

#[test]
fn serve_socket_health_smoke_and_metrics() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("s.jsonl");
    std::fs::write(
        &script,
        concat!(
            r#"{"completion": "<|channel|>commentary to=functions.echo <|constrain|>json<|message|>{\"msg\":\"SMOKE-1\"}<|call|>", "match": "hi"}"#,
            "\n",
            r#"{"completion": "<|channel|>final<|message|>Echoed: SMOKE-1<|return|>", "match": "SMOKE-1"}"#,
        ),
    )?;
    let config = dir.path().join("codexpc.toml");
    std::fs::write(
        &config,
        "[tools]\nenabled = true\ndemo = true\nallow = [\"echo\"]\n\n[daemon]\nmax_sessions = 2\n",
    )?;
    let socket = dir.path().join("run/codexpc.sock");
    let log = dir.path().join("serve.log");
    let mut serve = codexpc();
    serve
        .env("RUST_LOG", "codexpc=info")
        .args(["--log-json", "serve", "--http", "127.0.0.1:0", "--script"])
        .arg(&script)
        .arg("--socket")
        .arg(&socket)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?);
    let mut child = KillOnDrop(serve.spawn()?);
    let stdout = child.0.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        for _ in 0..2 {
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(TIMEOUT).context("no URL printed")?;
    let base = first
        .trim()
        .strip_prefix("codexpc listening on ")
        .with_context(|| format!("{first:?}"))?
        .trim_end_matches("/v1")
        .to_owned();
    let second = rx.recv_timeout(TIMEOUT).context("no socket line")?;
    ensure!(
        second.trim() == format!("codexpc socket at {}", socket.display()),
        "{second:?}"
    );
    ensure!(std::fs::metadata(&socket)?.permissions().mode() & 0o777 == 0o600);

    // health over the socket (the default transport).
    let mut health = codexpc();
    health.arg("health").arg("--socket").arg(&socket);
    let out = output(health)?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    ensure!(h["engine"] == "scripted" && h["max_sessions"] == 2, "{h}");
    // A client that found the daemon by its socket learns where the Responses endpoint is.
    ensure!(h["base_url"] == format!("{base}/v1").as_str(), "{h}");
    ensure!(
        h["tools_enabled"] == true && h["tools_allowed"] == serde_json::json!(["echo"]),
        "{h}"
    );

    // smoke over the socket: the scripted model calls echo, the daemon runs it, then the final
    // text streams.
    let mut smoke = codexpc();
    smoke
        .args(["smoke", "--prompt", "hi"])
        .arg("--socket")
        .arg(&socket);
    let out = output(smoke)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "smoke failed: {stderr}");
    ensure!(
        String::from_utf8_lossy(&out.stdout) == "Echoed: SMOKE-1\n",
        "{:?}",
        out.stdout
    );
    ensure!(
        stderr.contains("tool_call.output") && stderr.contains("completed"),
        "{stderr}"
    );

    // Structured JSON logs: the tool call with its request id, tool name, duration, and the
    // session's token counts.
    let logs = std::fs::read_to_string(&log)?;
    let events: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    ensure!(
        !events.is_empty() && events.len() == logs.lines().count(),
        "non-JSON log lines:\n{logs}"
    );
    let tool = events
        .iter()
        .find(|e| e["fields"]["message"] == "session tool call")
        .with_context(|| format!("no tool log in:\n{logs}"))?;
    ensure!(
        tool["fields"]["tool"] == "echo" && tool["fields"]["req_id"] == "r1",
        "{tool}"
    );
    ensure!(tool["fields"]["duration_ms"].is_u64(), "{tool}");
    let done = events
        .iter()
        .find(|e| e["fields"]["message"] == "session completed")
        .with_context(|| format!("no completion log in:\n{logs}"))?;
    ensure!(done["fields"]["output"].as_u64().unwrap_or(0) > 0, "{done}");

    // A second daemon on the same socket is refused with a clear error; the first keeps going.
    let mut again = codexpc();
    again
        .args(["serve", "--http", "127.0.0.1:0", "--script"])
        .arg(&script)
        .arg("--socket")
        .arg(&socket);
    let out = output(again)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && stderr.contains("already listening"),
        "{stderr}"
    );

    // /metrics: service and daemon counters in Prometheus text.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let text = rt.block_on(async {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()?
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await
    })?;
    for needle in [
        "# TYPE codexpc_tokens_out_total counter",
        "codexpc_tool_calls_total 1",
        "codexpc_socket_sessions_total 1",
        "codexpc_generations_completed_total 2",
    ] {
        ensure!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    Ok(())
}
