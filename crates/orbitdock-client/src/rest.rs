//! The REST client: one method per route.

use std::path::Path;
use std::time::Duration;

use orbitdock_protocol::{
    ActionVia, ApprovalDecision, ApprovalHistory, ApprovalRequestBody, ConfigPatch,
    CreateSessionRequest, ErrorBody, ForkRequest, Health, ItemsPage, ModelsResponse, OkResponse,
    RenameRequest, ReviewRequest, SendMessageRequest, SendMessageResponse, SessionState,
    SessionsResponse, VIA_HEADER,
};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::discovery::{read_server_info, read_token};
use crate::error::{Error, Result, truncate};
use crate::ws::WsClient;

/// Default bound on one REST call. Creating a session starts an agent thread, which can take a
/// few seconds on a cold machine; nothing the server does per request takes longer.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default bound on one WebSocket wait.
const DEFAULT_WS_WAIT: Duration = Duration::from_secs(60);

/// Paging of `GET /api/sessions/{id}/items`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemsQuery {
    /// Items with `seq > after`, ascending.
    pub after: Option<u64>,
    /// The items just before `before`, ascending.
    pub before: Option<u64>,
    /// At most this many (server default 200, max 1000).
    pub limit: Option<usize>,
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: Url,
    token: String,
    http: reqwest::Client,
    ws_wait: Duration,
    via: Option<ActionVia>,
}

#[derive(Serialize)]
struct MarkdownRequest<'a> {
    texts: &'a [String],
}

