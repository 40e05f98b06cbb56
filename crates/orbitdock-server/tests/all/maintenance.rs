//! Keeping the database within bounds over a long history: pruning old sessions (exactly the
//! old settled ones, search rows included, never a live one, a dry run changing nothing, and
//! never imported again from their rollouts after a restart, even a rollout read again from
//! its start), and the global cap on stored command output (the oldest sessions' outputs cut
//! to their start and end, the search index with them, the whole output still readable from
//! the rollout). Rollouts are written in Codex's format and imported through the real path.

use anyhow::{Context, Result};
use orbitdock_protocol::{
    FullOutputResponse, ItemBody, ItemsPage, PruneResponse, ServerStatus, SessionStatus,
    SessionsResponse,
};
use orbitdock_server::retention::{AFTER_BUDGET, OutputLimits};
use serde_json::{Value, json};
use test_support::rollout_corpus::{ThreadSpec, pad, write_spec};

use crate::common::{Rest, Scripted, TOKEN, eventually};
use crate::list_search::watching;

/// Writes one single-turn rollout whose every line is at `ts` (RFC 3339); returns its path.
fn write_rollout(
    home: &std::path::Path,
    id: &str,
    ts: &str,
    prompt: &str,
    output: Option<&str>,
) -> Result<std::path::PathBuf> {
    let dir = home.join(format!(
        "sessions/{}/{}/{}",
        &ts[..4],
        &ts[5..7],
        &ts[8..10]
    ));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("rollout-{}-{id}.jsonl", ts[..19].replace(':', "-")));
    let pad = pad(100);
    let spec = ThreadSpec {
        timestamp: ts,
        prompt,
        output,
        ..ThreadSpec::new(id, "/w/app", 1, &pad)
    };
    write_spec(&mut std::fs::File::create(&path)?, &spec)?;
    Ok(path)
}

fn thread(i: usize) -> String {
    format!("0199bbbb-cccc-7ddd-8eee-{i:012}")
}

fn days_ago(d: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(d))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

async fn imported(rest: &Rest, n: usize) -> Result<SessionsResponse> {
    eventually(
        &format!("the import to complete with {n} sessions"),
        || async {
            let st: ServerStatus = rest.get("/api/status").await?;
            let list: SessionsResponse = rest.get("/api/sessions?limit=1000").await?;
            Ok((st.import.complete && list.sessions.len() == n).then_some(list))
        },
    )
    .await
}

async fn hits(rest: &Rest, word: &str) -> Result<usize> {
    let r: Value = rest.get(&format!("/api/search?q={word}")).await?;
    Ok(r["hits"].as_array().map_or(0, Vec::len))
}

async fn prune(rest: &Rest, body: Value) -> Result<PruneResponse> {
    rest.post("/api/maintenance/prune", &body).await
}

fn threads_of(list: &SessionsResponse) -> Vec<String> {
    let mut t: Vec<String> = list
        .sessions
        .iter()
        .filter_map(|s| s.thread_id.clone())
        .collect();
    t.sort();
    t
}

