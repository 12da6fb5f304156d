//! Call-lifecycle invariants of both engines, checked from the outside on every step.
//!
//! [`ServerCheck`] and [`ClientCheck`] wrap an engine, apply one input or command at a time,
//! drain its events and frames, decode every frame it sends, and keep a model of which calls
//! are open. Each step fails with a description when:
//!
//! - a call ends twice, or an event, a frame or a successful command follows its end (every
//!   open call ends exactly once: a terminal frame, a cancel or a forget; `close` returns the
//!   rest);
//! - a frame goes out for a seq after its terminal frame, other than the answer to a new
//!   frame the peer sent with that seq;
//! - a frame does not decode, names a seq the step was not about, or carries metadata where
//!   swill/1 §7.3 forbids it (leading after the first frame, trailing before the last, either
//!   on an ERROR);
//! - an opening request goes unanswered, or an answer follows a frame of a half-closed call.
//!
//! Only public API is used: the property tests (`proptest.rs`) and the fuzz targets
//! (`swill-rs/fuzz`, which includes this file by path) drive the same checks.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{
    decode_error_data, decode_request, decode_response, is_metadata_map, is_one_value,
    CancelReason, ClientConn, ClientEvent, ClientSendError, Event, Limits, ProtocolError,
    RequestType, ResponseType, Router, SendError, Seq, ServerConn, Shape, EMPTY_MAP,
};
use bytes::Bytes;

