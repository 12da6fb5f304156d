//! ServerConn semantics, one test per rule, driven with raw frames.

use bytes::Bytes;

use super::*;
use crate::protocol::{Event, ServerConn};

const LEAD: &[u8] = b"\x81\xa4lead\x01";
const TRAIL: &[u8] = b"\x81\xa5trail\x02";

fn conn() -> ServerConn {
    ServerConn::new(Limits::default())
}

fn feed(c: &mut ServerConn, m: Bytes) {
    c.handle_message(m, &router).expect("connection survives");
}

fn events(c: &mut ServerConn) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn sent(c: &mut ServerConn) -> Vec<Bytes> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn open(c: &mut ServerConn, seq: i64, rpc: &str) {
    feed(c, msg(seq, rpc, b"\x01"));
    assert!(matches!(events(c)[..], [Event::Open { .. }]), "{rpc} opens");
}

#[test]
fn unknown_rpc_gets_404_and_no_event() {
    let mut c = conn();
    feed(&mut c, msg(1, "nope", NIL));
    feed(
        &mut c,
        req(2, "nope", RequestType::Metadata, NIL, Some(EMPTY_MAP)),
    );
    assert_eq!(events(&mut c), []);
    assert_eq!(
        sent(&mut c),
        [
            error_frame(1, 404, NOT_FOUND_MESSAGE),
            error_frame(2, 404, NOT_FOUND_MESSAGE)
        ]
    );
    assert_eq!(c.open_calls(), 0);
}

#[test]
fn message_opens_every_shape_with_zero_copy_payload() {
    let mut c = conn();
    for (seq, rpc) in [(1, "unary"), (2, "server"), (3, "client"), (4, "bidi")] {
        let m = req(seq, rpc, RequestType::Message, b"\x92\x01\x02", Some(LEAD));
        feed(&mut c, m.clone());
        let (handler, shape) = router(rpc).unwrap();
        let ev = events(&mut c);
        let [Event::Open {
            seq: s,
            handler: h,
            shape: sh,
            payload: Some(p),
            metadata: Some(md),
        }] = &ev[..]
        else {
            panic!("{ev:?}")
        };
        assert_eq!((*s, *h, *sh), (Seq(seq), handler, shape));
        assert_eq!((&p[..], &md[..]), (&b"\x92\x01\x02"[..], LEAD));
        // Slices of the incoming message, not copies.
        let range = m.as_ptr() as usize..m.as_ptr() as usize + m.len();
        assert!(range.contains(&(p.as_ptr() as usize)));
        assert!(range.contains(&(md.as_ptr() as usize)));
    }
    assert_eq!(c.open_calls(), 4);
    assert!(sent(&mut c).is_empty());
}

#[test]
fn metadata_frame_opens_streaming_request_calls_only() {
    let mut c = conn();
    feed(
        &mut c,
        req(1, "client", RequestType::Metadata, NIL, Some(LEAD)),
    );
    feed(&mut c, req(2, "bidi", RequestType::Metadata, NIL, None));
    let ev = events(&mut c);
    assert!(
        matches!(&ev[0], Event::Open { seq: Seq(1), payload: None, metadata: Some(m), .. } if m == LEAD)
    );
    assert!(matches!(
        &ev[1],
        Event::Open {
            seq: Seq(2),
            payload: None,
            metadata: None,
            ..
        }
    ));
    feed(
        &mut c,
        req(3, "unary", RequestType::Metadata, NIL, Some(LEAD)),
    );
    feed(&mut c, req(4, "server", RequestType::Metadata, NIL, None));
    assert_eq!(events(&mut c), []);
    assert_eq!(
        sent(&mut c),
        [
            error_frame(3, 500, METADATA_OPENS_SINGLE_MESSAGE),
            error_frame(4, 500, METADATA_OPENS_SINGLE_MESSAGE)
        ]
    );
    assert!(!c.is_open(Seq(3)) && !c.is_open(Seq(4)));
}

