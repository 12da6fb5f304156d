//! Side-by-side benchmark: `cargo run --release -p swill-bench -- [--seconds 3] [--idle 1000]`.
//!
//! Runs a bare tokio-tungstenite echo server and a swill server as child processes (this same
//! binary, `serve echo` / `serve swill`), each on a single-threaded runtime pinned to CPU 0 with
//! `taskset` when it exists, drives the same load against both from this process (pinned to
//! CPU 1), and prints each workload with swill's ratio to the echo server:
//!
//! - `unary`: 64 pipelined calls `[seq, [1, 2], "add"]` (the echo server echoes the frame);
//! - `latency`: one call at a time;
//! - `1 MiB`: binary payloads echoed, 4 in flight (MB/s);
//! - `stream`: one `count` call streaming items (swill only: an echo server cannot stream);
//! - `idle`: server memory per idle WebSocket connection (RSS delta / connections).
//!
//! Numbers are measurements, never assertions: the machine may be noisy, so run it twice.
//! `--check` runs every workload briefly (what CI does to keep this example working).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, Stream, StreamExt};
use swill::{Error, Request, Swill};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Adds two numbers.
#[swill::handler]
async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    Ok(a.wrapping_add(b))
}

/// Returns the bytes it was given.
#[swill::handler]
async fn echo(req: Request<bytes::Bytes>) -> Result<bytes::Bytes, Error> {
    Ok(req.into_data())
}

/// Streams 0, 1, ..., n - 1 as fast as the client reads.
#[swill::handler]
async fn count(req: Request<u64>) -> impl Stream<Item = Result<u64, Error>> {
    futures::stream::iter((0..*req.data()).map(Ok))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.first().map(String::as_str) {
        Some("serve") => rt.block_on(serve(args.get(1).map(String::as_str))),
        _ => rt.block_on(compare(&args)),
    }
}

/// Server mode: prints `listening on ws://ADDR/ws`, serves until killed.
async fn serve(kind: Option<&str>) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return ExitCode::FAILURE;
    };
    println!("listening on ws://{addr}/ws");
    match kind {
        Some("swill") => {
            let app = Swill::new().handler(add).handler(echo).handler(count);
            match swill::serve(listener, app).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Some("echo") => {
            serve_echo(listener).await;
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: swill-bench serve echo|swill");
            ExitCode::from(2)
        }
    }
}

/// The baseline: a bare WebSocket echo server on the same stack (tokio-tungstenite).
async fn serve_echo(listener: tokio::net::TcpListener) {
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            // The error type is tungstenite's (an HTTP response); this callback never fails.
            #[allow(clippy::result_large_err)]
            let pick = |_: &tokio_tungstenite::tungstenite::handshake::server::Request,
                        mut res: tokio_tungstenite::tungstenite::handshake::server::Response| {
                res.headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("swill.v1"));
                Ok(res)
            };
            let Ok(ws) =
                tokio_tungstenite::accept_hdr_async_with_config(tcp, pick, Some(cfg)).await
            else {
                return;
            };
            let (mut tx, mut rx) = ws.split();
            while let Some(Ok(msg)) = rx.next().await {
                if msg.is_binary() && tx.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// A server child process, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start(kind: &str, pin: bool) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(exe);
        c
    } else {
        Command::new(exe)
    };
    let mut child = cmd
        .args(["serve", kind])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the {kind} server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("unexpected line from the {kind} server: {line:?}"))?
        .to_owned();
    Ok(Server { child, url })
}

async fn connect(url: &str) -> Result<Ws, String> {
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill.v1"),
    );
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(cfg), true)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// `[seq, [1, 2], "add"]`, or `[seq, bin, "echo"]` when `blob` is not empty.
fn frame(seq: u32, blob: &[u8]) -> Vec<u8> {
    let mut v = vec![0x93, 0xce];
    v.extend_from_slice(&seq.to_be_bytes());
    if blob.is_empty() {
        v.extend_from_slice(&[0x92, 0x01, 0x02, 0xa3]);
        v.extend_from_slice(b"add");
    } else {
        v.push(0xc6);
        v.extend_from_slice(&u32::try_from(blob.len()).unwrap_or(u32::MAX).to_be_bytes());
        v.extend_from_slice(blob);
        v.push(0xa4);
        v.extend_from_slice(b"echo");
    }
    v
}

/// Replies per second and payload MB/s with `window` calls in flight for `secs`.
async fn pipelined(url: &str, secs: f64, window: u32, blob: &[u8]) -> Result<(f64, f64), String> {
    let ws = connect(url).await?;
    let (mut tx, mut rx) = ws.split();
    let mut seq = 1u32;
    for _ in 0..window {
        tx.feed(Message::Binary(frame(seq, blob).into()))
            .await
            .map_err(|e| e.to_string())?;
        seq += 1;
    }
    tx.flush().await.map_err(|e| e.to_string())?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let (mut got, mut bytes) = (0u64, 0u64);
    let flush_every = u64::from(window.clamp(1, 16));
    while Instant::now() < end {
        match rx.next().await {
            Some(Ok(Message::Binary(b))) => {
                got += 1;
                bytes += b.len() as u64;
            }
            Some(Ok(_)) => continue,
            _ => return Err("the server closed the connection".into()),
        }
        tx.feed(Message::Binary(frame(seq, blob).into()))
            .await
            .map_err(|e| e.to_string())?;
        seq = seq.wrapping_add(1).max(1);
        if got.is_multiple_of(flush_every) {
            tx.flush().await.map_err(|e| e.to_string())?;
        }
    }
    let s = start.elapsed().as_secs_f64();
    Ok((got as f64 / s, bytes as f64 / s / 1e6))
}

