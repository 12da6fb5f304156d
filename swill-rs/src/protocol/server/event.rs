//! What the engine tells the application ([`Event`], [`CancelReason`]) and what it asks of it
//! ([`Router`]).

use bytes::Bytes;

use crate::protocol::frame::{Seq, Shape};

/// Resolves an rpc name to a handler id and the call's shape.
pub trait Router {
    /// The handler for `rpc`, or `None` when no handler has that name.
    fn route(&self, rpc: &str) -> Option<(u32, Shape)>;
}

impl<F> Router for F
where
    F: Fn(&str) -> Option<(u32, Shape)>,
{
    fn route(&self, rpc: &str) -> Option<(u32, Shape)> {
        self(rpc)
    }
}

/// Why a call was cancelled by the engine.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// The client sent CANCEL.
    Client,
    /// The engine answered with this ERROR, which ends the call (for example a second
    /// METADATA frame, or an invalid envelope carrying the seq of an open call). The
    /// application sends nothing more for the call.
    Protocol {
        /// The code of the ERROR frame the engine queued.
        code: i64,
        /// Its message, exactly as sent.
        message: String,
    },
}

/// What the application has to act on; drained with
/// [`ServerConn::poll_event`](super::ServerConn::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A call opened.
    Open {
        /// The call's seq.
        seq: Seq,
        /// The handler id returned by the [`Router`].
        handler: u32,
        /// The call's shape returned by the [`Router`].
        shape: Shape,
        /// Raw data of the opening MESSAGE; `None` when a METADATA frame opened a
        /// streaming-request call.
        payload: Option<Bytes>,
        /// Raw request metadata map of the opening frame, `None` when nil or absent.
        metadata: Option<Bytes>,
    },
    /// The next request-stream item (streaming-request calls only).
    Message {
        /// The call's seq.
        seq: Seq,
        /// Raw data of the item.
        payload: Bytes,
    },
    /// The client ended its request stream.
    EndOfStream {
        /// The call's seq.
        seq: Seq,
    },
    /// Drop the call's handler now and send nothing more for it.
    Cancelled {
        /// The call's seq.
        seq: Seq,
        /// Who ended it.
        reason: CancelReason,
    },
}
