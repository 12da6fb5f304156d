//! [`ClientConn`]: the client side of one connection.

use std::collections::VecDeque;

use bytes::Bytes;
use tracing::debug;

use super::codec::{decode_error_data_lenient, decode_response, encode_request};
use super::error::{ClientSendError, DecodeError};
use super::frame::{RequestType, ResponseType, Seq, Shape, EMPTY_MAP, NIL};
use super::seqmap::SeqMap;
use super::transmit::Outbox;

/// The code reported by [`ClientEvent::Error`] when the server's error map has no integer
/// `code` (swill/1 vector `resp.invalid.error_without_code`: "an error of unknown code").
pub const UNKNOWN_ERROR_CODE: i64 = 0;

/// What the server sent for a call; drained with [`ClientConn::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// An eager METADATA frame; the call stays open.
    Metadata {
        /// The call's seq.
        seq: Seq,
        /// The raw leading metadata map (`{}` when the frame carried nil).
        leading: Bytes,
    },
    /// A MESSAGE: the single response (`last`, the call is over) or a stream item.
    Message {
        /// The call's seq.
        seq: Seq,
        /// Raw data.
        data: Bytes,
        /// Raw leading metadata map, if this frame carries it.
        leading: Option<Bytes>,
        /// Raw trailing metadata map, if this frame carries it.
        trailing: Option<Bytes>,
        /// Whether this ends the call (single-response calls).
        last: bool,
    },
    /// END_OF_STREAM: the call is over.
    End {
        /// The call's seq.
        seq: Seq,
        /// Raw leading metadata map, if this frame carries it.
        leading: Option<Bytes>,
        /// Raw trailing metadata map, if this frame carries it.
        trailing: Option<Bytes>,
    },
    /// ERROR: the call is over.
    Error {
        /// The call's seq.
        seq: Seq,
        /// The error code ([`UNKNOWN_ERROR_CODE`] when the map has none).
        code: i64,
        /// The error message (empty when the map has none).
        message: String,
        /// Raw `data` value, when present.
        data: Option<Bytes>,
    },
}

#[derive(Debug)]
struct ClientCall {
    rpc: Box<str>,
    shape: Shape,
    /// A streaming request whose END_OF_STREAM has not been sent yet.
    request_open: bool,
}

/// The client side of one swill/1 connection, without I/O.
///
/// Open calls with [`open`](Self::open), feed every binary WebSocket message to
/// [`handle_message`](Self::handle_message), act on [`poll_event`](Self::poll_event) and write
/// what [`poll_transmit`](Self::poll_transmit) returns.
#[derive(Debug)]
pub struct ClientConn {
    next_seq: i64,
    calls: SeqMap<ClientCall>,
    events: VecDeque<ClientEvent>,
    out: Outbox,
}

impl Default for ClientConn {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientConn {
    /// A connection with no call; seqs count from 1.
    pub fn new() -> Self {
        Self {
            next_seq: 1,
            calls: SeqMap::default(),
            events: VecDeque::new(),
            out: Outbox::default(),
        }
    }

    /// Opens a call and queues its opening frame; returns the call's seq.
    ///
    /// With `data`, the opening frame is a MESSAGE (the single request, or the first stream
    /// item). Without, a streaming-request call opens with a METADATA frame carrying
    /// `metadata` or `{}` (swill/1 §7.2), and a single-request call sends a MESSAGE with nil
    /// data (a call without arguments). `data` and `metadata` are raw MessagePack values.
    pub fn open(
        &mut self,
        rpc: &str,
        shape: Shape,
        data: Option<&[u8]>,
        metadata: Option<&[u8]>,
    ) -> Seq {
        let seq = Seq(self.next_seq);
        // i64 seqs cannot run out on one connection; saturate rather than wrap to 0.
        self.next_seq = self.next_seq.saturating_add(1);
        self.out.frame(|out| match data {
            Some(data) => encode_request(out, seq, rpc, RequestType::Message, data, metadata),
            None if shape.request_streams => encode_request(
                out,
                seq,
                rpc,
                RequestType::Metadata,
                NIL,
                Some(metadata.unwrap_or(EMPTY_MAP)),
            ),
            None => encode_request(out, seq, rpc, RequestType::Message, NIL, metadata),
        });
        self.calls.insert(
            seq,
            ClientCall {
                rpc: rpc.into(),
                shape,
                request_open: shape.request_streams,
            },
        );
        seq
    }

    fn streaming_call(
        calls: &mut SeqMap<ClientCall>,
        seq: Seq,
    ) -> Result<&mut ClientCall, ClientSendError> {
        let call = calls.get_mut(&seq).ok_or(ClientSendError::NotOpen)?;
        if !call.shape.request_streams {
            return Err(ClientSendError::NotStreaming);
        }
        if !call.request_open {
            return Err(ClientSendError::RequestEnded);
        }
        Ok(call)
    }

