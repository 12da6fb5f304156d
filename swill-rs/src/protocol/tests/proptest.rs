//! Property tests: nothing panics on any input, encodings round-trip, and a model of the
//! server's call table agrees with the engine under arbitrary frames and commands.

use std::collections::HashMap;

use ::proptest::prelude::*;
use ::proptest::test_runner::FileFailurePersistence;
use bytes::Bytes;

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
