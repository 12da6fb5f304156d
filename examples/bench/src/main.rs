//! The benchmark suite: `cargo run --release -p swill-bench -- suite [--write docs/benchmarks.md]`.
//!
//! One binary, several roles (see `docs/benchmarks.md` for the method and today's figures):
//!
//! - `suite`: starts the servers (swill's conformance app, a batched axum echo, jsonrpsee),
//!   each pinned to CPU 0 on a current_thread runtime, drives every workload with load
//!   generator processes pinned to CPU 1, in interleaved repetitions, and prints the table
//!   (`--write FILE` also puts it into the results section of FILE). It ends with the
//!   callgrind instruction counts (`callgrind`) and the allocation counts (`allocs`).
//! - `--check` (or `check`): the CI smoke run: every workload for about a second, every
//!   answer verified, the table printed; it fails only on a wrong or missing answer.
//! - `callgrind`: instructions per unary call and per stream item, from valgrind.
//! - `allocs`: server-side allocations per unary call and per stream item (runs the
//!   `swill-allocs` binary of this package).
//! - `serve swill|echo|jsonrpsee [--addr A] [--redis URL]`: one server, until SIGINT/SIGTERM
//!   (swill's pub/sub through Redis with `--redis`).
//! - `load --url U --proto swill|echo|jsonrpsee --mode unary|stream|blob|idle|fanout ...`:
//!   one verifying load run; prints a `result key=value ...` line. `fanout`: `--conns`
//!   subscribers (alternating between `--url` and `--url2` when given), `--total` messages.

mod callgrind;
mod fanout;
mod load;
mod procfs;
mod rawws;
mod serve;
mod suite;

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage:
  swill-bench suite [--reps N] [--seconds S] [--idle N] [--write FILE] [--nice N]
                    [--no-callgrind] [--no-allocs] [--only WORKLOAD,...]
  swill-bench --check
  swill-bench callgrind
  swill-bench allocs
  swill-bench serve swill|echo|jsonrpsee [--addr 127.0.0.1:0] [--redis URL]
  swill-bench load --url URL --proto swill|echo|jsonrpsee --mode unary|stream|blob|idle|fanout
                   [--conns C] [--depth P] [--seconds S] [--warmup S] [--total N]
                   [--items N] [--idle N] [--server-pid PID]... [--url2 URL]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let res = match args.first().map(String::as_str) {
        Some("serve") => serve_cmd(rest),
        Some("load") => load::Args::parse(rest)
            .and_then(|a| load::run_blocking(&a))
            .map(|line| println!("{line}")),
        Some("suite") => suite::Opts::parse(rest, false).and_then(|o| suite::run(&o)),
        Some("--check" | "check") => suite::Opts::parse(rest, true).and_then(|o| suite::run(&o)),
        Some("callgrind") => suite::callgrind_only(),
        Some("allocs") => suite::allocs_only(),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swill-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve_cmd(args: &[String]) -> Result<(), String> {
    let kind = args
        .first()
        .and_then(|k| serve::Kind::parse(k))
        .ok_or("serve needs swill, echo or jsonrpsee")?;
    let mut addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut redis = None;
    let mut it = args.iter().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = v.parse().map_err(|_| format!("bad address {v}"))?,
            "--redis" if kind == serve::Kind::Swill => redis = Some(v.clone()),
            _ => return Err("serve takes --addr HOST:PORT and, for swill, --redis URL".into()),
        }
    }
    serve::run_blocking(kind, addr, redis)
}
