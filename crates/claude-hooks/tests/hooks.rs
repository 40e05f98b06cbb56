//! Payload parsing for every Claude Code hook event, settings install/uninstall, the spool under
//! concurrency and with a torn line, and the forwarding client against a real loopback socket.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use anyhow::Result;
use claude_hooks::{
    Delivery, HookEvent, HookPayload, Spool, forward, install, installed_events, uninstall,
};
use serde_json::{Value, json};

/// One payload per event, shaped like Claude Code's hooks reference.
fn documented_payloads() -> Vec<Value> {
    let common = |ev: &str| {
        json!({
            "session_id": "abc-123",
            "transcript_path": "/home/u/.claude/projects/-w/abc-123.jsonl",
            "cwd": "/w",
            "permission_mode": "default",
            "hook_event_name": ev,
        })
    };
    let with = |ev: &str, extra: Value| {
        let mut v = common(ev);
        for (k, x) in extra.as_object().cloned().unwrap_or_default() {
            v[k] = x;
        }
        v
    };
    vec![
        with(
            "SessionStart",
            json!({"source": "startup", "model": "claude-sonnet-4-5"}),
        ),
        with("UserPromptSubmit", json!({"prompt": "fix the tests ✓"})),
        with(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_input": {"command": "cargo test", "description": "run"}, "tool_use_id": "toolu_1"}),
        ),
        with(
            "PostToolUse",
            json!({"tool_name": "Write", "tool_input": {"file_path": "/w/a.txt", "content": "hi"}, "tool_response": {"filePath": "/w/a.txt", "success": true}, "tool_use_id": "toolu_2"}),
        ),
        with(
            "Notification",
            json!({"message": "Claude needs your permission to use Bash", "notification_type": "permission_prompt"}),
        ),
        with("Stop", json!({"stop_hook_active": false})),
        with(
            "SubagentStop",
            json!({"stop_hook_active": false, "agent_id": "a1", "agent_transcript_path": "/t/a1.jsonl"}),
        ),
        with(
            "PreCompact",
            json!({"trigger": "manual", "custom_instructions": "keep the plan"}),
        ),
        with("SessionEnd", json!({"reason": "prompt_input_exit"})),
    ]
}

