//! `codex migrate-rollouts` on 0.169, and reading a migrated thread back through app-server.
//!
//! 0.169 writes every new thread in "paginated" history mode already (the rollout's
//! `session_meta` says `history_mode: "paginated"`, every line has an `ordinal`, and
//! `thread_history_1.sqlite` holds the turns and items), so a home made by `codex exec` reports
//! `already_paginated`. A home written by an older Codex (no ordinals, no history mode) is
//! `eligible`; `--apply` rewrites each rollout IN PLACE (same path, new inode, ordinals added)
//! and materialises the SQLite history. The legacy shape is made here from an exec rollout by
//! removing exactly those two markers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use codex_client::app_server::requests::{
    ThreadItemsList, ThreadItemsListParams, ThreadList, ThreadListParams, ThreadRead,
    ThreadReadParams, ThreadTurnsList, ThreadTurnsListParams,
};
use codex_client::app_server::{AppServer, AppServerBuilder, ThreadItem, UserInput};
use serde_json::{Value, json};
use test_support::{
    CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome, codex_bin, rollout_files,
    write_legacy_rollout,
};

fn migrate(home: &TempCodexHome, apply: bool) -> Result<Vec<Value>> {
    home.migrate_rollouts(apply).map_err(anyhow::Error::msg)
}

fn rollouts(home: &Path) -> Vec<PathBuf> {
    rollout_files(home)
}

fn write_legacy_copy(src: &Path, dst_home: &Path, src_home: &Path) -> Result<PathBuf> {
    write_legacy_rollout(src, src_home, dst_home).map_err(anyhow::Error::msg)
}

async fn app_server(
    home: &Path,
) -> Result<(
    AppServer,
    tokio::sync::mpsc::Receiver<codex_client::app_server::AppServerEvent>,
)> {
    Ok(AppServerBuilder::new(codex_bin(), home)
        .current_dir(home)
        .request_timeout(Duration::from_secs(30))
        .spawn()
        .await?)
}

fn exec_sources() -> ThreadListParams {
    // thread/list defaults to interactive sources; exec threads must be asked for.
    ThreadListParams {
        source_kinds: Some(vec!["exec".into()]),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_home_reads_back_through_app_server() -> Result<()> {
    let fake = FakeResponses::start();
    fake.enqueue(ScriptedResponse::new().exec_command("echo migrated", "call_1"));
    fake.enqueue(ScriptedResponse::new().text("all done"));
    let made = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("workspace-write")
        .build();
    let out = made
        .command(&["exec", "--json", "--skip-git-repo-check", "please migrate"])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let src = rollouts(made.path());
    ensure!(src.len() == 1, "{src:?}");
    let thread_id = src[0]
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.get(s.len().saturating_sub(36)..))
        .context("thread id")?
        .to_owned();

    // What exec wrote is already paginated.
    let outcomes = migrate(&made, false)?;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0]["status"], "already_paginated");

    // An older Codex's home: eligible, and items/list refuses the legacy thread.
    let legacy = CodexHomeBuilder::new(&fake.base_url()).build();
    let rollout = write_legacy_copy(&src[0], legacy.path(), made.path())?;
    let outcomes = migrate(&legacy, false)?;
    assert_eq!(outcomes[0]["status"], "eligible", "{outcomes:?}");
    assert_eq!(outcomes[0]["thread_id"], thread_id.as_str());
    {
        let (server, _events) = app_server(legacy.path()).await?;
        let listed = server
            .call_raw(
                "thread/list",
                serde_json::to_value(exec_sources())?,
                Duration::from_secs(30),
            )
            .await?;
        assert_eq!(listed["data"][0]["historyMode"], "legacy");
        let err = server
            .call::<ThreadItemsList>(ThreadItemsListParams {
                thread_id: thread_id.clone(),
                ..Default::default()
            })
            .await
            .expect_err("legacy threads have no item pages");
        assert!(err.to_string().contains("not supported"), "{err}");
        let _ = server.shutdown().await;
    }

    let inode =
        |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).expect("meta"));
    let before = inode(&rollout);
    let outcomes = migrate(&legacy, true)?;
    assert_eq!(outcomes[0]["status"], "migrated", "{outcomes:?}");
    // The rollout is still there, rewritten in place with ordinals and the history mode.
    assert!(rollout.exists());
    assert_ne!(inode(&rollout), before, "replaced, not appended");
    let text = std::fs::read_to_string(&rollout)?;
    let lines: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(i, l)| l["ordinal"] == json!(i))
    );
    assert_eq!(lines[0]["payload"]["history_mode"], "paginated");
    assert!(legacy.path().join("thread_history_1.sqlite").exists());

    let (server, _events) = app_server(legacy.path()).await?;
    let listed = server.call::<ThreadList>(exec_sources()).await?;
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].id, thread_id);
    assert_eq!(listed.data[0].preview, "please migrate");
    let raw = server
        .call_raw(
            "thread/list",
            serde_json::to_value(exec_sources())?,
            Duration::from_secs(30),
        )
        .await?;
    assert_eq!(raw["data"][0]["historyMode"], "paginated");

    let read = server
        .call::<ThreadRead>(ThreadReadParams {
            thread_id: thread_id.clone(),
            include_turns: Some(true),
        })
        .await?;
    assert_eq!(read.thread.turns.len(), 1);

    let turns = server
        .call::<ThreadTurnsList>(ThreadTurnsListParams {
            thread_id: thread_id.clone(),
            items_view: Some("full".into()),
            sort_direction: Some("asc".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(turns.data.len(), 1);
    assert_eq!(turns.next_cursor, None);

    // Page through the items two at a time.
    let mut items = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = server
            .call::<ThreadItemsList>(ThreadItemsListParams {
                thread_id: thread_id.clone(),
                cursor: cursor.take(),
                limit: Some(2),
                ..Default::default()
            })
            .await?;
        assert!(page.data.iter().all(|e| e.turn_id == turns.data[0].id));
        items.extend(page.data.into_iter().map(|e| e.item));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let _ = server.shutdown().await;
    let user = items.iter().find_map(|i| match i {
        ThreadItem::UserMessage { content, .. } => content.iter().find_map(|c| match c {
            UserInput::Text { text, .. } => Some(text.clone()),
            _ => None,
        }),
        _ => None,
    });
    assert_eq!(user.as_deref(), Some("please migrate"));
    assert!(items.iter().any(|i| matches!(i,
        ThreadItem::CommandExecution { command, aggregated_output, .. }
            if command.contains("echo migrated") && aggregated_output.as_deref().is_some_and(|o| o.contains("migrated")))));
    assert!(
        items
            .iter()
            .any(|i| matches!(i, ThreadItem::AgentMessage { text, .. } if text == "all done"))
    );
    Ok(())
}
