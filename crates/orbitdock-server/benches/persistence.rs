//! Persistence throughput: transcript items through the server's batched single writer versus
//! the baseline of one transaction per item (what a naive "write on every event" server does),
//! measured in the same run on the same schema.
//!
//! `cargo bench -p orbitdock-server --bench persistence [-- ITEMS]` (default 100,000 items).
//! Goal: >= 50,000 items/s batched.

use std::time::Instant;

use orbitdock_protocol::{ItemBody, ItemStatus, TranscriptItem};
use orbitdock_server::hub::ListHub;
use orbitdock_server::store::{Command, PersistOp, Store};

fn item(seq: u64) -> TranscriptItem {
    TranscriptItem {
        seq,
        id: format!("item-{seq}"),
        turn_id: Some(format!("turn-{}", seq / 20)),
        status: ItemStatus::Completed,
        created_at: 1_700_000_000_000 + seq as i64,
        updated_at: 1_700_000_000_000 + seq as i64,
        body: ItemBody::AgentMessage {
            text: format!(
                "agent message number {seq}: some markdown with `code` and a few words of text"
            ),
        },
    }
}

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Runtime::new()?;

    // Batched: the real writer (one command per item, as actors submit them).
    let batched_path = dir.path().join("batched.sqlite");
    let store = Store::open(&batched_path)?;
    store.start_writer(ListHub::new(Vec::new(), 0));
    let t = Instant::now();
    for seq in 1..=n {
        store.blocking_submit(Command {
            ops: vec![PersistOp::UpsertItem {
                session_id: "s".into(),
                item: Box::new(item(seq)),
            }],
            ..Default::default()
        })?;
    }
    rt.block_on(store.flush())?;
    let batched = t.elapsed();
    let stored = store.items_after("s", 0, usize::MAX >> 1)?.items.len() as u64;
    assert_eq!(stored, n, "every item persisted");

    // Baseline: same schema, same JSON, one transaction per item.
    let base_n = (n / 10).max(1_000);
    let base_path = dir.path().join("unbatched.sqlite");
    drop(Store::open(&base_path)?); // creates and migrates the schema
    let conn = rusqlite::Connection::open(&base_path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let t = Instant::now();
    for seq in 1..=base_n {
        let it = item(seq);
        let body = serde_json::to_string(&it)?;
        conn.execute(
            "INSERT OR REPLACE INTO items (session_id, seq, item_id, turn_id, type, updated_at, body)
             VALUES ('s', ?1, ?2, ?3, 'agent_message', ?4, ?5)",
            rusqlite::params![seq as i64, it.id, it.turn_id, it.updated_at, body],
        )?;
    }
    let unbatched = t.elapsed();

    let b_rate = n as f64 / batched.as_secs_f64();
    let u_rate = base_n as f64 / unbatched.as_secs_f64();
    println!("persistence throughput (WAL, synchronous=NORMAL)");
    println!("  batched writer      : {n:>8} items in {batched:>10.2?} = {b_rate:>10.0} items/s");
    println!(
        "  unbatched (1 tx/row): {base_n:>8} items in {unbatched:>10.2?} = {u_rate:>10.0} items/s"
    );
    println!(
        "  ratio batched/unbatched: {:.1}x   goal >= 50000 items/s: {}",
        b_rate / u_rate,
        if b_rate >= 50_000.0 { "MET" } else { "NOT MET" }
    );
    Ok(())
}