#[test]
fn every_documented_event_parses() -> Result<()> {
    let payloads = documented_payloads();
    let events: Vec<HookEvent> = payloads
        .iter()
        .map(|p| HookPayload::parse(p.to_string().as_bytes()).map(|h| h.hook_event_name))
        .collect::<Result<_, _>>()?;
    assert_eq!(events, HookEvent::ALL.to_vec());

    let p = HookPayload::parse(payloads[2].to_string().as_bytes())?;
    assert_eq!(p.tool_name.as_deref(), Some("Bash"));
    assert_eq!(
        p.tool_input,
        Some(json!({"command": "cargo test", "description": "run"}))
    );
    assert_eq!(p.tool_use_id.as_deref(), Some("toolu_1"));
    let p = HookPayload::parse(payloads[0].to_string().as_bytes())?;
    assert_eq!(p.source.as_deref(), Some("startup"));
    assert_eq!(p.model_name().as_deref(), Some("claude-sonnet-4-5"));
    let p = HookPayload::parse(payloads[6].to_string().as_bytes())?;
    assert_eq!(
        p.extra.get("agent_id"),
        Some(&json!("a1")),
        "unknown fields kept"
    );
    let p = HookPayload::parse(payloads[8].to_string().as_bytes())?;
    assert_eq!(p.reason.as_deref(), Some("prompt_input_exit"));
    // Round trip keeps everything.
    let back: Value = serde_json::to_value(&p)?;
    assert_eq!(back, payloads[8]);

    // Unknown events and fields are tolerated; missing required fields and non-JSON are errors.
    let p =
        HookPayload::parse(br#"{"session_id":"s","hook_event_name":"PostToolBatch","batch":[1]}"#)?;
    assert_eq!(p.hook_event_name, HookEvent::Other("PostToolBatch".into()));
    assert!(HookPayload::parse(br#"{"hook_event_name":"Stop"}"#).is_err());
    assert!(HookPayload::parse(b"{nope").is_err());
    Ok(())
}

const FOREIGN: &str = r#"{
  "model": "opus",
  "permissions": {"allow": ["Bash(git log:*)"]},
  "hooks": {
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/guard.sh", "timeout": 5}]}
    ],
    "Stop": [
      {"hooks": [{"type": "command", "command": "say done"}]}
    ]
  },
  "statusLine": {"type": "command", "command": "status.sh"}
}
"#;

fn hooks_of(path: &Path) -> Result<Value> {
    Ok(serde_json::from_str::<Value>(&std::fs::read_to_string(path)?)?["hooks"].clone())
}

#[test]
fn install_and_uninstall_keep_foreign_hooks_and_are_idempotent() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = dir.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().expect("parent"))?;
    std::fs::write(&settings, FOREIGN)?;
    let cmd = claude_hooks::hook_command(
        Path::new("/opt/od/bin/orbitdock"),
        Path::new("/data/od dir"),
    );
    assert_eq!(
        cmd,
        "/opt/od/bin/orbitdock hook claude --data-dir '/data/od dir'"
    );

    let c1 = install(&settings, &cmd)?;
    assert_eq!((c1.added, c1.removed), (9, 0));
    let once = std::fs::read_to_string(&settings)?;
    let c2 = install(&settings, &cmd)?;
    assert_eq!(
        (c2.added, c2.removed),
        (9, 9),
        "ours replaced, not duplicated"
    );
    assert_eq!(
        std::fs::read_to_string(&settings)?,
        once,
        "install is idempotent"
    );

    let v: Value = serde_json::from_str(&once)?;
    // Unrelated keys untouched, in their order.
    // (serde_json::Value sorts keys, so check the order on the text.)
    let pos = |k: &str| once.find(&format!("\"{k}\"")).expect("key present");
    assert!(
        pos("model") < pos("permissions")
            && pos("permissions") < pos("hooks")
            && pos("hooks") < pos("statusLine"),
        "{once}"
    );
    assert_eq!(v["permissions"], json!({"allow": ["Bash(git log:*)"]}));
    let h = &v["hooks"];
    assert_eq!(
        h["PreToolUse"][0]["hooks"][0]["command"],
        "/usr/local/bin/guard.sh"
    );
    assert_eq!(h["PreToolUse"][1]["matcher"], "*");
    assert_eq!(
        h["PreToolUse"][1]["hooks"][0],
        json!({"type": "command", "command": cmd, "timeout": 10})
    );
    assert_eq!(h["Stop"][0]["hooks"][0]["command"], "say done");
    assert_eq!(h["Stop"][1]["hooks"][0]["command"], cmd);
    assert!(h["Stop"][1].get("matcher").is_none());
    let mut evs = installed_events(&settings)?;
    evs.sort();
    let mut all: Vec<String> = HookEvent::ALL
        .iter()
        .map(|e| e.as_str().to_owned())
        .collect();
    all.sort();
    assert_eq!(evs, all);

    // Uninstall removes only ours: the result equals the original hooks exactly.
    let u = uninstall(&settings)?;
    assert_eq!(u.removed, 9);
    assert_eq!(
        hooks_of(&settings)?,
        serde_json::from_str::<Value>(FOREIGN)?["hooks"]
    );
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&settings)?)?;
    assert_eq!(after, serde_json::from_str::<Value>(FOREIGN)?);
    let u2 = uninstall(&settings)?;
    assert_eq!(
        (u2.removed, u2.written),
        (0, false),
        "uninstall is idempotent"
    );

    // A user group that mixes our hook with theirs keeps theirs.
    std::fs::write(
        &settings,
        json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "mine.sh"}, {"type": "command", "command": cmd}]}]}}).to_string(),
    )?;
    uninstall(&settings)?;
    assert_eq!(
        hooks_of(&settings)?,
        json!({"Stop": [{"hooks": [{"type": "command", "command": "mine.sh"}]}]})
    );

    // No settings file: install creates one; a corrupt file is refused and left as it was.
    let fresh = dir.path().join("new/settings.json");
    install(&fresh, &cmd)?;
    assert_eq!(installed_events(&fresh)?.len(), 9);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json")?;
    assert!(install(&bad, &cmd).is_err());
    assert_eq!(std::fs::read_to_string(&bad)?, "{ not json");
    Ok(())
}

