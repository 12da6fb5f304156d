//! Errors of the protocol layer: decoding, connection-level failures and command misuse.

use std::convert::Infallible;

use super::frame::Seq;

/// An envelope (or error map) that could not be decoded.
///
/// `seq` tells the two cases of swill/1 §12 apart: `None` when no seq could be read (§12.1: the
/// server must not answer), `Some` when the frame starts with an array header and a complete
/// integer seq, whatever follows (§12.3: the server answers ERROR 400 on that seq with this
/// error's text). Unlike §12.1, a frame that is truncated or malformed after its seq counts as
/// having a seq, so its caller gets an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    /// The seq, when it was readable.
    pub seq: Option<Seq>,
    /// What is wrong.
    pub reason: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) const fn unreadable(reason: DecodeErrorKind) -> Self {
        Self { seq: None, reason }
    }

    pub(crate) const fn at(seq: Seq, reason: DecodeErrorKind) -> Self {
        Self {
            seq: Some(seq),
            reason,
        }
    }
}

/// Which metadata slot a [`DecodeErrorKind`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetadataSlot {
    /// The metadata element of a request.
    Request,
    /// The leading metadata element of a response.
    Leading,
    /// The trailing metadata element of a response.
    Trailing,
}

impl std::fmt::Display for MetadataSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Request => "metadata",
            Self::Leading => "leading metadata",
            Self::Trailing => "trailing metadata",
        })
    }
}

/// The problem found while decoding; its `Display` is the text of the ERROR 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The message has no bytes.
    #[error("empty message")]
    Empty,
    /// The message ends in the middle of a value.
    #[error("truncated message")]
    Truncated,
    /// A byte that is not a MessagePack marker (`0xc1`) was found.
    #[error("invalid messagepack marker 0x{0:02x}")]
    InvalidMarker(u8),
    /// Containers nest deeper than [`MAX_DEPTH`](super::limits::MAX_DEPTH).
    #[error("values nest deeper than {} levels", super::limits::MAX_DEPTH)]
    TooDeep,
    /// The top-level value is not an array.
    #[error("the envelope is not an array")]
    NotAnArray,
    /// The envelope array has no elements.
    #[error("the envelope array is empty")]
    EmptyArray,
    /// The first element is not an integer.
    #[error("seq is not an integer")]
    SeqNotInt,
    /// The seq is an integer that does not fit an `i64`.
    #[error("seq does not fit a signed 64-bit integer")]
    SeqOutOfRange,
    /// Bytes follow the envelope value.
    #[error("trailing bytes after the envelope")]
    TrailingBytes,
    /// The envelope has too few elements.
    #[error("expected an array of {min} to 5 elements, got {got}")]
    TooFewElements {
        /// The minimum (3 for requests, 2 for responses).
        min: u32,
        /// The array length received.
        got: u32,
    },
    /// The rpc element is not a MessagePack str.
    #[error("rpc is not a str")]
    RpcNotStr,
    /// The rpc element is a str that is not valid UTF-8.
    #[error("rpc is not valid utf-8")]
    RpcNotUtf8,
    /// The request type element is present but not an integer.
    #[error("request type is not an integer")]
    RequestTypeNotInt,
    /// The request type is an integer outside 0-3.
    #[error("unknown request type {0}")]
    UnknownRequestType(i128),
    /// The response type element is present but not an integer.
    #[error("response type is not an integer")]
    ResponseTypeNotInt,
    /// The response type is an integer outside 0-3.
    #[error("unknown response type {0}")]
    UnknownResponseType(i128),
    /// A metadata element is neither a map nor nil.
    #[error("{0} is not a map or nil")]
    MetadataNotMap(MetadataSlot),
    /// A metadata map has a key that is not a str.
    #[error("{0} key is not a str")]
    MetadataKeyNotStr(MetadataSlot),
    /// A metadata map has a str key that is not valid UTF-8.
    #[error("{0} key is not valid utf-8")]
    MetadataKeyNotUtf8(MetadataSlot),
    /// The data of an ERROR frame is not a map.
    #[error("error data is not a map")]
    ErrorDataNotMap,
    /// The error map has no integer `code`.
    #[error("error map has no integer code")]
    ErrorCodeMissing,
    /// The error map has no str `message`.
    #[error("error map has no str message")]
    ErrorMessageMissing,
}

/// A failure that ends the connection (swill/1 §12.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// More undecodable frames than [`Limits::max_invalid_frames`](super::Limits) allows.
    #[error("too many undecodable frames ({count})")]
    TooManyInvalidFrames {
        /// How many undecodable frames were received.
        count: u32,
    },
}

impl ProtocolError {
    /// The WebSocket close code the driver should use: 1007 (invalid frame payload data).
    pub const fn close_code(&self) -> u16 {
        match self {
            Self::TooManyInvalidFrames { .. } => 1007,
        }
    }
}

/// Why a [`ServerConn`](super::ServerConn) command was refused.
///
/// `E` is the error of the payload writer given to
/// [`send_message`](super::ServerConn::send_message); other commands use the default
/// `Infallible`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError<E = Infallible> {
    /// No call with this seq is open (never opened, cancelled, finished or forgotten); the driver
    /// drops the output.
    #[error("no open call with this seq")]
    NotOpen,
    /// Leading metadata was already sent for this call.
    #[error("leading metadata was already sent")]
    LeadingAlreadySent,
    /// END_OF_STREAM was asked for a call whose response is not a stream.
    #[error("end of stream on a single-response call")]
    NotStreaming,
    /// The payload writer succeeded but did not append exactly one MessagePack value.
    #[error("the payload writer did not produce exactly one messagepack value")]
    InvalidData,
    /// The payload writer failed; nothing was queued and the call is still open, so the driver
    /// can answer with [`send_error`](super::ServerConn::send_error).
    #[error("the payload writer failed")]
    Encode(#[source] E),
}

impl SendError<Infallible> {
    /// Turns a command error without payload into one of any payload error type.
    pub fn widen<E>(self) -> SendError<E> {
        match self {
            Self::NotOpen => SendError::NotOpen,
            Self::LeadingAlreadySent => SendError::LeadingAlreadySent,
            Self::NotStreaming => SendError::NotStreaming,
            Self::InvalidData => SendError::InvalidData,
            Self::Encode(e) => match e {},
        }
    }
}

/// Why a [`ClientConn`](super::ClientConn) command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientSendError {
    /// No call with this seq is open.
    #[error("no open call with this seq")]
    NotOpen,
    /// The call's request is not a stream.
    #[error("the call's request is not a stream")]
    NotStreaming,
    /// END_OF_STREAM was already sent for this call.
    #[error("the request stream has already ended")]
    RequestEnded,
}
