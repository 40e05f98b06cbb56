//! The native session protocol over a real Unix socket (daemon in-process on a temp-dir socket,
//! scripted engine, real tool executor): handshake fields vs the Harmony encoding, the event order
//! of a forced tool call, a slow tool timing out while a second session keeps streaming, denial and
//! schema failures, cancel, busy, and bad input (unsupported version, oversize, malformed, 10,000
//! random lines) answered with the connection and daemon staying up. Socket mode and stale/live
//! socket handling too. Module `tools`: client-executed tools (round trip, schema failure,
//! timeout, the result in the next prompt) and an MCP server's tools through every gate.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use codexpc::client::{Client, text_of};
use codexpc::daemon::{Daemon, DaemonConfig, bind_socket};
use codexpc::engine::scripted::{ScriptLine, ScriptedEngine};
use codexpc::harmony::harmony;
use codexpc::render::RenderConfig;
use codexpc::service::{Service, ServiceConfig};
use codexpc::tools::mcp::McpServers;
use codexpc::tools::{ForcedToolCall, ToolExecutor, ToolRegistry, ToolsConfig};
use serde_json::{Value, json};

#[path = "daemon/tools.rs"]
mod tools;

const TIMEOUT: Duration = Duration::from_secs(20);

struct Running {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    daemon: Arc<Daemon>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn client(&self) -> Result<Client> {
        Ok(Client::connect(&self.socket, TIMEOUT).await?)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.abort();
    }
}

fn line(completion: &str, m: Option<&str>, delay: Option<u64>) -> ScriptLine {
    ScriptLine {
        completion: completion.into(),
        match_text: m.map(str::to_owned),
        token_delay_ms: delay,
    }
}

fn final_text(text: &str) -> String {
    format!(
        "<|channel|>analysis<|message|>thinking, never shown<|end|><|start|>assistant<|channel|>final<|message|>{text}<|return|>"
    )
}

async fn start(
    lines: Vec<ScriptLine>,
    tools: ToolsConfig,
    tweak: impl FnOnce(&mut DaemonConfig),
) -> Result<Running> {
    start_with(
        lines,
        ToolExecutor::new(ToolRegistry::builtin(), tools),
        tweak,
        Extras::default(),
    )
    .await
}

/// What some tests add to a daemon.
#[derive(Default)]
struct Extras {
    forced: Option<ForcedToolCall>,
    mcp: Option<McpServers>,
    /// `--dump-prompts` directory.
    dump_prompts: Option<PathBuf>,
}

async fn start_with(
    lines: Vec<ScriptLine>,
    tools: ToolExecutor,
    tweak: impl FnOnce(&mut DaemonConfig),
    extras: Extras,
) -> Result<Running> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("codexpc.sock");
    let engine = ScriptedEngine::from_lines("test-script", lines)?;
    let service = Arc::new(Service::new(
        Arc::new(engine),
        ServiceConfig {
            dump_prompts: extras.dump_prompts,
            ..ServiceConfig::default()
        },
    )?);
    let mut config = DaemonConfig::new(socket.clone());
    tweak(&mut config);
    let render = RenderConfig {
        conversation_date: Some("2026-11-22".into()),
    };
    let daemon = match (extras.forced, extras.mcp) {
        (Some(call), _) => Daemon::new_with_forced_tool_call(service, tools, render, config, call),
        (None, Some(mcp)) => Daemon::new_with_mcp(service, tools, render, config, mcp),
        (None, None) => Daemon::new(service, tools, render, config),
    };
    let listener = bind_socket(&socket).await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(daemon.clone().run(listener, async move {
        let _ = rx.await;
    }));
    Ok(Running {
        _dir: dir,
        socket,
        daemon,
        stop: Some(tx),
        task,
    })
}

fn tools_on(allow: &[&str]) -> ToolsConfig {
    ToolsConfig {
        enabled: true,
        allow: allow.iter().map(|s| (*s).to_owned()).collect(),
        timeout_ms: 300,
        ..ToolsConfig::default()
    }
}