#[test]
fn concurrent_appends_and_drains_lose_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("spool.jsonl");
    const WRITERS: usize = 8;
    const EACH: usize = 150;
    let barrier = Arc::new(Barrier::new(WRITERS + 1));
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (path, barrier) = (path.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || -> Result<()> {
            let spool = Spool::at(path); // its own open file description per append, as a process
            barrier.wait();
            for i in 0..EACH {
                let pad = "x".repeat((i * 37) % 3000);
                spool.append(json!({"w": w, "i": i, "pad": pad}).to_string().as_bytes())?;
            }
            Ok(())
        }));
    }
    // A drainer runs concurrently with the writers.
    let spool = Spool::at(&path);
    let mut got: Vec<Value> = Vec::new();
    barrier.wait();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = handles.iter().all(|h| h.is_finished());
        let r = spool.drain(|lines| -> Result<(), ()> {
            for l in lines {
                got.push(serde_json::from_str(&l.text).expect("every drained line is whole JSON"));
            }
            Ok(())
        })?;
        assert!(r.is_ok());
        if done && got.len() >= WRITERS * EACH {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "drained {} of {}",
            got.len(),
            WRITERS * EACH
        );
        std::thread::yield_now();
    }
    for h in handles {
        h.join().expect("writer thread")?;
    }
    let mut seen: Vec<(u64, u64)> = got
        .iter()
        .map(|v| (v["w"].as_u64().expect("w"), v["i"].as_u64().expect("i")))
        .collect();
    seen.sort();
    let expected: Vec<(u64, u64)> = (0..WRITERS as u64)
        .flat_map(|w| (0..EACH as u64).map(move |i| (w, i)))
        .collect();
    assert_eq!(seen, expected, "every payload exactly once");
    // A failed persist leaves the spool untouched.
    spool.append(br#"{"late":1}"#)?;
    let r = spool.drain(|_| Err::<(), _>("db down"))?;
    assert_eq!(r, Err("db down"));
    let r = spool.drain(|lines| {
        assert_eq!(lines.len(), 1);
        Ok::<(), ()>(())
    })?;
    assert_eq!(r.map(|o| o.lines), Ok(1));
    Ok(())
}

#[test]
fn torn_last_line_is_kept_then_isolated() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let spool = Spool::at(dir.path().join("spool.jsonl"));
    spool.append(br#"{"a":1}"#)?;
    // A writer killed mid-line.
    std::fs::OpenOptions::new()
        .append(true)
        .open(spool.path())?
        .write_all(br#"{"torn":"#)?;
    let mut first = Vec::new();
    let r = spool.drain(|l| {
        first = l;
        Ok::<(), ()>(())
    })?;
    assert_eq!(r.map(|o| (o.lines, o.kept_tail_bytes)), Ok((1, 8)));
    assert_eq!(first[0].text, r#"{"a":1}"#);
    assert_eq!(
        std::fs::read(spool.path())?,
        br#"{"torn":"#,
        "torn tail kept for the next drain"
    );
    // The next append terminates the fragment instead of gluing onto it.
    spool.append(br#"{"b":2}"#)?;
    let mut second = Vec::new();
    spool
        .drain(|l| {
            second = l;
            Ok::<(), ()>(())
        })?
        .expect("drain");
    let texts: Vec<&str> = second.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, vec![r#"{"torn":"#, r#"{"b":2}"#]);
    Ok(())
}

/// (request head, body) seen by [`fake_server`].
type Received = (String, Vec<u8>);

/// A loopback server that answers each request with `status` after `delay`, reporting
/// (request head, body) on a channel.
fn fake_server(
    status: &'static str,
    delay: Duration,
) -> Result<(std::net::SocketAddr, mpsc::Receiver<Received>)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            let (head, body) = loop {
                let Ok(n) = s.read(&mut tmp) else {
                    break (String::new(), Vec::new());
                };
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&tmp[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < i + 4 + len {
                        let Ok(n) = s.read(&mut tmp) else { break };
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                    }
                    break (head, buf[i + 4..].to_vec());
                }
            };
            std::thread::sleep(delay);
            let _ =
                s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
            let _ = tx.send((head, body));
        }
    });
    Ok((addr, rx))
}

