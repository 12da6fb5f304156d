//! The todo API served alone: `cargo run --release -p todo -- --addr 127.0.0.1:8080`.
//!
//! Prints `listening on ws://ADDR/ws`; tokens `alice-token` and `bob-token` are let in
//! (`Authorization: Bearer`, `?token=` or the `token` cookie). Ctrl-C shuts down gracefully:
//! running calls finish, `watch` streams end, then the process exits. `--check` makes typed
//! calls against itself (auth, validation, a race-free watch, shutdown) and exits.

use std::net::SocketAddr;
use std::process::ExitCode;

use futures::StreamExt;
use swill::client::{Client, ClientError};
use todo::api::{self, NewTodo, TodoEvent};
use todo::server::{demo_tokens, router};

async fn check(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let url = format!("ws://{addr}/ws");
    match Client::connect(url.clone()).await {
        Err(ClientError::Refused { status: 401, .. }) => {}
        other => return Err(format!("no token: expected 401, got {other:?}").into()),
    }
    let alice = Client::builder(url.clone())
        .header("authorization", "Bearer alice-token")
        .connect()
        .await?;
    let bob = Client::builder(format!("{url}?token=bob-token"))
        .connect()
        .await?;
    let mut feed = bob.to(api::watch).stream(&())?;
    feed.opened().await?;
    let milk = NewTodo {
        title: "milk".into(),
    };
    let todo = alice.to(api::add).call(&milk).await?;
    match feed.next().await {
        Some(Ok(TodoEvent::Added { todo: seen })) if seen == todo => {}
        other => return Err(format!("watch: expected the added todo, got {other:?}").into()),
    }
    let empty = NewTodo {
        title: String::new(),
    };
    match alice.to(api::add).call(&empty).await {
        Err(e) if e.rpc().map(|e| e.code().0) == Some(422) => {}
        other => return Err(format!("empty title: expected 422, got {other:?}").into()),
    }
    if alice.to(api::list).call(&()).await?.len() != 1 {
        return Err("list: expected one todo".into());
    }
    println!("check passed: auth, add, validation, list and a race-free watch");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt::init();
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut run_check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => match args.next().map(|a| a.parse()) {
                Some(Ok(a)) => addr = a,
                _ => return usage(),
            },
            "--check" => run_check = true,
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
    println!("listening on ws://{local}/ws (tokens: alice-token, bob-token)");
    let (app, shutdown) = router(demo_tokens());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stop_rx => {}
        }
    };
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.after(signal))
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
        Ok(Err(e)) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("server task failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: todo [--addr HOST:PORT] [--check]");
    ExitCode::FAILURE
}
