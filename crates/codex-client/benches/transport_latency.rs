//! Notification latency over a WebSocket (`--listen ws://` with a capability token) and a Unix
//! socket vs the stdio child, in the same run, against the real pinned app-server.
//!
//! What is timed: `thread/name/set` sent -> the `thread/name/updated` notification it causes
//! received by the client. The server's work is the same on every transport, so the differences
//! are the transports' (framing, socket, WebSocket masking, our reader). Iterations are
//! INTERLEAVED across the transports so all see the same machine load. Each transport has its
//! own CODEX_HOME and app-server (two servers on one home would share its SQLite state).
//!
//! `cargo bench -p codex-client --bench transport_latency [-- N]` (default N = 300, or
//! $TRANSPORT_BENCH_N).

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use codex_client::app_server::requests::{
    ThreadSetName, ThreadSetNameParams, ThreadStart, ThreadStartParams, TurnStart, TurnStartParams,
};
use codex_client::app_server::{
    AppServer, AppServerBuilder, AppServerEvent, AppServerListener, Listen, ListenerBuilder,
    RemoteBuilder, ServerNotification,
};
use test_support::{CodexHomeBuilder, FakeResponses, ScriptedResponse, TempCodexHome, codex_bin};
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(60);

struct Subject {
    name: &'static str,
    server: AppServer,
    events: Receiver<AppServerEvent>,
    thread: String,
    samples: Vec<Duration>,
    _home: TempCodexHome,
    _listener: Option<AppServerListener>,
}

async fn wait_for(
    events: &mut Receiver<AppServerEvent>,
    mut pick: impl FnMut(&AppServerEvent) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ev)) if pick(&ev) => return,
            Ok(Some(_)) => {}
            other => panic!("event stream ended or timed out: {other:?}"),
        }
    }
}

impl Subject {
    async fn new(
        name: &'static str,
        fake: &FakeResponses,
        listen: Option<fn(&TempCodexHome) -> Listen>,
    ) -> Subject {
        let home = CodexHomeBuilder::new(&fake.base_url()).build();
        let (server, events, listener) = match listen {
            None => {
                let (s, e) = AppServerBuilder::new(codex_bin(), home.path())
                    .envs(home.env())
                    .current_dir(home.workdir())
                    .request_timeout(WAIT)
                    .spawn()
                    .await
                    .expect("spawn stdio app-server");
                (s, e, None)
            }
            Some(listen) => {
                let listener = ListenerBuilder::new(codex_bin(), home.path(), listen(&home))
                    .envs(home.env())
                    .current_dir(home.workdir())
                    .spawn()
                    .await
                    .expect("spawn listener");
                let (s, e) = RemoteBuilder::new(listener.endpoint())
                    .request_timeout(WAIT)
                    .connect()
                    .await
                    .expect("connect");
                (s, e, Some(listener))
            }
        };
        let mut subject = Subject {
            name,
            server,
            events,
            thread: String::new(),
            samples: Vec::new(),
            _home: home,
            _listener: listener,
        };
        subject.thread = subject
            .server
            .call::<ThreadStart>(ThreadStartParams::default())
            .await
            .expect("thread/start")
            .thread
            .id;
        // A thread is only persisted (and nameable) after its first turn.
        fake.enqueue(ScriptedResponse::new().text("ready"));
        subject
            .server
            .call::<TurnStart>(TurnStartParams::text(&subject.thread, "hi"))
            .await
            .expect("turn/start");
        wait_for(&mut subject.events, |ev| {
            matches!(
                ev,
                AppServerEvent::Notification(ServerNotification::TurnCompleted(_))
            )
        })
        .await;
        subject
    }

    async fn sample(&mut self, i: usize) {
        let name = format!("{}-{i}", self.name);
        let start = Instant::now();
        self.server
            .call::<ThreadSetName>(ThreadSetNameParams {
                thread_id: self.thread.clone(),
                name: name.clone(),
            })
            .await
            .expect("thread/name/set");
        wait_for(&mut self.events, |ev| {
            matches!(ev, AppServerEvent::Notification(ServerNotification::ThreadNameUpdated(n))
                if n.thread_name.as_deref() == Some(name.as_str()))
        })
        .await;
        self.samples.push(start.elapsed());
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ws_listen(home: &TempCodexHome) -> Listen {
    let token_file = home.path().join("ws-token");
    std::fs::write(&token_file, "bench-token").expect("write token");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod token");
    Listen::WebSocket {
        addr: "127.0.0.1:0".into(),
        token_file: Some(token_file),
    }
}

fn unix_listen(home: &TempCodexHome) -> Listen {
    Listen::Unix(home.path().join("bench.sock"))
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| {
            std::env::var("TRANSPORT_BENCH_N")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let fake = FakeResponses::start();
        let mut subjects = vec![
            Subject::new("stdio", &fake, None).await,
            Subject::new("ws", &fake, Some(ws_listen)).await,
            Subject::new("unix", &fake, Some(unix_listen)).await,
        ];
        // Warm-up, not recorded.
        for s in &mut subjects {
            for i in 0..10 {
                s.sample(i).await;
            }
            s.samples.clear();
        }
        for i in 0..n {
            for s in &mut subjects {
                s.sample(1000 + i).await;
            }
        }
        println!(
            "thread/name/set -> thread/name/updated latency, {n} samples per transport (interleaved)"
        );
        let mut p50s = Vec::new();
        for s in &mut subjects {
            s.samples.sort();
            let (p50, p99) = (percentile(&s.samples, 0.5), percentile(&s.samples, 0.99));
            println!(
                "{:>6}: p50 {:7.3} ms   p99 {:7.3} ms   max {:7.3} ms",
                s.name,
                ms(p50),
                ms(p99),
                ms(*s.samples.last().unwrap_or(&Duration::ZERO))
            );
            p50s.push((s.name, p50, p99));
        }
        let (_, base50, base99) = p50s[0];
        for (name, p50, p99) in &p50s[1..] {
            println!(
                "{name} vs stdio: p50 x{:.2} ({:+.3} ms), p99 x{:.2}",
                ms(*p50) / ms(base50),
                ms(*p50) - ms(base50),
                ms(*p99) / ms(base99)
            );
        }
        for s in subjects {
            let _ = s.server.shutdown().await;
        }
    });
}
