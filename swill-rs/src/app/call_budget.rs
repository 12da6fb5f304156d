//! [`CallBudget`]: the calls running across every connection of one app, bounded by
//! `Config::max_calls` (runtime-free: one atomic counter).
//!
//! Per-connection limits multiply with the connection count (1,000 connections × 1,024
//! endless streams held 1.23 GB); this bound does not. Each running call holds one
//! [`CallPermit`], given back when the call ends, however it ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The app-wide count of running calls and its bound.
#[derive(Debug)]
pub(crate) struct CallBudget {
    max: usize,
    used: AtomicUsize,
}

/// One running call's share of the [`CallBudget`]; released when dropped.
#[derive(Debug)]
pub(crate) struct CallPermit(Arc<CallBudget>);

impl CallBudget {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            used: AtomicUsize::new(0),
        })
    }

    /// A permit, unless `max` calls are running already.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<CallPermit> {
        // One increment when the budget has room (the usual case); undone when it had none.
        let before = self.used.fetch_add(1, Ordering::Relaxed);
        if before >= self.max {
            self.used.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(CallPermit(self.clone()))
    }

    /// Calls running now.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed).min(self.max)
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_bounded_and_given_back() {
        let b = CallBudget::new(2);
        let p1 = b.try_acquire().unwrap();
        let p2 = b.try_acquire().unwrap();
        assert!(
            b.try_acquire().is_none(),
            "a third call over a budget of two"
        );
        assert_eq!(b.in_use(), 2);
        drop(p1);
        assert_eq!(b.in_use(), 1);
        let p3 = b.try_acquire().unwrap();
        drop((p2, p3));
        assert_eq!(b.in_use(), 0);
        assert_eq!(b.max(), 2);
    }

    #[test]
    fn refusals_leave_the_count_as_it_was() {
        let b = CallBudget::new(1);
        let p = b.try_acquire().unwrap();
        for _ in 0..100 {
            assert!(b.try_acquire().is_none());
        }
        assert_eq!(b.in_use(), 1);
        drop(p);
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn threads_never_exceed_the_budget() {
        let b = CallBudget::new(8);
        let held = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let b = b.clone();
                    s.spawn(move || {
                        (0..1000)
                            .filter_map(|_| b.try_acquire())
                            .take(4)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert!(held.len() <= 8, "{} permits over a budget of 8", held.len());
        drop(held);
        assert_eq!(b.in_use(), 0);
    }
}
