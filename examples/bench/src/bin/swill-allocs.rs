//! Server-side allocations per call: `swill-allocs --load target/release/swill-bench [--check]`.
//!
//! Runs with a counting global allocator (`stats_alloc`). The server (swill's conformance
//! app, the batched axum echo, or jsonrpsee) runs in this process on a current_thread
//! runtime; the load comes from a `swill-bench load` child process, so the only allocations
//! this process counts are the server's (plus the few of spawning the child, which are the
//! same in every run). Each server gets a warm-up run, then two runs of N1 and N2 calls;
//! `(A2 - A1) / (N2 - N1)` is what one more call costs, with handshakes, connection set-up
//! and teardown cancelling out. Every answer is verified by the generator.
//!
//! Kept out of the `swill-bench` binary because a counting allocator slows every allocation
//! of the process it is in: the servers the suite times must not carry it.

#[path = "../serve.rs"]
#[allow(dead_code)]
mod serve;

use std::alloc::System;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use stats_alloc::{Stats, StatsAlloc, INSTRUMENTED_SYSTEM};

use serve::Kind;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Time given to the server to tear the generator's connections down before counting.
const SETTLE: Duration = Duration::from_millis(300);

struct Row {
    label: &'static str,
    kind: Kind,
    mode: &'static str,
    conns: usize,
    depth: usize,
    n1: u64,
    n2: u64,
}

const ROWS: &[Row] = &[
    Row {
        label: "batched axum echo, per frame (4 × 16)",
        kind: Kind::Echo,
        mode: "unary",
        conns: 4,
        depth: 16,
        n1: 10_000,
        n2: 50_000,
    },
    Row {
        label: "swill-rs, per unary `add` call (4 × 16)",
        kind: Kind::Swill,
        mode: "unary",
        conns: 4,
        depth: 16,
        n1: 10_000,
        n2: 50_000,
    },
    Row {
        label: "jsonrpsee 0.26, per `add` call (4 × 16)",
        kind: Kind::Jsonrpsee,
        mode: "unary",
        conns: 4,
        depth: 16,
        n1: 10_000,
        n2: 50_000,
    },
    Row {
        label: "swill-rs, per `count` stream item",
        kind: Kind::Swill,
        mode: "stream",
        conns: 1,
        depth: 1,
        n1: 100_000,
        n2: 500_000,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut load = None;
    let mut check = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--load" => load = it.next().map(PathBuf::from),
            "--check" => check = true,
            _ => {
                eprintln!("usage: swill-allocs --load PATH-TO-swill-bench [--check]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(load) = load else {
        eprintln!("usage: swill-allocs --load PATH-TO-swill-bench [--check]");
        return ExitCode::from(2);
    };
    match run(&load, check) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("swill-allocs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(load: &Path, check: bool) -> Result<String, String> {
    let mut s = String::from(
        "\nServer-side heap allocations (counting global allocator, server in-process, load from a child process), (A2 − A1) / (N2 − N1):\n\n| per unit | allocations | reallocations | bytes allocated |\n|---|---|---|---|\n",
    );
    for r in ROWS {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let kind = r.kind;
        // The server thread lives until the process ends.
        std::thread::spawn(move || serve::run_on(kind, listener, false));
        let url = match kind {
            Kind::Jsonrpsee => format!("ws://{addr}"),
            _ => format!("ws://{addr}/ws"),
        };
        let (n1, n2) = if check {
            (r.n1 / 10, r.n2 / 10)
        } else {
            (r.n1, r.n2)
        };
        measure(load, &url, r, n1 / 4)?;
        let a1 = measure(load, &url, r, n1)?;
        let a2 = measure(load, &url, r, n2)?;
        // Noise (the few allocations of spawning the generator) can make a zero cost come
        // out a hair below zero.
        let per =
            |f: fn(&Stats) -> usize| ((f(&a2) as f64 - f(&a1) as f64) / (n2 - n1) as f64).max(0.0);
        let allocs = per(|s| s.allocations);
        let reallocs = per(|s| s.reallocations);
        let bytes = per(|s| s.bytes_allocated);
        eprintln!("  allocs {:<42} {allocs:>6.2} allocations", r.label);
        let _ = writeln!(
            s,
            "| {} | {allocs:.2} | {reallocs:.2} | {bytes:.0} |",
            r.label
        );
    }
    Ok(s)
}

/// Allocations of this process while a generator makes `n` calls (or reads `n` items).
fn measure(load: &Path, url: &str, r: &Row, n: u64) -> Result<Stats, String> {
    let before = GLOBAL.stats();
    let out = Command::new(load)
        .args([
            "load",
            "--url",
            url,
            "--proto",
            r.kind.name(),
            "--mode",
            r.mode,
        ])
        .args([
            "--conns",
            &r.conns.to_string(),
            "--depth",
            &r.depth.to_string(),
        ])
        .args(["--total", &n.to_string()])
        .output()
        .map_err(|e| format!("cannot run the generator: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the generator failed against {}: {}{}",
            r.kind.name(),
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let verified = text
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("verified="))
        .and_then(|v| v.parse::<u64>().ok());
    if verified != Some(n) {
        return Err(format!(
            "{}: {verified:?} answers verified, {n} expected",
            r.label
        ));
    }
    std::thread::sleep(SETTLE);
    let after = GLOBAL.stats();
    Ok(Stats {
        allocations: after.allocations - before.allocations,
        deallocations: after.deallocations - before.deallocations,
        reallocations: after.reallocations - before.reallocations,
        bytes_allocated: after.bytes_allocated - before.bytes_allocated,
        bytes_deallocated: after.bytes_deallocated - before.bytes_deallocated,
        bytes_reallocated: after.bytes_reallocated - before.bytes_reallocated,
    })
}
