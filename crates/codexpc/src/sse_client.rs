//! A minimal Server-Sent Events decoder and the `codexpc smoke` client.
//!
//! The decoder is independent of our encoder (axum's), so tests that read our streams through it
//! check the wire format, not just our own types.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;

use crate::{Error, Result};

/// One decoded SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// `event:` field (`message` when absent).
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE decoder: feed bytes as they arrive, get complete events.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed a chunk; returns the events completed by it (comments and keep-alives are skipped).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseMessage> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some((end, sep)) = find_blank_line(&self.buf) {
            let block: Vec<u8> = self.buf.drain(..end + sep).collect();
            let text = String::from_utf8_lossy(&block[..end]);
            let mut event = None;
            let mut data: Vec<&str> = Vec::new();
            for line in text.lines() {
                if line.starts_with(':') || line.is_empty() {
                    continue;
                }
                let (field, val) = line.split_once(':').unwrap_or((line, ""));
                let val = val.strip_prefix(' ').unwrap_or(val);
                match field {
                    "event" => event = Some(val.to_owned()),
                    "data" => data.push(val),
                    _ => {}
                }
            }
            if event.is_some() || !data.is_empty() {
                out.push(SseMessage {
                    event: event.unwrap_or_else(|| "message".into()),
                    data: data.join("\n"),
                });
            }
        }
        out
    }
}

fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Options for [`smoke`].
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    /// e.g. `http://127.0.0.1:11435/v1`.
    pub base_url: String,
    pub prompt: String,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

/// What a smoke run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmokeOutcome {
    pub text: String,
    pub reasoning: String,
    pub function_calls: Vec<(String, String)>,
    pub usage: Option<Value>,
}

/// Stream a reply: final text to `out` as it arrives, reasoning and tool calls to `err`.
pub async fn smoke(
    opts: &SmokeOptions,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> Result<SmokeOutcome> {
    let fail = |message: String| Error::Engine {
        engine: "smoke",
        message,
    };
    let url = format!("{}/responses", opts.base_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(opts.timeout)
        .build()
        .map_err(|e| fail(format!("building the HTTP client: {e}")))?;
    let mut body = serde_json::json!({"input": opts.prompt, "stream": true});
    if let Some(model) = &opts.model {
        body["model"] = Value::String(model.clone());
    }
    let mut req = client.post(&url).json(&body);
    if let Some(key) = &opts.api_key {
        req = req.bearer_auth(key);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| fail(format!("POST {url}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(fail(format!("POST {url}: HTTP {status}: {text}")));
    }
    let mut outcome = SmokeOutcome::default();
    let mut decoder = SseDecoder::new();
    let mut stream = resp.bytes_stream();
    let write = |w: &mut dyn std::io::Write, s: &str| {
        let _ = w.write_all(s.as_bytes());
        let _ = w.flush();
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(format!("reading the stream: {e}")))?;
        for message in decoder.push(&chunk) {
            let data: Value = serde_json::from_str(&message.data)
                .map_err(|e| fail(format!("bad JSON in {} event: {e}", message.event)))?;
            match message.event.as_str() {
                "response.output_text.delta" => {
                    let d = data["delta"].as_str().unwrap_or_default();
                    outcome.text.push_str(d);
                    write(out, d);
                }
                "response.reasoning_text.delta" => {
                    let d = data["delta"].as_str().unwrap_or_default();
                    if outcome.reasoning.is_empty() {
                        write(err, "[reasoning] ");
                    }
                    outcome.reasoning.push_str(d);
                    write(err, d);
                }
                "response.output_item.done" if data["item"]["type"] == "function_call" => {
                    let name = data["item"]["name"].as_str().unwrap_or_default().to_owned();
                    let args = data["item"]["arguments"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    write(err, &format!("\n[function call] {name}({args})\n"));
                    outcome.function_calls.push((name, args));
                }
                "response.completed" => {
                    outcome.usage = Some(data["response"]["usage"].clone());
                    write(out, "\n");
                    write(err, &format!("[usage] {}\n", data["response"]["usage"]));
                    return Ok(outcome);
                }
                "response.failed" => {
                    let msg = data["response"]["error"]["message"]
                        .as_str()
                        .unwrap_or("unknown error");
                    return Err(fail(format!("response failed: {msg}")));
                }
                _ => {}
            }
        }
    }
    Err(fail("the stream ended without response.completed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_split_chunks_comments_and_crlf() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"event: a\ndata: {\"x\"").is_empty());
        let got =
            d.push(b":1}\n\n: keep-alive\n\nevent: b\r\ndata: 1\r\ndata: 2\r\n\r\ndata: plain\n\n");
        assert_eq!(
            got,
            vec![
                SseMessage {
                    event: "a".into(),
                    data: "{\"x\":1}".into()
                },
                SseMessage {
                    event: "b".into(),
                    data: "1\n2".into()
                },
                SseMessage {
                    event: "message".into(),
                    data: "plain".into()
                },
            ]
        );
    }
}