#[test]
fn concurrency_limit_answers_429() {
    let mut c = ServerConn::new(Limits::default().max_concurrent_calls(2));
    open(&mut c, 1, "unary");
    open(&mut c, 2, "unary");
    feed(&mut c, msg(3, "unary", NIL));
    assert_eq!(events(&mut c), []);
    assert_eq!(sent(&mut c), [error_frame(3, 429, TOO_MANY_CALLS_MESSAGE)]);
    c.send_message(Seq(1), ok_write(b"\x00")).unwrap();
    sent(&mut c);
    open(&mut c, 3, "unary");
}

#[test]
fn later_messages_reach_streaming_requests_only() {
    let mut c = conn();
    open(&mut c, 1, "client");
    open(&mut c, 2, "unary");
    feed(&mut c, msg(1, "client", b"\x07"));
    feed(&mut c, msg(2, "unary", b"\x07"));
    assert_eq!(
        events(&mut c),
        [Event::Message {
            seq: Seq(1),
            payload: Bytes::from_static(b"\x07")
        }]
    );
    assert!(sent(&mut c).is_empty());
}

#[test]
fn end_of_stream_is_delivered_once_and_closes_the_request_side() {
    let mut c = conn();
    open(&mut c, 1, "bidi");
    open(&mut c, 2, "server");
    feed(&mut c, ctl(1, "bidi", RequestType::EndOfStream));
    feed(&mut c, ctl(1, "bidi", RequestType::EndOfStream));
    feed(&mut c, msg(1, "bidi", b"\x01"));
    feed(&mut c, req(1, "bidi", RequestType::Metadata, NIL, None));
    feed(&mut c, ctl(2, "server", RequestType::EndOfStream));
    assert_eq!(events(&mut c), [Event::EndOfStream { seq: Seq(1) }]);
    assert!(sent(&mut c).is_empty());
    assert!(c.is_open(Seq(1)) && c.is_open(Seq(2)));
    // Ends on the server side with nothing half-closed: a new call may reuse the seq.
    c.send_end(Seq(1)).unwrap();
    open(&mut c, 1, "bidi");
}

#[test]
fn second_metadata_frame_fails_the_call() {
    let mut c = conn();
    feed(&mut c, req(1, "client", RequestType::Metadata, NIL, None));
    events(&mut c);
    feed(
        &mut c,
        req(1, "client", RequestType::Metadata, NIL, Some(LEAD)),
    );
    assert_eq!(
        events(&mut c),
        [Event::Cancelled {
            seq: Seq(1),
            reason: CancelReason::Protocol {
                code: 400,
                message: SECOND_METADATA_MESSAGE.to_owned()
            }
        }]
    );
    assert_eq!(sent(&mut c), [error_frame(1, 400, SECOND_METADATA_MESSAGE)]);
    assert_eq!(
        c.send_message(Seq(1), ok_write(b"\x00")),
        Err(SendError::NotOpen)
    );
    // The client's request side is still open: its items are dropped, not a new call.
    feed(&mut c, msg(1, "client", b"\x01"));
    assert_eq!(events(&mut c), []);
    // Single-request calls ignore a METADATA frame.
    open(&mut c, 2, "unary");
    feed(&mut c, req(2, "unary", RequestType::Metadata, NIL, None));
    assert_eq!(events(&mut c), []);
    assert!(c.is_open(Seq(2)));
}

#[test]
fn cancel_forgets_the_call_and_nothing_is_sent_after() {
    let mut c = conn();
    open(&mut c, 1, "server");
    c.set_leading(Seq(1), Bytes::from_static(LEAD)).unwrap();
    feed(&mut c, ctl(1, "server", RequestType::Cancel));
    assert_eq!(
        events(&mut c),
        [Event::Cancelled {
            seq: Seq(1),
            reason: CancelReason::Client
        }]
    );
    assert!(!c.is_open(Seq(1)));
    assert_eq!(
        c.send_message(Seq(1), ok_write(b"\x00")),
        Err(SendError::NotOpen)
    );
    assert_eq!(c.send_end(Seq(1)), Err(SendError::NotOpen));
    assert_eq!(
        c.send_error(Seq(1), 500, "x", None),
        Err(SendError::NotOpen)
    );
    assert_eq!(c.send_metadata(Seq(1)), Err(SendError::NotOpen));
    assert_eq!(
        c.set_trailing(Seq(1), Bytes::from_static(TRAIL)),
        Err(SendError::NotOpen)
    );
    assert!(sent(&mut c).is_empty());
    // A cancelled streaming request is not half-closed: the seq may open again.
    open(&mut c, 1, "client");
    feed(&mut c, ctl(1, "client", RequestType::Cancel));
    assert_eq!(
        events(&mut c),
        [Event::Cancelled {
            seq: Seq(1),
            reason: CancelReason::Client
        }]
    );
    open(&mut c, 1, "client");
}

