//! The per-connection driver loop: feeds WebSocket messages to the protocol engine, runs the
//! calls it opens (their lifecycle is in `call.rs`), and writes what the engine queues — all
//! on one task.
//!
//! One pass of [`Driver::poll`]: read a bounded batch of messages (unless a streaming call's
//! queue is full), hand engine events to the calls, poll the woken calls while the unsent
//! output is under its bound, move the engine's frames into the socket and flush once
//! (batched writes), then timers. Everything that can make progress registers a waker before
//! the pass returns `Pending`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
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

use super::calls::CallSet;
use super::io::Release;
use crate::app::App;
use crate::context::Connection;
use crate::hooks::{HookError, Outcome};
use crate::protocol::{ProtocolError, ServerConn};

/// Messages read per pass before the other work gets a turn.
const READ_BUDGET: usize = 64;
/// Call polls per pass.
const CALL_BUDGET: usize = 256;
/// Call polls per turn of the connection's task (all its passes) before it yields to the
/// other connections of its worker. Each poll may produce up to 64 stream items, so a turn
/// makes at most about 16 k items (a few milliseconds): a connection streaming flat out
/// (a slow reader's backlog, a client that asked for millions of items) no longer holds its
/// worker for tens of milliseconds while its neighbours' calls wait. The soak showed it:
/// well-behaved unary calls waited 139 ms at the median behind 400 such connections.
const TURN_CALL_POLLS: usize = CALL_BUDGET;
/// How long a closing connection waits for the peer's close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a connection without ping interval and idle timeout checks whether it has been
/// quiet long enough to give its buffers back (see [`Driver::trim`]); the same as the
/// default ping interval, which otherwise sets the pace.
const TRIM_TICK: Duration = crate::app::DEFAULT_PING_INTERVAL;

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
    pub(super) ws: WebSocketStream<S>,
    pub(super) engine: ServerConn,
    pub(super) calls: CallSet,
    pub(super) app: Arc<App>,
    pub(super) conn: Connection,
    /// `after_request` hooks still running; created when the first one is scheduled.
    pub(super) finals: Option<FuturesUnordered<BoxFuture<'static, ()>>>,
    pub(super) last_rx: Instant,
    /// Pings, the idle timeout and the idle trim.
    pub(super) tick: Pin<Box<Sleep>>,
    pub(super) shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    pub(super) shutdown_deadline: Option<Pin<Box<Sleep>>>,
    pub(super) close: Option<(u16, String)>,
    pub(super) stats: super::stats::ConnStats,
}

/// The connection's whole life as one future: the spawned task of a connection.
///
/// Written by hand rather than as an `async` block: a block keeps its captured arguments
/// beside every value built from them for as long as it runs, so the socket state was held
/// two or three times over in each idle connection's task (about 2.3 KiB a task; this is
/// about half of it). Here the driver lives once, inline; the phases that run once (the
/// `after_accept` hooks, the closing sequence) are boxed and own what they need.
pub(crate) struct ConnTask<S, G> {
    driver: Option<Driver<S>>,
    phase: Phase,
    span: tracing::Span,
    /// Held for the connection's life (tracker entry, connection permit).
    _slot: G,
}

enum Phase {
    Start,
    Accepting(BoxFuture<'static, Option<End>>),
    Running,
    Finishing(BoxFuture<'static, ()>),
}

/// The task of one upgraded connection; `slot` is dropped when it ends.
pub(crate) fn run<S, G>(
    ws: WebSocketStream<S>,
    app: Arc<App>,
    conn: Connection,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    slot: G,
) -> ConnTask<S, G>
where
    S: AsyncRead + AsyncWrite + Release + Unpin + Send + 'static,
{
    let span = tracing::info_span!("conn", id = conn.id(), peer = ?conn.peer_addr());
    ConnTask {
        driver: Some(Driver::new(ws, app, conn, shutdown)),
        phase: Phase::Start,
        span,
        _slot: slot,
    }
}

impl<S, G> ConnTask<S, G>
where
    S: AsyncRead + AsyncWrite + Release + Unpin + Send + 'static,
{
    fn end(&mut self, end: End) {
        match &end {
            End::Io(e) => tracing::debug!(error = %e, "connection failed"),
            other => tracing::debug!(end = ?other, "connection ending"),
        }
        self.phase = match self.driver.take() {
            Some(d) => Phase::Finishing(Box::pin(d.finish(end))),
            None => Phase::Finishing(Box::pin(std::future::ready(()))),
        };
    }
}

impl<S, G: Unpin> Future for ConnTask<S, G>
where
    S: AsyncRead + AsyncWrite + Release + Unpin + Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _enter = span.enter();
        loop {
            match &mut this.phase {
                Phase::Start => {
                    tracing::debug!("connection accepted");
                    let Some(d) = this.driver.as_ref() else {
                        return Poll::Ready(());
                    };
                    this.phase = if d.app.conn_hooks.after_accept.is_empty() {
                        Phase::Running
                    } else {
                        Phase::Accepting(Box::pin(after_accept(d.app.clone(), d.conn.clone())))
                    };
                }
                Phase::Accepting(hooks) => match hooks.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(end)) => this.end(end),
                    Poll::Ready(None) => this.phase = Phase::Running,
                },
                Phase::Running => {
                    let Some(d) = this.driver.as_mut() else {
                        return Poll::Ready(());
                    };
                    match d.poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(end) => this.end(end),
                    }
                }
                Phase::Finishing(finish) => return finish.as_mut().poll(cx),
            }
        }
    }
}