fn write_server_files(data_dir: &Path, addr: std::net::SocketAddr) -> Result<()> {
    std::fs::write(
        data_dir.join("server.json"),
        json!({"url": format!("http://{addr}"), "pid": 1}).to_string(),
    )?;
    std::fs::write(data_dir.join("token"), "tok123\n")?;
    Ok(())
}

#[test]
fn forward_delivers_when_up_and_spools_when_down_or_slow() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let payload = documented_payloads()[1].to_string();

    // No server.json at all: spooled.
    let d = forward(dir.path(), payload.as_bytes(), Duration::from_millis(50));
    assert!(matches!(d, Delivery::Spooled(_)), "{d:?}");

    // Server up: delivered with the token, within the budget.
    let (addr, rx) = fake_server("204 No Content", Duration::ZERO)?;
    write_server_files(dir.path(), addr)?;
    let t = Instant::now();
    let d = forward(dir.path(), payload.as_bytes(), Duration::from_millis(500));
    let took = t.elapsed();
    assert_eq!(d, Delivery::Delivered);
    let (head, body) = rx.recv_timeout(Duration::from_secs(5))?;
    assert!(
        head.starts_with("POST /api/hooks/claude HTTP/1.1"),
        "{head}"
    );
    assert!(head.contains("Authorization: Bearer tok123"), "{head}");
    assert_eq!(
        serde_json::from_slice::<Value>(&body)?,
        documented_payloads()[1]
    );
    eprintln!("delivered in {took:?}");

    // Server slow: the budget expires, the payload is spooled.
    let (addr, _rx) = fake_server("204 No Content", Duration::from_secs(2))?;
    write_server_files(dir.path(), addr)?;
    let t = Instant::now();
    let d = forward(dir.path(), payload.as_bytes(), Duration::from_millis(50));
    assert!(matches!(d, Delivery::Spooled(_)), "{d:?}");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "bounded by the budget: {:?}",
        t.elapsed()
    );

    // Server refuses (401): spooled, not dropped.
    let (addr, _rx) = fake_server("401 Unauthorized", Duration::ZERO)?;
    write_server_files(dir.path(), addr)?;
    let d = forward(dir.path(), payload.as_bytes(), Duration::from_millis(500));
    assert!(
        matches!(&d, Delivery::Spooled(why) if why.contains("401")),
        "{d:?}"
    );

    // Not JSON: spooled wrapped, so the drain sees one JSON object per line.
    let d = forward(dir.path(), b"{garbage", Duration::from_millis(50));
    assert!(matches!(d, Delivery::Spooled(_)));

    let mut lines = Vec::new();
    Spool::in_data_dir(dir.path())
        .drain(|l| {
            lines = l;
            Ok::<(), ()>(())
        })?
        .expect("drain");
    assert_eq!(lines.len(), 4);
    for l in &lines[..3] {
        assert_eq!(
            serde_json::from_str::<Value>(&l.text)?,
            documented_payloads()[1]
        );
    }
    let wrapped: Value = serde_json::from_str(&lines[3].text)?;
    assert_eq!(wrapped["orbitdock_invalid_payload"], "{garbage");
    Ok(())
}
