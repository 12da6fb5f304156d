//! [`ByteBudget`]: a number of bytes shared by every connection of one app (runtime-free: a
//! counter and the wakers of the connections waiting for room). Two budgets use it:
//!
//! - `Config::input_budget`, the bytes of incomplete incoming messages. Each connection may
//!   assemble a message of up to `max_message_size`; across connections those buffers
//!   multiply (20 connections with half-sent 16 MiB messages held 285 MB). A connection
//!   whose incomplete message grows past a small free allowance reserves its bytes here
//!   before reading more; when the budget is spent, it stops reading (its client's sends
//!   back up in TCP) until another message completes, or its own `message_timeout` closes
//!   it.
//! - `Config::queued_input_budget`, the bytes of request-stream items received and not yet
//!   taken by their handlers. An item that finds no room fails its call with ERROR 429, as
//!   a full backlog does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

/// An app-wide budget of bytes.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    max: usize,
    used: AtomicUsize,
    /// Connections that found no room, woken when bytes are given back.
    waiters: Mutex<Vec<Waker>>,
    /// How many wakers `waiters` holds, so that a release with nobody waiting (every
    /// request item taken by its handler) takes no lock.
    waiting: AtomicUsize,
    /// Follows `used` (feature `metrics`).
    #[cfg(feature = "metrics")]
    gauge: Option<metrics::Gauge>,
}

impl ByteBudget {
    #[cfg_attr(feature = "metrics", allow(dead_code))] // metered() instead, but for tests
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            used: AtomicUsize::new(0),
            waiters: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            #[cfg(feature = "metrics")]
            gauge: None,
        })
    }

    /// A budget whose use `gauge` follows.
    #[cfg(feature = "metrics")]
    pub(crate) fn metered(max: usize, gauge: metrics::Gauge) -> Arc<Self> {
        Arc::new(Self {
            max,
            used: AtomicUsize::new(0),
            waiters: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            gauge: Some(gauge),
        })
    }

    /// Takes `n` bytes of the budget, if they are free.
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        let mut used = self.used.load(Ordering::SeqCst);
        loop {
            let Some(next) = used.checked_add(n).filter(|&u| u <= self.max) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    #[cfg(feature = "metrics")]
                    if let Some(g) = &self.gauge {
                        g.increment(n as f64);
                    }
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    /// Gives `n` reserved bytes back and wakes the connections waiting for room.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        // SeqCst here, in `wait` and in `try_reserve`: either this load sees a waiter that
        // registered before it, or that waiter's next `try_reserve` sees these bytes.
        self.used.fetch_sub(n, Ordering::SeqCst);
        #[cfg(feature = "metrics")]
        if let Some(g) = &self.gauge {
            g.decrement(n as f64);
        }
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let waiters = {
            let mut waiters = self.lock();
            self.waiting.store(0, Ordering::SeqCst);
            std::mem::take(&mut *waiters)
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Wakes `waker` at the next [`release`](Self::release). Register first, then try to
    /// reserve again: a release in between is then not missed.
    pub(crate) fn wait(&self, waker: &Waker) {
        let mut waiters = self.lock();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
            self.waiting.store(waiters.len(), Ordering::SeqCst);
        }
    }

    /// Bytes reserved now.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn reservations_stay_within_the_budget_and_wake_waiters_on_release() {
        let b = ByteBudget::new(100);
        assert!(b.try_reserve(60));
        assert!(!b.try_reserve(41), "over the budget");
        assert!(b.try_reserve(40));
        assert_eq!(b.in_use(), 100);
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        b.wait(&waker);
        b.wait(&waker); // registered once
        assert_eq!(b.lock().len(), 1);
        assert_eq!(b.waiting.load(Ordering::SeqCst), 1);
        b.release(60);
        assert!(flag.0.load(Ordering::SeqCst), "the waiter was woken");
        assert!(b.lock().is_empty());
        assert_eq!(
            b.waiting.load(Ordering::SeqCst),
            0,
            "releases skip the lock again"
        );
        assert!(b.try_reserve(60));
        b.release(100);
        assert_eq!(b.in_use(), 0);
        assert!(!b.try_reserve(usize::MAX), "no overflow");
    }
}
