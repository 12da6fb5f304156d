//! The client's connection task: owns the socket and the [`ClientConn`] engine of each
//! connection, every call's bookkeeping, and the reconnect loop.
//!
//! One task runs for the client's life. Each socket gets a fresh engine (seqs restart at 1,
//! swill/1 §2.3). When a socket drops, calls in flight fail with
//! [`ClientError::Disconnected`] (never re-sent: they may not be idempotent), except the
//! resumable streams, which are re-opened with `since` on the next socket. While there is no
//! socket, new calls wait for one (bounded by `wait_for_connection`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::backoff::random_unit;
use super::call::{Call, Queued, Resume, Session, Waiting};
use super::command::{Command, Failure, Reply};
use super::connect::{dial, Settings, Ws};
use super::resume::{is_interruption, ResumeCause};
use super::{ClientError, ConnectionState};
use crate::error::Error;
use crate::protocol::{ClientConn, ClientEvent};

/// Starts the connection task on an open socket.
pub(super) fn spawn(
    settings: Arc<Settings>,
    ws: Ws,
) -> (
    mpsc::UnboundedSender<Command>,
    watch::Receiver<ConnectionState>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (state, state_rx) = watch::channel(ConnectionState::Connected { connection: 1 });
    let driver = Driver {
        settings,
        rx,
        commands_open: true,
        state,
        calls: BTreeMap::new(),
        connection: 0,
    };
    tokio::spawn(driver.run(ws));
    (tx, state_rx)
}

/// How a socket's session ended.
enum SessionEnd {
    /// The client is closed, or nothing uses it any more: the task ends.
    Finished,
    /// The socket dropped.
    Dropped,
}

struct Driver {
    settings: Arc<Settings>,
    rx: mpsc::UnboundedReceiver<Command>,
    commands_open: bool,
    state: watch::Sender<ConnectionState>,
    /// Every live call, oldest first (calls are opened again in the order they were made).
    calls: BTreeMap<u64, Call>,
    connection: u64,
}

impl Driver {
    async fn run(mut self, ws: Ws) {
        let mut next = Some(ws);
        while let Some(ws) = next.take() {
            self.connection += 1;
            self.state.send_replace(ConnectionState::Connected {
                connection: self.connection,
            });
            match self.session(ws).await {
                SessionEnd::Finished => break,
                SessionEnd::Dropped => next = self.reconnect().await,
            }
        }
        self.shut(|_| Failure::Closed);
    }

    /// Ends the task's work: no new command is taken, the state says so, then every call
    /// left fails (in that order, so that a caller who saw its call fail sees the client
    /// closed).
    fn shut(&mut self, failure: impl Fn(&Call) -> Failure) {
        self.rx.close();
        self.commands_open = false;
        self.state.send_replace(ConnectionState::Disconnected);
        for call in std::mem::take(&mut self.calls).into_values() {
            call.send(Reply::Failed(failure(&call)));
        }
    }

