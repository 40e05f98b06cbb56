//! The `orbitdock hook claude` client: read one payload from stdin, POST it to the running
//! server within a strict time budget, else spool it. It never writes to stdout (Claude Code
//! reads hook stdout as instructions) and its caller always exits 0.
//!
//! The server is found through the data dir, as every `orbitdock` subcommand finds it:
//! `server.json` (`{"url": "http://127.0.0.1:PORT", ...}`) and `token` (written by
//! `orbitdock serve`). HTTP/1.1 is spoken directly over a loopback `TcpStream` with a deadline on
//! every step: no async runtime to start, so the whole round trip fits in a few milliseconds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::spool::Spool;

/// The route the server takes hook payloads on.
pub const HOOK_ROUTE: &str = "/api/hooks/claude";

/// Largest payload read from stdin (Claude's tool responses can be large; the rest is dropped
/// and the payload is spooled as an error marker).
pub const MAX_PAYLOAD_BYTES: usize = 8 * 1024 * 1024;

/// Default time budget for the POST when the server is up.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(50);

/// Where a payload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server answered 2xx.
    Delivered,
    /// Appended to the spool; the reason the server did not take it.
    Spooled(String),
    /// Neither worked (the reason); the payload is lost and said so on stderr.
    Dropped(String),
}

/// Reads at most [`MAX_PAYLOAD_BYTES`] from `input`; `Err` when it was longer.
pub fn read_payload(mut input: impl Read) -> std::result::Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let n = (&mut input)
        .take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if n > MAX_PAYLOAD_BYTES {
        return Err(format!("payload over {MAX_PAYLOAD_BYTES} bytes"));
    }
    Ok(buf)
}

/// Server address and token from the data dir.
pub fn server_endpoint(data_dir: &Path) -> std::result::Result<(SocketAddr, String), String> {
    let info = std::fs::read_to_string(data_dir.join("server.json")).map_err(|e| {
        format!(
            "no running server ({}/server.json: {e})",
            data_dir.display()
        )
    })?;
    let info: serde_json::Value =
        serde_json::from_str(&info).map_err(|e| format!("bad server.json: {e}"))?;
    let url = info
        .get("url")
        .and_then(serde_json::Value::as_str)
        .ok_or("server.json has no url")?;
    let hostport = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported server url {url}"))?
        .trim_end_matches('/');
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("bad server address {hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("bad server address {hostport}"))?;
    let token = std::fs::read_to_string(data_dir.join("token"))
        .map_err(|e| format!("cannot read token: {e}"))?
        .trim()
        .to_owned();
    Ok((addr, token))
}

/// POSTs `body` to `addr` + [`HOOK_ROUTE`]; `Ok` on 2xx, within `budget` in total.
pub fn post(
    addr: SocketAddr,
    token: &str,
    body: &[u8],
    budget: Duration,
) -> std::result::Result<(), String> {
    let deadline = Instant::now() + budget;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("server slower than {budget:?}"))
    };
    let mut s = TcpStream::connect_timeout(&addr, left()?).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    let head = format!(
        "POST {HOOK_ROUTE} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.set_write_timeout(Some(left()?))
        .map_err(|e| e.to_string())?;
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| format!("send: {e}"))?;
    let mut status = [0u8; 12];
    let mut got = 0;
    while got < status.len() {
        s.set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut status[got..]) {
            Ok(0) => return Err("server closed the connection".into()),
            Ok(n) => got += n,
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    // "HTTP/1.1 2xx"
    match status.get(9) {
        Some(b'2') => Ok(()),
        _ => Err(format!(
            "server answered {}",
            String::from_utf8_lossy(&status[9..]).trim()
        )),
    }
}

/// Forwards one payload: POST within `budget`, else spool. Invalid JSON is spooled too (the
/// server counts and logs it on drain) so nothing is silently lost.
pub fn forward(data_dir: &Path, payload: &[u8], budget: Duration) -> Delivery {
    let compact = match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(v) => serde_json::to_vec(&v).unwrap_or_else(|_| payload.to_vec()),
        Err(e) => {
            // Keep the bytes, wrapped, so the line stays one JSON object.
            let wrapped = serde_json::json!({
                "orbitdock_invalid_payload": String::from_utf8_lossy(payload),
                "error": e.to_string(),
            });
            return spool(data_dir, &wrapped.to_string(), "payload is not JSON".into());
        }
    };
    let reason = match server_endpoint(data_dir) {
        Ok((addr, token)) => match post(addr, &token, &compact, budget) {
            Ok(()) => return Delivery::Delivered,
            Err(e) => e,
        },
        Err(e) => e,
    };
    spool(data_dir, &String::from_utf8_lossy(&compact), reason)
}

fn spool(data_dir: &Path, line: &str, reason: String) -> Delivery {
    match Spool::in_data_dir(data_dir).append(line.as_bytes()) {
        Ok(()) => Delivery::Spooled(reason),
        Err(e) => Delivery::Dropped(format!("{reason}; spool failed: {e}")),
    }
}

/// The whole `orbitdock hook claude` command: stdin -> server or spool. Messages go to stderr
/// only when something was dropped; the caller exits 0 regardless.
pub fn run_hook(data_dir: &Path, input: impl Read, budget: Duration) -> Delivery {
    let d = match read_payload(input) {
        Ok(bytes) => forward(data_dir, &bytes, budget),
        Err(e) => spool(
            data_dir,
            &serde_json::json!({"orbitdock_invalid_payload": "", "error": e}).to_string(),
            e.clone(),
        ),
    };
    if let Delivery::Dropped(why) = &d {
        eprintln!("orbitdock hook claude: payload dropped: {why}");
    }
    d
}
