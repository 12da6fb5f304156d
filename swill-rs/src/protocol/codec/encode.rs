//! The writing half of the envelope codec: envelopes and error maps in canonical, shortest
//! form (swill/1 §3, §5, §6.1, Appendix A), appended to a caller's buffer.

use crate::protocol::frame::{RequestType, ResponseType, Seq};

// Writing into a `Vec<u8>` cannot fail, so the `io::Result`s of `rmp::encode` are ignored.

/// Appends `v` in its shortest form (swill/1 §3), byte for byte what
/// `rmp::encode::write_sint` writes, without its generic writer: every response frame writes
/// two or three integers, and this is a measurable share of a stream item.
pub(super) fn put_int(out: &mut Vec<u8>, v: i64) {
    if (0..128).contains(&v) || (-32..0).contains(&v) {
        // Positive and negative fixint: the value is the marker.
        out.push(v as u8);
        return;
    }
    if v >= 0 {
        let u = v as u64;
        if u < 1 << 8 {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u < 1 << 16 {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u < 1 << 32 {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if v >= -(1 << 7) {
        out.extend_from_slice(&[0xd0, v as u8]);
    } else if v >= -(1 << 15) {
        out.push(0xd1);
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= -(1 << 31) {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// The marker of a nil value.
const NIL_MARKER: u8 = 0xc0;
/// The marker of a five-element array (a response envelope).
const FIXARRAY_5: u8 = 0x95;

fn put_array_len(out: &mut Vec<u8>, len: u32) {
    let _ = rmp::encode::write_array_len(out, len);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // A str longer than u32::MAX bytes cannot be framed; write it truncated to stay total
    // (no real rpc name or message comes near 4 GiB).
    let bytes = s.as_bytes();
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let _ = rmp::encode::write_str_len(out, len);
    out.extend_from_slice(bytes.get(..len as usize).unwrap_or(bytes));
}

fn put_opt(out: &mut Vec<u8>, raw: Option<&[u8]>) {
    match raw {
        Some(raw) => out.extend_from_slice(raw),
        None => out.push(NIL_MARKER),
    }
}

/// Appends a request envelope in canonical form: the type element only when `kind` is not
/// MESSAGE or metadata follows, the metadata element only when `Some` (swill/1 Appendix A).
///
/// `data` and `metadata` are raw MessagePack values, copied as they are.
pub fn encode_request(
    out: &mut Vec<u8>,
    seq: Seq,
    rpc: &str,
    kind: RequestType,
    data: &[u8],
    metadata: Option<&[u8]>,
) {
    let with_type = kind != RequestType::Message || metadata.is_some();
    let len = 3 + u32::from(with_type) + u32::from(metadata.is_some());
    put_array_len(out, len);
    put_int(out, seq.0);
    out.extend_from_slice(data);
    put_str(out, rpc);
    if with_type {
        put_int(out, kind.code().into());
    }
    if let Some(md) = metadata {
        out.extend_from_slice(md);
    }
}

/// Appends a response envelope: always five elements, nil for absent metadata (swill/1 §5).
pub fn encode_response(
    out: &mut Vec<u8>,
    seq: Seq,
    kind: ResponseType,
    data: &[u8],
    leading: Option<&[u8]>,
    trailing: Option<&[u8]>,
) {
    encode_response_head(out, seq);
    out.extend_from_slice(data);
    encode_response_tail(out, kind, leading, trailing);
}

/// Appends the start of a response, the five-element array marker and the seq; the caller then
/// writes the data value in place and finishes with [`encode_response_tail`].
pub fn encode_response_head(out: &mut Vec<u8>, seq: Seq) {
    out.push(FIXARRAY_5);
    put_int(out, seq.0);
}

/// Appends the end of a response after its data: type, leading and trailing metadata.
pub fn encode_response_tail(
    out: &mut Vec<u8>,
    kind: ResponseType,
    leading: Option<&[u8]>,
    trailing: Option<&[u8]>,
) {
    if let (None, None) = (leading, trailing) {
        // Every stream item after the first: type and two nils, one copy.
        out.extend_from_slice(&[kind.code(), NIL_MARKER, NIL_MARKER]);
        return;
    }
    put_int(out, kind.code().into());
    put_opt(out, leading);
    put_opt(out, trailing);
}

/// Appends the error map of swill/1 §6.1: `code`, `message`, and `data` only when `Some`.
pub fn encode_error_data(out: &mut Vec<u8>, code: i64, message: &str, data: Option<&[u8]>) {
    let _ = rmp::encode::write_map_len(out, if data.is_some() { 3 } else { 2 });
    put_str(out, "code");
    put_int(out, code);
    put_str(out, "message");
    put_str(out, message);
    if let Some(data) = data {
        put_str(out, "data");
        out.extend_from_slice(data);
    }
}
