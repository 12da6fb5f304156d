//! Connection limits over real sockets: the global limit (503), the per-address limit (429),
//! and an accept loop that survives running out of file descriptors.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use rmpv::Value as V;
use swill::{Config, Error, Request, Swill};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[swill::handler]
async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
    let (a, b) = req.into_data();
    Ok(a + b)
}

fn app(config: Config) -> Swill {
    Swill::new()
        .config(config.shutdown_timeout(Duration::from_millis(300)))
        .handler(add)
}

async fn call_add(ws: &mut RawWs, seq: i64) -> V {
    send_bytes(ws, envelope(seq, mpv(&(2, 3)), "add", 0, None)).await;
    recv_resp(ws).await.data
}

/// A WebSocket handshake from the local address `from` (any 127.0.0.0/8 address is
/// loopback on Linux): the socket, or the refusal's status.
async fn ws_from(from: IpAddr, addr: SocketAddr) -> Result<RawWs, u16> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let tcp = socket.connect(addr).with_timeout().await.unwrap();
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill/1"),
    );
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    match tokio_tungstenite::client_async(req, stream)
        .with_timeout()
        .await
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

fn localhost() -> IpAddr {
    [127, 0, 0, 1].into()
}

/// Connects until the server has given the slot of a closed connection back (the slot is
/// released when the connection's task ends, just after the close handshake).
async fn connect_when_free(from: IpAddr, addr: SocketAddr) -> RawWs {
    for _ in 0..500 {
        match ws_from(from, addr).await {
            Ok(ws) => return ws,
            Err(503 | 429) => tokio::task::yield_now().await,
            Err(status) => panic!("unexpected refusal {status}"),
        }
    }
    panic!("the slot of the closed connection was never given back");
}

#[tokio::test]
async fn connection_beyond_max_connections_gets_503_and_the_others_stay_served() {
    let server = spawn(app(Config::default().max_connections(2))).await;
    let mut a = raw_ws(&server.url(), "swill/1").await;
    let mut b = ws_from([127, 0, 0, 2].into(), server.addr).await.unwrap();
    // The limit is global: a third address is refused as well.
    for from in [localhost(), [127, 0, 0, 3].into()] {
        assert_eq!(ws_from(from, server.addr).await.err(), Some(503));
    }
    let refused = ws_connect_with(&server.url(), &[]).await.err().unwrap();
    assert_eq!(refused.status(), 503);
    let body = String::from_utf8(refused.body().clone().unwrap_or_default()).unwrap();
    assert!(body.contains("2 connections"), "{body}");
    assert_eq!(call_add(&mut a, 1).await, V::from(5));
    assert_eq!(call_add(&mut b, 1).await, V::from(5));
    // Plain HTTP is not a connection slot.
    assert_eq!(http_get(server.addr, "/schema.json").await.status, 200);
    // A closed connection frees its slot.
    b.close(None).with_timeout().await.unwrap();
    let mut c = connect_when_free(localhost(), server.addr).await;
    assert_eq!(call_add(&mut c, 1).await, V::from(5));
    assert_eq!(call_add(&mut a, 2).await, V::from(5));
    drop((a, c));
    server.stop().await;
}

#[tokio::test]
async fn connection_beyond_max_connections_per_ip_gets_429_and_other_addresses_get_in() {
    let server = spawn(app(Config::default().max_connections_per_ip(2))).await;
    let mut a = raw_ws(&server.url(), "swill/1").await;
    let mut b = raw_ws(&server.url(), "swill/1").await;
    assert_eq!(ws_from(localhost(), server.addr).await.err(), Some(429));
    let refused = ws_connect_with(&server.url(), &[]).await.err().unwrap();
    assert_eq!(refused.status(), 429);
    // Another address has its own count.
    let mut other = ws_from([127, 0, 0, 2].into(), server.addr).await.unwrap();
    assert_eq!(call_add(&mut other, 1).await, V::from(5));
    assert_eq!(call_add(&mut a, 1).await, V::from(5));
    assert_eq!(call_add(&mut b, 1).await, V::from(5));
    a.close(None).with_timeout().await.unwrap();
    let mut c = connect_when_free(localhost(), server.addr).await;
    assert_eq!(call_add(&mut c, 1).await, V::from(5));
    drop((b, c, other));
    server.stop().await;
}

