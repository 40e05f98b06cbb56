//! The local model as a provider, end to end: the real `orbitdock serve --local-model` binary
//! starts and supervises the real `codexpc serve` (llama.cpp engine, the tiny random-weight
//! gpt-oss GGUF whose greedy output is a fixed sentence), writes the `codexpc` provider into the
//! hub's Codex config through the REAL pinned Codex app-server, and a session created on that
//! provider streams the reply llama.cpp produced through Codex. Killing codexpc shows the
//! provider as down; the hub restarts it on the same port and the session's next message is
//! answered again.

#![allow(clippy::unwrap_used)]

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use orbitdock_protocol::{
    ItemBody, ItemsPage, ProviderState, ProviderStatus, ProvidersResponse, SessionDelta,
    SessionState, TextStream,
};
use serde_json::json;
use test_support::gguf::{FINAL_LOOP_TEXT, TinyVariant, tiny_gguf_path};
use test_support::{CodexHomeBuilder, FakeResponses};

use crate::common::{Rest, Ws, eventually, kill9, serve, target_bin};
use crate::shared_runtime::{alive, within};

async fn local_status(rest: &Rest) -> Result<ProviderStatus> {
    let p: ProvidersResponse = rest.get("/api/providers").await?;
    p.providers
        .into_iter()
        .find(|p| p.id == "codexpc")
        .context("no codexpc provider listed")
}

/// Kills a child process on drop (a failing test must not leak a daemon).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pid of the `codexpc` child of process `parent`.
fn codexpc_child(parent: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{parent}/task")).ok()?;
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "codexpc")
        })
}

/// The agent message of a turn, once complete.
async fn reply_after(rest: &Rest, id: &str, after_seq: u64) -> Result<(u64, String)> {
    eventually("the agent's reply", || async {
        let page: ItemsPage = rest
            .get(&format!("/api/sessions/{id}/items?after={after_seq}"))
            .await?;
        Ok(page.items.iter().find_map(|i| match &i.body {
            ItemBody::AgentMessage { text }
                if i.status == orbitdock_protocol::ItemStatus::Completed =>
            {
                Some((i.seq, text.clone()))
            }
            _ => None,
        }))
    })
    .await
}

