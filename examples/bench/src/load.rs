//! The load generator: drives one server over real WebSockets and verifies every answer.
//!
//! An answer counts only after it is checked: its seq (or JSON-RPC id) must be a call in
//! flight that has not been answered yet, its value must be the expected one, and a stream's
//! frames must come in order (leading METADATA, items `0..n`, END_OF_STREAM with its trailing
//! metadata). Anything else stops the run with an error, so a wrong or missing answer fails
//! the command (and CI); timing never does.
//!
//! The generator runs on a current_thread runtime, one task per connection, and reads its own
//! CPU time (and the server's, given `--server-pid`) from `/proc/PID/stat` over the measured
//! window, so the report shows whether it could be the limit.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use swill::protocol::{
    decode_request, decode_response, encode_request, RequestType, ResponseType, Seq,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::procfs;
use crate::rawws::RawWs;
use crate::serve::{Kind, MAX_MESSAGE};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A run stops with an error when no answer arrives for this long (a stuck server).
pub(crate) const STALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Handshakes in flight at once while the idle workload opens its connections.
pub(crate) const CONNECT_CONCURRENCY: usize = 32;
/// Items per `count` call in the stream workload: long enough that the call's round trip is
/// negligible, short enough that every call, END_OF_STREAM included, is verified in a run.
pub(crate) const DEFAULT_STREAM_ITEMS: u64 = 1_000_000;
/// Connections opened (and kept) before the idle workload's first RSS reading, so that the
/// server's one-off allocations (first task, first buffers) are not charged to the figure.
const IDLE_WARM_CONNECTIONS: usize = 20;
/// Payload of the blob workload.
pub(crate) const BLOB_BYTES: usize = 1 << 20;

/// What a run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `conns` connections, each with `depth` pipelined `add` calls.
    Unary,
    /// `count` streams, one call at a time per connection.
    Stream,
    /// 1 MiB binary payloads echoed, `depth` in flight per connection.
    Blob,
    /// Server RSS per idle connection.
    Idle,
    /// One topic, `conns` subscribers, one publisher of `total` messages (`fanout.rs`).
    Fanout,
}

impl Mode {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "unary" => Some(Self::Unary),
            "stream" => Some(Self::Stream),
            "blob" => Some(Self::Blob),
            "idle" => Some(Self::Idle),
            "fanout" => Some(Self::Fanout),
            _ => None,
        }
    }
}

/// Options of one run (`swill-bench load ...`).
#[derive(Clone, Debug)]
pub(crate) struct Args {
    pub(crate) url: String,
    /// Fan-out: a second instance; the subscribers alternate between the two.
    pub(crate) url2: Option<String>,
    pub(crate) proto: Kind,
    pub(crate) mode: Mode,
    pub(crate) conns: usize,
    pub(crate) depth: usize,
    pub(crate) seconds: f64,
    pub(crate) warmup: f64,
    /// Fixed-work mode: this many calls (unary, blob) or items (stream) in all, every answer
    /// counted, no time window (for callgrind and allocation counts).
    pub(crate) total: Option<u64>,
    pub(crate) items: u64,
    pub(crate) idle: usize,
    pub(crate) server_pid: Option<u32>,
    /// Every `--server-pid` given after the first (fan-out sums their CPU time).
    pub(crate) server_pids: Vec<u32>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            url: String::new(),
            url2: None,
            proto: Kind::Swill,
            mode: Mode::Unary,
            conns: 1,
            depth: 1,
            seconds: 2.0,
            warmup: 0.3,
            total: None,
            items: DEFAULT_STREAM_ITEMS,
            idle: 1000,
            server_pid: None,
            server_pids: Vec::new(),
        }
    }
}

