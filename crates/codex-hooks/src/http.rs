//! A minimal HTTP/1.1 POST over a loopback `TcpStream`, every step under one deadline.
//!
//! The hook process lives for one request, so starting an async runtime and an HTTP client
//! library would cost more than the request itself. The server is ours and on loopback; this
//! speaks just enough HTTP: `Connection: close`, a `Content-Length` or chunked body, bounded size.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Largest response body read (decisions are tiny).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body bytes (de-chunked).
    pub body: Vec<u8>,
}

/// Why a POST failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    /// The request did not reach the server (connect or send failed): the server has nothing.
    NotSent(String),
    /// The request was sent; no (complete, valid) answer arrived before the deadline.
    NoAnswer(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotSent(e) => write!(f, "not sent: {e}"),
            Self::NoAnswer(e) => write!(f, "no answer: {e}"),
        }
    }
}

/// POSTs `body` to `route` and reads the whole answer, all before `deadline`.
pub fn post(
    addr: SocketAddr,
    route: &str,
    token: &str,
    body: &[u8],
    deadline: Instant,
) -> Result<Response, PostError> {
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "time budget used up".to_owned())
    };
    let not_sent = PostError::NotSent;
    let mut s = TcpStream::connect_timeout(&addr, left().map_err(not_sent)?)
        .map_err(|e| PostError::NotSent(format!("connect: {e}")))?;
    let _ = s.set_nodelay(true);
    let head = format!(
        "POST {route} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.set_write_timeout(Some(left().map_err(not_sent)?))
        .map_err(|e| PostError::NotSent(e.to_string()))?;
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| PostError::NotSent(format!("send: {e}")))?;
    read_response(&mut s, left).map_err(PostError::NoAnswer)
}

fn read_response(
    s: &mut TcpStream,
    left: impl Fn() -> Result<Duration, String>,
) -> Result<Response, String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_RESPONSE_BYTES + 16 * 1024 {
                    return Err("response too large".into());
                }
                if let Some(done) = complete_response(&raw, false)? {
                    return Ok(done);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("no answer within the time budget".into());
            }
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    complete_response(&raw, true)?.ok_or_else(|| "server closed the connection mid-response".into())
}

/// Parses `raw` if it holds a whole response; `Ok(None)` when more bytes are needed. At `eof`
/// a response without `Content-Length` or chunking ends with what arrived.
fn complete_response(raw: &[u8], eof: bool) -> Result<Option<Response>, String> {
    let Some(head_end) = find(raw, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "non-UTF-8 response head")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(v.parse::<usize>().map_err(|_| "bad content-length")?);
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        match length {
            Some(n) if n > MAX_RESPONSE_BYTES => return Err("response too large".into()),
            Some(n) => (body.len() >= n).then(|| body[..n].to_vec()),
            None => eof.then(|| body.to_vec()),
        }
    };
    Ok(body.map(|body| Response { status, body }))
}

fn dechunk(mut body: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(body, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        let rest = &body[line_end + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&rest[..size]);
        if out.len() > MAX_RESPONSE_BYTES {
            return Err("response too large".into());
        }
        body = &rest[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