#[test]
fn duplicate_seq_with_another_rpc_is_dropped() {
    let mut c = conn();
    open(&mut c, 1, "client");
    for kind in [
        RequestType::Message,
        RequestType::Metadata,
        RequestType::EndOfStream,
        RequestType::Cancel,
    ] {
        feed(&mut c, req(1, "bidi", kind, NIL, None));
    }
    assert_eq!(events(&mut c), []);
    assert!(sent(&mut c).is_empty());
    assert_eq!(c.open_calls(), 1);
    feed(&mut c, msg(1, "client", b"\x02"));
    assert_eq!(
        events(&mut c),
        [Event::Message {
            seq: Seq(1),
            payload: Bytes::from_static(b"\x02")
        }]
    );
}

#[test]
fn end_of_stream_and_cancel_for_unknown_seq_are_ignored() {
    let mut c = conn();
    feed(&mut c, ctl(16, "unary", RequestType::Cancel));
    feed(&mut c, ctl(17, "nope", RequestType::EndOfStream));
    assert_eq!(events(&mut c), []);
    assert!(sent(&mut c).is_empty());
}

#[test]
fn early_answer_half_closes_until_end_of_stream() {
    let mut c = conn();
    open(&mut c, 1, "client");
    c.send_message(Seq(1), ok_write(b"\x05")).unwrap();
    assert_eq!(
        sent(&mut c),
        [resp(1, ResponseType::Message, b"\x05", None, None)]
    );
    // Late items and METADATA neither reach anyone nor reopen the call (D6).
    feed(&mut c, msg(1, "client", b"\x01"));
    feed(&mut c, req(1, "client", RequestType::Metadata, NIL, None));
    // An invalid frame for it is not answered either: the client forgot the seq.
    feed(&mut c, Bytes::from_static(b"\x94\x01\xc0\xa6client\x09"));
    assert_eq!(events(&mut c), []);
    assert!(sent(&mut c).is_empty());
    feed(&mut c, ctl(1, "client", RequestType::EndOfStream));
    assert_eq!(events(&mut c), []);
    // Forgotten: the seq opens a new call again.
    open(&mut c, 1, "client");
    // CANCEL also forgets a half-closed seq.
    c.send_error(Seq(1), 500, "x", None).unwrap();
    feed(&mut c, ctl(1, "client", RequestType::Cancel));
    open(&mut c, 1, "client");
}

#[test]
fn half_closed_memory_is_bounded_fifo() {
    let mut c = ServerConn::new(Limits::default().max_half_closed(2));
    for seq in 1..=3 {
        open(&mut c, seq, "bidi");
        c.send_end(Seq(seq)).unwrap();
    }
    // Seq 1 was evicted: it opens a new call; 2 and 3 are still dropped.
    feed(&mut c, msg(2, "bidi", b"\x01"));
    feed(&mut c, msg(3, "bidi", b"\x01"));
    assert_eq!(events(&mut c), []);
    open(&mut c, 1, "bidi");

    let mut c = ServerConn::new(Limits::default().max_half_closed(0));
    open(&mut c, 1, "client");
    c.forget(Seq(1));
    open(&mut c, 1, "client");
}

