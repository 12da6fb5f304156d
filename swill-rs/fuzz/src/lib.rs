//! The bodies of swill's fuzz targets; `fuzz_targets/*.rs` are one-line `fuzz_target!`s.
//!
//! - [`decode`]: the envelope decoders never panic, and what decodes re-encodes to the same
//!   envelope.
//! - [`server`], [`client`]: the engines under structured sequences of frames and commands,
//!   checked on every step by the lifecycle invariants that the property tests also use
//!   (`swill-rs/src/protocol/tests/invariants.rs`, included here by path).
//! - [`payload`]: request data decoded into typical handler types with rmp-serde, as the
//!   handler layer does.
//!
//! Run them with `swill-rs/fuzz/run.sh`; docs/reliability.md says how long each has run.

use arbitrary::Arbitrary;
use bytes::Bytes;
use swill::protocol::{
    decode_error_data, decode_error_data_lenient, decode_request, decode_response,
    encode_error_data, encode_request, encode_response, is_metadata_map, is_one_value, skip_value,
    CancelReason, ClientConn, ClientEvent, ClientSendError, Event, Limits, ProtocolError,
    RequestType, ResponseType, Router, SendError, Seq, ServerConn, Shape, EMPTY_MAP,
};

#[path = "../../src/protocol/tests/invariants.rs"]
mod invariants;

mod payload;

pub use payload::payload;

use invariants::{ClientCheck, Response, ServerCheck, ServerCommand};

/// Envelope decoders: no panic; a decoded request, response or error map re-encodes to an
/// envelope that decodes to the same fields.
pub fn decode(data: &[u8]) {
    if let Ok(n) = skip_value(data) {
        assert!(n > 0 && n <= data.len());
    }
    if let Ok(env) = decode_request(data) {
        assert!(is_one_value(env.data), "request data is not one value");
        assert!(env.metadata.is_none_or(is_metadata_map));
        let mut out = Vec::new();
        encode_request(&mut out, env.seq, env.rpc, env.kind, env.data, env.metadata);
        let again = decode_request(&out).expect("a re-encoded request decodes");
        assert_eq!(
            (again.seq, again.rpc, again.kind, again.data, again.metadata),
            (env.seq, env.rpc, env.kind, env.data, env.metadata)
        );
        let mut twice = Vec::new();
        encode_request(
            &mut twice,
            again.seq,
            again.rpc,
            again.kind,
            again.data,
            again.metadata,
        );
        assert_eq!(out, twice, "request encoding is not canonical");
    }
    if let Ok(env) = decode_response(data) {
        assert!(is_one_value(env.data), "response data is not one value");
        assert!(env.leading.is_none_or(is_metadata_map));
        assert!(env.trailing.is_none_or(is_metadata_map));
        let mut out = Vec::new();
        encode_response(
            &mut out,
            env.seq,
            env.kind,
            env.data,
            env.leading,
            env.trailing,
        );
        let again = decode_response(&out).expect("a re-encoded response decodes");
        assert_eq!(
            (
                again.seq,
                again.kind,
                again.data,
                again.leading,
                again.trailing
            ),
            (env.seq, env.kind, env.data, env.leading, env.trailing)
        );
        assert_eq!(again.array_len, 5);
        error_map(env.data);
    }
    error_map(data);
}

fn error_map(data: &[u8]) {
    let lenient = decode_error_data_lenient(data);
    if let Ok(e) = decode_error_data(data) {
        assert_eq!(
            lenient.map(|p| (p.code, p.message)),
            Ok((Some(e.code), Some(e.message)))
        );
        let mut out = Vec::new();
        encode_error_data(&mut out, e.code, e.message, e.data);
        assert_eq!(decode_error_data(&out), Ok(e));
    }
}

/// The rpcs a fuzzed request names: one per shape and one unknown.
const RPCS: [&str; 5] = ["unary", "server", "client", "bidi", "nope"];
const SHAPES: [Shape; 4] = [
    Shape::UNARY,
    Shape::SERVER_STREAMING,
    Shape::CLIENT_STREAMING,
    Shape::BIDI,
];

fn route(rpc: &str) -> Option<(u32, Shape)> {
    let i = RPCS[..4].iter().position(|r| *r == rpc)?;
    Some((u32::try_from(i).ok()?, SHAPES[i]))
}

/// A MessagePack value for data slots; `Raw` may be anything, even not one value.
#[derive(Arbitrary, Debug)]
pub enum Value {
    /// nil
    Nil,
    /// An integer.
    Int(i64),
    /// A str.
    Str(String),
    /// A bin.
    Bin(Vec<u8>),
    /// An array of integers.
    Array(Vec<i32>),
    /// A map of str to integer.
    Map(Vec<(String, i64)>),
    /// Raw bytes, written as they are.
    Raw(Vec<u8>),
}

