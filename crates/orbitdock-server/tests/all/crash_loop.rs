//! Crash loop: the real `orbitdock serve` binary with 3 direct sessions streaming through the
//! REAL pinned Codex app-server and the loopback model, plus passive sessions from `codex exec`
//! runs in the watched home, killed with SIGKILL at random points and restarted on the same data
//! dir, again and again. Afterwards every item a client saw published (items are published only
//! after their commit) is there exactly once, no session is duplicated, no approval is left
//! pending, no item is left `in_progress`, and every direct session takes a new message.
//!
//! A fourth session waits on a command approval at the first kill (it must end up closed, never
//! pending and never decided by the server), and `codex exec` runs append their rollouts while
//! the hub is killed (each must become exactly one passive session).
//!
//! The server runs Codex as its default shared runtime (a listener on a Unix socket, not a stdio
//! child): after every kill, no listener may be left on the data dir's socket.
//!
//! Kills: `ORBITDOCK_CRASH_KILLS` (default 4 in the suite; the long variant is 20). Prints
//! `kills, items checked, lost, duplicated, stale`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use futures::StreamExt;
use orbitdock_protocol::{
    ApprovalHistory, ApprovalResolution, ItemStatus, ItemsPage, Origin, SessionState,
    SessionStatus, SessionsResponse,
};
use rand::Rng;
use serde_json::json;
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Served, eventually, kill9, serve, target_bin};
use crate::shared_runtime::{listeners, socket_of, within};

/// Every item delta seen on the WebSocket: (session, seq) -> item id.
type Seen = HashMap<(String, u64), String>;

