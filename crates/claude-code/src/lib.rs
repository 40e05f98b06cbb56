//! `claude-code`: a typed Rust client for the Claude Code CLI's stream-json control protocol
//! (pinned to [`binary::PINNED_VERSION`]).
//!
//! Why a client of the CLI rather than of the model API: Claude Code's behaviour (tools,
//! permission rules, transcripts under `~/.claude/projects`, hooks, resume) lives in the
//! binary. Driving `claude -p --input-format stream-json --output-format stream-json --verbose
//! --permission-prompt-tool stdio` gives the host the same session a terminal user would have —
//! resumable from the terminal and back — while the CLI asks the HOST whether a tool may run.
//! This crate owns that boundary and nothing else:
//!
//! - [`binary`]: find the `claude` binary (explicit path > `$CLAUDE_BIN` > a project-managed
//!   pinned npm install > `$PATH`), probe its version, install the pinned version.
//! - [`protocol`]: the wire types (serde only), with `Unknown` fallbacks everywhere.
//! - [`session`]: one CLI process per session — spawn with an isolated config dir and explicit
//!   environment, typed events on a bounded channel, typed host -> CLI control requests
//!   (`initialize`, `interrupt`, `set_permission_mode`, `set_model`) with timeouts, clean
//!   shutdown (close stdin, wait, kill the process tree).
//! - [`permission`]: CLI -> host requests (`can_use_tool`) with a storable [`Responder`];
//!   allow once / allow for the session / deny with a message. Nothing is ever auto-accepted.
//! - [`account`]: whether the CLI has credentials, and what to do if not.
//!
//! The protocol as verified against the pinned CLI is written up in the crate's README.
//!
//! ```no_run
//! # async fn demo() -> claude_code::Result<()> {
//! use claude_code::{SessionBuilder, SessionEvent, protocol::OutputMessage};
//! let (session, mut events) = SessionBuilder::new("/path/to/claude")
//!     .cwd("/work/project")
//!     .spawn()
//!     .await?;
//! session.send_user_text("list the files").await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         SessionEvent::PermissionRequest(req) => {
//!             // Show it to a human; answer later with req.allow() / allow_for_session() /
//!             // deny("why").
//!         }
//!         SessionEvent::Message(OutputMessage::Result(r)) => println!("done: {:?}", r.result),
//!         SessionEvent::Exited { .. } => break,
//!         _ => {}
//!     }
//! }
//! session.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod account;
pub mod binary;
pub mod error;
pub mod permission;
mod process_tree;
pub mod protocol;
pub mod session;

pub use account::{AccountState, AuthStatus, Credential};
pub use binary::{BinaryResolver, ClaudeBinary, ClaudeVersion, PINNED_VERSION};
pub use error::{Error, Result};
pub use permission::{HostRequest, PermissionRequest, Responder};
pub use session::{ClaudeSession, SessionBuilder, SessionEvent};
