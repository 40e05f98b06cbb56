//! The watcher against rollouts written by the REAL pinned Codex CLI (`codex exec`, loopback
//! model from test-support): a passive session appears with the right prompt, counts, usage and
//! status; a resumed thread continues it; a server-driven thread is skipped; a restart in the
//! middle of a real file neither loses nor repeats a line.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::Result;
use codex_rollout::{
    IndexConfig, JsonFileStore, MemoryStore, PassiveConfig, ReaderConfig, RolloutIndex,
    RolloutWatcher, SessionStatus, TranscriptItem, WatcherConfig, WatcherEvent, skip_none,
};
use common::{Registry, run_codex, single_rollout, thread_id};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome};

const WAIT: Duration = Duration::from_secs(30);

fn home_with_tool_turn(fake: &FakeResponses) -> TempCodexHome {
    // Turn 1: the model runs a command, then answers (two responses). Turn 2 (resume): answers.
    fake.enqueue(
        ScriptedResponse::new()
            .exec_command("echo hi-from-tool", "call_1")
            .usage(100, 10, 20, 3),
    );
    fake.enqueue(
        ScriptedResponse::new()
            .text("Done: said hi ✓ ünïcødé")
            .usage(150, 100, 30, 4),
    );
    fake.enqueue(
        ScriptedResponse::new()
            .text("second answer")
            .usage(200, 150, 10, 0),
    );
    CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("danger-full-access")
        .build()
}

fn exec(home: &TempCodexHome, prompt: &str) -> Result<String> {
    let events = run_codex(home.command(&["exec", "--json", "--skip-git-repo-check", prompt]))?;
    thread_id(&events)
}

fn resume(home: &TempCodexHome, id: &str, prompt: &str) -> Result<()> {
    run_codex(home.command(&[
        "exec",
        "--json",
        "--skip-git-repo-check",
        "resume",
        id,
        prompt,
    ]))?;
    Ok(())
}

