//! Property tests: nothing panics on any input, encodings round-trip, a model of the
//! server's call table agrees with the engine under arbitrary frames and commands, and both
//! engines keep the call-lifecycle invariants of `invariants.rs` (every open call ends exactly
//! once, nothing is sent after a terminal frame) under random event sequences.

use std::collections::HashMap;

use ::proptest::prelude::*;
use ::proptest::test_runner::FileFailurePersistence;
use bytes::Bytes;

use super::invariants::{ClientCheck, Response, ServerCheck, ServerCommand};
use super::*;
use crate::protocol::{Event, ServerConn};

/// One MessagePack value's bytes, nested a little.
fn value() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(vec![0xc0]),
        any::<i64>().prop_map(|v| {
            let mut out = Vec::new();
            rmp::encode::write_sint(&mut out, v).unwrap();
            out
        }),
        any::<u64>().prop_map(|v| {
            let mut out = Vec::new();
            rmp::encode::write_uint(&mut out, v).unwrap();
            out
        }),
        ".{0,40}".prop_map(|s| {
            let mut out = Vec::new();
            rmp::encode::write_str(&mut out, &s).unwrap();
            out
        }),
        ::proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| {
            let mut out = Vec::new();
            rmp::encode::write_bin(&mut out, &b).unwrap();
            out
        }),
        any::<f64>().prop_map(|f| {
            let mut out = Vec::new();
            rmp::encode::write_f64(&mut out, f).unwrap();
            out
        }),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            ::proptest::collection::vec(inner.clone(), 0..8).prop_map(|items| {
                let mut out = Vec::new();
                rmp::encode::write_array_len(&mut out, items.len() as u32).unwrap();
                items.iter().for_each(|i| out.extend_from_slice(i));
                out
            }),
            ::proptest::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| metadata_map(&kv)),
        ]
    })
}

fn metadata_map(kv: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_map_len(&mut out, kv.len() as u32).unwrap();
    for (k, v) in kv {
        rmp::encode::write_str(&mut out, k).unwrap();
        out.extend_from_slice(v);
    }
    out
}

fn metadata() -> impl Strategy<Value = Option<Vec<u8>>> {
    ::proptest::option::of(
        ::proptest::collection::vec((any::<String>(), value()), 0..4)
            .prop_map(|kv| metadata_map(&kv)),
    )
}

fn request_type() -> impl Strategy<Value = RequestType> {
    (0i128..4).prop_map(|c| RequestType::from_code(c).unwrap())
}

fn response_type() -> impl Strategy<Value = ResponseType> {
    (0i128..4).prop_map(|c| ResponseType::from_code(c).unwrap())
}

/// Valid requests, then mangled: truncated, a byte changed, or bytes appended.
fn mangled_request() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<i64>(),
        "[a-z]{0,8}",
        request_type(),
        value(),
        metadata(),
        any::<usize>(),
        any::<u8>(),
        0u8..4,
    )
        .prop_map(|(seq, rpc, kind, data, md, at, byte, how)| {
            let mut out = Vec::new();
            encode_request(&mut out, Seq(seq), &rpc, kind, &data, md.as_deref());
            let at = at % (out.len() + 1);
            match how {
                0 => out.truncate(at),
                1 if at < out.len() => out[at] = byte,
                2 => out.insert(at, byte),
                _ => {}
            }
            out
        })
}

