//! Observability: W3C trace context carried in request metadata, and (feature `metrics`)
//! the names of the metrics the server records through the [`metrics`](https://docs.rs/metrics)
//! facade.
//!
//! # Tracing
//!
//! A call whose request metadata holds a valid `traceparent` (and optionally `tracestate`)
//! gets them in its `call` span as the fields `trace_id`, `parent_id` and `traceparent`, and
//! the app's [`Swill::on_trace`](crate::Swill::on_trace) callback runs with the span and the
//! [`TraceContext`] before the span is first entered: with `tracing-opentelemetry`, that
//! callback calls `OpenTelemetrySpanExt::set_parent` and the call's span continues the
//! caller's trace (the `tracing` example shows it). A malformed `traceparent` is ignored:
//! the call runs as if it had none. The Rust client sends one with
//! `CallBuilder::trace_context`, the TypeScript client with the `traceparent`/`tracestate`
//! call options. A pub/sub message published while a traced call runs carries the call's
//! trace context to the subscribers ([`crate::pubsub::Message::trace_context`]).
//!
//! # Metrics
//!
//! With the `metrics` feature the server records the metrics of [`names`] with the
//! recorder installed when the app is built (`serve`, `into_service`, `into_router`...):
//! install the recorder (for example `metrics-exporter-prometheus`) first. Every metric is
//! listed, with its type and labels, in `docs/reliability.md` ("Observability").

mod trace;

#[cfg(feature = "server")]
pub(crate) use trace::enter;
pub use trace::{
    current, TraceContext, TraceContextError, MAX_TRACESTATE_LEN, TRACEPARENT, TRACESTATE,
};

/// Which `max_*` setting refused something: the index of its name in `names::LIMITS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum Limit {
    Connections = 0,
    ConnectionsPerIp = 1,
    ConcurrentCalls = 2,
    QueuedItems = 3,
    MessageSize = 4,
    InvalidFrames = 5,
    Calls = 6,
    QueuedBytes = 7,
}

/// The names of the metrics the server records (feature `metrics`), and their labels.
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod names {
    /// Gauge: WebSocket connections open (upgraded, not yet closed).
    pub const CONNECTIONS_OPEN: &str = "swill_connections_open";
    /// Counter: WebSocket connections accepted (upgraded) since start.
    pub const CONNECTIONS_TOTAL: &str = "swill_connections_total";
    /// Gauge, label `rpc`: calls running now.
    pub const CALLS_IN_FLIGHT: &str = "swill_calls_in_flight";
    /// Counter, label `rpc`: calls opened since start.
    pub const CALLS_TOTAL: &str = "swill_calls_total";
    /// Counter: swill frames (binary WebSocket messages) received.
    pub const FRAMES_RECEIVED: &str = "swill_frames_received_total";
    /// Counter: swill frames sent.
    pub const FRAMES_SENT: &str = "swill_frames_sent_total";
    /// Counter: bytes of the swill frames received (WebSocket payloads).
    pub const BYTES_RECEIVED: &str = "swill_bytes_received_total";
    /// Counter: bytes of the swill frames sent.
    pub const BYTES_SENT: &str = "swill_bytes_sent_total";
    /// Counter, label `code`: ERROR frames sent, by error code.
    pub const ERRORS: &str = "swill_errors_total";
    /// Counter, label `limit`: what a limit refused (see [`LIMITS`]).
    pub const REFUSALS: &str = "swill_refusals_total";
    /// Gauge: bytes of output queued for sockets that have not taken them yet, summed over
    /// connections (each connection bounded by `Config::max_pending_output`).
    pub const OUTPUT_QUEUE_BYTES: &str = "swill_output_queue_bytes";
    /// Gauge: bytes of incomplete incoming messages reserved from the app's
    /// `Config::input_budget` (a message reserves its bytes once it passes 64 KiB).
    pub const INCOMPLETE_INPUT_BYTES: &str = "swill_incomplete_input_bytes";
    /// Gauge: bytes of request-stream items received and not yet taken by their handlers,
    /// held against the app's `Config::queued_input_budget`.
    pub const QUEUED_INPUT_BYTES: &str = "swill_queued_input_bytes";

    /// The values of the `limit` label of [`REFUSALS`], each the name of its
    /// [`Config`](crate::Config) setting:
    /// - `max_connections`: an upgrade refused with HTTP 503;
    /// - `max_connections_per_ip`: an upgrade refused with HTTP 429;
    /// - `max_concurrent_calls`: a call refused with ERROR 429;
    /// - `max_queued_items`: a streaming request failed with ERROR 429, its handler too far
    ///   behind;
    /// - `max_message_size`: a connection closed with 1009 for an oversized message;
    /// - `max_invalid_frames`: a connection closed for too many undecodable frames;
    /// - `max_calls`: a call refused with ERROR 503, the app's running calls at their bound;
    /// - `queued_input_budget`: a streaming request failed with ERROR 429, the app's unread
    ///   request items holding its whole budget.
    pub const LIMITS: &[&str] = &[
        "max_connections",
        "max_connections_per_ip",
        "max_concurrent_calls",
        "max_queued_items",
        "max_message_size",
        "max_invalid_frames",
        "max_calls",
        "queued_input_budget",
    ];
}
