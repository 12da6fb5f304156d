//! Connection admission: the global and per-address connection limits.
//!
//! A [`ConnPermit`] is taken at the upgrade, before the 101 answer, and held by the
//! connection's task; dropping it (connection ended, or upgrade abandoned) gives the slot
//! back. Refusals are HTTP answers, so a refused client learns why instead of timing out.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::app::{canonical, Config};

/// Why an upgrade was refused by a connection limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The app holds `max_connections` already (HTTP 503).
    Global(usize),
    /// The client's address holds `max_connections_per_ip` already (HTTP 429).
    PerIp(usize),
}

/// What the per-address limit counts: an IPv4 address, or the /64 an IPv6 address is in (one
/// host usually gets a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PeerKey {
    V4(u32),
    V6(u64),
}

impl PeerKey {
    fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6(prefix64(v6)),
        }
    }
}

fn prefix64(ip: Ipv6Addr) -> u64 {
    (u128::from(ip) >> 64) as u64
}

struct Counts {
    live: AtomicUsize,
    by_peer: Mutex<HashMap<PeerKey, usize>>,
}

/// The connection counters of one service.
pub(crate) struct ConnLimits {
    max: usize,
    per_peer: usize,
    counts: Arc<Counts>,
}

impl ConnLimits {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            max: config.max_connections,
            per_peer: config.max_connections_per_ip,
            counts: Arc::new(Counts {
                live: AtomicUsize::new(0),
                by_peer: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Takes a slot for a connection from `peer` (unknown: the global limit only).
    pub(crate) fn acquire(&self, peer: Option<IpAddr>) -> Result<ConnPermit, Refused> {
        let counts = &self.counts;
        let reserved = counts
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        if reserved.is_err() {
            return Err(Refused::Global(self.max));
        }
        let key = peer.map(PeerKey::of);
        if let Some(key) = key {
            let mut by_peer = counts
                .by_peer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let n = by_peer.entry(key).or_insert(0);
            if *n >= self.per_peer {
                drop(by_peer);
                counts.live.fetch_sub(1, Ordering::AcqRel);
                return Err(Refused::PerIp(self.per_peer));
            }
            *n += 1;
        }
        Ok(ConnPermit {
            counts: counts.clone(),
            key,
        })
    }

    /// Open connections counted by the global limit (taken slots included).
    pub(crate) fn live(&self) -> usize {
        self.counts.live.load(Ordering::Acquire)
    }
}

/// One connection's slot; given back on drop.
pub(crate) struct ConnPermit {
    counts: Arc<Counts>,
    key: Option<PeerKey>,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut by_peer = self
                .counts
                .by_peer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(n) = by_peer.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    by_peer.remove(&key);
                }
            }
        }
        self.counts.live.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_and_release() {
        let limits = ConnLimits::new(
            &Config::default()
                .max_connections(3)
                .max_connections_per_ip(2),
        );
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = limits.acquire(Some(a)).unwrap();
        let p2 = limits.acquire(Some(a)).unwrap();
        assert_eq!(limits.acquire(Some(a)).err(), Some(Refused::PerIp(2)));
        // The mapped form of the same address shares its count.
        assert_eq!(
            limits
                .acquire(Some("::ffff:10.0.0.1".parse().unwrap()))
                .err(),
            Some(Refused::PerIp(2))
        );
        let p3 = limits.acquire(Some(b)).unwrap();
        assert_eq!(limits.acquire(None).err(), Some(Refused::Global(3)));
        assert_eq!(limits.live(), 3);
        drop(p1);
        let p4 = limits.acquire(Some(a)).unwrap();
        drop((p2, p3, p4));
        assert_eq!(limits.live(), 0);
        assert!(limits.counts.by_peer.lock().unwrap().is_empty());
    }

    #[test]
    fn ipv6_peers_count_per_64() {
        let limits = ConnLimits::new(&Config::default().max_connections_per_ip(1));
        let _p = limits
            .acquire(Some("2001:db8::1".parse().unwrap()))
            .unwrap();
        assert!(limits
            .acquire(Some("2001:db8::2".parse().unwrap()))
            .is_err());
        assert!(limits
            .acquire(Some("2001:db8:0:1::1".parse().unwrap()))
            .is_ok());
    }
}
