//! Envelope codec micro-benchmarks: `cargo bench -p swill --bench codec`.
//!
//! What one unary call costs the codec: reading the request envelope `[seq, [1, 2], "add"]`
//! (borrowed slices, no copy) and writing the response `[seq, 3, 0, nil, nil]` into a reused
//! buffer. Times are for comparison between commits on one machine, never asserted; the
//! stable figures (instructions and allocations per call over a real socket) come from
//! `swill-bench callgrind` and `swill-bench allocs` (docs/benchmarks.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use swill::protocol::{decode_request, encode_response, ResponseType, Seq};

/// `[1, [1, 2], "add"]`.
const ADD_SMALL_SEQ: &[u8] = b"\x93\x01\x92\x01\x02\xa3add";
/// `[123456789, [1000, -2], "add"]`: a four-byte seq and wider integers.
const ADD_LARGE_SEQ: &[u8] = b"\x93\xce\x07\x5b\xcd\x15\x92\xcd\x03\xe8\xfe\xa3add";

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_request");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [
        ("add, seq 1", ADD_SMALL_SEQ),
        ("add, seq 123456789", ADD_LARGE_SEQ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let env = decode_request(black_box(frame));
                black_box(env.map(|e| e.seq))
            });
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_response");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(64);
    g.bench_function("result 3, no metadata", |b| {
        b.iter(|| {
            out.clear();
            encode_response(
                &mut out,
                black_box(Seq(123_456_789)),
                ResponseType::Message,
                black_box(b"\x03"),
                None,
                None,
            );
            black_box(out.len())
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    decode(&mut c);
    encode(&mut c);
    c.final_summary();
}
