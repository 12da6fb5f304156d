//! Per-connection recording of the server's metrics (feature `metrics`; without it every
//! method here is an empty inline function on a zero-sized type, so the default build pays
//! nothing).
//!
//! The hot counts (frames and bytes each way) are plain integers of the connection,
//! added to the shared counters in batches: every [`FLUSH_FRAMES`] frames, once a second of
//! traffic ([`FLUSH_EVERY`], timed with the read clock the driver already keeps), at each tick
//! of the connection and when it ends. Calls in flight and refusals are recorded as they
//! happen, on handles registered when the app was built (`crate::app::metrics`).

#[cfg(feature = "metrics")]
pub(crate) use on::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

/// Frames (both ways) a connection counts before it adds them to the shared counters.
#[cfg(feature = "metrics")]
const FLUSH_FRAMES: u32 = 64;
/// How long a busy connection keeps its counts before adding them to the shared counters.
#[cfg(feature = "metrics")]
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(feature = "metrics")]
mod on {
    use std::sync::Arc;

    use tokio::time::Instant;

    use crate::app::App;
    use crate::observe::Limit;
    use crate::protocol::ServerConn;

    /// Counts `limit` refusing something outside a connection (an upgrade).
    pub(crate) fn refused(app: &App, limit: Limit) {
        app.metrics.refused(limit, 1);
    }

    /// One connection's counts not yet added to the shared counters.
    pub(crate) struct ConnStats {
        app: Arc<App>,
        frames_in: u64,
        bytes_in: u64,
        frames_out: u64,
        bytes_out: u64,
        unflushed: u32,
        flushed_at: Instant,
        /// This connection's share of the output queue gauge.
        queued: usize,
        closed: bool,
    }

    impl ConnStats {
        /// Counts a connection open.
        pub(crate) fn open(app: &Arc<App>) -> Self {
            app.metrics.connections_total.increment(1);
            app.metrics.connections_open.increment(1.0);
            Self {
                app: app.clone(),
                frames_in: 0,
                bytes_in: 0,
                frames_out: 0,
                bytes_out: 0,
                unflushed: 0,
                flushed_at: Instant::now(),
                queued: 0,
                closed: false,
            }
        }

        #[inline]
        pub(crate) fn received(&mut self, len: usize) {
            self.frames_in += 1;
            self.bytes_in += len as u64;
            self.unflushed += 1;
        }

        #[inline]
        pub(crate) fn sent(&mut self, len: usize) {
            self.frames_out += 1;
            self.bytes_out += len as u64;
            self.unflushed += 1;
        }

        pub(crate) fn call_opened(&self, handler: u32) {
            if let Some(rpc) = self.app.metrics.rpc(handler) {
                rpc.total.increment(1);
                rpc.in_flight.increment(1.0);
            }
        }

        pub(crate) fn call_ended(&self, handler: u32) {
            if let Some(rpc) = self.app.metrics.rpc(handler) {
                rpc.in_flight.decrement(1.0);
            }
        }

        /// An ERROR frame the driver sent (the engine's own are in its tally).
        pub(crate) fn error(&self, code: i64) {
            self.app.metrics.errors(code, 1);
        }

        pub(crate) fn refused(&self, limit: Limit) {
            self.app.metrics.refused(limit, 1);
        }

        /// After each pass's writes: the output queue gauge follows the engine's outbox, and
        /// the counts go out when the batch is full or old.
        #[inline]
        pub(crate) fn pass(&mut self, engine: &mut ServerConn, last_rx: Instant) {
            let queued = engine.pending_transmit_bytes();
            if queued != self.queued {
                self.queue(queued);
            }
            if self.unflushed >= super::FLUSH_FRAMES
                || (self.unflushed > 0 && last_rx >= self.flushed_at + super::FLUSH_EVERY)
            {
                self.flush(engine);
            }
        }

        fn queue(&mut self, queued: usize) {
            let gauge = &self.app.metrics.output_queue;
            if queued > self.queued {
                gauge.increment((queued - self.queued) as f64);
            } else {
                gauge.decrement((self.queued - queued) as f64);
            }
            self.queued = queued;
        }

        /// Adds the counts to the shared counters.
        pub(crate) fn flush(&mut self, engine: &mut ServerConn) {
            let m = &self.app.metrics;
            let tally = engine.take_error_tally();
            if !tally.is_empty() {
                m.errors(400, tally.bad_request.into());
                m.errors(404, tally.not_found.into());
                m.errors(429, tally.too_many_calls.into());
                m.errors(500, tally.internal.into());
                m.refused(Limit::ConcurrentCalls, tally.too_many_calls.into());
            }
            self.flush_counts();
        }

        fn flush_counts(&mut self) {
            let m = &self.app.metrics;
            for (counter, n) in [
                (&m.frames_received, &mut self.frames_in),
                (&m.bytes_received, &mut self.bytes_in),
                (&m.frames_sent, &mut self.frames_out),
                (&m.bytes_sent, &mut self.bytes_out),
            ] {
                if *n > 0 {
                    counter.increment(std::mem::take(n));
                }
            }
            self.unflushed = 0;
            self.flushed_at = Instant::now();
        }

        /// The connection ended (`close_code`: the close code it sent, if any).
        pub(crate) fn close(&mut self, engine: &mut ServerConn, close_code: Option<u16>) {
            if close_code == Some(1009) {
                self.refused(Limit::MessageSize);
            }
            self.flush(engine);
            self.end();
        }

        fn end(&mut self) {
            if self.closed {
                return;
            }
            self.closed = true;
            self.flush_counts();
            self.queue(0);
            self.app.metrics.connections_open.decrement(1.0);
        }
    }

    impl Drop for ConnStats {
        fn drop(&mut self) {
            // A connection task dropped without finishing (runtime shutdown).
            self.end();
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use std::sync::Arc;

    use tokio::time::Instant;

    use crate::app::App;
    use crate::observe::Limit;
    use crate::protocol::ServerConn;

    #[inline(always)]
    pub(crate) fn refused(_: &App, _: Limit) {}

    /// Nothing: the `metrics` feature is off.
    pub(crate) struct ConnStats;

    impl ConnStats {
        #[inline(always)]
        pub(crate) fn open(_: &Arc<App>) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn received(&mut self, _: usize) {}
        #[inline(always)]
        pub(crate) fn sent(&mut self, _: usize) {}
        #[inline(always)]
        pub(crate) fn call_opened(&self, _: u32) {}
        #[inline(always)]
        pub(crate) fn call_ended(&self, _: u32) {}
        #[inline(always)]
        pub(crate) fn error(&self, _: i64) {}
        #[inline(always)]
        pub(crate) fn refused(&self, _: Limit) {}
        #[inline(always)]
        pub(crate) fn pass(&mut self, _: &mut ServerConn, _: Instant) {}
        #[inline(always)]
        pub(crate) fn flush(&mut self, _: &mut ServerConn) {}
        #[inline(always)]
        pub(crate) fn close(&mut self, _: &mut ServerConn, _: Option<u16>) {}
    }
}
