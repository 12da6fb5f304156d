//! The suite: servers and generators as pinned child processes, interleaved repetitions,
//! medians, ranges and pairwise ratios, and the table (printed, and written on request).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::load::Mode;
use crate::procfs;
use crate::serve::Kind;

/// Where `--write` puts the figures: between these lines (appended when absent).
const BEGIN: &str = "<!-- BEGIN suite results: written by `swill-bench suite --write` -->";
const END: &str = "<!-- END suite results -->";
/// Repetitions of each workload in a full run (each an interleaved pair or triple).
const DEFAULT_REPS: usize = 3;
/// Measured seconds per run in a full run (after a warm-up).
const DEFAULT_SECONDS: f64 = 2.0;
/// Idle connections in a full run.
const DEFAULT_IDLE: usize = 10_000;
/// Subscribers of the fan-out workload: a full run, and the smoke run.
const FANOUT_SUBSCRIBERS: usize = 1000;
const FANOUT_CHECK_SUBSCRIBERS: usize = 100;
/// Messages published per fan-out run: 3,000 × 1,000 subscribers is 3 M deliveries, about
/// 3 s at the 1 M/s target; 200 × 100 in the smoke run.
const FANOUT_MESSAGES: u64 = 3000;
const FANOUT_CHECK_MESSAGES: u64 = 200;

/// Options of a suite run.
#[derive(Clone, Debug)]
pub(crate) struct Opts {
    reps: usize,
    seconds: f64,
    warmup: f64,
    idle: usize,
    write: Option<PathBuf>,
    callgrind: bool,
    allocs: bool,
    check: bool,
    nice: i32,
    command: String,
    /// `--only KEY,...`: just these workloads (no `--write`).
    only: Option<Vec<String>>,
}

impl Opts {
    /// Parses the suite's options; `check` selects the CI smoke run's defaults.
    pub(crate) fn parse(args: &[String], check: bool) -> Result<Self, String> {
        let mut o = if check {
            Self {
                reps: 1,
                seconds: 1.0,
                warmup: 0.1,
                idle: 200,
                write: None,
                callgrind: false,
                allocs: true,
                check: true,
                nice: 0,
                command: String::new(),
                only: None,
            }
        } else {
            Self {
                reps: DEFAULT_REPS,
                seconds: DEFAULT_SECONDS,
                warmup: 0.3,
                idle: DEFAULT_IDLE,
                write: None,
                callgrind: true,
                allocs: true,
                check: false,
                nice: 0,
                command: String::new(),
                only: None,
            }
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--reps" => o.reps = val()?.parse().map_err(|_| "bad --reps")?,
                "--seconds" => o.seconds = val()?.parse().map_err(|_| "bad --seconds")?,
                "--idle" => o.idle = val()?.parse().map_err(|_| "bad --idle")?,
                "--write" => o.write = Some(PathBuf::from(val()?)),
                "--no-callgrind" => o.callgrind = false,
                "--no-allocs" => o.allocs = false,
                "--only" => {
                    o.only = Some(val()?.split(',').map(str::to_owned).collect());
                }
                "--nice" => {
                    let n: i32 = val()?.parse().map_err(|_| "bad --nice")?;
                    NICE.store(n, Ordering::Relaxed);
                    o.nice = n;
                }
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        o.reps = o.reps.max(1);
        if o.only.is_some() && o.write.is_some() {
            return Err(
                "--only measures a part of the suite: it cannot --write the results".into(),
            );
        }
        let mut cmd = String::from("cargo run --release -p swill-bench --");
        if check {
            cmd.push_str(" --check");
        } else {
            cmd.push_str(" suite");
        }
        for a in args {
            cmd.push(' ');
            cmd.push_str(a);
        }
        o.command = cmd;
        Ok(o)
    }
}

/// A server child process, stopped (SIGINT, then kill) on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        signal(self.pid, "INT");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Waits for the server to exit by itself (after [`signal`]), up to `secs` seconds.
    pub(crate) fn wait_exit(&mut self, secs: u64) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

/// Sends a signal by name with `kill` (the workspace forbids the `unsafe` of `libc::kill`).
pub(crate) fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether `taskset` can pin processes here.
pub(crate) fn has_taskset() -> bool {
    Command::new("taskset")
        .args(["-c", "0", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Niceness of the servers and generators (`--nice`), 0 unless asked.
static NICE: AtomicI32 = AtomicI32::new(0);

/// A command for `prog`, pinned to `cpu` with taskset when `pin`, under `nice -n N` when
/// `--nice N` was given.
pub(crate) fn pinned(pin: bool, cpu: u32, prog: &Path) -> Command {
    let nice = NICE.load(Ordering::Relaxed);
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    if nice != 0 {
        argv.extend(["nice".into(), "-n".into(), nice.to_string().into()]);
    }
    if pin {
        argv.extend(["taskset".into(), "-c".into(), cpu.to_string().into()]);
    }
    argv.push(prog.as_os_str().to_owned());
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

fn exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))
}

/// Starts `cmd` (a server that prints `listening on URL`) and reads its URL.
pub(crate) fn start_cmd(mut cmd: Command, what: &str) -> Result<Server, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the {what} server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let Some(url) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("the {what} server did not start: {line:?}"));
    };
    let url = url.to_owned();
    let pid = child.id();
    Ok(Server { child, url, pid })
}

