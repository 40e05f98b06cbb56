//! Soak: 50 sessions, each followed by 10 WebSocket clients (every client follows every session
//! and the list), turns streaming into all of them for a bounded time. A real server (real
//! SQLite, real HTTP and WebSocket on 127.0.0.1) over the scripted connector: 50 real Codex
//! app-server threads do not fit on 2 cores, and the agent is not what is soaked here.
//!
//! Checked: no request or WebSocket error, no dropped client, every client's revisions of every
//! session (and of the list) gap-free and duplicate-free up to the final one, the resident memory
//! and open file descriptors of the process sampled every second and flat after the warm-up.
//! Printed: turns, frames, errors, gaps, resyncs, RSS and fd samples, send and fan-out p50/p99.
//!
//! `ORBITDOCK_SOAK_SECS` (default 12 in the suite; e.g. 600 for the long variant).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use orbitdock_protocol::{
    ItemBody, ItemStatus, SendMessageResponse, SessionStatus, TextStream, TurnStatus,
};
use orbitdock_server::SessionEvent;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Scripted, TOKEN, WAIT, eventually};

const SESSIONS: usize = 50;
const CLIENTS: usize = 10;
/// Largest upward trend accepted over the last third of a long run, MiB per minute: for the
/// live heap, and for RSS (which also moves with the allocator's own bookkeeping and arenas).
const HEAP_PLATEAU_MIB_PER_MIN: f64 = 0.5;
const RSS_PLATEAU_MIB_PER_MIN: f64 = 1.0;
/// The plateau is judged on runs whose last third lasts at least this long (seconds): shorter
/// runs end while the bounded buffers (replay logs, transcript windows, caches) still fill.
const PLATEAU_SPAN_SECS: f64 = 120.0;

#[derive(Default)]
struct ClientFigures {
    frames: u64,
    deltas: u64,
    gaps: u64,
    duplicates: u64,
    resyncs: u64,
    errors: Vec<String>,
}

/// One process-wide sample.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Seconds since the load started.
    t: f64,
    /// Resident set size, KiB.
    rss: u64,
    /// Bytes malloc has handed out and not had back (glibc's `mallinfo2`): the live heap.
    /// RSS growth with a flat live heap is the allocator keeping freed memory, not a leak.
    heap: u64,
    /// Open descriptors that are not sockets.
    files: usize,
    /// Open sockets, counted apart: the load's own HTTP clients pool connections (both ends
    /// live in this process) and their number follows the bursts of concurrency.
    sockets: usize,
}

fn sample(start: Instant) -> Sample {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let (mut files, mut sockets) = (0, 0);
    for e in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        match std::fs::read_link(e.path()) {
            Ok(t) if t.to_string_lossy().starts_with("socket:") => sockets += 1,
            _ => files += 1,
        }
    }
    Sample {
        t: start.elapsed().as_secs_f64(),
        rss,
        heap: live_heap(),
        files,
        sockets,
    }
}

/// Bytes in use from glibc's malloc (small chunks plus mmapped large ones).
#[allow(unsafe_code)]
fn live_heap() -> u64 {
    // SAFETY: `mallinfo2` takes no arguments and only reads the allocator's counters (under
    // the allocator's own locks); glibc is the C library every supported Linux target links.
    let m = unsafe { nix::libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as u64
}

/// Least-squares slope of `value` over the samples, per minute.
fn slope_per_min(samples: &[Sample], value: impl Fn(&Sample) -> f64) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mt = samples.iter().map(|s| s.t).sum::<f64>() / n;
    let mv = samples.iter().map(&value).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for s in samples {
        num += (s.t - mt) * (value(s) - mv);
        den += (s.t - mt) * (s.t - mt);
    }
    if den == 0.0 { 0.0 } else { num / den * 60.0 }
}