/// Fails the step with a formatted description.
macro_rules! check {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// The outcome of a step: `Err` describes the broken invariant.
pub(crate) type Checked = Result<(), String>;

/// A command from the server application, applied by [`ServerCheck::command`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum ServerCommand<'a> {
    /// `send_message` writing these bytes verbatim (possibly not one value).
    Message(Seq, &'a [u8]),
    /// `send_message` whose encoder writes a byte and then fails.
    FailedMessage(Seq),
    /// `send_end`.
    End(Seq),
    /// `send_error` with this code and no data.
    Error(Seq, i64),
    /// `send_metadata`.
    Metadata(Seq),
    /// `set_leading` with these bytes (possibly not a metadata map).
    Leading(Seq, &'a [u8]),
    /// `set_trailing` with these bytes (possibly not a metadata map).
    Trailing(Seq, &'a [u8]),
    /// `forget`.
    Forget(Seq),
}

impl ServerCommand<'_> {
    const fn seq(self) -> Seq {
        match self {
            Self::Message(s, _)
            | Self::FailedMessage(s)
            | Self::End(s)
            | Self::Error(s, _)
            | Self::Metadata(s)
            | Self::Leading(s, _)
            | Self::Trailing(s, _)
            | Self::Forget(s) => s,
        }
    }
}

/// The model of one open call on the server.
#[derive(Debug)]
struct ServerCall {
    rpc: String,
    shape: Shape,
    /// The client's request stream is open (no END_OF_STREAM yet).
    request_open: bool,
    /// Some frame of the call went out (leading metadata may not follow).
    frame_sent: bool,
    /// Leading metadata set and not sent.
    leading: Option<Vec<u8>>,
    /// Trailing metadata set.
    trailing: Option<Vec<u8>>,
}

/// A [`ServerConn`] with a model of its calls, checked after every step.
#[derive(Debug)]
pub(crate) struct ServerCheck<R> {
    conn: ServerConn,
    router: R,
    limits: Limits,
    calls: HashMap<Seq, ServerCall>,
    /// Seqs the server ended while the client's request stream was open, oldest first.
    half_closed: VecDeque<Seq>,
    invalid_frames: u64,
    opened: u64,
    ended: u64,
    closed: bool,
}

/// A decoded response frame, owned.
#[derive(Debug)]
struct SentFrame {
    seq: Seq,
    kind: ResponseType,
    data: Vec<u8>,
    leading: Option<Vec<u8>>,
    trailing: Option<Vec<u8>>,
}

fn sent_frames(mut poll: impl FnMut() -> Option<Bytes>) -> Result<Vec<SentFrame>, String> {
    let mut out = Vec::new();
    while let Some(frame) = poll() {
        let env = decode_response(&frame)
            .map_err(|e| format!("engine sent an undecodable frame {frame:02x?}: {e}"))?;
        check!(
            env.array_len == 5,
            "response frame of {} elements",
            env.array_len
        );
        if env.kind == ResponseType::Error {
            check!(
                decode_error_data(env.data).is_ok(),
                "ERROR frame for seq {} without an error map: {:02x?}",
                env.seq,
                env.data
            );
            check!(
                env.leading.is_none() && env.trailing.is_none(),
                "ERROR frame for seq {} carries metadata",
                env.seq
            );
        }
        out.push(SentFrame {
            seq: env.seq,
            kind: env.kind,
            data: env.data.to_vec(),
            leading: env.leading.map(<[u8]>::to_vec),
            trailing: env.trailing.map(<[u8]>::to_vec),
        });
    }
    Ok(out)
}

impl<R: Router> ServerCheck<R> {
    /// A fresh connection with these limits and routes.
    pub(crate) fn new(limits: Limits, router: R) -> Self {
        Self {
            conn: ServerConn::new(limits.clone()),
            router,
            limits,
            calls: HashMap::new(),
            half_closed: VecDeque::new(),
            invalid_frames: 0,
            opened: 0,
            ended: 0,
            closed: false,
        }
    }

    /// Whether the connection had to close (too many invalid frames); later steps are no-ops.
    pub(crate) const fn is_closed(&self) -> bool {
        self.closed
    }

    fn end(&mut self, seq: Seq, server_side: bool) -> Checked {
        let call = self
            .calls
            .remove(&seq)
            .ok_or_else(|| format!("call {seq} ended but it was not open"))?;
        self.ended += 1;
        if server_side && call.request_open && self.limits.max_half_closed > 0 {
            if !self.half_closed.contains(&seq) {
                self.half_closed.push_back(seq);
            }
            while self.half_closed.len() > self.limits.max_half_closed {
                self.half_closed.pop_front();
            }
        }
        Ok(())
    }

    fn check_table(&self) -> Checked {
        check!(
            self.conn.open_calls() == self.calls.len(),
            "engine has {} open calls, the model {}",
            self.conn.open_calls(),
            self.calls.len()
        );
        for seq in self.calls.keys() {
            check!(self.conn.is_open(*seq), "model's call {seq} is not open");
        }
        check!(
            self.calls.len() <= self.limits.max_concurrent_calls,
            "{} calls open, limit {}",
            self.calls.len(),
            self.limits.max_concurrent_calls
        );
        Ok(())
    }

    /// Feeds one client frame and checks what came out.
    pub(crate) fn feed(&mut self, msg: Bytes) -> Checked {
        if self.closed {
            return Ok(());
        }
        let decoded = decode_request(&msg);
        let seq = match &decoded {
            Ok(env) => Some(env.seq),
            Err(e) => e.seq,
        };
        let result = self.conn.handle_message(msg.clone(), &self.router);
        let events: Vec<Event> = std::iter::from_fn(|| self.conn.poll_event()).collect();
        let frames = sent_frames(|| self.conn.poll_transmit())?;
        let Some(seq) = seq else {
            self.invalid_frames += 1;
            let limit = self.limits.max_invalid_frames.map(u64::from);
            let must_close = limit.is_some_and(|max| self.invalid_frames > max);
            match result {
                Ok(()) => check!(
                    !must_close,
                    "invalid frame {} past the limit",
                    self.invalid_frames
                ),
                Err(ProtocolError::TooManyInvalidFrames { .. }) => {
                    check!(
                        must_close,
                        "closed after {} invalid frames",
                        self.invalid_frames
                    );
                    return self.close();
                }
                // Unreachable inside swill, needed outside it (the fuzz crate): non_exhaustive.
                #[allow(unreachable_patterns)]
                Err(e) => return Err(format!("unexpected {e:?}")),
            }
            check!(
                events.is_empty() && frames.is_empty(),
                "frame without a readable seq got {events:?} / {frames:?}"
            );
            return self.check_table();
        };
        check!(
            result.is_ok(),
            "frame with seq {seq} closed the connection: {result:?}"
        );
        for f in &frames {
            check!(
                f.seq == seq,
                "input for seq {seq} sent a frame for seq {}",
                f.seq
            );
            check!(
                f.kind == ResponseType::Error,
                "input for seq {seq} sent {:?}",
                f.kind
            );
        }
        check!(
            frames.len() <= 1,
            "input for seq {seq} sent {} frames",
            frames.len()
        );
        check!(events.len() <= 1, "input for seq {seq} gave {events:?}");
        for ev in &events {
            let s = match ev {
                Event::Open { seq, .. }
                | Event::Message { seq, .. }
                | Event::EndOfStream { seq }
                | Event::Cancelled { seq, .. } => *seq,
                #[allow(unreachable_patterns)]
                other => return Err(format!("unknown event {other:?}")),
            };
            check!(s == seq, "input for seq {seq} gave an event for seq {s}");
        }
        let answered = !frames.is_empty();
        if self.calls.contains_key(&seq) {
            self.feed_open_call(
                seq,
                decoded.ok().map(|e| (e.rpc.to_owned(), e.kind)),
                &events,
                answered,
            )?;
        } else if let Some(at) = self.half_closed.iter().position(|s| *s == seq) {
            check!(
                events.is_empty() && !answered,
                "half-closed seq {seq} got {events:?} / {frames:?}"
            );
            if let Ok(env) = &decoded {
                if matches!(env.kind, RequestType::EndOfStream | RequestType::Cancel) {
                    self.half_closed.remove(at);
                }
            }
        } else {
            match &decoded {
                Err(e) => {
                    check!(
                        events.is_empty(),
                        "invalid frame for seq {seq} gave {events:?}"
                    );
                    let code = frames
                        .first()
                        .and_then(|f| decode_error_data(&f.data).ok().map(|e| e.code));
                    check!(
                        code == Some(400),
                        "invalid frame for seq {seq} ({e}) answered {code:?}"
                    );
                }
                Ok(env) if matches!(env.kind, RequestType::EndOfStream | RequestType::Cancel) => {
                    check!(
                        events.is_empty() && !answered,
                        "{:?} for unknown seq {seq} got {events:?} / {frames:?}",
                        env.kind
                    );
                }
                Ok(env) => match events.first() {
                    Some(Event::Open { shape, payload, .. }) => {
                        check!(!answered, "call {seq} opened and was refused at once");
                        check!(
                            self.calls.len() < self.limits.max_concurrent_calls,
                            "call {seq} opened past the limit"
                        );
                        let by_message = env.kind == RequestType::Message;
                        check!(
                            by_message || shape.request_streams,
                            "METADATA opened single-request call {seq}"
                        );
                        check!(
                            payload.as_deref() == by_message.then_some(env.data),
                            "call {seq} opened with payload {payload:?}"
                        );
                        self.opened += 1;
                        self.calls.insert(
                            seq,
                            ServerCall {
                                rpc: env.rpc.to_owned(),
                                shape: *shape,
                                request_open: shape.request_streams,
                                frame_sent: false,
                                leading: None,
                                trailing: None,
                            },
                        );
                    }
                    Some(other) => return Err(format!("new seq {seq} gave {other:?}")),
                    None => {
                        let code = frames
                            .first()
                            .and_then(|f| decode_error_data(&f.data).ok().map(|e| e.code));
                        check!(
                            matches!(code, Some(404 | 429 | 500)),
                            "opening frame for seq {seq} answered {code:?}"
                        );
                    }
                },
            }
        }
        self.check_table()
    }

    fn feed_open_call(
        &mut self,
        seq: Seq,
        decoded: Option<(String, RequestType)>,
        events: &[Event],
        answered: bool,
    ) -> Checked {
        let Some(call) = self.calls.get_mut(&seq) else {
            return Ok(());
        };
        let same_rpc = decoded.as_ref().is_some_and(|(rpc, _)| *rpc == call.rpc);
        let kind = decoded.as_ref().map(|(_, kind)| *kind);
        match events.first() {
            None => {
                check!(!answered, "call {seq} answered without a cancel");
                // An invalid envelope ends the call with 400 (§12.3); CANCEL ends any call;
                // a streaming request takes items, its end, and refuses a second METADATA.
                let streaming = call.shape.request_streams && call.request_open;
                let must_act = kind.is_none()
                    || (same_rpc && (kind == Some(RequestType::Cancel) || streaming));
                check!(!must_act, "{kind:?} for open call {seq} did nothing");
                Ok(())
            }
            Some(Event::Message { payload, .. }) => {
                check!(!answered, "item for call {seq} was answered");
                check!(
                    kind == Some(RequestType::Message)
                        && same_rpc
                        && call.shape.request_streams
                        && call.request_open,
                    "item {payload:?} delivered to call {seq} ({:?}, request open {})",
                    call.shape,
                    call.request_open
                );
                Ok(())
            }
            Some(Event::EndOfStream { .. }) => {
                check!(!answered, "END_OF_STREAM for call {seq} was answered");
                check!(
                    kind == Some(RequestType::EndOfStream)
                        && same_rpc
                        && call.shape.request_streams
                        && call.request_open,
                    "END_OF_STREAM delivered twice or to a single-request call {seq}"
                );
                call.request_open = false;
                Ok(())
            }
            Some(Event::Cancelled { reason, .. }) => {
                match reason {
                    CancelReason::Client => {
                        check!(!answered, "client's CANCEL of {seq} was answered");
                        check!(
                            same_rpc && kind == Some(RequestType::Cancel),
                            "{kind:?} for call {seq} reported as the client's CANCEL"
                        );
                    }
                    CancelReason::Protocol { code, message } => {
                        check!(
                            answered,
                            "call {seq} cancelled for a protocol error, silently"
                        );
                        check!(
                            *code == 400 && !message.is_empty(),
                            "call {seq} cancelled with {code} {message:?}, not the 400 sent"
                        );
                    }
                    // Reachable from the fuzz crate, which sees the enum as non-exhaustive.
                    #[allow(unreachable_patterns)]
                    other => return Err(format!("unknown cancel reason {other:?}")),
                }
                self.end(seq, matches!(reason, CancelReason::Protocol { .. }))
            }
            Some(other) => Err(format!("open call {seq} got {other:?}")),
        }
    }

    /// Applies one application command and checks its result and output.
    pub(crate) fn command(&mut self, cmd: ServerCommand<'_>) -> Checked {
        if self.closed {
            return Ok(());
        }
        let seq = cmd.seq();
        let result: Result<(), SendError<()>> = match cmd {
            ServerCommand::Message(_, data) => self
                .conn
                .send_message(seq, |out| {
                    out.extend_from_slice(data);
                    Ok::<_, std::convert::Infallible>(())
                })
                .map_err(SendError::widen),
            ServerCommand::FailedMessage(_) => self.conn.send_message(seq, |out| {
                out.push(0x92);
                Err(())
            }),
            ServerCommand::End(_) => self.conn.send_end(seq).map_err(SendError::widen),
            ServerCommand::Error(_, code) => self
                .conn
                .send_error(seq, code, "failed", None)
                .map_err(SendError::widen),
            ServerCommand::Metadata(_) => self.conn.send_metadata(seq).map_err(SendError::widen),
            ServerCommand::Leading(_, md) => self
                .conn
                .set_leading(seq, Bytes::copy_from_slice(md))
                .map_err(SendError::widen),
            ServerCommand::Trailing(_, md) => self
                .conn
                .set_trailing(seq, Bytes::copy_from_slice(md))
                .map_err(SendError::widen),
            ServerCommand::Forget(_) => {
                self.conn.forget(seq);
                Ok(())
            }
        };
        let events: Vec<Event> = std::iter::from_fn(|| self.conn.poll_event()).collect();
        check!(events.is_empty(), "{cmd:?} gave events {events:?}");
        let frames = sent_frames(|| self.conn.poll_transmit())?;
        check!(frames.len() <= 1, "{cmd:?} sent {} frames", frames.len());
        let Some(call) = self.calls.get_mut(&seq) else {
            check!(
                frames.is_empty(),
                "{cmd:?} for a call that is not open sent {frames:?}"
            );
            let refused =
                matches!(cmd, ServerCommand::Forget(_)) || result == Err(SendError::NotOpen);
            check!(
                refused,
                "{cmd:?} for a call that is not open gave {result:?}"
            );
            return self.check_table();
        };
        let expected: Result<Option<ResponseType>, SendError<()>> = match cmd {
            ServerCommand::Message(_, data) if !is_one_value(data) => Err(SendError::InvalidData),
            ServerCommand::Message(..) => Ok(Some(ResponseType::Message)),
            ServerCommand::FailedMessage(_) => Err(SendError::Encode(())),
            ServerCommand::End(_) if !call.shape.response_streams => Err(SendError::NotStreaming),
            ServerCommand::End(_) => Ok(Some(ResponseType::EndOfStream)),
            ServerCommand::Error(..) => Ok(Some(ResponseType::Error)),
            ServerCommand::Metadata(_) if call.frame_sent => Ok(None),
            ServerCommand::Metadata(_) => Ok(Some(ResponseType::Metadata)),
            ServerCommand::Leading(..) if call.frame_sent => Err(SendError::LeadingAlreadySent),
            ServerCommand::Leading(_, md) | ServerCommand::Trailing(_, md)
                if !is_metadata_map(md) =>
            {
                Err(SendError::InvalidData)
            }
            ServerCommand::Leading(_, md) => {
                call.leading = Some(md.to_vec());
                Ok(None)
            }
            ServerCommand::Trailing(_, md) => {
                call.trailing = Some(md.to_vec());
                Ok(None)
            }
            ServerCommand::Forget(_) => Ok(None),
        };
        match &expected {
            Err(e) => {
                check!(
                    result.as_ref().err() == Some(e),
                    "{cmd:?} gave {result:?}, want {e:?}"
                );
                check!(frames.is_empty(), "refused {cmd:?} sent {frames:?}");
                return self.check_table();
            }
            Ok(_) => check!(result.is_ok(), "{cmd:?} on open call {seq} gave {result:?}"),
        }
        let kind = expected.ok().flatten();
        check!(
            frames.first().map(|f| f.kind) == kind,
            "{cmd:?} sent {frames:?}, want a {kind:?} frame"
        );
        let mut ends = matches!(cmd, ServerCommand::Forget(_));
        if let Some(f) = frames.first() {
            let terminal = match f.kind {
                ResponseType::Message => !call.shape.response_streams,
                ResponseType::EndOfStream | ResponseType::Error => true,
                ResponseType::Metadata => false,
            };
            if let ServerCommand::Message(_, data) = cmd {
                check!(f.data == data, "{cmd:?} sent data {:02x?}", f.data);
            }
            if f.kind != ResponseType::Error {
                let want_leading = if call.frame_sent {
                    None
                } else if f.kind == ResponseType::Metadata {
                    Some(call.leading.take().unwrap_or_else(|| EMPTY_MAP.to_vec()))
                } else {
                    call.leading.take()
                };
                check!(
                    f.leading == want_leading,
                    "frame {f:?} of call {seq} carries leading {:?}, want {want_leading:?}",
                    f.leading
                );
                let want_trailing = if terminal { call.trailing.take() } else { None };
                check!(
                    f.trailing == want_trailing,
                    "frame {f:?} of call {seq} carries trailing {:?}, want {want_trailing:?}",
                    f.trailing
                );
            }
            call.frame_sent = true;
            ends |= terminal;
        }
        if ends {
            self.end(seq, true)?;
        }
        self.check_table()
    }

    /// Closes the connection: every call still open must be returned, once.
    pub(crate) fn close(&mut self) -> Checked {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let seqs = self.conn.close();
        let mut want: Vec<Seq> = self.calls.keys().copied().collect();
        want.sort_unstable();
        check!(seqs == want, "close returned {seqs:?}, open calls {want:?}");
        self.ended += seqs.len() as u64;
        self.calls.clear();
        check!(
            self.opened == self.ended,
            "{} calls opened, {} ended",
            self.opened,
            self.ended
        );
        check!(
            self.conn.poll_event().is_none() && self.conn.poll_transmit().is_none(),
            "output after close"
        );
        Ok(())
    }
}

/// A response frame from the server, as [`ClientCheck::feed_response`] encodes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Response<'a> {
    /// The seq it names.
    pub(crate) seq: Seq,
    /// Its type.
    pub(crate) kind: ResponseType,
    /// Its data (one value).
    pub(crate) data: &'a [u8],
    /// Leading metadata map.
    pub(crate) leading: Option<&'a [u8]>,
    /// Trailing metadata map.
    pub(crate) trailing: Option<&'a [u8]>,
}

/// The model of one open call on the client.
#[derive(Debug)]
struct ClientCall {
    rpc: String,
    shape: Shape,
    request_open: bool,
}

/// A [`ClientConn`] with a model of its calls, checked after every step.
#[derive(Debug, Default)]
pub(crate) struct ClientCheck {
    conn: ClientConn,
    calls: HashMap<Seq, ClientCall>,
    /// Every seq handed out, open or ended (seqs are never reused on a connection).
    issued: Vec<Seq>,
    ended: HashSet<Seq>,
    closed: bool,
}

/// A decoded request frame, owned.
#[derive(Debug)]
struct RequestFrame {
    seq: Seq,
    rpc: String,
    kind: RequestType,
    data: Vec<u8>,
    metadata: Option<Vec<u8>>,
}

impl ClientCheck {
    /// A fresh connection.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A seq for a test to name: `pick` indexes the seqs handed out so far, plus one never
    /// handed out.
    pub(crate) fn pick(&self, pick: usize) -> Seq {
        self.issued
            .get(pick % (self.issued.len() + 1))
            .copied()
            .unwrap_or(Seq(i64::try_from(self.issued.len())
                .unwrap_or(i64::MAX)
                .saturating_add(1)))
    }

    /// Whether the connection was closed; later steps are no-ops.
    pub(crate) const fn is_closed(&self) -> bool {
        self.closed
    }

    fn drain(&mut self) -> Result<(Vec<ClientEvent>, Vec<RequestFrame>), String> {
        let events: Vec<ClientEvent> = std::iter::from_fn(|| self.conn.poll_event()).collect();
        let mut frames = Vec::new();
        while let Some(frame) = self.conn.poll_transmit() {
            let env = decode_request(&frame)
                .map_err(|e| format!("client sent an undecodable frame {frame:02x?}: {e}"))?;
            check!(
                !self.ended.contains(&env.seq),
                "client sent {:?} for seq {} after the call ended",
                env.kind,
                env.seq
            );
            frames.push(RequestFrame {
                seq: env.seq,
                rpc: env.rpc.to_owned(),
                kind: env.kind,
                data: env.data.to_vec(),
                metadata: env.metadata.map(<[u8]>::to_vec),
            });
        }
        Ok((events, frames))
    }

    fn check_table(&self) -> Checked {
        check!(
            self.conn.open_calls() == self.calls.len(),
            "client has {} open calls, the model {}",
            self.conn.open_calls(),
            self.calls.len()
        );
        for seq in &self.issued {
            check!(
                self.conn.is_open(*seq) == self.calls.contains_key(seq),
                "call {seq}: client open {}, model open {}",
                self.conn.is_open(*seq),
                self.calls.contains_key(seq)
            );
        }
        Ok(())
    }

    /// Opens a call (`data` and `metadata` must be valid MessagePack, as the caller's codec
    /// writes them) and checks its opening frame.
    pub(crate) fn open(
        &mut self,
        rpc: &str,
        shape: Shape,
        data: Option<&[u8]>,
        metadata: Option<&[u8]>,
    ) -> Checked {
        if self.closed {
            return Ok(());
        }
        let seq = self.conn.open(rpc, shape, data, metadata);
        check!(
            self.issued.last().is_none_or(|last| seq > *last),
            "seq {seq} reused or out of order after {:?}",
            self.issued.last()
        );
        let (events, frames) = self.drain()?;
        check!(events.is_empty(), "open gave events {events:?}");
        let [f] = &frames[..] else {
            return Err(format!("open sent {frames:?}"));
        };
        let by_metadata = data.is_none() && shape.request_streams;
        let want_kind = if by_metadata {
            RequestType::Metadata
        } else {
            RequestType::Message
        };
        let want_md = match metadata {
            None if by_metadata => Some(EMPTY_MAP),
            md => md,
        };
        check!(
            f.seq == seq
                && f.rpc == rpc
                && f.kind == want_kind
                && f.data == data.unwrap_or(&[0xc0])
                && f.metadata.as_deref() == want_md,
            "open({rpc:?}, {shape:?}, {data:?}, {metadata:?}) sent {f:?}"
        );
        self.issued.push(seq);
        self.calls.insert(
            seq,
            ClientCall {
                rpc: rpc.to_owned(),
                shape,
                request_open: shape.request_streams,
            },
        );
        self.check_table()
    }

    /// `send_item` (with `data`) or `send_end` (without).
    pub(crate) fn send(&mut self, seq: Seq, data: Option<&[u8]>) -> Checked {
        if self.closed {
            return Ok(());
        }
        let result = match data {
            Some(d) => self.conn.send_item(seq, d),
            None => self.conn.send_end(seq),
        };
        let (events, frames) = self.drain()?;
        check!(events.is_empty(), "send gave events {events:?}");
        let want = match self.calls.get(&seq) {
            None => Err(ClientSendError::NotOpen),
            Some(c) if !c.shape.request_streams => Err(ClientSendError::NotStreaming),
            Some(c) if !c.request_open => Err(ClientSendError::RequestEnded),
            Some(_) => Ok(()),
        };
        check!(
            result == want,
            "send({seq}, {data:?}) gave {result:?}, want {want:?}"
        );
        let Some(call) = self.calls.get_mut(&seq).filter(|_| want.is_ok()) else {
            check!(frames.is_empty(), "refused send sent {frames:?}");
            return self.check_table();
        };
        let want_kind = if data.is_some() {
            RequestType::Message
        } else {
            RequestType::EndOfStream
        };
        let [f] = &frames[..] else {
            return Err(format!("send({seq}) sent {frames:?}"));
        };
        check!(
            f.seq == seq
                && f.rpc == call.rpc
                && f.kind == want_kind
                && f.data == data.unwrap_or(&[0xc0])
                && f.metadata.is_none(),
            "send({seq}, {data:?}) sent {f:?}"
        );
        if data.is_none() {
            call.request_open = false;
        }
        self.check_table()
    }

    /// `cancel`.
    pub(crate) fn cancel(&mut self, seq: Seq) -> Checked {
        if self.closed {
            return Ok(());
        }
        self.conn.cancel(seq);
        let (events, frames) = self.drain()?;
        check!(events.is_empty(), "cancel gave events {events:?}");
        match self.calls.remove(&seq) {
            None => check!(frames.is_empty(), "cancel of a closed call sent {frames:?}"),
            Some(call) => {
                let [f] = &frames[..] else {
                    return Err(format!("cancel({seq}) sent {frames:?}"));
                };
                check!(
                    f.seq == seq && f.rpc == call.rpc && f.kind == RequestType::Cancel,
                    "cancel({seq}) sent {f:?}"
                );
                self.ended.insert(seq);
            }
        }
        self.check_table()
    }

    /// Encodes a response and feeds it.
    pub(crate) fn feed_response(&mut self, r: Response<'_>) -> Checked {
        let mut out = Vec::new();
        super::encode_response(&mut out, r.seq, r.kind, r.data, r.leading, r.trailing);
        self.feed(Bytes::from(out))
    }

    /// Feeds one server frame and checks what came out.
    pub(crate) fn feed(&mut self, msg: Bytes) -> Checked {
        if self.closed {
            return Ok(());
        }
        let decoded = decode_response(&msg).map(|e| (e.seq, e.kind, e.data.to_vec()));
        let result = self.conn.handle_message(msg.clone());
        let (events, frames) = self.drain()?;
        let (seq, kind, data) = match decoded {
            Err(e) => {
                check!(result == Err(e), "undecodable frame gave {result:?}");
                check!(
                    events.is_empty() && frames.is_empty(),
                    "undecodable frame gave {events:?} / {frames:?}"
                );
                return self.check_table();
            }
            Ok(d) => d,
        };
        check!(result.is_ok(), "valid frame gave {result:?}");
        let Some(call) = self.calls.get(&seq) else {
            check!(
                events.is_empty() && frames.is_empty(),
                "frame for a seq {seq} with no open call gave {events:?} / {frames:?}"
            );
            return self.check_table();
        };
        let [ev] = &events[..] else {
            return Err(format!("frame for call {seq} gave events {events:?}"));
        };
        let terminal = match (kind, ev) {
            (ResponseType::Metadata, ClientEvent::Metadata { seq: s, .. }) => {
                check!(*s == seq, "METADATA for {seq} reported for {s}");
                false
            }
            (
                ResponseType::Message,
                ClientEvent::Message {
                    seq: s,
                    data: d,
                    last,
                    ..
                },
            ) => {
                check!(
                    *s == seq && d[..] == data[..],
                    "MESSAGE for {seq} reported as {ev:?}"
                );
                check!(
                    *last != call.shape.response_streams,
                    "MESSAGE for {seq} ({:?}) reported last = {last}",
                    call.shape
                );
                *last
            }
            (ResponseType::EndOfStream, ClientEvent::End { seq: s, .. })
            | (ResponseType::Error, ClientEvent::Error { seq: s, .. }) => {
                check!(*s == seq, "{kind:?} for {seq} reported for {s}");
                true
            }
            _ => return Err(format!("{kind:?} for call {seq} reported as {ev:?}")),
        };
        let half_open = call.request_open;
        if terminal {
            self.calls.remove(&seq);
            self.ended.insert(seq);
            if half_open {
                let [f] = &frames[..] else {
                    return Err(format!("end of half-open call {seq} sent {frames:?}"));
                };
                check!(
                    f.seq == seq && f.kind == RequestType::EndOfStream,
                    "end of half-open call {seq} sent {f:?}"
                );
                return self.check_table();
            }
        }
        check!(frames.is_empty(), "{kind:?} for call {seq} sent {frames:?}");
        self.check_table()
    }

    /// Closes the connection: every call still open must be returned, once.
    pub(crate) fn close(&mut self) -> Checked {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let seqs = self.conn.close();
        let mut want: Vec<Seq> = self.calls.keys().copied().collect();
        want.sort_unstable();
        check!(seqs == want, "close returned {seqs:?}, open calls {want:?}");
        for seq in seqs {
            check!(self.ended.insert(seq), "call {seq} ended twice");
        }
        self.calls.clear();
        check!(
            self.ended.len() == self.issued.len(),
            "{} calls opened, {} ended",
            self.issued.len(),
            self.ended.len()
        );
        check!(
            self.conn.poll_event().is_none() && self.conn.poll_transmit().is_none(),
            "output after close"
        );
        Ok(())
    }
}
