//! The "this connection is shutting down" signal handlers can wait on (runtime-free: a flag
//! and the wakers of the futures waiting for it).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Set once when the server starts a graceful shutdown of the connection.
#[derive(Debug, Default)]
pub(crate) struct Closing {
    flag: AtomicBool,
    next: AtomicU64,
    waiters: Mutex<Vec<(u64, Waker)>>,
}

impl Closing {
    /// Raises the signal and wakes every waiter (idempotent).
    pub(crate) fn raise(&self) {
        if self.flag.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiters = std::mem::take(&mut *self.lock());
        for (_, w) in waiters {
            w.wake();
        }
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Waker)>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Resolves when the connection starts shutting down: see
/// [`Connection::shutting_down`](crate::Connection::shutting_down).
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct ShuttingDown {
    closing: Arc<Closing>,
    id: Option<u64>,
}

impl ShuttingDown {
    pub(crate) fn new(closing: Arc<Closing>) -> Self {
        Self { closing, id: None }
    }
}

impl Future for ShuttingDown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.closing.is_raised() {
            return Poll::Ready(());
        }
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = self.closing.next.fetch_add(1, Ordering::Relaxed);
                self.id = Some(id);
                id
            }
        };
        {
            let mut waiters = self.closing.lock();
            match waiters.iter_mut().find(|(i, _)| *i == id) {
                Some((_, w)) if w.will_wake(cx.waker()) => {}
                Some((_, w)) => *w = cx.waker().clone(),
                None => waiters.push((id, cx.waker().clone())),
            }
        }
        // Raised between the check and the registration: do not miss it.
        if self.closing.is_raised() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for ShuttingDown {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.closing.lock().retain(|(i, _)| *i != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn waiters_are_woken_once_and_forgotten_when_dropped() {
        let closing = Arc::new(Closing::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut a = ShuttingDown::new(closing.clone());
        let mut b = ShuttingDown::new(closing.clone());
        assert!(Pin::new(&mut a).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut a).poll(&mut cx).is_pending()); // same waker: one entry
        assert!(Pin::new(&mut b).poll(&mut cx).is_pending());
        assert_eq!(closing.lock().len(), 2);
        drop(b);
        assert_eq!(closing.lock().len(), 1);
        closing.raise();
        closing.raise();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut a).poll(&mut cx).is_ready());
        // Created after the signal: ready at once, registers nothing.
        let mut c = ShuttingDown::new(closing.clone());
        assert!(Pin::new(&mut c).poll(&mut cx).is_ready());
        assert!(closing.lock().is_empty());
    }
}
