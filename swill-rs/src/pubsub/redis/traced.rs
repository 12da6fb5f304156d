//! Trace context across instances (`RedisConfig::trace_context`): a message published from a
//! traced call travels as `0xc1 0x00`, a 2-byte big-endian length, the `traceparent` (and
//! `\n` and the `tracestate` when there is one), then the frame it would have been without
//! (a plain payload, or a positioned frame `0xc1 epoch ':' offset ':' payload`).
//!
//! MessagePack never uses `0xc1`, and an epoch never starts with a NUL byte, so neither plain
//! payloads nor positioned frames can be mistaken for one. Instances that predate this framing
//! drop such a frame as malformed: turn it on once every instance sharing the Redis runs a
//! version that reads it.

use std::sync::Arc;

use crate::observe::TraceContext;

/// The first two bytes of a traced frame.
pub(super) const TRACED: [u8; 2] = [super::history::POSITIONED, 0x00];

/// The prefix that makes `inner` a traced frame: [`TRACED`], the length, the context.
pub(super) fn prefix(trace: &TraceContext) -> Vec<u8> {
    let mut text = trace.traceparent().to_owned();
    if let Some(state) = trace.tracestate() {
        text.push('\n');
        text.push_str(state);
    }
    // A traceparent is 55 bytes and W3C bounds a tracestate to 512 bytes: far within u16.
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(4 + usize::from(len));
    out.extend_from_slice(&TRACED);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&text.as_bytes()[..usize::from(len)]);
    out
}

/// Splits a traced frame into its trace context and the frame inside. `None` when `frame`
/// is not a well-formed traced frame (the caller then reads it as before).
pub(super) fn split(frame: &[u8]) -> Option<(Arc<TraceContext>, &[u8])> {
    let rest = frame.strip_prefix(&TRACED)?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return None;
    }
    let (text, inner) = rest.split_at(len);
    let text = std::str::from_utf8(text).ok()?;
    let (parent, state) = match text.split_once('\n') {
        Some((p, s)) => (p, Some(s)),
        None => (text, None),
    };
    let trace = TraceContext::parse(parent, state).ok()?;
    Some((Arc::new(trace), inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traced_frames_round_trip_around_any_inner_frame() {
        for state in [None, Some("congo=t61rcWkgMzE")] {
            let tc = TraceContext::parse(TP, state).unwrap();
            for inner in [&b"\x93\x01\x02\x03"[..], b"\xc1ep:7:\x01", b""] {
                let mut frame = prefix(&tc);
                frame.extend_from_slice(inner);
                let (got, rest) = split(&frame).unwrap();
                assert_eq!(got.traceparent(), TP);
                assert_eq!(got.tracestate(), state);
                assert_eq!(rest, inner);
            }
        }
    }

    #[test]
    fn other_frames_are_not_traced_frames() {
        for frame in [
            &b"\x93\x01"[..],
            b"\xc1ep:1:x",
            b"\xc1\x00",
            b"\xc1\x00\x00",
            b"\xc1\x00\x00\x09short",
            b"\xc1\x00\x00\x03abc",
        ] {
            assert!(split(frame).is_none(), "{frame:?}");
        }
    }
}