/// Waits until the session's turn is over.
async fn idle(rest: &Rest, id: &str) -> Result<()> {
    eventually("the turn's end", || async {
        let st: SessionState = rest.get(&format!("/api/sessions/{id}")).await?;
        Ok(
            (st.summary.status == orbitdock_protocol::SessionStatus::Waiting
                && st.current_turn.is_none())
            .then_some(()),
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_session_streams_a_llama_reply_through_codex_and_survives_a_codexpc_crash()
-> Result<()> {
    let orbitdock = target_bin("orbitdock")?;
    let codexpc = target_bin("codexpc")?;
    let model = tiny_gguf_path(TinyVariant::FinalChannelLoopLongContext);
    // The home's own default provider points at a fake nobody scripts: every model request of
    // this test must go to codexpc.
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let data = tempfile::tempdir()?;
    let socket = data.path().join("codexpc.sock");
    let mut args: Vec<OsString> = vec![
        "--no-watch".into(),
        "--local-model".into(),
        model.into(),
        "--codexpc-bin".into(),
        codexpc.into(),
        "--codexpc-socket".into(),
        socket.into(),
    ];
    // Codex's first request is ~5.5k tokens; greedy, short answers keep the test fast.
    for a in [
        "--ctx=32768",
        "--slots=1",
        "--temperature=0",
        "--max-output-tokens=24",
    ] {
        args.push(format!("--codexpc-arg={a}").into());
    }
    let mut served = serve(&orbitdock, data.path(), &home, &args)?;
    let rest = served.rest();

    let up = eventually("the local provider up", || async {
        let p = local_status(&rest).await?;
        Ok((p.state == ProviderState::Up).then_some(p))
    })
    .await?;
    ensure!(up.context_size == Some(32_768), "{up:?}");
    ensure!(
        up.model.as_deref().is_some_and(|m| m.contains("tiny")),
        "{up:?}"
    );
    ensure!(up.busy == Some(0) && up.sessions == 0, "{up:?}");
    let config = std::fs::read_to_string(home.path().join("config.toml"))?;
    ensure!(
        config.contains("[model_providers.codexpc]") && config.contains("wire_api = \"responses\""),
        "the provider was written into Codex's config:\n{config}"
    );

    // A session on the local provider; its reply streams over the WebSocket.
    let mut ws = Ws::connect_with_token(&served.base, &served.token).await?;
    let st: SessionState = rest
        .post(
            "/api/sessions",
            &json!({"cwd": home.workdir(), "model_provider": "codexpc"}),
        )
        .await?;
    let id = st.summary.id.clone();
    ensure!(st.summary.model_provider.as_deref() == Some("codexpc"));
    ws.subscribe(&id, None).await?;
    let _: serde_json::Value = rest
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "Say hello."}),
        )
        .await?;
    let delta = ws
        .wait_delta("streamed agent text", &id, |d| {
            matches!(d, SessionDelta::ItemText { stream: TextStream::Text, delta, .. } if !delta.is_empty())
        })
        .await?;
    let SessionDelta::ItemText { delta: first, .. } = delta else {
        unreachable!()
    };
    ensure!(FINAL_LOOP_TEXT.starts_with(&first), "{first:?}");
    let (seq, text) = reply_after(&rest, &id, 0).await?;
    idle(&rest, &id).await?;
    ensure!(
        text.starts_with(FINAL_LOOP_TEXT),
        "llama.cpp's sentence: {text:?}"
    );
    ensure!(
        fake.requests().is_empty(),
        "nothing went to the default provider"
    );
    // Live state, from codexpc's /metrics (polled every second).
    let after = eventually("tokens/s measured from /metrics", || async {
        let p = local_status(&rest).await?;
        Ok(p.tokens_per_second.is_some_and(|t| t > 0.0).then_some(p))
    })
    .await?;
    ensure!(after.sessions == 1, "{after:?}");
    ensure!(data.path().join("logs/codexpc.log").is_file());

    // Kill codexpc: the provider is down, then back on its own.
    let pid = codexpc_child(served.child.id()).context("no codexpc child")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let down = eventually("the local provider down", || async {
        let p = local_status(&rest).await?;
        Ok((p.state == ProviderState::Down).then_some(p))
    })
    .await?;
    ensure!(
        down.detail.as_deref().is_some_and(|d| d.contains("exited")),
        "{down:?}"
    );
    eventually("the local provider back up", || async {
        let p = local_status(&rest).await?;
        Ok((p.state == ProviderState::Up).then_some(()))
    })
    .await?;
    let new_pid = codexpc_child(served.child.id()).context("no codexpc child after restart")?;
    ensure!(new_pid != pid);
    // The session continues on the restarted daemon (same URL, so Codex needs no new config).
    let _: serde_json::Value = rest
        .post(
            &format!("/api/sessions/{id}/messages"),
            &json!({"text": "Again, please."}),
        )
        .await?;
    let (_, again) = reply_after(&rest, &id, seq).await?;
    idle(&rest, &id).await?;
    ensure!(again.starts_with(FINAL_LOOP_TEXT), "{again:?}");

    // A hub killed outright takes the codexpc it started with it: codexpc leads its own process
    // group, so the SIGKILL to the hub's group does not reach it; only the parent-death signal
    // does.
    kill9(&mut served);
    let took = within(
        Duration::from_secs(10),
        "codexpc to end with its hub",
        || !alive(new_pid),
    )
    .await?;
    println!("local model: codexpc gone {took:?} after its hub was killed");
    Ok(())
}

/// A codexpc someone already runs (found on its socket) is used as it is, and left running when
/// the hub stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_codexpc_found_on_its_socket_is_used_and_left_running() -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("script.jsonl");
    let line = r#"{"completion": "<|channel|>final<|message|>Hello from the daemon you already run.<|return|>"}"#;
    std::fs::write(&script, format!("{line}\n{line}\n{line}\n"))?;
    let socket = dir.path().join("codexpc.sock");
    let codexpc = target_bin("codexpc")?;
    let mut daemon = Command::new(&codexpc)
        .args(["serve", "--http", "127.0.0.1:0", "--script"])
        .arg(&script)
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(KillOnDrop)?;
    let mut first = String::new();
    BufReader::new(daemon.0.stdout.take().context("stdout")?).read_line(&mut first)?;
    ensure!(first.starts_with("codexpc listening on "), "{first:?}");

    let h = crate::common::Harness::start().await?;
    let local = h.server.as_ref().unwrap().start_local_model(
        orbitdock_server::local_model::LocalModelConfig {
            codexpc_bin: codexpc,
            model_path: None,
            socket: Some(socket),
            log_dir: h.data.path().join("logs"),
            extra_args: Vec::new(),
        },
    );
    let rest = Rest::new(&h.base());
    let up = eventually("the running daemon used", || async {
        let p = local_status(&rest).await?;
        Ok((p.state == ProviderState::Up).then_some(p))
    })
    .await?;
    ensure!(
        up.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("scripted engine at ")),
        "{up:?}"
    );
    ensure!(local.child_pid().is_none(), "the hub started no codexpc");
    let st: SessionState = rest
        .post(
            "/api/sessions",
            &json!({"cwd": h.workdir(), "model_provider": "codexpc", "prompt": "hi"}),
        )
        .await?;
    let (_, text) = reply_after(&rest, &st.summary.id, 0).await?;
    ensure!(text == "Hello from the daemon you already run.", "{text:?}");
    h.shutdown().await;
    ensure!(
        daemon.0.try_wait()?.is_none(),
        "a daemon the hub did not start keeps running"
    );
    Ok(())
}