proptest! {
    // Failures are kept beside this file (proptest.regressions), inside the protocol module.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn decoders_never_panic(bytes in ::proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_request(&bytes);
        let _ = decode_response(&bytes);
        let _ = decode_error_data_lenient(&bytes);
        if let Ok(n) = skip_value(&bytes) {
            prop_assert!(n <= bytes.len() && n > 0);
        }
    }

    #[test]
    fn mangled_requests_never_panic_and_decoded_ones_reencode(bytes in mangled_request()) {
        if let Ok(env) = decode_request(&bytes) {
            let mut out = Vec::new();
            encode_request(&mut out, env.seq, env.rpc, env.kind, env.data, env.metadata);
            let again = decode_request(&out).unwrap();
            prop_assert_eq!((again.seq, again.rpc, again.kind, again.data, again.metadata),
                (env.seq, env.rpc, env.kind, env.data, env.metadata));
        }
        let mut c = ServerConn::new(Limits::default());
        prop_assert_eq!(c.handle_message(Bytes::from(bytes), &router), Ok(()));
    }

    #[test]
    fn requests_round_trip(seq in any::<i64>(), rpc in any::<String>(), kind in request_type(),
                           data in value(), md in metadata()) {
        let mut out = Vec::new();
        encode_request(&mut out, Seq(seq), &rpc, kind, &data, md.as_deref());
        let env = decode_request(&out).unwrap();
        prop_assert_eq!(env.seq, Seq(seq));
        prop_assert_eq!(env.rpc, rpc.as_str());
        prop_assert_eq!(env.kind, kind);
        prop_assert_eq!(env.data, &data[..]);
        prop_assert_eq!(env.metadata, md.as_deref());
    }

    #[test]
    fn responses_round_trip(seq in any::<i64>(), kind in response_type(), data in value(),
                            lead in metadata(), trail in metadata()) {
        let mut out = Vec::new();
        encode_response(&mut out, Seq(seq), kind, &data, lead.as_deref(), trail.as_deref());
        let env = decode_response(&out).unwrap();
        prop_assert_eq!((env.seq, env.kind, env.data), (Seq(seq), kind, &data[..]));
        prop_assert_eq!((env.leading, env.trailing), (lead.as_deref(), trail.as_deref()));
        prop_assert_eq!(env.array_len, 5);
    }

    #[test]
    fn error_maps_round_trip(code in any::<i64>(), message in any::<String>(), data in ::proptest::option::of(value())) {
        let mut out = Vec::new();
        encode_error_data(&mut out, code, &message, data.as_deref());
        let e = decode_error_data(&out).unwrap();
        prop_assert_eq!((e.code, e.message, e.data), (code, message.as_str(), data.as_deref()));
    }

    #[test]
    fn server_agrees_with_a_model_of_its_calls(ops in ::proptest::collection::vec(op(), 1..60)) {
        run_model(&ops)?;
    }
}

proptest! {
    // Long sequences of small frames: fewer cases keep the suite fast; the fuzz targets
    // (swill-rs/fuzz) run the same checks for hours.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn server_calls_end_once_and_nothing_follows_their_end(
        limits in limits(),
        steps in ::proptest::collection::vec(server_step(), 1..64),
    ) {
        run_server_invariants(limits, &steps)?;
    }

    #[test]
    fn client_calls_end_once_and_nothing_follows_their_end(
        steps in ::proptest::collection::vec(client_step(), 1..64),
    ) {
        run_client_invariants(&steps)?;
    }
}

const RPCS: [&str; 5] = ["unary", "server", "client", "bidi", "nope"];