#[test]
fn forget_sends_nothing_and_half_closes_an_open_request() {
    let mut c = conn();
    open(&mut c, 1, "client");
    open(&mut c, 2, "unary");
    c.forget(Seq(1));
    c.forget(Seq(2));
    c.forget(Seq(99));
    assert!(sent(&mut c).is_empty());
    assert_eq!(c.open_calls(), 0);
    feed(&mut c, msg(1, "client", b"\x01"));
    assert_eq!(events(&mut c), []);
    open(&mut c, 2, "unary");
}

#[test]
fn invalid_envelope_with_seq_gets_400_and_ends_an_open_call() {
    let mut c = conn();
    feed(&mut c, Bytes::from_static(b"\x94\x01\xc0\xa1x\x04"));
    assert_eq!(
        sent(&mut c),
        [error_frame(1, 400, "unknown request type 4")]
    );
    assert_eq!(events(&mut c), []);
    open(&mut c, 2, "bidi");
    feed(&mut c, Bytes::from_static(b"\x93\x02\xc0\x05"));
    assert_eq!(sent(&mut c), [error_frame(2, 400, "rpc is not a str")]);
    assert_eq!(
        events(&mut c),
        [Event::Cancelled {
            seq: Seq(2),
            reason: CancelReason::Protocol {
                code: 400,
                message: "rpc is not a str".to_owned()
            }
        }]
    );
    // The request stream was open: half-closed now.
    feed(&mut c, msg(2, "bidi", b"\x01"));
    assert_eq!(events(&mut c), []);
    assert_eq!(c.invalid_frames(), 0);
}

#[test]
fn undecodable_frames_are_dropped_and_counted() {
    let mut c = ServerConn::new(Limits::default().max_invalid_frames(Some(2)));
    open(&mut c, 1, "unary");
    for bad in [&b""[..], b"\x01", b"\x93\xcd\x00"] {
        let r = c.handle_message(Bytes::from_static(bad), &router);
        if c.invalid_frames() <= 2 {
            assert_eq!(r, Ok(()));
        } else {
            let err = r.unwrap_err();
            assert_eq!(err, ProtocolError::TooManyInvalidFrames { count: 3 });
            assert_eq!(err.close_code(), 1007);
        }
    }
    assert_eq!(c.invalid_frames(), 3);
    assert!(sent(&mut c).is_empty());
    assert_eq!(events(&mut c), []);
    assert!(c.is_open(Seq(1)));
    // Without a bound the connection never has to close.
    let mut c = conn();
    for _ in 0..100 {
        assert_eq!(
            c.handle_message(Bytes::from_static(b"\xc1"), &router),
            Ok(())
        );
    }
}

#[test]
fn one_terminal_frame_per_call() {
    let mut c = conn();
    open(&mut c, 1, "unary");
    assert_eq!(c.send_end(Seq(1)), Err(SendError::NotStreaming));
    c.send_message(Seq(1), ok_write(b"\x01")).unwrap();
    assert_eq!(
        c.send_message(Seq(1), ok_write(b"\x01")),
        Err(SendError::NotOpen)
    );
    assert_eq!(
        c.send_error(Seq(1), 500, "x", None),
        Err(SendError::NotOpen)
    );
    open(&mut c, 2, "server");
    c.send_message(Seq(2), ok_write(b"\x01")).unwrap();
    c.send_message(Seq(2), ok_write(b"\x02")).unwrap();
    c.send_end(Seq(2)).unwrap();
    assert_eq!(c.send_end(Seq(2)), Err(SendError::NotOpen));
    open(&mut c, 3, "bidi");
    c.send_error(Seq(3), 418, "teapot", Some(b"\x01")).unwrap();
    assert_eq!(c.send_end(Seq(3)), Err(SendError::NotOpen));
    assert_eq!(sent(&mut c).len(), 5);
    assert_eq!(c.open_calls(), 0);
}

