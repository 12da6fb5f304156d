//! [`ServerConn`]: the server side of one connection.

use std::collections::VecDeque;

use bytes::Bytes;
use tracing::debug;

use super::codec::{
    decode_request, encode_error_data, encode_response, encode_response_head, encode_response_tail,
    is_metadata_map, is_one_value,
};
use super::error::{DecodeError, ProtocolError, SendError};
use super::frame::{RequestEnvelope, RequestType, ResponseType, Seq, Shape, EMPTY_MAP, NIL};
use super::seqmap::SeqMap;
use super::transmit::Outbox;
use super::{limits::Limits, name::RpcName};

mod event;
mod half_closed;
pub use event::{CancelReason, Event, Router};
use half_closed::HalfClosed;

/// Message of the ERROR 404 for an unknown rpc, exactly as the original sends it (swill/1 §6.2).
pub const NOT_FOUND_MESSAGE: &str = "No func was found to process this request";
/// Message of the ERROR 500 for a METADATA frame opening a single-request call: the original's
/// fixed 500 message, which swill/1 §7.2 and §10 require new servers to reproduce.
pub const METADATA_OPENS_SINGLE_MESSAGE: &str = "An internal server error occurred";
/// Message of the ERROR 400 for a second METADATA frame on a streaming-request call.
pub const SECOND_METADATA_MESSAGE: &str = "metadata frame after the opening frame";
/// Message of the ERROR 429 for a call beyond [`Limits::max_concurrent_calls`].
pub const TOO_MANY_CALLS_MESSAGE: &str = "too many concurrent calls";

/// Leading metadata of a call: not set, set and waiting, or already on the wire.
#[derive(Debug, Default)]
enum Leading {
    #[default]
    Unset,
    Set(Bytes),
    Sent,
}

impl Leading {
    /// What the next frame carries, marking leading metadata as sent.
    fn take(&mut self) -> Option<Bytes> {
        match std::mem::replace(self, Self::Sent) {
            Self::Set(md) => Some(md),
            Self::Unset | Self::Sent => None,
        }
    }
}

#[derive(Debug)]
struct Call {
    rpc: RpcName,
    shape: Shape,
    /// A streaming request whose END_OF_STREAM has not arrived yet.
    request_open: bool,
    leading: Leading,
    trailing: Option<Bytes>,
}

/// The server side of one swill/1 connection, without I/O.
///
/// Feed every binary WebSocket message to [`handle_message`](Self::handle_message), act on
/// [`poll_event`](Self::poll_event), answer with the command methods (`set_*`, `send_*`,
/// [`forget`](Self::forget)) and write what [`poll_transmit`](Self::poll_transmit) returns.
/// See the [module documentation](super) for the contract.
#[derive(Debug)]
pub struct ServerConn {
    limits: Limits,
    calls: SeqMap<Call>,
    half_closed: HalfClosed,
    events: VecDeque<Event>,
    out: Outbox,
    invalid_frames: u32,
    #[cfg(feature = "metrics")]
    tally: super::tally::ErrorTally,
}