#[derive(Debug, Clone)]
enum Op {
    Feed {
        seq: i64,
        rpc: usize,
        kind: RequestType,
        md: bool,
    },
    Raw(Vec<u8>),
    Message(i64),
    BadMessage(i64),
    End(i64),
    Error(i64),
    Metadata(i64),
    Leading(i64),
    Trailing(i64),
    Forget(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let seq = 0i64..4;
    prop_oneof![
        4 => (seq.clone(), 0..RPCS.len(), request_type(), any::<bool>())
            .prop_map(|(seq, rpc, kind, md)| Op::Feed { seq, rpc, kind, md }),
        1 => mangled_request().prop_map(Op::Raw),
        2 => seq.clone().prop_map(Op::Message),
        1 => seq.clone().prop_map(Op::BadMessage),
        1 => seq.clone().prop_map(Op::End),
        1 => seq.clone().prop_map(Op::Error),
        1 => seq.clone().prop_map(Op::Metadata),
        1 => seq.clone().prop_map(Op::Leading),
        1 => seq.clone().prop_map(Op::Trailing),
        1 => seq.prop_map(Op::Forget),
    ]
}

#[derive(Debug)]
struct ModelCall {
    shape: Shape,
    leading_sent: bool,
}

fn run_model(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut c = ServerConn::new(Limits::default().max_concurrent_calls(3).max_half_closed(2));
    let mut model: HashMap<Seq, ModelCall> = HashMap::new();
    for op in ops {
        let before = c.pending_transmit_bytes();
        let mut expect_frame = false;
        match op {
            Op::Feed { seq, rpc, kind, md } => {
                let md = md.then_some(EMPTY_MAP);
                c.handle_message(req(*seq, RPCS[*rpc], *kind, b"\x01", md), &router)
                    .unwrap();
            }
            Op::Raw(bytes) => c
                .handle_message(Bytes::from(bytes.clone()), &router)
                .unwrap(),
            Op::Message(seq) => {
                let r = c.send_message(Seq(*seq), ok_write(b"\x07"));
                match model.get_mut(&Seq(*seq)) {
                    None => prop_assert_eq!(r, Err(SendError::NotOpen)),
                    Some(call) => {
                        prop_assert_eq!(r, Ok(()));
                        call.leading_sent = true;
                        expect_frame = true;
                        if !call.shape.response_streams {
                            model.remove(&Seq(*seq));
                        }
                    }
                }
            }
            Op::BadMessage(seq) => {
                let r = c.send_message(Seq(*seq), |out| {
                    out.push(0x92);
                    Err(())
                });
                let want = if model.contains_key(&Seq(*seq)) {
                    SendError::Encode(())
                } else {
                    SendError::NotOpen
                };
                prop_assert_eq!(r, Err(want));
            }
            Op::End(seq) => {
                let r = c.send_end(Seq(*seq));
                match model.get(&Seq(*seq)) {
                    None => prop_assert_eq!(r, Err(SendError::NotOpen)),
                    Some(call) if !call.shape.response_streams => {
                        prop_assert_eq!(r, Err(SendError::NotStreaming))
                    }
                    Some(_) => {
                        prop_assert_eq!(r, Ok(()));
                        expect_frame = true;
                        model.remove(&Seq(*seq));
                    }
                }
            }
            Op::Error(seq) => {
                let r = c.send_error(Seq(*seq), 500, "boom", None);
                let open = model.remove(&Seq(*seq)).is_some();
                prop_assert_eq!(
                    r,
                    if open {
                        Ok(())
                    } else {
                        Err(SendError::NotOpen)
                    }
                );
                expect_frame = open;
            }
            Op::Metadata(seq) => {
                let r = c.send_metadata(Seq(*seq));
                match model.get_mut(&Seq(*seq)) {
                    None => prop_assert_eq!(r, Err(SendError::NotOpen)),
                    Some(call) => {
                        prop_assert_eq!(r, Ok(()));
                        expect_frame = !call.leading_sent;
                        call.leading_sent = true;
                    }
                }
            }
            Op::Leading(seq) => {
                let r = c.set_leading(Seq(*seq), Bytes::from_static(EMPTY_MAP));
                let want = match model.get(&Seq(*seq)) {
                    None => Err(SendError::NotOpen),
                    Some(call) if call.leading_sent => Err(SendError::LeadingAlreadySent),
                    Some(_) => Ok(()),
                };
                prop_assert_eq!(r, want);
            }
            Op::Trailing(seq) => {
                let r = c.set_trailing(Seq(*seq), Bytes::from_static(EMPTY_MAP));
                let want = if model.contains_key(&Seq(*seq)) {
                    Ok(())
                } else {
                    Err(SendError::NotOpen)
                };
                prop_assert_eq!(r, want);
            }
            Op::Forget(seq) => {
                c.forget(Seq(*seq));
                model.remove(&Seq(*seq));
            }
        }
        if !matches!(op, Op::Feed { .. } | Op::Raw(_)) {
            // A command queues exactly one frame when it succeeds with output, else nothing.
            prop_assert_eq!(
                c.pending_transmit_bytes() > before,
                expect_frame,
                "{:?}",
                op
            );
        }
        while let Some(ev) = c.poll_event() {
            match ev {
                Event::Open { seq, shape, .. } => {
                    let fresh = ModelCall {
                        shape,
                        leading_sent: false,
                    };
                    prop_assert!(model.insert(seq, fresh).is_none(), "{:?} opened twice", seq);
                }
                Event::Cancelled { seq, .. } => prop_assert!(model.remove(&seq).is_some()),
                Event::Message { seq, .. } | Event::EndOfStream { seq } => {
                    prop_assert!(model[&seq].shape.request_streams);
                }
            }
        }
        while let Some(frame) = c.poll_transmit() {
            prop_assert!(decode_response(&frame).is_ok());
        }
        prop_assert!(model.len() <= 3);
        prop_assert_eq!(c.open_calls(), model.len());
        for seq in 0..4 {
            prop_assert_eq!(c.is_open(Seq(seq)), model.contains_key(&Seq(seq)));
        }
    }
    Ok(())
}

/// A small MessagePack value: the lifecycle tests need many frames, not deep ones.
fn small_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![0xc0]),
        any::<i64>().prop_map(|v| {
            let mut out = Vec::new();
            rmp::encode::write_sint(&mut out, v).unwrap();
            out
        }),
        "[a-z]{0,4}".prop_map(|s| {
            let mut out = Vec::new();
            rmp::encode::write_str(&mut out, &s).unwrap();
            out
        }),
        ::proptest::collection::vec(any::<i8>(), 0..4).prop_map(|items| {
            let mut out = Vec::new();
            rmp::encode::write_array_len(&mut out, items.len() as u32).unwrap();
            for i in items {
                rmp::encode::write_sint(&mut out, i64::from(i)).unwrap();
            }
            out
        }),
    ]
}