/// The child process of [`accept_loop_backs_off_quietly_at_emfile_and_recovers`]: a server
/// under a low descriptor limit, set by the parent with `ulimit -n`. It prints its address
/// and serves until its stdin closes. Skipped unless the parent started it.
#[test]
#[ignore = "started by accept_loop_backs_off_quietly_at_emfile_and_recovers"]
fn fd_limited_child_server() {
    if std::env::var_os("SWILL_FD_CHILD").is_none() {
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("swill=info"))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            // Stdin closes when the parent is done (or gone).
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
            let _ = stop_tx.send(());
        });
        println!("ADDR {addr}");
        std::io::stdout().flush().unwrap();
        let app = Swill::new()
            .config(Config::default().shutdown_timeout(Duration::from_millis(100)))
            .handler(add);
        swill::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
    });
}

#[tokio::test]
async fn accept_loop_backs_off_quietly_at_emfile_and_recovers() {
    const FD_LIMIT: u32 = 64;
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {FD_LIMIT} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args([
            "fd_limited_child_server",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SWILL_FD_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stops the child (the process we started, by its handle) whatever happens below.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            drop(self.0.stdin.take());
            if !matches!(self.0.try_wait(), Ok(Some(_))) {
                let _ = self.0.kill();
            }
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut child = Reap(child);
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let addr = tokio::task::spawn_blocking(move || {
        // libtest prints its own text first, on the same line too.
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let line = lines
            .by_ref()
            .take(16)
            .find_map(|l| Some(l.split_once("ADDR ")?.1.trim().to_owned()))
            .expect("the child printed its address");
        // Keep reading, so that the child's last lines do not hit a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        line.parse::<SocketAddr>().unwrap()
    })
    .with_timeout()
    .await
    .unwrap();

    // Hold more connections than the child has descriptors: its accepts start failing.
    let mut held = Vec::new();
    for _ in 0..FD_LIMIT + 16 {
        held.push(
            tokio::net::TcpStream::connect(addr)
                .with_timeout()
                .await
                .unwrap(),
        );
    }
    let mut log = Vec::new();
    loop {
        let line = lines.recv().with_timeout().await.expect("child exited");
        let exhausted = line.contains("out of file descriptors");
        log.push(line);
        if exhausted {
            break;
        }
    }
    // While they are held, a new client waits in the backlog (for 1.5 s here): long enough
    // for an accept loop that retried every 50 ms with a warning each time to log 30 lines.
    let url = format!("ws://{addr}/ws");
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill/1"),
    );
    let waiting = tokio::time::timeout(
        Duration::from_millis(1500),
        tokio_tungstenite::connect_async(req),
    )
    .await;
    assert!(waiting.is_err(), "the server had descriptors to spare");
    // Free the descriptors: the server must accept again, without a restart.
    drop(held);
    let mut ws = connect_when_free_plain(addr).await;
    assert_eq!(call_add(&mut ws, 1).await, V::from(5));
    ws.close(None).with_timeout().await.unwrap();
    drop(ws);
    drop(child.0.stdin.take());
    let status = tokio::task::spawn_blocking(move || child.0.wait())
        .with_timeout()
        .await
        .unwrap()
        .unwrap();
    while let Ok(line) = lines.try_recv() {
        log.push(line);
    }
    assert!(status.success(), "child failed: {log:#?}");
    let warnings: Vec<_> = log.iter().filter(|l| l.contains("WARN")).collect();
    // One line for the whole episode, not one per retry.
    assert_eq!(warnings.len(), 1, "{log:#?}");
    assert!(warnings[0].contains("out of file descriptors"), "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("accepting connections again")),
        "{log:#?}"
    );
}

/// Connects to a server that may still be working through a backlog of closed sockets.
async fn connect_when_free_plain(addr: SocketAddr) -> RawWs {
    let url = format!("ws://{addr}/ws");
    for _ in 0..100 {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("swill/1"),
        );
        if let Ok(Ok((ws, _))) =
            tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(req)).await
        {
            return ws;
        }
    }
    panic!("the server never accepted again");
}
