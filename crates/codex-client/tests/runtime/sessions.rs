//! Durable cross-process resume by thread id: a thread made by one app-server process is found
//! on disk by its id and continued by another process (`codex exec resume <ID>`).

use anyhow::{Context, Result};
use codex_client::app_server::AppServerBuilder;
use codex_client::sessions::find_rollout;
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse};

use super::common::{Client, WAIT};

#[tokio::test]
async fn a_thread_is_found_by_id_and_resumed_by_another_process() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().text("noted: the code word is heron"));
    fake.enqueue(ScriptedResponse::new().text("it was heron"));
    let home = CodexHomeBuilder::new(&fake.base_url()).build();

    // Process 1: an app-server that starts the thread, runs a turn and goes away.
    let mut first = Client::new(
        AppServerBuilder::new(test_support::codex_bin(), home.path())
            .envs(home.env())
            .current_dir(home.workdir())
            .request_timeout(WAIT)
            .spawn()
            .await?,
    );
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
