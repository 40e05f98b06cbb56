//! `orbitdock attach` end to end: a hub serving its shared Codex runtime (the REAL pinned
//! `codex app-server --listen unix://…`, supervised by the hub), and the REAL `orbitdock attach`
//! in a pseudo-terminal exec'ing the REAL pinned TUI onto the session's thread. A message typed
//! in the TUI becomes a turn of the hub's session (REST); a message sent through the hub appears
//! on the TUI's screen; one thread, one conversation, no "active writer" error anywhere. Also the
//! runtime's claims: a 0700 socket directory, a 0600 socket, nothing left after shutdown.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codex_client::tui::{TuiBuilder, trust_project};
use orbitdock_client::{Client, ItemsQuery};
use orbitdock_protocol::{CreateSessionRequest, ItemBody, TranscriptItem};
use orbitdock_server::data_dir;
use orbitdock_server::{CodexRuntime, DiscoveryOptions};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse};

use super::codex::Hub;

const WAIT: Duration = Duration::from_secs(60);

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("stat {}", path.display()))?
        .permissions()
        .mode()
        & 0o777)
}

/// The whole transcript (these sessions stay far below one page).
async fn items(c: &Client, id: &str) -> Result<Vec<TranscriptItem>> {
    let first_page = ItemsQuery {
        limit: Some(1000),
        after: Some(0),
        ..Default::default()
    };
    Ok(c.items(id, first_page).await?.items)
}

/// Polls the session's transcript until `pred` holds for one item (bounded by [`WAIT`]).
async fn wait_item(
    c: &Client,
    id: &str,
    what: &str,
    pred: impl Fn(&ItemBody) -> bool,
) -> Result<TranscriptItem> {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = items(c, id).await?;
        if let Some(i) = all.iter().find(|i| pred(&i.body)) {
            return Ok(i.clone());
        }
        if Instant::now() > deadline {
            bail!("no {what} in session {id}: {all:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn agent_says(text: &'static str) -> impl Fn(&ItemBody) -> bool {
    move |b| matches!(b, ItemBody::AgentMessage { text: t, .. } if t == text)
}

fn user_says(text: &'static str) -> impl Fn(&ItemBody) -> bool {
    move |b| matches!(b, ItemBody::UserMessage { text: t } if t == text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_and_the_hub_drive_one_live_thread_through_the_shared_runtime() -> Result<()> {
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    // The socket goes where `orbitdock serve` puts it, under the hub's data dir.
    let mut hub = Hub::start_with_runtime(
        &home,
        DiscoveryOptions {
            watch_codex: false,
            ..Default::default()
        },
        |data| CodexRuntime::SharedSocket {
            socket: data_dir::codex_runtime_socket(data),
        },
    )
    .await?;
    let socket = data_dir::codex_runtime_socket(hub.data.path());
    let c = Client::discover(hub.data.path())?;

    // A session the hub starts, with a first turn.
    fake.enqueue(ScriptedResponse::new().text("hub turn answered"));
    let created = c
        .create_session(&CreateSessionRequest {
            cwd: home.workdir().display().to_string(),
            ..Default::default()
        })
        .await?;
    let id = created.summary.id.clone();
    c.send_text(&id, "from the hub").await?;
    wait_item(&c, &id, "the hub's answer", agent_says("hub turn answered")).await?;

    // The runtime is private: its directory 0700, the socket Codex creates behind the path 0600.
    let listener_pid = hub
        .server()
        .registry
        .connector()
        .agent_pid()
        .context("the runtime's pid")?;
    assert_eq!(mode(socket.parent().context("socket dir")?)?, 0o700);
    assert_eq!(mode(&socket)?, 0o600, "{}", socket.display());

    // `orbitdock attach --print` names the TUI command without running it.
    let printed = super::orbitdock()
        .arg("--data-dir")
        .arg(hub.data.path())
        .args(["attach", "--print", &id])
        .output()?;
    let printed = String::from_utf8_lossy(&printed.stdout).into_owned();
    let thread = c
        .get_session(&id)
        .await?
        .summary
        .thread_id
        .context("thread id")?;
    assert!(
        printed.contains(&format!("--remote unix://{}", socket.display()))
            && printed.contains(" resume ")
            && printed.trim_end().ends_with(&thread),
        "{printed}"
    );

    // The real `orbitdock attach` in a pseudo-terminal: it execs the pinned TUI.
    trust_project(home.path(), home.workdir())?;
    let mut tui = TuiBuilder::new(env!("CARGO_BIN_EXE_orbitdock"), home.path())
        .allow_daemon(true)
        .envs(home.env())
        .arg("--data-dir")
        .arg(hub.data.path())
        .arg("attach")
        .arg(&id)
        .spawn()
        .await?;
    tui.wait_for_text("hub turn answered", WAIT).await?;

    // Typed in the terminal: a turn of the hub's session. (The TUI may also ask the model for
    // a title, concurrently; the fake answers those without consuming a script.)
    fake.answer_title_requests("a title");
    fake.enqueue(ScriptedResponse::new().text("terminal turn answered"));
    tui.submit("from the terminal").await?;
    tui.wait_for_text("terminal turn answered", WAIT).await?;
    wait_item(
        &c,
        &id,
        "the terminal's prompt",
        user_says("from the terminal"),
    )
    .await?;
    wait_item(
        &c,
        &id,
        "the terminal's answer",
        agent_says("terminal turn answered"),
    )
    .await?;
    // One conversation: the terminal's model request carried the hub's turn.
    let request = fake
        .responses_requests()
        .into_iter()
        .find(|r| r.last_user_text().as_deref() == Some("from the terminal"))
        .context("the terminal's turn reached the model")?;
    let history = serde_json::to_string(request.input())?;
    assert!(history.contains("from the hub"), "{history}");

    // Sent through the hub: on the terminal's screen.
    fake.enqueue(ScriptedResponse::new().text("hub again, seen in the terminal"));
    c.send_text(&id, "hub speaks").await?;
    tui.wait_for_text("hub again, seen in the terminal", WAIT)
        .await?;
    wait_item(
        &c,
        &id,
        "the hub's second answer",
        agent_says("hub again, seen in the terminal"),
    )
    .await?;

    // Same thread throughout, and nobody was refused as a second writer.
    let state = c.get_session(&id).await?;
    assert_eq!(state.summary.thread_id.as_deref(), Some(thread.as_str()));
    let screen = tui.screen().text();
    let transcript = serde_json::to_string(&items(&c, &id).await?)?;
    for text in [&screen, &transcript] {
        assert!(!text.contains("active writer"), "{text}");
    }

    tui.kill(Duration::from_millis(500)).await?;

    hub.server.take().context("server")?.shutdown().await;
    // Nothing left behind: the listener process is gone, and so is the socket path.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{listener_pid}")).exists() {
        if Instant::now() > deadline {
            bail!("the runtime's process {listener_pid} outlived the hub");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        std::fs::symlink_metadata(&socket).is_err(),
        "{} left behind",
        socket.display()
    );
    Ok(())
}