    /// Serves one socket until it drops or the client is done.
    async fn session(&mut self, ws: Ws) -> SessionEnd {
        let mut s = Session {
            engine: ClientConn::new(),
            by_seq: HashMap::new(),
        };
        let settings = Arc::clone(&self.settings);
        for (id, call) in &mut self.calls {
            s.open(*id, call, &settings);
        }
        // Reading never waits for writing: a server that stops reading until we read its
        // replies (output backpressure) would otherwise deadlock a large upload.
        let (mut sink, mut stream) = ws.split();
        let mut outq: VecDeque<Bytes> = VecDeque::new();
        let mut unflushed = false;
        loop {
            while let Some(frame) = s.engine.poll_transmit() {
                outq.push_back(frame);
            }
            let want_write = unflushed || !outq.is_empty();
            if !self.commands_open && self.calls.is_empty() && !want_write {
                let _ = sink.close().await;
                return SessionEnd::Finished;
            }
            tokio::select! {
                cmd = self.rx.recv(), if self.commands_open => {
                    let mut next = cmd;
                    // Take whatever else is queued before writing: one flush for the batch.
                    loop {
                        match next {
                            Some(Command::Close) => {
                                self.shut(|_| Failure::Closed);
                                let close = async {
                                    let _ = write_all(&mut sink, &mut outq, &mut unflushed).await;
                                    let _ = sink.close().await;
                                };
                                let _ = tokio::time::timeout(settings.handshake_timeout, close).await;
                                return SessionEnd::Finished;
                            }
                            Some(cmd) => self.apply(&mut s, cmd),
                            None => {
                                self.commands_open = false;
                                break;
                            }
                        }
                        match self.rx.try_recv() {
                            Ok(cmd) => next = Some(cmd),
                            Err(_) => break,
                        }
                    }
                }
                msg = stream.next() => match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Err(e) = s.engine.handle_message(bytes) {
                            tracing::debug!(error = %e, "ignoring an undecodable frame from the server");
                        }
                        while let Some(ev) = s.engine.poll_event() {
                            self.deliver(&mut s, ev);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "client connection failed");
                        return SessionEnd::Dropped;
                    }
                    None => return SessionEnd::Dropped,
                },
                res = write_all(&mut sink, &mut outq, &mut unflushed), if want_write => {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "client connection failed");
                        return SessionEnd::Dropped;
                    }
                }
            }
        }
    }

    /// A command while a socket is up.
    fn apply(&mut self, s: &mut Session, cmd: Command) {
        match cmd {
            Command::Open {
                id,
                rpc,
                shape,
                data,
                metadata,
                reply,
            } => {
                let mut call = Call {
                    rpc,
                    shape,
                    data,
                    metadata,
                    reply,
                    seq: None,
                    waiting: None,
                    resume: Resume::default(),
                };
                s.open(id, &mut call, &self.settings);
                self.calls.insert(id, call);
            }
            Command::Item { id, data } => {
                if let Some(seq) = self.calls.get(&id).and_then(|c| c.seq) {
                    let _ = s.engine.send_item(seq, &data);
                }
            }
            Command::End { id } => {
                if let Some(seq) = self.calls.get(&id).and_then(|c| c.seq) {
                    let _ = s.engine.send_end(seq);
                }
            }
            Command::Cancel { id } => {
                if let Some(seq) = self.calls.remove(&id).and_then(|c| c.seq) {
                    s.by_seq.remove(&seq);
                    s.engine.cancel(seq);
                }
            }
            Command::Close => {}
        }
    }

    /// An event of the engine: forwarded to its call, with the resume bookkeeping.
    fn deliver(&mut self, s: &mut Session, ev: ClientEvent) {
        let seq = match &ev {
            ClientEvent::Metadata { seq, .. }
            | ClientEvent::Message { seq, .. }
            | ClientEvent::End { seq, .. }
            | ClientEvent::Error { seq, .. } => *seq,
            #[allow(unreachable_patterns)]
            _ => return,
        };
        let Some(&id) = s.by_seq.get(&seq) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            s.by_seq.remove(&seq);
            return;
        };
        let settings = &*self.settings;
        let last = match ev {
            ClientEvent::Metadata { leading, .. } => {
                match call.first_leading(Some(&leading), settings) {
                    Some(resumed) => call.send(resumed),
                    None => call.send(Reply::Metadata(leading)),
                }
                false
            }
            ClientEvent::Message {
                data,
                mut leading,
                trailing,
                last,
                ..
            } => {
                if let Some(resumed) = call.first_leading(leading.as_ref(), settings) {
                    call.send(resumed);
                    leading = None;
                }
                if let Some(at) = &mut call.resume.at {
                    at.offset = at.offset.saturating_add(1);
                    call.resume.attempts = 0;
                }
                call.send(Reply::Message {
                    data,
                    leading,
                    trailing,
                });
                last
            }
            ClientEvent::End {
                mut leading,
                trailing,
                ..
            } => {
                if let Some(resumed) = call.first_leading(leading.as_ref(), settings) {
                    call.send(resumed);
                    leading = None;
                }
                call.send(Reply::End { leading, trailing });
                true
            }
            ClientEvent::Error {
                code,
                message,
                data,
                ..
            } => {
                let mut err = Error::new(code, message);
                if let Some(raw) = data {
                    if let Ok(v) = rmpv::decode::read_value(&mut &raw[..]) {
                        err = err.with_value(v);
                    }
                }
                s.by_seq.remove(&seq);
                if is_interruption(&err) && call.take_resume_attempt(settings, ResumeCause::Lagged)
                {
                    tracing::debug!(rpc = %call.rpc, "resuming a stream that lagged");
                    s.open(id, call, settings);
                    return;
                }
                call.send(Reply::Error(err));
                true
            }
            #[allow(unreachable_patterns)]
            _ => false,
        };
        if last {
            s.by_seq.remove(&seq);
            self.calls.remove(&id);
        }
    }

    /// After a drop: every call in flight fails, except the resumable streams, which wait
    /// for the next socket.
    fn drop_in_flight(&mut self) {
        let settings = Arc::clone(&self.settings);
        self.calls.retain(|_, call| {
            if call.seq.take().is_none() {
                return true;
            }
            if call.take_resume_attempt(&settings, ResumeCause::Reconnected) {
                return true;
            }
            call.send(Reply::Failed(Failure::Disconnected));
            false
        });
    }

    /// Dials with backoff until a socket is up (`Some`), or the client is done (`None`, with
    /// every call failed).
    async fn reconnect(&mut self) -> Option<Ws> {
        let Some(policy) = self.settings.reconnect.clone() else {
            self.shut(|_| Failure::Disconnected);
            return None;
        };
        let mut attempt: u32 = 0;
        loop {
            if policy.attempts().is_some_and(|max| attempt >= max) {
                tracing::debug!(attempts = attempt, "giving up reconnecting");
                self.shut(|c| match c.waiting {
                    Some(_) => Failure::Unavailable,
                    None => Failure::Disconnected,
                });
                return None;
            }
            attempt += 1;
            let delay = policy.delay(attempt, random_unit());
            self.state
                .send_replace(ConnectionState::Reconnecting { attempt, delay });
            if attempt == 1 {
                // After the state says so: a caller whose call failed sees it reconnecting.
                self.drop_in_flight();
            }
            let wake = Instant::now() + delay;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => break,
                    go_on = self.offline_step() => if !go_on { return None },
                }
            }
            let settings = Arc::clone(&self.settings);
            let dial = dial(&settings);
            tokio::pin!(dial);
            loop {
                tokio::select! {
                    res = &mut dial => match res {
                        Ok(ws) => return Some(ws),
                        Err(ClientError::Refused { status: status @ (401 | 403), body }) => {
                            // Refused for who we are: retrying would be refused the same way.
                            tracing::warn!(status, %body, "the server refused to reconnect; giving up");
                            self.shut(|c| match c.waiting {
                                Some(_) => Failure::Unavailable,
                                None => Failure::Disconnected,
                            });
                            return None;
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, attempt, "reconnect attempt failed");
                            break;
                        }
                    },
                    go_on = self.offline_step() => if !go_on { return None },
                }
            }
        }
    }

    /// Waits for one command or the next waiting call's deadline while there is no socket.
    /// `false` when the task should end (closed, or nothing uses the client any more).
    async fn offline_step(&mut self) -> bool {
        let deadline = self
            .calls
            .values()
            .filter_map(|c| c.waiting.as_ref().map(|w| w.deadline))
            .min();
        if !self.commands_open && self.calls.is_empty() {
            return false;
        }
        tokio::select! {
            cmd = self.rx.recv(), if self.commands_open => match cmd {
                Some(Command::Close) => {
                    self.shut(|_| Failure::Closed);
                    return false;
                }
                Some(cmd) => self.apply_offline(cmd),
                None => self.commands_open = false,
            },
            () = sleep_until_opt(deadline), if deadline.is_some() => {
                let now = Instant::now();
                self.calls.retain(|_, call| match &call.waiting {
                    Some(w) if w.deadline <= now => {
                        call.send(Reply::Failed(Failure::Unavailable));
                        false
                    }
                    _ => true,
                });
            }
            // No command can come and no call waits: only the caller's other branch can end
            // this (the calls left are resumable streams waiting for the socket).
            else => std::future::pending::<()>().await,
        }
        self.commands_open || !self.calls.is_empty()
    }

    /// A command while there is no socket.
    fn apply_offline(&mut self, cmd: Command) {
        match cmd {
            Command::Open {
                id,
                rpc,
                shape,
                data,
                metadata,
                reply,
            } => {
                let wait = self.settings.wait_for_connection;
                if wait.is_zero() {
                    let _ = reply.send(Reply::Failed(Failure::Unavailable));
                    return;
                }
                let call = Call {
                    rpc,
                    shape,
                    data,
                    metadata,
                    reply,
                    seq: None,
                    waiting: Some(Waiting {
                        deadline: Instant::now() + wait,
                        queued: Vec::new(),
                    }),
                    resume: Resume::default(),
                };
                self.calls.insert(id, call);
            }
            Command::Item { id, data } => {
                if let Some(w) = self.calls.get_mut(&id).and_then(|c| c.waiting.as_mut()) {
                    w.queued.push(Queued::Item(data));
                }
            }
            Command::End { id } => {
                if let Some(w) = self.calls.get_mut(&id).and_then(|c| c.waiting.as_mut()) {
                    w.queued.push(Queued::End);
                }
            }
            Command::Cancel { id } => {
                self.calls.remove(&id);
            }
            Command::Close => {}
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Moves queued frames into the socket and flushes. Cancel-safe: a frame leaves `outq` only
/// when the sink has taken it, so a `select!` may drop this future at any await.
async fn write_all<W>(
    sink: &mut W,
    outq: &mut VecDeque<Bytes>,
    unflushed: &mut bool,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    W: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    std::future::poll_fn(|cx| {
        while !outq.is_empty() {
            std::task::ready!(Pin::new(&mut *sink).poll_ready(cx))?;
            if let Some(frame) = outq.pop_front() {
                Pin::new(&mut *sink).start_send(Message::Binary(frame))?;
                *unflushed = true;
            }
        }
        std::task::ready!(Pin::new(&mut *sink).poll_flush(cx))?;
        *unflushed = false;
        Poll::Ready(Ok(()))
    })
    .await
}