#[derive(Deserialize)]
struct MarkdownResponse {
    #[serde(default)]
    htmls: Vec<String>,
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:PORT`) with the API `token`.
    pub fn new(base_url: &str, token: impl Into<String>) -> Result<Client> {
        let bad = |reason: String| Error::BadUrl {
            url: base_url.to_owned(),
            reason,
        };
        let base = Url::parse(base_url).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("expected http://HOST:PORT".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Client {
            base,
            token: token.into(),
            http,
            ws_wait: DEFAULT_WS_WAIT,
            via: None,
        })
    }

    /// A client of the server running on `data_dir` (its `server.json` and `token`).
    pub fn discover(data_dir: &Path) -> Result<Client> {
        let info = read_server_info(data_dir)?;
        let token = read_token(data_dir)?;
        Client::new(&info.url, token)
    }

    /// Bound on each REST call (default 120 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Client> {
        self.http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::BadUrl {
                url: self.base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(self)
    }

    /// Bound on each wait of the WebSocket clients made by [`Client::ws`] (default 60 s).
    pub fn with_ws_wait(mut self, wait: Duration) -> Client {
        self.ws_wait = wait;
        self
    }

    /// Marks every request as coming through `via` (sent as the `X-OrbitDock-Via` header): the
    /// server records the session actions taken with it in the session's transcript.
    pub fn with_via(mut self, via: ActionVia) -> Client {
        self.via = Some(via);
        self
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The URL of `segments` under the base, each segment percent-encoded (ids are foreign
    /// input: a `/` or `?` in one must not change the route).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<T> {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(&self.token);
        if let Some(via) = &self.via {
            req = req.header(VIA_HEADER, via.as_str());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let request_error = |source| Error::Request {
            method: method.to_string(),
            url: url.to_string(),
            source,
        };
        let resp = req.send().await.map_err(request_error)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(request_error)?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(ErrorBody { error }) => Error::Api {
                    status: status.as_u16(),
                    code: error.code,
                    message: error.message,
                },
                Err(_) => Error::Status {
                    status: status.as_u16(),
                    body: truncate(&String::from_utf8_lossy(&bytes)),
                },
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            what: format!("{method} {}", url.path()),
            source,
            body: truncate(&String::from_utf8_lossy(&bytes)),
        })
    }

    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        self.call::<(), T>(Method::GET, url, None).await
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        url: Url,
        body: &B,
    ) -> Result<T> {
        self.call(Method::POST, url, Some(body)).await
    }

    async fn post_empty<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        self.call::<(), T>(Method::POST, url, None).await
    }

    /// `GET /health` (needs no token; sent anyway).
    pub async fn health(&self) -> Result<Health> {
        self.get(self.url(&["health"])).await
    }

    /// `GET /api/sessions`.
    pub async fn list_sessions(&self) -> Result<SessionsResponse> {
        self.get(self.url(&["api", "sessions"])).await
    }

    /// `POST /api/sessions`.
    pub async fn create_session(&self, request: &CreateSessionRequest) -> Result<SessionState> {
        self.post(self.url(&["api", "sessions"]), request).await
    }

    /// `GET /api/sessions/{id}`.
    pub async fn get_session(&self, id: &str) -> Result<SessionState> {
        self.get(self.url(&["api", "sessions", id])).await
    }

    /// `GET /api/sessions/{id}/items` with paging.
    pub async fn items(&self, id: &str, query: ItemsQuery) -> Result<ItemsPage> {
        let mut url = self.url(&["api", "sessions", id, "items"]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(after) = query.after {
                q.append_pair("after", &after.to_string());
            }
            if let Some(before) = query.before {
                q.append_pair("before", &before.to_string());
            }
            if let Some(limit) = query.limit {
                q.append_pair("limit", &limit.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.get(url).await
    }

    /// `POST /api/sessions/{id}/messages`.
    pub async fn send_message(
        &self,
        id: &str,
        request: &SendMessageRequest,
    ) -> Result<SendMessageResponse> {
        self.post(self.url(&["api", "sessions", id, "messages"]), request)
            .await
    }

    /// `POST /api/sessions/{id}/messages` with just a text.
    pub async fn send_text(&self, id: &str, text: &str) -> Result<SendMessageResponse> {
        let request = SendMessageRequest {
            text: text.to_owned(),
            ..Default::default()
        };
        self.send_message(id, &request).await
    }

    /// `POST /api/sessions/{id}/interrupt` (409 `conflict` when no turn runs).
    pub async fn interrupt(&self, id: &str) -> Result<OkResponse> {
        self.post_empty(self.url(&["api", "sessions", id, "interrupt"]))
            .await
    }

    /// `POST /api/sessions/{id}/end`.
    pub async fn end_session(&self, id: &str) -> Result<SessionState> {
        self.post_empty(self.url(&["api", "sessions", id, "end"]))
            .await
    }

    /// `POST /api/sessions/{id}/resume`.
    pub async fn resume_session(&self, id: &str) -> Result<SessionState> {
        self.post_empty(self.url(&["api", "sessions", id, "resume"]))
            .await
    }

    /// `POST /api/sessions/{id}/takeover`: an idle passive session becomes direct (409
    /// `conflict` with the reason when it cannot).
    pub async fn takeover(&self, id: &str) -> Result<SessionState> {
        self.post_empty(self.url(&["api", "sessions", id, "takeover"]))
            .await
    }

    /// `POST /api/sessions/{id}/attach`: loads the session's thread in the hub's shared Codex
    /// runtime and says how a terminal joins it (`codex --remote REMOTE resume THREAD`).
    pub async fn attach(&self, id: &str) -> Result<orbitdock_protocol::AttachInfo> {
        self.post_empty(self.url(&["api", "sessions", id, "attach"]))
            .await
    }

    /// `POST /api/sessions/{id}/compact`: starts compacting the thread's history (it runs as a
    /// turn; the answer is the state once it has started).
    pub async fn compact(&self, id: &str) -> Result<SessionState> {
        self.post_empty(self.url(&["api", "sessions", id, "compact"]))
            .await
    }

    /// `POST /api/sessions/{id}/fork`: a new session continuing a copy of this one's thread
    /// (up to `through_turn_id` when set); answers the fork's state.
    pub async fn fork(&self, id: &str, request: &ForkRequest) -> Result<SessionState> {
        self.post(self.url(&["api", "sessions", id, "fork"]), request)
            .await
    }

    /// `POST /api/sessions/{id}/review`: starts a review; answers this session's state (inline)
    /// or the new session's (detached).
    pub async fn review(&self, id: &str, request: &ReviewRequest) -> Result<SessionState> {
        self.post(self.url(&["api", "sessions", id, "review"]), request)
            .await
    }

    /// `POST /api/sessions/{id}/name`.
    pub async fn rename(&self, id: &str, name: &str) -> Result<SessionState> {
        let body = RenameRequest {
            name: name.to_owned(),
        };
        self.post(self.url(&["api", "sessions", id, "name"]), &body)
            .await
    }

    /// `PATCH /api/sessions/{id}/config`.
    pub async fn configure(&self, id: &str, patch: &ConfigPatch) -> Result<SessionState> {
        self.call(
            Method::PATCH,
            self.url(&["api", "sessions", id, "config"]),
            Some(patch),
        )
        .await
    }

    /// `POST /api/sessions/{id}/approvals/{request_id}` with a decision and no answers.
    pub async fn approve(
        &self,
        id: &str,
        request_id: &str,
        decision: ApprovalDecision,
    ) -> Result<OkResponse> {
        let body = ApprovalRequestBody {
            decision,
            answers: None,
            message: None,
        };
        self.answer_approval(id, request_id, &body).await
    }

    /// `POST /api/sessions/{id}/approvals/{request_id}` with the full body (question answers).
    pub async fn answer_approval(
        &self,
        id: &str,
        request_id: &str,
        body: &ApprovalRequestBody,
    ) -> Result<OkResponse> {
        self.post(
            self.url(&["api", "sessions", id, "approvals", request_id]),
            body,
        )
        .await
    }

    /// `GET /api/sessions/{id}/approvals/history`.
    pub async fn approval_history(&self, id: &str) -> Result<ApprovalHistory> {
        self.get(self.url(&["api", "sessions", id, "approvals", "history"]))
            .await
    }

    /// `POST /api/pairing`: a one-time pairing code for a new device.
    pub async fn pairing(
        &self,
        request: &orbitdock_protocol::pairing::PairingRequest,
    ) -> Result<orbitdock_protocol::pairing::PairingCode> {
        self.post(self.url(&["api", "pairing"]), request).await
    }

    /// `GET /api/devices`: the paired devices.
    pub async fn devices(&self) -> Result<orbitdock_protocol::pairing::PairedDevicesResponse> {
        self.get(self.url(&["api", "devices"])).await
    }

    /// `POST /api/devices/{id}/revoke`.
    pub async fn revoke_device(&self, id: &str) -> Result<serde_json::Value> {
        self.post_empty(self.url(&["api", "devices", id, "revoke"]))
            .await
    }

    /// `POST /api/maintenance/prune`: deletes (or with `dry_run` counts) old settled sessions.
    pub async fn prune(
        &self,
        request: &orbitdock_protocol::PruneRequest,
    ) -> Result<orbitdock_protocol::PruneResponse> {
        self.post(self.url(&["api", "maintenance", "prune"]), request)
            .await
    }

    /// `GET /api/models`.
    pub async fn models(&self) -> Result<ModelsResponse> {
        self.get(self.url(&["api", "models"])).await
    }

    /// `POST /api/markdown`: sanitised HTML of each text, in order.
    pub async fn markdown(&self, texts: &[String]) -> Result<Vec<String>> {
        let r: MarkdownResponse = self
            .post(self.url(&["api", "markdown"]), &MarkdownRequest { texts })
            .await?;
        Ok(r.htmls)
    }

    /// `POST /api/hooks/claude`: forwards one Claude Code hook payload; answers the session id
    /// it was filed under.
    pub async fn claude_hook(&self, payload: &serde_json::Value) -> Result<serde_json::Value> {
        self.post(self.url(&["api", "hooks", "claude"]), payload)
            .await
    }

    /// Opens `/ws` with the token and waits for the server's `hello`.
    pub async fn ws(&self) -> Result<WsClient> {
        let mut url = self.url(&["ws"]);
        let scheme = if self.base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        // Only http/https bases are accepted in `new`, and both have a ws counterpart.
        let _ = url.set_scheme(scheme);
        WsClient::connect(url.as_str(), &self.token, self.ws_wait).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_ids_and_keep_the_base_path() {
        let c = Client::new("http://127.0.0.1:4821", "t").unwrap();
        assert_eq!(
            c.url(&["api", "sessions", "a/b?c", "approvals", "1 2"])
                .as_str(),
            "http://127.0.0.1:4821/api/sessions/a%2Fb%3Fc/approvals/1%202"
        );
        let c = Client::new("http://127.0.0.1:4821/", "t").unwrap();
        assert_eq!(c.url(&["health"]).as_str(), "http://127.0.0.1:4821/health");
        for bad in ["", "127.0.0.1:4821", "ftp://x", "mailto:a@b"] {
            assert!(
                matches!(Client::new(bad, "t"), Err(Error::BadUrl { .. })),
                "{bad}"
            );
        }
    }
}
