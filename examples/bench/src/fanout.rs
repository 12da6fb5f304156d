//! The fan-out workload: one topic, S subscriber connections, one publisher, every delivery
//! verified.
//!
//! Each subscriber calls the conformance app's `subscribe("fanout")` and waits for the leading
//! METADATA frame `{"subscribed": "fanout"}` (from then on every publish reaches it). Then one
//! publisher connection calls `publish({"topic": "fanout", "message": [i, bin(24)]})` for
//! `i = 0..N` (about 32 bytes of message), pipelined, as fast as the server answers, but never
//! more than [`WINDOW`] messages ahead of the slowest subscriber: swill's subscriber queues
//! hold [`DEFAULT_QUEUE_CAPACITY`](swill::pubsub::DEFAULT_QUEUE_CAPACITY) messages and a
//! subscriber that overflows its queue is ended (the default lag policy), which a benchmark of
//! sustained delivery must not provoke. Every subscriber must receive every message, in order,
//! byte for byte; deliveries per second is `N × S` over the time from the first publish to the
//! last delivery.
//!
//! The subscribers read their frames with a minimal WebSocket reader (one socket read for many
//! frames, no allocation per frame; pings are answered), so that the generator, on its one
//! core, costs much less per delivery than the server; the publisher uses tokio-tungstenite.
//! With two URLs the subscribers alternate between them (two instances sharing topics through
//! Redis) and the publisher uses the first.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use swill::protocol::{decode_response, encode_request, RequestType, ResponseType, Seq};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

use crate::load::{connect, is_map_of, Args, CONNECT_CONCURRENCY, STALL_TIMEOUT};
use crate::procfs;
use crate::rawws::RawWs;

/// The topic every subscriber subscribes to.
pub(crate) const TOPIC: &str = "fanout";
/// How many messages the publisher may be ahead of the slowest subscriber: half of swill's
/// default subscriber queue (1,024), so that no subscriber can overflow its queue while the
/// publisher still never waits for a round trip.
pub(crate) const WINDOW: u64 = 512;
/// Publish calls in flight by default (`--depth`): the server answers each as soon as the
/// message is queued for every subscriber, so this is how many messages each wake-up of a
/// subscriber's connection can find waiting, and write with one socket write.
pub(crate) const DEFAULT_DEPTH: usize = 256;
/// Bytes of the `bin` after the sequence number: `[i, bin(24)]` is 28 to 32 bytes.
const FILLER: usize = 24;

/// What the subscribers and the publisher share.
struct Shared {
    subs: u32,
    /// How many subscribers received message `i`.
    received: Vec<AtomicU32>,
    /// Publish answers read so far.
    answered: AtomicU64,
    /// Wakes the publisher: a message reached every subscriber, or an answer came.
    wake: Notify,
    /// When the last message reached its last subscriber.
    last: Mutex<Option<Instant>>,
}

/// The message `i` as a subscriber must see it after its sequence number: what the server's
/// `Value` encodes the `bin` to.
fn tail() -> Vec<u8> {
    let mut t = vec![0xc4, FILLER as u8];
    t.extend((0..FILLER).map(|k| b'a' + (k % 26) as u8));
    t
}

/// `[seq, {"topic": "fanout", "message": [i, bin(24)]}, "publish"]`.
fn publish_request(seq: i64, i: u64, out: &mut Vec<u8>) {
    let mut data = Vec::with_capacity(64);
    let _ = rmp::encode::write_map_len(&mut data, 2);
    let _ = rmp::encode::write_str(&mut data, "topic");
    let _ = rmp::encode::write_str(&mut data, TOPIC);
    let _ = rmp::encode::write_str(&mut data, "message");
    let _ = rmp::encode::write_array_len(&mut data, 2);
    let _ = rmp::encode::write_uint(&mut data, i);
    data.extend_from_slice(&tail());
    out.clear();
    encode_request(out, Seq(seq), "publish", RequestType::Message, &data, None);
}