    /// Sends the next request-stream item `[seq, data, rpc]`.
    ///
    /// # Errors
    ///
    /// [`ClientSendError::NotOpen`], [`ClientSendError::NotStreaming`] or
    /// [`ClientSendError::RequestEnded`].
    pub fn send_item(&mut self, seq: Seq, data: &[u8]) -> Result<(), ClientSendError> {
        let call = Self::streaming_call(&mut self.calls, seq)?;
        let rpc = &*call.rpc;
        self.out
            .frame(|out| encode_request(out, seq, rpc, RequestType::Message, data, None));
        Ok(())
    }

    /// Ends the request stream: END_OF_STREAM `[seq, nil, rpc, 1]`.
    ///
    /// # Errors
    ///
    /// As for [`send_item`](Self::send_item).
    pub fn send_end(&mut self, seq: Seq) -> Result<(), ClientSendError> {
        let call = Self::streaming_call(&mut self.calls, seq)?;
        call.request_open = false;
        let rpc = &*call.rpc;
        self.out
            .frame(|out| encode_request(out, seq, rpc, RequestType::EndOfStream, NIL, None));
        Ok(())
    }

    /// Cancels an open call: CANCEL `[seq, nil, rpc, 3]`, and forgets it locally. Does nothing
    /// for a seq that is not open.
    pub fn cancel(&mut self, seq: Seq) {
        if let Some(call) = self.calls.remove(&seq) {
            self.out.frame(|out| {
                encode_request(out, seq, &call.rpc, RequestType::Cancel, NIL, None);
            });
        }
    }

    /// Feeds one binary WebSocket message from the server.
    ///
    /// Frames for seqs with no open call are ignored (late items after a cancel are normal,
    /// swill/1 §7.5). When the server ends a call whose request stream is still open, an
    /// END_OF_STREAM is queued so that the server can forget the half-closed seq.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] for a frame that is not a valid response envelope; it is dropped and
    /// the connection stays usable.
    pub fn handle_message(&mut self, msg: Bytes) -> Result<(), DecodeError> {
        let env = decode_response(&msg)?;
        let seq = env.seq;
        let Some(call) = self.calls.get(&seq) else {
            debug!(seq = seq.0, kind = ?env.kind, "frame for unknown seq ignored");
            return Ok(());
        };
        let slice = |raw: Option<&[u8]>| raw.map(|r| msg.slice_ref(r));
        let (event, ends) = match env.kind {
            ResponseType::Metadata => (
                ClientEvent::Metadata {
                    seq,
                    leading: slice(env.leading).unwrap_or_else(|| Bytes::from_static(EMPTY_MAP)),
                },
                false,
            ),
            ResponseType::Message => {
                let last = !call.shape.response_streams;
                let event = ClientEvent::Message {
                    seq,
                    data: msg.slice_ref(env.data),
                    leading: slice(env.leading),
                    trailing: slice(env.trailing),
                    last,
                };
                (event, last)
            }
            ResponseType::EndOfStream => (
                ClientEvent::End {
                    seq,
                    leading: slice(env.leading),
                    trailing: slice(env.trailing),
                },
                true,
            ),
            ResponseType::Error => {
                let e = decode_error_data_lenient(env.data).unwrap_or_default();
                let event = ClientEvent::Error {
                    seq,
                    code: e.code.unwrap_or(UNKNOWN_ERROR_CODE),
                    message: e.message.unwrap_or_default().to_owned(),
                    data: slice(e.data),
                };
                (event, true)
            }
        };
        self.events.push_back(event);
        if ends {
            if let Some(call) = self.calls.remove(&seq) {
                if call.request_open {
                    self.out.frame(|out| {
                        encode_request(out, seq, &call.rpc, RequestType::EndOfStream, NIL, None);
                    });
                }
            }
        }
        Ok(())
    }

    /// The next event, in arrival order.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The next frame to send: one complete binary WebSocket message, in queue order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.poll()
    }

    /// Bytes queued and not yet returned by [`poll_transmit`](Self::poll_transmit).
    pub fn pending_transmit_bytes(&self) -> usize {
        self.out.pending_bytes()
    }

    /// Whether a call with this seq is open.
    pub fn is_open(&self, seq: Seq) -> bool {
        self.calls.contains_key(&seq)
    }

    /// Number of open calls.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// The connection is gone: returns the seqs of all open calls (ascending) and forgets them,
    /// with any queued events and output. Seqs keep counting; a new connection needs a new
    /// `ClientConn` (swill/1 §2.3: numbering restarts at 1).
    pub fn close(&mut self) -> Vec<Seq> {
        let mut seqs: Vec<Seq> = self.calls.drain().map(|(seq, _)| seq).collect();
        seqs.sort_unstable();
        self.events.clear();
        self.out.clear();
        seqs
    }
}
