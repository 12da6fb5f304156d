//! Unit tests of the parent module.

use super::encode::put_int;
use super::*;

#[test]
fn skip_value_handles_deep_nesting_without_recursion() {
    let deep = vec![0x91u8; 100_000];
    assert_eq!(skip_value(&deep), Err(DecodeErrorKind::TooDeep));
    let mut ok = vec![0x91u8; MAX_DEPTH - 1];
    ok.push(0xc0);
    assert_eq!(skip_value(&ok), Ok(MAX_DEPTH));
}

#[test]
fn skip_value_rejects_reserved_marker_and_truncation() {
    assert_eq!(
        skip_value(&[0xc1]),
        Err(DecodeErrorKind::InvalidMarker(0xc1))
    );
    assert_eq!(
        skip_value(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
        Err(Kind::Truncated)
    );
    assert_eq!(
        skip_value(&[0xdb, 0xff, 0xff, 0xff, 0xff]),
        Err(Kind::Truncated)
    );
    assert_eq!(skip_value(&[]), Err(Kind::Truncated));
}

#[test]
fn too_deep_payload_keeps_its_seq() {
    let mut msg = vec![0x93, 0x07];
    msg.extend(std::iter::repeat_n(0x91u8, MAX_DEPTH + 5));
    msg.push(0xc0);
    msg.extend([0xa1, b'x']);
    let err = decode_request(&msg).unwrap_err();
    assert_eq!(err, DecodeError::at(Seq(7), Kind::TooDeep));
}

#[test]
fn seq_above_i64_is_unreadable() {
    let msg = [0x93, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xa1, b'x'];
    let err = decode_request(&msg).unwrap_err();
    assert_eq!(err, DecodeError::unreadable(Kind::SeqOutOfRange));
}

#[test]
fn error_messages_name_the_problem() {
    let cases: &[(&[u8], &str)] = &[
        (
            &[0x94, 0x01, 0xc0, 0xa1, b'x', 0x04],
            "unknown request type 4",
        ),
        (&[0x93, 0x01, 0xc0, 0x05], "rpc is not a str"),
        (
            &[0x95, 0x01, 0xc0, 0xa1, b'x', 0, 0x81, 1, 2],
            "metadata key is not a str",
        ),
        (
            &[0x93, 0x01, 0xc0, 0xa1, b'x', 0xc0],
            "trailing bytes after the envelope",
        ),
        (
            &[0x92, 0x01, 0xc0],
            "expected an array of 3 to 5 elements, got 2",
        ),
    ];
    for (msg, text) in cases {
        let err = decode_request(msg).unwrap_err();
        assert_eq!(err.seq, Some(Seq(1)));
        assert_eq!(err.to_string(), *text);
    }
}

#[test]
fn error_data_round_trip() {
    let mut out = Vec::new();
    encode_error_data(&mut out, -3, "boom", Some(&[0x01]));
    let e = decode_error_data(&out).unwrap();
    assert_eq!(
        (e.code, e.message, e.data),
        (-3, "boom", Some(&[0x01u8][..]))
    );
    assert_eq!(
        decode_error_data(&[0x81, 0xa1, b'x', 0x01]),
        Err(DecodeErrorKind::ErrorCodeMissing)
    );
}

#[test]
fn response_defaults_fill_missing_slots() {
    let r = decode_response(&[0x92, 0x05, 0x03]).unwrap();
    assert_eq!(r.kind, ResponseType::Message);
    assert_eq!((r.leading, r.trailing, r.array_len), (None, None, 2));
    let err = decode_response(&[0x91, 0x05]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected an array of 2 to 5 elements, got 1"
    );
}

#[test]
fn put_int_writes_what_rmp_writes() {
    let mut edges = vec![i64::MIN, i64::MAX, 0, -1];
    for bits in [5u32, 7, 8, 15, 16, 31, 32, 62] {
        let p = 1i64 << bits;
        edges.extend([p - 1, p, p + 1, -p - 1, -p, -p + 1]);
    }
    for v in edges.into_iter().chain(-300..300) {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        put_int(&mut ours, v);
        rmp::encode::write_sint(&mut theirs, v).unwrap();
        assert_eq!(ours, theirs, "{v}");
    }
}

#[test]
fn is_one_value_agrees_with_the_full_walk_on_scalars() {
    for marker in 0..=255u8 {
        for len in 0..12 {
            let mut v = vec![marker];
            v.resize(len.max(1), 0);
            let full = matches!(skip_value(&v), Ok(n) if n == v.len());
            assert_eq!(is_one_value(&v), full, "marker {marker:#x}, {len} bytes");
        }
    }
    assert!(!is_one_value(&[]));
}