#[test]
fn codex_exec_run_becomes_a_passive_session() -> Result<()> {
    let fake = FakeResponses::start();
    let home = home_with_tool_turn(&fake);
    let (tx, rx) = mpsc::channel();
    let mut config = WatcherConfig::new(home.path().join("sessions"));
    // The sessions dir does not exist yet: the watcher must attach once Codex creates it.
    config.sweep_interval = Duration::from_millis(500);
    config.tick_interval = Duration::from_millis(100);
    config.index.passive.inactivity_timeout = Duration::from_secs(3);
    let watcher = RolloutWatcher::start(
        config,
        Box::new(MemoryStore::default()),
        skip_none(),
        Box::new(move |ev| {
            let _ = tx.send(ev);
        }),
    )?;

    let id = exec(&home, "please run echo")?;
    let mut reg = Registry::default();
    reg.wait_until(&rx, WAIT, "first turn complete", |r| {
        r.sessions.get(&id).is_some_and(|s| {
            s.status == SessionStatus::Waiting && s.usage.is_some_and(|u| u.total.total_tokens > 0)
        })
    });
    let s = reg.sessions[&id].clone();
    assert_eq!(s.first_prompt.as_deref(), Some("please run echo"));
    assert_eq!(s.prompt_count, 1);
    assert_eq!(s.tool_count, 1);
    assert_eq!(s.last_tool.as_deref(), Some("exec_command"));
    assert!(s.last_tool_at.is_some());
    assert_eq!(s.model.as_deref(), Some("gpt-oss-20b"));
    assert_eq!(s.model_provider.as_deref(), Some("local"));
    assert_eq!(
        s.cli_version.as_deref(),
        Some(test_support::PINNED_CODEX_VERSION)
    );
    assert_eq!(s.originator.as_deref(), Some("codex_exec"));
    assert_eq!(
        s.cwd.as_deref().map(Path::new),
        Some(home.workdir()),
        "cwd from session_meta"
    );
    assert_eq!(s.git.branch.as_deref(), Some("main"));
    assert_eq!(s.git.repo.as_deref(), Some("work"));
    assert_eq!(s.slug, codex_rollout::slug_for(&id));
    assert_eq!(
        s.last_agent_message.as_deref(),
        Some("Done: said hi ✓ ünïcødé")
    );
    let u = s.usage.expect("usage");
    // Cumulative over both responses of the turn, as Codex reports it.
    assert_eq!(u.total.input_tokens, 250);
    assert_eq!(u.total.cached_input_tokens, 110);
    assert_eq!(u.total.output_tokens, 50);
    assert_eq!(u.last.input_tokens, 150);
    assert!(u.context_window.is_some_and(|w| w > 0));
    assert_eq!(reg.created, 1, "exactly one session for one thread");

    // Transcript: prompt, the command with its output, the answer — in order, once each.
    let kinds: Vec<&TranscriptItem> = reg.items[&id].iter().map(|e| &e.item).collect();
    assert_eq!(kinds.len(), 3, "{kinds:#?}");
    assert_eq!(
        kinds[0],
        &TranscriptItem::User {
            text: "please run echo".into()
        }
    );
    match kinds[1] {
        TranscriptItem::Command {
            call_id,
            command,
            exit_code,
            output,
            ..
        } => {
            assert_eq!(call_id.as_deref(), Some("call_1"));
            assert_eq!(command, "echo hi-from-tool");
            assert_eq!(*exit_code, Some(0));
            assert_eq!(output.as_deref(), Some("hi-from-tool\n"));
        }
        other => panic!("expected a command, got {other:?}"),
    }
    assert_eq!(
        kinds[2],
        &TranscriptItem::Agent {
            text: "Done: said hi ✓ ünïcødé".into()
        }
    );

    // A resumed thread appends to the same file: the same session continues.
    resume(&home, &id, "and again")?;
    reg.wait_until(&rx, WAIT, "second prompt", |r| {
        r.sessions[&id].prompt_count == 2 && r.sessions[&id].status == SessionStatus::Waiting
    });
    let s = &reg.sessions[&id];
    assert_eq!(
        s.first_prompt.as_deref(),
        Some("please run echo"),
        "first prompt kept"
    );
    assert_eq!(s.tool_count, 1);
    assert_eq!(s.last_agent_message.as_deref(), Some("second answer"));
    assert_eq!(reg.created, 1);

    // No more lines: ended after the (shortened) inactivity timeout.
    reg.wait_until(&rx, WAIT, "inactivity end", |r| {
        r.sessions[&id].status == SessionStatus::Ended
    });
    assert_eq!(reg.ended, 1);
    assert!(reg.errors.is_empty(), "{:?}", reg.errors);
    watcher.stop();
    Ok(())
}

#[test]
fn server_driven_thread_is_skipped_and_a_late_claim_detaches() -> Result<()> {
    let fake = FakeResponses::start();
    let home = home_with_tool_turn(&fake);
    let id = exec(&home, "please run echo")?;
    let sessions = home.path().join("sessions");

    // Known to the server from the start: no passive session at all.
    let driven: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::from([id.clone()])));
    let d = driven.clone();
    let skip: codex_rollout::SkipFn = Arc::new(move |t| d.lock().is_ok_and(|s| s.contains(t)));
    let mut index = RolloutIndex::new(
        IndexConfig::default(),
        Box::new(MemoryStore::default()),
        skip.clone(),
    )?;
    let mut out = Vec::new();
    index.sweep(
        &sessions,
        codex_rollout::passive_session::now_ms(),
        &mut |e| keep_updates(&mut out, e),
    );
    assert!(out.is_empty(), "{out:#?}");
    assert!(index.sessions().is_empty());
    // More lines for the skipped thread stay skipped.
    resume(&home, &id, "and again")?;
    index.sweep(
        &sessions,
        codex_rollout::passive_session::now_ms(),
        &mut |e| keep_updates(&mut out, e),
    );
    assert!(out.is_empty(), "{out:#?}");

    // Claimed by the server after the watcher saw it: the passive view is detached, once.
    let driven2: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let d2 = driven2.clone();
    let skip2: codex_rollout::SkipFn = Arc::new(move |t| d2.lock().is_ok_and(|s| s.contains(t)));
    let mut index = RolloutIndex::new(
        IndexConfig::default(),
        Box::new(MemoryStore::default()),
        skip2,
    )?;
    let mut out = Vec::new();
    index.sweep(
        &sessions,
        codex_rollout::passive_session::now_ms(),
        &mut |e| keep_updates(&mut out, e),
    );
    assert_eq!(index.sessions().len(), 1);
    driven2.lock().expect("lock").insert(id.clone());
    let rollout = single_rollout(home.path())?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&rollout)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"timestamp\":\"2030-01-01T00:00:00Z\",\"type\":\"event_msg\",\"payload\":{\"type\":\"task_started\"}}\n"))?;
    let mut out = Vec::new();
    index.process_file(
        &rollout,
        codex_rollout::passive_session::now_ms(),
        &mut |e| keep_updates(&mut out, e),
    );
    assert_eq!(
        out,
        vec![WatcherEvent::Detached {
            thread_id: id.clone()
        }]
    );
    assert!(index.sessions().is_empty());
    Ok(())
}