fn kinds(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .map(|m| {
            let t = m["type"].as_str().unwrap_or("?").to_owned();
            match m["item"]["type"].as_str() {
                Some(it) => format!("{t}({it})"),
                None => t,
            }
        })
        .collect()
}

fn user(text: &str) -> Value {
    json!({"input": [{"type": "message", "role": "user", "content": text}]})
}

#[tokio::test]
async fn handshake_matches_the_harmony_encoding_and_socket_is_0600() -> Result<()> {
    let d = start(vec![], ToolsConfig::default(), |_| {}).await?;
    let mode = std::fs::metadata(&d.socket)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode");
    let mut c = d.client().await?;
    let hs = c.handshake().await?;
    let h = harmony()?;
    assert_eq!(hs["encoding_name"], json!(h.encoding().name()));
    assert_eq!(
        hs["stop_tokens_for_assistant_actions"],
        json!(h.assistant_stop_tokens())
    );
    for name in [
        "<|start|>",
        "<|end|>",
        "<|message|>",
        "<|channel|>",
        "<|return|>",
        "<|call|>",
    ] {
        let want = h.encode_with_special_tokens(name);
        assert_eq!(want.len(), 1, "{name} is one token");
        assert_eq!(hs["special_tokens"][name], json!(want[0]), "{name}");
    }
    assert_eq!(hs["proto_version"], json!(1));
    assert_eq!(hs["service"], json!("codexpc"));
    assert_eq!(hs["req_id"], json!("r1"));
    let health = c.health().await?;
    assert_eq!(health["engine"], json!("scripted"));
    assert_eq!(health["active_sessions"], json!(0));
    assert_eq!(health["tools_enabled"], json!(false));
    assert!(health["uptime_s"].is_u64());
    Ok(())
}

#[tokio::test]
async fn stale_socket_replaced_live_socket_refused() -> Result<()> {
    let d = start(vec![], ToolsConfig::default(), |_| {}).await?;
    // Live: a second bind on the same path fails with a clear error, the first keeps serving.
    let err = bind_socket(&d.socket)
        .await
        .err()
        .context("second bind must fail")?;
    assert!(err.to_string().contains("already listening"), "{err}");
    d.client().await?.health().await?;
    // Stale: a socket file nobody listens on is replaced.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path)?);
    assert!(path.exists());
    let _l = bind_socket(&path).await?;
    assert_eq!(
        std::fs::metadata(&path)?.permissions().mode() & 0o777,
        0o600
    );
    Ok(())
}

