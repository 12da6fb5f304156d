//! The servers the suite measures, each on a single-threaded (current_thread) tokio runtime.
//!
//! - `swill`: the conformance app (`examples/conformance/src/fixtures.rs`, compiled in here
//!   unchanged) served by [`swill::serve`].
//! - `echo`: axum 0.8 serving the upgrade, then a bare tokio-tungstenite echo with swill's
//!   own I/O set-up, batching its writes (`echo.rs`).
//! - `jsonrpsee`: a jsonrpsee 0.26 WebSocket server with the same `add`.
//!
//! Each prints `listening on ws://ADDR/ws` (jsonrpsee: `ws://ADDR`) once it accepts
//! connections and serves until SIGINT or SIGTERM, then returns, so that a profiler wrapping
//! the process (callgrind) writes its output.

#[path = "../../conformance/src/fixtures.rs"]
mod fixtures;

#[path = "echo.rs"]
mod echo;

use std::future::IntoFuture;
use std::net::SocketAddr;

use axum::routing::any;
use tokio::net::TcpListener;

/// Largest message the baselines accept, as swill's default `max_message_size` (16 MiB).
pub(crate) const MAX_MESSAGE: usize = 16 << 20;
/// Connections jsonrpsee accepts at once (its default is 100, too few for the idle workload).
const JSONRPSEE_MAX_CONNECTIONS: u32 = 50_000;
/// Connections swill accepts, in all and from one address: every generator connects from
/// 127.0.0.1, and swill's default per-address limit (1,000) is below the fan-out workload's
/// 1,000 subscribers plus its publisher and the idle workload's 10,000 connections.
const SWILL_MAX_CONNECTIONS: usize = 50_000;

/// Which server to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The swill conformance app.
    Swill,
    /// The batched axum echo.
    Echo,
    /// jsonrpsee with `add`.
    Jsonrpsee,
}

impl Kind {
    /// The name used on the command line and in tables.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Swill => "swill",
            Self::Echo => "echo",
            Self::Jsonrpsee => "jsonrpsee",
        }
    }

    /// The kind for a command-line name.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "swill" => Some(Self::Swill),
            "echo" => Some(Self::Echo),
            "jsonrpsee" => Some(Self::Jsonrpsee),
            _ => None,
        }
    }
}

/// Binds `addr`, builds a current_thread runtime and serves `kind` until SIGINT/SIGTERM;
/// swill's pub/sub goes through the Redis server at `redis` when given.
pub(crate) fn run_blocking(
    kind: Kind,
    addr: SocketAddr,
    redis: Option<String>,
) -> Result<(), String> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
    run_with(kind, listener, true, redis)
}

/// Serves `kind` on an already bound `listener`, on a new current_thread runtime, until
/// SIGINT/SIGTERM; `announce` prints the `listening on` line (what `swill-allocs` runs).
#[allow(dead_code)]
pub(crate) fn run_on(
    kind: Kind,
    listener: std::net::TcpListener,
    announce: bool,
) -> Result<(), String> {
    run_with(kind, listener, announce, None)
}

fn run_with(
    kind: Kind,
    listener: std::net::TcpListener,
    announce: bool,
    redis: Option<String>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot make the listener non-blocking: {e}"))?;
    rt.block_on(run(kind, listener, announce, redis))
}

async fn run(
    kind: Kind,
    listener: std::net::TcpListener,
    announce: bool,
    redis: Option<String>,
) -> Result<(), String> {
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<(), String>(())
    };
    match kind {
        Kind::Swill | Kind::Echo => {
            let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            if kind == Kind::Swill {
                let pubsub = match &redis {
                    Some(url) => swill::pubsub::PubSub::builder()
                        .redis(url)
                        .await
                        .map_err(|e| format!("cannot reach Redis at {url}: {e}"))?,
                    None => swill::pubsub::PubSub::new(),
                };
                let config = swill::Config::default()
                    .max_connections(SWILL_MAX_CONNECTIONS)
                    .max_connections_per_ip(SWILL_MAX_CONNECTIONS);
                let app = fixtures::app(pubsub).config(config);
                if announce {
                    println!("listening on ws://{local}/ws");
                }
                tokio::select! {
                    r = swill::serve(listener, app).into_future() => r.map_err(|e| e.to_string()),
                    r = stop => r,
                }
            } else {
                if announce {
                    println!("listening on ws://{local}/ws");
                }
                let router = axum::Router::new().route("/ws", any(echo::upgrade));
                tokio::select! {
                    r = axum::serve(listener, router).into_future() => r.map_err(|e| e.to_string()),
                    r = stop => r,
                }
            }
        }
        Kind::Jsonrpsee => {
            let cfg = jsonrpsee::server::ServerConfig::builder()
                .ws_only()
                .max_connections(JSONRPSEE_MAX_CONNECTIONS)
                .max_request_body_size(u32::try_from(MAX_MESSAGE).unwrap_or(u32::MAX))
                .max_response_body_size(u32::try_from(MAX_MESSAGE).unwrap_or(u32::MAX))
                .build();
            let server = jsonrpsee::server::Server::builder()
                .set_config(cfg)
                .build_from_tcp(listener)
                .map_err(|e| format!("cannot serve on {local}: {e}"))?;
            let mut module = jsonrpsee::RpcModule::new(());
            module
                .register_method("add", |params, _, _| {
                    let (a, b): (i64, i64) = params.parse()?;
                    a.checked_add(b).ok_or_else(|| {
                        jsonrpsee::types::ErrorObjectOwned::owned(
                            400,
                            "the sum overflows a 64-bit integer",
                            None::<()>,
                        )
                    })
                })
                .map_err(|e| e.to_string())?;
            let handle = server.start(module);
            if announce {
                println!("listening on ws://{local}");
            }
            let r = stop.await;
            let _ = handle.stop();
            r
        }
    }
}