/// Connects one subscriber and waits until its subscription is confirmed.
async fn subscriber(url: String) -> Result<RawWs, String> {
    let mut ws = RawWs::connect(&url).await?;
    let mut topic = Vec::new();
    let _ = rmp::encode::write_str(&mut topic, TOPIC);
    let mut req = Vec::new();
    encode_request(
        &mut req,
        Seq(1),
        "subscribe",
        RequestType::Message,
        &topic,
        None,
    );
    ws.send_binary(&req).await?;
    ws.frames(|frame| {
        let env = decode_response(frame).map_err(|e| e.to_string())?;
        if env.seq.0 != 1
            || env.kind != ResponseType::Metadata
            || !is_map_of(env.leading, "subscribed", &topic)
        {
            return Err(format!("subscribe: expected the announcement, got {env:?}"));
        }
        Ok(false)
    })
    .await?;
    Ok(ws)
}

/// Reads the `messages` deliveries of one subscriber, checking each.
async fn receive(mut ws: RawWs, messages: u64, shared: Arc<Shared>) -> Result<u64, String> {
    let tail = tail();
    let mut next = 0u64;
    if messages == 0 {
        return Ok(0);
    }
    ws.frames(|frame| {
        let env = decode_response(frame).map_err(|e| e.to_string())?;
        if env.seq.0 != 1 || env.kind != ResponseType::Message || env.leading.is_some() {
            return Err(format!("message {next}: unexpected frame {env:?}"));
        }
        let mut d = env.data;
        let ok = rmp::decode::read_array_len(&mut d).is_ok_and(|n| n == 2)
            && rmp::decode::read_int::<u64, _>(&mut d).is_ok_and(|i| i == next)
            && d == tail.as_slice();
        if !ok {
            return Err(format!(
                "message {next}: wrong or out of order: {:02x?}",
                env.data
            ));
        }
        let idx = usize::try_from(next).map_err(|e| e.to_string())?;
        let got = shared.received[idx].fetch_add(1, Ordering::AcqRel) + 1;
        if got == shared.subs {
            if next + 1 == messages {
                if let Ok(mut l) = shared.last.lock() {
                    *l = Some(Instant::now());
                }
            }
            shared.wake.notify_one();
        }
        next += 1;
        Ok(next < messages)
    })
    .await?;
    Ok(next)
}

/// CPU ticks of each pid (0 when unreadable).
fn ticks(pids: &[u32]) -> Vec<u64> {
    pids.iter()
        .map(|p| procfs::cpu_ticks(&p.to_string()).unwrap_or(0))
        .collect()
}