fn now_ns(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

/// The revision a client holds of each session (by id) and of the list (under `""`).
type Held = HashMap<String, u64>;

/// A client following every session and the list, checking revisions as frames arrive and
/// publishing the ones it holds on `held`.
async fn client(
    base: String,
    ids: Vec<String>,
    start: Instant,
    stop: Arc<AtomicBool>,
    fanout: Arc<Mutex<Histogram<u64>>>,
    held: watch::Sender<Held>,
) -> Result<ClientFigures> {
    let req = test_support::hub_ws_request(&base, TOKEN).map_err(anyhow::Error::msg)?;
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    ws.send(Message::Text(
        json!({"type": "subscribe_list"}).to_string().into(),
    ))
    .await?;
    for id in &ids {
        ws.send(Message::Text(
            json!({"type": "subscribe_session", "session_id": id})
                .to_string()
                .into(),
        ))
        .await?;
    }
    let mut f = ClientFigures::default();
    let mut last = Held::new();
    let hold = |last: &mut Held, key: String, revision: u64| {
        held.send_modify(|h| {
            h.insert(key.clone(), revision);
        });
        last.insert(key, revision);
    };
    // A histogram, not a list of samples: the client lives in the measured process, and a list
    // growing by thousands of entries a second would be the very growth the soak looks for.
    let mut lat = Histogram::<u64>::new_from(&*fanout.lock());
    loop {
        let next = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
        let m = match next {
            Err(_) if stop.load(Ordering::SeqCst) => break,
            Err(_) => continue,
            Ok(None) => {
                f.errors.push("connection closed by the server".into());
                break;
            }
            Ok(Some(Err(e))) => {
                f.errors.push(format!("connection failed: {e}"));
                break;
            }
            Ok(Some(Ok(m))) => m,
        };
        let Message::Text(t) = m else { continue };
        f.frames += 1;
        let v: Value = serde_json::from_str(t.as_str())?;
        let (key, revision) = match v["type"].as_str() {
            Some("session_snapshot") => {
                let key = v["session_id"].as_str().unwrap_or_default().to_owned();
                if last.contains_key(&key) {
                    f.resyncs += 1;
                }
                hold(&mut last, key, v["revision"].as_u64().unwrap_or(0));
                continue;
            }
            Some("sessions_snapshot") => {
                if last.contains_key("") {
                    f.resyncs += 1;
                }
                hold(
                    &mut last,
                    String::new(),
                    v["revision"].as_u64().unwrap_or(0),
                );
                continue;
            }
            Some("session_delta") => {
                if v["delta"]["kind"] == "item_text"
                    && let Some(sent) = v["delta"]["delta"].as_str().and_then(|d| d.parse().ok())
                {
                    lat.record(now_ns(start).saturating_sub(sent).max(1)).ok();
                }
                (
                    v["session_id"].as_str().unwrap_or_default().to_owned(),
                    v["revision"].as_u64().unwrap_or(0),
                )
            }
            Some("sessions_delta") => (String::new(), v["revision"].as_u64().unwrap_or(0)),
            Some("error") => {
                f.errors.push(v.to_string());
                continue;
            }
            _ => continue,
        };
        f.deltas += 1;
        match last.get(&key) {
            Some(&prev) if revision == prev + 1 => {}
            Some(&prev) if revision <= prev => f.duplicates += 1,
            Some(_) => f.gaps += 1,
            // A delta before the snapshot of its subscription: the server never sends that.
            None => f.gaps += 1,
        }
        hold(&mut last, key, revision);
    }
    fanout.lock().add(&lat)?;
    Ok(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_ten_clients_memory_and_fds_plateau_revisions_gap_free() -> Result<()> {
    let secs: u64 = std::env::var("ORBITDOCK_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let s = Arc::new(Scripted::start().await?);
    let mut ids = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..SESSIONS {
        let (id, thread) = s.create().await?;
        ids.push(id);
        threads.push(thread);
    }
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let fanout = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        120_000_000_000,
        3,
    )?));
    let mut clients = Vec::new();
    let mut held = Vec::new();
    for _ in 0..CLIENTS {
        let (tx, rx) = watch::channel(Held::new());
        held.push(rx);
        clients.push(tokio::spawn(client(
            s.base(),
            ids.clone(),
            start,
            stop.clone(),
            fanout.clone(),
            tx,
        )));
    }
    // Every client has its snapshots before the load starts (a snapshot per session + list).
    eventually("the clients to subscribe", || async {
        let (_, list) = s.server().registry.list();
        Ok((list.len() == SESSIONS).then_some(()))
    })
    .await?;

    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let samples = samples.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                samples.lock().push(sample(start));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let turns = Arc::new(AtomicU64::new(0));
    let send_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let send_lat = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        120_000_000_000,
        3,
    )?));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut drivers = Vec::new();
    for (i, (id, thread)) in ids.iter().cloned().zip(threads.clone()).enumerate() {
        let s = s.clone();
        let turns = turns.clone();
        let errors = send_errors.clone();
        let send_lat = send_lat.clone();
        drivers.push(tokio::spawn(async move {
            // Spread the sessions' turns over time instead of in lockstep.
            tokio::time::sleep(Duration::from_millis(i as u64 * 7)).await;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let t0 = Instant::now();
                let r = s
                    .rest
                    .post_raw(
                        &format!("/api/sessions/{id}/messages"),
                        &json!({"text": format!("turn {n}")}),
                    )
                    .await;
                send_lat
                    .lock()
                    .record((t0.elapsed().as_nanos() as u64).max(1))
                    .ok();
                let turn = match r {
                    Ok((200, body)) => serde_json::from_value::<SendMessageResponse>(body)
                        .ok()
                        .and_then(|r| r.turn_id),
                    Ok((code, body)) => {
                        errors.lock().push(format!("send: {code} {body}"));
                        None
                    }
                    Err(e) => {
                        errors.lock().push(format!("send: {e}"));
                        None
                    }
                };
                let Some(turn) = turn else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let item = format!("msg-{n}");
                for _ in 0..4 {
                    s.agent
                        .emit(
                            &thread,
                            vec![SessionEvent::ItemText {
                                turn_id: Some(turn.clone()),
                                item_id: item.clone(),
                                stream: TextStream::Text,
                                delta: now_ns(start).to_string(),
                            }],
                        )
                        .await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                s.agent
                    .emit(
                        &thread,
                        vec![
                            SessionEvent::Item {
                                turn_id: Some(turn.clone()),
                                item_id: item.clone(),
                                status: ItemStatus::Completed,
                                body: ItemBody::AgentMessage {
                                    text: "done".into(),
                                },
                            },
                            SessionEvent::TurnEnded {
                                turn_id: turn.clone(),
                                status: TurnStatus::Completed,
                                error: None,
                            },
                        ],
                    )
                    .await;
                let idle = eventually("the turn to end", || async {
                    let st = s.state(&id).await?;
                    Ok((st.summary.status != SessionStatus::Working).then_some(()))
                })
                .await;
                if let Err(e) = idle {
                    errors.lock().push(format!("{id}: {e}"));
                }
                turns.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }));
    }
    for d in drivers {
        d.await?;
    }
    // Stop the clients once each holds the final revision of every session and of the list
    // (read after the load: later changes only raise them).
    let mut finals = Held::new();
    for id in &ids {
        finals.insert(id.clone(), s.state(id).await?.summary.revision);
    }
    finals.insert(String::new(), s.server().registry.list().0);
    let mut behind = Vec::new();
    for (i, rx) in held.iter_mut().enumerate() {
        let caught_up = |h: &Held| finals.iter().all(|(k, r)| h.get(k).is_some_and(|v| v >= r));
        // `Ok(Ok(_))`: caught up; otherwise the client ended (its errors are reported below)
        // or never caught up.
        let caught = matches!(
            tokio::time::timeout(WAIT, rx.wait_for(caught_up)).await,
            Ok(Ok(_))
        );
        if !caught {
            let h = rx.borrow();
            let missing = finals
                .iter()
                .filter(|(k, r)| h.get(k.as_str()).is_none_or(|v| v < *r))
                .count();
            behind.push(format!(
                "client {i}: {missing} of {} final revisions missing",
                finals.len()
            ));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut figures = Vec::new();
    for c in clients {
        figures.push(c.await??);
    }
    sampler.await?;
    let elapsed = start.elapsed().as_secs_f64();

    let samples = samples.lock().clone();
    // The first quarter is the warm-up (allocator arenas, replay logs, SQLite caches filling).
    let warm = samples.len() / 4;
    let settled = &samples[warm.min(samples.len())..];
    let half = settled.len() / 2;
    let (early, late) = settled.split_at(half);
    let max_rss = |s: &[Sample]| s.iter().map(|x| x.rss).max().unwrap_or(0);
    let max_fds = |s: &[Sample]| s.iter().map(|x| x.files).max().unwrap_or(0);
    let max_sockets = samples.iter().map(|x| x.sockets).max().unwrap_or(0);
    let last_third = &samples[samples.len() - samples.len() / 3..];
    let mib = |kib: f64| kib / 1024.0;
    let rss_slope = |s: &[Sample]| mib(slope_per_min(s, |x| x.rss as f64));
    let heap_slope = |s: &[Sample]| slope_per_min(s, |x| x.heap as f64) / (1024.0 * 1024.0);
    let span = |s: &[Sample]| match (s.first(), s.last()) {
        (Some(a), Some(b)) => b.t - a.t,
        _ => 0.0,
    };
    let frames: u64 = figures.iter().map(|f| f.frames).sum();
    let deltas: u64 = figures.iter().map(|f| f.deltas).sum();
    let gaps: u64 = figures.iter().map(|f| f.gaps).sum();
    let dups: u64 = figures.iter().map(|f| f.duplicates).sum();
    let resyncs: u64 = figures.iter().map(|f| f.resyncs).sum();
    let ws_errors: Vec<String> = figures.iter().flat_map(|f| f.errors.clone()).collect();
    let send_errors = send_errors.lock().clone();
    let fan = fanout.lock().clone();
    let sl = send_lat.lock().clone();
    let ms = |ns: u64| ns as f64 / 1e6;
    println!(
        "soak: {SESSIONS} sessions x {CLIENTS} clients for {elapsed:.1} s: turns {}, frames {frames}, deltas {deltas}, errors {} (send {}, WebSocket {}), gaps {gaps}, duplicates {dups}, resyncs {resyncs}",
        turns.load(Ordering::SeqCst),
        send_errors.len() + ws_errors.len(),
        send_errors.len(),
        ws_errors.len(),
    );
    println!(
        "soak: send p50 {:.1} ms p99 {:.1} ms; fan-out (event in -> frame at each client) p50 {:.1} ms p99 {:.1} ms over {} frames",
        ms(sl.value_at_quantile(0.5)),
        ms(sl.value_at_quantile(0.99)),
        ms(fan.value_at_quantile(0.5)),
        ms(fan.value_at_quantile(0.99)),
        fan.len(),
    );
    println!(
        "soak: RSS / live heap MiB (t s): {}",
        samples
            .iter()
            .map(|x| format!(
                "{:.0}/{:.0}@{:.0}",
                mib(x.rss as f64),
                x.heap as f64 / (1024.0 * 1024.0),
                x.t
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "soak: open fds other than sockets / sockets (t s): {}",
        samples
            .iter()
            .map(|x| format!("{}/{}@{:.0}", x.files, x.sockets, x.t))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "soak: slope MiB/min over the settled second half ({:.0} s): RSS {:+.2}, live heap {:+.2}; over the last third ({:.0} s): RSS {:+.2}, live heap {:+.2}",
        span(late),
        rss_slope(late),
        heap_slope(late),
        span(last_third),
        rss_slope(last_third),
        heap_slope(last_third),
    );
    println!(
        "soak: after warm-up, max RSS {:.1} MiB (first half) -> {:.1} MiB (second half); max fds other than sockets {} -> {}; max sockets {max_sockets}",
        max_rss(early) as f64 / 1024.0,
        max_rss(late) as f64 / 1024.0,
        max_fds(early),
        max_fds(late),
    );
    for e in send_errors.iter().chain(&ws_errors).chain(&behind).take(20) {
        println!("  error: {e}");
    }
    ensure!(
        turns.load(Ordering::SeqCst) >= SESSIONS as u64,
        "too few turns ran"
    );
    ensure!(
        send_errors.is_empty() && ws_errors.is_empty(),
        "errors (listed above)"
    );
    ensure!(gaps == 0 && dups == 0, "revision gaps or duplicates");
    ensure!(
        behind.is_empty(),
        "clients without the final revisions (listed above)"
    );
    ensure!(early.len() >= 2 && late.len() >= 2, "too few samples");
    // Plateau, short runs: the second half of the settled run grows by at most a quarter plus
    // 24 MiB (in a few seconds the replay logs are still filling towards their 1,000 deltas).
    ensure!(
        max_rss(late) <= max_rss(early) + max_rss(early) / 4 + 24 * 1024,
        "RSS kept growing"
    );
    // Plateau, long runs (6 min and more): once every bounded buffer is full, neither the live
    // heap nor RSS trends upwards over the last third. A least-squares slope over two minutes
    // or more of one-second samples is robust to the allocator's steps (one 1 MiB step moves it
    // by under 0.5 MiB/min); keeping a few hundred bytes per turn (about 70 turns a second
    // here), as the soak's own clients once did, exceeds it.
    if span(last_third) >= PLATEAU_SPAN_SECS {
        ensure!(
            heap_slope(last_third) < HEAP_PLATEAU_MIB_PER_MIN,
            "the live heap kept growing: {:+.2} MiB/min over the last third",
            heap_slope(last_third)
        );
        ensure!(
            rss_slope(last_third) < RSS_PLATEAU_MIB_PER_MIN,
            "RSS kept growing: {:+.2} MiB/min over the last third",
            rss_slope(last_third)
        );
    } else {
        println!(
            "soak: plateau not judged: the last third lasted {:.0} s (< {PLATEAU_SPAN_SECS} s; set ORBITDOCK_SOAK_SECS=600 for the long variant)",
            span(last_third)
        );
    }
    // Descriptors other than sockets: SQLite read connections are pooled (8 kept) but a burst
    // of concurrent reads opens a few more for a moment (three descriptors each), which a
    // sample may catch.
    ensure!(
        max_fds(late) <= max_fds(early) + 24,
        "open file descriptors kept growing"
    );
    // Sockets: never more than both ends of every connection the clients can hold at once
    // (one WebSocket each, at most one HTTP connection per driver), plus the listeners.
    ensure!(
        max_sockets <= 2 * (CLIENTS + SESSIONS) + 8,
        "{max_sockets} sockets: connections leak"
    );
    match Arc::try_unwrap(s) {
        Ok(s) => s.shutdown().await,
        Err(_) => anyhow::bail!("the server is still shared"),
    }
    Ok(())
}
