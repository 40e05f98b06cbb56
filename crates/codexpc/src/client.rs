//! A Rust client for the native session protocol (`PROTOCOL.md`): connect to the daemon's Unix
//! socket, send requests, read the line-delimited messages back.
//!
//! Deliberately thin: messages are `serde_json::Value`s with the envelope already checked, so the
//! client keeps working when the daemon adds fields or event types. Several sessions may share
//! one connection; [`Client::collect`] reads until the terminal message of one `req_id` and
//! returns everything that belonged to it (messages of other sessions are kept for later reads).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::daemon::protocol::{PROTO_VERSION, SERVICE};
use crate::{Error, Result};

/// One connection to the daemon.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Messages read while looking for another request's.
    backlog: VecDeque<Value>,
    next_id: u64,
    timeout: Duration,
}

/// True for the messages that end a request: `completed`, `error`, `handshake.ok`, `health.ok`,
/// `tool_result.ok` (`cancel.ok` shares the cancelled session's req_id and does not end it).
pub fn is_terminal(msg: &Value) -> bool {
    matches!(
        msg.get("type").and_then(Value::as_str),
        Some("completed" | "error" | "handshake.ok" | "health.ok" | "tool_result.ok")
    )
}

/// The tool call a message asks this client to execute: an `output_item.done` whose item is a
/// `tool_call` with `executor: "client"` and `status: "in_progress"`.
pub fn client_tool_call(msg: &Value) -> Option<&Value> {
    let item = msg.get("item")?;
    (msg.get("type").and_then(Value::as_str) == Some("output_item.done")
        && item.get("type").and_then(Value::as_str) == Some("tool_call")
        && item.get("executor").and_then(Value::as_str) == Some("client")
        && item.get("status").and_then(Value::as_str) == Some("in_progress"))
    .then_some(item)
}

impl Client {
    /// Connect; every later read waits at most `timeout` for a message.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Self> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|e| Error::io("connecting to the codexpc socket", path, e))?;
        let (read, writer) = stream.into_split();
        Ok(Self {
            path: path.to_owned(),
            reader: BufReader::new(read),
            writer,
            backlog: VecDeque::new(),
            next_id: 1,
            timeout,
        })
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Socket {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// A fresh request id (`r1`, `r2`, ...).
    pub fn new_req_id(&mut self) -> String {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        id
    }

    /// Write raw bytes (tests use it to send malformed input); a newline is NOT added.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| Error::io("writing to the codexpc socket", &self.path, e))
    }

    /// Send a request of `kind` with `fields` inside the envelope.
    pub async fn send(&mut self, req_id: &str, kind: &str, fields: Value) -> Result<()> {
        let mut obj = Map::new();
        obj.insert("proto_version".into(), json!(PROTO_VERSION));
        obj.insert("service".into(), json!(SERVICE));
        obj.insert("req_id".into(), json!(req_id));
        obj.insert("type".into(), json!(kind));
        if let Value::Object(extra) = fields {
            for (k, v) in extra {
                obj.entry(k).or_insert(v);
            }
        }
        let mut line = Value::Object(obj).to_string();
        line.push('\n');
        self.send_raw(line.as_bytes()).await
    }

    /// The next message from the socket (backlog first). `Ok(None)` when the daemon closed it.
    pub async fn recv(&mut self) -> Result<Option<Value>> {
        if let Some(v) = self.backlog.pop_front() {
            return Ok(Some(v));
        }
        self.read_socket().await
    }

    async fn read_socket(&mut self) -> Result<Option<Value>> {
        let mut line = String::new();
        let n = tokio::time::timeout(self.timeout, self.reader.read_line(&mut line))
            .await
            .map_err(|_| self.err(format!("no message within {:?}", self.timeout)))?
            .map_err(|e| Error::io("reading from the codexpc socket", &self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        let v: Value = serde_json::from_str(line.trim_end())
            .map_err(|e| self.err(format!("daemon sent invalid JSON ({e}): {line:?}")))?;
        if v.get("proto_version") != Some(&json!(PROTO_VERSION))
            || v.get("service") != Some(&json!(SERVICE))
        {
            return Err(self.err(format!("daemon sent a message without the envelope: {v}")));
        }
        Ok(Some(v))
    }

    /// The next message belonging to `req_id`; others are kept in the backlog.
    pub async fn recv_for(&mut self, req_id: &str) -> Result<Value> {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|m| m.get("req_id").and_then(Value::as_str) == Some(req_id))
            && let Some(v) = self.backlog.remove(i)
        {
            return Ok(v);
        }
        loop {
            let Some(v) = self.read_socket().await? else {
                return Err(self.err(format!("connection closed before {req_id} finished")));
            };
            if v.get("req_id").and_then(Value::as_str) == Some(req_id) {
                return Ok(v);
            }
            self.backlog.push_back(v);
        }
    }

    /// Every message of `req_id` up to and including its terminal one.
    pub async fn collect(&mut self, req_id: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            let v = self.recv_for(req_id).await?;
            let done = is_terminal(&v);
            out.push(v);
            if done {
                return Ok(out);
            }
        }
    }

    /// Send a one-shot request and return its reply (`*.ok` or `error`).
    pub async fn call(&mut self, kind: &str, fields: Value) -> Result<Value> {
        let id = self.new_req_id();
        self.send(&id, kind, fields).await?;
        self.recv_for(&id).await
    }

    /// `handshake` -> `handshake.ok` (an `error` reply is returned as an error).
    pub async fn handshake(&mut self) -> Result<Value> {
        let v = self.call("handshake", json!({})).await?;
        self.ok(v, "handshake.ok")
    }

    /// `health` -> `health.ok`.
    pub async fn health(&mut self) -> Result<Value> {
        let v = self.call("health", json!({})).await?;
        self.ok(v, "health.ok")
    }

    fn ok(&self, v: Value, want: &str) -> Result<Value> {
        if v.get("type").and_then(Value::as_str) == Some(want) {
            Ok(v)
        } else {
            Err(self.err(format!("expected {want}, got {v}")))
        }
    }

    /// Start a session (`create` with `params`); returns its req_id. Read its events with
    /// [`Client::recv_for`] or [`Client::collect`].
    pub async fn create(&mut self, params: Value) -> Result<String> {
        let id = self.new_req_id();
        self.send(&id, "create", params).await?;
        Ok(id)
    }

    /// Answer a client-executed tool call of session `session` (`status`: "completed" or
    /// "failed"); returns the daemon's reply (`tool_result.ok`, or an `error` such as
    /// `not_found` when the session no longer waits for that call).
    pub async fn tool_result(
        &mut self,
        session: &str,
        call_id: &str,
        output: &str,
        status: &str,
    ) -> Result<Value> {
        self.call(
            "tool_result",
            json!({"session": session, "call_id": call_id, "output": output, "status": status}),
        )
        .await
    }

    /// Ask the daemon to cancel the session `req_id` (its reply, `cancel.ok` or `error`, and
    /// the session's terminal `error{code:"cancelled"}` arrive on this connection).
    pub async fn cancel(&mut self, req_id: &str) -> Result<()> {
        self.send(req_id, "cancel", json!({})).await
    }
}

/// Concatenated `output_text.delta` texts of a session's messages.
pub fn text_of(messages: &[Value]) -> String {
    messages
        .iter()
        .filter(|m| m.get("type").and_then(Value::as_str) == Some("output_text.delta"))
        .filter_map(|m| m.get("text").and_then(Value::as_str))
        .collect()
}
