//! swill inside an existing axum app: `cargo run --release -p axum-mount -- --addr 127.0.0.1:8080`.
//!
//! The app keeps its ordinary routes (`GET /health`, `GET /api/version`) and mounts swill
//! twice: as a single route (`/rpc`, via `into_route`) and as a nested router
//! (`/api/swill/ws`, `/api/swill/schema.json`, `/api/swill/docs`, via `into_router`). A tower
//! layer (a response header and a concurrency limit) wraps everything. Prints
//! `listening on ws://ADDR/rpc`. `--check` calls both mounts and the HTTP routes, shuts down
//! gracefully, and exits.
//!
//! Graceful shutdown: hyper stops tracking a connection once it is upgraded, so axum's
//! `with_graceful_shutdown` alone would return while WebSocket connections keep running.
//! The `*_with_shutdown` mounts return a handle whose `after(signal)` future is what axum
//! gets: it shuts the WebSocket connections down (handlers see
//! `Connection::shutting_down`) and resolves once they are gone.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use swill::server::ShutdownHandle;
use swill::{Error, Request, Swill};
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;

/// Multiplies two numbers.
#[swill::handler]
async fn mul(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    a.checked_mul(b)
        .ok_or_else(|| Error::bad_request("overflow"))
}

#[derive(Serialize)]
struct Version {
    version: &'static str,
}

fn rpc_app() -> Swill {
    Swill::new()
        .info("axum-mount", env!("CARGO_PKG_VERSION"))
        .handler(mul)
}

/// The app's routes, and the shutdown handles of its two swill mounts.
fn router() -> (Router, [ShutdownHandle; 2]) {
    let (rpc_route, rpc_shutdown) = rpc_app().into_route_with_shutdown();
    let (nested, nested_shutdown) = rpc_app().into_router_with_shutdown();
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/api/version",
            get(|| async {
                Json(Version {
                    version: env!("CARGO_PKG_VERSION"),
                })
            }),
        )
        .route("/rpc", rpc_route)
        .nest("/api/swill", nested)
        .layer(
            ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    axum::http::header::SERVER,
                    axum::http::HeaderValue::from_static("axum-mount"),
                ))
                .concurrency_limit(1024),
        );
    (router, [rpc_shutdown, nested_shutdown])
}

/// Waits for `signal`, then shuts both swill mounts down and waits for their connections.
async fn graceful(signal: impl std::future::Future<Output = ()>, handles: [ShutdownHandle; 2]) {
    signal.await;
    let [a, b] = handles;
    tokio::join!(a.shutdown(), b.shutdown());
}

async fn check(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    for url in [
        format!("ws://{addr}/rpc"),
        format!("ws://{addr}/api/swill/ws"),
    ] {
        let client = swill::client::Client::connect(url.clone()).await?;
        let product: i64 = client.call("mul", &(6, 7)).await?;
        if product != 42 {
            return Err(format!("{url}: mul answered {product}").into());
        }
    }
    let health = http_get(addr, "/health").await?;
    if !health.starts_with("HTTP/1.1 200")
        || !health.to_ascii_lowercase().contains("server: axum-mount")
    {
        return Err(format!("/health answered: {health}").into());
    }
    let schema = http_get(addr, "/api/swill/schema.json").await?;
    if !schema.starts_with("HTTP/1.1 200") || !schema.contains("\"mul\"") {
        return Err("schema.json is not served under the nested router".into());
    }
    println!("check passed: /rpc, /api/swill/ws, /health and /api/swill/schema.json");
    Ok(())
}

async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut run_check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => match a.parse() {
                Ok(a) => addr = a,
                Err(_) => return usage(),
            },
            ("--check", None) => run_check = true,
            _ => return usage(),
        }
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    println!("listening on ws://{local}/rpc");
    let (app, handles) = router();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stop_rx => {}
        }
    };
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(graceful(signal, handles))
            .await
    });
    if run_check {
        let mut result = check(local).await;
        let _ = stop_tx.send(());
        if result.is_ok() && !matches!(server.await, Ok(Ok(()))) {
            result = Err("the graceful shutdown did not complete".into());
        }
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("check failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match server.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: axum-mount [--addr HOST:PORT] [--check]");
    ExitCode::from(2)
}
