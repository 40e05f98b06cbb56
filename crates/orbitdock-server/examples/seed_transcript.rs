//! Seeds an OrbitDock data dir with one ended Codex session holding N synthetic transcript items,
//! written through the server's own store (the same writer, schema and JSON as live sessions).
//! Run it with the server STOPPED; it prints the new session's id on stdout.
//!
//! Used by the web UI's benchmark (`ui-tests/bench-transcript.mjs`: "a session with 10,000 items
//! opens in < 300 ms"). It is an example, not a route: no build of the server can be asked over
//! HTTP to fabricate sessions.
//!
//! ```text
//! cargo run -p orbitdock-server --example seed_transcript -- --data-dir DIR --items 10000 [--name NAME]
//! ```

use std::path::PathBuf;

use anyhow::{Context, bail};
use orbitdock_protocol::{
    FileChange, FileChangeKind, ItemBody, ItemStatus, Origin, Provider, SessionStatus,
    SessionSummary, TokenUsage, TranscriptItem,
};
use orbitdock_server::data_dir;
use orbitdock_server::hub::ListHub;
use orbitdock_server::store::{Command, PersistOp, SessionExtra, Store};

/// Items per writer command (the writer batches commands into transactions by itself).
const CHUNK: usize = 500;

struct Args {
    data_dir: PathBuf,
    items: u64,
    name: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut data_dir = None;
    let mut items = 10_000;
    let mut name = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(it.next().context("--data-dir DIR")?)),
            "--items" => {
                items = it
                    .next()
                    .context("--items N")?
                    .parse()
                    .context("--items takes a number")?
            }
            "--name" => name = Some(it.next().context("--name NAME")?),
            other => bail!(
                "unknown argument {other:?}; usage: seed_transcript --data-dir DIR [--items N] [--name NAME]"
            ),
        }
    }
    let data_dir = data_dir.context("--data-dir DIR is required")?;
    Ok(Args {
        data_dir,
        name: name.unwrap_or_else(|| format!("Seeded session ({items} items)")),
        items,
    })
}

/// A realistic mix: a user prompt, reasoning, a command with output, a file change, an answer.
fn item(seq: u64, at: i64) -> TranscriptItem {
    let turn = (seq - 1) / 5;
    let body = match seq % 5 {
        1 => ItemBody::UserMessage {
            text: format!(
                "Step {turn}: please look at `module_{turn}.rs` and fix the failing test."
            ),
        },
        2 => ItemBody::Reasoning {
            summary: format!(
                "**Inspecting module_{turn}**\n\nThe test fails because of an off-by-one."
            ),
            text: String::new(),
        },
        3 => ItemBody::CommandExecution {
            command: format!("cargo test -p module_{turn}"),
            cwd: Some("/work/project".into()),
            output: format!(
                "running 3 tests\ntest a ... ok\ntest b ... ok\ntest c_{turn} ... ok\n\ntest result: ok. 3 passed; 0 failed\n"
            ),
            exit_code: Some(0),
            duration_ms: Some(1200 + turn % 500),
            output_omitted: None,
        },
        4 => ItemBody::FileChange {
            changes: vec![FileChange {
                path: format!("src/module_{turn}.rs"),
                kind: FileChangeKind::Update,
                move_path: None,
                diff: format!(
                    "@@ -10,4 +10,4 @@\n fn count() -> usize {{\n-    items.len() - 1\n+    items.len()\n }}\n // turn {turn}\n"
                ),
            }],
        },
        _ => ItemBody::AgentMessage {
            text: format!(
                "Fixed the off-by-one in `module_{turn}.rs`:\n\n```rust\nfn count() -> usize {{\n    items.len()\n}}\n```\n\nAll **3** tests pass now."
            ),
        },
    };
    TranscriptItem {
        seq,
        id: format!("item-{seq}"),
        turn_id: Some(format!("turn-{turn}")),
        status: ItemStatus::Completed,
        created_at: at,
        updated_at: at,
        body,
    }
}

fn submit_and_wait(store: &Store, ops: Vec<PersistOp>) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    store.blocking_submit(Command {
        ops,
        done: Some(tx),
        ..Default::default()
    })?;
    match rx.blocking_recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => bail!("the store refused the batch: {e}"),
        Err(_) => bail!("the store's writer stopped"),
    }
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    data_dir::ensure_dir(&args.data_dir)?;
    let store = Store::open(&data_dir::db_path(&args.data_dir))?;
    store.start_writer(ListHub::new(Vec::new(), 0));

    let now = chrono::Utc::now().timestamp_millis();
    let start = now - (args.items as i64) * 1000;
    let id = uuid::Uuid::now_v7().to_string();
    let summary = SessionSummary {
        id: id.clone(),
        provider: Provider::Codex,
        origin: Origin::Direct,
        name: Some(args.name.clone()),
        first_prompt: Some("Step 0: please look at `module_0.rs`".into()),
        cwd: "/work/project".into(),
        model: Some("gpt-oss-20b".into()),
        status: SessionStatus::Ended,
        token_usage: TokenUsage {
            input_tokens: args.items * 900,
            output_tokens: args.items * 120,
            cached_input_tokens: args.items * 600,
            context_window: Some(128_000),
            last_input_tokens: 64_000,
            ..TokenUsage::default()
        },
        created_at: start,
        updated_at: now,
        ..SessionSummary::default()
    };
    let extra = SessionExtra {
        last_seq: args.items,
        item_count: args.items,
        ..SessionExtra::default()
    };
    submit_and_wait(
        &store,
        vec![PersistOp::UpsertSession {
            summary: Box::new(summary),
            extra: Box::new(extra),
        }],
    )?;
    let mut seq = 1;
    while seq <= args.items {
        let end = (seq + CHUNK as u64 - 1).min(args.items);
        let ops = (seq..=end)
            .map(|s| PersistOp::UpsertItem {
                session_id: id.clone(),
                item: Box::new(item(s, start + (s as i64) * 1000)),
            })
            .collect();
        submit_and_wait(&store, ops)?;
        seq = end + 1;
    }
    println!("{id}");
    Ok(())
}