impl ServerConn {
    /// A connection with no open call.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            calls: SeqMap::default(),
            half_closed: HalfClosed::default(),
            events: VecDeque::new(),
            out: Outbox::default(),
            invalid_frames: 0,
            #[cfg(feature = "metrics")]
            tally: super::tally::ErrorTally::default(),
        }
    }

    /// The limits this connection enforces.
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Feeds one binary WebSocket message.
    ///
    /// Every recoverable case (a peer's mistake, an unknown rpc, a stray seq) queues events or
    /// ERROR frames and returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::TooManyInvalidFrames`] when more undecodable frames arrived than
    /// [`Limits::max_invalid_frames`] allows: close the connection with
    /// [`ProtocolError::close_code`].
    pub fn handle_message(
        &mut self,
        msg: Bytes,
        router: &impl Router,
    ) -> Result<(), ProtocolError> {
        let env = match decode_request(&msg) {
            Ok(env) => env,
            Err(err) => return self.on_invalid(err),
        };
        let seq = env.seq;
        if self.calls.contains_key(&seq) {
            self.on_call_frame(&msg, &env);
        } else if self.half_closed.contains(seq) {
            match env.kind {
                RequestType::EndOfStream | RequestType::Cancel => self.half_closed.remove(seq),
                RequestType::Message | RequestType::Metadata => {
                    debug!(
                        seq = seq.0,
                        rpc = env.rpc,
                        "frame for a half-closed call dropped"
                    );
                }
            }
        } else {
            match env.kind {
                RequestType::EndOfStream | RequestType::Cancel => {
                    debug!(seq = seq.0, rpc = env.rpc, kind = ?env.kind, "frame for unknown seq ignored");
                }
                RequestType::Message | RequestType::Metadata => self.open(&msg, &env, router),
            }
        }
        Ok(())
    }

    fn on_invalid(&mut self, err: DecodeError) -> Result<(), ProtocolError> {
        let Some(seq) = err.seq else {
            self.invalid_frames = self.invalid_frames.saturating_add(1);
            debug!(error = %err, count = self.invalid_frames, "undecodable frame dropped");
            return match self.limits.max_invalid_frames {
                Some(max) if self.invalid_frames > max => {
                    Err(ProtocolError::TooManyInvalidFrames {
                        count: self.invalid_frames,
                    })
                }
                _ => Ok(()),
            };
        };
        if self.half_closed.contains(seq) {
            // The client has already seen this call's terminal frame; an answer would hit a
            // seq it no longer knows.
            debug!(seq = seq.0, error = %err, "invalid frame for a half-closed call dropped");
            return Ok(());
        }
        debug!(seq = seq.0, error = %err, "invalid envelope answered with ERROR 400");
        let message = err.to_string();
        self.queue_error(seq, 400, &message);
        if let Some(call) = self.calls.remove(&seq) {
            self.ended(seq, &call);
            self.events.push_back(Event::Cancelled {
                seq,
                reason: CancelReason::Protocol { code: 400, message },
            });
        }
        Ok(())
    }

    fn open(&mut self, msg: &Bytes, env: &RequestEnvelope<'_>, router: &impl Router) {
        let seq = env.seq;
        let Some((handler, shape)) = router.route(env.rpc) else {
            debug!(seq = seq.0, rpc = env.rpc, "unknown rpc");
            self.queue_error(seq, 404, NOT_FOUND_MESSAGE);
            return;
        };
        if env.kind == RequestType::Metadata && !shape.request_streams {
            debug!(
                seq = seq.0,
                rpc = env.rpc,
                "metadata frame opens a single-request call"
            );
            self.queue_error(seq, 500, METADATA_OPENS_SINGLE_MESSAGE);
            return;
        }
        if self.calls.len() >= self.limits.max_concurrent_calls {
            debug!(seq = seq.0, rpc = env.rpc, "too many concurrent calls");
            self.queue_error(seq, 429, TOO_MANY_CALLS_MESSAGE);
            return;
        }
        self.calls.insert(
            seq,
            Call {
                rpc: env.rpc.into(),
                shape,
                request_open: shape.request_streams,
                leading: Leading::Unset,
                trailing: None,
            },
        );
        self.events.push_back(Event::Open {
            seq,
            handler,
            shape,
            payload: (env.kind == RequestType::Message).then(|| msg.slice_ref(env.data)),
            metadata: env.metadata.map(|md| msg.slice_ref(md)),
        });
    }

    fn on_call_frame(&mut self, msg: &Bytes, env: &RequestEnvelope<'_>) {
        let seq = env.seq;
        let Some(call) = self.calls.get_mut(&seq) else {
            return;
        };
        if *call.rpc != *env.rpc {
            debug!(
                seq = seq.0,
                rpc = env.rpc,
                open_rpc = &*call.rpc,
                "frame reuses the seq of an open call with another rpc; dropped"
            );
            return;
        }
        let streaming_open = call.shape.request_streams && call.request_open;
        match env.kind {
            RequestType::Cancel => {
                self.calls.remove(&seq);
                self.events.push_back(Event::Cancelled {
                    seq,
                    reason: CancelReason::Client,
                });
            }
            RequestType::Message if streaming_open => {
                self.events.push_back(Event::Message {
                    seq,
                    payload: msg.slice_ref(env.data),
                });
            }
            RequestType::EndOfStream if streaming_open => {
                call.request_open = false;
                self.events.push_back(Event::EndOfStream { seq });
            }
            RequestType::Metadata if streaming_open => {
                self.queue_error(seq, 400, SECOND_METADATA_MESSAGE);
                if let Some(call) = self.calls.remove(&seq) {
                    self.ended(seq, &call);
                }
                self.events.push_back(Event::Cancelled {
                    seq,
                    reason: CancelReason::Protocol {
                        code: 400,
                        message: SECOND_METADATA_MESSAGE.to_owned(),
                    },
                });
            }
            RequestType::Message | RequestType::EndOfStream | RequestType::Metadata => {
                debug!(seq = seq.0, rpc = env.rpc, kind = ?env.kind, "frame does not fit the call; ignored");
            }
        }
    }

    /// Bookkeeping for a call that just ended on the server's side.
    fn ended(&mut self, seq: Seq, call: &Call) {
        if call.request_open {
            self.half_closed.insert(seq, self.limits.max_half_closed);
        }
    }

    fn finish(&mut self, seq: Seq) {
        if let Some(call) = self.calls.remove(&seq) {
            self.ended(seq, &call);
        }
    }

    fn queue_error(&mut self, seq: Seq, code: i64, message: &str) {
        #[cfg(feature = "metrics")]
        self.tally.count(code);
        self.out.frame(|out| {
            encode_response_head(out, seq);
            encode_error_data(out, code, message, None);
            encode_response_tail(out, ResponseType::Error, None, None);
        });
    }

    /// The ERROR frames the engine answered on its own since the last call, reset to zero
    /// (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub fn take_error_tally(&mut self) -> super::tally::ErrorTally {
        std::mem::take(&mut self.tally)
    }

    /// The next event, in the order the frames causing them arrived.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Stores leading metadata (a raw MessagePack map) for the call's next frame.
    ///
    /// It goes out on the first of: [`send_metadata`](Self::send_metadata), the single
    /// response, the first stream item, END_OF_STREAM (swill/1 §7.3); setting it again before
    /// that replaces it.
    ///
    /// # Errors
    ///
    /// [`SendError::NotOpen`]; [`SendError::LeadingAlreadySent`] once any frame of the call
    /// went out; [`SendError::InvalidData`] when `md` is not a map with str keys.
    pub fn set_leading(&mut self, seq: Seq, md: Bytes) -> Result<(), SendError> {
        let call = self.calls.get_mut(&seq).ok_or(SendError::NotOpen)?;
        if matches!(call.leading, Leading::Sent) {
            return Err(SendError::LeadingAlreadySent);
        }
        if !is_metadata_map(&md) {
            return Err(SendError::InvalidData);
        }
        call.leading = Leading::Set(md);
        Ok(())
    }

    /// Stores trailing metadata (a raw MessagePack map) for the single response or the
    /// END_OF_STREAM; setting it again replaces it.
    ///
    /// # Errors
    ///
    /// [`SendError::NotOpen`]; [`SendError::InvalidData`] when `md` is not a map with str keys.
    pub fn set_trailing(&mut self, seq: Seq, md: Bytes) -> Result<(), SendError> {
        let call = self.calls.get_mut(&seq).ok_or(SendError::NotOpen)?;
        if !is_metadata_map(&md) {
            return Err(SendError::InvalidData);
        }
        call.trailing = Some(md);
        Ok(())
    }

    /// Sends an eager METADATA frame `[seq, nil, 2, leading, nil]`, with the stored leading
    /// metadata or `{}`; does nothing when leading metadata already went out.
    ///
    /// # Errors
    ///
    /// [`SendError::NotOpen`].
    pub fn send_metadata(&mut self, seq: Seq) -> Result<(), SendError> {
        let call = self.calls.get_mut(&seq).ok_or(SendError::NotOpen)?;
        if matches!(call.leading, Leading::Sent) {
            return Ok(());
        }
        let lead = call.leading.take();
        let lead = lead.as_deref().unwrap_or(EMPTY_MAP);
        self.out.frame(|out| {
            encode_response(out, seq, ResponseType::Metadata, NIL, Some(lead), None);
        });
        Ok(())
    }

    /// Sends a MESSAGE whose data `write` appends in place (zero copy).
    ///
    /// For a single-response call this is the terminal frame: it carries leading metadata if
    /// not sent yet and the trailing metadata, and ends the call. For a streaming response it
    /// is an item: leading metadata if not sent yet, trailing nil.
    ///
    /// # Errors
    ///
    /// [`SendError::NotOpen`]; [`SendError::Encode`] with the writer's error, or
    /// [`SendError::InvalidData`] when it did not write exactly one MessagePack value. In both
    /// cases nothing is queued and the call stays open, so the driver can still
    /// [`send_error`](Self::send_error).
    pub fn send_message<E>(
        &mut self,
        seq: Seq,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), SendError<E>> {
        let call = self.calls.get_mut(&seq).ok_or(SendError::NotOpen)?;
        let buf = self.out.buf();
        let start = buf.len();
        encode_response_head(buf, seq);
        let data_start = buf.len();
        if let Err(e) = write(buf) {
            self.out.abort(start);
            return Err(SendError::Encode(e));
        }
        if !buf.get(data_start..).is_some_and(is_one_value) {
            self.out.abort(start);
            return Err(SendError::InvalidData);
        }
        let last = !call.shape.response_streams;
        let lead = call.leading.take();
        let trail = if last { call.trailing.take() } else { None };
        encode_response_tail(
            buf,
            ResponseType::Message,
            lead.as_deref(),
            trail.as_deref(),
        );
        self.out.commit(start);
        if last {
            self.finish(seq);
        }
        Ok(())
    }

    /// Sends END_OF_STREAM `[seq, nil, 1, leading-if-never-sent, trailing]` and ends the call.
    ///
    /// # Errors
    ///
    /// [`SendError::NotOpen`]; [`SendError::NotStreaming`] for a single-response call (which
    /// ends with [`send_message`](Self::send_message)).
    pub fn send_end(&mut self, seq: Seq) -> Result<(), SendError> {
        let call = self.calls.get_mut(&seq).ok_or(SendError::NotOpen)?;
        if !call.shape.response_streams {
            return Err(SendError::NotStreaming);
        }
        let lead = call.leading.take();
        let trail = call.trailing.take();
        self.out.frame(|out| {
            encode_response(
                out,
                seq,
                ResponseType::EndOfStream,
                NIL,
                lead.as_deref(),
                trail.as_deref(),
            );
        });
        self.finish(seq);
        Ok(())
    }

    /// Sends ERROR `[seq, {code, message, data?}, 3, nil, nil]` and ends the call; metadata is
    /// never sent on an ERROR (swill/1 §5).
    ///
    /// # Errors
    ///
    /// [`SendError::NotOpen`]; [`SendError::InvalidData`] when `data` is not exactly one
    /// MessagePack value (nothing is sent and the call stays open).
    pub fn send_error(
        &mut self,
        seq: Seq,
        code: i64,
        message: &str,
        data: Option<&[u8]>,
    ) -> Result<(), SendError> {
        if !self.calls.contains_key(&seq) {
            return Err(SendError::NotOpen);
        }
        if data.is_some_and(|d| !is_one_value(d)) {
            return Err(SendError::InvalidData);
        }
        self.out.frame(|out| {
            encode_response_head(out, seq);
            encode_error_data(out, code, message, data);
            encode_response_tail(out, ResponseType::Error, None, None);
        });
        self.finish(seq);
        Ok(())
    }

    /// Forgets a call without sending anything (the application dropped it on its own).
    ///
    /// If the client's request stream is still open, the seq is remembered as half-closed so
    /// that its late frames do not open a new call.
    pub fn forget(&mut self, seq: Seq) {
        self.finish(seq);
    }

    /// The next frame to send: one complete binary WebSocket message, in queue order.
    ///
    /// Frames are encoded back to back into one buffer that is frozen and split (no copy).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.poll()
    }

    /// Bytes queued and not yet returned by [`poll_transmit`](Self::poll_transmit).
    pub fn pending_transmit_bytes(&self) -> usize {
        self.out.pending_bytes()
    }

    /// Number of open calls.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// Whether a call with this seq is open.
    pub fn is_open(&self, seq: Seq) -> bool {
        self.calls.contains_key(&seq)
    }

    /// Whether the open call `seq` already sent its leading metadata (its first frame went
    /// out). `false` for a seq that is not open.
    pub fn leading_sent(&self, seq: Seq) -> bool {
        self.calls
            .get(&seq)
            .is_some_and(|c| matches!(c.leading, Leading::Sent))
    }

    /// Gives back memory kept for calls and output that a quiet connection does not need:
    /// the call tables once no call is open, the output buffer once nothing is queued.
    /// The driver calls it when the connection has been idle for a while; the next call or
    /// frame allocates again. Returns whether anything was released.
    pub fn shrink_idle(&mut self) -> bool {
        let mut freed = self.out.shrink();
        if self.calls.is_empty() && self.calls.capacity() > 0 {
            self.calls = SeqMap::default();
            freed = true;
        }
        if self.events.is_empty() && self.events.capacity() > 0 {
            self.events = VecDeque::new();
            freed = true;
        }
        freed
    }

    /// Undecodable frames (no readable seq) received so far.
    pub const fn invalid_frames(&self) -> u32 {
        self.invalid_frames
    }

    /// The connection is going away: returns the seqs of all open calls (ascending) for the
    /// driver to cancel, and forgets everything, including queued events and output
    /// (swill/1 §12.9). Drain [`poll_transmit`](Self::poll_transmit) first to flush.
    pub fn close(&mut self) -> Vec<Seq> {
        let mut seqs: Vec<Seq> = self.calls.drain().map(|(seq, _)| seq).collect();
        seqs.sort_unstable();
        self.half_closed = HalfClosed::default();
        self.events.clear();
        self.out.clear();
        seqs
    }
}

