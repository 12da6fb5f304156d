//! Graceful shutdown: the count of live connections a service accepted ([`Tracker`]) and
//! the public [`ShutdownHandle`] that starts a shutdown and waits for them.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

/// Tracks live connections for graceful shutdown.
pub(crate) struct Tracker {
    live: AtomicUsize,
    idle: Notify,
    shutdown: watch::Sender<bool>,
}

impl Tracker {
    pub(crate) fn new() -> Self {
        Self {
            live: AtomicUsize::new(0),
            idle: Notify::new(),
            shutdown: watch::channel(false).0,
        }
    }

    /// Counts a connection until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> TrackGuard {
        self.live.fetch_add(1, Ordering::AcqRel);
        TrackGuard(self.clone())
    }

    /// Connections open now.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Whether a shutdown has started.
    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sees the shutdown start.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// One live connection, counted until dropped.
pub(crate) struct TrackGuard(Arc<Tracker>);

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Starts a graceful shutdown of every connection a service accepted.
#[derive(Clone)]
pub struct ShutdownHandle(Arc<Tracker>);

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("live", &self.0.live.load(Ordering::Relaxed))
            .finish()
    }
}

impl ShutdownHandle {
    pub(crate) fn new(tracker: Arc<Tracker>) -> Self {
        Self(tracker)
    }

    /// Asks every connection to finish: new calls get ERROR 503, running calls get the
    /// configured grace period, then connections close with 1001. Resolves when all are gone.
    pub async fn shutdown(&self) {
        self.0.shutdown.send_replace(true);
        loop {
            let idle = self.0.idle.notified();
            if self.0.live.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// How many WebSocket connections are open.
    pub fn live_connections(&self) -> usize {
        self.0.live.load(Ordering::Acquire)
    }

    /// Whether a shutdown has started (new upgrades are then refused with HTTP 503).
    pub fn is_shutting_down(&self) -> bool {
        *self.0.shutdown.borrow()
    }

    /// Waits for `signal`, then shuts the connections down and waits until they are gone:
    /// the future to hand to axum's `with_graceful_shutdown`, so that axum stops only after
    /// the WebSocket connections (which hyper no longer tracks once upgraded) have finished.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let (swill_routes, shutdown) = swill::Swill::new().into_router_with_shutdown();
    /// let app = axum::Router::new().merge(swill_routes);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(shutdown.after(async {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///     }))
    ///     .await
    /// # }
    /// # drop(run());
    /// ```
    pub fn after(
        &self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let handle = self.clone();
        async move {
            signal.await;
            handle.shutdown().await;
        }
    }
}
