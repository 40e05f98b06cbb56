//! Rate limit on sign-in attempts (`/login` and `POST /api/pair`), per source address.
//!
//! Only failures count: each wrong token or pairing code takes one slot of a small bucket that
//! refills one slot per [`REFILL`]; with the bucket empty every attempt, right or wrong, is
//! refused with 429 and a `Retry-After` until a slot is back. Counting failures rather than
//! requests (what a request-rate limiter such as `governor` counts) means a person who signs in
//! correctly is never slowed down, while guessing gets [`BURST`] tries and then one per
//! [`REFILL`].
//!
//! The key is the TCP peer address when the listener records it (`ConnectInfo`); behind a
//! reverse proxy every client shares the proxy's address, which makes the limit global there:
//! stricter, never looser.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use parking_lot::Mutex;

/// Failures allowed in a row before attempts are refused.
pub const BURST: u32 = 10;
/// One failure is forgiven per this much time.
pub const REFILL: Duration = Duration::from_secs(30);
/// Addresses tracked at most; beyond it the ones with nothing left to forgive are dropped.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug)]
struct Bucket {
    failures: u32,
    /// When the last slot was given back (or the first failure counted).
    since: Instant,
}

impl Bucket {
    fn refresh(&mut self, now: Instant) {
        let steps = (now.saturating_duration_since(self.since).as_millis()
            / REFILL.as_millis().max(1)) as u32;
        if steps > 0 {
            self.failures = self.failures.saturating_sub(steps);
            self.since += REFILL * steps;
        }
        if self.failures == 0 {
            self.since = now;
        }
    }
}

/// The limiter: one bucket per source address.
#[derive(Debug, Default)]
pub struct LoginLimit {
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

/// The TCP peer of a connection, recorded by every listener the server runs (plain TCP and
/// TLS). Axum only knows how to take a `SocketAddr` from its own `TcpListener`, so the server's
/// listeners record this type instead.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

macro_rules! peer_from {
    ($listener:ty) => {
        impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, $listener>>
            for PeerAddr
        {
            fn connect_info(stream: axum::serve::IncomingStream<'_, $listener>) -> Self {
                PeerAddr(*stream.remote_addr())
            }
        }
    };
}
peer_from!(tokio::net::TcpListener);
peer_from!(crate::remote::TlsListener);

/// The source address of a request, when the listener recorded it.
pub fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0.ip())
}

impl LoginLimit {
    /// `Err(retry_after)` while `peer` may not try.
    pub fn check(&self, peer: Option<IpAddr>) -> Result<(), Duration> {
        self.check_at(peer, Instant::now())
    }

    /// Counts a failed attempt from `peer`.
    pub fn failed(&self, peer: Option<IpAddr>) {
        self.failed_at(peer, Instant::now());
    }

    fn check_at(&self, peer: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock();
        let Some(b) = buckets.get_mut(&peer) else {
            return Ok(());
        };
        b.refresh(now);
        if b.failures >= BURST {
            Err((b.since + REFILL).saturating_duration_since(now))
        } else {
            Ok(())
        }
    }

    fn failed_at(&self, peer: Option<IpAddr>, now: Instant) {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| {
                b.refresh(now);
                b.failures > 0
            });
        }
        let b = buckets.entry(peer).or_insert(Bucket {
            failures: 0,
            since: now,
        });
        b.refresh(now);
        b.failures = b.failures.saturating_add(1).min(BURST);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_fill_the_bucket_and_time_empties_it() {
        let l = LoginLimit::default();
        let a: Option<IpAddr> = "10.0.0.1".parse().ok();
        let b: Option<IpAddr> = "10.0.0.2".parse().ok();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(l.check_at(a, t0), Ok(()));
            l.failed_at(a, t0);
        }
        assert_eq!(l.check_at(a, t0), Err(REFILL));
        // Another address is not affected.
        assert_eq!(l.check_at(b, t0), Ok(()));
        // Half a refill later: still refused, for the other half.
        assert_eq!(l.check_at(a, t0 + REFILL / 2), Err(REFILL / 2));
        // One refill later: one more try; failing it refuses again for a full period.
        assert_eq!(l.check_at(a, t0 + REFILL), Ok(()));
        l.failed_at(a, t0 + REFILL);
        assert_eq!(l.check_at(a, t0 + REFILL), Err(REFILL));
        // Long after: everything forgiven.
        assert_eq!(l.check_at(a, t0 + REFILL * (BURST + 2)), Ok(()));
    }
}
