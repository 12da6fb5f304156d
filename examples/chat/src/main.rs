//! The chat server: `cargo run --release -p chat`, then open <http://127.0.0.1:8766/>.
//!
//! Flags:
//! - `--addr HOST:PORT` (default `127.0.0.1:8766`; `127.0.0.1:0` picks a free port). Prints
//!   `listening on http://ADDR/` once, when it accepts connections.
//! - `--redis redis://HOST:PORT`: rooms, presence and sessions in Redis, shared by every
//!   instance started with the same URL (without it, everything is in process).
//! - `--max-rooms N`: how many rooms may exist (default `chat::DEFAULT_MAX_ROOMS`).
//! - `--room-history N`: how many messages each room keeps for resumes and backlogs (default
//!   `chat::DEFAULT_ROOM_HISTORY`).
//! - `--backlog N`: how many of a room's last messages a fresh join shows (default
//!   `chat::DEFAULT_ROOM_BACKLOG`; 0 for none).
//! - `--check`: runs the API once through the Rust client (`chat::self_check`) and exits 0
//!   or 1 (what CI does to keep this example honest).

use std::net::SocketAddr;
use std::process::ExitCode;

use chat::{ChatConfig, Rooms};
use swill::pubsub::Sessions;

fn usage() -> ExitCode {
    eprintln!(
        "usage: chat [--addr HOST:PORT] [--redis redis://HOST:PORT] [--max-rooms N] \
         [--room-history N] [--backlog N] [--check]"
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
    let mut addr: SocketAddr = match chat::DEFAULT_ADDR.parse() {
        Ok(a) => a,
        Err(_) => return ExitCode::FAILURE,
    };
    let mut redis: Option<String> = None;
    let mut config = ChatConfig::default();
    let mut run_check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => match args.next().and_then(|a| a.parse().ok()) {
                Some(a) => addr = a,
                None => return usage(),
            },
            "--redis" => match args.next() {
                Some(url) if !url.is_empty() => redis = Some(url),
                _ => return usage(),
            },
            "--max-rooms" => match args.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => config = config.max_rooms(n),
                None => return usage(),
            },
            "--room-history" => match args.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => config = config.room_history(n),
                None => return usage(),
            },
            "--backlog" => match args.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => config = config.backlog(n),
                None => return usage(),
            },
            "--check" => run_check = true,
            "-h" | "--help" => {
                let _ = usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let (pubsub, sessions) = match &redis {
        None => (chat::pubsub_builder(&config).build(), Sessions::new()),
        Some(url) => {
            let pubsub = chat::pubsub_builder(&config).redis(url).await;
            let sessions = Sessions::builder().redis(url).await;
            match (pubsub, sessions) {
                (Ok(p), Ok(s)) => (p, s),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("cannot use redis at {url}: {e}");
                    return ExitCode::FAILURE;
                }
            }
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
    let rooms = Rooms::new(pubsub.clone(), &config);
    let directory = tokio::spawn(rooms.clone().run());
    let router = chat::router(chat::app(pubsub.clone(), sessions, rooms, &config));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let closing = pubsub.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = stop_rx => {}
            }
            // Open subscriptions end cleanly instead of holding the shutdown up.
            closing.close();
        })
        .await
    });
    println!("listening on http://{local}/");
    let code = if run_check {
        let result = chat::self_check(local).await;
        let _ = stop_tx.send(());
        let _ = server.await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("check failed: {e}");
                ExitCode::FAILURE
            }
        }
    } else {
        match server.await {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => {
                eprintln!("server failed: {e}");
                ExitCode::FAILURE
            }
            Err(_) => ExitCode::FAILURE,
        }
    };
    directory.abort();
    code
}