/// A `redis-server` child process on a free loopback port, pinned with the servers; killed
/// on drop.
pub(crate) struct Redis {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// Starts `redis-server` (no persistence) and waits until it accepts connections;
    /// `None` when it is not installed.
    pub(crate) fn start(pin: bool) -> Result<Option<Self>, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut cmd = pinned(pin, 0, Path::new("redis-server"));
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--logfile", ""])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // taskset and nice report a missing program as exit status 127, not as NotFound.
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            return Ok(None);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.by_ref().any(|l| {
            l.as_deref()
                .is_ok_and(|l| l.contains("Ready to accept connections"))
        });
        let redis = Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        if !ready {
            return Err("redis-server exited before it was ready".into());
        }
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Some(redis))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The servers of one fan-out workload: one swill instance, or two sharing topics through
/// a Redis server (all on CPU 0).
struct Fanout {
    servers: Vec<Server>,
    redis: Option<Redis>,
}

impl Fanout {
    /// Starts the servers; `None` when Redis is wanted but not installed, outside the smoke
    /// run (where it is an error).
    fn start(redis: bool, pin: bool, check: bool) -> Result<Option<Self>, String> {
        if !redis {
            return Ok(Some(Self {
                servers: vec![start(Kind::Swill, pin)?],
                redis: None,
            }));
        }
        let Some(r) = Redis::start(pin)? else {
            if check {
                return Err(
                    "redis-server is not installed (apt-get install redis-server); the smoke run needs it for the Redis fan-out".into(),
                );
            }
            return Ok(None);
        };
        let mut servers = Vec::new();
        for _ in 0..2 {
            let mut cmd = pinned(pin, 0, &exe()?);
            cmd.args(["serve", "swill", "--addr", "127.0.0.1:0", "--redis", &r.url]);
            servers.push(start_cmd(cmd, "swill (Redis)")?);
        }
        Ok(Some(Self {
            servers,
            redis: Some(r),
        }))
    }

    /// The generator options that name the other server processes.
    fn more(&self) -> Vec<String> {
        let mut m = Vec::new();
        if let Some(second) = self.servers.get(1) {
            m.extend(["--url2".to_owned(), second.url.clone()]);
            m.extend(["--server-pid".to_owned(), second.pid.to_string()]);
        }
        if let Some(r) = &self.redis {
            m.extend(["--server-pid".to_owned(), r.pid().to_string()]);
        }
        m
    }
}

/// Starts one of the three servers on CPU 0.
pub(crate) fn start(kind: Kind, pin: bool) -> Result<Server, String> {
    let mut cmd = pinned(pin, 0, &exe()?);
    cmd.args(["serve", kind.name(), "--addr", "127.0.0.1:0"]);
    start_cmd(cmd, kind.name())
}