async fn watch(
    s: &Served,
    sessions: Vec<String>,
    seen: std::sync::Arc<parking_lot::Mutex<Seen>>,
) -> Result<()> {
    let req = test_support::hub_ws_request(&s.base, &s.token).map_err(anyhow::Error::msg)?;
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    for id in &sessions {
        futures::SinkExt::send(
            &mut ws,
            Message::Text(
                json!({"type": "subscribe_session", "session_id": id})
                    .to_string()
                    .into(),
            ),
        )
        .await?;
    }
    tokio::spawn(async move {
        while let Some(Ok(m)) = ws.next().await {
            let Message::Text(t) = m else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else {
                continue;
            };
            if v["type"] == "session_delta" && v["delta"]["kind"] == "item" {
                let sid = v["session_id"].as_str().unwrap_or_default().to_owned();
                let item = &v["delta"]["item"];
                if let (Some(seq), Some(id)) = (item["seq"].as_u64(), item["id"].as_str()) {
                    seen.lock().insert((sid, seq), id.to_owned());
                }
            }
        }
    });
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_in_a_loop_loses_and_duplicates_nothing() -> Result<()> {
    let kills: usize = std::env::var("ORBITDOCK_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let bin = target_bin("orbitdock")?;
    let fake = FakeResponses::start();
    // The first model request is the approval session's: a command that needs approval.
    fake.enqueue(ScriptedResponse::new().exec_command("echo approved-run", "call-crash"));
    let parts: Vec<String> = (0..40).map(|i| format!("word{i} ")).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    // Direct turns (3 a round), terminal runs (every other round), the final messages.
    for _ in 0..(kills + 2) * 4 + 4 {
        fake.enqueue(
            ScriptedResponse::new()
                .text_deltas(&parts)
                .delay_between_events(Duration::from_millis(25)),
        );
    }
    let home = CodexHomeBuilder::new(&fake.base_url())
        .approval_policy("never")
        .sandbox_mode("read-only")
        .build();
    let data = tempfile::tempdir()?;
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(Seen::new()));
    let mut rng = rand::rng();

    let mut s = serve(&bin, data.path(), &home, &[])?;
    let mut ids = Vec::new();
    for i in 0..3 {
        let st: SessionState = s
            .rest()
            .post(
                "/api/sessions",
                &json!({"cwd": home.workdir(), "name": format!("crash-{i}")}),
            )
            .await?;
        ids.push(st.summary.id.clone());
    }
    // A fourth session waits on a command approval when the first kill comes.
    let st: SessionState = s
        .rest()
        .post(
            "/api/sessions",
            &json!({"cwd": home.workdir(), "name": "crash-approval",
                "approval_policy": "untrusted", "sandbox_mode": "workspace-write"}),
        )
        .await?;
    let approval_id = st.summary.id.clone();
    let _: serde_json::Value = s
        .rest()
        .post(
            &format!("/api/sessions/{approval_id}/messages"),
            &json!({"text": "run the command"}),
        )
        .await?;
    let r = s.rest();
    eventually("the approval to be pending", || async {
        let st: SessionState = r.get(&format!("/api/sessions/{approval_id}")).await?;
        Ok((!st.pending_approvals.is_empty()).then_some(()))
    })
    .await?;
    let mut terminals = Vec::new();
    for k in 0..kills {
        watch(&s, ids.clone(), seen.clone()).await?;
        for id in &ids {
            // A session may still be settling from the restart; a refusal here is fine, the
            // loop is about what the server does when it dies mid-whatever.
            let _ = s
                .rest()
                .post_raw(
                    &format!("/api/sessions/{id}/messages"),
                    &json!({"text": format!("round {k}")}),
                )
                .await;
        }
        if k % 2 == 0 {
            // A terminal session appends its rollout while the hub streams and dies: the
            // watcher is mid-file at the kill and must pick up where it left off.
            terminals.push(
                home.command(&["exec", "--skip-git-repo-check", &format!("terminal {k}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?,
            );
        }
        let wait = rng.random_range(50..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        kill9(&mut s);
        let socket = socket_of(data.path());
        within(
            Duration::from_secs(10),
            "the killed server's runtime to end",
            || listeners(&socket).is_empty(),
        )
        .await?;
        s = serve(&bin, data.path(), &home, &[])?;
    }
    let terminal_runs = terminals.len();
    for mut t in terminals {
        let status = t.wait()?;
        ensure!(status.success(), "codex exec failed: {status}");
    }

    // Verify on a fresh start, once every terminal run is a passive session.
    let r = s.rest();
    let list: SessionsResponse = eventually("the terminal runs to be discovered", || async {
        let list: SessionsResponse = r.get("/api/sessions").await?;
        let passive = list
            .sessions
            .iter()
            .filter(|x| x.origin == Origin::Passive)
            .count();
        Ok((passive >= terminal_runs).then_some(list))
    })
    .await?;
    let passive = list
        .sessions
        .iter()
        .filter(|x| x.origin == Origin::Passive)
        .count();
    let mut threads = HashSet::new();
    let mut duplicated_sessions = 0;
    for summary in &list.sessions {
        if let Some(t) = &summary.thread_id
            && !threads.insert(t.clone())
        {
            duplicated_sessions += 1;
        }
    }
    let seen = seen.lock().clone();
    let (mut lost, mut duplicated, mut stale, mut checked) = (0, 0, 0, 0);
    let mut by_session: BTreeMap<String, Vec<orbitdock_protocol::TranscriptItem>> = BTreeMap::new();
    for summary in &list.sessions {
        let page: ItemsPage = r
            .get(&format!(
                "/api/sessions/{}/items?after=0&limit=1000",
                summary.id
            ))
            .await?;
        let mut keys = HashSet::new();
        for it in &page.items {
            if !keys.insert((it.turn_id.clone(), it.id.clone())) {
                duplicated += 1;
            }
            if it.status == ItemStatus::InProgress && summary.origin == Origin::Direct {
                stale += 1;
            }
        }
        by_session.insert(summary.id.clone(), page.items);
    }
    for ((sid, seq), id) in &seen {
        checked += 1;
        let found = by_session
            .get(sid)
            .map(|items| {
                items
                    .iter()
                    .filter(|i| i.seq == *seq && &i.id == id)
                    .count()
            })
            .unwrap_or(0);
        if found != 1 {
            lost += 1;
        }
    }
    // The approval that was pending at the first kill: closed, never left pending, never
    // answered by the server on its own.
    let approval_state: SessionState = r.get(&format!("/api/sessions/{approval_id}")).await?;
    let history: ApprovalHistory = r
        .get(&format!("/api/sessions/{approval_id}/approvals/history"))
        .await?;
    let resolutions: Vec<ApprovalResolution> =
        history.approvals.iter().map(|a| a.resolution).collect();
    println!(
        "crash loop: kills {kills}, items checked {checked}, lost {lost}, duplicated {duplicated}, stale {stale}, duplicated sessions {duplicated_sessions}, sessions {} ({passive} passive from {terminal_runs} terminal runs appended during kills); approval pending at a kill: left pending {}, resolutions {resolutions:?}",
        list.sessions.len(),
        approval_state.pending_approvals.len(),
    );
    ensure!(checked > 0, "no item was seen before the kills");
    ensure!(lost == 0 && duplicated == 0 && stale == 0 && duplicated_sessions == 0);
    ensure!(
        passive == terminal_runs,
        "passive sessions {passive} != terminal runs {terminal_runs}"
    );
    ensure!(
        approval_state.pending_approvals.is_empty(),
        "{approval_state:?}"
    );
    ensure!(
        !resolutions.is_empty()
            && resolutions.iter().all(|r| matches!(
                r,
                ApprovalResolution::AgentGone | ApprovalResolution::TurnEnded
            )),
        "approval resolutions {resolutions:?}"
    );
    ensure!(
        history.approvals.iter().all(|a| a.decision.is_none()),
        "an approval was decided without a person"
    );
    let ids: Vec<String> = ids.into_iter().chain([approval_id]).collect();

    // Every direct session opens, has nothing pending, and takes a message.
    for id in &ids {
        let st: SessionState = r.get(&format!("/api/sessions/{id}")).await?;
        ensure!(st.pending_approvals.is_empty(), "{st:?}");
        let _: serde_json::Value = eventually("the session to take a message", || async {
            let (code, body) = r
                .post_raw(
                    &format!("/api/sessions/{id}/messages"),
                    &json!({"text": "after the crashes"}),
                )
                .await?;
            Ok((code == 200).then_some(body))
        })
        .await?;
    }
    for id in &ids {
        eventually("the last turn to finish", || async {
            let st: SessionState = r.get(&format!("/api/sessions/{id}")).await?;
            Ok((st.summary.status == SessionStatus::Waiting).then_some(()))
        })
        .await?;
    }
    kill9(&mut s);
    if lost > 0 {
        bail!("lost items");
    }
    Ok(())
}
