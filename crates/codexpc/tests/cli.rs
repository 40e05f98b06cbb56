//! The `codexpc` binary as a user runs it: `serve` prints its URL, `smoke` streams a reply from it,
//! bad arguments and bad scripts fail with clear messages.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

const TIMEOUT: Duration = Duration::from_secs(60);

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

/// Run to completion, bounded by TIMEOUT.
fn output(mut cmd: Command) -> Result<Output> {
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
fn serve_prints_url_and_smoke_streams_the_reply() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("demo.jsonl");
    std::fs::write(
        &script,
        r#"{"completion": "<|channel|>analysis<|message|>Greet back.<|end|><|start|>assistant<|channel|>final<|message|>Hello from codexpc!<|return|>", "match": "hello"}"#,
    )?;
    // Offline by construction: a fresh vocabulary cache (rebuilt from tiktoken-rs) and proxies
    // pointing at a dead port, so any attempt to download the vocabulary would fail.
    let cache = dir.path().join("cache");
    let mut serve = codexpc();
    serve
        .args(["serve", "--http", "127.0.0.1:0", "--script"])
        .arg(&script)
        .env("CODEXPC_CACHE_DIR", &cache)
        // The session socket goes to this test's own runtime dir.
        .env("XDG_RUNTIME_DIR", dir.path())
        .env(
            "TIKTOKEN_RS_CACHE_DIR",
            dir.path().join("tiktoken-rs-cache"),
        )
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = KillOnDrop(serve.spawn()?);
    let stdout = child.0.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let first = rx.recv_timeout(TIMEOUT).context("no URL printed")?;
    let base_url = first
        .trim()
        .strip_prefix("codexpc listening on ")
        .with_context(|| format!("first line: {first:?}"))?
        .to_owned();

    ensure!(
        cache.join("tiktoken/o200k_base.tiktoken").is_file(),
        "vocabulary not rebuilt into the fresh cache"
    );

    let mut smoke = codexpc();
    smoke.args(["smoke", "--base-url", &base_url, "--prompt", "hello there"]);
    let out = output(smoke)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "smoke failed: {stderr}");
    ensure!(stdout == "Hello from codexpc!\n", "stdout {stdout:?}");
    ensure!(
        stderr.contains("[reasoning] Greet back."),
        "stderr {stderr:?}"
    );
    ensure!(stderr.contains("\"input_tokens\""), "stderr {stderr:?}");

    // The script is used up: smoke reports the server's clear error and exits 1.
    let mut again = codexpc();
    again.args(["smoke", "--base-url", &base_url, "--prompt", "hello again"]);
    let out = output(again)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(1), "{:?}", out.status);
    ensure!(
        stderr.contains("no unused line matches this request"),
        "stderr {stderr:?}"
    );
    Ok(())
}

#[test]
fn bad_scripts_and_arguments_fail_clearly() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.jsonl");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"completion\": \"ok\"}\n{\"completion\": \"ok\", \"token_delay_ms\": \"slow\"}\n",
    )?;
    let cases: Vec<(Vec<String>, i32, String)> = vec![
        (
            vec![
                "serve".into(),
                "--script".into(),
                missing.display().to_string(),
            ],
            1,
            "reading the script".into(),
        ),
        (
            vec!["serve".into(), "--script".into(), bad.display().to_string()],
            1,
            "bad.jsonl:2:".into(),
        ),
        (
            vec![
                "serve".into(),
                "--script".into(),
                bad.display().to_string(),
                "--model".into(),
                "x.gguf".into(),
            ],
            2,
            "cannot be used with".into(),
        ),
        (vec!["serve".into()], 2, "required".into()),
        (
            vec![
                "serve".into(),
                "--model".into(),
                dir.path().join("nope.gguf").display().to_string(),
            ],
            1,
            "nope.gguf".into(),
        ),
        (
            vec![
                "serve".into(),
                "--engine".into(),
                "llama".into(),
                "--script".into(),
                bad.display().to_string(),
            ],
            1,
            "--engine llama does not match the engine source given (scripted)".into(),
        ),
        (
            // Nothing listens on port 1: the upstream probe fails with the reason.
            vec![
                "serve".into(),
                "--engine".into(),
                "openai-compat".into(),
                "--upstream".into(),
                "http://127.0.0.1:1".into(),
                "--no-socket".into(),
            ],
            1,
            "could not learn its model name".into(),
        ),
        (
            vec![
                "serve".into(),
                "--upstream".into(),
                "http://127.0.0.1:1".into(),
                "--upstream-api".into(),
                "tgi".into(),
            ],
            1,
            "unknown upstream API \"tgi\"".into(),
        ),
    ];
    for (args, code, needle) in cases {
        let mut cmd = codexpc();
        cmd.args(&args).args(["--http", "127.0.0.1:0"]);
        let out = output(cmd)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.code() == Some(code),
            "{args:?}: exit {:?}, stderr {stderr}",
            out.status
        );
        ensure!(
            stderr.contains(&needle),
            "{args:?}: {stderr:?} lacks {needle:?}"
        );
        ensure!(
            out.stdout.is_empty(),
            "{args:?}: nothing on stdout on failure"
        );
    }
    Ok(())
}
