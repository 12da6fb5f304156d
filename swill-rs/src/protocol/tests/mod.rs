//! Tests of the protocol engine: vectors, server semantics, the client/server pair, proptest
//! (with the lifecycle invariants of `invariants.rs`, shared with the fuzz targets).

mod invariants;
mod pair;
mod proptest;
mod recover;
mod server;
mod vectors;

use bytes::Bytes;

use super::*;

/// Encodes a request frame.
fn req(seq: i64, rpc: &str, kind: RequestType, data: &[u8], md: Option<&[u8]>) -> Bytes {
    let mut out = Vec::new();
    encode_request(&mut out, Seq(seq), rpc, kind, data, md);
    Bytes::from(out)
}

/// MESSAGE `[seq, data, rpc]`.
fn msg(seq: i64, rpc: &str, data: &[u8]) -> Bytes {
    req(seq, rpc, RequestType::Message, data, None)
}

/// A request frame of `kind` with nil data.
fn ctl(seq: i64, rpc: &str, kind: RequestType) -> Bytes {
    req(seq, rpc, kind, NIL, None)
}

/// An ERROR response frame.
fn error_frame(seq: i64, code: i64, message: &str) -> Bytes {
    let mut out = Vec::new();
    encode_response_head(&mut out, Seq(seq));
    encode_error_data(&mut out, code, message, None);
    encode_response_tail(&mut out, ResponseType::Error, None, None);
    Bytes::from(out)
}

/// A response frame.
fn resp(
    seq: i64,
    kind: ResponseType,
    data: &[u8],
    lead: Option<&[u8]>,
    trail: Option<&[u8]>,
) -> Bytes {
    let mut out = Vec::new();
    encode_response(&mut out, Seq(seq), kind, data, lead, trail);
    Bytes::from(out)
}

/// The routes used by the engine tests: one handler per shape.
fn router(rpc: &str) -> Option<(u32, Shape)> {
    match rpc {
        "unary" => Some((0, Shape::UNARY)),
        "server" => Some((1, Shape::SERVER_STREAMING)),
        "client" => Some((2, Shape::CLIENT_STREAMING)),
        "bidi" => Some((3, Shape::BIDI)),
        _ => None,
    }
}

fn ok_write(
    bytes: &'static [u8],
) -> impl FnOnce(&mut Vec<u8>) -> Result<(), std::convert::Infallible> {
    move |out| {
        out.extend_from_slice(bytes);
        Ok(())
    }
}