/// The settings route: a hub started without a model says so, refuses a path that is not an
/// absolute file, and serves a GGUF chosen later (`POST /api/providers/local`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_chosen_in_the_settings_is_started_and_served() -> Result<()> {
    let h = crate::common::Harness::start().await?;
    let dir = tempfile::tempdir()?;
    let local = h.server.as_ref().unwrap().start_local_model(
        orbitdock_server::local_model::LocalModelConfig {
            codexpc_bin: target_bin("codexpc")?,
            model_path: None,
            socket: Some(dir.path().join("codexpc.sock")),
            log_dir: h.data.path().join("logs"),
            extra_args: vec!["--ctx=4096".into(), "--slots=1".into()],
        },
    );
    let rest = Rest::new(&h.base());
    let idle = eventually("no local model yet", || async {
        let p = local_status(&rest).await?;
        Ok((p.state == ProviderState::Down).then_some(p))
    })
    .await?;
    ensure!(
        idle.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("No local model")),
        "{idle:?}"
    );
    let (status, body) = rest
        .post_raw(
            "/api/providers/local",
            &json!({"model_path": "relative/model.gguf"}),
        )
        .await?;
    ensure!(status == 400, "{status} {body}");
    let model = tiny_gguf_path(TinyVariant::FinalChannelLoop);
    let chosen: ProviderStatus = rest
        .post("/api/providers/local", &json!({"model_path": model}))
        .await?;
    ensure!(chosen.state == ProviderState::Starting, "{chosen:?}");
    let up = eventually("the chosen model served", || async {
        let p = local_status(&rest).await?;
        Ok((p.state == ProviderState::Up).then_some(p))
    })
    .await?;
    ensure!(
        up.model.as_deref() == Some("tiny-gpt-oss-final-channel-loop-v1"),
        "{up:?}"
    );
    ensure!(local.child_pid().is_some(), "the hub runs the daemon");
    h.shutdown().await;
    ensure!(local.child_pid().is_none(), "stopped with the hub");
    Ok(())
}