#[test]
fn leading_metadata_placement() {
    let lead = || Bytes::from_static(LEAD);
    let trail = || Bytes::from_static(TRAIL);
    let mut c = conn();
    // Single response: leading and trailing ride on it.
    open(&mut c, 1, "unary");
    c.set_leading(Seq(1), lead()).unwrap();
    c.set_trailing(Seq(1), trail()).unwrap();
    c.send_message(Seq(1), ok_write(b"\x03")).unwrap();
    // Eager METADATA frame without leading set: an empty map; a second send is a no-op.
    open(&mut c, 2, "server");
    c.send_metadata(Seq(2)).unwrap();
    c.send_metadata(Seq(2)).unwrap();
    assert_eq!(
        c.set_leading(Seq(2), lead()),
        Err(SendError::LeadingAlreadySent)
    );
    c.send_message(Seq(2), ok_write(b"\x00")).unwrap();
    c.set_trailing(Seq(2), trail()).unwrap();
    c.send_end(Seq(2)).unwrap();
    // Leading on the first item only, never on END_OF_STREAM after an item.
    open(&mut c, 3, "server");
    c.set_leading(Seq(3), lead()).unwrap();
    c.send_message(Seq(3), ok_write(b"\x00")).unwrap();
    c.send_message(Seq(3), ok_write(b"\x01")).unwrap();
    c.send_end(Seq(3)).unwrap();
    // Empty stream: END_OF_STREAM carries both.
    open(&mut c, 4, "server");
    c.set_leading(Seq(4), lead()).unwrap();
    c.set_trailing(Seq(4), trail()).unwrap();
    c.send_end(Seq(4)).unwrap();
    // ERROR never carries metadata.
    open(&mut c, 5, "unary");
    c.set_leading(Seq(5), lead()).unwrap();
    c.set_trailing(Seq(5), trail()).unwrap();
    c.send_error(Seq(5), 403, "denied", None).unwrap();
    // Any item marks leading as sent, even without any set.
    open(&mut c, 6, "server");
    c.send_message(Seq(6), ok_write(b"\x00")).unwrap();
    assert_eq!(
        c.set_leading(Seq(6), lead()),
        Err(SendError::LeadingAlreadySent)
    );
    use ResponseType::*;
    assert_eq!(
        sent(&mut c),
        [
            resp(1, Message, b"\x03", Some(LEAD), Some(TRAIL)),
            resp(2, Metadata, NIL, Some(EMPTY_MAP), None),
            resp(2, Message, b"\x00", None, None),
            resp(2, EndOfStream, NIL, None, Some(TRAIL)),
            resp(3, Message, b"\x00", Some(LEAD), None),
            resp(3, Message, b"\x01", None, None),
            resp(3, EndOfStream, NIL, None, None),
            resp(4, EndOfStream, NIL, Some(LEAD), Some(TRAIL)),
            error_frame(5, 403, "denied"),
            resp(6, Message, b"\x00", None, None),
        ]
    );
}

#[test]
fn metadata_must_be_a_map_with_str_keys() {
    let mut c = conn();
    open(&mut c, 1, "unary");
    for bad in [&b"\x01"[..], b"\x81\x01\x02", b"\x80\x80", b""] {
        let bad = Bytes::from_static(bad);
        assert_eq!(
            c.set_leading(Seq(1), bad.clone()),
            Err(SendError::InvalidData)
        );
        assert_eq!(c.set_trailing(Seq(1), bad), Err(SendError::InvalidData));
    }
}

#[test]
fn seq_is_echoed_in_shortest_form() {
    let mut c = conn();
    // [1 as uint16, nil, "unary"] and [-5, ...]
    feed(&mut c, Bytes::from_static(b"\x93\xcd\x00\x01\xc0\xa5unary"));
    feed(
        &mut c,
        Bytes::from_static(b"\x93\xd3\xff\xff\xff\xff\xff\xff\xff\xfb\xc0\xa5unary"),
    );
    let ev = events(&mut c);
    assert!(matches!(
        ev[..],
        [
            Event::Open { seq: Seq(1), .. },
            Event::Open { seq: Seq(-5), .. }
        ]
    ));
    c.send_message(Seq(1), ok_write(b"\x00")).unwrap();
    c.send_message(Seq(-5), ok_write(b"\x00")).unwrap();
    let out = sent(&mut c);
    assert_eq!(&out[0][..], b"\x95\x01\x00\x00\xc0\xc0");
    assert_eq!(&out[1][..], b"\x95\xfb\x00\x00\xc0\xc0");
}