/// Reads `path` with a fresh index over `store_path`, returning the registry it produced.
fn index_once(sessions: &Path, store_path: &Path, chunk: usize, reg: &mut Registry) -> Result<()> {
    let config = IndexConfig {
        reader: ReaderConfig {
            chunk_size: chunk,
            ..ReaderConfig::default()
        },
        passive: PassiveConfig::default(),
        resolve_git: false,
    };
    let mut index = RolloutIndex::new(
        config,
        Box::new(JsonFileStore::open(store_path)?),
        skip_none(),
    )?;
    let mut out = Vec::new();
    index.sweep(
        sessions,
        codex_rollout::passive_session::now_ms(),
        &mut |e| keep_updates(&mut out, e),
    );
    index.flush()?;
    for ev in out {
        reg.apply(ev);
    }
    Ok(())
}

#[test]
fn restart_mid_file_neither_loses_nor_repeats_a_line() -> Result<()> {
    let fake = FakeResponses::start();
    let home = home_with_tool_turn(&fake);
    let id = exec(&home, "please run echo")?;
    resume(&home, &id, "and again")?;
    let full = std::fs::read(single_rollout(home.path())?)?;

    // Reference: the whole file in one go.
    let ref_dir = tempfile::tempdir()?;
    std::fs::write(ref_dir.path().join("rollout-ref.jsonl"), &full)?;
    let mut reference = Registry::default();
    index_once(
        ref_dir.path(),
        &ref_dir.path().join("state.json"),
        256 * 1024,
        &mut reference,
    )?;
    let ref_items = reference.items[&id].clone();
    assert_eq!(ref_items.len(), 5, "{ref_items:#?}");

    // Cut points: inside the multibyte check mark of the agent message, and mid-line elsewhere.
    let needle = "✓".as_bytes();
    let check = full
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the agent message is in the rollout");
    for cut in [
        check + 1,
        check + 2,
        full.len() / 3,
        full.len() / 2,
        full.len() - 1,
    ] {
        for chunk in [7usize, 4096] {
            let dir = tempfile::tempdir()?;
            let sessions = dir.path().join("sessions");
            std::fs::create_dir_all(&sessions)?;
            let file = sessions.join("rollout-x.jsonl");
            let store = dir.path().join("state.json");
            let mut reg = Registry::default();
            std::fs::write(&file, &full[..cut])?;
            index_once(&sessions, &store, chunk, &mut reg)?; // first process
            std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .and_then(|mut f| std::io::Write::write_all(&mut f, &full[cut..]))?;
            index_once(&sessions, &store, chunk, &mut reg)?; // "restarted" process
            assert_eq!(
                reg.items.get(&id).cloned().unwrap_or_default(),
                ref_items,
                "cut at {cut}, chunk {chunk}"
            );
            let (a, b) = (&reg.sessions[&id], &reference.sessions[&id]);
            assert_eq!(a.prompt_count, b.prompt_count, "cut {cut}");
            assert_eq!(a.tool_count, b.tool_count, "cut {cut}");
            assert_eq!(a.usage, b.usage, "cut {cut}");
            assert_eq!(a.first_prompt, b.first_prompt, "cut {cut}");
            assert_eq!(a.last_agent_message, b.last_agent_message, "cut {cut}");
            assert_eq!(reg.created, 1, "cut {cut}");
        }
    }
    Ok(())
}

/// Collects what a test asserts on: everything but the sweeps' progress reports.
fn keep_updates(out: &mut Vec<WatcherEvent>, e: WatcherEvent) {
    if !matches!(e, WatcherEvent::SweepProgress { .. }) {
        out.push(e);
    }
}
