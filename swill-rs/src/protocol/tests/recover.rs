//! Malformed MessagePack after a readable seq is answered on that seq (issue #11 item 5): the
//! caller gets ERROR 400 instead of waiting forever. Only a frame without a complete array
//! header and integer seq stays unanswered (swill/1 §12.1).

use bytes::Bytes;

use super::*;
use crate::protocol::{Event, ServerConn};

fn kind(msg: &[u8]) -> (Option<Seq>, String) {
    let err = decode_request(msg).unwrap_err();
    (err.seq, err.to_string())
}

#[test]
fn malformed_messagepack_after_the_seq_keeps_the_seq() {
    let cases: &[(&[u8], &str)] = &[
        // [1, <reserved marker>, "x"]: a bad data value.
        (b"\x93\x01\xc1\xa1x", "invalid messagepack marker 0xc1"),
        // [1, [2, <missing>: a truncated array after a valid seq.
        (b"\x93\x01\x92\x02", "truncated message"),
        // [1, nil, "x" cut short.
        (b"\x93\x01\xc0\xa1", "truncated message"),
        // A bin claiming more bytes than the message has.
        (b"\x93\x01\xc6\xff\xff\xff\xff\x00", "truncated message"),
        // A bad value inside the metadata map.
        (
            b"\x95\x01\xc0\xa1x\x00\x81\xa1k\xc1",
            "invalid messagepack marker 0xc1",
        ),
        // Nothing after the seq at all.
        (b"\x93\x01", "truncated message"),
        // A wide seq is read too.
        (
            b"\x93\xd3\x00\x00\x00\x00\x00\x00\x00\x07\xc1",
            "invalid messagepack marker 0xc1",
        ),
    ];
    for (msg, text) in cases {
        let want_seq = if msg[1] == 0xd3 { 7 } else { 1 };
        assert_eq!(
            kind(msg),
            (Some(Seq(want_seq)), (*text).to_owned()),
            "{msg:02x?}"
        );
    }
}

#[test]
fn without_a_complete_seq_there_is_nothing_to_answer() {
    let cases: &[&[u8]] = &[
        b"",
        b"\x93",               // no seq
        b"\x93\xcd\x00",       // seq cut short
        b"\xdc\x00",           // array header cut short
        b"\x93\xc1\xc0\xa1x",  // seq is a reserved marker
        b"\x93\xa11\xc0\xa1x", // seq is a str
        b"\x83\xa1a\x01",      // a map, not an array
    ];
    for msg in cases {
        assert_eq!(decode_request(msg).unwrap_err().seq, None, "{msg:02x?}");
    }
}

#[test]
fn the_server_answers_malformed_frames_with_400_on_their_seq() {
    let mut c = ServerConn::new(Limits::default().max_invalid_frames(Some(0)));
    // An open streaming call whose next item is truncated: the ERROR ends it.
    c.handle_message(msg(4, "client", b"\x01"), &router)
        .unwrap();
    assert!(matches!(
        std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>()[..],
        [Event::Open { .. }]
    ));
    c.handle_message(Bytes::from_static(b"\x93\x04\x92\x01"), &router)
        .expect("a frame with a seq never counts as undecodable");
    c.handle_message(Bytes::from_static(b"\x93\x05\xc1\xa1x"), &router)
        .unwrap();
    let sent: Vec<Bytes> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(
        sent,
        [
            error_frame(4, 400, "truncated message"),
            error_frame(5, 400, "invalid messagepack marker 0xc1"),
        ]
    );
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(
        events,
        [Event::Cancelled {
            seq: Seq(4),
            reason: CancelReason::Protocol {
                code: 400,
                message: "truncated message".to_owned()
            }
        }]
    );
    assert!(!c.is_open(Seq(4)));
    assert_eq!(c.invalid_frames(), 0);
    // A frame without a seq still gets no answer and counts.
    let r = c.handle_message(Bytes::from_static(b"\x93\xcd\x00"), &router);
    assert!(
        r.is_err(),
        "the first undecodable frame passes max_invalid_frames(0)"
    );
    assert_eq!(c.poll_transmit(), None);
}
