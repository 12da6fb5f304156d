//! The load: well-behaved clients making random calls of every shape (each answer checked,
//! unary latency recorded) beside churn workers that cancel streams, vanish mid-stream, stop
//! reading, and send hostile frames.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use swill::client::Client;
use swill::rmpv::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::server::MAX_MESSAGE;

/// Any single step of a worker gets this long before it counts as a failure.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the workers counted.
#[derive(Default)]
pub(crate) struct Tally {
    /// Calls of the well-behaved clients answered correctly.
    pub(crate) good_calls: AtomicU64,
    /// Wrong, missing or failed answers to well-behaved calls (must stay 0).
    pub(crate) unexpected: AtomicU64,
    /// Streams cancelled by dropping them.
    pub(crate) cancels: AtomicU64,
    /// Connections dropped mid-stream without a close.
    pub(crate) abrupt: AtomicU64,
    /// Connections that stopped reading a large stream.
    pub(crate) slow: AtomicU64,
    /// Hostile frames sent.
    pub(crate) hostile: AtomicU64,
    /// Hostile frames the server did not answer as documented (must stay 0).
    pub(crate) hostile_unanswered: AtomicU64,
    /// Unary round trips of the well-behaved clients, in microseconds.
    pub(crate) latencies: Mutex<Vec<u32>>,
    /// The first few unexpected failures, for the report.
    pub(crate) samples: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        self.sample(what);
    }

    fn unanswered(&self, what: &str) {
        self.hostile_unanswered.fetch_add(1, Ordering::Relaxed);
        self.sample(format!("hostile: {what}"));
    }

    fn sample(&self, what: String) {
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if s.len() < 5 {
            s.push(what);
        }
    }
}

/// A small xorshift generator: the mix is random but reproducible from the seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

async fn step<F: std::future::Future>(f: F) -> Option<F::Output> {
    tokio::time::timeout(STEP_TIMEOUT, f).await.ok()
}

/// A well-behaved client: one connection, random calls until `until`, every answer checked.
pub(crate) async fn good(url: String, seed: u64, until: Instant, tally: Arc<Tally>) {
    let mut rng = Rng::new(seed);
    let client = match step(Client::connect(url)).await {
        Some(Ok(c)) => c,
        other => return tally.fail(format!("connect: {other:?}")),
    };
    let mut lat = Vec::new();
    while Instant::now() < until {
        let ok = match rng.below(4) {
            0 => {
                let v = Value::from(rng.below(1 << 40));
                let t = Instant::now();
                let r = step(client.call::<Value>("echo", &v)).await;
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                matches!(r, Some(Ok(ref got)) if *got == v)
            }
            1 => {
                let n = rng.below(50) as u32;
                let got = match client.stream::<u32>("count", &n) {
                    Ok(s) => step(s.collect::<Vec<_>>()).await,
                    Err(_) => None,
                };
                got.is_some_and(|items| {
                    items.len() == n as usize
                        && items
                            .iter()
                            .enumerate()
                            .all(|(i, r)| matches!(r, Ok(x) if *x as usize == i))
                })
            }
            2 => {
                let k = rng.below(20) as i64;
                match client.client_stream::<i64, i64>("sum") {
                    Ok((mut tx, reply)) => {
                        let sent = (0..k).all(|i| tx.send(&i).is_ok()) && tx.end().is_ok();
                        let r = step(reply).await;
                        sent && matches!(r, Some(Ok(ref rep)) if rep.data == k * (k - 1) / 2)
                    }
                    Err(_) => false,
                }
            }
            _ => match client.bidi::<i64, i64>("double") {
                Ok((mut tx, mut rx)) => {
                    let mut ok = true;
                    for i in 0..rng.below(8) as i64 {
                        ok &= tx.send(&i).is_ok();
                        ok &= matches!(step(rx.next()).await, Some(Some(Ok(d))) if d == i * 2);
                    }
                    ok &= tx.end().is_ok();
                    ok && matches!(step(rx.next()).await, Some(None))
                }
                Err(_) => false,
            },
        };
        if ok {
            tally.good_calls.fetch_add(1, Ordering::Relaxed);
        } else {
            tally.fail("a well-behaved call got a wrong or no answer".to_owned());
        }
    }
    client.close();
    tally
        .latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(lat);
}

type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw(url: &str) -> Option<Raw> {
    let mut req = url.into_client_request().ok()?;
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("swill.v1"),
    );
    let (ws, _) = step(tokio_tungstenite::connect_async(req)).await?.ok()?;
    Some(ws)
}

/// A swill/1 CALL frame: `[seq, data, rpc]`.
fn call_frame(seq: u64, data: Value, rpc: &str) -> Vec<u8> {
    let v = Value::Array(vec![Value::from(seq), data, Value::from(rpc)]);
    let mut out = Vec::new();
    let _ = swill::rmpv::encode::write_value(&mut out, &v);
    out
}