#[tokio::test]
async fn prune_deletes_exactly_the_old_sessions_and_they_stay_gone_after_a_restart() -> Result<()> {
    let home = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let mut old_paths = Vec::new();
    for i in 0..6 {
        let ts = format!("2026-03-0{}T10:00:00.000Z", i + 1);
        old_paths.push(write_rollout(
            home.path(),
            &thread(i),
            &ts,
            "ancient walrus",
            None,
        )?);
    }
    for i in 6..8 {
        write_rollout(home.path(), &thread(i), &days_ago(2), "recent heron", None)?;
    }
    let server = watching(data.path(), home.path()).await?;
    let rest = Rest::new(&server.base_url());
    let before = imported(&rest, 8).await?;
    assert!(hits(&rest, "walrus").await? > 0);

    // A dry run counts and changes nothing.
    let dry = prune(&rest, json!({"older_than": "30d", "dry_run": true})).await?;
    assert!(dry.dry_run);
    assert_eq!(dry.sessions, 6, "{dry:?}");
    assert!(dry.items >= 6 * 3 && dry.freed_bytes > 0, "{dry:?}");
    let mut old_ids: Vec<String> = before
        .sessions
        .iter()
        .filter(|s| {
            s.thread_id
                .as_deref()
                .is_some_and(|t| t < thread(6).as_str())
        })
        .map(|s| s.id.clone())
        .collect();
    old_ids.sort();
    let mut said = dry.session_ids.clone();
    said.sort();
    assert_eq!(said, old_ids);
    let list: SessionsResponse = rest.get("/api/sessions?limit=1000").await?;
    assert_eq!(list.sessions.len(), 8);
    assert!(hits(&rest, "walrus").await? > 0);
    // None is archived.
    let archived = prune(
        &rest,
        json!({"older_than": "30d", "archived_only": true, "dry_run": true}),
    )
    .await?;
    assert_eq!(archived.sessions, 0);

    let done = prune(&rest, json!({"older_than": "30d"})).await?;
    assert!(!done.dry_run);
    assert_eq!(
        (done.sessions, done.items, done.skipped_live),
        (6, dry.items, 0)
    );
    assert!(done.free_bytes_in_database > 0, "{done:?}");
    let after: SessionsResponse = rest.get("/api/sessions?limit=1000").await?;
    assert_eq!(threads_of(&after), vec![thread(6), thread(7)]);
    assert_eq!(hits(&rest, "walrus").await?, 0, "search rows are gone too");
    assert!(hits(&rest, "heron").await? > 0);
    let (status, _) = rest
        .post_raw(&format!("/api/sessions/{}/end", old_ids[0]), &json!({}))
        .await?;
    assert_eq!(status, 404);
    println!(
        "pruned {} sessions, {} items, {} bytes of rows; {} bytes free in the database",
        done.sessions, done.items, done.freed_bytes, done.free_bytes_in_database
    );
    server.shutdown().await;

    // While stopped: one pruned rollout is rewritten as a new file (as `codex migrate-rollouts
    // --apply` does), so it is read again from its start; a new thread appears.
    // Written beside it and renamed over it: another inode, so the import starts it over.
    let fresh = old_paths[0].with_extension("tmp");
    std::fs::copy(&old_paths[0], &fresh)?;
    std::fs::rename(&fresh, &old_paths[0])?;
    write_rollout(home.path(), &thread(8), &days_ago(1), "fresh otter", None)?;
    let server = watching(data.path(), home.path()).await?;
    let rest = Rest::new(&server.base_url());
    let again = imported(&rest, 3).await?;
    assert_eq!(threads_of(&again), vec![thread(6), thread(7), thread(8)]);
    assert_eq!(hits(&rest, "walrus").await?, 0);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn prune_never_deletes_a_live_session_and_refuses_bad_input() -> Result<()> {
    let s = Scripted::start().await?;
    let (id, _) = s.create().await?;
    // Waiting for its next message: live, however old the cut-off.
    let kept = prune(&s.rest, json!({"older_than": "0s"})).await?;
    assert_eq!((kept.sessions, kept.skipped_live), (0, 1), "{kept:?}");
    assert_eq!(s.state(&id).await?.summary.status, SessionStatus::Waiting);

    for (body, what) in [
        (json!({"older_than": "soon"}), "not a duration"),
        (json!({"older_than": ""}), "not a duration"),
        (json!({"older_than": 30}), "invalid JSON body"),
    ] {
        let (status, answer) = s.rest.post_raw("/api/maintenance/prune", &body).await?;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(what), "{message}");
    }
    let http = reqwest::Client::new();
    let url = format!("{}/api/maintenance/prune", s.base());
    let anonymous = http
        .post(&url)
        .json(&json!({"older_than": "0s"}))
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    let get = http.get(&url).bearer_auth(TOKEN).send().await?;
    assert_eq!(get.status().as_u16(), 405);
    assert_eq!(s.state(&id).await?.summary.status, SessionStatus::Waiting);

    // Once ended it goes.
    let _: Value = s
        .rest
        .post(&format!("/api/sessions/{id}/end"), &json!({}))
        .await?;
    eventually("the session to end", || async {
        Ok((s.state(&id).await?.summary.status == SessionStatus::Ended).then_some(()))
    })
    .await?;
    let gone = prune(&s.rest, json!({"older_than": "0s"})).await?;
    assert_eq!((gone.sessions, gone.skipped_live), (1, 0), "{gone:?}");
    let list: SessionsResponse = s.rest.get("/api/sessions").await?;
    assert!(list.sessions.is_empty());
    s.shutdown().await;
    Ok(())
}

