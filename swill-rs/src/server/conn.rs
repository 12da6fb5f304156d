//! The per-connection driver: feeds WebSocket messages to the protocol engine, runs the calls
//! it opens, and writes what the engine queues — all on one task.
//!
//! One pass of [`Driver::poll`]: read a bounded batch of messages (unless a streaming call's
//! queue is full), hand engine events to the calls, poll the woken calls while the unsent
//! output is under its bound, move the engine's frames into the socket and flush once
//! (batched writes), then timers. Everything that can make progress registers a waker before
//! the pass returns `Pending`.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{Sink, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use super::calls::{Call, CallSet};
use crate::app::App;
use crate::handler::{BlockingJob, CallContext, Connection, Metadata, Start, Step};
use crate::hooks::{HookError, Outcome};
use crate::protocol::{CancelReason, Event, ProtocolError, Seq, ServerConn};
use crate::Error;

/// Messages read per pass before the other work gets a turn.
const READ_BUDGET: usize = 64;
/// Call polls per pass.
const CALL_BUDGET: usize = 256;
/// Items one streaming call may produce per poll before others get a turn.
const ITEMS_PER_POLL: usize = 64;
/// How long a closing connection waits for the peer's close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the connection loop ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The client closed or vanished.
    Disconnected,
    /// The transport failed.
    Io(tungstenite::Error),
    /// We close with this code (hook, protocol error, limits, idle).
    Close(u16, String),
    /// Graceful shutdown.
    Shutdown,
}

pub(crate) struct Driver<S> {
    ws: WebSocketStream<S>,
    engine: ServerConn,
    calls: CallSet,
    app: Arc<App>,
    conn: Connection,
    /// `after_request` hooks still running; created when the first one is scheduled.
    finals: Option<FuturesUnordered<BoxFuture<'static, ()>>>,
    last_rx: Instant,
    tick: Option<Pin<Box<Sleep>>>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    shutdown_deadline: Option<Pin<Box<Sleep>>>,
    close: Option<(u16, String)>,
}

/// The connection's whole life as one future. Not an `async fn`: that would keep its
/// arguments a second time beside the inner future's copy, for the connection's lifetime.
pub(crate) fn run<S>(
    ws: WebSocketStream<S>,
    app: Arc<App>,
    conn: Connection,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let span = tracing::info_span!("conn", id = conn.id(), peer = ?conn.peer_addr());
    async move {
        tracing::debug!("connection accepted");
        let mut d = Driver::new(ws, app, conn, shutdown);
        // Hooks and the closing sequence are boxed: they run once, and keeping their state
        // inline would make every idle connection's task as large as its largest phase.
        let accepted = if d.app.conn_hooks.after_accept.is_empty() {
            None
        } else {
            Box::pin(d.after_accept()).await
        };
        let end = match accepted {
            Some(end) => end,
            None => std::future::poll_fn(|cx| d.poll(cx)).await,
        };
        match &end {
            End::Io(e) => tracing::debug!(error = %e, "connection failed"),
            other => tracing::debug!(end = ?other, "connection ending"),
        }
        Box::pin(d.finish(end)).await;
    }
    .instrument(span)
}

