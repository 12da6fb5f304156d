//! `swill-soak`: a bounded soak of a swill server.
//!
//! `cargo run --release -p soak -- --seconds 60 --conns 1000` starts the server as a child
//! process (`--serve`), holds `conns` connections for `seconds`: 60 % well-behaved clients
//! making random calls of every shape (every answer checked, unary latency recorded), 40 %
//! churn workers that cancel streams, drop connections mid-stream, stop reading, and send
//! hostile frames (garbage, unknown rpcs, wrong types, text frames, oversized messages). Then
//! it checks what a soak must leave behind, and prints one `soak ...` line per figure:
//!
//! - no leaked connections or calls: the server's own gauges (`soak.gauges`: its live
//!   connections and live handler futures) read zero;
//! - zero unexpected errors on the well-behaved connections, and every hostile frame
//!   answered as documented;
//! - the server's RSS (from /proc) back to its level: the load runs in two rounds, and the
//!   RSS after the second (settled) may exceed the RSS after the first by at most a tenth or
//!   8 MiB. Freed memory stays with the allocator (docs/reliability.md), so the first round
//!   sets the level; a leak would raise it round after round;
//! - the well-behaved unary p50/p99/max latency.
//!
//! Exits non-zero when a check fails. `--seed N` picks the random mix.

mod load;
mod server;

use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swill::client::Client;
use tokio::io::{AsyncBufReadExt, BufReader};

use load::Tally;
use server::Gauges;

/// How long the server gets to drop what the load left, before its gauges must read zero.
const SETTLE: Duration = Duration::from_secs(10);

struct Args {
    seconds: u64,
    conns: usize,
    seed: u64,
}

fn parse() -> Result<Option<Args>, String> {
    let mut a = Args {
        seconds: 60,
        conns: 1000,
        seed: 1,
    };
    let mut serve = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                a.seconds = val("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--conns" => {
                a.conns = val("--conns")?
                    .parse()
                    .map_err(|e| format!("--conns: {e}"))?
            }
            "--seed" => a.seed = val("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--serve" => serve = Some(val("--serve")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let Some(addr) = serve {
        let addr: SocketAddr = addr.parse().map_err(|e| format!("--serve: {e}"))?;
        return Err(format!("serve:{addr}"));
    }
    Ok(Some(a))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn gauges(url: &str) -> Option<Gauges> {
    let client = Client::builder(url).no_reconnect().connect().await.ok()?;
    let g = client.call::<Gauges>("soak.gauges", &()).await.ok();
    client.close();
    g
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) if e.starts_with("serve:") => {
            let addr: SocketAddr = match e["serve:".len()..].parse() {
                Ok(a) => a,
                Err(_) => return ExitCode::FAILURE,
            };
            return match server::serve(addr).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("serve: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Err(e) => {
            eprintln!("{e}\nusage: swill-soak [--seconds N] [--conns N] [--seed N]");
            return ExitCode::FAILURE;
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("soak failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .args(["--serve", "127.0.0.1:0"])
        // The tuned glibc of docs/reliability.md: freed memory goes back sooner.
        .env("MALLOC_ARENA_MAX", "2")
        .env("MALLOC_TRIM_THRESHOLD_", "131072")
        .env("MALLOC_MMAP_THRESHOLD_", "131072")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let pid = child.id().ok_or("the server has no pid")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .map_err(|_| "the server did not start")?
        .map_err(|e| e.to_string())?
        .and_then(|l| l.strip_prefix("listening on ").map(str::to_owned))
        .ok_or("the server printed no address")?;
    let url = format!("ws://{addr}/ws");
    let baseline = rss_kib(pid);

    let tally = Arc::new(Tally::default());
    let good = args.conns * 6 / 10;
    // Two rounds of the same load, each followed by a settle: the gauges must read zero
    // after each, and the RSS after the second must not exceed the RSS after the first
    // (freed memory stays with the allocator, so the first round sets the level; a leak
    // grows it round after round).
    let round = Duration::from_secs(args.seconds).max(Duration::from_secs(2)) / 2;
    let mut peak = baseline;
    let mut after = [0u64; 2];
    let mut last = None;
    for (r, after_round) in after.iter_mut().enumerate() {
        let until = Instant::now() + round;
        let mut tasks = Vec::new();
        for i in 0..args.conns {
            let seed = args
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add((r * args.conns + i) as u64);
            let (url, tally) = (url.clone(), tally.clone());
            tasks.push(if i < good {
                tokio::spawn(load::good(url, seed, until, tally))
            } else {
                tokio::spawn(load::churn(url, seed, until, tally))
            });
        }
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(250)).await;
            peak = peak.max(rss_kib(pid));
        }
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
        let settle_until = Instant::now() + SETTLE;
        while Instant::now() < settle_until {
            last = gauges(&url).await;
            if matches!(last, Some(g) if g.connections == 0 && g.handlers == 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !matches!(last, Some(g) if g.connections == 0 && g.handlers == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        *after_round = rss_kib(pid);
    }
    let _ = child.kill().await;

    let mut lat = std::mem::take(&mut *tally.latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "soak {} s, {} connections ({} well-behaved, {} churn), seed {}",
        args.seconds,
        args.conns,
        good,
        args.conns - good,
        args.seed
    );
    println!(
        "soak well-behaved calls ok {}, unexpected errors {}",
        n(&tally.good_calls),
        n(&tally.unexpected)
    );
    println!(
        "soak churn: cancels {}, abrupt disconnects {}, slow readers {}, hostile frames {} (unanswered {})",
        n(&tally.cancels),
        n(&tally.abrupt),
        n(&tally.slow),
        n(&tally.hostile),
        n(&tally.hostile_unanswered)
    );
    println!(
        "soak unary latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} calls)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        lat.len()
    );
    println!(
        "soak server RSS fresh {baseline} KiB, peak {peak} KiB, after round 1 {} KiB, after round 2 {} KiB",
        after[0], after[1]
    );
    match last {
        Some(g) => println!(
            "soak server gauges after: connections {}, handlers {}",
            g.connections, g.handlers
        ),
        None => println!("soak server gauges after: unreadable"),
    }
    for s in tally
        .samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        println!("soak sample failure: {s}");
    }

    let mut failures = Vec::new();
    if !matches!(last, Some(g) if g.connections == 0 && g.handlers == 0) {
        failures.push("leaked connections or calls".to_owned());
    }
    if n(&tally.unexpected) > 0 {
        failures.push(format!("{} unexpected errors", n(&tally.unexpected)));
    }
    if n(&tally.hostile_unanswered) > 0 {
        failures.push(format!(
            "{} hostile frames unanswered",
            n(&tally.hostile_unanswered)
        ));
    }
    if n(&tally.good_calls) == 0 {
        failures.push("no well-behaved call completed".to_owned());
    }
    // A leak grows the level round after round; the allocator's own retention does not.
    let bound = after[0] + (after[0] / 10).max(8 * 1024);
    if after[1] > bound {
        failures.push(format!(
            "RSS grew from {} KiB after round 1 to {} KiB after round 2 (bound {bound} KiB)",
            after[0], after[1]
        ));
    }
    if failures.is_empty() {
        println!("soak passed");
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
