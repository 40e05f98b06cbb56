//! `orbitdock hook claude` and `orbitdock hooks install|uninstall claude` as real processes:
//! exit 0 with nothing on stdout, spool when no server runs (several processes at once lose
//! nothing), deliver to a listening server, and settings edits that keep foreign hooks. Also the
//! client subcommands (`sessions`, `show`, `send`, `approve`, `prune`) against a real
//! `orbitdock serve`.
//! [`codex`]: the same for Codex hooks, with the pinned Codex running them. [`attach`]: `orbitdock
//! attach` running the pinned TUI on a hub session through the shared Codex runtime. [`hosts`]:
//! `orbitdock host serve` and `orbitdock hosts …` against a real Codex WebSocket listener.

#[path = "hook_cli/attach.rs"]
mod attach;
#[path = "hook_cli/codex.rs"]
mod codex;
#[path = "hook_cli/hosts.rs"]
mod hosts;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

fn orbitdock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orbitdock"))
}

/// Runs `orbitdock --data-dir D hook claude` with `payload` on stdin; returns (exit code, stdout).
fn hook(data_dir: &Path, payload: &str) -> Result<(Option<i32>, Vec<u8>)> {
    let mut child = orbitdock()
        .arg("--data-dir")
        .arg(data_dir)
        .args(["hook", "claude"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(payload.as_bytes())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait()? {
            let mut out = Vec::new();
            child
                .stdout
                .take()
                .context("stdout")?
                .read_to_end(&mut out)?;
            return Ok((status.code(), out));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            anyhow::bail!("hook did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(5)); // poll-with-timeout on process exit
    }
}

fn payload(i: usize) -> String {
    json!({
        "session_id": "claude-s1",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": "/w",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": format!("echo {i}")},
        "tool_use_id": format!("toolu_{i}"),
    })
    .to_string()
}

#[test]
fn hook_with_no_server_spools_from_many_processes_at_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let data = data.clone();
            std::thread::spawn(move || hook(&data, &payload(i)))
        })
        .collect();
    for h in handles {
        let (code, out) = h.join().expect("thread")?;
        assert_eq!(code, Some(0), "a hook always exits 0");
        assert!(
            out.is_empty(),
            "nothing on stdout: {}",
            String::from_utf8_lossy(&out)
        );
    }
    let mut got = Vec::new();
    claude_hooks::Spool::in_data_dir(&data)
        .drain(|lines| {
            got = lines;
            Ok::<(), ()>(())
        })?
        .expect("drain");
    let mut ids: Vec<String> = got
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(&l.text).expect("whole JSON line")["tool_use_id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    ids.sort();
    let mut want: Vec<String> = (0..8).map(|i| format!("toolu_{i}")).collect();
    want.sort();
    assert_eq!(ids, want);
    Ok(())
}

#[test]
fn hook_delivers_to_a_listening_server() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    std::fs::write(
        dir.path().join("server.json"),
        json!({"url": format!("http://{addr}"), "pid": 1}).to_string(),
    )?;
    std::fs::write(dir.path().join("token"), "t0k")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = Vec::new();
            let mut tmp = [0u8; 8192];
            // Read until the JSON body's closing brace has arrived.
            while !buf.ends_with(b"}") {
                match s.read(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            let _ = s.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        }
    });
    let (code, out) = hook(dir.path(), &payload(1))?;
    assert_eq!(code, Some(0));
    assert!(out.is_empty());
    let req = rx.recv_timeout(Duration::from_secs(10))?;
    assert!(req.starts_with("POST /api/hooks/claude "), "{req}");
    assert!(req.contains("Authorization: Bearer t0k"), "{req}");
    assert!(req.contains("\"toolu_1\""), "{req}");
    assert!(
        !claude_hooks::Spool::in_data_dir(dir.path()).path().exists(),
        "delivered payloads are not spooled"
    );
    Ok(())
}

