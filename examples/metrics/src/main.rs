//! swill's server metrics for Prometheus: `cargo run -p metrics-example -- --addr 127.0.0.1:8766`.
//!
//! Installs `metrics-exporter-prometheus` as the global recorder *before* the app is built
//! (the app registers its handles with the recorder installed then), mounts the app and a
//! `GET /metrics` route on one axum router, and serves both. `--check` makes calls with the
//! Rust client (answers, an unknown rpc, a handler error), closes, then scrapes `/metrics`
//! over HTTP and verifies the counters (what CI runs to keep this example honest).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use swill::{Error, Request, Swill};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Adds two numbers.
#[swill::handler]
async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    a.checked_add(b)
        .ok_or_else(|| Error::bad_request("overflow"))
}

/// Refuses odd numbers with 422.
#[swill::handler]
async fn even(req: Request<i64>) -> Result<i64, Error> {
    let n = req.into_data();
    if n % 2 == 0 {
        Ok(n)
    } else {
        Err(Error::new(422, format!("{n} is odd")))
    }
}

fn app() -> Swill {
    Swill::new()
        .info("metrics", env!("CARGO_PKG_VERSION"))
        .handler(add)
        .handler(even)
}

/// The app at `/ws` (and its docs), and the Prometheus text at `/metrics`.
fn router(prometheus: PrometheusHandle) -> axum::Router {
    // `into_router` builds the app: the recorder must be installed before this line.
    app().into_router().route(
        "/metrics",
        get(move || std::future::ready(prometheus.render())),
    )
}

/// `GET /metrics` over a plain HTTP/1.1 connection: the body.
async fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(std::io::Error::other(format!("unexpected answer: {text}"))),
    }
}

/// The value of the sample `series` (name and labels exactly as exported), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn check(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let client = swill::client::Client::connect(format!("ws://{addr}/ws")).await?;
    for i in 0..3 {
        let sum: i64 = client.call("add", &(i, 1)).await?;
        assert_eq!(sum, i + 1);
    }
    let n: i64 = client.call("even", &4).await?;
    assert_eq!(n, 4);
    match client.call::<i64>("even", &3).await {
        Err(swill::client::ClientError::Rpc(e)) if e.code().as_i64() == 422 => {}
        other => return Err(format!("expected ERROR 422, got {other:?}").into()),
    }
    match client.call::<()>("missing", &()).await {
        Err(swill::client::ClientError::Rpc(e)) if e.code().as_i64() == 404 => {}
        other => return Err(format!("expected ERROR 404, got {other:?}").into()),
    }
    let body = scrape(addr).await?;
    // Live values: the connection is open, calls are counted as they open.
    let want_now = [
        ("swill_connections_open", 1.0),
        ("swill_connections_total", 1.0),
        ("swill_calls_total{rpc=\"add\"}", 3.0),
        ("swill_calls_total{rpc=\"even\"}", 2.0),
        ("swill_calls_in_flight{rpc=\"add\"}", 0.0),
    ];
    for (series, want) in want_now {
        let got = sample(&body, series);
        if got != Some(want) {
            return Err(format!("{series}: {got:?} instead of {want}\n{body}").into());
        }
    }
    // A connection adds its frame and error counts in batches, at the latest when it ends.
    client.close();
    let mut body = String::new();
    for _ in 0..500 {
        body = scrape(addr).await?;
        if sample(&body, "swill_connections_open") == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let want_after = [
        ("swill_connections_open", 0.0),
        ("swill_frames_received_total", 6.0),
        ("swill_frames_sent_total", 6.0),
        ("swill_errors_total{code=\"404\"}", 1.0),
        ("swill_errors_total{code=\"422\"}", 1.0),
        ("swill_refusals_total{limit=\"max_connections\"}", 0.0),
    ];
    for (series, want) in want_after {
        let got = sample(&body, series);
        if got != Some(want) {
            return Err(format!("{series}: {got:?} instead of {want}\n{body}").into());
        }
    }
    let bytes = sample(&body, "swill_bytes_received_total").unwrap_or(0.0);
    if bytes <= 0.0 {
        return Err(format!("no bytes received counted\n{body}").into());
    }
    println!("check passed: /metrics counted 6 calls, 6 frames each way, ERROR 404 and 422");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8766).into();
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
    let prometheus = match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("cannot install the Prometheus recorder: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    println!("listening on ws://{local}/ws");
    println!("metrics: http://{local}/metrics");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(prometheus))
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = stop_rx => {}
                }
            })
            .await
    });
    if run_check {
        let result = check(local).await;
        let _ = stop_tx.send(());
        let _ = server.await;
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
    eprintln!("usage: metrics-example [--addr HOST:PORT] [--check]");
    ExitCode::from(2)
}
