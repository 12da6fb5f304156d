//! The call lifecycle inside a connection's driver: open a call for an engine event, poll its
//! body, turn each [`Step`] into engine commands, end it and run its `after_request` hooks.
//!
//! The driver keeps no per-call protocol state: it asks the engine (`leading_sent`,
//! `is_open`) and the body tells it everything else as values.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncRead, AsyncWrite};

use super::calls::Call;
use super::conn::Driver;
use crate::app::log_limit::Verdict;
use crate::app::App;
use crate::error::Error;
use crate::handler::{Backlog, BlockingJob, CallContext, CallView, Metadata, Start, Step};
use crate::hooks::{HookError, Outcome};
use crate::protocol::{CancelReason, Event, Seq};

/// Message of the ERROR 503 for a call over the app's call budget (`Config::max_calls`).
const SERVER_BUSY: &str = "server busy: too many calls in progress";

/// Items one streaming call may produce per poll before others get a turn.
const ITEMS_PER_POLL: usize = 64;

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + super::io::Release + Unpin + Send,
{
    /// Acts on one engine event.
    pub(super) fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Open {
                seq,
                handler,
                shape,
                payload,
                metadata,
                ..
            } => self.open_call(seq, handler, shape.response_streams, payload, metadata),
            Event::Message { seq, payload } => self.push_input(seq, Some(payload)),
            Event::EndOfStream { seq } => self.push_input(seq, None),
            Event::Cancelled { seq, reason } => {
                if let Some(call) = self.calls.remove(seq) {
                    let outcome = match reason {
                        CancelReason::Client => Outcome::Cancelled,
                        // The engine already sent this ERROR: report exactly that.
                        CancelReason::Protocol { code, message } => {
                            Outcome::Error(Error::new(code, message))
                        }
                    };
                    tracing::debug!(parent: &call.span, outcome = ?outcome, "call ended by the engine");
                    self.end_call(call, outcome);
                }
            }
        }
    }

    /// Hands a request-stream frame to its call and wakes it.
    fn push_input(&mut self, seq: Seq, item: Option<Bytes>) {
        let Some((idx, call)) = self.calls.get_mut(seq) else {
            return;
        };
        let Err(backlog) = call.body.as_mut().push_input(item) else {
            self.calls.wake(idx);
            return;
        };
        // swill/1 has no flow control: the handler fell too far behind its client. Failing
        // this call keeps memory bounded without stalling the connection's other calls; the
        // engine drops the rest of its request.
        let msg = match backlog {
            Backlog::Items => {
                let max = self.app.config.max_queued_items;
                self.stats.refused(crate::observe::Limit::QueuedItems);
                tracing::warn!(seq = seq.0, max, "request stream backlog exceeded");
                format!("request stream backlog exceeded: the handler is {max} items behind")
            }
            Backlog::Bytes => {
                let max = self.app.config.effective_queued_input_budget();
                self.stats.refused(crate::observe::Limit::QueuedBytes);
                tracing::warn!(seq = seq.0, max, "queued input budget exhausted");
                format!(
                    "request stream backlog exceeded: unread request items hold the server's {max} bytes"
                )
            }
        };
        self.fail_call(seq, Error::too_many_requests(msg));
    }

    fn open_call(
        &mut self,
        seq: Seq,
        handler: u32,
        response_streams: bool,
        payload: Option<Bytes>,
        metadata: Option<Bytes>,
    ) {
        if self.shutdown_deadline.is_some() {
            self.send_error(seq, &Error::new(503, "server is shutting down"));
            return;
        }
        let Some(route) = self.app.handlers.get(handler as usize) else {
            self.send_error(seq, &Error::internal());
            return;
        };
        let Some(permit) = self.app.calls.try_acquire() else {
            tracing::debug!(
                seq = seq.0,
                max = self.app.calls.max(),
                "app call budget exhausted"
            );
            self.stats.refused(crate::observe::Limit::Calls);
            self.send_error(seq, &Error::new(503, SERVER_BUSY));
            return;
        };
        let metadata = match metadata.as_deref().map(Metadata::from_msgpack) {
            None => Metadata::new(),
            Some(Ok(md)) => md,
            Some(Err(e)) => {
                self.send_error(seq, &e);
                return;
            }
        };
        let ctx = match self.calls.take_spare() {
            Some(spare) => CallContext::reuse(spare, seq, route.rpc.clone(), metadata),
            None => CallContext::new(seq, route.rpc.clone(), metadata, self.conn.clone()),
        };
        let span = crate::app::trace::call_span(&self.app, route, seq, ctx.trace_context());
        let start = Start {
            ctx: ctx.clone(),
            payload,
            hooks: route.hooks.clone(),
            max_queued_items: self.app.config.max_queued_items,
            queued: self.app.queued.clone(),
            budget: self.app.config.budget(),
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
            response_streams,
            span,
            _permit: permit,
        });
        self.stats.call_opened(handler);
    }

    /// Polls one woken call and turns what it reports into frames.
    pub(super) fn poll_call(&mut self, idx: usize) {
        let debug = self.app.config.debug;
        // Asked of the engine once per poll, not per item: every frame the call sends
        // carries (or follows) its leading metadata, so it stays sent from then on.
        let mut leading_sent = None;
        for _ in 0..ITEMS_PER_POLL {
            let engine = &self.engine;
            let polled = self.calls.with_ready(idx, |call, cx| {
                let _enter = call.span.enter();
                let _trace = crate::observe::enter(call.ctx.trace_context());
                let sent = *leading_sent.get_or_insert_with(|| engine.leading_sent(call.seq));
                let view = CallView { leading_sent: sent };
                let r = catch_unwind(AssertUnwindSafe(|| call.body.as_mut().poll_step(cx, view)));
                (call.seq, r)
            });
            let Some((seq, result)) = polled else { return };
            let step = match result {
                Ok(Poll::Pending) => return,
                Ok(Poll::Ready(step)) => step,
                Err(panic) => {
                    let err = panic_error(&*panic, debug);
                    if let Some(suppressed) = logs(&self.app) {
                        tracing::error!(seq = seq.0, error = %err, suppressed, "handler panicked");
                    }
                    self.fail_call(seq, err);
                    return;
                }
            };
            match step {
                Step::Leading(leading) => {
                    if let Some(md) = leading {
                        let _ = self.engine.set_leading(seq, md);
                    }
                    let _ = self.engine.send_metadata(seq);
                    leading_sent = Some(true);
                }
                Step::Item { leading, trailing } => {
                    if !self.write_item(idx, seq, leading, trailing) {
                        return;
                    }
                    leading_sent = Some(true);
                    if self.engine.pending_transmit_bytes() >= self.app.config.max_pending_output {
                        // Output is backed up: come back once the socket drained.
                        self.calls.wake(idx);
                        return;
                    }
                }
                Step::Done { leading, trailing } => {
                    self.set_metadata(seq, leading, trailing);
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
                    // The job runs on another thread: it takes the call's span and trace along.
                    let call = self.calls.at_mut(idx);
                    let span = call
                        .as_ref()
                        .map_or_else(tracing::Span::current, |c| c.span.clone());
                    let trace = call.and_then(|c| c.ctx.trace_context().cloned());
                    run_blocking(job, seq, self.app.clone(), span, trace);
                }
            }
        }
        // Still producing: yield to the other calls and come back.
        self.calls.wake(idx);
    }

    fn set_metadata(&mut self, seq: Seq, leading: Option<Bytes>, trailing: Option<Bytes>) {
        if let Some(md) = leading {
            // Refused once leading metadata went out: the engine is the judge.
            let _ = self.engine.set_leading(seq, md);
        }
        if let Some(md) = trailing {
            let _ = self.engine.set_trailing(seq, md);
        }
    }

    /// Encodes the ready result straight into the engine's output. Returns whether the call
    /// is still running.
    fn write_item(
        &mut self,
        idx: usize,
        seq: Seq,
        leading: Option<Bytes>,
        trailing: Option<Bytes>,
    ) -> bool {
        if leading.is_some() || trailing.is_some() {
            self.set_metadata(seq, leading, trailing);
        }
        let Self { engine, calls, .. } = self;
        let Some(call) = calls.at_mut(idx) else {
            return false;
        };
        let streams = call.response_streams;
        let body = &mut call.body;
        let res = engine.send_message(seq, |buf| {
            match catch_unwind(AssertUnwindSafe(|| body.as_mut().write_item(buf))) {
                Ok(r) => r,
                Err(_) => Err(Error::internal()),
            }
        });
        match res {
            // A single response ends the call in the engine.
            Ok(()) if !streams => {
                self.finish_call(seq, Outcome::Ok);
                false
            }
            Ok(()) => true,
            Err(crate::protocol::SendError::Encode(e)) => {
                self.fail_call(seq, e);
                false
            }
            Err(crate::protocol::SendError::InvalidData) => {
                // A result whose bytes are not exactly one MessagePack value (a pre-encoded
                // item built from bad bytes): nothing was queued, the call is still open, and
                // the client must get an answer rather than wait forever.
                if let Some(suppressed) = logs(&self.app) {
                    tracing::error!(
                        seq = seq.0,
                        suppressed,
                        "a handler's result is not exactly one MessagePack value"
                    );
                }
                let err = Error::internal()
                    .with_debug_reason("the result is not exactly one MessagePack value".into());
                self.fail_call(seq, err);
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

    /// Sends an ERROR for `seq`; in debug mode a 500's hidden reason travels in `data`.
    pub(super) fn send_error(&mut self, seq: Seq, err: &Error) {
        self.stats.error(err.code().as_i64());
        let mut data = err.data().map(|d| {
            let mut out = Vec::new();
            let _ = rmpv::encode::write_value(&mut out, d);
            out
        });
        if data.is_none() && self.app.config.debug {
            if let Some(reason) = err.debug_reason() {
                let v = crate::error::to_value(&serde_json::json!({ "reason": reason }));
                let mut out = Vec::new();
                let _ = rmpv::encode::write_value(&mut out, &v);
                data = Some(out);
            }
        }
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
    pub(super) fn end_call(&mut self, call: Call, outcome: Outcome) {
        let Call {
            body, ctx, route, ..
        } = call;
        self.stats.call_ended(route);
        if catch_unwind(AssertUnwindSafe(move || {
            crate::handler::boxes::recycle(body)
        }))
        .is_err()
        {
            if let Some(suppressed) = logs(&self.app) {
                tracing::error!(suppressed, "a handler panicked while being dropped");
            }
        }
        let Some(route) = self.app.handlers.get(route as usize) else {
            return;
        };
        if route.hooks.after_request.is_empty() {
            self.calls.keep_spare(ctx);
            return;
        }
        let hooks = route.hooks.clone();
        let app = self.app.clone();
        self.finals
            .get_or_insert_with(FuturesUnordered::new)
            .push(Box::pin(async move {
                for h in &hooks.after_request {
                    let fut = AssertUnwindSafe(h(ctx.clone(), outcome.clone()));
                    if futures_util::FutureExt::catch_unwind(fut).await.is_err() {
                        if let Some(suppressed) = logs(&app) {
                            tracing::error!(suppressed, "after_request hook panicked");
                        }
                    }
                }
            }));
    }
}

/// Whether the app's error-log budget lets one more handler-failure line through now, and if
/// so how many were held back before it.
fn logs(app: &App) -> Option<u64> {
    match app.error_logs.handler.check(std::time::Instant::now()) {
        Verdict::Log { suppressed } => Some(suppressed),
        Verdict::Suppress => None,
    }
}

/// Runs a blocking handler on the pool; its result wakes the call through `deliver`.
fn run_blocking(
    job: BlockingJob,
    seq: Seq,
    app: Arc<App>,
    span: tracing::Span,
    trace: Option<Arc<crate::observe::TraceContext>>,
) {
    tokio::task::spawn_blocking(move || {
        let _enter = span.enter();
        let _trace = crate::observe::enter(trace.as_ref());
        let BlockingJob { run, deliver } = job;
        let out = match catch_unwind(AssertUnwindSafe(run)) {
            Ok(out) => out,
            Err(panic) => {
                let err = panic_error(&*panic, app.config.debug);
                if let Some(suppressed) = logs(&app) {
                    tracing::error!(seq = seq.0, suppressed, "blocking handler panicked");
                }
                Err(err)
            }
        };
        deliver(out);
    });
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