/// The `key=value` fields of a generator's `result` line.
pub(crate) type Fields = HashMap<String, String>;

pub(crate) fn field(f: &Fields, k: &str) -> f64 {
    f.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// Runs `procs` generator processes on CPU 1 against `server`, each with `extra` options,
/// and returns their result lines.
pub(crate) fn generate(
    server: &Server,
    kind: Kind,
    pin: bool,
    procs: usize,
    extra: &[String],
) -> Result<Vec<Fields>, String> {
    let mut children = Vec::new();
    for _ in 0..procs {
        let mut cmd = pinned(pin, 1, &exe()?);
        cmd.args(["load", "--url", &server.url, "--proto", kind.name()])
            .args(["--server-pid", &server.pid.to_string()])
            .args(extra)
            .stdout(Stdio::piped());
        children.push(
            cmd.spawn()
                .map_err(|e| format!("cannot start a generator: {e}"))?,
        );
    }
    let mut out = Vec::new();
    for c in children {
        let o = c.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&o.stdout);
        if !o.status.success() {
            return Err(format!(
                "a generator against {} failed ({}): {}",
                kind.name(),
                o.status,
                text.trim()
            ));
        }
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("result "))
            .ok_or_else(|| format!("a generator printed no result: {text}"))?;
        out.push(
            line.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
    }
    Ok(out)
}

/// What a row reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Metric {
    /// Answers per second.
    Rate,
    /// Median latency, microseconds.
    P50,
    /// Payload MB/s.
    Mbps,
    /// Server RSS bytes per idle connection.
    Idle,
}

/// One row of the table.
#[derive(Clone, Debug)]
struct Workload {
    key: &'static str,
    label: &'static str,
    mode: Mode,
    conns: usize,
    depth: usize,
    procs: usize,
    kinds: &'static [Kind],
    metric: Metric,
    target: Target,
    /// Fan-out: through Redis, subscribers split over two instances.
    redis: bool,
}

/// A target from issue #10.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// swill ÷ echo at least this.
    RatioAtLeast(f64),
    /// swill ÷ echo at most this.
    RatioAtMost(f64),
    /// swill's own figure at least this.
    AtLeast(f64),
    /// swill's own figure at most this.
    AtMost(f64),
    /// No target: shown for information.
    None,
}

const ALL: &[Kind] = &[Kind::Echo, Kind::Swill, Kind::Jsonrpsee];
const BINARY: &[Kind] = &[Kind::Echo, Kind::Swill];

