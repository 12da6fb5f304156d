//! What the server's resident memory (RSS) does after a burst of large calls, and what the
//! allocator has to do with it: `cargo run --release -p allocator-rss`.
//!
//! The program runs itself as a child process that serves a swill `echo` handler (taking a
//! `swill::Value`), measures the child's RSS from `/proc`, sends a burst of large calls from
//! several connections at once, and reads the RSS again at the peak, right after, and after
//! the server has been idle for a while. It does so for the allocator it was built with, with
//! its defaults and tuned through the environment: glibc with `MALLOC_ARENA_MAX`,
//! `MALLOC_TRIM_THRESHOLD_` and `MALLOC_MMAP_THRESHOLD_`, mimalloc with
//! `MIMALLOC_PURGE_DELAY=0`.
//!
//! ```text
//! cargo run --release -p allocator-rss                     # the system allocator (glibc)
//! cargo run --release -p allocator-rss --features mimalloc # mimalloc
//! ```
//!
//! `--check` runs a small burst and only checks that every answer came back intact.
//! The figures and what they mean are in docs/reliability.md ("Memory after a burst").

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use swill::{Error, Request, Swill, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Echoes any value: decoded into a dynamic value and encoded again, the allocation pattern
/// of a handler that works on what it is sent.
#[swill::handler]
async fn echo(req: Request<Value>) -> Result<Value, Error> {
    Ok(req.into_data())
}

/// The size of the burst.
#[derive(Debug, Clone, Copy)]
struct Burst {
    connections: usize,
    in_flight: usize,
    calls: usize,
    payload: usize,
}

const FULL: Burst = Burst {
    connections: 8,
    in_flight: 4,
    calls: 256,
    payload: 2 << 20,
};

const CHECK: Burst = Burst {
    connections: 2,
    in_flight: 2,
    calls: 8,
    payload: 64 << 10,
};

/// How long the server sits idle before the last reading.
const SETTLE: Duration = Duration::from_secs(3);

fn allocator() -> &'static str {
    if cfg!(feature = "mimalloc") {
        "mimalloc"
    } else {
        "system (glibc)"
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--serve") => serve().await,
        Some("--check") => match measure(CHECK, &[]).await {
            Ok(_) => {
                println!("check passed: every answer came back intact");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("check failed: {e}");
                ExitCode::FAILURE
            }
        },
        None => report().await,
        Some(_) => {
            eprintln!("usage: allocator-rss [--check]");
            ExitCode::from(2)
        }
    }
}

/// The child: serves `echo` on a free port and prints the address.
async fn serve() -> ExitCode {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(a) => println!("listening on ws://{a}/ws"),
        Err(e) => {
            eprintln!("no local address: {e}");
            return ExitCode::FAILURE;
        }
    }
    match swill::serve(listener, Swill::new().handler(echo)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn report() -> ExitCode {
    let mut rows = vec![(allocator().to_owned(), measure(FULL, &[]).await)];
    if cfg!(feature = "mimalloc") {
        let tuned = [("MIMALLOC_PURGE_DELAY", "0")];
        rows.push((
            "mimalloc, MIMALLOC_PURGE_DELAY=0".to_owned(),
            measure(FULL, &tuned).await,
        ));
    } else {
        let tuned = [
            ("MALLOC_ARENA_MAX", "2"),
            ("MALLOC_TRIM_THRESHOLD_", "131072"),
            ("MALLOC_MMAP_THRESHOLD_", "131072"),
        ];
        rows.push((
            "glibc, MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=128K MALLOC_MMAP_THRESHOLD_=128K"
                .to_owned(),
            measure(FULL, &tuned).await,
        ));
    }
    let b = FULL;
    println!(
        "burst: {} calls of {} KiB echoed, {} connections × {} in flight; settle {} s",
        b.calls,
        b.payload >> 10,
        b.connections,
        b.in_flight,
        SETTLE.as_secs()
    );
    println!(
        "| allocator | RSS before | peak | right after | after {} s idle |",
        SETTLE.as_secs()
    );
    println!("|---|---|---|---|---|");
    let mut ok = true;
    for (name, row) in rows {
        match row {
            Ok(r) => println!(
                "| {name} | {} MiB | {} MiB | {} MiB | {} MiB |",
                r.before >> 20,
                r.peak >> 20,
                r.after >> 20,
                r.settled >> 20
            ),
            Err(e) => {
                ok = false;
                println!("| {name} | failed: {e} | | | |");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// RSS readings of one run, in bytes.
#[derive(Debug)]
struct Readings {
    before: u64,
    peak: u64,
    after: u64,
    settled: u64,
}

/// Starts the server child with `env`, bursts, and reads its RSS.
async fn measure(burst: Burst, env: &[(&str, &str)]) -> Result<Readings, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .arg("--serve")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let pid = child.id().ok_or("the server has no pid")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("listening on ") {
                return Some(url.to_owned());
            }
        }
        None
    })
    .await
    .map_err(|_| "the server did not start in time")?
    .ok_or("the server exited before listening")?;

    let mut clients = Vec::new();
    for _ in 0..burst.connections {
        clients.push(
            swill::client::Client::connect(url.clone())
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    // One small call each, so that every connection and the runtime are warm.
    for c in &clients {
        let _: Value = c
            .call("echo", &Value(rmpv::Value::from(1)))
            .await
            .map_err(|e| e.to_string())?;
    }
    let before = rss(pid)?;

    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let seen = peak.clone();
    let sampler = tokio::spawn(async move {
        loop {
            if let Ok(r) = rss(pid) {
                seen.fetch_max(r, std::sync::atomic::Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let payload = Value(rmpv::Value::Binary(vec![0xa5; burst.payload]));
    let per_conn = burst.calls / burst.connections;
    let work = clients.iter().map(|c| {
        let payload = &payload;
        async move {
            use futures::stream::{self, StreamExt, TryStreamExt};
            stream::iter(0..per_conn)
                .map(|_| async move {
                    let back: Value = c.call("echo", payload).await.map_err(|e| e.to_string())?;
                    if back.0.as_slice().map(<[u8]>::len) != Some(burst.payload) {
                        return Err("an answer came back altered".to_owned());
                    }
                    Ok::<(), String>(())
                })
                .buffer_unordered(burst.in_flight)
                .try_collect::<()>()
                .await
        }
    });
    futures::future::try_join_all(work).await?;
    let after = rss(pid)?;
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed).max(after);
    tokio::time::sleep(SETTLE).await;
    let settled = rss(pid)?;
    drop(clients);
    let _ = child.kill().await;
    Ok(Readings {
        before,
        peak,
        after,
        settled,
    })
}

/// The resident set size of process `pid`, from `/proc/PID/status`.
fn rss(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read the server's RSS: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| "no VmRSS line".to_owned())
}