/// Runs the `after_accept` hooks; `Some` when one of them closes the connection.
async fn after_accept(app: Arc<App>, conn: Connection) -> Option<End> {
    for hook in &app.conn_hooks.after_accept {
        match hook(conn.clone()).await {
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

/// The period of the connection's tick: the ping interval, else the idle timeout, else
/// [`TRIM_TICK`].
fn tick_every(app: &App) -> Duration {
    app.config
        .ping_interval
        .or(app.config.idle_timeout)
        .unwrap_or(TRIM_TICK)
}

fn close_code(code: u16) -> CloseCode {
    CloseCode::from(code.max(1000))
}

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Release + Unpin + Send,
{
    fn new(
        ws: WebSocketStream<S>,
        app: Arc<App>,
        conn: Connection,
        shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Self {
        let tick_every = tick_every(&app);
        Self {
            engine: ServerConn::new(app.engine_limits()),
            ws,
            calls: CallSet::new(),
            conn,
            finals: None,
            last_rx: Instant::now(),
            tick: Box::pin(tokio::time::sleep(tick_every)),
            shutdown,
            shutdown_deadline: None,
            close: None,
            stats: super::stats::ConnStats::open(&app),
            app,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        self.calls.register(cx);
        let mut turn_polls = 0;
        for _ in 0..32 {
            let mut progress = false;

            if self.shutdown_deadline.is_none() && self.shutdown.as_mut().poll(cx).is_ready() {
                // Handlers waiting on `Connection::shutting_down` end their streams now.
                self.conn.begin_shutdown();
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
                && turn_polls < TURN_CALL_POLLS
                && self.engine.pending_transmit_bytes() < self.app.config.max_pending_output
                && self.close.is_none()
            {
                let Some(idx) = self.calls.next_ready() else {
                    break;
                };
                polled += 1;
                turn_polls += 1;
                self.poll_call(idx);
            }
            progress |= polled > 0;

            // 3. Write.
            match self.flush(cx) {
                Ok(wrote) => progress |= wrote,
                Err(e) => return Poll::Ready(ws_error_end(e)),
            }

            self.stats.pass(&mut self.engine, self.last_rx);

            // 4. Hooks that outlive their call.
            if let Some(finals) = self.finals.as_mut() {
                while let Poll::Ready(Some(())) = finals.poll_next_unpin(cx) {}
            }

            // 5. Ping and idle.
            if self.tick.as_mut().poll(cx).is_ready() {
                progress = true;
                if let Some(end) = self.on_tick() {
                    return Poll::Ready(end);
                }
            }

            if !progress {
                return Poll::Pending;
            }
            if turn_polls >= TURN_CALL_POLLS {
                // This turn's share is used: the rest waits for the next turn.
                break;
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
                self.stats.received(bytes.len());
                if let Err(e) = self.engine.handle_message(bytes, &*self.app) {
                    let ProtocolError::TooManyInvalidFrames { .. } = e;
                    self.stats.refused(crate::observe::Limit::InvalidFrames);
                    return Err(End::Close(e.close_code(), "too many invalid frames".into()));
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
            self.stats.sent(frame.len());
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
        self.stats.flush(&mut self.engine);
        let every = tick_every(&self.app);
        if quiet >= every {
            self.trim();
        }
        self.tick.as_mut().reset(now + every);
        None
    }

    /// Gives back what a quiet connection holds for traffic: the socket read chunk, the
    /// call slab (when no call runs), the engine's tables and output buffer. The next
    /// frame allocates again; until then the connection costs its bare state.
    pub(super) fn trim(&mut self) -> bool {
        let read = self.ws.get_mut().release();
        let calls = self.calls.trim();
        let engine = self.engine.shrink_idle();
        read | calls | engine
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
        self.stats
            .close(&mut self.engine, close.as_ref().map(|c| c.0));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::deadline::DeadlineIo;
    use crate::server::io::AdaptiveIo;

    type Io = DeadlineIo<AdaptiveIo<tokio::net::TcpStream>>;

    /// Every idle connection holds one task of this size: keep it from creeping back up
    /// (it was about 2.2 KiB as an `async` block that kept its arguments twice over).
    #[tokio::test]
    async fn the_connection_task_holds_its_state_once() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(l.local_addr().unwrap());
        let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(l.accept(), client).0
        })
        .await
        .unwrap()
        .unwrap();
        let io: Io = DeadlineIo::new(AdaptiveIo::new(tcp), Bytes::new(), CLOSE_TIMEOUT, None);
        let role = tokio_tungstenite::tungstenite::protocol::Role::Server;
        let ws = WebSocketStream::from_raw_socket(io, role, None).await;
        let app = crate::app::Swill::new().build().unwrap();
        let states = app.states.clone();
        let conn = Connection::new(
            1,
            None,
            http::Uri::default(),
            http::HeaderMap::new(),
            http::Extensions::new(),
            "swill/1",
            states,
        );
        let task = run(ws, app, conn, Box::pin(async {}), ());
        let size = std::mem::size_of_val(&task);
        let driver = std::mem::size_of::<Driver<Io>>();
        assert!(
            size <= driver + 96,
            "the task ({size} B) holds more than its driver ({driver} B)"
        );
        // The `metrics` feature adds the connection's own counters (zero-sized without it).
        let stats = std::mem::size_of::<super::super::stats::ConnStats>();
        assert!(
            size <= 1024 + stats,
            "the connection task grew to {size} B ({stats} B of them metrics counters)"
        );
        assert!(
            std::mem::size_of::<CallSet>() <= 8,
            "an idle call set is one pointer"
        );
    }
}
