//! Keeping the hub's database within bounds over a long history: pruning old sessions, and
//! holding the command output stored across all sessions under a global cap.
//!
//! **Pruning** (`POST /api/maintenance/prune`, `orbitdock prune`) deletes the hub's record of
//! sessions with no activity for a given time (optionally only archived ones): their rows,
//! items, turns, approvals and search documents, in the single writer's transactions, so a
//! search never finds half a session. It never deletes a live session: only `ended` and
//! `failed` ones qualify (a session that is working, waiting for its next message, for an
//! approval or an answer, or whose host is unreachable is kept and counted as such). The
//! agents' own records (Codex rollouts, Claude transcripts) are left alone: they are the
//! user's, and pruning is about the hub's storage. Because those records stay on disk, the
//! history import would bring the sessions straight back; the pruned threads are therefore
//! remembered (`pruned_threads`, loaded at start into [`PrunedThreads`]) and the rollout
//! import skips them, across restarts and even when a rollout is rewritten and read again from
//! its start.
//!
//! **The global output cap** ([`crate::retention::OutputLimits::total`]) cannot be applied as
//! output arrives: a new output must not be cut because old sessions are large. Maintenance
//! ([`Registry::enforce_output_total`], run periodically by [`output_maintenance`] and
//! after each prune) sums what sessions store and, while the sum is over the cap, cuts the
//! outputs of the oldest session that is not live to their start and end
//! ([`crate::retention::AFTER_BUDGET`] each), oldest first. The cut outputs stay readable in
//! full from the agent's record ("Show full output"), exactly like outputs shortened on
//! arrival. Sessions with an actor in memory are skipped: the actor owns their state and would
//! write its own count back.

use std::collections::HashSet;
use std::sync::Weak;
use std::time::Duration;

use orbitdock_protocol::{ListDelta, PruneRequest, PruneResponse, SessionStatus, SessionSummary};
use parking_lot::Mutex;

use crate::error::{Error, Result};

use crate::registry::Registry;
use crate::store::maintenance::MaintenanceOp;
use crate::store::{Command, PersistOp, Publication};

/// Sessions deleted per writer command (one transaction each, so the writer keeps serving
/// live sessions between them).
const PRUNE_CHUNK: usize = 200;

/// How often the global output cap is checked.
pub const OUTPUT_CHECK_EVERY: Duration = Duration::from_secs(10 * 60);

/// Parses a duration written as numbers with units: `30d`, `12h`, `90m`, `45s`, `2w`, or
/// several (`1d12h`).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::BadRequest(format!(
            "{text:?} is not a duration; write a number and a unit (s, m, h, d, w), e.g. 30d, 12h, 1d12h"
        ))
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Whether a session is past any activity: only these are pruned or compacted.
fn is_settled(s: &SessionSummary) -> bool {
    matches!(s.status, SessionStatus::Ended | SessionStatus::Failed)
}

/// The agent threads whose sessions were pruned, by connector key.
#[derive(Debug, Default)]
pub struct PrunedThreads(Mutex<HashSet<(String, String)>>);

impl PrunedThreads {
    /// From what the store remembers.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(Mutex::new(pairs.into_iter().collect()))
    }

    /// Whether the session of `thread_id` under `connector` was pruned.
    pub fn contains(&self, connector: &str, thread_id: &str) -> bool {
        self.0
            .lock()
            .contains(&(connector.to_owned(), thread_id.to_owned()))
    }

    fn insert(&self, connector: String, thread_id: String) {
        self.0.lock().insert((connector, thread_id));
    }
}

/// What [`Registry::enforce_output_total`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputCompaction {
    /// Stored output before.
    pub before: u64,
    /// Stored output after.
    pub after: u64,
    /// Sessions whose outputs were cut.
    pub sessions: u64,
}

impl Registry {
    /// Deletes the sessions `req` selects (see the module docs); a dry run only counts them.
    pub async fn prune(&self, req: &PruneRequest) -> Result<PruneResponse> {
        let age = parse_duration(&req.older_than)?;
        let cutoff = chrono::Utc::now().timestamp_millis() - age.as_millis() as i64;
        let (_, all) = self.list();
        let mut chosen = Vec::new();
        let mut skipped_live = 0;
        for s in all {
            if s.updated_at >= cutoff || (req.archived_only && !s.archived) {
                continue;
            }
            if is_settled(&s) {
                chosen.push(s);
            } else {
                skipped_live += 1;
            }
        }
        let ids: Vec<String> = chosen.iter().map(|s| s.id.clone()).collect();
        let store = self.store().clone();
        self.store().flush().await?;
        let counted = ids.clone();
        let rows = tokio::task::spawn_blocking(move || store.rows_of(&counted))
            .await
            .map_err(|e| Error::Closed(format!("prune task: {e}")))??;
        let mut answer = PruneResponse {
            dry_run: req.dry_run,
            sessions: ids.len() as u64,
            items: rows.items,
            freed_bytes: rows.bytes,
            skipped_live,
            session_ids: ids,
            free_bytes_in_database: 0,
        };
        if !req.dry_run {
            let now = chrono::Utc::now().timestamp_millis();
            let mut deleted = 0;
            for chunk in chosen.chunks(PRUNE_CHUNK) {
                deleted += self.delete_settled(chunk, now).await?;
            }
            answer.sessions = deleted;
            self.enforce_output_total().await?;
        }
        let store = self.store().clone();
        answer.free_bytes_in_database = tokio::task::spawn_blocking(move || store.free_bytes())
            .await
            .map_err(|e| Error::Closed(format!("prune task: {e}")))??;
        Ok(answer)
    }