fn workloads() -> Vec<Workload> {
    let w = |key, label, mode, conns, depth, kinds, metric, target| Workload {
        key,
        label,
        mode,
        conns,
        depth,
        procs: 1,
        kinds,
        metric,
        target,
        redis: false,
    };
    let mut two = w(
        "unary-16x16-2gen",
        "unary `add` 16 × 16, two generator processes",
        Mode::Unary,
        8,
        16,
        BINARY,
        Metric::Rate,
        Target::None,
    );
    two.procs = 2;
    let fanout = w(
        "fanout",
        "fan-out, 1 topic × 1,000 subscribers, deliveries",
        Mode::Fanout,
        FANOUT_SUBSCRIBERS,
        crate::fanout::DEFAULT_DEPTH,
        &[Kind::Swill],
        Metric::Rate,
        Target::AtLeast(1e6),
    );
    // Through Redis with the same pipelined publisher: the Redis backend sends publishes
    // in the order they were made, so every delivery is still checked in order.
    let mut redis = w(
        "fanout-redis",
        "fan-out through Redis, 2 instances × 500 subscribers",
        Mode::Fanout,
        FANOUT_SUBSCRIBERS,
        crate::fanout::DEFAULT_DEPTH,
        &[Kind::Swill],
        Metric::Rate,
        Target::AtLeast(1e6),
    );
    redis.redis = true;
    vec![
        w(
            "unary-16x16",
            "unary `add`, 16 conns × 16 in flight",
            Mode::Unary,
            16,
            16,
            ALL,
            Metric::Rate,
            Target::RatioAtLeast(0.6),
        ),
        w(
            "unary-1x64",
            "unary `add`, 1 × 64",
            Mode::Unary,
            1,
            64,
            ALL,
            Metric::Rate,
            Target::RatioAtLeast(0.6),
        ),
        w(
            "unary-64x4",
            "unary `add`, 64 × 4",
            Mode::Unary,
            64,
            4,
            ALL,
            Metric::Rate,
            Target::RatioAtLeast(0.6),
        ),
        w(
            "latency-1x1",
            "1 × 1 latency, p50",
            Mode::Unary,
            1,
            1,
            ALL,
            Metric::P50,
            Target::RatioAtMost(1.1),
        ),
        w(
            "blob",
            "1 MiB binary echo, 4 in flight",
            Mode::Blob,
            1,
            4,
            BINARY,
            Metric::Mbps,
            Target::RatioAtLeast(0.9),
        ),
        w(
            "stream",
            "`count` stream",
            Mode::Stream,
            1,
            1,
            &[Kind::Swill],
            Metric::Rate,
            Target::AtLeast(5e6),
        ),
        two,
        fanout,
        redis,
        w(
            "idle",
            "idle connection, server RSS",
            Mode::Idle,
            1,
            1,
            ALL,
            Metric::Idle,
            Target::AtMost(4096.0),
        ),
    ]
}

/// One measured run.
#[derive(Clone, Copy, Debug)]
struct Sample {
    value: f64,
    gen_cpu: f64,
    srv_cpu: f64,
    /// Fan-out: deliveries per second of server CPU time, and the share of the run the
    /// server processes spent waiting for a CPU, summed over them (NaN for other workloads).
    cpu_rate: f64,
    srv_wait: f64,
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Unary => "unary",
        Mode::Stream => "stream",
        Mode::Blob => "blob",
        Mode::Idle => "idle",
        Mode::Fanout => "fanout",
    }
}

fn run_one(
    w: &Workload,
    server: &Server,
    kind: Kind,
    pin: bool,
    o: &Opts,
) -> Result<Sample, String> {
    run_with(w, server, kind, pin, o, &[])
}

/// [`run_one`] with more generator options (`more`) after the workload's own.
fn run_with(
    w: &Workload,
    server: &Server,
    kind: Kind,
    pin: bool,
    o: &Opts,
    more: &[String],
) -> Result<Sample, String> {
    let mut extra: Vec<String> = vec![
        "--mode".into(),
        mode_name(w.mode).into(),
        "--conns".into(),
        w.conns.to_string(),
        "--depth".into(),
        w.depth.to_string(),
        "--seconds".into(),
        o.seconds.to_string(),
        "--warmup".into(),
        o.warmup.to_string(),
    ];
    if w.mode == Mode::Idle {
        extra.extend(["--idle".into(), o.idle.to_string()]);
    }
    if w.mode == Mode::Stream && o.check {
        extra.extend(["--items".into(), "100000".into()]);
    }
    if w.mode == Mode::Fanout {
        let (subs, messages) = if o.check {
            (FANOUT_CHECK_SUBSCRIBERS, FANOUT_CHECK_MESSAGES)
        } else {
            (w.conns, FANOUT_MESSAGES)
        };
        extra[3] = subs.to_string();
        extra.extend(["--total".into(), messages.to_string()]);
    }
    extra.extend(more.iter().cloned());
    let res = generate(server, kind, pin, w.procs, &extra)?;
    let key = match w.metric {
        Metric::Rate => "rate",
        Metric::P50 => "p50_us",
        Metric::Mbps => "mbps",
        Metric::Idle => "bytes_per_conn",
    };
    let mut value = 0.0;
    let mut gen_cpu: f64 = 0.0;
    let mut srv_cpu = f64::NAN;
    let (mut cpu_rate, mut srv_wait) = (f64::NAN, f64::NAN);
    for f in &res {
        if field(f, "verified") < 1.0 {
            return Err(format!(
                "{}: no answer verified against {}",
                w.key,
                kind.name()
            ));
        }
        value += field(f, key);
        gen_cpu = gen_cpu.max(field(f, "gen_cpu"));
        srv_cpu = field(f, "srv_cpu");
        cpu_rate = field(f, "cpu_rate");
        srv_wait = field(f, "srv_wait_s") / field(f, "wall_s");
    }
    if w.metric == Metric::P50 {
        value /= res.len() as f64;
    }
    Ok(Sample {
        value,
        gen_cpu,
        srv_cpu,
        cpu_rate,
        srv_wait,
    })
}