impl Args {
    /// Parses `--url U --proto P --mode M --conns C --depth D --seconds S --warmup W
    /// --total N --items N --idle N --server-pid PID`.
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let mut a = Self::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let v = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .as_str();
            let bad = || format!("bad value for {flag}: {v}");
            match flag.as_str() {
                "--url" => a.url = v.to_owned(),
                "--url2" => a.url2 = Some(v.to_owned()),
                "--proto" => a.proto = Kind::parse(v).ok_or_else(bad)?,
                "--mode" => a.mode = Mode::parse(v).ok_or_else(bad)?,
                "--conns" => a.conns = v.parse().map_err(|_| bad())?,
                "--depth" => a.depth = v.parse().map_err(|_| bad())?,
                "--seconds" => a.seconds = v.parse().map_err(|_| bad())?,
                "--warmup" => a.warmup = v.parse().map_err(|_| bad())?,
                "--total" => a.total = Some(v.parse().map_err(|_| bad())?),
                "--items" => a.items = v.parse().map_err(|_| bad())?,
                "--idle" => a.idle = v.parse().map_err(|_| bad())?,
                "--server-pid" => {
                    let pid = v.parse().map_err(|_| bad())?;
                    match a.server_pid {
                        None => a.server_pid = Some(pid),
                        Some(_) => a.server_pids.push(pid),
                    }
                }
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if a.url.is_empty() {
            return Err("--url is required".into());
        }
        if a.conns == 0 || a.depth == 0 || a.items == 0 {
            return Err("--conns, --depth and --items must be at least 1".into());
        }
        if matches!(a.mode, Mode::Stream | Mode::Fanout) && a.proto != Kind::Swill {
            return Err("the stream and fanout workloads need a swill server".into());
        }
        if a.mode == Mode::Blob && a.proto == Kind::Jsonrpsee {
            return Err("the blob workload needs a binary server (swill or echo)".into());
        }
        Ok(a)
    }
}

/// Runs one load on a fresh current_thread runtime and returns its `result ...` line.
pub(crate) fn run_blocking(args: &Args) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    rt.block_on(run(args))
}

/// Time window in which answers are counted, shared by the connections of a run.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    end: Instant,
    /// Fixed-work runs: per-connection quota of calls (or items), every answer counted.
    quota: Option<u64>,
}

impl Window {
    fn counts(&self, at: Instant) -> bool {
        self.quota.is_some() || (at >= self.start && at < self.end)
    }

    fn issuing(&self, at: Instant, issued: u64) -> bool {
        match self.quota {
            Some(q) => issued < q,
            None => at < self.end,
        }
    }
}

/// What one connection measured.
#[derive(Debug)]
struct ConnStats {
    counted: u64,
    verified: u64,
    payload_bytes: u64,
    hist: Histogram<u64>,
}

impl ConnStats {
    fn new() -> Result<Self, String> {
        Ok(Self {
            counted: 0,
            verified: 0,
            payload_bytes: 0,
            hist: new_hist()?,
        })
    }
}

fn new_hist() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())
}

async fn run(args: &Args) -> Result<String, String> {
    let progress = Arc::new(AtomicU64::new(0));
    let watchdog = tokio::spawn(watchdog(progress.clone()));
    let out = match args.mode {
        Mode::Idle => idle(args).await,
        Mode::Fanout => crate::fanout::run(args, &progress).await,
        _ => timed(args, &progress).await,
    };
    watchdog.abort();
    out
}

/// Ends the process when no answer arrived for [`STALL_TIMEOUT`]: a stuck server must not
/// hang the suite (or CI).
async fn watchdog(progress: Arc<AtomicU64>) {
    let mut last = progress.load(Ordering::Relaxed);
    let mut quiet = Duration::ZERO;
    let tick = Duration::from_millis(500);
    loop {
        tokio::time::sleep(tick).await;
        let now = progress.load(Ordering::Relaxed);
        if now == last {
            quiet += tick;
            if quiet >= STALL_TIMEOUT {
                eprintln!("load: no answer for {STALL_TIMEOUT:?}; the server is stuck");
                std::process::exit(3);
            }
        } else {
            quiet = Duration::ZERO;
            last = now;
        }
    }
}

/// A load connection: tokio-tungstenite, or the minimal reader for streams.
enum Conn {
    Ws(Box<Ws>),
    Raw(RawWs),
}

