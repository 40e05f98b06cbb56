//! The real TUI in a pseudo-terminal: the trust screen, a prompt answered by the loopback model
//! on the parsed screen, a clean exit; and the TUI attached with `--remote unix://` to an
//! app-server the test runs, sharing a thread with a second client.

use std::time::Duration;

use anyhow::{Context, Result};
use codex_client::app_server::requests::{TurnStart, TurnStartParams};
use codex_client::app_server::{AppServerEvent, RemoteBuilder, ServerNotification, ThreadItem};
use codex_client::session_index::{SessionIndex, SessionQuery};
use codex_client::tui::{TuiBuilder, TuiSession};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};

use super::common::{Client, WAIT, socket_path, unix_listener};

fn tui(home: &TempCodexHome) -> TuiBuilder {
    TuiBuilder::new(test_support::codex_bin(), home.path())
        .envs(home.env())
        .size(40, 120)
}

/// A git repository the home does not trust yet.
fn untrusted_repo(home: &TempCodexHome) -> Result<std::path::PathBuf> {
    let dir = home.path().parent().context("root")?.join("untrusted");
    std::fs::create_dir_all(&dir)?;
    let ok = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&dir)
        .status()?
        .success();
    anyhow::ensure!(ok, "git init failed");
    Ok(dir.canonicalize()?)
}

#[tokio::test]
async fn an_untrusted_repo_shows_the_trust_screen_and_trust_cwd_skips_it() -> Result<()> {
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let repo = untrusted_repo(&home)?;

    let mut first = tui(&home).cwd(&repo).spawn().await?;
    let screen = first.wait_for_text("Trust this folder?", WAIT).await?;
    assert!(
        screen.contains("1. Trust and continue"),
        "{}",
        screen.text()
    );
    first.kill(Duration::from_millis(500)).await?;

    let mut second = tui(&home).cwd(&repo).trust_cwd(true).spawn().await?;
    let screen = second
        .wait_for_text("Ask Codex to do anything", WAIT)
        .await?;
    assert!(!screen.contains("Trust this folder?"), "{}", screen.text());
    let config = std::fs::read_to_string(home.path().join("config.toml"))?;
    assert!(
        config.contains(&format!("[projects.\"{}\"]", repo.display())),
        "{config}"
    );
    second.kill(Duration::from_millis(500)).await?;
    assert!(
        fake.responses_requests().is_empty(),
        "no model call was made"
    );
    Ok(())
}

#[tokio::test]
async fn the_tui_answers_a_prompt_from_the_loopback_model_and_exits_cleanly() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("Greetings from the loopback model"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let mut tui = tui(&home).cwd(home.workdir()).spawn().await?;
    tui.wait_for_text("Ask Codex to do anything", WAIT).await?;
    // The driver answered the start-up queries (the TUI waits for the cursor report).
    let raw = tui.output();
    assert!(
        raw.windows(4).any(|w| w == b"\x1b[6n"),
        "the TUI asked for the cursor"
    );

    tui.submit("please greet me").await?;
    let screen = tui
        .wait_for_text("Greetings from the loopback model", WAIT)
        .await?;
    assert!(screen.contains("please greet me"), "{}", screen.text());
    let requests = fake.wait_for_responses_requests(1, WAIT);
    assert_eq!(
        requests[0].last_user_text().as_deref(),
        Some("please greet me")
    );

    // Resize: the TUI redraws for the new width.
    tui.resize(30, 100).await?;
    tui.wait_until("redraw at 100 columns", WAIT, |s| {
        s.contains("Greetings from the loopback model") && s.rows.len() == 30
    })
    .await?;

    // Ctrl-C on an idle TUI quits, printing how to resume.
    let status = tui.quit(WAIT).await?;
    assert!(status.success(), "{status:?}");
    let text = String::from_utf8_lossy(&tui.output()).into_owned();
    assert!(text.contains("codex resume "), "exit message: {text}");

    // What the TUI wrote is found by the session index: the thread by its prompt, and the
    // prompt in `history.jsonl` under the same thread id.
    let db = home.path().parent().context("root")?.join("index.sqlite");
    let mut index = SessionIndex::open(home.path(), db)?;
    let stats = index.refresh()?;
    assert_eq!((stats.sessions, stats.bad_lines), (1, 0), "{stats:?}");
    let page = index.list(&SessionQuery {
        text: Some("greet".into()),
        ..SessionQuery::default()
    })?;
    let [thread] = page.sessions.as_slice() else {
        anyhow::bail!("one thread expected: {page:?}");
    };
    assert_eq!(thread.first_prompt.as_deref(), Some("please greet me"));
    assert!(
        text.contains(&thread.thread_id),
        "resume hint names it: {text}"
    );
    let history = index.history(None, Some("greet"), 10)?;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].session_id, thread.thread_id);
    assert_eq!(history[0].text, "please greet me");
    Ok(())
}

