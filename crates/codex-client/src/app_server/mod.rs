//! A JSON-RPC client for `codex app-server` (the protocol Codex's IDE integrations use).
//!
//! ```no_run
//! # async fn demo() -> codex_client::Result<()> {
//! use codex_client::app_server::{AppServerBuilder, AppServerEvent, requests::*};
//! let (server, mut events) = AppServerBuilder::new("/path/to/codex", "/path/to/codex-home")
//!     .client_info("orbitdock", "0.1.0")
//!     .spawn()
//!     .await?;
//! let thread = server
//!     .call::<ThreadStart>(ThreadStartParams { cwd: Some("/work".into()), ..Default::default() })
//!     .await?
//!     .thread;
//! server.call::<TurnStart>(TurnStartParams::text(&thread.id, "hello")).await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         AppServerEvent::Request(req) => { /* show it to a human; answer via req.responder() */ }
//!         AppServerEvent::Notification(n) => println!("{}", n.method()),
//!         AppServerEvent::Exited { .. } => break,
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Other transports (a Unix socket, a WebSocket with a token, `ssh HOST codex app-server proxy`)
//! with reconnection are in [`remote`], behind the same [`AppServer`]. To build a hub — run
//! turns and route every approval and question to a handler, with declines on drop and
//! cancellation — use [`orchestrate::Orchestrator`] over any of them.
//!
//! Why shaped so:
//! - **Wire mirrors upstream.** Messages are JSON-RPC 2.0 lines without the `"jsonrpc"` field;
//!   types use the exact camelCase names of the pinned binary's generated schema and tolerate
//!   unknown fields; enums fall back to `Unknown` with the raw JSON. A notification or server
//!   request we do not type is surfaced raw, never dropped and never fatal.
//! - **One method table.** [`requests::REQUESTS`], [`notifications::NOTIFICATIONS`] and
//!   [`server_requests::SERVER_REQUESTS`] are generated from the same macro invocations as the
//!   types; `tests/drift.rs` checks them against `codex app-server generate-json-schema`.
//! - **Typed calls with timeouts.** `call::<R>()` where `R: Request` names method, params and
//!   result; every call is bounded; overload (-32001) is retried with exponential backoff.
//! - **Approvals are the caller's.** Server->client requests arrive as
//!   [`AppServerEvent::Request`] with a storable [`Responder`]; nothing is auto-accepted.
//! - **Processes don't leak.** Own process group, killed on `shutdown` and on drop; stderr goes
//!   to `tracing` with a bounded tail reported on exit.

pub mod items;
mod link;
pub mod notifications;
pub mod orchestrate;
pub mod remote;
pub mod requests;
pub mod server_requests;
pub mod thread;
mod transport;
pub mod wire_fields;

pub use items::ThreadItem;
pub use notifications::ServerNotification;
pub use remote::{
    AppServerListener, CommandEndpoint, Endpoint, Framing, Listen, ListenerBuilder,
    ReconnectPolicy, RemoteBuilder, WsToken,
};
pub use requests::{InitializeResponse, Request};
pub use server_requests::{
    CommandApprovalDecision, FileChangeApprovalDecision, RequestId, Responder, ServerRequest,
    ServerRequestParams,
};
pub use thread::{
    AskForApproval, SandboxMode, SandboxPolicy, Thread, ThreadStatus, Turn, TurnStatus, UserInput,
};
pub use transport::{AppServer, AppServerBuilder, AppServerEvent, OVERLOADED_ERROR_CODE};