impl Value {
    /// The encoded value; `Raw` bytes as they are unless `valid` is asked for.
    fn encode(&self, valid: bool) -> Vec<u8> {
        use rmp::encode::{write_array_len, write_bin, write_map_len, write_sint, write_str};
        let mut out = Vec::new();
        // Writing into a Vec cannot fail: the results are ignored.
        let w = &mut out;
        match self {
            Self::Nil => w.push(0xc0),
            Self::Int(v) => ok(write_sint(w, *v)),
            Self::Str(s) => ok(write_str(w, s)),
            Self::Bin(b) => ok(write_bin(w, b)),
            Self::Raw(b) if valid => ok(write_bin(w, b)),
            Self::Raw(b) => w.extend_from_slice(b),
            Self::Array(items) => {
                ok(write_array_len(w, len32(items.len())));
                for i in items {
                    ok(write_sint(w, i64::from(*i)));
                }
            }
            Self::Map(kv) => {
                ok(write_map_len(w, len32(kv.len())));
                for (k, v) in kv {
                    ok(write_str(w, k));
                    ok(write_sint(w, *v));
                }
            }
        }
        out
    }
}

/// Ignores the result of a write into a `Vec`, which cannot fail.
fn ok<T, E>(_: Result<T, E>) {}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A metadata map; `Raw` may be anything.
#[derive(Arbitrary, Debug)]
pub enum Meta {
    /// `{}`
    Empty,
    /// str keys to integers.
    Entries(Vec<(String, i64)>),
    /// Raw bytes, written as they are.
    Raw(Vec<u8>),
}

impl Meta {
    fn encode(&self, valid: bool) -> Vec<u8> {
        match self {
            Self::Empty => EMPTY_MAP.to_vec(),
            Self::Raw(b) if !valid => b.clone(),
            Self::Raw(_) => EMPTY_MAP.to_vec(),
            Self::Entries(kv) => Value::Map(kv.clone()).encode(true),
        }
    }
}

/// A seq among a few, so that frames and commands meet the same calls.
fn seq(s: u8) -> Seq {
    Seq(i64::from(s % 6) - 1)
}

/// One step of the [`server`] target.
#[derive(Arbitrary, Debug)]
pub enum ServerStep {
    /// A request frame from the client.
    Request {
        /// Seq selector.
        seq: u8,
        /// Index into the rpcs.
        rpc: u8,
        /// Request type code, modulo 4.
        kind: u8,
        /// Data.
        data: Value,
        /// Metadata.
        metadata: Option<Meta>,
    },
    /// Any bytes as a client frame.
    Raw(Vec<u8>),
    /// `send_message`.
    Message(u8, Value),
    /// `send_message` with a failing encoder.
    FailedMessage(u8),
    /// `send_end`.
    End(u8),
    /// `send_error`.
    Error(u8, i64),
    /// `send_metadata`.
    Metadata(u8),
    /// `set_leading`.
    Leading(u8, Meta),
    /// `set_trailing`.
    Trailing(u8, Meta),
    /// `forget`.
    Forget(u8),
    /// The connection goes away.
    Close,
}

/// Input of the [`server`] target: limits and steps.
#[derive(Arbitrary, Debug)]
pub struct ServerInput {
    /// `max_concurrent_calls`, modulo 5.
    pub calls: u8,
    /// `max_half_closed`, modulo 4.
    pub half_closed: u8,
    /// `max_invalid_frames`, modulo 8.
    pub invalid: Option<u8>,
    /// What happens, in order.
    pub steps: Vec<ServerStep>,
}

/// The server engine under arbitrary frames and commands: the invariants hold at every step.
///
/// # Panics
///
/// With the broken invariant, when one breaks.
pub fn server(input: &ServerInput) {
    let limits = Limits::default()
        .max_concurrent_calls(usize::from(input.calls % 5))
        .max_half_closed(usize::from(input.half_closed % 4))
        .max_invalid_frames(input.invalid.map(|n| u32::from(n % 8)));
    let mut c = ServerCheck::new(limits, route);
    for step in &input.steps {
        let checked = match step {
            ServerStep::Request {
                seq: s,
                rpc,
                kind,
                data,
                metadata,
            } => {
                let kind =
                    RequestType::from_code(i128::from(kind % 4)).unwrap_or(RequestType::Message);
                let rpc = RPCS[usize::from(*rpc) % RPCS.len()];
                let md = metadata.as_ref().map(|m| m.encode(false));
                let mut out = Vec::new();
                encode_request(
                    &mut out,
                    seq(*s),
                    rpc,
                    kind,
                    &data.encode(false),
                    md.as_deref(),
                );
                c.feed(Bytes::from(out))
            }
            ServerStep::Raw(bytes) => c.feed(Bytes::copy_from_slice(bytes)),
            ServerStep::Message(s, v) => {
                c.command(ServerCommand::Message(seq(*s), &v.encode(false)))
            }
            ServerStep::FailedMessage(s) => c.command(ServerCommand::FailedMessage(seq(*s))),
            ServerStep::End(s) => c.command(ServerCommand::End(seq(*s))),
            ServerStep::Error(s, code) => c.command(ServerCommand::Error(seq(*s), *code)),
            ServerStep::Metadata(s) => c.command(ServerCommand::Metadata(seq(*s))),
            ServerStep::Leading(s, m) => {
                c.command(ServerCommand::Leading(seq(*s), &m.encode(false)))
            }
            ServerStep::Trailing(s, m) => {
                c.command(ServerCommand::Trailing(seq(*s), &m.encode(false)))
            }
            ServerStep::Forget(s) => c.command(ServerCommand::Forget(seq(*s))),
            ServerStep::Close => c.close(),
        };
        if let Err(why) = checked {
            panic!("server invariant broken at {step:?}: {why}");
        }
        if c.is_closed() {
            return;
        }
    }
    if let Err(why) = c.close() {
        panic!("server invariant broken at close: {why}");
    }
}

