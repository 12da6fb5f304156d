//! The server under soak (`swill-soak --serve`, run as a child process so that its RSS is its
//! own): one handler per call shape, an endless ticker, and `soak.gauges`, which reports the
//! server's live connections (its shutdown handle's count) and live handler futures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use swill::server::ShutdownHandle;
use swill::{Config, Error, Request, State, Streaming, Swill, Value};

/// The largest message the soaked server accepts; the hostile mix sends one byte more.
pub(crate) const MAX_MESSAGE: usize = 256 * 1024;

/// What `soak.gauges` answers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct Gauges {
    /// Open WebSocket connections (the gauges' own excluded).
    pub(crate) connections: usize,
    /// Handler futures and streams alive (calls running or not yet dropped).
    pub(crate) handlers: usize,
}

/// Counts live handlers: each call holds one [`Guard`] for as long as its future or stream.
#[derive(Clone, Default)]
struct Live {
    handlers: Arc<AtomicUsize>,
    shutdown: Arc<OnceLock<ShutdownHandle>>,
}

struct Guard(Arc<AtomicUsize>);

impl Live {
    fn enter(&self) -> Guard {
        self.handlers.fetch_add(1, Ordering::SeqCst);
        Guard(self.handlers.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[swill::handler]
async fn echo(req: Request<Value>, live: State<Live>) -> Value {
    let _g = live.enter();
    req.into_data()
}

#[swill::handler]
async fn count(req: Request<u32>, live: State<Live>) -> impl Stream<Item = Result<u32, Error>> {
    let g = live.enter();
    futures::stream::iter(0..*req.data()).map(move |n| {
        let _ = &g;
        Ok(n)
    })
}

#[swill::handler]
async fn sum(mut items: Streaming<i64>, live: State<Live>) -> Result<i64, Error> {
    let _g = live.enter();
    let mut total = 0i64;
    while let Some(n) = items.next().await {
        total = total.wrapping_add(n);
    }
    Ok(total)
}

#[swill::handler]
async fn double(
    items: Streaming<i64>,
    live: State<Live>,
) -> impl Stream<Item = Result<i64, Error>> {
    let g = live.enter();
    items.map(move |n| {
        let _ = &g;
        Ok(n.wrapping_mul(2))
    })
}

/// An endless stream, one item a millisecond: what cancels and disconnects cut.
#[swill::handler]
async fn ticker(live: State<Live>) -> impl Stream<Item = Result<u64, Error>> {
    let g = live.enter();
    futures::stream::unfold((0u64, g), |(n, g)| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Some((Ok(n), (n + 1, g)))
    })
}

#[swill::handler(name = "soak.gauges")]
async fn gauges(live: State<Live>) -> Gauges {
    let connections = live
        .shutdown
        .get()
        .map_or(0, |h| h.live_connections().saturating_sub(1));
    Gauges {
        connections,
        handlers: live.handlers.load(Ordering::SeqCst),
    }
}

/// Serves the soaked app on `addr`, printing `listening on ADDR`, until the process is killed.
pub(crate) async fn serve(addr: std::net::SocketAddr) -> std::io::Result<()> {
    let live = Live::default();
    let config = Config::default()
        .max_message_size(MAX_MESSAGE)
        .max_connections(20_000)
        .max_connections_per_ip(20_000);
    let service = Swill::new()
        .config(config)
        .with_state(live.clone())
        .handler(echo)
        .handler(count)
        .handler(sum)
        .handler(double)
        .handler(ticker)
        .handler(gauges)
        .into_service();
    let _ = live.shutdown.set(service.shutdown_handle());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, axum::Router::new().fallback_service(service)).await
}