#[test]
fn hooks_install_and_uninstall_claude_keep_foreign_hooks() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = dir.path().join("settings.json");
    let foreign = json!({"env": {"A": "1"}, "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}});
    std::fs::write(&settings, foreign.to_string())?;
    let run = |action: &str| -> Result<String> {
        let out = orbitdock()
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["hooks", action, "claude", "--settings"])
            .arg(&settings)
            .output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    run("install")?;
    let first = std::fs::read_to_string(&settings)?;
    run("install")?;
    assert_eq!(std::fs::read_to_string(&settings)?, first, "idempotent");
    let v: Value = serde_json::from_str(&first)?;
    assert_eq!(v["hooks"]["Stop"][0]["hooks"][0]["command"], "say done");
    let ours = v["hooks"]["Stop"][1]["hooks"][0]["command"]
        .as_str()
        .context("our Stop hook")?;
    assert!(ours.ends_with(&format!(
        "hook claude --data-dir {}",
        dir.path().join("data").display()
    )));
    assert!(run("status")?.contains("SessionStart"));
    run("uninstall")?;
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&settings)?)?;
    assert_eq!(after, foreign);
    Ok(())
}

/// `orbitdock serve` on a temp data dir with the pinned Codex; the client subcommands find it
/// through server.json and the token file.
#[test]
fn client_subcommands_talk_to_a_running_server() -> Result<()> {
    let data = tempfile::tempdir()?;
    let fake = test_support::FakeResponses::start();
    let home = test_support::CodexHomeBuilder::new(&fake.base_url()).build();

    // No server yet: a clear error, no token created behind the user's back.
    let out = orbitdock()
        .arg("--data-dir")
        .arg(data.path())
        .args(["sessions"])
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no running server found"), "{err}");

    let mut serve = orbitdock()
        .arg("--data-dir")
        .arg(data.path())
        .args(["serve", "--port", "0", "--no-watch"])
        .args([
            "--max-item-output-kib",
            "64",
            "--max-session-output-mib",
            "8",
        ])
        .args(["--max-total-output-mib", "512", "--codex-home"])
        .arg(home.path())
        .arg("--codex-bin")
        .arg(test_support::codex_bin())
        .envs(home.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| -> Result<()> {
        let info = data.path().join("server.json");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !info.exists() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "serve wrote no server.json in 60 s"
            );
            anyhow::ensure!(serve.try_wait()?.is_none(), "serve exited early");
            std::thread::sleep(Duration::from_millis(50)); // poll-with-deadline on a file
        }
        let run = |args: &[&str]| {
            orbitdock()
                .arg("--data-dir")
                .arg(data.path())
                .args(args)
                .output()
        };
        let out = run(&["sessions", "--json"])?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout)?;
        assert_eq!(v["sessions"], json!([]), "{v}");
        let out = run(&["sessions"])?;
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ID"));
        // Pruning: a dry run says what it would do; a bad duration is refused before sending.
        let out = run(&["prune", "--older-than", "30d", "--dry-run", "--json"])?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout)?;
        assert_eq!(
            (&v["dry_run"], &v["sessions"]),
            (&json!(true), &json!(0)),
            "{v}"
        );
        let out = run(&["prune", "--older-than", "1d12h"])?;
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.starts_with("deleted 0 sessions"),
            "{said}"
        );
        let out = run(&["prune", "--older-than", "soon"])?;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a duration"), "{err}");
        for args in [
            &["show", "nope"][..],
            &["send", "nope", "hi"],
            &["approve", "nope", "r1", "--decline"],
        ] {
            let out = run(args)?;
            assert!(!out.status.success(), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("404") && err.contains("not_found"),
                "{args:?}: {err}"
            );
        }
        Ok(())
    })();
    // SIGINT: the server's own shutdown path (removes server.json, stops app-server).
    let _ = Command::new("kill")
        .args(["-INT", &serve.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while serve.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = serve.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50)); // poll-with-deadline on process exit
    }
    let _ = serve.wait();
    result
}