/// A binary frame answering `seq` arrives (a reply or an ERROR, both begin with the seq).
/// Frames for other seqs are skipped: random junk can be a readable frame with a seq of its
/// own, which the server rightly answers too.
async fn answers(ws: &mut Raw, seq: u64) -> bool {
    while let Some(Some(Ok(msg))) = step(ws.next()).await {
        if let Message::Binary(b) = msg {
            let v = swill::rmpv::decode::read_value(&mut &b[..]);
            if matches!(v, Ok(Value::Array(ref a)) if a.first().and_then(Value::as_u64) == Some(seq))
            {
                return true;
            }
        }
    }
    false
}

/// A churn worker: cancels, abrupt disconnects, slow readers and hostile frames until `until`.
pub(crate) async fn churn(url: String, seed: u64, until: Instant, tally: Arc<Tally>) {
    let mut rng = Rng::new(seed);
    while Instant::now() < until {
        match rng.below(4) {
            0 => {
                // Cancel: read a few ticks of an endless stream, then drop it (CANCEL).
                if let Some(Ok(client)) = step(Client::connect(url.clone())).await {
                    if let Ok(mut s) = client.stream::<u64>("ticker", &()) {
                        for _ in 0..rng.below(5) {
                            let _ = step(s.next()).await;
                        }
                    }
                    tally.cancels.fetch_add(1, Ordering::Relaxed);
                    client.close();
                }
            }
            1 => {
                // Abrupt: open a long stream, read one frame, drop the TCP socket unclosed.
                if let Some(mut ws) = raw(&url).await {
                    let _ = ws
                        .send(Message::binary(call_frame(
                            1,
                            Value::from(1_000_000),
                            "count",
                        )))
                        .await;
                    let _ = step(ws.next()).await;
                    drop(ws);
                    tally.abrupt.fetch_add(1, Ordering::Relaxed);
                }
            }
            2 => {
                // Slow reader: ask for a large stream and stop reading for a while.
                if let Some(mut ws) = raw(&url).await {
                    let _ = ws
                        .send(Message::binary(call_frame(
                            1,
                            Value::from(200_000),
                            "count",
                        )))
                        .await;
                    tokio::time::sleep(Duration::from_millis(100 + rng.below(300))).await;
                    for _ in 0..rng.below(10) {
                        let _ = step(ws.next()).await;
                    }
                    drop(ws);
                    tally.slow.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => hostile(&url, &mut rng, &tally).await,
        }
    }
}

/// One hostile frame, then a check that the server answered as documented: an ERROR for
/// what has a readable seq, the connection still serving after garbage, a 1009 close for an
/// oversized message.
async fn hostile(url: &str, rng: &mut Rng, tally: &Tally) {
    let Some(mut ws) = raw(url).await else {
        return;
    };
    tally.hostile.fetch_add(1, Ordering::Relaxed);
    let kind = rng.below(5);
    let still_serving = match kind {
        0 => {
            let junk: Vec<u8> = (0..1 + rng.below(64))
                .map(|_| rng.below(256) as u8)
                .collect();
            let _ = ws.send(Message::binary(junk)).await;
            true
        }
        1 => {
            let _ = ws
                .send(Message::binary(call_frame(7, Value::Nil, "no.such.rpc")))
                .await;
            answers(&mut ws, 7).await
        }
        2 => {
            let _ = ws
                .send(Message::binary(call_frame(
                    8,
                    Value::from("not a number"),
                    "count",
                )))
                .await;
            answers(&mut ws, 8).await
        }
        3 => {
            let _ = ws.send(Message::text("text frames are not swill/1")).await;
            true
        }
        _ => {
            let _ = ws.send(Message::binary(vec![0u8; MAX_MESSAGE + 1])).await;
            let closed = loop {
                match step(ws.next()).await {
                    Some(Some(Ok(Message::Close(Some(f))))) => break u16::from(f.code) == 1009,
                    Some(Some(Ok(_))) => continue,
                    // A reset instead of the close frame: the close did not arrive.
                    _ => break false,
                }
            };
            if !closed {
                tally.unanswered("an oversized message got no 1009 close");
            }
            return;
        }
    };
    // After anything but the oversized message, the connection still answers a valid call.
    let alive = still_serving && {
        let _ = ws
            .send(Message::binary(call_frame(9, Value::from(1), "echo")))
            .await;
        answers(&mut ws, 9).await
    };
    if !alive {
        let what = ["garbage", "unknown rpc", "wrong type", "text frame"];
        tally.unanswered(&format!(
            "no answer after {}",
            what.get(kind as usize).unwrap_or(&"?")
        ));
    }
    let _ = ws.close(None).await;
}
