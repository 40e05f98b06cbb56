//! The paged, filtered session list (REST and the WebSocket's paged view) and full-text search,
//! over a real server (SQLite, HTTP, WebSocket) with the scripted agent: keyset paging stays
//! exact while sessions are inserted concurrently, every filter, the paged view's deltas, search
//! ranking, snippets and unicode.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Result;
use orbitdock_protocol::{
    ItemBody, ItemStatus, ListDelta, MATCH_END, MATCH_START, Origin, Provider, SearchResponse,
    ServerMessage, SessionStatus, SessionsResponse,
};
use orbitdock_server::{NewSession, Registry, SessionEvent};
use serde_json::json;

use crate::common::Scripted;

/// A path with its query string encoded.
fn path(p: &str, params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params(&format!("http://x{p}"), params).unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

async fn passive(
    registry: &Arc<Registry>,
    thread: &str,
    updated_at: i64,
    tweak: impl FnOnce(&mut NewSession),
) -> Result<String> {
    let mut new = NewSession {
        provider: Provider::Codex,
        origin: Origin::Passive,
        cwd: "/w/app".into(),
        thread_id: Some(thread.into()),
        status: SessionStatus::Waiting,
        created_at: updated_at,
        updated_at,
        ..Default::default()
    };
    tweak(&mut new);
    Ok(registry.create_session(new).await?.id().to_owned())
}

async fn page(s: &Scripted, params: &[(&str, &str)]) -> Result<SessionsResponse> {
    s.rest.get(&path("/api/sessions", params)).await
}

fn ids(r: &SessionsResponse) -> Vec<String> {
    r.sessions.iter().map(|s| s.id.clone()).collect()
}

#[tokio::test]
async fn paging_is_exact_while_sessions_are_inserted_concurrently() -> Result<()> {
    let s = Scripted::start().await?;
    let registry = s.server().registry.clone();
    // Ties on the sort key (pairs share a time) must page by id, never repeat or skip.
    let base = 1_700_000_000_000_i64;
    let mut expected = Vec::new();
    for i in 0..30 {
        let id = passive(&registry, &format!("t{i}"), base + (i / 2) * 1_000, |_| {}).await?;
        expected.push((base + (i / 2) * 1_000, id));
    }
    expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    // Newer sessions keep arriving while the client pages.
    let inserter = {
        let registry = registry.clone();
        tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..20 {
                let id = passive(&registry, &format!("new{i}"), 0, |_| {})
                    .await
                    .unwrap();
                made.push(id);
                tokio::task::yield_now().await;
            }
            made
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = vec![("limit", "7")];
        if let Some(c) = &cursor {
            params.push(("cursor", c.as_str()));
        }
        let r = page(&s, &params).await?;
        if cursor.is_none() {
            // The first page may already hold some of the new sessions (they are the newest).
            seen.extend(ids(&r).into_iter().filter(|id| expected.contains(id)));
        } else {
            seen.extend(ids(&r));
        }
        pages += 1;
        cursor = r.next_cursor.clone();
        if cursor.is_none() {
            break;
        }
    }
    let made = inserter.await?;
    // Every page after the first starts below the cursor: nothing newer slips in, nothing
    // repeats, nothing is skipped.
    assert_eq!(seen, expected, "{pages} pages");
    let all = page(&s, &[("limit", "1000")]).await?;
    assert_eq!(all.total, Some(50));
    assert_eq!(
        ids(&all).iter().collect::<HashSet<_>>().len(),
        50,
        "no duplicates"
    );
    // The new ones come first, most recent first; the old ones after, in order.
    let tail: Vec<String> = ids(&all)
        .into_iter()
        .filter(|id| !made.contains(id))
        .collect();
    assert_eq!(tail, expected);
    // The old shape, for clients that do not page: everything, no paging fields.
    let whole: serde_json::Value = s.rest.get("/api/sessions").await?;
    assert_eq!(whole["sessions"].as_array().unwrap().len(), 50);
    assert!(whole.get("next_cursor").is_none() && whole.get("total").is_none());
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn every_filter_narrows_the_list() -> Result<()> {
    let s = Scripted::start().await?;
    let registry = s.server().registry.clone();
    let t = 1_700_000_000_000_i64;
    let plain = passive(&registry, "a", t, |_| {}).await?;
    let claude = passive(&registry, "b", t + 1, |n| n.provider = Provider::Claude).await?;
    let direct = passive(&registry, "c", t + 2, |n| n.origin = Origin::Direct).await?;
    let other_dir = passive(&registry, "d", t + 3, |n| n.cwd = "/w/apple".into()).await?;
    let below = passive(&registry, "e", t + 4, |n| n.cwd = "/w/app/sub".into()).await?;
    let local = passive(&registry, "f", t + 5, |n| {
        n.model_provider = Some("codexpc".into())
    })
    .await?;
    let ended = passive(&registry, "g", t + 6, |n| n.status = SessionStatus::Ended).await?;
    let asking = passive(&registry, "h", t + 7, |n| {
        n.status = SessionStatus::NeedsAnswer
    })
    .await?;
    let old = passive(&registry, "i", t - 86_400_000, |_| {}).await?;
    let archived = passive(&registry, "j", t + 8, |_| {}).await?;
    registry.get(&archived).await?.set_archived(true).await?;
    let set = |r: SessionsResponse| ids(&r).into_iter().collect::<HashSet<_>>();
    let of = |v: &[&String]| v.iter().map(|s| (*s).clone()).collect::<HashSet<_>>();

    assert_eq!(
        set(page(&s, &[("provider", "claude")]).await?),
        of(&[&claude])
    );
    assert_eq!(
        set(page(&s, &[("origin", "direct")]).await?),
        of(&[&direct])
    );
    assert_eq!(
        set(page(&s, &[("model_provider", "codexpc")]).await?),
        of(&[&local])
    );
    assert_eq!(
        set(page(&s, &[("cwd", "/w/app/sub")]).await?),
        of(&[&below])
    );
    assert!(!set(page(&s, &[("cwd", "/w/app")]).await?).contains(&other_dir));
    assert_eq!(set(page(&s, &[("status", "ended")]).await?), of(&[&ended]));
    assert_eq!(
        set(page(&s, &[("status", "ended,needs_answer")]).await?),
        of(&[&ended, &asking])
    );
    assert_eq!(
        set(page(&s, &[("attention", "true")]).await?),
        of(&[&asking])
    );
    let before = (t - 1).to_string();
    assert_eq!(
        set(page(&s, &[("updated_before", before.as_str())]).await?),
        of(&[&old])
    );
    let after = t.to_string();
    let recent = set(page(&s, &[("updated_after", after.as_str())]).await?);
    assert!(recent.contains(&plain) && !recent.contains(&old));
    // Archived: out by default, alone with `only`, with the rest with `include`.
    assert!(!set(page(&s, &[("limit", "100")]).await?).contains(&archived));
    assert_eq!(
        set(page(&s, &[("archived", "only")]).await?),
        of(&[&archived])
    );
    assert_eq!(
        page(&s, &[("archived", "include")]).await?.sessions.len(),
        10
    );
    // Sorted by creation: archiving touched `updated_at`, not `created_at`.
    let by_created = page(&s, &[("sort", "created"), ("archived", "include")]).await?;
    assert_eq!(by_created.sessions.first().map(|x| &x.id), Some(&archived));
    assert_eq!(by_created.sessions.last().map(|x| &x.id), Some(&old));
    // Filters combine.
    assert_eq!(
        set(page(&s, &[("provider", "codex"), ("status", "ended")]).await?),
        of(&[&ended])
    );
    // Bad values are refused with the parameter named, never ignored.
    for bad in [
        ("status", "sleeping"),
        ("provider", "gemini"),
        ("sort", "mood"),
        ("archived", "maybe"),
        ("cursor", "nonsense"),
        ("limit", "-3"),
    ] {
        let e = page(&s, &[bad]).await.unwrap_err().to_string();
        assert!(e.contains("400"), "{bad:?}: {e}");
    }
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_paged_view_sends_a_page_then_only_deltas_in_view() -> Result<()> {
    let s = Scripted::start().await?;
    let registry = s.server().registry.clone();
    let t = 1_700_000_000_000_i64;
    let mut old = Vec::new();
    for i in 0..12 {
        old.push(passive(&registry, &format!("o{i}"), t + i * 10, |_| {}).await?);
    }
    let mut ws = s.ws().await?;
    ws.send(json!({"type": "subscribe_list", "limit": 5, "query": {"provider": "codex"}}))
        .await?;
    let first = ws
        .wait_for("first page", |m| {
            matches!(m, ServerMessage::SessionsPage { .. })
        })
        .await?;
    let ServerMessage::SessionsPage { page, append } = first else {
        unreachable!()
    };
    assert!(!append);
    assert_eq!(page.total, 12);
    let got: Vec<&String> = page.sessions.iter().map(|s| &s.id).collect();
    let newest: Vec<&String> = old.iter().rev().take(5).collect();
    assert_eq!(got, newest);

    // Out of view: a Claude session (filtered out) and a Codex one older than the page end.
    passive(&registry, "claude", 0, |n| n.provider = Provider::Claude).await?;
    let below = passive(&registry, "below", t + 15, |_| {}).await?;
    // In view: a new Codex session (it sorts first).
    let fresh = passive(&registry, "fresh", 0, |_| {}).await?;
    let delta = ws
        .wait_for("the in-view delta", |m| {
            matches!(m, ServerMessage::SessionsDelta { .. })
        })
        .await?;
    let ServerMessage::SessionsDelta {
        delta: ListDelta::Upsert { summary },
        ..
    } = delta
    else {
        panic!("{delta:?}")
    };
    assert_eq!(summary.id, fresh, "the out-of-view changes were not sent");

    // A held row leaving the filter is removed client-side.
    registry.get(&old[11]).await?.set_archived(true).await?;
    let removed = ws
        .wait_for("removal", |m| {
            matches!(m, ServerMessage::SessionsDelta { .. })
        })
        .await?;
    assert!(
        matches!(&removed, ServerMessage::SessionsDelta { delta: ListDelta::Removed { id }, .. } if *id == old[11]),
        "{removed:?}"
    );

    // The next page starts right after the last row sent, and holds the row inserted below.
    ws.send(json!({"type": "list_more"})).await?;
    let more = ws
        .wait_for("second page", |m| {
            matches!(m, ServerMessage::SessionsPage { .. })
        })
        .await?;
    let ServerMessage::SessionsPage { page, append } = more else {
        unreachable!()
    };
    assert!(append);
    let got: Vec<&String> = page.sessions.iter().map(|s| &s.id).collect();
    let want: Vec<&String> = vec![&old[6], &old[5], &old[4], &old[3], &old[2]];
    assert_eq!(got, want);
    assert!(page.next_cursor.is_some());
    ws.send(json!({"type": "list_more"})).await?;
    let last = ws
        .wait_for("third page", |m| {
            matches!(m, ServerMessage::SessionsPage { .. })
        })
        .await?;
    let ServerMessage::SessionsPage { page, .. } = last else {
        unreachable!()
    };
    let got: Vec<&String> = page.sessions.iter().map(|s| &s.id).collect();
    assert_eq!(got, vec![&below, &old[1], &old[0]]);
    assert!(page.next_cursor.is_none());
    s.shutdown().await;
    Ok(())
}

async fn say(registry: &Arc<Registry>, id: &str, item: &str, body: ItemBody) -> Result<()> {
    registry
        .get(id)
        .await?
        .ingest_committed(vec![SessionEvent::Item {
            turn_id: Some("t1".into()),
            item_id: item.into(),
            status: ItemStatus::Completed,
            body,
        }])
        .await?;
    Ok(())
}

async fn search(s: &Scripted, q: &str) -> Result<SearchResponse> {
    s.rest.get(&path("/api/search", &[("q", q)])).await
}

#[tokio::test]
async fn search_finds_names_prompts_and_transcripts_with_snippets() -> Result<()> {
    let s = Scripted::start().await?;
    let registry = s.server().registry.clone();
    let named = passive(&registry, "n", 0, |n| {
        n.name = Some("Kubernetes migration".into())
    })
    .await?;
    let talked = passive(&registry, "t", 0, |_| {}).await?;
    say(
        &registry,
        &talked,
        "u1",
        ItemBody::UserMessage {
            text: "what does the deploy script do".into(),
        },
    )
    .await?;
    say(
        &registry,
        &talked,
        "a1",
        ItemBody::AgentMessage {
            text: "It rolls the kubernetes deployment forward after running the migrations.".into(),
        },
    )
    .await?;
    let unicode = passive(&registry, "u", 0, |_| {}).await?;
    say(
        &registry,
        &unicode,
        "u1",
        ItemBody::UserMessage {
            text: "Le café de Zoë. Привет мир. 東京 の 天気".into(),
        },
    )
    .await?;

    // Found as soon as the write returned (same transaction as the item).
    let r = search(&s, "kubernetes").await?;
    let order: Vec<&String> = r.hits.iter().map(|h| &h.session_id).collect();
    assert_eq!(order, vec![&named, &talked], "a name match ranks first");
    assert_eq!(r.hits[0].seq, None);
    assert_eq!(
        r.hits[0].session.as_ref().map(|s| s.id.clone()),
        Some(named.clone())
    );
    let hit = &r.hits[1];
    let agent_seq = registry
        .get(&talked)
        .await?
        .snapshot()
        .await?
        .1
        .iter()
        .find(|i| matches!(i.body, ItemBody::AgentMessage { .. }))
        .map(|i| i.seq);
    assert_eq!(hit.seq, agent_seq, "the hit names the item to open");
    assert!(
        hit.snippet
            .contains(&format!("{MATCH_START}kubernetes{MATCH_END}")),
        "{:?}",
        hit.snippet
    );
    // Prefixes, every word required.
    assert_eq!(search(&s, "deploy script").await?.hits.len(), 1);
    assert_eq!(search(&s, "deploy nothing-like-this").await?.hits.len(), 0);
    // Unicode: diacritics folded, other scripts case-folded, words of any script.
    for q in ["cafe", "CAFÉ", "zoe", "привет", "ПРИВЕТ", "東京"] {
        let r = search(&s, q).await?;
        assert_eq!(
            r.hits.iter().map(|h| &h.session_id).collect::<Vec<_>>(),
            vec![&unicode],
            "{q}"
        );
    }
    // Query syntax is never interpreted.
    for q in ["\"", "NEAR(", "kubernetes OR", "*", "a:b"] {
        search(&s, q).await?;
    }
    let e = search(&s, "  ").await.unwrap_err().to_string();
    assert!(e.contains("400"), "{e}");
    // A rename is searchable at once.
    registry
        .get(&talked)
        .await?
        .rename("Nightly rollout".into())
        .await?;
    let r = search(&s, "nightly").await?;
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].session_id, talked);
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn search_finds_words_inside_chinese_and_japanese_sentences() -> Result<()> {
    let s = Scripted::start().await?;
    let registry = s.server().registry.clone();
    // No spaces between words: each sentence is one token for a word-splitting tokenizer.
    let ja = passive(&registry, "ja", 0, |_| {}).await?;
    say(
        &registry,
        &ja,
        "a1",
        ItemBody::AgentMessage {
            text: "昨日は東京の会議室でデプロイの手順を確認しました。".into(),
        },
    )
    .await?;
    let zh = passive(&registry, "zh", 0, |_| {}).await?;
    say(
        &registry,
        &zh,
        "a1",
        ItemBody::AgentMessage {
            text: "我们明天在北京讨论数据库迁移的计划。".into(),
        },
    )
    .await?;
    // A name with the word outranks a transcript mention (title weight, as for other scripts).
    let named = passive(&registry, "named", 0, |n| n.name = Some("北京出張".into())).await?;
    let mixed = passive(&registry, "mixed", 0, |_| {}).await?;
    say(
        &registry,
        &mixed,
        "u1",
        ItemBody::UserMessage {
            text: "Rustで書いたサーバーを東京リージョンにdeployする".into(),
        },
    )
    .await?;

    let found = |r: &SearchResponse| {
        r.hits
            .iter()
            .map(|h| h.session_id.clone())
            .collect::<Vec<_>>()
    };
    let r = search(&s, "会議").await?;
    assert_eq!(found(&r), vec![ja.clone()]);
    assert_eq!(
        r.hits[0].snippet,
        format!("昨日は東京の{MATCH_START}会議{MATCH_END}室でデプロイの手順を確認しました。")
    );
    let r = search(&s, "迁移").await?;
    assert_eq!(found(&r), vec![zh.clone()]);
    assert!(
        r.hits[0]
            .snippet
            .contains(&format!("{MATCH_START}迁移{MATCH_END}")),
        "{:?}",
        r.hits[0].snippet
    );
    let r = search(&s, "北京").await?;
    assert_eq!(
        found(&r),
        vec![named.clone(), zh.clone()],
        "the name ranks first"
    );
    assert_eq!(r.hits[0].seq, None);
    assert_eq!(
        r.hits[0].snippet,
        format!("{MATCH_START}北京{MATCH_END}出張\n/w/app\n")
    );
    // Katakana words, longer runs, one character, and CJK mixed with other words.
    assert_eq!(found(&search(&s, "デプロイ").await?), vec![ja.clone()]);
    assert_eq!(found(&search(&s, "数据库迁移").await?), vec![zh.clone()]);
    assert_eq!(
        search(&s, "东京").await?.hits.len(),
        0,
        "simplified ≠ traditional form"
    );
    let r = search(&s, "東京").await?;
    assert_eq!(
        r.hits.iter().map(|h| &h.session_id).collect::<HashSet<_>>(),
        [&ja, &mixed].into_iter().collect::<HashSet<_>>()
    );
    assert_eq!(
        found(&search(&s, "東京 deploy").await?),
        vec![mixed.clone()]
    );
    assert_eq!(
        found(&search(&s, "サーバー rust").await?),
        vec![mixed.clone()]
    );
    assert_eq!(search(&s, "東京 kubernetes").await?.hits.len(), 0);
    // Characters next to each other only across two sentences do not match.
    assert_eq!(search(&s, "た我").await?.hits.len(), 0);
    s.shutdown().await;
    Ok(())
}

/// Writes `n` rollouts in Codex's format, thread `i` a minute newer than thread `i - 1`.
fn write_history(home: &std::path::Path, n: usize, turns: usize) -> Result<Vec<String>> {
    let pad = test_support::rollout_corpus::pad(200);
    let mut ids = Vec::new();
    for i in 0..n {
        let day = 1 + i / 100;
        let dir = home.join(format!("sessions/2026/03/{day:02}"));
        std::fs::create_dir_all(&dir)?;
        let id = format!("0199aaaa-bbbb-7ccc-8ddd-{i:012}");
        let ts = format!(
            "2026-03-{day:02}T{:02}:{:02}:00.000Z",
            (i / 60) % 24,
            i % 60
        );
        let spec = test_support::rollout_corpus::ThreadSpec {
            timestamp: &ts,
            ..test_support::rollout_corpus::ThreadSpec::new(&id, "/w/app", turns, &pad)
        };
        let mut f = std::fs::File::create(dir.join(format!(
            "rollout-2026-03-{day:02}T{:02}-{:02}-00-{id}.jsonl",
            (i / 60) % 24,
            i % 60
        )))?;
        test_support::rollout_corpus::write_spec(&mut f, &spec)?;
        ids.push(id);
    }
    Ok(ids)
}

pub(crate) async fn watching(
    data: &std::path::Path,
    home: &std::path::Path,
) -> Result<orbitdock_server::RunningServer> {
    Ok(orbitdock_server::start_with(
        orbitdock_server::ServerConfig {
            data_dir: data.to_owned(),
            codex_home: home.to_owned(),
            codex_bin: test_support::codex_bin(),
            bind: "127.0.0.1:0".parse()?,
            token: crate::common::TOKEN.into(),
            codex_env: Vec::new(),
            claude: None,
            output_limits: Default::default(),
        },
        orbitdock_server::DiscoveryOptions {
            passive_idle: std::time::Duration::from_secs(24 * 3600),
            ..Default::default()
        },
    )
    .await?)
}

#[tokio::test]
async fn first_start_imports_in_the_background_and_resumes_after_a_restart() -> Result<()> {
    use orbitdock_protocol::ServerStatus;
    let home = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let n = 240;
    write_history(home.path(), n, 3)?;

    let server = watching(data.path(), home.path()).await?;
    let rest = crate::common::Rest::new(&server.base_url());
    // The server answers at once, while the import goes on.
    let first: SessionsResponse = rest.get("/api/sessions?limit=20").await?;
    let status: ServerStatus = rest.get("/api/status").await?;
    assert!(status.import.files_done as usize <= n);
    // Stop it part-way (as far as it got: the restart must neither lose nor repeat anything).
    let mid = crate::common::eventually("some of the import done", || async {
        let st: ServerStatus = rest.get("/api/status").await?;
        Ok((st.import.files_done >= 20).then_some(st))
    })
    .await?;
    server.shutdown().await;

    let server = watching(data.path(), home.path()).await?;
    let rest = crate::common::Rest::new(&server.base_url());
    let done = crate::common::eventually("the import to reach 100%", || async {
        let st: ServerStatus = rest.get("/api/status").await?;
        Ok(st.import.complete.then_some(st))
    })
    .await?;
    assert_eq!(done.import.percent, 100.0);
    assert_eq!(done.import.files_done as usize, n);
    assert_eq!(
        done.sessions as usize, n,
        "one session per thread, none twice"
    );
    // Every session holds its items once (3 turns: a prompt, a command and an answer each).
    let all: SessionsResponse = rest.get("/api/sessions?limit=1000").await?;
    assert_eq!(all.sessions.len(), n);
    let mut counts = std::collections::BTreeMap::new();
    for s in &all.sessions {
        let items: orbitdock_protocol::ItemsPage = rest
            .get(&format!("/api/sessions/{}/items?after=0&limit=1000", s.id))
            .await?;
        *counts.entry(items.items.len()).or_insert(0) += 1;
    }
    assert_eq!(
        counts.len(),
        1,
        "every session has the same items: {counts:?}"
    );
    let per_session = counts.keys().next().copied().unwrap_or(0);
    assert!(per_session >= 3, "{per_session} items per session");
    println!(
        "first page with {} rows while importing; stopped at {}/{} files",
        first.sessions.len(),
        mid.import.files_done,
        mid.import.files_total
    );
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn imported_sessions_keep_the_rollouts_own_times_and_leave_no_actor_behind() -> Result<()> {
    use orbitdock_protocol::ServerStatus;
    use std::io::Write;
    let home = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let n = 30;
    let ids = write_history(home.path(), n, 2)?;
    let ts = |i: usize| {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-03-01T00:{i:02}:00.000Z"))
            .unwrap()
            .timestamp_millis()
    };
    // The oldest thread was continued days later: its last line is the newest of the history.
    let late = "2026-03-05T08:00:00.000Z";
    let oldest = std::fs::read_dir(home.path().join("sessions/2026/03/01"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains(&ids[0]))
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(oldest)?;
    writeln!(
        f,
        r#"{{"timestamp":"{late}","type":"event_msg","payload":{{"type":"item_completed","thread_id":"{}","turn_id":"turn-9","item":{{"type":"AgentMessage","id":"late","content":[{{"type":"Text","text":"picked up again"}}]}}}}}}"#,
        ids[0]
    )?;
    drop(f);

    let server = watching(data.path(), home.path()).await?;
    let rest = crate::common::Rest::new(&server.base_url());
    crate::common::eventually("the import to complete", || async {
        let st: ServerStatus = rest.get("/api/status").await?;
        Ok(st.import.complete.then_some(()))
    })
    .await?;
    server.registry.store().flush().await?;

    // Last activity = the last line's time, creation = the session_meta's: the list is in the
    // history's own order, not in the order the import happened to read it.
    let by_activity: SessionsResponse = rest.get("/api/sessions?limit=100").await?;
    let threads = |r: &SessionsResponse| {
        r.sessions
            .iter()
            .map(|s| s.thread_id.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let mut expected: Vec<String> = ids.iter().skip(1).rev().cloned().collect();
    expected.insert(0, ids[0].clone());
    assert_eq!(threads(&by_activity), expected);
    for s in &by_activity.sessions {
        let i = ids
            .iter()
            .position(|t| Some(t) == s.thread_id.as_ref())
            .unwrap();
        assert_eq!(s.created_at, ts(i), "created_at of thread {i}");
        let last = if i == 0 {
            chrono::DateTime::parse_from_rfc3339(late)?.timestamp_millis()
        } else {
            ts(i)
        };
        assert_eq!(s.updated_at, last, "updated_at of thread {i}");
        // Old sessions are ended as they are read (their source stopped long ago).
        assert_eq!(s.status, SessionStatus::Ended, "status of thread {i}");
    }
    let by_created: SessionsResponse = rest.get("/api/sessions?limit=100&sort=created").await?;
    assert_eq!(
        threads(&by_created),
        ids.iter().rev().cloned().collect::<Vec<_>>()
    );
    // Nobody watched them: no actor stays in memory per imported session.
    assert_eq!(server.registry.live_actors(), 0);
    // One opened later loads again from the database, with everything the import wrote.
    let first = &by_activity.sessions[0];
    let items: orbitdock_protocol::ItemsPage = rest
        .get(&format!(
            "/api/sessions/{}/items?after=0&limit=1000",
            first.id
        ))
        .await?;
    assert!(
        items.items.iter().any(|i| matches!(&i.body,
            ItemBody::AgentMessage { text } if text == "picked up again")),
        "{:?}",
        items.items
    );
    assert_eq!(items.last_seq, items.items.last().map_or(0, |i| i.seq));
    server.shutdown().await;
    Ok(())
}