#[tokio::test]
async fn plain_session_streams_final_channel_only() -> Result<()> {
    let d = start(
        vec![line(&final_text("Hello there."), Some("hi"), None)],
        ToolsConfig::default(),
        |_| {},
    )
    .await?;
    let mut c = d.client().await?;
    let id = c.create(user("hi")).await?;
    let msgs = c.collect(&id).await?;
    let k = kinds(&msgs);
    assert_eq!(k.first().map(String::as_str), Some("created"), "{k:?}");
    assert_eq!(&k[k.len() - 2..], ["metrics", "completed"], "{k:?}");
    assert_eq!(text_of(&msgs), "Hello there.");
    assert!(
        !serde_json::to_string(&msgs)?.contains("never shown"),
        "analysis leaked"
    );
    assert!(msgs.iter().all(|m| m["req_id"] == json!(id)));
    let done = msgs.last().context("completed")?;
    assert!(done["token_usage"]["input"].as_u64().unwrap_or(0) > 0);
    assert!(done["token_usage"]["output"].as_u64().unwrap_or(0) > 0);
    assert!(
        done["response_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("resp_")
    );
    Ok(())
}

#[tokio::test]
async fn commentary_preamble_is_never_surfaced() -> Result<()> {
    let d = start(
        vec![line(
            "<|channel|>commentary<|message|>PREAMBLE-SECRET<|end|><|start|>assistant<|channel|>final<|message|>Only this.<|return|>",
            None,
            None,
        )],
        ToolsConfig::default(),
        |_| {},
    )
    .await?;
    let mut c = d.client().await?;
    let id = c.create(user("hi")).await?;
    let msgs = c.collect(&id).await?;
    assert_eq!(text_of(&msgs), "Only this.");
    assert!(
        !serde_json::to_string(&msgs)?.contains("PREAMBLE-SECRET"),
        "commentary leaked: {msgs:?}"
    );
    assert_eq!(
        msgs.last().map(|m| m["type"].clone()),
        Some(json!("completed"))
    );
    Ok(())
}

#[tokio::test]
async fn forced_tool_call_event_order() -> Result<()> {
    let d = start_with(
        vec![line(
            &final_text("tool said PING-42"),
            Some("PING-42"),
            None,
        )],
        ToolExecutor::new(ToolRegistry::builtin(), tools_on(&["echo", "upper"])),
        |_| {},
        Extras {
            forced: Some(ForcedToolCall {
                name: "upper".into(),
                arguments: r#"{"msg":"ping-42"}"#.into(),
            }),
            ..Extras::default()
        },
    )
    .await?;
    let mut c = d.client().await?;
    let id = c.create(user("use the tool")).await?;
    let msgs = c.collect(&id).await?;
    let k = kinds(&msgs);
    let first_delta = k
        .iter()
        .position(|s| s == "output_text.delta")
        .context("a delta")?;
    assert_eq!(
        &k[..first_delta],
        [
            "created",
            "output_item.done(tool_call)",
            "output_item.done(tool_call.output)"
        ],
        "{k:?}"
    );
    assert_eq!(&k[k.len() - 2..], ["metrics", "completed"], "{k:?}");
    let out = &msgs[2]["item"];
    assert_eq!(out["status"], json!("completed"));
    assert_eq!(out["output"], json!("PING-42"));
    assert_eq!(out["name"], json!("upper"));
    assert_eq!(out["call_id"], msgs[1]["item"]["call_id"]);
    assert_eq!(text_of(&msgs), "tool said PING-42");
    let metrics = &msgs[msgs.len() - 2];
    assert_eq!(metrics["tool_calls"], json!(1));
    assert!(d.daemon.prometheus().contains("codexpc_tool_calls_total 1"));
    Ok(())
}

fn sampled_call(tool: &str, args: &str) -> String {
    format!("<|channel|>commentary to=functions.{tool} <|constrain|>json<|message|>{args}<|call|>")
}

#[tokio::test]
async fn slow_tool_times_out_without_stalling_another_session() -> Result<()> {
    let d = start(
        vec![
            line(
                &sampled_call("sleep", r#"{"ms":10000}"#),
                Some("slow"),
                None,
            ),
            line(&final_text("fast answer"), Some("fast"), None),
            line(&final_text("gave up on sleep"), Some("timed out"), None),
        ],
        tools_on(&["sleep"]),
        |_| {},
    )
    .await?;
    let mut slow = d.client().await?;
    let mut fast = d.client().await?;
    let started = Instant::now();
    let slow_id = slow.create(user("slow please")).await?;
    // Wait until the slow session's tool is running, then run a second session meanwhile.
    loop {
        let m = slow.recv_for(&slow_id).await?;
        if m["item"]["type"] == json!("tool_call") {
            break;
        }
    }
    let fast_started = Instant::now();
    let fast_id = fast.create(user("fast please")).await?;
    let fast_msgs = fast.collect(&fast_id).await?;
    let fast_took = fast_started.elapsed();
    assert_eq!(text_of(&fast_msgs), "fast answer");
    assert_eq!(
        fast_msgs.last().map(|m| m["type"].clone()),
        Some(json!("completed"))
    );
    let rest = slow.collect(&slow_id).await?;
    let total = started.elapsed();
    let out = rest
        .iter()
        .find(|m| m["item"]["type"] == json!("tool_call.output"))
        .context("tool_call.output")?;
    assert_eq!(out["item"]["status"], json!("failed"));
    let text = out["item"]["output"].as_str().unwrap_or("");
    assert!(text.contains("timed out after 300 ms"), "{text}");
    assert_eq!(text_of(&rest), "gave up on sleep");
    assert!(
        total < Duration::from_secs(5),
        "slow session took {total:?}"
    );
    // The second session did not wait for the tool's timeout.
    assert!(
        fast_took < Duration::from_millis(300),
        "fast session took {fast_took:?}"
    );
    Ok(())
}

#[tokio::test]
async fn denied_and_invalid_tool_calls_fail_with_clear_output() -> Result<()> {
    let d = start(
        vec![
            line(
                &sampled_call("upper", r#"{"msg":"x"}"#),
                Some("deny me"),
                None,
            ),
            line(&final_text("ok, not allowed"), Some("allowlist"), None),
            line(
                &sampled_call("echo", r#"{"message":5}"#),
                Some("bad args"),
                None,
            ),
            line(&final_text("ok, bad args"), Some("msg"), None),
            line(
                &sampled_call("echo", r#"{"msg": oops"#),
                Some("broken json"),
                None,
            ),
            line(&final_text("ok, broken"), Some("JSON"), None),
        ],
        tools_on(&["echo"]),
        |_| {},
    )
    .await?;
    let mut c = d.client().await?;
    for (prompt, needle, answer) in [
        ("deny me", "not in the allowlist", "ok, not allowed"),
        ("bad args", "msg", "ok, bad args"),
        ("broken json", "JSON", "ok, broken"),
    ] {
        let id = c.create(user(prompt)).await?;
        let msgs = c.collect(&id).await?;
        let out = msgs
            .iter()
            .find(|m| m["item"]["type"] == json!("tool_call.output"))
            .with_context(|| format!("{prompt}: {msgs:?}"))?;
        assert_eq!(out["item"]["status"], json!("failed"), "{prompt}");
        let text = out["item"]["output"].as_str().unwrap_or("");
        assert!(text.contains(needle), "{prompt}: {text}");
        assert_eq!(text_of(&msgs), answer);
        assert_eq!(
            msgs.last().map(|m| m["type"].clone()),
            Some(json!("completed"))
        );
    }
    let health = c.health().await?;
    assert_eq!(health["counters"]["tool_failures"], json!(3));
    Ok(())
}

#[tokio::test]
async fn tools_disabled_by_default() -> Result<()> {
    let d = start(
        vec![
            line(
                &sampled_call("echo", r#"{"msg":"x"}"#),
                Some("call it"),
                None,
            ),
            line(&final_text("no tools here"), Some("disabled"), None),
        ],
        ToolsConfig::default(),
        |_| {},
    )
    .await?;
    let mut c = d.client().await?;
    let id = c.create(user("call it")).await?;
    let msgs = c.collect(&id).await?;
    let out = msgs
        .iter()
        .find(|m| m["item"]["type"] == json!("tool_call.output"))
        .context("tool_call.output")?;
    assert_eq!(out["item"]["status"], json!("failed"));
    assert_eq!(text_of(&msgs), "no tools here");
    Ok(())
}

#[tokio::test]
async fn cancel_stops_streaming() -> Result<()> {
    let long = "word ".repeat(400);
    let d = start(
        vec![line(&final_text(&long), None, Some(5))],
        ToolsConfig::default(),
        |_| {},
    )
    .await?;
    let mut c = d.client().await?;
    let id = c.create(user("go")).await?;
    loop {
        let m = c.recv_for(&id).await?;
        if m["type"] == json!("output_text.delta") {
            break;
        }
    }
    let t0 = Instant::now();
    c.cancel(&id).await?;
    let mut got_ok = false;
    let terminal = loop {
        let m = c.recv_for(&id).await?;
        match m["type"].as_str() {
            Some("cancel.ok") => got_ok = true,
            Some("output_text.delta") => {}
            _ => break m,
        }
    };
    let latency = t0.elapsed();
    assert!(got_ok, "cancel.ok before the terminal error");
    assert_eq!(terminal["type"], json!("error"), "{terminal}");
    assert_eq!(terminal["code"], json!("cancelled"));
    assert!(latency < Duration::from_secs(2), "cancel took {latency:?}");
    // Nothing else streams for it, and the connection is still usable.
    let h = c.health().await?;
    assert_eq!(h["active_sessions"], json!(0));
    assert_eq!(h["counters"]["cancels"], json!(1));
    // Cancelling a finished session is answered with not_found.
    c.cancel(&id).await?;
    let m = c.recv_for(&id).await?;
    assert_eq!(m["code"], json!("not_found"), "{m}");
    Ok(())
}

#[tokio::test]
async fn max_sessions_gives_busy() -> Result<()> {
    let long = "w ".repeat(2000);
    let d = start(
        vec![
            line(&final_text(&long), None, Some(2)),
            line(&final_text("later"), None, None),
        ],
        ToolsConfig::default(),
        |c| c.max_sessions = 1,
    )
    .await?;
    let mut c = d.client().await?;
    let a = c.create(user("first")).await?;
    assert_eq!(c.recv_for(&a).await?["type"], json!("created"));
    let b = c.create(user("second")).await?;
    let m = c.recv_for(&b).await?;
    assert_eq!(m["type"], json!("error"));
    assert_eq!(m["code"], json!("busy"), "{m}");
    c.cancel(&a).await?;
    let rest = c.collect(&a).await?;
    assert_eq!(
        rest.last().map(|m| m["code"].clone()),
        Some(json!("cancelled"))
    );
    Ok(())
}

async fn expect_error(c: &mut Client, code: &str) -> Result<Value> {
    let m = c.recv().await?.context("daemon closed the connection")?;
    assert_eq!(m["type"], json!("error"), "{m}");
    assert_eq!(m["code"], json!(code), "{m}");
    Ok(m)
}

#[tokio::test]
async fn bad_input_is_answered_and_connection_stays_usable() -> Result<()> {
    let d = start(vec![], ToolsConfig::default(), |c| {
        c.max_message_bytes = 64 * 1024
    })
    .await?;
    let mut c = d.client().await?;
    c.send_raw(
        b"{\"proto_version\":2,\"service\":\"codexpc\",\"req_id\":\"v2\",\"type\":\"health\"}\n",
    )
    .await?;
    let m = expect_error(&mut c, "unsupported_protocol").await?;
    assert_eq!(m["req_id"], json!("v2"));
    c.send_raw(b"{not json\n").await?;
    expect_error(&mut c, "bad_request").await?;
    c.send_raw(b"{\"proto_version\":1,\"service\":\"codexpc\",\"req_id\":\"x\",\"type\":\"create\",\"input\":5}\n").await?;
    let m = expect_error(&mut c, "bad_request").await?;
    assert!(m["message"].as_str().unwrap_or("").contains("input"), "{m}");
    assert_eq!(m["req_id"], json!("x"));
    // Oversize: 1 MiB line against a 64 KiB limit, written in pieces; one too_large reply.
    let big = vec![b'a'; 1024 * 1024];
    c.send_raw(&big).await?;
    c.send_raw(b"\n").await?;
    expect_error(&mut c, "too_large").await?;
    c.health().await?;
    Ok(())
}

#[tokio::test]
async fn ten_thousand_random_lines_then_health() -> Result<()> {
    let d = start(vec![], ToolsConfig::default(), |_| {}).await?;
    let mut c = d.client().await?;
    // A small deterministic PRNG (xorshift) so failures reproduce.
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let pieces: [&[u8]; 12] = [
        b"{",
        b"}",
        b"\"proto_version\":1",
        b"\"service\":\"codexpc\"",
        b"\"type\":\"create\"",
        b"\"req_id\":",
        b",",
        b"[",
        b"]",
        b"null",
        b"\"input\":[{\"role\":\"user\"}]",
        b"\xff\xfe",
    ];
    let mut payload = Vec::new();
    let mut nonblank = 0usize;
    for i in 0..10_000u32 {
        let mut l = Vec::new();
        if i % 2 == 0 {
            for _ in 0..(next() % 12) {
                l.extend_from_slice(pieces[(next() % 12) as usize]);
            }
        } else {
            for _ in 0..(next() % 64) {
                let b = (next() % 256) as u8;
                if b != b'\n' {
                    l.push(b);
                }
            }
        }
        if !l.iter().all(u8::is_ascii_whitespace) {
            nonblank += 1;
        }
        payload.extend_from_slice(&l);
        payload.push(b'\n');
    }
    // Write and read concurrently (the replies would otherwise fill the socket buffers and
    // block both sides).
    let stream = tokio::net::UnixStream::connect(&d.socket).await?;
    let (read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        write.write_all(&payload).await?;
        write
            .write_all(b"{\"proto_version\":1,\"service\":\"codexpc\",\"req_id\":\"final\",\"type\":\"health\"}\n")
            .await?;
        anyhow::Ok(write)
    });
    let mut lines = tokio::io::BufReader::new(read);
    let mut errors = 0usize;
    let health = tokio::time::timeout(TIMEOUT, async {
        use tokio::io::AsyncBufReadExt as _;
        loop {
            let mut l = String::new();
            anyhow::ensure!(
                lines.read_line(&mut l).await? > 0,
                "daemon closed the connection"
            );
            let m: Value = serde_json::from_str(&l)?;
            if m["req_id"] == json!("final") {
                return anyhow::Ok(m);
            }
            anyhow::ensure!(m["type"] == json!("error"), "random line accepted: {m}");
            errors += 1;
        }
    })
    .await
    .context("timed out reading replies")??;
    let _write = writer.await??;
    assert_eq!(errors, nonblank, "one error per non-blank line");
    assert_eq!(health["type"], json!("health.ok"), "{health}");
    let _ = c.health().await?;
    // And a fresh connection works too: the daemon is up.
    d.client().await?.health().await?;
    Ok(())
}

#[tokio::test]
async fn create_from_tokens_feeds_tokens_and_primes_final() -> Result<()> {
    let d = start(
        vec![
            line("Primed answer.<|return|>", None, None),
            line(&final_text("Unprimed answer."), None, None),
        ],
        ToolsConfig::default(),
        |_| {},
    )
    .await?;
    let h = harmony()?;
    let prompt = h.encode_with_special_tokens(
        "<|start|>user<|message|>Say something.<|end|><|start|>assistant",
    );
    let mut c = d.client().await?;
    c.send(
        "tok1",
        "create_from_tokens",
        json!({"prefill_tokens": prompt, "prime_final": true}),
    )
    .await?;
    let msgs = c.collect("tok1").await?;
    assert_eq!(text_of(&msgs), "Primed answer.", "{msgs:?}");
    let done = msgs.last().context("terminal")?;
    assert_eq!(done["type"], json!("completed"), "{done}");
    // The prompt is exactly the given tokens plus `<|channel|>final<|message|>` (3 tokens).
    assert_eq!(
        done["token_usage"]["input"],
        json!(prompt.len() + 3),
        "{done}"
    );
    c.send(
        "tok2",
        "create_from_tokens",
        json!({"prefill_tokens": prompt}),
    )
    .await?;
    let msgs = c.collect("tok2").await?;
    assert_eq!(text_of(&msgs), "Unprimed answer.", "{msgs:?}");
    assert_eq!(
        msgs.last().map(|m| m["token_usage"]["input"].clone()),
        Some(json!(prompt.len()))
    );
    Ok(())
}
