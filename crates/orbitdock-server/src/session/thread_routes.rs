//! Which session a thread's events go to, and the events of a thread no session has bound yet.
//!
//! An agent answers "thread started" and, right behind the answer on the same stream, sends the
//! thread's first notifications: Codex reports each MCP server's startup outcome within
//! milliseconds of its `thread/start` reply. The reply travels to the session's attach op while
//! the notifications travel through the connector's event task to the registry's router: two
//! tasks racing. When the router won, the thread had no route yet and its first events were
//! dropped (the MCP startup cards went missing now and then).
//!
//! So events of an unknown thread are *held* and handed, in arrival order, to the session that
//! binds the thread. Lookups, holds and binds share one lock, and the hand-over runs under it:
//! an event is either held and handed over before anything routed after the binding, or routed
//! after the binding, never both and never neither. What is held is bounded (threads, events per
//! thread, age), because events of threads nobody will bind (another client's thread on a
//! shared app-server, a deleted session's late stragglers) arrive on the same path.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::SessionEvent;
use super::handle::Msg;
use crate::connector::ConnectorKey;

/// Threads whose events are held at once; the longest-held is dropped beyond this.
const HELD_THREADS: usize = 64;
/// Events held per thread; later ones are dropped (a thread being attached sends a handful).
const HELD_EVENTS: usize = 256;
/// How long events wait for their thread to be bound (far longer than any attach takes).
const HELD_FOR: Duration = Duration::from_secs(60);

type Key = (ConnectorKey, String);

/// `(connector, thread id)` -> session id, plus the events waiting for a route (module docs).
#[derive(Debug, Default)]
pub(crate) struct ThreadRoutes {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    routes: HashMap<Key, String>,
    held: HashMap<Key, Held>,
}

#[derive(Debug)]
struct Held {
    since: Instant,
    events: Vec<SessionEvent>,
    dropped: usize,
}

impl ThreadRoutes {
    /// Routes known at start-up (the stored sessions' threads).
    pub fn new(routes: HashMap<Key, String>) -> Self {
        ThreadRoutes {
            inner: Mutex::new(Inner {
                routes,
                held: HashMap::new(),
            }),
        }
    }

    /// The session bound to a thread, if any.
    pub fn session(&self, connector: ConnectorKey, thread_id: &str) -> Option<String> {
        self.inner
            .lock()
            .routes
            .get(&(connector, thread_id.to_owned()))
            .cloned()
    }

    /// The session to deliver a thread's events to (with the events), or `None` when no
    /// session has bound the thread yet and the events are held for it.
    pub fn route_or_hold(
        &self,
        connector: ConnectorKey,
        thread_id: &str,
        events: Vec<SessionEvent>,
    ) -> Option<(String, Vec<SessionEvent>)> {
        self.route_or_hold_at(connector, thread_id, events, Instant::now())
    }

    fn route_or_hold_at(
        &self,
        connector: ConnectorKey,
        thread_id: &str,
        events: Vec<SessionEvent>,
        now: Instant,
    ) -> Option<(String, Vec<SessionEvent>)> {
        let key = (connector.clone(), thread_id.to_owned());
        let mut inner = self.inner.lock();
        if let Some(sid) = inner.routes.get(&key) {
            return Some((sid.clone(), events));
        }
        inner.expire(now);
        if !inner.held.contains_key(&key) && inner.held.len() >= HELD_THREADS {
            let oldest = inner
                .held
                .iter()
                .min_by_key(|(_, h)| h.since)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest
                && let Some(h) = inner.held.remove(&k)
            {
                tracing::debug!(connector = %k.0, thread = %k.1, events = h.events.len(),
                    "dropped events of a thread no session bound");
            }
        }
        let held = inner.held.entry(key).or_insert_with(|| Held {
            since: now,
            events: Vec::new(),
            dropped: 0,
        });
        let room = HELD_EVENTS.saturating_sub(held.events.len());
        held.dropped += events.len().saturating_sub(room);
        held.events.extend(events.into_iter().take(room));
        tracing::debug!(%connector, thread = %thread_id, held = held.events.len(),
            "holding events of a thread no session has bound yet");
        None
    }

    /// Routes a thread's events to `session_id` from now on. The events held for the thread, if
    /// any, go to `hand_over` (oldest first) before this returns and before any later event of
    /// the thread can be routed, so `hand_over` must not block or touch the routes.
    pub fn bind(
        &self,
        connector: ConnectorKey,
        thread_id: &str,
        session_id: &str,
        hand_over: impl FnOnce(Vec<SessionEvent>),
    ) {
        let key = (connector, thread_id.to_owned());
        let mut inner = self.inner.lock();
        let held = inner.held.remove(&key);
        inner.routes.insert(key, session_id.to_owned());
        if let Some(held) = held {
            if held.dropped > 0 {
                tracing::warn!(session = %session_id, thread = %thread_id, dropped = held.dropped,
                    "more events arrived before the thread was bound than are held; the rest were dropped");
            }
            if !held.events.is_empty() {
                hand_over(held.events);
            }
        }
    }

