//! Rollout checkpoints commit with the items they produced: the real `orbitdock serve` is
//! killed with SIGKILL again and again while terminal sessions append their rollouts (lines
//! written in one or two writes, so a kill often finds a half-written last line), and restarted
//! on the same data dir. At the end every turn of every thread is in its passive session
//! exactly once, in order: nothing lost, nothing repeated, one session per thread, and no
//! checkpoint file beside the database.
//!
//! Kills: `ORBITDOCK_CHECKPOINT_KILLS` (default 5). Prints `kills, lines appended, items
//! checked, lost, repeated`.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use anyhow::{Result, ensure};
use orbitdock_protocol::{ItemBody, ItemsPage, Origin, SessionsResponse};
use rand::Rng;
use test_support::rollout_corpus::{ThreadSpec, pad, write_spec};
use test_support::{CodexHomeBuilder, FakeResponses};

use crate::common::{eventually, kill9, serve, target_bin};

const THREADS: usize = 3;
const TURNS: usize = 12;

/// The lines of one generated thread.
fn thread_lines(id: &str, cwd: &str, filler: &str) -> Result<Vec<Vec<u8>>> {
    let mut buf = Vec::new();
    write_spec(&mut buf, &ThreadSpec::new(id, cwd, TURNS, filler))?;
    Ok(buf
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect())
}

/// What a turn of the generated thread becomes: the prompt, the command, the answer.
fn turn_matches(t: usize, items: &[ItemBody]) -> bool {
    matches!(
        items,
        [
            ItemBody::UserMessage { text: prompt },
            ItemBody::CommandExecution { .. },
            ItemBody::AgentMessage { text: answer },
        ] if prompt == &format!("please fix the failing test number {t} ✓")
            && answer.contains(&format!("(turn {t})"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_while_rollouts_grow_neither_loses_nor_repeats_items() -> Result<()> {
    let kills: usize = std::env::var("ORBITDOCK_CHECKPOINT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let bin = target_bin("orbitdock")?;
    let fake = FakeResponses::start();
    let home = CodexHomeBuilder::new(&fake.base_url()).build();
    let data = tempfile::tempdir()?;
    let day = home.path().join("sessions/2026/11/22");
    std::fs::create_dir_all(&day)?;
    let cwd = home.workdir().to_string_lossy().into_owned();
    let filler = pad(300);
    let mut files = Vec::new();
    for n in 0..THREADS {
        let id = format!("0199a000-0000-7000-8000-00000000000{n}");
        let path = day.join(format!("rollout-2026-11-22T00-09-0{n}-{id}.jsonl"));
        files.push((id.clone(), path, thread_lines(&id, &cwd, &filler)?));
    }
    let total_lines: usize = files.iter().map(|(_, _, l)| l.len()).sum();

    // The terminals: append every thread's lines round-robin, some in two writes with a pause
    // in between, independently of the server's life.
    let appender = std::thread::spawn(move || -> std::io::Result<usize> {
        let mut rng = rand::rng();
        let mut handles = Vec::new();
        for (_, path, _) in &files {
            handles.push(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            );
        }
        let mut written = 0;
        for i in 0.. {
            let mut any = false;
            for (f, (_, _, lines)) in handles.iter_mut().zip(&files) {
                let Some(line) = lines.get(i) else { continue };
                any = true;
                if rng.random_bool(0.3) {
                    let cut = rng.random_range(1..line.len());
                    f.write_all(&line[..cut])?;
                    std::thread::sleep(Duration::from_millis(rng.random_range(5..40)));
                    f.write_all(&line[cut..])?;
                } else {
                    f.write_all(line)?;
                }
                written += 1;
                std::thread::sleep(Duration::from_millis(rng.random_range(2..15)));
            }
            if !any {
                break;
            }
        }
        Ok(written)
    });

    let mut rng = rand::rng();
    let mut s = serve(&bin, data.path(), &home, &[])?;
    for _ in 0..kills {
        let wait = rng.random_range(100..900);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        kill9(&mut s);
        s = serve(&bin, data.path(), &home, &[])?;
    }
    let written = tokio::task::spawn_blocking(move || appender.join())
        .await?
        .map_err(|_| anyhow::anyhow!("appender panicked"))??;
    ensure!(written == total_lines, "{written} of {total_lines} lines");

    // Every turn of every thread, once, in order.
    let r = s.rest();
    let want = THREADS * TURNS * 3;
    let pages = eventually("every appended item to be applied", || async {
        let list: SessionsResponse = r.get("/api/sessions").await?;
        let mut pages = Vec::new();
        let mut count = 0;
        for summary in list.sessions.iter().filter(|x| x.origin == Origin::Passive) {
            let page: ItemsPage = r
                .get(&format!(
                    "/api/sessions/{}/items?after=0&limit=1000",
                    summary.id
                ))
                .await?;
            count += page.items.len();
            pages.push((summary.clone(), page.items));
        }
        Ok((pages.len() >= THREADS && count >= want).then_some(pages))
    })
    .await?;
    let mut threads = HashSet::new();
    let (mut checked, mut lost, mut repeated) = (0, 0, 0);
    for (summary, items) in &pages {
        ensure!(
            threads.insert(summary.thread_id.clone()),
            "two sessions for {:?}",
            summary.thread_id
        );
        let mut keys = HashSet::new();
        for it in items {
            checked += 1;
            if !keys.insert((it.turn_id.clone(), it.id.clone())) {
                repeated += 1;
            }
        }
        let bodies: Vec<ItemBody> = items.iter().map(|i| i.body.clone()).collect();
        repeated += bodies.len().saturating_sub(TURNS * 3);
        for t in 0..TURNS {
            let turn = bodies.get(t * 3..t * 3 + 3).unwrap_or_default();
            if !turn_matches(t, turn) {
                lost += 1;
            }
        }
    }
    println!(
        "checkpoint crash: kills {kills}, lines appended {written}, items checked {checked}, lost {lost}, repeated {repeated}, passive sessions {}",
        pages.len()
    );
    ensure!(pages.len() == THREADS, "{} passive sessions", pages.len());
    ensure!(lost == 0 && repeated == 0, "{pages:#?}");
    ensure!(
        !data.path().join("codex-rollout-state.json").exists(),
        "checkpoints live in the database"
    );
    kill9(&mut s);
    Ok(())
}
