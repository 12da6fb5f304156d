//! Sans-IO engine micro-benchmark: `cargo bench -p swill --bench engine`.
//!
//! One unary call through [`ServerConn`] as the server driver makes it: `handle_message` of
//! `[seq, [1, 2], "add"]`, `poll_event` (the call opens), `send_message` writing the result
//! in place, `poll_transmit` taking the response frame. The connection is reused, so this
//! is the steady-state cost per call without sockets, tasks or handlers. Times are for
//! comparison between commits on one machine, never asserted.

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use swill::protocol::{Event, Limits, ServerConn, Shape};

/// `[1, [1, 2], "add"]`.
const ADD: &[u8] = b"\x93\x01\x92\x01\x02\xa3add";

fn router(rpc: &str) -> Option<(u32, Shape)> {
    (rpc == "add").then_some((0, Shape::UNARY))
}

fn unary_call(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    let mut conn = ServerConn::new(Limits::default());
    let frame = Bytes::from_static(ADD);
    g.bench_function(
        "unary call: handle, poll_event, send_message, poll_transmit",
        |b| {
            b.iter(|| {
                if conn
                    .handle_message(black_box(frame.clone()), &router)
                    .is_err()
                {
                    return 0;
                }
                let Some(Event::Open { seq, payload, .. }) = conn.poll_event() else {
                    return 0;
                };
                black_box(payload);
                let sent = conn.send_message(seq, |out| {
                    out.push(0x03);
                    Ok::<_, Infallible>(())
                });
                black_box(sent.is_ok());
                conn.poll_transmit().map_or(0, |f| black_box(f.len()))
            });
        },
    );
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    unary_call(&mut c);
    c.final_summary();
}
