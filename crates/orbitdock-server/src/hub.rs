//! Fan-out of published changes to WebSocket subscribers, with bounded replay logs.
//!
//! A [`SessionHub`] per session and one [`ListHub`] for the session list. Only the persistence
//! writer publishes (after the batch holding the change committed), so subscribers never see a
//! change the database does not have. Frames are serialised once (by the producer) and shared by
//! every subscriber as cheap-to-clone [`Utf8Bytes`].
//!
//! Subscribing takes the hub's lock, so "subscribe to live changes" and "read what was missed
//! from the replay log" are atomic: nothing published in between can fall through the gap.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use orbitdock_protocol::{
    ListCursor, ListDelta, ListQuery, ListSort, ServerMessage, SessionSummary, SessionsPage,
};
use parking_lot::Mutex;
use tokio::sync::broadcast;

/// How many deltas each replay log keeps.
pub const REPLAY_CAPACITY: usize = 1_000;
/// Broadcast buffer per hub; a subscriber that falls further behind gets a fresh snapshot.
const BROADCAST_CAPACITY: usize = 4_096;

/// One published change, serialised once.
#[derive(Debug)]
pub struct Published {
    /// Revision after this change.
    pub revision: u64,
    /// The `ServerMessage` JSON text frame.
    pub frame: Utf8Bytes,
    /// For list changes: the change itself, so a paged view can tell whether it concerns a row
    /// in view without parsing the frame.
    pub list_delta: Option<ListDelta>,
}

impl Published {
    /// Serialises a message for publication.
    pub fn new(revision: u64, msg: &ServerMessage) -> Arc<Self> {
        // Serialising our own protocol types cannot fail (no maps with non-string keys).
        let text = serde_json::to_string(msg).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","code":"internal","message":"serialise: {e}"}}"#)
        });
        Arc::new(Published {
            revision,
            frame: Utf8Bytes::from(text),
            list_delta: None,
        })
    }
}

/// What a subscriber gets when it subscribes.
#[derive(Debug)]
pub struct Subscription {
    /// Live changes published after the subscription.
    pub receiver: broadcast::Receiver<Arc<Published>>,
    /// `Some(missed)` when the replay log covered everything after `since_revision` (possibly
    /// empty); `None` when the subscriber needs a snapshot.
    pub replay: Option<Vec<Arc<Published>>>,
}

#[derive(Debug, Default)]
struct ReplayLog {
    entries: VecDeque<Arc<Published>>,
    last: u64,
}

impl ReplayLog {
    fn push(&mut self, p: Arc<Published>) {
        self.last = p.revision;
        if self.entries.len() == REPLAY_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(p);
    }

    /// The entries after `since`, if the log still holds all of them.
    fn since(&self, since: u64) -> Option<Vec<Arc<Published>>> {
        if since == self.last {
            return Some(Vec::new());
        }
        if since > self.last {
            return None;
        }
        let first = self.entries.front()?;
        if first.revision > since + 1 {
            return None;
        }
        Some(
            self.entries
                .iter()
                .filter(|p| p.revision > since)
                .cloned()
                .collect(),
        )
    }
}

/// Fan-out for one session.
///
/// The broadcast channel is made on the first subscription: a broadcast buffer allocates all
/// its [`BROADCAST_CAPACITY`] slots up front (about 160 KB), and most sessions of a long
/// history are loaded (imported, sent an event) without anyone ever watching them.
#[derive(Debug)]
pub struct SessionHub {
    inner: Mutex<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    tx: Option<broadcast::Sender<Arc<Published>>>,
    log: ReplayLog,
}

impl SessionHub {
    /// A hub whose last published revision is `revision` (restored from the database).
    pub fn new(revision: u64) -> Arc<Self> {
        Arc::new(SessionHub {
            inner: Mutex::new(HubInner {
                tx: None,
                log: ReplayLog {
                    entries: VecDeque::new(),
                    last: revision,
                },
            }),
        })
    }

    /// Publishes one change (called by the persistence writer after commit).
    pub fn publish(&self, p: Arc<Published>) {
        let mut inner = self.inner.lock();
        inner.log.push(p.clone());
        if let Some(tx) = &inner.tx {
            // No receivers is fine: nobody is watching this session.
            let _ = tx.send(p);
        }
    }