/// Median of `v` (not empty), and its range.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0], s[n - 1])
}

/// A value in its unit, the scale chosen from `scale_of` (so that a range reads in the
/// unit of its median).
fn fmt_scaled(m: Metric, v: f64, scale_of: f64, unit: bool) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let (num, u) = match m {
        Metric::Rate if scale_of >= 1e6 => (format!("{:.2}", v / 1e6), " M/s"),
        Metric::Rate => (format!("{:.0}", v / 1e3), " k/s"),
        Metric::P50 => (format!("{v:.1}"), " µs"),
        Metric::Mbps => (format!("{:.2}", v / 1e3), " GB/s"),
        Metric::Idle => (format!("{:.1}", v / 1024.0), " KiB"),
    };
    if unit {
        format!("{num}{u}")
    } else {
        num
    }
}

fn fmt_value(m: Metric, v: f64) -> String {
    fmt_scaled(m, v, v, true)
}

fn fmt_stat(m: Metric, v: &[f64]) -> String {
    let (med, lo, hi) = stats(v);
    if v.len() <= 1 || !med.is_finite() {
        return fmt_value(m, med);
    }
    format!(
        "{} ({}–{})",
        fmt_value(m, med),
        fmt_scaled(m, lo, med, false),
        fmt_scaled(m, hi, med, false)
    )
}

fn fmt_ratio(v: &[f64]) -> String {
    let (med, lo, hi) = stats(v);
    if !med.is_finite() {
        return "—".into();
    }
    if v.len() <= 1 {
        format!("{med:.2}×")
    } else {
        format!("{med:.2}× ({lo:.2}–{hi:.2})")
    }
}

/// Everything measured in one suite run.
#[derive(Debug, Default)]
struct Results {
    samples: HashMap<(&'static str, &'static str), Vec<Sample>>,
}