/// Runs the workload and returns its `result ...` line.
pub(crate) async fn run(args: &Args, progress: &Arc<AtomicU64>) -> Result<String, String> {
    let messages = args
        .total
        .ok_or("fanout needs --total (messages to publish)")?;
    let subs = u32::try_from(args.conns).map_err(|_| "too many subscribers")?;
    let depth = (args.depth as u64).clamp(1, WINDOW);
    let mut urls = vec![args.url.clone()];
    urls.extend(args.url2.clone());
    let shared = Arc::new(Shared {
        subs,
        received: (0..messages).map(|_| AtomicU32::new(0)).collect(),
        answered: AtomicU64::new(0),
        wake: Notify::new(),
        last: Mutex::new(None),
    });
    let conns: Vec<Result<RawWs, String>> = futures::stream::iter(0..args.conns)
        .map(|i| subscriber(urls[i % urls.len()].clone()))
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let mut tasks = Vec::with_capacity(args.conns);
    for ws in conns {
        let (ws, sh) = (ws?, shared.clone());
        tasks.push(tokio::spawn(receive(ws, messages, sh)));
    }
    progress.fetch_add(1, Ordering::Relaxed);
    let ws = connect(&args.url, args.proto).await?;
    let (mut tx, mut rx) = ws.split();
    let sh = shared.clone();
    let p = progress.clone();
    let answers = tokio::spawn(async move {
        // Answers of different calls may come in any order (swill/1): each seq once.
        let mut seen = vec![false; messages as usize];
        for _ in 0..messages {
            let b = loop {
                match rx.next().await {
                    Some(Ok(Message::Binary(b))) => break b,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(m)) => return Err(format!("publish: unexpected message {m:?}")),
                    Some(Err(e)) => return Err(format!("publisher connection failed: {e}")),
                    None => return Err("the server closed the publisher's connection".into()),
                }
            };
            let env = decode_response(&b).map_err(|e| e.to_string())?;
            let slot = usize::try_from(env.seq.0 - 1)
                .ok()
                .and_then(|i| seen.get_mut(i))
                .filter(|s| !**s);
            match slot {
                Some(s) if env.kind == ResponseType::Message && env.data == [0xc3] => *s = true,
                _ => return Err(format!("publish: unexpected answer {env:?}")),
            }
            sh.answered.fetch_add(1, Ordering::AcqRel);
            sh.wake.notify_one();
            p.fetch_add(1, Ordering::Relaxed);
        }
        Ok::<(), String>(())
    });
    let mut pids = args.server_pids.clone();
    pids.extend(args.server_pid);
    pids.sort_unstable();
    pids.dedup();
    let cpu0 = (procfs::cpu_ticks("self").unwrap_or(0), ticks(&pids));
    let sched0: Vec<(u64, u64)> = pids
        .iter()
        .map(|p| procfs::sched_ns(*p).unwrap_or_default())
        .collect();
    let t0 = Instant::now();
    let mut frame = Vec::with_capacity(96);
    let mut unflushed = 0u64;
    for i in 0..messages {
        loop {
            let ahead = i - shared.answered.load(Ordering::Acquire) >= depth;
            let behind = i >= WINDOW
                && shared.received[(i - WINDOW) as usize].load(Ordering::Acquire) < subs;
            if !ahead && !behind {
                break;
            }
            if unflushed > 0 {
                tx.flush().await.map_err(|e| e.to_string())?;
                unflushed = 0;
            }
            let woken = shared.wake.notified();
            if tokio::time::timeout(STALL_TIMEOUT, woken).await.is_err() {
                // A subscriber that failed (an ERROR frame, a closed connection) says why.
                for t in tasks.iter_mut().filter(|t| t.is_finished()) {
                    if let Ok(Err(e)) = t.await {
                        return Err(format!("fanout: a subscriber failed: {e}"));
                    }
                }
                return Err(format!(
                    "fanout: message {i} cannot be published: no progress"
                ));
            }
        }
        publish_request(i as i64 + 1, i, &mut frame);
        tx.feed(Message::Binary(Bytes::copy_from_slice(&frame)))
            .await
            .map_err(|e| e.to_string())?;
        unflushed += 1;
        if unflushed >= 16 {
            tx.flush().await.map_err(|e| e.to_string())?;
            unflushed = 0;
        }
    }
    tx.flush().await.map_err(|e| e.to_string())?;
    let mut verified = 0u64;
    for t in tasks {
        verified += t.await.map_err(|e| format!("a subscriber failed: {e}"))??;
    }
    answers
        .await
        .map_err(|e| format!("the publisher failed: {e}"))??;
    let end = shared
        .last
        .lock()
        .ok()
        .and_then(|l| *l)
        .unwrap_or_else(Instant::now);
    let secs = end.duration_since(t0).as_secs_f64().max(1e-9);
    let cpu1 = (procfs::cpu_ticks("self").unwrap_or(0), ticks(&pids));
    let (mut run_ns, mut wait_ns) = (0u64, 0u64);
    for (p, (r0, w0)) in pids.iter().zip(&sched0) {
        let (r1, w1) = procfs::sched_ns(*p).unwrap_or_default();
        run_ns += r1.saturating_sub(*r0);
        wait_ns += w1.saturating_sub(*w0);
    }
    let wall = t0.elapsed().as_secs_f64();
    let share = |a: u64, b: u64| b.saturating_sub(a) as f64 / procfs::USER_HZ / wall;
    let gen_cpu = share(cpu0.0, cpu1.0);
    let srv_cpu: f64 = cpu0.1.iter().zip(&cpu1.1).map(|(a, b)| share(*a, *b)).sum();
    let _ = tx.close().await;
    let deliveries = messages * u64::from(subs);
    if verified != deliveries {
        return Err(format!(
            "fanout: {verified} of {deliveries} deliveries verified"
        ));
    }
    let cpu_rate = if run_ns > 0 {
        deliveries as f64 / (run_ns as f64 / 1e9)
    } else {
        f64::NAN
    };
    Ok(format!(
        "result mode=Fanout proto={} conns={subs} depth={depth} messages={messages} instances={} counted={deliveries} verified={verified} secs={secs:.3} rate={:.1} gen_cpu={gen_cpu:.3} srv_cpu={srv_cpu:.3} srv_run_s={:.3} srv_wait_s={:.3} wall_s={wall:.3} cpu_rate={cpu_rate:.1}",
        args.proto.name(),
        urls.len(),
        deliveries as f64 / secs,
        run_ns as f64 / 1e9,
        wait_ns as f64 / 1e9,
    ))
}