async fn timed(args: &Args, progress: &Arc<AtomicU64>) -> Result<String, String> {
    let mut conns = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        conns.push(match args.mode {
            Mode::Stream => Conn::Raw(RawWs::connect(&args.url).await?),
            _ => Conn::Ws(Box::new(connect(&args.url, args.proto).await?)),
        });
    }
    progress.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    let (start, end) = match args.total {
        Some(_) => (now, now),
        None => {
            let start = now + Duration::from_secs_f64(args.warmup);
            (start, start + Duration::from_secs_f64(args.seconds))
        }
    };
    let n = args.conns as u64;
    let mut tasks = Vec::with_capacity(args.conns);
    for (i, ws) in conns.into_iter().enumerate() {
        let quota = args.total.map(|t| t / n + u64::from((i as u64) < t % n));
        let w = Window { start, end, quota };
        let a = args.clone();
        let p = progress.clone();
        tasks.push(tokio::spawn(async move {
            match (a.mode, ws) {
                (_, Conn::Raw(ws)) => stream(ws, &a, w, &p).await,
                (Mode::Unary, Conn::Ws(ws)) => unary(*ws, &a, i as i64, w, &p).await,
                (_, Conn::Ws(ws)) => blob(*ws, &a, w, &p).await,
            }
        }));
    }
    // CPU times over the measured window only.
    let wait_until = |t: Instant| tokio::time::sleep_until(t.into());
    if args.total.is_none() {
        wait_until(start).await;
    }
    let cpu0 = procfs::Cpu::read(args.server_pid);
    let t0 = Instant::now();
    let cpu1 = if args.total.is_none() {
        wait_until(end).await;
        Some(procfs::Cpu::read(args.server_pid))
    } else {
        None
    };
    let mut total = ConnStats::new()?;
    for t in tasks {
        let s = t
            .await
            .map_err(|e| format!("a connection task failed: {e}"))??;
        total.counted += s.counted;
        total.verified += s.verified;
        total.payload_bytes += s.payload_bytes;
        total.hist.add(&s.hist).map_err(|e| e.to_string())?;
    }
    let (cpu1, secs) = match cpu1 {
        Some(c) => (c, args.seconds),
        None => (
            procfs::Cpu::read(args.server_pid),
            t0.elapsed().as_secs_f64(),
        ),
    };
    let (gen_cpu, srv_cpu) = cpu0.share(&cpu1, secs);
    let h = &total.hist;
    let us = |ns: u64| ns as f64 / 1000.0;
    let mut line = format!(
        "result mode={:?} proto={} conns={} depth={} counted={} verified={} secs={secs:.3} rate={:.1} mbps={:.1} p50_us={:.1} p99_us={:.1} max_us={:.1} gen_cpu={gen_cpu:.3}",
        args.mode,
        args.proto.name(),
        args.conns,
        args.depth,
        total.counted,
        total.verified,
        total.counted as f64 / secs,
        total.payload_bytes as f64 / secs / 1e6,
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.max()),
    );
    if let Some(s) = srv_cpu {
        line.push_str(&format!(" srv_cpu={s:.3}"));
    }
    Ok(line)
}

/// Connects with the swill subprotocol offered (not for jsonrpsee).
pub(crate) async fn connect(url: &str, proto: Kind) -> Result<Ws, String> {
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    if proto != Kind::Jsonrpsee {
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("swill.v1"),
        );
    }
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let fut = tokio_tungstenite::connect_async_with_config(req, Some(cfg), true);
    match tokio::time::timeout(STALL_TIMEOUT, fut).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(format!("cannot connect to {url}: {e}")),
        Err(_) => Err(format!("connecting to {url} timed out")),
    }
}

