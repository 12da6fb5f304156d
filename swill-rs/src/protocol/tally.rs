//! [`ErrorTally`]: the ERROR frames the engine queued by itself (feature `metrics`), so the
//! driver can count them without decoding its output. Plain integers: no metrics crate here.

/// Counts of the ERROR frames a [`ServerConn`](super::ServerConn) answered on its own (an
/// unknown rpc, a malformed envelope, a call beyond the concurrency limit), since the last
/// [`ServerConn::take_error_tally`](super::ServerConn::take_error_tally).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ErrorTally {
    /// ERROR 400: a malformed envelope or a second METADATA frame.
    pub bad_request: u32,
    /// ERROR 404: no handler has the rpc's name.
    pub not_found: u32,
    /// ERROR 429: a call beyond [`Limits::max_concurrent_calls`](super::Limits::max_concurrent_calls).
    pub too_many_calls: u32,
    /// ERROR 500: a METADATA frame opened a single-request call.
    pub internal: u32,
}

impl ErrorTally {
    pub(super) fn count(&mut self, code: i64) {
        let slot = match code {
            400 => &mut self.bad_request,
            404 => &mut self.not_found,
            429 => &mut self.too_many_calls,
            _ => &mut self.internal,
        };
        *slot = slot.saturating_add(1);
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
