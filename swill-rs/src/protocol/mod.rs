//! The sans-IO swill/1 engine: envelopes, call state and ordering rules, without any I/O.
//!
//! This module is layer 0 of swill: it uses no other swill module and no runtime. It never
//! reads a clock, spawns or blocks; a driver (the server driver or the Rust client) moves bytes
//! between it and a WebSocket.
//!
//! # Frame model
//!
//! Every binary WebSocket message is one MessagePack array (swill/1 §4, §5):
//!
//! ```text
//! request   [seq, data, rpc (, type (, metadata))]        client -> server, 3 to 5 elements
//! response  [seq, data, type, leading, trailing]          server -> client, always 5
//! ```
//!
//! [`codec`] reads and writes the envelope only. `data` and metadata maps stay raw MessagePack
//! bytes: decoding yields borrowed slices ([`RequestEnvelope`], [`ResponseEnvelope`]) and the
//! engines hand them on as [`Bytes`](bytes::Bytes) slices of the incoming message, never
//! copies. The handler layer decodes payloads into its own types.
//!
//! # The `handle_` / `poll_` contract
//!
//! [`ServerConn`] and [`ClientConn`] follow quinn-proto's vocabulary:
//!
//! - `handle_message` feeds one incoming binary message;
//! - plain verbs (`send_message`, `set_leading`, `open`, `cancel`, ...) are commands from the
//!   application;
//! - `poll_event` returns what the application must act on, `poll_transmit` the next complete
//!   message to write, both `None` when there is nothing (drain them after every input or
//!   command);
//! - getters (`open_calls`, `is_open`, `pending_transmit_bytes`) inspect the state.
//!
//! Nothing panics on any input. A peer's recoverable mistake becomes an event or a queued ERROR
//! frame; `Err` from `handle_message` means only "close the connection".
//!
//! ```
//! use bytes::Bytes;
//! use swill::protocol::{Event, Limits, Seq, ServerConn, Shape};
//!
//! let router = |rpc: &str| (rpc == "add").then_some((0, Shape::UNARY));
//! let mut conn = ServerConn::new(Limits::default());
//! // [1, [1, 2], "add"]
//! conn.handle_message(Bytes::from_static(b"\x93\x01\x92\x01\x02\xa3add"), &router)
//!     .unwrap();
//! let Some(Event::Open { seq, payload, .. }) = conn.poll_event() else { panic!() };
//! assert_eq!(payload.as_deref(), Some(&b"\x92\x01\x02"[..]));
//! conn.send_message(seq, |out| {
//!     out.push(0x03);
//!     Ok::<_, std::convert::Infallible>(())
//! })
//! .unwrap();
//! // [1, 3, 0, nil, nil]
//! assert_eq!(conn.poll_transmit().as_deref(), Some(&b"\x95\x01\x03\x00\xc0\xc0"[..]));
//! assert!(!conn.is_open(Seq(1)));
//! ```
//!
//! # What the server engine decides
//!
//! - Calls are keyed by seq alone, per connection (§7.1). A MESSAGE or METADATA frame reusing
//!   the seq of an open call with another rpc is dropped and logged, never a second call
//!   (§12.5); so is any other frame naming another rpc.
//! - An unknown rpc gets ERROR 404 "No func was found to process this request" (§6.2).
//! - A METADATA frame opens only streaming-request calls. Opening a single-request call with
//!   one gets the original's ERROR 500 "An internal server error occurred", byte for byte, as
//!   §7.2 and §10 require (no §12 recommendation overrides it). A second
//!   METADATA frame on a streaming-request call gets ERROR 400 and cancels the call
//!   ([`CancelReason::Protocol`]).
//! - A call beyond [`Limits::max_concurrent_calls`] gets ERROR 429 (§12.4).
//! - Frames that do not fit the call (more data for a single-request call, anything after the
//!   client's END_OF_STREAM) are ignored and logged (§12.6). END_OF_STREAM and CANCEL for an
//!   unknown seq are ignored (§12.7).
//! - A call the server ends while the client's request stream is open is remembered as
//!   half-closed: its MESSAGE/METADATA frames are dropped until END_OF_STREAM or CANCEL
//!   arrives (§12.6), at most [`Limits::max_half_closed`] seqs, oldest forgotten first.
//! - An invalid envelope with a readable seq gets ERROR 400 naming the problem and ends an open
//!   call with that seq (§12.3); with no readable seq it is dropped, logged and counted
//!   against [`Limits::max_invalid_frames`] (§12.1).
//! - Exactly one terminal frame per call, nothing after it (§12.10); leading metadata goes out
//!   once, on the first frame of the call, trailing metadata on the terminal frame (§7.3).

pub mod codec;
mod error;
mod frame;
mod limits;
mod name;
mod seqmap;
mod server;
#[cfg(feature = "metrics")]
mod tally;
mod transmit;

mod client;

pub use client::{ClientConn, ClientEvent, UNKNOWN_ERROR_CODE};
pub(crate) use codec::Open;
pub use codec::{
    decode_error_data, decode_error_data_lenient, decode_request, decode_response,
    encode_error_data, encode_request, encode_response, encode_response_head, encode_response_tail,
    is_metadata_map, is_one_value, skip_value, PartialErrorData, MAX_DEPTH,
};
pub use error::{
    ClientSendError, DecodeError, DecodeErrorKind, MetadataSlot, ProtocolError, SendError,
};
pub use frame::{
    ErrorData, RequestEnvelope, RequestType, ResponseEnvelope, ResponseType, Seq, Shape, EMPTY_MAP,
    NIL,
};
pub use limits::{
    Limits, DEFAULT_MAX_CONCURRENT_CALLS, DEFAULT_MAX_HALF_CLOSED, DEFAULT_MAX_INVALID_FRAMES,
};
pub use seqmap::{SeqHasher, SeqMap, SeqSet, SeqState};
pub use server::{
    CancelReason, Event, Router, ServerConn, METADATA_OPENS_SINGLE_MESSAGE, NOT_FOUND_MESSAGE,
    SECOND_METADATA_MESSAGE, TOO_MANY_CALLS_MESSAGE,
};
#[cfg(feature = "metrics")]
pub use tally::ErrorTally;

#[cfg(test)]
mod tests;
