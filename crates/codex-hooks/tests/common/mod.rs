//! Helpers for this crate's tests: a loopback stand-in for the OrbitDock server's two hook
//! routes (the real endpoints live in orbitdock-server) and an OrbitDock data dir pointing at it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TOKEN: &str = "test-token-0123456789";

/// What the stand-in answers on the permission route.
#[derive(Debug, Clone)]
pub enum PermissionReply {
    /// 200 with this JSON body.
    Json(Value),
    /// This status and raw body.
    Raw(u16, String),
    /// Read the request, then never answer (until the client gives up).
    Hold,
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub route: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
}

/// A loopback HTTP server taking `POST /api/hooks/codex` (answers 200 `{}`) and
/// `POST /api/hooks/codex/permission` (answers the configured [`PermissionReply`]).
pub struct FakeOrbitDock {
    addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
    reply: Arc<Mutex<PermissionReply>>,
    hold_events: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl FakeOrbitDock {
    pub fn start(reply: PermissionReply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let reply = Arc::new(Mutex::new(reply));
        let stop = Arc::new(AtomicBool::new(false));
        let hold_events = Arc::new(AtomicBool::new(false));
        let (st, rp, sp, he) = (
            state.clone(),
            reply.clone(),
            stop.clone(),
            hold_events.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (st, rp, he) = (st.clone(), rp.clone(), he.clone());
                std::thread::spawn(move || serve(conn, &st, &rp, he.load(Ordering::SeqCst)));
            }
        });
        Self {
            addr,
            state,
            reply,
            hold_events,
            stop,
        }
    }

    /// Makes the event route read requests and never answer (a wedged server).
    pub fn hold_events(&self, hold: bool) {
        self.hold_events.store(hold, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_reply(&self, reply: PermissionReply) {
        *self.reply.lock().expect("lock") = reply;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.0.lock().expect("lock").received.clone()
    }

    /// Waits until `pred` holds for the received list (or panics after `timeout`).
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let (lock, cv) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut g = lock.lock().expect("lock");
        loop {
            if pred(&g.received) {
                return g.received.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "fake OrbitDock: condition not met within {timeout:?}; received: {:#?}",
                g.received
            );
            g = cv.wait_timeout(g, left).expect("wait").0;
        }
    }

    /// Events received on the event route, as `hook_event_name`s.
    pub fn event_names(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|r| r.route == codex_hooks::EVENT_ROUTE)
            .filter_map(|r| r.body["hook_event_name"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for FakeOrbitDock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    conn: TcpStream,
    state: &(Mutex<State>, Condvar),
    reply: &Mutex<PermissionReply>,
    hold_events: bool,
) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let route = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let (mut len, mut auth) = (0usize, None);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("authorization") {
                auth = Some(v.trim().to_owned());
            }
        }
    }
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    {
        let (lock, cv) = state;
        lock.lock().expect("lock").received.push(Received {
            route: route.clone(),
            authorization: auth,
            body,
        });
        cv.notify_all();
    }
    let mut conn = conn;
    let hold = |mut reader: BufReader<TcpStream>| {
        // Keep the connection open until the client hangs up.
        let mut sink = [0u8; 64];
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    };
    let (status, text) = if route == codex_hooks::PERMISSION_ROUTE {
        match reply.lock().expect("lock").clone() {
            PermissionReply::Json(v) => (200, v.to_string()),
            PermissionReply::Raw(s, b) => (s, b),
            PermissionReply::Hold => return hold(reader),
        }
    } else if hold_events {
        return hold(reader);
    } else {
        (200, "{}".to_owned())
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// An OrbitDock data dir (`server.json` + `token`) pointing at `url`; `None` = no server file.
pub fn data_dir(url: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_server_files(dir.path(), url);
    dir
}

pub fn write_server_files(dir: &Path, url: Option<&str>) {
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).expect("token");
    match url {
        Some(u) => std::fs::write(
            dir.join("server.json"),
            serde_json::json!({ "url": u }).to_string(),
        )
        .expect("server.json"),
        None => {
            let _ = std::fs::remove_file(dir.join("server.json"));
        }
    }
}

/// Lines currently in the data dir's Codex spool.
pub fn spooled(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join(codex_hooks::SPOOL_FILE))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("spool line is JSON"))
        .collect()
}

/// The runner binary built with this crate.
pub fn runner_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_orbitdock-codex-hook"))
}
