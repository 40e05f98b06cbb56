//! Seeds an OrbitDock data dir with N ended sessions (a few transcript items each), written
//! through the server's own store (the same writer, schema, search index and JSON as live
//! sessions). Run it with the server STOPPED.
//!
//! Used by the sidebar's browser test and benchmark (`ui-tests/tests/sidebar-scale.test.mjs`,
//! `ui-tests/bench-sidebar.mjs`). Session `i` is named `Seeded session i`, works in
//! `/work/project-{i % 50}`, was last active `i` seconds before now (so session 0 is the newest),
//! and its agent's answer mentions `needle-i`, so a test can search for one session's item.
//!
//! ```text
//! cargo run -p orbitdock-server --example seed_sessions -- --data-dir DIR --sessions 50000 [--items 2]
//! ```

use std::path::PathBuf;

use anyhow::{Context, bail};
use orbitdock_protocol::{
    ItemBody, ItemStatus, Origin, Provider, SessionStatus, SessionSummary, TranscriptItem,
};
use orbitdock_server::data_dir;
use orbitdock_server::hub::ListHub;
use orbitdock_server::store::{Command, PersistOp, SessionExtra, Store};

/// Sessions per writer command (the writer batches commands into transactions by itself).
const CHUNK: u64 = 200;

fn parse_args() -> anyhow::Result<(PathBuf, u64, u64)> {
    let mut data_dir = None;
    let mut sessions = 1_000;
    let mut items = 2;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |what: &str| -> anyhow::Result<u64> {
            it.next()
                .with_context(|| format!("{what} N"))?
                .parse()
                .with_context(|| format!("{what} takes a number"))
        };
        match a.as_str() {
            "--sessions" => sessions = num("--sessions")?,
            "--items" => items = num("--items")?,
            "--data-dir" => data_dir = Some(PathBuf::from(it.next().context("--data-dir DIR")?)),
            other => bail!(
                "unknown argument {other:?}; usage: seed_sessions --data-dir DIR [--sessions N] [--items K]"
            ),
        }
    }
    Ok((
        data_dir.context("--data-dir DIR is required")?,
        sessions,
        items,
    ))
}

fn session_ops(i: u64, items: u64, now: i64) -> Vec<PersistOp> {
    let id = format!("seed-{i:07}");
    let at = now - (i as i64) * 1000;
    let prompt = format!("Please check build step {i} of project {}", i % 50);
    let summary = SessionSummary {
        id: id.clone(),
        provider: if i % 5 == 4 {
            Provider::Claude
        } else {
            Provider::Codex
        },
        origin: Origin::Passive,
        name: Some(format!("Seeded session {i}")),
        first_prompt: Some(prompt.clone()),
        cwd: format!("/work/project-{}", i % 50),
        status: SessionStatus::Ended,
        created_at: at - 60_000,
        updated_at: at,
        revision: 1,
        ..SessionSummary::default()
    };
    let mut ops = vec![PersistOp::UpsertSession {
        summary: Box::new(summary),
        extra: Box::new(SessionExtra {
            last_seq: items,
            item_count: items,
            ..SessionExtra::default()
        }),
    }];
    for seq in 1..=items {
        let body = if seq == 1 {
            ItemBody::UserMessage {
                text: prompt.clone(),
            }
        } else {
            ItemBody::AgentMessage {
                text: format!("Step {i}.{seq} is done; the marker is needle-{i}."),
            }
        };
        ops.push(PersistOp::UpsertItem {
            session_id: id.clone(),
            item: Box::new(TranscriptItem {
                seq,
                id: format!("item-{seq}"),
                turn_id: Some("turn-1".into()),
                status: ItemStatus::Completed,
                created_at: at,
                updated_at: at,
                body,
            }),
        });
    }
    ops
}

fn main() -> anyhow::Result<()> {
    let (dir, sessions, items) = parse_args()?;
    data_dir::ensure_dir(&dir)?;
    let store = Store::open(&data_dir::db_path(&dir))?;
    store.start_writer(ListHub::new(Vec::new(), 0));
    let now = chrono::Utc::now().timestamp_millis();
    let mut i = 0;
    while i < sessions {
        let end = (i + CHUNK).min(sessions);
        let ops = (i..end).flat_map(|i| session_ops(i, items, now)).collect();
        let (tx, rx) = tokio::sync::oneshot::channel();
        store.blocking_submit(Command {
            ops,
            done: Some(tx),
            ..Default::default()
        })?;
        match rx.blocking_recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("the store refused the batch: {e}"),
            Err(_) => bail!("the store's writer stopped"),
        }
        i = end;
    }
    println!("{sessions}");
    Ok(())
}
