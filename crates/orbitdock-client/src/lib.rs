//! A typed client of the OrbitDock server: REST calls and a small WebSocket client, over the
//! `orbitdock-protocol` types.
//!
//! Used by the `orbitdock` CLI and meant for tests of the server, so it is shaped for both:
//!
//! - [`Client::new`] takes a base URL and the token; [`Client::discover`] finds both in a data
//!   directory the way every CLI subcommand does (`DATA_DIR/server.json` written by
//!   `orbitdock serve`, `DATA_DIR/token`).
//! - One method per REST route, named after what it does (`get_session`, `send_message`,
//!   `approve`, ...), returning the protocol type the route answers. Every request carries the
//!   bearer token and is bounded by a timeout.
//! - Failures are one [`Error`] enum. A 4xx/5xx with the server's `{"error": {code, message}}`
//!   body becomes [`Error::Api`] with the code and message intact, so callers (and tests) match
//!   on the stable code rather than on text.
//! - [`Client::ws`] opens `/ws` ([`WsClient`]): send a [`ClientMessage`], receive
//!   [`ServerMessage`]s, `wait_for(pred)` and `request` (send with a `client_ref`, wait for the
//!   matching `ack`/`error`), every wait bounded. Messages read past while waiting are kept
//!   for the next wait, so nothing a test might look for is dropped.
//!
//! The client never creates files: a missing token or `server.json` is an error saying how to
//! start a server, not a fresh token that the running server would not know.

mod discovery;
mod error;
mod rest;
mod ws;

pub use discovery::{ServerInfo, default_data_dir, read_server_info, read_token};
pub use error::{Error, Result};
pub use orbitdock_protocol::{ClientMessage, ServerMessage};
pub use rest::{Client, ItemsQuery};
pub use ws::WsClient;