impl Results {
    fn get(&self, w: &'static str, k: Kind) -> &[Sample] {
        self.samples
            .get(&(w, k.name()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn values(&self, w: &'static str, k: Kind) -> Vec<f64> {
        self.get(w, k).iter().map(|s| s.value).collect()
    }

    /// swill ÷ `base`, pair by pair (repetition i with repetition i).
    fn ratios(&self, w: &'static str, base: Kind) -> Vec<f64> {
        self.get(w, Kind::Swill)
            .iter()
            .zip(self.get(w, base))
            .map(|(s, b)| s.value / b.value)
            .collect()
    }
}

/// Runs the suite (or the smoke run) and prints (and writes) the table.
pub(crate) fn run(o: &Opts) -> Result<(), String> {
    let pin = has_taskset();
    if o.check {
        println!(
            "swill-bench --check: every workload briefly, every answer verified; the figures are not measurements"
        );
    }
    println!(
        "servers on {}, current_thread runtimes; {} repetition(s) of {} s per run",
        if pin {
            "CPU 0 and generators on CPU 1 (taskset)"
        } else {
            "no fixed CPU (taskset missing)"
        },
        o.reps,
        o.seconds
    );
    let mut all = workloads();
    if let Some(only) = &o.only {
        if let Some(bad) = only
            .iter()
            .find(|k| !all.iter().any(|w| w.key == k.as_str()))
        {
            return Err(format!("no workload {bad}"));
        }
        all.retain(|w| only.iter().any(|k| k == w.key));
    }
    let mut res = Results::default();
    let servers: Vec<(Kind, Server)> = ALL
        .iter()
        .map(|&k| start(k, pin).map(|s| (k, s)))
        .collect::<Result<_, _>>()?;
    for rep in 0..o.reps {
        for w in all
            .iter()
            .filter(|w| !matches!(w.mode, Mode::Idle | Mode::Fanout))
        {
            for (k, srv) in servers.iter().filter(|(k, _)| w.kinds.contains(k)) {
                let s = run_one(w, srv, *k, pin, o)?;
                eprintln!(
                    "  rep {} {:<18} {:<9} {:>12}  generator CPU {:.0} %, server CPU {:.0} %",
                    rep + 1,
                    w.key,
                    k.name(),
                    fmt_value(w.metric, s.value),
                    s.gen_cpu * 100.0,
                    s.srv_cpu * 100.0
                );
                res.samples.entry((w.key, k.name())).or_default().push(s);
            }
        }
    }
    drop(servers);
    for w in all.iter().filter(|w| w.mode == Mode::Fanout) {
        // Fresh servers: the fan-out's 1,000 connections do not linger in the other runs.
        let Some(setup) = Fanout::start(w.redis, pin, o.check)? else {
            println!(
                "skipped: {} (redis-server is not installed: apt-get install redis-server)",
                w.label
            );
            continue;
        };
        for rep in 0..o.reps {
            let s = run_with(w, &setup.servers[0], Kind::Swill, pin, o, &setup.more())?;
            eprintln!(
                "  rep {} {:<18} {:<9} {:>12}  per server CPU-second {}, server waited for a CPU {:.0} % of the run, generator CPU {:.0} %",
                rep + 1,
                w.key,
                "swill",
                fmt_value(w.metric, s.value),
                fmt_value(w.metric, s.cpu_rate),
                s.srv_wait * 100.0,
                s.gen_cpu * 100.0,
            );
            res.samples.entry((w.key, "swill")).or_default().push(s);
        }
    }
    for w in all.iter().filter(|w| w.mode == Mode::Idle) {
        for rep in 0..o.reps {
            for &k in w.kinds {
                // A fresh server each time: memory freed by earlier work would be reused
                // and hide what a new connection costs.
                let srv = start(k, pin)?;
                let s = run_one(w, &srv, k, pin, o)?;
                eprintln!(
                    "  rep {} {:<18} {:<9} {:>12}",
                    rep + 1,
                    w.key,
                    k.name(),
                    fmt_value(w.metric, s.value)
                );
                res.samples.entry((w.key, k.name())).or_default().push(s);
            }
        }
    }
    let mut md = table(&all, &res, o);
    if o.callgrind {
        match crate::callgrind::run(pin) {
            Ok(t) => md.push_str(&t),
            Err(e) => {
                let _ = writeln!(md, "\ncallgrind: not measured ({e})\n");
            }
        }
    }
    if o.allocs {
        md.push_str(&allocs(o.check)?);
    }
    println!("\n{md}");
    if let Some(path) = &o.write {
        write_section(path, &header(o, pin), &md)?;
        println!("written to {}", path.display());
    }
    Ok(())
}

/// The callgrind table alone (`swill-bench callgrind`).
pub(crate) fn callgrind_only() -> Result<(), String> {
    println!("{}", crate::callgrind::run(has_taskset())?);
    Ok(())
}

/// The allocation table alone (`swill-bench allocs`).
pub(crate) fn allocs_only() -> Result<(), String> {
    println!("{}", allocs(false)?);
    Ok(())
}

fn target_cell(w: &Workload, res: &Results) -> (String, String) {
    let ratio = stats(&res.ratios(w.key, Kind::Echo)).0;
    let own = stats(&res.values(w.key, Kind::Swill)).0;
    let yes = |b: bool| if b { "yes" } else { "**no**" }.to_owned();
    match w.target {
        Target::RatioAtLeast(t) => (format!("≥ {t}×"), yes(ratio >= t)),
        Target::RatioAtMost(t) => (format!("≤ {t}×"), yes(ratio <= t)),
        Target::AtLeast(t) => (format!("≥ {}", fmt_value(w.metric, t)), yes(own >= t)),
        Target::AtMost(t) => (format!("≤ {}", fmt_value(w.metric, t)), yes(own <= t)),
        Target::None => ("—".into(), "—".into()),
    }
}

fn table(all: &[Workload], res: &Results, o: &Opts) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| workload | batched axum echo | swill-rs (conformance app) | jsonrpsee 0.26 | swill ÷ echo, pairwise | swill ÷ jsonrpsee | target | met |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for w in all {
        let cell = |k: Kind| {
            if w.kinds.contains(&k) {
                fmt_stat(w.metric, &res.values(w.key, k))
            } else {
                "—".into()
            }
        };
        let (target, met) = target_cell(w, res);
        let vs_json = if w.kinds.contains(&Kind::Jsonrpsee) {
            fmt_ratio(&res.ratios(w.key, Kind::Jsonrpsee))
        } else {
            "—".into()
        };
        let vs_echo = if w.kinds.contains(&Kind::Echo) {
            fmt_ratio(&res.ratios(w.key, Kind::Echo))
        } else {
            "—".into()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            w.label,
            cell(Kind::Echo),
            cell(Kind::Swill),
            cell(Kind::Jsonrpsee),
            vs_echo,
            vs_json,
            target,
            met
        );
    }
    let _ = writeln!(
        s,
        "\nMedian (min–max) of {} interleaved repetition(s) of {} s each; ratios are computed per repetition (swill's run against the baseline's run next to it), then summarised. Latency is the median of the generator's hdrhistogram of that run.",
        o.reps, o.seconds
    );
    let _ = writeln!(
        s,
        "\nCPU share of one core during the measured window (median over repetitions; the generator's is the largest of its processes):\n"
    );
    let _ = writeln!(s, "| workload | server | server CPU | generator CPU |");
    let _ = writeln!(s, "|---|---|---|---|");
    for w in all.iter().filter(|w| w.mode != Mode::Idle) {
        for &k in w.kinds {
            let sm = res.get(w.key, k);
            let srv: Vec<f64> = sm.iter().map(|x| x.srv_cpu).collect();
            let gen: Vec<f64> = sm.iter().map(|x| x.gen_cpu).collect();
            let pct = |v: &[f64]| {
                let (m, _, hi) = stats(v);
                if m.is_finite() {
                    format!("{:.0} % (max {:.0} %)", m * 100.0, hi * 100.0)
                } else {
                    "—".into()
                }
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                w.label,
                k.name(),
                pct(&srv),
                pct(&gen)
            );
        }
    }
    let fan: Vec<&Workload> = all
        .iter()
        .filter(|w| w.mode == Mode::Fanout && !res.get(w.key, Kind::Swill).is_empty())
        .collect();
    if !fan.is_empty() {
        let _ = writeln!(
            s,
            "\nFan-out: deliveries are messages × subscribers, over the time from the first publish to the last delivery, every delivery checked (in order, byte for byte). Per server CPU-second divides them by the CPU time the server processes spent in that window (`/proc/PID/schedstat`; through Redis both instances and redis-server, all on CPU 0): what the core would sustain with nothing else on it. Waiting is the share of the run the server processes were runnable but not running (other work on their core).\n"
        );
        let _ = writeln!(
            s,
            "| workload | deliveries/s (wall) | deliveries per server CPU-second | server CPU per delivery | server waiting for a CPU | generator CPU |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for w in fan {
            let sm = res.get(w.key, Kind::Swill);
            let col = |f: fn(&Sample) -> f64| sm.iter().map(f).collect::<Vec<f64>>();
            let per_delivery: Vec<f64> = col(|x| 1e6 / x.cpu_rate);
            let pct = |v: &[f64]| {
                let (m, lo, hi) = stats(v);
                if !m.is_finite() {
                    "—".to_owned()
                } else if v.len() > 1 {
                    format!("{:.0} % ({:.0}–{:.0})", m * 100.0, lo * 100.0, hi * 100.0)
                } else {
                    format!("{:.0} %", m * 100.0)
                }
            };
            let (us, lo, hi) = stats(&per_delivery);
            let us = if per_delivery.len() > 1 {
                format!("{us:.2} µs ({lo:.2}–{hi:.2})")
            } else {
                format!("{us:.2} µs")
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {us} | {} | {} |",
                w.label,
                fmt_stat(w.metric, &col(|x| x.value)),
                fmt_stat(w.metric, &col(|x| x.cpu_rate)),
                pct(&col(|x| x.srv_wait)),
                pct(&col(|x| x.gen_cpu)),
            );
        }
    }
    s
}

/// Runs the `swill-allocs` binary next to this one (building it when run through cargo).
fn allocs(check: bool) -> Result<String, String> {
    let me = exe()?;
    let bin = me.with_file_name("swill-allocs");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").map_err(|_| {
            format!(
                "{} is missing: build it with `cargo build --release -p swill-bench --bins`",
                bin.display()
            )
        })?;
        let release = me
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "release");
        let mut c = Command::new(cargo);
        c.args([
            "build",
            "--quiet",
            "-p",
            "swill-bench",
            "--bin",
            "swill-allocs",
        ]);
        if release {
            c.arg("--release");
        }
        let st = c.status().map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("cannot build swill-allocs".into());
        }
    }
    let mut c = Command::new(&bin);
    c.arg("--load").arg(&me);
    if check {
        c.arg("--check");
    }
    let o = c
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !o.status.success() {
        return Err(format!("swill-allocs failed ({})", o.status));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn header(o: &Opts, pin: bool) -> String {
    let cpu = procfs::cpu_model().unwrap_or_else(|| "unknown CPU".into());
    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    let load = procfs::load_average().unwrap_or_default();
    format!(
        "Measured {} on {nproc} CPUs ({cpu}), {}{}; load average {load} at the end of the run.\nCommand: `{}`.\n\n",
        utc_now(),
        if pin {
            "servers pinned to CPU 0, generators to CPU 1"
        } else {
            "unpinned"
        },
        if o.nice != 0 {
            format!(", servers and generators at nice {}", o.nice)
        } else {
            String::new()
        },
        o.command
    )
}

/// Today's date and time in UTC, `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

/// Replaces the results section of `path` (between [`BEGIN`] and [`END`]), or appends one.
fn write_section(path: &Path, header: &str, body: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{BEGIN}\n{header}{body}{END}\n");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => {
            let after = old.get(e + END.len()..).unwrap_or_default();
            let after = after.strip_prefix('\n').unwrap_or(after);
            format!("{}{section}{after}", old.get(..b).unwrap_or_default())
        }
        _ if old.is_empty() => format!("# Benchmarks\n\n{section}"),
        _ => format!("{old}\n{section}"),
    };
    std::fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_in_the_unit_of_the_median() {
        assert_eq!(
            fmt_stat(Metric::Rate, &[329e3, 266e3, 1.08e6]),
            "329 k/s (266–1080)"
        );
        assert_eq!(
            fmt_stat(Metric::Rate, &[2.2e6, 3.9e6, 2.3e6]),
            "2.30 M/s (2.20–3.90)"
        );
    }

    #[test]
    fn median_and_range() {
        assert_eq!(stats(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }

    #[test]
    fn section_is_replaced_in_place() {
        let dir = std::env::temp_dir().join(format!("swill-bench-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("b.md");
        std::fs::write(&p, format!("intro\n{BEGIN}\nold\n{END}\noutro\n")).unwrap();
        write_section(&p, "h\n", "new\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("intro\n{BEGIN}\nh\nnew\n{END}\noutro\n")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