/// `None`, `{}` or a one-entry metadata map.
fn small_metadata() -> impl Strategy<Value = Option<Vec<u8>>> {
    ::proptest::option::of(prop_oneof![
        Just(EMPTY_MAP.to_vec()),
        ("[a-z]{1,3}", small_value()).prop_map(|(k, v)| metadata_map(&[(k, v)])),
    ])
}

/// Small limits, so that 429, half-closed eviction and the invalid-frame close all happen.
fn limits() -> impl Strategy<Value = Limits> {
    (0usize..4, 0usize..3, ::proptest::option::of(0u32..4)).prop_map(|(calls, half, invalid)| {
        Limits::default()
            .max_concurrent_calls(calls)
            .max_half_closed(half)
            .max_invalid_frames(invalid)
    })
}

/// A step of the server invariant test: the model test's operations and a few more.
#[derive(Debug, Clone)]
enum ServerStep {
    Op(Op),
    /// `send_message` with any value, or with bytes that are not one value.
    MessageBytes(i64, Vec<u8>),
    /// `set_leading` / `set_trailing` with bytes that may not be a metadata map.
    LeadingBytes(i64, Vec<u8>),
    TrailingBytes(i64, Vec<u8>),
    Close,
}

fn server_step() -> impl Strategy<Value = ServerStep> {
    let seq = 0i64..4;
    let any_bytes = prop_oneof![
        small_value(),
        small_metadata().prop_map(|m| m.unwrap_or_default()),
        ::proptest::collection::vec(any::<u8>(), 0..6),
    ];
    prop_oneof![
        20 => op().prop_map(ServerStep::Op),
        2 => (seq.clone(), any_bytes.clone()).prop_map(|(s, b)| ServerStep::MessageBytes(s, b)),
        1 => (seq.clone(), any_bytes.clone()).prop_map(|(s, b)| ServerStep::LeadingBytes(s, b)),
        1 => (seq, any_bytes).prop_map(|(s, b)| ServerStep::TrailingBytes(s, b)),
        1 => Just(ServerStep::Close),
    ]
}

fn run_server_invariants(limits: Limits, steps: &[ServerStep]) -> Result<(), TestCaseError> {
    let mut c = ServerCheck::new(limits, router);
    for step in steps {
        let checked = match step {
            ServerStep::Op(op) => match *op {
                Op::Feed { seq, rpc, kind, md } => {
                    c.feed(req(seq, RPCS[rpc], kind, b"\x01", md.then_some(EMPTY_MAP)))
                }
                Op::Raw(ref bytes) => c.feed(Bytes::from(bytes.clone())),
                Op::Message(s) => c.command(ServerCommand::Message(Seq(s), b"\x07")),
                Op::BadMessage(s) => c.command(ServerCommand::FailedMessage(Seq(s))),
                Op::End(s) => c.command(ServerCommand::End(Seq(s))),
                Op::Error(s) => c.command(ServerCommand::Error(Seq(s), 500)),
                Op::Metadata(s) => c.command(ServerCommand::Metadata(Seq(s))),
                Op::Leading(s) => c.command(ServerCommand::Leading(Seq(s), b"\x81\xa1k\x01")),
                Op::Trailing(s) => c.command(ServerCommand::Trailing(Seq(s), EMPTY_MAP)),
                Op::Forget(s) => c.command(ServerCommand::Forget(Seq(s))),
            },
            ServerStep::MessageBytes(s, b) => c.command(ServerCommand::Message(Seq(*s), b)),
            ServerStep::LeadingBytes(s, b) => c.command(ServerCommand::Leading(Seq(*s), b)),
            ServerStep::TrailingBytes(s, b) => c.command(ServerCommand::Trailing(Seq(*s), b)),
            ServerStep::Close => c.close(),
        };
        checked.map_err(|why| TestCaseError::fail(format!("{step:?}: {why}")))?;
        if c.is_closed() {
            return Ok(());
        }
    }
    c.close().map_err(TestCaseError::fail)
}