#[cfg(test)]
mod idle_tests {
    use super::*;

    fn router(rpc: &str) -> Option<(u32, Shape)> {
        (rpc == "add").then_some((
            0,
            Shape {
                request_streams: false,
                response_streams: false,
            },
        ))
    }

    fn request(seq: i64) -> Bytes {
        let mut out = Vec::new();
        super::super::codec::encode_request(
            &mut out,
            Seq(seq),
            "add",
            RequestType::Message,
            b"\x92\x01\x02",
            None,
        );
        Bytes::from(out)
    }

    #[test]
    fn an_idle_connection_gives_its_tables_and_output_buffer_back() {
        let mut conn = ServerConn::new(Limits::default());
        assert!(!conn.shrink_idle(), "a fresh connection holds nothing");
        for seq in 1..=40 {
            conn.handle_message(request(seq), &router).unwrap();
        }
        while let Some(ev) = conn.poll_event() {
            let Event::Open { seq, .. } = ev else {
                panic!("unexpected {ev:?}")
            };
            conn.send_message(seq, |out| {
                out.push(0x03);
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        assert!(conn.calls.capacity() > 0 && conn.out.capacity() > 0);
        assert!(!conn.out.shrink(), "queued output is not given back");
        let mut frames = Vec::new();
        while let Some(f) = conn.poll_transmit() {
            frames.push(f);
        }
        assert_eq!(frames.len(), 40);
        assert!(conn.shrink_idle());
        assert_eq!(conn.calls.capacity(), 0);
        assert_eq!(conn.events.capacity(), 0);
        assert_eq!(conn.out.capacity(), 0);
        assert!(!conn.shrink_idle(), "nothing left to give back");
        // The connection works on as before.
        conn.handle_message(request(41), &router).unwrap();
        assert!(matches!(conn.poll_event(), Some(Event::Open { .. })));
        conn.shrink_idle();
        assert!(conn.is_open(Seq(41)), "an open call is never given back");
    }
}
