//! Framing: one JSON-RPC message at a time over a byte stream.
//!
//! Codex 0.169 frames its app-server protocol in two ways, checked against the pinned binary:
//! - **JSON lines** on stdio (`codex app-server`, the default `--listen stdio://`): one message
//!   per `\n`-terminated line.
//! - **WebSocket** everywhere else: `--listen ws://IP:PORT` and — less obviously —
//!   `--listen unix://PATH` as well: the Unix control socket expects an HTTP/1.1 upgrade (a raw
//!   JSON line is answered by closing the socket and the server logs "failed to upgrade control
//!   socket websocket connection"). After the upgrade, every JSON-RPC message is one TEXT frame
//!   (the server also announces `x-codex-websocket-max-unfragmented-message-bytes: 16777216`:
//!   larger messages arrive fragmented; tungstenite reassembles them). `codex app-server proxy`
//!   is a raw byte pipe to such a socket, so a client speaks WebSocket THROUGH the proxy's stdio.
//!
//! [`MessageReader`] / [`MessageWriter`] hide which framing a link uses, so the request
//! machinery in `transport.rs` is the same for every transport.

use std::io;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::{Error, Result};

/// A bidirectional byte stream (Unix socket, TCP socket, a child's stdio joined).
pub(crate) trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

pub(crate) type BoxStream = Box<dyn ByteStream>;
type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;
type Ws = WebSocketStream<BoxStream>;

/// What one read produced.
#[derive(Debug)]
pub(crate) enum Read {
    /// One JSON-RPC message (not yet parsed).
    Message(String),
    /// A control frame (ping/pong): the peer is alive, nothing to route.
    Alive,
    /// The peer closed the stream; the text says how (for error messages).
    Closed(String),
}

/// The receiving half of a link.
pub(crate) enum MessageReader {
    Lines(Box<BufReader<BoxRead>>),
    Ws(SplitStream<Ws>),
}

/// The sending half of a link.
pub(crate) enum MessageWriter {
    Lines(BoxWrite),
    Ws(SplitSink<Ws, Message>),
}

impl std::fmt::Debug for MessageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MessageReader::Lines(_) => "MessageReader::Lines",
            MessageReader::Ws(_) => "MessageReader::Ws",
        })
    }
}

impl std::fmt::Debug for MessageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MessageWriter::Lines(_) => "MessageWriter::Lines",
            MessageWriter::Ws(_) => "MessageWriter::Ws",
        })
    }
}

impl MessageReader {
    pub(crate) fn lines(read: impl AsyncRead + Unpin + Send + 'static) -> Self {
        MessageReader::Lines(Box::new(BufReader::new(Box::new(read))))
    }

    /// The next message, skipping blank lines and control frames.
    pub(crate) async fn next(&mut self) -> Read {
        match self {
            MessageReader::Lines(reader) => {
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf).await {
                        Ok(0) => return Read::Closed("end of stream".into()),
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf);
                            let line = line.trim_end_matches(['\n', '\r']);
                            if !line.trim().is_empty() {
                                return Read::Message(line.to_owned());
                            }
                        }
                        Err(e) => return Read::Closed(format!("read failed: {e}")),
                    }
                }
            }
            MessageReader::Ws(stream) => match stream.next().await {
                None => Read::Closed("websocket stream ended".into()),
                Some(Err(e)) => Read::Closed(format!("websocket error: {e}")),
                Some(Ok(Message::Text(text))) => Read::Message(text.as_str().to_owned()),
                Some(Ok(Message::Binary(bytes))) => {
                    Read::Message(String::from_utf8_lossy(&bytes).into_owned())
                }
                Some(Ok(Message::Close(frame))) => Read::Closed(match frame {
                    Some(f) => format!("websocket closed by peer ({}: {})", f.code, f.reason),
                    None => "websocket closed by peer".into(),
                }),
                // Pings are answered by tungstenite itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Read::Alive,
            },
        }
    }
}

impl MessageWriter {
    pub(crate) fn lines(write: impl AsyncWrite + Unpin + Send + 'static) -> Self {
        MessageWriter::Lines(Box::new(write))
    }

    /// Send one message (without a trailing newline: the framing adds what it needs).
    pub(crate) async fn send(&mut self, message: String) -> io::Result<()> {
        match self {
            MessageWriter::Lines(w) => {
                let mut line = message;
                line.push('\n');
                w.write_all(line.as_bytes()).await?;
                w.flush().await
            }
            MessageWriter::Ws(sink) => sink
                .send(Message::text(message))
                .await
                .map_err(io::Error::other),
        }
    }

    /// Close gracefully: a Close frame for WebSocket, closing the pipe for lines (the stdio
    /// app-server's signal to exit).
    pub(crate) async fn close(&mut self) {
        match self {
            MessageWriter::Lines(w) => {
                let _ = w.shutdown().await;
            }
            MessageWriter::Ws(sink) => {
                let _ = sink.close().await;
            }
        }
    }

    /// A WebSocket ping (keep-alive); a no-op for lines.
    pub(crate) async fn ping(&mut self) -> io::Result<()> {
        match self {
            MessageWriter::Lines(_) => Ok(()),
            MessageWriter::Ws(sink) => sink
                .send(Message::Ping(Vec::new().into()))
                .await
                .map_err(io::Error::other),
        }
    }
}

/// Perform the WebSocket client handshake over `stream`.
///
/// `url` names the resource (`ws://127.0.0.1:PORT/` for TCP; any `ws://localhost/` for a Unix
/// socket or a proxy pipe: the server does not route by path). `token`, when set, is sent as
/// `Authorization: Bearer <token>` — the only way 0.169's `--ws-auth capability-token` accepts
/// it. A refusal at the upgrade (0.169 answers `401 Unauthorized` with the body "invalid
/// websocket bearer token" or "missing websocket bearer token") becomes
/// [`Error::Unauthorized`].
pub(crate) async fn websocket_handshake(
    stream: BoxStream,
    url: &str,
    token: Option<&str>,
    endpoint: &str,
) -> Result<(MessageReader, MessageWriter)> {
    let mut request = url.into_client_request().map_err(|e| Error::Connect {
        endpoint: endpoint.to_owned(),
        reason: format!("invalid websocket URL {url:?}: {e}"),
    })?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::InvalidInvocation(
                "the websocket token contains characters not allowed in an HTTP header".into(),
            )
        })?;
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    // Generous limits: a resumed thread with its turns can be large; the server fragments above
    // 16 MiB and we accept what it sends.
    let config = WebSocketConfig::default()
        .max_message_size(Some(256 << 20))
        .max_frame_size(Some(64 << 20));
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((ws, _response)) => {
            let (sink, stream) = ws.split();
            Ok((MessageReader::Ws(stream), MessageWriter::Ws(sink)))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                .unwrap_or_default();
            if status == 401 || status == 403 {
                Err(Error::Unauthorized {
                    endpoint: endpoint.to_owned(),
                    status,
                    message: body,
                })
            } else {
                Err(Error::Connect {
                    endpoint: endpoint.to_owned(),
                    reason: format!("websocket upgrade refused with HTTP {status}: {body}"),
                })
            }
        }
        Err(e) => Err(Error::Connect {
            endpoint: endpoint.to_owned(),
            reason: format!("websocket handshake failed: {e}"),
        }),
    }
}