    /// Forgets a thread's route (its session was deleted or moved to another thread).
    pub fn unbind(&self, connector: ConnectorKey, thread_id: &str) {
        self.inner
            .lock()
            .routes
            .remove(&(connector, thread_id.to_owned()));
    }
}

/// A [`ThreadRoutes::bind`] hand-over for a binder off the actor's loop: queues the held events
/// in the actor's mailbox without waiting (the hand-over runs under the routes' lock).
pub(crate) fn hand_over(mailbox: &mpsc::Sender<Msg>, session_id: &str, events: Vec<SessionEvent>) {
    let count = events.len();
    let msg = Msg::Events {
        events,
        ack: None,
        committed: false,
        ops: Vec::new(),
    };
    if let Err(e) = mailbox.try_send(msg) {
        tracing::error!(session = %session_id, events = count, error = %e,
            "events that arrived before the thread was bound were dropped");
    }
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        self.held.retain(|(connector, thread), h| {
            let keep = now.duration_since(h.since) < HELD_FOR;
            if !keep {
                tracing::debug!(%connector, %thread, events = h.events.len(),
                    "dropped events of a thread no session bound in time");
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{CLAUDE, CODEX};

    fn ev(n: usize) -> SessionEvent {
        SessionEvent::Notice(format!("n{n}"))
    }

    fn bound(
        r: &ThreadRoutes,
        connector: ConnectorKey,
        thread: &str,
        sid: &str,
    ) -> Vec<SessionEvent> {
        let mut got = Vec::new();
        r.bind(connector, thread, sid, |e| got = e);
        got
    }

    #[test]
    fn events_of_an_unbound_thread_are_handed_to_the_session_that_binds_it_in_order() {
        let r = ThreadRoutes::default();
        assert_eq!(r.route_or_hold(CODEX, "t", vec![ev(1), ev(2)]), None);
        assert_eq!(r.route_or_hold(CODEX, "t", vec![ev(3)]), None);
        // Another connector's thread of the same id is another thread.
        assert_eq!(r.route_or_hold(CLAUDE, "t", vec![ev(9)]), None);
        assert_eq!(bound(&r, CODEX, "t", "s1"), vec![ev(1), ev(2), ev(3)]);
        // Once bound, events are routed, not held, and nothing is handed over twice.
        assert_eq!(
            r.route_or_hold(CODEX, "t", vec![ev(4)]),
            Some(("s1".into(), vec![ev(4)]))
        );
        assert_eq!(r.session(CODEX, "t").as_deref(), Some("s1"));
        assert_eq!(bound(&r, CODEX, "t", "s1"), Vec::<SessionEvent>::new());
        assert_eq!(bound(&r, CLAUDE, "t", "s2"), vec![ev(9)]);
        r.unbind(CODEX, "t");
        assert_eq!(r.session(CODEX, "t"), None);
    }

    #[test]
    fn what_is_held_is_bounded_in_events_threads_and_age() {
        let r = ThreadRoutes::default();
        let t0 = Instant::now();
        let many: Vec<_> = (0..HELD_EVENTS + 10).map(ev).collect();
        assert_eq!(r.route_or_hold_at(CODEX, "big", many.clone(), t0), None);
        // The first events are kept: a thread's opening events are the ones a session needs.
        assert_eq!(bound(&r, CODEX, "big", "s"), many[..HELD_EVENTS].to_vec());

        for i in 0..HELD_THREADS + 1 {
            let at = t0 + Duration::from_millis(i as u64);
            r.route_or_hold_at(CODEX, &format!("t{i}"), vec![ev(i)], at);
        }
        assert_eq!(r.inner.lock().held.len(), HELD_THREADS);
        // The longest-held thread made room for the newest.
        assert_eq!(bound(&r, CODEX, "t0", "s"), Vec::<SessionEvent>::new());
        assert_eq!(bound(&r, CODEX, "t1", "s"), vec![ev(1)]);

        let later = t0 + HELD_FOR + Duration::from_secs(1);
        r.route_or_hold_at(CODEX, "fresh", vec![ev(0)], later);
        assert_eq!(r.inner.lock().held.len(), 1, "expired threads are dropped");
        assert_eq!(bound(&r, CODEX, "fresh", "s"), vec![ev(0)]);
    }
}
