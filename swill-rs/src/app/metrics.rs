//! The app's metric handles (feature `metrics`): registered once when the app is built, with
//! the recorder installed then, so that recording is an atomic add on a handle, never a
//! lookup by name or a label formatted per call. Names and labels: [`crate::observe::names`].

use metrics::{Counter, Gauge};

use crate::observe::Limit;

use crate::observe::names::{
    BYTES_RECEIVED, BYTES_SENT, CALLS_IN_FLIGHT, CALLS_TOTAL, CONNECTIONS_OPEN, CONNECTIONS_TOTAL,
    ERRORS, FRAMES_RECEIVED, FRAMES_SENT, INCOMPLETE_INPUT_BYTES, LIMITS, OUTPUT_QUEUE_BYTES,
    QUEUED_INPUT_BYTES, REFUSALS,
};

/// The error codes with a `code` label of their own; any other code counts as
/// `code="other"`, which keeps the label's cardinality bounded whatever codes handlers use.
pub(crate) const ERROR_CODES: [i64; 18] = [
    400, 401, 403, 404, 405, 408, 409, 410, 412, 413, 415, 422, 429, 500, 501, 502, 503, 504,
];

/// One rpc's handles.
pub(crate) struct RpcMetrics {
    pub(crate) in_flight: Gauge,
    pub(crate) total: Counter,
}

/// Every handle the server records with.
pub(crate) struct Metrics {
    pub(crate) connections_open: Gauge,
    pub(crate) connections_total: Counter,
    pub(crate) frames_received: Counter,
    pub(crate) frames_sent: Counter,
    pub(crate) bytes_received: Counter,
    pub(crate) bytes_sent: Counter,
    pub(crate) output_queue: Gauge,
    pub(crate) incomplete_input: Gauge,
    pub(crate) queued_input: Gauge,
    refusals: Vec<Counter>,
    errors: Vec<Counter>,
    other_errors: Counter,
    /// By handler id, as the engine's router numbers them.
    rpcs: Vec<RpcMetrics>,
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, Unit};
    describe_gauge!(CONNECTIONS_OPEN, "WebSocket connections open");
    describe_counter!(CONNECTIONS_TOTAL, "WebSocket connections accepted");
    describe_gauge!(CALLS_IN_FLIGHT, "Calls running, by rpc");
    describe_counter!(CALLS_TOTAL, "Calls opened, by rpc");
    describe_counter!(FRAMES_RECEIVED, "swill frames received");
    describe_counter!(FRAMES_SENT, "swill frames sent");
    describe_counter!(
        BYTES_RECEIVED,
        Unit::Bytes,
        "Bytes of swill frames received"
    );
    describe_counter!(BYTES_SENT, Unit::Bytes, "Bytes of swill frames sent");
    describe_counter!(ERRORS, "ERROR frames sent, by error code");
    describe_counter!(REFUSALS, "Refusals, by the limit that refused");
    describe_gauge!(
        OUTPUT_QUEUE_BYTES,
        Unit::Bytes,
        "Output queued for sockets not yet written, summed over connections"
    );
    describe_gauge!(
        INCOMPLETE_INPUT_BYTES,
        Unit::Bytes,
        "Bytes of incomplete incoming messages reserved from the input budget"
    );
    describe_gauge!(
        QUEUED_INPUT_BYTES,
        Unit::Bytes,
        "Bytes of request-stream items not yet taken by their handlers"
    );
}

impl Metrics {
    /// Registers every handle with the current recorder; `rpcs` are the handler names by id.
    pub(crate) fn register<'a>(rpcs: impl Iterator<Item = &'a str>) -> Self {
        describe();
        let errors = ERROR_CODES
            .iter()
            .map(|code| metrics::counter!(ERRORS, "code" => code.to_string()))
            .collect();
        let refusals = LIMITS
            .iter()
            .map(|limit| metrics::counter!(REFUSALS, "limit" => *limit))
            .collect();
        let rpcs = rpcs
            .map(|rpc| RpcMetrics {
                in_flight: metrics::gauge!(CALLS_IN_FLIGHT, "rpc" => rpc.to_owned()),
                total: metrics::counter!(CALLS_TOTAL, "rpc" => rpc.to_owned()),
            })
            .collect();
        Self {
            connections_open: metrics::gauge!(CONNECTIONS_OPEN),
            connections_total: metrics::counter!(CONNECTIONS_TOTAL),
            frames_received: metrics::counter!(FRAMES_RECEIVED),
            frames_sent: metrics::counter!(FRAMES_SENT),
            bytes_received: metrics::counter!(BYTES_RECEIVED),
            bytes_sent: metrics::counter!(BYTES_SENT),
            output_queue: metrics::gauge!(OUTPUT_QUEUE_BYTES),
            incomplete_input: metrics::gauge!(INCOMPLETE_INPUT_BYTES),
            queued_input: metrics::gauge!(QUEUED_INPUT_BYTES),
            refusals,
            errors,
            other_errors: metrics::counter!(ERRORS, "code" => "other"),
            rpcs,
        }
    }

    /// The handles of the rpc with handler id `id`.
    pub(crate) fn rpc(&self, id: u32) -> Option<&RpcMetrics> {
        self.rpcs.get(id as usize)
    }

    /// Counts `n` ERROR frames with `code`.
    pub(crate) fn errors(&self, code: i64, n: u64) {
        let counter = ERROR_CODES
            .iter()
            .position(|c| *c == code)
            .and_then(|i| self.errors.get(i))
            .unwrap_or(&self.other_errors);
        counter.increment(n);
    }

    /// Counts `n` refusals by `limit`.
    pub(crate) fn refused(&self, limit: Limit, n: u64) {
        if let Some(c) = self.refusals.get(limit as usize) {
            c.increment(n);
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("rpcs", &self.rpcs.len())
            .finish_non_exhaustive()
    }
}
