//! Instructions per unary call, per stream item and per fan-out delivery, from
//! `valgrind --tool=callgrind`.
//!
//! Method (as in the performance baseline): start the server under callgrind, drive a fixed
//! number of calls (or stream items), stop it with SIGINT so that callgrind writes its totals,
//! then do it again with more calls. `(I2 - I1) / (N2 - N1)` is the server's cost per call in
//! user-space instructions: start-up, handshakes and warm-up are the same in both runs and
//! cancel out. Instruction counts do not depend on what else the machine is doing.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::serve::Kind;
use crate::suite::{generate, pinned, signal, start_cmd};

/// One measured row.
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
        n1: 20_000,
        n2: 60_000,
    },
    Row {
        label: "swill-rs, per unary `add` call (4 × 16)",
        kind: Kind::Swill,
        mode: "unary",
        conns: 4,
        depth: 16,
        n1: 20_000,
        n2: 60_000,
    },
    Row {
        label: "jsonrpsee 0.26, per `add` call (4 × 16)",
        kind: Kind::Jsonrpsee,
        mode: "unary",
        conns: 4,
        depth: 16,
        n1: 20_000,
        n2: 60_000,
    },
    Row {
        label: "swill-rs, per fan-out delivery (1 topic × 1,000 subscribers)",
        kind: Kind::Swill,
        mode: "fanout",
        conns: 1000,
        depth: crate::fanout::DEFAULT_DEPTH,
        n1: 100,
        n2: 500,
    },
    Row {
        label: "swill-rs, per `count` stream item",
        kind: Kind::Swill,
        mode: "stream",
        conns: 1,
        depth: 1,
        n1: 100_000,
        n2: 400_000,
    },
];

impl Row {
    /// What `n` (calls, items, or published messages) comes to in counted units: a fan-out
    /// message is one delivery per subscriber.
    fn units(&self, n: u64) -> u64 {
        if self.mode == "fanout" {
            n * self.conns as u64
        } else {
            n
        }
    }
}

fn has_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Measures every row and returns the markdown table.
pub(crate) fn run(pin: bool) -> Result<String, String> {
    if !has_valgrind() {
        return Err("valgrind is not installed (apt-get install valgrind)".into());
    }
    let mut s = String::from(
        "\nServer-side user-space instructions (callgrind `totals`), (I2 − I1) / (N2 − N1) over two runs of N1 and N2 calls:\n\n| per unit | instructions | I1 @ N1 | I2 @ N2 |\n|---|---|---|---|\n",
    );
    for r in ROWS {
        let i1 = measure(r, r.n1, pin)?;
        let i2 = measure(r, r.n2, pin)?;
        let (u1, u2) = (r.units(r.n1), r.units(r.n2));
        let per = i2.saturating_sub(i1) as f64 / (u2 - u1) as f64;
        eprintln!("  callgrind {:<42} {per:>8.0} instructions", r.label);
        let _ = writeln!(
            s,
            "| {} | {per:.0} | {:.1} M @ {} | {:.1} M @ {} |",
            r.label,
            i1 as f64 / 1e6,
            u1,
            i2 as f64 / 1e6,
            u2
        );
    }
    Ok(s)
}

fn measure(r: &Row, n: u64, pin: bool) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::env::temp_dir().join(format!(
        "swill-bench-callgrind-{}-{}-{n}.out",
        std::process::id(),
        r.kind.name()
    ));
    let mut cmd = pinned(pin, 0, Path::new("valgrind"));
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(["serve", r.kind.name(), "--addr", "127.0.0.1:0"])
        .stderr(Stdio::null());
    let mut srv = start_cmd(cmd, r.kind.name())?;
    let extra: Vec<String> = [
        "--mode",
        r.mode,
        "--conns",
        &r.conns.to_string(),
        "--depth",
        &r.depth.to_string(),
        "--total",
        &n.to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let res = generate(&srv, r.kind, pin, 1, &extra)?;
    let verified: u64 = res
        .iter()
        .filter_map(|f| f.get("verified").and_then(|v| v.parse::<u64>().ok()))
        .sum();
    if verified != r.units(n) {
        return Err(format!(
            "{}: {verified} answers verified, {} expected",
            r.label,
            r.units(n)
        ));
    }
    signal(srv.pid, "INT");
    if !srv.wait_exit(120) {
        return Err(format!("{} under callgrind did not stop", r.kind.name()));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("no callgrind output: {e}"))?;
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no totals line in the callgrind output".into())
}