/// Data of a fuzzed response frame.
#[derive(Arbitrary, Debug)]
pub enum ResponseData {
    /// Any value.
    Value(Value),
    /// An error map, possibly missing its code or message.
    ErrorMap {
        /// `code`.
        code: Option<i64>,
        /// `message`.
        message: Option<String>,
    },
}

/// One step of the [`client`] target; `u8` picks among the seqs handed out so far.
#[derive(Arbitrary, Debug)]
pub enum ClientStep {
    /// `open`.
    Open {
        /// Index into the rpcs.
        rpc: u8,
        /// Index into the shapes.
        shape: u8,
        /// Opening data.
        data: Option<Value>,
        /// Request metadata.
        metadata: Option<Meta>,
    },
    /// `send_item`.
    Item(u8, Value),
    /// `send_end`.
    End(u8),
    /// `cancel`.
    Cancel(u8),
    /// A response frame from the server.
    Respond {
        /// Seq selector.
        pick: u8,
        /// Response type code, modulo 4.
        kind: u8,
        /// Data.
        data: ResponseData,
        /// Leading metadata.
        leading: Option<Meta>,
        /// Trailing metadata.
        trailing: Option<Meta>,
    },
    /// Any bytes as a server frame.
    Raw(Vec<u8>),
    /// The connection goes away.
    Close,
}

/// The client engine under arbitrary commands and server frames: the invariants hold at
/// every step.
///
/// # Panics
///
/// With the broken invariant, when one breaks.
pub fn client(steps: &[ClientStep]) {
    let mut c = ClientCheck::new();
    for step in steps {
        let checked = match step {
            ClientStep::Open {
                rpc,
                shape,
                data,
                metadata,
            } => {
                let data = data.as_ref().map(|d| d.encode(true));
                let md = metadata.as_ref().map(|m| m.encode(true));
                c.open(
                    RPCS[usize::from(*rpc) % RPCS.len()],
                    SHAPES[usize::from(*shape) % SHAPES.len()],
                    data.as_deref(),
                    md.as_deref(),
                )
            }
            ClientStep::Item(p, v) => c.send(c.pick(usize::from(*p)), Some(&v.encode(true))),
            ClientStep::End(p) => c.send(c.pick(usize::from(*p)), None),
            ClientStep::Cancel(p) => c.cancel(c.pick(usize::from(*p))),
            ClientStep::Respond {
                pick,
                kind,
                data,
                leading,
                trailing,
            } => {
                let data = match data {
                    ResponseData::Value(v) => v.encode(false),
                    ResponseData::ErrorMap { code, message } => {
                        let mut kv = Vec::new();
                        if let Some(code) = code {
                            kv.push(("code".to_owned(), *code));
                        }
                        let mut out = Value::Map(kv).encode(true);
                        if let Some(m) = message {
                            // One more entry: bump the fixmap length and append it.
                            if let Some(first) = out.first_mut().filter(|b| **b < 0x8f) {
                                *first += 1;
                                ok(rmp::encode::write_str(&mut out, "message"));
                                ok(rmp::encode::write_str(&mut out, m));
                            }
                        }
                        out
                    }
                };
                let leading = leading.as_ref().map(|m| m.encode(false));
                let trailing = trailing.as_ref().map(|m| m.encode(false));
                c.feed_response(Response {
                    seq: c.pick(usize::from(*pick)),
                    kind: ResponseType::from_code(i128::from(kind % 4))
                        .unwrap_or(ResponseType::Message),
                    data: &data,
                    leading: leading.as_deref(),
                    trailing: trailing.as_deref(),
                })
            }
            ClientStep::Raw(bytes) => c.feed(Bytes::copy_from_slice(bytes)),
            ClientStep::Close => c.close(),
        };
        if let Err(why) = checked {
            panic!("client invariant broken at {step:?}: {why}");
        }
        if c.is_closed() {
            return;
        }
    }
    if let Err(why) = c.close() {
        panic!("client invariant broken at close: {why}");
    }
}