    /// Subscribes; see [`Subscription`].
    pub fn subscribe(&self, since_revision: Option<u64>) -> Subscription {
        let mut inner = self.inner.lock();
        let receiver = inner
            .tx
            .get_or_insert_with(|| broadcast::channel(BROADCAST_CAPACITY).0)
            .subscribe();
        let replay = since_revision.and_then(|s| inner.log.since(s));
        Subscription { receiver, replay }
    }

    /// The last published revision.
    pub fn last_published(&self) -> u64 {
        self.inner.lock().log.last
    }

    /// Number of live subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.inner
            .lock()
            .tx
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }
}

#[derive(Debug)]
struct ListInner {
    summaries: HashMap<String, SessionSummary>,
    /// Keyset indexes: (key descending, id ascending) per order, so a page is a range scan
    /// from the cursor, whatever was inserted above it meanwhile.
    by_activity: BTreeSet<(Reverse<i64>, String)>,
    by_created: BTreeSet<(Reverse<i64>, String)>,
    log: ReplayLog,
}

impl ListInner {
    fn insert(&mut self, s: SessionSummary) {
        self.remove(&s.id);
        self.by_activity
            .insert((Reverse(s.updated_at), s.id.clone()));
        self.by_created
            .insert((Reverse(s.created_at), s.id.clone()));
        self.summaries.insert(s.id.clone(), s);
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.summaries.remove(id) {
            self.by_activity
                .remove(&(Reverse(old.updated_at), old.id.clone()));
            self.by_created.remove(&(Reverse(old.created_at), old.id));
        }
    }

    fn page(&self, query: &ListQuery, after: Option<&ListCursor>, limit: usize) -> SessionsPage {
        let index = match query.sort {
            ListSort::Created => &self.by_created,
            ListSort::Activity | ListSort::Unknown => &self.by_activity,
        };
        let start = match after {
            // Keys are stored reversed: "after (key, id)" in list order is "greater than
            // (Reverse(key), id)" in the set's order.
            Some(c) => std::ops::Bound::Excluded((Reverse(c.key), c.id.clone())),
            None => std::ops::Bound::Unbounded,
        };
        let mut sessions = Vec::with_capacity(limit.min(1_000));
        let mut next_cursor = None;
        for (_, id) in index.range((start, std::ops::Bound::Unbounded)) {
            let Some(s) = self.summaries.get(id) else {
                continue;
            };
            if !query.matches(s) {
                continue;
            }
            if sessions.len() == limit {
                // One more match exists: the page ends at the last row sent.
                next_cursor = sessions.last().map(|last: &SessionSummary| {
                    ListCursor {
                        key: query.sort_key(last),
                        id: last.id.clone(),
                    }
                    .encode()
                });
                break;
            }
            sessions.push(s.clone());
        }
        let total = if after.is_none() && next_cursor.is_none() {
            sessions.len() as u64
        } else {
            self.summaries.values().filter(|s| query.matches(s)).count() as u64
        };
        SessionsPage {
            revision: self.log.last,
            sessions,
            next_cursor,
            total,
        }
    }
}

/// Fan-out for the session list; also the authoritative in-memory list (exactly what was
/// published, at the list revision).
#[derive(Debug)]
pub struct ListHub {
    tx: broadcast::Sender<Arc<Published>>,
    inner: Mutex<ListInner>,
}

impl ListHub {
    /// A hub holding `summaries`. The revision starts at the start-up time in microseconds so a
    /// client's revision from before a restart never matches a new one by coincidence.
    pub fn new(summaries: Vec<SessionSummary>, start_revision: u64) -> Arc<Self> {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        let mut inner = ListInner {
            summaries: HashMap::with_capacity(summaries.len()),
            by_activity: BTreeSet::new(),
            by_created: BTreeSet::new(),
            log: ReplayLog {
                entries: VecDeque::new(),
                last: start_revision,
            },
        };
        for s in summaries {
            inner.insert(s);
        }
        Arc::new(ListHub {
            tx,
            inner: Mutex::new(inner),
        })
    }

    /// Applies and publishes one change (called by the persistence writer after commit).
    pub fn publish(&self, delta: ListDelta) {
        let mut inner = self.inner.lock();
        match &delta {
            ListDelta::Upsert { summary } => inner.insert(summary.clone()),
            ListDelta::Removed { id } => inner.remove(id),
            ListDelta::Unknown => return,
        }
        let revision = inner.log.last + 1;
        let mut p = Published::new(
            revision,
            &ServerMessage::SessionsDelta {
                revision,
                delta: delta.clone(),
            },
        );
        if let Some(p) = Arc::get_mut(&mut p) {
            p.list_delta = Some(delta);
        }
        inner.log.push(p.clone());
        let _ = self.tx.send(p);
    }