/// Stream items per second from one `count` call.
async fn stream(url: &str, secs: f64) -> Result<f64, String> {
    let mut ws = connect(url).await?;
    // [1, 4_000_000_000, "count"]
    let mut f = vec![0x93, 0x01, 0xce];
    f.extend_from_slice(&4_000_000_000u32.to_be_bytes());
    f.push(0xa5);
    f.extend_from_slice(b"count");
    ws.send(Message::Binary(f.into()))
        .await
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut got = 0u64;
    while let Some(Ok(_)) = ws.next().await {
        got += 1;
        if got.is_multiple_of(4096) && Instant::now() >= end {
            break;
        }
    }
    Ok(got as f64 / start.elapsed().as_secs_f64())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Bytes of server RSS per idle WebSocket connection.
async fn idle(server: &Server, n: usize) -> Result<f64, String> {
    let pid = server.child.id();
    let mut warm = Vec::new();
    for _ in 0..20 {
        warm.push(connect(&server.url).await?);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid).ok_or("no /proc: cannot read the server's memory")?;
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(connect(&server.url).await?);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = rss_kib(pid).ok_or("no /proc")?;
    Ok(after.saturating_sub(before) as f64 * 1024.0 / n as f64)
}

fn ratio(ours: f64, baseline: f64) -> String {
    if baseline > 0.0 {
        format!("{:.2}x", ours / baseline)
    } else {
        "-".into()
    }
}

async fn compare(args: &[String]) -> ExitCode {
    let mut secs = 3.0;
    let mut idle_n = 1000;
    let mut smoke = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--seconds", Some(v)) => secs = v.parse().unwrap_or(secs),
            ("--idle", Some(v)) => idle_n = v.parse().unwrap_or(idle_n),
            ("--check", _) => {
                secs = 0.2;
                idle_n = 20;
                smoke = true;
            }
            _ => {
                eprintln!("usage: swill-bench [--seconds S] [--idle N] [--check]");
                return ExitCode::from(2);
            }
        }
    }
    if smoke {
        println!(
            "--check: a smoke run that every workload works; its numbers are not measurements"
        );
    }
    match run(secs, idle_n).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(secs: f64, idle_n: usize) -> Result<(), String> {
    let pin = has_taskset();
    if pin {
        // The load generator on CPU 1, the servers on CPU 0.
        let _ = Command::new("taskset")
            .args(["-cp", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    println!(
        "servers: single-threaded, {}; {secs} s per workload",
        if pin {
            "pinned to CPU 0 (client on CPU 1)"
        } else {
            "unpinned (no taskset)"
        }
    );
    let echo_srv = start("echo", pin)?;
    let swill_srv = start("swill", pin)?;
    let blob = vec![7u8; 1 << 20];
    println!(
        "{:<22} {:>16} {:>16} {:>8}",
        "workload", "echo server", "swill", "ratio"
    );
    let (e, _) = pipelined(&echo_srv.url, secs, 64, &[]).await?;
    let (s, _) = pipelined(&swill_srv.url, secs, 64, &[]).await?;
    println!(
        "{:<22} {:>14.0}/s {:>14.0}/s {:>8}",
        "unary, 64 in flight",
        e,
        s,
        ratio(s, e)
    );
    let (e, _) = pipelined(&echo_srv.url, secs, 1, &[]).await?;
    let (s, _) = pipelined(&swill_srv.url, secs, 1, &[]).await?;
    println!(
        "{:<22} {:>14.0}/s {:>14.0}/s {:>8}",
        "unary, one at a time",
        e,
        s,
        ratio(s, e)
    );
    let (_, e) = pipelined(&echo_srv.url, secs, 4, &blob).await?;
    let (_, s) = pipelined(&swill_srv.url, secs, 4, &blob).await?;
    println!(
        "{:<22} {:>12.0} MB/s {:>12.0} MB/s {:>8}",
        "1 MiB binary echo",
        e,
        s,
        ratio(s, e)
    );
    let s = stream(&swill_srv.url, secs).await?;
    println!(
        "{:<22} {:>16} {:>14.0}/s {:>8}",
        "server stream items", "-", s, "-"
    );
    drop((echo_srv, swill_srv));
    // Fresh servers: after the workloads above, freed memory would be reused and hide the
    // cost of new connections.
    let e = idle(&start("echo", pin)?, idle_n).await?;
    let s = idle(&start("swill", pin)?, idle_n).await?;
    println!(
        "{:<22} {:>12.0} B/conn {:>10.0} B/conn {:>8}",
        "idle connection RSS",
        e,
        s,
        ratio(s, e)
    );
    Ok(())
}
