//! Frame vocabulary: [`Seq`], the type codes and borrowed views of decoded envelopes.

use std::fmt;

/// A call's sequence id, chosen by the client and echoed on every frame of the call (swill/1 §7.1).
///
/// Any MessagePack integer that fits an `i64` is accepted, including 0 and negative values,
/// and echoed in shortest form. An unsigned value above `i64::MAX` is not a readable seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seq(pub i64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The type element of a request envelope (swill/1 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RequestType {
    /// Opens a call or carries the next request-stream item.
    Message = 0,
    /// The client has no more items for this call.
    EndOfStream = 1,
    /// Opens a streaming-request call with metadata only.
    Metadata = 2,
    /// The client abandons the call.
    Cancel = 3,
}

impl RequestType {
    /// The type for a wire code, `None` for codes other than 0-3.
    pub const fn from_code(code: i128) -> Option<Self> {
        match code {
            0 => Some(Self::Message),
            1 => Some(Self::EndOfStream),
            2 => Some(Self::Metadata),
            3 => Some(Self::Cancel),
            _ => None,
        }
    }

    /// The wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// The type element of a response envelope (swill/1 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResponseType {
    /// A single response or a response-stream item.
    Message = 0,
    /// The end of a response stream.
    EndOfStream = 1,
    /// An eager leading-metadata frame.
    Metadata = 2,
    /// An error; ends the call.
    Error = 3,
}

impl ResponseType {
    /// The type for a wire code, `None` for codes other than 0-3.
    pub const fn from_code(code: i128) -> Option<Self> {
        match code {
            0 => Some(Self::Message),
            1 => Some(Self::EndOfStream),
            2 => Some(Self::Metadata),
            3 => Some(Self::Error),
            _ => None,
        }
    }

    /// The wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// The shape of a call: whether each side streams (swill/1 §7.4).
///
/// Nothing on the wire announces it; both peers know it out of band.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    /// The client sends a stream of items ended by END_OF_STREAM.
    pub request_streams: bool,
    /// The server answers with a stream of items ended by END_OF_STREAM.
    pub response_streams: bool,
}

impl Shape {
    /// Single request, single response.
    pub const UNARY: Self = Self::new(false, false);
    /// Single request, streaming response.
    pub const SERVER_STREAMING: Self = Self::new(false, true);
    /// Streaming request, single response.
    pub const CLIENT_STREAMING: Self = Self::new(true, false);
    /// Streaming request, streaming response.
    pub const BIDI: Self = Self::new(true, true);

    /// A shape from its two flags.
    pub const fn new(request_streams: bool, response_streams: bool) -> Self {
        Self {
            request_streams,
            response_streams,
        }
    }
}

/// Borrowed view of a decoded request envelope.
///
/// `data` is the raw MessagePack bytes of the data item (never decoded here); `metadata` is the
/// raw bytes of the metadata map when it is a map (nil or absent give `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestEnvelope<'a> {
    /// The call's sequence id.
    pub seq: Seq,
    /// Raw bytes of the data element (one MessagePack value).
    pub data: &'a [u8],
    /// The handler name.
    pub rpc: &'a str,
    /// The request type (MESSAGE when the element is absent).
    pub kind: RequestType,
    /// Raw bytes of the metadata map, `None` for nil or absent.
    pub metadata: Option<&'a [u8]>,
    /// Number of elements in the envelope array as sent (3 or more).
    pub array_len: u32,
}

/// Borrowed view of a decoded response envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseEnvelope<'a> {
    /// The echoed sequence id.
    pub seq: Seq,
    /// Raw bytes of the data element (one MessagePack value; nil when absent).
    pub data: &'a [u8],
    /// The response type (MESSAGE when absent).
    pub kind: ResponseType,
    /// Raw bytes of the leading metadata map, `None` for nil or absent.
    pub leading: Option<&'a [u8]>,
    /// Raw bytes of the trailing metadata map, `None` for nil or absent.
    pub trailing: Option<&'a [u8]>,
    /// Number of elements in the envelope array as sent (2 or more).
    pub array_len: u32,
}

/// Borrowed view of the error map carried by an ERROR frame (swill/1 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorData<'a> {
    /// The error code.
    pub code: i64,
    /// The error message (possibly empty).
    pub message: &'a str,
    /// Raw bytes of the `data` value, when the key is present.
    pub data: Option<&'a [u8]>,
}

/// Raw bytes of an empty MessagePack map, written where the spec wants `{}` (swill/1 §5).
pub const EMPTY_MAP: &[u8] = &[0x80];

/// Raw bytes of MessagePack nil.
pub const NIL: &[u8] = &[0xc0];