#[test]
fn failing_or_bad_payload_writer_queues_nothing() {
    let mut c = conn();
    open(&mut c, 1, "unary");
    let r = c.send_message(Seq(1), |out| {
        out.push(0x01);
        Err("cannot encode")
    });
    assert_eq!(r, Err(SendError::Encode("cannot encode")));
    assert_eq!(
        c.send_message(Seq(1), ok_write(b"")),
        Err(SendError::InvalidData)
    );
    assert_eq!(
        c.send_message(Seq(1), ok_write(b"\x01\x02")),
        Err(SendError::InvalidData)
    );
    assert_eq!(
        c.send_message(Seq(1), ok_write(b"\x92\x01")),
        Err(SendError::InvalidData)
    );
    assert_eq!(c.pending_transmit_bytes(), 0);
    assert_eq!(
        c.send_error(Seq(1), 500, "x", Some(b"\x01\x02")),
        Err(SendError::InvalidData)
    );
    assert!(c.is_open(Seq(1)));
    c.send_error(Seq(1), 500, "An internal server error occurred", None)
        .unwrap();
    assert_eq!(
        sent(&mut c),
        [error_frame(1, 500, "An internal server error occurred")]
    );
}

#[test]
fn frames_leave_in_order_from_one_buffer() {
    let mut c = conn();
    open(&mut c, 1, "server");
    c.send_message(Seq(1), ok_write(b"\x00")).unwrap();
    c.send_message(Seq(1), ok_write(b"\x01")).unwrap();
    assert_eq!(c.pending_transmit_bytes(), 12);
    let a = c.poll_transmit().unwrap();
    assert_eq!(c.pending_transmit_bytes(), 6);
    // Queued while the first batch is being drained.
    c.send_message(Seq(1), ok_write(b"\x02")).unwrap();
    let b = c.poll_transmit().unwrap();
    let d = c.poll_transmit().unwrap();
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.pending_transmit_bytes(), 0);
    assert_eq!(
        [&a[..], &b[..], &d[..]],
        [
            b"\x95\x01\x00\x00\xc0\xc0",
            b"\x95\x01\x01\x00\xc0\xc0",
            b"\x95\x01\x02\x00\xc0\xc0"
        ]
    );
    // The first two share one allocation.
    assert_eq!(a.as_ptr() as usize + a.len(), b.as_ptr() as usize);
}

#[test]
fn close_returns_open_seqs_and_forgets_everything() {
    let mut c = conn();
    open(&mut c, 3, "server");
    open(&mut c, 1, "client");
    feed(&mut c, msg(2, "unary", NIL));
    c.send_message(Seq(3), ok_write(b"\x00")).unwrap();
    assert_eq!(c.close(), [Seq(1), Seq(2), Seq(3)]);
    assert_eq!((c.open_calls(), c.pending_transmit_bytes()), (0, 0));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.send_end(Seq(3)), Err(SendError::NotOpen));
}

#[test]
fn leading_sent_is_the_engines_to_report() {
    let mut c = conn();
    open(&mut c, 1, "server");
    assert!(!c.leading_sent(Seq(1)), "nothing went out yet");
    c.send_metadata(Seq(1)).unwrap();
    assert!(c.leading_sent(Seq(1)), "an eager METADATA frame sends it");
    assert_eq!(
        c.set_leading(Seq(1), Bytes::from_static(EMPTY_MAP)),
        Err(SendError::LeadingAlreadySent)
    );
    open(&mut c, 2, "server");
    c.send_message(Seq(2), ok_write(b"\x01")).unwrap();
    assert!(c.leading_sent(Seq(2)), "the first item sends it");
    open(&mut c, 3, "unary");
    c.send_message(Seq(3), ok_write(b"\x01")).unwrap();
    assert!(!c.is_open(Seq(3)), "a single response ends the call");
    assert!(!c.leading_sent(Seq(3)), "false for a seq that is not open");
}