fn close_code(code: u16) -> CloseCode {
    CloseCode::from(code.max(1000))
}

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    fn new(
        ws: WebSocketStream<S>,
        app: Arc<App>,
        conn: Connection,
        shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Self {
        let tick_every = app.config.ping_interval.or(app.config.idle_timeout);
        Self {
            engine: ServerConn::new(app.engine_limits()),
            ws,
            calls: CallSet::new(),
            conn,
            finals: None,
            last_rx: Instant::now(),
            tick: tick_every.map(|d| Box::pin(tokio::time::sleep(d))),
            shutdown,
            shutdown_deadline: None,
            close: None,
            app,
        }
    }

    async fn after_accept(&mut self) -> Option<End> {
        for hook in &self.app.conn_hooks.after_accept {
            match hook(self.conn.clone()).await {
                Ok(()) => {}
                Err(HookError::Close { code, reason }) => return Some(End::Close(code, reason)),
                Err(HookError::Fail(e)) => {
                    tracing::warn!(error = %e, "after_accept hook failed; closing");
                    return Some(End::Close(1011, e.message().to_owned()));
                }
            }
        }
        None
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        self.calls.register(cx);
        for _ in 0..32 {
            let mut progress = false;

            if self.shutdown_deadline.is_none() && self.shutdown.as_mut().poll(cx).is_ready() {
                let grace = self.app.config.shutdown_timeout;
                self.shutdown_deadline = Some(Box::pin(tokio::time::sleep(grace)));
                progress = true;
            }
            if let Some(deadline) = self.shutdown_deadline.as_mut() {
                let drained = self.calls.len() == 0 && self.engine.pending_transmit_bytes() == 0;
                if drained || deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(End::Shutdown);
                }
            }
            if let Some((code, reason)) = self.close.take() {
                return Poll::Ready(End::Close(code, reason));
            }

            // 1. Read.
            let mut read = 0;
            while read < READ_BUDGET && self.can_read() {
                match Pin::new(&mut self.ws).poll_next(cx) {
                    Poll::Ready(Some(Ok(msg))) => {
                        read += 1;
                        self.last_rx = Instant::now();
                        if let Err(end) = self.on_message(msg) {
                            return Poll::Ready(end);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(ws_error_end(e)),
                    Poll::Ready(None) => return Poll::Ready(End::Disconnected),
                    Poll::Pending => break,
                }
                if self.close.is_some() {
                    break;
                }
            }
            progress |= read > 0;

            // 2. Calls (the call set may have been created while reading: register again).
            self.calls.register(cx);
            let mut polled = 0;
            while polled < CALL_BUDGET
                && self.engine.pending_transmit_bytes() < self.app.config.max_pending_output
                && self.close.is_none()
            {
                let Some(idx) = self.calls.next_ready() else {
                    break;
                };
                polled += 1;
                self.poll_call(idx);
            }
            progress |= polled > 0;

            // 3. Write.
            match self.flush(cx) {
                Ok(wrote) => progress |= wrote,
                Err(e) => return Poll::Ready(ws_error_end(e)),
            }

            // 4. Hooks that outlive their call.
            if let Some(finals) = self.finals.as_mut() {
                while let Poll::Ready(Some(())) = finals.poll_next_unpin(cx) {}
            }

            // 5. Ping and idle.
            if let Some(tick) = self.tick.as_mut() {
                if tick.as_mut().poll(cx).is_ready() {
                    progress = true;
                    if let Some(end) = self.on_tick() {
                        return Poll::Ready(end);
                    }
                }
            }

            if !progress {
                return Poll::Pending;
            }
        }
        // Still busy: let other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn can_read(&mut self) -> bool {
        // Incoming frames can queue output without any handler (ERROR 404/400/429/503 the
        // engine answers itself): a client that sends but never reads must not grow the
        // outbox without bound. Read again once the socket has drained below the bound;
        // `flush` registered the write waker when it could not move everything.
        // A slow handler never stops the reads: that would block every other call of the
        // connection (swill/1 §12.11); its own backlog is bounded per call instead.
        self.engine.pending_transmit_bytes() < self.app.config.max_pending_output
    }

    fn on_message(&mut self, msg: Message) -> Result<(), End> {
        match msg {
            Message::Binary(bytes) => {
                match self.engine.handle_message(bytes, &*self.app) {
                    Ok(()) => {}
                    Err(ProtocolError::TooManyInvalidFrames { .. }) => {
                        return Err(End::Close(1007, "too many invalid frames".into()));
                    }
                    #[allow(unreachable_patterns)]
                    Err(e) => return Err(End::Close(1002, e.to_string())),
                }
                while let Some(ev) = self.engine.poll_event() {
                    self.on_event(ev);
                }
            }
            Message::Text(_) => {
                tracing::debug!("ignoring a text frame: swill/1 uses binary frames only");
            }
            Message::Close(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
        Ok(())
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Open {
                seq,
                handler,
                shape,
                payload,
                metadata,
            } => self.open_call(seq, handler, shape.request_streams, payload, metadata),
            Event::Message { seq, payload } => {
                let max = self.app.config.max_queued_items;
                let overflow = self.calls.get(seq).is_some_and(|call| {
                    call.ctx.inbox().is_some_and(|mut inbox| {
                        if inbox.items.len() >= max {
                            return true;
                        }
                        inbox.push(payload);
                        false
                    })
                });
                if overflow {
                    // swill/1 has no flow control: the handler fell `max` items behind its
                    // client. Failing this call keeps memory bounded without stalling the
                    // connection's other calls; the engine drops the rest of its request.
                    let msg = format!(
                        "request stream backlog exceeded: the handler is {max} items behind"
                    );
                    tracing::warn!(seq = seq.0, max, "request stream backlog exceeded");
                    self.fail_call(seq, Error::too_many_requests(msg));
                }
            }
            Event::EndOfStream { seq } => {
                if let Some(call) = self.calls.get(seq) {
                    if let Some(mut inbox) = call.ctx.inbox() {
                        inbox.end();
                    }
                }
            }
            Event::Cancelled { seq, reason } => {
                if let Some(call) = self.calls.remove(seq) {
                    let outcome = match reason {
                        CancelReason::Client => Outcome::Cancelled,
                        #[allow(unreachable_patterns)]
                        _ => Outcome::Error(Error::bad_request("protocol error")),
                    };
                    tracing::debug!(parent: &call.span, "call cancelled");
                    self.end_call(call, outcome);
                }
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn open_call(
        &mut self,
        seq: Seq,
        handler: u32,
        request_streams: bool,
        payload: Option<Bytes>,
        metadata: Option<Bytes>,
    ) {
        if self.shutdown_deadline.is_some() {
            let _ = self
                .engine
                .send_error(seq, 503, "server is shutting down", None);
            return;
        }
        let Some(route) = self.app.handlers.get(handler as usize) else {
            let _ = self
                .engine
                .send_error(seq, 500, crate::error::MSG_INTERNAL, None);
            return;
        };
        let metadata = match metadata.as_deref().map(Metadata::from_msgpack) {
            None => Metadata::new(),
            Some(Ok(md)) => md,
            Some(Err(e)) => {
                let _ = self.engine.send_error(seq, 400, e.message(), None);
                return;
            }
        };
        let span = tracing::debug_span!("call", rpc = %route.rpc, seq = seq.0);
        let ctx = CallContext::new(
            seq,
            route.rpc.clone(),
            metadata,
            self.conn.clone(),
            request_streams,
        );
        let start = Start {
            ctx: ctx.clone(),
            payload,
            hooks: route.hooks.clone(),
        };
        let body = match catch_unwind(AssertUnwindSafe(|| route.def.handler.start(start))) {
            Ok(body) => body,
            Err(panic) => {
                let err = panic_error(&*panic, self.app.config.debug);
                self.send_error(seq, &err);
                return;
            }
        };
        self.calls.insert(Call {
            seq,
            body,
            ctx,
            route: handler,
            leading_sent: false,
            span,
        });
    }

    /// Polls one woken call and turns what it reports into frames.
    fn poll_call(&mut self, idx: usize) {
        let debug = self.app.config.debug;
        for _ in 0..ITEMS_PER_POLL {
            let polled = self.calls.with_ready(idx, |call, cx| {
                let _enter = call.span.enter();
                let r = catch_unwind(AssertUnwindSafe(|| call.body.as_mut().poll_step(cx)));
                (call.seq, r)
            });
            let Some((seq, result)) = polled else { return };
            let step = match result {
                Ok(Poll::Pending) => return,
                Ok(Poll::Ready(step)) => step,
                Err(panic) => {
                    let err = panic_error(&*panic, debug);
                    tracing::error!(seq = seq.0, error = %err, "handler panicked");
                    self.fail_call(seq, err);
                    return;
                }
            };
            match step {
                Step::Metadata => self.sync_response(seq),
                Step::Item => {
                    self.sync_response(seq);
                    if !self.write_item(seq) {
                        return;
                    }
                    if self.engine.pending_transmit_bytes() >= self.app.config.max_pending_output {
                        // Output is backed up: come back once the socket drained.
                        self.calls.wake(idx);
                        return;
                    }
                }
                Step::Done => {
                    self.sync_response(seq);
                    let _ = self.engine.send_end(seq);
                    self.finish_call(seq, Outcome::Ok);
                    return;
                }
                Step::Failed(HookError::Fail(e)) => {
                    self.fail_call(seq, e);
                    return;
                }
                Step::Failed(HookError::Close { code, reason }) => {
                    let outcome = Outcome::Error(Error::new(
                        500,
                        format!("connection closed by a hook: {reason}"),
                    ));
                    self.close = Some((code, reason));
                    if let Some(call) = self.calls.remove(seq) {
                        self.end_call(call, outcome);
                    }
                    return;
                }
                Step::Blocking(job) => {
                    let span = tracing::Span::current();
                    tokio::task::spawn_blocking(move || {
                        let _enter = span.enter();
                        let BlockingJob { run, deliver } = job;
                        let out = match catch_unwind(AssertUnwindSafe(run)) {
                            Ok(out) => out,
                            Err(panic) => {
                                let err = panic_error(&*panic, debug);
                                tracing::error!(seq = seq.0, "blocking handler panicked");
                                Err(err)
                            }
                        };
                        deliver(out);
                    });
                }
            }
        }
        // Still producing: yield to the other calls and come back.
        self.calls.wake(idx);
    }

    /// Encodes the ready result straight into the engine's output. Returns whether the call
    /// is still running.
    fn write_item(&mut self, seq: Seq) -> bool {
        let Self { engine, calls, .. } = self;
        let Some(call) = calls.get_mut(seq) else {
            return false;
        };
        let single = !engine_shape_streams(&self.app, call.route);
        let body = &mut call.body;
        let res = engine.send_message(seq, |buf| {
            match catch_unwind(AssertUnwindSafe(|| body.as_mut().write_item(buf))) {
                Ok(r) => r,
                Err(_) => Err(Error::internal()),
            }
        });
        if !call.leading_sent {
            call.leading_sent = true;
            call.ctx.response().lock().leading_sent = true;
        }
        match res {
            Ok(()) if single => {
                self.finish_call(seq, Outcome::Ok);
                false
            }
            Ok(()) => true,
            Err(crate::protocol::SendError::Encode(e)) => {
                self.fail_call(seq, e);
                false
            }
            Err(_) => {
                // The engine no longer has the call (cancelled meanwhile): drop it quietly.
                if let Some(call) = self.calls.remove(seq) {
                    self.end_call(call, Outcome::Cancelled);
                }
                false
            }
        }
    }

    /// Passes response metadata the handler set to the engine. An eager request goes out as
    /// a METADATA frame before anything else the call produces.
    fn sync_response(&mut self, seq: Seq) {
        let Some(call) = self.calls.get(seq) else {
            return;
        };
        let Some(mut st) = call.ctx.response().take_changes() else {
            return;
        };
        if let Some(l) = &st.leading {
            if !st.leading_sent {
                let _ = self.engine.set_leading(seq, l.to_msgpack());
            }
        }
        if let Some(t) = &st.trailing {
            let _ = self.engine.set_trailing(seq, t.to_msgpack());
        }
        if st.eager && !st.leading_sent {
            st.eager = false;
            st.leading_sent = true;
            let _ = self.engine.send_metadata(seq);
        }
    }

    fn send_error(&mut self, seq: Seq, err: &Error) {
        let data = err.data().map(|d| {
            let mut out = Vec::new();
            let _ = rmpv::encode::write_value(&mut out, d);
            out
        });
        let _ = self
            .engine
            .send_error(seq, err.code().as_i64(), err.message(), data.as_deref());
    }

    fn fail_call(&mut self, seq: Seq, err: Error) {
        self.send_error(seq, &err);
        if let Some(call) = self.calls.remove(seq) {
            tracing::debug!(parent: &call.span, code = err.code().as_i64(), "call failed");
            self.end_call(call, Outcome::Error(err));
        }
    }

    fn finish_call(&mut self, seq: Seq, outcome: Outcome) {
        if let Some(call) = self.calls.remove(seq) {
            self.end_call(call, outcome);
        }
    }

    /// Drops the call's body and schedules its `after_request` hooks.
    fn end_call(&mut self, call: Call, outcome: Outcome) {
        let Call {
            body, ctx, route, ..
        } = call;
        if catch_unwind(AssertUnwindSafe(move || drop(body))).is_err() {
            tracing::error!("a handler panicked while being dropped");
        }
        let Some(route) = self.app.handlers.get(route as usize) else {
            return;
        };
        if route.hooks.after_request.is_empty() {
            return;
        }
        let hooks = route.hooks.clone();
        self.finals
            .get_or_insert_with(FuturesUnordered::new)
            .push(Box::pin(async move {
                for h in &hooks.after_request {
                    let fut = AssertUnwindSafe(h(ctx.clone(), outcome.clone()));
                    if futures_util::FutureExt::catch_unwind(fut).await.is_err() {
                        tracing::error!("after_request hook panicked");
                    }
                }
            }));
    }

    /// Moves queued frames into the socket and flushes once. Returns whether anything moved.
    fn flush(&mut self, cx: &mut Context<'_>) -> Result<bool, tungstenite::Error> {
        let mut moved = false;
        loop {
            if self.engine.pending_transmit_bytes() == 0 {
                break;
            }
            match Pin::new(&mut self.ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(moved),
            }
            let Some(frame) = self.engine.poll_transmit() else {
                break;
            };
            Pin::new(&mut self.ws).start_send(Message::Binary(frame))?;
            moved = true;
        }
        match Pin::new(&mut self.ws).poll_flush(cx) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(moved),
        }
    }

    fn on_tick(&mut self) -> Option<End> {
        let cfg = &self.app.config;
        let now = Instant::now();
        let quiet = now.saturating_duration_since(self.last_rx);
        if let Some(idle) = cfg.idle_timeout {
            if quiet >= idle {
                return Some(End::Close(1001, "idle timeout".into()));
            }
        }
        if let Some(every) = cfg.ping_interval {
            if quiet >= every {
                let _ = Pin::new(&mut self.ws).start_send(Message::Ping(Bytes::new()));
            }
        }
        let next = cfg.ping_interval.or(cfg.idle_timeout);
        if let (Some(tick), Some(next)) = (self.tick.as_mut(), next) {
            tick.as_mut().reset(now + next);
        }
        None
    }

    /// Ends every call, closes the socket as `end` says, then runs the last hooks.
    async fn finish(mut self, end: End) {
        // A deadline of the socket layer (message assembly, lifetime) surfaces as a read
        // error; it is a close with a code, not a failed transport.
        let end = match end {
            End::Io(tungstenite::Error::Io(e)) => match super::deadline::Expired::of(&e) {
                Some(expired) => {
                    let (code, reason) = expired.close();
                    tracing::debug!(code, reason, "connection deadline passed");
                    End::Close(code, reason)
                }
                None => End::Io(tungstenite::Error::Io(e)),
            },
            other => other,
        };
        let outcome = match end {
            End::Shutdown => Outcome::Shutdown,
            _ => Outcome::Disconnected,
        };
        self.engine.close();
        for call in self.calls.drain() {
            self.end_call(call, outcome.clone());
        }
        let close = match &end {
            End::Disconnected | End::Io(_) => None,
            End::Close(code, reason) => Some((*code, reason.clone())),
            End::Shutdown => Some((1001, "server shutting down".to_owned())),
        };
        if let Some((code, reason)) = close {
            let mut reason = reason;
            while reason.len() > 123 {
                reason.pop();
            }
            let frame = CloseFrame {
                code: close_code(code),
                reason: reason.into(),
            };
            let ws = &mut self.ws;
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async move {
                // After a read error (an oversized message, a broken frame, a deadline) the
                // stream yields nothing more, though input may still be arriving.
                let read_failed = futures_util::stream::FusedStream::is_terminated(&*ws);
                if ws.close(Some(frame)).await.is_err() {
                    return;
                }
                // Wait for the peer's close reply so the close is clean.
                let clean = !read_failed
                    && loop {
                        match ws.next().await {
                            Some(Ok(Message::Close(_))) | None => break true,
                            Some(Ok(_)) => {}
                            Some(Err(_)) => break false,
                        }
                    };
                // Half-close: the peer reads our close frame, then the end of the stream.
                let io = ws.get_mut();
                let _ = tokio::io::AsyncWriteExt::shutdown(io).await;
                if !clean {
                    // The peer's input could not be read as frames (an oversized message,
                    // a broken frame): discard it until the peer closes. Closing the socket
                    // with unread input makes the kernel send a reset, and a reset can
                    // destroy the close frame before the peer has read it.
                    super::deadline::drain(io).await;
                }
            })
            .await;
        }
        let grace = self.app.config.shutdown_timeout;
        let finals = &mut self.finals;
        let drain = async {
            if let Some(finals) = finals.as_mut() {
                while finals.next().await.is_some() {}
            }
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!("after_request hooks still running after the grace period; abandoned");
        }
        for hook in &self.app.conn_hooks.after_connection {
            let fut = AssertUnwindSafe(hook(self.conn.clone()));
            match futures_util::FutureExt::catch_unwind(fut).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "after_connection hook failed"),
                Err(_) => tracing::error!("after_connection hook panicked"),
            }
        }
        tracing::debug!("connection closed");
    }
}

fn engine_shape_streams(app: &App, route: u32) -> bool {
    app.handlers
        .get(route as usize)
        .is_some_and(|r| r.def.response_streams())
}

fn ws_error_end(e: tungstenite::Error) -> End {
    use tungstenite::error::{CapacityError, Error as E};
    match e {
        E::ConnectionClosed | E::AlreadyClosed => End::Disconnected,
        E::Capacity(CapacityError::MessageTooLong { size, max_size }) => End::Close(
            1009,
            format!("message of {size} bytes exceeds the limit of {max_size}"),
        ),
        E::Capacity(e) => End::Close(1009, e.to_string()),
        E::Protocol(p) => End::Close(1002, p.to_string()),
        E::Utf8(_) => End::Close(1007, "invalid utf-8".into()),
        other => End::Io(other),
    }
}

/// The 500 a panic becomes; in debug mode its message travels in `data`.
pub(crate) fn panic_error(panic: &(dyn std::any::Any + Send), debug: bool) -> Error {
    let err = Error::internal();
    if !debug {
        return err;
    }
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "handler panicked".to_owned());
    err.with_data(serde_json::json!({ "panic": msg }))
}
