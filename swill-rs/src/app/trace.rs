//! The call span and the app's trace callback ([`Swill::on_trace`](crate::Swill::on_trace)).

use std::sync::Arc;

use super::{App, Route};
use crate::observe::TraceContext;
use crate::protocol::Seq;

/// What [`Swill::on_trace`](crate::Swill::on_trace) installs.
pub(crate) type TraceHook = Arc<dyn Fn(&tracing::Span, &TraceContext) + Send + Sync>;

/// The span of one call: `rpc` and `seq`, and when the caller sent a valid `traceparent`,
/// `trace_id`, `parent_id` and `traceparent` (then the app's trace callback runs with it).
pub(crate) fn call_span(
    app: &App,
    route: &Route,
    seq: Seq,
    trace: Option<&Arc<TraceContext>>,
) -> tracing::Span {
    let Some(tc) = trace else {
        return tracing::debug_span!("call", rpc = %route.rpc, seq = seq.0);
    };
    let span = tracing::debug_span!(
        "call",
        rpc = %route.rpc,
        seq = seq.0,
        trace_id = tc.trace_id(),
        parent_id = tc.parent_id(),
        traceparent = tc.traceparent(),
        tracestate = tc.tracestate(),
    );
    if let Some(hook) = &app.on_trace {
        hook(&span, tc);
    }
    span
}

/// The span of one pub/sub message delivered to a subscriber, when the message carries the
/// publisher's trace context: a child of the publishing call's trace (through the app's trace
/// callback), so a trace shows the publish and every delivery it caused.
pub(crate) fn deliver_span(
    on_trace: Option<&TraceHook>,
    topic: &str,
    tc: &TraceContext,
) -> tracing::Span {
    let span = tracing::debug_span!(
        "pubsub.deliver",
        topic,
        trace_id = tc.trace_id(),
        parent_id = tc.parent_id(),
        traceparent = tc.traceparent(),
    );
    if let Some(hook) = on_trace {
        hook(&span, tc);
    }
    span
}
