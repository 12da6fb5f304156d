//! [`Log`]: the one event log. Handlers and hooks push events ("started 3", "after_request
//! inc ok"); tests wait for them instead of sleeping.
//!
//! The log keeps every event and a read mark. Two ways to read it:
//! - one by one: [`Log::next`], [`Log::expect`] and [`Log::expect_all`] take the events
//!   after the mark, in order;
//! - as a whole: [`Log::wait_until`] and [`Log::wait_for`] wait until the history holds
//!   what the test wants, return all of it, and move the mark to its end.
//!
//! [`Log::expect_none`] asserts that nothing lies past the mark, now or for a while.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::timeout::TIMEOUT;

/// A shared, cloneable event log (put it in the app's state).
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Inner>);

#[derive(Default)]
struct Inner {
    state: Mutex<History>,
    changed: Notify,
}

#[derive(Default)]
struct History {
    events: Vec<String>,
    /// How many events the test has taken or looked at.
    mark: usize,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Log").field(&self.events()).finish()
    }
}

impl Log {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn history(&self) -> MutexGuard<'_, History> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an event and wakes whoever waits on the log.
    pub(crate) fn push(&self, event: impl Into<String>) {
        self.history().events.push(event.into());
        self.0.changed.notify_waiters();
    }

    /// Logs `started <seq>` and returns a guard that logs `dropped <seq>`: proof that a
    /// handler ran and that its future went away.
    pub(crate) fn start(&self, seq: i64) -> DropGuard {
        self.push(format!("started {seq}"));
        self.on_drop(format!("dropped {seq}"))
    }

    /// A guard that logs `event` when it is dropped.
    pub(crate) fn on_drop(&self, event: impl Into<String>) -> DropGuard {
        DropGuard {
            log: self.clone(),
            event: event.into(),
        }
    }

    /// Every event so far (does not move the mark).
    pub(crate) fn events(&self) -> Vec<String> {
        self.history().events.clone()
    }

    /// Forgets every event so far.
    pub(crate) fn clear(&self) {
        let mut h = self.history();
        h.events.clear();
        h.mark = 0;
    }

    /// Waits (bounded by [`TIMEOUT`]) until `ready` returns a value for the history.
    async fn wait<T>(&self, what: &str, mut ready: impl FnMut(&mut History) -> Option<T>) -> T {
        let wait = async {
            loop {
                let changed = self.0.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(v) = ready(&mut self.history()) {
                    return v;
                }
                changed.await;
            }
        };
        match tokio::time::timeout(TIMEOUT, wait).await {
            Ok(v) => v,
            Err(_) => panic!(
                "timed out waiting for {what}; events so far: {:?}",
                self.events()
            ),
        }
    }

    /// Waits until `pred` holds for the history; returns it and moves the mark to its end.
    pub(crate) async fn wait_until(&self, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        self.wait("a condition", |h| {
            pred(&h.events).then(|| {
                h.mark = h.events.len();
                h.events.clone()
            })
        })
        .await
    }

    /// Waits until `event` was logged; returns the history and moves the mark to its end.
    pub(crate) async fn wait_for(&self, event: &str) -> Vec<String> {
        self.wait_until(|e| e.iter().any(|x| x == event)).await
    }

    /// Takes the next event after the mark, waiting for one.
    pub(crate) async fn next(&self) -> String {
        self.wait("the next event", |h| {
            let e = h.events.get(h.mark).cloned()?;
            h.mark += 1;
            Some(e)
        })
        .await
    }

    /// Takes the next event and asserts it is `event`.
    pub(crate) async fn expect(&self, event: &str) {
        assert_eq!(self.next().await, event);
    }

    /// Takes the next `events.len()` events and asserts they are `events`, in any order.
    pub(crate) async fn expect_all(&self, events: &[&str]) {
        let mut want: Vec<&str> = events.to_vec();
        while !want.is_empty() {
            let got = self.next().await;
            let pos = want
                .iter()
                .position(|w| *w == got)
                .unwrap_or_else(|| panic!("unexpected event {got:?}, still waiting for {want:?}"));
            want.swap_remove(pos);
        }
    }

    /// Asserts that no event lies past the mark, now or within `d`: like
    /// [`super::raw_ws::expect_silence`], a bounded watch for absence, never for ordering.
    pub(crate) async fn expect_none(&self, d: Duration) {
        let past_mark = self.wait("an event", |h| h.events.get(h.mark).cloned());
        if let Ok(event) = tokio::time::timeout(d, past_mark).await {
            panic!("expected no event, got {event:?}");
        }
    }
}

/// Logs its event when dropped (see [`Log::on_drop`]).
#[derive(Debug)]
pub(crate) struct DropGuard {
    log: Log,
    event: String,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.log.push(std::mem::take(&mut self.event));
    }
}
