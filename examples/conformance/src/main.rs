//! The swill/1 conformance server: `cargo run --release --bin swill-conformance -- --addr 127.0.0.1:8765`.
//!
//! Serves the fixture handlers other test suites (the TypeScript client, the docs-page browser
//! test, the vector replays) depend on, at `ws://ADDR/ws`, and prints
//! `listening on ws://ADDR/ws` once it accepts connections. `--addr 127.0.0.1:0` picks a free
//! port (the printed line has the real one). `--debug` puts panic messages into 500 errors.
//!
//! Admission flags (a contract other suites rely on):
//! - `--allow-origin ORIGIN`, repeatable: an upgrade whose `Origin` header is present and not
//!   listed gets 403. Without the flag every origin is accepted.
//! - `--max-conns-per-ip N`: the (N+1)-th concurrent connection from one address is refused
//!   at the upgrade with 429; the others stay served.
//!
//! `--redis redis://HOST:PORT` makes the pub/sub fixtures (`subscribe`, `publish`) use the
//! Redis backend, so several conformance servers share topics; without it they are
//! in-process.
//!
//! `--tls-cert PATH --tls-key PATH` (both or neither; PEM, as `swill-dev-cert` writes them)
//! serve `wss://` instead, and the line printed is `listening on wss://ADDR/ws`.

mod fixtures;

use std::net::SocketAddr;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: swill-conformance [--addr HOST:PORT] [--debug] [--allow-origin ORIGIN]... \
         [--max-conns-per-ip N] [--redis redis://HOST:PORT] [--tls-cert PATH --tls-key PATH]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8765).into();
    let mut config = swill::Config::default();
    let mut redis: Option<String> = None;
    let (mut tls_cert, mut tls_key) = (None::<String>, None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => match args.next().and_then(|a| a.parse().ok()) {
                Some(a) => addr = a,
                None => return usage(),
            },
            "--debug" => config = config.debug(true),
            "--allow-origin" => match args.next() {
                Some(origin) if !origin.is_empty() => config = config.allow_origin(origin),
                _ => return usage(),
            },
            "--max-conns-per-ip" => match args.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n > 0 => config = config.max_connections_per_ip(n),
                _ => return usage(),
            },
            "--redis" => match args.next() {
                Some(url) => redis = Some(url),
                None => return usage(),
            },
            "--tls-cert" => match args.next() {
                Some(path) => tls_cert = Some(path),
                None => return usage(),
            },
            "--tls-key" => match args.next() {
                Some(path) => tls_key = Some(path),
                None => return usage(),
            },
            "-h" | "--help" => {
                let _ = usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let tls = match (tls_cert, tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => match swill::server::TlsConfig::from_pem_files(cert, key) {
            Ok(tls) => Some(tls),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
        _ => return usage(),
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let builder = swill::pubsub::PubSub::builder().history(fixtures::history);
    let pubsub = match redis {
        None => builder.build(),
        Some(url) => match builder.redis(&url).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("cannot use redis at {url}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let local = listener.local_addr().unwrap_or(addr);
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!("listening on {scheme}://{local}/ws");
    let app = fixtures::app(pubsub).config(config);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut serve = swill::serve(listener, app);
    if let Some(tls) = tls {
        serve = serve.tls(tls);
    }
    match serve.with_graceful_shutdown(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
