//! The running watcher (real `notify`, real files) on hand-written rollouts: a line written in
//! two chunks, a multibyte character split at a 1-byte read boundary, truncated and replaced
//! files, unknown and malformed lines, a file in a directory created after the watch started.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Result;
use codex_rollout::{
    MemoryStore, ReaderConfig, RolloutWatcher, TranscriptItem, WatcherConfig, WatcherEvent,
    skip_none,
};
use common::Registry;

const WAIT: Duration = Duration::from_secs(20);

fn meta(id: &str) -> String {
    format!(
        "{{\"timestamp\":\"{}\",\"type\":\"session_meta\",\"payload\":{{\"id\":\"{id}\",\"cwd\":\"/nonexistent\",\"cli_version\":\"0.169.0\"}}}}\n",
        chrono::Utc::now().to_rfc3339()
    )
}

fn user(text: &str) -> String {
    let line = serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "type": "event_msg",
        "payload": {"type": "user_message", "message": text},
    });
    format!("{line}\n")
}

fn append(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    f.write_all(data).expect("write");
    f.sync_data().expect("sync");
}

fn start(dir: &Path, chunk: usize) -> Result<(RolloutWatcher, mpsc::Receiver<WatcherEvent>)> {
    let (tx, rx) = mpsc::channel();
    let mut config = WatcherConfig::new(dir);
    // Long sweep: these tests must pass on file-system events alone.
    config.sweep_interval = Duration::from_secs(3600);
    config.index.resolve_git = false;
    config.index.reader = ReaderConfig {
        chunk_size: chunk,
        ..ReaderConfig::default()
    };
    let w = RolloutWatcher::start(
        config,
        Box::new(MemoryStore::default()),
        skip_none(),
        Box::new(move |ev| {
            let _ = tx.send(ev);
        }),
    )?;
    Ok((w, rx))
}