const SHAPES: [Shape; 4] = [
    Shape::UNARY,
    Shape::SERVER_STREAMING,
    Shape::CLIENT_STREAMING,
    Shape::BIDI,
];

/// A step of the client invariant test; `pick` chooses among the seqs handed out so far.
#[derive(Debug, Clone)]
enum ClientStep {
    Open {
        rpc: usize,
        shape: usize,
        data: Option<Vec<u8>>,
        md: Option<Vec<u8>>,
    },
    Item(usize, Vec<u8>),
    End(usize),
    Cancel(usize),
    Respond {
        pick: usize,
        kind: ResponseType,
        data: Vec<u8>,
        leading: Option<Vec<u8>>,
        trailing: Option<Vec<u8>>,
    },
    Raw(Vec<u8>),
    Close,
}

/// An error map with a code and a message, or a value of any other kind.
fn error_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (any::<i64>(), "[a-z ]{0,8}").prop_map(|(code, message)| {
            let mut out = Vec::new();
            encode_error_data(&mut out, code, &message, None);
            out
        }),
        small_value(),
    ]
}

/// Valid responses, then mangled as [`mangled_request`] does.
fn mangled_response() -> impl Strategy<Value = Vec<u8>> {
    (
        0i64..6,
        response_type(),
        error_data(),
        small_metadata(),
        any::<usize>(),
        any::<u8>(),
        0u8..4,
    )
        .prop_map(|(seq, kind, data, md, at, byte, how)| {
            let mut out = Vec::new();
            encode_response(&mut out, Seq(seq), kind, &data, md.as_deref(), None);
            let at = at % (out.len() + 1);
            match how {
                0 => out.truncate(at),
                1 if at < out.len() => out[at] = byte,
                2 => out.insert(at, byte),
                _ => {}
            }
            out
        })
}

fn client_step() -> impl Strategy<Value = ClientStep> {
    let pick = any::<usize>();
    prop_oneof![
        3 => (0..RPCS.len(), 0..SHAPES.len(), ::proptest::option::of(small_value()), small_metadata())
            .prop_map(|(rpc, shape, data, md)| ClientStep::Open { rpc, shape, data, md }),
        2 => (pick, small_value()).prop_map(|(p, d)| ClientStep::Item(p, d)),
        1 => pick.prop_map(ClientStep::End),
        1 => pick.prop_map(ClientStep::Cancel),
        4 => (pick, response_type(), error_data(), small_metadata(), small_metadata()).prop_map(
            |(pick, kind, data, leading, trailing)| ClientStep::Respond {
                pick,
                kind,
                data,
                leading,
                trailing,
            }
        ),
        1 => mangled_response().prop_map(ClientStep::Raw),
        1 => Just(ClientStep::Close),
    ]
}

fn run_client_invariants(steps: &[ClientStep]) -> Result<(), TestCaseError> {
    let mut c = ClientCheck::new();
    for step in steps {
        let checked = match step {
            ClientStep::Open {
                rpc,
                shape,
                data,
                md,
            } => c.open(RPCS[*rpc], SHAPES[*shape], data.as_deref(), md.as_deref()),
            ClientStep::Item(p, data) => c.send(c.pick(*p), Some(data)),
            ClientStep::End(p) => c.send(c.pick(*p), None),
            ClientStep::Cancel(p) => c.cancel(c.pick(*p)),
            ClientStep::Respond {
                pick,
                kind,
                data,
                leading,
                trailing,
            } => c.feed_response(Response {
                seq: c.pick(*pick),
                kind: *kind,
                data,
                leading: leading.as_deref(),
                trailing: trailing.as_deref(),
            }),
            ClientStep::Raw(bytes) => c.feed(Bytes::from(bytes.clone())),
            ClientStep::Close => c.close(),
        };
        checked.map_err(|why| TestCaseError::fail(format!("{step:?}: {why}")))?;
        if c.is_closed() {
            return Ok(());
        }
    }
    c.close().map_err(TestCaseError::fail)
}