/// `start{i}`, 10,000 bytes, the word `quokka{i}`, 10,000 bytes, `end{i}`.
fn big_output(i: usize) -> String {
    format!(
        "start{i}\n{}\nquokka{i}\n{}\nend{i}\n",
        "a ".repeat(5_000),
        "b ".repeat(5_000)
    )
}

async fn command_item(rest: &Rest, id: &str) -> Result<orbitdock_protocol::TranscriptItem> {
    let page: ItemsPage = rest
        .get(&format!("/api/sessions/{id}/items?after=0&limit=100"))
        .await?;
    page.items
        .into_iter()
        .find(|i| matches!(i.body, ItemBody::CommandExecution { .. }))
        .context("no command item")
}

#[tokio::test]
async fn the_global_output_cap_cuts_the_oldest_sessions_first() -> Result<()> {
    let home = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let n = 8;
    for i in 0..n {
        let ts = format!("2026-03-0{}T10:00:00.000Z", i + 1);
        write_rollout(
            home.path(),
            &thread(i),
            &ts,
            "long build",
            Some(&big_output(i)),
        )?;
    }
    let server = watching(data.path(), home.path()).await?;
    let rest = Rest::new(&server.base_url());
    let list = imported(&rest, n).await?;
    let registry = server.registry.clone();
    // The import keeps the first 16 KiB of each output (the rest is read back from the
    // rollout on request).
    let each = 16 * 1024;
    // Under the default cap nothing changes.
    let untouched = registry.enforce_output_total().await?;
    assert_eq!((untouched.before, untouched.sessions), (each * n as u64, 0));
    // The periodic check's shortcut is sound: the database's used size bounds what it stores.
    let used = registry.store().used_bytes()?;
    assert!(used >= untouched.before, "{used} < {}", untouched.before);
    assert!(hits(&rest, "quokka0").await? > 0);

    let cap = 3 * each;
    registry.store().set_output_limits(OutputLimits {
        total: cap,
        ..OutputLimits::default()
    });
    let cut = registry.enforce_output_total().await?;
    assert!(cut.after <= cap, "{cut:?}");
    // 8 x 16 KiB over a 48 KiB cap: the six oldest are cut, the two newest kept.
    assert_eq!(cut.sessions, 6, "{cut:?}");
    let by_thread = |i: usize| {
        list.sessions
            .iter()
            .find(|s| s.thread_id.as_deref() == Some(thread(i).as_str()))
            .map(|s| s.id.clone())
            .context("session of thread")
    };
    for i in 0..n {
        let item = command_item(&rest, &by_thread(i)?).await?;
        let ItemBody::CommandExecution {
            output,
            output_omitted,
            ..
        } = &item.body
        else {
            unreachable!()
        };
        let full = big_output(i);
        let om = output_omitted.with_context(|| format!("thread {i}: no omission"))?;
        assert_eq!(output.len() as u64 + om.omitted_bytes, full.len() as u64);
        assert!(
            full.starts_with(output.as_str()),
            "thread {i}: the start is kept"
        );
        if i < 6 {
            assert!(output.len() <= AFTER_BUDGET);
            assert_eq!(hits(&rest, &format!("quokka{i}")).await?, 0, "thread {i}");
            // Still readable whole from the rollout.
            let back: FullOutputResponse = rest
                .get(&format!(
                    "/api/sessions/{}/items/{}/output",
                    by_thread(i)?,
                    item.seq
                ))
                .await?;
            assert!(back.complete && back.output == full, "thread {i}: {back:?}");
        } else {
            assert_eq!(output.len() as u64, each, "thread {i}");
            assert!(hits(&rest, &format!("quokka{i}")).await? > 0, "thread {i}");
        }
    }
    // Under the cap now: a second pass does nothing.
    assert_eq!(registry.enforce_output_total().await?.sessions, 0);
    println!(
        "stored command output {} -> {} bytes (cap {cap}), {} sessions cut",
        cut.before, cut.after, cut.sessions
    );
    server.shutdown().await;
    Ok(())
}
