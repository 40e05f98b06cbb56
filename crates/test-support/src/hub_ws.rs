//! The WebSocket upgrade request a non-browser client sends to an OrbitDock hub: `BASE/ws`
//! with the API token in an `Authorization: Bearer` header. The hub never takes the token from
//! a URL (URLs end up in logs, shell history and proxies), so tests and benchmarks connect the
//! way a real client must.

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;

/// `base` is the hub's `http://` or `https://` origin; the request goes to its `/ws` with the
/// token as a bearer header.
pub fn hub_ws_request(base: &str, token: &str) -> Result<Request, String> {
    let url = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}/ws")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}/ws")
    } else {
        format!("ws://{base}/ws")
    };
    let mut req = url
        .into_client_request()
        .map_err(|e| format!("bad hub URL {base}: {e}"))?;
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|e| format!("token is not a header value: {e}"))?;
    req.headers_mut().insert("authorization", value);
    Ok(req)
}
