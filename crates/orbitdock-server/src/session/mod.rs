//! The session core: one actor per session, fed by ONE provider-neutral input vocabulary.
//!
//! Where things happen, in the order a change travels:
//!
//! 1. An agent says something. For Codex, `connector::codex::translate` is the one module that
//!    turns an app-server notification or server request into [`SessionEvent`]s and an
//!    [`ApprovalRequest`] (read it to see where a Codex notification becomes a transcript item).
//!    Passive sessions (rollout files, Claude hooks) produce the same events in `discovery`.
//! 2. The registry routes them by `(connector, thread id)` to the session's actor ([`handle`]
//!    is the actor's API; every wait on it is bounded).
//! 3. The actor ([`actor`]) applies them in arrival order: [`transcript`] keeps the window of
//!    recent items and turns events into upserts and streamed text, [`approvals`] keeps the
//!    pending requests, [`lifecycle`] runs the commands a person gives (start, send, interrupt,
//!    end, resume, take over, rename, configure).
//! 4. Every change becomes persistence ops plus revisioned deltas, sent to the single writer;
//!    deltas are published after commit ("persist, then publish").
//!
//! Agent round trips (start a thread, start a turn, answer an approval) never run on the actor
//! loop: they run as tasks whose results come back as messages, so one session waiting on a slow
//! agent keeps answering reads and applying events, and never holds up another session.
//! [`restore`] is where a session comes back after a restart or a crash.

pub mod actor;
pub mod approvals;
mod event;
pub mod handle;
pub mod lifecycle;
pub mod restore;
pub(crate) mod thread_routes;
pub mod transcript;

pub use event::{ApprovalAnswer, ApprovalReply, ApprovalRequest, SessionEvent};
pub use handle::SessionHandle;

/// Current time, Unix ms.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Items kept in memory per session for snapshots (older ones are paged from SQLite).
pub const RECENT_ITEMS: usize = 200;

/// A passive Codex session is taken over only after this long without activity, so a
/// terminal still writing its thread is not raced.
pub const TAKEOVER_QUIET_MS: i64 = 2_000;
