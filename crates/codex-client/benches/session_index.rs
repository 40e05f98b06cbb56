//! Listing and searching 50k Codex sessions from the session index, against the ways one could
//! do it without it — all measured in the same run over the same generated corpus.
//!
//! 1. Generates N threads in Codex's rollout format (`sessions/YYYY/MM/DD/rollout-*.jsonl`, one
//!    to three turns each, 60 project directories, four models, prompts over a small vocabulary
//!    plus a rare `ticketNNNN` word) and a matching `history.jsonl`.
//! 2. Indexes them from scratch (prints files/s and MB/s), refreshes again with nothing changed,
//!    then after appending a turn to 100 threads.
//! 3. Times list and search queries from the index (p50/p99 over repeated runs, warm).
//! 4. Baselines: the same queries as a naive scan of the rollout directory (walk, read, parse
//!    with codex-rollout, filter, sort — what a tool without an index does, and roughly what
//!    Codex's own `thread/list` costs), and as storage alternatives: a SQLite `LIKE` scan of the
//!    same text instead of FTS5, and loading a JSON snapshot of the index (a JSON-file store).
//!    Ratios are baseline / index.
//!
//! `cargo bench -p codex-client --bench session_index` (env `BENCH_SESSIONS`, default 50000;
//! `BENCH_PAD`, bytes of filler in the large fields, default 2000; `BENCH_REPS`, default 200).

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codex_client::session_index::{CwdFilter, SessionIndex, SessionQuery, SessionSummary};
use codex_rollout::rollout_line::{EventMsg, RolloutLine, TurnItem};
use test_support::rollout_corpus::{ThreadSpec, pad, write_spec};

const VERBS: [&str; 8] = [
    "fix", "refactor", "document", "speed up", "test", "review", "port", "debug",
];
const NOUNS: [&str; 12] = [
    "parser",
    "scheduler",
    "login flow",
    "cache",
    "renderer",
    "migration",
    "websocket",
    "allocator",
    "tokenizer",
    "router",
    "billing",
    "sandbox",
];
const MODELS: [&str; 4] = ["gpt-5.2-codex", "gpt-5.2", "gpt-oss-20b", "o4-mini"];
/// 2026-01-01T00:00:00Z.
const START_MS: i64 = 1_767_225_600_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Timing {
    p50: Duration,
    p99: Duration,
}

fn time(reps: usize, mut f: impl FnMut() -> usize) -> (Timing, usize) {
    let mut n = f(); // warm-up (statement cache, page cache)
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        n = std::hint::black_box(f());
        samples.push(t.elapsed());
    }
    samples.sort();
    (
        Timing {
            p50: percentile(&samples, 0.5),
            p99: percentile(&samples, 0.99),
        },
        n,
    )
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A UUIDv7-shaped id whose time is the thread's.
fn thread_id(i: usize) -> String {
    let at = START_MS + i as i64 * 600_000;
    format!("{:08x}-{:04x}-7000-8000-{:012x}", at >> 16, at & 0xffff, i)
}

/// Writes the corpus; returns (files, bytes).
fn generate(home: &Path, n: usize, pad: &str) -> anyhow::Result<(Vec<PathBuf>, u64)> {
    let root = home.join("sessions");
    std::fs::create_dir_all(&root)?;
    let mut history = BufWriter::new(std::fs::File::create(home.join("history.jsonl"))?);
    let mut total = 0u64;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        // Ten minutes apart: 50k threads span about a year.
        let at = START_MS + i as i64 * 600_000;
        let ts = rfc3339(at);
        let day = root.join(ts[..10].replace('-', "/"));
        if !day.exists() {
            std::fs::create_dir_all(&day)?;
        }
        let id = thread_id(i);
        let cwd = format!("/home/u/proj-{:02}/svc-{}", i % 60, i % 3);
        let prompt = format!(
            "{} the {} for ticket{}",
            VERBS[i % VERBS.len()],
            NOUNS[(i / 7) % NOUNS.len()],
            i % 5000
        );
        let file = day.join(format!("rollout-{}-{id}.jsonl", ts[..19].replace(':', "-")));
        let mut w = BufWriter::new(std::fs::File::create(&file)?);
        total += write_spec(
            &mut w,
            &ThreadSpec {
                timestamp: &ts,
                model: MODELS[i % MODELS.len()],
                prompt: &prompt,
                ..ThreadSpec::new(&id, &cwd, 1 + i % 3, pad)
            },
        )?;
        w.flush()?;
        writeln!(
            history,
            r#"{{"session_id":"{id}","ts":{},"text":"{prompt} number 0 ✓"}}"#,
            at / 1000
        )?;
        paths.push(file);
    }
    history.flush()?;
    Ok((paths, total))
}