fn user_texts(reg: &Registry, id: &str) -> Vec<String> {
    reg.items
        .get(id)
        .map(|v| {
            v.iter()
                .filter_map(|e| match &e.item {
                    TranscriptItem::User { text } => Some(text.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn two_chunk_line_and_split_multibyte_arrive_once_and_intact() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let day = dir.path().join("2026/11/22");
    std::fs::create_dir_all(&day)?;
    let (w, rx) = start(dir.path(), 1)?;
    let f = day.join("rollout-a.jsonl");
    append(&f, meta("t-a").as_bytes());
    let mut reg = Registry::default();
    reg.wait_until(&rx, WAIT, "created", |r| r.sessions.contains_key("t-a"));

    let line = user("naïve ✓ 日本 𝄞");
    let bytes = line.as_bytes();
    let mid = line.find('✓').expect("check mark") + 1; // inside the 3-byte character
    append(&f, &bytes[..mid]);
    // The first half alone produces no item: wait past the debounce, then check.
    let quiet = rx.recv_timeout(Duration::from_millis(600));
    assert!(
        !matches!(quiet, Ok(WatcherEvent::Update { .. })),
        "half a line must not produce an update: {quiet:?}"
    );
    append(&f, &bytes[mid..]);
    reg.wait_until(&rx, WAIT, "prompt", |r| r.sessions["t-a"].prompt_count == 1);
    assert_eq!(user_texts(&reg, "t-a"), vec!["naïve ✓ 日本 𝄞".to_owned()]);
    w.stop();
    Ok(())
}

#[test]
fn truncated_and_replaced_files_are_read_again() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (w, rx) = start(dir.path(), 64 * 1024)?;
    let f = dir.path().join("rollout-b.jsonl");
    append(
        &f,
        format!("{}{}{}", meta("t-b"), user("one"), user("two")).as_bytes(),
    );
    let mut reg = Registry::default();
    reg.wait_until(&rx, WAIT, "two prompts", |r| {
        r.sessions.get("t-b").is_some_and(|s| s.prompt_count == 2)
    });

    // Truncated in place to a shorter file: read again from 0, the session is rebuilt.
    std::fs::write(&f, format!("{}{}", meta("t-b"), user("three")))?;
    reg.wait_until(&rx, WAIT, "reset after truncation", |r| {
        r.resets == 1 && r.created == 2
    });
    reg.wait_until(&rx, WAIT, "rebuilt session", |r| {
        r.sessions["t-b"].first_prompt.as_deref() == Some("three")
    });
    assert_eq!(reg.sessions["t-b"].prompt_count, 1);

    // Replaced by rename (a new inode), e.g. an editor or a sync tool.
    let tmp = dir.path().join("tmp.new");
    std::fs::write(&tmp, format!("{}{}", meta("t-c"), user("four")))?;
    std::fs::rename(&tmp, &f)?;
    reg.wait_until(&rx, WAIT, "replacement read", |r| {
        r.sessions.get("t-c").is_some_and(|s| s.prompt_count == 1)
    });
    assert_eq!(reg.resets, 2);
    assert!(reg.errors.is_empty(), "{:?}", reg.errors);
    w.stop();
    Ok(())
}

#[test]
fn unknown_and_malformed_lines_are_counted_and_skipped() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (w, rx) = start(dir.path(), 64 * 1024)?;
    let f = dir.path().join("rollout-c.jsonl");
    let mut data = meta("t-d");
    data.push_str("{\"timestamp\":\"x\",\"type\":\"hologram\",\"payload\":{}}\n");
    data.push_str("{\"timestamp\":\"x\",\"type\":\"hologram\",\"payload\":{\"n\":2}}\n");
    data.push_str("{\"type\":\"event_msg\",\"payload\":{\"type\":\"warp_drive\"}}\n");
    data.push_str("this is not json\n");
    data.push_str("{\"type\":\"event_msg\"}\n");
    data.push_str(&user("still read"));
    append(&f, data.as_bytes());
    append(&f, b"\xff\xfe garbage bytes\n");
    append(&f, user("after garbage").as_bytes());
    let mut reg = Registry::default();
    reg.wait_until(&rx, WAIT, "both prompts", |r| {
        r.sessions.get("t-d").is_some_and(|s| s.prompt_count == 2)
    });
    let stats = w.sweep_now(WAIT)?;
    assert_eq!(stats.unknown_line_types.get("hologram"), Some(&2));
    assert_eq!(stats.unknown_event_types.get("warp_drive"), Some(&1));
    assert_eq!(stats.malformed, 2, "{stats:#?}");
    assert_eq!(stats.invalid_utf8, 1, "{stats:#?}");
    assert_eq!(stats.lines, 9);
    assert_eq!(user_texts(&reg, "t-d"), vec!["still read", "after garbage"]);
    w.stop();
    Ok(())
}

#[test]
fn file_in_a_directory_created_after_start_is_found() -> Result<()> {
    let root = tempfile::tempdir()?;
    // Watch a sessions dir that does not exist yet, with a short sweep for attaching.
    let sessions = root.path().join("sessions");
    let (tx, rx) = mpsc::channel();
    let mut config = WatcherConfig::new(&sessions);
    config.sweep_interval = Duration::from_millis(200);
    config.index.resolve_git = false;
    let w = RolloutWatcher::start(
        config,
        Box::new(MemoryStore::default()),
        skip_none(),
        Box::new(move |ev| {
            let _ = tx.send(ev);
        }),
    )?;
    let day = sessions.join("2026/11/23");
    std::fs::create_dir_all(&day)?;
    append(
        &day.join("rollout-d.jsonl"),
        format!("{}{}", meta("t-e"), user("hello")).as_bytes(),
    );
    let mut reg = Registry::default();
    reg.wait_until(&rx, WAIT, "session in new dir", |r| {
        r.sessions.get("t-e").is_some_and(|s| s.prompt_count == 1)
    });
    // Later appends arrive through events once the directory is watched.
    append(&day.join("rollout-d.jsonl"), user("again").as_bytes());
    reg.wait_until(&rx, WAIT, "second prompt", |r| {
        r.sessions["t-e"].prompt_count == 2
    });
    w.stop();
    Ok(())
}