    /// Deletes sessions chosen for pruning, in one writer command; a session that came back to
    /// life since it was chosen is kept. Answers how many were deleted.
    async fn delete_settled(&self, chosen: &[SessionSummary], now: i64) -> Result<u64> {
        let mut ops = Vec::with_capacity(chosen.len() * 2);
        let mut publish = Vec::with_capacity(chosen.len());
        for s in chosen {
            // The list is the live truth: an event may have woken the session meanwhile.
            match self.list_hub().get(&s.id) {
                Some(now_s) if is_settled(&now_s) => {}
                _ => continue,
            }
            if let Some(h) = self.loaded(&s.id) {
                h.shutdown().await;
            }
            self.remove_handle(&s.id, s.thread_id.as_deref(), s);
            if let Some(t) = &s.thread_id {
                let connector = self.connectors().key_for(s).to_string();
                self.pruned().insert(connector.clone(), t.clone());
                ops.push(PersistOp::Maintenance(MaintenanceOp::RememberPruned {
                    connector,
                    thread_id: t.clone(),
                    pruned_at: now,
                }));
            }
            ops.push(PersistOp::DeleteSession {
                session_id: s.id.clone(),
            });
            publish.push(Publication::List(Box::new(ListDelta::Removed {
                id: s.id.clone(),
            })));
        }
        let n = publish.len() as u64;
        if n > 0 {
            self.store()
                .submit_and_wait(Command {
                    ops,
                    publish,
                    ..Default::default()
                })
                .await?;
        }
        Ok(n)
    }

    /// Brings the command output stored across all sessions under the global cap (see the
    /// module docs).
    pub async fn enforce_output_total(&self) -> Result<OutputCompaction> {
        let limits = self.store().output_limits();
        let keep = crate::retention::AFTER_BUDGET.min(limits.per_item);
        self.store().flush().await?;
        let store = self.store().clone();
        let usage = tokio::task::spawn_blocking(move || store.output_usage())
            .await
            .map_err(|e| Error::Closed(format!("maintenance task: {e}")))??;
        let before: u64 = usage.iter().map(|u| u.bytes).sum();
        let mut done = OutputCompaction {
            before,
            after: before,
            sessions: 0,
        };
        if before <= limits.total {
            return Ok(done);
        }
        for u in &usage {
            if done.after <= limits.total {
                break;
            }
            let settled = self
                .list_hub()
                .get(&u.session_id)
                .is_some_and(|s| is_settled(&s));
            if !settled || self.loaded(&u.session_id).is_some() {
                continue;
            }
            self.store()
                .submit_and_wait(Command {
                    ops: vec![PersistOp::Maintenance(MaintenanceOp::CompactOutputs {
                        session_id: u.session_id.clone(),
                        keep,
                    })],
                    ..Default::default()
                })
                .await?;
            let store = self.store().clone();
            let sid = u.session_id.clone();
            let now = tokio::task::spawn_blocking(move || store.output_bytes_of(&sid))
                .await
                .map_err(|e| Error::Closed(format!("maintenance task: {e}")))??;
            done.after = done.after.saturating_sub(u.bytes) + now;
            done.sessions += 1;
        }
        if done.sessions > 0 {
            tracing::info!(
                before = done.before,
                after = done.after,
                cap = limits.total,
                sessions = done.sessions,
                "stored command output cut to the global cap"
            );
        }
        Ok(done)
    }
}

/// Checks the global output cap now and then (first after one `every`, so a start is not
/// slowed), until `stop` or the registry is gone.
pub async fn output_maintenance(
    registry: Weak<Registry>,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        let Some(reg) = registry.upgrade() else { break };
        // Counting the stored output reads every command item; a database no bigger than the
        // cap cannot hold more output than the cap, which spares most histories that read.
        let store = reg.store().clone();
        let used = tokio::task::spawn_blocking(move || store.used_bytes()).await;
        if matches!(used, Ok(Ok(bytes)) if bytes <= reg.store().output_limits().total) {
            continue;
        }
        if let Err(e) = reg.enforce_output_total().await {
            tracing::warn!(error = %e, "cannot enforce the stored output cap");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_units() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::from_secs(129_600)
        );
        assert_eq!(
            parse_duration(" 2w ").unwrap(),
            Duration::from_secs(1_209_600)
        );
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in ["", "30", "d", "3x", "1.5d", "-1d", "99999999999999999999w"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("not a duration"), "{bad}: {e}");
        }
    }
}