    /// The list at its revision, most recently updated first.
    pub fn snapshot(&self) -> (u64, Vec<SessionSummary>) {
        let inner = self.inner.lock();
        (
            inner.log.last,
            sorted(inner.summaries.values().cloned().collect()),
        )
    }

    /// Every listed session `keep` accepts, unordered (without copying the others).
    pub fn matching(&self, keep: impl Fn(&SessionSummary) -> bool) -> Vec<SessionSummary> {
        let inner = self.inner.lock();
        inner
            .summaries
            .values()
            .filter(|s| keep(s))
            .cloned()
            .collect()
    }

    /// One page of the list: at most `limit` rows matching `query` after `after`, in the
    /// query's order, read at the current revision.
    pub fn page(
        &self,
        query: &ListQuery,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> SessionsPage {
        self.inner.lock().page(query, after, limit)
    }

    /// Subscribes and reads the first page atomically (see [`ListHub::subscribe_with_snapshot`]).
    pub fn subscribe_with_page(
        &self,
        query: &ListQuery,
        limit: usize,
    ) -> (broadcast::Receiver<Arc<Published>>, SessionsPage) {
        let inner = self.inner.lock();
        let receiver = self.tx.subscribe();
        (receiver, inner.page(query, None, limit))
    }

    /// Number of sessions listed.
    pub fn len(&self) -> usize {
        self.inner.lock().summaries.len()
    }

    /// Whether no session is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One summary.
    pub fn get(&self, id: &str) -> Option<SessionSummary> {
        self.inner.lock().summaries.get(id).cloned()
    }

    /// Subscribes; see [`Subscription`].
    pub fn subscribe(&self, since_revision: Option<u64>) -> Subscription {
        let inner = self.inner.lock();
        let receiver = self.tx.subscribe();
        let replay = since_revision.and_then(|s| inner.log.since(s));
        Subscription { receiver, replay }
    }

    /// Subscribes and takes a snapshot atomically.
    pub fn subscribe_with_snapshot(
        &self,
    ) -> (
        broadcast::Receiver<Arc<Published>>,
        u64,
        Vec<SessionSummary>,
    ) {
        let inner = self.inner.lock();
        let receiver = self.tx.subscribe();
        let list = sorted(inner.summaries.values().cloned().collect());
        (receiver, inner.log.last, list)
    }
}

fn sorted(mut v: Vec<SessionSummary>) -> Vec<SessionSummary> {
    v.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(rev: u64) -> Arc<Published> {
        Published::new(rev, &ServerMessage::Pong { client_ref: None })
    }

    #[test]
    fn replay_returns_exactly_the_missed_deltas() {
        let hub = SessionHub::new(10);
        for r in 11..=15 {
            hub.publish(p(r));
        }
        let sub = hub.subscribe(Some(12));
        let revs: Vec<u64> = sub.replay.unwrap().iter().map(|p| p.revision).collect();
        assert_eq!(revs, vec![13, 14, 15]);
        assert_eq!(hub.subscribe(Some(15)).replay.unwrap().len(), 0);
        // Before the log's start (10 is the restored revision: 11.. are in the log).
        assert_eq!(hub.subscribe(Some(10)).replay.unwrap().len(), 5);
        assert!(hub.subscribe(Some(9)).replay.is_none());
        assert!(hub.subscribe(Some(99)).replay.is_none());
        assert!(hub.subscribe(None).replay.is_none());
    }

    #[test]
    fn replay_log_is_bounded() {
        let hub = SessionHub::new(0);
        for r in 1..=(REPLAY_CAPACITY as u64 + 10) {
            hub.publish(p(r));
        }
        assert!(hub.subscribe(Some(5)).replay.is_none());
        assert_eq!(
            hub.subscribe(Some(10)).replay.unwrap().len(),
            REPLAY_CAPACITY
        );
    }

    #[test]
    fn list_hub_applies_and_counts() {
        let hub = ListHub::new(Vec::new(), 100);
        hub.publish(ListDelta::Upsert {
            summary: SessionSummary {
                id: "a".into(),
                ..Default::default()
            },
        });
        hub.publish(ListDelta::Removed { id: "a".into() });
        let (rev, list) = hub.snapshot();
        assert_eq!(rev, 102);
        assert!(list.is_empty());
        assert_eq!(hub.subscribe(Some(100)).replay.unwrap().len(), 2);
    }
}