/// What a tool without an index does: walk the tree, read and parse every rollout with
/// codex-rollout, keep the matching threads, sort them newest first, take a page.
fn naive_scan(root: &Path, words: &[&str], cwd_under: Option<&str>) -> usize {
    let mut files = Vec::new();
    codex_rollout::rollout_index::collect_jsonl(root, &mut files);
    let mut hits: Vec<(String, String)> = Vec::new();
    for path in files {
        let Ok(f) = std::fs::File::open(&path) else {
            continue;
        };
        let mut id = None;
        let mut cwd = None;
        let mut last_ts = String::new();
        let mut text = String::new();
        for line in std::io::BufReader::new(f).lines() {
            let Ok(line) = line else { break };
            let Ok(parsed) = codex_rollout::parse_line(&line) else {
                continue;
            };
            if let Some(ts) = parsed.timestamp {
                last_ts = ts;
            }
            match parsed.line {
                RolloutLine::SessionMeta(m) => {
                    id = Some(m.id.clone());
                    cwd = m.cwd.clone();
                }
                RolloutLine::EventMsg(EventMsg::ItemCompleted {
                    item: TurnItem::UserMessage { text: t } | TurnItem::AgentMessage { text: t },
                    ..
                }) => {
                    text.push_str(&t.to_lowercase());
                    text.push('\n');
                }
                _ => {}
            }
        }
        let in_cwd = match (cwd_under, &cwd) {
            (None, _) => true,
            (Some(dir), Some(c)) => c == dir || c.starts_with(&format!("{dir}/")),
            (Some(_), None) => false,
        };
        if in_cwd
            && words.iter().all(|w| text.contains(w))
            && let Some(id) = id
        {
            hits.push((last_ts, id));
        }
    }
    hits.sort_unstable_by(|a, b| b.cmp(a));
    hits.truncate(50);
    hits.len()
}