#[tokio::test]
async fn a_tui_attached_to_a_shared_app_server_drives_the_same_thread_as_another_client()
-> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("hub turn answered"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let path = socket_path(&home, "hub.sock");
    let mut server = unix_listener(&home, &path).await?;

    // The "hub": a client that starts the thread and runs its first turn.
    let mut hub = Client::new(
        RemoteBuilder::new(server.endpoint())
            .request_timeout(WAIT)
            .connect()
            .await?,
    );
    let thread = hub.start_thread(&home).await?;
    assert_eq!(
        hub.run_turn(&thread, "from the hub").await?.agent_text,
        "hub turn answered"
    );

    // The terminal: the real TUI resuming that thread through the same app-server.
    let mut tui = tui(&home)
        .cwd(home.workdir())
        .remote(format!("unix://{}", path.display()))
        .session(TuiSession::Resume(thread.clone()))
        .spawn()
        .await?;
    // The resumed history shows on its screen.
    tui.wait_for_text("hub turn answered", WAIT).await?;
    // After a prompt typed in it, the TUI also asks the model for a task title; which of the two
    // requests comes first is not fixed, so both get the same scripted answer.
    fake.enqueue(ScriptedResponse::new().text("terminal turn answered"));
    fake.enqueue(ScriptedResponse::new().text("terminal turn answered"));
    tui.submit("from the terminal").await?;
    tui.wait_for_text("terminal turn answered", WAIT).await?;

    // The hub saw the terminal's turn on the same thread, with the typed text.
    let mut user_text = String::new();
    let mut agent_text = String::new();
    let t = thread.clone();
    hub.wait_for("the terminal's turn/completed", |ev| match ev {
        AppServerEvent::Notification(ServerNotification::ItemCompleted(i)) if i.thread_id == t => {
            match &i.item {
                ThreadItem::UserMessage { content, .. } => {
                    user_text = format!("{content:?}");
                }
                ThreadItem::AgentMessage { text, .. } => agent_text = text.clone(),
                _ => {}
            }
            None
        }
        AppServerEvent::Notification(ServerNotification::TurnCompleted(c)) if c.thread_id == t => {
            Some(())
        }
        _ => None,
    })
    .await?;
    assert!(user_text.contains("from the terminal"), "{user_text}");
    assert_eq!(agent_text, "terminal turn answered");
    let turn_request = fake
        .responses_requests()
        .into_iter()
        .find(|r| r.last_user_text().as_deref() == Some("from the terminal"))
        .context("the terminal's turn reached the model")?;
    let history = serde_json::to_string(turn_request.input())?;
    assert!(
        history.contains("from the hub"),
        "one conversation: {history}"
    );

    // And a turn the hub starts shows on the terminal's screen.
    fake.enqueue(ScriptedResponse::new().text("hub again, seen in the terminal"));
    fake.enqueue(ScriptedResponse::new().text("hub again, seen in the terminal"));
    hub.server
        .call::<TurnStart>(TurnStartParams::text(&thread, "hub speaks"))
        .await?;
    tui.wait_for_text("hub again, seen in the terminal", WAIT)
        .await?;

    tui.kill(Duration::from_millis(500)).await?;
    hub.server.shutdown().await?;
    server.stop().await?;
    Ok(())
}
