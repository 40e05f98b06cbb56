//! Start-up time with a big database: 10,000 sessions and 1,000,000 transcript items, measured
//! from "open the data dir" to "the first `GET /api/sessions` answered", against the same
//! measurement on an empty data dir (the baseline, in the same run).
//!
//! `cargo bench -p orbitdock-server --bench startup [-- SESSIONS ITEMS_PER_SESSION]`
//! (default 10000 100). Goal: < 1 s.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orbitdock_protocol::{
    ItemBody, ItemStatus, Origin, Provider, SessionStatus, SessionSummary, SessionsResponse,
    TranscriptItem,
};
use orbitdock_server::ServerConfig;
use orbitdock_server::connector::ConnectorEvent;
use orbitdock_server::store::{SessionExtra, Store};
// The start-up path never talks to the agent.
use orbitdock_server::testing::NoAgent;

fn populate(db: &Path, sessions: u64, per_session: u64) -> anyhow::Result<()> {
    drop(Store::open(db)?);
    let mut conn = rusqlite::Connection::open(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    {
        let mut s = tx.prepare("INSERT INTO sessions (id, thread_id, provider, origin, status, updated_at, revision, summary, extra) VALUES (?1, ?2, 'codex', 'direct', 'ended', ?3, 0, ?4, ?5)")?;
        let mut i = tx.prepare("INSERT INTO items (session_id, seq, item_id, turn_id, type, updated_at, body) VALUES (?1, ?2, ?3, 't', 'agent_message', 0, ?4)")?;
        for k in 0..sessions {
            let id = format!("00000000-0000-4000-8000-{k:012}");
            let summary = SessionSummary {
                id: id.clone(),
                provider: Provider::Codex,
                origin: Origin::Direct,
                name: Some(format!("session {k}")),
                cwd: format!("/home/user/project-{}", k % 50),
                model: Some("gpt-oss-20b".into()),
                status: SessionStatus::Ended,
                thread_id: Some(format!("thread-{k}")),
                created_at: k as i64,
                updated_at: k as i64,
                ..Default::default()
            };
            let extra = SessionExtra {
                last_seq: per_session,
                item_count: per_session,
                ..Default::default()
            };
            s.execute(rusqlite::params![
                id,
                summary.thread_id,
                k as i64,
                serde_json::to_string(&summary)?,
                serde_json::to_string(&extra)?
            ])?;
            for seq in 1..=per_session {
                let item = TranscriptItem {
                    seq,
                    id: format!("i{seq}"),
                    turn_id: Some("t".into()),
                    status: ItemStatus::Completed,
                    created_at: 0,
                    updated_at: 0,
                    body: ItemBody::AgentMessage {
                        text: format!("message {seq} of session {k}"),
                    },
                };
                i.execute(rusqlite::params![
                    id,
                    seq as i64,
                    item.id,
                    serde_json::to_string(&item)?
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

async fn time_to_first_list(data_dir: &Path) -> anyhow::Result<(Duration, usize)> {
    let t = Instant::now();
    let (_tx, rx) = tokio::sync::mpsc::channel::<ConnectorEvent>(1);
    let server = orbitdock_server::start_with_connector(
        ServerConfig {
            data_dir: data_dir.to_owned(),
            codex_home: data_dir.join("codex-home"),
            codex_bin: "codex".into(),
            bind: "127.0.0.1:0".parse::<SocketAddr>()?,
            token: "bench".into(),
            codex_env: Vec::new(),
            claude: None,
            output_limits: Default::default(),
        },
        Arc::new(NoAgent),
        rx,
    )
    .await?;
    let r: SessionsResponse = reqwest::Client::new()
        .get(format!("{}/api/sessions", server.base_url()))
        .bearer_auth("bench")
        .send()
        .await?
        .json()
        .await?;
    let elapsed = t.elapsed();
    server.shutdown().await;
    Ok((elapsed, r.sessions.len()))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sessions = args.first().copied().unwrap_or(10_000);
    let per = args.get(1).copied().unwrap_or(100);
    let rt = tokio::runtime::Runtime::new()?;
    let empty = tempfile::tempdir()?;
    let big = tempfile::tempdir()?;
    let t = Instant::now();
    populate(
        &orbitdock_server::data_dir::db_path(big.path()),
        sessions,
        per,
    )?;
    println!(
        "populated {sessions} sessions x {per} items in {:.2?}",
        t.elapsed()
    );
    let (base, n0) = rt.block_on(time_to_first_list(empty.path()))?;
    let (full, n) = rt.block_on(time_to_first_list(big.path()))?;
    assert_eq!(n0, 0);
    assert_eq!(n as u64, sessions);
    println!("start-up to first GET /api/sessions");
    println!("  empty data dir (baseline): {base:>10.2?}");
    println!(
        "  {sessions} sessions / {} items : {full:>10.2?}  ({} sessions listed)",
        sessions * per,
        n
    );
    println!(
        "  ratio big/empty: {:.1}x   goal < 1 s: {}",
        full.as_secs_f64() / base.as_secs_f64().max(1e-9),
        if full < Duration::from_secs(1) {
            "MET"
        } else {
            "NOT MET"
        }
    );
    Ok(())
}