fn main() -> anyhow::Result<()> {
    let n = env_usize("BENCH_SESSIONS", 50_000);
    let reps = env_usize("BENCH_REPS", 200).max(1);
    let pad = pad(env_usize("BENCH_PAD", 2000));
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("codex-home");
    let t = Instant::now();
    let (paths, bytes) = generate(&home, n, &pad)?;
    let mb = bytes as f64 / 1e6;
    println!(
        "corpus: {n} sessions, {mb:.1} MB of rollouts, generated in {:.2?}",
        t.elapsed()
    );

    // --- Indexing -------------------------------------------------------------------------
    let db = dir.path().join("index.sqlite");
    let mut index = SessionIndex::open(&home, &db)?;
    let stats = index.refresh()?;
    let secs = stats.elapsed.as_secs_f64();
    println!(
        "index from scratch: {} files, {} lines ({} bad), {} history entries in {:.2} s = {:.0} sessions/s, {:.1} MB/s",
        stats.files_read,
        stats.lines,
        stats.bad_lines,
        stats.history_entries,
        secs,
        stats.files_read as f64 / secs,
        stats.bytes_read as f64 / 1e6 / secs
    );
    anyhow::ensure!(stats.sessions == n as u64, "indexed {stats:?}");
    let db_mb = std::fs::metadata(&db)?.len() as f64 / 1e6;
    println!("index size: {db_mb:.1} MB");
    let again = index.refresh()?;
    println!(
        "refresh, nothing changed: {:.0} ms ({} files read)",
        ms(again.elapsed),
        again.files_read
    );
    for p in paths.iter().step_by((n / 100).max(1)).take(100) {
        let mut f = std::fs::OpenOptions::new().append(true).open(p)?;
        writeln!(
            f,
            r#"{{"timestamp":"2027-01-01T00:00:00.000Z","type":"event_msg","payload":{{"type":"item_completed","turn_id":"late","item":{{"type":"UserMessage","id":"late","content":[{{"type":"text","text":"one more zebra request"}}]}}}}}}"#
        )?;
    }
    let appended = index.refresh()?;
    println!(
        "refresh after appending to 100 threads: {:.0} ms ({} files read)",
        ms(appended.elapsed),
        appended.files_read
    );

    // --- Queries from the index -------------------------------------------------------------
    let newest = SessionQuery::default();
    let mut cursor = None;
    for _ in 0..10 {
        let page = index.list(&SessionQuery {
            cursor: cursor.clone(),
            ..SessionQuery::default()
        })?;
        cursor = page.next_cursor;
    }
    let page_11 = SessionQuery {
        cursor,
        ..SessionQuery::default()
    };
    let by_cwd = SessionQuery {
        cwd: Some(CwdFilter::Under("/home/u/proj-07".into())),
        ..SessionQuery::default()
    };
    let by_model_time = SessionQuery {
        model: Some("gpt-oss-20b".into()),
        since_ms: Some(START_MS + 90 * 86_400_000),
        until_ms: Some(START_MS + 120 * 86_400_000),
        ..SessionQuery::default()
    };
    let rare = SessionQuery {
        text: Some("ticket1234".into()),
        ..SessionQuery::default()
    };
    let common = SessionQuery {
        text: Some("assertion".into()),
        ..SessionQuery::default()
    };
    let two_words = SessionQuery {
        text: Some("websocket ticket42".into()),
        ..SessionQuery::default()
    };
    let two_words_cwd = SessionQuery {
        text: Some("scheduler tick*".into()),
        cwd: Some(CwdFilter::Under("/home/u/proj-07".into())),
        ..SessionQuery::default()
    };
    let queries: [(&str, &SessionQuery); 8] = [
        ("list newest page (50)", &newest),
        ("list page 11 (cursor)", &page_11),
        ("list cwd under a project", &by_cwd),
        ("list model + 30-day window", &by_model_time),
        ("search rare word", &rare),
        ("search word in every thread", &common),
        ("search 2 words", &two_words),
        ("search word + prefix + cwd", &two_words_cwd),
    ];
    println!("\nfrom the index ({reps} runs each, warm):");
    let mut index_p50 = Vec::new();
    for (name, q) in queries {
        let (t, hits) = time(reps, || match index.list(q) {
            Ok(page) => page.sessions.len(),
            Err(e) => panic!("{name}: {e}"),
        });
        println!(
            "  {name:<32} p50 {:>8.3} ms  p99 {:>8.3} ms  ({hits} results)",
            ms(t.p50),
            ms(t.p99)
        );
        index_p50.push((name, t.p50));
    }
    let probe = thread_id(n / 2);
    let (get_t, _) = time(reps, || {
        usize::from(index.get(&probe).ok().flatten().is_some())
    });
    println!("  {:<32} p50 {:>8.3} ms", "get by thread id", ms(get_t.p50));

    // --- Baselines ------------------------------------------------------------------------
    println!("\nbaselines (same corpus, same run):");
    let naive_reps = env_usize("BENCH_NAIVE_REPS", 3).max(1);
    let root = home.join("sessions");
    let (naive_list, _) = time(naive_reps, || naive_scan(&root, &[], None));
    let (naive_search, _) = time(naive_reps, || naive_scan(&root, &["ticket1234"], None));
    let list_p50 = index_p50[0].1;
    let search_p50 = index_p50[4].1;
    println!(
        "  naive directory scan, list      p50 {:>9.1} ms  -> index is {:.0}x faster",
        ms(naive_list.p50),
        naive_list.p50.as_secs_f64() / list_p50.as_secs_f64()
    );
    println!(
        "  naive directory scan, search    p50 {:>9.1} ms  -> index is {:.0}x faster",
        ms(naive_search.p50),
        naive_search.p50.as_secs_f64() / search_p50.as_secs_f64()
    );

    // Storage alternatives for the text search: SQLite without FTS (LIKE over the same text),
    // and a JSON file holding every summary, loaded and scanned.
    let conn = rusqlite::Connection::open(&db)?;
    conn.execute_batch(
        "CREATE TEMP TABLE plain AS SELECT s.id, s.updated_ms, t.text FROM sessions s JOIN session_text t ON t.rowid = s.id;",
    )?;
    let (like, _) = time(reps.min(50), || {
        conn.query_row(
            "SELECT count(*) FROM (SELECT id FROM plain WHERE text LIKE '%ticket1234%' ORDER BY updated_ms DESC LIMIT 50)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0) as usize
    });
    println!(
        "  SQLite LIKE scan, search        p50 {:>9.1} ms  -> FTS5 is {:.0}x faster",
        ms(like.p50),
        like.p50.as_secs_f64() / search_p50.as_secs_f64()
    );
    let mut all: Vec<SessionSummary> = Vec::with_capacity(n);
    let mut cursor = None;
    loop {
        let page = index.list(&SessionQuery {
            limit: 1000,
            cursor: cursor.clone(),
            ..SessionQuery::default()
        })?;
        all.extend(page.sessions);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let snapshot = dir.path().join("index.json");
    std::fs::write(&snapshot, serde_json::to_vec(&all)?)?;
    let (json_load, _) = time(naive_reps, || {
        std::fs::read(&snapshot)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<SessionSummary>>(&b).ok())
            .map_or(0, |v| v.len())
    });
    println!(
        "  JSON snapshot load (no text!)   p50 {:>9.1} ms  -> SQLite list is {:.0}x faster per process start",
        ms(json_load.p50),
        json_load.p50.as_secs_f64() / list_p50.as_secs_f64()
    );

    let worst = index_p50.iter().map(|(_, d)| *d).max().unwrap_or_default();
    println!(
        "\ngoal: list and search < 100 ms after indexing; slowest index query p50 {:.3} ms ({})",
        ms(worst),
        if worst < Duration::from_millis(100) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
