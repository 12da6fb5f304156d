//! The demo server: `cargo run --release -p hello -- --addr 127.0.0.1:8765`.
//!
//! Serves a few handlers at `ws://ADDR/ws`, the API description at `http://ADDR/schema.json`
//! and the docs page with a live playground at `http://ADDR/docs`. Prints
//! `listening on ws://ADDR/ws` once it accepts connections. `--check` runs the handlers once
//! through the Rust client and exits (what CI does to keep this example honest).
//!
//! `--tls-cert PATH --tls-key PATH` serve `wss://` and `https://` instead, with a PEM
//! certificate and key such as `cargo run -p swill-dev-cert -- --out dev-cert` writes; the
//! check then trusts that certificate.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use swill::{Error, Metadata, Request, Response, Swill};
use validator::Validate;

/// Adds two numbers.
#[swill::handler]
async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    a.checked_add(b)
        .ok_or_else(|| Error::bad_request("overflow"))
}

/// Counts from 0 to `n - 1`, one number every 100 ms, and says how many it sent.
#[swill::handler]
async fn count(req: Request<u32>, res: Response) -> impl Stream<Item = Result<u32, Error>> {
    let n = *req.data();
    res.set_trailing(Metadata::new().with("sent", n));
    futures::stream::iter(0..n).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(i)
    })
}

/// Someone to greet.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Greeting {
    /// Who to greet (1 to 32 characters).
    #[validate(length(min = 1, max = 32))]
    name: String,
    /// How excited to be (0 to 5 exclamation marks).
    #[validate(range(min = 0, max = 5))]
    excitement: u8,
}

/// A greeting.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Greeted {
    /// The greeting text.
    text: String,
}

/// Greets someone; invalid input gets 422 with the offending fields.
#[swill::handler(name = "greet.hello")]
async fn hello(req: Request<Greeting>) -> Result<Greeted, Error> {
    let g = req.into_data();
    let bangs = "!".repeat(usize::from(g.excitement));
    Ok(Greeted {
        text: format!("hello, {}{bangs}", g.name),
    })
}

fn app() -> Swill {
    Swill::new()
        .info("hello", env!("CARGO_PKG_VERSION"))
        .handler(add)
        .handler(count)
        .handler(hello)
}

async fn check(addr: SocketAddr, tls_cert: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let client = match tls_cert {
        None => swill::client::Client::connect(format!("ws://{addr}/ws")).await?,
        // The certificate is its own root (self-signed), so trusting it is enough.
        Some(cert) => {
            let pem = std::fs::read(cert)?;
            swill::client::Client::builder(format!("wss://{addr}/ws"))
                .tls_root_pem(pem)
                .connect()
                .await?
        }
    };
    let sum: i64 = client.call("add", &(2, 3)).await?;
    assert_eq!(sum, 5);
    let mut numbers = client.stream::<u32>("count", &3)?;
    let mut got = Vec::new();
    while let Some(n) = numbers.next().await {
        got.push(n?);
    }
    assert_eq!(got, [0, 1, 2]);
    let greeting = GreetingOut {
        name: "swill",
        excitement: 2,
    };
    let greeted: Greeted = client.call("greet.hello", &greeting).await?;
    assert_eq!(greeted.text, "hello, swill!!");
    println!("check passed: add, count and greet.hello answered");
    Ok(())
}

/// What the check sends to `greet.hello`.
#[derive(Serialize)]
struct GreetingOut<'a> {
    name: &'a str,
    excitement: u8,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8765).into();
    let mut run_check = false;
    let (mut tls_cert, mut tls_key) = (None::<String>, None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => match a.parse() {
                Ok(a) => addr = a,
                Err(_) => return usage(),
            },
            ("--check", None) => run_check = true,
            ("--tls-cert", Some(p)) => tls_cert = Some(p),
            ("--tls-key", Some(p)) => tls_key = Some(p),
            _ => return usage(),
        }
    }
    let tls = match (&tls_cert, &tls_key) {
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
    let local = listener.local_addr().unwrap_or(addr);
    let (ws, http) = if tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("listening on {ws}://{local}/ws");
    println!("docs and playground: {http}://{local}/docs");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut serve = swill::serve(listener, app());
    if let Some(tls) = tls {
        serve = serve.tls(tls);
    }
    let server = tokio::spawn(
        serve
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = stop_rx => {}
                }
            })
            .into_future(),
    );
    if run_check {
        let result = check(local, tls_cert.as_deref()).await;
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
    eprintln!("usage: hello [--addr HOST:PORT] [--tls-cert PATH --tls-key PATH] [--check]");
    ExitCode::from(2)
}