/// The request of unary call `seq`: `add(a, b)` in the server's protocol.
fn unary_request(proto: Kind, seq: i64, a: i64, b: i64, buf: &mut Vec<u8>) -> Message {
    buf.clear();
    match proto {
        Kind::Swill | Kind::Echo => {
            let mut data = [0u8; 20];
            let mut d = &mut data[..];
            let _ = rmp::encode::write_array_len(&mut d, 2);
            let _ = rmp::encode::write_sint(&mut d, a);
            let _ = rmp::encode::write_sint(&mut d, b);
            let left = d.len();
            let used = data.len() - left;
            encode_request(
                buf,
                Seq(seq),
                "add",
                RequestType::Message,
                &data[..used],
                None,
            );
            Message::Binary(Bytes::copy_from_slice(buf))
        }
        Kind::Jsonrpsee => Message::text(format!(
            r#"{{"jsonrpc":"2.0","id":{seq},"method":"add","params":[{a},{b}]}}"#
        )),
    }
}

#[derive(serde::Deserialize)]
struct JsonAnswer {
    id: i64,
    result: Option<i64>,
    error: Option<serde_json::Value>,
}

/// Reads one answer to a unary `add`: its seq and the sum it carries.
fn unary_answer(proto: Kind, msg: &Message) -> Result<(i64, i64), String> {
    match (proto, msg) {
        (Kind::Swill, Message::Binary(b)) => {
            let env = decode_response(b).map_err(|e| format!("bad response: {e}"))?;
            if env.kind != ResponseType::Message || env.leading.is_some() || env.trailing.is_some()
            {
                return Err(format!("unexpected response to add: {env:?}"));
            }
            Ok((env.seq.0, read_int(env.data)?))
        }
        (Kind::Echo, Message::Binary(b)) => {
            let env = decode_request(b).map_err(|e| format!("bad echo: {e}"))?;
            if env.rpc != "add" || env.kind != RequestType::Message {
                return Err(format!("the echo changed the frame: {env:?}"));
            }
            let mut d = env.data;
            let n = rmp::decode::read_array_len(&mut d).map_err(|e| e.to_string())?;
            let a: i64 = rmp::decode::read_int(&mut d).map_err(|e| e.to_string())?;
            let b: i64 = rmp::decode::read_int(&mut d).map_err(|e| e.to_string())?;
            if n != 2 || !d.is_empty() {
                return Err("the echo changed the data".into());
            }
            Ok((env.seq.0, a.wrapping_add(b)))
        }
        (Kind::Jsonrpsee, Message::Text(t)) => {
            let ans: JsonAnswer =
                serde_json::from_str(t.as_str()).map_err(|e| format!("bad JSON-RPC: {e}"))?;
            if let Some(e) = ans.error {
                return Err(format!("JSON-RPC error for id {}: {e}", ans.id));
            }
            let v = ans.result.ok_or("JSON-RPC answer without a result")?;
            Ok((ans.id, v))
        }
        _ => Err(format!("unexpected message: {msg:?}")),
    }
}

fn read_int(data: &[u8]) -> Result<i64, String> {
    let mut d = data;
    let v: i64 = rmp::decode::read_int(&mut d).map_err(|e| format!("not an integer: {e}"))?;
    if !d.is_empty() {
        return Err("trailing bytes after the integer".into());
    }
    Ok(v)
}

/// A call in flight, kept in seq order; answered calls leave from the front.
#[derive(Clone, Copy, Debug)]
struct Pending {
    seq: i64,
    expected: i64,
    sent: Instant,
    answered: bool,
}

/// The calls in flight of one connection, in seq order (seqs are consecutive). Answers may
/// come in any order (swill/1 does not order the answers of different calls); each seq is
/// accepted once.
#[derive(Debug, Default)]
struct InFlight {
    calls: VecDeque<Pending>,
}

impl InFlight {
    fn push(&mut self, p: Pending) {
        self.calls.push_back(p);
    }

    /// Marks `seq` answered with `value`; returns when it was sent.
    fn answer(&mut self, seq: i64, value: i64) -> Result<Instant, String> {
        let base = self.calls.front().map_or(0, |p| p.seq);
        let slot = usize::try_from(seq.wrapping_sub(base))
            .ok()
            .and_then(|i| self.calls.get_mut(i))
            .filter(|p| !p.answered && p.seq == seq)
            .ok_or_else(|| format!("answer for seq {seq}, which is not a call in flight"))?;
        if slot.expected != value {
            return Err(format!(
                "seq {seq}: wrong answer {value}, expected {}",
                slot.expected
            ));
        }
        slot.answered = true;
        let sent = slot.sent;
        while self.calls.front().is_some_and(|p| p.answered) {
            self.calls.pop_front();
        }
        Ok(sent)
    }

    fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

/// `depth` pipelined `add` calls on one connection. Writes are batched like the echo's:
/// every answer that is ready is read, each is replaced by a new call (`feed`), then one
/// `flush`.
async fn unary(
    mut ws: Ws,
    args: &Args,
    conn: i64,
    w: Window,
    progress: &AtomicU64,
) -> Result<ConnStats, String> {
    let mut stats = ConnStats::new()?;
    let mut inflight = InFlight::default();
    let mut buf = Vec::with_capacity(64);
    let mut seq: i64 = 1;
    let mut issued: u64 = 0;
    let b = conn * 1000 + 7;
    let now = Instant::now();
    for _ in 0..args.depth {
        if !w.issuing(now, issued) {
            break;
        }
        let msg = unary_request(args.proto, seq, seq, b, &mut buf);
        inflight.push(Pending {
            seq,
            expected: seq + b,
            sent: now,
            answered: false,
        });
        ws.feed(msg).await.map_err(|e| e.to_string())?;
        seq += 1;
        issued += 1;
    }
    ws.flush().await.map_err(|e| e.to_string())?;
    while !inflight.is_empty() {
        let mut next = Some(ws.next().await);
        while let Some(item) = next.take() {
            let msg = match item {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(format!("connection failed: {e}")),
                None => return Err("the server closed the connection".into()),
            };
            if matches!(msg, Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) {
                next = ws.next().now_or_never();
                continue;
            }
            let (s, v) = unary_answer(args.proto, &msg)?;
            let at = Instant::now();
            let sent = inflight.answer(s, v)?;
            stats.verified += 1;
            progress.fetch_add(1, Ordering::Relaxed);
            if w.counts(at) {
                stats.counted += 1;
                let ns = u64::try_from(at.duration_since(sent).as_nanos()).unwrap_or(u64::MAX);
                let _ = stats.hist.record(ns.max(1));
            }
            if w.issuing(at, issued) {
                let msg = unary_request(args.proto, seq, seq, b, &mut buf);
                inflight.push(Pending {
                    seq,
                    expected: seq + b,
                    sent: at,
                    answered: false,
                });
                ws.feed(msg).await.map_err(|e| e.to_string())?;
                seq += 1;
                issued += 1;
            }
            if inflight.is_empty() {
                break;
            }
            next = ws.next().now_or_never();
        }
        ws.flush().await.map_err(|e| e.to_string())?;
    }
    let _ = ws.close(None).await;
    Ok(stats)
}

/// Whether `md` is the map `{key: value}` (one entry).
pub(crate) fn is_map_of(md: Option<&[u8]>, key: &str, value: &[u8]) -> bool {
    let Some(mut d) = md else {
        return false;
    };
    let mut k = [0u8; 32];
    matches!(rmp::decode::read_map_len(&mut d), Ok(1))
        && rmp::decode::read_str(&mut d, &mut k).is_ok_and(|s| s == key)
        && d == value
}

/// `count` calls one after the other: `[seq, n, "count"]`, then the leading METADATA frame
/// `{"count": n}`, items `0..n` in order, END_OF_STREAM with trailing `{"done": true}`.
///
/// Read with the minimal reader ([`RawWs`]): at millions of items a second, tokio-tungstenite
/// would make the generator's core the limit.
async fn stream(
    mut ws: RawWs,
    args: &Args,
    w: Window,
    progress: &AtomicU64,
) -> Result<ConnStats, String> {
    let mut stats = ConnStats::new()?;
    let mut seq: i64 = 1;
    let mut buf = Vec::new();
    let mut done: u64 = 0;
    while w.issuing(Instant::now(), done) {
        let n = match w.quota {
            Some(q) => (q - done).min(args.items),
            None => args.items,
        };
        let mut data = Vec::new();
        let _ = rmp::encode::write_uint(&mut data, n);
        buf.clear();
        encode_request(
            &mut buf,
            Seq(seq),
            "count",
            RequestType::Message,
            &data,
            None,
        );
        ws.send_binary(&buf).await?;
        // Frames of this call seen so far: the leading METADATA, then the items.
        let mut seen: u64 = 0;
        ws.frames(|frame| {
            let env = decode_response(frame).map_err(|e| e.to_string())?;
            if env.seq.0 != seq {
                return Err(format!("count: a frame of another call: {env:?}"));
            }
            if seen == 0 {
                if env.kind != ResponseType::Metadata || !is_map_of(env.leading, "count", &data) {
                    return Err(format!(
                        "count: expected the leading METADATA frame, got {env:?}"
                    ));
                }
                seen = 1;
                return Ok(true);
            }
            let i = seen - 1;
            if i == n {
                if env.kind != ResponseType::EndOfStream
                    || env.leading.is_some()
                    || !is_map_of(env.trailing, "done", &[0xc3])
                {
                    return Err(format!(
                        "count: expected END_OF_STREAM {{done: true}}, got {env:?}"
                    ));
                }
                return Ok(false);
            }
            if env.kind != ResponseType::Message || env.leading.is_some() || env.trailing.is_some()
            {
                return Err(format!("count: item {i}: unexpected frame {env:?}"));
            }
            let v = read_int(env.data)?;
            if v != i as i64 {
                return Err(format!("count: item {i} out of order: got {v}"));
            }
            stats.verified += 1;
            if i.is_multiple_of(1024) {
                progress.fetch_add(1, Ordering::Relaxed);
            }
            if w.quota.is_some() || (i.is_multiple_of(64) && w.counts(Instant::now())) {
                // Counted in blocks of 64 items: reading the clock per item would cost the
                // generator more than decoding the item.
                stats.counted += if w.quota.is_some() { 1 } else { 64.min(n - i) };
            }
            seen += 1;
            Ok(true)
        })
        .await?;
        done += n;
        seq += 1;
    }
    Ok(stats)
}

/// The blob request `seq`: swill `echo` with a 1 MiB `bin` whose first 8 bytes are the seq.
fn blob_request(seq: i64, payload: &mut [u8]) -> Vec<u8> {
    if let Some(head) = payload.get_mut(..8) {
        head.copy_from_slice(&seq.to_le_bytes());
    }
    let mut data = Vec::with_capacity(payload.len() + 5);
    let _ = rmp::encode::write_bin(&mut data, payload);
    let mut frame = Vec::with_capacity(data.len() + 16);
    encode_request(
        &mut frame,
        Seq(seq),
        "echo",
        RequestType::Message,
        &data,
        None,
    );
    frame
}

/// `depth` 1 MiB echoes in flight. A writer task sends what the reader asks for, so that a
/// large write never keeps the connection from reading.
async fn blob(ws: Ws, args: &Args, w: Window, progress: &AtomicU64) -> Result<ConnStats, String> {
    let mut stats = ConnStats::new()?;
    let (mut tx, mut rx) = ws.split();
    let (want_tx, mut want_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = want_rx.recv().await {
            if tx.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        let _ = tx.close().await;
    });
    let mut payload: Vec<u8> = (0..BLOB_BYTES).map(|i| (i % 251) as u8).collect();
    // Expected answers by seq, in order: (seq, expected frame or data).
    let mut inflight: VecDeque<(i64, Vec<u8>, Instant)> = VecDeque::new();
    let mut seq: i64 = 1;
    let mut issued = 0u64;
    let send = |seq: i64, payload: &mut [u8], inflight: &mut VecDeque<(i64, Vec<u8>, Instant)>| {
        let frame = blob_request(seq, payload);
        let expected = frame.clone();
        inflight.push_back((seq, expected, Instant::now()));
        want_tx
            .send(frame)
            .map_err(|_| "the writer stopped".to_owned())
    };
    for _ in 0..args.depth {
        if !w.issuing(Instant::now(), issued) {
            break;
        }
        send(seq, &mut payload, &mut inflight)?;
        seq += 1;
        issued += 1;
    }
    while let Some((s, expected, sent)) = inflight.pop_front() {
        let msg = loop {
            match rx.next().await {
                Some(Ok(Message::Binary(b))) => break b,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(m)) => return Err(format!("unexpected message: {m:?}")),
                Some(Err(e)) => return Err(format!("connection failed: {e}")),
                None => return Err("the server closed the connection".into()),
            }
        };
        let ok = match args.proto {
            Kind::Echo => msg == expected,
            _ => {
                let req = decode_request(&expected).map_err(|e| e.to_string())?;
                let env = decode_response(&msg).map_err(|e| e.to_string())?;
                env.seq.0 == s
                    && env.kind == ResponseType::Message
                    && env.leading.is_none()
                    && env.trailing.is_none()
                    && env.data == req.data
            }
        };
        if !ok {
            return Err(format!("blob seq {s}: the answer is not the payload sent"));
        }
        let at = Instant::now();
        stats.verified += 1;
        progress.fetch_add(1, Ordering::Relaxed);
        if w.counts(at) {
            stats.counted += 1;
            stats.payload_bytes += BLOB_BYTES as u64;
            let ns = u64::try_from(at.duration_since(sent).as_nanos()).unwrap_or(u64::MAX);
            let _ = stats.hist.record(ns.max(1));
        }
        if w.issuing(at, issued) {
            send(seq, &mut payload, &mut inflight)?;
            seq += 1;
            issued += 1;
        }
    }
    drop(want_tx);
    let _ = writer.await;
    Ok(stats)
}

