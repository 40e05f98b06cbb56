//! How sessions come back after the server stopped — cleanly or by `kill -9`. All of it is here.
//!
//! Nothing that ran in the old process runs any more: its agent process (and with it every
//! running turn and pending request) is gone. So, in one pass before the writer starts:
//! * pending approvals are resolved as `agent_gone`;
//! * turns still `in_progress` end as `interrupted`, and their items still `in_progress` become
//!   `interrupted` (a client would otherwise show them streaming forever);
//! * a session that was working or waiting on a person is `waiting` again (ended stays ended),
//!   with no current turn and no pending count.
//!
//! Threads are resumed lazily, on the session's next command.

use orbitdock_protocol::SessionStatus;

use crate::error::Result;
use crate::store::{PersistOp, Store, StoredSession};

/// What recovery found and fixed.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every session, as it should be shown now.
    pub sessions: Vec<StoredSession>,
    /// Row rewrites to commit once the writer runs.
    pub fixups: Vec<PersistOp>,
    /// Approvals resolved as gone, turns closed, items marked interrupted.
    pub approvals: usize,
    /// Turns closed.
    pub turns: usize,
    /// Items marked interrupted.
    pub items: usize,
}

/// Status to use for a session restored after a restart: nothing can be running any more. A
/// session on another host is unreachable until the hub's link to that host connects (which
/// tells it so): showing it waiting would invite messages that cannot be delivered yet.
pub fn restored_status(s: SessionStatus, on_host: bool) -> SessionStatus {
    match s {
        SessionStatus::Ended => SessionStatus::Ended,
        SessionStatus::Failed => SessionStatus::Failed,
        _ if on_host => SessionStatus::HostUnreachable,
        _ => SessionStatus::Waiting,
    }
}

/// Closes what died with the previous process and loads every session (blocking: call it from
/// `spawn_blocking` or before the runtime serves anything).
pub fn recover(store: &Store) -> Result<Recovered> {
    let closed = store.close_interrupted_work()?;
    let mut out = Recovered {
        approvals: closed.approvals,
        turns: closed.turns,
        items: closed.items,
        ..Default::default()
    };
    for mut s in store.load_sessions()? {
        let restored = restored_status(s.summary.status, s.summary.host.is_some());
        let stale = s.summary.status != restored
            || s.summary.pending_approval_count > 0
            || s.extra.current_turn.is_some();
        if stale {
            s.summary.status = restored;
            s.summary.pending_approval_count = 0;
            s.extra.current_turn = None;
            out.fixups.push(PersistOp::UpsertSession {
                summary: Box::new(s.summary.clone()),
                extra: Box::new(s.extra.clone()),
            });
        }
        out.sessions.push(s);
    }
    if out.approvals + out.turns + out.items + out.fixups.len() > 0 {
        tracing::info!(
            approvals = out.approvals,
            turns = out.turns,
            items = out.items,
            sessions = out.fixups.len(),
            "closed work interrupted by the previous stop"
        );
    }
    Ok(out)
}
