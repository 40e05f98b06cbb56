//! Durable cross-process resume by thread id: a thread made by one app-server process is found
//! on disk by its id and continued by another process (`codex exec resume <ID>`); and the session
//! index over the rollouts the real CLI wrote, reopened from disk, finds it by text and cwd and
//! follows the resumed turn.

use anyhow::{Context, Result};
use codex_client::app_server::AppServerBuilder;
use codex_client::exec::ExecBuilder;
use codex_client::session_index::{CwdFilter, SessionIndex, SessionQuery};
use codex_client::sessions::find_rollout;
use codex_client::{CodexBinary, CodexHome, CodexVersion};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};

use super::common::{Client, WAIT};

/// A stdio app-server process on `home`.
async fn app_server(home: &TempCodexHome) -> Result<Client> {
    Ok(Client::new(
        AppServerBuilder::new(test_support::codex_bin(), home.path())
            .envs(home.env())
            .current_dir(home.workdir())
            .request_timeout(WAIT)
            .spawn()
            .await?,
    ))
}

#[tokio::test]
async fn a_thread_is_found_by_id_and_resumed_by_another_process() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("noted: the code word is heron"));
    fake.enqueue(ScriptedResponse::new().text("it was heron"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();

    // Process 1: an app-server that starts the thread, runs a turn and goes away.
    let mut first = app_server(&home).await?;
    let thread = first.start_thread(&home).await?;
    first.run_turn(&thread, "the code word is heron").await?;
    first.server.shutdown().await?;

    let found = find_rollout(home.path(), &thread).context("rollout by thread id")?;
    assert!(!found.archived);
    assert!(
        found.path.starts_with(home.path().join("sessions")),
        "{found:?}"
    );
    let first_line = std::fs::read_to_string(&found.path)?
        .lines()
        .next()
        .map(str::to_owned)
        .context("non-empty rollout")?;
    assert!(first_line.contains(&thread), "{first_line}");
    assert_eq!(
        find_rollout(home.path(), "01900000-0000-7000-8000-000000000000"),
        None
    );

    // Process 2: `codex exec resume <ID>` continues the same conversation.
    let out = home
        .command(&[
            "exec",
            "--json",
            "resume",
            &thread,
            "what was the code word?",
        ])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("it was heron"), "{stdout}");
    let requests = fake.wait_for_responses_requests(2, WAIT);
    let history = serde_json::to_string(requests[1].input())?;
    assert!(history.contains("the code word is heron"), "{history}");
    // Resume appends to the same file.
    let text = std::fs::read_to_string(&found.path)?;
    assert!(
        text.contains("what was the code word?"),
        "appended to {found:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_index_finds_a_real_thread_by_text_and_another_process_resumes_it() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("noted: the password is osprey"));
    fake.enqueue(ScriptedResponse::new().text("the password was osprey"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let db = home
        .path()
        .parent()
        .context("root")?
        .join("index/sessions.sqlite");

    // Process 1 makes a thread and goes away.
    let mut first = app_server(&home).await?;
    let thread = first.start_thread(&home).await?;
    first
        .run_turn(&thread, "remember the password osprey")
        .await?;
    first.server.shutdown().await?;

    // Index what the real CLI wrote; then drop the index (a host process that ends).
    {
        let mut index = SessionIndex::open(home.path(), &db)?;
        let stats = index.refresh()?;
        assert_eq!(
            (stats.files_read, stats.sessions, stats.bad_lines),
            (1, 1, 0),
            "{stats:?}"
        );
    }

    // Another host process: the index reopened from disk, nothing left to read.
    let mut index = SessionIndex::open(home.path(), &db)?;
    assert_eq!(index.refresh()?.files_read, 0);
    let workdir = home.workdir().display().to_string();
    let page = index.list(&SessionQuery {
        text: Some("osprey".into()),
        cwd: Some(CwdFilter::Exact(workdir.clone())),
        ..SessionQuery::default()
    })?;
    let [found] = page.sessions.as_slice() else {
        anyhow::bail!("expected one hit: {page:?}");
    };
    assert_eq!(found.thread_id, thread);
    assert_eq!(found.cwd.as_deref(), Some(workdir.as_str()));
    assert_eq!(
        found.first_prompt.as_deref(),
        Some("remember the password osprey")
    );
    assert_eq!(found.prompt_count, 1);
    assert_eq!(found.model_provider.as_deref(), Some("local"), "{found:?}");
    assert_eq!(found.model.as_deref(), Some("gpt-oss-20b"), "{found:?}");
    assert_eq!(
        found.last_agent_message.as_deref(),
        Some("noted: the password is osprey")
    );
    assert!(!found.archived);
    assert_eq!(
        Some(found.path.clone()),
        find_rollout(home.path(), &thread).map(|l| l.path)
    );

    // ...resumes it by id in a new Codex process, through the library's exec builder.
    let binary = CodexBinary::with_version(test_support::codex_bin(), CodexVersion::pinned());
    let outcome = ExecBuilder::new(&binary, &CodexHome::new(home.path()))
        .envs(home.env())
        .current_dir(home.workdir())
        .prompt("what was the password?")
        .resume(found.thread_id.clone())
        .spawn()
        .await?
        .wait()
        .await?;
    assert_eq!(outcome.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(
        outcome.last_agent_message.as_deref(),
        Some("the password was osprey")
    );
    // The next model request carried the earlier conversation.
    let requests = fake.wait_for_responses_requests(2, WAIT);
    let history = serde_json::to_string(requests[1].input())?;
    assert!(
        history.contains("remember the password osprey"),
        "{history}"
    );

    // The index follows the appended turn incrementally.
    let stats = index.refresh()?;
    assert_eq!((stats.files_read, stats.sessions), (1, 1), "{stats:?}");
    let after = index.get(&thread)?.context("still indexed")?;
    assert_eq!(after.prompt_count, 2, "{after:?}");
    assert!(after.updated_ms >= found.updated_ms);
    let again = index.list(&SessionQuery {
        text: Some("what was the password".into()),
        ..SessionQuery::default()
    })?;
    assert_eq!(again.sessions.len(), 1);
    assert_eq!(again.sessions[0].thread_id, thread);
    Ok(())
}
