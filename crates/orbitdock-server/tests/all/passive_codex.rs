//! Codex sessions started outside the server: `codex exec` from the REAL pinned
//! Codex CLI (loopback fake model) in the server's CODEX_HOME becomes a passive Codex session
//! over REST, with its first prompt, model, usage, status and transcript; a session the server
//! drives itself gets no passive twin; a restart keeps exactly one session per thread and
//! neither loses nor repeats an item.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::{Harness, TOKEN};
use orbitdock_protocol::{
    ItemBody, ItemsPage, Origin, Provider, SessionStatus, SessionSummary, SessionsResponse,
};
use orbitdock_server::store::CheckpointSource;
use orbitdock_server::{DiscoveryOptions, ServerConfig};
use serde_json::{Value, json};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};

/// Bound of every wait on the watcher (its debounce is 150 ms; a sweep every 10 s).
const WAIT: Duration = Duration::from_secs(20);
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

async fn boot(
    home: TempCodexHome,
    fake: FakeResponses,
    options: DiscoveryOptions,
) -> Result<Harness> {
    let data = tempfile::tempdir()?;
    let env = home.env_strings();
    let server = orbitdock_server::start_with(
        ServerConfig {
            data_dir: data.path().to_owned(),
            codex_home: home.path().to_owned(),
            codex_bin: test_support::codex_bin(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: TOKEN.into(),
            codex_env: env,
            claude: None,
            output_limits: Default::default(),
        },
        options,
    )
    .await?;
    Ok(Harness {
        fake,
        home,
        data,
        server: Some(server),
        http: reqwest::Client::new(),
        claude: None,
    })
}

/// Runs `codex exec --json ARGS` in the harness's CODEX_HOME; returns the thread id.
async fn exec(h: &Harness, args: &[&str]) -> Result<String> {
    h.home
        .exec_thread(args, EXEC_TIMEOUT)
        .await
        .map_err(anyhow::Error::msg)
}

async fn sessions_for(h: &Harness, thread: &str) -> Result<Vec<SessionSummary>> {
    let list: SessionsResponse = h.get("/api/sessions").await?;
    Ok(list
        .sessions
        .into_iter()
        .filter(|s| s.thread_id.as_deref() == Some(thread))
        .collect())
}

async fn items(h: &Harness, id: &str) -> Result<Vec<ItemBody>> {
    let page: ItemsPage = h.get(&format!("/api/sessions/{id}/items")).await?;
    Ok(page.items.into_iter().map(|i| i.body).collect())
}

/// Polls REST every 50 ms until `done` holds for the thread's sessions and their items.
async fn wait_passive(
    h: &Harness,
    thread: &str,
    what: &str,
    done: impl Fn(&SessionSummary, &[ItemBody]) -> bool,
) -> Result<(SessionSummary, Vec<ItemBody>)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = sessions_for(h, thread).await?;
        if let [s] = found.as_slice() {
            let it = items(h, &s.id).await?;
            if done(s, &it) {
                return Ok((s.clone(), it));
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}: {s:#?} {it:#?}");
            }
        } else if found.len() > 1 {
            bail!("more than one session for thread {thread}: {found:#?}");
        } else if Instant::now() > deadline {
            bail!("timed out waiting for {what}: no session for {thread}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tool_turn(fake: &FakeResponses) {
    fake.enqueue(
        ScriptedResponse::new()
            .exec_command("echo hi-from-tool", "call_1")
            .usage(100, 10, 20, 3),
    );
    fake.enqueue(
        ScriptedResponse::new()
            .text("Done: said hi ✓")
            .usage(150, 100, 30, 4),
    );
}

fn home(fake: &FakeResponses) -> TempCodexHome {
    CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("danger-full-access")
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_exec_becomes_one_passive_session_across_restarts() -> Result<()> {
    let fake = FakeResponses::start();
    let home = home(&fake);
    let mut h = boot(home, fake, DiscoveryOptions::default()).await?;

    tool_turn(&h.fake);
    let thread = exec(&h, &["please run echo"]).await?;
    let (s, it) = wait_passive(&h, &thread, "the finished exec turn", |s, it| {
        s.status == SessionStatus::Waiting && s.token_usage.total_tokens > 0 && it.len() >= 3
    })
    .await?;
    assert_eq!(s.provider, Provider::Codex);
    assert_eq!(s.origin, Origin::Passive);
    assert_eq!(s.first_prompt.as_deref(), Some("please run echo"));
    assert_eq!(s.model.as_deref(), Some("gpt-oss-20b"));
    assert_eq!(
        s.name.as_deref(),
        Some(codex_rollout::slug_for(&thread).as_str())
    );
    assert_eq!(s.cwd, h.workdir());
    // Cumulative over the turn's two model responses, as Codex records it.
    assert_eq!(s.token_usage.input_tokens, 250);
    assert_eq!(s.token_usage.cached_input_tokens, 110);
    assert_eq!(s.token_usage.output_tokens, 50);
    assert_eq!(s.token_usage.last_input_tokens, 150);
    assert!(s.token_usage.context_window.is_some_and(|w| w > 0));
    // The transcript: prompt, the command with its output (one tool), the answer.
    assert_eq!(it.len(), 3, "{it:#?}");
    assert_eq!(
        it[0],
        ItemBody::UserMessage {
            text: "please run echo".into()
        }
    );
    match &it[1] {
        ItemBody::CommandExecution {
            command,
            output,
            exit_code,
            ..
        } => {
            assert_eq!(command, "echo hi-from-tool");
            assert_eq!(output, "hi-from-tool\n");
            assert_eq!(*exit_code, Some(0));
        }
        other => panic!("expected the command, got {other:?}"),
    }
    assert_eq!(
        it[2],
        ItemBody::AgentMessage {
            text: "Done: said hi ✓".into()
        }
    );

    // A session the server drives itself: its rollout is read (its checkpoint records the
    // thread as skipped) but no passive twin appears.
    h.fake.enqueue(
        ScriptedResponse::new()
            .text("direct answer")
            .usage(10, 0, 5, 0),
    );
    let direct = h
        .create(json!({"cwd": h.workdir(), "prompt": "direct hello"}))
        .await?;
    let direct_thread = {
        let deadline = Instant::now() + WAIT;
        loop {
            let st: Value = h
                .get(&format!("/api/sessions/{}", direct.summary.id))
                .await?;
            let done = st["status"] == "waiting"
                && items(&h, &direct.summary.id).await?.iter().any(
                    |i| matches!(i, ItemBody::AgentMessage { text } if text == "direct answer"),
                );
            if let (true, Some(t)) = (done, st["thread_id"].as_str()) {
                break t.to_owned();
            }
            if Instant::now() > deadline {
                bail!("direct turn did not finish: {st:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let skipped = format!("\"skipped_thread\":\"{direct_thread}\"");
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = h.checkpoints(CheckpointSource::CodexRollout)?;
        if rows.iter().any(|(_, cp)| cp.contains(&skipped)) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the watcher never recorded the direct thread as skipped: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !h.data.path().join("codex-rollout-state.json").exists(),
        "checkpoints live in the database, not in a file"
    );
    let twins = sessions_for(&h, &direct_thread).await?;
    assert_eq!(twins.len(), 1, "{twins:#?}");
    assert_eq!(twins[0].origin, Origin::Direct);

    // Restart, then continue the passive thread from the terminal: the same session goes on,
    // no item is repeated and none is lost.
    h.restart().await?;
    let after: Vec<SessionSummary> = sessions_for(&h, &thread).await?;
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after[0].id, s.id);
    h.fake.enqueue(
        ScriptedResponse::new()
            .text("second answer")
            .usage(200, 150, 10, 0),
    );
    exec(&h, &["resume", &thread, "and again"]).await?;
    let (s2, it2) = wait_passive(&h, &thread, "the resumed turn", |s, it| {
        s.status == SessionStatus::Waiting && it.len() >= 5
    })
    .await?;
    assert_eq!(s2.id, s.id);
    assert_eq!(s2.first_prompt.as_deref(), Some("please run echo"));
    assert_eq!(&it2[..3], &it[..]);
    assert_eq!(
        &it2[3..],
        &[
            ItemBody::UserMessage {
                text: "and again".into()
            },
            ItemBody::AgentMessage {
                text: "second answer".into()
            }
        ]
    );
    h.shutdown().await;
    Ok(())
}

/// POST /api/sessions/{id}/takeover, raw: (status, body).
async fn takeover(h: &Harness, id: &str) -> Result<(u16, Value)> {
    let r = h
        .http
        .post(format!("{}/api/sessions/{id}/takeover", h.base()))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).with_context(|| format!("decoding {text}"))?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_exec_thread_is_taken_over_and_continued() -> Result<()> {
    let fake = FakeResponses::start();
    let home = home(&fake);
    let h = boot(home, fake, DiscoveryOptions::default()).await?;

    // A passive Claude session (hooks) still open in its terminal cannot be taken over yet.
    let claude: Value = h
        .post(
            "/api/hooks/claude",
            &json!({"session_id": "claude-1", "cwd": "/w", "hook_event_name": "SessionStart"}),
        )
        .await?;
    let claude_id = claude["session_id"]
        .as_str()
        .or_else(|| claude["id"].as_str())
        .map(str::to_owned);
    let claude_id = match claude_id {
        Some(id) => id,
        None => sessions_for(&h, "claude-1").await?[0].id.clone(),
    };
    let (status, body) = takeover(&h, &claude_id).await?;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.to_string().contains("still open in its terminal"),
        "{body}"
    );

    h.fake.enqueue(
        ScriptedResponse::new()
            .text("first answer")
            .usage(50, 0, 5, 0),
    );
    let thread = exec(&h, &["remember the word kiwi"]).await?;
    let (s, _) = wait_passive(&h, &thread, "the exec turn", |s, it| {
        s.status == SessionStatus::Waiting && it.len() >= 2
    })
    .await?;

    // Taken over once it has been quiet for the takeover period: every earlier answer is a
    // 409 naming the reason.
    let deadline = Instant::now() + WAIT;
    let taken: Value = loop {
        let (status, body) = takeover(&h, &s.id).await?;
        match status {
            200 => break body,
            409 => assert!(body.to_string().contains("active"), "{body}"),
            other => bail!("takeover answered {other}: {body}"),
        }
        if Instant::now() > deadline {
            bail!("takeover never succeeded: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(taken["origin"], "direct", "{taken:#}");
    assert_eq!(taken["attached"], true, "{taken:#}");
    let (status, body) = takeover(&h, &s.id).await?;
    assert_eq!(
        status, 409,
        "a direct session cannot be taken over again: {body}"
    );

    // The fake model answers a message sent through OrbitDock, on the same thread, with the
    // terminal's history in its input.
    h.fake.enqueue(
        ScriptedResponse::new()
            .text("taken over answer")
            .usage(80, 40, 5, 0),
    );
    let _: Value = h
        .post(
            &format!("/api/sessions/{}/messages", s.id),
            &json!({"text": "which word?"}),
        )
        .await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let it = items(&h, &s.id).await?;
        if it
            .iter()
            .any(|i| matches!(i, ItemBody::AgentMessage { text } if text == "taken over answer"))
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("no answer after takeover: {it:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = h
        .fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.is_responses())
        .context("no model request")?;
    assert_eq!(last.last_user_text().as_deref(), Some("which word?"));
    let input = serde_json::to_string(last.input())?;
    assert!(
        input.contains("remember the word kiwi"),
        "history resumed: {input}"
    );
    let same = sessions_for(&h, &thread).await?;
    assert_eq!(same.len(), 1, "{same:#?}");
    assert_eq!(same[0].origin, Origin::Direct);
    h.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_passive_session_ends_after_the_idle_timeout() -> Result<()> {
    let fake = FakeResponses::start();
    let home = home(&fake);
    let h = boot(
        home,
        fake,
        DiscoveryOptions {
            watch_codex: true,
            passive_idle: Duration::from_secs(2),
            ..DiscoveryOptions::default()
        },
    )
    .await?;
    h.fake
        .enqueue(ScriptedResponse::new().text("bye").usage(5, 0, 1, 0));
    let thread = exec(&h, &["say bye"]).await?;
    // No further line: waiting after the turn, then ended by the (shortened) idle timeout.
    let (s, it) = wait_passive(&h, &thread, "the idle end", |s, _| {
        s.status == SessionStatus::Ended
    })
    .await?;
    assert_eq!(s.origin, Origin::Passive);
    assert_eq!(s.first_prompt.as_deref(), Some("say bye"));
    assert_eq!(
        it,
        vec![
            ItemBody::UserMessage {
                text: "say bye".into()
            },
            ItemBody::AgentMessage { text: "bye".into() }
        ]
    );
    h.shutdown().await;
    Ok(())
}

/// `codex migrate-rollouts --apply` replaces every legacy rollout (same path, new inode, each
/// line gaining an `ordinal`) under a running watcher: the session keeps its transcript without
/// copies, follows the thread's next turn, and a fresh server on the migrated home lists the
/// session with the same transcript.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_migrated_with_migrate_rollouts_keeps_its_sessions_and_transcripts() -> Result<()> {
    let fake = FakeResponses::start();
    // A thread written by the pinned Codex, copied into a home in the legacy (pre-0.169) shape.
    let made = home(&fake);
    tool_turn(&fake);
    let thread = made
        .exec_thread(&["please run echo"], EXEC_TIMEOUT)
        .await
        .map_err(anyhow::Error::msg)?;
    let legacy = home(&fake);
    let src = test_support::rollout_files(made.path());
    anyhow::ensure!(src.len() == 1, "{src:?}");
    test_support::write_legacy_rollout(&src[0], made.path(), legacy.path())
        .map_err(anyhow::Error::msg)?;
    let mut h = boot(legacy, fake, DiscoveryOptions::default()).await?;
    let finished = |s: &SessionSummary, it: &[ItemBody]| {
        s.token_usage.total_tokens > 0
            && it
                .iter()
                .any(|i| matches!(i, ItemBody::AgentMessage { text } if text.starts_with("Done")))
    };
    let (_, before) = wait_passive(&h, &thread, "the legacy thread", finished).await?;

    let outcomes = h.home.migrate_rollouts(true).map_err(anyhow::Error::msg)?;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "migrated", "{outcomes:?}");
    assert_eq!(outcomes[0]["thread_id"], thread.as_str());

    // The next turn reaches the same session: the watcher has re-read the replaced file by then
    // (a reset is read before any line of the new content).
    h.fake.enqueue(
        ScriptedResponse::new()
            .text("after migration")
            .usage(5, 0, 1, 0),
    );
    exec(&h, &["resume", &thread, "and again"]).await?;
    let (_, after) = wait_passive(&h, &thread, "the turn after migration", |_, it| {
        it.iter()
            .any(|i| matches!(i, ItemBody::AgentMessage { text } if text == "after migration"))
    })
    .await?;
    assert_eq!(
        after[..before.len()],
        before[..],
        "the migrated file's items were added again"
    );
    let user = |it: &[ItemBody], t: &str| {
        it.iter()
            .filter(|i| matches!(i, ItemBody::UserMessage { text } if text == t))
            .count()
    };
    assert_eq!(user(&after, "please run echo"), 1, "{after:#?}");
    assert_eq!(user(&after, "and again"), 1, "{after:#?}");

    // A hub meeting the migrated home for the first time lists it with its transcript.
    h.data = tempfile::tempdir()?;
    h.restart().await?;
    let (_, fresh) = wait_passive(&h, &thread, "the migrated thread, read afresh", |_, it| {
        it.len() >= after.len()
    })
    .await?;
    assert_eq!(fresh, after);
    h.shutdown().await;
    Ok(())
}

/// A data dir from a build that kept rollout checkpoints in `codex-rollout-state.json`: the
/// first start moves them into the database and removes the file, and a rollout the old build
/// had read to its end is not read again (no session re-created from it), while a rollout it
/// never saw is read from its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_json_checkpoint_file_is_moved_into_the_database() -> Result<()> {
    use codex_rollout::{FileCheckpoint, IndexConfig, JsonFileStore, RolloutIndex, skip_none};
    use test_support::rollout_corpus::{ThreadSpec, pad, write_spec};

    let fake = FakeResponses::start();
    let home = home(&fake);
    let day = home.path().join("sessions/2026/11/22");
    std::fs::create_dir_all(&day)?;
    let cwd = home.workdir().display().to_string();
    let filler = pad(100);
    let read_before = "0199a000-0000-7000-8000-0000000000a1";
    let never_seen = "0199a000-0000-7000-8000-0000000000b2";
    let old_path = day.join(format!("rollout-2026-11-22T00-09-01-{read_before}.jsonl"));
    let new_path = day.join(format!("rollout-2026-11-22T00-09-02-{never_seen}.jsonl"));
    write_spec(
        &mut std::fs::File::create(&old_path)?,
        &ThreadSpec::new(read_before, &cwd, 2, &filler),
    )?;
    write_spec(
        &mut std::fs::File::create(&new_path)?,
        &ThreadSpec::new(never_seen, &cwd, 1, &filler),
    )?;

    // What the old build left: the first rollout read to its end, checkpointed in the file.
    let old_data = tempfile::tempdir()?;
    let state_file = old_data.path().join("codex-rollout-state.json");
    let mut index = RolloutIndex::new(
        IndexConfig {
            resolve_git: false,
            ..IndexConfig::default()
        },
        Box::new(JsonFileStore::open(&state_file)?),
        skip_none(),
    )?;
    index.process_file(&old_path, 0, &mut |_| {});
    index.flush()?;
    drop(index);
    assert!(state_file.exists());

    let mut h = boot(
        home,
        fake,
        DiscoveryOptions {
            watch_codex: false,
            ..DiscoveryOptions::default()
        },
    )
    .await?;
    h.data = old_data;
    h.restart().await?;
    // The sweep reads files in path order: once the later file's session is complete, the
    // earlier one was processed.
    wait_passive(
        &h,
        never_seen,
        "the rollout the old build never saw",
        |_, it| it.len() == 3,
    )
    .await?;
    assert!(
        sessions_for(&h, read_before).await?.is_empty(),
        "a rollout the old build had read was read again"
    );
    assert!(
        !state_file.exists(),
        "the old file is removed once imported"
    );
    let rows = h.checkpoints(CheckpointSource::CodexRollout)?;
    let imported = rows
        .iter()
        .find(|(p, _)| std::path::Path::new(p) == old_path)
        .context("the imported checkpoint")?;
    let cp: FileCheckpoint = serde_json::from_str(&imported.1)?;
    assert_eq!(cp.reader.offset, std::fs::metadata(&old_path)?.len());
    assert_eq!(
        cp.session.map(|s| s.thread_id().to_owned()).as_deref(),
        Some(read_before)
    );
    h.shutdown().await;
    Ok(())
}