/// Server RSS per idle connection: warm connections first, RSS, `idle` more connections,
/// RSS again; then one verified call on every connection, so that each one really is open.
async fn idle(args: &Args) -> Result<String, String> {
    let pid = args
        .server_pid
        .ok_or("the idle workload needs --server-pid")?;
    let open = |n: usize| {
        futures::stream::iter(0..n)
            .map(|_| connect(&args.url, args.proto))
            .buffer_unordered(CONNECT_CONCURRENCY)
            .collect::<Vec<_>>()
    };
    let mut conns = Vec::with_capacity(args.idle + IDLE_WARM_CONNECTIONS);
    for c in open(IDLE_WARM_CONNECTIONS).await {
        conns.push(c?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = procfs::rss_bytes(pid).ok_or("cannot read the server's VmRSS from /proc")?;
    for c in open(args.idle).await {
        conns.push(c?);
    }
    // Let the server finish setting up the last connections.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = procfs::rss_bytes(pid).ok_or("cannot read the server's VmRSS from /proc")?;
    let mut buf = Vec::new();
    for (i, ws) in conns.iter_mut().enumerate() {
        let seq = 1;
        let b = i as i64;
        ws.send(unary_request(args.proto, seq, seq, b, &mut buf))
            .await
            .map_err(|e| e.to_string())?;
        let msg = loop {
            match tokio::time::timeout(STALL_TIMEOUT, ws.next()).await {
                Ok(Some(Ok(m @ (Message::Binary(_) | Message::Text(_))))) => break m,
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => return Err(format!("idle connection {i} failed: {e}")),
                Ok(None) => return Err(format!("idle connection {i} was closed")),
                Err(_) => return Err(format!("idle connection {i}: no answer")),
            }
        };
        let (s, v) = unary_answer(args.proto, &msg)?;
        if s != seq || v != seq + b {
            return Err(format!("idle connection {i}: wrong answer ({s}, {v})"));
        }
    }
    let per_conn = after.saturating_sub(before) as f64 / args.idle.max(1) as f64;
    Ok(format!(
        "result mode=Idle proto={} conns={} verified={} rss_before={before} rss_after={after} bytes_per_conn={per_conn:.0}",
        args.proto.name(),
        args.idle,
        conns.len()
    ))
}
